"""Importer for V-HICO (Li et al., "Weakly supervised human-object interaction detection in video
via contrastive spatiotemporal regions", ICCV 2021).

V-HICO's test set is a JSON file with, per annotated frame of a video, the
interaction (``"verb_object"`` or a verb and an object) and the human and
object boxes. VideoGEM grounds the interaction, so the ground-truth box of an
annotation is the smallest rectangle that encloses all of its human and
object boxes; the separate boxes are kept in a second frame field.

There is no public download of the file, so the reader accepts the shapes a
per-frame annotation JSON plausibly has (see :func:`read_annotations`).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import fiftyone as fo

from fiftyone_videogem.datasets.common import (
    DEFAULT_GT_FIELD,
    BuildOptions,
    FrameAnnotation,
    ImportReport,
    Malformed,
    VideoAnnotations,
    build_dataset,
    check_output_fields,
    enclosing_box,
    filter_video_ids,
    note,
    read_json,
    reuse_or_prepare,
)

logger = logging.getLogger(__name__)

BENCHMARK = "vhico"
DEFAULT_NAME = "videogem-vhico"
PROMPT_PARSER = "verb_object"
DEFAULT_PARTS_FIELD = "gt_parts"
FRAME_FIELDS = ("annotation_frame",)
"""Frame fields the importer writes besides ``gt_field``, ``parts_field`` and ``action``."""

_WRAPPER_KEYS = ("annotations", "videos", "data", "test", "items")
_VIDEO_KEYS = ("video", "video_id", "video_name", "vid", "youtube_id", "video_path")
_FRAME_KEYS = (
    "frame",
    "frame_number",
    "frame_id",
    "frame_idx",
    "frame_index",
    "frameNumber",
    "keyframe",
    "image",
    "image_id",
    "file_name",
    "filename",
    "img",
)
_TIME_KEYS = ("time", "timestamp", "second", "sec")
_LABEL_KEYS = ("action", "label", "hoi", "interaction", "verb_object", "class", "category", "hoi_label")
_VERB_KEYS = ("verb", "predicate", "action_verb", "verb_name")
_OBJECT_NAME_KEYS = ("object_name", "object_class", "object_category", "obj_name", "noun", "object_label")
_HUMAN_KEYS = (
    "human_box",
    "human_boxes",
    "human_bbox",
    "human_bboxes",
    "person_box",
    "person_boxes",
    "person_bbox",
    "person_bboxes",
    "subject_box",
    "subject_bbox",
    "sub_box",
    "human",
    "humans",
    "person",
    "persons",
    "subject",
)
_OBJECT_KEYS = (
    "object_box",
    "object_boxes",
    "object_bbox",
    "object_bboxes",
    "obj_box",
    "obj_boxes",
    "obj_bbox",
    "obj_bboxes",
    "object",
    "objects",
    "obj",
)
_GENERIC_BOX_KEYS = ("boxes", "bboxes", "instances", "objects_and_humans")
_FRAMES_KEYS = ("frames", "annotations", "keyframes", "labels")
_HUMAN_NAMES = {"human", "person", "people", "subject", "man", "woman", "boy", "girl", "child"}
_SIZE_PAIRS = (("width", "height"), ("img_width", "img_height"), ("image_width", "image_height"), ("w", "h"))


@dataclass
class VhicoAnnotation:
    """One V-HICO annotation: an interaction at one frame.

    Attributes:
        frame: the annotation's frame index (None when ``time`` is given)
        time: the time in seconds (None when ``frame`` is given)
        label: the interaction, underscores replaced by spaces
        humans: human boxes ``[x1, y1, x2, y2]``
        objects: ``(object name, box)`` pairs
        size: the ``(width, height)`` the boxes are expressed in, if known
    """

    frame: int | None
    time: float | None
    label: str | None
    humans: list[list[float]] = field(default_factory=list)
    objects: list[tuple[str, list[float]]] = field(default_factory=list)
    size: tuple[float, float] | None = None


def load_vhico(
    annotations_path: str | os.PathLike,
    videos_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = False,
    max_videos: int | None = None,
    video_ids: Iterable[str] | None = None,
    box_format: str = "xyxy",
    box_coordinates: str = "auto",
    frame_index_base: int = 1,
    annotation_fps: float | None = None,
    gt_field: str = DEFAULT_GT_FIELD,
    parts_field: str = DEFAULT_PARTS_FIELD,
    persistent: bool = True,
) -> fo.Dataset:
    """Builds a FiftyOne video dataset from a V-HICO test-set JSON.

    Each video becomes a sample tagged ``"vhico"`` with

    * frame field ``gt_field``: ``Detections`` with one box per annotation,
      the smallest rectangle enclosing its human and object boxes, labelled
      with the interaction (``"ride bicycle"``)
    * frame field ``parts_field``: the separate boxes, labelled ``"human"``
      or with the object's name, attribute ``action``
    * frame field ``action``; sample fields ``video_id``, ``action`` (the
      most frequent interaction), ``actions`` and
      ``prompt_parser="verb_object"``

    Args:
        annotations_path: the JSON file (see :func:`read_annotations` for the
            accepted shapes)
        videos_dir: the folder with the videos, named ``<video_id>.mp4`` (or
            ``.mkv``, ``.webm``, ``.avi``), searched recursively; for ids
            that contain a folder (``"ride_bicycle/abc"``) the last part is
            the file name
        name: the dataset name (``"videogem-vhico"``)
        overwrite: whether to delete and re-import an existing dataset of
            that name (False: the existing dataset is returned as is)
        max_videos: import at most this many videos (None: all found)
        video_ids: import only these videos (None: all; a string is one id)
        box_format: ``"xyxy"`` (``[x1, y1, x2, y2]``, the default) or
            ``"xywh"`` (``[x, y, width, height]``) for boxes given as lists;
            boxes given as dicts say their own format
        box_coordinates: ``"pixels"``, ``"normalized"`` or ``"auto"`` (an
            annotation whose coordinates are all within [0, 1] is
            normalised, otherwise pixels); pixel boxes are in the
            annotation's ``width``/``height`` when it has them, else in the
            video's own size
        frame_index_base: the index of a video's first frame in the
            annotations (1); frame index ``f`` becomes FiftyOne frame
            ``f - frame_index_base + 1``
        annotation_fps: the rate at which the annotated frames were
            extracted, when it differs from the video's (None: the frame
            indices are the video's own frames); with it, index ``f`` is at
            ``(f - frame_index_base) / annotation_fps`` seconds
        gt_field: the frame field for the enclosing boxes (``"gt"``; a
            ``frames.`` prefix is accepted)
        parts_field: the frame field for the separate boxes
            (``"gt_parts"``); both must differ from each other and from the
            other frame fields the importer writes (``action``,
            ``annotation_frame``)
        persistent: whether the dataset is kept after the process exits
            (True)

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the import
        report as a dict
    """
    if box_format not in ("xyxy", "xywh"):
        raise ValueError(f"unknown box_format {box_format!r}; use 'xyxy' or 'xywh'")
    if box_coordinates not in ("auto", "pixels", "normalized"):
        raise ValueError(f"unknown box_coordinates {box_coordinates!r}; use 'auto', 'pixels' or 'normalized'")
    gt_field, parts_field, _ = check_output_fields(gt_field, FRAME_FIELDS, parts_field=parts_field)
    name = name or DEFAULT_NAME
    existing = reuse_or_prepare(name, overwrite, BENCHMARK)
    if existing is not None:
        return existing

    path = os.fspath(annotations_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"V-HICO annotations '{path}' not found; pass the test-set JSON file")
    data = read_json(path, "the V-HICO test-set annotations")
    malformed = Malformed()
    annotations, skipped = read_annotations(data, box_format=box_format, malformed=malformed, path=path)

    report = ImportReport(
        benchmark=BENCHMARK,
        dataset_name=name,
        annotations=[path],
        videos_dir=os.fspath(videos_dir),
        settings={
            "box_format": box_format,
            "box_coordinates": box_coordinates,
            "frame_index_base": frame_index_base,
            "annotation_fps": annotation_fps,
            "gt_field": gt_field,
            "parts_field": parts_field,
            "max_videos": max_videos,
        },
        malformed_entries=malformed.entries,
    )
    report.details.update(entries_unreadable=skipped, annotations_without_label=0, annotations_without_boxes=0)
    if skipped:
        report.notes.append(f"{skipped} entries of '{path}' could not be read (no frame or no boxes) and were skipped")

    file_ids = {}
    for video_key in annotations:
        file_ids.setdefault(_file_id(video_key), video_key)
    videos = []
    for file_id in filter_video_ids(list(file_ids), video_ids, report):
        video_key = file_ids[file_id]
        video = VideoAnnotations(video_id=file_id, sample_fields={"annotation_video_id": video_key})
        for ann in annotations[video_key]:
            frame = _frame_annotation(ann, box_coordinates, frame_index_base, annotation_fps, report)
            if frame is not None:
                video.frames.append(frame)
        if video.frames:
            videos.append(video)

    options = BuildOptions(
        name=name,
        benchmark=BENCHMARK,
        prompt_parser=PROMPT_PARSER,
        gt_field=gt_field,
        parts_field=parts_field,
        max_videos=max_videos,
        persistent=persistent,
    )
    return build_dataset(videos, videos_dir, options, report)


def _frame_annotation(
    ann: VhicoAnnotation,
    box_coordinates: str,
    frame_index_base: int,
    annotation_fps: float | None,
    report: ImportReport,
) -> FrameAnnotation | None:
    if not ann.label:
        report.details["annotations_without_label"] += 1
        report.annotations_unusable += 1
        return None
    boxes = ann.humans + [b for _, b in ann.objects]
    if not boxes:
        report.details["annotations_without_boxes"] += 1
        report.annotations_unusable += 1
        return None
    if box_coordinates == "normalized" or (
        box_coordinates == "auto" and all(0.0 <= v <= 1.0 for b in boxes for v in b)
    ):
        size = (1.0, 1.0)
    else:
        size = ann.size  # None: the video's own size
    time, frame_number = ann.time, None
    if time is None:
        if annotation_fps:
            time = (ann.frame - frame_index_base) / float(annotation_fps)
        else:
            frame_number = ann.frame - frame_index_base + 1
    parts = [("human", b) for b in ann.humans] + [(obj_name or "object", b) for obj_name, b in ann.objects]
    return FrameAnnotation(
        box=enclosing_box(boxes),
        action=ann.label,
        box_size=size,
        time=time,
        frame_number=frame_number,
        attributes={"num_humans": len(ann.humans), "num_objects": len(ann.objects)},
        frame_fields={"annotation_frame": ann.frame} if ann.frame is not None else {},
        parts=parts,
    )


def _file_id(video_key: str) -> str:
    base = re.split(r"[\\/]", video_key.rstrip("/\\"))[-1]
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in (".mp4", ".mkv", ".webm", ".avi") else base


def read_annotations(
    data: Any, box_format: str = "xyxy", malformed: Malformed | None = None, path: str = "annotations"
) -> tuple[dict[str, list[VhicoAnnotation]], int]:
    """Reads V-HICO annotations from parsed JSON in any of the accepted shapes.

    Accepted layouts (optionally wrapped in an object under ``"annotations"``,
    ``"videos"``, ``"data"``, ``"test"`` or ``"items"``):

    1. ``{video_id: {frame_key: record or [records]}}``
    2. ``{video_id: [record, ...]}`` where each record names its frame
    3. ``[record, ...]`` where each record names its video and frame
    4. ``{video_id: {"label": ..., "width": ..., "height": ...,
       "frames": <1 or 2 above>}}``: video-level defaults (also under
       ``"annotations"``, ``"keyframes"`` or ``"labels"``)

    A frame key is an integer, or a string whose last run of digits is the
    index (``"000123.jpg"``, ``"frame_123"``). A record holds:

    * the interaction: ``action``/``label``/``hoi``/``interaction``/
      ``verb_object``/``class``/``category``, or a verb (``verb``/
      ``predicate``) plus an object name (``object_name``/``object_class``/
      ``noun``/``object`` as a string); underscores become spaces; missing,
      it is inherited from the video
    * human boxes under ``human_box(es)``/``human_bbox(es)``/``person_*``/
      ``subject_*``/``human``/``person``, and object boxes under
      ``object_box(es)``/``object_bbox(es)``/``obj_*``/``object(s)``; a box
      is a list of 4 numbers, a list of such lists, or a dict
      (``x1,y1,x2,y2``; ``xmin,ymin,xmax,ymax``; ``x,y,w,h``;
      ``left,top,width,height``; or ``{"bbox"/"box": ..., "name"/"label"/
      "category": ...}``)
    * or a generic ``boxes``/``bboxes``/``instances`` list of ``{"label",
      "bbox"}`` where labels such as ``"person"``/``"human"`` are humans and
      the rest objects
    * optionally ``time`` (seconds) instead of a frame, and the pixel size
      ``width``/``height`` (or ``size: [w, h]``)

    Args:
        data: the parsed JSON
        box_format: ``"xyxy"`` or ``"xywh"`` for list boxes
        malformed: collects the entries that cannot be read, naming the
            video and the frame (None: they are logged)
        path: the file the data came from, for those messages

    Returns:
        ``({video_id: [VhicoAnnotation, ...]}, number of entries skipped)``
    """
    data = _unwrap(data)
    out: dict[str, list[VhicoAnnotation]] = {}
    skipped = 0

    def add(video_id: Any, frame_key: Any, record: Any, defaults: dict, where: str) -> None:
        nonlocal skipped
        ann = _parse_record(record, frame_key, defaults, box_format)
        if ann is None:
            skipped += 1
            note(malformed, path, where, f"no frame (or time) or no human/object box in {record!r:.100}")
        else:
            out.setdefault(str(video_id), []).append(ann)

    if isinstance(data, list):
        for number, record in enumerate(data):
            video_id = _first(record, _VIDEO_KEYS) if isinstance(record, dict) else None
            if video_id is None or isinstance(video_id, (dict, list)):
                skipped += 1
                note(malformed, path, f"entry {number}", f"names no video ({'/'.join(_VIDEO_KEYS[:3])}, ...)")
                continue
            add(video_id, None, record, {}, f"entry {number} (video '{video_id}')")
    elif isinstance(data, dict):
        for video_id, content in data.items():
            defaults: dict = {}
            if isinstance(content, dict):
                inner_key = next((k for k in _FRAMES_KEYS if k in content), None)
                if inner_key is not None and isinstance(content[inner_key], (dict, list)):
                    defaults = {k: v for k, v in content.items() if k != inner_key}
                    content = content[inner_key]
            if isinstance(content, dict):
                for frame_key, records in content.items():
                    for record in records if isinstance(records, list) else [records]:
                        add(video_id, frame_key, record, defaults, f"video '{video_id}', frame {frame_key!r}")
            elif isinstance(content, list):
                for number, record in enumerate(content):
                    add(video_id, None, record, defaults, f"video '{video_id}', entry {number}")
            else:
                skipped += 1
                note(malformed, path, f"video '{video_id}'",
                     f"expected frames or a list of entries, got {content!r:.80}")
    else:
        raise ValueError("V-HICO annotations must be a JSON object or list; see read_annotations for the shapes")
    for anns in out.values():
        anns.sort(key=lambda a: (a.time if a.time is not None else float("inf"), a.frame or 0))
    return out, skipped


def _unwrap(data: Any) -> Any:
    while isinstance(data, dict) and len(data) <= 3:
        key = next((k for k in _WRAPPER_KEYS if k in data and isinstance(data[k], (dict, list))), None)
        if key is None:
            break
        data = data[key]
    return data


def _first(record: dict, keys: Iterable[str]) -> Any:
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    return None


def _frame_index(value: Any) -> int | None:
    if value is None or isinstance(value, (bool, dict, list, tuple)):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    digits = re.findall(r"\d+", os.path.basename(str(value)))
    return int(digits[-1]) if digits else None


def _label(record: dict, defaults: dict) -> str | None:
    for source in (record, defaults):
        label = _first(source, _LABEL_KEYS)
        if isinstance(label, str) and label.strip():
            return _clean(label)
        verb = _first(source, _VERB_KEYS)
        noun = _first(source, _OBJECT_NAME_KEYS)
        if noun is None and isinstance(source.get("object"), str):
            noun = source["object"]
        if isinstance(verb, str) and verb.strip():
            return _clean(f"{verb} {noun}" if isinstance(noun, str) and noun.strip() else verb)
    return None


def _clean(text: str) -> str:
    return " ".join(text.replace("_", " ").split())


def _size(record: dict, defaults: dict) -> tuple[float, float] | None:
    for source in (record, defaults):
        for wk, hk in _SIZE_PAIRS:
            if wk in source and hk in source and not isinstance(source[wk], (list, dict)):
                try:
                    w, h = float(source[wk]), float(source[hk])
                except (TypeError, ValueError):
                    continue
                if w > 0 and h > 0:
                    return (w, h)
        for key in ("size", "image_size", "img_size", "frame_size"):
            value = source.get(key)
            if isinstance(value, dict):
                value = [value.get("width", value.get("w")), value.get("height", value.get("h"))]
            if isinstance(value, (list, tuple)) and len(value) == 2:
                try:
                    w, h = float(value[0]), float(value[1])
                except (TypeError, ValueError):
                    continue
                if w > 0 and h > 0:
                    return (w, h)
    return None


def _parse_box(value: Any, box_format: str) -> list[float] | None:
    if isinstance(value, dict):
        inner = _first(value, ("bbox", "box", "bounding_box", "boundingBox"))
        if inner is not None:
            return _parse_box(inner, box_format)
        for keys, kind in (
            (("x1", "y1", "x2", "y2"), "xyxy"),
            (("xmin", "ymin", "xmax", "ymax"), "xyxy"),
            (("x", "y", "w", "h"), "xywh"),
            (("x", "y", "width", "height"), "xywh"),
            (("left", "top", "width", "height"), "xywh"),
        ):
            if all(k in value for k in keys):
                try:
                    a, b, c, d = (float(value[k]) for k in keys)
                except (TypeError, ValueError):
                    return None
                return [a, b, a + c, b + d] if kind == "xywh" else [a, b, c, d]
        return None
    if isinstance(value, (list, tuple)) and len(value) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        a, b, c, d = (float(v) for v in value)
        return [a, b, a + c, b + d] if box_format == "xywh" else [a, b, c, d]
    return None


def _parse_boxes(value: Any, box_format: str) -> list[tuple[str | None, list[float]]]:
    """Boxes with optional names from one value: a box, a list of boxes, or named dicts."""
    if value is None or isinstance(value, str):
        return []
    single = _parse_box(value, box_format)
    if single is not None:
        name = _first(value, ("name", "label", "category", "class", "object_name")) if isinstance(value, dict) else None
        return [(str(name) if name is not None else None, single)]
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(_parse_boxes(item, box_format))
        return out
    return []


def _parse_record(record: Any, frame_key: Any, defaults: dict, box_format: str) -> VhicoAnnotation | None:
    if not isinstance(record, dict):
        return None
    time = None
    frame = _frame_index(_first(record, _FRAME_KEYS))
    if frame is None:
        frame = _frame_index(frame_key)
    if frame is None:
        raw_time = _first(record, _TIME_KEYS)
        try:
            time = float(raw_time) if raw_time is not None else None
        except (TypeError, ValueError):
            time = None
        if time is None:
            return None

    humans = [box for _, box in _parse_boxes(_first(record, _HUMAN_KEYS), box_format)]
    objects = []
    default_object = _first(record, _OBJECT_NAME_KEYS) or _first(defaults, _OBJECT_NAME_KEYS)
    for key in _OBJECT_KEYS:
        if key in record:
            for name, box in _parse_boxes(record[key], box_format):
                objects.append((_clean(name or default_object or "object"), box))
            if objects:
                break
    generic = _first(record, _GENERIC_BOX_KEYS)
    for name, box in _parse_boxes(generic, box_format):
        role = (name or "").strip().lower()
        if role in _HUMAN_NAMES:
            humans.append(box)
        else:
            objects.append((_clean(name or default_object or "object"), box))
    if not humans and not objects:
        return None
    return VhicoAnnotation(
        frame=frame,
        time=time,
        label=_label(record, defaults),
        humans=humans,
        objects=objects,
        size=_size(record, defaults),
    )
