"""Video decoding with PyAV: probing, sparse frame decoding and context windows.

Frame numbers follow FiftyOne's convention: they are 1-based, and frame ``n``
is the ``n``-th frame that the decoder produces (presentation order).

Frames come out the way players show them: a video whose container asks for
a display rotation (phone videos filmed upright carry a 90 degree display
matrix) is decoded turned, as FFmpeg, browsers and the FiftyOne App show it,
and its :class:`VideoInfo` gives the displayed size. When in time each frame
is shown comes from the frames' own timestamps (:func:`read_frame_times`),
which also works for variable-frame-rate videos and tells a truncated file
from a short one.

This module depends on ``av`` and ``numpy`` only.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np

logger = logging.getLogger(__name__)


class VideoError(Exception):
    """A video could not be opened, probed or decoded.

    The message names the path and says what to do about it.
    """


class DamagedVideoError(VideoError):
    """A video file is damaged: truncated or with unreadable frame data.

    Attributes:
        path: the video file
        reason: what is wrong with it, without the path
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"video '{path}' is damaged: {reason}. Download or copy it again, or re-encode its readable part "
            "(e.g. `ffmpeg -i in -c:v libx264 out.mp4`)"
        )


@dataclass(frozen=True)
class VideoInfo:
    """Basic properties of a video's first video stream.

    Attributes:
        path: the path of the video file
        width: the frame width in pixels
        height: the frame height in pixels
        frame_rate: the average frame rate in frames per second
        num_frames: the number of frames. Taken from the container's frame
            count when it has one, otherwise estimated as
            ``round(duration * frame_rate)``; the estimate can be off by a
            frame or two, which :class:`FrameDecoder` handles by reporting
            frames past the real end in ``missing``
        duration: the duration in seconds
        rotation: the display rotation the container asks for, in degrees
            counterclockwise (0, 90, 180 or 270); ``width`` and ``height``
            are the size after it, as the video is shown and as
            :class:`FrameDecoder` returns its frames
    """

    path: str
    width: int
    height: int
    frame_rate: float
    num_frames: int
    duration: float
    rotation: int = 0


def _open_container(path: str | os.PathLike) -> av.container.InputContainer:
    path = os.fspath(path)
    if not os.path.exists(path):
        hint = "" if os.path.isabs(path) else f" (relative paths are resolved from {os.getcwd()!r})"
        raise VideoError(f"video '{path}' does not exist; check the path{hint}")
    if os.path.isdir(path):
        raise VideoError(f"video '{path}' is a directory, not a video file; pass the path of a video file")
    try:
        return av.open(path, mode="r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoError(
            f"video '{path}' could not be opened ({e}); the file is corrupt or not a video, "
            "re-encode it (e.g. `ffmpeg -i in -c:v libx264 out.mp4`) or remove it"
        ) from e


def _video_stream(container: av.container.InputContainer, path: str) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoError(f"video '{path}' has no video stream; pass a file that contains video")
    return container.streams.video[0]


def _info_from_stream(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: str
) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    frame_rate = float(rate) if rate else 0.0

    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base

    num_frames = int(stream.frames or 0)
    if num_frames <= 0 and duration > 0 and frame_rate > 0:
        num_frames = int(round(duration * frame_rate))
        logger.debug("video '%s' has no frame count; estimated %d frames from its duration", path, num_frames)
    if num_frames <= 0:
        num_frames = _count_packets(path)
    if duration <= 0 and num_frames > 0 and frame_rate > 0:
        duration = num_frames / frame_rate

    width = int(stream.codec_context.width or 0)
    height = int(stream.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise VideoError(f"video '{path}' has no valid frame size; the file is corrupt, re-encode or remove it")
    if num_frames <= 0:
        raise VideoError(f"video '{path}' has no frames; re-encode it or remove it from the dataset")
    rotation = display_rotation(path, stream)
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        frame_rate=frame_rate,
        num_frames=num_frames,
        duration=duration,
        rotation=rotation,
    )


