"""Cost of the temporal scan of ``localize_actions``, and of a second query set over cached videos.

On generated 640x360 H.264 videos (the textured, panning scene of ``benchmarks/pipeline.py``), with
the registry's ``clip-vit-b-16`` (native 224 px, grounding at 448 px; random weights of the real
architecture, the cost does not depend on the weights):

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

import numpy as np
import torch

import fiftyone as fo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline import write_video  # noqa: E402  (the textured test scene, one definition)

import fiftyone_videogem as fvg  # noqa: E402

FIRST_POOL = ["crack eggs", "whisk mixture", "pour milk", "add flour", "flip pancake", "melt butter",
              "serve pancake", "cut banana", "spread butter"]
SECOND_POOL = ["add salt", "stir it", "fold omelette", "add cheese", "beat eggs", "pour oil", "tilt pan",
               "add pepper", "eat it"]


def build_engine(device: str, batch: int) -> fvg.VideoGEM:
    """The registry's ``clip-vit-b-16`` (native 224 px, grounding at 448 px) with random weights."""
    return fvg.VideoGEM.from_config("clip-vit-b-16", device=device, batch_size=batch)


class Timed:
    """Wall time and this process's CPU time (all threads) of one call. On a shared machine the CPU time
    is the steadier measure of the work done; on an accelerator the wall time is the one that counts."""

    def __init__(self, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu

    def __str__(self) -> str:
        return f"{self.wall:8.2f} s wall, {self.cpu:8.2f} s CPU"


def timed(fn) -> Timed:
    return Timed(fn)


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
            # warm-up at the batch size: the first call of a shape pays one-time kernel set-up
            dummy = np.zeros((360, 640, 3), dtype=np.uint8)
            engine.embed_texts(["warm up"])
            engine.embed_frames([dummy] * args.batch)
            engine.ground_batch([dummy] * args.batch, "warm up")
            print(f"device: {engine.device} ({torch.cuda.get_device_name() if engine.device.type == 'cuda' else 'CPU'}), "
                  f"{args.videos} videos x {args.seconds:g} s at {args.fps} fps, 640x360", flush=True)
            scan = timed(lambda: fvg.localize_actions(dataset, engine, "scan", pool_field="first", spatial=False,
                                                      cache_dir=cache, record_run=False, progress=False))
            print(f"scan, 224 px embeddings at 1 fps, 9 phrases: {scan}  = {scan.wall / minutes:7.2f} s wall, "
                  f"{scan.cpu / minutes:7.2f} s CPU per minute of video", flush=True)
            again = timed(lambda: fvg.localize_actions(dataset, engine, "again", pool_field="second",
                                                       spatial=False, cache_dir=cache, record_run=False,
                                                       progress=False))
            print(f"second query set over {args.videos} cached videos: {again}  = {100 * again.wall / scan.wall:5.2f} % "
                  f"(wall), {100 * again.cpu / scan.cpu:5.2f} % (CPU) of the first scan (target < 5 %)", flush=True)
            if args.compare_videos:
                subset = dataset.limit(args.compare_videos)
                subset_minutes = len(subset) * args.seconds / 60.0
                ground = timed(lambda: fvg.run_videogem(subset, engine, "g448", prompt="crack eggs",
                                                        frames=args.fps, progress=False))
                print(f"448 px grounding of every sampled frame ({len(subset)} videos): {ground}  = "
                      f"{ground.wall / subset_minutes:7.2f} s wall, {ground.cpu / subset_minutes:7.2f} s CPU per minute "
                      "of video")
                print("ratio 448 px grounding / temporal scan, per minute of video: "
                      f"{(ground.wall / subset_minutes) / (scan.wall / minutes):6.2f}x (wall), "
                      f"{(ground.cpu / subset_minutes) / (scan.cpu / minutes):6.2f}x (CPU)")
        finally:
            dataset.delete()


if __name__ == "__main__":
    main()
