"""The App settings of a grounding run (``fiftyone_videogem.app.configure_app``), on real
datasets: the colour scheme and the active fields it stores. That the App draws them (the
heatmap in its colour scale, a frames view with the run's labels) is checked in headless
Chromium by tests/test_browser.py."""

import numpy as np
import pytest

import fiftyone as fo

from fiftyone_videogem.app import (
    COLOR_BY,
    HEATMAP_COLORSCALE,
    OPACITY,
    POINT_COLORS,
    app_paths,
    configure_app,
    default_active_paths,
    run_heatmap_field,
)

BOX = [0.25, 0.25, 0.5, 0.5]


def heatmap():
    return fo.Heatmap(map=np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), range=[0, 1])


def points():
    return fo.Keypoints(
        keypoints=[
            fo.Keypoint(label="open door", points=[(0.5, 0.5)], component="final"),
            fo.Keypoint(label="action", points=[(0.5, 0.5)], component="action"),
        ]
    )


@pytest.fixture
def video_dataset(make_dataset):
    """Two videos with ground truth, an older run (``old``, ``old_heatmap``) and a new run
    (``videogem``, ``videogem_heatmap``) on frames 2 and 4, and a user's own sample field."""
    ds = make_dataset()
    for name in ("a", "b"):
        sample = fo.Sample(filepath="/tmp/videogem-app/%s.mp4" % name, notes=fo.Classification(label="x"))
        for fn in (2, 4):
            sample.frames[fn] = fo.Frame(
                gt=fo.Detections(detections=[fo.Detection(label="open door", bounding_box=BOX)]),
                old=points(),
                old_heatmap=heatmap(),
                videogem=points(),
                videogem_heatmap=heatmap(),
            )
        ds.add_sample(sample)
    return ds


def test_video_run_colours_and_active_fields(video_dataset):
    ds = video_dataset
    configure_app(ds, "frames.old", "frames.old_heatmap", gt_field="frames.gt")  # the earlier run
    configure_app(ds, "videogem", "videogem_heatmap", gt_field="gt")  # names resolve to the frame fields

    scheme = ds.app_config.color_scheme
    assert scheme.color_by == COLOR_BY == "value"  # heatmap colour scales need colouring by value
    assert scheme.opacity == OPACITY
    scales = {s["path"]: s["name"] for s in scheme.colorscales}
    # each run's heatmap in the colour scale, in video paths and frames-view paths
    assert scales == {
        "frames.old_heatmap": HEATMAP_COLORSCALE,
        "old_heatmap": HEATMAP_COLORSCALE,
        "frames.videogem_heatmap": HEATMAP_COLORSCALE,
        "videogem_heatmap": HEATMAP_COLORSCALE,
    }
    fields = {f["path"]: f for f in scheme.fields}
    for path in ("frames.videogem", "videogem", "frames.old", "old"):
        assert fields[path]["colorByAttribute"] == "component"
        colors = {v["value"]: v["color"] for v in fields[path]["valueColors"]}
        assert colors == POINT_COLORS
    # the final point has a colour of its own
    assert list(POINT_COLORS.values()).count(POINT_COLORS["final"]) == 1

    active = ds.app_config.active_fields
    assert not active.exclude
    # the new run's points, heatmap and ground truth, also under frames-view names; the older
    # run's points stay, its heatmap does not; the App's defaults (the user's field) stay
    for path in ("frames.videogem", "videogem", "frames.videogem_heatmap", "videogem_heatmap", "frames.gt", "gt"):
        assert path in active.paths, path
    assert "frames.old" in active.paths and "notes" in active.paths
    assert "frames.old_heatmap" not in active.paths and "old_heatmap" not in active.paths


def test_frames_view_of_a_run_shows_its_labels(video_dataset):
    ds = video_dataset
    frames = ds.to_frames(sample_frames="dynamic", sparse=True)
    assert len(frames) == 4
    configure_app(frames, "videogem", "videogem_heatmap", gt_field="gt")  # a run written through a frames view
    active = set(ds.app_config.active_fields.paths)
    label_fields = set(frames.get_field_schema(embedded_doc_type=fo.core.labels.Label))
    # the frames view's own label paths that the App shows
    assert label_fields & active == {"gt", "videogem", "videogem_heatmap", "old"}
    assert {"frames.videogem", "frames.videogem_heatmap"} <= active