def _quarter_turns(degrees: float) -> int:
    """A rotation in degrees counterclockwise, rounded to a multiple of 90, in [0, 360)."""
    return int(round(float(degrees) / 90.0)) % 4 * 90


def display_rotation(path: str | os.PathLike, stream: av.video.stream.VideoStream | None = None) -> int:
    """The display rotation a video's container asks for, in degrees counterclockwise.

    Read from the display matrix of the first decoded frame (MP4/MOV ``tkhd``
    matrices and Matroska projections, as FFmpeg exposes them), else from a
    ``rotate`` stream tag written by older muxers (clockwise degrees).
    Rotations are rounded to a multiple of 90; flips are not applied.

    Args:
        path: the path of the video file
        stream: the already opened video stream, for its tags (None: read
            from the file)

    Returns:
        0, 90, 180 or 270; 0 when the first frame cannot be decoded
    """
    path = os.fspath(path)
    tags = dict(stream.metadata) if stream is not None else {}
    try:
        with av.open(path, mode="r") as container:
            video = container.streams.video[0]
            tags = tags or dict(video.metadata)
            for frame in container.decode(video):
                if frame.rotation:
                    return _quarter_turns(frame.rotation)
                break
    except (av.FFmpegError, OSError, ValueError, IndexError):
        pass
    try:
        return _quarter_turns(-float(tags.get("rotate", 0)))
    except (TypeError, ValueError):
        return 0


