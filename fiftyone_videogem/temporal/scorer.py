"""Yes/no scorer: the confidence of a vision-language model that a question about a frame is answered "yes".

ZEAL asks an image-text-to-text model, frame by frame, whether the archetypal start (or end) of an
action is visible, and reads its confidence as

    p(yes) = sigmoid(logit_yes - logit_no)

at the first answer position. :class:`YesNoScorer` computes exactly that from the **raw next-token
logits of one forward pass** (never from post-processed generation scores, which a generation
config with top-k 1 turns into 0, 1 or NaN):

* ``logit_yes`` is the log-sum-exp of the logits of the single-token variants ``"Yes"``, ``" Yes"``,
  ``"yes"``, ``" yes"`` that the model's own tokenizer has (``logit_no`` likewise for ``"No"``,
  ``" No"``, ``"no"``, ``" no"``), so the score compares the probability of answering yes in any of
  these spellings with the probability of answering no in any of them. Which variants were found is
  in :attr:`YesNoScorer.yes_tokens` / :attr:`YesNoScorer.no_tokens`.
* the prompt is the model's own chat template around one user turn, an image followed by
  ZEAL's text ``"This is a frame from a video of {context}.\\n{question} Only answer yes or no."``
  (configurable), with the template's generation prompt, so the next token is the answer's first.

Cost: the part of the prompt up to the question (chat header, the image tokens and the context
sentence) is encoded once per frame; its key/value cache is then repeated for the frame's
questions, and only the short question suffixes run through the language model again. Frames of the
same size are batched; an out-of-memory error halves the batch and retries. Scoring every
(frame, question) pair on its own gives the same numbers (``share_prefix=False``).

Models: :meth:`YesNoScorer.from_pretrained` loads any ``AutoModelForImageTextToText`` checkpoint
with its ``AutoProcessor`` by registry name (:data:`SCORERS`), Hugging Face id or local folder;
:meth:`YesNoScorer.from_config` builds the same classes with tiny random weights and a tokenizer made
in code, with no download (tests and offline smoke runs).

Needs the ``lvlm`` extra (Hugging Face ``transformers``).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from fiftyone_videogem.engine.backbones.base import as_rgb_uint8
from fiftyone_videogem.engine.batching import BatchLimit, run_in_batches

logger = logging.getLogger(__name__)

ZEAL_PROMPT = "This is a frame from a video of {context}.\n{question} Only answer yes or no."
"""ZEAL's prompt: ``{context}`` is the action class, ``{question}`` the start or end question."""

PROMPT_WITHOUT_CONTEXT = "{question} Only answer yes or no."
"""The prompt used when :meth:`YesNoScorer.score` gets no ``context``."""

YES_VARIANTS = ("Yes", " Yes", "yes", " yes")
"""Spellings of "yes" whose single-token forms are combined into ``logit_yes``."""

NO_VARIANTS = ("No", " No", "no", " no")
"""Spellings of "no" whose single-token forms are combined into ``logit_no``."""

DEFAULT_BATCH_SIZE = 8

_QUESTION_MARK = "\ue000question\ue000"  # private-use characters no chat template alters


@dataclass(frozen=True)
class ScorerSpec:
    """A registered vision-language model for :meth:`YesNoScorer.from_pretrained`.

    Attributes:
        name: the registry name
        repo_id: the Hugging Face repository of the weights (transformers format)
        family: the transformers model type (``"idefics3"``, ``"qwen2_vl"``, ...)
        license: the licence of the weights
        parameters: the model size, for display
        description: one line for listings
    """

    name: str
    repo_id: str
    family: str
    license: str
    parameters: str
    description: str


