"""When and where as FiftyOne evaluations: GroundingYouTube's spatio-temporal metrics, and temporal mAP.

-   :func:`evaluate_spatiotemporal`: **IoU+Pointing** and **video mAP** (WWW, Chen et al., CVPR 2024,
    Table 2) of predicted segments with their points and heatmaps against ground-truth segments with
    their boxes. The rules are those of :mod:`fiftyone_videogem.temporal.metrics` (TEMPORAL.md section
    3's reading of the paper); this module reads the FiftyOne fields into its plain records.
-   :func:`evaluate_temporal`: temporal mAP through FiftyOne's own ``evaluate_detections`` on
    ``TemporalDetections`` (ActivityNet method) at thresholds passed explicitly, reported per threshold
    and as their mean.

What :func:`evaluate_spatiotemporal` reads, on a video collection:

-   ``pred_field`` / ``gt_field``: sample-level ``TemporalDetections``; ``support`` holds inclusive
    frame numbers. Each prediction is one detection of the video mAP, ranked by its ``confidence``.
-   The **sampled frames** of a video at ``fps``: frame ``floor(k * video_fps / fps) + 1`` for
    ``k = 0, 1, ...`` (:func:`fiftyone_videogem.localization.sampled_frame_numbers`). A segment covers
    the sampled frames inside its support; only those frames are scored.
-   ``pred_points_field``: frame-level ``Keypoints``; the point of a segment at a frame is the final
    keypoint chosen as the pointing game chooses it
    (:func:`fiftyone_videogem.evaluation.select_points` with the segment's phrase as the class).
-   ``pred_heatmap_field``: frame-level ``Heatmap``; a segment's tube at a frame is the heatmap at
    ``>= mask_threshold`` (values scaled to ``[0, 1]`` by the heatmap's ``range``).
-   ``gt_boxes_field``: frame-level ``Detections``; a GT segment's boxes at a frame are the detections
    labelled with its phrase (unlabelled detections count for every phrase).
-   ``metadata``: frame size (areas are counted on the frame's pixel grid), frame rate and frame count.

A frame's grounding (point and heatmap) belongs to the phrase of its final keypoint's ``label``, as
:func:`~fiftyone_videogem.localization.localize_actions` writes it: a segment of another phrase that
also covers the frame has no point and an empty region there. Keypoints without a label belong to
every segment.

The run is stored as a FiftyOne evaluation of method ``"spatiotemporal"`` (``list_evaluations()``,
``load_evaluation_results()``, ``rename_evaluation()``, ``delete_evaluation()``), computed in full
before anything is written. It writes:

-   ``<eval_key>_iou_pointing`` (sample, float): the video's IoU+Pointing (None for an empty union);
-   ``<pred_field>.detections.<eval_key>_iou`` and ``<gt_field>.detections.<eval_key>_iou`` (float):
    each segment's best tube IoU with a segment of the same phrase on the other side (0 when there is
    none). This is the best IoU, not the greedy matching of the mAP; ``F("<eval_key>_iou") < t`` gives
    the segments that no segment of the other side overlaps that well.

Example::

    import fiftyone_videogem as fvg

    results = fvg.evaluate_spatiotemporal(
        dataset, "found", "gt_segments", pred_points_field="frames.found_points",
        pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", eval_key="st",
    )
    results.print_report()
    results.metrics()["video_map"]
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import math
import uuid
from typing import Any, Optional, Sequence

import numpy as np

import fiftyone.core.evaluation as foe
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou
from fiftyone import ViewField as F

from ..fields import FRAMES_PREFIX, document_type, is_frame_path, is_video, resolve_field, root_dataset, strip_frames
from ..runs import delete_fields
from ..temporal.metrics import (
    GROUNDINGYOUTUBE_THRESHOLDS,
    GTSegment,
    PredSegment,
    VideoRecord,
    iou_pointing,
    tube_iou,
    video_map,
)
from .pointing import select_points
from .pointing_game import KEY_PATTERN, format_table, other_kind_problem, predicted_points, written_fields_problem

logger = logging.getLogger(__name__)

PUBLIC_MODULE = "fiftyone_videogem.evaluation"
METHOD_NAME = "spatiotemporal"
DEFAULT_MASK_THRESHOLD = 0.5
"""Heatmap threshold of the tubes: WWW's CLIP baseline (0.5) on min-max normalised heatmaps."""
THUMOS_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
"""Temporal IoU thresholds of THUMOS14 (ZEAL, T3AL, FreeZAD); GroundingYouTube uses 0.1-0.5."""

_READ_CHUNK = 32  # videos read at a time (heatmaps of one chunk are in memory together)


