"""The "Ground actions with VideoGEM" operator, executed through FiftyOne's operator machinery
(the plugin is found through ``FIFTYONE_PLUGINS_DIR``, set in conftest.py), immediately and
delegated."""

from __future__ import annotations

import sys
import uuid

import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.delegated import DelegatedOperationService
from fiftyone.operators.executor import ExecutionContext, ExecutionRunState

from fiftyone_videogem.plugin.grounding import gt_field_choices, prompt_field_choices, run_options
from tests.videos import make_video

PLUGIN = "@fiftyone-videogem/videogem"
OPERATOR = PLUGIN + "/ground_actions"
SIZE = (64, 48)
PARAMS = dict(backbone="test-vit-tiny", random_weights=True, prompt_source="field", prompt_field="action",
              frames="gt", gt_field="frames.gt", label_field="vg", batch_size=4, device="cpu")


@pytest.fixture
def dataset(tmp_path):
    ds = fo.Dataset(f"vgem-operator-{uuid.uuid4().hex[:8]}")
    for name, gt_frames in (("a", [2, 6]), ("b", [3]), ("c", [])):
        sample = fo.Sample(filepath=make_video(tmp_path / f"{name}.mp4", num_frames=10, size=SIZE),
                           action="cut onion")
        ds.add_sample(sample)
        for fn in gt_frames:
            sample.frames[fn]["gt"] = fo.Detections(detections=[fo.Detection(label="cut onion",
                                                                             bounding_box=[0.2, 0.2, 0.4, 0.4])])
            sample.frames[fn]["step"] = "slice bread"
        sample.save()
    yield ds
    svc = DelegatedOperationService()
    for op in svc.list_operations(dataset_name=ds.name):
        svc.delete_operation(op.id)
    ds.delete()


def resolve_form(ds, **params):
    op = foo.get_operator(OPERATOR)
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params))
    return op.resolve_input(ctx).type.properties


def triggered(result):
    """The operators the execution triggered, in order: ``[(uri, params)]``."""
    return [(r["operator_uri"], r["params"]) for r in result.executor.to_json()["requests"]]


def uris(result):
    return [uri for uri, _ in triggered(result)]


def test_plugin_registers_the_operator():
    op = foo.get_operator(OPERATOR)
    assert op.config.label == "Ground actions with VideoGEM"
    assert op.config.allow_delegated_execution and op.config.allow_immediate_execution
    assert op.config.execute_as_generator


def test_form_offers_the_dataset_fields_and_backbones(dataset):
    props = resolve_form(dataset)
    assert props["prompt_field"].type.values == ["frames.gt", "frames.step", "action"]
    assert props["prompt_field"].default == "action"
    assert props["gt_field"].type.values == ["frames.gt"] and props["gt_field"].default == "frames.gt"
    backbones = [choice.value for choice in props["backbone"].view.choices]
    assert {"clip-vit-b-16", "openclip-vit-b-16", "viclip-b-16"} <= set(backbones)
    assert not any(name.startswith("test-") for name in backbones)  # test backbones are reached by name only
    assert props["backbone"].default == "clip-vit-b-16"
    assert props["weighting"].default == "static+dynamic"
    assert props["frames"].type.values == ["gt", "interval", "all"]
    assert props["device"].type.values == ["auto", "cpu", "cuda"]
    assert "view_target" in props and "map_dir" not in props and "interval" not in props

    props = resolve_form(dataset, prompt_source="text", frames="interval", heatmap_storage="files")
    assert "prompt" in props and "prompt_field" not in props
    assert "interval" in props and "gt_field" not in props
    assert "map_dir" in props

    assert prompt_field_choices(dataset) == ["frames.gt", "frames.step", "action"]
    assert gt_field_choices(dataset) == ["frames.gt"]


def test_form_flags_missing_ground_truth(dataset):
    bare = fo.Dataset(f"vgem-operator-bare-{uuid.uuid4().hex[:8]}")
    try:
        bare.add_sample(fo.Sample(filepath=dataset.first().filepath))
        props = resolve_form(bare)
        assert props["prompt_source"].invalid and "fixed text" in props["prompt_source"].error_message
        assert props["gt_field"].invalid
    finally:
        bare.delete()


