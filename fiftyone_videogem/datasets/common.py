"""Shared machinery of the benchmark importers.

Each importer reads its benchmark's annotation files into a list of
:class:`VideoAnnotations` (one per video, each holding
:class:`FrameAnnotation` records with a time or a frame number, a box and an
action) and hands them to :func:`build_dataset`, which

* finds the video files (``<video_id>.mp4|.mkv|.webm|.avi`` anywhere below
  ``videos_dir``, searched once),
* probes each video with :func:`fiftyone_videogem.video.probe` for its size
  as shown (display rotation applied) and reads its frames' own timestamps
  with :func:`fiftyone_videogem.video.read_frame_times`, which also tells a
  truncated file apart,
* turns annotation times into 1-based frame numbers through those timestamps
  (the frame on screen at that time, right for variable frame rates too),
* normalises, clips and validates the boxes, and
* writes one FiftyOne video sample per video with frame-level
  :class:`fiftyone.core.labels.Detections` ground truth.

Everything that could not be imported is counted in an :class:`ImportReport`
instead of raising: missing, unreadable and damaged videos, malformed
annotation entries, annotations past a video's end, boxes that are empty
after clipping. A dataset is marked complete (``dataset.info["import_status"]``)
only once everything is written, so an interrupted import is rebuilt by the
next call instead of being reused.
"""

from __future__ import annotations

import collections
import collections.abc
import csv
import dataclasses
import json
import logging
import math
import mimetypes
import os
import pickle
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import fiftyone as fo

from fiftyone_videogem.fields import strip_frames
from fiftyone_videogem.video import (
    DamagedVideoError,
    FrameTimes,
    VideoError,
    VideoInfo,
    probe,
    read_frame_times,
    seconds_to_frame_number,
)

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")
"""Video file extensions the importers look for, in order of preference."""

DEFAULT_GT_FIELD = "gt"
ACTION_FIELD = "action"
ACTIONS_FIELD = "actions"
PROMPT_PARSER_FIELD = "prompt_parser"
VIDEO_ID_FIELD = "video_id"
REPORT_INFO_KEY = "import_report"
STATUS_INFO_KEY = "import_status"
"""``dataset.info`` key: ``"importing"`` while an importer writes the dataset, ``"complete"`` after."""

# frame and sample fields every imported dataset has (FiftyOne's own and the importers')
BUILTIN_FRAME_FIELDS = ("id", "frame_number", "created_at", "last_modified_at")
BUILTIN_SAMPLE_FIELDS = ("id", "filepath", "tags", "metadata", "created_at", "last_modified_at", "frames")
"""Sample fields FiftyOne keeps on every video sample."""
COMMON_FRAME_FIELDS = (ACTION_FIELD,)
"""Frame fields :func:`build_dataset` writes besides the ground truth."""
COMMON_SAMPLE_FIELDS = (VIDEO_ID_FIELD, ACTION_FIELD, ACTIONS_FIELD, PROMPT_PARSER_FIELD)
"""Sample fields :func:`build_dataset` writes."""

# annotation times within this many seconds of a video's end count as past it
_TIME_EPS = 1e-6


