"""The benchmark command end to end on tiny benchmark subsets (the pointing game on GroundingYouTube,
its spatio-temporal task, YouCook2 sentence grounding), and the paper tables."""

import json
import uuid
from pathlib import Path

import fiftyone as fo
import pytest

import fiftyone_videogem.datasets as fvgd
from fiftyone_videogem.benchmark import BENCHMARKS, PAPER, describe_setting, format_table, paper_rows, run_key_for
from fiftyone_videogem.benchmark_spatiotemporal import WWW_TABLE2, benchmark_for, www_table
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


# ------------------------------------------------------------------ temporal tasks

YC2 = Path(__file__).resolve().parent / "data" / "youcook2"  # a small file written for the tests


def test_www_table_layout_puts_ours_beside_the_paper():
    metrics = {"iou_pointing": 0.1234, "video_map@0.1": 0.5, "video_map@0.2": 0.25, "video_map@0.3": 0.125,
               "video_map@0.4": 0.0, "video_map@0.5": float("nan"), "video_map": float("nan")}
    lines = www_table(metrics, "tiny www").splitlines()
    assert lines[0].split() == ["method", "training", "IoU+Point", "mAP@0.1", "mAP@0.2", "mAP@0.3", "mAP@0.4",
                                "mAP@0.5", "mean"]
    assert lines[2].startswith("ours: tiny www") and lines[2].split()[-7:] == [
        "12.34", "50.00", "25.00", "12.50", "0.00", "-", "-"]
    assert len(lines) == 3 + len(WWW_TABLE2)
    assert lines[3].split()[-7:] == ["3.59", "29.54", "22.15", "9.16", "2.48", "0.39", "12.74"]
    assert "WWW, fine-tuned CLIP" in lines[-1] and lines[-1].split()[-1] == "28.26"
    # the paper's means are printed as the paper has them, not recomputed (MIL-NCE + RegionCLIP's five values
    # average 24.17, the paper prints 22.33)
    assert [row.mean for row in WWW_TABLE2] == [12.74, 22.33, 26.63, 28.26]


def test_temporal_tasks_name_their_datasets():
    assert benchmark_for("spatiotemporal", "groundingyoutube").method == "www"
    assert benchmark_for("temporal", "youcook2").method == "contrast"
    with pytest.raises(ValueError, match="no temporal benchmark on 'daly'.*--task spatiotemporal --dataset groundingyoutube"):
        benchmark_for("temporal", "daly")
    with pytest.raises(SystemExit):
        main(["benchmark", "--task", "when", "--dataset", "youcook2", "--annotations", "a", "--videos", "b"])


def test_a_method_the_protocol_does_not_run_is_refused(tmp_path, capsys):
    common = ["--annotations", str(YC2), "--videos", str(tmp_path)]
    assert main(["benchmark", "--task", "temporal", "--dataset", "youcook2", "--method", "zeal", *common]) == 1
    assert "--method zeal does not apply to --dataset youcook2; its protocol runs --method contrast" in (
        capsys.readouterr().err)
    assert main(["benchmark", "--dataset", "daly", "--method", "www", *common]) == 1
    assert "--method www applies to --task spatiotemporal or temporal" in capsys.readouterr().err


def test_spatial_task_refuses_a_temporal_only_dataset(tmp_path, capsys):
    assert main(["benchmark", "--dataset", "youcook2", "--annotations", str(YC2), "--videos", str(tmp_path)]) == 1
    assert "has no pointing-game benchmark" in capsys.readouterr().err


def temporal_args(task, dataset, annotations, videos, name, out, tmp_path):
    return ["benchmark", "--task", task, "--dataset", dataset, "--annotations", str(annotations), "--videos",
            str(videos), "--name", name, "--backbone", "test-vit-tiny", "--random-weights", "--output", str(out),
            "--cache-dir", str(tmp_path / "cache")]


def printed_table(text):
    """The lines of the printed table, from its header on."""
    lines = text.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("method ")):]


