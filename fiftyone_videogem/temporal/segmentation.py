"""From per-frame scores to temporal segments (numpy only).

Two segmenters, both over the frames of one video sampled at a fixed rate (1 fps in the papers):

- :func:`www_segments` for a *pool* of queries (GroundingYouTube: the video's ~9 step phrases). Each
  sampled frame takes the best query when its normalised score reaches ``theta``, else background;
  runs of one query become segments. Follows WWW (Chen et al., "What, when, and where?", CVPR 2024,
  section 3.5 and appendix 8.3).
- :func:`contrast_segments` for *one* free-text query. Frames are found as in T3AL0 (Liberatori et
  al., "Test-Time Zero-Shot Temporal Action Localization", CVPR 2024, training-free baseline, code
  ``src/models/components/tf_method.py``) and scored with FreeZAD's outer-inner contrast times its
  actionness term (code ``model/FreeZAD.py``).

Frame positions are *sampled-frame indices* ``0 .. T-1``; segments are inclusive ``[start, end]``.
Mapping indices to frame numbers or seconds is the caller's job. ``docs/temporal.md`` lists every
departure from the sources.
"""

import dataclasses
import logging
from typing import Optional, Union

import numpy as np

from .scores import frame_query_scores, minmax_normalize

logger = logging.getLogger(__name__)

BACKGROUND = -1
NORMALIZATIONS = ("video", "query", "none")


@dataclasses.dataclass(frozen=True)
class Segment:
    """A found segment of one video.

    Args:
        query: index of the query in the list (pool) that was searched; 0 for a single query
        start: first sampled-frame index of the segment (inclusive)
        end: last sampled-frame index of the segment (inclusive)
        score: the segment's confidence (its meaning depends on the segmenter)
    """

    query: int
    start: int
    end: int
    score: float

    @property
    def length(self) -> int:
        """Number of sampled frames in the segment."""
        return self.end - self.start + 1


