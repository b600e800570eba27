"""Video decoding with PyAV: probing, sparse frame decoding and context windows.

Frame numbers follow FiftyOne's convention: they are 1-based, and frame ``n``
is the ``n``-th frame that the decoder produces (presentation order).

This module depends on ``av`` and ``numpy`` only.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import av

logger = logging.getLogger(__name__)


class VideoError(Exception):
    """A video could not be opened, probed or decoded.

    The message names the path and says what to do about it.
    """


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
    """

    path: str
    width: int
    height: int
    frame_rate: float
    num_frames: int
    duration: float


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


def _info_from_stream(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: str) -> VideoInfo:
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
    if duration <= 0 and num_frames > 0 and frame_rate > 0:
        duration = num_frames / frame_rate

    width = int(stream.codec_context.width or 0)
    height = int(stream.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise VideoError(f"video '{path}' has no valid frame size; the file is corrupt, re-encode or remove it")
    if num_frames <= 0:
        raise VideoError(f"video '{path}' has no frames; re-encode it or remove it from the dataset")
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        frame_rate=frame_rate,
        num_frames=num_frames,
        duration=duration,
    )


def probe(path: str | os.PathLike) -> VideoInfo:
    """Reads the size, frame rate, frame count and duration of a video.

    The frame count is the container's own count (``stream.frames``) when it
    has one; otherwise it is estimated as ``round(duration * frame_rate)``.

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
