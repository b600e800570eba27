"""Tests of the pointing-game evaluation on real FiftyOne datasets built by hand."""

import subprocess
import sys

import pytest

import fiftyone as fo
from fiftyone import ViewField as F

from fiftyone_videogem.evaluation import (
    ComparisonResults,
    EvaluatedFrame,
    PointingGameEvaluation,
    PointingGameEvaluationConfig,
    PointingGameResults,
    compare_pointing_games,
    evaluate_pointing_game,
    box_problem,
    save_triage_views,
    score_point,
    triage_view_names,
)

SIZE = 448  # model input frame, squashed




def point_labels(xi, yi, label="crack eggs", size=SIZE, verb=None, obj=None):
    """VideoGEM-style labels: final + components, input pixel -> pixel-centre point."""

    def kp(name, component, px, py, **extra):
        return fo.Keypoint(
            label=name,
            points=[((px + 0.5) / size, (py + 0.5) / size)],
            component=component,
            input_point=[px, py],
            input_size=[size, size],
            heat=0.9,
            **extra,
        )

    verb = verb or (xi, yi)
    obj = obj or (xi, yi)
    return fo.Keypoints(
        keypoints=[
            kp(label, "final", xi, yi),
            kp("action", "action", xi, yi, prompt="A photo of a person %s." % label),
            kp("verb", "verb", *verb, prompt="A photo of a person doing something."),
            kp("object", "object", *obj, prompt="A photo of a person using eggs."),
        ]
    )


def boxes(*specs):
    return fo.Detections(
        detections=[fo.Detection(label=label, bounding_box=list(box)) for label, box in specs]
    )


def image_sample(i, gt=None, pred=None):
    sample = fo.Sample(filepath="/tmp/videogem-eval/img%03d.jpg" % i)
    sample["metadata"] = fo.ImageMetadata(width=640, height=360)
    if gt is not None:
        sample["gt"] = gt
    if pred is not None:
        sample["pred"] = pred
    return sample


BOX = (0.25, 0.25, 0.5, 0.5)  # 112..336 in the 448 input frame


# --------------------------------------------------------------------------------------
# Pure scoring
# --------------------------------------------------------------------------------------


def test_borders_are_inclusive_in_both_protocols():
    # paper: box rounds to [112, 336] in x and y
    assert score_point((0, 0), [BOX], protocol="paper", input_point=(112, 336), input_size=(SIZE, SIZE)).hit
    assert score_point((0, 0), [BOX], protocol="paper", input_point=(336, 112), input_size=(SIZE, SIZE)).hit
    outside = score_point((0, 0), [BOX], protocol="paper", input_point=(337, 200), input_size=(SIZE, SIZE))
    assert not outside.hit
    assert outside.distance == pytest.approx(1 / SIZE)
    # normalized: exact borders hit, anything beyond misses
    assert score_point((0.25, 0.75), [BOX], protocol="normalized").hit
    assert score_point((0.75, 0.25), [BOX], protocol="normalized").hit
    miss = score_point((0.5, 0.76), [BOX], protocol="normalized")
    assert not miss.hit
    assert miss.distance == pytest.approx(0.01)


def test_paper_rounding_and_normalized_disagree_on_the_far_edge():
    box = (0.1, 0.1, 0.2, 0.2)  # x2 * 448 = 134.4 -> 134
    xi, yi = 134, 100
    point = ((xi + 0.5) / SIZE, (yi + 0.5) / SIZE)  # 0.3002 > 0.3
    paper = score_point(point, [box], protocol="paper", input_point=(xi, yi), input_size=(SIZE, SIZE))
    normalized = score_point(point, [box], protocol="normalized")
    assert paper.hit and paper.used_pixels
    assert not normalized.hit and normalized.distance > 0
    # round(), not floor/ceil: x1 * 448 = 44.8 -> 45 and x2 -> 134
    size = (SIZE, SIZE)
    assert not score_point(point, [box], input_point=(44, 100), input_size=size).hit
    assert score_point(point, [box], input_point=(45, 100), input_size=size).hit
    assert not score_point(point, [box], input_point=(135, 100), input_size=size).hit


def test_paper_protocol_rounds_half_to_even():
    box = (0.0, 0.0, 0.125, 0.125)  # 0.125 * 100 = 12.5 -> round() gives 12
    assert score_point((0, 0), [box], input_point=(12, 12), input_size=(100, 100)).hit
    assert not score_point((0, 0), [box], input_point=(13, 12), input_size=(100, 100)).hit


def test_any_and_union_box_modes():
    left, right = (0.1, 0.1, 0.1, 0.1), (0.5, 0.1, 0.1, 0.1)
    in_right = score_point((0.55, 0.15), [left, right], box_mode="any", protocol="normalized")
    assert in_right.hit and in_right.box_index == 1
    between = (0.35, 0.15)
    any_mode = score_point(between, [left, right], box_mode="any", protocol="normalized")
    assert not any_mode.hit
    assert any_mode.distance == pytest.approx(0.15)
    assert score_point(between, [left, right], box_mode="union", protocol="normalized").hit


