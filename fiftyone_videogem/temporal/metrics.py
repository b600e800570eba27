"""Spatio-temporal and temporal grounding metrics on plain data (numpy only).

- GroundingYouTube's **IoU+Pointing** and **video mAP** at tube-IoU thresholds (WWW, Chen et al.,
  CVPR 2024, section 4 / Table 2). The paper defines both in one paragraph each and publishes no code;
  this module implements the reading of TEMPORAL.md section 3, spelled out per function.
- An ActivityNet-style **temporal AP** (:func:`temporal_ap`), independent of FiftyOne's
  ``evaluate_detections``, to cross-check it.

Inputs are plain data so that any layer can feed them. A video is a :class:`VideoRecord`: its frame
size, its predicted segments (:class:`PredSegment`: label, sampled frames, score, and per frame a point
and a mask) and its ground-truth segments (:class:`GTSegment`: label, frames, per frame the boxes).
Frames are integer keys shared by predictions and ground truth (e.g. the second at 1 fps, or the frame
number). Points and boxes are in pixels of the original frame; masks may have any resolution and are
mapped onto the frame's pixel grid by nearest neighbour.
"""

import dataclasses
import logging
import math
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)

GROUNDINGYOUTUBE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)


@dataclasses.dataclass
class PredSegment:
    """A predicted segment with its spatial grounding (one detection of the video mAP).

    Args:
        label: the phrase (query) of the segment
        frames: the sampled frames the segment covers
        score: the segment's confidence (ranks detections for AP)
        points ({}): per frame, the predicted point ``(x, y)`` in pixels
        masks ({}): per frame, a boolean mask ``[h, w]`` over the whole frame (e.g. heatmap >= tau), at
            any resolution; a frame without a mask has an empty region
    """

    label: str
    frames: Sequence[int]
    score: float
    points: Mapping[int, Sequence[float]] = dataclasses.field(default_factory=dict)
    masks: Mapping[int, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class GTSegment:
    """A ground-truth segment (one GT tube): a maximal run of frames with the same step.

    Args:
        label: the phrase of the step
        frames: the frames the segment covers
        boxes ({}): per frame, a list of boxes ``[x1, y1, x2, y2]`` in pixels (or one such box); a frame
            of the segment without a box (annotators did not agree on a point) has an empty region
    """

    label: str
    frames: Sequence[int]
    boxes: Mapping[int, Sequence] = dataclasses.field(default_factory=dict)

    def boxes_at(self, frame: int) -> list[Sequence[float]]:
        """The boxes of a frame as a list of ``[x1, y1, x2, y2]`` (empty when there is none)."""
        boxes = self.boxes.get(frame)
        if boxes is None or len(boxes) == 0:
            return []
        if np.ndim(boxes) == 1:
            return [boxes]
        return list(boxes)


@dataclasses.dataclass
class VideoRecord:
    """Everything the spatio-temporal metrics need about one video.

    Args:
        video_id: a unique name of the video
        frame_size: ``(width, height)`` of the original frames in pixels
        predictions ([]): the predicted segments
        ground_truth ([]): the ground-truth segments
    """

    video_id: str
    frame_size: tuple[int, int]
    predictions: list[PredSegment] = dataclasses.field(default_factory=list)
    ground_truth: list[GTSegment] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class DetectionAP:
    """Average precision per class and threshold, and their means.

    Args:
        iou_threshs: the IoU thresholds
        classwise_ap: per class with ground truth, an array of AP per threshold
        map_per_threshold: mAP over those classes per threshold (NaN when no class has ground truth)
        map: the mean of ``map_per_threshold``
    """

    iou_threshs: tuple[float, ...]
    classwise_ap: dict[str, np.ndarray]
    map_per_threshold: np.ndarray
    map: float


@dataclasses.dataclass
class IoUPointing:
    """IoU+Pointing of a set of videos.

    Args:
        per_video: per video id, ``(correct frames, union frames)``
        mean: the mean over videos of ``correct / union`` (videos with an empty union left out; NaN
            when all are)
        pooled: total correct frames over total union frames (NaN when the union is empty)
    """

    per_video: dict[str, tuple[int, int]]
    mean: float
    pooled: float

    def video_value(self, video_id: str) -> float:
        """``correct / union`` of one video (NaN for an empty union)."""
        correct, union = self.per_video[video_id]
        return correct / union if union else math.nan


# ----------------------------------------------------------------------------------------- AP core
def voc_ap(recall, precision) -> float:
    """All-points interpolated average precision (VOC 2010+, ActivityNet's ``interpolated_prec_rec``).

    The precision envelope (best precision at any higher recall) integrated over recall, with the
    curve closed at recall 0 and 1.

    Args:
        recall: recall after each ranked detection (non-decreasing)
        precision: precision after each ranked detection

    Returns:
        the AP in ``[0, 1]`` (0 for no detections)
    """
    recall = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    precision = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _ranked(scores: Sequence[float]) -> list[int]:
    """Indices from the highest score to the lowest; ties keep input order; NaN ranks last."""
    keys = [(-s if not math.isnan(s) else math.inf) for s in scores]
    return sorted(range(len(scores)), key=lambda k: keys[k])


def _greedy_ap(
    detections: Sequence[tuple[str, float]],
    gt_videos: Sequence[str],
    iou: Callable[[int, int], float],
    iou_threshs: Sequence[float],
) -> np.ndarray:
    """AP per threshold of one class: detections ``(video, score)`` against GT items ``(video)``.

    Detections are visited from the highest score down; each matches the unmatched GT item of its
    video with the highest IoU ``>= thresh`` (the first such item on equal IoU) and is a true positive
    then, else a false positive. ``iou(d, g)`` is evaluated once per pair of the same video.
    """
    by_video: dict[str, list[int]] = {}
    for g, video in enumerate(gt_videos):
        by_video.setdefault(video, []).append(g)
    order = _ranked([score for _, score in detections])
    ious = {d: [(g, iou(d, g)) for g in by_video.get(detections[d][0], [])] for d in order}
    out = np.zeros(len(iou_threshs))
    for t, thresh in enumerate(iou_threshs):
        matched: set[int] = set()
        hits = np.zeros(len(order))
        for rank, d in enumerate(order):
            best, best_iou = None, -1.0
            for g, value in ious[d]:
                if g not in matched and value >= thresh and value > best_iou:
                    best, best_iou = g, value
            if best is not None:
                matched.add(best)
                hits[rank] = 1
        true_positives = np.cumsum(hits)
        precision = true_positives / np.arange(1, len(order) + 1)
        out[t] = voc_ap(true_positives / len(gt_videos), precision)
    return out


def _summarize(classwise: dict[str, np.ndarray], iou_threshs: Sequence[float]) -> DetectionAP:
    if classwise:
        per_threshold = np.mean(np.stack(list(classwise.values())), axis=0)
    else:
        per_threshold = np.full(len(iou_threshs), np.nan)
    return DetectionAP(
        iou_threshs=tuple(float(t) for t in iou_threshs),
        classwise_ap=classwise,
        map_per_threshold=per_threshold,
        map=float(np.mean(per_threshold)) if len(per_threshold) else math.nan,
    )


# ------------------------------------------------------------------------------ temporal AP
def temporal_iou(a: Sequence[float], b: Sequence[float], inclusive: bool = False) -> float:
    """IoU of two segments ``[first, last]``.

    With ``inclusive=False`` lengths are ``last - first`` (ActivityNet, FiftyOne's
    ``compute_segment_ious``; two segments sharing one boundary frame do not overlap); two zero-length
    segments have IoU 1 when they coincide and 0 otherwise, as in FiftyOne. With ``inclusive=True``
    lengths count frames (``last - first + 1``).

    Args:
        a: ``[first, last]``
        b: ``[first, last]``
        inclusive (False): count frames instead of measuring continuous lengths

    Returns:
        the IoU in ``[0, 1]``
    """
    extra = 1 if inclusive else 0
    len_a, len_b = a[1] - a[0] + extra, b[1] - b[0] + extra
    if len_a == 0 and len_b == 0:
        return 1.0 if a[1] == b[1] else 0.0
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + extra)
    union = len_a + len_b - inter
    return float(inter / union) if union > 0 else 0.0


