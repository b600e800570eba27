"""GroundingYouTube's temporal ground truth: step segments, pools and background seconds.

On the published box file shipped in ``tests/data`` (video ``tMBdem-e9Fk`` has 25 boxed seconds whose
runs are worked out by hand below) and on small files in the authors' ``ground_seg.json`` /
``vid2step.json`` formats, with a generated stand-in video at 2 fps (second ``s`` is frame ``2 s + 1``).
"""

import json
import shutil
import uuid

import pytest

import fiftyone as fo

import fiftyone_videogem as fvg
import fiftyone_videogem.datasets as fvgd
from fiftyone_videogem.datasets.groundingyoutube import (
    background_runs,
    read_boxes,
    read_ground_segments,
    read_step_pools,
    step_runs,
)
from tests.shared_data import GYT_DIR
from tests.videos import make_video

VIDEO = "tMBdem-e9Fk"
# its boxed seconds: 2 add butter; 4-6 tilt pan; 9-12 crack eggs; 17-20 add eggs; 28 remove cover;
# 31-32 slide egg; 36-41 fry egg; 42-43 flip egg; 48 and 50 serve egg
RUNS = [("add butter", 2, 2), ("tilt pan", 4, 6), ("crack eggs", 9, 12), ("add eggs", 17, 20),
        ("remove cover", 28, 28), ("slide egg", 31, 32), ("fry egg", 36, 41), ("flip egg", 42, 43),
        ("serve egg", 48, 48), ("serve egg", 50, 50)]


def frames(first, last):
    return [2 * first + 1, 2 * last + 1]  # 2 fps


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gyt_temporal")
    make_video(folder / f"{VIDEO}.mp4", num_frames=104, size=(64, 48), fps=2)  # 52 s
    return folder


@pytest.fixture
def names():
    created = []
    yield created
    for name in created:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def load(names, annotations, videos, **kwargs):
    name = f"test-gyt-temporal-{uuid.uuid4().hex[:8]}"
    names.append(name)
    return fvgd.load_groundingyoutube(annotations, videos, name=name, video_ids=[VIDEO], persistent=False, **kwargs)


def test_runs_of_seconds_by_hand():
    assert step_runs(read_boxes(GYT_DIR / "GoundingYouTubeBox.json")[VIDEO]) == RUNS
    assert step_runs([(2, None, "a"), (3, None, "a"), (5, None, "a"), (4, None, "b")]) == [
        ("a", 2, 3), ("b", 4, 4), ("a", 5, 5)]
    assert background_runs(RUNS, 52) == [(0, 1), (3, 3), (7, 8), (13, 16), (21, 27), (29, 30), (33, 35),
                                         (44, 47), (49, 49), (51, 51)]
    assert background_runs([], 3) == [(0, 2)] and background_runs([("a", 0, 2)], 3) == []


def test_the_published_file_has_5205_runs():
    boxes = read_boxes(GYT_DIR / "GoundingYouTubeBox.json")
    assert sum(len(step_runs(rows)) for rows in boxes.values()) == 5205  # TEMPORAL.md section 4
    assert read_boxes(GYT_DIR / "box_anno.json").keys() == boxes.keys()


def test_import_writes_segments_pool_and_background(names, video_dir):
    dataset = load(names, GYT_DIR, video_dir)
    sample = dataset.first()
    assert [(d.label, d.support) for d in sample["segments"].detections] == [
        (label, frames(a, b)) for label, a, b in RUNS]
    assert sample["pool"] == ["add butter", "tilt pan", "crack eggs", "add eggs", "remove cover", "slide egg",
                              "fry egg", "flip egg", "serve egg"]
    assert [d.support for d in sample["background"].detections] == [
        frames(0, 1), frames(3, 3), frames(7, 8), frames(13, 16), frames(21, 27), frames(29, 30),
        frames(33, 35), frames(44, 47), frames(49, 49), frames(51, 51)]
    assert {d.label for d in sample["background"].detections} == {"background"}
    report = dataset.info["import_report"]
    assert report["details"]["segments"] == 10 and report["details"]["segments_from"] == "boxes"
    # every boxed frame lies inside a segment of its step, and no segment frame is background
    for number, frame in sample.frames.items():
        step = frame["gt"].detections[0].label
        assert any(d.label == step and d.support[0] <= number <= d.support[1] for d in sample["segments"].detections)
        assert not any(d.support[0] <= number <= d.support[1] for d in sample["background"].detections)