def test_paper_protocol_without_input_point_falls_back_to_normalized():
    result = score_point((0.5, 0.5), [BOX], protocol="paper")
    assert result.hit and not result.used_pixels


def test_invalid_choices_are_rejected():
    with pytest.raises(ValueError, match="box_mode"):
        score_point((0.5, 0.5), [BOX], box_mode="pixel-union")
    with pytest.raises(ValueError, match="protocol"):
        score_point((0.5, 0.5), [BOX], protocol="coco")


@pytest.mark.parametrize(
    "box, problem",
    [
        ((float("nan"), 0.1, 0.2, 0.2), "non-finite coordinates"),
        ((0.1, 0.1, float("inf"), 0.2), "non-finite coordinates"),
        ((0.1, 0.1, 0.0, 0.2), "zero or negative area"),
        ((0.5, 0.5, -0.2, 0.2), "zero or negative area"),
        ((1.5, 0.1, 0.2, 0.2), "outside the frame"),
        ((-0.4, 0.1, 0.4, 0.2), "outside the frame"),  # ends exactly on the left edge
        ((0.1, 0.1, 0.2), "not four numbers"),
        (("a", 0.1, 0.2, 0.2), "not four numbers"),
    ],
)
def test_boxes_that_cannot_be_scored_are_refused_alike_in_both_protocols(box, problem):
    assert box_problem(box) == problem
    for protocol in ("paper", "normalized"):
        with pytest.raises(ValueError, match="cannot be scored: %s" % problem):
            score_point((0.5, 0.5), [box], protocol=protocol, input_point=(5, 5), input_size=(10, 10))


def test_boxes_reaching_past_an_edge_are_scored():
    assert box_problem((0.9, 0.9, 0.3, 0.3)) is None
    assert score_point((0.95, 0.95), [(0.9, 0.9, 0.3, 0.3)], protocol="normalized").hit


def test_non_finite_input_points_fall_back_to_normalized():
    result = score_point((0.5, 0.5), [BOX], input_point=(float("nan"), 3), input_size=(SIZE, SIZE))
    assert result.hit and not result.used_pixels


# --------------------------------------------------------------------------------------
# Image datasets
# --------------------------------------------------------------------------------------


def build_image_dataset(make_dataset):
    ds = make_dataset()
    other_model = fo.Keypoints(
        keypoints=[
            fo.Keypoint(label="person", points=[(0.5, 0.5)]),
            fo.Keypoint(label="person", points=[(0.01, 0.01)]),
        ]
    )
    ds.add_samples(
        [
            # 0: hit, verb misses, object hits
            image_sample(0, boxes(("crack eggs", BOX)), point_labels(200, 200, verb=(10, 10))),
            # 1: miss (right of the box), all components miss
            image_sample(1, boxes(("crack eggs", BOX)), point_labels(400, 200)),
            # 2: second of two boxes hit
            image_sample(
                2,
                boxes(("open door", (0.0, 0.0, 0.1, 0.1)), ("open door", (0.6, 0.6, 0.2, 0.2))),
                point_labels(300, 300, label="open door"),
            ),
            # 3: ground truth but no prediction -> miss
            image_sample(3, boxes(("open door", BOX))),
            # 4: no ground truth -> not evaluated
            image_sample(4, None, point_labels(200, 200)),
            # 5: plain keypoints of another model: first point of the first keypoint
            image_sample(5, boxes(("crack eggs", BOX)), other_model),
        ]
    )
    return ds


def test_image_dataset_numbers_and_fields(make_dataset):
    ds = build_image_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", progress=False)

    assert isinstance(results, PointingGameResults)
    assert results.num_evaluated == 5
    assert results.num_hits == 3
    assert results.accuracy == pytest.approx(3 / 5)
    assert results.num_without_prediction == 1
    assert results.num_protocol_fallbacks == 1  # the plain keypoint has no input_point

    per_class = results.per_class
    assert per_class["crack eggs"].count == 3 and per_class["crack eggs"].num_hits == 2
    assert per_class["open door"].count == 2 and per_class["open door"].num_hits == 1
    assert per_class["open door"].accuracy == pytest.approx(0.5)

    # components exist only on samples 0-2; missing components count as misses
    assert results.per_component == pytest.approx({"action": 2 / 5, "verb": 1 / 5, "object": 2 / 5})

    metrics = results.metrics()
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["recall"] == pytest.approx(3 / 5)  # hits / evaluated
    assert metrics["precision"] == pytest.approx(3 / 4)  # hits / frames with a point
    assert metrics["num_evaluated"] == 5 and metrics["verb_accuracy"] == pytest.approx(0.2)

    ordered = ds.sort_by("filepath")
    assert ordered.values("pg_hit") == [True, False, True, False, None, True]
    assert ordered.values("pg_verb_hit") == [False, False, True, False, None, False]
    distances = ordered.values("pg_distance")
    assert distances[0] == 0.0 and distances[2] == 0.0
    assert distances[1] == pytest.approx((400 - 336) / SIZE)
    assert distances[3] is None and distances[4] is None

    # the evaluated keypoint carries hit/miss; components and unevaluated samples do not
    attrs = ordered.values("pred.keypoints.pg")
    assert attrs[0] == ["hit", None, None, None]
    assert attrs[1] == ["miss", None, None, None]
    assert attrs[4] == [None, None, None, None]
    assert attrs[5] == ["hit", None]
    assert ds.get_field("pred.keypoints.pg") is not None
    assert ds.count_values("pred.keypoints.pg") == {"hit": 3, "miss": 1, None: 14}


