"""GroundingYouTube's IoU+Pointing and video mAP, and the ActivityNet-style temporal AP, on hand-built
videos whose answers were worked out by hand (10 x 10 pixel frames, areas counted in pixels)."""

import math

import numpy as np
import pytest

import fiftyone as fo
from fiftyone_videogem.temporal import (
    GTSegment,
    PredSegment,
    VideoRecord,
    iou_pointing,
    point_in_boxes,
    region_areas,
    spatiotemporal_metrics,
    temporal_ap,
    temporal_iou,
    tube_iou,
    video_map,
    voc_ap,
)

SIZE = (10, 10)
TOP_LEFT = [0, 0, 5, 5]  # 25 pixels
BOTTOM_RIGHT = [5, 5, 10, 10]
WHOLE = [0, 0, 10, 10]


def mask(rows, cols, shape=(10, 10)):
    out = np.zeros(shape, dtype=bool)
    out[rows, cols] = True
    return out


QUARTER = mask(slice(0, 5), slice(0, 5))  # the top-left 25 pixels
LEFT_HALF = mask(slice(0, 10), slice(0, 5))  # 50 pixels
FULL = np.ones((10, 10), dtype=bool)


# ------------------------------------------------------------------------------ pixel areas
def test_region_areas_by_hand():
    assert region_areas(QUARTER, [[0, 0, 10, 5]], SIZE) == (25, 50, 25)
    assert region_areas(mask(0, 0, (2, 2)), [[0, 0, 10, 5]], SIZE) == (25, 50, 25)  # 2x2 mask, one cell
    assert region_areas(None, [[0, 0, 4, 4], [2, 2, 6, 6]], SIZE) == (0, 16 + 16 - 4, 0)  # union of boxes
    assert region_areas(None, [[0.4, 0, 2.6, 1]], SIZE) == (0, 3, 0)  # pixel centres 0.5, 1.5, 2.5
    assert region_areas(None, [[-5, -5, 2, 2]], SIZE) == (0, 4, 0)  # cut to the frame
    # a 3x3 mask on 10 pixels: nearest neighbour gives the mask columns 3, 4, 3 frame pixels
    assert region_areas(mask(1, 1, (3, 3)), [], SIZE) == (16, 0, 0)
    assert region_areas(FULL, [], (12, 7)) == (84, 0, 0)  # any frame shape


def test_region_areas_match_full_resolution_rasterisation():
    rng = np.random.default_rng(3)
    for _ in range(40):
        width, height = int(rng.integers(5, 40)), int(rng.integers(5, 40))
        small = rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 12)))) > 0.6
        boxes = [sorted(rng.uniform(-3, width + 3, 2)) + sorted(rng.uniform(-3, height + 3, 2)) for _ in range(3)]
        boxes = [[b[0], b[2], b[1], b[3]] for b in boxes][: int(rng.integers(0, 4))]
        # plain full-resolution rasterisation: nearest mask pixel per frame pixel centre, box by centre
        xs, ys = np.arange(width) + 0.5, np.arange(height) + 0.5
        rows = np.minimum((ys * small.shape[0] / height).astype(int), small.shape[0] - 1)
        cols = np.minimum((xs * small.shape[1] / width).astype(int), small.shape[1] - 1)
        full = small[rows][:, cols]
        inside = np.zeros((height, width), dtype=bool)
        for x1, y1, x2, y2 in boxes:
            inside |= ((ys[:, None] >= y1) & (ys[:, None] < y2)) & ((xs[None, :] >= x1) & (xs[None, :] < x2))
        expected = (int(full.sum()), int(inside.sum()), int((full & inside).sum()))
        assert region_areas(small, boxes, (width, height)) == expected


def test_point_in_boxes_counts_the_border():
    assert point_in_boxes((5, 5), [TOP_LEFT])
    assert not point_in_boxes((5.01, 1), [TOP_LEFT])
    assert point_in_boxes((7, 7), [TOP_LEFT, BOTTOM_RIGHT])
    assert not point_in_boxes(None, [TOP_LEFT])
    assert not point_in_boxes((1, 1), [])


