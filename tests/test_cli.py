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