def to_display(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Turns a decoded ``[H, W, 3]`` frame by ``rotation`` degrees counterclockwise (a multiple of 90)."""
    turns = _quarter_turns(rotation) // 90
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def _count_packets(path: str) -> int:
    # Last resort for files without a frame count or duration (raw streams):
    # demux, without decoding, and count the non-empty video packets.
    count = 0
    with _open_container(path) as container:
        stream = _video_stream(container, path)
        try:
            for packet in container.demux(stream):
                if packet.size > 0:
                    count += 1
        except av.FFmpegError as e:
            raise VideoError(
                f"video '{path}' could not be read while counting its frames ({e}); "
                "the file is corrupt, re-encode it or remove it"
            ) from e
    logger.debug("video '%s' has no frame count or duration; counted %d packets", path, count)
    return count


def probe(path: str | os.PathLike) -> VideoInfo:
    """Reads the size, frame rate, frame count and duration of a video.

    The frame count is the container's own count (``stream.frames``) when it
    has one; otherwise it is estimated as ``round(duration * frame_rate)``,
    and when the duration is unknown too (raw streams) it is the number of
    video packets. Only the count from the container is exact; the decoders
    in this module never rely on it and report frames past the real end in
    ``FrameDecoder.missing``.

    Args:
        path: the path of the video file

    Returns:
        a :class:`VideoInfo`

    Raises:
        VideoError: if the file is missing, cannot be opened, has no video
            stream or has no frames
    """
    path = os.fspath(path)
    container = _open_container(path)
    try:
        stream = _video_stream(container, path)
        return _info_from_stream(container, stream, path)
    finally:
        container.close()


@dataclass(frozen=True)
class FrameTimes:
    """When each frame of a video is shown, from the frames' own timestamps.

    Attributes:
        path: the path of the video file
        starts: the time each frame appears, in seconds from the first
            frame, in frame-number order (``starts[n - 1]`` for frame ``n``)
        end: the time the last frame stops being shown, in seconds from the
            first frame
    """

    path: str
    starts: tuple[float, ...]
    end: float

    @property
    def num_frames(self) -> int:
        """The number of frames."""
        return len(self.starts)

    @property
    def frame_rate(self) -> float:
        """The average frame rate, frames per second."""
        return self.num_frames / self.end if self.end > 0 else 0.0

    def is_variable(self, tolerance: float = 0.1) -> bool:
        """Whether frame durations differ by more than ``tolerance`` of the average one.

        Args:
            tolerance: the allowed relative deviation (0.1)
        """
        if self.num_frames < 2:
            return False
        ends = self.starts[1:] + (self.end,)
        durations = [b - a for a, b in zip(self.starts, ends)]
        mean = self.end / self.num_frames
        return any(abs(d - mean) > tolerance * mean for d in durations)

    def frame_number(self, t: float) -> int:
        """The 1-based number of the frame on screen at ``t`` seconds.

        Frame ``n`` is shown from ``starts[n - 1]`` until the next frame
        starts; times on a frame's start (within 1 microsecond) belong to
        that frame.

        Args:
            t: seconds from the first frame, in ``[0, end)``

        Raises:
            ValueError: if ``t`` is not finite or lies outside ``[0, end)``
        """
        if not math.isfinite(t):
            raise ValueError(f"t must be a finite number of seconds, got {t}")
        if t < -1e-6 or t >= self.end:
            raise ValueError(
                f"{t} s lies outside video '{self.path}', which shows frames from 0 to {self.end:.6g} s"
            )
        return max(1, bisect.bisect_right(self.starts, t + 1e-6))

    def frame_start(self, frame_number: int) -> float:
        """The time frame ``frame_number`` (1-based) appears, in seconds from the first frame."""
        if not 1 <= frame_number <= self.num_frames:
            raise ValueError(f"frame {frame_number} does not exist in video '{self.path}' (1..{self.num_frames})")
        return self.starts[frame_number - 1]


def read_frame_times(path: str | os.PathLike) -> FrameTimes:
    """Reads when each frame of a video is shown, from its packets' timestamps (no decoding).

    Works for constant and variable frame rates alike. The same pass checks
    that the file is whole: a frame count in the container's index that the
    data does not reach, a packet cut off by the end of the file, or a read
    error make it a :class:`DamagedVideoError`.

    Args:
        path: the path of the video file

    Returns:
        a :class:`FrameTimes`

    Raises:
        DamagedVideoError: if the file is truncated or its data unreadable
        VideoError: if it cannot be opened, has no video stream or no frames
    """
    path = os.fspath(path)
    with _open_container(path) as container:
        stream = _video_stream(container, path)
        announced = int(stream.frames or 0)
        time_base = stream.time_base
        stamps: list[tuple[int, int]] = []
        no_stamp = 0
        cut = False
        try:
            for packet in container.demux(stream):
                if packet.size <= 0 or packet.is_discard:
                    continue
                if packet.is_corrupt:
                    cut = True
                    break
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    no_stamp += 1
                    continue
                stamps.append((int(stamp), int(packet.duration or 0)))
        except av.FFmpegError as e:
            raise DamagedVideoError(path, f"its data could not be read after {len(stamps)} frames ({e})") from e
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        stream_end = None
        if stream.duration is not None and time_base is not None:
            start = stream.start_time if stream.start_time is not None else (min(stamps)[0] if stamps else 0)
            stream_end = start + stream.duration
        announced_seconds = _announced_seconds(stream)
    count = len(stamps) + no_stamp
    if cut:
        raise DamagedVideoError(path, f"its data ends inside frame {count + 1}, the file is cut off")
    if announced > 0 and count < announced:
        raise DamagedVideoError(
            path, f"its index announces {announced} frames but its data holds only {count}; the file is truncated"
        )
    if count == 0:
        raise VideoError(f"video '{path}' has no frames; re-encode it or remove it from the dataset")
    if no_stamp or time_base is None:
        # no timestamps (raw streams): frames follow the nominal rate
        if not rate:
            raise VideoError(f"video '{path}' has neither frame timestamps nor a frame rate; re-encode it")
        step = 1.0 / float(rate)
        return FrameTimes(path, tuple(i * step for i in range(count)), count * step)
    stamps.sort()
    first = stamps[0][0]
    starts = tuple(float((stamp - first) * time_base) for stamp, _ in stamps)
    # the last frame lasts until the stream's end; packet durations follow decoding order, not display order
    typical = (starts[-1] - starts[0]) / (count - 1) if count > 1 else (1.0 / float(rate) if rate else 0.0)
    last_duration = float((stream_end - stamps[-1][0]) * time_base) if stream_end is not None else 0.0
    if not 0 < last_duration <= 10 * max(typical, 1e-3):
        last_duration = float(stamps[-1][1] * time_base) if count == 1 else typical
    times = FrameTimes(path, starts, starts[-1] + max(last_duration, 1e-6))
    if announced_seconds is not None and times.end < announced_seconds - max(3 * typical, 0.5):
        raise DamagedVideoError(
            path,
            f"its header announces {announced_seconds:.3f} s of video but its frames end at {times.end:.3f} s "
            f"(frame {count}); the file is truncated",
        )
    return times


def _announced_seconds(stream: av.video.stream.VideoStream) -> float | None:
    """The video stream's own duration as its header states it (Matroska keeps it in a DURATION tag)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = dict(stream.metadata).get("DURATION")
    if not tag:
        return None
    try:
        hours, minutes, seconds = str(tag).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class FrameDecoder:
    """Decodes selected frames of one video in a single sequential pass.

    Use it as a context manager::

        with FrameDecoder(path) as decoder:
            for frame_number, rgb in decoder.frames([12, 3, 40]):
                ...  # rgb: [H, W, 3] uint8
            if decoder.missing:
                ...  # requested frames past the video's real end

    Frame numbers are 1-based and count decoded frames in presentation order,
    the same numbering as FiftyOne's frame numbers and its ffmpeg-based
    readers. Decoding stops at the last requested frame, and only requested
    frames are converted to RGB, so memory use does not depend on the length
    of the video.

    Successive :meth:`frames` calls continue from where the previous one
    stopped when their frames come later; otherwise the file is reopened and
    decoded from its start.

    Frames are returned as the video is shown: turned by the container's
    display rotation (see :attr:`VideoInfo.rotation`) unless ``autorotate``
    is False.

    Args:
        path: the path of the video file
        threads: the number of decoding threads (None: FFmpeg's automatic
            choice). Frame and slice threading are both enabled ("AUTO")
        autorotate: whether to turn frames by the display rotation (True),
            as players and the FiftyOne App show them

    Raises:
        VideoError: if the file is missing, cannot be opened, has no video
            stream or has no frames
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None, autorotate: bool = True) -> None:
        self.path = os.fspath(path)
        self.threads = threads
        self.autorotate = autorotate
        self.missing: list[int] = []
        self._container: av.container.InputContainer | None = None
        self._decoded: Iterator[av.VideoFrame] | None = None
        self._position = 0  # frames decoded so far in the current pass
        self._exhausted = False  # the current pass reached the end of the video
        self._failed = False  # the current pass stopped at a decoding error
        self._open()
        assert self._container is not None
        try:
            self.info: VideoInfo = _info_from_stream(self._container, self._stream, self.path)
        except VideoError:
            self.close()
            raise
        self._decoded = iter(self._container.decode(self._stream))

    def _open(self) -> None:
        self.close()
        container = _open_container(self.path)
        try:
            stream = _video_stream(container, self.path)
        except VideoError:
            container.close()
            raise
        stream.thread_type = "AUTO"
        if self.threads is not None:
            stream.codec_context.thread_count = int(self.threads)
        self._container = container
        self._stream = stream

    def _rewind(self) -> None:
        self._open()
        assert self._container is not None
        self._decoded = iter(self._container.decode(self._stream))
        self._position = 0
        self._exhausted = False
        self._failed = False

    def close(self) -> None:
        """Closes the video file. Further :meth:`frames` calls reopen it."""
        if self._container is not None:
            self._container.close()
            self._container = None
            self._decoded = None

    def __enter__(self) -> FrameDecoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FrameDecoder({self.path!r}, {self.info.width}x{self.info.height}, {self.info.num_frames} frames)"

    def frames(self, frame_numbers: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yields the requested frames in increasing frame-number order.

        Args:
            frame_numbers: 1-based frame numbers, in any order; duplicates
                are decoded and yielded once

        Yields:
            ``(frame_number, rgb)`` tuples, where ``rgb`` is an ``[H, W, 3]``
            uint8 array

        Requested frames past the real end of the video are not yielded; they
        are listed in :attr:`missing` (reset when iteration starts) and
        logged as a warning.

        Raises:
            ValueError: if a frame number is smaller than 1
            TypeError: if ``frame_numbers`` is a string
            VideoError: if decoding fails part-way, or the video ends before
                the frame count of its index because the file is truncated
                or damaged; the frames before the failure have been yielded,
                and the message names the frame number that failed
        """
        if isinstance(frame_numbers, (str, bytes)):
            raise TypeError(f"frame_numbers must be integers, not the string {frame_numbers!r}")
        if isinstance(frame_numbers, (int, np.integer)):
            frame_numbers = [frame_numbers]
        wanted = sorted({int(n) for n in frame_numbers})
        self.missing = []
        if not wanted:
            return
        if wanted[0] < 1:
            raise ValueError(
                f"frame numbers are 1-based, got {wanted[0]} for video '{self.path}'; "
                "the first frame is frame 1"
            )
        if self._container is None or self._decoded is None or self._failed or wanted[0] <= self._position:
            self._rewind()

        for target in wanted:
            frame = self._advance_to(target)
            if frame is None:
                self._raise_if_damaged()
                self.missing = [n for n in wanted if n >= target]
                logger.warning(
                    "video '%s' ended after %d frames (it announces %d); requested frame(s) %s "
                    "do not exist and were skipped",
                    self.path,
                    self._position,
                    self.info.num_frames,
                    _format_numbers(self.missing),
                )
                return
            rgb = frame.to_ndarray(format="rgb24")
            yield target, to_display(rgb, self.info.rotation) if self.autorotate else rgb

    def _raise_if_damaged(self) -> None:
        """After an early end of stream: raises when the file is damaged rather than shorter than announced.

        With frame threading FFmpeg reports a cut-off packet as the end of the
        stream; the container's index and header then tell a truncated file
        apart from a frame count that was only an estimate.
        """
        if self._position >= self.info.num_frames:
            return
        try:
            read_frame_times(self.path)
        except DamagedVideoError as e:
            self._failed = True
            raise VideoError(
                f"video '{self.path}' could not be decoded at frame {self._position + 1} "
                f"({self._position} of the {self.info.num_frames} frames it announces were decoded): it is "
                f"damaged, {e.reason}. Download or copy it again, or re-encode its readable part"
            ) from e

    def _advance_to(self, target: int) -> av.VideoFrame | None:
        """Decodes up to frame ``target`` and returns it (None past the end)."""
        assert self._decoded is not None
        frame = None
        while self._position < target:
            if self._exhausted:
                return None
            try:
                frame = next(self._decoded)
            except StopIteration:
                self._exhausted = True
                return None
            except av.FFmpegError as e:
                self._exhausted = True
                self._failed = True
                failed = self._position + 1
                raise VideoError(
                    f"video '{self.path}' could not be decoded at frame {failed} "
                    f"(it announces {self.info.num_frames} frames; {self._position} were decoded): {e}. "
                    "The file is damaged or truncated; frames from this one on are unavailable, "
                    "re-encode the video (e.g. `ffmpeg -i in -c:v libx264 out.mp4`) to recover the readable part"
                ) from e
            self._position += 1
        return frame


def read_frames(
    path: str | os.PathLike, frame_numbers: Iterable[int], threads: int | None = None
) -> dict[int, np.ndarray]:
    """Decodes the given 1-based frames of a video.

    A convenience wrapper around :class:`FrameDecoder`; frames past the end
    of the video are left out of the result (and logged).

    Args:
        path: the path of the video file
        frame_numbers: 1-based frame numbers, in any order
        threads: the number of decoding threads (None: automatic)

    Returns:
        a dict mapping frame number to an ``[H, W, 3]`` uint8 RGB array,
        in increasing frame-number order

    Raises:
        VideoError: if the video cannot be opened or decoding fails
    """
    with FrameDecoder(path, threads=threads) as decoder:
        return dict(decoder.frames(frame_numbers))


def context_frame_numbers(
    target: int,
    num_frames: int = 8,
    target_index: int = 4,
    stride: int = 1,
    first: int = 1,
    last: int | None = None,
) -> list[int]:
    """Returns the frame numbers of a context window around a target frame.

    Position ``i`` of the window holds frame
    ``target + (i - target_index) * stride``; with the defaults the window
    has 4 frames before the target and 3 after it. Positions that fall
    outside ``[first, last]`` repeat the boundary frame (``first`` or
    ``last``), so the window always has ``num_frames`` entries and the target
    always sits at ``target_index``; near the ends of a video the window
    therefore holds repeated frames.

    Args:
        target: the 1-based frame number of the target frame
        num_frames: the window length T (8)
        target_index: the target's position in the window (4)
        stride: the spacing between consecutive window frames, in frames (1)
        first: the smallest allowed frame number (1)
        last: the largest allowed frame number, typically the video's frame
            count (None: no upper bound)

    Returns:
        a list of ``num_frames`` non-decreasing frame numbers

    Raises:
        ValueError: if an argument is out of range or ``target`` lies outside
            ``[first, last]``
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if not 0 <= target_index < num_frames:
        raise ValueError(
            f"target_index must be in [0, {num_frames - 1}] for a {num_frames}-frame window, got {target_index}"
        )
    if stride < 1:
        raise ValueError(f"stride must be at least 1 frame, got {stride}")
    if first < 1:
        raise ValueError(f"first must be a 1-based frame number, got {first}")
    if last is not None and last < first:
        raise ValueError(f"last ({last}) must not be smaller than first ({first})")
    if target < first or (last is not None and target > last):
        raise ValueError(f"target frame {target} lies outside the allowed range [{first}, {last}]")
    numbers = []
    for i in range(num_frames):
        n = max(first, target + (i - target_index) * stride)
        if last is not None:
            n = min(last, n)
        numbers.append(n)
    return numbers


def stride_in_frames(stride_seconds: float, frame_rate: float) -> int:
    """Converts a stride in seconds to a whole number of frames (at least 1).

    Args:
        stride_seconds: the time between context frames, in seconds
        frame_rate: the video's frame rate in frames per second

    Returns:
        ``max(1, round(stride_seconds * frame_rate))``
    """
    if not math.isfinite(stride_seconds) or stride_seconds < 0:
        raise ValueError(f"stride_seconds must be a finite, non-negative number, got {stride_seconds}")
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number, got {frame_rate}")
    return max(1, int(round(stride_seconds * frame_rate)))


def seconds_to_frame_number(t: float, frame_rate: float) -> int:
    """Returns the 1-based number of the frame whose display interval contains ``t``.

    Frame ``n`` is shown during ``[(n - 1) / frame_rate, n / frame_rate)``, so
    the result is ``floor(t * frame_rate + 1e-6) + 1``; the small tolerance
    keeps times that sit exactly on a frame boundary (such as ``0.3`` at 10
    fps) from falling into the previous frame through rounding. Negative
    times give frame 1.

    Args:
        t: a time in seconds from the start of the video
        frame_rate: the video's frame rate in frames per second
    """
    if not math.isfinite(t):
        raise ValueError(f"t must be a finite number of seconds, got {t}")
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number, got {frame_rate}")
    return max(1, int(math.floor(t * frame_rate + 1e-6)) + 1)


def _format_numbers(numbers: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f", ... ({len(numbers)} in all)" if len(numbers) > limit else "")
