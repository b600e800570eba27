"""Fault injection: the product under faults and bad input loses nothing and writes nothing half.

Each test reproduces one class of fault with real parts: FiftyOne's database, PyAV decoding of
generated videos, a tiny random-weight VideoGEM. Faults are injected in the product's own code (an
engine subclass that raises or runs out of memory, the writer's single database call, a real
SIGTERM to a real process), never by replacing FiftyOne or PyAV.

Covered elsewhere, and cited in docs/reliability.md: a failed evaluation rerun keeps the previous
evaluation (tests/test_evaluation.py), variable-frame-rate, rotated, truncated videos and
interrupted imports (tests/test_datasets.py, tests/test_video.py), the demo's datasets
(tests/test_demo.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.core.labels as fol

import fiftyone_videogem.runner as fvrun
from fiftyone_videogem.cli import main
from fiftyone_videogem.engine import VideoGEM
from fiftyone_videogem.model import ENGINE_OPTIONS, load_model
from fiftyone_videogem.runner import GroundingError, run_videogem

from .shared_data import GYT_DIR, YOUCOOK_EXCERPT_DIR
from .videos import make_corrupt_video, make_video

SIZE = (64, 48)
PROMPT = "wave hand"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------------- helpers
class CountingEngine(VideoGEM):
    """A real VideoGEM that counts its calls and the batch sizes its vision pass gets; subclasses
    inject faults."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.pass_sizes: list[int] = []

    def ground_batch(self, frames, prompts):
        self.calls += 1
        return super().ground_batch(frames, prompts)

    def ground_pixels(self, pixels, prompts):
        self.pass_sizes.append(int(pixels.shape[0]))
        return super().ground_pixels(pixels, prompts)


class InterruptingEngine(CountingEngine):
    """Ctrl-C arrives before the engine call number ``after + 1``."""

    after = 20

    def ground_batch(self, frames, prompts):
        if self.calls >= self.after:
            raise KeyboardInterrupt
        return super().ground_batch(frames, prompts)


class FailingEngine(CountingEngine):
    """The engine call number ``fail_at`` fails."""

    fail_at = 2

    def ground_batch(self, frames, prompts):
        if self.calls + 1 == self.fail_at:
            self.calls += 1
            raise RuntimeError("the engine broke")
        return super().ground_batch(frames, prompts)


class OutOfMemoryEngine(CountingEngine):
    """A vision pass of more than ``fits`` items runs out of memory with ``error``."""

    fits = 2
    error: type[BaseException] = MemoryError

    def ground_pixels(self, pixels, prompts):
        if pixels.shape[0] > self.fits:
            self.pass_sizes.append(-int(pixels.shape[0]))
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().ground_pixels(pixels, prompts)


def engine(cls=CountingEngine, **options) -> VideoGEM:
    return cls.from_config("test-vit-tiny", seed=0, device="cpu", **options)


def model(cls=CountingEngine, batch_size: int = 4, **options):
    """A model around a fresh engine (same weights every time) grounding PROMPT in all frames."""
    engine_options = {k: options.pop(k) for k in list(options) if k in ENGINE_OPTIONS}
    return load_model(engine(cls, batch_size=batch_size, **engine_options), prompt=PROMPT, frames="all", **options)


def video_dataset(make_dataset, tmp_path, num_frames: int = 12, gt_frames=(3, 8), name: str = "v"):
    dataset = make_dataset()
    path = make_video(tmp_path / f"{name}.mp4", num_frames=num_frames, size=SIZE)
    sample = fo.Sample(filepath=path, action=PROMPT)
    for n in gt_frames:
        sample.frames[n]["gt"] = fo.Detections(detections=[fo.Detection(label=PROMPT, bounding_box=[.2, .2, .5, .5])])
    dataset.add_sample(sample)
    return dataset