# ------------------------------------------------------------------------- the hand-built set
def hand_built_videos():
    # video A, seconds 0-9. GT: "crack egg" 2-5 (boxes top-left, none at 4), "whisk" 7-8.
    crack = GTSegment("crack egg", [2, 3, 4, 5], {2: [TOP_LEFT], 3: [TOP_LEFT], 5: [TOP_LEFT]})
    whisk_a = GTSegment("whisk", [7, 8], {7: [BOTTOM_RIGHT], 8: [BOTTOM_RIGHT]})
    inside, outside = (1, 1), (8, 8)
    p1 = PredSegment(
        "crack egg", [1, 2, 3, 4], 0.9,
        points={1: inside, 2: inside, 3: outside, 4: inside},  # 2 correct, 3 right phrase wrong point
        masks={1: QUARTER, 2: QUARTER, 3: LEFT_HALF, 4: QUARTER},
    )
    p2 = PredSegment("whisk", [5, 6], 0.5, points={5: inside, 6: inside})  # 5: wrong phrase, point in box
    p3 = PredSegment("crack egg", [4, 5], 0.3, points={4: inside, 5: inside}, masks={5: FULL})  # outranked
    video_a = VideoRecord("A", SIZE, [p1, p2, p3], [crack, whisk_a])
    # video B: "whisk" found exactly; a phrase without ground truth anywhere ("stir") on seconds 2-3
    video_b = VideoRecord(
        "B", SIZE,
        [PredSegment("whisk", [0, 1], 0.8, {0: (5, 5), 1: (5, 5)}, {0: FULL, 1: FULL}),
         PredSegment("stir", [2, 3], 0.99, {2: (5, 5), 3: (5, 5)}, {2: FULL, 3: FULL})],
        [GTSegment("whisk", [0, 1], {0: [WHOLE], 1: [WHOLE]})],
    )
    # video C: ground truth, no prediction; video D: nothing at all
    video_c = VideoRecord("C", SIZE, [], [GTSegment("pour milk", [3, 4], {3: [WHOLE], 4: [WHOLE]})])
    video_d = VideoRecord("D", SIZE)
    return [video_a, video_b, video_c, video_d]


def test_iou_pointing_by_hand():
    # A: predicted 1-6, annotated 2-5, 7-8 -> union 1..8 = 8 frames. Correct: frame 2 only (1 has no GT;
    # 3 wrong point; 4 has no box; 5 belongs to "whisk" (0.5 > 0.3) whose phrase is wrong; 6 background).
    # B: union 0-3 = 4, correct 0-1. C: union 3-4, none correct. D: empty union, left out of the mean.
    result = iou_pointing(hand_built_videos())
    assert result.per_video == {"A": (1, 8), "B": (2, 4), "C": (0, 2), "D": (0, 0)}
    assert result.video_value("A") == pytest.approx(1 / 8)
    assert math.isnan(result.video_value("D"))
    assert result.mean == pytest.approx((1 / 8 + 1 / 2 + 0) / 3)
    assert result.pooled == pytest.approx(3 / 14)


def test_iou_pointing_can_leave_out_gt_frames_without_a_box():
    result = iou_pointing(hand_built_videos(), ignore_unboxed=True)
    assert result.per_video["A"] == (1, 7)  # second 4 left out
    assert result.mean == pytest.approx((1 / 7 + 1 / 2) / 3)
    assert result.pooled == pytest.approx(3 / 13)


def test_overlapping_predictions_give_each_frame_to_the_higher_score():
    video_a = hand_built_videos()[0]
    p1, p2, p3 = video_a.predictions
    # raise the "crack egg" segment over 4-5 above "whisk": second 5 becomes correct
    p3.score = 0.6
    assert iou_pointing([video_a]).per_video["A"] == (2, 8)