def test_misses_view_sorts_worst_first_and_filters_by_class(make_dataset):
    ds = build_image_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", progress=False)
    misses = results.misses_view()
    assert [p[-10:] for p in misses.values("filepath")] == ["img001.jpg", "img003.jpg"]
    only_doors = results.misses_view(label="open door")
    assert [p[-10:] for p in only_doors.values("filepath")] == ["img003.jpg"]
    assert len(results.hits_view(label="crack eggs")) == 2


def test_normalized_protocol_and_union_mode_on_a_dataset(make_dataset):
    ds = make_dataset()
    two_boxes = boxes(("hold cup", (0.1, 0.1, 0.1, 0.1)), ("hold cup", (0.5, 0.1, 0.1, 0.1)))
    ds.add_samples(
        [
            # between the two boxes: only union hits
            image_sample(0, two_boxes, point_labels(157, 67, label="hold cup")),
            # on the far edge: paper rounding hits, normalized misses
            image_sample(1, boxes(("hold cup", (0.1, 0.1, 0.2, 0.2))), point_labels(134, 100, label="hold cup")),
        ]
    )
    any_paper = evaluate_pointing_game(ds, "pred", "gt", eval_key="any_paper")
    union_paper = evaluate_pointing_game(ds, "pred", "gt", eval_key="union_paper", box_mode="union")
    any_norm = evaluate_pointing_game(ds, "pred", "gt", eval_key="any_norm", protocol="normalized")
    ordered = ds.sort_by("filepath")
    assert ordered.values("any_paper_hit") == [False, True]
    assert ordered.values("union_paper_hit") == [True, True]
    assert ordered.values("any_norm_hit") == [False, False]
    assert (any_paper.accuracy, union_paper.accuracy, any_norm.accuracy) == (0.5, 1.0, 0.0)
    assert ds.get_evaluation_info("union_paper").config.box_mode == "union"
    assert ds.get_evaluation_info("any_norm").config.protocol == "normalized"


def test_wrong_fields_are_reported(make_dataset):
    ds = build_image_dataset(make_dataset)
    with pytest.raises(ValueError, match="pred_field='gt' must hold Keypoints labels, but it holds Detections"):
        evaluate_pointing_game(ds, "gt", "gt", eval_key="bad")
    with pytest.raises(ValueError, match="pred_field='nope' does not exist on this collection; its fields are: .*pred"):
        evaluate_pointing_game(ds, "nope", "gt", eval_key="bad")
    with pytest.raises(ValueError, match="names a frame field, but this collection holds images"):
        evaluate_pointing_game(ds, "frames.nope", "gt", eval_key="bad")
    assert ds.list_evaluations() == []
    # the shared field rules: on images, "frames.pred" is the sample field "pred"
    results = evaluate_pointing_game(ds, "frames.pred", "gt", eval_key="good")
    assert results.config.pred_field == "pred" and results.num_evaluated == 5


def test_reserved_eval_keys_are_rejected(make_dataset):
    ds = build_image_dataset(make_dataset)
    with pytest.raises(ValueError, match="keypoint attribute"):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="heat")
    assert ds.count_values("pred.keypoints.heat") == {0.9: 16, None: 2}


def test_progress_callback_and_per_document_evaluate(make_dataset):
    ds = build_image_dataset(make_dataset)
    calls = []
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", progress=calls.append)
    assert calls and calls[-1].complete
    method = results.backend
    first = ds.sort_by("filepath").first()
    (match,) = method.evaluate(first)
    assert match[0] == match[1] == "crack eggs"
    assert method.evaluate(ds.sort_by("filepath").skip(4).first()) == []  # no ground truth


def test_results_without_eval_key_store_nothing(make_dataset):
    ds = build_image_dataset(make_dataset)
    fields_before = set(ds.get_field_schema())
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key=None)
    assert results.accuracy == pytest.approx(3 / 5)
    assert ds.list_evaluations() == []
    assert set(ds.get_field_schema()) == fields_before
    with pytest.raises(ValueError, match="eval_key"):
        results.misses_view()


# --------------------------------------------------------------------------------------
# Videos and frame views
# --------------------------------------------------------------------------------------


def build_video_dataset(make_dataset):
    ds = make_dataset()
    first = fo.Sample(filepath="/tmp/videogem-eval/v1.mp4")
    first.frames[1] = fo.Frame(filepath="/tmp/videogem-eval/v1/1.jpg", gt=boxes(("crack eggs", BOX)), pred=point_labels(200, 200))
    first.frames[5] = fo.Frame(filepath="/tmp/videogem-eval/v1/5.jpg", gt=boxes(("crack eggs", BOX)), pred=point_labels(10, 10))
    first.frames[9] = fo.Frame(filepath="/tmp/videogem-eval/v1/9.jpg", pred=point_labels(10, 10))  # no GT
    second = fo.Sample(filepath="/tmp/videogem-eval/v2.mp4")
    second.frames[3] = fo.Frame(filepath="/tmp/videogem-eval/v2/3.jpg", gt=boxes(("open door", BOX)), pred=point_labels(300, 300, label="open door"))
    second.frames[4] = fo.Frame(filepath="/tmp/videogem-eval/v2/4.jpg", gt=boxes(("open door", BOX)))  # no prediction
    ds.add_samples([first, second])
    return ds