def labels_by_frame(dataset, field: str = "vgem") -> dict[int, tuple]:
    """``{frame number: (final point, heatmap grid)}`` of the first video."""
    numbers = dataset.values("frames.frame_number")[0]
    points = dataset.values(f"frames.{field}")[0]
    heatmaps = dataset.values(f"frames.{field}_heatmap")[0]
    return {n: (tuple(p.keypoints[0].points[0]), h.map if h is not None else None)
            for n, p, h in zip(numbers, points, heatmaps) if p is not None}


def assert_same_labels(found: dict, expected: dict) -> None:
    assert sorted(found) == sorted(expected)
    for n, (point, grid) in expected.items():
        assert found[n][0] == point, n
        assert found[n][1] is not None and np.array_equal(found[n][1], grid), n


def run_info(dataset, key: str = "videogem_vgem"):
    return dataset.get_run_info(key).config


# ------------------------------------------------------------------- a run owns what it creates
def test_foreign_field_is_refused_untouched_and_survives_delete_run(make_dataset, tmp_path):
    dataset = video_dataset(make_dataset, tmp_path)
    sample = dataset.first()
    foreign = {n: fol.Keypoints(keypoints=[fol.Keypoint(label="wrist", points=[(0.1 * n, 0.5)])]) for n in (3, 5, 8)}
    for n, kps in foreign.items():
        sample.frames[n]["pose"] = kps
    sample.save()
    before = dataset.values("frames.pose.keypoints.points")

    with pytest.raises(ValueError, match="'frames.pose' exists and was not created by a VideoGEM run"):
        run_videogem(dataset, model(), "pose", progress=False)
    assert dataset.values("frames.pose.keypoints.points") == before
    assert dataset.list_runs() == []
    assert dataset.get_field("frames.pose_heatmap") is None and dataset.get_field("pose_error") is None

    # with overwrite=True the run replaces the labels of the frames it grounds, but does not own
    # the field: deleting the run deletes only what it created
    run_videogem(dataset, model(), "pose", frames=[3, 8], overwrite=True, progress=False)
    config = run_info(dataset, "videogem_pose")
    assert "frames.pose" in config.fields and "frames.pose" not in config.created_fields
    assert "frames.pose_heatmap" in config.created_fields
    dataset.reload()
    frames = dataset.first().frames
    assert frames[3]["pose"].keypoints[0].label == PROMPT
    assert frames[5]["pose"].keypoints[0].label == "wrist"  # not grounded, not touched
    dataset.delete_run("videogem_pose")
    assert dataset.get_field("frames.pose") is not None
    assert dataset.get_field("frames.pose_heatmap") is None
    assert dataset.first().frames[5]["pose"].keypoints[0].label == "wrist"


def test_fields_of_another_run_and_the_users_error_field_are_refused(make_dataset, tmp_path):
    dataset = video_dataset(make_dataset, tmp_path)
    run_videogem(dataset, model(), "vgem", frames=[3], progress=False)
    # a run under another key may not write into the fields of run videogem_vgem, even with overwrite
    with pytest.raises(ValueError, match="belongs to the grounding run 'videogem_vgem'"):
        run_videogem(dataset, model(), "vgem", run_key="mine", overwrite=True, progress=False)
    assert dataset.list_runs() == ["videogem_vgem"]

    dataset.add_sample_field("other_error", fo.IntField)
    with pytest.raises(ValueError, match="'other_error' exists as a field of type IntField"):
        run_videogem(dataset, model(), "other", overwrite=True, progress=False)
    assert dataset.get_field("frames.other") is None and dataset.list_runs() == ["videogem_vgem"]


def test_label_fields_sharing_a_run_key_do_not_replace_each_others_record(make_dataset, tmp_path):
    dataset = video_dataset(make_dataset, tmp_path)
    run_videogem(dataset, model(), "vgem-b16", frames=[3], progress=False)
    assert dataset.list_runs() == ["videogem_vgem_b16"]
    with pytest.raises(ValueError, match="already records the grounding run into 'frames.vgem-b16'"):
        run_videogem(dataset, model(), "vgem_b16", frames=[3], progress=False)
    assert run_info(dataset, "videogem_vgem_b16").label_field == "frames.vgem-b16"
    assert dataset.get_field("frames.vgem_b16") is None

    run_videogem(dataset, model(), "vgem_b16", frames=[3], run_key="b16_underscore", progress=False)
    dataset.delete_run("b16_underscore")
    assert dataset.get_field("frames.vgem_b16") is None
    assert dataset.get_field("frames.vgem-b16") is not None and dataset.count("frames.vgem-b16") == 1


