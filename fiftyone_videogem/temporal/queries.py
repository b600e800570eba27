"""Per-class queries for ZEAL: a yes/no question for the start of an action, one for its end, a description.

ZEAL asks a vision-language model, frame by frame, whether the archetypal *start* (or *end*) of an
action is visible, and compares frames with a one-line *description* of the action. The queries of
all classes live in one dict, ZEAL's own JSON format::

    {
      "GolfSwing": {
        "start": "Is the golfer standing over the ball with the club behind it, about to swing?",
        "end": "Is the golfer holding the finishing pose with the club over the shoulder?",
        "description": "A person swings a golf club to hit a ball."
      },
      ...
    }

They come three ways:

* :func:`load_queries`: a JSON file in that format (validated, with errors that name the class and
  the key), written by hand or by any model; :func:`save_queries` writes one.
* :func:`generate_queries`: written by a local instruction-following model that the user names
  (Hugging Face ``transformers`` text generation, greedy). The prompt is :data:`QUERY_PROMPT`; the
  answer is parsed leniently (:func:`parse_generated_queries`: a JSON object anywhere in the text,
  Python-style quotes, or ``start: ...`` lines), and any key the model did not deliver falls back to
  the templates.
* :func:`template_queries`: the fallback, from :data:`TEMPLATES` and the class name turned into words
  (:func:`action_phrase`: ``"CleanAndJerk"`` -> ``"clean and jerk"``).

:func:`resolve_queries` accepts any of these (a dict, a file, or nothing) for a list of classes.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
from typing import Any, Iterable, Mapping, Sequence

from fiftyone_videogem.engine.prompts import split_camel_case

logger = logging.getLogger(__name__)

QUERY_KEYS = ("start", "end", "description")
"""The keys of one class's queries."""

TEMPLATES = {
    "start": 'Is the person in this frame just beginning the action "{action}"?',
    "end": 'Is the person in this frame just finishing the action "{action}"?',
    "description": "A video frame of a person doing {action}.",
}
"""Fallback queries; ``{action}`` is the class name in words (:func:`action_phrase`)."""

QUERY_PROMPT = (
    'We look for the action "{action}" in videos, one frame at a time, by asking a vision-language model '
    "yes/no questions about single frames.\n"
    "Write three things for this action:\n"
    '1. "start": a yes/no question answered "yes" only for a frame that shows the typical first moment of '
    "the action (the pose or situation in which it begins).\n"
    '2. "end": a yes/no question answered "yes" only for a frame that shows the typical last moment of the '
    "action.\n"
    '3. "description": one sentence that describes what the action looks like in a video frame.\n'
    "Answer with one JSON object and nothing else, for example:\n"
    '{{"start": "Is the person ...?", "end": "Is the person ...?", "description": "A person ..."}}'
)
"""The instruction :func:`generate_queries` sends as one user turn; ``{action}`` is the class in words."""

MAX_QUERY_LENGTH = 400
"""Longest accepted question or description, in characters."""

_CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*$")
_LINE = re.compile(r"^[\s\-*#>\d.)]*\**\s*\"?(start|end|description)\"?\s*\**\s*[:=\-]\s*(.+?)\s*$", re.I | re.M)


class QueryFileError(ValueError):
    """A queries file or dict that does not follow ZEAL's format."""


def action_phrase(name: str) -> str:
    """A class name in words: ``"CleanAndJerk"`` -> ``"clean and jerk"``, ``"long_jump"`` -> ``"long jump"``.

    Names that already contain spaces are only stripped.
    """
    text = " ".join(str(name).replace("_", " ").split())
    if not text:
        raise ValueError("a class name must be a non-empty string")
    if " " not in text and _CAMEL_CASE.match(text):
        return split_camel_case(text).action.lower()
    return text