def temporal_ap(
    predictions: Iterable[tuple],
    ground_truth: Iterable[tuple],
    iou_threshs: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7),
    *,
    inclusive: bool = False,
) -> DetectionAP:
    """ActivityNet-style temporal AP per class and threshold, and the mAP over classes.

    Per class, predictions from all videos are ranked by score; each matches the unmatched GT segment
    of the same video and class with the highest temporal IoU ``>= thresh``; AP is VOC all-points
    (:func:`voc_ap`) with the class's GT count as the number of positives. mAP averages the classes
    that have ground truth (a class with GT but no prediction has AP 0; predicted classes without GT
    are ignored).

    Follows ActivityNet's ``compute_average_precision_detection`` (as ZEAL's ``helpers/eval.py`` and
    FiftyOne's ``activitynet`` method run it). Departs only on ties: equal scores keep input order
    (ActivityNet: numpy's unspecified order; FiftyOne: true positives first), equal IoUs take the first
    GT listed (FiftyOne: the last).

    Args:
        predictions: ``(video_id, label, first, last, score)`` tuples
        ground_truth: ``(video_id, label, first, last)`` tuples
        iou_threshs ((0.3, 0.4, 0.5, 0.6, 0.7)): temporal IoU thresholds (THUMOS14; 0.1-0.5 for
            GroundingYouTube)
        inclusive (False): see :func:`temporal_iou`

    Returns:
        a :class:`DetectionAP`
    """
    predictions, ground_truth = list(predictions), list(ground_truth)
    classwise = {}
    for label in sorted({gt[1] for gt in ground_truth}, key=str):
        gts = [gt for gt in ground_truth if gt[1] == label]
        dets = [p for p in predictions if p[1] == label]
        classwise[label] = _greedy_ap(
            [(p[0], float(p[4])) for p in dets],
            [gt[0] for gt in gts],
            lambda d, g: temporal_iou(dets[d][2:4], gts[g][2:4], inclusive),
            iou_threshs,
        )
    return _summarize(classwise, iou_threshs)


