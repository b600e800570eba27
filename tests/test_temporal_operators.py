"""The "Find actions in time" and "Evaluate spatio-temporal grounding" operators, executed through
FiftyOne's operator machinery (the plugin is found through ``FIFTYONE_PLUGINS_DIR``, set in
conftest.py) on generated videos with the tiny random-weight backbone, immediately and delegated."""

from __future__ import annotations

import math
import sys
import uuid

import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionContext, ExecutionError, ExecutionRunState

from fiftyone_videogem.evaluation import evaluate_spatiotemporal
from fiftyone_videogem.localization import localize_actions
from fiftyone_videogem.model import load_model
from fiftyone_videogem.plugin.temporal import (
    check_fits_time_limit,
    localize_options,
    parse_queries,
    parse_thresholds,
    pool_field_choices,
)
from fiftyone_videogem.plugin.grounding import OperatorFailure
from tests.videos import make_video

PLUGIN = "@fiftyone-videogem/videogem"
FIND = PLUGIN + "/find_actions_in_time"
EVALUATE = PLUGIN + "/evaluate_spatiotemporal"
ENGINE = dict(backbone="test-vit-tiny", random_weights=True, device="cpu", batch_size=4)
PARAMS = dict(ENGINE, query_source="text", queries="cut onion, pour water", fps=2.0, label_field="found")
POOLS = {"a": ["cut onion", "pour water"], "b": ["crack eggs"], "c": ["stir soup", "cut onion"]}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("temporal-operator-videos")
    # 20 frames at 10 fps; at 2 samples per second frames 1, 6, 11 and 16 are sampled
    return {name: make_video(folder / f"{name}.mp4", num_frames=20, pattern=pattern)
            for name, pattern in (("a", "bits"), ("b", "square"), ("c", "gray"))}


@pytest.fixture
def dataset(videos, tmp_path, monkeypatch):
    monkeypatch.setattr(fo.config, "default_dataset_dir", str(tmp_path))  # the embedding cache goes there
    ds = fo.Dataset(f"vgem-temporal-operator-{uuid.uuid4().hex[:8]}")
    for name, path in videos.items():
        ds.add_sample(fo.Sample(
            filepath=path, name=name, actions=POOLS[name], title=f"video {name}",
            steps=fo.Classifications(classifications=[fo.Classification(label=p) for p in POOLS[name]]),
        ))
    yield ds
    svc = DelegatedOperationService()
    for op in svc.list_operations(dataset_name=ds.name):
        svc.delete_operation(op.id)
    ds.delete()


def resolve_form(uri, ds, **params):
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params))
    return foo.get_operator(uri).resolve_input(ctx).type.properties


def triggered(result):
    """The operators the execution triggered, in order: ``[(uri, params)]``."""
    return [(r["operator_uri"], r["params"]) for r in result.executor.to_json()["requests"]]


def run_queued(ds):
    """Runs the queued operations of ``ds`` as ``fiftyone delegated launch`` does; returns the first, as it ended."""
    svc = DelegatedOperationService()
    queued = svc.get_queued_operations(dataset_name=ds.name)
    svc.execute_queued_operations(dataset_name=ds.name)
    return svc.get(queued[0].id)


def uris(result):
    return [uri for uri, _ in triggered(result)]


def error_message(result) -> str:
    """The message of the error notification that ends a failed run (nothing reloaded, no view set)."""
    requests = triggered(result)
    assert [uri for uri, _ in requests if uri != "set_progress"] == ["notify"], requests
    assert requests[-1][1]["variant"] == "error"
    return requests[-1][1]["message"]


# ------------------------------------------------------------------------------- the forms
def test_plugin_registers_both_operators():
    find, evaluate = foo.get_operator(FIND), foo.get_operator(EVALUATE)
    assert find.config.label == "Find actions in time"
    assert evaluate.config.label == "Evaluate spatio-temporal grounding"
    for op in (find, evaluate):
        assert op.config.allow_delegated_execution and op.config.allow_immediate_execution
        assert op.config.execute_as_generator


