"""ViCLIP-B/16 clips per second and per-keyframe cost against CLIP ViT-B/16 at 448, side by side.

One keyframe costs ViCLIP a clip of 8 frames at 224 px (1 + 8*196 = 1569 tokens, joint space-time
self-self attention) and CLIP one frame at 448 px (785 tokens). Random weights of the real
architectures; 3 prompts, static+dynamic weights, text cached. Rounds are interleaved so both
sides see the same machine load.

    python benchmarks/viclip_cost.py [--repeats 5] [--batch 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import fiftyone_videogem as fvg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2, help="keyframes per batched call")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    args = parser.parse_args()

    options = dict(device=args.device, precision=args.precision, batch_size=args.batch)
    viclip = fvg.VideoGEM.from_config("viclip-b-16", **options)
    clip = fvg.VideoGEM.from_config("clip-vit-b-16", **options)
    rng = np.random.RandomState(0)
    frames = [(rng.rand(360, 640, 3) * 255).astype(np.uint8) for _ in range(8)]
    prompt = fvg.ActionPrompt(action="crack eggs", verb="crack", object="eggs")
    clips = [frames] * args.batch
    keyframes = [frames[4]] * args.batch

    def sync():
        if torch.device(args.device).type == "cuda":
            torch.cuda.synchronize()

    def run_viclip(items):
        viclip.ground_batch(items, prompt)
        sync()

    def run_clip(items):
        clip.ground_batch(items, prompt)
        sync()

    for fn, items in ((run_viclip, clips[:1]), (run_clip, keyframes[:1])):
        fn(items)  # warm-up, text cache
    single_v, single_c, batch_v, batch_c = [], [], [], []
    for _ in range(args.repeats):
        for fn, items, out in ((run_viclip, clips[:1], single_v), (run_clip, keyframes[:1], single_c),
                               (run_viclip, clips, batch_v), (run_clip, keyframes, batch_c)):
            start = time.perf_counter()
            fn(items)
            out.append(time.perf_counter() - start)
    ratios = [v / c for v, c in zip(single_v, single_c)]
    tv, tc = statistics.median(single_v), statistics.median(single_c)
    bv, bc = statistics.median(batch_v), statistics.median(batch_c)
    print(f"device={args.device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"precision={args.precision} (medians of {args.repeats} interleaved rounds)")
    print(f"ViCLIP-B/16, 8x224 clip per keyframe: {tv * 1e3:8.1f} ms  ({1 / tv:.2f} clips/s)")
    print(f"CLIP ViT-B/16, 448 frame per keyframe: {tc * 1e3:8.1f} ms  ({1 / tc:.2f} frames/s)")
    print(f"per-keyframe cost ViCLIP / CLIP: {statistics.median(ratios):.3f}x")
    print(f"batched ({args.batch} keyframes): ViCLIP {args.batch / bv:.2f} clips/s, CLIP {args.batch / bc:.2f} frames/s, "
          f"ratio {bv / bc:.3f}x")


if __name__ == "__main__":
    main()
