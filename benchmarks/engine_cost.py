"""Cost of VideoGEM grounding relative to a plain image encoding, measured side by side.

Per-frame cost of ``engine.ground`` (1 frame, 3 prompts, static+dynamic weights) divided by the cost
of ``model.encode_image`` on the same model and input size, plus batched throughput of both.
Random weights of the real architecture (the cost does not depend on the weights). Text embeddings
are cached before timing, as they are in a run over a dataset.

    python benchmarks/engine_cost.py [--arch ViT-B-16] [--size 448] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import open_clip
import torch

import fiftyone_videogem as fvg
from fiftyone_videogem.engine.gem import gem_forward


def interleaved(baseline, candidates: dict, repeats: int) -> tuple[float, dict]:
    """Median baseline time and, per candidate, the median of per-round time ratios.

    Each round runs the baseline and then every candidate, so slow drifts of a shared machine
    hit both sides of a ratio alike.
    """
    baseline()
    for fn in candidates.values():
        fn()  # warm-up
    base_times, ratios, times = [], {k: [] for k in candidates}, {k: [] for k in candidates}
    for _ in range(repeats):
        start = time.perf_counter()
        baseline()
        base = time.perf_counter() - start
        base_times.append(base)
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            ratios[name].append(elapsed / base)
    return statistics.median(base_times), {
        k: (statistics.median(times[k]), statistics.median(ratios[k])) for k in candidates
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-16")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    args = parser.parse_args()

    torch.manual_seed(0)
    model = open_clip.create_model(args.arch, pretrained=None, force_image_size=args.size).eval()
    tokenizer = open_clip.get_tokenizer(args.arch)
    engine = fvg.VideoGEM.from_open_clip(model, tokenizer, image_size=args.size, device=args.device,
                                         batch_size=args.batch, precision=args.precision)
    device = engine.device
    frame = (np.random.RandomState(0).rand(360, 640, 3) * 255).astype(np.uint8)
    prompt = fvg.ActionPrompt(action="crack eggs", verb="crack", object="eggs")
    pixels1 = engine.preprocess(frame)[None].to(device)
    pixelsb = pixels1.repeat(args.batch, 1, 1, 1)
    engine.ground(frame, prompt)  # fills the text cache

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def encode(p):
        def run():
            with torch.no_grad(), engine._autocast():
                model.encode_image(p)
            sync()
        return run

    def ground_pixels(p, n):
        prompts = [prompt] * n
        def run():
            engine.ground_pixels(p, prompts)
            sync()
        return run

    def vision_only(p):
        def run():
            with torch.no_grad(), engine._autocast():
                gem_forward(engine.backbone, p)
            sync()
        return run

    fast = fvg.VideoGEM(engine.backbone, device=args.device, batch_size=args.batch, precision=args.precision,
                        exact=False)
    fast.ground(frame, prompt)

    t_encode, single = interleaved(encode(pixels1), {
        "GEM vision pass only": vision_only(pixels1),
        "ground (pixels -> points)": ground_pixels(pixels1, 1),
        "ground (uint8 frame -> points)": lambda: (engine.ground(frame, prompt), sync()),
        "ground, exact=False": lambda: (fast.ground(frame, prompt), sync()),
    }, args.repeats)
    t_encode_b, batched = interleaved(encode(pixelsb), {"ground": ground_pixels(pixelsb, args.batch)},
                                      max(2, args.repeats // 2))

    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} arch={args.arch} "
          f"size={args.size} precision={args.precision} (medians of {args.repeats} interleaved rounds)")
    print(f"encode_image, 1 frame:                   {t_encode * 1e3:8.1f} ms")
    for name, (t, ratio) in single.items():
        print(f"{name + ', 1 frame:':40s} {t * 1e3:8.1f} ms   ratio {ratio:.3f}x")
    t_ground_b, ratio_b = batched["ground"]
    print(f"batched throughput (batch {args.batch}): encode_image {args.batch / t_encode_b:.2f} frames/s, "
          f"ground {args.batch / t_ground_b:.2f} frames/s, ratio {ratio_b:.3f}x")


if __name__ == "__main__":
    main()
