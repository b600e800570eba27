"""Heatmaps and points (METHOD.md sections 5 and 6.3).

Patch-grid similarities are upsampled bilinearly to the full input size, min-max normalised per
map, and the point is the argmax pixel taken after upsampling, ties going to the first pixel in
row-major order.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import torch
import torch.nn.functional as F

from .options import MERGE_MODES, normalize_merge_mode

__all__ = ["MERGE_MODES", "normalize_merge_mode", "upsample", "min_max_normalize", "argmax_points",
           "merge_points", "merge_heatmaps"]


def upsample(grids: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear (``align_corners=False``) upsampling of ``[..., G_h, G_w]`` maps to ``[..., H, W]``."""
    lead = grids.shape[:-2]
    flat = grids.reshape(-1, 1, *grids.shape[-2:]).float()
    out = F.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False)
    return out.reshape(*lead, *size)


def min_max_normalize(maps: torch.Tensor) -> torch.Tensor:
    """Per-map ``(h - min) / (max - min)`` over the last two dims; a constant map becomes all zeros."""
    flat = maps.flatten(-2)
    low = flat.min(dim=-1, keepdim=True).values
    span = flat.max(dim=-1, keepdim=True).values - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    out = torch.where(span > 0, (flat - low) / safe, torch.zeros_like(flat))
    return out.view_as(maps)


def argmax_points(maps: torch.Tensor) -> torch.Tensor:
    """First-occurrence argmax of ``[..., H, W]`` maps as integer ``(x, y)`` pairs: ``[..., 2]``."""
    w = maps.shape[-1]
    index = maps.flatten(-2).argmax(dim=-1)
    return torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], dim=-1)


def _fractions(weights: Sequence[float]) -> list[Fraction]:
    return [Fraction(str(w)) if not isinstance(w, Fraction) else w for w in weights]


def merge_points(points: Sequence[tuple[int, int]], weights: Sequence[float]) -> tuple[int, int]:
    """Weighted average of integer points, truncated to int (METHOD.md 6.3).

    The arithmetic is exact (rational), so ``weights=(0.2, 0.2, 0.6)`` gives exactly the
    reference's ``int((x_verb + x_obj + 3 * x_act) / 5)``.
    """
    fr = _fractions(weights)
    total = sum(fr)
    if total <= 0:
        raise ValueError(f"merge weights must have a positive sum, got {list(weights)}")
    x = sum(w * int(p[0]) for w, p in zip(fr, points)) / total
    y = sum(w * int(p[1]) for w, p in zip(fr, points)) / total
    return int(x), int(y)


def merge_heatmaps(maps: Sequence[torch.Tensor], weights: Sequence[float], mode: str) -> torch.Tensor:
    """Heatmap merges of Table 4: weighted average, or product with weights as exponents."""
    mode = normalize_merge_mode(mode)
    if mode == "heatmap_average":
        total = float(sum(weights))
        return sum(float(w) * m for w, m in zip(weights, maps)) / total
    if mode == "heatmap_product":
        out = torch.ones_like(maps[0])
        for w, m in zip(weights, maps):
            out = out * m.pow(float(w) / float(min(weights)))
        return out
    raise ValueError(f"merge mode {mode!r} does not merge heatmaps")
