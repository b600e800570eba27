"""Engine results -> FiftyOne labels (fiftyone_videogem.labels), on real engine results."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

import fiftyone.core.labels as fol

from fiftyone_videogem import labels as fvl
from fiftyone_videogem.engine import VideoGEM, build_backbone
from tests.videos import frame_image


@functools.lru_cache(maxsize=None)
def _backbone():
    return build_backbone("test-vit-tiny", pretrained=False, seed=0)


def result(**options):
    engine = VideoGEM(_backbone(), device="cpu", **options)
    return engine.ground(frame_image(7, (80, 40)), "crack eggs")


def test_keypoints_final_first_then_components():
    r = result()
    kps = fvl.to_keypoints(r)
    assert isinstance(kps, fol.Keypoints)
    final, action, verb, obj = kps.keypoints
    assert (final.label, final.component) == ("crack eggs", "final")
    assert final.points == [pytest.approx(r.point)]
    assert final.input_point == list(r.input_point) and final.input_size == [64, 64]
    assert final.heat == pytest.approx(r.heat)
    for kp, name in ((action, "action"), (verb, "verb"), (obj, "object")):
        component = r.components[name]
        assert kp.label == name and kp.component == name
        assert kp.prompt == component.prompt
        assert kp.score == pytest.approx(component.score)
        assert kp.points == [pytest.approx(component.point)]
        assert kp.heat == pytest.approx(component.heat)
        assert all(isinstance(v, int) for v in kp.input_point)
    assert verb.prompt == "A photo of a person crack something." and obj.prompt == "A photo of a person using eggs."
    # plain Python types only, so the labels serialise
    assert isinstance(final.points[0][0], float) and isinstance(final.heat, float)


def test_keypoints_without_decomposition():
    kps = fvl.to_keypoints(result(decomposition=False))
    assert [k.component for k in kps.keypoints] == ["final", "action"]
    assert kps.keypoints[0].points == kps.keypoints[1].points


def test_inline_heatmap_is_the_normalised_grid():
    r = result()
    labels = fvl.to_labels(r, "vg", fvl.HeatmapOptions())
    assert set(labels) == {"vg", "vg_heatmap"}
    heatmap = labels["vg_heatmap"]
    grid = r.components["action"].similarity
    expected = (grid - grid.min()) / (grid.max() - grid.min())
    assert heatmap.map.dtype == np.float32 and heatmap.map.shape == grid.shape
    np.testing.assert_allclose(heatmap.map, expected, atol=1e-6)
    assert list(heatmap.range) == [0, 1]
    assert fvl.normalize_grid(np.full((3, 3), 0.2)).max() == 0.0


def test_every_component_and_the_merged_heatmap():
    r = result(merge="heatmap_product")
    labels = fvl.to_heatmaps(r, "vg", fvl.HeatmapOptions(heatmaps="all", size="input"))
    assert set(labels) == {"vg_heatmap", "vg_heatmap_verb", "vg_heatmap_object", "vg_heatmap_merged"}
    np.testing.assert_allclose(labels["vg_heatmap_merged"].map, r.heatmap)
    np.testing.assert_allclose(labels["vg_heatmap_verb"].map, r.components["verb"].heatmap)
    # with a point merge there is no separate merged map
    assert "vg_heatmap_merged" not in fvl.to_heatmaps(result(), "vg", fvl.HeatmapOptions(heatmaps="all"))
    assert fvl.to_heatmaps(r, "vg", fvl.HeatmapOptions(heatmaps="none")) == {}
    assert fvl.output_fields("vg", "all") == [
        "vg", "vg_heatmap", "vg_heatmap_verb", "vg_heatmap_object", "vg_heatmap_merged"]


@pytest.mark.parametrize("dtype,top", [("uint8", 255), ("uint16", 65535)])
@pytest.mark.parametrize("size,shape", [("input", (64, 64)), ("frame", (40, 80)), ((30, 20), (20, 30)),
                                        ("grid", (4, 4))])
def test_heatmap_files(tmp_path, dtype, top, size, shape):
    r = result()
    options = fvl.HeatmapOptions(storage="files", map_dir=str(tmp_path), size=size, dtype=dtype)
    heatmap = fvl.to_heatmaps(r, "vg", options, frame_size=(80, 40), file_stem="s/000007")["vg_heatmap"]
    assert heatmap.map is None and list(heatmap.range) == [0, top]
    assert heatmap.map_path == str(tmp_path / "s" / "000007_action.png")
    array = cv2.imread(heatmap.map_path, cv2.IMREAD_UNCHANGED)
    assert array.dtype == np.dtype(dtype) and array.shape == shape
    if size in ("input", "grid"):
        assert array.max() == top and array.min() == 0  # the map is min-max normalised
    else:
        assert top // 2 < array.max() <= top  # resampled
    if size == "input":
        np.testing.assert_allclose(array / top, r.components["action"].heatmap, atol=1.0 / top)


def test_write_heatmap_png_round_trip(tmp_path):
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    heatmap = fvl.write_heatmap_png(values, str(tmp_path / "m.png"), "uint16")
    back = heatmap.get_map()
    assert back.dtype == np.uint16
    np.testing.assert_allclose(back / 65535.0, values, atol=1e-5)


def test_heatmap_options_are_validated():
    with pytest.raises(ValueError, match="needs map_dir"):
        fvl.HeatmapOptions(storage="files")
    with pytest.raises(ValueError, match="heatmaps must be one of"):
        fvl.HeatmapOptions(heatmaps="some")
    with pytest.raises(ValueError, match="dtype"):
        fvl.HeatmapOptions(dtype="float16")
    with pytest.raises(ValueError, match="heatmap size"):
        fvl.HeatmapOptions(size=(0, 10))
    assert fvl.HeatmapOptions().resolved_size == "grid"
    assert fvl.HeatmapOptions(storage="files", map_dir="/x").resolved_size == "input"
    assert fvl.HeatmapOptions(size=[8, 6]).size == (8, 6)
    assert fvl.heatmap_field("vg") == "vg_heatmap" and fvl.heatmap_field("vg", "verb") == "vg_heatmap_verb"
    assert fvl.error_field("vg") == "vg_error"