def test_segments_are_scored_as_perfect_when_predicted_as_they_are(names, video_dir):
    dataset = load(names, GYT_DIR, video_dir)
    sample = dataset.first()
    sample["found"] = fo.TemporalDetections(detections=[
        fo.TemporalDetection(label=d.label, support=d.support, confidence=1.0) for d in sample["segments"].detections])
    sample.save()
    result = fvg.evaluate_temporal(dataset, "found", "segments", iou_threshs=(0.1, 0.5))
    assert result.map_per_threshold == (1.0, 1.0)


def test_the_authors_segment_and_pool_files(names, video_dir, tmp_path):
    for name in ("GoundingYouTubeBox.json", "id2wh.json"):
        shutil.copy(GYT_DIR / name, tmp_path / name)
    (tmp_path / "ground_seg.json").write_text(json.dumps({
        VIDEO: [{"segment": [4, 7], "id": 1, "sentence": "tilt_pan"},
                {"segment": [2, 3], "id": 0, "sentence": "add butter"},
                {"segment": [9], "id": 2, "sentence": "broken"}],
        "other": "not a list",
    }))
    (tmp_path / "vid2step.json").write_text(json.dumps({VIDEO: ["tilt pan", "add  butter", "fry egg", "background"]}))
    assert read_ground_segments(tmp_path / "ground_seg.json")[VIDEO] == [("add butter", 2, 3), ("tilt pan", 4, 7)]
    assert read_step_pools(tmp_path / "vid2step.json") == {VIDEO: ["tilt pan", "add butter", "fry egg"]}

    dataset = load(names, tmp_path, video_dir)  # found beside the box file
    sample = dataset.first()
    assert [(d.label, d.support) for d in sample["segments"].detections] == [
        ("add butter", frames(2, 3)), ("tilt pan", frames(4, 7))]
    assert sample["pool"] == ["tilt pan", "add butter", "fry egg"]
    assert [d.support for d in sample["background"].detections] == [frames(0, 1), frames(8, 51)]
    report = dataset.info["import_report"]
    assert report["details"]["segments_from"] == "ground_seg.json" and report["details"]["pools_from"] == "vid2step.json"
    assert len(report["malformed_entries"]) == 2  # the one-number segment, the non-list video

    # passed explicitly from elsewhere, and left out on request
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(tmp_path / "ground_seg.json", elsewhere / "ground_seg.json")
    dataset = load(names, tmp_path, video_dir, ground_seg=elsewhere / "ground_seg.json", pool_field=None,
                   background_field=None)
    assert len(dataset.first()["segments"].detections) == 2
    assert not dataset.has_field("pool") and not dataset.has_field("background")
    with pytest.raises(FileNotFoundError, match="ground_seg.json"):
        load(names, tmp_path, video_dir, ground_seg=tmp_path / "nope.json")


def test_second_offset_moves_segments_and_background(names, video_dir):
    dataset = load(names, GYT_DIR, video_dir, second_offset=-1.0, segments_field="steps")
    sample = dataset.first()
    assert sample["steps"].detections[0].support == frames(1, 1)  # add butter at second 2 - 1
    assert sample["background"].detections[0].support == frames(0, 0)  # seconds 1..2 - 1
    assert sample["background"].detections[-1].support == frames(50, 51)  # second 52 - 1 = 51 is the last


def test_colliding_field_names_are_refused(names, video_dir):
    with pytest.raises(ValueError, match="collides"):
        load(names, GYT_DIR, video_dir, pool_field="actions")
    with pytest.raises(ValueError, match="different names"):
        load(names, GYT_DIR, video_dir, pool_field="x", background_field="x")
    with pytest.raises(ValueError, match="sample field name"):
        load(names, GYT_DIR, video_dir, segments_field="frames.segments")