SCORERS: dict[str, ScorerSpec] = {
    spec.name: spec
    for spec in (
        ScorerSpec(
            "smolvlm-256m",
            "HuggingFaceTB/SmolVLM-256M-Instruct",
            "idefics3",
            "Apache-2.0",
            "256M",
            "SmolVLM-256M-Instruct: SigLIP-B/16 512 px + SmolLM2-135M; the cheapest scorer",
        ),
        ScorerSpec(
            "smolvlm-500m",
            "HuggingFaceTB/SmolVLM-500M-Instruct",
            "idefics3",
            "Apache-2.0",
            "500M",
            "SmolVLM-500M-Instruct: SigLIP-B/16 512 px + SmolLM2-360M",
        ),
        ScorerSpec(
            "qwen2-vl-2b",
            "Qwen/Qwen2-VL-2B-Instruct",
            "qwen2_vl",
            "Apache-2.0",
            "2.2B",
            "Qwen2-VL-2B-Instruct: dynamic-resolution ViT + Qwen2-1.5B",
        ),
        ScorerSpec(
            "llava-onevision-0.5b",
            "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
            "llava_onevision",
            "Apache-2.0",
            "0.9B",
            "LLaVA-OneVision-Qwen2-0.5B (OneVision stage), the small sibling of ZEAL's 7B model",
        ),
    )
}
"""Registered scorers by name. Any other image-text-to-text model works by id or local folder."""

FAMILIES = ("idefics3", "qwen2_vl")
"""Model families :meth:`YesNoScorer.from_config` can build (the first is the default)."""

SIZES = ("tiny", "smolvlm-256m")
"""Architectures of :meth:`YesNoScorer.from_config`: ``"tiny"`` (a few thousand parameters, any
family) or ``"smolvlm-256m"`` (SmolVLM-256M's architecture, ``idefics3`` only; for cost
measurements)."""


def list_scorers() -> list[str]:
    """The registered scorer names."""
    return list(SCORERS)


def get_scorer_spec(name: str) -> ScorerSpec:
    """The :class:`ScorerSpec` of a registered name.

    Raises:
        KeyError: for an unknown name, listing the known ones
    """
    try:
        return SCORERS[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; registered scorers are {', '.join(SCORERS)}") from None


def _import_transformers():
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            "the yes/no scorer needs Hugging Face transformers; install the extra with "
            "`pip install fiftyone-videogem[lvlm]`"
        ) from error
    return transformers


