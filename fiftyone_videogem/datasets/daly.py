"""Importer for DALY, Daily Action Localization in YouTube (Weinzaepfel et al., 2016).

The annotations are one pickle, ``daly1.1.0.pkl``, written by Python 2 (load
it with ``encoding="latin1"``). Its documented layout:

* ``daly["labels"]``: the 10 action classes, CamelCase (``"Drinking"``,
  ``"ApplyingMakeUpOnLips"``, ...)
* ``daly["splits"]``: the test videos (one split, ``daly["splits"][0]``)
* ``daly["metadata"][video]``: ``fps``, number of frames, duration
* ``daly["annot"][video]``: ``{"suggestedClass": cls, "annot": {cls:
  [instance, ...]}}`` where video ids carry their extension
  (``"PFEJ0EQN-bY.mp4"``)
* an instance: ``{"beginTime", "endTime", "flags", "keyframes": [keyframe,
  ...]}``
* a keyframe: ``{"frameNumber", "time", "boundingBox", ...}`` with
  ``boundingBox`` normalised ``[[x1, y1, x2, y2]]`` (a 1x4 array)

The reader tolerates missing keys: a keyframe without ``time`` is placed by
``frameNumber`` (through the metadata's fps when there is one), instances
without keyframes only contribute their time span, and a video entry without
``"annot"`` is read as the class dict itself.
"""

from __future__ import annotations

import glob
import logging
import os
from typing import Any, Iterable

import fiftyone as fo

from fiftyone_videogem.datasets.common import (
    DEFAULT_GT_FIELD,
    BuildOptions,
    FrameAnnotation,
    ImportReport,
    Malformed,
    VideoAnnotations,
    as_id_list,
    build_dataset,
    check_output_fields,
    filter_video_ids,
    load_annotation_pickle,
    note,
    reuse_or_prepare,
)

logger = logging.getLogger(__name__)

BENCHMARK = "daly"
DEFAULT_NAME = "videogem-daly"
PROMPT_PARSER = "camel_case"
ANNOTATION_FILE = "daly1.1.0.pkl"

DALY_CLASSES = (
    "ApplyingMakeUpOnLips",
    "BrushingTeeth",
    "CleaningFloor",
    "CleaningWindows",
    "Drinking",
    "FoldingTextile",
    "Ironing",
    "Phoning",
    "PlayingHarmonica",
    "TakingPhotosOrVideos",
)

SPLITS = ("test", "train", "all")
FRAME_FIELDS = ("keyframe_time",)
"""Frame fields the importer writes besides ``gt_field`` and ``action``."""