def test_find_form_offers_list_fields_as_pools_and_the_methods(dataset):
    props = resolve_form(FIND, dataset)
    assert "queries" in props and "pool_field" not in props and "view_target" in props
    assert props["method"].type.values == ["www", "contrast", "zeal"] and "scorer" not in props
    assert props["fps"].default == 1.0 and props["spatial"].default is True
    assert props["label_field"].default == "found" and not props["label_field"].invalid
    assert "clip-vit-b-16" in [c.value for c in props["backbone"].view.choices]

    props = resolve_form(FIND, dataset, method="zeal")
    scorers = {c.value: c.description for c in props["scorer"].view.choices}
    assert props["scorer"].default == "smolvlm-256m" and "licence: Apache-2.0" in scorers["smolvlm-256m"]
    assert "class_filter" in props

    props = resolve_form(FIND, dataset, query_source="field")
    # lists of strings and label lists; the string field 'title' and the built-ins are not offered
    assert props["pool_field"].type.values == ["actions", "steps"]
    assert props["pool_field"].default == "actions" and "queries" not in props
    assert pool_field_choices(dataset) == ["actions", "steps"]


def test_find_form_flags_a_field_it_does_not_own(dataset):
    dataset.add_sample_field("found", fo.StringField)
    props = resolve_form(FIND, dataset)
    assert props["label_field"].invalid
    assert "'found' exists and was not created by a VideoGEM run" in props["label_field"].error_message
    props = resolve_form(FIND, dataset, query_source="field", label_field="actions")
    assert props["pool_field"].type.values == ["steps"]  # the output field is not offered as phrases
    assert props["label_field"].invalid and "'actions' exists" in props["label_field"].error_message


def test_find_form_without_pool_fields_asks_for_typed_phrases(make_dataset, videos):
    bare = make_dataset()
    bare.add_sample(fo.Sample(filepath=videos["a"], title="a"))
    props = resolve_form(FIND, bare, query_source="field")
    assert props["query_source"].invalid and "type the phrases" in props["query_source"].error_message
    assert "pool_field" not in props
    # no phrases typed and no phrase field: the form's error refuses the run
    with pytest.raises(ExecutionError, match="No field holds lists of phrases"):
        foo.execute_operator(FIND, ctx=dict(dataset=bare, params=dict(PARAMS, query_source="field")))
    assert "found" not in bare.get_field_schema()


def test_options_from_the_form():
    assert parse_queries("cut onion,  pour   water\n\ncut onion, ") == ["cut onion", "pour water"]
    assert localize_options(dict(PARAMS, spatial=False)) == dict(
        label_field="found", queries=["cut onion", "pour water"], method="www", fps=2.0, spatial=False,
        overwrite=False)
    assert localize_options(dict(query_source="field", pool_field="steps", method="contrast", label_field=" x ")) == dict(
        label_field="x", pool_field="steps", method="contrast", fps=1.0, spatial=True, overwrite=False)
    assert localize_options(dict(queries="a", method="zeal", scorer=" smolvlm-256m ", class_filter=2)) == dict(
        label_field="found", queries=["a"], method="zeal", scorer="smolvlm-256m", class_filter=2, fps=1.0,
        spatial=True, overwrite=False)
    for params, expected in ((dict(queries=" , \n"), "no phrase to look for"),
                             (dict(query_source="field"), "choose the field"),
                             (dict(queries="a", fps=0), "positive number"),
                             (dict(queries="a", method="nope"), "not available"),
                             (dict(queries="a", method="zeal"), "needs a start/end scorer")):
        with pytest.raises(OperatorFailure, match=expected):
            localize_options(params)
    assert parse_thresholds("0.1, 0.3 0.5") == [0.1, 0.3, 0.5]
    with pytest.raises(OperatorFailure, match=r"\(0, 1\]"):
        parse_thresholds("0.5, 2")


