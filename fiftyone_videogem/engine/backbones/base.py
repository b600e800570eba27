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

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Turn one input item (``num_frames`` HxWx3 uint8 RGB arrays) into model pixels.

        Returns ``[3, H, W]`` for image backbones and ``[T, 3, H, W]`` for video backbones, on the CPU.
        """
        raise NotImplementedError

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