def test_rerun_with_other_options_is_refused_without_overwrite(make_dataset, tmp_path):
    dataset = video_dataset(make_dataset, tmp_path)
    run_videogem(dataset, model(weighting="none"), "vgem", frames=[3, 8], progress=False)
    ids = dataset.values("frames.vgem.id", unwind=True)

    with pytest.raises(ValueError, match="weighting: 'none' before, 'static' now"):
        run_videogem(dataset, model(weighting="static"), "vgem", frames=[3, 8, 10], progress=False)
    assert dataset.values("frames.vgem.id", unwind=True) == ids
    assert run_info(dataset).engine["weighting"] == "none"

    # options that change no label (batch size) and another frame selection are accepted; the record
    # lists every frame selection grounded into the field
    summary = run_videogem(dataset, model(batch_size=2, weighting="none"), "vgem", frames=[3, 10], progress=False)
    assert summary.frames_grounded == 1 and summary.frames_skipped == 1
    assert run_info(dataset).frame_selections == [{"frames": [3, 8], "gt_field": None},
                                                  {"frames": [3, 10], "gt_field": None}]

    # overwrite=True grounds the selection again; the record keeps the options of the labels that remain
    summary = run_videogem(dataset, model(weighting="static"), "vgem", frames=[3], overwrite=True, progress=False)
    assert summary.frames_grounded == 1
    config = run_info(dataset)
    assert config.engine["weighting"] == "static"
    assert [o["weighting"] for o in config.earlier_options] == ["none"]


# ----------------------------------------------------------------------- interruptions
def test_interruption_inside_a_long_video_keeps_grounded_frames_and_resumes_to_the_same_result(
        make_dataset, tmp_path):
    reference = video_dataset(make_dataset, tmp_path, num_frames=300, gt_frames=())
    run_videogem(reference, model(), "vgem", progress=False)
    expected = labels_by_frame(reference)
    assert len(expected) == 300

    dataset = video_dataset(make_dataset, tmp_path, num_frames=300, gt_frames=(), name="v2")
    interrupted = model(InterruptingEngine)  # Ctrl-C after 20 batches of 4 frames, in the one video
    with pytest.raises(KeyboardInterrupt):
        run_videogem(dataset, interrupted, "vgem", progress=False)
    assert sorted(labels_by_frame(dataset)) == list(range(1, 81))
    results = dataset.load_run_results("videogem_vgem")
    assert results.stopped == "KeyboardInterrupt" and results.frames_grounded == 80

    resumed = model()
    summary = run_videogem(dataset, resumed, "vgem", progress=False)
    assert summary.frames_skipped == 80 and summary.frames_grounded == 220 and summary.stopped is None
    assert sum(resumed.engine.pass_sizes) == 220
    assert_same_labels(labels_by_frame(dataset), expected)


CHILD = textwrap.dedent("""
    import sys, time
    import fiftyone as fo
    from fiftyone_videogem.engine import VideoGEM
    from fiftyone_videogem.model import load_model
    from fiftyone_videogem.runner import run_videogem

    class SlowEngine(VideoGEM):
        def ground_batch(self, frames, prompts):
            time.sleep(0.03)
            return super().ground_batch(frames, prompts)

    engine = SlowEngine.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)
    dataset = fo.load_dataset(sys.argv[1])
    try:
        run_videogem(dataset, load_model(engine, prompt=sys.argv[2], frames="all"), "vgem", progress=False)
    except KeyboardInterrupt as e:
        sys.exit(128 + getattr(e, "signum", 2))
""")