@dataclass
class ImportReport:
    """What an importer did, and what it could not import.

    Stored as a dict in ``dataset.info["import_report"]``.

    Attributes:
        benchmark: the benchmark's short name (``"groundingyoutube"``, ...)
        dataset_name: the FiftyOne dataset's name
        annotations: the annotation file(s) that were read
        videos_dir: the folder searched for videos
        settings: the importer options that change the result
        videos_annotated: videos with annotations (after any ``video_ids``
            filter)
        videos_imported: videos written to the dataset
        frames_imported: annotated frames written to the dataset
        boxes_read: ground-truth boxes of the videos that were processed
        boxes_imported: ground-truth boxes written to the dataset
        boxes_clipped: boxes that extended past the frame and were clipped
            to it (they are imported)
        boxes_dropped: boxes that were empty after clipping (degenerate or
            entirely outside the frame) and were dropped
        annotations_past_end: boxes dropped because their time is after the
            end of the video
        annotations_before_start: boxes dropped because their time is
            negative (for example after a ``second_offset``)
        annotations_unusable: boxes dropped for another reason (malformed
            entries, no prompt for the frame, ...); see ``notes``
        frames_with_several_actions: frames whose ground truth carries more
            than one action label; the frame's ``action`` field holds the
            first one
        missing_videos: ids of annotated videos with no file in
            ``videos_dir``
        unreadable_videos: ``{video_id: error message}`` for files that could
            not be probed
        damaged_videos: ``{video_id: what is wrong}`` for files that open but
            are truncated or damaged (their data ends before what their header
            announces); they are not imported: download them again
        malformed_entries: ``"<file>: <entry>: <problem>"`` for each entry of
            the annotation files that could not be read; the rest is imported
        variable_frame_rate_videos: videos whose frames are not evenly spaced
            in time; their annotations are placed through the frames' own
            timestamps
        rotated_videos: ``{video_id: degrees}`` for videos shown turned (a
            display rotation in the container, as phones write); frames,
            sizes and boxes are those of the video as shown
        past_end: ``{video_id: {"times": [...], "duration": d}}`` for the
            annotations past a video's end
        size_mismatches: ``{video_id: {"annotation_size": [w, h],
            "video_size": [w, h]}}`` where the annotations' pixel space and
            the video file have different aspect ratios (boxes are still
            normalised by the annotations' size)
        details: benchmark-specific counters
        notes: human-readable remarks
    """

    benchmark: str
    dataset_name: str
    annotations: list[str]
    videos_dir: str
    settings: dict[str, Any] = field(default_factory=dict)
    videos_annotated: int = 0
    videos_imported: int = 0
    frames_imported: int = 0
    boxes_read: int = 0
    boxes_imported: int = 0
    boxes_clipped: int = 0
    boxes_dropped: int = 0
    annotations_past_end: int = 0
    annotations_before_start: int = 0
    annotations_unusable: int = 0
    frames_with_several_actions: int = 0
    missing_videos: list[str] = field(default_factory=list)
    unreadable_videos: dict[str, str] = field(default_factory=dict)
    damaged_videos: dict[str, str] = field(default_factory=dict)
    malformed_entries: list[str] = field(default_factory=list)
    variable_frame_rate_videos: list[str] = field(default_factory=list)
    rotated_videos: dict[str, int] = field(default_factory=dict)
    past_end: dict[str, dict[str, Any]] = field(default_factory=dict)
    size_mismatches: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Returns the report as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ImportReport":
        """Rebuilds a report from :meth:`to_dict` output (unknown keys are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def summary(self) -> str:
        """A one-paragraph summary for logs."""
        parts = [
            f"{self.benchmark}: imported {self.videos_imported} of {self.videos_annotated} annotated videos "
            f"into dataset '{self.dataset_name}', {self.frames_imported} frames, "
            f"{self.boxes_imported} of {self.boxes_read} boxes",
        ]
        if self.missing_videos:
            parts.append(f"{len(self.missing_videos)} videos missing from '{self.videos_dir}'")
        if self.unreadable_videos:
            parts.append(f"{len(self.unreadable_videos)} videos unreadable")
        if self.damaged_videos:
            parts.append(f"{len(self.damaged_videos)} videos damaged (truncated), download them again")
        if self.malformed_entries:
            parts.append(f"{len(self.malformed_entries)} malformed annotation entries skipped")
        if self.variable_frame_rate_videos:
            parts.append(f"{len(self.variable_frame_rate_videos)} videos with a variable frame rate")
        if self.rotated_videos:
            parts.append(f"{len(self.rotated_videos)} videos with a display rotation")
        if self.boxes_clipped:
            parts.append(f"{self.boxes_clipped} boxes clipped to the frame")
        if self.boxes_dropped:
            parts.append(f"{self.boxes_dropped} boxes dropped as empty after clipping")
        if self.annotations_past_end:
            parts.append(f"{self.annotations_past_end} boxes past the video's end dropped")
        if self.annotations_before_start:
            parts.append(f"{self.annotations_before_start} boxes before the video's start dropped")
        if self.annotations_unusable:
            parts.append(f"{self.annotations_unusable} unusable annotations dropped")
        if self.size_mismatches:
            parts.append(f"{len(self.size_mismatches)} videos with a different aspect ratio than annotated")
        return "; ".join(parts)


@dataclass
class FrameAnnotation:
    """One ground-truth box of a benchmark, before it is placed in a video.

    Give either ``time`` (seconds from the start of the video) or
    ``frame_number`` (1-based, in the video's own frames).

    Attributes:
        box: ``[x1, y1, x2, y2]`` in the pixel space ``box_size``
        action: the action text (the prompt) of this box
        box_size: ``(width, height)`` of the space ``box`` is expressed in;
            ``(1, 1)`` for normalised boxes; ``None`` to use the video's own
            size (known after probing)
        time: seconds from the start of the video
        frame_number: 1-based frame number, used when ``time`` is None
        attributes: extra attributes for the ground-truth detection
        frame_fields: extra frame-level fields to set on the frame
        parts: extra boxes for the ``parts`` field, as ``(label, box)`` in the
            same space as ``box``
    """

    box: Sequence[float]
    action: str
    box_size: tuple[float, float] | None = None
    time: float | None = None
    frame_number: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    frame_fields: dict[str, Any] = field(default_factory=dict)
    parts: list[tuple[str, Sequence[float]]] = field(default_factory=list)


@dataclass
class VideoAnnotations:
    """All annotations of one video.

    Attributes:
        video_id: the benchmark's id of the video (the video file's stem)
        frames: its boxes
        action: the sample-level prompt; defaults to the most frequent action
        sample_fields: extra sample-level fields
        temporal: ``(label, first_time, last_time)`` action instances,
            stored as ``TemporalDetections`` when the importer asks for them
        box_size_resolver: optional callable ``(VideoInfo) -> (w, h) | None``
            that picks the annotations' pixel space once the video is probed;
            it overrides each frame's ``box_size``
        temporal_resolver: optional callable ``(VideoInfo) -> {field: [(label,
            first_time, last_time), ...]}`` giving further sample-level
            ``TemporalDetections`` fields once the video's duration is known
            (such as the background between the action instances); times map
            to frames as ``temporal``'s do
    """

    video_id: str
    frames: list[FrameAnnotation] = field(default_factory=list)
    action: str | None = None
    sample_fields: dict[str, Any] = field(default_factory=dict)
    temporal: list[tuple[str, float, float]] = field(default_factory=list)
    box_size_resolver: Any = None
    temporal_resolver: Any = None


def index_videos(videos_dir: str | os.PathLike, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> dict[str, str]:
    """Maps video ids (file stems) to paths for all videos below a folder.

    The folder is walked once, recursively, following links to folders;
    a folder reached again (a link loop, or two links to one folder) is
    walked only once. When several files share a stem, the extension earlier
    in ``extensions`` wins, then the shorter path.

    Args:
        videos_dir: the folder to search
        extensions: accepted extensions (lower case, with the dot)

    Returns:
        ``{stem: absolute path}``

    Raises:
        NotADirectoryError: if ``videos_dir`` is not a folder
    """
    videos_dir = os.path.abspath(os.fspath(videos_dir))
    if not os.path.isdir(videos_dir):
        raise NotADirectoryError(
            f"videos folder '{videos_dir}' does not exist or is not a folder; pass the folder that holds "
            "the downloaded videos (named <video_id>.mp4/.mkv/.webm/.avi)"
        )
    rank = {ext: i for i, ext in enumerate(extensions)}
    found: dict[str, tuple[int, int, str]] = {}
    visited: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(videos_dir, followlinks=True):
        try:
            stat = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (stat.st_dev, stat.st_ino) in visited:
            dirs[:] = []
            continue
        visited.add((stat.st_dev, stat.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            stem, ext = os.path.splitext(name)
            ext = ext.lower()
            if ext not in rank:
                continue
            path = os.path.join(root, name)
            key = (rank[ext], len(path), path)
            if stem not in found or key < found[stem]:
                found[stem] = key
    return {stem: key[2] for stem, key in found.items()}


def frame_number_to_time(frame_number: int, frame_rate: float) -> float:
    """The start time in seconds of 1-based frame ``frame_number``."""
    return (frame_number - 1) / frame_rate


@dataclass
class BoxResult:
    """A box converted to FiftyOne's normalised ``[x, y, w, h]``.

    Attributes:
        bounding_box: ``[x, y, w, h]`` in ``[0, 1]``, or None when the box
            is empty after clipping
        clipped: whether the box extended past the frame and was clipped
    """

    bounding_box: list[float] | None
    clipped: bool


def normalize_box(box: Sequence[float], size: tuple[float, float]) -> BoxResult:
    """Converts a pixel box ``[x1, y1, x2, y2]`` to a clipped normalised ``[x, y, w, h]``.

    The box is divided by ``size = (width, height)`` and clipped to
    ``[0, 1]``. A box with any coordinate outside the frame counts as
    clipped. A box with zero or negative width or height after clipping
    (degenerate, or entirely outside the frame) gives ``bounding_box=None``.

    Args:
        box: ``[x1, y1, x2, y2]`` in the pixel space ``size``
        size: ``(width, height)``; ``(1, 1)`` for boxes already normalised

    Returns:
        a :class:`BoxResult`
    """
    width, height = float(size[0]), float(size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"box space must have a positive size, got {size}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return BoxResult(None, False)
    nx1, ny1, nx2, ny2 = x1 / width, y1 / height, x2 / width, y2 / height
    clipped = min(nx1, ny1, nx2, ny2) < 0.0 or max(nx1, nx2) > 1.0 or max(ny1, ny2) > 1.0
    cx1, cy1 = min(max(nx1, 0.0), 1.0), min(max(ny1, 0.0), 1.0)
    cx2, cy2 = min(max(nx2, 0.0), 1.0), min(max(ny2, 0.0), 1.0)
    if cx2 <= cx1 or cy2 <= cy1:
        return BoxResult(None, clipped)
    return BoxResult([cx1, cy1, cx2 - cx1, cy2 - cy1], clipped)


def enclosing_box(boxes: Iterable[Sequence[float]]) -> list[float]:
    """The smallest ``[x1, y1, x2, y2]`` rectangle that contains all ``boxes``."""
    boxes = [list(map(float, b)) for b in boxes]
    if not boxes:
        raise ValueError("enclosing_box needs at least one box")
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def most_common(values: Iterable[str]) -> str | None:
    """The most frequent value, ties going to the first seen; None if empty."""
    counts: collections.Counter[str] = collections.Counter()
    order: dict[str, int] = {}
    for v in values:
        counts[v] += 1
        order.setdefault(v, len(order))
    if not counts:
        return None
    return max(counts, key=lambda v: (counts[v], -order[v]))


def ordered_unique(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order."""
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