def runs(labels) -> list[tuple[int, int, int]]:
    """Maximal runs of equal values: ``[(value, start, end), ...]`` in time order, ends inclusive.

    Args:
        labels: a 1-D sequence of integer labels (``-1`` for background is a label like any other)

    Returns:
        a list of ``(value, start, end)`` tuples covering every position once
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts - 1, [labels.size - 1]])
    return [(int(labels[s]), int(s), int(e)) for s, e in zip(starts, ends)]


def _as_score_matrix(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.ndim != 2:
        raise ValueError(f"scores must be [T, Q] (frames x queries); got shape {scores.shape}")
    return scores


def _normalize(scores: np.ndarray, normalize: str) -> np.ndarray:
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; got {normalize!r}")
    if normalize == "none":
        return scores
    return minmax_normalize(scores, axis=None if normalize == "video" else 0)


def www_labels(scores, *, theta: float = 0.5, normalize: str = "video") -> np.ndarray:
    """Per sampled frame, the index of the best query of the pool, or ``-1`` (background).

    A frame takes the query with the highest normalised score when that score is ``>= theta``; a
    frame whose scores are all NaN (a missing frame), or a video without queries, is background. Two
    queries tied at a frame: the lower index wins.

    Follows WWW's inference (section 3.5 / appendix 8.3: cosine similarity of the frame's global
    embedding with each phrase of the pool, normalised; background below theta = 0.5). The paper does
    not say over what the scores are normalised; ``normalize="video"`` (default) takes one min-max over
    all frames and queries of the video, which keeps the queries comparable (the best query is the one
    with the highest raw similarity) and puts theta halfway through the video's similarity range.

    Args:
        scores: ``[T, Q]`` raw scores (e.g. :func:`~fiftyone_videogem.temporal.scores.frame_query_scores`)
        theta (0.5): least normalised score of a non-background frame
        normalize ("video"): ``"video"`` (one min-max over the whole ``[T, Q]`` matrix), ``"query"``
            (min-max of each query over time) or ``"none"`` (scores used as given)

    Returns:
        an int64 array ``[T]`` of query indices, ``-1`` for background
    """
    scores = _as_score_matrix(scores)
    labels = np.full(scores.shape[0], BACKGROUND, dtype=np.int64)
    if scores.size == 0:
        return labels
    normalized = _normalize(scores, normalize)
    valid = np.isfinite(normalized)
    best = np.argmax(np.where(valid, normalized, -np.inf), axis=1)
    best_value = normalized[np.arange(len(best)), best]
    fires = valid.any(axis=1) & np.isfinite(best_value) & (best_value >= theta)
    labels[fires] = best[fires]
    return labels


def bridge_gaps(labels, max_gap: int = 1) -> np.ndarray:
    """Relabels runs of at most ``max_gap`` background frames lying between two runs of one query.

    Only background is bridged; a gap at the start or end of the video, or between two different
    queries, stays background.

    Args:
        labels: ``[T]`` labels, ``-1`` for background
        max_gap (1): the longest background gap to bridge; 0 bridges nothing

    Returns:
        a new int64 array ``[T]``
    """
    labels = np.array(labels, dtype=np.int64)
    if max_gap <= 0:
        return labels
    pieces = runs(labels)
    for k in range(1, len(pieces) - 1):
        value, start, end = pieces[k]
        if value == BACKGROUND and end - start + 1 <= max_gap and pieces[k - 1][0] == pieces[k + 1][0]:
            labels[start : end + 1] = pieces[k - 1][0]
    return labels


def www_segments(
    scores, *, theta: float = 0.5, normalize: str = "video", bridge: int = 1, min_length: int = 1
) -> list[Segment]:
    """WWW segmentation of one video over its pool of queries.

    Steps: :func:`www_labels` per frame; background gaps of at most ``bridge`` frames between two
    runs of the same query are bridged (:func:`bridge_gaps`); every maximal run of one query becomes a
    segment; segments shorter than ``min_length`` frames are dropped. The segment score is the mean
    raw score (similarity) of its query over all frames of the segment (bridged frames included, NaN
    ignored), so scores stay comparable across videos.

    Follows WWW (section 3.5; the detection unit of its video mAP, TEMPORAL.md section 3). The paper
    does not describe bridging or the segment score; both are this product's reading: ``bridge=1``
    absorbs one-frame flickers to background, ``bridge=0`` gives the plain runs.

    Args:
        scores: ``[T, Q]`` raw scores of the video's frames against its pool
        theta (0.5): least normalised score of a non-background frame
        normalize ("video"): see :func:`www_labels`
        bridge (1): longest background gap bridged between two runs of the same query
        min_length (1): shortest segment kept, in sampled frames

    Returns:
        a list of :class:`Segment` in time order (``query`` indexes the pool)
    """
    scores = _as_score_matrix(scores)
    labels = bridge_gaps(www_labels(scores, theta=theta, normalize=normalize), bridge)
    segments = []
    for query, start, end in runs(labels):
        if query == BACKGROUND or end - start + 1 < min_length:
            continue
        values = scores[start : end + 1, query]
        score = float(np.mean(values[np.isfinite(values)]))
        segments.append(Segment(query=query, start=start, end=end, score=score))
    logger.debug("WWW: %d frames, %d queries -> %d segments", scores.shape[0], scores.shape[1], len(segments))
    return segments


def moving_average(values, window: int = 20) -> np.ndarray:
    """Centred moving average with the edge values repeated; NaN entries are left out of each mean.

    The window covers ``(window - 1) // 2`` frames before and ``window // 2`` after each frame, as
    T3AL0's ``moving_average`` (a convolution over the curve padded with its first and last values).
    A frame whose whole window is NaN stays NaN.

    Args:
        values: ``[T]`` curve
        window (20): window length in sampled frames (1 leaves the curve unchanged)

    Returns:
        a float64 array ``[T]``
    """
    values = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise ValueError(f"window must be at least 1 frame; got {window}")
    if values.size == 0 or window == 1:
        return values.copy()
    before, after = (window - 1) // 2, window // 2
    padded = np.pad(values, (before, after), mode="edge")
    finite = np.isfinite(padded)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, padded, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    total = sums[window:] - sums[:-window]
    count = counts[window:] - counts[:-window]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _log_decay_weights(count: int, offset: float) -> np.ndarray:
    """FreeZAD's context weights ``1 / log(i + offset)`` for ``i = 1..count``, summing to 1."""
    weights = 1.0 / np.log(np.arange(1, count + 1) + offset)
    return weights / weights.sum()


