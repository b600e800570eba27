"""Tests for fiftyone_videogem.video: probing, sparse decoding, context windows."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from fiftyone_videogem.video import (
    FrameDecoder,
    VideoError,
    VideoInfo,
    context_frame_numbers,
    probe,
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
    assert info == VideoInfo(path=h264, width=64, height=48, frame_rate=10.0, num_frames=30, duration=3.0)


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


def test_truncated_video_with_frame_threads_reports_missing(tmp_path: Path) -> None:
    # with frame threading FFmpeg reports the cut as an early end of stream
    path = make_truncated_video(tmp_path / "cut.mp4", num_frames=40, keep=0.8)
    with FrameDecoder(path, threads=4) as decoder:
        got = [(n, frame_number_of(img)) for n, img in decoder.frames([3, 20, 25, 40])]
    assert got == [(3, 3), (20, 20)]
    assert decoder.missing == [25, 40]


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
