"""ZEAL's interval proposals: from per-frame start/end evidence to scored intervals (numpy only).

Follows ZEAL (Aklilu et al., "Zero-shot Action Localization via the Confidence of Large
Vision-Language Models", 2025), as its code runs stage 5 (``stage5_gen_proposals._get_action_intervals``
with ``helpers/softnms.softnms_1d`` and ``conf/config.yaml``'s ``stage5`` values). This is an
independent implementation of that algorithm; it was checked against the authors' functions on random
inputs (identical intervals, scores equal to float precision). The steps, and where the paper's prose
and the code differ, are written out in ``docs/temporal.md``.
"""

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)


def _descending(values: np.ndarray, stable: bool) -> np.ndarray:
    """Indices that sort ``values`` from high to low, as ZEAL writes it: ``argsort(values)[::-1]``.

    NaN sorts first (numpy places it last in ascending order). With ``stable=False`` equal values come
    in the order of numpy's default sort, as in ZEAL; with ``stable=True`` equal values come from the
    highest index to the lowest (the reverse of a stable ascending sort).
    """
    return np.argsort(values, kind="stable" if stable else None)[::-1]


def _zeal_normalize(scores: np.ndarray, eps: float) -> np.ndarray:
    """ZEAL's bounded min-max with its own arithmetic: a flat or NaN-holding curve becomes all NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = (scores - scores.min()) / (scores.max() - scores.min())
    return normalized * (1 - 2 * eps) + eps


def _boundary_candidates(scores: np.ndarray, top_p: float, min_gap: int, stable: bool) -> np.ndarray:
    """Frames among the best ``int(top_p T)`` (ties included), greedily kept ``>= min_gap`` apart.

    Candidates are visited from the highest score down; a candidate is kept when it lies at least
    ``min_gap`` sampled frames from every candidate kept before it. Returns the kept frames in time
    order.
    """
    count = int(top_p * len(scores))
    kth_best = np.sort(scores)[::-1][min(count, len(scores)) - 1]
    candidates = np.flatnonzero(scores >= kth_best)
    kept: list[int] = []
    for frame in candidates[_descending(scores[candidates], stable)]:
        if all(abs(int(frame) - other) >= min_gap for other in kept):
            kept.append(int(frame))
    return np.sort(np.asarray(kept, dtype=np.int64))


def _pair(starts: np.ndarray, ends: np.ndarray, max_span: float) -> np.ndarray:
    """Every start with every later end, up to and including the first end after the next start.

    A pair is kept when ``start < end`` and ``end - start <= max_span``. With no pair at all the
    result is the single interval ``(starts[0], ends[0])``, whatever its order (ZEAL's fallback).
    """
    pairs = []
    for i, start in enumerate(starts):
        next_start = starts[i + 1] if i + 1 < len(starts) else None
        for end in ends:
            if start < end and end - start <= max_span:
                pairs.append((start, end))
            if next_start is not None and end > next_start:
                break
    if not pairs:
        pairs = [(starts[0], ends[0])]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _interval_scores(
    intervals: np.ndarray, start_evidence: np.ndarray, end_evidence: np.ndarray, actionness: np.ndarray, lam: float
) -> np.ndarray:
    """``lam (start_evidence[s] + end_evidence[e]) + (1 - lam) mean(actionness[s..e])`` per interval.

    An interval with ``e < s`` (only ZEAL's fallback can give one) has no frames: its mean is NaN.
    """
    out = np.empty(len(intervals), dtype=np.float64)
    for k, (start, end) in enumerate(intervals):
        inside = actionness[start : end + 1]
        mean = inside.mean() if inside.size else np.nan
        out[k] = lam * (start_evidence[start] + end_evidence[end]) + (1 - lam) * mean
    return out


def _soft_nms(
    intervals: np.ndarray, scores: np.ndarray, sigma: float, min_score: float, stable: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian 1-D soft-NMS over inclusive frame counts, intervals sorted once by score.

    Visits the intervals from the highest score down (the order is not updated as scores decay);
    an interval whose current score is below ``min_score`` is dropped and decays nothing, any other
    is kept and multiplies the score of every later interval by ``exp(-IoU^2 / sigma)``. A NaN score
    is never below the threshold. Returns the kept intervals in visiting order with decayed scores.
    """
    order = _descending(scores, stable)
    intervals, scores = intervals[order], scores[order].copy()
    keep = []
    for i in range(len(scores)):
        if scores[i] < min_score:
            continue
        keep.append(i)
        start, end = intervals[i]
        rest = intervals[i + 1 :]
        inter = np.maximum(0, np.minimum(end, rest[:, 1]) - np.maximum(start, rest[:, 0]) + 1)
        union = (end - start + 1) + (rest[:, 1] - rest[:, 0] + 1) - inter
        scores[i + 1 :] *= np.exp(-((inter / union) ** 2) / sigma)
    return intervals[keep], scores[keep]


def _continuous_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of ``[s, e]`` spans measured as ``e - s`` (ActivityNet's ``segment_iou``); NaN if both are empty."""
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union else math.nan


def _merge(
    intervals: np.ndarray, scores: np.ndarray, merge_iou: float, merge_score: float, stable: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Merges time-ordered neighbours that overlap by IoU > ``merge_iou``, then drops low scores.

    Intervals are sorted by start; each is compared with the last merged interval: when their
    (continuous) IoU exceeds ``merge_iou`` the last one grows to the union of both and its score
    becomes the mean of the two scores (a running pairwise mean), otherwise it is appended. At the end
    only intervals with ``score >= merge_score`` stay (NaN never does).
    """
    order = np.argsort(intervals[:, 0], kind="stable" if stable else None)
    merged: list[list[int]] = []
    merged_scores: list[float] = []
    for interval, score in zip(intervals[order], scores[order]):
        if merged and _continuous_iou(np.asarray(merged[-1]), interval) > merge_iou:
            merged[-1] = [min(merged[-1][0], int(interval[0])), max(merged[-1][1], int(interval[1]))]
            merged_scores[-1] = (merged_scores[-1] + score) / 2
        else:
            merged.append([int(interval[0]), int(interval[1])])
            merged_scores.append(float(score))
    kept = [k for k, score in enumerate(merged_scores) if score >= merge_score]
    return (
        np.asarray([merged[k] for k in kept], dtype=np.int64).reshape(-1, 2),
        np.asarray([merged_scores[k] for k in kept], dtype=np.float64),
    )


def _as_curve(name: str, values, length: int | None = None) -> np.ndarray:
    curve = np.asarray(values, dtype=np.float64)
    if curve.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-frame values; got shape {curve.shape}")
    if length is not None and len(curve) != length:
        raise ValueError(
            f"{name} has {len(curve)} frames but start_scores has {length}: pass one value per sampled frame"
        )
    return curve


def propose_intervals(
    start_scores,
    end_scores,
    actionness,
    *,
    eps: float = 0.05,
    top_p: float = 0.35,
    min_gap: int = 5,
    max_length: float = 0.95,
    lam: float = 0.1,
    nms_sigma: float = 1.3,
    nms_score: float = 0.1,
    merge_iou: float = 0.9,
    merge_score: float = 0.0,
    stable: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Scored action intervals of one video and one class, exactly as ZEAL's stage 5 computes them.

    The steps (ZEAL ``_get_action_intervals``):

    1. normalise the start and the end curve on their own: ``n (1 - 2 eps) + eps`` with ``n`` the
       min-max value (a flat or NaN-holding curve becomes NaN, as in ZEAL);
    2. boundary candidates per curve: if either normalised curve holds a NaN, the starts and the ends
       are both ``[0]``; otherwise if ``int(top_p T) < 1`` (``T <= 2`` at the default) they are ``[0]``
       and ``[T - 1]``; otherwise the frames scoring at least the ``int(top_p T)``-th best value (ties
       included), visited from the best down and kept when ``>= min_gap`` frames from every frame kept
       before;
    3. pairing: each start with every end ``e > s`` with ``e - s <= max_length T``, visiting the ends in
       time order up to and including the first end after the next start; with no pair at all the
       single interval ``(starts[0], ends[0])``, even when that end lies before that start;
    4. interval score ``lam (start[s] + end[e]) + (1 - lam) mean(actionness[s..e])`` with the normalised
       start/end values (an interval with ``e < s`` scores NaN);
    5. soft-NMS (Gaussian, ``exp(-IoU^2 / nms_sigma)`` with IoU over inclusive frame counts), visiting
       intervals once from the best score down; an interval below ``nms_score`` at its turn is dropped;
    6. only when more than one interval is left: sort by start, merge neighbours whose IoU
       (``e - s`` lengths) exceeds ``merge_iou`` into their union with the mean of the two scores, and
       keep intervals scoring ``>= merge_score``.

    Departs from ZEAL's code only where it raises: when step 6 drops every interval ZEAL's code fails
    (``zip`` of nothing); here the result is empty. The paper's prose (mean of merged scores) differs
    from the code (running mean of two); the code is followed. ZEAL's driver (``_process_score_path``)
    also skips whole videos with ``T <= 2`` and classes whose raw scores sum to 0 (or average below
    0.1 when the classes are not given); those are the caller's choices and not applied here.

    Ties: ZEAL orders equal scores (candidates, soft-NMS) and equal starts (merging) as numpy's default
    ``argsort`` does, which numpy does not specify and which differs between CPUs and numpy versions
    (so do ZEAL's results). The default reproduces that call on the running machine. ``stable=True``
    makes ties machine-independent: equal scores are visited from the latest frame/interval to the
    earliest, equal starts keep the soft-NMS order.

    Args:
        start_scores: ``[T]`` per-frame evidence that the action starts (e.g. a VLM's yes-confidence)
        end_scores: ``[T]`` per-frame evidence that the action ends
        actionness: ``[T]`` per-frame evidence that the action is under way (ZEAL: cosine similarity of
            the frame's CLIP embedding with the class description)
        eps (0.05): margin of the bounded min-max normalisation (``stage5.mm_eps``)
        top_p (0.35): fraction of frames that may become boundary candidates; in ``(0, 1]``
        min_gap (5): least distance in sampled frames between two kept candidates of one kind
        max_length (0.95): longest interval as a fraction of ``T`` (measured ``e - s``)
        lam (0.1): weight of the boundary evidence against the mean actionness
        nms_sigma (1.3): width of the Gaussian soft-NMS decay
        nms_score (0.1): an interval whose (decayed) score is below this at its turn is dropped
        merge_iou (0.9): neighbours overlapping by more than this IoU are merged
        merge_score (0.0): after merging, intervals scoring below this are dropped (only when soft-NMS
            left more than one interval, as in ZEAL)
        stable (False): order ties machine-independently instead of as numpy's default sort

    Returns:
        ``(intervals, scores)``: an int64 array ``[K, 2]`` of inclusive sampled-frame indices
        ``(start, end)`` and a float64 array ``[K]``, in ZEAL's order (by start after merging; the
        soft-NMS order when a single interval is left). A score can be NaN where ZEAL's is (NaN inputs,
        flat start/end curves); ``K`` is 0 for an empty video or when every interval was dropped.
    """
    starts_curve = _as_curve("start_scores", start_scores)
    frames = len(starts_curve)
    ends_curve = _as_curve("end_scores", end_scores, frames)
    actionness = _as_curve("actionness", actionness, frames)
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must lie in (0, 1]; got {top_p}")
    if nms_sigma <= 0:
        raise ValueError(f"nms_sigma must be positive; got {nms_sigma}")
    empty = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float64)
    if frames == 0:
        return empty

    start_evidence = _zeal_normalize(starts_curve, eps)
    end_evidence = _zeal_normalize(ends_curve, eps)
    if np.isnan(start_evidence).any() or np.isnan(end_evidence).any():
        starts = ends = np.zeros(1, dtype=np.int64)
    elif int(top_p * frames) < 1:
        starts, ends = np.zeros(1, dtype=np.int64), np.full(1, frames - 1, dtype=np.int64)
    else:
        starts = _boundary_candidates(start_evidence, top_p, min_gap, stable)
        ends = _boundary_candidates(end_evidence, top_p, min_gap, stable)

    intervals = _pair(starts, ends, max_length * frames)
    scores = _interval_scores(intervals, start_evidence, end_evidence, actionness, lam)
    intervals, scores = _soft_nms(intervals, scores, nms_sigma, nms_score, stable)
    if len(intervals) > 1:
        intervals, scores = _merge(intervals, scores, merge_iou, merge_score, stable)
    logger.debug("%d frames -> %d intervals", frames, len(intervals))
    return intervals.astype(np.int64).reshape(-1, 2), scores.astype(np.float64)
