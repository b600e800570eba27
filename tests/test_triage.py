"""Tests of the pointing-game operator and the VideoGEM triage panel, executed through
FiftyOne's operator machinery (the plugin is found through ``FIFTYONE_PLUGINS_DIR``)."""


import numpy as np
import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext, ExecutionError

from fiftyone_videogem.evaluation import PointingGameResults, evaluate_pointing_game, evaluate_spatiotemporal
from fiftyone_videogem.fields import is_clips_view, is_frames_view
from fiftyone_videogem.evaluation.spatiotemporal import misses_view
from fiftyone_videogem.plugin.triage import (
    OVERALL_BAR,
    ap_traces,
    class_ap,
    list_pointing_game_runs,
    list_triage_runs,
    miss_threshold,
    threshold_choices,
    validate_eval_key,
    video_traces,
)
from tests.videos import make_video

PLUGIN = "@fiftyone-videogem/videogem"
OPERATOR = PLUGIN + "/evaluate_pointing_game"
PANEL = PLUGIN + "/videogem_triage"

BOX = [0.25, 0.25, 0.5, 0.5]
# class -> number of misses among its 4 images (misses are the first images of a class)
MISSES = {"crack eggs": 1, "pour milk": 3, "cut onion": 2}
IMAGES_PER_CLASS = 4




def keypoints(x, label, verb_x=None):
    """VideoGEM-style labels: the final point and action/verb/object component points."""
    verb_x = x if verb_x is None else verb_x
    return fo.Keypoints(
        keypoints=[
            fo.Keypoint(label=label, points=[(x, 0.5)], component="final", heat=0.8),
            fo.Keypoint(label=label, points=[(x, 0.5)], component="action"),
            fo.Keypoint(label=label.split()[0], points=[(verb_x, 0.5)], component="verb"),
            fo.Keypoint(label=label.split()[-1], points=[(x, 0.5)], component="object"),
        ]
    )


@pytest.fixture
def image_dataset(make_dataset):
    """12 images in 3 classes; miss ``j`` of a class lies ``0.2 - 0.05 * j`` left of the
    box, hits lie in its centre; the verb point misses on every image."""
    ds = make_dataset()
    samples = []
    for label, num_misses in MISSES.items():
        for j in range(IMAGES_PER_CLASS):
            hit = j >= num_misses
            x = 0.5 if hit else 0.05 + 0.05 * j
            samples.append(
                fo.Sample(
                    filepath="/tmp/videogem-triage/%s-%d.png" % (label.replace(" ", "_"), j),
                    gt=fo.Detections(detections=[fo.Detection(label=label, bounding_box=BOX)]),
                    vgem_point=keypoints(x, label, verb_x=0.95),
                    other_gt=fo.Detections(),
                    score=1.0,
                )
            )
    ds.add_samples(samples, progress=False)
    return ds


@pytest.fixture
def video_dataset(make_dataset, tmp_path):
    """Two generated videos; frames 2 and 4 of each are annotated. Video 1 hits frame 2
    and misses frame 4; video 2 misses both."""
    ds = make_dataset()
    for name, hits in (("v1", {2: True, 4: False}), ("v2", {2: False, 4: False})):
        path = make_video(tmp_path / ("%s.mp4" % name), num_frames=6)
        sample = fo.Sample(filepath=path)
        for fn, hit in hits.items():
            sample.frames[fn] = fo.Frame(
                filepath=str(tmp_path / name / ("%d.jpg" % fn)),  # for to_frames()
                gt=fo.Detections(detections=[fo.Detection(label="open door", bounding_box=BOX)]),
                vgem_point=keypoints(0.5 if hit else 0.9, "open door"),
            )
        ds.add_sample(sample)
    return ds


def run_operator(ds, **params):
    defaults = dict(pred_field="vgem_point", gt_field="gt", eval_key="pg")
    return foo.execute_operator(OPERATOR, ctx=dict(dataset=ds, params={**defaults, **params}))


def run_panel(ds, method, state=None, view=None, **params):
    params = {"__method__": method, "panel_id": "triage-1", "panel_state": state or {}, **params}
    ctx = dict(dataset=ds, params=params)
    if view is not None:
        ctx["view"] = view
    return foo.execute_operator(PANEL, ctx=ctx)


def requests(result, name):
    return [r.params for r in result.executor._requests if r.operator_uri == name]


def patched(result, kind):
    """Merges the ``patch_panel_state``/``patch_panel_data`` requests of a panel call."""
    merged = {}
    for params in requests(result, "patch_panel_" + kind):
        merged.update(params[kind])
    return merged


def view_of(ds, set_view_params):
    return fo.DatasetView._build(ds, set_view_params["view"])


def loaded_state(ds, eval_key=None):
    res = run_panel(ds, "on_load", state={"eval_key": eval_key} if eval_key else {})
    assert res.error is None, res.error_message
    return patched(res, "state")


# --------------------------------------------------------------------------------------
# Plugin discovery
# --------------------------------------------------------------------------------------


