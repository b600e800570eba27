"""Per-frame scores, normalisations and both segmenters on hand-made curves with answers worked out
by hand (ties, empty and one-frame videos, NaN frames, a query that never fires)."""

import ast
import math
import pathlib

import numpy as np
import pytest

from fiftyone_videogem.temporal import (
    Segment,
    actionness,
    bounded_minmax,
    bridge_gaps,
    contrast_score,
    contrast_segments,
    frame_query_scores,
    l2_normalize,
    minmax_normalize,
    moving_average,
    runs,
    segments_to_labels,
    www_labels,
    www_segments,
)

NUMPY_ONLY = ("scores.py", "segmentation.py", "proposals.py", "metrics.py")


@pytest.mark.parametrize("name", NUMPY_ONLY)
def test_modules_import_numpy_and_the_standard_library_only(name):
    path = pathlib.Path(__file__).resolve().parents[1] / "fiftyone_videogem" / "temporal" / name
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= {"numpy", "dataclasses", "logging", "math", "typing", "collections"}


# ---------------------------------------------------------------------------------- scores
def test_frame_query_scores_are_cosines():
    frames = [[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [np.nan, 1.0]]
    queries = [[2.0, 0.0], [0.0, 0.5]]
    scores = frame_query_scores(frames, queries)
    np.testing.assert_allclose(scores[:3], [[1, 0], [0, 1], [math.sqrt(0.5), math.sqrt(0.5)]])
    assert np.isnan(scores[3]).all()
    assert frame_query_scores(frames, [1.0, 0.0]).shape == (4, 1)
    assert frame_query_scores(np.zeros((0, 2)), queries).shape == (0, 2)
    with pytest.raises(ValueError, match="same backbone"):
        frame_query_scores(frames, [[1.0, 0.0, 0.0]])


def test_l2_normalize_keeps_zero_vectors():
    np.testing.assert_allclose(l2_normalize([[3.0, 4.0], [0.0, 0.0]]), [[0.6, 0.8], [0.0, 0.0]])


def test_minmax_normalize():
    np.testing.assert_allclose(minmax_normalize([2.0, 4.0, 3.0]), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(minmax_normalize([3.0, 3.0, 3.0]), [0.0, 0.0, 0.0])  # flat: documented 0
    np.testing.assert_allclose(minmax_normalize([3.0], flat_value=0.5), [0.5])
    out = minmax_normalize([1.0, np.nan, 3.0])
    assert out[0] == 0.0 and np.isnan(out[1]) and out[2] == 1.0
    assert np.isnan(minmax_normalize([np.nan, np.nan])).all()
    matrix = np.array([[0.0, 10.0], [2.0, 20.0]])
    np.testing.assert_allclose(minmax_normalize(matrix), [[0.0, 0.5], [0.1, 1.0]])  # one range per video
    np.testing.assert_allclose(minmax_normalize(matrix, axis=0), [[0.0, 0.0], [1.0, 1.0]])  # per query
    assert minmax_normalize(np.zeros((0, 3))).shape == (0, 3)


def test_bounded_minmax_is_zeals_eps_margin():
    np.testing.assert_allclose(bounded_minmax([0.0, 1.0, 0.5]), [0.05, 0.95, 0.5])
    np.testing.assert_allclose(bounded_minmax([[0.0, 5.0], [2.0, 1.0]], eps=0.1), [[0.1, 0.9], [0.9, 0.1]])
    np.testing.assert_allclose(bounded_minmax([7.0, 7.0]), [0.05, 0.05])  # flat: no NaN
    with pytest.raises(ValueError, match="eps"):
        bounded_minmax([0.0, 1.0], eps=0.5)


# ---------------------------------------------------------------------------------- runs
def test_runs_and_bridging():
    assert runs([]) == []
    assert runs([1, 1, -1, 2]) == [(1, 0, 1), (-1, 2, 2), (2, 3, 3)]
    labels = [-1, 0, -1, 0, -1, -1, 0, 1, -1, 2, -1]
    # one-frame gap between two runs of 0 is bridged; the two-frame gap only with max_gap 2; a gap
    # between different queries and the gaps at the video's ends never
    assert bridge_gaps(labels, 1).tolist() == [-1, 0, 0, 0, -1, -1, 0, 1, -1, 2, -1]
    assert bridge_gaps(labels, 2).tolist() == [-1, 0, 0, 0, 0, 0, 0, 1, -1, 2, -1]
    assert bridge_gaps(labels, 0).tolist() == labels


# ---------------------------------------------------------------------------------- WWW
# two phrases over 8 frames; video range [0.1, 0.9] so theta 0.5 <=> raw similarity >= 0.5
POOL_SCORES = np.array(
    [
        [0.9, 0.8, 0.1, 0.7, 0.2, 0.1, 0.1, 0.1],  # phrase 0
        [0.1, 0.1, 0.1, 0.1, 0.6, 0.7, 0.2, 0.65],  # phrase 1
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 0.1],  # phrase 2: weak everywhere
    ]
).T


def test_www_labels_best_phrase_or_background():
    # frame 2: all phrases tie at the video's minimum -> phrase 0 by index, normalised 0 -> background
    assert www_labels(POOL_SCORES).tolist() == [0, 0, -1, 0, 1, 1, -1, 1]
    # theta 0.8 <=> raw >= 0.74: only frames 0 (0.9) and 1 (0.8)
    assert www_labels(POOL_SCORES, theta=0.8).tolist() == [0, 0, -1, -1, -1, -1, -1, -1]


def test_a_weak_phrase_never_fires_with_one_range_per_video_but_does_per_query():
    assert 2 not in www_labels(POOL_SCORES)
    # per-query min-max lifts phrase 2's peak (frame 6) to 1
    assert www_labels(POOL_SCORES, normalize="query").tolist() == [0, 0, -1, 0, 1, 1, 2, 1]
    assert all(segment.query != 2 for segment in www_segments(POOL_SCORES))


def test_www_segments_bridge_one_background_frame():
    segments = www_segments(POOL_SCORES)
    assert segments == [
        Segment(query=0, start=0, end=3, score=pytest.approx((0.9 + 0.8 + 0.1 + 0.7) / 4)),
        Segment(query=1, start=4, end=7, score=pytest.approx((0.6 + 0.7 + 0.2 + 0.65) / 4)),
    ]
    assert [s.length for s in segments] == [4, 4]


def test_www_segments_without_bridging_and_min_length():
    segments = www_segments(POOL_SCORES, bridge=0)
    assert [(s.query, s.start, s.end) for s in segments] == [(0, 0, 1), (0, 3, 3), (1, 4, 5), (1, 7, 7)]
    assert [s.score for s in segments] == pytest.approx([0.85, 0.7, 0.65, 0.65])
    assert [(s.query, s.start, s.end) for s in www_segments(POOL_SCORES, bridge=0, min_length=2)] == [
        (0, 0, 1),
        (1, 4, 5),
    ]


def test_www_missing_frame_is_background_and_can_be_bridged():
    scores = POOL_SCORES.copy()
    scores[1] = np.nan
    assert www_labels(scores).tolist() == [0, -1, -1, 0, 1, 1, -1, 1]
    # frames 1-2 form a two-frame gap: not bridged at 1, bridged at 2 (the NaN left out of the score)
    assert [(s.query, s.start, s.end) for s in www_segments(scores)][:2] == [(0, 0, 0), (0, 3, 3)]
    first = www_segments(scores, bridge=2)[0]
    assert (first.start, first.end) == (0, 3) and first.score == pytest.approx((0.9 + 0.1 + 0.7) / 3)


def test_www_empty_and_one_frame_videos():
    assert www_segments(np.zeros((0, 3))) == []
    assert www_segments(np.zeros((5, 0))) == []  # no phrases: all background
    assert www_labels(np.zeros((5, 0))).tolist() == [-1] * 5
    assert www_segments(np.full((4, 2), np.nan)) == []
    # one frame, two phrases: the better one is the video's maximum
    assert www_segments([[0.3, 0.2]]) == [Segment(query=0, start=0, end=0, score=pytest.approx(0.3))]
    # one frame, one phrase: a flat curve normalises to 0 -> background
    assert www_segments([[0.3]]) == []
    with pytest.raises(ValueError, match="normalize"):
        www_labels(POOL_SCORES, normalize="softmax")


def test_segments_to_labels_takes_the_best_covering_segment():
    segments = [Segment(0, 0, 5, 0.5), Segment(1, 3, 8, 0.7), Segment(2, 8, 9, float("nan"))]
    assert segments_to_labels(segments, 10).tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 2]
    assert segments_to_labels([], 3).tolist() == [-1, -1, -1]