def frame_values(ds, field):
    """{(video name, frame number): value} for frames that exist."""
    out = {}
    names, numbers, values = ds.values(["filepath", "frames.frame_number", "frames." + field])
    for name, fns, vals in zip(names, numbers, values):
        for fn, v in zip(fns, vals):
            out[(name.rsplit("/", 1)[-1], fn)] = v
    return out


def test_video_frame_fields(make_dataset):
    ds = build_video_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "frames.pred", "gt", eval_key="pg", progress=False)
    assert results.num_evaluated == 4 and results.num_hits == 2
    assert results.per_class["crack eggs"].accuracy == pytest.approx(0.5)
    assert ds.get_evaluation_info("pg").config.gt_field == "frames.gt"

    hits = frame_values(ds, "pg_hit")
    assert hits == {
        ("v1.mp4", 1): True,
        ("v1.mp4", 5): False,
        ("v1.mp4", 9): None,
        ("v2.mp4", 3): True,
        ("v2.mp4", 4): False,
    }
    assert frame_values(ds, "pg_distance")[("v2.mp4", 4)] is None
    assert frame_values(ds, "pg_distance")[("v1.mp4", 5)] > 0
    assert frame_values(ds, "pg_object_hit")[("v1.mp4", 1)] is True
    ordered = ds.sort_by("filepath")
    sidebar = {g.name: g.paths for g in ds.app_config.sidebar_groups or []}
    assert sidebar["pg"] == ["pg_num_hits", "pg_num_misses"]
    assert ordered.values("pg_num_hits") == [1, 1]
    assert ordered.values("pg_num_misses") == [1, 1]
    assert ds.get_field("frames.pred.keypoints.pg") is not None

    misses = results.misses_view()
    assert misses.values("frames.frame_number") == [[5], [4]]
    assert results.misses_view(label="open door").values("frames.frame_number") == [[4]]
    assert results.frame_numbers == [1, 5, 3, 4]


def test_video_evaluation_on_a_view_only_touches_that_view(make_dataset):
    ds = build_video_dataset(make_dataset)
    view = ds.match(F("filepath").ends_with("v2.mp4"))
    results = evaluate_pointing_game(view, "pred", "gt", eval_key="pg")
    assert results.num_evaluated == 2
    hits = frame_values(ds, "pg_hit")
    assert hits[("v1.mp4", 1)] is None and hits[("v2.mp4", 3)] is True
    assert len(ds.load_evaluation_view("pg")) == 1


def test_frames_view(make_dataset):
    ds = build_video_dataset(make_dataset)
    frames = ds.to_frames()
    results = evaluate_pointing_game(frames, "pred", "gt", eval_key="pgf", progress=False)
    assert results.num_evaluated == 4 and results.num_hits == 2
    assert ds.list_evaluations() == ["pgf"]
    # fields are synced to the frames of the videos
    assert frame_values(ds, "pgf_hit")[("v1.mp4", 5)] is False
    assert frame_values(ds, "pred")[("v1.mp4", 1)].keypoints[0]["pgf"] == "hit"
    assert sorted(results.misses_view().values("frame_number")) == [4, 5]
    assert save_triage_views(ds, "pgf")[0] == "pgf-misses"
    assert sorted(ds.load_saved_view("pgf-misses").values("frame_number")) == [4, 5]

    ds.delete_evaluation("pgf")
    assert ds.get_field("frames.pgf_hit") is None
    assert ds.get_field("frames.pred.keypoints.pgf") is None


# --------------------------------------------------------------------------------------
# Evaluation registry: list / load / rename / delete
# --------------------------------------------------------------------------------------