def load_daly(
    annotations_path_or_dir: str | os.PathLike,
    videos_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = False,
    max_videos: int | None = None,
    video_ids: Iterable[str] | None = None,
    split: str = "test",
    classes: Iterable[str] | None = None,
    gt_field: str = DEFAULT_GT_FIELD,
    temporal_field: str | None = "gt_instances",
    persistent: bool = True,
) -> fo.Dataset:
    """Builds a FiftyOne video dataset from the DALY annotations.

    Each video becomes a sample tagged ``"daly"`` with

    * frame field ``gt_field``: ``Detections`` with one box per keyframe,
      labelled with the CamelCase class, attributes ``clipped``,
      ``instance`` (the instance's index within its class) and the
      instance's boolean flags (``isOccluded``, ...)
    * frame fields ``action`` (the class) and ``keyframe_time``
    * sample fields ``video_id`` (without extension), ``action`` (the
      suggested class, else the most frequent one), ``actions``,
      ``prompt_parser="camel_case"`` and, unless ``temporal_field`` is None,
      ``TemporalDetections`` of the action instances

    Args:
        annotations_path_or_dir: ``daly1.1.0.pkl`` or the folder holding it
        videos_dir: the folder with the downloaded videos, named
            ``<youtube_id>.mp4`` (or ``.mkv``, ``.webm``, ``.avi``), searched
            recursively
        name: the dataset name (``"videogem-daly"``)
        overwrite: whether to delete and re-import an existing dataset of
            that name (False: the existing dataset is returned as is)
        max_videos: import at most this many videos (None: all found)
        video_ids: import only these videos, with or without extension
            (None: all; a string is one id)
        split: ``"test"`` (the videos of ``daly["splits"][0]``), ``"train"``
            (the others) or ``"all"`` (``"test"``); when the pickle has no
            splits every video is used and the report says so
        classes: keep only these classes (None: all; a string is one class)
        gt_field: the frame field for the ground truth (``"gt"``; a
            ``frames.`` prefix is accepted); it must differ from the other
            frame fields the importer writes (``action``, ``keyframe_time``)
        temporal_field: the sample field for the action instances
            (``"gt_instances"``; None to skip)
        persistent: whether the dataset is kept after the process exits
            (True)

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the import
        report as a dict
    """
    if split not in SPLITS:
        raise ValueError(f"unknown DALY split {split!r}; use one of {SPLITS}")
    gt_field, _, temporal_field = check_output_fields(gt_field, FRAME_FIELDS, temporal_field=temporal_field)
    keep_classes = set(as_id_list(classes, "classes")) if classes is not None else None
    name = name or DEFAULT_NAME
    existing = reuse_or_prepare(name, overwrite, BENCHMARK)
    if existing is not None:
        return existing

    path = find_annotation_file(annotations_path_or_dir)
    daly = load_annotation_pickle(path, encoding="latin1")
    if not isinstance(daly, dict) or not isinstance(daly.get("annot"), dict):
        raise ValueError(
            f"'{path}' does not look like the DALY annotations: expected a dict with an 'annot' dict "
            "(daly1.1.0.pkl from the DALY website)"
        )
    annot = daly["annot"]
    metadata = daly.get("metadata") or {}
    malformed = Malformed()

    report = ImportReport(
        benchmark=BENCHMARK,
        dataset_name=name,
        annotations=[path],
        videos_dir=os.fspath(videos_dir),
        settings={
            "split": split,
            "classes": sorted(keep_classes) if keep_classes is not None else None,
            "gt_field": gt_field,
            "max_videos": max_videos,
        },
        malformed_entries=malformed.entries,
    )
    report.details.update(labels=[str(x) for x in daly.get("labels") or []], keyframes_without_box=0)

    keys_by_id = {_video_id(k): k for k in annot}
    ordered = list(keys_by_id)
    test_ids = _test_split(daly)
    if split != "all":
        if test_ids is None:
            report.notes.append(f"'{path}' has no 'splits'; split={split!r} ignored, all videos used")
        elif split == "test":
            ordered = [v for v in ordered if v in test_ids]
        else:
            ordered = [v for v in ordered if v not in test_ids]

    videos = []
    for video_id in filter_video_ids(ordered, video_ids, report):
        key = keys_by_id[video_id]
        video = _read_video(video_id, annot[key], _video_fps(metadata, key), keep_classes, report,
                            malformed, path)
        if video.frames:
            videos.append(video)
        else:
            report.notes.append(f"video '{video_id}' has no keyframe boxes (for the selected classes); skipped")

    options = BuildOptions(
        name=name,
        benchmark=BENCHMARK,
        prompt_parser=PROMPT_PARSER,
        gt_field=gt_field,
        temporal_field=temporal_field,
        max_videos=max_videos,
        persistent=persistent,
    )
    return build_dataset(videos, videos_dir, options, report)


def find_annotation_file(path_or_dir: str | os.PathLike) -> str:
    """Returns ``daly1.1.0.pkl`` given the file or its folder (any ``daly*.pkl`` there also works)."""
    path = os.fspath(path_or_dir)
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        candidate = os.path.join(path, ANNOTATION_FILE)
        if os.path.isfile(candidate):
            return candidate
        others = sorted(glob.glob(os.path.join(path, "daly*.pkl")))
        if others:
            return others[-1]
    raise FileNotFoundError(
        f"DALY annotations not found at '{path}'; pass daly1.1.0.pkl (from the DALY website) or its folder"
    )


def _video_id(key: Any) -> str:
    key = str(key)
    stem, ext = os.path.splitext(key)
    return stem if ext.lower() in (".mp4", ".mkv", ".webm", ".avi") else key


def _test_split(daly: dict) -> set[str] | None:
    splits = daly.get("splits")
    if not splits:
        return None
    if isinstance(splits, dict):
        videos = splits.get(0, splits.get("0", splits.get("test")))
        if videos is None:
            videos = next(iter(splits.values()))
    elif isinstance(splits, (list, tuple)):
        videos = splits[0] if splits and isinstance(splits[0], (list, tuple, set)) else splits
    else:
        return None
    return {_video_id(v) for v in videos}