def test_sigterm_inside_a_long_video_writes_what_was_grounded_and_the_rerun_resumes(make_dataset, tmp_path):
    reference = video_dataset(make_dataset, tmp_path, num_frames=300, gt_frames=())
    run_videogem(reference, model(batch_size=1), "vgem", progress=False)
    expected = labels_by_frame(reference)

    dataset = video_dataset(make_dataset, tmp_path, num_frames=300, gt_frames=(), name="v2")
    dataset.persistent = True  # seen by the child process
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), dataset.name, PROMPT], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": REPO})
    try:
        # labels reach the database while the one video is still being grounded (a flush within the video)
        def labelled() -> bool:
            dataset.reload()  # the child adds the field
            return dataset.get_field("frames.vgem") is not None and dataset.count("frames.vgem") > 0

        deadline = time.monotonic() + 300
        while not labelled() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err

    written = sorted(labels_by_frame(dataset))
    assert 0 < len(written) < 300 and written == list(range(1, len(written) + 1))
    results = dataset.load_run_results("videogem_vgem")
    assert results.stopped == "SIGTERM" and results.frames_grounded == len(written)

    resumed = model(batch_size=1)
    summary = run_videogem(dataset, resumed, "vgem", progress=False)
    assert summary.frames_grounded == 300 - len(written) == resumed.engine.calls
    assert_same_labels(labels_by_frame(dataset), expected)


def test_a_crash_between_the_heatmap_and_keypoint_writes_leaves_no_frame_counted_as_done(
        make_dataset, tmp_path, monkeypatch):
    reference = video_dataset(make_dataset, tmp_path, num_frames=20, gt_frames=())
    run_videogem(reference, model(batch_size=1), "vgem", progress=False)
    expected = labels_by_frame(reference)

    dataset = video_dataset(make_dataset, tmp_path, num_frames=20, gt_frames=(), name="v2")
    write = fvrun._Writer._set

    def crash_before_keypoints(self, path, values):
        if path == "frames.vgem":
            raise SystemExit("the process died here")
        write(self, path, values)

    monkeypatch.setattr(fvrun._Writer, "_set", crash_before_keypoints)
    with pytest.raises(SystemExit):
        run_videogem(dataset, model(batch_size=1), "vgem", progress=False)
    monkeypatch.undo()
    assert dataset.count("frames.vgem_heatmap") > 0 and dataset.get_field("frames.vgem") is None

    resumed = model(batch_size=1)
    summary = run_videogem(dataset, resumed, "vgem", progress=False)
    assert summary.frames_grounded == 20 and summary.frames_skipped == 0
    assert_same_labels(labels_by_frame(dataset), expected)


def test_frames_missing_a_heatmap_or_its_file_are_grounded_again(make_dataset, tmp_path):
    dataset = video_dataset(make_dataset, tmp_path, num_frames=10, gt_frames=())
    run_videogem(dataset, model(batch_size=1), "vgem", progress=False)
    expected = labels_by_frame(dataset)
    sample = dataset.first()
    sample.frames[4]["vgem_heatmap"] = None  # keypoints without their heatmap
    sample.save()
    resumed = model(batch_size=1)
    summary = run_videogem(dataset, resumed, "vgem", progress=False)
    assert summary.frames_grounded == 1 and summary.frames_skipped == 9
    assert_same_labels(labels_by_frame(dataset), expected)

    map_dir = tmp_path / "maps"
    run_videogem(dataset, model(batch_size=1), "files", heatmap_storage="files", map_dir=str(map_dir),
                 heatmaps="all", progress=False)
    paths = dataset.values("frames.files_heatmap.map_path")[0]
    os.remove(paths[6])
    again = model(batch_size=1)
    summary = run_videogem(dataset, again, "files", heatmap_storage="files", map_dir=str(map_dir),
                           heatmaps="all", progress=False)
    assert summary.frames_grounded == 1 and summary.frames_skipped == 9 and os.path.isfile(paths[6])


