"""Importer for THUMOS14 temporal action localisation (Idrees et al., 2017), the 20 detection classes.

The official temporal annotations are one text file per class and split, ``<Class>_test.txt`` (or
``<Class>_val.txt``), in ``TH14_Temporal_annotations_test/annotation/``. Each line is one action
instance::

    video_test_0000004 0.2 1.1

the video id, then the start and end in seconds, separated by white space. ``Ambiguous_test.txt``
marks stretches that are neither clearly the action nor clearly not; ZEAL and the usual protocol
ignore them, so they are skipped (and counted). The test split has 213 videos with annotations,
212 of them with at least one action instance.

Times become inclusive 1-based frame numbers through each video's own frame timestamps (the frame
on screen at that time, :meth:`fiftyone_videogem.video.FrameTimes.frame_number`, right for variable
frame rates too); the instance's times in seconds are kept as the attributes ``start_time`` and
``end_time``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Iterable

import fiftyone as fo

from fiftyone_videogem.datasets.common import (
    ACTION_FIELD,
    ACTIONS_FIELD,
    DEFAULT_GT_FIELD,
    PROMPT_PARSER_FIELD,
    VIDEO_ID_FIELD,
    ImportReport,
    Malformed,
    as_id_list,
    check_output_fields,
    filter_video_ids,
    finish_import,
    most_common,
    note,
    ordered_unique,
    reuse_or_prepare,
    temporal_detections,
    temporal_samples,
    video_metadata,
    write_samples,
)
from fiftyone_videogem.video import FrameTimes, VideoInfo

logger = logging.getLogger(__name__)

BENCHMARK = "thumos14"
DEFAULT_NAME = "videogem-thumos14"
PROMPT_PARSER = "camel_case"
DEFAULT_TEMPORAL_FIELD = "gt_instances"
AMBIGUOUS = "Ambiguous"
SPLITS = ("test", "val")

THUMOS14_CLASSES = (
    "BaseballPitch",
    "BasketballDunk",
    "Billiards",
    "CleanAndJerk",
    "CliffDiving",
    "CricketBowling",
    "CricketShot",
    "Diving",
    "FrisbeeCatch",
    "GolfSwing",
    "HammerThrow",
    "HighJump",
    "JavelinThrow",
    "LongJump",
    "PoleVault",
    "Shotput",
    "SoccerPenalty",
    "TennisSwing",
    "ThrowDiscus",
    "VolleyballSpiking",
)
"""The 20 classes of the THUMOS14 temporal detection task."""


@dataclass(frozen=True)
class Instance:
    """One annotated action instance.

    Attributes:
        video_id: the video's id (the file stem)
        label: the class
        start: start time in seconds
        end: end time in seconds
    """

    video_id: str
    label: str
    start: float
    end: float


@dataclass
class Annotations:
    """What :func:`read_annotations` found.

    Attributes:
        instances: the action instances in file order (classes in name order)
        files: the files read
        ambiguous: the number of ``Ambiguous`` instances skipped
        malformed: the number of lines that could not be read
    """

    instances: list[Instance]
    files: list[str]
    ambiguous: int
    malformed: int


def find_annotation_files(annotations_dir: str | os.PathLike, split: str = "test") -> dict[str, str]:
    """``{class: path}`` of the ``<Class>_<split>.txt`` files in a folder or below it.

    The folder itself is looked at first; when it holds no such file, its sub-folders are searched
    (so the unpacked ``TH14_Temporal_annotations_test`` folder works as well as its ``annotation``
    folder). ``Ambiguous`` is included.

    Raises:
        ValueError: for an unknown split
        FileNotFoundError: if the folder does not exist or holds no annotation file
    """
    if split not in SPLITS:
        raise ValueError(f"unknown THUMOS14 split {split!r}; use one of {SPLITS}")
    folder = os.path.abspath(os.fspath(annotations_dir))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"THUMOS14 annotations folder '{folder}' does not exist; pass the folder holding the "
            f"<Class>_{split}.txt files (TH14_Temporal_annotations_{split}/annotation)"
        )
    pattern = re.compile(rf"^(?P<label>[A-Za-z0-9]+)_{split}\.txt$")
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found = {m.group("label"): os.path.join(root, n) for n in sorted(files) if (m := pattern.match(n))}
        if found:
            return found
    raise FileNotFoundError(
        f"no THUMOS14 annotation file <Class>_{split}.txt in '{folder}' or below it; pass the folder of "
        f"TH14_Temporal_annotations_{split}"
    )


def read_annotations(
    annotations_dir: str | os.PathLike, split: str = "test", malformed: Malformed | None = None
) -> Annotations:
    """Reads every ``<Class>_<split>.txt`` file (``Ambiguous`` is counted and skipped).

    Blank lines are ignored; lines that are not ``video_id start end`` with finite numbers and
    ``start <= end`` are skipped and recorded in ``malformed`` (file, line, problem).

    Args:
        annotations_dir: the folder with the files, or a folder above it
        split ("test"): ``"test"`` or ``"val"``
        malformed (None): collects the skipped lines (None: they are logged)
    """
    files = find_annotation_files(annotations_dir, split)
    instances: list[Instance] = []
    skipped = 0
    ambiguous = 0
    for label in sorted(files):
        path = files[label]
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                fields = line.split()
                if not fields:
                    continue
                instance = _parse_line(fields, label)
                if instance is None:
                    skipped += 1
                    note(malformed, path, f"line {number} {line.strip()[:80]!r}",
                         "expected 'video_id start end' with start <= end, in seconds")
                elif label == AMBIGUOUS:
                    ambiguous += 1
                else:
                    instances.append(instance)
    return Annotations(instances, [files[label] for label in sorted(files)], ambiguous, skipped)


def _parse_line(fields: list[str], label: str) -> Instance | None:
    if len(fields) != 3:
        return None
    try:
        start, end = float(fields[1]), float(fields[2])
    except ValueError:
        return None
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        return None
    return Instance(os.path.splitext(fields[0])[0], label, start, end)


def load_thumos14(
    annotations_dir: str | os.PathLike,
    videos_dir: str | os.PathLike,
    name: str | None = None,
    overwrite: bool = False,
    split: str = "test",
    classes: Iterable[str] | None = None,
    video_ids: Iterable[str] | None = None,
    max_videos: int | None = None,
    temporal_field: str = DEFAULT_TEMPORAL_FIELD,
    persistent: bool = True,
) -> fo.Dataset:
    """Builds a FiftyOne video dataset from the THUMOS14 temporal annotations.

    Each annotated video becomes a sample tagged ``"thumos14"`` with

    * sample field ``temporal_field``: ``TemporalDetections``, one per action instance, labelled with
      the class, ``support`` in inclusive 1-based frame numbers and the attributes
      ``start_time`` / ``end_time`` (seconds, as annotated) and ``clipped`` (the end was past the
      video's last frame)
    * sample fields ``video_id``, ``actions`` (the video's classes, in order of first appearance:
      the video-level labels), ``action`` (the class with the most instances) and
      ``prompt_parser="camel_case"``

    ``dataset.classes[temporal_field]`` lists the classes read. Videos named in the annotations but absent
    from ``videos_dir`` are listed in the import report (``missing_videos``), as are unreadable
    videos, malformed lines and instances past a video's end; none of them stops the import.

    Args:
        annotations_dir: the folder with ``<Class>_<split>.txt`` (or a folder above it)
        videos_dir: the folder with the videos, named ``<video_id>.mp4`` (or ``.mkv``, ``.webm``,
            ``.avi``), searched recursively
        name ("videogem-thumos14"): the dataset name (``-val`` is appended for ``split="val"``)
        overwrite (False): delete and re-import an existing dataset of that name (False: the
            existing dataset is returned as it is)
        split ("test"): ``"test"`` or ``"val"``
        classes (None): keep only these classes (None: all)
        video_ids (None): import only these videos (None: all annotated)
        max_videos (None): import at most this many videos
        temporal_field ("gt_instances"): the sample field of the ground truth (the field DALY's
            action instances use)
        persistent (True): whether the dataset is kept after the process exits

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the import report as a dict
    """
    if split not in SPLITS:
        raise ValueError(f"unknown THUMOS14 split {split!r}; use one of {SPLITS}")
    if temporal_field is None:
        raise ValueError("temporal_field names the sample field of the ground truth; it cannot be None")
    _, _, temporal_field = check_output_fields(DEFAULT_GT_FIELD, temporal_field=temporal_field)
    keep = set(as_id_list(classes, "classes")) if classes is not None else None
    name = name or (DEFAULT_NAME if split == "test" else f"{DEFAULT_NAME}-{split}")
    existing = reuse_or_prepare(name, overwrite, BENCHMARK)
    if existing is not None:
        return existing
    malformed = Malformed()
    annotations = read_annotations(annotations_dir, split, malformed)

    report = ImportReport(
        benchmark=BENCHMARK,
        dataset_name=name,
        annotations=annotations.files,
        videos_dir=os.path.abspath(os.fspath(videos_dir)),
        settings={"split": split, "classes": sorted(keep) if keep is not None else None,
                  "temporal_field": temporal_field, "max_videos": max_videos},
        malformed_entries=malformed.entries,
    )
    instances = [i for i in annotations.instances if keep is None or i.label in keep]
    labels = sorted({i.label for i in instances})
    unknown = sorted(keep - {i.label for i in annotations.instances}) if keep is not None else []
    if unknown:
        report.notes.append(f"{len(unknown)} requested classes have no annotation file or instance: {unknown}")
    report.annotations_unusable = annotations.malformed
    report.details.update(
        classes=labels,
        instances_read=len(instances),
        instances_imported=0,
        instances_clipped=0,
        ambiguous_skipped=annotations.ambiguous,
    )

    by_video: dict[str, list[Instance]] = {}
    for instance in instances:
        by_video.setdefault(instance.video_id, []).append(instance)
    wanted = filter_video_ids(sorted(by_video), video_ids, report)
    report.videos_annotated = len(wanted)
    samples = temporal_samples(
        wanted, videos_dir, max_videos, report,
        lambda video_id, path, info, times: _make_sample(video_id, by_video[video_id], path, info, times,
                                                         temporal_field, report),
    )

    dataset = write_samples(name, BENCHMARK, samples, report, persistent=persistent)
    dataset.classes = {temporal_field: labels}
    finish_import(dataset, report)
    bad = report.missing_videos or report.unreadable_videos or report.damaged_videos or report.malformed_entries
    level = logging.WARNING if bad else logging.INFO
    logger.log(
        level, "%s; %d of %d action instances imported", report.summary(), report.details["instances_imported"],
        report.details["instances_read"],
    )
    return dataset


def _make_sample(
    video_id: str,
    instances: list[Instance],
    path: str,
    info: VideoInfo,
    times: FrameTimes,
    temporal_field: str,
    report: ImportReport,
) -> fo.Sample | None:
    ordered = sorted(instances, key=lambda i: (i.start, i.end, i.label))
    detections, clipped = temporal_detections(video_id, [(i.label, i.start, i.end, {}) for i in ordered], info,
                                              times, report)
    report.details["instances_clipped"] += clipped
    if not detections:
        report.notes.append(f"video '{video_id}' has no action instance within its duration and was not imported")
        return None
    report.details["instances_imported"] += len(detections)
    labels = [d.label for d in detections]
    sample = fo.Sample(filepath=path, tags=[BENCHMARK])
    sample.metadata = video_metadata(path, info)
    sample[VIDEO_ID_FIELD] = video_id
    sample[ACTIONS_FIELD] = ordered_unique(labels)
    sample[ACTION_FIELD] = most_common(labels)
    sample[PROMPT_PARSER_FIELD] = PROMPT_PARSER
    sample[temporal_field] = fo.TemporalDetections(detections=detections)
    return sample