# ------------------------------------------------------------------------- finding actions
def test_immediate_run_writes_segments_reports_each_video_and_shows_the_clips(dataset):
    result = foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS)))
    assert result.error is None, result.error
    requests = triggered(result)
    assert uris(result)[-3:] == ["reload_dataset", "set_view", "notify"]
    progress = [p for uri, p in requests if uri == "set_progress"]
    assert [p["progress"] for p in progress] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert progress[-1]["label"] == "3/3 videos"

    segments = dataset.values("found.detections")
    assert all(segments) and {d.label for s in segments for d in s} <= {"cut onion", "pour water"}
    assert all(d.support[0] in (1, 6, 11, 16) and d.support[1] in (1, 6, 11, 16) for s in segments for d in s)
    assert dataset.count("frames.found_points") > 0 and dataset.count("frames.found_heatmap") > 0
    assert dataset.get_run_info("localize_found").config.fps == 2.0

    stages = requests[-2][1]["view"]
    assert [s["_cls"] for s in stages] == ["fiftyone.core.stages.ToClips"]
    assert dict(stages[0]["kwargs"])["field_or_expr"] == "found"
    assert len(dataset.to_clips("found")) == sum(len(s) for s in segments)
    notify = requests[-1][1]
    assert notify["variant"] == "success" and "into 'found'" in notify["message"]


def test_pool_field_contrast_without_spatial_grounding(dataset):
    params = dict(PARAMS, query_source="field", pool_field="steps", method="contrast", spatial=False,
                  label_field="by_pool")
    result = foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=params))
    assert result.error is None, result.error
    for name, labels in zip(dataset.values("name"), dataset.values("by_pool.detections.label")):
        assert labels and set(labels) <= set(POOLS[name])  # each video's own phrases only
    assert "by_pool_points" not in dataset.get_frame_field_schema()
    assert dataset.get_run_info("localize_by_pool").config.segmentation == "contrast"


def test_zeal_with_a_named_scorer(dataset):
    # a tiny vision-language model with random weights, built without a download
    params = dict(PARAMS, method="zeal", scorer="random-idefics3", queries="cut onion", spatial=False,
                  label_field="z", view_target="SELECTED_SAMPLES")
    a = dataset.first()
    result = foo.execute_operator(FIND, ctx=dict(dataset=dataset, selected=[a.id], params=params))
    assert result.error is None, result.error
    assert [uri for uri, _ in triggered(result) if uri == "notify"] == ["notify"]
    assert triggered(result)[-1][1]["variant"] != "error", triggered(result)[-1]
    assert dataset.exists("z").values("id") == [a.id]
    assert set(dataset.values("z.detections.label", unwind=True)) <= {"cut onion"}
    assert dataset.get_run_info("localize_z").config.segmentation == "zeal"


def test_selected_videos_target_and_no_clips_when_nothing_is_found(dataset):
    a = dataset.first()
    params = dict(PARAMS, label_field="sel", view_target="SELECTED_SAMPLES")
    result = foo.execute_operator(FIND, ctx=dict(dataset=dataset, selected=[a.id], params=params))
    assert result.error is None, result.error
    assert dataset.exists("sel").values("id") == [a.id]
    assert "set_view" in uris(result)

    # one phrase and one sampled frame per video give a flat score curve, where WWW finds nothing: the
    # view stays as it was
    params = dict(PARAMS, queries="cut onion", label_field="none", spatial=False, fps=0.1)
    result = foo.execute_operator(FIND, ctx=dict(view=dataset.limit(1), params=params))
    assert result.error is None, result.error
    assert "set_view" not in uris(result)
    assert dataset.limit(1).values("none.detections") == [[]]
    assert "no segment found" in triggered(result)[-1][1]["message"]


