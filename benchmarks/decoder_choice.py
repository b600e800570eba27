"""Which decoder feeds the engine faster on a CPU core: PyAV (the product's) or torchcodec.

torchcodec (PyTorch's video decoder, ``pip install torchcodec``; not a dependency of the product) is
the candidate for feeding a GPU. This script decodes the same videos with both, one decoding thread
each, and reports frames per second for a dense selection (every frame) and a sparse one (one frame
per second, the temporal scan's and the benchmarks' typical selection), each including the
conversion to an ``HxWx3 uint8`` array that the engine takes, and the ratio torchcodec / PyAV. Both
run in the same process, alternately, so the machine's noise hits both alike.

    python benchmarks/decoder_choice.py [--width 1280 --height 720 --seconds 10 --fps 30 --gop 60 --repeats 3]
    python benchmarks/decoder_choice.py VIDEO [VIDEO ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_video(path: str, width: int, height: int, seconds: float, fps: int, gop: int) -> str:
    """An H.264 video with moving content (so that frames are not trivially compressible) and a
    keyframe every ``gop`` frames."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(height, width * 2, 3), dtype=np.uint8)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "g": str(gop), "keyint_min": str(gop)}
        for i in range(int(seconds * fps)):
            shift = (i * 7) % width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, shift:shift + width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def wanted_frames(num_frames: int, every: int) -> list[int]:
    """1-based frame numbers: every ``every``-th frame, starting half a step in."""
    return list(range(1 + every // 2, num_frames + 1, every))


def pyav_rate(path: str, every: int) -> float:
    from fiftyone_videogem.video import FrameDecoder

    start = time.perf_counter()
    with FrameDecoder(path, threads=1) as decoder:
        wanted = wanted_frames(decoder.info.num_frames, every)
        done = sum(1 for _ in decoder.frames(wanted))
    return done / (time.perf_counter() - start)


def torchcodec_rate(path: str, every: int) -> float:
    from torchcodec.decoders import VideoDecoder

    start = time.perf_counter()
    decoder = VideoDecoder(path, device="cpu", num_ffmpeg_threads=1, dimension_order="NHWC")
    wanted = wanted_frames(decoder.metadata.num_frames, every)
    done = 0
    for i in range(0, len(wanted), 32):  # batches, as a feeder would take them
        batch = decoder.get_frames_at([n - 1 for n in wanted[i:i + 32]]).data.numpy()
        done += len(batch)
    return done / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", help="videos to decode (default: one generated video)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--gop", type=int, default=60,
                        help="frames between keyframes of the generated video (default 60: 2 s at 30 fps, as "
                             "streaming sites encode)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        import torchcodec  # noqa: F401
    except Exception as e:  # not installed, or no FFmpeg libraries it can load
        print(f"torchcodec is not usable here ({e}); pip install torchcodec to compare")
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        videos = args.videos or [make_video(os.path.join(tmp, "v.mp4"), args.width, args.height, args.seconds,
                                            args.fps, args.gop)]
        for label, every in (("dense (every frame)", 1), (f"sparse (every {args.fps}th frame)", args.fps)):
            rates = {"pyav": [], "torchcodec": []}
            for _ in range(args.repeats):
                for path in videos:
                    rates["pyav"].append(pyav_rate(path, every))
                    rates["torchcodec"].append(torchcodec_rate(path, every))
            pyav = sorted(rates["pyav"])[len(rates["pyav"]) // 2]
            codec = sorted(rates["torchcodec"])[len(rates["torchcodec"]) // 2]
            print(f"{label:28s} PyAV {pyav:7.1f} frames/s   torchcodec {codec:7.1f} frames/s   "
                  f"torchcodec / PyAV {codec / pyav:.2f}x  (one thread each, median of {len(rates['pyav'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
