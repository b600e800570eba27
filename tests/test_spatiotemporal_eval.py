"""The spatio-temporal (GroundingYouTube) and temporal evaluations on hand-built FiftyOne datasets.

The spatio-temporal set is the hand-built set of ``tests/test_temporal_metrics.py`` written as FiftyOne
labels: 10 x 10 pixel videos at 1 fps, so second ``s`` is frame ``s + 1``; its IoU+Pointing, tube IoUs and
video mAP were worked out by hand there.
"""

import math

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.core.labels as fol
from fiftyone import ViewField as F

import fiftyone_videogem as fvg
from fiftyone_videogem.evaluation import SpatiotemporalResults, evaluate_spatiotemporal, evaluate_temporal
from fiftyone_videogem.localization import sampled_frame_numbers

TOP_LEFT = [0, 0, 0.5, 0.5]  # normalised [x, y, w, h]: 25 pixels of 100
BOTTOM_RIGHT = [0.5, 0.5, 0.5, 0.5]
WHOLE = [0, 0, 1, 1]
INSIDE, OUTSIDE, CENTRE = (0.1, 0.1), (0.8, 0.8), (0.5, 0.5)


def grid(rows, cols, value=1.0, dtype=np.float32, shape=(10, 10)):
    out = np.zeros(shape, dtype=dtype)
    out[rows, cols] = value
    return out


QUARTER = grid(slice(0, 5), slice(0, 5))
LEFT_HALF = grid(slice(0, 10), slice(0, 5))
FULL = np.ones((10, 10), dtype=np.float32)


def keypoints(*finals):
    return fol.Keypoints(
        keypoints=[fol.Keypoint(label=label, points=[point], component="final") for label, point in finals]
    )


def video(dataset, name, segments, truth, frames, metadata=True):
    """One video sample: ``segments`` (label, [first s, last s], confidence), ``truth`` (label, [first s,
    last s]), ``frames`` {second: {field: label}}."""
    sample = fo.Sample(filepath=f"{name}.mp4")
    if metadata:
        sample.metadata = fo.VideoMetadata(frame_width=10, frame_height=10, frame_rate=1.0, total_frame_count=10)
    sample["found"] = fol.TemporalDetections(
        detections=[fol.TemporalDetection(label=l, support=[a + 1, b + 1], confidence=c) for l, (a, b), c in segments]
    )
    sample["truth"] = fol.TemporalDetections(
        detections=[fol.TemporalDetection(label=l, support=[a + 1, b + 1]) for l, (a, b) in truth]
    )
    for second, labels in frames.items():
        sample.frames[second + 1] = fo.Frame(**labels)
    dataset.add_sample(sample)
    return sample


def boxes(label, box):
    return fol.Detections(detections=[fol.Detection(label=label, bounding_box=box)])


def heatmap(array, value_range=(0, 1)):
    return fol.Heatmap(map=array, range=list(value_range))