def test_list_load_rename_delete(make_dataset):
    ds = build_video_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")

    assert ds.list_evaluations() == ["pg"]
    assert ds.list_evaluations(method="pointing-game") == ["pg"]
    info = ds.get_evaluation_info("pg")
    assert info.config.type == "pointing" and info.config.method == "pointing-game"
    assert info.config.component_names == ["action", "object", "verb"]

    loaded = ds.load_evaluation_results("pg", cache=False)  # a load from the database
    assert isinstance(loaded, PointingGameResults)
    assert loaded.accuracy == pytest.approx(0.5)
    assert loaded.per_class["open door"].count == 2
    assert loaded.per_component == pytest.approx({"action": 0.5, "object": 0.5, "verb": 0.5})
    assert loaded.metrics()["accuracy"] == pytest.approx(0.5)

    ds.rename_evaluation("pg", "pg_renamed")
    assert ds.list_evaluations() == ["pg_renamed"]
    assert ds.get_field("frames.pg_hit") is None
    assert frame_values(ds, "pg_renamed_hit")[("v1.mp4", 1)] is True
    assert frame_values(ds, "pg_renamed_verb_hit")[("v1.mp4", 5)] is False
    assert ds.get_field("frames.pred.keypoints.pg_renamed") is not None
    assert ds.sort_by("filepath").values("pg_renamed_num_hits") == [1, 1]
    sidebar = {g.name: g.paths for g in ds.app_config.sidebar_groups or []}
    assert "pg" not in sidebar and sidebar["pg_renamed"] == ["pg_renamed_num_hits", "pg_renamed_num_misses"]
    renamed = ds.load_evaluation_results("pg_renamed")
    assert renamed.key == "pg_renamed"
    assert renamed.misses_view().values("frames.frame_number") == [[5], [4]]

    ds.delete_evaluation("pg_renamed")
    assert ds.list_evaluations() == []
    leftovers = [f for f in ds.get_frame_field_schema() if f.startswith("pg")]
    leftovers += [f for f in ds.get_field_schema() if f.startswith("pg")]
    assert leftovers == []
    assert ds.get_field("frames.pred.keypoints.pg_renamed") is None
    assert ds.count("frames.pred.keypoints") == 16  # the labels themselves stay
    assert "pg_renamed" not in {g.name for g in ds.app_config.sidebar_groups or []}


def test_stored_class_paths_are_the_public_package_paths(make_dataset):
    # FiftyOne stores these paths with the run and imports them on load; runs saved by earlier
    # versions (one module, fiftyone_videogem/evaluation.py) stored the same strings
    ds = build_video_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    info = ds.get_evaluation_info("pg")
    assert info.config.serialize()["cls"] == "fiftyone_videogem.evaluation.PointingGameEvaluationConfig"
    assert results.serialize()["cls"] == "fiftyone_videogem.evaluation.PointingGameResults"
    assert info.config.run_cls is PointingGameEvaluation

    # a load from the database imports those paths (an unresolved path would fall back to
    # FiftyOne's base classes without an error)
    assert type(info.config) is PointingGameEvaluationConfig
    loaded = ds.load_evaluation_results("pg", cache=False)
    assert type(loaded) is PointingGameResults
    assert loaded is not results
    assert loaded.accuracy == pytest.approx(0.5)
    assert loaded.misses_view().values("frames.frame_number") == [[5], [4]]


def test_scoring_rule_imports_without_fiftyone():
    code = (
        "import sys; from fiftyone_videogem.evaluation.pointing import score_point; "
        "assert score_point((0.5, 0.5), [(0.25, 0.25, 0.5, 0.5)]).hit; "
        "assert 'fiftyone' not in sys.modules, 'fiftyone was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rerun_with_same_key_replaces_previous_fields(make_dataset):
    ds = build_image_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    assert ds.get_field("pg_verb_hit") is not None
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", components=False)
    assert ds.get_field("pg_verb_hit") is None
    assert results.per_component == {}
    assert ds.list_evaluations() == ["pg"]


def test_model_evaluation_panel_shows_no_detection_metrics_for_the_run(make_dataset):
    # FiftyOne's Model Evaluation panel would count every miss as a false positive, call the
    # heat "confidence" and open empty TP/FP/FN views: the run's type keeps it out of that
    # panel (listed as unsupported), while the detection-style results remain for Python
    import plugins.panels.model_evaluation as panel_module
    ds = build_image_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    info = ds.get_evaluation_info("pg")
    results = ds.load_evaluation_results("pg", cache=False)
    panel = panel_module.EvaluationPanel()

    assert info.config.type not in panel_module.SUPPORTED_EVALUATION_TYPES
    assert panel.get_tp_fp_fn(info, results) == (None, None, None)
    assert ds.list_evaluations(type="detection") == []
    assert ds.list_evaluations(type="pointing") == ["pg"]
    assert results.metrics()["recall"] == pytest.approx(results.accuracy)


# --------------------------------------------------------------------------------------
# Comparing runs and saved views
# --------------------------------------------------------------------------------------


def test_compare_two_runs(make_dataset):
    ds = make_dataset()
    ds.add_samples(
        [
            image_sample(0, boxes(("cut", (0.1, 0.1, 0.2, 0.2))), point_labels(134, 100, label="cut")),
            image_sample(1, boxes(("cut", BOX)), point_labels(200, 200, label="cut")),
            image_sample(2, boxes(("pour", BOX)), point_labels(10, 10, label="pour")),
        ]
    )
    evaluate_pointing_game(ds, "pred", "gt", eval_key="paper")
    evaluate_pointing_game(ds, "pred", "gt", eval_key="norm", protocol="normalized")

    comparison = compare_pointing_games(ds, ["paper", "norm"])
    assert isinstance(comparison, ComparisonResults)
    assert comparison.accuracy == pytest.approx({"paper": 2 / 3, "norm": 1 / 3})
    assert comparison.per_class["cut"]["paper"].accuracy == 1.0
    assert comparison.per_class["cut"]["norm"].accuracy == 0.5
    assert comparison.per_class["pour"]["norm"].count == 1
    assert comparison.num_common == 3
    assert comparison.num_disagreements == 1
    assert comparison.exclusive_hits == {"paper": 1, "norm": 0}
    assert comparison.per_component["action"]["paper"] == pytest.approx(2 / 3)

    report = comparison.report_str()
    assert "paper" in report and "norm" in report and "overall" in report and "cut" in report

    disagreements = comparison.disagreements_view()
    assert [p[-10:] for p in disagreements.values("filepath")] == ["img000.jpg"]

    with pytest.raises(ValueError, match="at least two"):
        compare_pointing_games(ds, ["paper"])
    with pytest.raises(ValueError, match="No evaluation 'nope'"):
        compare_pointing_games(ds, ["paper", "nope"])


def test_compare_video_runs_view_of_disagreeing_frames(make_dataset):
    ds = build_video_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="a")
    # a second run that moves the final point of v1 frame 5 into the box
    for sample in ds.iter_samples(autosave=True):
        for fn, frame in sample.frames.items():
            moved = sample.filepath.endswith("v1.mp4") and fn == 5
            frame["pred2"] = point_labels(220, 220) if moved else frame["pred"]
    evaluate_pointing_game(ds, "pred2", "gt", eval_key="b")

    comparison = compare_pointing_games(ds, ["a", "b"])
    assert comparison.num_disagreements == 1
    assert comparison.exclusive_hits == {"a": 0, "b": 1}
    view = comparison.disagreements_view()
    assert view.values("frames.frame_number") == [[5]]