# globals a benchmark pickle may reference: containers and numpy arrays, nothing that runs code
_PICKLE_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _AnnotationUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("__builtin__", "set"):
            return set
        if (module, name) == ("__builtin__", "frozenset"):
            return frozenset
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"annotation pickle references {module}.{name}, which an annotation file does not need; "
            "refusing to load it (is this the right file?)"
        )


def load_annotation_pickle(path: str | os.PathLike, encoding: str = "ASCII") -> Any:
    """Loads a benchmark annotation pickle, allowing only plain containers and numpy arrays.

    Args:
        path: the pickle file
        encoding: how Python 2 byte strings are decoded (``"latin1"`` for
            DALY's pickle)

    Raises:
        pickle.UnpicklingError: naming the file, if the pickle references anything else or cannot
            be read (truncated, damaged, not a pickle)
    """
    with open(path, "rb") as f:
        try:
            return _AnnotationUnpickler(f, encoding=encoding).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
                UnicodeDecodeError) as e:
            raise pickle.UnpicklingError(
                f"'{os.fspath(path)}' is not a readable annotation pickle ({type(e).__name__}: {e}); the file is "
                "damaged or of another kind: download it again"
            ) from e


def reuse_or_prepare(name: str, overwrite: bool, benchmark: str | None = None) -> fo.Dataset | None:
    """Returns the existing import ``name`` to reuse, or None after deleting one that must be re-imported.

    Only datasets an importer made are reused or deleted:

    * a complete import is reused, unless ``overwrite`` is True or it has
      no samples (an earlier import that found no videos);
    * an import that did not finish (interrupted, or failed part-way) is
      deleted, with a warning, so that it is imported again;
    * any other dataset of that name raises, ``overwrite`` or not.

    Args:
        name: the dataset name
        overwrite: whether to delete and re-import a complete import
        benchmark: the benchmark being imported (None: any); a complete
            import of another benchmark under that name raises

    Raises:
        ValueError: if a dataset ``name`` exists that no importer made, or
            that holds another benchmark
    """
    if not fo.dataset_exists(name):
        return None
    dataset = fo.load_dataset(name)
    info = dataset.info or {}
    status = info.get(STATUS_INFO_KEY)
    if status == "importing":
        logger.warning("dataset '%s' is an import that did not finish; deleting it and importing again", name)
        fo.delete_dataset(name)
        return None
    if status != "complete" and REPORT_INFO_KEY not in info:
        raise ValueError(
            f"a dataset named '{name}' exists and was not made by an importer; importers never reuse, replace "
            "or delete a dataset they did not make (overwrite=True included). Pass another name, or delete it "
            f"yourself (fo.delete_dataset({name!r}))"
        )
    made_for = info.get("benchmark")
    if benchmark is not None and made_for is not None and made_for != benchmark:
        raise ValueError(
            f"dataset '{name}' holds an import of {made_for}, not {benchmark}; pass another name for the "
            f"{benchmark} import"
        )
    if overwrite:
        logger.info("deleting existing dataset '%s' to re-import it", name)
        fo.delete_dataset(name)
        return None
    if len(dataset) == 0:
        # an import that found no videos; the videos may have been downloaded since
        logger.info("dataset '%s' exists but is empty; importing again", name)
        fo.delete_dataset(name)
        return None
    logger.info(
        "dataset '%s' already exists (%d samples); reusing it. Pass overwrite=True to re-import", name, len(dataset)
    )
    return dataset