def test_out_of_memory_keeps_the_smaller_batch_for_the_rest_of_the_run(make_dataset, tmp_path):
    for error in (MemoryError, RuntimeError):
        dataset = video_dataset(make_dataset, tmp_path, num_frames=40, gt_frames=(), name=f"oom{error.__name__}")
        OutOfMemoryEngine.error = error
        oom = model(OutOfMemoryEngine, batch_size=8)
        summary = run_videogem(dataset, oom, "vgem", progress=False)
        assert summary.frames_grounded == 40 and summary.samples_failed == 0
        # 8 and 4 failed once; every later pass starts at the 2 that worked
        assert oom.engine.pass_sizes[:3] == [-8, -4, 2]
        assert set(oom.engine.pass_sizes[3:]) == {2} and sum(oom.engine.pass_sizes[2:]) == 40
        assert oom.engine.batch_limit.size == 2


def test_engine_failure_without_skip_failures_raises_after_recording(make_dataset, tmp_path):
    dataset = video_dataset(make_dataset, tmp_path, num_frames=12, gt_frames=())
    with pytest.raises(GroundingError, match="the engine failed: RuntimeError: the engine broke"):
        run_videogem(dataset, model(FailingEngine), "vgem", skip_failures=False, progress=False)
    assert "the engine broke" in dataset.first()["vgem_error"]
    assert sorted(labels_by_frame(dataset)) == [1, 2, 3, 4, 9, 10, 11, 12]
    results = dataset.load_run_results("videogem_vgem")
    assert results.samples_failed == 1 and results.stopped.startswith("GroundingError")
    assert results.failures[0]["frames"] == [5, 6, 7, 8]


# ---------------------------------------------------------------------- bad input, up front
@pytest.mark.parametrize("options,match", [
    (dict(prompt=5), "prompt must be the action text, e.g. prompt='cut onion', got 5"),
    (dict(decomposition="no"), "decomposition must be True or False"),
    (dict(batch_size="8"), "batch_size must be an integer, got '8'"),
    (dict(skip_failures="yes"), "skip_failures must be True or False"),
    (dict(heatmap_storage="files", map_dir="FILE/maps"), "cannot be created: '.*' is a file"),
])
def test_bad_options_are_refused_before_anything_is_written(make_dataset, tmp_path, options, match):
    dataset = video_dataset(make_dataset, tmp_path)
    (tmp_path / "FILE").write_text("")
    if "map_dir" in options:
        options["map_dir"] = options["map_dir"].replace("FILE", str(tmp_path / "FILE"))
    with pytest.raises(ValueError, match=match):
        run_videogem(dataset, model(), "vgem", **options)
    assert dataset.list_runs() == [] and dataset.get_field("frames.vgem") is None