# ------------------------------------------------------------------------ pixel-grid regions
def _box_pixels(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Pixel range ``[first, stop)`` of the pixels whose centres lie in ``[lo, hi)``, cut to the frame."""
    first = min(max(math.ceil(lo - 0.5), 0), size)
    stop = min(max(math.ceil(hi - 0.5), 0), size)
    return first, max(first, stop)


def _cell_counts(mask_size: int, frame_size: int, breaks: np.ndarray) -> np.ndarray:
    """``[mask_size, cells]``: frame pixels of each cell (between breaks) mapped to each mask pixel."""
    pixels = np.arange(frame_size)
    to_mask = np.minimum(((pixels + 0.5) * mask_size / frame_size).astype(np.int64), mask_size - 1)
    to_cell = np.searchsorted(breaks, pixels, side="right") - 1
    cells = len(breaks) - 1
    return np.bincount(to_mask * cells + to_cell, minlength=mask_size * cells).reshape(mask_size, cells)


def region_areas(
    mask: Optional[np.ndarray], boxes: Sequence[Sequence[float]], frame_size: tuple[int, int]
) -> tuple[int, int, int]:
    """Pixel areas of a mask, of a union of boxes and of their intersection on the frame's pixel grid.

    The mask covers the whole frame at any resolution and is mapped onto the ``width x height`` grid
    by nearest neighbour (pixel centres aligned); a box ``[x1, y1, x2, y2]`` covers the pixels whose
    centres lie in ``[x1, x2) x [y1, y2)``; several boxes count as their union. Computed exactly on a
    grid of cells cut at the box edges, without building full-resolution masks.

    Args:
        mask: boolean ``[h, w]`` mask, or None for an empty region
        boxes: boxes ``[x1, y1, x2, y2]`` in pixels (may be empty)
        frame_size: ``(width, height)``

    Returns:
        ``(mask_area, boxes_area, intersection)`` in pixels
    """
    width, height = int(frame_size[0]), int(frame_size[1])
    spans = [(_box_pixels(b[0], b[2], width), _box_pixels(b[1], b[3], height)) for b in boxes]
    xs = np.unique([0, width, *[v for (x, _) in spans for v in x]])
    ys = np.unique([0, height, *[v for (_, y) in spans for v in y]])
    inside = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for (x0, x1), (y0, y1) in spans:
        rows = slice(np.searchsorted(ys, y0), np.searchsorted(ys, y1))
        inside[rows, np.searchsorted(xs, x0) : np.searchsorted(xs, x1)] = True
    cell_areas = np.outer(np.diff(ys), np.diff(xs))
    boxes_area = int(cell_areas[inside].sum())
    if mask is None:
        return 0, boxes_area, 0
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"a mask must be a non-empty 2-D array; got shape {mask.shape}")
    per_cell = _cell_counts(mask.shape[0], height, ys).T @ mask.astype(np.float64) @ _cell_counts(
        mask.shape[1], width, xs
    )  # [cells_y, cells_x]: mask pixels on the frame grid within each cell
    return int(round(per_cell.sum())), boxes_area, int(round(per_cell[inside].sum()))


def point_in_boxes(point: Optional[Sequence[float]], boxes: Sequence[Sequence[float]]) -> bool:
    """Whether ``(x, y)`` lies inside (or on the border of) any box ``[x1, y1, x2, y2]``."""
    if point is None:
        return False
    x, y = float(point[0]), float(point[1])
    return any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)


# ------------------------------------------------------------------------ GroundingYouTube
def _check_unique(videos: list[VideoRecord]) -> list[VideoRecord]:
    seen = set()
    for video in videos:
        if video.video_id in seen:
            raise ValueError(f"video id {video.video_id!r} appears twice: give every video a unique id")
        seen.add(video.video_id)
    return videos


def _frame_predictions(video: VideoRecord) -> dict[int, PredSegment]:
    """Per covered frame, the highest-scoring predicted segment covering it (first listed on ties)."""
    owner: dict[int, PredSegment] = {}
    for segment in sorted(video.predictions, key=lambda s: -s.score if not math.isnan(s.score) else math.inf):
        for frame in segment.frames:
            owner.setdefault(int(frame), segment)
    return owner


def _unboxed_frames(video: VideoRecord) -> set[int]:
    """GT frames where no GT segment covering the frame has a box."""
    covered: dict[int, bool] = {}
    for segment in video.ground_truth:
        for frame in segment.frames:
            covered[int(frame)] = covered.get(int(frame), False) or bool(segment.boxes_at(frame))
    return {frame for frame, boxed in covered.items() if not boxed}


def iou_pointing(videos: Iterable[VideoRecord], *, ignore_unboxed: bool = False) -> IoUPointing:
    """GroundingYouTube's IoU+Pointing, per video, as the mean over videos and pooled.

    Per video: a frame is *predicted* when a predicted segment covers it (the highest-scoring one
    gives its phrase and point) and *annotated* when a GT segment covers it. A frame is correct when
    it is both, its predicted phrase equals the phrase of a GT segment covering it, and the predicted
    point lies in (or on the border of) one of that segment's boxes at the frame. The video's value is
    ``|correct| / |predicted or annotated|``.

    Follows WWW (section 4, "IoU+Pointing"), read as TEMPORAL.md section 3 does. Reading choices: a GT
    frame without a box counts in the union and is never correct (``ignore_unboxed=True`` leaves such
    frames out of both counts); overlapping predictions are resolved by the highest score, as the
    product writes one phrase per frame.

    Args:
        videos: :class:`VideoRecord` items
        ignore_unboxed (False): leave GT frames without any box out of the metric

    Returns:
        an :class:`IoUPointing`
    """
    per_video = {}
    for video in _check_unique(list(videos)):
        predicted = _frame_predictions(video)
        annotated: dict[int, list[GTSegment]] = {}
        for segment in video.ground_truth:
            for frame in segment.frames:
                annotated.setdefault(int(frame), []).append(segment)
        frames = set(predicted) | set(annotated)
        if ignore_unboxed:
            frames -= _unboxed_frames(video)
        correct = 0
        for frame in frames:
            segment = predicted.get(frame)
            if segment is None:
                continue
            point = segment.points.get(frame)
            correct += any(
                gt.label == segment.label and point_in_boxes(point, gt.boxes_at(frame))
                for gt in annotated.get(frame, [])
            )
        per_video[video.video_id] = (correct, len(frames))
    ratios = [c / u for c, u in per_video.values() if u]
    total_correct = sum(c for c, _ in per_video.values())
    total_union = sum(u for _, u in per_video.values())
    return IoUPointing(
        per_video=per_video,
        mean=float(np.mean(ratios)) if ratios else math.nan,
        pooled=total_correct / total_union if total_union else math.nan,
    )


def tube_iou(
    prediction: PredSegment, ground_truth: GTSegment, frame_size: tuple[int, int], *, ignore_unboxed: bool = False
) -> float:
    """Spatio-temporal IoU of a predicted tube and a GT tube on the frame's pixel grid.

    Over the union of both tubes' frames: ``sum of per-frame intersections / sum of per-frame unions``,
    where the predicted region of a frame is its mask (empty outside the predicted frames or without a
    mask) and the GT region is the union of its boxes (empty outside the GT frames or without a box).
    A frame in only one tube thus adds its whole area to the union.

    Follows WWW's video mAP (section 4), read as TEMPORAL.md section 3 does (the usual spatio-temporal
    tube IoU with pixel masks in place of boxes on the predicted side).

    Args:
        prediction: the predicted segment with its masks
        ground_truth: the GT segment with its boxes
        frame_size: ``(width, height)`` in pixels
        ignore_unboxed (False): leave out GT frames without a box (instead of counting the predicted
            mask there as pure union)

    Returns:
        the IoU in ``[0, 1]`` (0 when both tubes are empty)
    """
    predicted, annotated = {int(f) for f in prediction.frames}, {int(f) for f in ground_truth.frames}
    inter_sum = union_sum = 0
    for frame in predicted | annotated:
        boxes = ground_truth.boxes_at(frame) if frame in annotated else []
        if ignore_unboxed and frame in annotated and not boxes:
            continue
        mask = prediction.masks.get(frame) if frame in predicted else None
        mask_area, boxes_area, inter = region_areas(mask, boxes, frame_size)
        inter_sum += inter
        union_sum += mask_area + boxes_area - inter
    return inter_sum / union_sum if union_sum else 0.0


def video_map(
    videos: Iterable[VideoRecord],
    iou_threshs: Sequence[float] = GROUNDINGYOUTUBE_THRESHOLDS,
    *,
    ignore_unboxed: bool = False,
) -> DetectionAP:
    """GroundingYouTube's video mAP: AP per phrase over tubes at tube-IoU thresholds, mean over phrases.

    Detections are the predicted segments (tubes: their masks over their frames), ranked by score
    across all videos; each matches the unmatched GT tube of the same video and phrase with the
    highest :func:`tube_iou` ``>= thresh``; AP per phrase is VOC all-points over the phrase's GT tubes;
    the mAP averages the phrases that have GT tubes (a predicted phrase without GT anywhere is
    ignored; a phrase with GT but no prediction has AP 0).

    Follows WWW (section 4, "video mAP"), read as TEMPORAL.md section 3 does. The matching rule is not
    given by the paper; ActivityNet's (highest IoU among unmatched GT) is used, as in :func:`temporal_ap`.

    Args:
        videos: :class:`VideoRecord` items
        iou_threshs ((0.1, 0.2, 0.3, 0.4, 0.5)): tube-IoU thresholds
        ignore_unboxed (False): see :func:`tube_iou`

    Returns:
        a :class:`DetectionAP`
    """
    videos = _check_unique(list(videos))
    detections = [(v, p) for v in videos for p in v.predictions]
    truths = [(v, g) for v in videos for g in v.ground_truth]
    classwise = {}
    for label in sorted({g.label for _, g in truths}, key=str):
        dets = [(v, p) for v, p in detections if p.label == label]
        gts = [(v, g) for v, g in truths if g.label == label]
        classwise[label] = _greedy_ap(
            [(v.video_id, float(p.score)) for v, p in dets],
            [v.video_id for v, _ in gts],
            lambda d, g: tube_iou(dets[d][1], gts[g][1], dets[d][0].frame_size, ignore_unboxed=ignore_unboxed),
            iou_threshs,
        )
    return _summarize(classwise, iou_threshs)


def spatiotemporal_metrics(
    videos: Iterable[VideoRecord],
    iou_threshs: Sequence[float] = GROUNDINGYOUTUBE_THRESHOLDS,
    *,
    ignore_unboxed: bool = False,
) -> dict[str, float]:
    """Both GroundingYouTube metrics as one flat dict of fractions in ``[0, 1]``.

    Keys: ``"iou_pointing"`` (mean over videos), ``"iou_pointing_pooled"``, ``"video_map@<t>"`` per
    threshold (e.g. ``"video_map@0.1"``) and ``"video_map"`` (their mean).

    Args:
        videos: :class:`VideoRecord` items
        iou_threshs ((0.1, 0.2, 0.3, 0.4, 0.5)): tube-IoU thresholds
        ignore_unboxed (False): see :func:`iou_pointing` and :func:`tube_iou`

    Returns:
        a dict of metric name to value
    """
    videos = list(videos)
    pointing = iou_pointing(videos, ignore_unboxed=ignore_unboxed)
    detection = video_map(videos, iou_threshs, ignore_unboxed=ignore_unboxed)
    out = {"iou_pointing": pointing.mean, "iou_pointing_pooled": pointing.pooled}
    for thresh, value in zip(detection.iou_threshs, detection.map_per_threshold):
        out[f"video_map@{thresh:g}"] = float(value)
    out["video_map"] = detection.map
    return out
