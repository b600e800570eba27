"""VideoGEM: ground an action phrase in a frame (or a clip) as a heatmap and a point.

One vision pass per frame (or clip) is shared by all prompts of that frame; text embeddings are
cached; frames are batched. Per prompt the GEM stack is weighted (static + dynamic by default),
projected to dense features, compared with the text embedding, upsampled, normalised and
reduced to an argmax point; the verb, object and action points are merged into the final point.

Example::

    import fiftyone_videogem as fvg
    engine = fvg.VideoGEM.from_pretrained("clip-vit-b-16")
    result = engine.ground(frame, "cut onion")   # frame: HxWx3 uint8 RGB
    result.point                                 # (x, y) in [0, 1] of the frame
"""

from __future__ import annotations

import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .backbones.base import Backbone
from .gem import GemOptions, VisionFeatures, gem_forward, l2_normalize
from .heatmaps import (
    argmax_points,
    merge_heatmaps,
    merge_points,
    min_max_normalize,
    normalize_merge_mode,
    upsample,
)
from .prompts import PARSERS, ActionPrompt, parse_prompt
from .weighting import WeightingOptions, dense_features, dynamic_weights, layer_weights

logger = logging.getLogger(__name__)

COMPONENTS = ("verb", "object", "action")
PRECISIONS = ("fp32", "fp16", "bf16")


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
        exact: original pathway bit-identical to the model's own forward on the CPU (True); False
            trades that for a few percent of speed (see :class:`~fiftyone_videogem.engine.gem.GemOptions`)
        decomposition: ground verb, object and action prompts and merge them (True)
        single_prompt: the prompt used when ``decomposition`` is False: ``"action"``, ``"verb"`` or
            ``"object"`` ("action")
        merge: ``"point_average"`` | ``"heatmap_average"`` | ``"heatmap_product"`` ("point_average")
        merge_weights: weights of the (verb, object, action) components ((0.2, 0.2, 0.6))
        prompt_parser: how text prompts are split, one of ``PARSERS`` ("auto")
        batch_size: frames (or clips) per vision pass (16)
        precision: ``"fp32"``, ``"fp16"`` or ``"bf16"``; None picks fp16 autocast on CUDA and fp32
            elsewhere (None)
        return_heatmaps: keep full-resolution heatmaps in the results (True)
    """

    weighting: str = "static+dynamic"
    static_weights: tuple[float, ...] = WeightingOptions().static_weights
    dynamic_layers: int = 3
    dynamic_temperature: float = 20.0
    depth: int = 7
    iterations: int = 1
    temperature: float | None = None
    exact: bool = True
    decomposition: bool = True
    single_prompt: str = "action"
    merge: str = "point_average"
    merge_weights: tuple[float, float, float] = (0.2, 0.2, 0.6)
    prompt_parser: str = "auto"
    batch_size: int = 16
    precision: str | None = None
    return_heatmaps: bool = True

    def __post_init__(self):
        object.__setattr__(self, "merge", normalize_merge_mode(self.merge))
        object.__setattr__(self, "static_weights", tuple(float(w) for w in self.static_weights))
        object.__setattr__(self, "merge_weights", tuple(float(w) for w in self.merge_weights))
        self.weighting_options()  # validates the mode
        if self.single_prompt not in COMPONENTS:
            raise ValueError(f"single_prompt must be one of {COMPONENTS}, got {self.single_prompt!r}")
        if len(self.merge_weights) != 3:
            raise ValueError("merge_weights are three numbers: (verb, object, action)")
        if self.prompt_parser not in PARSERS:
            raise ValueError(f"prompt_parser must be one of {PARSERS}, got {self.prompt_parser!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} or None, got {self.precision!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")

    def weighting_options(self) -> WeightingOptions:
        return WeightingOptions(
            mode=self.weighting, static_weights=self.static_weights,
            dynamic_layers=self.dynamic_layers, dynamic_temperature=self.dynamic_temperature,
        )

    def gem_options(self) -> GemOptions:
        return GemOptions(depth=self.depth, iterations=self.iterations, temperature=self.temperature,
                          exact=self.exact)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ComponentResult:
    """One grounded prompt.

    Attributes:
        name: ``"verb"``, ``"object"`` or ``"action"``
        prompt: the full templated text
        point: ``(x, y)`` in [0, 1] of the frame (pixel centres of the input frame)
        input_point: ``(x, y)`` integer pixel in the model input frame
        heatmap: float32 ``[H_in, W_in]`` in [0, 1] (None if heatmaps are not returned)
        similarity: float32 ``[G_h, G_w]`` raw cosine similarities on the patch grid
        score: cosine of the prompt with the original global embedding
    """

    name: str
    prompt: str
    point: tuple[float, float]
    input_point: tuple[int, int]
    heatmap: np.ndarray | None
    similarity: np.ndarray
    score: float

    @property
    def heat(self) -> float | None:
        """Heat value of this component's map at its point."""
        if self.heatmap is None:
            return None
        return float(self.heatmap[self.input_point[1], self.input_point[0]])


