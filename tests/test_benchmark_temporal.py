"""benchmark --task temporal --dataset thumos14: ZEAL's protocol end to end on annotation files in the
official format and small generated videos, with a tiny random yes/no model and the tiny test backbone."""

import json
import uuid

import numpy as np
import pytest

import fiftyone as fo

from fiftyone_videogem.benchmark_temporal import (
    NUM_SUBSETS,
    SEED,
    ZEAL_TABLE1,
    class_subsets,
    subset_map,
)
from fiftyone_videogem.cli import main
from fiftyone_videogem.temporal.metrics import temporal_ap
from tests.test_scorer import one_torch_thread  # noqa: F401 (autouse: tiny models on one thread)
from tests.videos import make_video

ANNOTATIONS = {  # 4 classes: subsets of 1 (25%) and 2 (50%) classes; videos of 30 s
    "GolfSwing_test.txt": "video_test_0000001 2.0 12.5\nvideo_test_0000002 14.0 26.0\n",
    "Diving_test.txt": "video_test_0000001 15.0 27.0\n",
    "HighJump_test.txt": "video_test_0000002 1.0 13.0\nvideo_test_0000003 12.0 29.0\n",
    "LongJump_test.txt": "video_test_0000003 0.0 10.5\nvideo_test_0000004 1.0 2.0\n",  # no video 4: reported
    "Ambiguous_test.txt": "video_test_0000001 13.0 13.5\n",
}


@pytest.fixture(scope="module")
def thumos(tmp_path_factory):
    root = tmp_path_factory.mktemp("thumos14")
    annotations = root / "annotation"
    annotations.mkdir()
    for file_name, text in ANNOTATIONS.items():
        (annotations / file_name).write_text(text)
    videos = root / "videos"
    videos.mkdir()
    for k, pattern in ((1, "bits"), (2, "gray"), (3, "square")):  # other pictures: no tie between videos' scores
        make_video(videos / f"video_test_000000{k}.mp4", num_frames=150, fps=5, pattern=pattern)
    return annotations, videos


@pytest.fixture
def name():
    dataset_name = f"test-thumos14-zeal-{uuid.uuid4().hex}"
    yield dataset_name
    if fo.dataset_exists(dataset_name):
        fo.delete_dataset(dataset_name)


def test_subsets_are_zeal_draws_and_deterministic():
    classes = [f"Class{i:02d}" for i in range(20)]
    quarter = class_subsets(classes, 0.25)
    half = class_subsets(list(reversed(classes)), 0.5)  # the input order does not matter
    assert len(quarter) == len(half) == NUM_SUBSETS
    assert all(len(s) == 5 and len(set(s)) == 5 for s in quarter)
    assert all(len(s) == 10 and len(set(s)) == 10 for s in half)
    assert class_subsets(classes, 0.25) == quarter
    assert class_subsets(classes, 0.25, seed=SEED + 1) != quarter
    # ZEAL's helpers/eval.py: np.random.seed(SEED), then np.random.choice per subset; a RandomState with that
    # seed draws the same numbers without touching numpy's global generator
    draws = np.random.RandomState(SEED)
    zeal = [draws.choice(np.arange(20), 5, replace=False) for _ in range(10)]
    assert quarter == [[classes[i] for i in draw] for draw in zeal]


def test_subset_map_averages_the_subsets_classes():
    aps = {"A": [1.0, 0.5], "B": [0.0, 0.5]}  # "C" has ground truth but was never predicted: AP 0
    assert subset_map(aps, [["A", "B"], ["A"], ["C"]], 2) == pytest.approx([(0.5 + 1 + 0) / 3, (0.5 + 0.5 + 0) / 3])


