"""The benchmark command end to end on a tiny GroundingYouTube subset, and the paper tables."""

import json
import uuid

import fiftyone as fo
import pytest

from fiftyone_videogem.benchmark import BENCHMARKS, PAPER, describe_setting, format_table, paper_rows, run_key_for
from fiftyone_videogem.cli import main

from .shared_data import SHARED_DATASETS
from .videos import make_video

GYT = SHARED_DATASETS / "groundingyoutube"
# stand-ins for two real GroundingYouTube videos: (id, size, frames at 2 fps)
VIDEOS = [("xG9G-qHNbtY", (48, 36), 25), ("tMBdem-e9Fk", (64, 64), 104)]


def test_describe_setting_maps_ablations_to_paper_rows():
    assert describe_setting("clip-vit-b-16", "static+dynamic", True, "action", "point_average", False) == (
        "VideoGEM", "CLIP", "")
    assert describe_setting("clip-vit-b-16", "none", False, "action", "point_average", False) == ("GEM", "CLIP", "")
    assert describe_setting("viclip-b-16", "static", True, "action", "point_average", False) == (
        "VideoGEM", "ViCLIP", "weights static")
    assert describe_setting("openclip-vit-b-16", "static+dynamic", False, "verb", "point_average", False) == (
        "VideoGEM", "OpenCLIP", "prompt verb")
    assert describe_setting("viclip-b-16", "static+dynamic", True, "action", "heatmap_product", False) == (
        "VideoGEM", "ViCLIP", "merge heatmap_product")
    assert describe_setting("viclip-b-16", "static+dynamic", True, "action", "point_average", True) == (
        "VideoGEM", "ViCLIP", "image input")
    assert describe_setting("test-vit-tiny", "none", True, "action", "point_average", False) is None
    rows = paper_rows(("VideoGEM", "CLIP", ""))
    assert len(rows) == 1 and rows[0][1]["gYT"] == 47.46
    # every paper row is reachable from some configuration
    assert all(paper_rows(key[1:]) for key in PAPER)


def test_format_table_puts_ours_in_the_right_column():
    text = format_table({"gYT": 12.345}, "gYT", ("VideoGEM", "CLIP", ""), "clip")
    lines = text.splitlines()
    assert "12.35" in lines[2] and lines[2].split()[-2] == "12.35"
    assert "47.46" in lines[3] and "65.37" in lines[3]


def test_each_benchmark_has_its_context_window_rule():
    """METHOD.md section 7: V-HICO repeats the keyframe, DALY skips the sample, the others clamp."""
    assert {name: b.context_edge for name, b in BENCHMARKS.items()} == {
        "groundingyoutube": "clamp", "youcook2_interactions": "clamp", "daly": "skip", "vhico": "repeat_keyframe"}


def test_run_key_depends_on_options():
    a = run_key_for("clip-vit-b-16", {"weighting": "none"})
    assert a == run_key_for("clip-vit-b-16", {"weighting": "none"})
    assert a != run_key_for("clip-vit-b-16", {"weighting": "static"})
    assert a.isidentifier()


@pytest.fixture
def videos(tmp_path):
    for vid, size, n in VIDEOS:
        make_video(str(tmp_path / f"{vid}.mp4"), num_frames=n, size=size, fps=2)
    return tmp_path


def test_benchmark_command_end_to_end_and_resume(videos, tmp_path, capsys):
    name = f"test-bench-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "results.json"
    args = ["benchmark", "--dataset", "groundingyoutube", "--annotations", str(GYT), "--videos", str(videos),
            "--name", name, "--backbone", "test-vit-tiny", "--random-weights", "--output", str(out)]
    try:
        assert main(args) == 0
        text = capsys.readouterr().out
        assert "Pointing game on groundingyoutube" in text and "gYT" in text
        result = json.loads(out.read_text())
        dataset = fo.load_dataset(name)
        gt_frames = dataset.count("frames.gt")
        assert result["num_evaluated"] == gt_frames > 0
        assert 0 <= result["accuracy"] <= 1
        assert result["grounding"]["frames_grounded"] == gt_frames
        assert result["options"]["prompt_parser"] == "verb_object"
        assert result["options"]["context_edge"] == "clamp"
        assert result["import_report"]["videos_imported"] == 2
        assert dataset.count(f"frames.{result['label_field']}") == gt_frames
        # a second run reuses the dataset and the labels: nothing is grounded again, same accuracy
        assert main(args) == 0
        again = json.loads(out.read_text())
        assert again["grounding"]["frames_grounded"] == 0
        assert again["grounding"]["frames_skipped"] == gt_frames
        assert again["accuracy"] == result["accuracy"]
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