# ---------------------------------------------------------------------------------- contrast
def test_moving_average_is_centred_with_repeated_edges():
    np.testing.assert_allclose(moving_average([0, 0, 3, 0, 0], 3), [0, 1, 1, 1, 0])
    np.testing.assert_allclose(moving_average([3, 0, 0], 3), [2, 1, 0])
    # even window: one frame more after than before (T3AL0's padding and slicing)
    np.testing.assert_allclose(moving_average([1, 2, 3, 4, 5], 4), [7 / 4, 10 / 4, 14 / 4, 17 / 4, 19 / 4])
    ramp = np.arange(40.0)
    assert moving_average(ramp, 20)[15] == pytest.approx(np.mean(np.arange(6, 26)))  # 9 before, 10 after
    np.testing.assert_allclose(moving_average([1.0, np.nan, 3.0], 3), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(moving_average([1.0, 2.0], 1), [1.0, 2.0])
    assert moving_average([], 20).size == 0


def test_contrast_score_outer_inner():
    sim = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0.5, 0.5, 0, 0])
    # length 4 -> one context frame each side (weight 1): 1 + 1 - 0.2 (0 + 0.5)
    assert contrast_score(sim, 4, 7) == pytest.approx(1.9)

    sim = np.array([0, 0.1, 0.3, 0.2, 0.4, 0.6, 0.8, 1.0, 0.8, 0.6, 0.4, 0.5, 0.0, 0.9])
    # length 8 -> two context frames each side; log-decay weights 1/ln 2 (nearest) and 1/ln 3
    near, far = 1 / math.log(2), 1 / math.log(3)
    near, far = near / (near + far), far / (near + far)
    left = near * 0.3 + far * 0.1
    right = near * 0.5 + far * 0.0
    assert contrast_score(sim, 3, 10) == pytest.approx(0.6 + 1.0 - 0.2 * (left + right))
    # at the video's start the left side is empty and adds nothing
    assert contrast_score(sim, 0, 3) == pytest.approx(0.15 + 0.3 - 0.2 * 0.4)
    # the whole video: no context at all
    assert contrast_score(sim, 0, 13) == pytest.approx(sim.mean() + 1.0)
    with pytest.raises(ValueError, match="outside"):
        contrast_score(sim, 5, 14)


