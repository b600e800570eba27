"""ZEAL interval proposals: hand-made curves with answers worked out by hand, and a property test
against a plainly written reference of the algorithm in TEMPORAL.md section 2."""

import math

import numpy as np
import pytest

from fiftyone_videogem.temporal import propose_intervals


def bounded(value, low, high, eps=0.05):
    """The bounded min-max value of ``value`` on a curve ranging over ``[low, high]``."""
    return (value - low) / (high - low) * (1 - 2 * eps) + eps


def soft(iou, sigma=1.3):
    return math.exp(-(iou**2) / sigma)


# ------------------------------------------------------------------------------ by hand
def test_two_starts_two_ends_three_intervals_and_soft_nms_decay():
    # starts: best 3 = frames 1 (1.0), 2 (0.9), 7 (0.8); frame 2 is 1 frame from 1 -> starts [1, 7]
    start = [0.00, 1.00, 0.90, 0.10, 0.20, 0.30, 0.40, 0.80, 0.05, 0.15]
    # ends: best 3 = frames 4 (1.0), 9 (0.95), 8 (0.7); frame 8 is 4 frames from 4 -> ends [4, 9]
    end = [0.00, 0.10, 0.20, 0.30, 1.00, 0.40, 0.50, 0.60, 0.70, 0.95]
    act = [0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.3, 0.3, 0.3]
    # pairing: start 1 -> end 4, end 9 (9 > next start 7: stop after it); start 7 -> end 9
    s1, s7 = bounded(1.0, 0, 1), bounded(0.8, 0, 1)
    e4, e9 = bounded(1.0, 0, 1), bounded(0.95, 0, 1)
    a14 = 0.1 * (s1 + e4) + 0.9 * 0.5
    a19 = 0.1 * (s1 + e9) + 0.9 * (2.0 + 0.9) / 9
    a79 = 0.1 * (s7 + e9) + 0.9 * 0.3
    assert a14 > a19 > a79  # soft-NMS visits (1,4), (1,9), (7,9)
    a19_decayed = a19 * soft(4 / 9)  # (1,4) vs (1,9): 4 common frames of 9
    a79_decayed = a79 * 1.0 * soft(3 / 9)  # no overlap with (1,4); 3 of 9 frames with (1,9)
    # merge: IoU((1,4),(1,9)) = 3/8, IoU((1,9),(7,9)) = 2/8: nothing merges; order by start
    intervals, scores = propose_intervals(start, end, act, stable=True)
    assert intervals.tolist() == [[1, 4], [1, 9], [7, 9]]
    np.testing.assert_allclose(scores, [a14, a19_decayed, a79_decayed], rtol=1e-12)
    # without `stable`, the two intervals starting at frame 1 may come in either order
    intervals, scores = propose_intervals(start, end, act)
    assert sorted(map(tuple, intervals.tolist())) == [(1, 4), (1, 9), (7, 9)]
    assert sorted(scores.tolist()) == pytest.approx(sorted([a14, a19_decayed, a79_decayed]))
    assert intervals.dtype == np.int64 and scores.dtype == np.float64


def _merge_case(length=120):
    start = np.zeros(length)
    start[0], start[1] = 1.0, 0.9  # frame 1 lies within 5 frames of frame 0: one start
    end = np.zeros(length)
    end[100], end[105] = 1.0, 0.9  # 5 frames apart: two ends
    return start, end, np.full(length, 0.5)


def test_near_duplicates_merge_into_their_union_with_the_mean_score():
    start, end, act = _merge_case()
    a100 = 0.1 * (0.95 + 0.95) + 0.9 * 0.5
    a105 = 0.1 * (0.95 + bounded(0.9, 0, 1)) + 0.9 * 0.5
    decayed = a105 * soft(101 / 106)  # inclusive IoU of (0,100) and (0,105)
    # merging: continuous IoU of (0,100), (0,105) = 100/105 > 0.9
    intervals, scores = propose_intervals(start, end, act, top_p=0.02)  # int(0.02 * 120) = 2
    assert intervals.tolist() == [[0, 105]]
    np.testing.assert_allclose(scores, [(a100 + decayed) / 2], rtol=1e-12)
    # below merge_iou nothing merges; both intervals stay (ordered by start)
    intervals, _ = propose_intervals(start, end, act, top_p=0.02, merge_iou=0.96, stable=True)
    assert intervals.tolist() == [[0, 100], [0, 105]]


