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

3. ``decode-stage`` (FiftyOne and the ``ray`` extra): what a decoding stage before the engine
   actors (``num_decode_workers``) costs and gives. 1280x720 videos grounded on a local Ray instance
   with a near-free engine (the tiny test backbone), so that decoding is all the work: one engine
   actor that decodes its own units, against one and two decoding actors feeding one engine actor,
   for every frame and for one frame per second (rates past each run's fixed cost, measured by a
   one-frame run of the same configuration); and the hand-off alone (a unit's decoded frames as a
   tensor column from one Ray Data stage to the next), per 720p frame.

    python benchmarks/ray_throughput.py ray [--videos 4] [--seconds 8] [--size 224]
    python benchmarks/ray_throughput.py decode-stage [--videos 2] [--seconds 30]
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


# ------------------------------------------------------------------------- the decoding stage
def handoff_seconds(ray, units: int, frames: int, width: int, height: int) -> float:
    """Seconds per frame that handing decoded frames from one Ray Data stage to the next adds, as the
    decoding stage does (one unit's frames as one uint8 tensor column): a two-stage pipeline whose
    first stage makes ``units`` units of ``frames`` RGB frames, against one stage that makes them
    where they are used."""
    import numpy as np

    def make(batch: dict) -> dict:
        return {"pixels": np.full((1, frames, height, width, 3), 7, np.uint8)}

    class Use:
        def __call__(self, batch: dict) -> dict:
            pixels = batch["pixels"] if "pixels" in batch else make(batch)["pixels"]
            return {"n": np.array([len(pixels[0])])}

    def timed(two_stages: bool) -> float:
        source = ray.data.from_items([{"i": i} for i in range(units)])
        if two_stages:
            source = source.map_batches(make, batch_size=1, num_cpus=1)
        pipeline = source.map_batches(Use, batch_size=1, num_cpus=1, compute=ray.data.ActorPoolStrategy(size=1))
        start = time.perf_counter()
        assert sum(int(row["n"]) for row in pipeline.iter_rows()) == units * frames
        return time.perf_counter() - start

    timed(True), timed(False)  # warm workers
    return (min(timed(True) for _ in range(2)) - min(timed(False) for _ in range(2))) / (units * frames)


def decode_stage(args) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from benchmarks import pipeline
    from fiftyone_videogem.distributed import DECODED_UNIT_FRAMES
    from fiftyone_videogem.runner import run_videogem

    pipeline.WIDTH, pipeline.HEIGHT = args.width, args.height
    options = dict(prompt_field="action", gt_field="frames.gt", random_weights=True, seed=0, device="cpu",
                   batch_size=8, progress=False, overwrite=True)
    configs = (("engine actor decoding its units", 0), ("1 decoding actor + engine actor", 1),
               ("2 decoding actors + engine actor", 2))
    rates: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as directory:
        dataset, needed = pipeline.build_dataset(directory, args.videos, args.seconds, args.fps)
        first = dataset.limit(1)
        total = int(args.seconds * args.fps) * args.videos
        selections = (("every frame", "all", total), ("1 frame per second", "gt", sum(map(len, needed.values()))))
        try:
            # one CPU more than the actors of the largest configuration reserve: the engine is near free
            ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
            handoff = handoff_seconds(ray, 48, DECODED_UNIT_FRAMES, args.width, args.height)
            for name, frames, count in selections:
                for config, stage in configs:
                    def timed(samples, frames):
                        start = time.perf_counter()
                        run_videogem(samples, "test-vit-tiny", "decoded", frames=frames, executor="ray",
                                     num_workers=1, num_decode_workers=stage, **options)
                        return time.perf_counter() - start

                    fixed = timed(first, [1])  # the run's fixed cost: actors starting
                    rates[(name, config)] = count / max(timed(dataset, frames) - fixed, 1e-9)
        finally:
            ray.shutdown()
            dataset.delete()

    print(f"{args.videos} videos of {args.seconds:g} s at {args.fps} fps, {args.width}x{args.height}; a near-free engine "
          f"(test-vit-tiny); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, _, _ in selections:
        base = rates[(name, configs[0][0])]
        print(f"{name}, frames grounded per second past each run's fixed cost (a 1-frame run):")
        for config, _ in configs:
            rate = rates[(name, config)]
            print(f"  {config}: {rate:.1f} ({rate / base:.2f}x)")
    print(f"hand-off of a decoded {args.width}x{args.height} frame ({args.width * args.height * 3 / 1e6:.1f} MB) "
          f"from one Ray Data stage to the next, units of {DECODED_UNIT_FRAMES} frames: {handoff * 1e3:.2f} ms")


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
    p = sub.add_parser("decode-stage", help="one engine actor decoding, against a decoding stage feeding it")
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.set_defaults(func=decode_stage)
    args = parser.parse_args(sys.argv[1:] or ["ray"])
    args.func(args)


if __name__ == "__main__":
    main()