def test_actionness_is_the_sigmoid_of_fft_energy():
    # one dimension constant 1 over 2 frames: FFT [2, 0] -> energy 4; the other 0 -> mean 2
    assert actionness([[1.0, 0.0], [1.0, 0.0]]) == pytest.approx(1 / (1 + math.exp(-2)))
    assert actionness(np.zeros((0, 3))) == 0.5
    assert actionness([[1e6, 0.0]]) == pytest.approx(1.0)  # saturates without overflow


def _block_video(frames, blocks, dims=3):
    """Background direction e0 everywhere, plus the query's direction e1 inside the blocks."""
    embeddings = np.zeros((frames, dims))
    embeddings[:, 0] = 1.0
    for first, last in blocks:
        embeddings[first : last + 1, 1] = 1.0
    return embeddings


def test_contrast_segments_finds_the_block_and_scores_it_by_hand():
    video = _block_video(12, [(4, 7)])
    # after subtracting the mean (e0 + e1/3): inside (2/3) e1, outside -(1/3) e1 -> cosine +1 / -1;
    # min-max 1 / 0, mean 1/3: frames 4-7 kept
    (segment,) = contrast_segments(video, [0, 1, 0], window=1)
    assert (segment.query, segment.start, segment.end) == (0, 4, 7)
    contrast = 1 + 1 - 0.2 * (-1 - 1)  # one context frame each side, both -1
    energy = 4 * 4 * (2 / 3) ** 2 / 3  # L * sum of squares, averaged over 3 dimensions
    assert segment.score == pytest.approx(contrast / (1 + math.exp(-energy)))
    (plain,) = contrast_segments(video, [0, 1, 0], window=1, use_actionness=False)
    assert plain.score == pytest.approx(contrast)
    # without subtraction the same frames stand out (cosine 1/sqrt 2 inside, 0 outside)
    (raw,) = contrast_segments(video, [0, 1, 0], window=1, subtract_mean=False, use_actionness=False)
    assert (raw.start, raw.end) == (4, 7)
    assert raw.score == pytest.approx(2 * math.sqrt(0.5) - 0.2 * 0.0)