def answer_token_ids(tokenizer: Any, variants: Sequence[str]) -> dict[str, int]:
    """The variants that the tokenizer encodes as a single token, with their token ids.

    Variants whose single token is shared with an earlier variant are listed once (the first
    spelling wins).

    Args:
        tokenizer: a Hugging Face tokenizer
        variants: spellings such as :data:`YES_VARIANTS`

    Returns:
        ``{variant: token id}`` in the order of ``variants``
    """
    found: dict[str, int] = {}
    for variant in variants:
        ids = tokenizer.encode(variant, add_special_tokens=False)
        if len(ids) == 1 and ids[0] not in found.values():
            found[variant] = int(ids[0])
    return found


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device``, or CUDA when available else the CPU; a clear error when CUDA is asked for but absent."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available here; use 'cpu'")
    return device


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``dtype``, or bfloat16 on CUDA (float16 where bfloat16 is unsupported) and float32 elsewhere."""
    if dtype is None:
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
             "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
    try:
        return names[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(names)}") from None


class YesNoScorer:
    """p(yes) of an image-text-to-text model for questions about video frames.

    Build it with :meth:`from_pretrained` or :meth:`from_config`, or wrap a model and processor you
    loaded yourself.

    Args:
        model: an ``AutoModelForImageTextToText`` model, used as it is (not moved, not put in eval
            mode) unless ``device`` is given
        processor: its ``AutoProcessor``, with a chat template
        device (None): where to run; None keeps the model where it is
        batch_size (8): frames per forward pass; halved on out-of-memory errors
        prompt (:data:`ZEAL_PROMPT`): the user text, with ``{question}`` once and ``{context}``
        prompt_without_context (:data:`PROMPT_WITHOUT_CONTEXT`): the user text when no context is
            given, with ``{question}`` once
        share_prefix (True): encode the image part of the prompt once per frame and reuse its
            key/value cache for all of the frame's questions; False scores every question with its
            own full forward pass
        processor_kwargs (None): extra keyword arguments for every processor call (for example
            ``{"do_image_splitting": False}`` for SmolVLM)
        name (None): a name for records and cache keys (the registry name or model id)
        license (None): the licence of the weights, if known
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        device: str | torch.device | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        prompt: str = ZEAL_PROMPT,
        prompt_without_context: str = PROMPT_WITHOUT_CONTEXT,
        share_prefix: bool = True,
        processor_kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        license: str | None = None,
    ):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for label, text in (("prompt", prompt), ("prompt_without_context", prompt_without_context)):
            if not isinstance(text, str) or text.count("{question}") != 1:
                raise ValueError(f"{label} must contain '{{question}}' exactly once, got {text!r}")
        if "{context}" in prompt_without_context:
            raise ValueError("prompt_without_context is used when there is no context; remove '{context}' from it")
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise ValueError(f"the processor {type(processor).__name__} has no tokenizer; pass the model's AutoProcessor")
        if not getattr(processor, "chat_template", None):
            raise ValueError(
                f"the processor of {name or type(model).__name__} has no chat template; set "
                "processor.chat_template to the model's template before building the scorer"
            )
        self.model = model
        self.processor = processor
        self.tokenizer = tokenizer
        if device is not None:
            self.model = model.to(resolve_device(device))
        self.batch_size = int(batch_size)
        self.prompt = prompt
        self.prompt_without_context = prompt_without_context
        self.share_prefix = bool(share_prefix)
        self.processor_kwargs = dict(processor_kwargs or {})
        self.name = name or getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__
        self.license = license
        self.yes_tokens = answer_token_ids(tokenizer, YES_VARIANTS)
        self.no_tokens = answer_token_ids(tokenizer, NO_VARIANTS)
        if not self.yes_tokens or not self.no_tokens:
            raise ValueError(
                f"the tokenizer of {self.name} has no single-token spelling of "
                f"{'yes' if not self.yes_tokens else 'no'} among "
                f"{YES_VARIANTS if not self.yes_tokens else NO_VARIANTS}; it cannot be used as a yes/no scorer"
            )
        self._yes_ids = torch.tensor(list(self.yes_tokens.values()))
        self._no_ids = torch.tensor(list(self.no_tokens.values()))

    # ------------------------------------------------------------------------------------ builders
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        **options: Any,
    ) -> "YesNoScorer":
        """Loads a vision-language model and its processor.

        Args:
            name_or_path: a registry name (:func:`list_scorers`), a Hugging Face model id or a local
                folder holding a transformers checkpoint (config, weights, processor files)
            device (None): CUDA when available, else the CPU
            dtype (None): bfloat16 on CUDA (float16 where bfloat16 is unsupported), float32 on the
                CPU; or ``"fp32"``, ``"fp16"``, ``"bf16"`` or a torch dtype
            **options: arguments of :class:`YesNoScorer` (``batch_size``, ``prompt``, ...)

        Raises:
            RuntimeError: if the model cannot be loaded (offline, unknown id, ...); the message
                says how to pass a local folder instead
        """
        transformers = _import_transformers()
        spec = SCORERS.get(os.fspath(name_or_path)) if isinstance(name_or_path, str) else None
        source = spec.repo_id if spec is not None else os.fspath(name_or_path)
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        processor, model = load_local_or_hub(
            source,
            lambda extra: (
                transformers.AutoProcessor.from_pretrained(source, **extra),
                transformers.AutoModelForImageTextToText.from_pretrained(source, dtype=dtype, **extra),
            ),
            "vision-language model",
        )
        model = model.to(device).eval()
        options.setdefault("name", spec.name if spec is not None else source)
        options.setdefault("license", spec.license if spec is not None else None)
        return cls(model, processor, **options)

    @classmethod
    def from_config(
        cls,
        family: str | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        size: str = "tiny",
        **options: Any,
    ) -> "YesNoScorer":
        """A model of one family with random weights and a tokenizer built in code; nothing is downloaded.

        The answers are meaningless; use it for tests, offline smoke runs and cost measurements.
        The tokenizer is a byte-level BPE trained in code on a few sentences (so ``"Yes"``,
        ``" yes"``, ... are single tokens) plus the family's special tokens; the chat template
        follows the family's layout.

        Args:
            family (None): one of :data:`FAMILIES`; None for the first (``"idefics3"``, SmolVLM's
                classes)
            seed (0): seed of the random weights (the global torch generator is left as it was)
            device (None): CUDA when available, else the CPU
            dtype (None): as in :meth:`from_pretrained`
            size ("tiny"): one of :data:`SIZES`
            **options: arguments of :class:`YesNoScorer`
        """
        family = family or FAMILIES[0]
        if family == "smolvlm":
            family = "idefics3"
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; from_config builds {', '.join(FAMILIES)}")
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
        if size != "tiny" and family != "idefics3":
            raise ValueError(f"size {size!r} is an idefics3 architecture; use family='idefics3'")
        _import_transformers()
        from fiftyone_videogem.temporal import tiny_models

        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        model, processor = tiny_models.build(family, size, seed)
        model = model.to(device=device, dtype=dtype).eval()
        options.setdefault("name", f"random-{family}-{size}-seed{seed}")
        return cls(model, processor, **options)

    # ----------------------------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def config(self) -> dict[str, Any]:
        """A JSON-able description of what determines the scores (for run records and cache keys)."""
        return {
            "name": self.name,
            "license": self.license,
            "prompt": self.prompt,
            "prompt_without_context": self.prompt_without_context,
            "yes_tokens": dict(self.yes_tokens),
            "no_tokens": dict(self.no_tokens),
            "dtype": str(self.dtype).replace("torch.", ""),
            "processor_kwargs": dict(self.processor_kwargs),
        }

    # -------------------------------------------------------------------------------------- prompts
    def prompt_parts(self, context: str | None = None) -> tuple[str, str]:
        """The rendered chat prompt split around the question: ``(before, after)``.

        The full prompt of a question is ``before + question + after``; ``before`` holds the
        image placeholder and, with ZEAL's prompt, the context sentence.
        """
        if context is None:
            text = self.prompt_without_context.format(question=_QUESTION_MARK)
        else:
            text = self.prompt.format(question=_QUESTION_MARK, context=str(context).strip())
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
        rendered = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if isinstance(rendered, (list, tuple)):
            rendered = rendered[0]
        parts = rendered.split(_QUESTION_MARK)
        if len(parts) != 2:
            raise ValueError(f"the chat template of {self.name} does not keep the question text as it is")
        return parts[0], parts[1]

    # -------------------------------------------------------------------------------------- scoring
    def score(
        self,
        frames: Sequence[Any] | np.ndarray,
        questions: str | Sequence[str],
        context: str | None = None,
        share_prefix: bool | None = None,
    ) -> np.ndarray:
        """p(yes) for every frame and question.

        Args:
            frames: HxWx3 RGB images (uint8 arrays, float arrays in [0, 1] or PIL images), or an
                NxHxWx3 array
            questions: one question or several (ZEAL: the start and the end question of a class)
            context (None): the text for ``{context}`` in the prompt (ZEAL: the action class);
                None uses ``prompt_without_context``
            share_prefix (None): override the scorer's ``share_prefix`` for this call

        Returns:
            a float64 array ``[n_frames, n_questions]`` of ``sigmoid(logit_yes - logit_no)``
        """
        if isinstance(questions, str):
            questions = [questions]
        questions = [_require_question(q, i) for i, q in enumerate(questions)]
        images = [_as_image(frame, i) for i, frame in enumerate(frames)]
        result = np.zeros((len(images), len(questions)), dtype=np.float64)
        if not images or not questions:
            return result
        before, after = self.prompt_parts(context)
        suffixes = [question + after for question in questions]
        shared = self.share_prefix if share_prefix is None else bool(share_prefix)
        if shared and not self._splits_cleanly(before, suffixes):
            logger.warning(
                "the tokenizer of %s merges the text before the question with the question; scoring each "
                "question with its own forward pass", self.name,
            )
            shared = False

        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(image.size, []).append(index)
        score_batch = self._score_shared if shared else self._score_separately

        def run(chunk: Sequence[int]) -> list[np.ndarray]:
            return list(score_batch([images[i] for i in chunk], before, suffixes))

        limit = BatchLimit()  # a size that worked after an out-of-memory error holds for the later groups
        with torch.no_grad():
            for indices in groups.values():
                result[indices] = run_in_batches(indices, run, self.batch_size, self.device, "frames", limit)
        return result

    def _splits_cleanly(self, before: str, suffixes: Sequence[str]) -> bool:
        """Whether tokenising the prompt in two parts gives the tokens of the whole prompt."""
        head = self.tokenizer(before)["input_ids"]
        for suffix in suffixes:
            tail = self.tokenizer(suffix, add_special_tokens=False)["input_ids"]
            if self.tokenizer(before + suffix)["input_ids"] != head + tail:
                return False
        return True

    def _inputs(self, texts: list[str], images: list[Any]) -> dict[str, torch.Tensor]:
        encoded = self.processor(
            text=texts, images=[[image] for image in images], return_tensors="pt", **self.processor_kwargs
        )
        device, dtype = self.device, self.dtype
        return {
            key: value.to(device=device, dtype=dtype) if torch.is_floating_point(value) else value.to(device)
            for key, value in encoded.items()
            if isinstance(value, torch.Tensor)
        }

    def _multimodal_positions(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """3-D rotary positions ``[3, B, L]`` and the next text position ``[B]`` (Qwen2-VL style), else None.

        Computed here and passed to the model, so that the model keeps no position state between calls.
        """
        inner = getattr(self.model, "model", None)
        get_rope_index = getattr(inner, "get_rope_index", None)
        if get_rope_index is None or "image_grid_thw" not in inputs:
            return None
        positions, _ = get_rope_index(
            input_ids=inputs["input_ids"],
            mm_token_type_ids=inputs.get("mm_token_type_ids"),
            image_grid_thw=inputs["image_grid_thw"],
            attention_mask=inputs.get("attention_mask"),
        )
        return positions, positions.amax(dim=(0, 2)) + 1

    def _yes_probability(self, logits: torch.Tensor) -> np.ndarray:
        """``sigmoid(lse(logits[yes]) - lse(logits[no]))`` of ``[N, V]`` next-token logits."""
        logits = logits.double()
        yes = torch.logsumexp(logits[:, self._yes_ids.to(logits.device)], dim=-1)
        no = torch.logsumexp(logits[:, self._no_ids.to(logits.device)], dim=-1)
        return torch.sigmoid(yes - no).cpu().numpy()

    def _score_separately(self, images: list[Any], before: str, suffixes: list[str]) -> np.ndarray:
        """One full forward pass per question over the batch of frames."""
        scores = np.zeros((len(images), len(suffixes)))
        for q, suffix in enumerate(suffixes):
            inputs = self._inputs([before + suffix] * len(images), images)
            positions = self._multimodal_positions(inputs)
            if positions is not None:
                inputs["position_ids"] = positions[0]
                inputs.pop("mm_token_type_ids", None)
            logits = self.model(**inputs, use_cache=False, logits_to_keep=1).logits[:, -1]
            scores[:, q] = self._yes_probability(logits)
        return scores

    def _score_shared(self, images: list[Any], before: str, suffixes: list[str]) -> np.ndarray:
        """The prompt up to the question once per frame; its cache repeated for every question."""
        n, q = len(images), len(suffixes)
        inputs = self._inputs([before] * n, images)
        positions = self._multimodal_positions(inputs)
        if positions is not None:
            inputs["position_ids"] = positions[0]
            inputs.pop("mm_token_type_ids", None)
        prefix = self.model(**inputs, use_cache=True, logits_to_keep=1)
        cache = prefix.cache
        if q > 1:
            cache.batch_repeat_interleave(q)  # rows: frame 0 question 0, frame 0 question 1, ...

        tails = [self.tokenizer(s, add_special_tokens=False)["input_ids"] for s in suffixes]
        lengths = torch.tensor([len(t) for t in tails])
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((q, int(lengths.max())), pad, dtype=torch.long)
        for i, tail in enumerate(tails):
            ids[i, : len(tail)] = torch.tensor(tail, dtype=torch.long)
        ids = ids.repeat(n, 1).to(self.device)  # [n*q, Ls], right-padded: causal attention never sees the padding
        kwargs: dict[str, Any] = {}
        if positions is not None:
            start = positions[1].repeat_interleave(q)  # [n*q]
            steps = torch.arange(ids.shape[1], device=start.device)
            kwargs["position_ids"] = (start[:, None] + steps[None, :]).unsqueeze(0).expand(3, -1, -1)
        last = lengths - 1
        keep = torch.unique(last)  # the positions whose logits are needed
        out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=keep.to(self.device), **kwargs)
        column = torch.searchsorted(keep, last).repeat(n).to(out.logits.device)  # [n*q]
        logits = out.logits[torch.arange(n * q, device=column.device), column]  # [n*q, V]
        return self._yes_probability(logits).reshape(n, q)