def _weighted_context(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of a context window, NaN entries left out (0 for an empty window)."""
    finite = np.isfinite(values)
    if not finite.any():
        return 0.0
    return float(np.sum(values[finite] * weights[finite]) / np.sum(weights[finite]))


def contrast_score(
    similarity,
    start: int,
    end: int,
    *,
    context: float = 0.25,
    outer_weight: float = 0.2,
    inner_weight: float = 1.0,
    max_weight: float = 1.0,
    log_offset: float = 1.0,
) -> float:
    """FreeZAD's outer-inner contrast of the segment ``[start, end]`` on a similarity curve.

    ``inner_weight * mean(inner) + max_weight * max(inner) - outer_weight * (left + right)`` where
    ``inner`` is the curve over the segment, and ``left`` / ``right`` are weighted means of the
    ``int(context * length)`` frames just before / after it (cut at the video's ends; an empty side adds
    0), with weights ``1 / log(i + log_offset)`` for the ``i``-th frame away from the segment,
    normalised to sum 1 per side. NaN frames are left out.

    Follows FreeZAD (``mask_to_oic_score``: inner 1, max 1, outer -0.2, 25% context, log weights with
    c = 1). Departs in the context width: FreeZAD's ``int(start - 0.25 L)`` / ``int(end + 0.25 L)``
    give ``ceil(L/4)`` frames on the left and ``floor(L/4)`` on the right; here ``floor(context L)`` on
    both sides. FreeZAD scores the logit-scaled similarity (x100); the scale multiplies every score
    alike and is left out.

    Args:
        similarity: ``[T]`` unsmoothed similarity curve of the video
        start: first frame of the segment (inclusive)
        end: last frame of the segment (inclusive)
        context (0.25): context length on each side as a fraction of the segment length
        outer_weight (0.2): weight of the context, subtracted
        inner_weight (1.0): weight of the inner mean
        max_weight (1.0): weight of the inner maximum
        log_offset (1.0): offset ``c`` of the log-decay weights; positive

    Returns:
        the contrast score (NaN when every frame of the segment is NaN)
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if not 0 <= start <= end < len(similarity):
        raise ValueError(f"segment [{start}, {end}] lies outside a curve of {len(similarity)} frames")
    if log_offset <= 0:
        raise ValueError(f"log_offset must be positive; got {log_offset}")
    inner = similarity[start : end + 1]
    inner = inner[np.isfinite(inner)]
    if inner.size == 0:
        return float("nan")
    width = int(context * (end - start + 1))
    left = similarity[max(start - width, 0) : start][::-1]  # nearest frame first
    right = similarity[end + 1 : end + 1 + width]
    outer = _weighted_context(left, _log_decay_weights(len(left), log_offset)) + _weighted_context(
        right, _log_decay_weights(len(right), log_offset)
    )
    return float(inner_weight * inner.mean() + max_weight * inner.max() - outer_weight * outer)


def actionness(features) -> float:
    """FreeZAD's actionness of a segment: ``sigmoid(mean over dimensions of the FFT energy over time)``.

    The energy of each feature dimension is ``sum_k |FFT(x)_k|^2`` over the segment's frames (by
    Parseval, the segment length times the sum of squares), averaged over dimensions and squashed by a
    sigmoid into ``[0.5, 1)``. Frames holding NaN are left out.

    Follows FreeZAD (``compute_frequency_energy`` on the background-subtracted features of the segment).
    Departs: FreeZAD's slice ``features[start:end]`` leaves out the segment's last frame; here every
    frame of the inclusive segment counts.

    Args:
        features: ``[L, D]`` features of the segment's frames

    Returns:
        the actionness in ``[0.5, 1)`` (0.5 for an empty segment)
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be [L, D]; got shape {features.shape}")
    features = features[np.isfinite(features).all(axis=1)]
    if features.size == 0:
        return 0.5
    energy = np.sum(np.abs(np.fft.fft(features, axis=0)) ** 2, axis=0).mean()
    return float(0.5 * (1.0 + np.tanh(0.5 * energy)))  # the sigmoid, without overflow


def contrast_segments(
    frame_embeddings,
    query_embedding,
    *,
    window: int = 20,
    threshold: Union[str, float] = "mean",
    merge_gap: int = 20,
    min_length: int = 2,
    subtract_mean: bool = True,
    context: float = 0.25,
    outer_weight: float = 0.2,
    use_actionness: bool = True,
) -> list[Segment]:
    """Segments of one video for a single free-text query, by contrast with the video's background.

    Steps (T3AL0 to find the frames, FreeZAD to score them):

    1. subtract the mean embedding of the video's frames (the "background" direction);
    2. cosine similarity of every frame with the query;
    3. centred moving average over ``window`` frames (:func:`moving_average`), then min-max over the
       video (a flat curve becomes 0);
    4. keep the frames strictly above ``threshold`` (the curve's mean by default);
    5. join kept frames whose indices differ by at most ``merge_gap`` into one segment from the first
       to the last; drop segments shorter than ``min_length`` frames (2: single frames dropped);
    6. score = :func:`contrast_score` on the unsmoothed similarity of step 2, times
       :func:`actionness` of the background-subtracted features of the segment.

    Follows T3AL0 (``T3AL0Net``: ``remove_background``, ``kernel_size`` 20, ``normalize``, ``similarity
    > similarity.mean()``, ``stride`` 20, segments with start != end) and FreeZAD (the segment score).
    Departs: the query is given (T3AL0/FreeZAD pick the video's top class among a closed set first);
    frames whose embedding holds NaN (missing frames) are left out of the mean, the smoothing and the
    scores, and are never kept themselves (a merge may still span them); scores use the plain cosine
    (FreeZAD's x100 logit scale omitted); segment bounds are inclusive everywhere. The defaults assume
    1 fps sampling, as the papers do.

    Args:
        frame_embeddings: ``[T, D]`` embeddings of the sampled frames, as the backbone gives them
        query_embedding: ``[D]`` (or ``[1, D]``) embedding of the query
        window (20): moving-average window in sampled frames
        threshold ("mean"): ``"mean"`` (the normalised curve's mean) or a number in ``[0, 1]``
        merge_gap (20): kept frames at most this many indices apart are joined
        min_length (2): shortest segment kept, in sampled frames
        subtract_mean (True): subtract the video's mean frame embedding first (T3AL0's
            ``remove_background``)
        context (0.25): context fraction of :func:`contrast_score`
        outer_weight (0.2): context weight of :func:`contrast_score`
        use_actionness (True): multiply the contrast by :func:`actionness`

    Returns:
        a list of :class:`Segment` (``query`` 0) in time order
    """
    frames = np.asarray(frame_embeddings, dtype=np.float64)
    query = np.asarray(query_embedding, dtype=np.float64).reshape(-1)
    if frames.ndim != 2:
        raise ValueError(f"frame embeddings must be [T, D]; got shape {frames.shape}")
    if len(frames) == 0:
        return []
    valid = np.isfinite(frames).all(axis=1)
    if not valid.any():
        return []
    features = frames - frames[valid].mean(axis=0) if subtract_mean else frames.copy()
    features[~valid] = np.nan
    similarity = frame_query_scores(features, query)[:, 0]
    curve = minmax_normalize(moving_average(similarity, window))
    cut = _threshold(curve, threshold)
    kept = np.flatnonzero(np.isfinite(curve) & (curve > cut))

    segments = []
    for start, end in _join(kept, merge_gap):
        if end - start + 1 < min_length:
            continue
        score = contrast_score(similarity, start, end, context=context, outer_weight=outer_weight)
        if use_actionness:
            score *= actionness(features[start : end + 1])
        segments.append(Segment(query=0, start=start, end=end, score=score))
    logger.debug("contrast: %d frames -> %d segments", len(frames), len(segments))
    return segments


def _threshold(curve: np.ndarray, threshold: Union[str, float]) -> float:
    if isinstance(threshold, str):
        if threshold != "mean":
            raise ValueError(f"threshold must be 'mean' or a number; got {threshold!r}")
        finite = curve[np.isfinite(curve)]
        return float(finite.mean()) if finite.size else np.inf
    return float(threshold)


def _join(kept: np.ndarray, merge_gap: int) -> list[tuple[int, int]]:
    """Groups sorted frame indices: a new group starts where the next index is > ``merge_gap`` away."""
    if kept.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(kept) > merge_gap)
    firsts = np.concatenate([[0], breaks + 1])
    lasts = np.concatenate([breaks, [kept.size - 1]])
    return [(int(kept[f]), int(kept[l])) for f, l in zip(firsts, lasts)]


def segments_to_labels(segments: list[Segment], frames: int, default: Optional[int] = BACKGROUND) -> np.ndarray:
    """Per sampled frame, the query of the highest-scoring segment covering it (``default`` elsewhere).

    Ties between overlapping segments go to the one listed first; NaN scores rank lowest.

    Args:
        segments: the segments of one video
        frames: number of sampled frames ``T``
        default (-1): the label of frames no segment covers

    Returns:
        an int64 array ``[T]``
    """
    labels = np.full(frames, default, dtype=np.int64)
    best = np.full(frames, -np.inf)
    for segment in segments:
        score = segment.score if np.isfinite(segment.score) else -np.inf
        span = slice(max(segment.start, 0), min(segment.end, frames - 1) + 1)
        better = (best[span] < score) | ((labels[span] == default) & (best[span] == -np.inf))
        labels[span] = np.where(better, segment.query, labels[span])
        best[span] = np.where(better, score, best[span])
    return labels