# --------------------------------------------------------------------------------------
# Reading one video into a plain record
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Fields:
    """The fields a spatio-temporal evaluation reads: sample-level segments, frame-level rest (bare names)."""

    pred: str
    gt: str
    points: str
    heatmap: str
    boxes: str


def _heatmap_mask(heatmap: Optional[fol.Heatmap], threshold: float) -> Optional[np.ndarray]:
    """``heatmap >= threshold`` after scaling the map by its range to ``[0, 1]`` (None without a map)."""
    if heatmap is None or not heatmap.has_map:
        return None
    values = heatmap.get_map()
    if values is None:
        return None
    values = np.asarray(values)
    if values.ndim == 3:  # a colour PNG: its first channel
        values = values[..., 0]
    if heatmap.range is not None:
        low, high = float(heatmap.range[0]), float(heatmap.range[1])
    elif np.issubdtype(values.dtype, np.integer):
        low, high = 0.0, float(np.iinfo(values.dtype).max)
    else:
        low, high = 0.0, 1.0
    scaled = (values.astype(np.float64) - low) / (high - low) if high > low else np.zeros(values.shape)
    return scaled >= threshold


def _pixel_boxes(detections: Optional[fol.Detections], label: str, size: tuple[int, int]) -> list[list[float]]:
    """The boxes of a frame labelled ``label`` (or unlabelled), as pixel ``[x1, y1, x2, y2]``."""
    width, height = size
    boxes = []
    for d in getattr(detections, "detections", None) or []:
        if d.bounding_box is None or d.label not in (None, label):
            continue
        x, y, w, h = (float(v) for v in d.bounding_box)
        if all(math.isfinite(v) for v in (x, y, w, h)):
            boxes.append([x * width, y * height, (x + w) * width, (y + h) * height])
    return boxes


class _FrameGrounding:
    """The predicted point and heatmap of the frames of one video, looked up per phrase."""

    def __init__(self, size: tuple[int, int], threshold: float):
        self.size = size
        self.threshold = threshold
        self.keypoints: dict[int, Any] = {}
        self.heatmaps: dict[int, Any] = {}
        self._masks: dict[int, Optional[np.ndarray]] = {}

    def point(self, frame: int, label: str) -> Optional[tuple[float, float]]:
        final, _ = select_points(predicted_points(self.keypoints.get(frame)), label)
        if final is None or final.label not in (None, label):
            return None
        return final.xy[0] * self.size[0], final.xy[1] * self.size[1]

    def mask(self, frame: int, label: str) -> Optional[np.ndarray]:
        owner, _ = select_points(predicted_points(self.keypoints.get(frame)), None)
        if owner is not None and owner.label not in (None, label):
            return None
        if frame not in self._masks:
            self._masks[frame] = _heatmap_mask(self.heatmaps.get(frame), self.threshold)
        return self._masks[frame]


def _covered(sampled: Sequence[int], support) -> list[int]:
    """The sampled frames inside an inclusive ``[first, last]`` support."""
    if not support:
        return []
    first, last = int(support[0]), int(support[1])
    return list(sampled[bisect.bisect_left(sampled, first) : bisect.bisect_right(sampled, last)])


def _video_record(
    sample_id: str,
    size: tuple[int, int],
    sampled: Sequence[int],
    predictions: Sequence[fol.TemporalDetection],
    ground_truth: Sequence[fol.TemporalDetection],
    grounding: _FrameGrounding,
    boxes: dict[int, Any],
) -> VideoRecord:
    record = VideoRecord(sample_id, size)
    for det in predictions:
        frames = _covered(sampled, det.support)
        score = float(det.confidence) if det.confidence is not None else math.nan
        points = {f: p for f in frames if (p := grounding.point(f, det.label)) is not None}
        masks = {f: m for f in frames if (m := grounding.mask(f, det.label)) is not None}
        record.predictions.append(PredSegment(det.label, frames, score, points, masks))
    for det in ground_truth:
        frames = _covered(sampled, det.support)
        frame_boxes = {f: b for f in frames if (b := _pixel_boxes(boxes.get(f), det.label, size))}
        record.ground_truth.append(GTSegment(det.label, frames, frame_boxes))
    return record


def _detections(value: Optional[fol.TemporalDetections]) -> list[fol.TemporalDetection]:
    return list(getattr(value, "detections", None) or [])


@dataclasses.dataclass
class _Video:
    """One read video: its record and the ids of its segments (for the written attributes)."""

    record: VideoRecord
    pred_ids: list[str]
    gt_ids: list[str]