def start_import(name: str, benchmark: str, persistent: bool = True) -> fo.Dataset:
    """Creates the video dataset an importer writes into, marked as an import in progress.

    Pair it with :func:`finish_import`; until that runs, :func:`reuse_or_prepare`
    treats the dataset as unfinished and rebuilds it.

    Args:
        name: the dataset name (must not exist)
        benchmark: the benchmark's short name
        persistent: whether the dataset outlives the process (True)
    """
    dataset = fo.Dataset(name, persistent=persistent)
    dataset.media_type = "video"
    dataset.info[STATUS_INFO_KEY] = "importing"
    dataset.info["benchmark"] = benchmark
    dataset.save()
    return dataset


def finish_import(dataset: fo.Dataset, report: ImportReport) -> None:
    """Stores the import report and marks the dataset complete (the last write of an import)."""
    dataset.info[REPORT_INFO_KEY] = report.to_dict()
    dataset.info["benchmark"] = report.benchmark
    dataset.info[STATUS_INFO_KEY] = "complete"
    dataset.save()


def _field_name(value: Any, role: str) -> str:
    if not isinstance(value, str) or not strip_frames(value).strip():
        raise ValueError(f"{role} must be a field name such as 'gt', got {value!r}")
    name = strip_frames(value)
    if "." in name or name.startswith("_") or name != name.strip():
        raise ValueError(
            f"{role} {value!r} is not a usable field name: use letters, digits and underscores, not starting "
            "with an underscore (a 'frames.' prefix is allowed)"
        )
    return name