def test_tube_iou_by_hand():
    video_a = hand_built_videos()[0]
    p1, p2, p3 = video_a.predictions
    crack, whisk = video_a.ground_truth
    # p1 vs crack over seconds 1-5: 1 pred only (25), 2 (25/25), 3 (25/50), 4 GT without box (25), 5 GT only
    assert tube_iou(p1, crack, SIZE) == pytest.approx(50 / 150)
    assert tube_iou(p1, crack, SIZE, ignore_unboxed=True) == pytest.approx(50 / 125)
    # p3 vs crack: 2, 3 GT only (25 + 25), 4 nothing, 5 full mask vs box (25 / 100)
    assert tube_iou(p3, crack, SIZE) == pytest.approx(25 / 150)
    assert tube_iou(p2, whisk, SIZE) == 0.0  # no frame in common, p2 without masks
    assert tube_iou(PredSegment("x", [], 1.0), GTSegment("x", []), SIZE) == 0.0


def test_video_map_by_hand():
    # "crack egg" (1 GT): p1 (0.9, IoU 1/3) then p3 (0.3, GT taken) -> AP 1 up to 0.3, 0 at 0.4 and 0.5.
    # "whisk" (2 GT): B's (0.8, IoU 1) hit, A's (0.5, IoU 0) miss -> precision 1, 1/2 at recall 1/2: AP 1/2.
    # "pour milk" (1 GT, no prediction): AP 0. "stir" has no GT: ignored.
    result = video_map(hand_built_videos())
    assert set(result.classwise_ap) == {"crack egg", "whisk", "pour milk"}
    np.testing.assert_allclose(result.classwise_ap["crack egg"], [1, 1, 1, 0, 0])
    np.testing.assert_allclose(result.classwise_ap["whisk"], [0.5] * 5)
    np.testing.assert_allclose(result.classwise_ap["pour milk"], [0] * 5)
    np.testing.assert_allclose(result.map_per_threshold, [0.5, 0.5, 0.5, 1 / 6, 1 / 6])
    assert result.map == pytest.approx((1.5 + 1 / 3) / 5)
    # leaving out GT seconds without a box lifts p1's IoU to 0.4: a hit at 0.4 too
    result = video_map(hand_built_videos(), ignore_unboxed=True)
    np.testing.assert_allclose(result.classwise_ap["crack egg"], [1, 1, 1, 1, 0])


def test_the_better_scored_prediction_takes_the_tube_first():
    video_a = hand_built_videos()[0]
    p1, _, p3 = video_a.predictions
    p3.score = 0.95  # p3 (IoU 1/6) now claims the tube first: p1 becomes a false positive at 0.1
    result = video_map([video_a], iou_threshs=[0.1, 0.2])
    # at 0.1: p3 hit, p1 miss -> AP 1; at 0.2: p3 misses (1/6), p1 hits -> precision 1/2 at recall 1
    np.testing.assert_allclose(result.classwise_ap["crack egg"], [1.0, 0.5])


def test_spatiotemporal_metrics_dict():
    metrics = spatiotemporal_metrics(hand_built_videos())
    assert list(metrics) == [
        "iou_pointing", "iou_pointing_pooled",
        "video_map@0.1", "video_map@0.2", "video_map@0.3", "video_map@0.4", "video_map@0.5", "video_map",
    ]
    assert metrics["iou_pointing"] == pytest.approx(0.625 / 3)
    assert metrics["video_map@0.4"] == pytest.approx(1 / 6)
    assert metrics["video_map"] == pytest.approx(0.36666666)


def test_no_videos_and_duplicate_ids():
    assert math.isnan(iou_pointing([]).mean) and math.isnan(video_map([]).map)
    with pytest.raises(ValueError, match="twice"):
        iou_pointing([VideoRecord("A", SIZE), VideoRecord("A", SIZE)])


# ------------------------------------------------------------------------------ temporal AP
def test_voc_ap():
    assert voc_ap([], []) == 0.0
    assert voc_ap([0.5, 0.5], [1.0, 0.5]) == pytest.approx(0.5)
    assert voc_ap([1 / 3, 1 / 3, 2 / 3, 1.0], [1, 0.5, 2 / 3, 0.75]) == pytest.approx(1 / 3 + 0.25 + 0.25)


