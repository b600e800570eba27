"""The GEM forward pass: the original ViT pathway plus the self-self (ss) pathway.

METHOD.md section 1. The first ``L - K`` blocks run unchanged. Each of the last ``K`` blocks reads
the original-pathway state only, computes ``LN1`` and the QKV projection once, and from them

* the original attention, MLP and residuals (numerically the model's own block), and
* the ss output ``Z = LS1(out_proj(SS(U)))`` with no MLP and no recurrence.

All tensors are batch-first. Only what later steps need is kept: the patch rows of the stack
``S = [X^{L-K}, Z^{L-K+1}, ..., Z^L]``, the CLS rows of the block residuals ``R^l`` and the final
CLS state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones.base import Backbone
from .options import GemOptions


@dataclass
class VisionFeatures:
    """What one vision pass leaves for the per-prompt heads.

    Attributes:
        stack: ``[B, K+1, N-1, C]`` patch rows of ``S`` (pre ``ln_post``)
        final_cls: ``[B, C]`` CLS row of ``X^L`` (pre ``ln_post``)
        residual_cls: ``[B, K, C]`` CLS rows of the full block residuals ``R^l`` of the GEM blocks
        embedding: ``[B, E]`` the original image/video embedding ``ln_post(X^L)[CLS] @ proj``
    """

    stack: torch.Tensor
    final_cls: torch.Tensor
    residual_cls: torch.Tensor
    embedding: torch.Tensor


def l2_normalize(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return F.normalize(x, dim=dim)


def adaptive_inverse_temperature(u: torch.Tensor, head_dim: int) -> torch.Tensor:
    """``inv_tau = mean_n ||U_n||_2 / sqrt(d_h)``, one value per sample: ``[B]``."""
    return u.norm(dim=-1).mean(dim=-1) * head_dim**-0.5


def self_self_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, inv_tau: torch.Tensor, iterations: int = 1
) -> torch.Tensor:
    """The GEM self-self attention (METHOD.md 1.4) on per-head projections.

    Args:
        q, k, v: ``[B, H, N, d_h]`` (biased projections)
        inv_tau: ``[B]`` logit multipliers
        iterations: J

    Returns:
        ``[B, H, N, d_h]``, the mean of the v-v, k-k and q-q branches, each assigned to ``v``
    """
    b = v.shape[0]
    # the three branches run as one batch: [3B, H, N, d_h], branch-major (v, k, q)
    p = torch.cat([v, k, q], dim=0)
    scale = inv_tau.to(p.dtype).repeat(3).view(3 * b, 1, 1, 1)
    for _ in range(iterations):
        p = l2_normalize(p)
        p = F.scaled_dot_product_attention(p * scale, p, p, scale=1.0)
    p = l2_normalize(p)
    values = v.repeat(3, 1, 1, 1)
    out = F.scaled_dot_product_attention(p * scale, p, values, scale=1.0)  # [3B, H, N, d_h]
    out_v, out_k, out_q = out.split(b, dim=0)
    return (out_v + out_k + out_q) / 3


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """Standard softmax attention, ``[B, H, N_q, d_h]``.

    With ``exact`` on the CPU this is the explicit product form, which is what
    ``nn.MultiheadAttention``'s inference path computes there, so the original pathway reproduces
    the model's own forward to the bit; otherwise the fused kernel is used.
    """
    if exact and q.device.type == "cpu":
        scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))
        return torch.matmul(scores.softmax(dim=-1), v)
    return F.scaled_dot_product_attention(q, k, v)


def gem_block(
    block: nn.Module, x: torch.Tensor, num_heads: int, options: GemOptions, cls_only: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GEM block: returns ``(X^l, Z^l)``, ``[B, N, C]`` each (``X^l`` is ``[B, 1, C]``, the CLS
    row only, when ``cls_only``)."""
    attn = block.attn
    b, n, c = x.shape
    d = c // num_heads
    u = block.ln_1(x)
    qkv = F.linear(u, attn.in_proj_weight, attn.in_proj_bias)  # [B, N, 3C]
    q, k, v = qkv.view(b, n, 3, num_heads, d).permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, H, N, d_h]

    def project(heads: torch.Tensor) -> torch.Tensor:  # [B, H, n, d_h] -> [B, n, C]
        merged = heads.transpose(1, 2).reshape(b, heads.shape[2], c)
        return block.ls_1(F.linear(merged, attn.out_proj.weight, attn.out_proj.bias))

    # original pathway
    if cls_only:
        x_att = x[:, :1] + project(_attention(q[:, :, :1], k, v, exact=False))
    else:
        x_att = x + project(_attention(q, k, v, exact=options.exact))
    x_out = x_att + block.ls_2(block.mlp(block.ln_2(x_att)))

    # self-self pathway
    if options.temperature is None:
        inv_tau = adaptive_inverse_temperature(u, d)
    else:
        inv_tau = torch.full((b,), float(options.temperature), device=x.device, dtype=x.dtype)
    z = project(self_self_attention(q, k, v, inv_tau, options.iterations))
    return x_out, z


def gem_forward(backbone: Backbone, pixels: torch.Tensor, options: GemOptions = GemOptions()) -> VisionFeatures:
    """Run the vision tower once with the GEM pathway on its last ``K`` blocks."""
    blocks = backbone.blocks
    depth = len(blocks)
    if not 1 <= options.depth <= depth:
        raise ValueError(f"GEM depth K={options.depth} must be between 1 and the number of blocks ({depth})")
    if options.iterations < 0:
        raise ValueError(f"self-self iterations J={options.iterations} must be >= 0")
    x = backbone.embed(pixels)  # [B, N, C]
    first = depth - options.depth
    for block in blocks[:first]:
        x = block(x)
    stack = [x[:, 1:]]
    residual_cls = []
    last = len(blocks) - 1
    for index, block in enumerate(blocks[first:], start=first):
        x_new, z = gem_block(block, x, backbone.num_heads, options, cls_only=not options.exact and index == last)
        stack.append(z[:, 1:])
        residual_cls.append(x_new[:, 0] - x[:, 0])
        x = x_new
    final_cls = x[:, 0]
    embedding = backbone.ln_post(final_cls) @ backbone.proj
    return VisionFeatures(
        stack=torch.stack(stack, dim=1),
        final_cls=final_cls,
        residual_cls=torch.stack(residual_cls, dim=1),
        embedding=embedding,
    )