def check_output_fields(
    gt_field: Any,
    frame_fields: Iterable[str] = (),
    parts_field: Any = None,
    temporal_field: Any = None,
    sample_fields: Iterable[str] = (),
) -> tuple[str, str | None, str | None]:
    """Validates the field names an importer is asked to write, before anything is read or written.

    ``gt_field`` and ``parts_field`` are frame fields: ``"frames.gt"`` is
    accepted and means ``"gt"``. Each must differ from FiftyOne's own fields,
    from the other frame fields the importer writes (``action`` and the
    benchmark's ``frame_fields``) and from each other; ``temporal_field`` is
    a sample field and must differ from the sample fields written.

    Args:
        gt_field: the ground-truth frame field
        frame_fields: the other frame fields the importer writes
        parts_field: the component-box frame field, or None
        temporal_field: the sample field for action instances, or None
        sample_fields: the other sample fields the importer writes

    Returns:
        ``(gt_field, parts_field, temporal_field)`` normalised

    Raises:
        ValueError: naming the field, what it collides with and what to do
    """
    taken_frame = {f: "a field FiftyOne keeps on every frame" for f in BUILTIN_FRAME_FIELDS}
    taken_frame.update({f: "a frame field this importer writes" for f in (*COMMON_FRAME_FIELDS, *frame_fields)})
    gt = _field_name(gt_field, "gt_field")
    if gt in taken_frame:
        raise ValueError(
            f"gt_field={gt_field!r} collides with '{gt}', {taken_frame[gt]}: the ground truth would replace it "
            f"or be replaced by it. Pick another name (frame fields written: {sorted(taken_frame)})"
        )
    parts = None
    if parts_field is not None:
        parts = _field_name(parts_field, "parts_field")
        if parts in taken_frame or parts == gt:
            what = "gt_field" if parts == gt else taken_frame[parts]
            raise ValueError(f"parts_field={parts_field!r} collides with '{parts}', {what}; pick another name")
    temporal = None
    if temporal_field is not None:
        if isinstance(temporal_field, str) and temporal_field.startswith("frames."):
            raise ValueError(
                f"temporal_field={temporal_field!r} names a frame field; action instances are a sample field, "
                "pass a name without 'frames.'"
            )
        temporal = _field_name(temporal_field, "temporal_field")
        taken_sample = {*BUILTIN_SAMPLE_FIELDS, *COMMON_SAMPLE_FIELDS, *sample_fields}
        if temporal in taken_sample:
            raise ValueError(
                f"temporal_field={temporal_field!r} collides with the sample field '{temporal}' that FiftyOne or "
                f"this importer writes; pick another name (sample fields written: {sorted(taken_sample)})"
            )
    return gt, parts, temporal


def as_id_list(value: Any, role: str = "video_ids") -> list[str] | None:
    """A list of ids from a list, another iterable or a single string (one id); None stays None.

    Raises:
        TypeError: if ``value`` is neither a string nor an iterable of
            strings or numbers
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, bytearray, dict)) or not isinstance(value, collections.abc.Iterable):
        raise TypeError(f"{role} must be a list of ids (or one id as a string), got {type(value).__name__} {value!r}")
    ids = list(value)
    bad = [v for v in ids if not isinstance(v, (str, int)) or isinstance(v, bool)]
    if bad:
        raise TypeError(f"{role} must hold ids as strings, got {bad[:3]!r}")
    return [str(v) for v in ids]


class Malformed:
    """Collects the entries of annotation files that could not be read, naming file and entry.

    Readers call :meth:`add` and go on with the next entry; the importer
    stores :attr:`entries` in the report's ``malformed_entries``.
    """

    def __init__(self) -> None:
        self.entries: list[str] = []

    def add(self, path: str | os.PathLike, entry: str, problem: str) -> None:
        """Records that ``entry`` of file ``path`` was skipped because of ``problem``."""
        message = f"{os.fspath(path)}: {entry}: {problem}"
        self.entries.append(message)
        logger.warning("skipped a malformed annotation entry: %s", message)


def note(malformed: Malformed | None, path: str | os.PathLike, entry: str, problem: str) -> None:
    """:meth:`Malformed.add` when a collector is given, else a logged warning."""
    if malformed is not None:
        malformed.add(path, entry, problem)
    else:
        logger.warning("'%s': %s: %s; skipped", os.fspath(path), entry, problem)


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parses a JSON annotation file, naming the file and the position of a syntax error.

    Args:
        path: the file
        what: what the file should be, for the message (``"the GroundingYouTube boxes"``)

    Raises:
        ValueError: if the file is not valid JSON
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"'{os.fspath(path)}' is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); it should be "
            f"{what}. Download it again or fix it there"
        ) from e
    except UnicodeDecodeError as e:
        raise ValueError(f"'{os.fspath(path)}' is not a UTF-8 text file ({e}); it should be {what}") from e


def read_csv_rows(path: str | os.PathLike, what: str) -> list[tuple[int, dict[str, str]]]:
    """Reads a CSV annotation file as ``(line number, row)`` pairs, naming the file on a syntax error."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return [(reader.line_num, row) for row in reader]
    except (csv.Error, UnicodeDecodeError) as e:
        raise ValueError(f"'{os.fspath(path)}' is not a readable CSV file ({e}); it should be {what}") from e


