"""Importer for GroundingYouTube (Chen et al., "What, when, and where?", CVPR 2024).

The annotations are one box per second for 250 cooking videos:

* ``GoundingYouTubeBox.json`` (the published name, typo included):
  ``{youtube_id: {"<second>": {"box": [x1, y1, x2, y2], "step": "<verb object>"}}}``
* ``box_anno.json``: the same boxes as
  ``{youtube_id: [{"second", "box", "step_name"}]}``; read when the first
  file is absent
* ``id2wh.json``: ``{youtube_id: [width, height]}``, the pixel space of the
  boxes

The temporal ground truth (what WWW's spatio-temporal metrics score) is
derived from the box file: the maximal runs of consecutive seconds with the
same step, and the video's pool of phrases (its distinct steps). The authors'
code repository also has ``ground_seg.json`` (the step segments,
``{youtube_id: [{"segment": [first, last], "sentence": step}]}``, seconds
inclusive) and ``vid2step.json`` (the pools, ``{youtube_id: [step, ...,
"background"]}``); when a user has them, beside the box file or passed
explicitly, they are used instead.

Boxes are normalised by the ``id2wh.json`` size, not by the downloaded file's
size, so a video downloaded at another resolution (same aspect ratio) still
lines up. About 10% of the boxes reach past the frame (or are degenerate):
they are clipped to the frame, and those empty after clipping are dropped;
both are counted in the import report.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Callable, Iterable

import fiftyone as fo

from fiftyone_videogem.datasets.common import (
    BUILTIN_SAMPLE_FIELDS,
    COMMON_SAMPLE_FIELDS,
    DEFAULT_GT_FIELD,
    BuildOptions,
    FrameAnnotation,
    ImportReport,
    Malformed,
    VideoAnnotations,
    build_dataset,
    check_output_fields,
    filter_video_ids,
    note,
    ordered_unique,
    read_json,
    reuse_or_prepare,
)
from fiftyone_videogem.video import VideoInfo

logger = logging.getLogger(__name__)

BENCHMARK = "groundingyoutube"
DEFAULT_NAME = "videogem-groundingyoutube"
PROMPT_PARSER = "verb_object"

BOX_FILES = ("GoundingYouTubeBox.json", "GroundingYouTubeBox.json", "box_anno.json")
SIZE_FILE = "id2wh.json"
FRAME_FIELDS = ("second",)
"""Frame fields the importer writes besides ``gt_field`` and ``action``."""
GROUND_SEG_FILE = "ground_seg.json"
VID2STEP_FILE = "vid2step.json"
BACKGROUND = "background"
"""The label of background seconds (also the pseudo-step that ``vid2step.json`` lists in every pool)."""
DEFAULT_SEGMENTS_FIELD = "segments"
DEFAULT_POOL_FIELD = "pool"
DEFAULT_BACKGROUND_FIELD = "background"

DEFAULT_SECOND_OFFSET = 0.0
"""Annotation ``second`` s is placed at ``s + second_offset`` seconds.