def _video_fps(metadata: Any, key: str) -> float | None:
    entry = metadata.get(key) if isinstance(metadata, dict) else None
    if not isinstance(entry, dict):
        return None
    try:
        fps = float(entry.get("fps"))
    except (TypeError, ValueError):
        return None
    return fps if fps > 0 else None


def _read_video(
    video_id: str,
    entry: Any,
    meta_fps: float | None,
    keep_classes: set[str] | None,
    report: ImportReport,
    malformed: Malformed | None = None,
    path: str = "",
) -> VideoAnnotations:
    if not isinstance(entry, dict):
        note(malformed, path, f"video '{video_id}'", f"expected a dict of annotations, got {entry!r:.80}")
        entry = {}
    class_dict = entry.get("annot")
    if not isinstance(class_dict, dict):
        class_dict = {k: v for k, v in entry.items() if isinstance(v, (list, tuple))}
    video = VideoAnnotations(video_id=video_id)
    for label, instances in class_dict.items():
        label = str(label)
        if keep_classes is not None and label not in keep_classes:
            continue
        if not isinstance(instances, (list, tuple)):
            note(malformed, path, f"video '{video_id}', class {label}",
                 f"expected a list of instances, got {instances!r:.80}")
            continue
        for number, instance in enumerate(instances):
            if not isinstance(instance, dict):
                note(malformed, path, f"video '{video_id}', {label} instance {number}",
                     f"expected a dict, got {instance!r:.80}")
                continue
            begin, end = _float(instance.get("beginTime")), _float(instance.get("endTime"))
            if begin is not None and end is not None:
                video.temporal.append((label, begin, end))
            flags = {
                str(k): bool(v)
                for k, v in (instance.get("flags") or {}).items()
                if isinstance(v, (bool, int)) and not isinstance(k, int)
            }
            for keyframe in instance.get("keyframes") or []:
                for frame in _keyframe_annotations(keyframe, label, number, flags, meta_fps):
                    if frame is None:
                        report.details["keyframes_without_box"] += 1
                        report.annotations_unusable += 1
                    else:
                        video.frames.append(frame)
    suggested = entry.get("suggestedClass")
    if suggested is not None and any(f.action == str(suggested) for f in video.frames):
        video.action = str(suggested)
    video.frames.sort(key=lambda f: (f.time if f.time is not None else float("inf"), f.frame_number or 0))
    return video


def _keyframe_annotations(
    keyframe: Any, label: str, number: int, flags: dict[str, bool], meta_fps: float | None
) -> list[FrameAnnotation | None]:
    if not isinstance(keyframe, dict):
        return [None]
    time = _float(keyframe.get("time"))
    frame_number = None
    raw_frame = _float(keyframe.get("frameNumber"))
    if time is None and raw_frame is not None:
        if meta_fps:
            time = raw_frame / meta_fps
        else:
            frame_number = int(raw_frame) + 1  # frameNumber counts from 0
    if time is None and frame_number is None:
        return [None]
    boxes = _boxes(keyframe.get("boundingBox"))
    if not boxes:
        return [None]
    out: list[FrameAnnotation | None] = []
    for box in boxes:
        # documented as normalised; coordinates far above 1 can only be pixels of the video
        normalised = max(box) <= 2.0
        out.append(
            FrameAnnotation(
                box=box,
                action=label,
                box_size=(1.0, 1.0) if normalised else None,
                time=time,
                frame_number=frame_number,
                attributes={"instance": number, **flags},
                frame_fields={"keyframe_time": time} if time is not None else {},
            )
        )
    return out


def _boxes(value: Any) -> list[list[float]]:
    """``[x1, y1, x2, y2]`` rows of a box given as a 1x4 / Nx4 array, a flat list or a dict."""
    if value is None:
        return []
    if isinstance(value, dict):
        try:
            return [[float(value[k]) for k in ("x1", "y1", "x2", "y2")]]
        except (KeyError, TypeError, ValueError):
            return []
    try:
        rows = value.tolist() if hasattr(value, "tolist") else list(value)
    except TypeError:
        return []
    if len(rows) == 4 and all(_float(v) is not None for v in rows):
        rows = [rows]
    out = []
    for row in rows:
        try:
            values = [float(v) for v in row]
        except (TypeError, ValueError):
            continue
        if len(values) == 4:
            out.append(values)
    return out


def _float(value: Any) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result else None