def test_user_settings_are_kept(video_dataset):
    ds = video_dataset
    ds.app_config.color_scheme = fo.ColorScheme(
        color_by="instance",
        opacity=0.9,
        color_pool=["#123456"],
        fields=[{"path": "frames.gt", "fieldColor": "#00ff00"}],
        colorscales=[{"path": "frames.old_heatmap", "name": "hsv"}],
    )
    ds.app_config.active_fields = fo.ActiveFields(paths=["notes"])
    ds.save()

    configure_app(ds, "frames.videogem", run_heatmap_field(ds, "frames.videogem"))

    scheme = ds.app_config.color_scheme
    # the user's choices stay (with colouring by instance, the App draws heatmaps in one colour)
    assert (scheme.color_by, scheme.opacity, scheme.color_pool) == ("instance", 0.9, ["#123456"])
    assert {"path": "frames.gt", "fieldColor": "#00ff00"} in scheme.fields
    assert {"path": "frames.old_heatmap", "name": "hsv"} in scheme.colorscales
    assert {"path": "frames.videogem_heatmap", "name": HEATMAP_COLORSCALE} in scheme.colorscales
    assert ds.app_config.active_fields.paths == ["notes", "frames.videogem", "videogem", "frames.videogem_heatmap",
                                                 "videogem_heatmap"]


def test_exclusion_lists_hide_other_heatmaps(video_dataset):
    ds = video_dataset
    ds.app_config.active_fields = fo.ActiveFields(paths=["frames.videogem", "notes"], exclude=True)
    ds.save()
    configure_app(ds, "frames.videogem", "frames.videogem_heatmap")
    active = ds.app_config.active_fields
    assert active.exclude
    assert "frames.videogem" not in active.paths and "notes" in active.paths
    assert {"frames.old_heatmap", "old_heatmap"} <= set(active.paths)


def test_image_dataset_and_a_heatmap_of_another_name(make_dataset):
    ds = make_dataset()
    ds.add_sample(fo.Sample(filepath="/tmp/videogem-app/a.png", pred=points(), heat=heatmap()))
    assert run_heatmap_field(ds, "pred") is None  # no "pred_heatmap"
    configure_app(ds, "pred", "heat")
    assert ds.app_config.active_fields.paths == ["pred", "heat"]
    assert {"path": "heat", "name": HEATMAP_COLORSCALE} in ds.app_config.color_scheme.colorscales
    assert app_paths(ds, ["pred"]) == ["pred"]
    assert default_active_paths(ds) == ["pred"]


def test_a_run_without_heatmap_activates_none(video_dataset):
    ds = video_dataset
    assert run_heatmap_field(ds, "frames.videogem") == "frames.videogem_heatmap"
    configure_app(ds, "frames.videogem", None)
    active = ds.app_config.active_fields.paths
    assert "frames.videogem" in active and "frames.videogem_heatmap" not in active
    assert ds.app_config.color_scheme.colorscales == []


def test_unknown_fields_are_refused_and_nothing_is_stored(video_dataset):
    ds = video_dataset
    with pytest.raises(ValueError, match="gt_field='nope' does not exist"):
        configure_app(ds, "frames.videogem", "frames.videogem_heatmap", gt_field="nope")
    assert ds.app_config.color_scheme is None
    assert ds.app_config.active_fields is None


def test_a_grounding_run_sets_up_the_app(make_dataset, tmp_path):
    from fiftyone_videogem import run_videogem
    from tests.videos import make_video

    ds = make_dataset()
    sample = fo.Sample(filepath=make_video(tmp_path / "a.mp4", num_frames=6), action="open door")
    sample.frames[3] = fo.Frame(gt=fo.Detections(detections=[fo.Detection(label="open door", bounding_box=BOX)]))
    ds.add_sample(sample)
    ds.add_frame_field("old_heatmap", fo.EmbeddedDocumentField, embedded_doc_type=fo.Heatmap)
    ds.app_config.active_fields = fo.ActiveFields(paths=["frames.old_heatmap"])
    ds.save()

    run_videogem(ds, "test-vit-tiny", "vg", random_weights=True, seed=0, device="cpu", prompt_field="action",
                 gt_field="frames.gt", progress=False)

    ds.reload()
    active = ds.app_config.active_fields.paths
    assert {"frames.vg", "vg", "frames.vg_heatmap", "vg_heatmap", "frames.gt", "gt"} <= set(active)
    assert "frames.old_heatmap" not in active
    scheme = ds.app_config.color_scheme
    assert {"path": "frames.vg_heatmap", "name": HEATMAP_COLORSCALE} in scheme.colorscales
    assert any(f["path"] == "frames.vg" and f["colorByAttribute"] == "component" for f in scheme.fields)
