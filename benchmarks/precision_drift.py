"""Drift of fp16 / bf16 autocast against fp32 (the paper's precision), on the same frames and prompts.

The reference is the default engine (fp32, fused-attention pathway). For the bit-identical pathway
(``exact=True``, fp32) and for each reduced precision: the largest absolute difference of the raw similarity grids (every
component: verb, object, action) from fp32, their mean absolute difference, how many final points
(the paper's integer pixel in the model input) move, how many component points move, and the
largest move in pixels. ViT-B/16 at 448 with random weights by default (the drift comes from the
arithmetic, not from what the weights know); ``--checkpoint`` measures pretrained weights instead.

    python benchmarks/precision_drift.py [--device cpu] [--frames 16] [--precisions bf16]
    python benchmarks/precision_drift.py --device cuda --precisions fp16 bf16
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import fiftyone_videogem as fvg
from fiftyone_videogem.engine.options import COMPONENTS

PROMPTS = ("crack eggs", "cut onion", "ride bicycle", "pour water into the bowl", "Drinking", "open the door")


def scene(rng: np.random.RandomState, height: int = 360, width: int = 640) -> np.ndarray:
    """A frame with smooth colour regions and texture, so the grids have structure beyond noise."""
    frame = np.empty((height, width, 3), np.float32)
    frame[:] = rng.rand(3) * 255
    for _ in range(6):
        y0, x0 = rng.randint(0, height - 40), rng.randint(0, width - 40)
        h, w = rng.randint(40, height // 2), rng.randint(40, width // 2)
        frame[y0:y0 + h, x0:x0 + w] = rng.rand(3) * 255
    frame += rng.randn(height, width, 3) * 12
    return np.clip(frame, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="clip-vit-b-16")
    parser.add_argument("--checkpoint", default=None, help="pretrained weights (default: random weights)")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", nargs="+", default=None, choices=["fp16", "bf16"],
                        help="reduced precisions to compare (default: fp16 and bf16 on CUDA, bf16 elsewhere)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    precisions = args.precisions or (["fp16", "bf16"] if torch.device(args.device).type == "cuda" else ["bf16"])

    options = dict(device=args.device, image_size=args.size, batch_size=args.batch)
    if args.checkpoint:
        reference = fvg.VideoGEM.from_pretrained(args.backbone, checkpoint=args.checkpoint, **options)
    else:
        reference = fvg.VideoGEM.from_config(args.backbone, seed=args.seed, **options)
    rng = np.random.RandomState(args.seed)
    frames = [scene(rng) for _ in range(args.frames)]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.frames)]
    start = time.perf_counter()
    base = reference.ground_batch(frames, prompts)
    print(f"device={reference.device} torch={torch.__version__} backbone={args.backbone} size={args.size} "
          f"weights={'pretrained' if args.checkpoint else f'random (seed {args.seed})'} frames={args.frames} "
          f"fp32 pass {time.perf_counter() - start:.1f} s")
    print(f"{'against fp32':17s} {'max |grid diff|':>16s} {'mean |grid diff|':>17s} {'final points moved':>19s} "
          f"{'component points moved':>23s} {'largest move (px)':>18s}")
    variants = {"fp32, exact=True": dict(exact=True), **{p: dict(precision=p) for p in precisions}}
    for label, variant in variants.items():
        engine = fvg.VideoGEM(reference.backbone, batch_size=args.batch, **variant)
        results = engine.ground_batch(frames, prompts)
        diffs, moved, component_moved, largest = [], 0, 0, 0.0
        for a, b in zip(base, results):
            for name in COMPONENTS:
                ca, cb = a.components[name], b.components[name]
                diffs.append(np.abs(ca.similarity - cb.similarity))
                component_moved += ca.input_point != cb.input_point
                largest = max(largest, float(np.hypot(*np.subtract(ca.input_point, cb.input_point))))
            moved += a.input_point != b.input_point
            largest = max(largest, float(np.hypot(*np.subtract(a.input_point, b.input_point))))
        diff = np.concatenate([d.ravel() for d in diffs])
        print(f"{label:17s} {diff.max():16.2e} {diff.mean():17.2e} {moved:>12d} of {len(base):<4d} "
              f"{component_moved:>16d} of {3 * len(base):<4d} {largest:18.1f}")


if __name__ == "__main__":
    main()