def test_plugin_registers_operator_and_panel():
    uris = {op.uri for op in foo.list_operators()}
    assert OPERATOR in uris
    assert PANEL in uris
    assert isinstance(foo.get_operator(PANEL), foo.Panel)


# --------------------------------------------------------------------------------------
# Operator
# --------------------------------------------------------------------------------------


def test_operator_writes_evaluation_views_and_notifies(image_dataset):
    ds = image_dataset
    res = run_operator(ds)
    assert res.error is None, res.error_message

    assert ds.list_evaluations() == ["pg"]
    results = ds.load_evaluation_results("pg")
    assert isinstance(results, PointingGameResults)
    assert results.num_evaluated == 12
    assert results.num_hits == 12 - sum(MISSES.values())
    assert results.per_class["pour milk"].num_hits == 1
    assert ds.count_values("pg_hit") == {True: 6, False: 6}
    assert ds.get_evaluation_info("pg").config.box_mode == "any"

    assert set(ds.list_saved_views()) == {
        "pg-misses",
        "pg-misses-crack eggs",
        "pg-misses-pour milk",
        "pg-misses-cut onion",
    }
    assert len(ds.load_saved_view("pg-misses-pour milk")) == 3

    notes = requests(res, "notify")
    assert len(notes) == 1
    assert "6/12" in notes[0]["message"] and "50.0%" in notes[0]["message"]
    assert notes[0]["variant"] == "success"
    names = [r.operator_uri for r in res.executor._requests]
    assert names[-1] == "reload_dataset"
    assert names.count("set_progress") == 3


def test_operator_options_reach_the_evaluation(image_dataset):
    ds = image_dataset
    res = run_operator(
        ds, eval_key="pg_union", box_mode="union", protocol="normalized", missing="skip", save_views=False
    )
    assert res.error is None, res.error_message
    config = ds.get_evaluation_info("pg_union").config
    assert (config.box_mode, config.protocol, config.missing) == ("union", "normalized", "skip")
    assert ds.list_saved_views() == []
    assert "saved view" not in requests(res, "notify")[0]["message"]


def test_operator_evaluates_the_current_view_and_the_selection(image_dataset):
    ds = image_dataset
    view = ds.match(fo.ViewField("gt.detections.label").contains("pour milk"))
    res = foo.execute_operator(
        OPERATOR,
        ctx=dict(
            dataset=ds,
            view=view,
            params=dict(pred_field="vgem_point", gt_field="gt", eval_key="pg_view", view_target="CURRENT_VIEW"),
        ),
    )
    assert res.error is None, res.error_message
    results = ds.load_evaluation_results("pg_view")
    assert (results.num_evaluated, results.num_hits) == (4, 1)
    assert set(results.per_class) == {"pour milk"}

    selected = ds.values("id")[:2]
    res = foo.execute_operator(
        OPERATOR,
        ctx=dict(
            dataset=ds,
            selected=selected,
            params=dict(pred_field="vgem_point", gt_field="gt", eval_key="pg_sel", view_target="SELECTED_SAMPLES"),
        ),
    )
    assert res.error is None, res.error_message
    assert sorted(ds.load_evaluation_results("pg_sel").frame_ids) == sorted(selected)


def test_operator_on_video_frames(video_dataset):
    ds = video_dataset
    res = run_operator(ds, pred_field="frames.vgem_point", gt_field="frames.gt")
    assert res.error is None, res.error_message
    results = ds.load_evaluation_results("pg")
    assert (results.num_evaluated, results.num_hits) == (4, 1)
    assert ds.values("pg_num_misses") == [1, 2]
    misses = ds.load_saved_view("pg-misses")
    assert misses.count("frames") == 3


def test_operator_runs_delegated(image_dataset):
    from fiftyone.operators.delegated import DelegatedOperationService

    ds = image_dataset
    params = dict(pred_field="vgem_point", gt_field="gt", eval_key="pg_delegated")
    res = foo.execute_operator(OPERATOR, ctx=dict(dataset=ds, params=params), request_delegation=True)
    assert res.delegated
    op_id = res.result["id"]
    svc = DelegatedOperationService()
    try:
        assert ds.list_evaluations() == []  # only queued so far
        svc.execute_queued_operations(dataset_name=ds.name)
        doc = svc.get(op_id)
        assert doc.run_state == "completed", doc.result
        assert doc.status.progress == 1.0
        assert "6/12" in doc.status.label
        assert ds.load_evaluation_results("pg_delegated").num_hits == 6
        assert "pg_delegated-misses" in ds.list_saved_views()
    finally:
        svc.delete_operation(op_id)


def test_operator_refuses_bad_keys(image_dataset):
    ds = image_dataset
    with pytest.raises(ExecutionError, match="keypoint attribute"):
        run_operator(ds, eval_key="heat")
    with pytest.raises(ExecutionError, match="not a valid key"):
        run_operator(ds, eval_key="two words")
    assert ds.list_evaluations() == []
    run_operator(ds, eval_key="pg")
    with pytest.raises(ExecutionError, match="would write 'pg_object_hit', which evaluation 'pg' writes"):
        run_operator(ds, eval_key="pg_object")
    assert ds.list_evaluations() == ["pg"]


