"""Tests for fiftyone_videogem.video: probing, sparse decoding, context windows."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from fiftyone_videogem.video import (
    DamagedVideoError,
    FrameDecoder,
    VideoError,
    VideoInfo,
    context_frame_numbers,
    probe,
    read_frame_times,
    read_frames,
    seconds_to_frame_number,
    stride_in_frames,
)
from tests.videos import (
    BITS_COLS,
    BITS_ROWS,
    ON_COLOR,
    frame_number_of,
    make_audio_only_file,
    make_corrupt_video,
    make_truncated_video,
    make_video,
    make_zero_frame_video,
)


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="module")
def h264(video_dir: Path) -> str:
    """30 frames, 64x48, 10 fps, H.264 with B-frames in MP4."""
    return make_video(video_dir / "h264.mp4", num_frames=30)


# --- probe ---------------------------------------------------------------


def test_probe_reads_size_rate_and_count(h264: str) -> None:
    info = probe(h264)
    assert info == VideoInfo(path=h264, width=64, height=48, frame_rate=10.0, num_frames=30, duration=3.0, rotation=0)


def test_probe_estimates_count_without_container_count(video_dir: Path) -> None:
    # WebM stores no per-stream frame count; the count comes from the duration
    path = make_video(video_dir / "vp8.webm", num_frames=25, size=(32, 24), fps=5, codec="libvpx")
    info = probe(path)
    assert (info.width, info.height, info.frame_rate) == (32, 24, 5.0)
    assert info.num_frames == 25
    assert info.duration == pytest.approx(5.0, abs=0.25)


def test_probe_accepts_pathlike(video_dir: Path) -> None:
    path = Path(make_video(video_dir / "pathlike.mkv", num_frames=12, codec="mpeg4"))
    info = probe(path)
    assert info.path == str(path)
    assert info.num_frames == 12


# --- errors name the path --------------------------------------------------


def test_missing_file_raises_video_error(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.mp4")
    for call in (probe, FrameDecoder, lambda p: read_frames(p, [1])):
        with pytest.raises(VideoError, match="does not exist") as err:
            call(path)
        assert path in str(err.value)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_corrupt_file_raises_video_error(tmp_path: Path, kind: str) -> None:
    path = make_corrupt_video(tmp_path / f"{kind}.mp4", kind=kind)
    with pytest.raises(VideoError, match="could not be opened") as err:
        probe(path)
    assert path in str(err.value)
    with pytest.raises(VideoError) as err:
        FrameDecoder(path)
    assert path in str(err.value)


def test_zero_frame_video_raises_video_error(tmp_path: Path) -> None:
    path = make_zero_frame_video(tmp_path / "empty.avi")
    with pytest.raises(VideoError, match="has no frames") as err:
        probe(path)
    assert path in str(err.value)
    with pytest.raises(VideoError, match="has no frames"):
        FrameDecoder(path)


def test_file_without_video_stream_raises_video_error(tmp_path: Path) -> None:
    path = make_audio_only_file(tmp_path / "sound.wav")
    with pytest.raises(VideoError, match="no video stream") as err:
        probe(path)
    assert path in str(err.value)


def test_directory_raises_video_error(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="directory") as err:
        probe(tmp_path)
    assert str(tmp_path) in str(err.value)


# --- decoding the right frames ---------------------------------------------


def test_decodes_every_frame_in_order(h264: str) -> None:
    with FrameDecoder(h264) as decoder:
        got = list(decoder.frames(range(1, 31)))
    assert [n for n, _ in got] == list(range(1, 31))
    assert [frame_number_of(img) for _, img in got] == list(range(1, 31))
    assert all(img.shape == (48, 64, 3) and img.dtype == np.uint8 for _, img in got)
    assert decoder.missing == []


def test_frames_are_rgb(h264: str) -> None:
    # frame 1 sets bit 0 only: block 0 is red, the last block is dark
    img = read_frames(h264, [1])[1]
    bh, bw = 48 // BITS_ROWS, 64 // BITS_COLS
    on = img[2 : bh - 2, 2 : bw - 2].reshape(-1, 3).mean(axis=0)
    off = img[-bh + 2 : -2, -bw + 2 : -2].reshape(-1, 3).mean(axis=0)
    assert np.allclose(on, ON_COLOR, atol=12), on
    assert on[0] > 150 and on[2] < 80
    assert off.max() < 50


def test_unsorted_and_duplicate_requests(h264: str) -> None:
    with FrameDecoder(h264) as decoder:
        got = list(decoder.frames([17, 3, 30, 3, 9, 17, 1]))
    assert [n for n, _ in got] == [1, 3, 9, 17, 30]
    assert [frame_number_of(img) for _, img in got] == [1, 3, 9, 17, 30]
    assert decoder.missing == []


def test_frames_past_the_end_are_missing(h264: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fiftyone_videogem.video"):
        with FrameDecoder(h264) as decoder:
            got = list(decoder.frames([45, 29, 31, 30]))
    assert [n for n, _ in got] == [29, 30]
    assert [frame_number_of(img) for _, img in got] == [29, 30]
    assert decoder.missing == [31, 45]
    assert h264 in caplog.text and "31, 45" in caplog.text


def test_repeated_calls_continue_or_restart(h264: str) -> None:
    with FrameDecoder(h264) as decoder:
        first = [frame_number_of(img) for _, img in decoder.frames([4, 8])]
        later = [frame_number_of(img) for _, img in decoder.frames([12, 20])]  # continues the pass
        earlier = [frame_number_of(img) for _, img in decoder.frames([2, 8])]  # restarts from frame 1
        after_end = list(decoder.frames([31]))
        missing_after_end = decoder.missing
        again = [frame_number_of(img) for _, img in decoder.frames([30])]
    assert (first, later, earlier) == ([4, 8], [12, 20], [2, 8])
    assert after_end == [] and missing_after_end == [31]
    assert again == [30] and decoder.missing == []


def test_stopping_early_then_resuming(h264: str) -> None:
    with FrameDecoder(h264) as decoder:
        for number, _ in decoder.frames([5, 6, 7]):
            if number == 5:
                break
        got = [frame_number_of(img) for _, img in decoder.frames([6, 25])]
    assert got == [6, 25]


def test_empty_request_and_invalid_numbers(h264: str) -> None:
    with FrameDecoder(h264) as decoder:
        assert list(decoder.frames([])) == []
        with pytest.raises(ValueError, match="1-based"):
            list(decoder.frames([0, 3]))


def test_read_frames(h264: str) -> None:
    frames = read_frames(h264, [30, 10, 10, 99])
    assert list(frames) == [10, 30]
    assert {n: frame_number_of(img) for n, img in frames.items()} == {10: 10, 30: 30}


@pytest.mark.parametrize(
    ("name", "codec", "pattern", "size"),
    [
        ("mpeg4.avi", "mpeg4", "square", (64, 48)),
        ("vp8.webm", "libvpx", "gray", (48, 32)),
        ("h264.mkv", "libx264", "bits", (66, 50)),
    ],
)
def test_other_containers_codecs_and_patterns(
    video_dir: Path, name: str, codec: str, pattern: str, size: tuple[int, int]
) -> None:
    path = make_video(video_dir / f"other_{name}", num_frames=24, size=size, codec=codec, pattern=pattern)
    wanted = [24, 1, 13, 7]
    frames = read_frames(path, wanted)
    assert list(frames) == sorted(wanted)
    assert [frame_number_of(img, pattern) for img in frames.values()] == sorted(wanted)
    assert all(img.shape == (size[1], size[0], 3) for img in frames.values())


def test_truncated_video_yields_readable_frames_then_raises(tmp_path: Path) -> None:
    # single-threaded decoding surfaces the error of the cut-off packet
    path = make_truncated_video(tmp_path / "cut.mp4", num_frames=40, keep=0.8)
    got = []
    with FrameDecoder(path, threads=1) as decoder:
        assert decoder.info.num_frames == 40
        with pytest.raises(VideoError, match="at frame 21") as err:
            for number, img in decoder.frames([3, 10, 20, 25, 40]):
                got.append((number, frame_number_of(img)))
    assert got == [(3, 3), (10, 10), (20, 20)]
    assert path in str(err.value)


def test_truncated_video_with_frame_threads_is_reported_damaged(tmp_path: Path) -> None:
    # with frame threading FFmpeg reports the cut as an early end of stream; the index tells it apart
    # from frames that were requested past the end
    path = make_truncated_video(tmp_path / "cut.mp4", num_frames=40, keep=0.8)
    got = []
    with FrameDecoder(path, threads=4) as decoder:
        with pytest.raises(VideoError, match="damaged") as err:
            for number, img in decoder.frames([3, 20, 25, 40]):
                got.append((number, frame_number_of(img)))
    assert got == [(3, 3), (20, 20)]
    assert path in str(err.value) and "past the end" not in str(err.value)


def test_thread_counts_agree(h264: str) -> None:
    wanted = [2, 15, 29]
    results = [read_frames(h264, wanted, threads=t) for t in (None, 1, 3)]
    assert [list(r) for r in results] == [wanted] * 3
    for other in results[1:]:
        for n in wanted:
            assert np.array_equal(other[n], results[0][n])


# --- agreement with FiftyOne's ffmpeg-based reader ---------------------------


@pytest.mark.parametrize(("name", "codec"), [("h264.mp4", "libx264"), ("mpeg4.avi", "mpeg4")])
def test_frame_numbering_matches_fiftyone_reader(video_dir: Path, name: str, codec: str) -> None:
    import eta.core.video as etav

    assert shutil.which("ffmpeg"), "FiftyOne's video reader needs ffmpeg: apt-get install -y ffmpeg"

    path = make_video(video_dir / f"eta_{name}", num_frames=30, codec=codec)
    wanted = [1, 2, 7, 16, 29, 30]
    ours = read_frames(path, wanted)
    theirs = {}
    with etav.FFmpegVideoReader(path, frames=wanted) as reader:
        assert reader.total_frame_count == probe(path).num_frames
        for img in reader:
            theirs[reader.frame_number] = img
    assert list(ours) == list(theirs) == wanted
    for n in wanted:
        assert frame_number_of(theirs[n]) == frame_number_of(ours[n]) == n
        assert ours[n].shape == theirs[n].shape
        diff = np.abs(ours[n].astype(np.int16) - theirs[n].astype(np.int16))
        assert diff.max() <= 2, (n, diff.max())


# --- context windows and time conversions -----------------------------------


def test_context_window_in_the_middle() -> None:
    assert context_frame_numbers(50) == [46, 47, 48, 49, 50, 51, 52, 53]
    assert context_frame_numbers(50, stride=3, last=100) == [38, 41, 44, 47, 50, 53, 56, 59]
    assert context_frame_numbers(10, num_frames=4, target_index=0) == [10, 11, 12, 13]
    assert context_frame_numbers(10, num_frames=1, target_index=0) == [10]


def test_context_window_clamped_at_the_start() -> None:
    window = context_frame_numbers(2, stride=2, last=30)
    assert window == [1, 1, 1, 1, 2, 4, 6, 8]
    assert window[4] == 2
    assert context_frame_numbers(1) == [1, 1, 1, 1, 1, 2, 3, 4]
    assert context_frame_numbers(12, first=10, last=20) == [10, 10, 10, 11, 12, 13, 14, 15]


def test_context_window_clamped_at_the_end() -> None:
    assert context_frame_numbers(29, last=30) == [25, 26, 27, 28, 29, 30, 30, 30]
    assert context_frame_numbers(30, stride=5, last=30) == [10, 15, 20, 25, 30, 30, 30, 30]
    # a video shorter than the window: both ends clamp
    assert context_frame_numbers(2, last=3) == [1, 1, 1, 1, 2, 3, 3, 3]


def test_context_window_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="outside"):
        context_frame_numbers(31, last=30)
    with pytest.raises(ValueError, match="outside"):
        context_frame_numbers(0)
    with pytest.raises(ValueError, match="target_index"):
        context_frame_numbers(5, num_frames=8, target_index=8)
    with pytest.raises(ValueError, match="stride"):
        context_frame_numbers(5, stride=0)
    with pytest.raises(ValueError, match="num_frames"):
        context_frame_numbers(5, num_frames=0)


def test_context_window_decodes(h264: str) -> None:
    window = context_frame_numbers(3, stride=2, last=30)
    frames = read_frames(h264, window)
    assert [frame_number_of(frames[n]) for n in window] == [1, 1, 1, 1, 3, 5, 7, 9]


def test_stride_in_frames() -> None:
    assert stride_in_frames(0.5, 30.0) == 15
    assert stride_in_frames(0.25, 29.97) == 7
    assert stride_in_frames(0.01, 10.0) == 1
    assert stride_in_frames(0.0, 25.0) == 1
    with pytest.raises(ValueError):
        stride_in_frames(0.5, 0.0)
    with pytest.raises(ValueError):
        stride_in_frames(-1.0, 10.0)


def test_seconds_to_frame_number() -> None:
    assert seconds_to_frame_number(0.0, 10.0) == 1
    assert seconds_to_frame_number(0.05, 10.0) == 1
    assert seconds_to_frame_number(0.1, 10.0) == 2
    assert seconds_to_frame_number(0.3, 10.0) == 4  # 0.3 * 10 is 2.9999999999999996
    assert seconds_to_frame_number(2.999, 10.0) == 30
    assert seconds_to_frame_number(1.0, 29.97) == 30
    assert seconds_to_frame_number(-0.5, 10.0) == 1
    with pytest.raises(ValueError):
        seconds_to_frame_number(1.0, 0.0)


def test_seconds_to_frame_number_matches_decoded_timestamps(h264: str) -> None:
    import av

    with av.open(h264) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream)]
    info = probe(h264)
    assert [seconds_to_frame_number(t, info.frame_rate) for t in times] == list(range(1, 31))


# --- frame timestamps: variable frame rates and damaged files ------------------

VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 1.3, 1.4, 1.5, 3.5, 3.6, 3.7]


@pytest.mark.parametrize(("name", "codec"), [("vfr.mp4", "libx264"), ("vfr.mkv", "libx264"), ("vfr.webm", "libvpx")])
def test_frame_times_of_a_variable_frame_rate_video(video_dir: Path, name: str, codec: str) -> None:
    import av

    path = make_video(video_dir / name, times=VFR_TIMES, codec=codec)
    times = read_frame_times(path)
    assert times.starts == pytest.approx(VFR_TIMES, abs=1e-3)
    assert times.num_frames == 10 and times.is_variable()
    # the decoder's own timestamps agree, frame by frame
    with av.open(path) as container:
        decoded = [(frame_number_of(f.to_ndarray(format="rgb24")), float(f.time)) for f in container.decode(video=0)]
    assert [n for n, _ in decoded] == list(range(1, 11))
    assert [t - decoded[0][1] for _, t in decoded] == pytest.approx(list(times.starts), abs=1e-3)
    # the frame on screen at t: the last one that started at or before t
    cases = {0.0: 1, 0.35: 4, 1.29: 4, 1.3: 5, 2.0: 7, 3.49: 7, 3.5: 8, 3.75: 10}
    assert {t: times.frame_number(t) for t in cases} == cases
    frames = read_frames(path, list(cases.values()))
    assert all(frame_number_of(frames[n]) == n for n in cases.values())
    # the average frame rate puts these times on other frames
    average = probe(path).frame_rate
    assert [seconds_to_frame_number(t, average) for t in (1.3, 3.5)] != [5, 8]
    with pytest.raises(ValueError, match="outside"):
        times.frame_number(times.end)


@pytest.mark.parametrize(("name", "codec"), [("cfr.mp4", "libx264"), ("cfr.webm", "libvpx"), ("cfr.avi", "mpeg4")])
def test_frame_times_of_a_constant_frame_rate_video(video_dir: Path, name: str, codec: str) -> None:
    path = make_video(video_dir / name, num_frames=25, fps=2, codec=codec)
    times = read_frame_times(path)
    assert times.starts == pytest.approx([i / 2 for i in range(25)])
    assert times.end == pytest.approx(12.5) and not times.is_variable()
    assert [times.frame_number(t) for t in times.starts] == list(range(1, 26))
    by_rate = [seconds_to_frame_number(i * 0.5, 2.0) for i in range(25)]
    assert [times.frame_number(i * 0.5) for i in range(25)] == by_rate


@pytest.mark.parametrize(
    ("name", "codec", "keep"),
    [("cut.mp4", "libx264", 0.5), ("cut.mp4", "libx264", 0.9), ("cut.mkv", "libx264", 0.6),
     ("cut.webm", "libvpx", 0.6), ("cut.avi", "mpeg4", 0.8)],
)
def test_truncated_files_are_damaged(tmp_path: Path, name: str, codec: str, keep: float) -> None:
    options = {"movflags": "faststart"} if name.endswith(".mp4") else None
    path = make_video(tmp_path / name, num_frames=40, fps=10, codec=codec, container_options=options)
    assert read_frame_times(path).num_frames == 40  # whole, it reads fine
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    info = probe(path)  # the header still announces the whole video
    assert info.num_frames == 40
    with pytest.raises(DamagedVideoError, match="truncated|cut off") as err:
        read_frame_times(path)
    assert path in str(err.value)


def test_damage_is_told_from_frames_past_the_end(video_dir: Path) -> None:
    # a whole WebM has only an estimated frame count: asking past it is not damage
    path = make_video(video_dir / "whole.webm", num_frames=12, fps=4, codec="libvpx")
    with FrameDecoder(path, threads=4) as decoder:
        got = [n for n, _ in decoder.frames([12, 13])]
    assert got == [12] and decoder.missing == [13]


def test_frame_numbers_must_be_numbers(h264: str) -> None:
    with FrameDecoder(h264) as decoder:
        with pytest.raises(TypeError, match="string"):
            list(decoder.frames("12"))
        assert [n for n, _ in decoder.frames(7)] == [7]


# --- display rotation (phone videos) -------------------------------------------

# where the stored picture's top-left square ends up once the video is turned for display
SQUARE_CORNER = {0: "top-left", 90: "bottom-left", 180: "bottom-right", 270: "top-right"}


def _corner(img: np.ndarray) -> str:
    height, width = img.shape[:2]
    quadrants = {
        "top-left": img[: height // 2, : width // 2],
        "top-right": img[: height // 2, width // 2 :],
        "bottom-left": img[height // 2 :, : width // 2],
        "bottom-right": img[height // 2 :, width // 2 :],
    }
    return max(quadrants, key=lambda k: quadrants[k].mean())


def _ffmpeg_frames(path: str, size: tuple[int, int], count: int) -> np.ndarray:
    """The first ``count`` frames as the ffmpeg command line shows them (it applies the rotation)."""
    import subprocess

    assert shutil.which("ffmpeg"), "the rotation tests compare with ffmpeg: apt-get install -y ffmpeg"
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout
    width, height = size
    return np.frombuffer(raw, np.uint8).reshape(count, height, width, 3)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_is_decoded_as_shown(video_dir: Path, rotation: int) -> None:
    path = make_video(video_dir / f"rot{rotation}.mp4", num_frames=6, size=(64, 48), pattern="square",
                      rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    shown = (48, 64) if rotation in (90, 270) else (64, 48)
    assert (info.width, info.height) == shown
    with FrameDecoder(path) as decoder:
        assert (decoder.info.width, decoder.info.height) == shown
        frames = dict(decoder.frames([1, 2, 3]))
    assert all(img.shape == (shown[1], shown[0], 3) and img.flags.c_contiguous for img in frames.values())
    assert _corner(frames[1]) == SQUARE_CORNER[rotation]
    reference = _ffmpeg_frames(path, shown, 3)
    for n in (1, 2, 3):
        diff = np.abs(frames[n].astype(np.int16) - reference[n - 1].astype(np.int16))
        assert diff.max() <= 2, (n, diff.max())
    # the stored picture stays available
    with FrameDecoder(path, autorotate=False) as decoder:
        (stored,) = [img for _, img in decoder.frames([1])]
    assert stored.shape == (48, 64, 3) and _corner(stored) == "top-left"


def test_rotate_tag_written_by_ffmpeg_is_honoured(video_dir: Path, tmp_path: Path) -> None:
    import subprocess

    source = make_video(video_dir / "unrotated.mp4", num_frames=4, size=(64, 48), pattern="square")
    assert probe(source).rotation == 0
    tagged = str(tmp_path / "tagged.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-i", source, "-c", "copy", "-metadata:s:v", "rotate=90", tagged],
                   check=True)
    info = probe(tagged)
    assert info.rotation in (90, 270) and (info.width, info.height) == (48, 64)
    (img,) = read_frames(tagged, [1]).values()
    reference = _ffmpeg_frames(tagged, (48, 64), 1)[0]
    assert np.abs(img.astype(np.int16) - reference.astype(np.int16)).max() <= 2