_RANDOM_NAME = re.compile(r"random-(?P<family>[a-z0-9_]+?)(?:-(?P<size>tiny|smolvlm-256m))?(?:-seed(?P<seed>\d+))?")


def load_scorer(
    scorer: "YesNoScorer | str | os.PathLike",
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    **options: Any,
) -> YesNoScorer:
    """A :class:`YesNoScorer` from what a user names.

    Args:
        scorer: a scorer (returned as it is), a registry name (:func:`list_scorers`), a Hugging Face id
            or local folder (:meth:`YesNoScorer.from_pretrained`), or ``"random-<family>[-<size>][-seed<N>]"``
            (:meth:`YesNoScorer.from_config`, e.g. ``"random-idefics3"``, ``"random-qwen2_vl-seed3"``: random
            weights, for offline smoke runs; the name is the one ``from_config`` gives its scorer)
        device (None): as in :meth:`YesNoScorer.from_pretrained`
        dtype (None): as in :meth:`YesNoScorer.from_pretrained`
        **options: arguments of :class:`YesNoScorer` (``batch_size``, ``prompt``, ...)
    """
    if isinstance(scorer, YesNoScorer):
        return scorer
    name = os.fspath(scorer)
    random = _RANDOM_NAME.fullmatch(name)
    if random is not None and not os.path.exists(name):
        return YesNoScorer.from_config(random["family"], seed=int(random["seed"] or 0), device=device, dtype=dtype,
                                       size=random["size"] or "tiny", **options)
    return YesNoScorer.from_pretrained(name, device=device, dtype=dtype, **options)


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return False