def test_validate_eval_key(image_dataset):
    ds = image_dataset
    assert validate_eval_key("pg", ds) is None
    assert "Enter" in validate_eval_key("", ds)
    assert "not a valid key" in validate_eval_key("1pg", ds)
    ds.evaluate_detections("gt", gt_field="gt", eval_key="det")
    assert "different kind of evaluation" in validate_eval_key("det", ds)
    evaluate_pointing_game(ds, "vgem_point", "gt", eval_key="pg", progress=False)
    assert validate_eval_key("pg", ds) is None  # replacing a pointing-game run is allowed
    assert list_pointing_game_runs(ds) == ["pg"]
    # with the fields, keys whose fields overlap another run's are refused
    assert validate_eval_key("pg_verb", ds) is None
    problem = validate_eval_key("pg_verb", ds, "vgem_point", "gt")
    assert "would write 'pg_verb_hit', which evaluation 'pg' writes" in problem
    assert validate_eval_key("pg", ds, "vgem_point", "gt") is None


def resolve_form(ds, **params):
    op = foo.get_operator(OPERATOR)
    ctx = ExecutionContext(request_params=dict(dataset_name=ds.name, params=params))
    return op.resolve_input(ctx).type.properties


def test_form_offers_fields_of_the_right_types_and_levels(image_dataset, video_dataset):
    props = resolve_form(image_dataset)
    assert props["pred_field"].type.values == ["vgem_point"]
    assert props["gt_field"].type.values == ["gt", "other_gt"]
    assert props["gt_field"].default == "gt"
    assert props["eval_key"].default == "pointing"
    assert props["box_mode"].type.values == ["any", "union"]
    assert props["protocol"].type.values == ["paper", "normalized"]
    assert props["missing"].type.values == ["miss", "skip"] and props["missing"].default == "miss"
    assert "view_target" in props

    video_dataset.add_sample_field("clip_gt", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    props = resolve_form(video_dataset)
    assert props["pred_field"].type.values == ["frames.vgem_point"]
    # frame-level predictions are only offered frame-level ground truth
    assert props["gt_field"].type.values == ["frames.gt"]


def test_form_flags_keys(image_dataset):
    props = resolve_form(image_dataset, pred_field="vgem_point", gt_field="gt", eval_key="heat")
    assert props["eval_key"].invalid
    assert "keypoint attribute" in props["eval_key"].error_message

    evaluate_pointing_game(image_dataset, "vgem_point", "gt", eval_key="pointing", progress=False)
    props = resolve_form(image_dataset)
    assert props["eval_key"].default == "pointing2"
    props = resolve_form(image_dataset, pred_field="vgem_point", gt_field="gt", eval_key="pointing")
    assert not props["eval_key"].invalid
    assert "overwrite_warning" in props
    props = resolve_form(image_dataset, pred_field="vgem_point", gt_field="gt", eval_key="pointing_action")
    assert props["eval_key"].invalid
    assert "which evaluation 'pointing' writes" in props["eval_key"].error_message


def test_form_explains_missing_fields(make_dataset):
    ds = make_dataset()
    ds.add_sample(fo.Sample(filepath="/tmp/videogem-triage/a.png", gt=fo.Detections()))
    props = resolve_form(ds)
    assert "missing_fields" in props
    assert "pred_field" not in props


# --------------------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------------------


def test_panel_without_runs_offers_the_operator(image_dataset):
    res = run_panel(image_dataset, "on_load")
    assert res.error is None, res.error_message
    state = patched(res, "state")
    assert state["runs"] == [] and state["eval_key"] is None
    output = requests(res, "show_panel_output")[-1]["output"]
    props = output["type"]["properties"]
    assert "empty" in props
    assert props["evaluate"]["view"]["operator"] == OPERATOR


def test_panel_on_load_computes_charts_table_and_summary(image_dataset):
    ds = image_dataset
    run_operator(ds)
    res = run_panel(ds, "on_load")
    assert res.error is None, res.error_message
    state, data = patched(res, "state"), patched(res, "data")

    assert state["runs"] == ["pg"] and state["eval_key"] == "pg"
    assert "6/12" in state["summary"] and "50.0%" in state["summary"]

    classes, missed = data["class_chart"]
    assert classes["type"] == missed["type"] == "bar"
    # worst class first
    assert classes["x"] == ["pour milk", "cut onion", "crack eggs"]
    assert classes["ids"] == classes["x"] == missed["ids"]
    assert classes["y"] == pytest.approx([0.25, 0.5, 0.75])
    # every column is full height: the missed share stacks on the accuracy
    assert missed["y"] == pytest.approx([0.75, 0.5, 0.25])
    assert [a + m for a, m in zip(classes["y"], missed["y"])] == pytest.approx([1.0] * 3)
    # the label sits in the taller part of the column
    assert missed["text"][0] == "25.0%<br>(1/4)" and classes["text"][0] == ""
    assert classes["text"][2] == "75.0%<br>(3/4)" and missed["text"][2] == ""
    assert classes["customdata"][0] == "25.0% (1/4)"  # the hover text

    overall, overall_missed = data["overall_chart"]
    assert overall["x"] == [OVERALL_BAR, "action", "verb", "object"]
    assert overall["y"] == pytest.approx([0.5, 0.5, 0.0, 0.5])
    assert overall_missed["y"] == pytest.approx([0.5, 0.5, 1.0, 0.5])

    rows = state["worst_misses"]
    assert len(rows) == 6
    distances = [float(r["distance"]) for r in rows]
    assert distances == sorted(distances, reverse=True)
    assert distances[0] == pytest.approx(0.2)  # the first image of a class: x = 0.05
    assert rows[0]["rank"] == 1 and rows[0]["frame"] == "-"
    assert rows[0]["media"].endswith("-0.png")
    assert rows[0]["where"] == rows[0]["media"]

    output = requests(res, "show_panel_output")[-1]["output"]
    props = output["type"]["properties"]
    assert props["class_chart"]["view"]["name"] == "PlotlyView"
    assert props["class_chart"]["view"]["on_click"] == PANEL + "#on_click_class"
    assert props["overall_chart"]["view"]["on_click"] == PANEL + "#on_click_overall"
    assert props["eval_key"]["type"]["values"] == ["pg"]


def test_worst_misses_put_frames_without_points_last(make_dataset):
    ds = make_dataset()
    gt = fo.Detections(detections=[fo.Detection(label="open door", bounding_box=BOX)])
    ds.add_samples(
        [
            fo.Sample(filepath="/tmp/videogem-triage/none.png", gt=gt.copy()),
            fo.Sample(filepath="/tmp/videogem-triage/near.png", gt=gt.copy(), vgem_point=keypoints(0.2, "open door")),
            fo.Sample(filepath="/tmp/videogem-triage/far.png", gt=gt.copy(), vgem_point=keypoints(0.9, "open door")),
            fo.Sample(filepath="/tmp/videogem-triage/hit.png", gt=gt.copy(), vgem_point=keypoints(0.5, "open door")),
        ]
    )
    run_operator(ds)
    state = loaded_state(ds)
    rows = state["worst_misses"]
    assert [r["media"] for r in rows] == ["far.png", "near.png", "none.png"]
    assert [r["distance"] for r in rows] == ["0.150", "0.050", "no point"]
    assert "1 evaluated frame(s) had no predicted point" in state["summary"]


def test_panel_lists_runs_and_switches(image_dataset):
    ds = image_dataset
    run_operator(ds, eval_key="pg")
    run_operator(ds, eval_key="pg_union", box_mode="union")
    assert list_pointing_game_runs(ds) == ["pg", "pg_union"]
    assert loaded_state(ds)["eval_key"] == "pg_union"  # the newest run

    res = run_panel(ds, "on_change_run", state={"eval_key": "pg_union"}, value="pg")
    assert res.error is None, res.error_message
    state = patched(res, "state")
    assert state["eval_key"] == "pg"
    assert "**pg**" in state["summary"]


def test_class_bar_click_sets_the_view_to_that_class_misses(image_dataset):
    ds = image_dataset
    run_operator(ds)
    state = loaded_state(ds)
    res = run_panel(ds, "on_click_class", state=state, x="pour milk", id="pour milk", y=0.25)
    assert res.error is None, res.error_message
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert len(view) == MISSES["pour milk"]
    assert view.distinct("gt.detections.label") == ["pour milk"]
    assert set(view.values("pg_hit")) == {False}
    assert "pour milk" in patched(res, "state")["last_view"]


def test_class_bar_click_without_ids_uses_x(image_dataset):
    ds = image_dataset
    run_operator(ds)
    res = run_panel(ds, "on_click_class", state=loaded_state(ds), x="cut onion")
    (set_view,) = requests(res, "set_view")
    assert len(view_of(ds, set_view)) == MISSES["cut onion"]


def test_overall_chart_clicks(image_dataset):
    ds = image_dataset
    run_operator(ds)
    state = loaded_state(ds)

    res = run_panel(ds, "on_click_overall", state=state, x=OVERALL_BAR, id=OVERALL_BAR)
    (set_view,) = requests(res, "set_view")
    assert len(view_of(ds, set_view)) == sum(MISSES.values())

    res = run_panel(ds, "on_click_overall", state=state, x="verb", id="verb")
    (set_view,) = requests(res, "set_view")
    assert len(view_of(ds, set_view)) == 12  # the verb point misses everywhere

    res = run_panel(ds, "on_click_overall", state=state, x="object", id="object")
    (set_view,) = requests(res, "set_view")
    assert set(view_of(ds, set_view).values("pg_object_hit")) == {False}


def test_show_all_misses_and_clear(image_dataset):
    ds = image_dataset
    run_operator(ds)
    state = loaded_state(ds)
    res = run_panel(ds, "show_all_misses", state=state)
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert len(view) == 6
    # worst first
    distances = view.values("pg_distance")
    assert distances == sorted(distances, reverse=True)

    res = run_panel(ds, "clear_view", state=state)
    assert len(requests(res, "clear_view")) == 1


def test_table_row_action_opens_that_miss(image_dataset):
    ds = image_dataset
    run_operator(ds)
    state = loaded_state(ds)
    row = state["worst_misses"][2]

    # the App's view holds the image: it opens in the sample view over that view; the fields
    # shown stay the user's
    res = run_panel(ds, "show_miss", state=state, row=2, path="worst_misses", event="show")
    assert res.error is None, res.error_message
    assert requests(res, "set_view") == []
    assert requests(res, "open_sample")[0]["id"] == row["sample_id"]
    assert requests(res, "set_active_fields") == []
    assert "Opened miss #3" in patched(res, "state")["last_view"]

    # a view without it: the view of that image is set, and the image opens once the App
    # shows that view
    other = ds.exclude(row["sample_id"])
    res = run_panel(ds, "show_miss", state=state, view=other, row=2)
    assert requests(res, "open_sample") == []
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert view.values("id") == [row["sample_id"]]
    pending = patched(res, "state")
    assert pending["pending_frame"] == row["frame_id"] == row["sample_id"]

    res = run_panel(ds, "on_change_view", state={**state, **pending}, view=view)
    assert res.error is None, res.error_message
    assert requests(res, "open_sample")[0]["id"] == row["sample_id"]
    assert patched(res, "state")["pending_frame"] is None

    # any other view change does not open anything
    res = run_panel(ds, "on_change_view", state=state, view=other)
    assert requests(res, "open_sample") == []


def test_miss_rows_shorten_long_media_names():
    from fiftyone_videogem.plugin.triage import MAX_MEDIA_CHARS, shorten

    assert shorten("short.mp4") == "short.mp4"
    long = "a-very-long-video-file-name-from-a-camera-2026.mp4"
    short = shorten(long)
    assert len(short) == MAX_MEDIA_CHARS and short.endswith("2026.mp4") and short.startswith("a-very")


def test_panel_on_video_frames(video_dataset):
    ds = video_dataset
    run_operator(ds, pred_field="frames.vgem_point", gt_field="frames.gt")
    state = loaded_state(ds)
    rows = state["worst_misses"]
    assert sorted(r["frame"] for r in rows) == ["2", "4", "4"]
    assert {r["media"] for r in rows} == {"v1.mp4", "v2.mp4"}

    res = run_panel(ds, "on_click_class", state=state, x="open door", id="open door")
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert len(view) == 2 and view.count("frames") == 3

    # Show: a clip of the missed frame alone, opened in the sample view on that frame (frame 4,
    # not the video's first frame), with the run's ground truth and points shown
    first = rows[0]
    assert first["frame"] == "4" and first["where"] == "%s @ 4" % first["media"]
    res = run_panel(ds, "show_miss", state=state, row=0)
    assert res.error is None, res.error_message
    assert requests(res, "open_sample") == []  # a video would open on its first frame
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert view.values("sample_id") == [first["sample_id"]]
    assert view.values("support") == [[4, 4]]
    assert view.values("frames.id") == [[first["frame_id"]]]
    pending = patched(res, "state")
    assert "@ 4" in pending["last_view"]

    # the App shows the clip: the panel opens it, on that frame
    res = run_panel(ds, "on_change_view", state={**state, **pending}, view=view)
    assert res.error is None, res.error_message
    (open_sample,) = requests(res, "open_sample")
    assert open_sample["id"] == view.values("id")[0]

    # Show again while the App shows that clip: it opens at once
    res = run_panel(ds, "show_miss", state=state, view=view, row=0)
    assert requests(res, "set_view") == []
    assert requests(res, "open_sample")[0]["id"] == view.values("id")[0]


def test_panel_on_a_frames_view(video_dataset):
    ds = video_dataset
    evaluate_pointing_game(ds.to_frames(), "vgem_point", "gt", eval_key="pgf", progress=False)
    state = loaded_state(ds)
    assert state["eval_key"] == "pgf"
    rows = state["worst_misses"]
    assert sorted((r["media"], r["frame"]) for r in rows) == [("v1.mp4", "4"), ("v2.mp4", "2"), ("v2.mp4", "4")]

    res = run_panel(ds, "on_click_class", state=state, x="open door")
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert is_frames_view(view) and len(view) == 3
    assert set(view.values("pgf_hit")) == {False}

    res = run_panel(ds, "show_miss", state=state, row=1)
    (set_view,) = requests(res, "set_view")
    assert view_of(ds, set_view).values("id") == [rows[1]["frame_id"]]


def test_panel_recovers_from_a_deleted_run(image_dataset):
    ds = image_dataset
    run_operator(ds)
    state = loaded_state(ds)
    ds.delete_evaluation("pg")
    res = run_panel(ds, "on_click_class", state=state, x="pour milk")
    assert res.error is None, res.error_message
    assert requests(res, "set_view") == []
    assert requests(res, "notify")[0]["variant"] == "warning"
    assert patched(res, "state")["runs"] == []


def test_render_is_cheap_and_reads_only_state(image_dataset, monkeypatch):
    ds = image_dataset
    run_operator(ds)
    state = loaded_state(ds)

    def fail(*args, **kwargs):
        raise AssertionError("render() must not load evaluation results")

    monkeypatch.setattr(fo.Dataset, "load_evaluation_results", fail)
    res = run_panel(ds, "render_only", state=state)
    assert res.error is None, res.error_message
    props = requests(res, "show_panel_output")[-1]["output"]["type"]["properties"]
    assert props["worst_misses"]["view"]["name"] == "TableView"
    assert [c["key"] for c in props["worst_misses"]["view"]["columns"]] == ["rank", "label", "distance", "where"]


# --------------------------------------------------------------------------------------
# Spatio-temporal runs
# --------------------------------------------------------------------------------------

WHOLE = [0.0, 0.0, 1.0, 1.0]
CRACK, WHISK, STIR = "crack egg", "whisk", "stir"


def st_video(ds, folder, name, found, truth):
    """A 10 x 10 pixel, 10-frame video at 1 fps (every frame is sampled): predicted segments
    ``found`` (label, [first, last], confidence) with the phrase's point in the middle and a heatmap
    of ones on their frames, ground-truth segments ``truth`` (label, [first, last]) with a box over
    the whole frame on theirs."""
    sample = fo.Sample(filepath=str(folder / ("%s.mp4" % name)))
    sample.metadata = fo.VideoMetadata(frame_width=10, frame_height=10, frame_rate=1.0, total_frame_count=10)
    sample["found"] = fo.TemporalDetections(
        detections=[fo.TemporalDetection(label=l, support=list(s), confidence=c) for l, s, c in found]
    )
    sample["truth"] = fo.TemporalDetections(
        detections=[fo.TemporalDetection(label=l, support=list(s)) for l, s in truth]
    )
    frames = {}
    for label, (first, last), _ in found:
        for fn in range(first, last + 1):
            frames.setdefault(fn, {})["pts"] = fo.Keypoints(
                keypoints=[fo.Keypoint(label=label, points=[(0.5, 0.5)], component="final")]
            )
            frames[fn]["hm"] = fo.Heatmap(map=np.ones((10, 10), dtype=np.float32), range=[0, 1])
    for label, (first, last) in truth:
        for fn in range(first, last + 1):
            frames.setdefault(fn, {})["gt"] = fo.Detections(
                detections=[fo.Detection(label=label, bounding_box=WHOLE)]
            )
    for fn, labels in frames.items():
        sample.frames[fn] = fo.Frame(**labels)
    ds.add_sample(sample)
    return sample.id


@pytest.fixture
def st_dataset(make_dataset, tmp_path):
    """Three videos and a stored spatio-temporal run ``st`` (thresholds 0.1-0.5).

    -   a.mp4: "crack egg" found exactly (tube IoU 1); ground-truth "whisk" 7-8 not found.
        IoU+Pointing 4/6.
    -   b.mp4: ground-truth "whisk" 1-2, "whisk" found at 5-6 (tube IoU 0); "stir" found at 8-9,
        with no ground truth. IoU+Pointing 0/6.
    -   c.mp4: ground-truth "crack egg" 1-4 found at frame 1 only: tube IoU 100 / 400 = 0.25.
        IoU+Pointing 1/4.

    Video AP: "crack egg" 1 at 0.1 and 0.2 (both found), 0.5 at 0.3-0.5 (the first of two
    ranked detections right), mean 0.7; "whisk" 0; "stir" has no ground truth.
    """
    ds = make_dataset()
    ids = {
        "a": st_video(ds, tmp_path, "a", [(CRACK, (2, 5), 0.9)], [(CRACK, (2, 5)), (WHISK, (7, 8))]),
        "b": st_video(ds, tmp_path, "b", [(WHISK, (5, 6), 0.8), (STIR, (8, 9), 0.7)], [(WHISK, (1, 2))]),
        "c": st_video(ds, tmp_path, "c", [(CRACK, (1, 1), 0.6)], [(CRACK, (1, 4))]),
    }
    evaluate_spatiotemporal(
        ds, "found", "truth", pred_points_field="frames.pts", pred_heatmap_field="frames.hm",
        gt_boxes_field="frames.gt", eval_key="st", progress=False,
    )
    return ds, ids


def clip_labels(view, field):
    return sorted((ds_id, label, tuple(support)) for ds_id, label, support in zip(
        view.values("sample_id"), view.values(field + ".label"), view.values("support")))


def test_misses_view_opens_missed_and_false_segments_as_clips(st_dataset):
    ds, ids = st_dataset
    # at the middle threshold, 0.3: c's "crack egg" (0.25) is missed too
    missed = misses_view(ds, "st")
    assert is_clips_view(missed)
    assert clip_labels(missed, "truth") == sorted(
        [(ids["a"], WHISK, (7, 8)), (ids["b"], WHISK, (1, 2)), (ids["c"], CRACK, (1, 4))]
    )
    false = misses_view(ds, "st", kind="false")
    assert clip_labels(false, "found") == sorted(
        [(ids["b"], WHISK, (5, 6)), (ids["b"], STIR, (8, 9)), (ids["c"], CRACK, (1, 1))]
    )
    # at 0.1 the partly found segment is no miss
    assert len(misses_view(ds, "st", iou_thresh=0.1)) == 2
    assert len(misses_view(ds, "st", kind="false", iou_thresh=0.1)) == 2
    # one phrase, one video
    assert clip_labels(misses_view(ds, "st", cls=CRACK), "truth") == [(ids["c"], CRACK, (1, 4))]
    assert len(misses_view(ds, "st", cls=STIR, kind="false")) == 1
    assert clip_labels(misses_view(ds, "st", video=ids["a"]), "truth") == [(ids["a"], WHISK, (7, 8))]
    assert len(misses_view(ds, "st", video=ids["a"], kind="false")) == 0
    # the same from the loaded results
    results = ds.load_evaluation_results("st")
    assert clip_labels(results.misses_view(cls=CRACK), "truth") == [(ids["c"], CRACK, (1, 4))]
    assert len(results.misses_view(kind="false", iou_thresh=0.1)) == 2
    # the clips carry the frames' labels
    frames = misses_view(ds, "st", cls=CRACK).first().frames
    assert frames[1]["gt"].detections[0].label == CRACK and frames[1]["pts"] is not None


def test_misses_view_leaves_out_segments_the_run_did_not_evaluate(st_dataset, tmp_path):
    ds, _ = st_dataset
    st_video(ds, tmp_path, "d", [], [(WHISK, (1, 3))])  # added after the run: no <key>_iou
    assert len(misses_view(ds, "st")) == 3


def test_misses_view_refuses_bad_arguments(st_dataset):
    ds, _ = st_dataset
    with pytest.raises(ValueError, match="kind must be one of"):
        misses_view(ds, "st", kind="both")
    with pytest.raises(ValueError, match="no evaluation 'nope'"):
        misses_view(ds, "nope")
    evaluate_pointing_game(ds, "frames.pts", "frames.gt", eval_key="pg", progress=False)
    with pytest.raises(ValueError, match="not a spatio-temporal one"):
        misses_view(ds, "pg")


def test_triage_runs_list_both_kinds(st_dataset):
    ds, _ = st_dataset
    evaluate_pointing_game(ds, "frames.pts", "frames.gt", eval_key="pg", progress=False)
    assert list_triage_runs(ds) == {"st": "spatiotemporal", "pg": "pointing-game"}
    assert list_pointing_game_runs(ds) == ["pg"]


def test_ap_chart_at_the_mean_and_at_each_threshold(st_dataset):
    results = st_dataset[0].load_evaluation_results("st")
    assert threshold_choices(results) == ["mean", "0.1", "0.2", "0.3", "0.4", "0.5"]
    assert class_ap(results) == pytest.approx({CRACK: 0.7, WHISK: 0.0})
    assert class_ap(results, "0.2") == pytest.approx({CRACK: 1.0, WHISK: 0.0})
    assert class_ap(results, "0.3") == pytest.approx({CRACK: 0.5, WHISK: 0.0})

    ap, rest = ap_traces(results)
    assert ap["x"] == ap["ids"] == [WHISK, CRACK]  # the lowest first
    assert ap["y"] == pytest.approx([0.0, 0.7])
    assert [a + r for a, r in zip(ap["y"], rest["y"])] == pytest.approx([1.0, 1.0])  # full-height columns
    assert ap["customdata"] == ["0.0% AP", "70.0% AP"]
    assert ap_traces(results, "0.1")[0]["y"] == pytest.approx([0.0, 1.0])
    assert ap_traces(results, limit=1)[0]["x"] == [WHISK]

    assert miss_threshold(results, "mean") == 0.3
    assert miss_threshold(results, None) == 0.3
    assert miss_threshold(results, "0.1") == 0.1


def test_video_chart_per_video_iou_pointing(st_dataset):
    ds, ids = st_dataset
    results = ds.load_evaluation_results("st")
    names = {sid: "%s.mp4" % name for name, sid in ids.items()}
    value, rest = video_traces(results, names)
    assert value["ids"] == [ids["b"], ids["c"], ids["a"]]  # the lowest first
    assert value["x"] == ["b.mp4", "c.mp4", "a.mp4"]
    assert value["y"] == pytest.approx([0.0, 0.25, 4 / 6])
    assert value["customdata"] == ["0.0% (0/6)", "25.0% (1/4)", "66.7% (4/6)"]
    assert rest["ids"] == value["ids"]
    # equal names stay separate columns
    same = video_traces(results, {sid: "clip.mp4" for sid in ids.values()})[0]
    assert same["x"] == ["clip.mp4", "clip.mp4 (2)", "clip.mp4 (3)"]


def test_panel_on_a_spatiotemporal_run(st_dataset):
    ds, _ = st_dataset
    res = run_panel(ds, "on_load")
    assert res.error is None, res.error_message
    state, data = patched(res, "state"), patched(res, "data")
    assert state["eval_key"] == "st" and state["method"] == "spatiotemporal"
    assert state["threshold"] == "mean" and state["thresholds"][1:] == ["0.1", "0.2", "0.3", "0.4", "0.5"]
    assert state["miss_kind"] == "missed"
    assert "IoU+Pointing **30.6%**" in state["summary"]  # (4/6 + 0/6 + 1/4) / 3
    assert "video mAP **35.0%**" in state["summary"]  # (0.7 + 0) / 2
    assert data["ap_chart"][0]["x"] == [WHISK, CRACK]
    assert data["video_chart"][0]["x"] == ["b.mp4", "c.mp4", "a.mp4"]
    assert data["class_chart"] == [] and state["worst_misses"] == []

    props = requests(res, "show_panel_output")[-1]["output"]["type"]["properties"]
    assert props["ap_chart"]["view"]["on_click"] == PANEL + "#on_click_phrase"
    assert props["video_chart"]["view"]["on_click"] == PANEL + "#on_click_video"
    assert props["threshold"]["type"]["values"] == state["thresholds"]
    assert props["miss_kind"]["type"]["values"] == ["missed", "false"]
    assert "class_chart" not in props and "worst_misses" not in props
    header = props["header"]["type"]["properties"]
    assert header["evaluate"]["view"]["operator"] == PLUGIN + "/evaluate_spatiotemporal"  # New run


def test_spatiotemporal_clicks_open_misses_as_clips(st_dataset):
    ds, ids = st_dataset
    state = loaded_state(ds)

    res = run_panel(ds, "on_click_phrase", state=state, x=CRACK, id=CRACK)
    assert res.error is None, res.error_message
    (set_view,) = requests(res, "set_view")
    view = view_of(ds, set_view)
    assert clip_labels(view, "truth") == [(ids["c"], CRACK, (1, 4))]
    assert patched(res, "state")["last_view"].startswith("Showing 1 missed GT segments of 'crack egg' (tube IoU < 0.3)")

    # a video's false segments
    res = run_panel(ds, "on_click_video", state={**state, "miss_kind": "false"}, x="b.mp4", id=ids["b"])
    assert res.error is None, res.error_message
    view = view_of(ds, requests(res, "set_view")[0])
    assert clip_labels(view, "found") == [(ids["b"], STIR, (8, 9)), (ids["b"], WHISK, (5, 6))]
    assert "in 'b.mp4'" in patched(res, "state")["last_view"]

    # nothing to open: the view stays, the panel says so
    res = run_panel(ds, "on_click_video", state=state, id=ids["c"], x="c.mp4")
    assert len(view_of(ds, requests(res, "set_view")[0])) == 1  # c's crack egg at 0.3
    res = run_panel(ds, "on_click_video", state={**state, "threshold": "0.1"}, id=ids["c"], x="c.mp4")
    assert requests(res, "set_view") == []
    assert patched(res, "state")["last_view"].startswith("No missed GT segments in 'c.mp4' (tube IoU < 0.1)")


def test_spatiotemporal_threshold_and_miss_kind_choices(st_dataset):
    ds, _ = st_dataset
    state = loaded_state(ds)
    res = run_panel(ds, "on_change_threshold", state=state, value="0.1")
    assert res.error is None, res.error_message
    assert patched(res, "state")["threshold"] == "0.1"
    assert patched(res, "data")["ap_chart"][0]["y"] == pytest.approx([0.0, 1.0])
    res = run_panel(ds, "on_change_threshold", state=state, value="0.9")  # not a threshold of the run
    assert patched(res, "state")["threshold"] == "mean"
    res = run_panel(ds, "on_change_miss_kind", state=state, value="false")
    assert patched(res, "state")["miss_kind"] == "false"


def test_pointing_and_spatiotemporal_runs_switch(st_dataset):
    ds, _ = st_dataset
    evaluate_pointing_game(ds, "frames.pts", "frames.gt", eval_key="pg", progress=False)
    state = loaded_state(ds)
    assert state["runs"] == ["st", "pg"] and state["method"] == "pointing-game"
    res = run_panel(ds, "on_change_run", state=state, value="st")
    state = patched(res, "state")
    assert state["method"] == "spatiotemporal" and state["worst_misses"] == []
    res = run_panel(ds, "on_change_run", state=state, value="pg")
    state, data = patched(res, "state"), patched(res, "data")
    assert state["method"] == "pointing-game" and data["class_chart"] and data["ap_chart"] == []
