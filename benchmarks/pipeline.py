"""Cost of everything around the engine in a grounding run over a video dataset.

Two measurements on generated 640x360 H.264 videos with one annotated frame per second:

1. ``engine``: a real run with ViT-B/16 at 448 px (random weights of the real architecture; the
   cost does not depend on the weights) through ``run_videogem`` and through ``apply_model``,
   reporting the share of wall time spent outside ``VideoGEM.ground_batch`` (target: <= 5 %).
2. ``pipeline``: the same runs with the engine replaced by a no-op that returns precomputed
   results of the real shapes, so what is left is planning, decoding the needed frames,
   converting them, building labels and writing them. Reported as a ratio to a floor: decoding the
   same videos sequentially with PyAV up to their last needed frame, nothing else. The same ratio
   is reported for the pipeline decoding with FiftyOne's ``FFmpegVideoReader(path, frames=...)``
   instead of PyAV.

    python benchmarks/pipeline.py [--videos 10] [--seconds 10] [--fps 25] [--skip-engine] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from fractions import Fraction

import av
import numpy as np

import fiftyone as fo

from fiftyone_videogem.engine import VideoGEM, build_backbone
from fiftyone_videogem.engine.grounding import ComponentResult, GroundingResult
from fiftyone_videogem.model import load_model
from fiftyone_videogem.runner import run_videogem
from fiftyone_videogem.runs import list_videogem_runs
from fiftyone_videogem.video import FrameDecoder, VideoInfo

WIDTH, HEIGHT = 640, 360


# ------------------------------------------------------------------------------ test data
def write_video(path: str, seconds: float, fps: int, seed: int) -> int:
    """A textured scene panning across the frame (H.264, yuv420p); returns the frame count."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, size=(HEIGHT // 8 + 8, WIDTH // 8 + 64, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((8, 8, 1), dtype=np.uint8))  # 8x8 blocks, pannable
    count = int(round(seconds * fps))
    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(count):
            x = (3 * i) % (texture.shape[1] - WIDTH)
            y = (i // 7) % (texture.shape[0] - HEIGHT)
            frame = np.ascontiguousarray(texture[y:y + HEIGHT, x:x + WIDTH])
            noise = rng.integers(0, 12, size=frame.shape, dtype=np.uint8)
            video_frame = av.VideoFrame.from_ndarray(frame + noise, format="rgb24")
            video_frame.pts = i
            video_frame.time_base = Fraction(1, fps)
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return count


def build_dataset(directory: str, videos: int, seconds: float, fps: int) -> tuple[fo.Dataset, dict]:
    """Videos with a ground-truth box on the middle frame of every second."""
    ds = fo.Dataset(f"videogem-pipeline-benchmark-{uuid.uuid4().hex[:8]}")
    needed = {}
    samples = []
    for v in range(videos):
        path = os.path.join(directory, f"video{v:02d}.mp4")
        count = write_video(path, seconds, fps, seed=v)
        frames = [fps * s + fps // 2 + 1 for s in range(int(seconds)) if fps * s + fps // 2 + 1 <= count]
        sample = fo.Sample(filepath=path, action="slice the bread")
        for fn in frames:
            sample.frames[fn] = fo.Frame(gt=fo.Detections(detections=[
                fo.Detection(label="slice the bread", bounding_box=[0.3, 0.3, 0.3, 0.3])]))
        samples.append(sample)
        needed[path] = frames
    ds.add_samples(samples, progress=False)
    return ds, needed


# ------------------------------------------------------------------------------- engines
class TimedEngine(VideoGEM):
    """The real engine, timing ``ground_batch`` from the outside."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = 0.0

    def ground_batch(self, frames, prompts):
        start = time.perf_counter()
        try:
            return super().ground_batch(frames, prompts)
        finally:
            self.seconds += time.perf_counter() - start


class NoOpEngine(VideoGEM):
    """Returns precomputed results with the shapes of ViT-B/16 at 448 px; no network runs."""

    def __init__(self, backbone, grid: int = 28, size: int = 448):
        super().__init__(backbone, device="cpu")
        rng = np.random.default_rng(0)
        heatmap = rng.random((size, size), dtype=np.float32)
        similarity = rng.random((grid, grid), dtype=np.float32)
        self._components = {
            name: ComponentResult(name=name, prompt=f"A photo of a person {name}.", point=(0.5, 0.5),
                                  input_point=(224, 224), heatmap=heatmap, similarity=similarity, score=0.2)
            for name in ("verb", "object", "action")
        }
        self._size = (size, size)
        self.seconds = 0.0

    def ground_batch(self, frames, prompts):
        start = time.perf_counter()
        results = [
            GroundingResult(action=getattr(p, "action", p), point=(0.5, 0.5), input_point=(224, 224),
                            input_size=self._size, components=self._components,
                            heatmap=self._components["action"].heatmap)
            for p in prompts
        ]
        self.seconds += time.perf_counter() - start
        return results


class FFmpegReaderDecoder:
    """FiftyOne's ``FFmpegVideoReader(path, frames=...)`` behind :class:`FrameDecoder`'s interface."""

    def __init__(self, path: str):
        import eta.core.video as etav

        self._etav = etav
        self.path = path
        self.missing: list[int] = []
        stream = etav.VideoStreamInfo.build_for(path)
        width, height = stream.frame_size
        self.info = VideoInfo(path=path, width=width, height=height, frame_rate=stream.frame_rate,
                              num_frames=stream.total_frame_count, duration=stream.duration or 0.0)

    def frames(self, frame_numbers):
        wanted = sorted(set(frame_numbers))
        with self._etav.FFmpegVideoReader(self.path, frames=wanted) as reader:
            for img in reader:
                yield reader.frame_number, img

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------------------------- floor
def decode_floor(needed: dict) -> float:
    """Decode every video with PyAV up to its last needed frame; no conversion, nothing kept."""
    start = time.perf_counter()
    for path, frames in needed.items():
        last = max(frames)
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, _ in enumerate(container.decode(stream), start=1):
                if i >= last:
                    break
    return time.perf_counter() - start


def clear_labels(ds: fo.Dataset, label_field: str) -> None:
    for run in list_videogem_runs(ds):
        ds.delete_run(run)
    for name in list(ds.get_frame_field_schema()):
        if name.startswith(label_field):
            ds.delete_frame_field(name)
    for name in list(ds.get_field_schema()):
        if name.startswith(label_field):
            ds.delete_sample_field(name)


def timed_run(ds, engine, label_field: str, via: str, decoder=FrameDecoder) -> tuple[float, float]:
    """Wall time of one run and the engine's share of it (seconds)."""
    clear_labels(ds, label_field)
    engine.seconds = 0.0
    model = load_model(engine)
    start = time.perf_counter()
    if via == "apply_model":
        ds.apply_model(model, label_field=model.label_fields(label_field), prompt_field="action",
                       gt_field="frames.gt", progress=False)
    else:
        run_videogem(ds, model, label_field, prompt_field="action", gt_field="frames.gt", progress=False,
                     decoder=decoder)
    return time.perf_counter() - start, engine.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-engine", action="store_true", help="only the no-op pipeline measurement")
    parser.add_argument("--engine-batch", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        ds, needed = build_dataset(directory, args.videos, args.seconds, args.fps)
        frames = sum(len(v) for v in needed.values())
        print(f"{args.videos} videos {WIDTH}x{HEIGHT} H.264, {args.seconds:g} s at {args.fps} fps, "
              f"{frames} annotated frames (one per second)")
        try:
            # ------------------------------------------------------------- 2: no-op engine
            noop = NoOpEngine(build_backbone("test-vit-tiny", pretrained=False, seed=0))
            decode_floor(needed)  # warm the page cache
            floors, ours, ours_apply, ffmpeg = [], [], [], []
            for _ in range(args.repeats):
                floors.append(decode_floor(needed))
                ours.append(timed_run(ds, noop, "noop", "run_videogem")[0])
                ours_apply.append(timed_run(ds, noop, "noop", "apply_model")[0])
                ffmpeg.append(timed_run(ds, noop, "noop", "run_videogem", decoder=FFmpegReaderDecoder)[0])
            floor = statistics.median(floors)
            print("\nframe pipeline with a no-op engine (median of %d):" % args.repeats)
            print(f"  floor: PyAV decode up to the last needed frame   {floor:7.3f} s")
            for name, times in (("run_videogem, PyAV FrameDecoder", ours),
                                ("apply_model, PyAV FrameDecoder", ours_apply),
                                ("run_videogem, FFmpegVideoReader", ffmpeg)):
                t = statistics.median(times)
                print(f"  {name:<40s} {t:7.3f} s   ratio to floor {t / floor:5.2f}")

            # ------------------------------------------------------------- 1: real engine
            if not args.skip_engine:
                engine = TimedEngine(build_backbone("clip-vit-b-16", pretrained=False, seed=0), device="cpu",
                                     batch_size=args.engine_batch)
                engine.ground_batch([np.zeros((HEIGHT, WIDTH, 3), np.uint8)], ["warm up"])  # first-call costs
                print(f"\nViT-B/16 at 448 px on CPU (torch threads: {__import__('torch').get_num_threads()}):")
                for via in ("run_videogem", "apply_model"):
                    total, inside = timed_run(ds, engine, "real", via)
                    outside = total - inside
                    print(f"  {via:<13s} wall {total:7.1f} s, engine {inside:7.1f} s "
                          f"({inside / frames:.2f} s/frame), outside the engine {outside:5.2f} s "
                          f"= {100 * outside / total:4.1f} %")
        finally:
            ds.delete()


if __name__ == "__main__":
    main()