def test_contrast_segments_merges_gaps_and_drops_single_frames():
    video = _block_video(20, [(2, 4), (8, 10), (15, 15)])
    query = [0, 1, 0]
    spans = lambda **kw: [(s.start, s.end) for s in contrast_segments(video, query, window=1, **kw)]  # noqa: E731
    assert spans(merge_gap=3) == [(2, 4), (8, 10)]  # the one-frame block at 15 is dropped
    assert spans(merge_gap=4) == [(2, 10)]  # 4 -> 8 is 4 indices apart
    assert spans(merge_gap=3, min_length=1) == [(2, 4), (8, 10), (15, 15)]
    assert spans(merge_gap=5) == [(2, 15)]  # 10 -> 15 is 5 apart: the single frame joins


def test_contrast_segments_default_smoothing_widens_a_block():
    # 100 frames, block 40-59: cosine +1 inside, -1 outside; the 20-frame window at t covers t-9..t+10,
    # so the smoothed curve min-maxes to overlap(t) / 20 with mean 400 / 2000 = 0.2; kept: overlap >= 5,
    # i.e. t - 29 >= 5 on the way up and 69 - t >= 5 on the way down
    (segment,) = contrast_segments(_block_video(100, [(40, 59)]), [0, 1, 0])
    assert (segment.start, segment.end) == (34, 64)


def test_contrast_segments_edge_cases():
    query = [0, 1, 0]
    assert contrast_segments(np.zeros((0, 3)), query) == []
    assert contrast_segments(_block_video(1, [(0, 0)]), query) == []  # one frame: nothing stands out
    assert contrast_segments(np.full((6, 3), np.nan), query) == []
    # a query along a direction the video never varies in never fires
    assert contrast_segments(_block_video(12, [(4, 7)]), [0, 0, 1], window=1) == []
    # a missing frame inside the block: left out, the block still found whole
    video = _block_video(12, [(4, 7)])
    video[5] = np.nan
    (segment,) = contrast_segments(video, query, window=1)
    assert (segment.start, segment.end) == (4, 7) and np.isfinite(segment.score)
    with pytest.raises(ValueError, match="threshold"):
        contrast_segments(video, query, threshold="median")


def test_contrast_threshold_number():
    video = _block_video(12, [(4, 7)])
    video[4:8, 1] = [0.2, 0.4, 1.0, 1.0]  # a ramp into the block
    # raw cosines c / sqrt(1 + c^2): 0, 0.196, 0.371, 0.707 -> min-max 0, 0.277, 0.525, 1
    kw = dict(window=1, subtract_mean=False)
    assert [(s.start, s.end) for s in contrast_segments(video, [0, 1, 0], threshold=0.9, **kw)] == [(6, 7)]
    assert [(s.start, s.end) for s in contrast_segments(video, [0, 1, 0], threshold=0.5, **kw)] == [(5, 7)]
    assert [(s.start, s.end) for s in contrast_segments(video, [0, 1, 0], threshold=0.1, **kw)] == [(4, 7)]
