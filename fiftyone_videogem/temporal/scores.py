"""Per-frame query scores from embeddings, and their normalisations (numpy only).

A video sampled at ``T`` frames gives frame embeddings ``[T, D]`` (global image embeddings, or clip
embeddings of a window around each sampled frame); ``Q`` text queries give ``[Q, D]``. The score of
query ``q`` at frame ``t`` is the cosine similarity of the two L2-normalised vectors.

Missing frames (a frame that could not be decoded) are rows of NaN: they stay NaN through
:func:`frame_query_scores` and the normalisations, which ignore NaN when they take a minimum or maximum.
Callers (the segmenters) treat a NaN score as "no evidence".
"""

import logging
from typing import Optional

import numpy as np

logger = logging.getLogger(__name__)


def l2_normalize(vectors: np.ndarray, axis: int = -1) -> np.ndarray:
    """Scales vectors to unit L2 norm along ``axis``.

    A zero vector stays zero (no division by zero, no NaN); a vector holding a NaN stays NaN.

    Args:
        vectors: an array of vectors, e.g. ``[T, D]``
        axis (-1): the axis that holds the vector components

    Returns:
        a float64 array of the same shape
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=axis, keepdims=True)
    safe = np.where(norms > 0, norms, 1.0)
    return vectors / safe


def frame_query_scores(frame_embeddings: np.ndarray, query_embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity of every sampled frame with every query: ``[T, D] x [Q, D] -> [T, Q]``.

    Both inputs are L2-normalised here, so raw or already normalised embeddings give the same
    scores. A frame embedding with a NaN (a missing frame) gives a row of NaN. A single query may be
    passed as a ``[D]`` vector; the result is then ``[T, 1]``.

    Follows WWW (Chen et al., CVPR 2024, section 3.5) and ZEAL (stage 5 actionness): cosine similarity
    of the global image (CLS) embedding with the text embedding.

    Args:
        frame_embeddings: ``[T, D]`` frame embeddings (``T`` may be 0)
        query_embeddings: ``[Q, D]`` query embeddings, or one ``[D]`` query

    Returns:
        a float64 array ``[T, Q]`` of cosine similarities in ``[-1, 1]`` (NaN for missing frames)
    """
    frames = np.asarray(frame_embeddings, dtype=np.float64)
    queries = np.asarray(query_embeddings, dtype=np.float64)
    if queries.ndim == 1:
        queries = queries[None, :]
    if frames.ndim != 2 or queries.ndim != 2:
        raise ValueError(
            f"frame embeddings must be [T, D] and query embeddings [Q, D]; got shapes {frames.shape} "
            f"and {queries.shape}"
        )
    if frames.shape[1] != queries.shape[1]:
        raise ValueError(
            f"frame embeddings have {frames.shape[1]} dimensions but query embeddings {queries.shape[1]}: "
            "embed frames and queries with the same backbone"
        )
    return l2_normalize(frames) @ l2_normalize(queries).T


def minmax_normalize(scores: np.ndarray, axis: Optional[int] = None, flat_value: float = 0.0) -> np.ndarray:
    """Per-video min-max normalisation ``(s - min) / (max - min)`` into ``[0, 1]``.

    NaN entries are ignored when the minimum and maximum are taken and stay NaN. A flat curve
    (``max == min``, including a one-frame video) has no range to normalise: every finite entry
    becomes ``flat_value`` (0 by default, i.e. "no frame stands out", so nothing fires at a threshold
    above 0). A curve of only NaN stays NaN.

    Args:
        scores: any array of scores, e.g. ``[T]`` or ``[T, Q]``
        axis (None): ``None`` normalises over all entries at once (one range per video, so queries
            stay comparable); ``0`` normalises each column (each query) over time on its own
        flat_value (0.0): the value given to every finite entry of a flat curve

    Returns:
        a float64 array of the same shape
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores.copy()
    finite = np.isfinite(scores)
    low = np.min(np.where(finite, scores, np.inf), axis=axis, keepdims=True)
    high = np.max(np.where(finite, scores, -np.inf), axis=axis, keepdims=True)
    span = high - low
    ok = np.isfinite(span) & (span > 0)
    out = (scores - np.where(ok, low, 0.0)) / np.where(ok, span, 1.0)
    out = np.where(ok, out, flat_value)
    return np.where(finite, out, np.nan)


def bounded_minmax(
    scores: np.ndarray, eps: float = 0.05, axis: Optional[int] = 0, flat_value: float = 0.0
) -> np.ndarray:
    """ZEAL's bounded min-max: ``n (1 - 2 eps) + eps`` with ``n`` the min-max normalised score.

    The result lies in ``[eps, 1 - eps]``, so no frame's start/end evidence is exactly 0 or 1.

    Follows ZEAL (Aklilu et al., 2025; code ``stage5_gen_proposals._modified_minmax_norm``, ``eps`` =
    ``stage5.mm_eps`` = 0.05, normalised per column over time). Departs on flat curves and NaN: ZEAL
    divides by zero (the whole column becomes NaN, and its proposal stage then falls back to the
    interval ``(0, 0)``); here a flat curve maps to ``flat_value (1 - 2 eps) + eps`` and NaN entries
    are ignored (see :func:`minmax_normalize`). :func:`~fiftyone_videogem.temporal.proposals.propose_intervals`
    keeps ZEAL's own arithmetic, NaN included.

    Args:
        scores: ``[T]`` or ``[T, C]`` scores
        eps (0.05): the margin kept free at both ends of ``[0, 1]``; in ``[0, 0.5)``
        axis (0): as in :func:`minmax_normalize` (ZEAL normalises each column over time)
        flat_value (0.0): the min-max value of every entry of a flat curve, before the bounding

    Returns:
        a float64 array of the same shape
    """
    if not 0.0 <= eps < 0.5:
        raise ValueError(f"eps must lie in [0, 0.5); got {eps}")
    return minmax_normalize(scores, axis=axis, flat_value=flat_value) * (1.0 - 2.0 * eps) + eps