@pytest.fixture
def hand_built(make_dataset):
    dataset = make_dataset()
    crack, whisk = "crack egg", "whisk"
    # video A: GT "crack egg" 2-5 (boxes top-left, none at 4), "whisk" 7-8; p1 crack 1-4 (0.9), p2 whisk 5-6
    # (0.5), p3 crack 4-5 (0.3). Second 5 holds both phrases' points; its heatmap is the first one's (crack).
    video(dataset, "A", [(crack, (1, 4), 0.9), (whisk, (5, 6), 0.5), (crack, (4, 5), 0.3)],
          [(crack, (2, 5)), (whisk, (7, 8))], {
              1: dict(pts=keypoints((crack, INSIDE)), hm=heatmap(QUARTER)),
              2: dict(pts=keypoints((crack, INSIDE)), hm=heatmap(QUARTER), gt=boxes(crack, TOP_LEFT)),
              3: dict(pts=keypoints((crack, OUTSIDE)), hm=heatmap(LEFT_HALF), gt=boxes(crack, TOP_LEFT)),
              4: dict(pts=keypoints((crack, INSIDE)), hm=heatmap(QUARTER)),
              5: dict(pts=keypoints((crack, INSIDE), (whisk, INSIDE)), hm=heatmap(FULL), gt=boxes(crack, TOP_LEFT)),
              6: dict(pts=keypoints((whisk, INSIDE))),
              7: dict(gt=boxes(whisk, BOTTOM_RIGHT)),
              8: dict(gt=boxes(whisk, BOTTOM_RIGHT)),
          })
    # video B: "whisk" found exactly (uint8 heatmaps in [0, 255]); "stir" has no ground truth anywhere
    full_uint8 = np.full((10, 10), 255, dtype=np.uint8)
    video(dataset, "B", [(whisk, (0, 1), 0.8), ("stir", (2, 3), 0.99)], [(whisk, (0, 1))], {
        0: dict(pts=keypoints((whisk, CENTRE)), hm=heatmap(full_uint8, (0, 255)), gt=boxes(whisk, WHOLE)),
        1: dict(pts=keypoints((whisk, CENTRE)), hm=heatmap(full_uint8, (0, 255)), gt=boxes(whisk, WHOLE)),
        2: dict(pts=keypoints(("stir", CENTRE)), hm=heatmap(FULL)),
        3: dict(pts=keypoints(("stir", CENTRE)), hm=heatmap(FULL)),
    })
    # video C: ground truth, no prediction; video D: nothing at all
    video(dataset, "C", [], [("pour milk", (3, 4))], {
        3: dict(gt=boxes("pour milk", WHOLE)), 4: dict(gt=boxes("pour milk", WHOLE)),
    })
    video(dataset, "D", [], [], {})
    # video E: no prediction field at all (a video the localisation did not reach)
    unreached = video(dataset, "E", [], [], {})
    unreached["found"] = None
    unreached.save()
    return dataset


def evaluate(dataset, **kwargs):
    return evaluate_spatiotemporal(
        dataset, "found", "truth", pred_points_field="frames.pts", pred_heatmap_field="hm",
        gt_boxes_field="frames.gt", **kwargs,
    )


def ids_by_name(dataset):
    return dict(zip([p.split("/")[-1][0] for p in dataset.values("filepath")], dataset.values("id")))


# ------------------------------------------------------------------------------- the numbers
def test_sampled_frame_numbers():
    assert sampled_frame_numbers(10, 35, 1.0) == [1, 11, 21, 31]
    assert sampled_frame_numbers(29.97, 100, 1.0) == [1, 30, 60, 90]  # floor(k * 29.97) + 1
    assert sampled_frame_numbers(25, 100, 2.0) == [1, 13, 26, 38, 51, 63, 76, 88]  # floor(12.5 k) + 1
    assert sampled_frame_numbers(1, 3, 2.0) == [1, 2, 3]  # faster than the video: each frame once
    assert sampled_frame_numbers(10, 0) == []
    with pytest.raises(ValueError, match="fps"):
        sampled_frame_numbers(10, 10, 0)


def test_metrics_match_the_hand_computed_values(hand_built):
    results = evaluate(hand_built)
    metrics = results.metrics()
    assert list(metrics) == [
        "iou_pointing", "iou_pointing_pooled",
        "video_map@0.1", "video_map@0.2", "video_map@0.3", "video_map@0.4", "video_map@0.5", "video_map",
    ]
    # A: 1 correct of 8, B: 2 of 4, C: 0 of 2, D: empty union (left out of the mean)
    assert metrics["iou_pointing"] == pytest.approx((1 / 8 + 1 / 2 + 0) / 3)
    assert metrics["iou_pointing_pooled"] == pytest.approx(3 / 14)
    np.testing.assert_allclose([metrics[f"video_map@{t}"] for t in (0.1, 0.2, 0.3, 0.4, 0.5)],
                               [0.5, 0.5, 0.5, 1 / 6, 1 / 6])
    assert metrics["video_map"] == pytest.approx((1.5 + 1 / 3) / 5)
    per_class = results.per_class()
    assert set(per_class) == {"crack egg", "whisk", "pour milk"}  # "stir" has no GT: ignored
    assert per_class["crack egg"]["video_map@0.3"] == 1.0 and per_class["crack egg"]["video_map@0.4"] == 0.0
    assert per_class["whisk"]["video_map"] == pytest.approx(0.5)
    names = ids_by_name(hand_built)
    per_video = results.per_video_iou_pointing()
    assert per_video[names["A"]] == pytest.approx(1 / 8) and per_video[names["B"]] == pytest.approx(0.5)
    assert math.isnan(per_video[names["D"]])
    assert results.num_predictions == 5 and results.num_ground_truth == 4
    report = results.report_str()
    assert "crack egg" in report and "IoU+Pointing 0.208" in report


