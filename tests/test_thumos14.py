"""THUMOS14 importer on annotation files written in the official format and small generated videos."""

from __future__ import annotations

import uuid

import fiftyone as fo
import pytest

import fiftyone_videogem.datasets as fvgd
from fiftyone_videogem.datasets.thumos14 import find_annotation_files, read_annotations
from tests.videos import make_corrupt_video, make_truncated_video, make_video

# video_test_0000001: 10 fps, 40 frames (4 s); video_test_0000002: 25 fps, 50 frames (2 s);
# video_test_0000005: variable frame rate, frames appear at VFR_TIMES
VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0, 1.5, 2.0, 2.5, 3.0]
ANNOTATIONS = {
    "GolfSwing_test.txt": (
        "video_test_0000001  0.5  1.25\n"
        "video_test_0000001\t2.0\t2.35 \n"
        "video_test_0000002 1.5 2.6\n"  # ends after the video: clipped to its last frame
        "\n"
        "video_test_0000003 0.0 1.0\n"  # no video file
        "video_test_0000005 1.2 2.6\n"  # frames 6 (shown from 1.0 s) to 9 (from 2.5 s)
        "video_test_0000006 0.0 1.0\n"  # a damaged file
    ),
    "Diving_test.txt": (
        "video_test_0000001 0.1 0.2\n"
        "video_test_0000002 -0.3 0.5\n"  # a negative start is the first frame
        "video_test_0000002 5.0 6.0\n"  # after the video's end: dropped
        "video_test_0000004 0.0 1.0\n"  # unreadable file
        "video_test_0000001 0.9\n"  # malformed: no end
        "video_test_0000001 2.0 1.0\n"  # malformed: end before start
    ),
    "Ambiguous_test.txt": "video_test_0000001 3.0 3.5\nvideo_test_0000002 0.0 0.4\n",
    "GolfSwing_val.txt": "video_validation_0000001 0.0 1.0\n",
    "detclasslist.txt": "7 GolfSwing\n",
}


@pytest.fixture(scope="module")
def thumos(tmp_path_factory):
    root = tmp_path_factory.mktemp("thumos14")
    annotations = root / "TH14_Temporal_annotations_test" / "annotation"
    annotations.mkdir(parents=True)
    for file_name, text in ANNOTATIONS.items():
        (annotations / file_name).write_text(text)
    videos = root / "videos"
    (videos / "sub").mkdir(parents=True)
    make_video(videos / "video_test_0000001.mp4", num_frames=40, fps=10)
    make_video(videos / "sub" / "video_test_0000002.mp4", num_frames=50, fps=25)
    make_corrupt_video(videos / "video_test_0000004.mp4")
    make_video(videos / "video_test_0000005.mkv", num_frames=len(VFR_TIMES), times=VFR_TIMES)
    make_truncated_video(videos / "video_test_0000006.mp4")
    return root, videos


@pytest.fixture
def name():
    dataset_name = f"test-thumos14-{uuid.uuid4().hex}"
    yield dataset_name
    if fo.dataset_exists(dataset_name):
        fo.delete_dataset(dataset_name)


def instances(sample, field="gt_instances"):
    return [(d.label, list(d.support)) for d in sample[field].detections]


def test_reading_the_files(thumos):
    root, _ = thumos
    files = find_annotation_files(root)
    assert sorted(files) == ["Ambiguous", "Diving", "GolfSwing"]
    read = read_annotations(root / "TH14_Temporal_annotations_test" / "annotation")
    assert read.ambiguous == 2
    assert len(read.instances) == 10
    assert read.malformed == 2
    assert sorted(find_annotation_files(root, split="val")) == ["GolfSwing"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_annotation_files(root / "nowhere")
    with pytest.raises(ValueError, match="split"):
        find_annotation_files(root, split="train")


def test_import(thumos, name):
    root, videos = thumos
    dataset = fvgd.load_thumos14(root, videos, name=name)
    assert dataset.persistent and dataset.media_type == "video"
    assert dataset.count() == 3
    assert dataset.info["import_status"] == "complete"
    report = fvgd.get_import_report(dataset)
    assert report.benchmark == "thumos14"
    assert report.missing_videos == ["video_test_0000003"]
    assert list(report.unreadable_videos) == ["video_test_0000004"]
    assert list(report.damaged_videos) == ["video_test_0000006"]
    assert report.variable_frame_rate_videos == ["video_test_0000005"]
    assert report.videos_annotated == 6 and report.videos_imported == 3
    assert report.annotations_unusable == 2 and report.annotations_past_end == 1
    assert len(report.malformed_entries) == 2
    assert all("Diving_test.txt: line " in entry for entry in report.malformed_entries)
    assert report.past_end == {"video_test_0000002": {"times": [5.0], "duration": 2.0}}
    assert report.details["ambiguous_skipped"] == 2
    assert report.details["instances_read"] == 10
    assert report.details["instances_imported"] == 6 and report.details["instances_clipped"] == 1
    assert dataset.classes["gt_instances"] == ["Diving", "GolfSwing"]

    first = dataset.match(fo.ViewField("video_id") == "video_test_0000001").first()
    # 10 fps: frame n is on screen during [(n-1)/10, n/10)
    assert instances(first) == [("Diving", [2, 3]), ("GolfSwing", [6, 13]), ("GolfSwing", [21, 24])]
    assert first.actions == ["Diving", "GolfSwing"] and first.action == "GolfSwing"
    assert first.prompt_parser == "camel_case" and first.tags == ["thumos14"]
    assert first.metadata.frame_rate == 10 and first.metadata.total_frame_count == 40
    golf = first.gt_instances.detections[1]
    assert (golf.start_time, golf.end_time, golf.clipped) == (0.5, 1.25, False)

    second = dataset.match(fo.ViewField("video_id") == "video_test_0000002").first()
    # 25 fps, 50 frames: [-0.3, 0.5] -> frames 1..13; [1.5, 2.6] -> 38..50 (clipped)
    assert instances(second) == [("Diving", [1, 13]), ("GolfSwing", [38, 50])]
    assert second.gt_instances.detections[1].clipped is True
    assert second.actions == ["Diving", "GolfSwing"]

    variable = dataset.match(fo.ViewField("video_id") == "video_test_0000005").first()
    assert instances(variable) == [("GolfSwing", [6, 9])]  # by the frames' timestamps, not the mean rate


def test_reuse_overwrite_and_filters(thumos, name):
    root, videos = thumos
    dataset = fvgd.load_thumos14(root, videos, name=name, classes=["GolfSwing", "HighJump"])
    assert dataset.distinct("gt_instances.detections.label") == ["GolfSwing"]
    assert any("HighJump" in note for note in fvgd.get_import_report(dataset).notes)
    again = fvgd.load_thumos14(root, videos, name=name)  # reused as it is
    assert again.distinct("gt_instances.detections.label") == ["GolfSwing"]
    only = fvgd.load_thumos14(root, videos, name=name, overwrite=True, video_ids=["video_test_0000002.mp4"])
    assert only.distinct("video_id") == ["video_test_0000002"]
    assert instances(only.first()) == [("Diving", [1, 13]), ("GolfSwing", [38, 50])]


def test_no_videos_is_an_empty_dataset_with_a_note(thumos, tmp_path, name):
    root, _ = thumos
    dataset = fvgd.load_thumos14(root, tmp_path, name=name)
    assert dataset.count() == 0 and dataset.media_type == "video"
    report = fvgd.get_import_report(dataset)
    assert len(report.missing_videos) == 6
    assert any("no video was imported" in note for note in report.notes)