The default 0.0 takes the annotation's second literally. The VideoGEM
evaluation read the image extracted at ``second - 1`` s for annotation
``second``; pass ``second_offset=-1.0`` to place the boxes there instead
(annotations at second 0 then fall before the start and are dropped).
"""


def load_groundingyoutube(
    annotations_dir: str | os.PathLike,
    videos_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = False,
    max_videos: int | None = None,
    video_ids: Iterable[str] | None = None,
    second_offset: float = DEFAULT_SECOND_OFFSET,
    gt_field: str = DEFAULT_GT_FIELD,
    persistent: bool = True,
    segments_field: str | None = DEFAULT_SEGMENTS_FIELD,
    pool_field: str | None = DEFAULT_POOL_FIELD,
    background_field: str | None = DEFAULT_BACKGROUND_FIELD,
    ground_seg: str | os.PathLike | None = None,
    vid2step: str | os.PathLike | None = None,
) -> fo.Dataset:
    """Builds a FiftyOne video dataset from the GroundingYouTube annotations.

    Each video becomes a sample tagged ``"groundingyoutube"`` with

    * frame field ``gt_field``: ``Detections`` with one box per annotated
      second, labelled with the step (``"crack eggs"``), attribute
      ``clipped``
    * frame fields ``action`` (the step, since it changes along the video)
      and ``second`` (the annotation's own second)
    * sample fields ``video_id``, ``action`` (the most frequent step),
      ``actions`` (all steps in order) and ``prompt_parser="verb_object"``
    * sample field ``segments_field``: ``TemporalDetections``, one per step
      segment (a maximal run of consecutive seconds with the same step, or
      a ``ground_seg.json`` segment); ``support`` holds the frames on
      screen at its first and last second
    * sample field ``pool_field``: the video's phrases (its distinct steps
      in order of appearance, or its ``vid2step.json`` pool without
      ``"background"``), the pool ``localize_actions(pool_field=...)``
      searches
    * sample field ``background_field``: ``TemporalDetections`` labelled
      ``"background"``, the maximal runs of the video's seconds that no step
      segment covers (seconds without a box are background, or steps whose
      point annotators disagreed on)

    Args:
        annotations_dir: the folder with ``GoundingYouTubeBox.json`` (or
            ``box_anno.json``) and ``id2wh.json``
        videos_dir: the folder with the downloaded videos, named
            ``<youtube_id>.mp4`` (or ``.mkv``, ``.webm``, ``.avi``), searched
            recursively
        name: the dataset name (``"videogem-groundingyoutube"``)
        overwrite: whether to delete and re-import an existing dataset of
            that name (False: the existing dataset is returned as is)
        max_videos: import at most this many videos (None: all found)
        video_ids: import only these YouTube ids (None: all; a string is
            one id)
        second_offset: seconds added to each annotation's second (0.0); see
            :data:`DEFAULT_SECOND_OFFSET`
        gt_field: the frame field for the ground truth (``"gt"``; a
            ``frames.`` prefix is accepted); it must differ from the other
            fields the importer writes (``action``, ``second``)
        persistent: whether the dataset is kept after the process exits
            (True)
        segments_field: the sample field of the step segments
            (``"segments"``; None: not written)
        pool_field: the sample field of each video's pool of phrases
            (``"pool"``; None: not written)
        background_field: the sample field of the background runs
            (``"background"``; None: not written)
        ground_seg: the authors' ``ground_seg.json`` (None: used when it lies
            beside the box file, else the segments come from the boxes)
        vid2step: the authors' ``vid2step.json`` (None: used when it lies
            beside the box file, else the pools come from the segments)

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the
        :class:`~fiftyone_videogem.datasets.common.ImportReport` as a dict
    """
    gt_field, _, _ = check_output_fields(gt_field, FRAME_FIELDS)
    _check_temporal_fields(segments_field=segments_field, pool_field=pool_field, background_field=background_field)
    name = name or DEFAULT_NAME
    existing = reuse_or_prepare(name, overwrite, BENCHMARK)
    if existing is not None:
        return existing

    annotations_dir = os.fspath(annotations_dir)
    box_path = _find_box_file(annotations_dir)
    size_path = os.path.join(annotations_dir, SIZE_FILE)
    malformed = Malformed()
    boxes = read_boxes(box_path, malformed)
    sizes = read_sizes(size_path, malformed) if os.path.isfile(size_path) else {}
    folder = os.path.dirname(box_path)
    ground_seg = _given_or_beside(ground_seg, folder, GROUND_SEG_FILE)
    vid2step = _given_or_beside(vid2step, folder, VID2STEP_FILE)
    segments_by_video = read_ground_segments(ground_seg, malformed) if ground_seg else None
    pools = read_step_pools(vid2step, malformed) if vid2step else None

    report = ImportReport(
        benchmark=BENCHMARK,
        dataset_name=name,
        annotations=[box_path] + ([size_path] if sizes else []) + [p for p in (ground_seg, vid2step) if p],
        videos_dir=os.fspath(videos_dir),
        settings={"second_offset": second_offset, "gt_field": gt_field, "max_videos": max_videos,
                  "segments_field": segments_field, "pool_field": pool_field, "background_field": background_field},
        malformed_entries=malformed.entries,
    )
    if not sizes:
        report.notes.append(
            f"'{size_path}' not found: boxes are normalised by each video file's own size, which is only "
            "right for videos downloaded at the annotated resolution"
        )

    videos = []
    no_size = []
    from_boxes: list[str] = []
    seconds: dict[str, list[tuple[str, int, int]]] = {}
    for video_id in filter_video_ids(list(boxes), video_ids, report):
        size = sizes.get(video_id)
        if size is None:
            no_size.append(video_id)
        frames = [
            FrameAnnotation(
                box=box,
                action=step,
                box_size=size,
                time=second + second_offset,
                frame_fields={"second": second},
            )
            for second, box, step in boxes[video_id]
        ]
        segments = step_runs(boxes[video_id])
        if segments_by_video is not None and video_id in segments_by_video:
            segments = segments_by_video[video_id]
        elif segments_by_video is not None:
            from_boxes.append(video_id)
        pool = pools.get(video_id) if pools is not None and video_id in pools else None
        if pool is None:
            pool = ordered_unique(label for label, _, _ in segments)
        seconds[video_id] = segments
        videos.append(VideoAnnotations(
            video_id=video_id, frames=frames,
            temporal=[(label, first + second_offset, last + second_offset) for label, first, last in segments],
            sample_fields={pool_field: pool} if pool_field else {},
            temporal_resolver=background_resolver(background_field, segments, second_offset) if background_field
            else None,
        ))
    if sizes and no_size:
        report.notes.append(
            f"{len(no_size)} videos have no size in '{SIZE_FILE}' and were normalised by the file's own size: "
            f"{no_size[:10]}"
        )

    if from_boxes:
        report.notes.append(
            f"{len(from_boxes)} videos have no segments in '{ground_seg}'; their segments come from the boxes: "
            f"{from_boxes[:10]}"
        )
    report.details["segments"] = sum(len(s) for s in seconds.values())
    report.details["segments_from"] = GROUND_SEG_FILE if ground_seg else "boxes"
    report.details["pools_from"] = VID2STEP_FILE if vid2step else "segments"

    options = BuildOptions(
        name=name,
        benchmark=BENCHMARK,
        prompt_parser=PROMPT_PARSER,
        gt_field=gt_field,
        temporal_field=segments_field,
        max_videos=max_videos,
        persistent=persistent,
    )
    return build_dataset(videos, videos_dir, options, report)


def _find_box_file(annotations_dir: str) -> str:
    if os.path.isfile(annotations_dir):
        return annotations_dir
    for filename in BOX_FILES:
        path = os.path.join(annotations_dir, filename)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"no GroundingYouTube box file ({', '.join(BOX_FILES)}) in '{annotations_dir}'; pass the folder that "
        "holds the published annotation files"
    )


def read_boxes(
    path: str | os.PathLike, malformed: Malformed | None = None
) -> dict[str, list[tuple[int, list[float], str]]]:
    """Reads a GroundingYouTube box file in either published layout.

    Args:
        path: ``GoundingYouTubeBox.json`` (dict per video keyed by second) or
            ``box_anno.json`` (list per video)
        malformed: collects the entries that cannot be read, naming the file,
            the video and the second (None: they are logged)

    Returns:
        ``{youtube_id: [(second, [x1, y1, x2, y2], step), ...]}`` sorted by
        second, in the file's video order

    Raises:
        ValueError: if the file is not JSON or not keyed by video id
    """
    data = read_json(path, "the GroundingYouTube boxes")
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' is not a GroundingYouTube box file: expected a JSON object keyed by video id")
    out: dict[str, list[tuple[int, list[float], str]]] = {}
    for video_id, entries in data.items():
        rows = []
        if isinstance(entries, dict):
            items = [(second, entry) for second, entry in entries.items()]
        elif isinstance(entries, list):
            items = [(entry.get("second") if isinstance(entry, dict) else f"#{i}", entry)
                     for i, entry in enumerate(entries)]
        else:
            note(malformed, path, f"video '{video_id}'", f"expected boxes keyed by second, got {entries!r:.80}")
            continue
        for second, entry in items:
            where = f"video '{video_id}', second {second!r}"
            if not isinstance(entry, dict):
                note(malformed, path, where, f"expected an object with 'box' and 'step', got {entry!r:.80}")
                continue
            box = entry.get("box")
            step = entry.get("step", entry.get("step_name"))
            try:
                second = int(float(second))
            except (TypeError, ValueError):
                note(malformed, path, where, "the second is not a number")
                continue
            try:
                if isinstance(box, (str, bytes, dict)):
                    raise TypeError
                box = [float(v) for v in box]
            except (TypeError, ValueError):
                note(malformed, path, where, f"the box is not [x1, y1, x2, y2] numbers ({box!r:.80})")
                continue
            if len(box) != 4:
                note(malformed, path, where, f"the box has {len(box)} numbers, not 4")
                continue
            if not isinstance(step, str) or not step.strip():
                note(malformed, path, where, f"no action text ('step'), got {step!r:.80}")
                continue
            rows.append((second, box, " ".join(step.replace("_", " ").split())))
        rows.sort(key=lambda r: r[0])
        out[str(video_id)] = rows
    return out


def read_sizes(path: str | os.PathLike, malformed: Malformed | None = None) -> dict[str, tuple[float, float]]:
    """Reads ``id2wh.json``: ``{youtube_id: (width, height)}``.

    Args:
        path: the file
        malformed: collects the entries that cannot be read (None: logged)
    """
    data = read_json(path, "the GroundingYouTube video sizes")
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' is not a GroundingYouTube size file: expected a JSON object keyed by video id")
    sizes = {}
    for video_id, wh in data.items():
        try:
            if not isinstance(wh, (list, tuple)) or len(wh) != 2:
                raise TypeError
            width, height = float(wh[0]), float(wh[1])
        except (TypeError, ValueError):
            note(malformed, path, f"video '{video_id}'", f"expected [width, height], got {wh!r:.80}")
            continue
        if width > 0 and height > 0:
            sizes[str(video_id)] = (width, height)
        else:
            note(malformed, path, f"video '{video_id}'", f"the size {wh!r:.80} is not positive")
    return sizes


# ------------------------------------------------------------------------------ temporal ground truth
def _phrase(text: str) -> str:
    return " ".join(str(text).replace("_", " ").split())


def _check_temporal_fields(**fields: str | None) -> None:
    """The sample fields of the temporal ground truth must be names, distinct, and not fields the importer
    or FiftyOne writes."""
    taken = {*BUILTIN_SAMPLE_FIELDS, *COMMON_SAMPLE_FIELDS}
    seen: dict[str, str] = {}
    for role, name in fields.items():
        if name is None:
            continue
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{role}={name!r} must be a sample field name (letters, digits and underscores)")
        if name in taken:
            raise ValueError(f"{role}={name!r} collides with a sample field the importer or FiftyOne writes "
                             f"({sorted(taken)}); pick another name")
        if name in seen:
            raise ValueError(f"{role} and {seen[name]} are both {name!r}; give them different names")
        seen[name] = role


def _given_or_beside(path: str | os.PathLike | None, folder: str, filename: str) -> str | None:
    """An optional annotation file: the path given (which must exist), else ``folder/filename`` if present."""
    if path is not None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"'{path}' does not exist; pass the authors' {filename} or leave it out")
        return path
    beside = os.path.join(folder, filename)
    return beside if os.path.isfile(beside) else None


def step_runs(rows) -> list[tuple[str, int, int]]:
    """The maximal runs of consecutive seconds with the same step: the temporal ground truth of the box file.

    Args:
        rows: a video's ``(second, box, step)`` rows (:func:`read_boxes`)

    Returns:
        ``(step, first second, last second)`` items (inclusive), by first second
    """
    seconds_by_step: dict[str, set[int]] = {}
    for second, _, step in rows:
        seconds_by_step.setdefault(step, set()).add(int(second))
    runs = []
    for step, seconds in seconds_by_step.items():
        ordered = sorted(seconds)
        first = previous = ordered[0]
        for second in ordered[1:]:
            if second != previous + 1:
                runs.append((step, first, previous))
                first = second
            previous = second
        runs.append((step, first, previous))
    return sorted(runs, key=lambda run: (run[1], run[2], run[0]))


def read_ground_segments(path: str | os.PathLike, malformed: Malformed | None = None
                         ) -> dict[str, list[tuple[str, int, int]]]:
    """Reads the authors' ``ground_seg.json``: ``{youtube_id: [{"segment": [first, last], "sentence": step}]}``.

    Args:
        path: the file
        malformed: collects the entries that cannot be read (None: logged)

    Returns:
        ``{youtube_id: [(step, first second, last second), ...]}`` by first second
    """
    data = read_json(path, "the GroundingYouTube step segments")
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' is not a ground_seg.json file: expected a JSON object keyed by video id")
    out: dict[str, list[tuple[str, int, int]]] = {}
    for video_id, entries in data.items():
        if not isinstance(entries, list):
            note(malformed, path, f"video '{video_id}'", f"expected a list of segments, got {entries!r:.80}")
            continue
        segments = []
        for i, entry in enumerate(entries):
            where = f"video '{video_id}', segment {i}"
            segment = entry.get("segment") if isinstance(entry, dict) else None
            sentence = entry.get("sentence") if isinstance(entry, dict) else None
            try:
                first, last = (int(float(v)) for v in segment)
            except (TypeError, ValueError):
                note(malformed, path, where, f"'segment' is not [first, last] seconds ({segment!r:.80})")
                continue
            if last < first or not isinstance(sentence, str) or not _phrase(sentence):
                note(malformed, path, where, f"an empty segment or no 'sentence' ({entry!r:.80})")
                continue
            segments.append((_phrase(sentence), first, last))
        out[str(video_id)] = sorted(segments, key=lambda s: (s[1], s[2], s[0]))
    return out


def read_step_pools(path: str | os.PathLike, malformed: Malformed | None = None) -> dict[str, list[str]]:
    """Reads the authors' ``vid2step.json``: ``{youtube_id: [step, ...]}``, without the ``"background"`` entry."""
    data = read_json(path, "the GroundingYouTube step pools")
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' is not a vid2step.json file: expected a JSON object keyed by video id")
    pools = {}
    for video_id, steps in data.items():
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            note(malformed, path, f"video '{video_id}'", f"expected a list of steps, got {steps!r:.80}")
            continue
        pools[str(video_id)] = ordered_unique(p for p in map(_phrase, steps) if p and p != BACKGROUND)
    return pools