def test_the_command_runs_zeals_protocol(thumos, name, tmp_path, capsys):
    annotations, videos = thumos
    output = tmp_path / "results.json"
    args = ["benchmark", "--task", "temporal", "--dataset", "thumos14", "--method", "zeal",
            "--scorer", "random-idefics3", "--annotations", str(annotations), "--videos", str(videos),
            "--name", name, "--output", str(output), "--backbone", "test-vit-tiny", "--random-weights",
            "--device", "cpu", "--cache-dir", str(tmp_path / "cache"), "--top-k", "2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "mAP (%) at tIoU" in printed and "0.3" in printed and "0.7" in printed
    for row in ("zero-shot (class filter): all classes", "video-level labels known: 75/25", "50/50"):
        assert row in printed
    for method, *_ in ZEAL_TABLE1:
        assert f"ZEAL Table 1: {method}"[:52] in printed

    payload = json.loads(output.read_text())
    assert {"benchmark", "method", "scorer", "protocol", "results", "runs", "zeal_table1", "import_report"} <= set(payload)
    assert payload["import_report"]["missing_videos"] == ["video_test_0000004"]
    classes = ["Diving", "GolfSwing", "HighJump", "LongJump"]
    assert payload["protocol"]["classes"] == classes and payload["protocol"]["seed"] == 1111
    dataset = fo.load_dataset(name)
    for setting in ("zero_shot", "labels_known"):
        result = payload["results"][setting]
        assert result["iou_threshs"] == [0.3, 0.4, 0.5, 0.6, 0.7]
        assert result["map"] == pytest.approx(np.mean(result["map_per_threshold"]))
        splits = result["splits"]
        assert [len(s) for s in splits["75/25"]["subsets"]] == [1] * 10
        assert [len(s) for s in splits["50/50"]["subsets"]] == [2] * 10
        assert splits["75/25"]["subsets"] == class_subsets(classes, 0.25)
        for split in splits.values():
            expected = np.mean([[np.mean([result["classwise_ap"].get(c, [0.0] * 5)[t] for c in subset])
                                 for t in range(5)] for subset in split["subsets"]], axis=0)
            np.testing.assert_allclose(split["map_per_threshold"], expected)

        # FiftyOne's ActivityNet mAP against the independent implementation, on the segments written
        field = payload["runs"][setting]["label_field"]
        preds, gts = [], []
        for sid, pred, gt in zip(*dataset.values(["id", field, "gt_instances"])):
            preds += [(sid, d.label, *d.support, d.confidence) for d in (pred.detections if pred else [])]
            gts += [(sid, d.label, *d.support) for d in gt.detections]
        assert preds
        reference = temporal_ap(preds, gts)
        np.testing.assert_allclose(result["map_per_threshold"], reference.map_per_threshold, atol=1e-9)

    assert any(max(payload["results"][s]["map_per_threshold"]) > 0 for s in ("zero_shot", "labels_known"))
    known = payload["runs"]["labels_known"]
    zero_shot = payload["runs"]["zero_shot"]
    assert zero_shot["classes_filtered"] == 3 * (4 - 2)  # 3 videos, 4 classes, top 2 kept
    assert known["classes_filtered"] == 0 and known["classes_skipped"] == 0
    pools = dataset.values("actions")
    labels = dataset.values(f"{known['label_field']}.detections.label")
    assert all(set(found) <= set(pool) for found, pool in zip(labels, pools))

    capsys.readouterr()
    assert main(args) == 0  # a rerun: the localisation is up to date, nothing is scored again
    again = json.loads(output.read_text())
    assert all(again["runs"][s]["questions_scored"] == 0 for s in ("zero_shot", "labels_known"))
    assert again["results"] == payload["results"]


def test_thumos14_needs_the_temporal_task_and_a_scorer(thumos, tmp_path, capsys):
    annotations, videos = thumos
    common = ["benchmark", "--dataset", "thumos14", "--annotations", str(annotations), "--videos", str(videos),
              "--output", str(tmp_path / "r.json")]
    assert main(common) == 1
    assert "--task temporal" in capsys.readouterr().err
    assert main(common + ["--task", "temporal"]) == 1
    assert "--scorer" in capsys.readouterr().err