def test_leaving_out_unboxed_frames(hand_built):
    metrics = evaluate(hand_built, ignore_unboxed=True).metrics()
    assert metrics["iou_pointing"] == pytest.approx((1 / 7 + 1 / 2) / 3)
    assert metrics["video_map@0.4"] == pytest.approx((1 + 0.5 + 0) / 3)  # p1's tube IoU becomes 0.4


def test_the_mask_threshold_cuts_the_tubes(hand_built):
    # above every heatmap value no tube has a region: only the region-free frames are left, all IoUs 0
    metrics = evaluate(hand_built, mask_threshold=1.0).metrics()  # 1.0 still keeps the 1.0 cells
    assert metrics["video_map@0.1"] == pytest.approx(0.5)
    hand_built.set_values("frames.hm", [[fol.Heatmap(map=np.full((10, 10), 0.4, np.float32), range=[0, 1])
                                         if h is not None else None for h in hms]
                                        for hms in hand_built.values("frames.hm")])
    metrics = evaluate(hand_built).metrics()
    assert metrics["video_map"] == 0.0
    assert metrics["iou_pointing"] == pytest.approx((1 / 8 + 1 / 2 + 0) / 3)  # points are untouched


def test_heatmaps_are_scaled_by_their_range(make_dataset):
    dataset = make_dataset()
    faint = np.full((10, 10), 100, dtype=np.uint8)  # 100 / 255 = 0.39
    video(dataset, "I", [("cut", (0, 0), 0.9)], [("cut", (0, 0))], {
        0: dict(pts=keypoints(("cut", CENTRE)), hm=heatmap(faint, (0, 255)), gt=boxes("cut", WHOLE)),
    })
    assert evaluate(dataset, mask_threshold=0.5).classwise_ap["cut"] == [0.0] * 5
    assert evaluate(dataset, mask_threshold=0.35).classwise_ap["cut"] == [1.0] * 5


def test_a_frame_grounded_for_another_phrase_gives_no_point_and_no_region(make_dataset):
    dataset = make_dataset()
    # one GT "cut" second 0-1 boxed whole; prediction "cut" 0-1, but second 1 was grounded for "peel"
    video(dataset, "E", [("cut", (0, 1), 0.9), ("peel", (1, 1), 0.95)], [("cut", (0, 1))], {
        0: dict(pts=keypoints(("cut", CENTRE)), hm=heatmap(FULL), gt=boxes("cut", WHOLE)),
        1: dict(pts=keypoints(("peel", CENTRE)), hm=heatmap(FULL), gt=boxes("cut", WHOLE)),
    })
    results = evaluate(dataset, iou_threshs=[0.5, 0.6])
    assert results.per_video[dataset.first().id] == [1, 2]  # second 1 goes to "peel": wrong phrase
    np.testing.assert_allclose(results.classwise_ap["cut"], [1.0, 0.0])  # tube IoU 100 / 200


def test_gt_boxes_of_other_phrases_are_not_counted(make_dataset):
    dataset = make_dataset()
    two = fol.Detections(detections=[fol.Detection(label="cut", bounding_box=TOP_LEFT),
                                     fol.Detection(label="stir", bounding_box=BOTTOM_RIGHT)])
    video(dataset, "F", [("cut", (0, 0), 0.9)], [("cut", (0, 0))], {
        0: dict(pts=keypoints(("cut", OUTSIDE)), hm=heatmap(QUARTER), gt=two),
    })
    results = evaluate(dataset)
    assert results.per_video[dataset.first().id] == [0, 1]  # the point lies in the "stir" box only
    assert results.classwise_ap["cut"] == [1.0] * 5  # the tube is exactly the "cut" box


