"""Throughput of grounding on Ray, and what feeding a GPU takes.

Two measurements:

1. ``ray`` (the default; needs FiftyOne and the ``ray`` extra): one video dataset grounded by the
   local runner with one torch thread, then on a local Ray instance with 1 and with 2 one-CPU
   workers, and a run of a single frame on Ray (the fixed cost of a run: actors starting, the
   engine loading in each). Reports frames per second, the ratio 2 workers / 1 worker, and the
   overhead of the Ray path over the local runner for one worker. The backbone is ViT-B/16 at
   ``--size`` px with random weights (the cost does not depend on the weights).

2. ``capacity`` (needs only torch, open_clip and PyAV): the frame pipeline's feed rate on one CPU
   core (decoding with one thread, converting the needed frames to RGB, preprocessing them to the
   model's input) for dense (every frame) and sparse (one frame per second) frame selections, and
   the engine's rate on the device (fp16 autocast on CUDA); their ratio is how many decoding
   cores keep one engine busy.

    python benchmarks/ray_throughput.py ray [--videos 4] [--seconds 8] [--size 224]
    python benchmarks/ray_throughput.py make-videos DIR [--seconds 10]   # videos for `capacity`
    python benchmarks/ray_throughput.py capacity VIDEO [VIDEO ...] [--size 448] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -------------------------------------------------------------------------------- capacity
def feed_rate(path: str, every: int, size: int, backbone, seconds: float = 8.0) -> tuple[float, int]:
    """Frames per second one core decodes, converts and preprocesses, taking every ``every``-th frame."""
    from fiftyone_videogem.video import FrameDecoder

    start = time.perf_counter()
    done = 0
    while time.perf_counter() - start < seconds:
        with FrameDecoder(path, threads=1) as decoder:
            wanted = range(1 + every // 2, decoder.info.num_frames + 1, every)
            for _, rgb in decoder.frames(wanted):
                backbone.preprocess([rgb])
                done += 1
    return done / (time.perf_counter() - start), done


def capacity(args) -> None:
    import numpy as np
    import torch

    from fiftyone_videogem.engine.grounding import VideoGEM
    from fiftyone_videogem.video import probe

    torch.set_num_threads(1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    engine = VideoGEM.from_config(args.backbone, device=device, image_size=args.size, batch_size=args.batch,
                                  precision=args.precision)
    cpu_backbone = VideoGEM.from_config(args.backbone, device="cpu", image_size=args.size).backbone
    print(f"input {args.size} px; device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}")
    rates = {}
    for path in args.videos:
        info = probe(path)
        fps = max(1, round(info.frame_rate))
        for name, every in (("every frame", 1), ("1 frame per second", fps)):
            key = f"{info.width}x{info.height}, {name}"
            rates[key] = feed_rate(path, every, args.size, cpu_backbone, args.seconds)[0]
            print(f"feed, one core, {key}: {rates[key]:.3g} frames/s")

    torch.set_num_threads(os.cpu_count() or 1)
    frame = (np.random.default_rng(0).random((720, 1280, 3)) * 255).astype(np.uint8)
    prompt = "slice the bread"
    pixels = torch.stack([cpu_backbone.preprocess([frame])] * args.batch).to(device)
    from fiftyone_videogem.engine.prompts import parse_prompt

    parsed = [parse_prompt(prompt, "auto")] * args.batch

    def timed(run, repeats: int) -> float:
        run()  # warm-up (and the text cache)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        if device == "cuda":
            torch.cuda.synchronize()
        return repeats * args.batch / (time.perf_counter() - start)

    repeats = 20 if device == "cuda" else 2
    on_device = timed(lambda: engine.ground_pixels(pixels, parsed), repeats)
    print(f"engine ({args.backbone}, batch {args.batch}, {engine.options.precision or 'auto'} precision) on "
          f"{device}: {on_device:.3g} frames/s from preprocessed pixels")
    try:
        grounded = timed(lambda: engine.ground_batch([frame] * args.batch, [prompt] * args.batch), repeats)
        print(f"the same through ground_batch (preprocessing in the engine's process): {grounded:.3g} frames/s")
    except RuntimeError as e:
        print(f"ground_batch failed on {device}: {e}")
    for name, rate in rates.items():
        print(f"cores of decoding that keep it busy, {name}: {on_device / rate:.2g}")


def make_videos(args) -> None:
    from benchmarks import pipeline

    pipeline.WIDTH, pipeline.HEIGHT = args.width, args.height
    os.makedirs(args.directory, exist_ok=True)
    for v in range(args.videos):
        path = os.path.join(args.directory, f"video{v:02d}.mp4")
        pipeline.write_video(path, args.seconds, args.fps, seed=v)
        print(path)


# ------------------------------------------------------------------------------------- Ray
def ray_throughput(args) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import torch

    import fiftyone as fo

    from benchmarks.pipeline import build_dataset
    from fiftyone_videogem.runner import run_videogem

    options = dict(prompt_field="action", gt_field="frames.gt", random_weights=True, seed=0, device="cpu",
                   image_size=args.size, batch_size=args.batch, progress=False)
    with tempfile.TemporaryDirectory() as directory:
        dataset, needed = build_dataset(directory, args.videos, args.seconds, args.fps)
        frames = sum(len(v) for v in needed.values())
        single = dataset.limit(1)
        try:
            def run_locally(field: str) -> float:
                torch.set_num_threads(1)  # what one one-CPU actor has
                start = time.perf_counter()
                run_videogem(dataset, args.backbone, field, **options)
                torch.set_num_threads(os.cpu_count() or 1)
                return time.perf_counter() - start

            local = run_locally("local_before")

            start = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            init = time.perf_counter() - start
            times = {}
            for name, samples, workers in (("ray, 1 frame", single, 1), ("ray, 1 worker", dataset, 1),
                                           ("ray, 2 workers", dataset, 2)):
                field = name.replace(",", "").replace(" ", "_")
                kwargs = dict(options, frames=[needed[samples.first().filepath][0]]) if "frame" in name else options
                start = time.perf_counter()
                run_videogem(samples, args.backbone, field, executor="ray", num_workers=workers,
                             max_frames_per_unit=args.unit_frames, **kwargs)
                times[name] = time.perf_counter() - start
            local_after = run_locally("local_after")  # the machine's load drifts: the local run again, last
        finally:
            ray.shutdown()
            dataset.delete()

    print(f"{args.videos} videos, {frames} frames to ground, {args.backbone} at {args.size} px on the CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); ray.init: {init:.1f} s")
    print(f"local runner, 1 thread: {local:.1f} s, {frames / local:.2f} frames/s (again at the end: "
          f"{local_after:.1f} s)")
    for name, seconds in times.items():
        count = 1 if "frame" in name else frames
        print(f"{name}: {seconds:.1f} s, {count / seconds:.2f} frames/s")
    one, two = times["ray, 1 worker"], times["ray, 2 workers"]
    print(f"2 workers / 1 worker throughput: {one / two:.2f}x")
    fixed = times["ray, 1 frame"]
    local_mean = (local + local_after) / 2
    print(f"Ray path over the local runner, 1 worker: {one / local_mean:.2f}x the time ({one - local_mean:+.1f} s); "
          f"fixed cost of a run (1 frame): {fixed:.1f} s; past it, 1 worker runs at "
          f"{(one - fixed) / local_mean:.2f}x the local runner's time per frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("ray", help="local runner vs Ray with 1 and 2 workers")
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--unit-frames", type=int, default=None, help="max_frames_per_unit (None: the default)")
    p.add_argument("--backbone", default="clip-vit-b-16")
    p.set_defaults(func=ray_throughput)
    p = sub.add_parser("make-videos", help="write test videos for `capacity`")
    p.add_argument("directory")
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.set_defaults(func=make_videos)
    p = sub.add_parser("capacity", help="frames per second one core feeds, and the engine takes")
    p.add_argument("videos", nargs="+")
    p.add_argument("--size", type=int, default=448)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=8.0, help="decoding time per video and selection")
    p.add_argument("--backbone", default="clip-vit-b-16")
    p.add_argument("--precision", default=None, choices=["fp32", "fp16", "bf16"], help="(None: the engine's)")
    p.set_defaults(func=capacity)
    args = parser.parse_args(sys.argv[1:] or ["ray"])
    args.func(args)


if __name__ == "__main__":
    main()
