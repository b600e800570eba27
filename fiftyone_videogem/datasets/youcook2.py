"""Importers for YouCook2-Interactions (Tan et al., NeurIPS 2021) and for YouCook2's narrated
segments (Zhou et al., AAAI 2018) as single-sentence temporal grounding.

:func:`load_youcook2` reads the official ``youcookii_annotations_trainval.json``
(``{"database": {youtube_id: {"subset", "duration", "recipe_type",
"annotations": [{"segment": [start, end], "id", "sentence"}]}}}``, seconds)
into one sample per video with its segments as ``TemporalDetections``
labelled with their sentences: each sentence is a query whose answer is
its segment(s) in that video.

YouCook2-Interactions adds boxes to the YouCook2 validation split
(:func:`load_youcook2_interactions`):

* ``final_dataset_annotations.pkl``: ``{youtube_id: {frame_index: (x1, y1,
  x2, y2)}}``; frames are indexed at one per second, index ``i`` being at
  ``i - 1`` seconds; the boxes were drawn on frames resized to 640x360
* ``final_dataset_segments.pkl``: the ``(youtube_id, start_s, end_s)``
  segments that carry the boxes (optional; used to break ties)
* ``validation_youcook.csv`` (``end,start,task,text,video_id``): the
  narration sentence of each segment; the sentence is the grounding query
* ``youcookii_annotations_trainval.json``: the official YouCook2 segments
  and sentences; used for videos the CSV does not list

A few videos have boxes well beyond 640x360 (they were drawn at the video's
own resolution); by default such videos are detected and normalised by the
video file's size, and listed in the report's
``details["native_resolution_videos"]``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import fiftyone as fo

from fiftyone_videogem.datasets.common import (
    ACTION_FIELD,
    ACTIONS_FIELD,
    DEFAULT_GT_FIELD,
    PROMPT_PARSER_FIELD,
    VIDEO_ID_FIELD,
    BuildOptions,
    FrameAnnotation,
    ImportReport,
    Malformed,
    VideoAnnotations,
    build_dataset,
    check_output_fields,
    filter_video_ids,
    finish_import,
    load_annotation_pickle,
    note,
    ordered_unique,
    read_csv_rows,
    read_json,
    reuse_or_prepare,
    temporal_detections,
    temporal_samples,
    video_metadata,
    write_samples,
)
from fiftyone_videogem.video import FrameTimes, VideoInfo

logger = logging.getLogger(__name__)

BENCHMARK = "youcook2_interactions"
DEFAULT_NAME = "videogem-youcook2-interactions"
PROMPT_PARSER = "sentence"

BOXES_FILE = "final_dataset_annotations.pkl"
SEGMENTS_FILE = "final_dataset_segments.pkl"
SENTENCES_CSV = "validation_youcook.csv"
YOUCOOK2_JSON = "youcookii_annotations_trainval.json"
FRAME_FIELDS = ("frame_index", "segment_start", "segment_end")
"""Frame fields the importer writes besides ``gt_field`` and ``action``."""

DEFAULT_BOX_SIZE = (640, 360)
DEFAULT_INDEX_TIME_OFFSET = -1.0
DEFAULT_SEGMENT_TOLERANCE = 10.0
# boxes reaching this far past the 640x360 space mark a video annotated at its own resolution
_NATIVE_TOLERANCE = 1.02

TEMPORAL_BENCHMARK = "youcook2"
TEMPORAL_DEFAULT_NAME = "videogem-youcook2"
DEFAULT_SEGMENTS_FIELD = "segments"
SUBSETS = ("training", "validation")


@dataclass(frozen=True)
class Segment:
    """A narrated segment of a YouCook2 video.

    Attributes:
        start: start time in seconds
        end: end time in seconds (inclusive)
        sentence: the narration sentence
    """

    start: float
    end: float
    sentence: str


@dataclass
class VideoEntry:
    """One video of the official YouCook2 annotation file.

    Attributes:
        video_id: the YouTube id
        subset: ``"training"``, ``"validation"`` (or what the file says; None when absent)
        recipe_type: the recipe class (a string such as ``"101"``; None when absent)
        segments: the narrated segments in file order
        ids: each segment's ``id`` in the file (its position when absent)
    """

    video_id: str
    subset: str | None
    recipe_type: str | None
    segments: list[Segment]
    ids: list[int]


def load_youcook2_interactions(
    annotations_dir: str | os.PathLike,
    videos_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = False,
    max_videos: int | None = None,
    video_ids: Iterable[str] | None = None,
    box_size: tuple[float, float] = DEFAULT_BOX_SIZE,
    box_size_overrides: Mapping[str, tuple[float, float]] | None = None,
    detect_native_boxes: bool = True,
    index_time_offset: float = DEFAULT_INDEX_TIME_OFFSET,
    segment_tolerance: float | None = DEFAULT_SEGMENT_TOLERANCE,
    gt_field: str = DEFAULT_GT_FIELD,
    persistent: bool = True,
) -> fo.Dataset:
    """Builds a FiftyOne video dataset from the YouCook2-Interactions annotations.

    Each video becomes a sample tagged ``"youcook2_interactions"`` with

    * frame field ``gt_field``: ``Detections`` with the annotated box,
      labelled with the sentence of the segment that contains the frame,
      attributes ``clipped`` and ``segment`` (``[start, end]`` seconds)
    * frame fields ``action`` (the sentence), ``frame_index`` (the
      annotation's own index) and ``segment_start``/``segment_end``
    * sample fields ``video_id``, ``action`` (the most frequent sentence),
      ``actions`` (all sentences in order) and ``prompt_parser="sentence"``

    A frame's sentence is the one of the segment containing its time; at a
    boundary shared by two segments the one in ``final_dataset_segments.pkl``
    wins, then the one whose centre is nearer. A frame outside every segment
    takes the nearest segment within ``segment_tolerance`` seconds (counted
    in ``details["frames_outside_segments"]``), else it is dropped.

    Args:
        annotations_dir: the folder with ``final_dataset_annotations.pkl``
            and ``validation_youcook.csv`` and/or
            ``youcookii_annotations_trainval.json``
            (``final_dataset_segments.pkl`` is optional)
        videos_dir: the folder with the downloaded videos, named
            ``<youtube_id>.mp4`` (or ``.mkv``, ``.webm``, ``.avi``), searched
            recursively
        name: the dataset name (``"videogem-youcook2-interactions"``)
        overwrite: whether to delete and re-import an existing dataset of
            that name (False: the existing dataset is returned as is)
        max_videos: import at most this many videos (None: all found)
        video_ids: import only these YouTube ids (None: all; a string is
            one id)
        box_size: the ``(width, height)`` the boxes were drawn at
            (``(640, 360)``)
        box_size_overrides: per-video ``(width, height)`` that replaces the
            box space of those videos (None)
        detect_native_boxes: normalise a video by its own size when its
            boxes reach more than 2% past ``box_size`` (True)
        index_time_offset: frame index ``i`` is placed at ``i +
            index_time_offset`` seconds (-1.0)
        segment_tolerance: how far in seconds a frame outside every segment
            may be from the nearest one to take its sentence (10.0; None: any
            distance)
        gt_field: the frame field for the ground truth (``"gt"``; a
            ``frames.`` prefix is accepted); it must differ from the other
            fields the importer writes (``action``, ``frame_index``,
            ``segment_start``, ``segment_end``)
        persistent: whether the dataset is kept after the process exits
            (True)

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the import
        report as a dict
    """
    gt_field, _, _ = check_output_fields(gt_field, FRAME_FIELDS)
    name = name or DEFAULT_NAME
    existing = reuse_or_prepare(name, overwrite, BENCHMARK)
    if existing is not None:
        return existing

    annotations_dir = os.fspath(annotations_dir)
    boxes_path = os.path.join(annotations_dir, BOXES_FILE)
    if not os.path.isfile(boxes_path):
        raise FileNotFoundError(
            f"'{boxes_path}' not found; pass the folder that holds the YouCook2-Interactions annotation files"
        )
    csv_path = os.path.join(annotations_dir, SENTENCES_CSV)
    json_path = os.path.join(annotations_dir, YOUCOOK2_JSON)
    segments_path = os.path.join(annotations_dir, SEGMENTS_FILE)
    if not os.path.isfile(csv_path) and not os.path.isfile(json_path):
        raise FileNotFoundError(
            f"no sentences for YouCook2-Interactions in '{annotations_dir}': put '{SENTENCES_CSV}' or "
            f"'{YOUCOOK2_JSON}' (from the YouCook2 release) next to '{BOXES_FILE}'"
        )

    malformed = Malformed()
    boxes = read_boxes(boxes_path, malformed)
    csv_segments = read_sentences_csv(csv_path, malformed) if os.path.isfile(csv_path) else {}
    json_segments = read_youcook2_json(json_path, malformed) if os.path.isfile(json_path) else {}
    box_segments = read_box_segments(segments_path, malformed) if os.path.isfile(segments_path) else {}
    used = [p for p in (boxes_path, segments_path, csv_path, json_path) if os.path.isfile(p)]

    report = ImportReport(
        benchmark=BENCHMARK,
        dataset_name=name,
        annotations=used,
        videos_dir=os.fspath(videos_dir),
        settings={
            "box_size": list(box_size),
            "box_size_overrides": {k: list(v) for k, v in (box_size_overrides or {}).items()},
            "detect_native_boxes": detect_native_boxes,
            "index_time_offset": index_time_offset,
            "segment_tolerance": segment_tolerance,
            "gt_field": gt_field,
            "max_videos": max_videos,
        },
        malformed_entries=malformed.entries,
    )
    details = report.details
    details.update(
        frames_outside_segments=0,
        frames_without_sentence=0,
        sentences_from_youcook2_json=[],
        videos_without_boxes=[],
        native_resolution_videos=[],
    )

    videos = []
    for video_id in filter_video_ids(list(boxes), video_ids, report):
        video_boxes = boxes[video_id]
        if not video_boxes:
            details["videos_without_boxes"].append(video_id)
            continue
        segments = csv_segments.get(video_id)
        if not segments:
            segments = json_segments.get(video_id, [])
            if segments:
                details["sentences_from_youcook2_json"].append(video_id)
        preferred = box_segments.get(video_id, set())

        frames = []
        for index in sorted(video_boxes):
            time = index + index_time_offset
            segment, outside = choose_segment(segments, time, preferred, segment_tolerance)
            if segment is None:
                details["frames_without_sentence"] += 1
                report.annotations_unusable += 1
                continue
            if outside:
                details["frames_outside_segments"] += 1
            frames.append(
                FrameAnnotation(
                    box=video_boxes[index],
                    action=segment.sentence,
                    box_size=tuple(box_size),
                    time=time,
                    attributes={"segment": [segment.start, segment.end]},
                    frame_fields={
                        "frame_index": index,
                        "segment_start": segment.start,
                        "segment_end": segment.end,
                    },
                )
            )
        resolver = _box_space_resolver(
            video_id, list(video_boxes.values()), tuple(box_size), box_size_overrides, detect_native_boxes, details
        )
        videos.append(VideoAnnotations(video_id=video_id, frames=frames, box_size_resolver=resolver))

    if details["videos_without_boxes"]:
        report.notes.append(
            f"{len(details['videos_without_boxes'])} annotated videos have no boxes and were skipped: "
            f"{details['videos_without_boxes']}"
        )
    if details["frames_without_sentence"]:
        report.notes.append(
            f"{details['frames_without_sentence']} boxes lie more than {segment_tolerance} s from every "
            "narrated segment and were dropped"
        )

    options = BuildOptions(
        name=name,
        benchmark=BENCHMARK,
        prompt_parser=PROMPT_PARSER,
        gt_field=gt_field,
        max_videos=max_videos,
        persistent=persistent,
    )
    return build_dataset(videos, videos_dir, options, report)


def _box_space_resolver(
    video_id: str,
    boxes: Sequence[Sequence[float]],
    box_size: tuple[float, float],
    overrides: Mapping[str, tuple[float, float]] | None,
    detect_native: bool,
    details: dict,
):
    if overrides and video_id in overrides:
        size = tuple(float(v) for v in overrides[video_id])
        return lambda info: size
    if detect_native and boxes_exceed(boxes, box_size):

        def native(info: VideoInfo) -> tuple[float, float]:
            details["native_resolution_videos"].append(video_id)
            return (float(info.width), float(info.height))

        return native
    return None


def boxes_exceed(
    boxes: Sequence[Sequence[float]], size: tuple[float, float], tolerance: float = _NATIVE_TOLERANCE
) -> bool:
    """Whether any box reaches more than ``tolerance`` times past ``size``."""
    width, height = size
    return any(max(b[0], b[2]) > width * tolerance or max(b[1], b[3]) > height * tolerance for b in boxes)


def choose_segment(
    segments: Sequence[Segment],
    time: float,
    preferred: set[tuple[float, float]] | None = None,
    tolerance: float | None = DEFAULT_SEGMENT_TOLERANCE,
) -> tuple[Segment | None, bool]:
    """Picks the segment whose sentence describes the frame at ``time``.

    Args:
        segments: the video's segments
        time: the frame's time in seconds
        preferred: ``(start, end)`` pairs that win ties (the segments that
            carry boxes)
        tolerance: the largest distance in seconds to a segment when no
            segment contains ``time`` (None: any)

    Returns:
        ``(segment, outside)``: the chosen segment (None if none qualifies)
        and whether ``time`` lies outside it
    """
    preferred = preferred or set()
    if not segments:
        return None, False

    def rank(segment: Segment) -> tuple:
        centre = (segment.start + segment.end) / 2
        return ((segment.start, segment.end) not in preferred, abs(time - centre))

    containing = [s for s in segments if s.start <= time <= s.end]
    if containing:
        return min(containing, key=rank), False

    def distance(segment: Segment) -> float:
        return segment.start - time if time < segment.start else time - segment.end

    nearest = min(segments, key=lambda s: (distance(s),) + rank(s))
    if tolerance is not None and distance(nearest) > tolerance:
        return None, True
    return nearest, True


def read_boxes(path: str | os.PathLike, malformed: Malformed | None = None) -> dict[str, dict[int, list[float]]]:
    """Reads ``final_dataset_annotations.pkl``: ``{youtube_id: {frame_index: [x1, y1, x2, y2]}}``.

    Args:
        path: the pickle
        malformed: collects the entries that cannot be read, naming the file,
            the video and the frame index (None: they are logged)
    """
    data = load_annotation_pickle(path)
    if not isinstance(data, dict):
        raise ValueError(f"'{path}' is not a YouCook2-Interactions box file: expected a dict keyed by video id")
    out: dict[str, dict[int, list[float]]] = {}
    for video_id, frames in data.items():
        rows: dict[int, list[float]] = {}
        if frames is not None and not isinstance(frames, dict):
            note(malformed, path, f"video '{video_id}'", f"expected boxes keyed by frame index, got {frames!r:.80}")
            continue
        for index, box in (frames or {}).items():
            where = f"video '{video_id}', frame index {index!r}"
            try:
                if isinstance(box, (str, bytes, dict)):
                    raise TypeError
                values = [float(v) for v in box]
                index = int(index)
            except (TypeError, ValueError):
                note(malformed, path, where, f"the index or the box (x1, y1, x2, y2) is not numeric ({box!r:.80})")
                continue
            if len(values) != 4:
                note(malformed, path, where, f"the box has {len(values)} numbers, not 4")
                continue
            rows[index] = values
        out[str(video_id)] = rows
    return out


def read_box_segments(
    path: str | os.PathLike, malformed: Malformed | None = None
) -> dict[str, set[tuple[float, float]]]:
    """Reads ``final_dataset_segments.pkl``: ``{youtube_id: {(start, end), ...}}``.

    Args:
        path: the pickle
        malformed: collects the entries that cannot be read (None: logged)
    """
    data = load_annotation_pickle(path)
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise ValueError(f"'{path}' is not a YouCook2-Interactions segment file: expected a set of (id, start, end)")
    out: dict[str, set[tuple[float, float]]] = {}
    for item in data:
        try:
            video_id, start, end = item
            out.setdefault(str(video_id), set()).add((float(start), float(end)))
        except (TypeError, ValueError):
            note(malformed, path, f"segment {item!r:.80}", "expected (youtube_id, start, end)")
    return out


def read_sentences_csv(path: str | os.PathLike, malformed: Malformed | None = None) -> dict[str, list[Segment]]:
    """Reads ``validation_youcook.csv`` (``end,start,task,text,video_id``) into segments per video.

    Args:
        path: the CSV file
        malformed: collects the rows that cannot be read, naming the file and
            the line (None: they are logged)
    """
    out: dict[str, list[Segment]] = {}
    for line, row in read_csv_rows(path, "the YouCook2 narration sentences (end,start,task,text,video_id)"):
        try:
            segment = Segment(float(row["start"]), float(row["end"]), " ".join(row["text"].split()))
            video_id = row["video_id"].strip()
        except (KeyError, TypeError, ValueError, AttributeError):
            note(malformed, path, f"line {line}",
                 f"expected numeric start/end, a text and a video_id, got {row!r:.120}")
            continue
        if not video_id or not segment.sentence:
            note(malformed, path, f"line {line}", "no video_id or no text")
            continue
        segments = out.setdefault(video_id, [])
        if segment not in segments:
            segments.append(segment)
    return out


def read_youcook2_database(path: str | os.PathLike, malformed: Malformed | None = None) -> dict[str, VideoEntry]:
    """Reads the official ``youcookii_annotations_trainval.json``: every video with its subset, recipe
    type and narrated segments.

    Args:
        path: the JSON file
        malformed: collects the annotations that cannot be read, naming the
            file, the video and the annotation (None: they are logged)

    Raises:
        ValueError: if the file is not an object with a ``database`` object
    """
    data = read_json(path, "the official YouCook2 annotations")
    database = data.get("database", data) if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise ValueError(f"'{path}' is not the YouCook2 annotation file: expected an object with a 'database' object")
    out: dict[str, VideoEntry] = {}
    for video_id, entry in database.items():
        annotations = entry.get("annotations", []) if isinstance(entry, dict) else None
        if not isinstance(annotations, list):
            note(malformed, path, f"video '{video_id}'", "expected an object with an 'annotations' list")
            continue
        video = VideoEntry(str(video_id), _optional_text(entry.get("subset")), _optional_text(entry.get("recipe_type")),
                           [], [])
        for number, ann in enumerate(annotations):
            try:
                start, end = ann["segment"]
                segment = Segment(float(start), float(end), " ".join(str(ann["sentence"]).split()))
                ident = int(ann.get("id", number))
            except (KeyError, TypeError, ValueError, AttributeError):
                note(malformed, path, f"video '{video_id}', annotation {number}",
                     f"expected a 'segment' [start, end] and a 'sentence', got {ann!r:.80}")
                continue
            if not segment.sentence or not segment.start <= segment.end:
                note(malformed, path, f"video '{video_id}', annotation {number}",
                     f"expected a sentence and start <= end, got {ann!r:.80}")
                continue
            video.segments.append(segment)
            video.ids.append(ident)
        out[video.video_id] = video
    return out


def _optional_text(value) -> str | None:
    return None if value is None else str(value)


def read_youcook2_json(path: str | os.PathLike, malformed: Malformed | None = None) -> dict[str, list[Segment]]:
    """Reads the official ``youcookii_annotations_trainval.json`` into segments per video (every subset).

    Args:
        path: the JSON file
        malformed: collects the annotations that cannot be read, naming the
            file, the video and the annotation (None: they are logged)
    """
    return {video_id: entry.segments for video_id, entry in read_youcook2_database(path, malformed).items()}


def _find_youcook2_json(annotations: str | os.PathLike) -> str:
    path = os.fspath(annotations)
    if os.path.isdir(path):
        path = os.path.join(path, YOUCOOK2_JSON)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"'{path}' not found; pass the official YouCook2 annotation file '{YOUCOOK2_JSON}' (from the "
            "YouCook2 release, youcookii_annotations.tar.gz) or the folder that holds it"
        )
    return path


def load_youcook2(
    annotations: str | os.PathLike,
    videos_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = False,
    subset: str | None = "validation",
    max_videos: int | None = None,
    video_ids: Iterable[str] | None = None,
    segments_field: str = DEFAULT_SEGMENTS_FIELD,
    persistent: bool = True,
) -> fo.Dataset:
    """Builds a FiftyOne video dataset of YouCook2's narrated segments, for single-sentence temporal
    grounding (find the segment a sentence describes in its video).

    Each video of ``subset`` becomes a sample tagged ``"youcook2"`` with

    * sample field ``segments_field``: ``TemporalDetections``, one per
      narrated segment, labelled with its sentence (white space collapsed);
      ``support`` holds the inclusive 1-based frames on screen at its start
      and end second; attributes ``start_time`` / ``end_time`` (seconds, as
      annotated), ``segment_id`` (the file's ``id``) and ``clipped`` (the end
      was past the video's last frame)
    * sample fields ``video_id``, ``actions`` (the video's distinct sentences
      in order: the queries of single-sentence grounding, and the pool
      ``localize_actions(pool_field="actions")`` searches), ``action`` (the
      first sentence), ``recipe_type``, ``subset`` and
      ``prompt_parser="sentence"``

    Annotated videos absent from ``videos_dir``, unreadable videos,
    malformed annotations and segments past a video's end are listed in the
    import report; none of them stops the import. A segment past the end is
    dropped; one that reaches past it is clipped to the last frame.

    Args:
        annotations: ``youcookii_annotations_trainval.json``, or the folder
            that holds it
        videos_dir: the folder with the videos, named ``<youtube_id>.mp4``
            (or ``.mkv``, ``.webm``, ``.avi``), searched recursively
        name ("videogem-youcook2"): the dataset name (``-<subset>`` is
            appended for a subset other than validation)
        overwrite (False): delete and re-import an existing import of that
            name (False: the existing dataset is returned as it is)
        subset ("validation"): the videos of this subset (``"training"``,
            ``"validation"``; None: every video of the file)
        max_videos (None): import at most this many videos
        video_ids (None): import only these YouTube ids (None: all; a string
            is one id)
        segments_field ("segments"): the sample field of the segments
        persistent (True): whether the dataset is kept after the process exits

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the import
        report as a dict

    Raises:
        ValueError: a bad subset or field name, or a file that is not the
            YouCook2 annotation file
        FileNotFoundError: no annotation file at ``annotations``
    """
    if subset is not None and subset not in SUBSETS:
        raise ValueError(f"unknown YouCook2 subset {subset!r}; use one of {SUBSETS} or None for every video")
    if segments_field is None:
        raise ValueError("segments_field names the sample field of the segments; it cannot be None")
    _, _, segments_field = check_output_fields(
        DEFAULT_GT_FIELD, temporal_field=segments_field, sample_fields=("recipe_type", "subset")
    )
    name = name or (TEMPORAL_DEFAULT_NAME if subset == "validation" else f"{TEMPORAL_DEFAULT_NAME}-{subset or 'all'}")
    existing = reuse_or_prepare(name, overwrite, TEMPORAL_BENCHMARK)
    if existing is not None:
        return existing
    path = _find_youcook2_json(annotations)
    malformed = Malformed()
    database = read_youcook2_database(path, malformed)

    report = ImportReport(
        benchmark=TEMPORAL_BENCHMARK,
        dataset_name=name,
        annotations=[os.path.abspath(path)],
        videos_dir=os.path.abspath(os.fspath(videos_dir)),
        settings={"subset": subset, "segments_field": segments_field, "max_videos": max_videos},
        malformed_entries=malformed.entries,
    )
    entries = [e for e in database.values() if subset is None or e.subset == subset]
    report.details.update(segments_read=sum(len(e.segments) for e in entries), segments_imported=0,
                          segments_clipped=0)
    wanted = filter_video_ids([e.video_id for e in entries], video_ids, report)
    report.details["videos_without_segments"] = [v for v in wanted if not database[v].segments]
    wanted = [v for v in wanted if database[v].segments]
    report.videos_annotated = len(wanted)
    samples = temporal_samples(
        wanted, videos_dir, max_videos, report,
        lambda video_id, path, info, times: _segments_sample(database[video_id], path, info, times, segments_field,
                                                             report),
    )
    if report.details["videos_without_segments"]:
        report.notes.append(
            f"{len(report.details['videos_without_segments'])} annotated videos have no readable segment and "
            f"were skipped: {report.details['videos_without_segments'][:10]}"
        )
    dataset = write_samples(name, TEMPORAL_BENCHMARK, samples, report, persistent=persistent)
    finish_import(dataset, report)
    bad = report.missing_videos or report.unreadable_videos or report.damaged_videos or report.malformed_entries
    logger.log(
        logging.WARNING if bad else logging.INFO, "%s; %d of %d segments imported", report.summary(),
        report.details["segments_imported"], report.details["segments_read"],
    )
    return dataset


def _segments_sample(entry: VideoEntry, path: str, info: VideoInfo, times: FrameTimes, segments_field: str,
                     report: ImportReport) -> fo.Sample | None:
    detections, clipped = temporal_detections(
        entry.video_id, [(s.sentence, s.start, s.end, {"segment_id": i}) for s, i in zip(entry.segments, entry.ids)],
        info, times, report,
    )
    report.details["segments_clipped"] += clipped
    if not detections:
        report.notes.append(f"video '{entry.video_id}' has no segment within its duration and was not imported")
        return None
    report.details["segments_imported"] += len(detections)
    sentences = [d.label for d in detections]
    sample = fo.Sample(filepath=path, tags=[TEMPORAL_BENCHMARK])
    sample.metadata = video_metadata(path, info)
    sample[VIDEO_ID_FIELD] = entry.video_id
    sample[ACTIONS_FIELD] = ordered_unique(sentences)
    sample[ACTION_FIELD] = sentences[0]
    sample[PROMPT_PARSER_FIELD] = PROMPT_PARSER
    sample["recipe_type"] = entry.recipe_type
    sample["subset"] = entry.subset
    sample[segments_field] = fo.TemporalDetections(detections=detections)
    return sample
