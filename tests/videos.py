"""Small synthetic videos for tests, written with PyAV.

Every frame's content encodes its 1-based frame number, so a test can check
which frame a decoder returned:

* ``"bits"`` (default): the frame is a grid of ``BITS_ROWS x BITS_COLS``
  blocks; block ``i`` (row-major) is red (``ON_COLOR``) when bit ``i`` of the
  frame number is set and dark (``OFF_COLOR``) otherwise. This survives lossy
  compression and chroma subsampling, supports up to 4095 frames and lets a
  test check the channel order (on-blocks are red, not blue).
* ``"gray"``: the whole frame is one grey level,
  ``GRAY_BASE + GRAY_STEP * (frame_number - 1)`` (wrapping after 40 frames);
  reads back exactly with ``libx264`` and ``libvpx``, not with ``mpeg4``.
* ``"square"``: a dark frame with a white ``SQUARE`` x ``SQUARE`` square
  whose top-left corner moves ``SQUARE`` pixels to the right per frame,
  wrapping onto the next row of squares.

Use :func:`frame_number_of` to read the number back from a decoded RGB frame.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

BITS_ROWS = 3
BITS_COLS = 4
ON_COLOR = (230, 40, 40)
OFF_COLOR = (20, 20, 20)

GRAY_BASE = 20
GRAY_STEP = 5
GRAY_PERIOD = 40

SQUARE = 8

PATTERNS = ("bits", "gray", "square")


def frame_image(frame_number: int, size: tuple[int, int] = (64, 48), pattern: str = "bits") -> np.ndarray:
    """Returns the HxWx3 uint8 RGB image that encodes ``frame_number``.

    Args:
        frame_number: the 1-based frame number to encode
        size: ``(width, height)`` of the image
        pattern: one of ``PATTERNS``
    """
    width, height = size
    img = np.empty((height, width, 3), dtype=np.uint8)
    if pattern == "bits":
        if not 0 <= frame_number < 2 ** (BITS_ROWS * BITS_COLS):
            raise ValueError(f"frame number {frame_number} does not fit in {BITS_ROWS * BITS_COLS} bits")
        img[:] = OFF_COLOR
        for bit in range(BITS_ROWS * BITS_COLS):
            if frame_number >> bit & 1:
                ys, xs = _block(bit, width, height)
                img[ys, xs] = ON_COLOR
    elif pattern == "gray":
        img[:] = GRAY_BASE + GRAY_STEP * ((frame_number - 1) % GRAY_PERIOD)
    elif pattern == "square":
        per_row = width // SQUARE
        index = (frame_number - 1) % (per_row * (height // SQUARE))
        y, x = (index // per_row) * SQUARE, (index % per_row) * SQUARE
        img[:] = OFF_COLOR
        img[y : y + SQUARE, x : x + SQUARE] = 255
    else:
        raise ValueError(f"unknown pattern {pattern!r}; use one of {PATTERNS}")
    return img


def frame_number_of(img: np.ndarray, pattern: str = "bits") -> int:
    """Reads the frame number back from a decoded HxWx3 RGB frame.

    For ``"gray"`` and ``"square"`` the number is only known modulo the
    pattern's period; keep test videos shorter than that.
    """
    img = np.asarray(img)
    height, width = img.shape[:2]
    if pattern == "bits":
        number = 0
        for bit in range(BITS_ROWS * BITS_COLS):
            ys, xs = _block(bit, width, height)
            core = img[ys, xs][2:-2, 2:-2]  # ignore the blurred block borders
            if core[..., 0].mean() > 127:
                number |= 1 << bit
        return number
    if pattern == "gray":
        level = float(img.mean())
        return int(round((level - GRAY_BASE) / GRAY_STEP)) + 1
    if pattern == "square":
        per_row = width // SQUARE
        grid = img[: (height // SQUARE) * SQUARE, : per_row * SQUARE].mean(axis=2)
        cells = grid.reshape(height // SQUARE, SQUARE, per_row, SQUARE).mean(axis=(1, 3))
        row, col = np.unravel_index(int(np.argmax(cells)), cells.shape)
        return int(row * per_row + col) + 1
    raise ValueError(f"unknown pattern {pattern!r}; use one of {PATTERNS}")


def make_video(
    path: str | os.PathLike,
    num_frames: int = 30,
    size: tuple[int, int] = (64, 48),
    fps: int | Fraction = 10,
    codec: str = "libx264",
    pattern: str = "bits",
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    times: list[float] | None = None,
    rotation: int | None = None,
) -> str:
    """Writes a video whose frame ``n`` (1-based) encodes ``n``.

    Args:
        path: output path; the container format follows the extension
            (``.mp4``, ``.mkv``, ``.webm``, ``.avi``, ...)
        num_frames: the number of frames
        size: ``(width, height)``; even sizes suit ``yuv420p``
        fps: the constant frame rate
        codec: an encoder name known to PyAV (``libx264``, ``mpeg4``,
            ``libvpx``, ...)
        pattern: how frame numbers are drawn, one of ``PATTERNS``
        options: encoder options (for libx264 the default is
            ``{"preset": "veryfast"}``, which keeps B-frames, so the
            decoder has to reorder frames)
        container_options: muxer options, e.g. ``{"movflags": "faststart"}``
            to put an MP4's index before the frame data
        times: the time in seconds at which each frame appears, for a
            variable frame rate (None: ``i / fps``); gives ``num_frames``.
            Times are kept to the millisecond
        rotation: a display rotation in degrees counterclockwise, written as
            the container's display matrix (None: none), as phones do

    Returns:
        the path as a string
    """
    path = os.fspath(path)
    width, height = size
    rate = Fraction(fps)
    time_base = 1 / rate if times is None else Fraction(1, 1000)
    pts = list(range(num_frames)) if times is None else [round(t * 1000) for t in times]
    if options is None:
        options = {"preset": "veryfast"} if codec == "libx264" else {}
    with av.open(path, mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if times is not None:
            stream.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, stamp in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(frame_image(i + 1, size, pattern), format="rgb24")
            frame.pts = stamp
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_corrupt_video(path: str | os.PathLike, kind: str = "garbage") -> str:
    """Writes a file that cannot be opened as a video.

    Args:
        path: output path (give it a video extension such as ``.mp4``)
        kind: ``"garbage"`` (random bytes) or ``"truncated"`` (a real MP4 cut
            in half, so its index at the end of the file is lost)
    """
    path = os.fspath(path)
    if kind == "garbage":
        rng = np.random.default_rng(0)
        with open(path, "wb") as f:
            f.write(rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        make_video(path, num_frames=20)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
    else:
        raise ValueError(f"unknown kind {kind!r}; use 'garbage' or 'truncated'")
    return path


def make_truncated_video(path: str | os.PathLike, num_frames: int = 40, keep: float = 0.8) -> str:
    """Writes an MP4 whose index is complete but whose frame data is cut off.

    The index (``moov``) sits at the start of the file, so the file opens and
    reports ``num_frames`` frames, and decoding fails part-way through.

    Args:
        path: output path ending in ``.mp4``
        num_frames: the number of frames the index announces
        keep: the fraction of the file's bytes that is kept
    """
    path = make_video(path, num_frames=num_frames, container_options={"movflags": "faststart"})
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])
    return path


def make_zero_frame_video(path: str | os.PathLike, size: tuple[int, int] = (64, 48), fps: int = 10) -> str:
    """Writes a valid AVI container with one video stream and no frames.

    The file is AVI whatever the extension, because MP4, MOV and Matroska
    writers drop a stream that received no packets.
    """
    path = os.fspath(path)
    with av.open(path, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    return path


def make_audio_only_file(path: str | os.PathLike, seconds: float = 0.5, sample_rate: int = 8000) -> str:
    """Writes a WAV file (a container with an audio stream and no video stream)."""
    path = os.fspath(path)
    samples = np.zeros((1, int(seconds * sample_rate)), dtype=np.int16)
    with av.open(path, mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _block(bit: int, width: int, height: int) -> tuple[slice, slice]:
    row, col = divmod(bit, BITS_COLS)
    bh, bw = height // BITS_ROWS, width // BITS_COLS
    return slice(row * bh, (row + 1) * bh), slice(col * bw, (col + 1) * bw)