def test_immediate_execution_reports_progress_and_reloads(dataset):
    result = foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=dict(PARAMS)))
    assert result.error is None, result.error
    requests = uris(result)
    assert requests.count("set_progress") >= 2
    assert requests[-2:] == ["reload_dataset", "notify"]
    progress = [params for uri, params in triggered(result) if uri == "set_progress"]
    assert progress[-1]["progress"] == 1.0 and progress[-1]["label"].startswith("3/3 samples")
    notify = triggered(result)[-1][1]
    assert notify["variant"] == "warning" and "vg_error" in notify["message"]  # video c has no ground truth

    labels = dataset.values("frames.vg.keypoints.label")
    assert [[k[0] for k in frames if k] for frames in labels] == [["cut onion"] * 2, ["cut onion"], []]
    assert dataset.values("vg_error")[:2] == [None, None] and "ground truth" in dataset.values("vg_error")[2]
    info = dataset.get_run_info("videogem_vg").config
    assert info.backbone == "test-vit-tiny" and info.engine["batch_size"] == 4


def test_immediate_execution_on_a_view_with_fixed_text_and_interval(dataset):
    view = dataset.limit(1)
    params = dict(PARAMS, prompt_source="text", prompt="pour water", frames="interval", interval=4,
                  label_field="every4", weighting="static", decomposition=False, heatmaps="all")
    result = foo.execute_operator(OPERATOR, ctx=dict(view=view, params=params))
    assert result.error is None, result.error
    a = dataset.first()
    assert sorted(fn for fn, f in a.frames.items() if f["every4"] is not None) == [1, 5, 9]
    assert [k.component for k in a.frames[5]["every4"].keypoints] == ["final", "action"]
    assert a.frames[5]["every4"].keypoints[0].label == "pour water"
    assert dataset.count("frames.every4") == 3  # only the first video was in the view
    info = dataset.get_run_info("videogem_every4").config
    assert info.engine["weighting"] == "static" and info.engine["decomposition"] is False


def test_selected_samples_target(dataset):
    b = dataset.skip(1).first()
    params = dict(PARAMS, label_field="sel", view_target="SELECTED_SAMPLES")
    result = foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, selected=[b.id], params=params))
    assert result.error is None, result.error
    assert dataset.count("frames.sel") == 1 and dataset[b.id].frames[3]["sel"] is not None


def test_delegated_execution(dataset):
    result = foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=dict(PARAMS, label_field="dl")),
                                  request_delegation=True)
    assert result.delegated
    assert result.result["run_state"] == ExecutionRunState.QUEUED
    assert "dl" not in dataset.get_frame_field_schema()

    svc = DelegatedOperationService()
    queued = svc.get_queued_operations(dataset_name=dataset.name)
    assert [op.operator for op in queued] == [OPERATOR]
    svc.execute_queued_operations(dataset_name=dataset.name)
    op = svc.get(queued[0].id)
    assert op.run_state == ExecutionRunState.COMPLETED, op.run_state
    assert op.status.progress == 1.0 and op.status.label.startswith("3/3 samples")
    dataset.reload()
    assert dataset.count("frames.dl") == 3
    assert dataset.load_run_results("videogem_dl").frames_grounded == 3


def test_run_options_from_params():
    target = fo.Dataset(f"vgem-operator-opts-{uuid.uuid4().hex[:8]}")
    try:
        target.media_type = "video"
        options = run_options(dict(prompt_source="field", prompt_field="action", frames="all",
                                   heatmap_storage="files", map_dir="/tmp/m", overwrite=True), target)
        assert options == dict(prompt_field="action", prompt=None, frames="all", overwrite=True,
                               heatmaps="action", heatmap_storage="files", map_dir="/tmp/m")
        with pytest.raises(ValueError, match="fixed action text is empty"):
            run_options(dict(prompt_source="text", prompt="  "), target)
    finally:
        target.delete()