def background_runs(segments, num_seconds: int) -> list[tuple[int, int]]:
    """The maximal runs of the seconds ``0 .. num_seconds - 1`` that no segment ``(label, first, last)`` covers."""
    covered = {s for _, first, last in segments for s in range(first, last + 1)}
    runs, start = [], None
    for second in range(num_seconds + 1):
        free = second < num_seconds and second not in covered
        if free and start is None:
            start = second
        elif not free and start is not None:
            runs.append((start, second - 1))
            start = None
    return runs


def background_resolver(field: str, segments: list[tuple[str, int, int]],
                        second_offset: float = DEFAULT_SECOND_OFFSET) -> Callable[[VideoInfo], dict]:
    """The ``temporal_resolver`` of one video that gives its background runs in ``field``, labelled
    ``"background"``, once its duration is known.

    A second ``s`` of the annotations is the frame on screen at ``s + second_offset`` seconds; the
    video's seconds are those that start before its end.
    """

    def resolve(info: VideoInfo) -> dict[str, list[tuple[str, float, float]]]:
        first_second = max(0, math.ceil(-second_offset))
        num_seconds = max(0, math.ceil(info.duration - second_offset - 1e-6))
        runs = [(max(a, first_second), b) for a, b in background_runs(segments, num_seconds) if b >= first_second]
        return {field: [(BACKGROUND, a + second_offset, b + second_offset) for a, b in runs]}

    return resolve
