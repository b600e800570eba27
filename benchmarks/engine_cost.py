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


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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

    t_encode = timed(encode(pixels1), args.repeats)
    t_ground = timed(ground_pixels(pixels1, 1), args.repeats)
    t_gem = timed(vision_only(pixels1), args.repeats)
    t_full = timed(lambda: (engine.ground(frame, prompt), sync()), args.repeats)
    t_encode_b = timed(encode(pixelsb), max(2, args.repeats // 2))
    t_ground_b = timed(ground_pixels(pixelsb, args.batch), max(2, args.repeats // 2))

    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} arch={args.arch} "
          f"size={args.size} precision={args.precision}")
    print(f"encode_image, 1 frame:                   {t_encode * 1e3:8.1f} ms")
    print(f"GEM vision pass only, 1 frame:           {t_gem * 1e3:8.1f} ms   ratio {t_gem / t_encode:.3f}x")
    print(f"ground (pixels -> points), 1 frame:      {t_ground * 1e3:8.1f} ms   ratio {t_ground / t_encode:.3f}x")
    print(f"ground (uint8 frame -> points), 1 frame: {t_full * 1e3:8.1f} ms   ratio {t_full / t_encode:.3f}x")
    print(f"batched throughput (batch {args.batch}): encode_image {args.batch / t_encode_b:.2f} frames/s, "
          f"ground {args.batch / t_ground_b:.2f} frames/s, ratio {t_ground_b / t_encode_b:.3f}x")


if __name__ == "__main__":
    main()