@pytest.mark.parametrize("params, expected", [
    (dict(queries=" , "), "no phrase to look for"),
    (dict(random_weights=False), "Random weights (to try the pipeline)"),
])
def test_immediate_failure_is_an_error_notification(dataset, params, expected):
    before = dataset.values("title")
    result = foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS, **params)))
    assert result.error is None, result.error
    message = error_message(result)
    assert message.startswith("Grounding failed: ") and expected in message
    assert dataset.values("title") == before  # the foreign field is untouched
    assert "found" not in dataset.get_field_schema() and not dataset.list_runs()


@pytest.mark.parametrize("label_field, expected", [
    ("title", "'title' exists and was not created by a VideoGEM run"),
    ("a.b", "without dots"),
])
def test_a_foreign_output_field_is_refused_by_the_form(dataset, label_field, expected):
    before = dataset.values("title")
    with pytest.raises(ExecutionError, match=f"Path: label_field. Reason: .*{expected}"):
        foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS, label_field=label_field)))
    assert dataset.values("title") == before and not dataset.list_runs()


def test_a_field_of_another_type_is_refused_even_with_overwrite(dataset):
    params = dict(PARAMS, label_field="steps", overwrite=True)
    message = error_message(foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=params)))
    assert "localize_actions writes TemporalDetections there" in message
    assert dataset.values("steps.classifications.label") == [POOLS[n] for n in "abc"]


def test_immediate_run_past_the_time_limit_is_refused(dataset):
    for sample in dataset:
        sample.metadata = fo.VideoMetadata(total_frame_count=5_000_000, frame_rate=10.0)
        sample.save()
    message = error_message(foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS))))
    assert "was not started" in message and "sampled frames" in message
    assert "found" not in dataset.get_field_schema() and not dataset.list_runs()


def test_zeal_time_limit_counts_the_scorer_questions(dataset, monkeypatch):
    for sample in dataset:  # 2000 s at 10 fps: 2001 sampled frames per video at 1 fps
        sample.metadata = fo.VideoMetadata(total_frame_count=20_000, frame_rate=10.0)
        sample.save()
    monkeypatch.setattr(fo.config, "operator_timeout", 3600)
    params = dict(PARAMS, method="zeal", scorer="random-idefics3", queries="cut onion, pour water", fps=1.0,
                  spatial=False, device="cpu")
    options = localize_options(params)
    # embedding alone fits: 6003 sampled frames of the tiny backbone take about a minute
    check_fits_time_limit(dataset, dict(params, method="www"), dict(options, method="www"), "found")
    message = error_message(foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=params)))
    assert "was not started" in message and "6003 sampled frames, 12006 frame-class pairs for the scorer" in message
    # ZEAL's class filter keeps one class per video: half the questions
    with pytest.raises(OperatorFailure, match=", 6003 frame-class pairs for the scorer"):
        check_fits_time_limit(dataset, params, dict(options, class_filter=1), "found")
    # each video's own pool: 2 + 1 + 2 classes
    pool = localize_options(dict(params, query_source="field", pool_field="steps"))
    with pytest.raises(OperatorFailure, match=", 10005 frame-class pairs for the scorer"):
        check_fits_time_limit(dataset, params, pool, "found")
    assert "found" not in dataset.get_field_schema() and not dataset.list_runs()


def test_delegated_run_is_queued_named_and_reports_progress(dataset):
    result = foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS, label_field="dl")),
                                  request_delegation=True)
    assert result.delegated and result.result["run_state"] == ExecutionRunState.QUEUED
    assert "dl" not in dataset.get_field_schema()

    svc = DelegatedOperationService()
    queued = svc.get_queued_operations(dataset_name=dataset.name)
    assert [op.operator for op in queued] == [FIND]
    assert queued[0].label == "Find actions (www) -> dl, 3 video(s)"
    svc.execute_queued_operations(dataset_name=dataset.name)
    op = svc.get(queued[0].id)
    assert op.run_state == ExecutionRunState.COMPLETED, op.run_state
    assert op.status.progress == 1.0 and op.status.label == "3/3 videos"
    dataset.reload()
    assert dataset.count("dl") == 3
    assert dataset.load_run_results("localize_dl").videos_localized == 3