# ------------------------------------------------------------------------------ the stored run
def test_stored_run_writes_loads_renames_and_deletes(hand_built):
    results = evaluate(hand_built, eval_key="st")
    assert hand_built.list_evaluations() == ["st"]
    assert hand_built.get_evaluation_info("st").config.method == "spatiotemporal"
    loaded = hand_built.load_evaluation_results("st", cache=False)
    assert isinstance(loaded, SpatiotemporalResults)
    assert loaded.metrics() == pytest.approx(results.metrics(), nan_ok=True)
    assert loaded.per_class() == results.per_class()

    names = ids_by_name(hand_built)
    pointing = dict(zip(hand_built.values("id"), hand_built.values("st_iou_pointing")))
    assert pointing[names["A"]] == pytest.approx(1 / 8) and pointing[names["D"]] is None
    sample_a = hand_built[names["A"]]
    # p3 also has second 4's heatmap here (the plain set gave it none): 25 / (150 + 25) instead of 25 / 150
    assert [d["st_iou"] for d in sample_a["found"].detections] == pytest.approx([1 / 3, 0.0, 1 / 7])
    assert [d["st_iou"] for d in sample_a["truth"].detections] == pytest.approx([1 / 3, 0.0])
    missed = hand_built.filter_labels("truth", F("st_iou") < 0.3)
    assert sorted(missed.distinct("truth.detections.label")) == ["pour milk", "whisk"]

    unreached = hand_built[names["E"]]
    assert unreached["found"] is None  # storing the run did not give it an empty label list
    hand_built.rename_evaluation("st", "st2")
    assert hand_built[names["E"]]["found"] is None
    assert hand_built.has_field("st2_iou_pointing") and not hand_built.has_field("st_iou_pointing")
    assert hand_built.get_field("found.detections.st2_iou") is not None
    assert hand_built.get_field("found.detections.st_iou") is None
    assert hand_built.load_evaluation_results("st2").metrics()["video_map"] == pytest.approx(results.metrics()["video_map"])

    # a second run under the same key replaces the first, without leftovers
    evaluate(hand_built, eval_key="st2", mask_threshold=0.9)
    assert hand_built.list_evaluations() == ["st2"]
    assert not [f for f in hand_built.get_field_schema() if "pending" in f]

    hand_built.delete_evaluation("st2")
    assert hand_built.list_evaluations() == []
    assert not hand_built.has_field("st2_iou_pointing")
    assert hand_built.get_field("found.detections.st2_iou") is None
    assert hand_built.get_field("truth.detections.st2_iou") is None


def test_keys_and_fields_that_are_not_its_own_are_refused(hand_built):
    hand_built.evaluate_detections("found", "truth", eval_key="tad", compute_mAP=True, iou_threshs=[0.5])
    with pytest.raises(ValueError, match="different kind of evaluation"):
        evaluate(hand_built, eval_key="tad")
    hand_built.add_sample_field("mine_iou_pointing", fo.FloatField)
    with pytest.raises(ValueError, match="not written by a spatio-temporal run"):
        evaluate(hand_built, eval_key="mine")
    with pytest.raises(ValueError, match="not a valid key"):
        evaluate(hand_built, eval_key="2nd")
    assert hand_built.list_evaluations() == ["tad"]


def test_bad_fields_and_options_are_refused(hand_built):
    with pytest.raises(ValueError, match="pred_points_field='frames.hm' must be a frame-level Keypoints field"):
        evaluate_spatiotemporal(hand_built, "found", "truth", pred_points_field="hm", pred_heatmap_field="hm",
                                gt_boxes_field="gt")
    with pytest.raises(ValueError, match="gt_field='frames.gt' must be a sample-level TemporalDetections"):
        evaluate_spatiotemporal(hand_built, "found", "gt", pred_points_field="pts", pred_heatmap_field="hm",
                                gt_boxes_field="gt")
    with pytest.raises(ValueError, match="does not exist"):
        evaluate_spatiotemporal(hand_built, "nope", "truth", pred_points_field="pts", pred_heatmap_field="hm",
                                gt_boxes_field="gt")
    with pytest.raises(ValueError, match="fps"):
        evaluate(hand_built, fps=0)
    with pytest.raises(ValueError, match="mask_threshold"):
        evaluate(hand_built, mask_threshold=2)


