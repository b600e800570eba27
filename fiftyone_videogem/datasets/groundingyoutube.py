"""Importer for GroundingYouTube (Chen et al., "What, when, and where?", CVPR 2024).

The annotations are one box per second for 250 cooking videos:

* ``GoundingYouTubeBox.json`` (the published name, typo included):
  ``{youtube_id: {"<second>": {"box": [x1, y1, x2, y2], "step": "<verb object>"}}}``
* ``box_anno.json``: the same boxes as
  ``{youtube_id: [{"second", "box", "step_name"}]}``; read when the first
  file is absent
* ``id2wh.json``: ``{youtube_id: [width, height]}``, the pixel space of the
  boxes

Boxes are normalised by the ``id2wh.json`` size, not by the downloaded file's
size, so a video downloaded at another resolution (same aspect ratio) still
lines up. About 10% of the boxes reach past the frame (or are degenerate):
they are clipped to the frame, and those empty after clipping are dropped;
both are counted in the import report.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable

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
    filter_video_ids,
    note,
    read_json,
    reuse_or_prepare,
)

logger = logging.getLogger(__name__)

BENCHMARK = "groundingyoutube"
DEFAULT_NAME = "videogem-groundingyoutube"
PROMPT_PARSER = "verb_object"

BOX_FILES = ("GoundingYouTubeBox.json", "GroundingYouTubeBox.json", "box_anno.json")
SIZE_FILE = "id2wh.json"
FRAME_FIELDS = ("second",)
"""Frame fields the importer writes besides ``gt_field`` and ``action``."""

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

    Returns:
        the dataset; ``dataset.info["import_report"]`` holds the
        :class:`~fiftyone_videogem.datasets.common.ImportReport` as a dict
    """
    gt_field, _, _ = check_output_fields(gt_field, FRAME_FIELDS)
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

    report = ImportReport(
        benchmark=BENCHMARK,
        dataset_name=name,
        annotations=[box_path] + ([size_path] if sizes else []),
        videos_dir=os.fspath(videos_dir),
        settings={"second_offset": second_offset, "gt_field": gt_field, "max_videos": max_videos},
        malformed_entries=malformed.entries,
    )
    if not sizes:
        report.notes.append(
            f"'{size_path}' not found: boxes are normalised by each video file's own size, which is only "
            "right for videos downloaded at the annotated resolution"
        )

    videos = []
    no_size = []
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
        videos.append(VideoAnnotations(video_id=video_id, frames=frames))
    if sizes and no_size:
        report.notes.append(
            f"{len(no_size)} videos have no size in '{SIZE_FILE}' and were normalised by the file's own size: "
            f"{no_size[:10]}"
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