def test_form_describes_backbones_and_labels_random_weights(dataset):
    props = resolve_form(dataset)
    choices = {choice.value: choice.description for choice in props["backbone"].view.choices}
    assert "licence: MIT" in choices["clip-vit-b-16"] and "non-commercial" in choices["viclip-b-16"]
    assert props["random_weights"].default is False
    assert "to try the pipeline" in props["random_weights"].view.label.lower()


def test_form_says_when_scheduling_is_unavailable(dataset, monkeypatch):
    monkeypatch.setattr(fo.config, "allow_legacy_orchestrators", False)
    notice = resolve_form(dataset)["delegation_notice"].view.label
    assert "FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS=true" in notice and "fiftyone delegated launch" in notice
    monkeypatch.setattr(fo.config, "allow_legacy_orchestrators", True)
    assert "delegation_notice" not in resolve_form(dataset)


@pytest.mark.parametrize("params, expected", [
    (dict(backbone="clip-vit-b-16", random_weights=False, checkpoint="missing-weights.pt"),
     "correct the 'Checkpoint' path"),
    (dict(checkpoint="missing-weights.pt"), "untick 'Random weights (to try the pipeline)'"),
    (dict(random_weights=False), "Random weights (to try the pipeline)"),  # test backbones have no weights
])
def test_immediate_failure_is_an_error_notification(dataset, params, expected):
    result = foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=dict(PARAMS, **params)))
    assert result.error is None, result.error
    requests = triggered(result)
    assert [uri for uri, _ in requests] == ["notify"]
    assert requests[0][1]["variant"] == "error"
    message = requests[0][1]["message"]
    assert message.startswith("Grounding failed: ") and expected in message
    assert "load_model" not in message and "from_config" not in message  # App actions, not Python calls
    assert "vg" not in dataset.get_frame_field_schema()


def test_delegated_failure_marks_the_operation_failed_with_the_message(dataset):
    params = dict(PARAMS, label_field="dl", backbone="clip-vit-b-16", random_weights=False,
                  checkpoint="missing-weights.pt")
    foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=params), request_delegation=True)
    svc = DelegatedOperationService()
    queued = svc.get_queued_operations(dataset_name=dataset.name)
    svc.execute_queued_operations(dataset_name=dataset.name)
    op = svc.get(queued[0].id)
    assert op.run_state == ExecutionRunState.FAILED, op.run_state
    assert "Grounding failed: " in op.result.error and "correct the 'Checkpoint' path" in op.result.error


def test_immediate_run_past_the_time_limit_is_refused_before_it_starts(dataset):
    for sample in dataset:
        sample.metadata = fo.VideoMetadata(frame_count=200_000)
        sample.save()
    params = dict(PARAMS, frames="all")
    result = foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=params))
    requests = triggered(result)
    assert [uri for uri, _ in requests] == ["notify"] and requests[0][1]["variant"] == "error"
    message = requests[0][1]["message"]
    assert "was not started" in message and "600 fram" not in message and "schedule" in message.lower()
    assert "vg" not in dataset.get_frame_field_schema()
    assert not dataset.list_runs()


def test_immediate_progress_advances_within_a_video(dataset):
    params = dict(PARAMS, frames="all", batch_size=2, label_field="fine")
    import fiftyone_videogem.plugin.grounding as grounding

    grounding_seconds = grounding.PROGRESS_SECONDS
    grounding.PROGRESS_SECONDS = 0.0
    try:
        result = foo.execute_operator(OPERATOR, ctx=dict(view=dataset.limit(1), params=params))
    finally:
        grounding.PROGRESS_SECONDS = grounding_seconds
    assert result.error is None, result.error
    progress = [p["progress"] for uri, p in triggered(result) if uri == "set_progress"]
    assert progress[0] == 0.0 and progress[-1] == 1.0
    within = [p for p in progress if 0.0 < p < 1.0]
    assert len(within) >= 3 and within == sorted(within)  # 10 frames in batches of 2: one video


def test_run_record_names_the_weights(dataset):
    foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=dict(PARAMS, seed=3)))
    config = dataset.get_run_info("videogem_vg").config
    assert config.weights["description"] == "random weights (seed 0)"
    assert config.engine["license"] == "none (random weights)"