@pytest.fixture
def dataset_names():
    names = []
    yield names
    for name in names:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_spatiotemporal_benchmark_end_to_end_resume_and_missing_video(videos, tmp_path, capsys, dataset_names):
    name = f"test-bench-st-{uuid.uuid4().hex[:8]}"
    dataset_names.append(name)
    out = tmp_path / "st.json"
    # imported first, then one video file disappears before the benchmark runs
    fvgd.load_groundingyoutube(GYT, videos, name=name)
    lost = videos / f"{VIDEOS[0][0]}.mp4"
    lost.rename(tmp_path / "elsewhere.mp4")
    args = temporal_args("spatiotemporal", "groundingyoutube", GYT, videos, name, out, tmp_path)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Spatio-temporal grounding on groundingyoutube (WWW Table 2, untrimmed)" in text
    table = printed_table(text)
    assert table[0].split()[:3] == ["method", "training", "IoU+Point"] and table[0].split()[-1] == "mean"
    assert table[2].startswith("ours: test-vit-tiny www") and "paper: CLIP off the shelf" in table[3]
    assert "1 video(s) could not be (fully) localised" in text

    result = json.loads(out.read_text())
    assert set(result["metrics"]) == {"iou_pointing", "iou_pointing_pooled", "video_map@0.1", "video_map@0.2",
                                      "video_map@0.3", "video_map@0.4", "video_map@0.5", "video_map"}
    assert all(v is None or 0 <= v <= 1 for v in result["metrics"].values())
    assert {"task", "label_field", "eval_key", "localization", "import_report", "paper", "per_class",
            "per_video_iou_pointing"} <= set(result)
    assert result["task"] == "spatiotemporal" and result["method"] == "www" and result["fps"] == 1.0
    assert [row["iou_pointing"] for row in result["paper"]] == [r.iou_pointing for r in WWW_TABLE2]
    assert result["import_report"]["videos_imported"] == 2 and len(result["import_report"]["missing_videos"]) == 248
    loc = result["localization"]
    assert loc["videos_total"] == 2 and loc["videos_failed"] == 1 and loc["videos_localized"] == 1
    assert [f["filepath"] for f in loc["failures"]] == [str(lost)]

    dataset = fo.load_dataset(name)
    label = result["label_field"]
    assert dataset.count(label) == 1 and dataset.count(f"{label}_error") == 1
    assert result["eval_key"] in dataset.list_evaluations()
    assert result["num_ground_truth"] == dataset.count("segments.detections") > 0
    assert result["num_predictions"] == dataset.count(f"{label}.detections") > 0
    # the video gets its file back: a rerun localises only that one, reusing the rest
    (tmp_path / "elsewhere.mp4").rename(lost)
    assert main(args) == 0
    again = json.loads(out.read_text())["localization"]
    assert (again["videos_up_to_date"], again["videos_localized"], again["videos_failed"]) == (1, 1, 0)
    assert dataset.count(label) == 2
    # and a third run does nothing but evaluate, with the same numbers
    before = json.loads(out.read_text())["metrics"]
    assert main(args) == 0
    third = json.loads(out.read_text())
    assert third["localization"]["videos_up_to_date"] == 2 and third["localization"]["frames_embedded"] == 0
    assert third["metrics"] == before


def test_a_taken_evaluation_key_is_refused_before_any_work(videos, tmp_path, capsys, dataset_names):
    name = f"test-bench-st-{uuid.uuid4().hex[:8]}"
    dataset_names.append(name)
    dataset = fvgd.load_groundingyoutube(GYT, videos, name=name)
    dataset.add_sample_field("found_st_iou_pointing", fo.core.fields.FloatField)  # not written by an evaluation
    args = temporal_args("spatiotemporal", "groundingyoutube", GYT, videos, name, tmp_path / "st.json", tmp_path)
    assert main(args + ["--label-field", "found"]) == 1
    err = capsys.readouterr().err
    assert "the evaluation key 'found_st'" in err and "nothing was localised" in err
    assert dataset.get_field("found") is None and not (tmp_path / "st.json").exists()


@pytest.fixture
def yc2_videos(tmp_path):
    folder = tmp_path / "yc2"
    folder.mkdir()
    for vid, fps, n in (("yc2TestVidA", 2, 32), ("yc2TestVidB", 4, 30)):  # yc2TestVidD has no file
        make_video(str(folder / f"{vid}.mp4"), num_frames=n, size=(48, 32), fps=fps)
    return folder


def test_youcook2_temporal_benchmark_end_to_end_and_resume(yc2_videos, tmp_path, capsys, dataset_names):
    name = f"test-bench-yc2-{uuid.uuid4().hex[:8]}"
    dataset_names.append(name)
    out = tmp_path / "yc2.json"
    args = temporal_args("temporal", "youcook2", YC2, yc2_videos, name, out, tmp_path)
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Sentence grounding on youcook2: 5 sentences in 2 videos" in text
    table = printed_table(text)
    assert table[0].split() == ["method", "mAP@0.1", "mAP@0.2", "mAP@0.3", "mAP@0.4", "mAP@0.5", "mean"]
    assert table[2].startswith("ours: test-vit-tiny contrast")

    result = json.loads(out.read_text())
    assert set(result["metrics"]) == {"temporal_map@0.1", "temporal_map@0.2", "temporal_map@0.3",
                                      "temporal_map@0.4", "temporal_map@0.5", "temporal_map"}
    assert all(0 <= v <= 1 for v in result["metrics"].values())
    assert result["task"] == "temporal" and result["method"] == "contrast" and result["paper"] == []
    assert result["num_ground_truth"] == 5 and result["num_sentences"] == 5
    assert sorted(result["per_class"]) == sorted(["crack two eggs into a bowl", "whisk the eggs",
                                                  "pour the eggs into the pan", "slice the onion",
                                                  "fry the onion in butter"])
    assert result["import_report"]["missing_videos"] == ["yc2TestVidD"]
    dataset = fo.load_dataset(name)
    label = result["label_field"]
    # one query per sentence of the video, each found only in its own video
    for sample in dataset:
        assert {d.label for d in sample[label].detections} <= set(sample.actions)
    assert not dataset.has_frame_field(f"{label}_points")  # temporal only: no spatial grounding
    assert result["eval_key"] in dataset.list_evaluations()
    assert main(args) == 0
    again = json.loads(out.read_text())
    assert again["localization"]["videos_up_to_date"] == 2 and again["localization"]["frames_embedded"] == 0
    assert again["metrics"] == result["metrics"]