def test_save_triage_views(make_dataset):
    ds = build_image_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    names = save_triage_views(ds, "pg")
    assert names == ["pg-misses", "pg-misses-crack eggs", "pg-misses-open door"]
    assert names == triage_view_names("pg", ["crack eggs", "open door"])
    assert set(names) <= set(ds.list_saved_views())
    assert len(ds.load_saved_view("pg-misses")) == 2
    assert [p[-10:] for p in ds.load_saved_view("pg-misses-open door").values("filepath")] == ["img003.jpg"]

    # saving again replaces them; explicit classes restrict the per-class views
    assert save_triage_views(ds, "pg", classes=["open door"]) == ["pg-misses", "pg-misses-open door"]
    with pytest.raises(ValueError, match="dataset itself"):
        save_triage_views(ds.view(), "pg")
    with pytest.raises(ValueError, match="No evaluation"):
        save_triage_views(ds, "nope")


def test_triage_view_names_avoid_slug_clashes():
    names = triage_view_names("pg", ["Crack Eggs", "crack eggs"])
    assert names == ["pg-misses", "pg-misses-Crack Eggs", "pg-misses-crack eggs-2"]


def test_triage_views_on_videos(make_dataset):
    ds = build_video_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    names = save_triage_views(ds, "pg")
    assert names == ["pg-misses", "pg-misses-crack eggs", "pg-misses-open door"]
    assert ds.load_saved_view("pg-misses-crack eggs").values("frames.frame_number") == [[5]]
    assert ds.load_saved_view("pg-misses").count("frames") == 2


# --------------------------------------------------------------------------------------
# Views on the results
# --------------------------------------------------------------------------------------


def test_component_views_frame_view_and_worst_misses(make_dataset):
    ds = build_image_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    ordered = ds.sort_by("filepath")
    ids = ordered.values("id")

    verb_misses = results.misses_view(component="verb")
    assert set(verb_misses.values("pg_verb_hit")) == {False}
    assert len(verb_misses) == 4
    assert len(results.hits_view(component="verb")) == 1
    with pytest.raises(ValueError, match="has no component 'color'"):
        results.misses_view(component="color")

    assert results.frame_view(ids[1]).values("id") == [ids[1]]
    with pytest.raises(ValueError, match="was not evaluated"):
        results.frame_view(ids[4])  # no ground truth

    worst = results.worst_misses()
    assert all(isinstance(m, EvaluatedFrame) for m in worst)
    assert [m.filepath[-10:] for m in worst] == ["img001.jpg", "img003.jpg"]  # no point last
    assert worst[0].distance == pytest.approx((400 - 336) / SIZE)
    assert worst[1].distance is None and worst[1].frame_number is None
    assert results.worst_misses(limit=1) == worst[:1]


def test_video_frame_view_and_worst_misses(make_dataset):
    ds = build_video_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    worst = results.worst_misses()
    assert [(m.filepath[-6:], m.frame_number) for m in worst] == [("v1.mp4", 5), ("v2.mp4", 4)]
    view = results.frame_view(worst[0].frame_id)
    assert view.values("frames.frame_number") == [[5]]
    assert results.misses_view(component="object").values("frames.frame_number") == [[5], [4]]


# --------------------------------------------------------------------------------------
# Frames without a predicted point
# --------------------------------------------------------------------------------------