def load_local_or_hub(source: str, load: Callable[[dict[str, Any]], Any], what: str) -> Any:
    """Runs ``load(extra)`` on a local folder, else on the local cache and then the hub.

    ``load`` gets the extra keyword arguments of the transformers ``from_pretrained`` calls
    (``{"local_files_only": True}`` for the cache). Offline (``HF_HUB_OFFLINE``), only the cache is
    tried, so the call fails fast.

    Args:
        source: a local folder or a Hugging Face id
        load: calls ``from_pretrained(source, **extra)`` and returns what it loaded
        what: what is loaded, for messages (``"vision-language model"``)

    Raises:
        FileNotFoundError: if ``source`` looks like a path and does not exist
        RuntimeError: if nothing could be loaded; the message says how to use a local folder instead
    """
    if os.path.isdir(source):
        attempts: list[dict[str, Any]] = [{}]
    elif os.path.isabs(source) or source.startswith((".", "~")) or source.count("/") > 1:
        raise FileNotFoundError(
            f"{what} folder '{source}' does not exist; pass a folder holding a transformers checkpoint "
            "(config, weights, tokenizer or processor files) or a Hugging Face id"
        )
    else:
        # the local cache first: cached models load without the network, offline machines fail fast
        attempts = [{"local_files_only": True}] + ([] if _hub_offline() else [{}])
    error: Exception | None = None
    for extra in attempts:
        try:
            return load(extra)
        except Exception as e:  # offline, unknown id, no weights: all end in the same advice
            error = e
    reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if os.path.isdir(source):
        raise RuntimeError(f"'{source}' does not hold a {what} that transformers can load ({reason})") from error
    offline = " (the Hugging Face hub is offline here: HF_HUB_OFFLINE is set)" if _hub_offline() else ""
    raise RuntimeError(
        f"could not load the {what} {source!r}{offline}: {reason}. Download it on a machine with access "
        f"(`hf download {source} --local-dir <folder>`) and pass the local folder instead of the name"
    ) from error


def _require_question(question: Any, index: int) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question {index} must be a non-empty string, got {question!r}")
    return question.strip()


def _as_image(frame: Any, index: int):
    from PIL import Image

    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    return Image.fromarray(as_rgb_uint8(frame, index))


__all__ = [
    "FAMILIES",
    "NO_VARIANTS",
    "PROMPT_WITHOUT_CONTEXT",
    "SCORERS",
    "SIZES",
    "ScorerSpec",
    "YES_VARIANTS",
    "YesNoScorer",
    "ZEAL_PROMPT",
    "answer_token_ids",
    "get_scorer_spec",
    "list_scorers",
    "load_local_or_hub",
    "resolve_device",
    "resolve_dtype",
]