# ------------------------------------------------------------------------------- command line
def cli_error(capsys, *argv) -> str:
    """Runs a command that must fail on user input: exit code 1, ``error: ...``, no traceback."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 1, captured
    assert captured.err.startswith("error: ") or "\nerror: " in captured.err, captured.err
    assert "Traceback" not in captured.err + captured.out
    return captured.err[captured.err.index("error: "):]


def test_ground_command_reports_user_errors(tmp_path, capsys):
    video = make_video(tmp_path / "v.mp4", num_frames=10, size=SIZE)
    tiny = ["--backbone", "test-vit-tiny", "--random-weights"]
    assert "does not exist" in cli_error(capsys, "ground", str(tmp_path / "missing.mp4"), PROMPT, *tiny)
    corrupt = make_corrupt_video(tmp_path / "corrupt.mp4")
    assert "corrupt" in cli_error(capsys, "ground", corrupt, PROMPT, *tiny)
    # a bad --output is found before the video is read
    message = cli_error(capsys, "ground", str(tmp_path / "missing.mp4"), PROMPT, *tiny,
                        "--output", str(tmp_path / "no" / "out.png"))
    assert "--output" in message and "does not exist; create it" in message
    assert ".png or .jpg" in cli_error(capsys, "ground", video, PROMPT, *tiny, "--output", str(tmp_path / "x.txt"))
    assert "outside the video" in cli_error(capsys, "ground", video, PROMPT, *tiny, "--frame", "50")
    weights = tmp_path / "weights.pt"
    weights.write_text("not weights")
    for checkpoint in (weights, tmp_path):
        message = cli_error(capsys, "ground", video, PROMPT, "--backbone", "test-vit-tiny", "--checkpoint",
                            str(checkpoint))
        assert f"checkpoint '{checkpoint}' could not be loaded into backbone 'test-vit-tiny'" in message


def test_benchmark_command_reports_user_errors_before_the_long_work(tmp_path, capsys):
    name = f"test-faults-bench-{uuid.uuid4().hex[:8]}"
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "xG9G-qHNbtY.mp4", num_frames=25, size=(48, 36), fps=2)
    common = ["benchmark", "--dataset", "groundingyoutube", "--name", name, "--backbone", "test-vit-tiny",
              "--random-weights"]
    try:
        assert "does not exist or is not a folder" in cli_error(capsys, *common, "--annotations", str(GYT_DIR),
                                                                "--videos", str(tmp_path / "missing"))
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        assert "is not valid JSON" in cli_error(capsys, *common, "--annotations", str(bad), "--videos", str(videos))
        youcook = tmp_path / "youcook"
        shutil.copytree(YOUCOOK_EXCERPT_DIR, youcook)
        (youcook / "final_dataset_annotations.pkl").write_bytes(b"garbage")  # a damaged pickle
        message = cli_error(capsys, "benchmark", "--dataset", "youcook2_interactions", "--name", name, "--backbone",
                            "test-vit-tiny", "--random-weights", "--annotations", str(youcook), "--videos", str(videos))
        assert "final_dataset_annotations.pkl' is not a readable annotation pickle" in message
        message = cli_error(capsys, *common, "--annotations", str(GYT_DIR), "--videos", str(videos),
                            "--output", str(tmp_path / "no" / "results.json"))
        assert "--output" in message and not fo.dataset_exists(name)  # checked before the import
        message = cli_error(capsys, *common, "--annotations", str(GYT_DIR), "--videos", str(videos),
                            "--label-field", "1st", "--output", str(tmp_path / "r.json"))
        assert "evaluation key '1st_pg'" in message and "nothing was grounded" in message
        assert fo.load_dataset(name).get_field("frames.1st") is None
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def test_demo_and_ground_dataset_commands_report_user_errors(make_dataset, tmp_path, capsys):
    assert "is not a folder" in cli_error(capsys, "demo", "--no-app", "--videos", str(tmp_path / "missing"),
                                          "--prompt", PROMPT)
    weights = tmp_path / "weights.pt"
    weights.write_text("not weights")
    assert "could not load --checkpoint" in cli_error(capsys, "demo", "--no-app", "--backbone", "test-vit-tiny",
                                                      "--checkpoint", str(weights), "--dataset",
                                                      f"test-faults-{uuid.uuid4().hex[:8]}")
    assert "there is no FiftyOne dataset" in cli_error(capsys, "ground-dataset", f"missing-{uuid.uuid4().hex}",
                                                       "--prompt", PROMPT)
    dataset = video_dataset(make_dataset, tmp_path)
    dataset.persistent = True
    sample = dataset.first()
    sample.frames[3]["pose"] = fol.Keypoints(keypoints=[fol.Keypoint(label="wrist", points=[(0.5, 0.5)])])
    sample.save()
    message = cli_error(capsys, "ground-dataset", dataset.name, "--prompt", PROMPT, "--frames", "all",
                        "--label-field", "pose", "--backbone", "test-vit-tiny", "--random-weights")
    assert "'frames.pose' exists and was not created by a VideoGEM run" in message
    assert dataset.first().frames[3]["pose"].keypoints[0].label == "wrist"


def test_a_command_run_as_a_process_reports_errors_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fiftyone_videogem", "ground", str(tmp_path / "missing.mp4"), PROMPT,
                           "--backbone", "test-vit-tiny", "--random-weights"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 1
    assert "error: video" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
