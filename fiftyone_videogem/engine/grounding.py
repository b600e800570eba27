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
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .backbones.base import Backbone
from .batching import BatchLimit, is_out_of_memory, run_in_batches
from .gem import VisionFeatures, gem_forward, l2_normalize
from .heatmaps import argmax_points, merge_heatmaps, merge_points, min_max_normalize, upsample
from .options import COMPONENTS, PRECISIONS, GroundingOptions
from .prompts import ActionPrompt, parse_prompt
from .weighting import dense_features, dynamic_weights, layer_weights

logger = logging.getLogger(__name__)

__all__ = ["COMPONENTS", "PRECISIONS", "ComponentResult", "GroundingOptions", "GroundingResult",
           "TextEmbeddingCache", "VideoGEM", "default_device"]

TEXT_CACHE_SIZE = 4096
PREPROCESS_THREADS = 8

_is_out_of_memory = is_out_of_memory  # the name the temporal scorer imports


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


def default_device() -> str:
    """``"cuda"`` when a GPU is available, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _parameter_device(module: torch.nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _check_inference_mode(backbone: Backbone) -> None:
    training = [name or type(backbone).__name__ for name, m in backbone.named_modules() if m.training]
    if training:
        shown = ", ".join(training[:3]) + (f" and {len(training) - 3} more" if len(training) > 3 else "")
        raise ValueError(
            f"the model is in training mode ({shown}), where dropout and drop-path change its output; "
            "call model.eval() before handing it to VideoGEM (VideoGEM does not change your model's mode)"
        )


class TextEmbeddingCache:
    """A bounded, least-recently-used cache of text embeddings, keyed by the text.

    Args:
        max_size: texts kept at most (4096)
    """

    def __init__(self, max_size: int = TEXT_CACHE_SIZE):
        if max_size < 1:
            raise ValueError("the text cache must hold at least one text")
        self.max_size = max_size
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, text: str) -> bool:
        return text in self._entries

    def __getitem__(self, text: str) -> torch.Tensor:
        self._entries.move_to_end(text)
        return self._entries[text]

    def __setitem__(self, text: str, embedding: torch.Tensor) -> None:
        self._entries[text] = embedding
        self._entries.move_to_end(text)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class VideoGEM:
    """The VideoGEM engine over a :class:`~fiftyone_videogem.engine.backbones.base.Backbone`.

    The engine runs the model under ``torch.no_grad()`` and never changes it: a model handed in
    (:meth:`from_open_clip`, or a backbone built elsewhere) must already be in eval mode, else a
    ``ValueError`` says to call ``model.eval()``; its ``requires_grad`` flags are left as they are.
    Backbones the engine builds itself (:meth:`from_pretrained`, :meth:`from_config`) are built in
    eval mode with frozen parameters.

    Args:
        backbone: the vision-language backbone (in eval mode)
        device: where the model runs (None: where the backbone's parameters already are); a backbone
            elsewhere is moved there
        text_cache_size: text embeddings kept (4096)
        **options: fields of :class:`GroundingOptions`
    """

    def __init__(self, backbone: Backbone, device: str | torch.device | None = None, *,
                 text_cache_size: int = TEXT_CACHE_SIZE, **options: Any):
        self.options = GroundingOptions(**options)
        _check_inference_mode(backbone)
        self.options.weighting_options().validate(self.options.depth)
        if self.options.depth > backbone.depth:
            raise ValueError(f"depth K={self.options.depth} exceeds the backbone's {backbone.depth} blocks")
        self.device = torch.device(device) if device is not None else _parameter_device(backbone)
        if _parameter_device(backbone) != self.device:
            backbone = backbone.to(self.device)
        self.backbone = backbone
        self.text_cache = TextEmbeddingCache(text_cache_size)
        self.batch_limit = BatchLimit()  # the batch size that worked after running out of memory

    # ------------------------------------------------------------------------------ builders
    @classmethod
    def from_open_clip(cls, model, tokenizer, image_size: int | tuple[int, int] = 448,
                       device=None, name: str = "open_clip", **options) -> "VideoGEM":
        """Wrap an open_clip CLIP model you built (in eval mode; it is not changed).

        Args:
            model: an open_clip ``CLIP`` with a ViT vision tower, in eval mode
            tokenizer: its tokenizer (``open_clip.get_tokenizer(arch)``)
            image_size: grounding input size (448)
            device: where it runs (None: where its parameters are)
            name: a name for run records ("open_clip")
            **options: fields of :class:`GroundingOptions`
        """
        from .backbones.open_clip import OpenClipBackbone

        return cls(OpenClipBackbone(model, tokenizer, image_size=image_size, name=name), device=device, **options)

    @classmethod
    def from_pretrained(cls, name: str, checkpoint: str | None = None, device=None,
                        image_size: int | None = None, **options) -> "VideoGEM":
        """A registered backbone with its pretrained weights (or a local ``checkpoint`` file).

        Without a checkpoint, weights missing from the hub cache are downloaded; when the hub cannot
        be reached the error comes within seconds and says what to pass instead.

        Args:
            name: registry name (:func:`~fiftyone_videogem.engine.backbones.registry.list_backbones`)
            checkpoint: local weights file (None: download)
            device: torch device (None: CUDA when available, else CPU)
            image_size: grounding input size (None: the registry's)
            **options: fields of :class:`GroundingOptions`
        """
        from .backbones.registry import build_backbone

        backbone = build_backbone(name, checkpoint=checkpoint, pretrained=True, image_size=image_size)
        return cls(backbone, device=device or default_device(), **options)

    @classmethod
    def from_config(cls, name: str, seed: int = 0, device=None, image_size: int | None = None,
                    **options) -> "VideoGEM":
        """A registered backbone's architecture with random weights (tests, offline smoke runs).

        The weights come from a local generator seeded with ``seed``; torch's global random state
        is not touched.

        Args:
            name: registry name
            seed: seed of the random weights (0)
            device: torch device (None: CUDA when available, else CPU)
            image_size: grounding input size (None: the registry's)
            **options: fields of :class:`GroundingOptions`
        """
        from .backbones.registry import build_backbone

        backbone = build_backbone(name, pretrained=False, image_size=image_size, seed=seed)
        return cls(backbone, device=device or default_device(), **options)

    # ---------------------------------------------------------------------------- properties
    @property
    def info(self):
        return self.backbone.info

    def config(self) -> dict:
        """A JSON-able description of the backbone and the options (for run records)."""
        info = self.info
        return dict(backbone=info.name, license=info.license, image_size=list(info.image_size),
                    num_frames=info.num_frames, target_frame=info.target_frame, **self.options.to_dict())

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of ``options.precision`` (nothing for fp32, the default)."""
        precision = self.options.precision
        if precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ---------------------------------------------------------------------------------- text
    def encode_prompts(self, texts: Sequence[str]) -> torch.Tensor:
        """Normalised text embeddings ``[P, E]`` (float32, on the device), cached per string."""
        texts = list(texts)
        found = {t: self.text_cache[t] for t in dict.fromkeys(texts) if t in self.text_cache}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            tokens = self.backbone.tokenize(missing).to(self.device)
            with torch.no_grad(), self.autocast():
                embeddings = l2_normalize(self.backbone.encode_text(tokens).float())
            for text, embedding in zip(missing, embeddings):
                found[text] = embedding
                self.text_cache[text] = embedding
        if not texts:
            return torch.zeros(0, self.backbone.proj.shape[-1], device=self.device)
        return torch.stack([found[t] for t in texts])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised text embeddings of free-text queries: float32 ``[Q, E]``, cached per string.

        The texts are encoded verbatim (no template), like the prompts of :meth:`ground`.
        """
        if isinstance(texts, str):
            texts = [texts]
        return self.encode_prompts(texts).cpu().numpy()

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

    def preprocess(self, frame, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Model pixels of one item on the CPU (``[3,H,W]`` or ``[T,3,H,W]``), at ``size`` (None: the
        grounding input size)."""
        return self.backbone.preprocess(self._as_item(frame), size)

    def _batches(self, items: Sequence, run: Callable[[Sequence, ThreadPoolExecutor | None], list]) -> list:
        """``run`` over batches of ``items`` (:func:`~fiftyone_videogem.engine.batching.run_in_batches`).

        Preprocessing threads (image resizing releases the GIL) live for this call only.
        """
        threads = min(PREPROCESS_THREADS, os.cpu_count() or 1, len(items))
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="videogem-preprocess") if threads > 1 else None
        try:
            return run_in_batches(items, lambda chunk: run(chunk, pool), self.options.batch_size, self.device,
                                  limit=self.batch_limit)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _preprocess_many(self, items: Sequence, pool: ThreadPoolExecutor | None,
                         size: tuple[int, int] | None = None) -> torch.Tensor:
        if pool is None or len(items) == 1:
            return torch.stack([self.preprocess(item, size) for item in items])
        return torch.stack(list(pool.map(lambda item: self.preprocess(item, size), items)))

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
        items = list(zip(frames, (self.parse(p) for p in prompts)))

        def run(chunk, pool):
            pixels = self._preprocess_many([frame for frame, _ in chunk], pool)
            return self.ground_pixels(pixels, [prompt for _, prompt in chunk])

        return self._batches(items, run)

    def ground_pixels(self, pixels: torch.Tensor, prompts: Sequence[ActionPrompt]) -> list[GroundingResult]:
        """Ground preprocessed pixels (``[B,3,H,W]`` or ``[B,T,3,H,W]``), one prompt each."""
        with torch.no_grad():
            with self.autocast():
                features = gem_forward(self.backbone, pixels.to(self.device, non_blocking=True),
                                       self.options.gem_options())
            features = VisionFeatures(*(t.float() for t in (features.stack, features.final_cls,
                                                            features.residual_cls, features.embedding)))
            return self._heads(features, prompts)

    # ---------------------------------------------------------------------- global embeddings
    def embed_frames(self, frames: Sequence) -> np.ndarray:
        """L2-normalised global embeddings of frames (or clips), one per item: float32 ``[N, E]``.

        The model's own embedding (CLS token, ``ln_post``, ``proj``) with no GEM pathway, at the
        backbone's native resolution (224 for ViT-B/16, whatever the grounding size), so a temporal
        scan pays for a plain image encoding. Frames are squashed to that size like the grounding
        input (no centre crop). For video backbones each item is the window of ``num_frames``
        frames around a sampled frame (a single frame is repeated, as in :meth:`ground`), and the
        result is the clip embedding. Batched by ``options.batch_size``, smaller on out-of-memory.

        Args:
            frames: HxWx3 uint8 RGB frames (image backbones) or windows of T frames (video backbones)
        """
        size = self.backbone.native_size

        def run(chunk, pool):
            return list(self.embed_pixels(self._preprocess_many(chunk, pool, size)).cpu().numpy())

        embeddings = self._batches(list(frames), run)
        if not embeddings:
            return np.zeros((0, self.backbone.proj.shape[-1]), np.float32)
        return np.stack(embeddings)

    def embed_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised global embeddings ``[B, E]`` (float32) of preprocessed pixels at the native size
        (``[B,3,H,W]`` or ``[B,T,3,H,W]``)."""
        with torch.no_grad(), self.autocast():
            embedding = self.backbone.global_embedding(pixels.to(self.device, non_blocking=True))
        return l2_normalize(embedding.float())

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
