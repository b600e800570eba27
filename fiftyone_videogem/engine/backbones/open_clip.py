"""CLIP and OpenCLIP image-language backbones through open_clip.

Any open_clip ``CLIP`` whose vision tower is a ``VisionTransformer`` made of
``ResidualAttentionBlock``\\ s (``nn.MultiheadAttention`` inside) works: OpenAI CLIP and the
LAION OpenCLIP ViTs. Models with custom attention blocks, attentional pooling or average pooling
are rejected with a clear error because the GEM pathway reads the attention weights directly.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from .base import Backbone, BackboneInfo, as_rgb_uint8, resample_positional_embedding

logger = logging.getLogger(__name__)

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class OpenClipBackbone(Backbone):
    """An open_clip CLIP model seen as a GEM backbone.

    Args:
        model: an open_clip ``CLIP`` model
        tokenizer: the matching open_clip tokenizer (``open_clip.get_tokenizer(arch)``)
        image_size: model input size, an int or ``(height, width)`` (448); frames are squashed to it
        mean: normalisation mean (OpenAI CLIP statistics)
        std: normalisation std (OpenAI CLIP statistics)
        name: a name for reports
        license: licence of the weights, if known
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        image_size: int | tuple[int, int] = 448,
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        name: str = "open_clip",
        license: str = "unknown",
    ):
        super().__init__()
        visual = getattr(model, "visual", None)
        _check_supported(visual)
        self.training = False  # this wrapper only; the model's own mode is left as it is
        self.model = model
        self.visual = visual
        self.tokenizer = tokenizer
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        patch = visual.conv1.kernel_size
        patch_size = patch[0] if isinstance(patch, tuple) else int(patch)
        if image_size[0] % patch_size or image_size[1] % patch_size:
            raise ValueError(f"image_size {image_size} must be divisible by the patch size {patch_size}")
        self.info = BackboneInfo(
            name=name, num_frames=1, target_frame=0, image_size=tuple(image_size),
            patch_size=patch_size, license=license,
        )
        self.blocks = list(visual.transformer.resblocks)
        self.ln_post = visual.ln_post
        self.proj = visual.proj
        self.num_heads = self.blocks[0].attn.num_heads
        # plain attributes, not buffers: preprocessing stays on the CPU wherever the model is moved
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self._pos_cache: dict[tuple, torch.Tensor] = {}

    # ----------------------------------------------------------------------------------- vision
    @property
    def native_size(self) -> tuple[int, int]:
        side = int(round((self.visual.positional_embedding.shape[0] - 1) ** 0.5))
        return side * self.info.patch_size, side * self.info.patch_size

    def positional_embedding(self, grid: tuple[int, int]) -> torch.Tensor:
        """The positional table for a ``grid`` of patches (resampled once per grid and kept)."""
        pos = self.visual.positional_embedding
        key = (tuple(grid), pos.device, pos.dtype, pos.data_ptr())
        table = self._pos_cache.get(key)
        if table is None:
            with torch.no_grad():
                table = resample_positional_embedding(pos, grid)
            if len(self._pos_cache) >= 4:  # a few grids at most (grounding and native size)
                self._pos_cache.pop(next(iter(self._pos_cache)))
            self._pos_cache[key] = table
        return table

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        v = self.visual
        x = v.conv1(pixels)  # [B, C, G_h, G_w]
        grid = tuple(x.shape[-2:])
        x = x.flatten(2).transpose(1, 2)  # [B, G_h*G_w, C], row-major
        cls = v.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)  # [B, N, C]
        x = x + self.positional_embedding(grid).to(x.dtype)
        x = v.patch_dropout(x)
        return v.ln_pre(x)

    def patch_grid(self, values: torch.Tensor) -> torch.Tensor:
        gh, gw = self.info.grid_size
        return values.reshape(*values.shape[:-1], 1, gh, gw)

    def preprocess(self, frames: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> torch.Tensor:
        """One frame -> ``[3, H, W]``: PIL bicubic squash to ``size`` (the input size), /255, OpenAI
        normalisation (METHOD.md 2)."""
        if len(frames) != 1:
            raise ValueError(f"{self.info.name} takes one frame per item, got {len(frames)}")
        frame = as_rgb_uint8(frames[0])
        h, w = size or self.info.image_size
        image = Image.fromarray(frame).resize((w, h), Image.BICUBIC)
        pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div_(255.0)
        return pixels.sub_(self.mean).div_(self.std)  # [3, H, W]

    # ------------------------------------------------------------------------------------- text
    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(texts))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """The model's own image embedding (for comparisons; not used by the engine)."""
        return self.model.encode_image(pixels)


def _check_supported(visual) -> None:
    from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

    if not isinstance(visual, VisionTransformer):
        raise TypeError(
            f"VideoGEM needs an open_clip model whose vision tower is a VisionTransformer, got "
            f"{type(visual).__name__}; pick a ViT architecture such as 'ViT-B-16'"
        )
    if getattr(visual, "attn_pool", None) is not None or getattr(visual, "pool_type", "tok") != "tok":
        raise TypeError("VideoGEM needs a ViT that pools the CLS token (pool_type='tok', no attentional pooler)")
    if getattr(visual, "final_ln_after_pool", False):
        raise TypeError("VideoGEM needs ln_post applied per token (final_ln_after_pool=False)")
    if visual.proj is None:
        raise TypeError("VideoGEM needs a vision tower with a projection 'proj'")
    for block in visual.transformer.resblocks:
        if type(block) is not ResidualAttentionBlock or not isinstance(block.attn, nn.MultiheadAttention):
            raise TypeError(
                f"VideoGEM needs ResidualAttentionBlocks with nn.MultiheadAttention, got {type(block).__name__}"
            )