def template_queries(classes: Iterable[str], templates: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Queries of every class from templates.

    Args:
        classes: the class names
        templates (:data:`TEMPLATES`): ``{"start": ..., "end": ..., "description": ...}`` with
            ``{action}`` where the class name in words goes

    Returns:
        ``{class: {"start": q, "end": q, "description": d}}``
    """
    templates = dict(TEMPLATES if templates is None else templates)
    missing = [key for key in QUERY_KEYS if key not in templates]
    if missing:
        raise ValueError(f"templates lack {missing}; give a template for each of {QUERY_KEYS}")
    return {
        str(name): {key: templates[key].format(action=action_phrase(name)) for key in QUERY_KEYS}
        for name in classes
    }


def clean_query(value: Any) -> str | None:
    """A query text with collapsed white space and surrounding quotes removed; None if unusable.

    Unusable: not a string, empty, or longer than :data:`MAX_QUERY_LENGTH` characters.
    """
    if not isinstance(value, str):
        return None
    text = " ".join(value.split()).strip().strip("\"'`").strip()
    if not text or len(text) > MAX_QUERY_LENGTH:
        return None
    return text


def validate_queries(data: Any, source: str = "queries") -> dict[str, dict[str, str]]:
    """Checks a ``{class: {"start", "end", "description"}}`` dict and returns a clean copy.

    Keys besides the three are ignored; texts are cleaned with :func:`clean_query`.

    Args:
        data: the parsed JSON
        source: what to call it in error messages (a file name)

    Raises:
        QueryFileError: listing every problem (class, key, what is wrong)
    """
    if not isinstance(data, Mapping):
        raise QueryFileError(
            f"{source} must be a JSON object {{class: {{\"start\": question, \"end\": question, "
            f"\"description\": text}}}}, got a {type(data).__name__}"
        )
    if not data:
        raise QueryFileError(f"{source} holds no class")
    problems: list[str] = []
    queries: dict[str, dict[str, str]] = {}
    for name, entry in data.items():
        if not isinstance(entry, Mapping):
            problems.append(f"class {name!r}: expected an object with {list(QUERY_KEYS)}, got {type(entry).__name__}")
            continue
        clean: dict[str, str] = {}
        for key in QUERY_KEYS:
            if key not in entry:
                problems.append(f"class {name!r}: missing {key!r}")
                continue
            text = clean_query(entry[key])
            if text is None:
                problems.append(
                    f"class {name!r}: {key!r} must be a non-empty string of at most {MAX_QUERY_LENGTH} characters, "
                    f"got {entry[key]!r:.80}"
                )
            else:
                clean[key] = text
        if len(clean) == len(QUERY_KEYS):
            queries[str(name)] = clean
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... ({len(problems)} problems in all)" if len(problems) > 10 else "")
        raise QueryFileError(f"{source} does not follow the format {{class: {{start, end, description}}}}: {shown}")
    return queries


def load_queries(path: str | os.PathLike, classes: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """Reads and validates a queries file in ZEAL's JSON format.

    Args:
        path: the JSON file
        classes (None): if given, every one of these classes must be in the file (the result holds
            only them)

    Raises:
        FileNotFoundError: if there is no such file
        QueryFileError: if the file is not JSON, does not follow the format or lacks a class
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"queries file '{path}' does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise QueryFileError(
            f"queries file '{path}' is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from error
    queries = validate_queries(data, source=f"queries file '{path}'")
    if classes is None:
        return queries
    classes = [str(c) for c in classes]
    missing = [c for c in classes if c not in queries]
    if missing:
        raise QueryFileError(
            f"queries file '{path}' has no queries for {len(missing)} classes: {missing[:10]}; add them, or use "
            "resolve_queries(..., fill_missing=True) to take templates for them"
        )
    return {c: queries[c] for c in classes}


def save_queries(queries: Mapping[str, Mapping[str, str]], path: str | os.PathLike, overwrite: bool = False) -> str:
    """Writes queries as ZEAL's JSON format (validated first).

    Args:
        queries: ``{class: {"start", "end", "description"}}``
        path: the JSON file to write
        overwrite (False): replace an existing file

    Returns:
        the path

    Raises:
        FileExistsError: if the file exists and ``overwrite`` is False
    """
    path = os.fspath(path)
    clean = validate_queries(queries)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"'{path}' exists; pass overwrite=True to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return path


def resolve_queries(
    classes: Iterable[str],
    queries: str | os.PathLike | Mapping[str, Mapping[str, str]] | None = None,
    fill_missing: bool = True,
) -> dict[str, dict[str, str]]:
    """The queries of ``classes`` from a file, a dict, or templates.

    Args:
        classes: the class names
        queries (None): a queries file, a ``{class: {...}}`` dict, or None for :func:`template_queries`
        fill_missing (True): classes without queries get template queries (logged); False raises

    Raises:
        QueryFileError: on malformed queries, or missing classes with ``fill_missing=False``
    """
    classes = [str(c) for c in classes]
    if queries is None:
        return template_queries(classes)
    if isinstance(queries, (str, os.PathLike)):
        given = load_queries(queries)
        source = f"queries file '{os.fspath(queries)}'"
    else:
        given = validate_queries(queries)
        source = "the queries"
    missing = [c for c in classes if c not in given]
    if missing and not fill_missing:
        raise QueryFileError(f"{source} has no queries for {len(missing)} classes: {missing[:10]}")
    if missing:
        logger.warning("%s has no queries for %d classes; using templates for %s", source, len(missing), missing[:10])
    templates = template_queries(missing)
    return {c: given[c] if c in given else templates[c] for c in classes}


# ------------------------------------------------------------------------------------ generation
def query_prompt(name: str, prompt: str = QUERY_PROMPT) -> str:
    """The instruction for one class (``prompt`` with ``{action}`` filled in)."""
    return prompt.format(action=action_phrase(name))


def parse_generated_queries(text: str) -> dict[str, str]:
    """The start/end/description a model wrote, as far as they can be read; possibly empty.

    Tried in order: a JSON object anywhere in the text (also inside code fences, or nested one level
    under the class name), the same with Python-style quotes, then lines such as ``Start: ...``.
    Keys are matched case-insensitively; texts are cleaned with :func:`clean_query`.
    """
    if not isinstance(text, str):
        return {}
    for candidate in _objects_in(text):
        found = _entry_of(candidate)
        if found:
            return found
    found = {}
    for key, value in _LINE.findall(text):
        key = key.lower()
        clean = clean_query(value.rstrip(","))
        if key not in found and clean is not None:
            found[key] = clean
    return found


def _objects_in(text: str) -> Iterable[Any]:
    """Dicts parsed from each ``{`` of the text, as JSON or as a Python literal."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        start = match.start()
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = _python_literal(text, start)
        if isinstance(value, dict):
            yield value


def _python_literal(text: str, start: int) -> Any:
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            try:
                return ast.literal_eval(text[start : end + 1])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
    return None


def _entry_of(value: dict) -> dict[str, str]:
    lowered = {str(k).strip().lower(): v for k, v in value.items()}
    found = {key: clean_query(lowered.get(key)) for key in QUERY_KEYS}
    found = {key: text for key, text in found.items() if text is not None}
    if found:
        return found
    nested = [v for v in value.values() if isinstance(v, dict)]
    return _entry_of(nested[0]) if len(nested) == 1 else {}


def generate_queries(
    classes: Iterable[str],
    model: Any,
    tokenizer: Any = None,
    device: str | None = None,
    prompt: str = QUERY_PROMPT,
    max_new_tokens: int = 200,
    return_sources: bool = False,
) -> dict[str, dict[str, str]] | tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Queries written by a local instruction-following model, one greedy generation per class.

    Each class's instruction is ``prompt`` with the class in words (:func:`query_prompt`), sent as
    one user turn through the tokenizer's chat template (as plain text when it has none). Keys the
    model did not deliver in a readable form are taken from :data:`TEMPLATES`, with a warning.

    Args:
        classes: the class names
        model: a Hugging Face id or local folder of a causal language model, or a loaded
            ``AutoModelForCausalLM``
        tokenizer (None): the tokenizer, required when ``model`` is a loaded model
        device (None): where a model loaded here runs (CUDA when available, else the CPU)
        prompt (:data:`QUERY_PROMPT`): the instruction, with ``{action}``
        max_new_tokens (200): the longest answer
        return_sources (False): also return ``{class: {key: "model" | "template"}}``

    Returns:
        ``{class: {"start", "end", "description"}}``, and the sources when asked
    """
    import torch

    from fiftyone_videogem.temporal.scorer import resolve_device

    if isinstance(model, (str, os.PathLike)):
        model, tokenizer = _load_causal_lm(os.fspath(model), resolve_device(device))
    elif tokenizer is None:
        raise ValueError("pass the tokenizer of the model (or the model's name or folder instead of the model)")
    classes = [str(c) for c in classes]
    device_of_model = next(model.parameters()).device
    queries: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, str]] = {}
    fallback = template_queries(classes)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for name in classes:
        text = query_prompt(name, prompt)
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
            )
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(device_of_model)
        with torch.no_grad():
            output = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
            )
        answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        found = parse_generated_queries(answer)
        queries[name] = {key: found.get(key, fallback[name][key]) for key in QUERY_KEYS}
        sources[name] = {key: "model" if key in found else "template" for key in QUERY_KEYS}
        if len(found) < len(QUERY_KEYS):
            logger.warning(
                "the model's answer for %r gave no usable %s; templates used instead. Answer: %r",
                name, [k for k in QUERY_KEYS if k not in found], answer[:200],
            )
    return (queries, sources) if return_sources else queries


def _load_causal_lm(source: str, device: Any) -> tuple[Any, Any]:
    from fiftyone_videogem.temporal.scorer import _import_transformers, load_local_or_hub

    transformers = _import_transformers()
    model, tokenizer = load_local_or_hub(
        source,
        lambda extra: (
            transformers.AutoModelForCausalLM.from_pretrained(source, **extra),
            transformers.AutoTokenizer.from_pretrained(source, **extra),
        ),
        "language model",
    )
    return model.to(device).eval(), tokenizer


__all__ = [
    "MAX_QUERY_LENGTH",
    "QUERY_KEYS",
    "QUERY_PROMPT",
    "TEMPLATES",
    "QueryFileError",
    "action_phrase",
    "clean_query",
    "generate_queries",
    "load_queries",
    "parse_generated_queries",
    "query_prompt",
    "resolve_queries",
    "save_queries",
    "template_queries",
    "validate_queries",
]