def test_frames_without_a_point_count_as_misses_or_are_skipped(make_dataset):
    ds = build_image_dataset(make_dataset)  # img003 has ground truth and no prediction
    missed = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg_miss")
    skipped = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg_skip", missing="skip")

    assert (missed.num_evaluated, missed.num_hits, missed.num_without_prediction) == (5, 3, 1)
    assert (skipped.num_evaluated, skipped.num_hits, skipped.num_without_prediction) == (4, 3, 1)
    assert (missed.num_skipped, skipped.num_skipped) == (0, 1)
    assert skipped.accuracy == pytest.approx(3 / 4)
    assert skipped.per_class["open door"].count == 1
    assert skipped.metrics()["num_without_prediction"] == 1
    assert "1 evaluated frame(s) had no predicted point and count as misses" in missed.report_str()
    assert "1 frame(s) with ground truth but no predicted point were not evaluated" in skipped.report_str()

    ordered = ds.sort_by("filepath")
    assert ordered.values("pg_miss_hit")[3] is False
    assert ordered.values("pg_skip_hit")[3] is None  # not evaluated: nothing written
    stored = ds.load_evaluation_results("pg_skip", cache=False)
    assert stored.config.missing == "skip"
    assert (stored.num_evaluated, stored.num_without_prediction) == (4, 1)

    with pytest.raises(ValueError, match="missing must be one of 'miss', 'skip'"):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="bad", missing="ignore")


def test_video_frames_without_a_point_skipped(make_dataset):
    ds = build_video_dataset(make_dataset)  # v2 frame 4 has ground truth and no prediction
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", missing="skip")
    assert (results.num_evaluated, results.num_hits, results.num_without_prediction) == (3, 2, 1)
    assert frame_values(ds, "pg_hit")[("v2.mp4", 4)] is None
    assert ds.sort_by("filepath").values("pg_num_misses") == [1, 0]


# --------------------------------------------------------------------------------------
# Faults and bad input: nothing crashes, nothing is lost, nothing half-written
# --------------------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")


def bad_ground_truth_dataset(make_dataset):
    """img000: hit; img001: NaN box + valid box (hit on the valid one); img002-img007: only a
    box that cannot be scored (NaN, inf, zero width, negative height, outside, no box)."""
    ds = make_dataset()
    bad_boxes = [
        (NAN, 0.25, 0.5, 0.5),
        (0.25, 0.25, INF, 0.5),
        (0.25, 0.25, 0.0, 0.5),
        (0.25, 0.25, 0.5, -0.5),
        (1.5, 1.5, 0.2, 0.2),
    ]
    samples = [
        image_sample(0, boxes(("cut", BOX)), point_labels(200, 200, label="cut")),
        image_sample(1, boxes(("cut", bad_boxes[0]), ("cut", BOX)), point_labels(200, 200, label="cut")),
    ]
    for i, box in enumerate(bad_boxes, 2):
        samples.append(image_sample(i, boxes(("pour", box)), point_labels(200, 200, label="pour")))
    no_box = fo.Detections(detections=[fo.Detection(label="pour")])
    samples.append(image_sample(7, no_box, point_labels(200, 200, label="pour")))
    ds.add_samples(samples)
    return ds


@pytest.mark.parametrize("protocol", ["paper", "normalized"])
def test_invalid_ground_truth_is_counted_and_reported_never_a_crash(make_dataset, protocol):
    ds = bad_ground_truth_dataset(make_dataset)
    results = evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", protocol=protocol)
    assert (results.num_evaluated, results.num_hits) == (2, 2)
    assert results.num_invalid_boxes == 7
    assert results.num_invalid_frames == 6
    assert results.num_skipped == 6
    assert set(results.per_class) == {"cut"}
    assert results.metrics()["num_invalid_boxes"] == 7
    report = results.report_str()
    assert "7 ground-truth box(es) could not be scored" in report
    assert "6 frame(s) had no other box and were not evaluated" in report

    assert ds.sort_by("filepath").values("pg_hit") == [True, True, None, None, None, None, None, None]
    stored = ds.load_evaluation_results("pg", cache=False)
    assert (stored.num_invalid_boxes, stored.num_invalid_frames) == (7, 6)


def test_invalid_ground_truth_on_video_frames(make_dataset):
    ds = build_video_dataset(make_dataset)
    sample = ds.sort_by("filepath").first()
    sample.frames[1]["gt"] = boxes(("crack eggs", (NAN, NAN, NAN, NAN)))
    sample.frames[5]["gt"] = boxes(("crack eggs", (0.1, 0.1, INF, 0.1)), ("crack eggs", BOX))
    sample.save()
    results = evaluate_pointing_game(ds, "frames.pred", "frames.gt", eval_key="pg")
    assert (results.num_evaluated, results.num_invalid_boxes, results.num_invalid_frames) == (3, 2, 1)
    assert frame_values(ds, "pg_hit")[("v1.mp4", 1)] is None


def snapshot(ds, eval_key):
    """What a user has of an evaluation: its fields' values, its record and its results."""
    ordered = ds.sort_by("filepath")
    fields = sorted(f for f in ds.get_field_schema() if f.startswith(eval_key))
    values = {f: ordered.values(f) for f in fields}
    values["label"] = ordered.values("pred.keypoints.%s" % eval_key)
    results = ds.load_evaluation_results(eval_key, cache=False)
    info = ds.get_evaluation_info(eval_key)
    return dict(
        fields=fields,
        values=values,
        protocol=info.config.protocol,
        timestamp=info.timestamp.isoformat(timespec="milliseconds"),  # as the database keeps it
        hits=results.hits,
        distances=results.distances,
    )


