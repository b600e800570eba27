"""The interface between a vision-language backbone and the GEM engine.

A backbone is a ViT vision tower plus a text tower. The engine never looks inside the towers
beyond what :class:`Backbone` exposes: the token embedding, the list of residual blocks (each
with ``ln_1``, ``attn`` (an ``nn.MultiheadAttention``), ``ls_1``, ``ln_2``, ``mlp``, ``ls_2``),
``ln_post`` and ``proj``, so adding a backbone means writing one of these, not a new code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BackboneInfo:
    """Static facts about a backbone.

    Args:
        name: registry name, or a free description
        num_frames: frames per input item (1 for image backbones, T for video backbones)
        target_frame: index of the frame whose heatmap is used (0 for images, 4 of 8 for ViCLIP)
        image_size: ``(height, width)`` of the model input
        patch_size: ViT patch size in pixels
        license: licence of the pretrained weights, if known
    """

    name: str
    num_frames: int
    target_frame: int
    image_size: tuple[int, int]
    patch_size: int
    license: str = "unknown"

    @property
    def grid_size(self) -> tuple[int, int]:
        """``(G_h, G_w)``, the patch grid of one frame."""
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size


class Backbone(nn.Module):
    """A ViT vision-language model seen the way the GEM engine needs it.

    Subclasses implement :meth:`embed`, :meth:`patch_grid`, :meth:`preprocess` and
    :meth:`encode_text`, and expose ``blocks``, ``ln_post``, ``proj`` and ``num_heads``.
    Every tensor is batch-first.
    """

    info: BackboneInfo
    blocks: Sequence[nn.Module]
    ln_post: nn.LayerNorm
    proj: torch.Tensor  # [C, E]
    num_heads: int

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """Tokens entering block 1, after ``ln_pre``: ``[B, N, C]``, CLS first.

        ``pixels`` is ``[B, 3, H, W]`` for image backbones and ``[B, T, 3, H, W]`` for video ones.
        """
        raise NotImplementedError

    def patch_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Reshape per-patch values ``[..., N - 1]`` (CLS dropped) to ``[..., T, G_h, G_w]``."""
        raise NotImplementedError

    def preprocess(self, frames: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> torch.Tensor:
        """Turn one input item (``num_frames`` HxWx3 uint8 RGB arrays) into model pixels.

        Args:
            frames: the item's frames
            size: ``(height, width)`` to squash the frames to (None: ``info.image_size``)

        Returns ``[3, H, W]`` for image backbones and ``[T, 3, H, W]`` for video backbones, on the CPU.
        """
        raise NotImplementedError

    @property
    def native_size(self) -> tuple[int, int]:
        """``(height, width)`` the model was trained at: the grid of its positional table times the patch."""
        raise NotImplementedError

    def global_embedding(self, pixels: torch.Tensor) -> torch.Tensor:
        """The model's own image (or clip) embedding ``[B, E]``, not normalised: every block as it is,
        then ``ln_post`` of the CLS token and ``proj``."""
        x = self.embed(pixels)
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x[:, 0]) @ self.proj

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids for ``texts``: ``[P, context_length]``."""
        raise NotImplementedError

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Text embeddings ``[P, E]`` (not normalised) for token ids from :meth:`tokenize`."""
        raise NotImplementedError

    @property
    def width(self) -> int:
        return self.ln_post.normalized_shape[0]

    @property
    def depth(self) -> int:
        return len(self.blocks)


def resample_positional_embedding(table: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resample a ``[1 + g0*g0, C]`` positional table to ``grid`` (METHOD.md 1.1 step 3).

    The CLS row is kept; the patch rows are resized as an image with bicubic interpolation,
    antialiasing on and ``align_corners=False``. A table already of that grid is returned as is.
    """
    rows, width = table.shape[0] - 1, table.shape[1]
    side = int(round(rows**0.5))
    if side * side != rows:
        raise ValueError(f"the positional embedding has {rows} patch rows, which is not a square grid")
    if (side, side) == tuple(grid):
        return table
    patches = table[1:].reshape(1, side, side, width).permute(0, 3, 1, 2)  # [1, C, g0, g0]
    patches = F.interpolate(patches.float(), size=tuple(grid), mode="bicubic", antialias=True, align_corners=False)
    patches = patches.to(table.dtype).permute(0, 2, 3, 1).reshape(grid[0] * grid[1], width)
    return torch.cat([table[:1], patches], dim=0)


def as_rgb_uint8(frame, index: int = 0) -> np.ndarray:
    """An HxWx3 uint8 RGB copy of ``frame`` (grey, RGBA and float [0, 1] frames are converted)."""
    array = np.asarray(frame)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"frame {index} should be an HxWx3 RGB array, got shape {array.shape}")
    array = array[:, :, :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)