def test_delegated_run_is_named_after_what_it_does(dataset):
    foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=dict(PARAMS, label_field="dl")),
                         request_delegation=True)
    op = DelegatedOperationService().get_queued_operations(dataset_name=dataset.name)[0]
    assert op.label == "VideoGEM test-vit-tiny -> dl, 3 sample(s)"


def test_weights_record_names_the_checkpoint_not_random_weights(tmp_path):
    from fiftyone_videogem.model import VideoGEMModelConfig, describe_weights

    path = tmp_path / "weights.pt"
    path.write_bytes(b"0" * 1234)
    record = describe_weights(VideoGEMModelConfig(dict(backbone="test-vit-tiny", checkpoint=str(path))))
    assert record["source"] == "checkpoint" and record["size_bytes"] == 1234
    assert record["checkpoint"] == str(path) and str(path) in record["description"]
    assert "random" not in record["license"] and "random" not in record["description"]
    record = describe_weights(VideoGEMModelConfig(dict(backbone="clip-vit-b-16")))
    assert record["description"] == "pretrained weights 'openai'" and record["license"].startswith("MIT")
    assert describe_weights(VideoGEMModelConfig(dict(backbone="clip-vit-b-16", random_weights=True, seed=5))
                            )["description"] == "random weights (seed 5)"


# ------------------------------------------------------------------------------ Ray cluster
def test_form_offers_a_ray_cluster_when_ray_is_installed(dataset, monkeypatch):
    props = resolve_form(dataset)
    assert props["ray"].default is False and props["ray"].view.label == "Run on a Ray cluster"
    assert "ray_address" not in props and "ray_workers" not in props
    props = resolve_form(dataset, ray=True)
    assert "blank: a Ray instance on this machine" in props["ray_address"].view.description
    assert props["ray_workers"].type.min == 1
    assert props["ray_decode_workers"].type.min == 0 and "decode" in props["ray_decode_workers"].view.description
    from fiftyone_videogem.plugin.grounding import ray_options

    assert ray_options(dict(ray_workers=2, ray_decode_workers=3)) == dict(address=None, num_workers=2,
                                                                          num_decode_workers=3)
    assert "num_decode_workers" not in ray_options(dict(ray_decode_workers=None))

    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a package that is not installed
    assert "ray" not in resolve_form(dataset, ray=True)
    result = foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=dict(PARAMS, ray=True)))
    requests = triggered(result)
    assert [uri for uri, _ in requests] == ["notify"] and requests[0][1]["variant"] == "error"
    assert 'pip install "fiftyone-videogem[ray]"' in requests[0][1]["message"]
    assert "vg" not in dataset.get_frame_field_schema() and not dataset.list_runs()


def test_delegated_run_on_a_local_ray_instance(dataset):
    import ray

    ray.shutdown()  # the operation's execute starts a Ray instance of its own, and stops it
    # one engine worker, fed by one decoding worker
    params = dict(PARAMS, label_field="onray", ray=True, ray_address="  ", ray_workers=1, ray_decode_workers=1)
    foo.execute_operator(OPERATOR, ctx=dict(dataset=dataset, params=params), request_delegation=True)
    svc = DelegatedOperationService()
    queued = svc.get_queued_operations(dataset_name=dataset.name)
    svc.execute_queued_operations(dataset_name=dataset.name)
    op = svc.get(queued[0].id)
    assert op.run_state == ExecutionRunState.COMPLETED, (op.run_state, op.result and op.result.error)
    assert op.status.progress == 1.0 and op.status.label.startswith("3/3 samples, 3 frames grounded")
    assert not ray.is_initialized()

    dataset.reload()
    numbers, labels = dataset.values(["frames.frame_number", "frames.onray"])
    assert [[n for n, k in zip(ns, ks) if k] for ns, ks in zip(numbers, labels)] == [[2, 6], [3], []]
    assert "ground truth" in dataset.values("onray_error")[2]
    results = dataset.load_run_results("videogem_onray")
    assert results.frames_grounded == 3 and results.samples_total == 3
    assert dataset.get_run_info("videogem_onray").config.backbone == "test-vit-tiny"