def test_videos_without_metadata_are_left_out_with_a_note(hand_built):
    video(hand_built, "G", [("cut", (0, 1), 0.9)], [("cut", (0, 1))], {}, metadata=False)
    results = evaluate(hand_built)
    assert len(results.notes) == 1 and "compute_metadata" in results.notes[0]
    assert results.metrics()["iou_pointing"] == pytest.approx((1 / 8 + 1 / 2 + 0) / 3)


def test_sampling_rate_selects_the_scored_frames(make_dataset):
    dataset = make_dataset()
    sample = fo.Sample(filepath="H.mp4")
    sample.metadata = fo.VideoMetadata(frame_width=10, frame_height=10, frame_rate=2.0, total_frame_count=8)
    sample["found"] = fol.TemporalDetections(detections=[fol.TemporalDetection(label="cut", support=[1, 4],
                                                                               confidence=0.5)])
    sample["truth"] = fol.TemporalDetections(detections=[fol.TemporalDetection(label="cut", support=[1, 4])])
    sample.frames[1] = fo.Frame(pts=keypoints(("cut", CENTRE)), gt=boxes("cut", WHOLE))
    sample.frames[2] = fo.Frame(pts=keypoints(("cut", OUTSIDE)), gt=boxes("cut", TOP_LEFT))  # not sampled at 1 fps
    sample.frames[3] = fo.Frame(pts=keypoints(("cut", CENTRE)), gt=boxes("cut", WHOLE))
    dataset.add_sample(sample)
    dataset.add_frame_field("hm", fo.EmbeddedDocumentField, embedded_doc_type=fol.Heatmap)
    assert evaluate(dataset).per_video[sample.id] == [2, 2]  # frames 1 and 3 at 1 fps
    assert evaluate(dataset, fps=2.0).per_video[sample.id] == [2, 4]  # 1, 2, 3, 4: frame 4 has no box


# ------------------------------------------------------------------------------- temporal mAP
def test_temporal_map_by_hand(make_dataset):
    dataset = make_dataset()
    # the case of test_temporal_ap_by_hand, frames shifted by one (FiftyOne's frames start at 1)
    truth = {"v1": [("a", 0, 10), ("a", 20, 30)], "v2": [("a", 0, 10), ("b", 40, 50)]}
    found = {"v1": [("a", 0, 10, 0.9), ("a", 1, 10, 0.8), ("a", 20, 24, 0.6)],
             "v2": [("a", 0, 9, 0.7), ("c", 0, 10, 0.99)]}
    for name in ("v1", "v2"):
        sample = fo.Sample(filepath=f"{name}.mp4")
        sample["truth"] = fol.TemporalDetections(
            detections=[fol.TemporalDetection(label=l, support=[a + 1, b + 1]) for l, a, b in truth[name]])
        sample["found"] = fol.TemporalDetections(detections=[
            fol.TemporalDetection(label=l, support=[a + 1, b + 1], confidence=c) for l, a, b, c in found[name]])
        dataset.add_sample(sample)
    result = evaluate_temporal(dataset, "found", "truth", "tmap", iou_threshs=[0.3, 0.5])
    assert result.iou_threshs == (0.3, 0.5)
    np.testing.assert_allclose(result.map_per_threshold, [5 / 12, 5 / 18])
    assert result.map == pytest.approx((5 / 12 + 5 / 18) / 2)
    assert set(result.classwise_ap) == {"a", "b"}  # "c" has no ground truth
    np.testing.assert_allclose(result.classwise_ap["a"], [1 / 3 + 0.25 + 0.25, 1 / 3 + 2 / 9])
    assert result.metrics() == pytest.approx({"temporal_map@0.3": 5 / 12, "temporal_map@0.5": 5 / 18,
                                              "temporal_map": (5 / 12 + 5 / 18) / 2})
    assert "tmap" in dataset.list_evaluations()
    reloaded = type(result).from_results(dataset.load_evaluation_results("tmap"))
    np.testing.assert_allclose(reloaded.map_per_threshold, result.map_per_threshold)
    assert "mAP" in result.report_str()
    with pytest.raises(ValueError, match="sample-level TemporalDetections"):
        evaluate_temporal(dataset, "found", "filepath")


def test_public_names():
    assert fvg.evaluate_spatiotemporal is evaluate_spatiotemporal
    assert fvg.evaluate_temporal is evaluate_temporal
