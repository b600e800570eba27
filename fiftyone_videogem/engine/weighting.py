"""Layer weighting of the GEM stack: static, dynamic and combined (METHOD.md section 4).

Stack index ``i = 0..K``: ``i = 0`` is ``X^{L-K}``, ``i >= 1`` is ``Z^{L-K+i}``. Weights multiply the
pre-``ln_post`` tensors; dense features are ``ln_post(sum_i w_i S_i) @ proj``.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .gem import VisionFeatures, l2_normalize
from .options import STATIC_WEIGHTS, WEIGHTING_MODES, WeightingOptions, normalize_weighting_mode

__all__ = ["STATIC_WEIGHTS", "WEIGHTING_MODES", "WeightingOptions", "normalize_weighting_mode",
           "dynamic_weights", "layer_weights", "dense_features"]


def dynamic_weights(
    features: VisionFeatures, text: torch.Tensor, ln_post, proj: torch.Tensor, layers: int, temperature: float
) -> torch.Tensor:
    """Per-prompt dynamic weights of the last ``D`` blocks (METHOD.md 4.2).

    Args:
        features: the vision pass
        text: ``[B, P, E]`` normalised text embeddings, per sample
        layers: D
        temperature: tau_d

    Returns:
        ``[B, P, D]``; column ``j`` belongs to block ``L - D + 1 + j``
    """
    residuals = features.residual_cls[:, -layers:]  # [B, D, C]
    removed = features.final_cls[:, None, :] - residuals  # X^L - R^l, CLS only
    cls = l2_normalize(ln_post(removed) @ proj)  # [B, D, E]
    similarity = torch.einsum("bde,bpe->bpd", cls, text)
    return torch.softmax(-temperature * similarity, dim=-1)


def layer_weights(
    options: WeightingOptions, depth: int, dynamic: torch.Tensor | None, shape: Sequence[int], device, dtype
) -> torch.Tensor:
    """The ``[B, P, K+1]`` weights of ``options.mode``.

    ``dynamic`` (``[B, P, D]``, from :func:`dynamic_weights`) is needed for the dynamic modes.
    """
    b, p = shape
    if options.mode in ("none", "dynamic"):
        base = torch.ones(depth + 1, device=device, dtype=dtype)
    else:
        base = torch.tensor(options.static_weights, device=device, dtype=dtype)
    weights = base.expand(b, p, depth + 1).clone()
    if options.mode in ("dynamic", "static+dynamic"):
        if dynamic is None:
            raise ValueError(f"weighting mode {options.mode!r} needs dynamic weights")
        d = options.dynamic_layers
        weights[..., -d:] = weights[..., -d:] - 1.0 / d + dynamic.to(dtype)
    return weights


def dense_features(
    features: VisionFeatures, weights: torch.Tensor, ln_post, proj: torch.Tensor
) -> torch.Tensor:
    """``l2norm(ln_post(sum_i w_i S_i) @ proj)`` for every prompt: ``[B, P, N-1, E]``."""
    mixed = torch.einsum("bpi,bind->bpnd", weights.to(features.stack.dtype), features.stack)
    return l2_normalize(ln_post(mixed) @ proj)