def _read_videos(samples, fields: _Fields, fps: float, mask_threshold: float, progress=None) -> tuple[list[_Video], list[str]]:
    """Every video of ``samples`` as a record; the notes list videos that could not be read."""
    from ..localization import sampled_frame_numbers

    ids = samples.values("id")
    videos, notes = [], []
    paths = [
        "id", "filepath", "metadata.frame_width", "metadata.frame_height", "metadata.frame_rate",
        "metadata.total_frame_count", fields.pred, fields.gt, "frames.frame_number",
        FRAMES_PREFIX + fields.points, FRAMES_PREFIX + fields.heatmap, FRAMES_PREFIX + fields.boxes,
    ]
    with fou.ProgressBar(total=len(ids), progress=progress) as bar:
        for start in range(0, len(ids), _READ_CHUNK):
            chunk = samples.select(ids[start : start + _READ_CHUNK], ordered=True)
            for sid, path, width, height, rate, count, pred, gt, numbers, points, heatmaps, boxes in zip(
                *chunk.values(paths)
            ):
                bar.update()
                if not (width and height and rate and count):
                    notes.append(
                        f"video {sid} ('{path}') has no frame size, rate or count in its metadata and was left "
                        "out; run dataset.compute_metadata() and evaluate again"
                    )
                    continue
                size = (int(width), int(height))
                grounding = _FrameGrounding(size, mask_threshold)
                numbers = numbers or []
                grounding.keypoints = dict(zip(numbers, points or []))
                grounding.heatmaps = dict(zip(numbers, heatmaps or []))
                sampled = sampled_frame_numbers(float(rate), int(count), fps)
                preds, gts = _detections(pred), _detections(gt)
                record = _video_record(sid, size, sampled, preds, gts, grounding, dict(zip(numbers, boxes or [])))
                videos.append(_Video(record, [d.id for d in preds], [d.id for d in gts]))
    return videos, notes


def _best_ious(video: _Video, ignore_unboxed: bool) -> tuple[list[float], list[float]]:
    """Per predicted and per GT segment, its best tube IoU with a segment of the same phrase."""
    record = video.record
    pred_best = [0.0] * len(record.predictions)
    gt_best = [0.0] * len(record.ground_truth)
    for i, p in enumerate(record.predictions):
        for j, g in enumerate(record.ground_truth):
            if p.label != g.label:
                continue
            value = tube_iou(p, g, record.frame_size, ignore_unboxed=ignore_unboxed)
            pred_best[i] = max(pred_best[i], value)
            gt_best[j] = max(gt_best[j], value)
    return pred_best, gt_best


# --------------------------------------------------------------------------------------
# FiftyOne evaluation classes
# --------------------------------------------------------------------------------------