def test_delegated_failure_marks_the_operation_failed(dataset):
    foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS, queries=" , ")), request_delegation=True)
    op = run_queued(dataset)
    assert op.run_state == ExecutionRunState.FAILED and "no phrase to look for" in op.result.error


# ------------------------------------------------------------------------------ Ray cluster
def test_find_form_offers_a_ray_cluster_when_ray_is_installed(dataset, monkeypatch):
    props = resolve_form(FIND, dataset)
    assert props["ray"].default is False and props["ray"].view.label == "Run on a Ray cluster"
    assert "ray_address" not in props and "ray_workers" not in props
    props = resolve_form(FIND, dataset, ray=True)
    assert "blank: a Ray instance on this machine" in props["ray_address"].view.description
    assert props["ray_workers"].type.min == 1
    assert "ray_decode_workers" not in props  # the scan's actors decode their own videos

    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a package that is not installed
    assert "ray" not in resolve_form(FIND, dataset, ray=True)
    message = error_message(foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=dict(PARAMS, ray=True))))
    assert 'pip install "fiftyone-videogem[ray]"' in message
    assert "found" not in dataset.get_field_schema() and not dataset.list_runs()


def test_delegated_run_on_a_local_ray_instance(dataset):
    import ray

    ray.shutdown()  # the operation's execute starts a Ray instance of its own, and stops it
    params = dict(PARAMS, label_field="onray", ray=True, ray_address=" ", ray_workers=1)
    foo.execute_operator(FIND, ctx=dict(dataset=dataset, params=params), request_delegation=True)
    op = run_queued(dataset)
    assert op.run_state == ExecutionRunState.COMPLETED, (op.run_state, op.result and op.result.error)
    assert op.status.progress == 1.0 and op.status.label == "3/3 videos"
    assert not ray.is_initialized()

    dataset.reload()
    segments = dataset.values("onray.detections")
    assert all(segments) and {d.label for s in segments for d in s} <= {"cut onion", "pour water"}
    assert all(d.support[0] in (1, 6, 11, 16) and d.support[1] in (1, 6, 11, 16) for s in segments for d in s)
    assert dataset.count("frames.onray_points") > 0 and dataset.count("frames.onray_heatmap") > 0
    results = dataset.load_run_results("localize_onray")
    assert results.videos_localized == 3 and results.frames_grounded == dataset.count("frames.onray_points")
    assert dataset.get_run_info("localize_onray").config.fps == 2.0


# ------------------------------------------------------------------------------ evaluation
@pytest.fixture
def localized(dataset):
    """``found`` with points and heatmaps, and ground truth: the found segments of videos a and b as true
    segments, boxes over the whole frame on the sampled frames."""
    model = load_model("test-vit-tiny", random_weights=True, device="cpu")
    localize_actions(dataset, model, "found", queries=["cut onion", "pour water"], fps=2.0, progress=False)
    for sample in dataset:
        if sample.name == "c":
            sample["segments"] = fo.TemporalDetections(detections=[fo.TemporalDetection(label="stir soup",
                                                                                        support=[6, 11])])
        else:
            sample["segments"] = fo.TemporalDetections(detections=[
                fo.TemporalDetection(label=d.label, support=d.support) for d in sample.found.detections])
        for n in (1, 6, 11, 16):
            sample.frames[n]["gt"] = fo.Detections(detections=[fo.Detection(bounding_box=[0, 0, 1, 1])])
        sample.save()
    return dataset


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (math.isnan(a[k]) and math.isnan(b[k])) or a[k] == pytest.approx(b[k]) for k in a)


