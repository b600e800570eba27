"""The engine's options and choice lists: plain dataclasses, importable without torch.

Forms, command lines and model configs read the choices (``WEIGHTING_MODES``, ``MERGE_MODES``,
``PRECISIONS``, ...) and validate options from here, so building a form or a config never loads
torch. The tensor code lives in :mod:`~fiftyone_videogem.engine.gem`,
:mod:`~fiftyone_videogem.engine.weighting` and :mod:`~fiftyone_videogem.engine.grounding`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .prompts import PARSERS

COMPONENTS = ("verb", "object", "action")
PRECISIONS = ("fp32", "fp16", "bf16")
DEFAULT_PRECISION = "fp32"

STATIC_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.9, 0.9)
WEIGHTING_MODES = ("none", "static", "dynamic", "static+dynamic")
_MODE_ALIASES = {"s+d": "static+dynamic", "stat": "static", "dyn": "dynamic", "combined": "static+dynamic"}

MERGE_MODES = ("point_average", "heatmap_average", "heatmap_product")
_MERGE_ALIASES = {"point": "point_average", "avg": "heatmap_average", "mul": "heatmap_product",
                  "average": "heatmap_average", "product": "heatmap_product"}


def normalize_weighting_mode(mode: str) -> str:
    """The canonical name of a weighting mode (``"s+d"`` -> ``"static+dynamic"``, ...)."""
    mode = _MODE_ALIASES.get(mode, mode)
    if mode not in WEIGHTING_MODES:
        raise ValueError(f"unknown weighting mode {mode!r}; choose one of {', '.join(WEIGHTING_MODES)}")
    return mode


def normalize_merge_mode(mode: str) -> str:
    """The canonical name of a merge mode (``"avg"`` -> ``"heatmap_average"``, ...)."""
    mode = _MERGE_ALIASES.get(mode, mode)
    if mode not in MERGE_MODES:
        raise ValueError(f"unknown merge mode {mode!r}; choose one of {', '.join(MERGE_MODES)}")
    return mode


def normalize_precision(precision: str | None) -> str:
    """``"fp32"``, ``"fp16"`` or ``"bf16"``; None means the default, fp32 on every device."""
    if precision is None:
        return DEFAULT_PRECISION
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


@dataclass(frozen=True)
class WeightingOptions:
    """How the GEM stack is weighted per prompt.

    Args:
        mode: one of ``"none"`` (plain GEM), ``"static"``, ``"dynamic"``, ``"static+dynamic"``
            ("static+dynamic")
        static_weights: ``K+1`` static weights, index 0 for ``X^{L-K}``
            ((0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.9, 0.9))
        dynamic_layers: D, the last blocks that get dynamic weights (3)
        dynamic_temperature: tau_d in ``softmax(-tau_d * s)`` (20)
    """

    mode: str = "static+dynamic"
    static_weights: tuple[float, ...] = STATIC_WEIGHTS
    dynamic_layers: int = 3
    dynamic_temperature: float = 20.0

    def __post_init__(self):
        object.__setattr__(self, "mode", normalize_weighting_mode(self.mode))
        object.__setattr__(self, "static_weights", tuple(float(w) for w in self.static_weights))

    def validate(self, depth: int) -> None:
        """Check the options against the GEM depth K."""
        if self.mode in ("static", "static+dynamic") and len(self.static_weights) != depth + 1:
            raise ValueError(
                f"static_weights has {len(self.static_weights)} entries but the GEM stack has K+1 = {depth + 1}"
            )
        if self.mode in ("dynamic", "static+dynamic") and not 1 <= self.dynamic_layers <= depth:
            raise ValueError(f"dynamic_layers D={self.dynamic_layers} must be between 1 and K={depth}")


@dataclass(frozen=True)
class GemOptions:
    """Options of the GEM pathway.

    Args:
        depth: K, the number of final blocks with an ss pathway (7)
        iterations: J, self-self iterations before assigning to V (1)
        temperature: fixed ``inv_tau`` logit multiplier, or None for the adaptive
            ``mean_n ||LN1(X)_n|| / sqrt(d_h)`` per sample (None)
        exact: compute the original pathway the way the model's own forward does, so the original
            embedding is bit-identical to it on the CPU (False). False uses the fused attention
            kernel and, in the last block, only the CLS row (all that later steps read): faster,
            equal to within float rounding (~1e-7 on the similarity grids)
    """

    depth: int = 7
    iterations: int = 1
    temperature: float | None = None
    exact: bool = False


@dataclass(frozen=True)
class GroundingOptions:
    """Every option of the engine, with METHOD.md's defaults.

    Args:
        weighting: layer weighting, ``"none"`` | ``"static"`` | ``"dynamic"`` | ``"static+dynamic"``
            ("static+dynamic")
        static_weights: K+1 static weights ((0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.9, 0.9))
        dynamic_layers: D (3)
        dynamic_temperature: tau_d (20)
        depth: K, blocks with a self-self pathway (7)
        iterations: J, self-self iterations (1)
        temperature: fixed self-self logit multiplier, or None for the adaptive one (None)
        exact: compute the original pathway the way the model's own forward does, bit-identical to
            it on the CPU, for verification (False). The default fused-attention pathway equals it
            to within float rounding (~1e-7 on the similarity grids) and is faster
        decomposition: ground verb, object and action prompts and merge them (True)
        single_prompt: the prompt used when ``decomposition`` is False: ``"action"``, ``"verb"`` or
            ``"object"`` ("action")
        merge: ``"point_average"`` | ``"heatmap_average"`` | ``"heatmap_product"`` ("point_average")
        merge_weights: weights of the (verb, object, action) components ((0.2, 0.2, 0.6))
        prompt_parser: how text prompts are split, one of ``PARSERS`` ("auto")
        batch_size: frames (or clips) per vision pass (16)
        precision: ``"fp32"`` (the paper's setting), ``"fp16"`` or ``"bf16"`` autocast of the vision
            pass and the text encoder, on every device; None means fp32 ("fp32"). See docs/method.md
            for the measured drift of fp16 and bf16
        return_heatmaps: keep full-resolution heatmaps in the results (True)
    """

    weighting: str = "static+dynamic"
    static_weights: tuple[float, ...] = STATIC_WEIGHTS
    dynamic_layers: int = 3
    dynamic_temperature: float = 20.0
    depth: int = 7
    iterations: int = 1
    temperature: float | None = None
    exact: bool = False
    decomposition: bool = True
    single_prompt: str = "action"
    merge: str = "point_average"
    merge_weights: tuple[float, float, float] = (0.2, 0.2, 0.6)
    prompt_parser: str = "auto"
    batch_size: int = 16
    precision: str = DEFAULT_PRECISION
    return_heatmaps: bool = True

    def __post_init__(self):
        object.__setattr__(self, "merge", normalize_merge_mode(self.merge))
        object.__setattr__(self, "static_weights", tuple(float(w) for w in self.static_weights))
        object.__setattr__(self, "merge_weights", tuple(float(w) for w in self.merge_weights))
        object.__setattr__(self, "precision", normalize_precision(self.precision))
        self.weighting_options()  # validates the mode
        if self.single_prompt not in COMPONENTS:
            raise ValueError(f"single_prompt must be one of {COMPONENTS}, got {self.single_prompt!r}")
        if len(self.merge_weights) != 3:
            raise ValueError("merge_weights are three numbers: (verb, object, action)")
        if self.prompt_parser not in PARSERS:
            raise ValueError(f"prompt_parser must be one of {PARSERS}, got {self.prompt_parser!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")

    def weighting_options(self) -> WeightingOptions:
        """The layer-weighting part of the options."""
        return WeightingOptions(
            mode=self.weighting, static_weights=self.static_weights,
            dynamic_layers=self.dynamic_layers, dynamic_temperature=self.dynamic_temperature,
        )

    def gem_options(self) -> GemOptions:
        """The GEM-pathway part of the options."""
        return GemOptions(depth=self.depth, iterations=self.iterations, temperature=self.temperature,
                          exact=self.exact)

    def to_dict(self) -> dict:
        """A JSON-able dict of every option."""
        return asdict(self)