def pending_fields(ds):
    paths = list(ds.get_field_schema(flat=True))
    if ds.media_type == "video":
        paths += list(ds.get_frame_field_schema(flat=True))
    return [p for p in paths if "pending" in p]


class Interrupted(KeyboardInterrupt):
    pass


def test_failed_rerun_keeps_the_previous_evaluation(make_dataset, monkeypatch):
    ds = build_image_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")  # paper protocol
    before = snapshot(ds, "pg")
    assert before["values"]["pg_hit"] == [True, False, True, False, None, True]

    # 1. interrupted while scoring (Ctrl-C): the rerun with another protocol never lands
    def interrupt(progress_bar):
        raise Interrupted()

    with pytest.raises(Interrupted):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", protocol="normalized", progress=interrupt)
    assert ds.list_evaluations() == ["pg"]
    assert snapshot(ds, "pg") == before

    # 2. the database fails while the new fields are written: they are removed again
    def fail(*args, **kwargs):
        raise OSError("connection to the database lost")

    with monkeypatch.context() as patch:
        patch.setattr(fo.Dataset, "set_label_values", fail)
        with pytest.raises(OSError, match="database lost"):
            evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", protocol="normalized")
    assert ds.list_evaluations() == ["pg"]
    assert snapshot(ds, "pg") == before
    assert pending_fields(ds) == []

    # 3. a successful rerun replaces it
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", protocol="normalized")
    after = snapshot(ds, "pg")
    assert after["protocol"] == "normalized" and after["fields"] == before["fields"]
    assert pending_fields(ds) == []


def test_failed_rerun_on_video_frames_keeps_the_previous_evaluation(make_dataset, monkeypatch):
    ds = build_video_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    before = frame_values(ds, "pg_hit"), ds.sort_by("filepath").values("pg_num_hits")

    def fail(*args, **kwargs):
        raise OSError("connection to the database lost")

    monkeypatch.setattr(fo.core.collections.SampleCollection, "set_label_values", fail)
    with pytest.raises(OSError):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="pg", components=False)
    assert (frame_values(ds, "pg_hit"), ds.sort_by("filepath").values("pg_num_hits")) == before
    assert ds.get_field("frames.pg_verb_hit") is not None
    assert ds.load_evaluation_results("pg", cache=False).component_hits
    assert pending_fields(ds) == []


def test_a_crash_never_leaves_a_record_without_results(make_dataset, monkeypatch):
    ds = build_image_dataset(make_dataset)

    def fail(*args, **kwargs):
        raise OSError("connection to the database lost")

    monkeypatch.setattr(PointingGameEvaluation, "save_run_results", fail)
    with pytest.raises(OSError):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    assert ds.list_evaluations() == []
    assert [f for f in ds.get_field_schema() if f.startswith("pg")] == []
    assert ds.get_field("pred.keypoints.pg") is None
    assert pending_fields(ds) == []


def test_overlapping_keys_are_refused(make_dataset):
    ds = build_image_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")  # writes pg_action_hit, pg_verb_hit, ...
    fields_before = sorted(ds.get_field_schema())

    with pytest.raises(ValueError, match="eval_key 'pg_action' would write 'pg_action_hit', which evaluation 'pg' writes"):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="pg_action")
    assert ds.list_evaluations() == ["pg"]
    assert sorted(ds.get_field_schema()) == fields_before

    # the other way round: an existing key that a new key's component fields would hit
    other = build_image_dataset(make_dataset)
    evaluate_pointing_game(other, "pred", "gt", eval_key="pg_verb", components=False)
    with pytest.raises(ValueError, match="eval_key 'pg' would write 'pg_verb_hit', which evaluation 'pg_verb' writes"):
        evaluate_pointing_game(other, "pred", "gt", eval_key="pg")
    assert other.list_evaluations() == ["pg_verb"]
    evaluate_pointing_game(other, "pred", "gt", eval_key="pg", components=False)  # no overlap
    assert sorted(other.list_evaluations()) == ["pg", "pg_verb"]


def test_overlapping_keys_on_video_frames_are_refused(make_dataset):
    ds = build_video_dataset(make_dataset)
    evaluate_pointing_game(ds, "pred", "gt", eval_key="pg")
    with pytest.raises(ValueError, match="would write 'frames.pg_object_hit', which evaluation 'pg' writes"):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="pg_object")
    assert ds.list_evaluations() == ["pg"]


def test_fields_the_run_did_not_create_are_never_overwritten(make_dataset):
    ds = build_image_dataset(make_dataset)
    ds.set_values("mine_hit", ["kept"] * len(ds))  # a user's own field
    with pytest.raises(ValueError, match="would write 'mine_hit', a field that exists and was not written"):
        evaluate_pointing_game(ds, "pred", "gt", eval_key="mine")
    assert ds.values("mine_hit") == ["kept"] * len(ds)
    assert ds.list_evaluations() == []
