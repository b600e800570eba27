"""The command line: backbones, ground, demo (without the App)."""

import uuid

import cv2
import fiftyone as fo
import pytest

from fiftyone_videogem.cli import main

from .videos import make_video


def test_backbones_lists_licences(capsys):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "clip-vit-b-16" in out and "viclip-b-16" in out and "CC-BY-NC-SA-4.0" in out


@pytest.mark.parametrize("backbone,extra", [("test-vit-tiny", []), ("test-viclip-tiny", []),
                                            ("test-vit-tiny", ["--fast", "--weighting", "none"])])
def test_ground_writes_a_picture(tmp_path, capsys, backbone, extra):
    video = tmp_path / "v.mp4"
    make_video(str(video), num_frames=30, size=(96, 64), fps=10)
    out = tmp_path / "result.png"
    assert main(["ground", str(video), "crack eggs", "--time", "1.05", "--backbone", backbone,
                 "--random-weights", "--output", str(out), *extra]) == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (64, 96, 3)
    text = capsys.readouterr().out
    assert "frame 11:" in text and "A photo of a person crack eggs." in text


def test_ground_time_picks_the_frame_on_screen_at_a_variable_frame_rate(tmp_path, capsys):
    video = tmp_path / "vfr.mkv"
    # ten frames at 0.1 s, then ten at 0.5 s: 1.5 s is frame 12 (by the average rate, about frame 6)
    times = [0.1 * i for i in range(10)] + [1.0 + 0.5 * i for i in range(10)]
    make_video(str(video), num_frames=20, size=(96, 64), times=times)
    out = tmp_path / "result.png"
    assert main(["ground", str(video), "crack eggs", "--time", "1.5", "--backbone", "test-vit-tiny",
                 "--random-weights", "--output", str(out)]) == 0
    assert "frame 12:" in capsys.readouterr().out
    assert main(["ground", str(video), "crack eggs", "--time", "99", "--backbone", "test-vit-tiny",
                 "--random-weights", "--output", str(out)]) == 1
    assert "error: --time 99 is outside the video" in capsys.readouterr().err


def test_ground_rejects_frames_past_the_end(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    make_video(str(video), num_frames=10, size=(64, 48), fps=10)
    assert main(["ground", str(video), "crack eggs", "--frame", "50", "--backbone", "test-vit-tiny",
                 "--random-weights"]) == 1
    assert "error: frame 50 is outside the video" in capsys.readouterr().err


def test_offline_pretrained_download_fails_clearly(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    make_video(str(video), num_frames=10, size=(64, 48), fps=10)
    assert main(["ground", str(video), "crack eggs"]) == 1
    err = capsys.readouterr().err
    assert "--checkpoint" in err and "clip-vit-b-16" in err


def test_demo_without_app(capsys):
    name = f"vgem-demo-{uuid.uuid4().hex[:8]}"
    try:
        assert main(["demo", "--no-app", "--random-weights", "--backbone", "test-vit-tiny", "--dataset", name]) == 0
        dataset = fo.load_dataset(name)
        assert len(dataset) == 4
        assert dataset.count("frames.videogem") == 24  # 6 GT frames per video
        assert "pointing" in dataset.list_evaluations()
        assert "overall" in capsys.readouterr().out
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


@pytest.fixture
def video_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(fo.config, "default_dataset_dir", str(tmp_path))  # the embedding cache goes there
    dataset = fo.Dataset(f"vgem-cli-{uuid.uuid4().hex[:8]}")
    for name, pattern in (("a", "bits"), ("b", "square")):
        # 20 frames at 10 fps: at 2 samples per second frames 1, 6, 11 and 16 are sampled
        path = make_video(str(tmp_path / f"{name}.mp4"), num_frames=20, pattern=pattern)
        dataset.add_sample(fo.Sample(filepath=path, title=f"video {name}", actions=["cut onion", "crack eggs"]))
    yield dataset
    dataset.delete()


LOCALIZE = ["--backbone", "test-vit-tiny", "--random-weights", "--device", "cpu", "--batch-size", "4", "--fps", "2"]


def test_localize_finds_segments_and_resumes(video_dataset, capsys):
    argv = ["localize", video_dataset.name, "--label-field", "found", "--queries", "cut onion, pour water", *LOCALIZE]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "in 2 of 2 video(s) into 'found', 0 already done, 0 with failures" in out

    video_dataset.reload()
    segments = video_dataset.values("found.detections")
    assert all(segments) and {d.label for s in segments for d in s} <= {"cut onion", "pour water"}
    assert all(d.support[0] in (1, 6, 11, 16) and d.support[1] in (1, 6, 11, 16) for s in segments for d in s)
    assert video_dataset.count("frames.found_points") > 0 and video_dataset.count("frames.found_heatmap") > 0
    config = video_dataset.get_run_info("localize_found").config
    assert config.fps == 2.0 and config.segmentation == "www"

    assert main(argv) == 0  # a rerun finds every video done
    assert "in 0 of 2 video(s) into 'found', 2 already done" in capsys.readouterr().out
    assert video_dataset.values("found.detections") == segments

    # each video's own phrases, segments only
    assert main(["localize", video_dataset.name, "--label-field", "pooled", "--pool-field", "actions",
                 "--method", "contrast", "--no-spatial", *LOCALIZE]) == 0
    video_dataset.reload()
    assert set(video_dataset.values("pooled.detections.label", unwind=True)) <= {"cut onion", "crack eggs"}
    assert "pooled_points" not in video_dataset.get_frame_field_schema()


@pytest.mark.parametrize("extra, expected", [
    ([], "error: pass the phrases to look for as --queries"),
    (["--queries", "cut onion", "--label-field", "title"], "error: 'title' already exists as a StringField"),
    (["--queries", "cut onion", "--workers", "2"], "error: --address, --workers and --gpus-per-worker need"),
    (["--queries", "cut onion", "--method", "zeal"], "error: --method zeal needs a start/end scorer"),
])
def test_localize_refuses_bad_input_without_a_traceback(video_dataset, capsys, extra, expected):
    argv = ["localize", video_dataset.name, "--label-field", "found", *LOCALIZE, *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert video_dataset.values("title") == ["video a", "video b"]  # nothing written
    assert "found" not in video_dataset.get_field_schema() and not video_dataset.list_runs()


def test_localize_names_a_missing_dataset(capsys):
    assert main(["localize", f"no-such-{uuid.uuid4().hex[:8]}", "--label-field", "found", "--queries", "x"]) == 1
    assert "error: there is no FiftyOne dataset" in capsys.readouterr().err
