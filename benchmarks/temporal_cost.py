"""Cost of the temporal scan of ``localize_actions``, and of a second query set over cached videos.

On generated 640x360 H.264 videos (the textured, panning scene of ``benchmarks/pipeline.py``), with
ViT-B/16 (random weights of the real architecture; the cost does not depend on the weights):

1. ``scan``: ``localize_actions(..., spatial=False)`` with an empty embedding cache: decode the frames
   sampled at 1 fps, embed them at the native 224 px, score a pool of 9 phrases, segment, write. Beside
   it, today's alternative: ``run_videogem`` grounding every sampled frame at 448 px (decomposition on,
   three prompts per frame). Both as seconds per minute of video, and their ratio.
2. ``second query set``: ``localize_actions`` with 9 other phrases over the same, now cached, videos,
   as a fraction of the first scan's time (target: under 5 % over 10 cached videos).

    python benchmarks/temporal_cost.py [--videos 10] [--seconds 60] [--fps 25] [--device cuda] [--compare-videos N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid

import open_clip
import torch

import fiftyone as fo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline import write_video  # noqa: E402  (the textured test scene, one definition)

import fiftyone_videogem as fvg  # noqa: E402
from fiftyone_videogem.engine.backbones.registry import randomize_parameters  # noqa: E402

FIRST_POOL = ["crack eggs", "whisk mixture", "pour milk", "add flour", "flip pancake", "melt butter",
              "serve pancake", "cut banana", "spread butter"]
SECOND_POOL = ["add salt", "stir it", "fold omelette", "add cheese", "beat eggs", "pour oil", "tilt pan",
               "add pepper", "eat it"]


def build_engine(device: str, batch: int) -> fvg.VideoGEM:
    model = open_clip.create_model("ViT-B-16", pretrained=None, force_image_size=448)
    randomize_parameters(model, seed=0)
    model = model.eval().to(device)
    return fvg.VideoGEM.from_open_clip(model, open_clip.get_tokenizer("ViT-B-16"), image_size=448,
                                       batch_size=batch, name="ViT-B-16 (random)")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compare-videos", type=int, default=None,
                        help="videos grounded at 448 px for the comparison (default: all; 0: none)")
    args = parser.parse_args()

    engine = build_engine(args.device, args.batch)
    if args.compare_videos is None:
        args.compare_videos = args.videos
    minutes = args.videos * args.seconds / 60.0
    with tempfile.TemporaryDirectory() as directory:
        samples = []
        for v in range(args.videos):
            path = os.path.join(directory, f"video{v:02d}.mp4")
            write_video(path, args.seconds, args.fps, seed=v)
            samples.append(fo.Sample(filepath=path, first=FIRST_POOL, second=SECOND_POOL))
        dataset = fo.Dataset(f"videogem-temporal-cost-{uuid.uuid4().hex[:8]}")
        try:
            dataset.add_samples(samples, progress=False)
            cache = os.path.join(directory, "cache")
            engine.embed_texts(["warm up"])  # model on the device, kernels chosen
            print(f"device: {engine.device} ({torch.cuda.get_device_name() if engine.device.type == 'cuda' else 'CPU'}), "
                  f"{args.videos} videos x {args.seconds:g} s at {args.fps} fps, 640x360", flush=True)
            scan = timed(lambda: fvg.localize_actions(dataset, engine, "scan", pool_field="first", spatial=False,
                                                      cache_dir=cache, record_run=False, progress=False))
            print(f"scan, 224 px embeddings at 1 fps, 9 phrases:  {scan:8.2f} s  = {scan / minutes:7.2f} s per minute "
                  "of video", flush=True)
            again = timed(lambda: fvg.localize_actions(dataset, engine, "again", pool_field="second",
                                                       spatial=False, cache_dir=cache, record_run=False,
                                                       progress=False))
            print(f"second query set over {args.videos} cached videos:   {again:8.2f} s  = "
                  f"{100 * again / scan:5.2f} % of the first scan (target < 5 %)", flush=True)
            if args.compare_videos:
                subset = dataset.limit(args.compare_videos)
                subset_minutes = len(subset) * args.seconds / 60.0
                ground = timed(lambda: fvg.run_videogem(subset, engine, "g448", prompt="crack eggs",
                                                        frames=args.fps, progress=False))
                print(f"448 px grounding of every sampled frame ({len(subset)} videos): {ground:8.2f} s  = "
                      f"{ground / subset_minutes:7.2f} s per minute of video")
                print(f"ratio 448 px grounding / temporal scan, per minute of video: "
                      f"{(ground / subset_minutes) / (scan / minutes):6.2f}x")
        finally:
            dataset.delete()


if __name__ == "__main__":
    main()