def test_evaluation_form_defaults_to_the_localization_fields(localized):
    props = resolve_form(EVALUATE, localized)
    assert props["pred_field"].default == "found" and props["gt_field"].default == "segments"
    assert props["pred_points_field"].default == "frames.found_points"
    assert props["pred_heatmap_field"].default == "frames.found_heatmap"
    assert props["gt_boxes_field"].type.values == ["frames.gt"]
    assert props["eval_key"].default == "st" and not props["eval_key"].invalid
    assert props["fps"].default == 2.0  # the localisation's rate
    assert props["iou_threshs"].default == "0.1, 0.2, 0.3, 0.4, 0.5"


def test_evaluation_form_says_what_is_missing(dataset):
    props = resolve_form(EVALUATE, dataset)
    assert "missing_fields" in props and "pred_field" not in props


def test_evaluation_stores_the_run_with_the_metrics_of_the_direct_call(localized):
    params = dict(pred_field="found", gt_field="segments", pred_points_field="frames.found_points",
                  pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", eval_key="st",
                  fps=2.0, mask_threshold=0.5, iou_threshs="0.1, 0.5")
    result = foo.execute_operator(EVALUATE, ctx=dict(dataset=localized, params=params))
    assert result.error is None, result.error
    assert uris(result)[-2:] == ["reload_dataset", "notify"]
    notify = triggered(result)[-1][1]
    assert notify["variant"] == "success"

    stored = localized.load_evaluation_results("st")
    direct = evaluate_spatiotemporal(
        localized, "found", "segments", pred_points_field="frames.found_points",
        pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", fps=2.0, iou_threshs=[0.1, 0.5])
    assert _same(stored.metrics(), direct.metrics())
    assert list(stored.metrics()) == ["iou_pointing", "iou_pointing_pooled", "video_map@0.1", "video_map@0.5",
                                      "video_map"]
    # videos a and b have their own segments as ground truth: the mAP is defined and positive
    assert 0 < stored.metrics()["video_map"] <= 1
    assert f"video mAP {100 * direct.metrics()['video_map']:.1f}%" in notify["message"]
    assert localized.count("st_iou_pointing") == localized.count("found")

    # the next suggested key is free
    assert resolve_form(EVALUATE, localized)["eval_key"].default == "st2"


def test_evaluation_refuses_a_key_whose_fields_exist(localized):
    localized.add_sample_field("mine_iou_pointing", fo.FloatField)
    props = resolve_form(EVALUATE, localized, eval_key="mine")
    assert props["eval_key"].invalid and "mine_iou_pointing" in props["eval_key"].error_message
    params = dict(pred_field="found", gt_field="segments", pred_points_field="frames.found_points",
                  pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", eval_key="mine")
    with pytest.raises(ExecutionError, match="Path: eval_key. Reason: .*'mine_iou_pointing', a field that exists"):
        foo.execute_operator(EVALUATE, ctx=dict(dataset=localized, params=params))
    assert "mine" not in localized.list_evaluations()


def test_evaluation_failure_is_an_error_notification(localized):
    params = dict(pred_field="found", gt_field="segments", pred_points_field="frames.found_points",
                  pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", eval_key="bad",
                  iou_threshs="0.5, 2")
    message = error_message(foo.execute_operator(EVALUATE, ctx=dict(dataset=localized, params=params)))
    assert message.startswith("Evaluation failed: ") and "(0, 1]" in message
    assert "bad" not in localized.list_evaluations()


def test_delegated_evaluation(localized):
    params = dict(pred_field="found", gt_field="segments", pred_points_field="frames.found_points",
                  pred_heatmap_field="frames.found_heatmap", gt_boxes_field="frames.gt", eval_key="dst", fps=2.0)
    result = foo.execute_operator(EVALUATE, ctx=dict(dataset=localized, params=params), request_delegation=True)
    assert result.delegated
    op = run_queued(localized)
    assert op.run_state == ExecutionRunState.COMPLETED, op.run_state
    assert op.status.progress == 1.0 and op.status.label.startswith("Spatio-temporal run 'dst': IoU+Pointing")
    localized.reload()
    assert "dst" in localized.list_evaluations()
