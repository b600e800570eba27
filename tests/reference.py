"""A deliberately plain implementation of VideoGEM for image backbones, written from METHOD.md.

It shares no code with the engine: per-head loops, explicit softmax, the blocks' own modules
for the original pathway. Tests compare the engine's raw similarity grids with it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

STATIC = [0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.9, 0.9]
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


def preprocess(frame: np.ndarray, size: int) -> torch.Tensor:
    img = Image.fromarray(frame).resize((size, size), Image.BICUBIC)
    x = torch.tensor(np.array(img), dtype=torch.float32).permute(2, 0, 1) / 255.0
    return (x - MEAN) / STD


def embed(visual, x: torch.Tensor) -> torch.Tensor:
    tokens = visual.conv1(x)
    g_h, g_w = tokens.shape[-2:]
    tokens = tokens.reshape(x.shape[0], tokens.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.reshape(1, 1, -1).repeat(x.shape[0], 1, 1)
    tokens = torch.cat([cls, tokens], 1)
    pos = visual.positional_embedding
    g0 = int((pos.shape[0] - 1) ** 0.5)
    if (g0, g0) != (g_h, g_w):
        grid = pos[1:].reshape(1, g0, g0, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(g_h, g_w), mode="bicubic", antialias=True, align_corners=False)
        pos = torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(g_h * g_w, -1)], 0)
    return visual.ln_pre(tokens + pos)


def ss_attention(u, attn, heads, inv_tau_override=None, iterations=1):
    b, n, c = u.shape
    d = c // heads
    qkv = u @ attn.in_proj_weight.T + attn.in_proj_bias
    q, k, v = qkv[..., :c], qkv[..., c:2 * c], qkv[..., 2 * c:]
    if inv_tau_override is None:
        inv_tau = u.norm(dim=-1).mean(dim=-1) / d**0.5  # [B]
    else:
        inv_tau = torch.full((b,), float(inv_tau_override))
    out = torch.zeros(b, n, c)
    for bi in range(b):
        for h in range(heads):
            sl = slice(h * d, (h + 1) * d)
            vh = v[bi, :, sl]
            acc = torch.zeros(n, d)
            for p0 in (v[bi, :, sl], k[bi, :, sl], q[bi, :, sl]):
                p = p0
                for _ in range(iterations):
                    p = p / p.norm(dim=-1, keepdim=True)
                    a = torch.softmax(p @ p.T * inv_tau[bi], dim=-1)
                    p = a @ p
                p = p / p.norm(dim=-1, keepdim=True)
                a = torch.softmax(p @ p.T * inv_tau[bi], dim=-1)
                acc = acc + a @ vh
            out[bi, :, sl] = acc / 3
    return out @ attn.out_proj.weight.T + attn.out_proj.bias


def similarity_grids(model, tokenizer, frame, texts, size, mode="static+dynamic", depth=7, d_layers=3, tau_d=20.0):
    """Raw cosine grids ``[P, G, G]`` of ``texts`` on ``frame`` (square input ``size``)."""
    visual = model.visual
    blocks = list(visual.transformer.resblocks)
    heads = blocks[0].attn.num_heads
    with torch.no_grad():
        x = embed(visual, preprocess(frame, size)[None])
        first = len(blocks) - depth
        for blk in blocks[:first]:
            x = blk(x)
        stack, residuals = [x], []
        for blk in blocks[first:]:
            stack.append(blk.ls_1(ss_attention(blk.ln_1(x), blk.attn, heads)))
            new = blk(x)
            residuals.append(new - x)
            x = new
        final = x
        text = model.encode_text(tokenizer(texts))
        text = text / text.norm(dim=-1, keepdim=True)
        grids = []
        g = size // visual.conv1.kernel_size[0]
        for t in text:
            sims = []
            for r in residuals[-d_layers:]:
                c = visual.ln_post(final - r)[0, 0] @ visual.proj
                sims.append(torch.dot(c / c.norm(), t))
            w_d = torch.softmax(-tau_d * torch.stack(sims), dim=0)
            if mode == "none":
                w = [1.0] * (depth + 1)
            elif mode == "static":
                w = list(STATIC)
            elif mode == "dynamic":
                w = [1.0] * (depth + 1 - d_layers) + [1 - 1 / d_layers + float(v) for v in w_d]
            else:
                w = STATIC[: depth + 1 - d_layers] + [s - 1 / d_layers + float(v)
                                                      for s, v in zip(STATIC[-d_layers:], w_d)]
            mixed = sum(wi * si for wi, si in zip(w, stack))
            feats = visual.ln_post(mixed)[0, 1:] @ visual.proj
            feats = feats / feats.norm(dim=-1, keepdim=True)
            grids.append((feats @ t).reshape(g, g))
    return torch.stack(grids)