@dataclass
class BuildOptions:
    """How :func:`build_dataset` writes the dataset.

    Args:
        name: the dataset name
        benchmark: the benchmark's short name, also the sample tag
        prompt_parser: the value of the sample field ``prompt_parser``
        gt_field: the frame field for the ground truth (``"gt"``)
        parts_field: the frame field for component boxes (V-HICO), or None
        temporal_field: the sample field for action instances, or None
        max_videos: import at most this many videos (None: all)
        persistent: whether the dataset outlives the process (True)
        check_aspect_ratio: report videos whose aspect ratio differs from the
            annotations' pixel space by more than 2% (True)
    """

    name: str
    benchmark: str
    prompt_parser: str
    gt_field: str = DEFAULT_GT_FIELD
    parts_field: str | None = None
    temporal_field: str | None = None
    max_videos: int | None = None
    persistent: bool = True
    check_aspect_ratio: bool = True


def filter_video_ids(
    video_ids_in_order: Sequence[str], video_ids: Iterable[str] | None, report: ImportReport
) -> list[str]:
    """Keeps the annotated ids listed in ``video_ids`` (all when None; one string is one id), noting unknown ids."""
    video_ids = as_id_list(video_ids)
    if video_ids is None:
        return list(video_ids_in_order)
    wanted = [_strip_video_ext(v) for v in video_ids]
    known = set(video_ids_in_order)
    unknown = [v for v in wanted if v not in known]
    if unknown:
        report.notes.append(
            f"{len(unknown)} requested video ids have no annotations and were ignored: {unknown[:10]}"
        )
    wanted_set = set(wanted)
    return [v for v in video_ids_in_order if v in wanted_set]


def _strip_video_ext(video_id: str) -> str:
    stem, ext = os.path.splitext(video_id)
    return stem if ext.lower() in VIDEO_EXTENSIONS else video_id


def build_dataset(
    videos: Sequence[VideoAnnotations],
    videos_dir: str | os.PathLike,
    options: BuildOptions,
    report: ImportReport,
) -> fo.Dataset:
    """Writes annotated videos into a new FiftyOne dataset.

    Args:
        videos: the annotations, one entry per video, in import order
        videos_dir: the folder with the video files
        options: a :class:`BuildOptions`
        report: the report to fill; it is also stored in
            ``dataset.info["import_report"]``

    Returns:
        the new dataset, marked complete (:func:`finish_import`) only after
        everything was written
    """
    index = index_videos(videos_dir)
    report.videos_dir = os.path.abspath(os.fspath(videos_dir))
    report.videos_annotated = len(videos)

    available: list[tuple[VideoAnnotations, str]] = []
    for video in videos:
        path = index.get(video.video_id)
        if path is None:
            report.missing_videos.append(video.video_id)
        else:
            available.append((video, path))

    samples: list[fo.Sample] = []
    for video, path in available:
        if options.max_videos is not None and len(samples) >= options.max_videos:
            break
        read = read_video_timing(video.video_id, path, report)
        if read is None:
            continue
        info, times = read
        sample = _make_sample(video, path, info, options, report, times)
        if sample is not None:
            samples.append(sample)

    dataset = write_samples(options.name, options.benchmark, samples, report, persistent=options.persistent)
    dataset.add_dynamic_frame_fields()
    finish_import(dataset, report)
    bad = report.missing_videos or report.unreadable_videos or report.damaged_videos or report.malformed_entries
    logger.log(logging.WARNING if bad else logging.INFO, "%s", report.summary())
    return dataset


def write_samples(
    name: str, benchmark: str, samples: Sequence[fo.Sample], report: ImportReport, persistent: bool = True
) -> fo.Dataset:
    """Creates the import's dataset (:func:`start_import`) and adds the samples.

    The report notes when no video was imported and when some videos have a variable frame rate.
    Call :func:`finish_import` once everything else is written.
    """
    dataset = start_import(name, benchmark, persistent=persistent)
    if samples:
        dataset.add_samples(samples, progress=False)
    else:
        report.notes.append(
            f"no video was imported; download the videos into '{report.videos_dir}' and import again "
            "(an empty dataset is re-imported automatically)"
        )
    report.videos_imported = len(samples)
    if report.variable_frame_rate_videos:
        report.notes.append(
            f"{len(report.variable_frame_rate_videos)} videos have a variable frame rate; their annotations were "
            "placed on the frames shown at their times, but the App steps through them at the average rate. "
            "Re-encode them at a constant rate (e.g. `ffmpeg -i in -fps_mode cfr out.mp4`) to browse them exactly"
        )
    return dataset