class SpatiotemporalEvaluationConfig(foe.EvaluationMethodConfig):
    """Configuration of a spatio-temporal (GroundingYouTube) evaluation.

    Args:
        pred_field: the predicted sample-level ``TemporalDetections`` field
        gt_field: the ground-truth sample-level ``TemporalDetections`` field
        pred_points_field: the predicted frame-level ``Keypoints`` field (``frames.<name>``)
        pred_heatmap_field: the predicted frame-level ``Heatmap`` field
        gt_boxes_field: the ground-truth frame-level ``Detections`` field
        fps (1.0): the rate at which frames are sampled and scored
        mask_threshold (0.5): least heatmap value (in ``[0, 1]``) of a tube's region
        iou_threshs ((0.1, 0.2, 0.3, 0.4, 0.5)): the tube-IoU thresholds of the video mAP
        ignore_unboxed (False): leave GT frames without a box out of both metrics
    """

    __module__ = PUBLIC_MODULE

    def __init__(
        self,
        pred_field,
        gt_field,
        pred_points_field,
        pred_heatmap_field,
        gt_boxes_field,
        fps=1.0,
        mask_threshold=DEFAULT_MASK_THRESHOLD,
        iou_threshs=GROUNDINGYOUTUBE_THRESHOLDS,
        ignore_unboxed=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pred_field = pred_field
        self.gt_field = gt_field
        self.pred_points_field = pred_points_field
        self.pred_heatmap_field = pred_heatmap_field
        self.gt_boxes_field = gt_boxes_field
        self.fps = float(fps)
        self.mask_threshold = float(mask_threshold)
        self.iou_threshs = [float(t) for t in iou_threshs]
        self.ignore_unboxed = bool(ignore_unboxed)

    @property
    def method(self):
        return METHOD_NAME


def _run_fields(config: SpatiotemporalEvaluationConfig, eval_key: str) -> list[str]:
    """Every field the run writes, as paths of the root dataset."""
    return [
        f"{eval_key}_iou_pointing",
        f"{config.pred_field}.detections.{eval_key}_iou",
        f"{config.gt_field}.detections.{eval_key}_iou",
    ]


def _rename_paths(dataset, mapping: dict[str, str]) -> None:
    """Renames the run's fields. FiftyOne's rename of an attribute of a label list gives every sample
    whose label field is empty (None) an empty label list: those samples are emptied again, so that a
    video the run did not reach (a failed localisation, say) still reads as not done."""
    mapping = {old: new for old, new in mapping.items() if dataset.get_field(old) is not None}
    if not mapping:
        return
    parents = sorted({old.split(".", 1)[0] for old in mapping if "." in old})
    empty = {parent: dataset.exists(parent, False).values("id") for parent in parents}
    dataset.rename_sample_fields(mapping)
    for parent, ids in empty.items():
        if ids:
            dataset.set_values(parent, {sample_id: None for sample_id in ids}, key_field="id")


class SpatiotemporalEvaluation(foe.EvaluationMethod):
    """Spatio-temporal evaluation method (see :func:`evaluate_spatiotemporal`).

    Args:
        config: a :class:`SpatiotemporalEvaluationConfig`
    """

    __module__ = PUBLIC_MODULE

    def get_fields(self, samples, eval_key):
        return _run_fields(self.config, eval_key)

    def rename(self, samples, eval_key, new_eval_key):
        dataset = root_dataset(samples)
        _rename_paths(dataset, dict(zip(_run_fields(self.config, eval_key), _run_fields(self.config, new_eval_key))))

    def cleanup(self, samples, eval_key):
        delete_fields(samples, _run_fields(self.config, eval_key))


def _nan_to_none(value: float) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else float(value)


def _none_to_nan(value: Optional[float]) -> float:
    return math.nan if value is None else float(value)


class SpatiotemporalResults(foe.EvaluationResults):
    """Results of a spatio-temporal evaluation.

    Args:
        samples: the evaluated collection
        config: the :class:`SpatiotemporalEvaluationConfig`
        eval_key: the evaluation key
        iou_pointing: mean IoU+Pointing over videos with a non-empty union (None: no such video)
        iou_pointing_pooled: correct frames over union frames of all videos (None: empty union)
        map_per_threshold: video mAP per threshold of ``config.iou_threshs`` (None: no GT segment)
        classwise_ap: phrase -> AP per threshold, for every phrase with GT segments
        per_video: sample ID -> ``[correct frames, union frames]`` of IoU+Pointing
        num_predictions (0): predicted segments evaluated
        num_ground_truth (0): GT segments evaluated
        notes (None): videos left out, and why
        backend (None): a :class:`SpatiotemporalEvaluation`
    """

    __module__ = PUBLIC_MODULE

    def __init__(
        self,
        samples,
        config,
        eval_key,
        iou_pointing,
        iou_pointing_pooled,
        map_per_threshold,
        classwise_ap,
        per_video,
        num_predictions=0,
        num_ground_truth=0,
        notes=None,
        backend=None,
    ):
        super().__init__(samples, config, eval_key, backend=backend)
        self.iou_pointing = _nan_to_none(iou_pointing)
        self.iou_pointing_pooled = _nan_to_none(iou_pointing_pooled)
        self.map_per_threshold = [_nan_to_none(v) for v in map_per_threshold]
        self.classwise_ap = {str(k): [float(v) for v in aps] for k, aps in classwise_ap.items()}
        self.per_video = {str(k): [int(v[0]), int(v[1])] for k, v in per_video.items()}
        self.num_predictions = int(num_predictions)
        self.num_ground_truth = int(num_ground_truth)
        self.notes = list(notes or [])

    def _keys(self) -> list[str]:
        return [f"video_map@{t:g}" for t in self.config.iou_threshs]

    @property
    def video_map(self) -> float:
        """The mean of the per-threshold video mAP (NaN without GT segments)."""
        values = [_none_to_nan(v) for v in self.map_per_threshold]
        return float(np.mean(values)) if values else math.nan

    def metrics(self) -> dict[str, float]:
        """``{"iou_pointing", "iou_pointing_pooled", "video_map@<t>"..., "video_map"}``, fractions in ``[0, 1]``
        (NaN where undefined)."""
        out = {
            "iou_pointing": _none_to_nan(self.iou_pointing),
            "iou_pointing_pooled": _none_to_nan(self.iou_pointing_pooled),
        }
        out.update({k: _none_to_nan(v) for k, v in zip(self._keys(), self.map_per_threshold)})
        out["video_map"] = self.video_map
        return out

    def per_class(self) -> dict[str, dict[str, float]]:
        """Phrase -> ``{"video_map@<t>": AP, ..., "video_map": mean AP}`` for every phrase with GT segments."""
        return {
            label: {**dict(zip(self._keys(), aps)), "video_map": float(np.mean(aps)) if aps else math.nan}
            for label, aps in sorted(self.classwise_ap.items())
        }

    def per_video_iou_pointing(self) -> dict[str, float]:
        """Sample ID -> the video's IoU+Pointing (NaN for a video with an empty union)."""
        return {sid: (c / u if u else math.nan) for sid, (c, u) in self.per_video.items()}

    def report_str(self, digits: int = 3) -> str:
        """The per-phrase AP table, the overall numbers and the notes, as text."""
        header = ["phrase"] + [f"@{t:g}" for t in self.config.iou_threshs] + ["mean"]
        rows = [[label] + list(aps) + [float(np.mean(aps))] for label, aps in sorted(self.classwise_ap.items())]
        rows.append(["video mAP"] + [_none_to_nan(v) for v in self.map_per_threshold] + [self.video_map])
        lines = format_table(header, rows, digits)
        lines.append("")
        m = self.metrics()
        lines.append(
            "IoU+Pointing %.*f (mean over %d videos), %.*f pooled; %d predicted and %d GT segments"
            % (digits, m["iou_pointing"], sum(1 for _, u in self.per_video.values() if u), digits,
               m["iou_pointing_pooled"], self.num_predictions, self.num_ground_truth)
        )
        lines += self.notes
        return "\n".join(lines)

    def misses_view(self, cls: Optional[str] = None, video: Optional[str] = None, kind: str = "missed",
                    iou_thresh: Optional[float] = None):
        """The run's missed ground-truth (``kind="missed"``) or false (``kind="false"``) segments as a
        clips view; see :func:`misses_view`."""
        if self.key is None:
            raise ValueError("these results were not stored (no eval_key): pass eval_key= to evaluate_spatiotemporal")
        return misses_view(self.samples, self.key, cls=cls, video=video, kind=kind, iou_thresh=iou_thresh)

    def print_report(self, digits: int = 3) -> None:
        """Prints :meth:`report_str`."""
        print(self.report_str(digits=digits))

    @classmethod
    def _from_dict(cls, d, samples, config, eval_key, **kwargs):
        # FiftyOne's hook for building results from their stored form (BaseRunResults.from_dict)
        return cls(
            samples,
            config,
            eval_key,
            d.get("iou_pointing"),
            d.get("iou_pointing_pooled"),
            d.get("map_per_threshold") or [],
            d.get("classwise_ap") or {},
            d.get("per_video") or {},
            num_predictions=d.get("num_predictions", 0),
            num_ground_truth=d.get("num_ground_truth", 0),
            notes=d.get("notes"),
            **kwargs,
        )


# --------------------------------------------------------------------------------------
# Checks, storing, entry point
# --------------------------------------------------------------------------------------


def _resolve_fields(samples, pred_field, gt_field, points_field, heatmap_field, boxes_field) -> _Fields:
    if not is_video(samples):
        raise ValueError(
            "evaluate_spatiotemporal() evaluates video collections (segments on videos, points, heatmaps and "
            f"boxes on their frames); this collection holds {samples.media_type} samples"
        )
    spec = (
        ("pred_field", pred_field, fol.TemporalDetections, False),
        ("gt_field", gt_field, fol.TemporalDetections, False),
        ("pred_points_field", points_field, fol.Keypoints, True),
        ("pred_heatmap_field", heatmap_field, fol.Heatmap, True),
        ("gt_boxes_field", boxes_field, fol.Detections, True),
    )
    names = []
    for role, path, expected, frame_level in spec:
        path, schema = resolve_field(samples, path, role)
        label_type = document_type(schema)
        level = "frame-level" if frame_level else "sample-level"
        if is_frame_path(path) != frame_level or label_type is None or not issubclass(label_type, expected):
            found = getattr(label_type, "__name__", type(schema).__name__)
            where = "frame" if is_frame_path(path) else "sample"
            raise ValueError(
                f"{role}='{path}' must be a {level} {expected.__name__} field, but it is a {where}-level {found} field"
            )
        names.append(strip_frames(path))
    return _Fields(*names)


def _key_problem(samples, config: SpatiotemporalEvaluationConfig, eval_key) -> Optional[str]:
    """Why ``eval_key`` cannot name this run (None when it can; a spatio-temporal run of that key is replaced)."""
    if not isinstance(eval_key, str) or not KEY_PATTERN.match(eval_key):
        return f"eval_key {eval_key!r} is not a valid key: use letters, digits and underscores, not starting with a digit"
    return other_kind_problem(samples, eval_key, METHOD_NAME) or written_fields_problem(
        samples, _run_fields(config, eval_key), eval_key, "spatio-temporal")


def eval_key_problem(samples, eval_key, pred_field: str, gt_field: str) -> Optional[str]:
    """Why ``eval_key`` cannot name a spatio-temporal run of ``pred_field`` against ``gt_field`` on
    ``samples`` (the check :func:`evaluate_spatiotemporal` makes before any work), or None when it can."""
    config = SpatiotemporalEvaluationConfig(pred_field, gt_field, None, None, None)
    return _key_problem(samples, config, eval_key)


def _write(samples, config: SpatiotemporalEvaluationConfig, key: str, videos: list[_Video],
           results: SpatiotemporalResults) -> None:
    """Writes the per-video and per-segment values of a run under ``key``."""
    dataset = root_dataset(samples)
    pointing_name, pred_attr, gt_attr = _run_fields(config, key)
    dataset.add_sample_field(pointing_name, fof.FloatField)
    values = {sid: _nan_to_none(v) for sid, v in results.per_video_iou_pointing().items()}
    if values:
        dataset.set_values(pointing_name, values, key_field="id", progress=False)
    pred_values, gt_values = [], []
    for video in videos:
        pred_best, gt_best = _best_ious(video, config.ignore_unboxed)
        sid = video.record.video_id
        pred_values += [{"sample_id": sid, "label_id": i, "value": v} for i, v in zip(video.pred_ids, pred_best)]
        gt_values += [{"sample_id": sid, "label_id": i, "value": v} for i, v in zip(video.gt_ids, gt_best)]
    for path, label_values in ((pred_attr, pred_values), (gt_attr, gt_values)):
        dataset.add_sample_field(path, fof.FloatField)
        if label_values:
            dataset.set_label_values(path, label_values, progress=False)


def _store(samples, method: SpatiotemporalEvaluation, results: SpatiotemporalResults, videos: list[_Video]) -> None:
    """Stores a computed run under ``results.key``; an earlier run of that key is replaced only once the
    new values are written in full under temporary names."""
    config, eval_key = method.config, results.key
    dataset = root_dataset(samples)
    pending = f"{eval_key}_pending_{uuid.uuid4().hex[:8]}"
    try:
        _write(samples, config, pending, videos, results)
    except BaseException:
        delete_fields(dataset, _run_fields(config, pending))
        raise
    registered = False
    try:
        if eval_key in dataset.list_evaluations():
            dataset.delete_evaluation(eval_key)
        _rename_paths(dataset, dict(zip(_run_fields(config, pending), _run_fields(config, eval_key))))
        method.register_run(samples, eval_key, overwrite=False)
        registered = True
        method.save_run_results(samples, eval_key, results)
    except BaseException:
        if registered:
            dataset.delete_evaluation(eval_key)  # never a record without results
        delete_fields(dataset, _run_fields(config, pending) + _run_fields(config, eval_key))
        raise


def evaluate_spatiotemporal(
    samples,
    pred_field: str,
    gt_field: str,
    *,
    pred_points_field: str,
    pred_heatmap_field: str,
    gt_boxes_field: str,
    eval_key: Optional[str] = None,
    fps: float = 1.0,
    mask_threshold: float = DEFAULT_MASK_THRESHOLD,
    iou_threshs: Sequence[float] = GROUNDINGYOUTUBE_THRESHOLDS,
    ignore_unboxed: bool = False,
    progress=None,
) -> SpatiotemporalResults:
    """GroundingYouTube's IoU+Pointing and video mAP of a video collection (see the module docstring).

    Every video is read and scored before anything is written; a run that fails leaves an earlier run
    of the same key as it was.

    Args:
        samples: a video collection
        pred_field: predicted sample-level ``TemporalDetections`` (``confidence`` ranks them)
        gt_field: ground-truth sample-level ``TemporalDetections``
        pred_points_field: predicted frame-level ``Keypoints`` (``"frames.<name>"`` or ``"<name>"``)
        pred_heatmap_field: predicted frame-level ``Heatmap``
        gt_boxes_field: ground-truth frame-level ``Detections``
        eval_key (None): the evaluation key; None computes the results without storing anything
        fps (1.0): the rate at which frames are sampled and scored (GroundingYouTube: 1)
        mask_threshold (0.5): least heatmap value of a tube's region, on the map scaled to ``[0, 1]``
        iou_threshs ((0.1, 0.2, 0.3, 0.4, 0.5)): tube-IoU thresholds of the video mAP
        ignore_unboxed (False): leave GT frames without a box out of both metrics
        progress (None): whether to render a progress bar (True/False), the FiftyOne default (None), or a
            progress callback

    Returns:
        a :class:`SpatiotemporalResults`

    Raises:
        ValueError: a bad option, field or key (nothing is written)
    """
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
    if not 0 <= float(mask_threshold) <= 1:
        raise ValueError(f"mask_threshold applies to heatmaps scaled to [0, 1]; got {mask_threshold!r}")
    iou_threshs = [float(t) for t in iou_threshs]
    if not iou_threshs or not all(0 < t <= 1 for t in iou_threshs):
        raise ValueError(f"iou_threshs must be one or more thresholds in (0, 1]; got {iou_threshs!r}")
    fields = _resolve_fields(samples, pred_field, gt_field, pred_points_field, pred_heatmap_field, gt_boxes_field)
    config = SpatiotemporalEvaluationConfig(
        fields.pred, fields.gt, FRAMES_PREFIX + fields.points, FRAMES_PREFIX + fields.heatmap,
        FRAMES_PREFIX + fields.boxes, fps=fps, mask_threshold=mask_threshold, iou_threshs=iou_threshs,
        ignore_unboxed=ignore_unboxed,
    )
    method = config.build()
    if eval_key is not None:
        problem = _key_problem(samples, config, eval_key)
        if problem is not None:
            raise ValueError(problem)

    logger.info("Evaluating segments '%s' against '%s' (IoU+Pointing, video mAP)...", fields.pred, fields.gt)
    videos, notes = _read_videos(samples, fields, config.fps, config.mask_threshold, progress=progress)
    records = [v.record for v in videos]
    pointing = iou_pointing(records, ignore_unboxed=config.ignore_unboxed)
    detection = video_map(records, iou_threshs, ignore_unboxed=config.ignore_unboxed)
    results = SpatiotemporalResults(
        samples, config, eval_key, pointing.mean, pointing.pooled, list(detection.map_per_threshold),
        {k: list(v) for k, v in detection.classwise_ap.items()}, pointing.per_video,
        num_predictions=sum(len(r.predictions) for r in records),
        num_ground_truth=sum(len(r.ground_truth) for r in records), notes=notes, backend=method,
    )
    for note in notes:
        logger.warning("Spatio-temporal evaluation: %s", note)
    if eval_key is not None:
        _store(samples, method, results, videos)
    logger.info("Spatio-temporal evaluation: %s", {k: round(v, 4) for k, v in results.metrics().items()})
    return results


# --------------------------------------------------------------------------------------
# Temporal mAP through FiftyOne
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class TemporalMAP:
    """Temporal mAP per threshold and their mean, read from FiftyOne's ActivityNet results.

    Args:
        iou_threshs: the temporal IoU thresholds
        map_per_threshold: mAP over the classes with ground truth, per threshold (NaN: no such class)
        map: the mean of ``map_per_threshold``
        classwise_ap: class -> AP per threshold, for every class with ground truth
        results: FiftyOne's ``ActivityNetDetectionResults`` (``print_report()``, ``plot_pr_curves()``, ...)
    """

    iou_threshs: tuple[float, ...]
    map_per_threshold: tuple[float, ...]
    map: float
    classwise_ap: dict[str, tuple[float, ...]]
    results: Any = dataclasses.field(repr=False, default=None)

    @classmethod
    def from_results(cls, results) -> "TemporalMAP":
        """Reads FiftyOne ActivityNet results (``evaluate_detections(..., compute_mAP=True)`` on
        ``TemporalDetections``, or ``dataset.load_evaluation_results(key)`` of such a run)."""
        table = getattr(results, "classwise_AP", None)
        if table is None:
            raise ValueError("these results hold no mAP; evaluate with compute_mAP=True")
        table = np.asarray(table, dtype=np.float64)  # [thresholds, classes], -1 for classes without GT
        classes = [str(c) for c in results.classes]
        threshs = tuple(float(t) for t in results.iou_threshs)
        valid = table > -1
        per_threshold = tuple(float(row[ok].mean()) if ok.any() else math.nan for row, ok in zip(table, valid))
        classwise = {c: tuple(float(v) for v in table[:, i]) for i, c in enumerate(classes) if valid[:, i].all()}
        return cls(threshs, per_threshold, float(np.mean(per_threshold)), classwise, results)

    def metrics(self) -> dict[str, float]:
        """``{"temporal_map@<t>": ..., "temporal_map": mean}``."""
        out = {f"temporal_map@{t:g}": v for t, v in zip(self.iou_threshs, self.map_per_threshold)}
        out["temporal_map"] = self.map
        return out

    def report_str(self, digits: int = 3) -> str:
        """Per-class AP per threshold and the mAP row, as text."""
        header = ["class"] + [f"@{t:g}" for t in self.iou_threshs] + ["mean"]
        rows = [[c] + list(aps) + [float(np.mean(aps))] for c, aps in sorted(self.classwise_ap.items())]
        rows.append(["mAP"] + list(self.map_per_threshold) + [self.map])
        return "\n".join(format_table(header, rows, digits))

    def print_report(self, digits: int = 3) -> None:
        """Prints :meth:`report_str`."""
        print(self.report_str(digits=digits))


def evaluate_temporal(
    samples,
    pred_field: str,
    gt_field: str,
    eval_key: Optional[str] = None,
    *,
    iou_threshs: Sequence[float] = THUMOS_THRESHOLDS,
    iou: Optional[float] = None,
    progress=None,
) -> TemporalMAP:
    """Temporal mAP of sample-level ``TemporalDetections`` through FiftyOne's ``evaluate_detections``.

    Runs FiftyOne's ActivityNet method (matching per video and class, highest IoU first; VOC
    all-points AP) with the thresholds given, so that the mAP is over those thresholds and not
    FiftyOne's default 0.50:0.05:0.95. The run is stored by FiftyOne under ``eval_key`` like any
    detection evaluation (``<eval_key>_tp`` / ``_fp`` / ``_fn`` and per-segment ``<eval_key>`` /
    ``<eval_key>_iou`` at IoU ``iou``).

    Args:
        samples: a video collection
        pred_field: predicted ``TemporalDetections``; every segment needs a ``confidence``
        gt_field: ground-truth ``TemporalDetections``
        eval_key (None): the evaluation key (None: nothing is stored)
        iou_threshs ((0.3, 0.4, 0.5, 0.6, 0.7)): temporal IoU thresholds (THUMOS14; pass
            ``(0.1, 0.2, 0.3, 0.4, 0.5)`` for GroundingYouTube)
        iou (None): the IoU of the per-segment tp/fp/fn attributes (None: the middle threshold)
        progress (None): whether to render progress bars (True/False), or the FiftyOne default (None)

    Returns:
        a :class:`TemporalMAP`

    Raises:
        ValueError: bad thresholds, fields that are not sample-level ``TemporalDetections``, or a
            prediction without ``confidence``
    """
    iou_threshs = [float(t) for t in iou_threshs]
    if not iou_threshs or not all(0 < t <= 1 for t in iou_threshs):
        raise ValueError(f"iou_threshs must be one or more thresholds in (0, 1]; got {iou_threshs!r}")
    for role, path in (("pred_field", pred_field), ("gt_field", gt_field)):
        path, schema = resolve_field(samples, path, role)
        label_type = document_type(schema)
        if is_frame_path(path) or label_type is None or not issubclass(label_type, fol.TemporalDetections):
            raise ValueError(f"{role}='{path}' must be a sample-level TemporalDetections field of a video collection")
    if iou is None:
        iou = iou_threshs[len(iou_threshs) // 2]
    results = samples.evaluate_detections(
        pred_field, gt_field, eval_key=eval_key, method="activitynet", compute_mAP=True,
        iou_threshs=iou_threshs, iou=float(iou), progress=progress,
    )
    return TemporalMAP.from_results(results)


# --------------------------------------------------------------------------------------
# The misses of a stored run, as clips
# --------------------------------------------------------------------------------------

MISS_KINDS = ("missed", "false")
"""What :func:`misses_view` shows: missed ground-truth segments or false predicted segments."""


def misses_view(
    samples,
    eval_key: str,
    cls: Optional[str] = None,
    video: Optional[str] = None,
    kind: str = "missed",
    iou_thresh: Optional[float] = None,
):
    """The misses of a stored spatio-temporal run as a clips view, one clip per segment.

    A ground-truth segment is *missed* and a predicted segment is *false* when its best tube IoU with a
    segment of the same phrase on the other side (the ``<eval_key>_iou`` attribute the run writes) is
    below ``iou_thresh``. Segments the run did not evaluate (no such attribute) are left out.

    Args:
        samples: the dataset (or a view of it) that holds the run
        eval_key: the key of a spatio-temporal run
        cls (None): only segments of this phrase
        video (None): only segments of this video (a sample ID)
        kind ("missed"): ``"missed"`` (clips of the ground-truth field) or ``"false"`` (clips of the
            predicted field)
        iou_thresh (None): the tube-IoU threshold; None takes the middle one of the run's ``iou_threshs``

    Returns:
        a clips view of the run's ground-truth or predicted ``TemporalDetections`` field

    Raises:
        ValueError: ``eval_key`` names no spatio-temporal run, or a bad ``kind``
    """
    if kind not in MISS_KINDS:
        raise ValueError(f"kind must be one of {MISS_KINDS}, got {kind!r}")
    if eval_key not in samples.list_evaluations():
        raise ValueError(f"this dataset has no evaluation '{eval_key}'; see dataset.list_evaluations()")
    config = samples.get_evaluation_info(eval_key).config
    if config.method != METHOD_NAME:
        raise ValueError(f"'{eval_key}' is a '{config.method}' evaluation, not a spatio-temporal one")
    if iou_thresh is None:
        iou_thresh = config.iou_threshs[len(config.iou_threshs) // 2]
    field = config.gt_field if kind == "missed" else config.pred_field
    best = F(f"{eval_key}_iou")
    condition = (best != None) & (best < float(iou_thresh))  # noqa: E711 (a database expression)
    if cls is not None:
        condition &= F("label") == cls
    view = samples.select(video) if video is not None else samples
    return view.filter_labels(field, condition).to_clips(field)