def test_temporal_iou():
    assert temporal_iou([0, 10], [5, 15]) == pytest.approx(1 / 3)
    assert temporal_iou([0, 10], [5, 15], inclusive=True) == pytest.approx(6 / 16)
    assert temporal_iou([0, 5], [5, 10]) == 0.0  # sharing a boundary frame
    assert temporal_iou([0, 5], [5, 10], inclusive=True) == pytest.approx(1 / 11)
    assert temporal_iou([3, 3], [3, 3]) == 1.0 and temporal_iou([3, 3], [4, 4]) == 0.0
    assert temporal_iou([3, 3], [0, 10]) == 0.0


def test_temporal_ap_by_hand():
    gts = [("v1", "a", 0, 10), ("v1", "a", 20, 30), ("v2", "a", 0, 10), ("v2", "b", 40, 50)]
    preds = [
        ("v1", "a", 0, 10, 0.9),  # hit
        ("v1", "a", 1, 10, 0.8),  # IoU 0.9 with a GT already taken -> miss
        ("v2", "a", 0, 9, 0.7),  # IoU 0.9: hit
        ("v1", "a", 20, 24, 0.6),  # IoU 0.4: hit at 0.3 only
        ("v2", "c", 0, 10, 0.99),  # no GT of class c anywhere: ignored
    ]
    result = temporal_ap(preds, gts, iou_threshs=[0.3, 0.5])
    assert set(result.classwise_ap) == {"a", "b"}
    np.testing.assert_allclose(result.classwise_ap["a"], [1 / 3 + 0.25 + 0.25, 1 / 3 + 2 / 9])
    np.testing.assert_allclose(result.classwise_ap["b"], [0, 0])
    np.testing.assert_allclose(result.map_per_threshold, [5 / 12, 5 / 18])


def test_temporal_ap_agrees_with_fiftyone_activitynet(make_dataset):
    rng = np.random.default_rng(7)
    dataset = make_dataset()
    preds, gts = [], []
    for v in range(6):
        sample = fo.Sample(filepath=f"video{v}.mp4")
        gt_labels, pred_labels = [], []
        for _ in range(int(rng.integers(1, 5))):
            first = int(rng.integers(1, 200))
            label = str(rng.choice(["jump", "run", "swim"]))
            gt_labels.append(fo.TemporalDetection(label=label, support=[first, first + int(rng.integers(5, 60))]))
            gts.append((str(v), label, *gt_labels[-1].support))
        for _ in range(int(rng.integers(0, 7))):
            first = int(rng.integers(1, 200))
            label = str(rng.choice(["jump", "run", "swim"]))
            score = float(rng.random())  # distinct scores: no ties to break
            pred_labels.append(
                fo.TemporalDetection(label=label, support=[first, first + int(rng.integers(3, 70))], confidence=score)
            )
            preds.append((str(v), label, *pred_labels[-1].support, score))
        sample["gt"] = fo.TemporalDetections(detections=gt_labels)
        sample["pred"] = fo.TemporalDetections(detections=pred_labels)
        dataset.add_sample(sample)
    threshs = [0.1, 0.2, 0.3, 0.4, 0.5]
    results = dataset.evaluate_detections("pred", "gt", eval_key="ev", compute_mAP=True, iou_threshs=threshs)
    ours = temporal_ap(preds, gts, iou_threshs=threshs)
    assert results.mAP() == pytest.approx(ours.map)
    classes = list(results.classes)
    assert set(ours.classwise_ap) <= set(classes)
    for label, ap in ours.classwise_ap.items():
        np.testing.assert_allclose(results.classwise_AP[:, classes.index(label)], ap, atol=1e-12)
    assert any(0 < value < 1 for ap in ours.classwise_ap.values() for value in ap)  # not all trivial