def test_merge_score_drops_everything_where_zeal_would_raise():
    start, end, act = _merge_case()
    intervals, scores = propose_intervals(start, end, act, top_p=0.02, merge_score=0.5)  # merged ~0.477
    assert intervals.shape == (0, 2) and scores.shape == (0,)


def test_a_single_interval_skips_the_merge_score_filter():
    # T = 2: int(0.35 * 2) = 0 candidates -> the whole video (0, 1); one interval is never merged or filtered
    intervals, scores = propose_intervals([0.1, 0.9], [0.8, 0.2], [0.4, 0.6], merge_score=0.9)
    assert intervals.tolist() == [[0, 1]]
    np.testing.assert_allclose(scores, [0.1 * (0.05 + 0.05) + 0.9 * 0.5])


def test_low_score_is_dropped_by_soft_nms():
    intervals, scores = propose_intervals([0.1, 0.9], [0.8, 0.2], [0.0, 0.0])  # 0.01 < nms_score 0.1
    assert intervals.shape == (0, 2) and scores.size == 0
    intervals, scores = propose_intervals([0.1, 0.9], [0.8, 0.2], [0.0, 0.0], nms_score=0.0)
    assert intervals.tolist() == [[0, 1]] and scores == pytest.approx([0.01])


def test_empty_video():
    intervals, scores = propose_intervals([], [], [])
    assert intervals.shape == (0, 2) and scores.shape == (0,)


def test_one_frame_video_is_flat_and_falls_back_to_frame_zero_with_nan_score():
    intervals, scores = propose_intervals([0.3], [0.7], [0.2])
    assert intervals.tolist() == [[0, 0]]
    assert np.isnan(scores).all()


@pytest.mark.parametrize("which", ["start", "end"])
def test_nan_or_flat_curve_gives_interval_zero_with_nan_score(which):
    rng = np.random.default_rng(0)
    curves = {"start": rng.random(30), "end": rng.random(30)}
    for broken in (np.full(30, 0.4), np.where(np.arange(30) == 7, np.nan, 0.5 + rng.random(30) / 4)):
        curves[which] = broken
        intervals, scores = propose_intervals(curves["start"], curves["end"], rng.random(30))
        assert intervals.tolist() == [[0, 0]]
        assert np.isnan(scores).all()


def test_no_start_before_an_end_returns_zeals_inverted_fallback():
    start = np.zeros(10)
    start[7] = 1.0
    end = np.zeros(10)
    end[2] = 1.0
    start[0] = end[0] = 0.5  # keep the zeros from tying with the peak
    intervals, scores = propose_intervals(start, end, np.full(10, 0.5), top_p=0.1)  # one candidate each
    assert intervals.tolist() == [[7, 2]]
    assert np.isnan(scores).all()  # the mean over no frames


def test_max_length_drops_long_intervals():
    start, end, act = _merge_case()
    # max_length 0.85 of 120 frames = 102: (0, 105) is too long, (0, 100) stays alone
    intervals, _ = propose_intervals(start, end, act, top_p=0.02, max_length=0.85)
    assert intervals.tolist() == [[0, 100]]


def test_tied_candidates_close_together_keep_one():
    start = [0.0, 0.1, 1.0, 0.2, 1.0, 0.3, 0.05, 0.15, 0.25, 0.35]  # frames 2 and 4 tie at the top
    end = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0, 0.7, 0.9]  # ends: 7 (8, 9 within 5 frames)
    act = np.full(10, 0.5)
    expected_score = 0.1 * (0.95 + 0.95) + 0.9 * 0.5
    # stable: of two equal scores the later frame is visited first -> start 4 kept, 2 suppressed
    intervals, scores = propose_intervals(start, end, act, stable=True)
    assert intervals.tolist() == [[4, 7]] and scores == pytest.approx([expected_score])
    # numpy's default order (ZEAL's) keeps one of the two
    intervals, scores = propose_intervals(start, end, act)
    assert intervals.tolist() in ([[4, 7]], [[2, 7]]) and scores == pytest.approx([expected_score])