def read_video_timing(video_id: str, path: str, report: ImportReport) -> tuple[VideoInfo, FrameTimes] | None:
    """Probes a video and reads its frame timestamps, recording problems in ``report``.

    Returns:
        ``(info, times)`` where ``info`` counts the frames that really hold
        data; None when the video is unreadable or damaged (recorded in
        ``report.unreadable_videos`` / ``report.damaged_videos``)
    """
    try:
        info = probe(path)
        times = read_frame_times(path)
    except DamagedVideoError as e:
        report.damaged_videos[video_id] = str(e)
        logger.warning("skipping video '%s': %s", video_id, e)
        return None
    except VideoError as e:
        report.unreadable_videos[video_id] = str(e)
        logger.warning("skipping video '%s': %s", video_id, e)
        return None
    if info.frame_rate <= 0 and times.frame_rate <= 0:
        report.unreadable_videos[video_id] = f"video '{path}' has no frame rate"
        return None
    variable = times.is_variable()
    if variable:
        report.variable_frame_rate_videos.append(video_id)
    if info.rotation:
        report.rotated_videos[video_id] = info.rotation
    info = dataclasses.replace(
        info,
        num_frames=times.num_frames,
        duration=times.end,
        frame_rate=times.frame_rate if variable or info.frame_rate <= 0 else info.frame_rate,
    )
    return info, times


def temporal_support(start: float, end: float, info: VideoInfo, times: FrameTimes) -> tuple[int, int, bool] | None:
    """Inclusive 1-based ``(first, last, clipped)`` frame numbers of ``[start, end]`` seconds in a video.

    ``first`` and ``last`` are the frames on screen at ``start`` and ``end`` (a negative start is
    the first frame); an end after the video's last frame is clipped to it (``clipped`` True).
    None when the interval lies entirely before the start or after the end of the video.
    """
    if end < 0 or start >= info.duration - _TIME_EPS:
        return None
    clipped = end > info.duration + _TIME_EPS
    first = times.frame_number(max(start, 0.0))
    last = times.frame_number(min(end, info.duration - _TIME_EPS))
    return first, max(first, last), clipped


def temporal_detections(
    video_id: str,
    instances: Iterable[tuple[str, float, float, dict[str, Any]]],
    info: VideoInfo,
    times: FrameTimes,
    report: ImportReport,
) -> tuple[list[fo.TemporalDetection], int]:
    """Annotated ``(label, start_s, end_s, attributes)`` intervals of one video as ``TemporalDetection`` items.

    Each keeps its times as ``start_time`` / ``end_time`` and ``clipped`` (its end was past the video's
    last frame), plus ``attributes``. Intervals wholly before the start or after the end are counted in
    ``report`` (``annotations_before_start``, ``annotations_past_end``, ``past_end``) and left out.

    Returns:
        the detections in the order given, and how many of them were clipped
    """
    detections: list[fo.TemporalDetection] = []
    past_end: list[float] = []
    clipped_count = 0
    for label, start, end, attributes in instances:
        support = temporal_support(start, end, info, times)
        if support is None:
            if end < 0:
                report.annotations_before_start += 1
            else:
                report.annotations_past_end += 1
                past_end.append(start)
            continue
        first, last, clipped = support
        clipped_count += int(clipped)
        detections.append(fo.TemporalDetection(label=label, support=[first, last], start_time=start, end_time=end,
                                               clipped=clipped, **attributes))
    if past_end:
        report.past_end[video_id] = {"times": past_end, "duration": info.duration}
    return detections, clipped_count


def temporal_samples(
    video_ids: Sequence[str],
    videos_dir: str | os.PathLike,
    max_videos: int | None,
    report: ImportReport,
    make_sample: Callable[[str, str, VideoInfo, FrameTimes], fo.Sample | None],
) -> list[fo.Sample]:
    """The samples of the annotated videos found in ``videos_dir``, for importers without boxes.

    Videos absent from the folder, unreadable or without frames are recorded in ``report`` and
    skipped; ``make_sample(video_id, path, info, times)`` builds the sample of each other video (None:
    not imported), until ``max_videos`` samples exist.
    """
    index = index_videos(videos_dir)
    samples: list[fo.Sample] = []
    for video_id in video_ids:
        if max_videos is not None and len(samples) >= max_videos:
            break
        path = index.get(video_id)
        if path is None:
            report.missing_videos.append(video_id)
            continue
        timing = read_video_timing(video_id, path, report)
        if timing is None:
            continue
        info, times = timing
        if times.num_frames < 1:
            report.unreadable_videos[video_id] = f"video '{path}' has no frames"
            continue
        sample = make_sample(video_id, path, info, times)
        if sample is not None:
            samples.append(sample)
    return samples


def video_metadata(path: str, info: VideoInfo) -> fo.VideoMetadata:
    """FiftyOne video metadata from a probed video (no second read of the file)."""
    return fo.VideoMetadata(
        size_bytes=os.path.getsize(path),
        mime_type=mimetypes.guess_type(path)[0] or "video/mp4",
        frame_width=info.width,
        frame_height=info.height,
        frame_rate=info.frame_rate,
        total_frame_count=info.num_frames,
        duration=info.duration,
    )