@dataclass
class GroundingResult:
    """Where an action happens in one frame.

    Attributes:
        action: the raw action text
        point: final ``(x, y)`` in [0, 1] of the frame (pixel centres of the input frame)
        input_point: final ``(x, y)`` integer pixel in the model input frame (the paper's protocol)
        input_size: ``(width, height)`` of the model input
        components: ``{"action"|"verb"|"object": ComponentResult}``
        heatmap: the merged heatmap for heatmap merges, else the action heatmap (float32, input size)
    """

    action: str
    point: tuple[float, float]
    input_point: tuple[int, int]
    input_size: tuple[int, int]
    components: dict[str, ComponentResult]
    heatmap: np.ndarray | None = None

    @property
    def heat(self) -> float | None:
        """Value of :attr:`heatmap` at the final point."""
        if self.heatmap is None:
            return None
        return float(self.heatmap[self.input_point[1], self.input_point[0]])


def _normalized_point(point: tuple[int, int], size: tuple[int, int]) -> tuple[float, float]:
    return (point[0] + 0.5) / size[0], (point[1] + 0.5) / size[1]


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


class VideoGEM:
    """The VideoGEM engine over a :class:`~fiftyone_videogem.engine.backbones.base.Backbone`.

    Args:
        backbone: the vision-language backbone
        device: torch device (default: CUDA when available, else CPU)
        **options: fields of :class:`GroundingOptions`
    """

    def __init__(self, backbone: Backbone, device: str | torch.device | None = None, **options: Any):
        self.options = GroundingOptions(**options)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.backbone = backbone.eval().to(self.device)
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.options.weighting_options().validate(self.options.depth)
        if self.options.depth > backbone.depth:
            raise ValueError(f"depth K={self.options.depth} exceeds the backbone's {backbone.depth} blocks")
        self._text_cache: dict[str, torch.Tensor] = {}
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------------------ builders
    @classmethod
    def from_open_clip(cls, model, tokenizer, image_size: int | tuple[int, int] = 448,
                       device=None, name: str = "open_clip", **options) -> "VideoGEM":
        """Wrap an open_clip CLIP model you built."""
        from .backbones.open_clip import OpenClipBackbone

        return cls(OpenClipBackbone(model, tokenizer, image_size=image_size, name=name), device=device, **options)

    @classmethod
    def from_pretrained(cls, name: str, checkpoint: str | None = None, device=None,
                        image_size: int | None = None, **options) -> "VideoGEM":
        """A registered backbone with its pretrained weights (or a local ``checkpoint`` file)."""
        from .backbones.registry import build_backbone

        backbone = build_backbone(name, checkpoint=checkpoint, pretrained=True, image_size=image_size)
        return cls(backbone, device=device, **options)

    @classmethod
    def from_config(cls, name: str, seed: int = 0, device=None, image_size: int | None = None,
                    **options) -> "VideoGEM":
        """A registered backbone's architecture with random weights (tests, offline smoke runs)."""
        from .backbones.registry import build_backbone

        backbone = build_backbone(name, pretrained=False, image_size=image_size, seed=seed)
        return cls(backbone, device=device, **options)

    # ---------------------------------------------------------------------------- properties
    @property
    def info(self):
        return self.backbone.info

    def config(self) -> dict:
        """A JSON-able description of the backbone and the options (for run records)."""
        info = self.info
        return dict(backbone=info.name, license=info.license, image_size=list(info.image_size),
                    num_frames=info.num_frames, target_frame=info.target_frame, **self.options.to_dict())

    # ---------------------------------------------------------------------------------- text
    def encode_prompts(self, texts: Sequence[str]) -> torch.Tensor:
        """Normalised text embeddings ``[P, E]`` (float32), cached per string."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        if missing:
            tokens = self.backbone.tokenize(missing).to(self.device)
            with torch.no_grad(), self._autocast():
                embeddings = l2_normalize(self.backbone.encode_text(tokens).float())
            for text, emb in zip(missing, embeddings):
                self._text_cache[text] = emb
        return torch.stack([self._text_cache[t] for t in texts])

    def parse(self, prompt: str | ActionPrompt) -> ActionPrompt:
        return parse_prompt(prompt, self.options.prompt_parser)

    # ------------------------------------------------------------------------------- frames
    def _as_item(self, frame) -> list[np.ndarray]:
        """One input item as a list of ``num_frames`` HxWx3 arrays."""
        t = self.info.num_frames
        if isinstance(frame, np.ndarray) and frame.ndim == 3:
            frames = [frame]
        elif isinstance(frame, np.ndarray) and frame.ndim == 4:
            frames = list(frame)
        elif isinstance(frame, (list, tuple)):
            frames = list(frame)
        else:
            frames = [np.asarray(frame)]
        if len(frames) == 1 and t > 1:
            frames = frames * t  # "image mode": the keyframe repeated T times
        if len(frames) != t:
            raise ValueError(
                f"backbone {self.info.name!r} takes {t} frame(s) per item (target at index "
                f"{self.info.target_frame}), got {len(frames)}"
            )
        return frames

    def preprocess(self, frame) -> torch.Tensor:
        """Model pixels of one item on the CPU (``[3,H,W]`` or ``[T,3,H,W]``)."""
        return self.backbone.preprocess(self._as_item(frame))

    def _preprocess_many(self, frames: Sequence) -> torch.Tensor:
        """Preprocess several items; image resizing releases the GIL, so threads run it in parallel."""
        if len(frames) == 1:
            return self.preprocess(frames[0])[None]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                            thread_name_prefix="videogem-preprocess")
        return torch.stack(list(self._pool.map(self.preprocess, frames)))

    def _autocast(self):
        precision = self.options.precision
        if precision is None:
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------------------ grounding
    def ground(self, frame, prompt: str | ActionPrompt) -> GroundingResult:
        """Ground one prompt in one frame (image backbones: HxWx3 uint8 RGB; video backbones: T frames)."""
        return self.ground_batch([frame], [prompt])[0]

    def ground_batch(self, frames: Sequence, prompts: str | ActionPrompt | Sequence) -> list[GroundingResult]:
        """Ground one prompt per frame (or one prompt for all frames), in batches."""
        frames = list(frames)
        if isinstance(prompts, (str, ActionPrompt)):
            prompts = [prompts] * len(frames)
        prompts = list(prompts)
        if len(prompts) != len(frames):
            raise ValueError(f"got {len(frames)} frames but {len(prompts)} prompts")
        parsed = [self.parse(p) for p in prompts]
        results: list[GroundingResult] = []
        start, batch = 0, self.options.batch_size
        while start < len(frames):
            chunk = slice(start, start + batch)
            try:
                pixels = self._preprocess_many(frames[chunk])
                results.extend(self.ground_pixels(pixels, parsed[chunk]))
            except RuntimeError as e:
                if not _is_out_of_memory(e) or batch == 1:
                    raise
                batch = max(1, batch // 2)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                logger.warning("out of memory on %s; retrying with batches of %d", self.device, batch)
                continue
            start += len(frames[chunk])
        return results

    def ground_pixels(self, pixels: torch.Tensor, prompts: Sequence[ActionPrompt]) -> list[GroundingResult]:
        """Ground preprocessed pixels (``[B,3,H,W]`` or ``[B,T,3,H,W]``), one prompt each."""
        with torch.no_grad():
            with self._autocast():
                features = gem_forward(self.backbone, pixels.to(self.device, non_blocking=True),
                                       self.options.gem_options())
            features = VisionFeatures(*(t.float() for t in (features.stack, features.final_cls,
                                                            features.residual_cls, features.embedding)))
            return self._heads(features, prompts)

    def _select_prompts(self, prompt: ActionPrompt, embedding: torch.Tensor) -> dict[str, tuple[str, float]]:
        """The prompt text of each grounded component, and its global score."""
        opts = self.options
        candidates = {"action": [prompt.action_prompt()], "verb": prompt.verb_prompts(),
                      "object": prompt.object_prompts()}
        names = COMPONENTS if opts.decomposition else (opts.single_prompt,)
        chosen = {}
        for name in names:
            texts = candidates[name]
            scores = self.encode_prompts(texts) @ embedding  # most visible candidate (METHOD.md 6.2)
            best = int(torch.argmax(scores))
            chosen[name] = (texts[best], float(scores[best]))
        return chosen

    def _heads(self, features: VisionFeatures, prompts: Sequence[ActionPrompt]) -> list[GroundingResult]:
        opts = self.options
        backbone = self.backbone
        embedding = l2_normalize(features.embedding)  # [B, E]
        chosen = [self._select_prompts(p, e) for p, e in zip(prompts, embedding)]
        names = list(chosen[0])
        text = torch.stack([self.encode_prompts([c[n][0] for n in names]) for c in chosen])  # [B, P, E]
        b, p = text.shape[:2]
        weighting = opts.weighting_options()
        dynamic = None
        if weighting.mode in ("dynamic", "static+dynamic"):
            dynamic = dynamic_weights(features, text, backbone.ln_post, backbone.proj,
                                      weighting.dynamic_layers, weighting.dynamic_temperature)
        weights = layer_weights(weighting, opts.depth, dynamic, (b, p), text.device, text.dtype)
        dense = dense_features(features, weights, backbone.ln_post, backbone.proj.float())  # [B, P, n, E]
        similarity = torch.einsum("bpne,bpe->bpn", dense, text)
        grids = backbone.patch_grid(similarity)[:, :, self.info.target_frame]  # [B, P, G_h, G_w]
        height, width = self.info.image_size
        maps = min_max_normalize(upsample(grids, (height, width)))  # [B, P, H, W]
        points = argmax_points(maps).cpu().numpy()  # [B, P, 2]
        grids_np = grids.cpu().numpy()
        maps_np = maps.cpu().numpy() if opts.return_heatmaps else None  # heatmap merges read `maps`
        size = (width, height)
        results = []
        for i, prompt in enumerate(prompts):
            components = {}
            for j, name in enumerate(names):
                ip = (int(points[i, j, 0]), int(points[i, j, 1]))
                components[name] = ComponentResult(
                    name=name, prompt=chosen[i][name][0], point=_normalized_point(ip, size), input_point=ip,
                    heatmap=None if maps_np is None else maps_np[i, j],
                    similarity=grids_np[i, j], score=chosen[i][name][1],
                )
            final, heatmap = self._merge(components, maps[i], names)
            if heatmap is None:  # point merges show the action map (the single prompt's without decomposition)
                heatmap = components["action" if "action" in components else names[0]].heatmap
            results.append(GroundingResult(
                action=prompt.action, point=_normalized_point(final, size), input_point=final,
                input_size=size, components=components, heatmap=heatmap,
            ))
        return results

    def _merge(self, components: dict[str, ComponentResult], maps: torch.Tensor, names: list[str]):
        """Final point (and merged heatmap for heatmap merges)."""
        opts = self.options
        if len(names) == 1:
            return components[names[0]].input_point, None
        weights = dict(zip(COMPONENTS, opts.merge_weights))
        ordered = [weights[n] for n in names]
        if opts.merge == "point_average":
            return merge_points([components[n].input_point for n in names], ordered), None
        merged = merge_heatmaps([maps[j] for j in range(len(names))], ordered, opts.merge)
        point = argmax_points(merged)
        heatmap = merged.cpu().numpy() if opts.return_heatmaps else None
        return (int(point[0]), int(point[1])), heatmap