def test_curves_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="one value per sampled frame"):
        propose_intervals([0.1, 0.2, 0.3], [0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="top_p"):
        propose_intervals([0.1, 0.2], [0.1, 0.2], [0.1, 0.2], top_p=0.0)


# ---------------------------------------------------------------- reference, from TEMPORAL.md
def reference_proposals(start, end, act, eps=0.05, top_p=0.35, min_gap=5, max_length=0.95, lam=0.1,
                        sigma=1.3, nms_score=0.1, merge_iou=0.9, merge_score=0.0):
    """TEMPORAL.md section 2, step 4, in plain Python; equal values are visited latest frame first."""
    frames = len(start)

    def normalise(curve):
        low, high = min(curve), max(curve)
        return [(v - low) / (high - low) * (1 - 2 * eps) + eps for v in curve]

    def candidates(curve):
        best = sorted(curve, reverse=True)[int(top_p * frames) - 1]
        ranked = sorted((t for t in range(frames) if curve[t] >= best), key=lambda t: (-curve[t], -t))
        kept = []
        for t in ranked:
            if all(abs(t - u) >= min_gap for u in kept):
                kept.append(t)
        return sorted(kept)

    n_start, n_end = normalise(start), normalise(end)
    if int(top_p * frames) < 1:
        starts, ends = [0], [frames - 1]
    else:
        starts, ends = candidates(n_start), candidates(n_end)

    pairs = []
    for i, s in enumerate(starts):
        for e in ends:
            if s < e and e - s <= max_length * frames:
                pairs.append((s, e))
            if i + 1 < len(starts) and e > starts[i + 1]:
                break
    if not pairs:
        pairs = [(starts[0], ends[0])]

    def score(s, e):
        inside = act[s : e + 1]
        mean = sum(inside) / len(inside) if inside else math.nan
        return lam * (n_start[s] + n_end[e]) + (1 - lam) * mean

    items = [[s, e, score(s, e)] for s, e in pairs]
    items = [items[i] for i in sorted(range(len(items)), key=lambda i: (-items[i][2], -i))]
    kept = []
    for i, (s, e, value) in enumerate(items):
        if value < nms_score:
            continue
        kept.append(items[i])
        for later in items[i + 1 :]:
            common = max(0, min(e, later[1]) - max(s, later[0]) + 1)
            union = (e - s + 1) + (later[1] - later[0] + 1) - common
            later[2] *= math.exp(-((common / union) ** 2) / sigma)
    if len(kept) <= 1:
        return [(s, e) for s, e, _ in kept], [v for _, _, v in kept]

    merged = []
    for s, e, value in sorted(kept, key=lambda item: item[0]):
        if merged:
            ps, pe, pv = merged[-1]
            common = max(0, min(pe, e) - max(ps, s))
            union = (pe - ps) + (e - s) - common
            if union and common / union > merge_iou:
                merged[-1] = [min(ps, s), max(pe, e), (pv + value) / 2]
                continue
        merged.append([s, e, value])
    merged = [m for m in merged if m[2] >= merge_score]
    return [(s, e) for s, e, _ in merged], [v for _, _, v in merged]


def _random_curve(rng, frames, kind):
    if kind == "ties":
        curve = rng.integers(0, 4, frames) / 3.0
    elif kind == "smooth":
        curve = np.convolve(rng.random(frames + 6), np.ones(7) / 7, mode="valid")
    else:
        curve = rng.random(frames)
    if curve.max() == curve.min():  # the reference covers non-flat curves only
        curve[0] += 1.0
    return curve


@pytest.mark.parametrize("seed", range(4))
def test_matches_the_reference_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    checked = merged_any = 0
    for _ in range(60):
        frames = int(rng.choice([2, 3, 5, 8, 13, 40, 90, 250]))
        start = _random_curve(rng, frames, rng.choice(["uniform", "ties", "smooth"]))
        end = _random_curve(rng, frames, rng.choice(["uniform", "ties", "smooth"]))
        act = rng.normal(0.2, 0.2, frames)  # distinct values: interval scores do not tie
        params = {}
        if rng.random() < 0.5:
            params = dict(
                eps=float(rng.choice([0.0, 0.05, 0.2])), top_p=float(rng.choice([0.1, 0.35, 0.7])),
                min_gap=int(rng.choice([0, 2, 5, 9])), max_length=float(rng.choice([0.4, 0.95])),
                lam=float(rng.choice([0.0, 0.1, 0.6])), merge_iou=float(rng.choice([0.5, 0.9])),
                merge_score=float(rng.choice([-1.0, 0.0, 0.2])),
            )
        expected_intervals, expected_scores = reference_proposals(
            start.tolist(), end.tolist(), act.tolist(),
            **{k.replace("nms_sigma", "sigma"): v for k, v in params.items()},
        )
        intervals, scores = propose_intervals(start, end, act, stable=True, **params)
        assert [tuple(row) for row in intervals.tolist()] == expected_intervals
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-9, atol=1e-12)
        checked += 1
        merged_any += len(expected_intervals) > 0
    assert checked == 60 and merged_any > 30  # most cases produce intervals