def _make_sample(
    video: VideoAnnotations,
    path: str,
    info: VideoInfo,
    options: BuildOptions,
    report: ImportReport,
    times: FrameTimes | None = None,
) -> fo.Sample | None:
    resolved_size = video.box_size_resolver(info) if video.box_size_resolver is not None else None
    video_size = (info.width, info.height)
    frames: dict[int, dict[str, Any]] = {}
    past_end_times: list[float] = []
    mismatch_checked = False

    for ann in video.frames:
        report.boxes_read += 1
        time = ann.time
        if time is not None:
            if time < 0:
                report.annotations_before_start += 1
                continue
            if time >= info.duration - _TIME_EPS:
                report.annotations_past_end += 1
                past_end_times.append(float(time))
                continue
            frame_number = _frame_at(time, info, times)
        else:
            frame_number = int(ann.frame_number) if ann.frame_number is not None else 0
            if frame_number < 1:
                report.annotations_before_start += 1
                continue
            if frame_number > info.num_frames:
                report.annotations_past_end += 1
                past_end_times.append(frame_number_to_time(frame_number, info.frame_rate))
                continue

        box_size = resolved_size or ann.box_size or video_size
        if options.check_aspect_ratio and not mismatch_checked and tuple(box_size) != (1, 1):
            mismatch_checked = True
            _check_aspect(video.video_id, box_size, video_size, report)
        result = normalize_box(ann.box, box_size)
        if result.clipped:
            report.boxes_clipped += 1
        if result.bounding_box is None:
            report.boxes_dropped += 1
            continue

        detection = fo.Detection(label=ann.action, bounding_box=result.bounding_box, clipped=result.clipped)
        for key, value in ann.attributes.items():
            detection[key] = value
        parts = []
        for part_label, part_box in ann.parts:
            part = normalize_box(part_box, box_size)
            if part.bounding_box is not None:
                parts.append(fo.Detection(label=part_label, bounding_box=part.bounding_box, action=ann.action))

        entry = frames.setdefault(frame_number, {"detections": [], "parts": [], "actions": [], "fields": {}})
        entry["detections"].append(detection)
        entry["parts"].extend(parts)
        entry["actions"].append(ann.action)
        for key, value in ann.frame_fields.items():
            entry["fields"].setdefault(key, value)
        report.boxes_imported += 1

    if past_end_times:
        report.past_end[video.video_id] = {"times": past_end_times, "duration": info.duration}
    if not frames:
        report.notes.append(f"video '{video.video_id}' has no usable annotated frame and was not imported")
        return None

    sample = fo.Sample(filepath=path, tags=[options.benchmark])
    sample.metadata = video_metadata(path, info)
    actions_in_order = [a for fn in sorted(frames) for a in frames[fn]["actions"]]
    sample[VIDEO_ID_FIELD] = video.video_id
    sample[ACTION_FIELD] = video.action or most_common(actions_in_order)
    sample[ACTIONS_FIELD] = ordered_unique(actions_in_order)
    sample[PROMPT_PARSER_FIELD] = options.prompt_parser
    for key, value in video.sample_fields.items():
        sample[key] = value

    temporal = {options.temporal_field: video.temporal} if options.temporal_field and video.temporal else {}
    if video.temporal_resolver is not None:
        temporal.update(video.temporal_resolver(info))
    for name, instances in temporal.items():
        sample[name] = fo.TemporalDetections(detections=[
            fo.TemporalDetection(label=label, support=_support(start, end, info, times))
            for label, start, end in instances
        ])

    for frame_number in sorted(frames):
        entry = frames[frame_number]
        distinct = ordered_unique(entry["actions"])
        if len(distinct) > 1:
            report.frames_with_several_actions += 1
        frame = fo.Frame()
        frame[options.gt_field] = fo.Detections(detections=entry["detections"])
        frame[ACTION_FIELD] = distinct[0]
        if options.parts_field:
            frame[options.parts_field] = fo.Detections(detections=entry["parts"])
        for key, value in entry["fields"].items():
            frame[key] = value
        sample.frames[frame_number] = frame
        report.frames_imported += 1
    return sample


def _support(start: float, end: float, info: VideoInfo, times: FrameTimes | None) -> list[int]:
    """The inclusive frames ``[first, last]`` on screen from ``start`` to ``end`` seconds (within the video)."""
    first = _frame_at(min(max(start, 0.0), info.duration - _TIME_EPS), info, times)
    last = max(first, _frame_at(min(max(end, 0.0), info.duration - _TIME_EPS), info, times))
    return [first, last]


def _frame_at(time: float, info: VideoInfo, times: FrameTimes | None) -> int:
    """The frame on screen at ``time`` (within the video): by its timestamps, else by the frame rate."""
    if times is not None:
        return min(times.frame_number(max(time, 0.0)), info.num_frames)
    return max(1, min(seconds_to_frame_number(time, info.frame_rate), info.num_frames))


def _check_aspect(video_id: str, box_size: Sequence[float], video_size: tuple[int, int], report: ImportReport) -> None:
    annotated = float(box_size[0]) / float(box_size[1])
    actual = video_size[0] / video_size[1]
    if abs(annotated - actual) / actual > 0.02:
        report.size_mismatches[video_id] = {
            "annotation_size": [int(round(box_size[0])), int(round(box_size[1]))],
            "video_size": [int(video_size[0]), int(video_size[1])],
        }
