"""Tests for the benchmark importers in fiftyone_videogem.datasets.

GroundingYouTube and YouCook2-Interactions are imported from their real
annotation files (restricted to a few videos) with generated stand-in videos
of the right length and aspect ratio; DALY and V-HICO from small files written
here in their formats. The GroundingYouTube files are the complete published
ones; the YouCook2-Interactions files are the excerpt in ``tests/data`` unless
``$VIDEOGEM_SHARED_DATASETS`` points at the complete ones (tests/shared_data.py).
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import uuid
from pathlib import Path

import fiftyone as fo
import numpy as np
import pytest

import fiftyone_videogem.datasets as fvgd
from fiftyone_videogem.datasets.common import ImportReport, enclosing_box, index_videos, normalize_box
from fiftyone_videogem.datasets.groundingyoutube import read_boxes as read_gyt_boxes
from fiftyone_videogem.datasets.groundingyoutube import read_sizes as read_gyt_sizes
from fiftyone_videogem.datasets.vhico import read_annotations
from fiftyone_videogem.datasets.youcook2 import Segment, choose_segment
from tests.shared_data import GYT_DIR, YOUCOOK_DIR, YOUCOOK_EXCERPT_DIR, YOUCOOK_FACTS, YOUCOOK_FILES
from tests.videos import frame_number_of, make_corrupt_video, make_video


def _name(prefix: str) -> str:
    return f"test-{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup():
    """Collects dataset names and deletes those datasets after the test."""
    names: list[str] = []
    yield names
    for name in names:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _boxes_by_frame(sample, field="gt"):
    return {fn: frame[field].detections for fn, frame in sample.frames.items() if frame[field] is not None}


# ---------------------------------------------------------------- box and time helpers


def test_normalize_box_known_values():
    result = normalize_box([10, 20, 110, 70], (200, 100))
    assert result.bounding_box == pytest.approx([0.05, 0.2, 0.5, 0.5])
    assert result.clipped is False

    # reaches past the left and right edges: clipped to the frame
    result = normalize_box([-10, 20, 250, 70], (200, 100))
    assert result.clipped is True
    assert result.bounding_box == pytest.approx([0.0, 0.2, 1.0, 0.5])

    # a box from GroundingYouTube with x2 < x1 (video -q5MfvBP9RE, 854x476): degenerate, dropped
    result = normalize_box([482, 229, 480, 461], (854, 476))
    assert result.bounding_box is None

    # entirely below the frame (tMBdem-e9Fk second 20, 360x360): clipped and then empty
    result = normalize_box([253, 368, 480, 580], (360, 360))
    assert result.clipped is True
    assert result.bounding_box is None

    # already normalised boxes
    result = normalize_box([0.1, 0.2, 0.4, 0.8], (1, 1))
    assert result.bounding_box == pytest.approx([0.1, 0.2, 0.3, 0.6])


def test_enclosing_box():
    assert enclosing_box([[10, 20, 30, 40], [5, 25, 50, 35]]) == [5, 20, 50, 40]
    with pytest.raises(ValueError):
        enclosing_box([])


def test_index_videos_searches_recursively_and_prefers_mp4(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "vid1.webm").write_bytes(b"x")
    (tmp_path / "vid1.mkv").write_bytes(b"x")
    (tmp_path / "a" / "vid1.mp4").write_bytes(b"x")
    (tmp_path / "a" / "b" / "-dash_id.AVI").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a video")
    index = index_videos(tmp_path)
    assert set(index) == {"vid1", "-dash_id"}
    assert index["vid1"].endswith(os.path.join("a", "vid1.mp4"))
    with pytest.raises(NotADirectoryError):
        index_videos(tmp_path / "nope")


def test_choose_segment_rules():
    segments = [Segment(185, 280, "fry it"), Segment(280, 286, "serve it"), Segment(300, 310, "eat it")]
    assert choose_segment(segments, 200)[0].sentence == "fry it"
    # on a shared boundary the segment whose centre is nearer wins ...
    assert choose_segment(segments, 280)[0].sentence == "serve it"
    # ... unless the other one is a segment that carries boxes
    assert choose_segment(segments, 280, preferred={(185.0, 280.0)})[0].sentence == "fry it"
    segment, outside = choose_segment(segments, 290, tolerance=5)
    assert (segment.sentence, outside) == ("serve it", True)
    assert choose_segment(segments, 350, tolerance=10) == (None, True)
    assert choose_segment(segments, 350, tolerance=None)[0].sentence == "eat it"


def test_report_round_trip():
    report = ImportReport(benchmark="x", dataset_name="y", annotations=["a"], videos_dir="v", boxes_clipped=3)
    again = ImportReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


# ---------------------------------------------------------------- GroundingYouTube


GYT_VIDEOS = {
    # id: (file name, size of the stand-in, frames at 2 fps)
    "tMBdem-e9Fk": ("tMBdem-e9Fk.mp4", (360, 360), 104),  # 360x360, boxes up to second 50, many clipped
    "qyL_cYxV6QA": ("nested/qyL_cYxV6QA.mkv", (192, 108), 110),  # annotated at 1920x1080, downloaded smaller
    "xG9G-qHNbtY": ("xG9G-qHNbtY.webm", (48, 36), 25),  # 12.5 s: the box at second 13 is past the end
}
GYT_MISSING = "_8BJZetE9rg"


@pytest.fixture(scope="module")
def gyt_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("gyt_videos")
    for filename, size, num_frames in GYT_VIDEOS.values():
        path = root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        codec = "libvpx" if filename.endswith(".webm") else "libx264"
        make_video(path, num_frames=num_frames, size=size, fps=2, codec=codec)
    return root


@pytest.fixture(scope="module")
def gyt_annotations():
    with open(GYT_DIR / "GoundingYouTubeBox.json") as f:
        boxes = json.load(f)
    with open(GYT_DIR / "id2wh.json") as f:
        sizes = json.load(f)
    return boxes, sizes


def test_groundingyoutube_real_annotations(gyt_videos, gyt_annotations, cleanup):
    boxes, sizes = gyt_annotations
    name = _name("gyt")
    cleanup.append(name)
    ids = list(GYT_VIDEOS) + [GYT_MISSING]
    dataset = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=ids)

    assert dataset.persistent is True
    assert dataset.media_type == "video"
    assert len(dataset) == 3
    assert sorted(dataset.distinct("video_id")) == sorted(GYT_VIDEOS)
    assert dataset.count_sample_tags() == {"groundingyoutube": 3}
    assert set(dataset.distinct("prompt_parser")) == {"verb_object"}

    # expected counts, computed straight from the JSON
    expected_clipped = expected_dropped = expected_imported = expected_past = 0
    durations = {vid: n / 2 for vid, (_, _, n) in GYT_VIDEOS.items()}
    for vid in GYT_VIDEOS:
        width, height = sizes[vid]
        for second, entry in boxes[vid].items():
            if int(second) >= durations[vid]:
                expected_past += 1
                continue
            x1, y1, x2, y2 = entry["box"]
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                expected_clipped += 1
            if min(x2, width) <= max(x1, 0) or min(y2, height) <= max(y1, 0):
                expected_dropped += 1
            else:
                expected_imported += 1
    assert expected_dropped >= 1 and expected_past >= 1 and expected_clipped >= 10

    report = dataset.info["import_report"]
    assert report["missing_videos"] == [GYT_MISSING]
    assert report["unreadable_videos"] == {}
    assert report["videos_annotated"] == 4
    assert report["videos_imported"] == 3
    assert report["boxes_clipped"] == expected_clipped
    assert report["boxes_dropped"] == expected_dropped
    assert report["annotations_past_end"] == expected_past
    assert report["past_end"]["xG9G-qHNbtY"]["times"] == [13.0]
    assert report["boxes_imported"] == expected_imported
    assert report["boxes_read"] == expected_imported + expected_dropped + expected_past
    assert report["size_mismatches"] == {}
    assert report["settings"]["second_offset"] == 0.0
    assert dataset.count("frames.gt.detections") == expected_imported

    for sample in dataset:
        vid = sample.video_id
        width, height = sizes[vid]
        assert sample.metadata.frame_rate == pytest.approx(2.0)
        assert sample.metadata.total_frame_count == GYT_VIDEOS[vid][2]
        frames = _boxes_by_frame(sample)
        steps = []
        for second, entry in sorted(boxes[vid].items(), key=lambda kv: int(kv[0])):
            second = int(second)
            frame_number = 2 * second + 1  # the frame on screen at `second` s at 2 fps
            x1, y1, x2, y2 = entry["box"]
            empty = min(x2, width) <= max(x1, 0) or min(y2, height) <= max(y1, 0)
            if second >= durations[vid] or empty:
                assert frame_number not in frames
                continue
            steps.append(entry["step"])
            (det,) = frames[frame_number]
            assert det.label == entry["step"]
            frame = sample.frames[frame_number]
            assert frame["action"] == entry["step"]
            assert frame["second"] == second
            # normalised by the annotated size (id2wh), not by the file's size
            cx1, cy1 = max(x1, 0) / width, max(y1, 0) / height
            cx2, cy2 = min(x2, width) / width, min(y2, height) / height
            assert det.bounding_box == pytest.approx([cx1, cy1, cx2 - cx1, cy2 - cy1])
        assert sample.actions == list(dict.fromkeys(steps))
        counts = {s: steps.count(s) for s in steps}
        assert counts[sample.action] == max(counts.values())

    # the downscaled 1920x1080 video: its first box, divided by 1920x1080
    sample = dataset.match(fo.ViewField("video_id") == "qyL_cYxV6QA").first()
    first_second = min(int(s) for s in boxes["qyL_cYxV6QA"])
    x1, y1, x2, y2 = boxes["qyL_cYxV6QA"][str(first_second)]["box"]
    det = sample.frames[2 * first_second + 1]["gt"].detections[0]
    assert det.bounding_box == pytest.approx([x1 / 1920, y1 / 1080, (x2 - x1) / 1920, (y2 - y1) / 1080])
    assert sample.filepath.endswith("qyL_cYxV6QA.mkv")

    # the detection attribute `clipped` is declared for filtering in the App
    assert dataset.get_field("frames.gt.detections.clipped") is not None
    assert dataset.count_values("frames.gt.detections.clipped")[True] == expected_clipped - expected_dropped


def test_groundingyoutube_whole_file_box_statistics(gyt_annotations):
    # the published files: 17,316 boxes, 1,771 past the frame or degenerate, 114 of them empty after clipping
    boxes = read_gyt_boxes(GYT_DIR / "GoundingYouTubeBox.json")
    assert boxes == read_gyt_boxes(GYT_DIR / "box_anno.json")
    sizes = read_gyt_sizes(GYT_DIR / "id2wh.json")
    results = [normalize_box(box, sizes[vid]) for vid, rows in boxes.items() for _, box, _ in rows]
    assert len(results) == 17316
    assert sum(r.clipped or r.bounding_box is None for r in results) == 1771
    assert sum(r.bounding_box is None for r in results) == 114
    kept = [r.bounding_box for r in results if r.bounding_box is not None]
    assert all(0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9 for x, y, w, h in kept)


def test_empty_import_is_redone_once_videos_exist(gyt_videos, tmp_path, cleanup):
    name = _name("gyt-empty")
    cleanup.append(name)
    empty = fvgd.load_groundingyoutube(GYT_DIR, tmp_path, name=name, video_ids=["tMBdem-e9Fk"], persistent=False)
    assert len(empty) == 0
    assert empty.media_type == "video"
    assert empty.info["import_report"]["missing_videos"] == ["tMBdem-e9Fk"]
    # same name, overwrite=False: an empty dataset is not reused
    full = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=["tMBdem-e9Fk"], persistent=False)
    assert len(full) == 1
    assert full.info["import_report"]["missing_videos"] == []


def test_groundingyoutube_reuse_overwrite_and_offset(gyt_videos, cleanup):
    name = _name("gyt-reuse")
    cleanup.append(name)
    first = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=["tMBdem-e9Fk"], persistent=False)
    first.info["marker"] = "kept"
    first.save()
    frames_at_zero = sorted(first.first().frames.keys())

    # same name, overwrite=False: the existing dataset comes back untouched, whatever the options
    again = fvgd.load_groundingyoutube(
        GYT_DIR, gyt_videos, name=name, video_ids=["tMBdem-e9Fk"], second_offset=-1.0, persistent=False
    )
    assert again.info.get("marker") == "kept"
    assert sorted(again.first().frames.keys()) == frames_at_zero

    # overwrite=True re-imports; second_offset=-1 moves every box one second (2 frames) earlier
    shifted = fvgd.load_groundingyoutube(
        GYT_DIR, gyt_videos, name=name, video_ids=["tMBdem-e9Fk"], second_offset=-1.0, overwrite=True,
        persistent=False,
    )
    assert "marker" not in shifted.info
    assert shifted.info["import_report"]["settings"]["second_offset"] == -1.0
    assert sorted(shifted.first().frames.keys()) == [fn - 2 for fn in frames_at_zero]
    frame = shifted.first().frames[frames_at_zero[0] - 2]
    assert frame["second"] == (frames_at_zero[0] - 1) // 2


def test_groundingyoutube_max_videos_and_gt_field(gyt_videos, cleanup):
    name = _name("gyt-max")
    cleanup.append(name)
    ids = [GYT_MISSING, "xG9G-qHNbtY", "tMBdem-e9Fk"]
    dataset = fvgd.load_groundingyoutube(
        GYT_DIR, gyt_videos, name=name, video_ids=ids, max_videos=1, gt_field="ground_truth", persistent=False
    )
    assert len(dataset) == 1
    assert dataset.has_frame_field("ground_truth") and not dataset.has_frame_field("gt")
    report = dataset.info["import_report"]
    assert report["missing_videos"] == [GYT_MISSING]
    assert report["videos_imported"] == 1


# ---------------------------------------------------------------- YouCook2-Interactions


YOUCOOK_VIDEOS = {
    # id: (file name, size, fps, frames)
    "m3kFrdCHitg": ("m3kFrdCHitg.mp4", (64, 36), 2, 60),  # boxes on the 640x360 grid, sentences from the CSV
    "1vJp-jaIaeE": ("sub/1vJp-jaIaeE.mp4", (1280, 720), 1, 27),  # boxes at its own 1280x720, not in the CSV
}
YOUCOOK_CORRUPT = "gXINt_KMK3M"
YOUCOOK_MISSING = "YX6v3tY7OPg"


@pytest.fixture(scope="module")
def youcook_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("youcook_videos")
    for filename, size, fps, num_frames in YOUCOOK_VIDEOS.values():
        path = root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        make_video(path, num_frames=num_frames, size=size, fps=fps)
    make_corrupt_video(root / f"{YOUCOOK_CORRUPT}.mp4")
    return root


@pytest.fixture(scope="module")
def youcook_annotations():
    with open(YOUCOOK_DIR / "final_dataset_annotations.pkl", "rb") as f:
        boxes = pickle.load(f)
    rows = list(csv.DictReader(open(YOUCOOK_DIR / "validation_youcook.csv", newline="")))
    with open(YOUCOOK_DIR / "youcookii_annotations_trainval.json") as f:
        official = json.load(f)["database"]
    return boxes, rows, official


def test_youcook2_interactions_real_annotations(youcook_videos, youcook_annotations, cleanup):
    boxes, rows, official = youcook_annotations
    name = _name("youcook")
    cleanup.append(name)
    ids = list(YOUCOOK_VIDEOS) + [YOUCOOK_CORRUPT, YOUCOOK_MISSING]
    dataset = fvgd.load_youcook2_interactions(YOUCOOK_DIR, youcook_videos, name=name, video_ids=ids, persistent=False)

    assert len(dataset) == 2
    assert dataset.count_sample_tags() == {"youcook2_interactions": 2}
    assert set(dataset.distinct("prompt_parser")) == {"sentence"}
    report = dataset.info["import_report"]
    assert report["missing_videos"] == [YOUCOOK_MISSING]
    assert list(report["unreadable_videos"]) == [YOUCOOK_CORRUPT]
    assert YOUCOOK_CORRUPT in report["unreadable_videos"][YOUCOOK_CORRUPT]
    assert report["details"]["native_resolution_videos"] == ["1vJp-jaIaeE"]
    assert report["details"]["sentences_from_youcook2_json"] == ["1vJp-jaIaeE"]
    expected_boxes = sum(len(boxes[v]) for v in YOUCOOK_VIDEOS)
    assert report["boxes_read"] == expected_boxes
    assert report["boxes_imported"] == expected_boxes

    csv_segments = [(float(r["start"]), float(r["end"]), r["text"]) for r in rows if r["video_id"] == "m3kFrdCHitg"]
    sample = dataset.match(fo.ViewField("video_id") == "m3kFrdCHitg").first()
    assert sample.metadata.frame_width == 64
    frames = _boxes_by_frame(sample)
    assert len(frames) == len(boxes["m3kFrdCHitg"])
    for index, (x1, y1, x2, y2) in boxes["m3kFrdCHitg"].items():
        time = index - 1
        frame_number = 2 * time + 1  # index i is at i - 1 seconds; 2 fps
        (det,) = frames[frame_number]
        # boxes are on the 640x360 grid whatever the file's size
        assert det.bounding_box == pytest.approx([x1 / 640, y1 / 360, (x2 - x1) / 640, (y2 - y1) / 360])
        containing = [text for start, end, text in csv_segments if start <= time <= end]
        if containing:
            assert det.label == containing[0]
        frame = sample.frames[frame_number]
        assert frame["action"] == det.label
        assert frame["frame_index"] == index
        assert frame["segment_start"] <= time + 10 and frame["segment_end"] >= time - 10
    assert sample.action in {text for _, _, text in csv_segments}

    sample = dataset.match(fo.ViewField("video_id") == "1vJp-jaIaeE").first()
    sentences = {a["sentence"] for a in official["1vJp-jaIaeE"]["annotations"]}
    frames = _boxes_by_frame(sample)
    for index, (x1, y1, x2, y2) in boxes["1vJp-jaIaeE"].items():
        (det,) = frames[index]  # 1 fps: time index - 1 is frame index
        assert det.label in sentences
        # normalised by the video's own 1280x720, clipped to it
        cx2, cy2 = min(x2, 1280) / 1280, min(y2, 720) / 720
        assert det.bounding_box == pytest.approx([x1 / 1280, y1 / 720, cx2 - x1 / 1280, cy2 - y1 / 720])
    assert set(sample.actions) <= sentences


@pytest.mark.parametrize("file_set", [YOUCOOK_FILES])
def test_youcook2_whole_file_reading(file_set):
    from fiftyone_videogem.datasets.youcook2 import (
        boxes_exceed,
        read_box_segments,
        read_boxes,
        read_sentences_csv,
        read_youcook2_json,
    )

    # the test id names the file set: the published files or the excerpt shipped in tests/data
    facts = YOUCOOK_FACTS
    boxes = read_boxes(YOUCOOK_DIR / "final_dataset_annotations.pkl")
    assert len(boxes) == facts["videos"]
    assert sum(len(v) for v in boxes.values()) == facts["boxes"]
    segments = read_box_segments(YOUCOOK_DIR / "final_dataset_segments.pkl")
    assert sum(len(v) for v in segments.values()) == facts["box_segments"]
    sentences = read_sentences_csv(YOUCOOK_DIR / "validation_youcook.csv")
    assert ("xHr8X2Wpmno" in sentences) and sentences["xHr8X2Wpmno"][0].sentence == "pick the ends off the verdalago"
    # with the CSV sentences (the official JSON for the videos the CSV lacks), some boxes lie 1-7 s outside
    # every segment and take the nearest one
    official = read_youcook2_json(YOUCOOK_DIR / "youcookii_annotations_trainval.json")
    outside = []
    for vid, frames in boxes.items():
        for index in frames:
            segment, out = choose_segment(sentences.get(vid) or official[vid], index - 1, segments.get(vid))
            assert segment is not None
            if out:
                outside.append(min(abs(index - 1 - segment.start), abs(index - 1 - segment.end)))
    assert len(outside) == facts["outside"] and max(outside) == facts["max_outside_distance"]
    # the videos whose boxes were drawn at their own resolution, not at 640x360
    native = sorted(v for v, b in boxes.items() if b and boxes_exceed(list(b.values()), (640, 360)))
    assert native == sorted(facts["native"])

    if file_set == "published":
        # the shipped excerpt is the published files restricted to its videos, in the same formats
        excerpt = read_boxes(YOUCOOK_EXCERPT_DIR / "final_dataset_annotations.pkl")
        assert excerpt == {v: boxes[v] for v in excerpt}
        assert read_box_segments(YOUCOOK_EXCERPT_DIR / "final_dataset_segments.pkl") == {
            v: segments[v] for v in excerpt if v in segments
        }
        excerpt_sentences = read_sentences_csv(YOUCOOK_EXCERPT_DIR / "validation_youcook.csv")
        assert excerpt_sentences == {v: sentences[v] for v in excerpt_sentences}
        excerpt_official = read_youcook2_json(YOUCOOK_EXCERPT_DIR / "youcookii_annotations_trainval.json")
        assert excerpt_official == {v: official[v] for v in excerpt_official}


def test_youcook2_box_size_override(youcook_videos, cleanup):
    name = _name("youcook-override")
    cleanup.append(name)
    dataset = fvgd.load_youcook2_interactions(
        YOUCOOK_DIR,
        youcook_videos,
        name=name,
        video_ids=["1vJp-jaIaeE"],
        box_size_overrides={"1vJp-jaIaeE": (2560, 1440)},
        persistent=False,
    )
    report = dataset.info["import_report"]
    assert report["details"]["native_resolution_videos"] == []
    assert report["boxes_clipped"] == 0
    with open(YOUCOOK_DIR / "final_dataset_annotations.pkl", "rb") as f:
        x1, y1, x2, y2 = pickle.load(f)["1vJp-jaIaeE"][8]
    det = dataset.first().frames[8]["gt"].detections[0]
    assert det.bounding_box == pytest.approx([x1 / 2560, y1 / 1440, (x2 - x1) / 2560, (y2 - y1) / 1440])


# ---------------------------------------------------------------- DALY


def _daly_pickle(path: Path) -> None:
    kf = lambda t, fn, box: {"time": t, "frameNumber": fn, "boundingBox": np.array([box]), "pose": None}
    daly = {
        "version": "daly1.1.0",
        "labels": ["Drinking", "Phoning", "TakingPhotosOrVideos"],
        "splits": {0: ["vidTest.mp4", "vidGone.mp4"]},
        "metadata": {"vidTest.mp4": {"fps": 25.0, "nbframes_ffmpeg": 250, "duration": 10.0}},
        "annot": {
            "vidTest.mp4": {
                "suggestedClass": "Phoning",
                "annot": {
                    "Phoning": [
                        {
                            "beginTime": 1.0,
                            "endTime": 4.0,
                            "flags": {"isOccluded": True, "isSmall": False},
                            "keyframes": [
                                kf(1.5, 37, [0.1, 0.2, 0.5, 0.9]),
                                kf(3.0, 75, [0.6, 0.1, 1.2, 0.7]),  # reaches past the right edge
                            ],
                        },
                        {
                            "beginTime": 6.0,
                            "endTime": 7.5,
                            # no time: placed by frameNumber through the metadata fps (25): 6.4 s
                            "keyframes": [{"frameNumber": 160, "boundingBox": np.array([[0.3, 0.3, 0.4, 0.6]])}],
                        },
                    ],
                    "TakingPhotosOrVideos": [
                        {
                            "beginTime": 5.0,
                            "endTime": 6.0,
                            "keyframes": [
                                kf(5.5, 137, [0.2, 0.2, 0.6, 0.6]),
                                {"time": 5.75},  # no box
                            ],
                        },
                        {"beginTime": 8.0, "endTime": 9.0},  # an instance without keyframes
                    ],
                },
            },
            "vidTrain.mp4": {
                "suggestedClass": "Drinking",
                "annot": {"Drinking": [{"beginTime": 0.5, "endTime": 1.0, "keyframes": [kf(0.7, 17, [0, 0, 1, 1])]}]},
            },
            "vidGone.mp4": {
                "suggestedClass": "Drinking",
                "annot": {"Drinking": [{"beginTime": 0.5, "endTime": 1.0, "keyframes": [kf(0.7, 17, [0, 0, 1, 1])]}]},
            },
        },
    }
    with open(path, "wb") as f:
        pickle.dump(daly, f, protocol=2)


@pytest.fixture(scope="module")
def daly_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("daly")
    _daly_pickle(root / "daly1.1.0.pkl")
    videos = root / "videos"
    videos.mkdir()
    make_video(videos / "vidTest.mp4", num_frames=40, size=(64, 48), fps=4)  # 10 s at 4 fps
    make_video(videos / "vidTrain.mp4", num_frames=8, size=(64, 48), fps=4)
    return root


def test_daly_test_split(daly_files, cleanup):
    name = _name("daly")
    cleanup.append(name)
    dataset = fvgd.load_daly(daly_files, daly_files / "videos", name=name, persistent=False)

    assert len(dataset) == 1
    sample = dataset.first()
    assert sample.video_id == "vidTest"
    assert sample.tags == ["daly"]
    assert sample.prompt_parser == "camel_case"
    assert sample.action == "Phoning"  # the suggested class
    assert sample.actions == ["Phoning", "TakingPhotosOrVideos"]

    report = dataset.info["import_report"]
    assert report["missing_videos"] == ["vidGone"]
    assert report["boxes_read"] == 4
    assert report["boxes_imported"] == 4
    assert report["boxes_clipped"] == 1
    assert report["annotations_unusable"] == 1
    assert report["details"]["keyframes_without_box"] == 1

    frames = _boxes_by_frame(sample)
    # real fps 4: 1.5 s -> frame 7, 3.0 s -> 13, 5.5 s -> 23, frameNumber 160 at 25 fps = 6.4 s -> 26
    assert sorted(frames) == [7, 13, 23, 26]
    assert frames[7][0].label == "Phoning"
    assert frames[7][0].bounding_box == pytest.approx([0.1, 0.2, 0.4, 0.7])
    assert frames[7][0]["isOccluded"] is True and frames[7][0]["isSmall"] is False
    assert frames[13][0].bounding_box == pytest.approx([0.6, 0.1, 0.4, 0.6])
    assert frames[13][0]["clipped"] is True
    assert frames[23][0].label == "TakingPhotosOrVideos"
    assert sample.frames[23]["action"] == "TakingPhotosOrVideos"
    assert sample.frames[7]["keyframe_time"] == 1.5

    instances = sample["gt_instances"].detections
    assert [(d.label, d.support) for d in instances] == [
        ("Phoning", [5, 17]),
        ("Phoning", [25, 31]),
        ("TakingPhotosOrVideos", [21, 25]),
        ("TakingPhotosOrVideos", [33, 37]),
    ]


def test_daly_all_splits_and_classes(daly_files, cleanup):
    name = _name("daly-all")
    cleanup.append(name)
    dataset = fvgd.load_daly(
        daly_files / "daly1.1.0.pkl", daly_files / "videos", name=name, split="all", classes=["Drinking"],
        persistent=False,
    )
    # vidTest has no Drinking instance; vidTrain does; vidGone has no file
    assert dataset.distinct("video_id") == ["vidTrain"]
    assert dataset.info["import_report"]["missing_videos"] == ["vidGone"]
    assert dataset.first().frames[3]["gt"].detections[0].bounding_box == pytest.approx([0, 0, 1, 1])
    with pytest.raises(ValueError, match="split"):
        fvgd.load_daly(daly_files, daly_files / "videos", name=_name("daly-bad"), split="val")


# ---------------------------------------------------------------- V-HICO


def test_vhico_nested_layout(tmp_path, cleanup):
    annotations = {
        "ride_bicycle/abc": {
            "label": "ride_bicycle",
            "width": 320,
            "height": 240,
            "frames": {
                "000005.jpg": {"human_box": [10, 20, 110, 200], "object_box": [60, 100, 200, 230]},
                "9": [
                    {
                        "human_bbox": [[0, 0, 50, 50], [100, 100, 150, 150]],
                        "objects": [{"name": "bicycle", "bbox": [40, 40, 120, 120]}],
                    }
                ],
            },
        },
        "kick_ball/def": {
            "frames": {
                "3": {
                    "verb": "kick",
                    "object_name": "ball",
                    "human": [0.1, 0.1, 0.3, 0.9],
                    "object": [0.5, 0.8, 0.6, 0.9],
                },
                "20": {"action": "kick ball", "human": [0.1, 0.1, 0.3, 0.9]},  # past the 10-frame video
            }
        },
        "missing_one": {"frames": {"1": {"action": "hold cup", "human": [1, 1, 5, 5]}}},
    }
    path = tmp_path / "vhico_test.json"
    path.write_text(json.dumps({"annotations": annotations}))
    videos = tmp_path / "videos"
    (videos / "ride_bicycle").mkdir(parents=True)
    make_video(videos / "ride_bicycle" / "abc.mp4", num_frames=12, size=(64, 48), fps=4)
    make_video(videos / "def.mp4", num_frames=10, size=(64, 48), fps=4)
    name = _name("vhico")
    cleanup.append(name)

    dataset = fvgd.load_vhico(path, videos, name=name, persistent=False)

    assert len(dataset) == 2
    assert dataset.count_sample_tags() == {"vhico": 2}
    report = dataset.info["import_report"]
    assert report["missing_videos"] == ["missing_one"]
    assert report["annotations_past_end"] == 1

    ride = dataset.match(fo.ViewField("video_id") == "abc").first()
    assert ride.action == "ride bicycle"
    assert ride.prompt_parser == "verb_object"
    assert ride.annotation_video_id == "ride_bicycle/abc"
    # frame 5: enclosing box of human [10,20,110,200] and object [60,100,200,230] in 320x240
    det = ride.frames[5]["gt"].detections[0]
    assert det.label == "ride bicycle"
    assert det.bounding_box == pytest.approx([10 / 320, 20 / 240, 190 / 320, 210 / 240])
    parts = ride.frames[5]["gt_parts"].detections
    assert [p.label for p in parts] == ["human", "object"]
    assert parts[0].bounding_box == pytest.approx([10 / 320, 20 / 240, 100 / 320, 180 / 240])
    # frame 9: two humans and a named object
    det = ride.frames[9]["gt"].detections[0]
    assert det.bounding_box == pytest.approx([0, 0, 150 / 320, 150 / 240])
    assert [p.label for p in ride.frames[9]["gt_parts"].detections] == ["human", "human", "bicycle"]

    kick = dataset.match(fo.ViewField("video_id") == "def").first()
    assert sorted(kick.frames.keys()) == [3]
    det = kick.frames[3]["gt"].detections[0]
    assert det.label == "kick ball"  # verb + object name
    assert det.bounding_box == pytest.approx([0.1, 0.1, 0.5, 0.8])  # normalised input, enclosing box


def test_vhico_flat_list_with_pixel_boxes_in_video_size(tmp_path, cleanup):
    records = [
        {
            "video_id": "clip1",
            "frame_id": 0,
            "hoi": "hold_cup",
            "human_box": [8, 8, 40, 40],
            "object_box": [30, 30, 48, 44],
        },
        {"video_id": "clip1", "frame_id": 4, "hoi": "hold_cup", "person_box": {"x": 0, "y": 0, "w": 16, "h": 24}},
        {"video_id": "clip1", "frame_id": 6, "hoi": "hold_cup"},  # no boxes: unreadable
        {"frame_id": 6, "hoi": "hold_cup", "human_box": [0, 0, 1, 1]},  # no video: unreadable
    ]
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(records))
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "clip1.avi", num_frames=8, size=(64, 48), fps=4, codec="mpeg4")
    name = _name("vhico-flat")
    cleanup.append(name)

    dataset = fvgd.load_vhico(path, videos, name=name, frame_index_base=0, persistent=False)
    sample = dataset.first()
    assert sample.filepath.endswith("clip1.avi")
    assert sorted(sample.frames.keys()) == [1, 5]  # 0-based indices 0 and 4
    # no size in the annotations: pixels of the video itself (64x48)
    det = sample.frames[1]["gt"].detections[0]
    assert det.bounding_box == pytest.approx([8 / 64, 8 / 48, 40 / 64, 36 / 48])
    assert sample.frames[5]["gt"].detections[0].bounding_box == pytest.approx([0, 0, 16 / 64, 24 / 48])
    assert dataset.info["import_report"]["details"]["entries_unreadable"] == 2


def test_frame_with_two_actions_is_reported(tmp_path, cleanup):
    records = [
        {"video": "v", "frame": 2, "action": "hold cup", "human": [0, 0, 10, 10]},
        {"video": "v", "frame": 2, "action": "drink water", "human": [20, 20, 30, 30]},
        {"video": "v", "frame": 3, "action": "drink water", "human": [20, 20, 30, 30]},
    ]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(records))
    make_video(tmp_path / "v.mp4", num_frames=4, size=(64, 48), fps=4)
    name = _name("two-actions")
    cleanup.append(name)
    dataset = fvgd.load_vhico(path, tmp_path, name=name, persistent=False)
    sample = dataset.first()
    assert [d.label for d in sample.frames[2]["gt"].detections] == ["hold cup", "drink water"]
    assert sample.frames[2]["action"] == "hold cup"
    assert sample.action == "drink water"  # the most frequent
    assert dataset.info["import_report"]["frames_with_several_actions"] == 1


def test_vhico_reader_shapes():
    data = {"v1": [{"frame": "frame_0012", "label": "cut_cake", "human_box": [0, 0, 1, 1], "object_box": [1, 1, 2, 2]}]}
    out, skipped = read_annotations(data)
    assert skipped == 0
    (ann,) = out["v1"]
    assert (ann.frame, ann.label, len(ann.humans), len(ann.objects)) == (12, "cut cake", 1, 1)

    data = {"v2": {"7": {"action": "pour_water", "boxes": [{"label": "person", "bbox": [0, 0, 5, 5]},
                                                            {"label": "bottle", "bbox": [1, 1, 3, 3]}]}}}
    (ann,) = read_annotations(data)[0]["v2"]
    assert ann.humans == [[0, 0, 5, 5]] and ann.objects == [("bottle", [1, 1, 3, 3])]

    (ann,) = read_annotations({"v3": [{"time": 2.5, "action": "x", "human": [0, 0, 10, 10]}]})[0]["v3"]
    assert ann.time == 2.5 and ann.frame is None

    (ann,) = read_annotations({"v4": {"1": {"action": "x", "human": [5, 5, 10, 20]}}}, box_format="xywh")[0]["v4"]
    assert ann.humans == [[5, 5, 15, 25]]


# ---------------------------------------------------------------- misc


def test_missing_annotation_files_raise_helpful_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="GroundingYouTube"):
        fvgd.load_groundingyoutube(tmp_path, tmp_path, name=_name("none"))
    with pytest.raises(FileNotFoundError, match="final_dataset_annotations.pkl"):
        fvgd.load_youcook2_interactions(tmp_path, tmp_path, name=_name("none"))
    with pytest.raises(FileNotFoundError, match="DALY"):
        fvgd.load_daly(tmp_path, tmp_path, name=_name("none"))
    with pytest.raises(NotADirectoryError, match="videos folder"):
        fvgd.load_groundingyoutube(GYT_DIR, tmp_path / "no_videos", name=_name("none"))


def test_get_import_report(gyt_videos, cleanup):
    name = _name("gyt-report")
    cleanup.append(name)
    dataset = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=["xG9G-qHNbtY"], persistent=False)
    report = fvgd.get_import_report(dataset)
    assert isinstance(report, ImportReport)
    assert report.videos_imported == 1 and report.annotations_past_end == 1
    assert "groundingyoutube" in report.summary()


# ---------------------------------------------------------------- bad input and faults


def _gyt_file(folder: Path, boxes: dict, sizes: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "GoundingYouTubeBox.json").write_text(json.dumps(boxes))
    if sizes is not None:
        (folder / "id2wh.json").write_text(json.dumps(sizes))
    return folder


def _vhico_file(path: Path, records: list) -> Path:
    path.write_text(json.dumps(records))
    return path


VFR_TIMES = [0.0, 0.1, 0.2, 0.3, 1.3, 1.4, 1.5, 3.5, 3.6, 3.7]


def test_variable_frame_rate_video_gets_ground_truth_on_the_frames_shown(tmp_path, cleanup):
    make_video(tmp_path / "vfr.mp4", times=VFR_TIMES, size=(64, 48))
    annotated = [0.05, 0.35, 1.3, 1.45, 2.9, 3.5, 3.72]
    records = [{"video": "vfr", "time": t, "action": "hold cup", "human": [0, 0, 32, 24]} for t in annotated]
    name = _name("vfr")
    cleanup.append(name)
    dataset = fvgd.load_vhico(_vhico_file(tmp_path / "vfr.json", records), tmp_path, name=name, persistent=False)

    sample = dataset.first()
    # the frame shown at t is the last one that appeared at or before t
    expected = [max(i + 1 for i, start in enumerate(VFR_TIMES) if start <= t + 1e-9) for t in annotated]
    assert expected == [1, 4, 5, 6, 7, 8, 10]
    assert sorted(_boxes_by_frame(sample)) == expected
    # and those frames, decoded, are the pictures shown at those times
    from fiftyone_videogem.video import read_frames

    frames = read_frames(sample.filepath, expected)
    assert [frame_number_of(frames[n]) for n in expected] == expected
    # the average frame rate would have put them elsewhere
    average = sample.metadata.frame_rate
    assert [int(t * average) + 1 for t in annotated] != expected
    report = dataset.info["import_report"]
    assert report["variable_frame_rate_videos"] == ["vfr"]
    assert report["annotations_past_end"] == 0
    assert sample.metadata.total_frame_count == 10
    assert sample.metadata.duration == pytest.approx(3.8, abs=0.01)


@pytest.mark.parametrize(
    ("loader", "kwargs", "match"),
    [
        ("groundingyoutube", {"gt_field": "action"}, "collides with 'action'"),
        ("groundingyoutube", {"gt_field": "second"}, "collides with 'second'"),
        ("groundingyoutube", {"gt_field": "frames.action"}, "collides with 'action'"),
        ("groundingyoutube", {"gt_field": "frame_number"}, "FiftyOne"),
        ("groundingyoutube", {"gt_field": "frames."}, "field name"),
        ("groundingyoutube", {"gt_field": "gt.boxes"}, "not a usable field name"),
        ("groundingyoutube", {"gt_field": 5}, "field name"),
        ("youcook2", {"gt_field": "segment_start"}, "collides"),
        ("daly", {"gt_field": "keyframe_time"}, "collides"),
        ("daly", {"temporal_field": "video_id"}, "collides with the sample field"),
        ("daly", {"temporal_field": "frames.instances"}, "sample field"),
        ("vhico", {"parts_field": "gt"}, "collides with 'gt', gt_field"),
        ("vhico", {"gt_field": "frames.annotation_frame"}, "collides"),
    ],
)
def test_output_fields_that_collide_are_refused_before_anything_is_written(tmp_path, loader, kwargs, match):
    name = _name("collide")
    load = {
        "groundingyoutube": lambda: fvgd.load_groundingyoutube(GYT_DIR, tmp_path, name=name, **kwargs),
        "youcook2": lambda: fvgd.load_youcook2_interactions(YOUCOOK_DIR, tmp_path, name=name, **kwargs),
        "daly": lambda: fvgd.load_daly(tmp_path, tmp_path, name=name, **kwargs),
        "vhico": lambda: fvgd.load_vhico(tmp_path / "none.json", tmp_path, name=name, **kwargs),
    }[loader]
    with pytest.raises(ValueError, match=match):
        load()
    assert not fo.dataset_exists(name)


def test_frames_prefixed_gt_field_is_the_frame_field(gyt_videos, cleanup):
    name = _name("gyt-prefix")
    cleanup.append(name)
    dataset = fvgd.load_groundingyoutube(
        GYT_DIR, gyt_videos, name=name, video_ids=["xG9G-qHNbtY"], gt_field="frames.boxes", persistent=False
    )
    assert dataset.has_frame_field("boxes") and not dataset.has_frame_field("gt")
    assert dataset.count("frames.boxes.detections") == dataset.info["import_report"]["boxes_imported"] > 0
    # the action text stays a string field beside the boxes
    assert all(isinstance(a, str) for a in dataset.values("frames.action", unwind=True) if a is not None)
    assert dataset.info["import_report"]["settings"]["gt_field"] == "boxes"


def _interrupt_after_first_sample(monkeypatch):
    """Makes the next add_samples write one sample and then stop as Ctrl-C would."""
    original = fo.Dataset.add_samples

    def add_one_then_interrupt(self, samples, *args, **kwargs):
        original(self, list(samples)[:1], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(fo.Dataset, "add_samples", add_one_then_interrupt)


def test_interrupted_import_is_rebuilt_not_reused(gyt_videos, monkeypatch, cleanup):
    name = _name("gyt-interrupted")
    cleanup.append(name)
    ids = list(GYT_VIDEOS)
    with monkeypatch.context() as patch:
        _interrupt_after_first_sample(patch)
        with pytest.raises(KeyboardInterrupt):
            fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=ids, persistent=False)
    partial = fo.load_dataset(name)
    assert len(partial) == 1 and "import_report" not in partial.info
    assert partial.info["import_status"] == "importing"

    dataset = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=ids, persistent=False)
    assert len(dataset) == 3
    assert dataset.info["import_status"] == "complete"
    assert dataset.info["import_report"]["videos_imported"] == 3
    # a complete import is reused as it is
    dataset.info["marker"] = "kept"
    dataset.save()
    again = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=ids, persistent=False)
    assert again.info["marker"] == "kept" and len(again) == 3


def test_datasets_no_importer_made_are_never_replaced(gyt_videos, make_dataset, cleanup):
    foreign = make_dataset()
    foreign.add_sample(fo.Sample(filepath=str(gyt_videos / "tMBdem-e9Fk.mp4"), note="mine"))
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="not made by an importer"):
            fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=foreign.name, overwrite=overwrite)
    assert fo.load_dataset(foreign.name).first()["note"] == "mine"

    # an import of another benchmark is not taken for this one
    name = _name("gyt-other")
    cleanup.append(name)
    fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids=["xG9G-qHNbtY"], persistent=False)
    with pytest.raises(ValueError, match="holds an import of groundingyoutube, not youcook2_interactions"):
        fvgd.load_youcook2_interactions(YOUCOOK_DIR, gyt_videos, name=name)
    assert len(fo.load_dataset(name)) == 1


def test_symlink_loops_in_the_videos_folder_do_not_hang(tmp_path, cleanup):
    videos = tmp_path / "videos"
    (videos / "a" / "b").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    make_video(videos / "a" / "b" / "clip1.mp4", num_frames=8, fps=4)
    make_video(outside / "clip2.mp4", num_frames=8, fps=4)
    # loops: to the root, to a parent, to itself, two links into each other; and a link to real videos elsewhere
    (videos / "a" / "b" / "up").symlink_to(videos, target_is_directory=True)
    (videos / "a" / "again").symlink_to(videos / "a", target_is_directory=True)
    (videos / "self").symlink_to(videos / "self", target_is_directory=True)
    (videos / "x").symlink_to(videos / "y", target_is_directory=True)
    (videos / "y").symlink_to(videos / "x", target_is_directory=True)
    (videos / "linked").symlink_to(outside, target_is_directory=True)

    index = index_videos(videos)
    assert set(index) == {"clip1", "clip2"}
    assert index["clip1"] == str(videos / "a" / "b" / "clip1.mp4")
    assert index["clip2"] == str(videos / "linked" / "clip2.mp4")

    records = [{"video": v, "frame": 2, "action": "hold cup", "human": [0, 0, 10, 10]} for v in ("clip1", "clip2")]
    name = _name("loops")
    cleanup.append(name)
    dataset = fvgd.load_vhico(_vhico_file(tmp_path / "a.json", records), videos, name=name, persistent=False)
    assert sorted(dataset.distinct("video_id")) == ["clip1", "clip2"]


def test_malformed_entries_are_named_and_the_rest_imported(tmp_path, cleanup):
    (tmp_path / "videos").mkdir()
    make_video(tmp_path / "videos" / "good.mp4", num_frames=20, fps=2)
    make_video(tmp_path / "videos" / "other.mp4", num_frames=20, fps=2)
    boxes = {
        "good": {
            "1": {"box": [0, 0, 32, 24], "step": "crack eggs"},
            "2": {"box": [0, 0, 32], "step": "crack eggs"},  # three numbers
            "3": {"box": ["left", 0, 32, 24], "step": "crack eggs"},  # not numeric
            "4": {"box": [0, 0, 32, 24]},  # no action
            "five": {"box": [0, 0, 32, 24], "step": "crack eggs"},  # not a second
            "6": "crack eggs",  # not an entry
            "7": {"box": [8, 8, 40, 40], "step": "pour milk"},
        },
        "other": {"2": {"box": [0, 0, 64, 48], "step": "stir"}},
        "broken": "not boxes",
    }
    folder = _gyt_file(tmp_path / "ann", boxes, {"good": [64, 48], "other": "64x48"})
    name = _name("gyt-malformed")
    cleanup.append(name)
    dataset = fvgd.load_groundingyoutube(folder, tmp_path / "videos", name=name, persistent=False)

    assert sorted(dataset.distinct("video_id")) == ["good", "other"]
    good = dataset.match(fo.ViewField("video_id") == "good").first()
    assert sorted(_boxes_by_frame(good)) == [3, 15]  # seconds 1 and 7 at 2 fps
    report = dataset.info["import_report"]
    entries = report["malformed_entries"]
    box_file = str(folder / "GoundingYouTubeBox.json")
    for entry in ("video 'good', second '2'", "video 'good', second '3'", "video 'good', second '4'",
                  "video 'good', second 'five'", "video 'good', second '6'", "video 'broken'"):
        assert any(e.startswith(f"{box_file}: {entry}:") for e in entries), entry
    assert any(e.startswith(f"{folder / 'id2wh.json'}: video 'other':") for e in entries)
    assert len(entries) == 7
    assert "7 malformed annotation entries" in fvgd.get_import_report(dataset).summary()


def test_malformed_files_are_named(tmp_path):
    folder = tmp_path / "gyt"
    folder.mkdir()
    (folder / "GoundingYouTubeBox.json").write_text('{"good": {"1": {"box": [0, 0, 1, 1], "step": "x"},\n  "2": }')
    with pytest.raises(ValueError, match=r"GoundingYouTubeBox.json' is not valid JSON \(line 2"):
        fvgd.load_groundingyoutube(folder, tmp_path, name=_name("bad-json"))

    youcook = tmp_path / "youcook"
    youcook.mkdir()
    data = pickle.dumps({"v": {1: (0, 0, 10, 10)}}, protocol=3)
    (youcook / "final_dataset_annotations.pkl").write_bytes(data[: len(data) // 2])
    (youcook / "validation_youcook.csv").write_text("end,start,task,text,video_id\n")
    with pytest.raises(pickle.UnpicklingError, match="final_dataset_annotations.pkl' is not a readable"):
        fvgd.load_youcook2_interactions(youcook, tmp_path, name=_name("bad-pickle"))


def test_malformed_youcook2_and_vhico_entries_are_named(tmp_path, cleanup):
    from fiftyone_videogem.datasets.common import Malformed
    from fiftyone_videogem.datasets.youcook2 import read_boxes, read_sentences_csv

    csv_path = tmp_path / "validation_youcook.csv"
    csv_path.write_text(
        "end,start,task,text,video_id\n"
        "20,10,1,cut the onion,v1\n"
        "soon,30,1,fry the onion,v1\n"  # line 3: no number
        "40,35,1,,v1\n"  # line 4: no text
        "50,41,1,serve it,v1\n"
    )
    malformed = Malformed()
    sentences = read_sentences_csv(csv_path, malformed)
    assert [s.sentence for s in sentences["v1"]] == ["cut the onion", "serve it"]
    assert [e.split(": ")[1] for e in malformed.entries] == ["line 3", "line 4"]
    assert all(e.startswith(str(csv_path)) for e in malformed.entries)

    pkl = tmp_path / "boxes.pkl"
    pkl.write_bytes(pickle.dumps({"v1": {1: (0, 0, 5, 5), 2: (0, 0, 5), 3: ("a", 0, 5, 5)}, "v2": [1, 2]}))
    malformed = Malformed()
    assert read_boxes(pkl, malformed) == {"v1": {1: [0.0, 0.0, 5.0, 5.0]}}
    assert [e.split(": ")[1] for e in malformed.entries] == [
        "video 'v1', frame index 2", "video 'v1', frame index 3", "video 'v2'"]

    records = {
        "clip": {
            "1": {"action": "hold cup", "human": [0, 0, 10, 10]},
            "2": {"action": "hold cup"},  # no box
            "3": "hold cup",  # not a record
        },
        "nothing": 5,
    }
    path = tmp_path / "vhico.json"
    path.write_text(json.dumps(records))
    make_video(tmp_path / "clip.mp4", num_frames=4, fps=4)
    name = _name("vhico-malformed")
    cleanup.append(name)
    dataset = fvgd.load_vhico(path, tmp_path, name=name, persistent=False)
    assert sorted(dataset.first().frames.keys()) == [1]
    entries = dataset.info["import_report"]["malformed_entries"]
    assert [e.split(": ")[1] for e in entries] == ["video 'clip', frame '2'", "video 'clip', frame '3'",
                                                  "video 'nothing'"]


def test_one_id_as_a_string_is_one_id(gyt_videos, daly_files, cleanup):
    name = _name("gyt-one")
    cleanup.append(name)
    dataset = fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=name, video_ids="xG9G-qHNbtY", persistent=False)
    assert dataset.distinct("video_id") == ["xG9G-qHNbtY"]
    assert dataset.info["import_report"]["notes"] == []  # no per-character ids were asked for

    name = _name("daly-one")
    cleanup.append(name)
    dataset = fvgd.load_daly(daly_files, daly_files / "videos", name=name, split="all", classes="Drinking",
                             video_ids="vidTrain.mp4", persistent=False)
    assert dataset.distinct("video_id") == ["vidTrain"]
    assert dataset.distinct("frames.gt.detections.label") == ["Drinking"]

    with pytest.raises(TypeError, match="video_ids must be a list of ids"):
        fvgd.load_groundingyoutube(GYT_DIR, gyt_videos, name=_name("gyt-int"), video_ids=12)
    with pytest.raises(TypeError, match="classes must be a list"):
        fvgd.load_daly(daly_files, daly_files / "videos", name=_name("daly-int"), classes=3)


def test_rotated_video_gets_boxes_in_the_picture_as_shown(tmp_path, cleanup):
    # stored 64x48, shown turned 90 degrees (48x64), as a phone filmed upright writes it
    make_video(tmp_path / "phone.mp4", num_frames=8, size=(64, 48), fps=4, rotation=90)
    records = [{"video": "phone", "frame": 2, "action": "hold cup", "human": [0, 0, 24, 32]}]  # pixels as shown
    name = _name("rotated")
    cleanup.append(name)
    dataset = fvgd.load_vhico(_vhico_file(tmp_path / "r.json", records), tmp_path, name=name, persistent=False)
    sample = dataset.first()
    assert (sample.metadata.frame_width, sample.metadata.frame_height) == (48, 64)
    assert sample.frames[2]["gt"].detections[0].bounding_box == pytest.approx([0, 0, 0.5, 0.5])
    assert dataset.info["import_report"]["rotated_videos"] == {"phone": 90}
    assert dataset.info["import_report"]["size_mismatches"] == {}


@pytest.mark.parametrize(("filename", "codec"), [("cut.webm", "libvpx"), ("cut.mp4", "libx264")])
def test_truncated_video_is_reported_damaged_not_past_the_end(tmp_path, cleanup, filename, codec):
    videos = tmp_path / "videos"
    videos.mkdir()
    options = {"movflags": "faststart"} if filename.endswith(".mp4") else None
    path = make_video(videos / filename, num_frames=40, fps=10, codec=codec, container_options=options)
    make_video(videos / "whole.mp4", num_frames=40, fps=10)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * 0.6)])
    records = [{"video": v, "time": t, "action": "hold cup", "human": [0, 0, 10, 10]}
               for v in ("cut", "whole") for t in (0.5, 3.5)]
    name = _name("damaged")
    cleanup.append(name)
    dataset = fvgd.load_vhico(_vhico_file(tmp_path / "d.json", records), videos, name=name, persistent=False)

    assert dataset.distinct("video_id") == ["whole"]
    report = dataset.info["import_report"]
    assert list(report["damaged_videos"]) == ["cut"]
    assert "damaged" in report["damaged_videos"]["cut"] and filename in report["damaged_videos"]["cut"]
    assert report["annotations_past_end"] == 0 and report["past_end"] == {}
    assert report["unreadable_videos"] == {}
    assert "1 videos damaged" in fvgd.get_import_report(dataset).summary()


def test_malformed_daly_instances_are_named(tmp_path, cleanup):
    kf = {"time": 0.5, "frameNumber": 12, "boundingBox": np.array([[0.1, 0.1, 0.5, 0.5]])}
    daly = {
        "annot": {
            "vidA.mp4": {"annot": {"Drinking": [{"beginTime": 0.2, "endTime": 1.0, "keyframes": [kf]}, "oops"],
                                   "Phoning": 7}},
            "vidB.mp4": ["not", "a", "dict"],
        }
    }
    path = tmp_path / "daly1.1.0.pkl"
    path.write_bytes(pickle.dumps(daly, protocol=2))
    make_video(tmp_path / "vidA.mp4", num_frames=8, fps=4)
    name = _name("daly-malformed")
    cleanup.append(name)
    dataset = fvgd.load_daly(path, tmp_path, name=name, split="all", persistent=False)
    assert dataset.distinct("video_id") == ["vidA"]
    assert dataset.count("frames.gt.detections") == 1
    entries = dataset.info["import_report"]["malformed_entries"]
    assert [e.split(": ")[1] for e in entries] == ["video 'vidA', Drinking instance 1", "video 'vidA', class Phoning",
                                                  "video 'vidB'"]
    assert all(e.startswith(str(path)) for e in entries)


# ---------------------------------------------------------------- YouCook2 narrated segments (temporal)

YC2_DIR = Path(__file__).resolve().parent / "data" / "youcook2"  # a small file written for the tests
YC2_VIDEOS = {"yc2TestVidA": (2, 32), "yc2TestVidB": (4, 30), "yc2TestVidC": (2, 40)}  # id: (fps, frames)


@pytest.fixture(scope="module")
def yc2_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("yc2_videos")
    for video_id, (fps, num_frames) in YC2_VIDEOS.items():
        make_video(root / f"{video_id}.mp4", num_frames=num_frames, size=(48, 32), fps=fps)
    return root


def test_youcook2_segments_become_temporal_detections(yc2_videos, cleanup):
    name = _name("yc2")
    cleanup.append(name)
    dataset = fvgd.load_youcook2(YC2_DIR, yc2_videos, name=name, persistent=False)
    assert dataset.count_sample_tags() == {"youcook2": 2}  # the training video is not in the validation subset
    a = dataset.match(fo.ViewField("video_id") == "yc2TestVidA").first()
    # 2 fps: second s is frame 2 s + 1; [12, 17] reaches past the 16 s video and ends on its last frame
    assert [(d.label, d.support, d.start_time, d.end_time, d.segment_id, d.clipped)
            for d in a.segments.detections] == [
        ("crack two eggs into a bowl", [5, 11], 2.0, 5.0, 0, False),
        ("whisk the eggs", [15, 21], 7.0, 10.0, 1, False),
        ("pour the eggs into the pan", [25, 32], 12.0, 17.0, 2, True),
    ]
    assert a.actions == ["crack two eggs into a bowl", "whisk the eggs", "pour the eggs into the pan"]
    assert (a.action, a.recipe_type, a.subset, a.prompt_parser) == ("crack two eggs into a bowl", "201",
                                                                    "validation", "sentence")
    b = dataset.match(fo.ViewField("video_id") == "yc2TestVidB").first()
    # 4 fps: second s is frame 4 s + 1; [30, 35] lies after the 7.5 s video; the annotation without sentence is skipped
    assert [(d.label, d.support) for d in b.segments.detections] == [
        ("slice the onion", [5, 13]), ("fry the onion in butter", [17, 25])]
    report = dataset.info["import_report"]
    assert report["missing_videos"] == ["yc2TestVidD"]
    assert report["annotations_past_end"] == 1 and report["past_end"]["yc2TestVidB"]["times"] == [30.0]
    assert len(report["malformed_entries"]) == 1
    assert ": video 'yc2TestVidB', annotation 2: expected a 'segment'" in report["malformed_entries"][0]
    assert report["details"]["segments_read"] == 7 and report["details"]["segments_imported"] == 5
    assert report["details"]["segments_clipped"] == 1
    # reused as it is by a second call
    assert fvgd.load_youcook2(YC2_DIR / "youcookii_annotations_trainval.json", yc2_videos, name=name).count() == 2


def test_youcook2_subsets_and_fields(yc2_videos, cleanup):
    name = _name("yc2-all")
    cleanup.append(name)
    dataset = fvgd.load_youcook2(YC2_DIR, yc2_videos, name=name, subset=None, segments_field="sentences",
                                 persistent=False)
    assert sorted(dataset.values("video_id")) == ["yc2TestVidA", "yc2TestVidB", "yc2TestVidC"]
    assert dataset.get_field("sentences") is not None and dataset.get_field("segments") is None
    with pytest.raises(ValueError, match="unknown YouCook2 subset"):
        fvgd.load_youcook2(YC2_DIR, yc2_videos, name=_name("x"), subset="test")
    with pytest.raises(ValueError, match="collides"):
        fvgd.load_youcook2(YC2_DIR, yc2_videos, name=_name("x"), segments_field="actions")
    with pytest.raises(FileNotFoundError, match="youcookii_annotations_trainval.json"):
        fvgd.load_youcook2(yc2_videos, yc2_videos, name=_name("x"))


def test_youcook2_reader_keeps_subset_and_ids():
    from fiftyone_videogem.datasets.youcook2 import read_youcook2_database, read_youcook2_json

    database = read_youcook2_database(YC2_DIR / "youcookii_annotations_trainval.json")
    assert {k: (v.subset, v.recipe_type, v.ids) for k, v in database.items()} == {
        "yc2TestVidA": ("validation", "201", [0, 1, 2]), "yc2TestVidB": ("validation", "113", [0, 1, 3]),
        "yc2TestVidC": ("training", "201", [0]), "yc2TestVidD": ("validation", "113", [0])}
    assert read_youcook2_json(YC2_DIR / "youcookii_annotations_trainval.json")["yc2TestVidC"] == [
        Segment(0.0, 4.0, "boil the pasta")]
