"""When and where in untrimmed videos: :func:`localize_actions`.

The sampling rule of the temporal scan, shared with the evaluation (:func:`sampled_frame_numbers`).
"""

from __future__ import annotations

import logging
import math

from .video import seconds_to_frame_number

logger = logging.getLogger(__name__)


def sampled_frame_numbers(frame_rate: float, num_frames: int, fps: float = 1.0) -> list[int]:
    """The frames of a video sampled at ``fps``: frame ``floor(k * frame_rate / fps) + 1`` for ``k = 0, 1, ...``
    up to the last frame (the importers' rule: the frame on screen at ``k / fps`` seconds).

    Args:
        frame_rate: the video's frame rate
        num_frames: the video's number of frames
        fps (1.0): samples per second

    Returns:
        increasing 1-based frame numbers (two samples on one frame, when ``fps`` exceeds the frame rate,
        give it once)
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of samples per second, got {fps!r}")
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"the video's frame rate must be positive, got {frame_rate!r}")
    numbers: list[int] = []
    k = 0
    while True:
        n = seconds_to_frame_number(k / fps, frame_rate)
        if n > num_frames:
            return numbers
        if not numbers or n != numbers[-1]:
            numbers.append(n)
        k += 1
