"""The VideoGEM FiftyOne model and grounding runs: apply_model and run_videogem on real datasets
and videos.

Videos are generated with PyAV; every frame encodes its own frame number, and the engine used here
is a real VideoGEM (tiny random-weight backbones) that also records which frames it was given, so
the tests know which decoded frame each stored label must come from. The apply_model tests use
only FiftyOne's public API: ``apply_model`` and what it writes.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid

import cv2
import numpy as np
import pytest
import torch

import fiftyone as fo
import fiftyone.core.labels as fol
import fiftyone.core.models as fom
from fiftyone import ViewField as F

import fiftyone_videogem as fvg
from fiftyone_videogem.engine import VideoGEM, build_backbone
from fiftyone_videogem.engine.prompts import parse_prompt
from fiftyone_videogem.model import VideoGEMModel, VideoGEMModelConfig, load_model
from fiftyone_videogem.runner import GroundingError, iter_videogem, run_videogem
from fiftyone_videogem.video import context_frame_numbers
from tests.videos import frame_image, frame_number_of, make_corrupt_video, make_video, make_zero_frame_video

LABEL = "vgem"
SIZE = (64, 48)


# --------------------------------------------------------------------------------- helpers
class RecordingEngine(VideoGEM):
    """A real VideoGEM that remembers the frame numbers encoded in the frames it grounds."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[list] = []
        self.results: list[tuple] = []
        self.prompts: list = []

    def ground_batch(self, frames, prompts):
        frames = list(frames)
        numbers = [
            [frame_number_of(f) for f in item] if isinstance(item, list) else frame_number_of(item)
            for item in frames
        ]
        self.calls.append(numbers)
        self.prompts.extend(prompts)
        results = super().ground_batch(frames, prompts)
        self.results.extend(zip(numbers, [getattr(p, "action", p) for p in prompts], results))
        return results

    def result_for(self, number):
        """The latest result computed from the frame that encodes ``number``."""
        for numbers, _, result in reversed(self.results):
            target = numbers[self.info.target_frame] if isinstance(numbers, list) else numbers
            if target == number:
                return result
        raise KeyError(number)


@functools.lru_cache(maxsize=None)
def _backbone(name: str):
    return build_backbone(name, pretrained=False, seed=0)


def recording_engine(name: str = "test-vit-tiny", **options) -> RecordingEngine:
    return RecordingEngine(_backbone(name), device="cpu", **options)


@pytest.fixture
def dataset():
    ds = fo.Dataset(f"vgem-model-{uuid.uuid4().hex[:8]}")
    yield ds
    ds.delete()


def box(label="x"):
    return fo.Detections(detections=[fo.Detection(label=label, bounding_box=[0.25, 0.25, 0.5, 0.5])])


def add_video(ds, path, gt_frames=(), action="cut onion", frame_actions=None, **fields):
    sample = fo.Sample(filepath=str(path), **({"action": action} if action is not None else {}), **fields)
    ds.add_sample(sample)
    for fn in gt_frames:
        sample.frames[fn]["gt"] = box(action or "x")
        if frame_actions is not None:
            sample.frames[fn]["step"] = frame_actions.get(fn)
    sample.save()
    return sample


def video_dataset(ds, tmp_path, specs):
    """``specs``: list of (name, num_frames, gt_frames); returns the samples."""
    samples = []
    for name, num_frames, gt_frames in specs:
        path = make_video(tmp_path / f"{name}.mp4", num_frames=num_frames, size=SIZE)
        samples.append(add_video(ds, path, gt_frames))
    return samples


def labelled_frames(ds, field):
    """Per sample, the frame numbers that have a value in ``frames.<field>``."""
    return [[fn for fn, v in zip(fns, vals) if v is not None]
            for fns, vals in zip(ds.values("frames.frame_number"), ds.values(f"frames.{field}"))]


def check_keypoints(kps, result, action="cut onion"):
    assert isinstance(kps, fol.Keypoints)
    assert [k.component for k in kps.keypoints] == ["final", "action", "verb", "object"]
    final = kps.keypoints[0]
    assert final.label == action
    assert final.points[0] == pytest.approx(result.point)
    assert final.input_point == list(result.input_point)
    assert final.input_size == [64, 64]
    for kp in kps.keypoints:
        x, y = kp.points[0]
        assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        assert 0 <= kp.input_point[0] < 64 and 0 <= kp.input_point[1] < 64
        assert 0.0 <= kp.heat <= 1.0
    assert kps.keypoints[1].score == pytest.approx(result.components["action"].score)


def check_heatmap(heatmap):
    assert heatmap.map.dtype == np.float32 and heatmap.map.shape == (4, 4)  # 64 px / 16 px patches
    assert list(heatmap.range) == [0, 1]
    assert heatmap.map.min() == 0.0 and heatmap.map.max() == 1.0


# ------------------------------------------------------------------------- apply_model: videos
def test_apply_model_returns_the_labels_of_the_gt_frames_and_fiftyone_writes_them(dataset, tmp_path):
    a, b = video_dataset(dataset, tmp_path, [("a", 30, [3, 10, 25]), ("b", 20, [7])])
    engine = recording_engine()
    model = load_model(engine)
    assert isinstance(model, VideoGEMModel) and model.media_type == "video"
    state = dict(vars(model))

    dataset.apply_model(model, label_field=LABEL, prompt_field="action", gt_field="frames.gt",
                        skip_failures=False, progress=False)

    # exactly the annotated frames were decoded and grounded, each from its own image
    assert sorted(n for call in engine.calls for n in call) == [3, 7, 10, 25]
    # FiftyOne stores {frame: {"points": ..., "heatmap": ...}} as <label_field>_points / _heatmap
    assert {"vgem_points", "vgem_heatmap"} <= set(dataset.get_frame_field_schema())
    assert labelled_frames(dataset, "vgem_points") == [[3, 10, 25], [7]]
    assert labelled_frames(dataset, "vgem_heatmap") == [[3, 10, 25], [7]]
    for sample, fn in ((a, 3), (a, 25), (b, 7)):
        frame = dataset[sample.id].frames[fn]
        check_keypoints(frame["vgem_points"], engine.result_for(fn))
        assert frame["vgem_points"].keypoints[1].prompt == "A photo of a person cut onion."
        check_heatmap(frame["vgem_heatmap"])
    # no frame document was created for frames without ground truth
    assert sorted(dataset[a.id].frames.keys()) == [3, 10, 25]
    # the model wrote nothing itself (no error field, no run record) and kept no state of the run
    assert dataset.get_field(f"{LABEL}_error") is None and dataset.list_runs() == []
    assert vars(model) == state and model.needs_fields == {}


def test_label_fields_dict_puts_labels_side_by_side_and_reruns_replace(dataset, tmp_path):
    (a,) = video_dataset(dataset, tmp_path, [("a", 20, [2, 8])])
    engine = recording_engine()
    model = load_model(engine, heatmaps="all")
    assert model.label_fields(LABEL) == {"points": "vgem", "heatmap": "vgem_heatmap",
                                         "heatmap_verb": "vgem_heatmap_verb",
                                         "heatmap_object": "vgem_heatmap_object",
                                         "heatmap_merged": "vgem_heatmap_merged"}
    kwargs = dict(label_field=model.label_fields(LABEL), prompt_field="action", gt_field="frames.gt",
                  skip_failures=False, progress=False)
    dataset.apply_model(model, **kwargs)
    frame = dataset[a.id].frames[8]
    check_keypoints(frame[LABEL], engine.result_for(8))
    check_heatmap(frame[f"{LABEL}_heatmap"])
    assert frame[f"{LABEL}_heatmap_verb"].map.shape == (4, 4) and frame[f"{LABEL}_heatmap_object"] is not None
    ids = dataset.values(f"frames.{LABEL}.keypoints.id", unwind=True)
    assert len(ids) == 8

    # a rerun replaces the labels: new keypoints, not appended ones
    dataset.apply_model(model, **kwargs)
    again = dataset.values(f"frames.{LABEL}.keypoints.id", unwind=True)
    assert len(again) == 8 and not set(again) & set(ids)
    assert len(engine.calls) == 2


def test_apply_model_without_keywords_uses_the_fields_given_at_load_time(dataset, tmp_path):
    """The model zoo's "Apply zoo model" operator calls apply_model with no prompt keywords, which
    resets needs_fields to {}: the fields of the model's config are used and read."""
    path = make_video(tmp_path / "v.mp4", num_frames=20, size=SIZE)
    sample = add_video(dataset, path, [4, 11], frame_actions={4: "open door", 11: "close door"})
    engine = recording_engine()
    model = load_model(engine, prompt_field="frames.step", gt_field="frames.gt")
    assert model.needs_fields == {"prompt_field": "frames.step", "gt_field": "frames.gt"}

    dataset.apply_model(model, label_field="zoo", skip_failures=False, progress=False)
    frames = dataset[sample.id].frames
    assert frames[4]["zoo_points"].keypoints[0].label == "open door"
    assert frames[11]["zoo_points"].keypoints[0].label == "close door"
    assert sorted(n for call in engine.calls for n in call) == [4, 11]

    # keywords override the config for one call
    dataset.apply_model(model, label_field="kw", prompt_field="action", gt_field="frames.gt", progress=False)
    assert dataset[sample.id].frames[4]["kw_points"].keypoints[0].label == "cut onion"
    assert model.needs_fields == {"prompt_field": "frames.step", "gt_field": "frames.gt"}


def test_failures_in_predict_get_fiftyones_skip_failures(dataset, tmp_path, caplog):
    good = add_video(dataset, make_video(tmp_path / "good.mp4", num_frames=20, size=SIZE), [4, 12])
    no_gt = add_video(dataset, make_video(tmp_path / "nogt.mp4", num_frames=10, size=SIZE), [])
    past_end = add_video(dataset, make_video(tmp_path / "short.mp4", num_frames=10, size=SIZE), [5, 14])
    later = add_video(dataset, make_video(tmp_path / "later.mp4", num_frames=10, size=SIZE), [3])
    engine = recording_engine()
    model = load_model(engine, prompt_field="action", gt_field="frames.gt")

    with caplog.at_level(logging.WARNING):
        dataset.apply_model(model, label_field=LABEL, progress=False)
    # the failing sample is logged by FiftyOne and the run goes on; a partial one keeps its good frame
    assert labelled_frames(dataset, f"{LABEL}_points") == [[4, 12], [], [5], [3]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(no_gt.id in w and "no frame of this video has ground truth in 'frames.gt'" in w for w in warnings)
    assert any("frame(s) 14 are past the end of the video" in w for w in warnings)

    with pytest.raises(GroundingError, match="no frame of this video has ground truth"):
        dataset.apply_model(model, label_field="strict", skip_failures=False, progress=False)
    assert labelled_frames(dataset, "strict_points") == [[4, 12], [], [], []]
    assert good.id and past_end.id and later.id


def test_bad_inputs_through_apply_model(dataset, tmp_path):
    s = _bad_input_dataset(dataset, tmp_path)
    engine = recording_engine()
    dataset.apply_model(load_model(engine), label_field=LABEL, prompt_field="action", gt_field="frames.gt",
                        progress=False)
    assert sorted(n for call in engine.calls for n in call) == [4, 5, 10, 12]
    labelled = dict(zip(dataset.values("id"), labelled_frames(dataset, f"{LABEL}_points")))
    assert labelled[s["good"].id] == [4, 12] and labelled[s["past_end"].id] == [5] and labelled[s["last"].id] == [10]
    assert all(not labelled[s[n].id] for n in EXPECTED_ERRORS if n != "past_end")


def test_frame_level_prompts_and_prompt_field_types(dataset, tmp_path):
    path = make_video(tmp_path / "v.mp4", num_frames=20, size=SIZE)
    sample = add_video(dataset, path, [2, 9], action=None, frame_actions={2: "crack eggs", 9: "pour milk"})
    sample.frames[2]["dets"] = box("whisk eggs")
    sample.frames[9]["dets"] = fo.Detections(detections=[])
    sample["cls"] = fo.Classification(label="stir soup")
    sample.save()
    engine = recording_engine()
    model = load_model(engine)

    dataset.apply_model(model, label_field="a", prompt_field="frames.step", gt_field="frames.gt", progress=False)
    frames = dataset[sample.id].frames
    assert frames[2]["a_points"].keypoints[0].label == "crack eggs"
    assert frames[9]["a_points"].keypoints[0].label == "pour milk"

    dataset.apply_model(model, label_field="b", prompt_field="cls", gt_field="frames.gt", progress=False)
    assert [dataset[sample.id].frames[n]["b_points"].keypoints[0].label for n in (2, 9)] == ["stir soup"] * 2

    # a Detections prompt uses the first label; a frame without one is recorded, the other frame is done
    summary = run_videogem(dataset, model, "c", prompt_field="frames.dets", gt_field="frames.gt", progress=False)
    frames = dataset[sample.id].frames
    assert frames[2]["c"].keypoints[0].label == "whisk eggs"
    assert frames[9]["c"] is None
    assert summary.frames_grounded == 1 and summary.frames_failed == 1
    assert "frame(s) 9 have no action text in 'frames.dets'" in dataset[sample.id]["c_error"]

    # a fixed prompt set on the model
    fixed = load_model(engine, prompt="chop garlic", gt_field="frames.gt")
    dataset.apply_model(fixed, label_field="d", progress=False)
    kps = dataset[sample.id].frames[9]["d_points"]
    assert kps.keypoints[0].label == "chop garlic"
    assert [k.prompt for k in kps.keypoints[1:]] == [
        "A photo of a person chop garlic.", "A photo of a person chop something.", "A photo of a person using garlic."]


# ------------------------------------------------------------------------------ validation
def test_settings_are_validated_before_any_work(dataset, tmp_path):
    video_dataset(dataset, tmp_path, [("a", 10, [2])])
    dataset.add_sample_field("dets", fo.EmbeddedDocumentField, embedded_doc_type=fol.Detections)
    engine = recording_engine()
    model = load_model(engine)

    # raised by the model as apply_model enters it, whatever skip_failures says
    cases = [
        (dict(gt_field="frames.gt"), "no prompt source"),
        (dict(prompt_field="action"), "no gt_field was given"),
        (dict(prompt_field="action", gt_field="frames.gt", frames="all"), "unknown keyword argument(s) ['frames']"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as info:
            dataset.apply_model(model, label_field=LABEL, progress=False, **kwargs)
        assert message in str(info.value), (kwargs, str(info.value))
    with pytest.raises(ValueError, match="output_dir"):
        dataset.apply_model(load_model(engine, heatmap_storage="files"), label_field=LABEL, prompt_field="action",
                            gt_field="frames.gt", progress=False)
    # raised per sample (here with skip_failures=False)
    for kwargs, message in [
        (dict(prompt_field="metadata", gt_field="frames.gt"), "use a string, Classification"),
        (dict(prompt_field="filepath", gt_field="metadata"), "sample-level field"),
    ]:
        with pytest.raises(ValueError) as info:
            dataset.apply_model(model, label_field=LABEL, skip_failures=False, progress=False, **kwargs)
        assert message in str(info.value), (kwargs, str(info.value))
    assert engine.calls == []
    assert not any(name.startswith(LABEL) for name in dataset.get_frame_field_schema())

    # run_videogem checks everything, the label field included, before any work
    run_cases = [
        (dict(prompt_field="nothing", gt_field="frames.gt"), "'nothing' does not exist"),
        (dict(prompt_field="action", gt_field="frames.nothing"), "'frames.nothing' does not exist"),
        (dict(prompt_field="frames.gt.detections", gt_field="frames.gt"), "is a ListField field"),
        (dict(prompt_field="metadata", gt_field="frames.gt"), "use a string, Classification"),
    ]
    for kwargs, message in run_cases:
        with pytest.raises(ValueError) as info:
            run_videogem(dataset, model, LABEL, progress=False, **kwargs)
        assert message in str(info.value), (kwargs, str(info.value))
    with pytest.raises(ValueError, match="already exists as a Detections field"):
        run_videogem(dataset, model, "frames.gt", prompt_field="action", gt_field="frames.gt")
    with pytest.raises(ValueError, match="both prompt="):
        run_videogem(dataset, load_model(engine, prompt="x", prompt_field="action"), "z")
    assert engine.calls == [] and dataset.list_runs() == []

    with pytest.raises(ValueError, match="unknown option"):
        load_model("test-vit-tiny", random_weights=True, colour="red")
    with pytest.raises(ValueError, match="every N-th frame"):
        load_model(engine, frames=0)
    with pytest.raises(ValueError, match="context_edge must be one of"):
        load_model(engine, context_edge="wrap")
    with pytest.raises(ValueError, match="engine instance is wrapped as it is"):
        load_model(engine, weighting="none")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_model("test-vit-tiny", random_weights=True, device="cuda")
    with pytest.raises(ValueError, match="needs the samples"):
        model.predict(np.zeros((48, 64, 3), np.uint8))


def test_fiftyone_builds_the_model_from_its_config(dataset, tmp_path):
    """``fom.load_model({"type": ..., "config": ...})``, as FiftyOne builds its own models."""
    (sample,) = video_dataset(dataset, tmp_path, [("a", 10, [3])])
    model = fom.load_model({
        "type": "fiftyone_videogem.model.VideoGEMModel",
        "config": {"backbone": "test-vit-tiny", "random_weights": True, "device": "cpu", "weighting": "static",
                   "prompt_field": "action", "gt_field": "frames.gt"},
    })
    assert isinstance(model, VideoGEMModel) and isinstance(model.config, VideoGEMModelConfig)
    assert model.engine.info.name == "test-vit-tiny" and model.engine.options.weighting == "static"
    dataset.apply_model(model, label_field=LABEL, skip_failures=False, progress=False)
    assert dataset[sample.id].frames[3]["vgem_points"].keypoints[0].label == "cut onion"


# ---------------------------------------------------------------------------- bad inputs
def _bad_input_dataset(ds, tmp_path):
    good = add_video(ds, make_video(tmp_path / "good.mp4", num_frames=20, size=SIZE), [4, 12])
    missing = add_video(ds, tmp_path / "missing.mp4", [3])
    corrupt = add_video(ds, make_corrupt_video(tmp_path / "corrupt.mp4"), [3])
    empty = add_video(ds, make_zero_frame_video(tmp_path / "empty.avi"), [1])
    past_end = add_video(ds, make_video(tmp_path / "short.mp4", num_frames=10, size=SIZE), [5, 14, 15])
    no_prompt = add_video(ds, make_video(tmp_path / "noprompt.mp4", num_frames=10, size=SIZE), [2], action="  ")
    no_gt = add_video(ds, make_video(tmp_path / "nogt.mp4", num_frames=10, size=SIZE), [])
    last = add_video(ds, make_video(tmp_path / "last.mp4", num_frames=10, size=SIZE), [10])
    return dict(good=good, missing=missing, corrupt=corrupt, empty=empty, past_end=past_end,
                no_prompt=no_prompt, no_gt=no_gt, last=last)


EXPECTED_ERRORS = {
    "missing": "does not exist",
    "corrupt": "could not be opened",
    "empty": "has no frames",
    "past_end": "frame(s) 14, 15 are past the end of the video",
    "no_prompt": "no action text in 'action'",
    "no_gt": "no frame of this video has ground truth in 'frames.gt'",
}


def test_bad_inputs_are_recorded_per_sample_and_the_run_goes_on(dataset, tmp_path, caplog):
    s = _bad_input_dataset(dataset, tmp_path)
    engine = recording_engine()
    summary = run_videogem(dataset, load_model(engine), LABEL, prompt_field="action", gt_field="frames.gt",
                           progress=False)

    errors = dict(zip(dataset.values("id"), dataset.values(f"{LABEL}_error")))
    for name, message in EXPECTED_ERRORS.items():
        assert errors[s[name].id] is not None and message in errors[s[name].id], (name, errors[s[name].id])
    assert errors[s["good"].id] is None and errors[s["last"].id] is None
    assert {f.sample_id for f in summary.failures} == {s[n].id for n in EXPECTED_ERRORS}
    assert next(f for f in summary.failures if f.sample_id == s["past_end"].id).frames == [14, 15]
    # the good frames of every video were grounded, including the partial one
    assert sorted(n for call in engine.calls for n in call) == [4, 5, 10, 12]
    assert summary.frames_grounded == 4 and summary.samples_grounded == 3 and summary.samples_failed == 6
    assert dataset[s["past_end"].id].frames[5][LABEL] is not None
    stored = fvg.runs.load_videogem_results(dataset, "videogem_vgem")
    assert len(stored["failures"]) == 6 and stored["frames_grounded"] == 4
    assert any("does not exist" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------- resume / overwrite
def test_rerun_resumes_and_overwrite_redoes(dataset, tmp_path):
    a, b = video_dataset(dataset, tmp_path, [("a", 20, [2, 8]), ("b", 20, [5])])
    engine = recording_engine()
    model = load_model(engine)
    kwargs = dict(prompt_field="action", gt_field="frames.gt", progress=False)
    run_videogem(dataset, model, LABEL, **kwargs)
    ids = dataset.values(f"frames.{LABEL}.keypoints.id", unwind=True)
    assert len(ids) == 12 and len(engine.calls) == 1

    # nothing left to do: nothing is grounded, nothing changes
    summary = run_videogem(dataset, model, LABEL, **kwargs)
    assert len(engine.calls) == 1
    assert dataset.values(f"frames.{LABEL}.keypoints.id", unwind=True) == ids
    assert summary.frames_skipped == 3 and summary.samples_up_to_date == 2

    # a frame whose labels were removed, and a new annotated frame, are the only ones grounded
    sample = dataset[a.id]
    sample.frames[8][LABEL] = None
    sample.frames[15]["gt"] = box()
    sample.save()
    fields = dict(prompt_field="action", gt_field="frames.gt")
    summary = run_videogem(dataset, model, LABEL, progress=False, **fields)
    assert engine.calls[1:] == [[8, 15]]
    assert summary.frames_grounded == 2 and summary.frames_skipped == 2
    assert dataset[a.id].frames[2][LABEL].keypoints[0].id in ids

    # overwrite redoes everything, replacing (not appending) the keypoints
    summary = run_videogem(dataset, model, LABEL, overwrite=True, progress=False, **fields)
    assert sorted(engine.calls[2]) == [2, 5, 8, 15] and summary.frames_grounded == 4
    kps = dataset[a.id].frames[2][LABEL].keypoints
    assert len(kps) == 4 and kps[0].id not in ids


def test_interrupted_run_keeps_what_it_wrote(dataset, tmp_path):
    good, bad, later = video_dataset(dataset, tmp_path, [("a", 10, [2]), ("b", 10, [3]), ("c", 10, [4])])
    os.remove(bad.filepath)
    engine = recording_engine(batch_size=1)
    with pytest.raises(GroundingError, match="does not exist"):
        run_videogem(dataset, load_model(engine), LABEL, prompt_field="action", gt_field="frames.gt",
                     skip_failures=False, progress=False)
    assert dataset[good.id].frames[2][LABEL] is not None
    assert "does not exist" in dataset[bad.id][f"{LABEL}_error"]
    assert dataset[later.id].frames[4][LABEL] is None
    assert dataset.load_run_results("videogem_vgem").frames_grounded == 1

    # apply_model with skip_failures=False stops at the same sample and keeps the first video
    with pytest.raises(Exception):
        dataset.apply_model(load_model(engine), label_field="other", prompt_field="action",
                            gt_field="frames.gt", skip_failures=False, progress=False)
    assert dataset[good.id].frames[2]["other_points"] is not None
    assert dataset[later.id].frames[4]["other_points"] is None

    # the rerun after fixing the file resumes: only the remaining videos are grounded
    make_video(bad.filepath, num_frames=10, size=SIZE)
    before = len(engine.calls)
    summary = run_videogem(dataset, load_model(engine), LABEL, prompt_field="action", gt_field="frames.gt",
                           progress=False)
    assert sorted(n for call in engine.calls[before:] for n in call) == [3, 4]
    assert summary.frames_skipped == 1 and dataset[bad.id][f"{LABEL}_error"] is None


def test_stopping_the_generator_keeps_finished_samples(dataset, tmp_path):
    a, b = video_dataset(dataset, tmp_path, [("a", 10, [2]), ("b", 10, [3])])
    events = iter_videogem(dataset, load_model(recording_engine(batch_size=1)), LABEL, prompt_field="action",
                           gt_field="frames.gt")
    first = next(events)
    assert first.samples_done == 1 and first.samples_total == 2 and first.fraction == 0.5
    events.close()
    assert dataset[a.id].frames[2][LABEL] is not None
    assert dataset[b.id].frames[3][LABEL] is None


# ---------------------------------------------------------------------------- frame selection
def test_frame_selection_all_interval_and_list(dataset, tmp_path):
    (sample,) = video_dataset(dataset, tmp_path, [("a", 12, [5])])
    engine = recording_engine(batch_size=5)
    model = load_model(engine, prompt="wave hand")

    run_videogem(dataset, model, "every4", frames=4, progress=False)
    assert sorted(n for c in engine.calls for n in c) == [1, 5, 9]
    engine.calls.clear()
    run_videogem(dataset, model, "listed", frames=[12, 2, 13], progress=False)
    assert sorted(n for c in engine.calls for n in c) == [2, 12]
    assert "13 are past the end" in dataset[sample.id]["listed_error"]
    engine.calls.clear()
    summary = run_videogem(dataset, model, "all", frames="all", progress=False)
    assert sorted(n for c in engine.calls for n in c) == list(range(1, 13))
    assert [len(c) for c in engine.calls] == [5, 5, 2]
    assert summary.frames_grounded == 12
    assert len(dataset[sample.id].frames) == 12


def test_batches_span_videos(dataset, tmp_path):
    video_dataset(dataset, tmp_path, [("a", 10, [2]), ("b", 10, [3, 4]), ("c", 10, [5])])
    engine = recording_engine(batch_size=3)
    summary = run_videogem(dataset, load_model(engine), LABEL, prompt_field="action", gt_field="frames.gt",
                           progress=False)
    assert engine.calls == [[2, 3, 4], [5]]
    assert summary.frames_grounded == 4


def test_video_backbone_gets_context_windows(dataset, tmp_path):
    path = make_video(tmp_path / "v.mp4", num_frames=40, size=SIZE, fps=10)
    sample = add_video(dataset, path, [1, 20, 39])
    engine = recording_engine("test-viclip-tiny")
    assert engine.info.num_frames == 8 and engine.info.target_frame == 4
    run_videogem(dataset, load_model(engine), LABEL, prompt_field="action", gt_field="frames.gt",
                 context_stride=0.3, progress=False)
    windows = [w for call in engine.calls for w in call]
    expected = [context_frame_numbers(t, 8, 4, 3, 1, 40) for t in (1, 20, 39)]
    assert windows == expected
    assert expected[0] == [1, 1, 1, 1, 1, 4, 7, 10] and expected[2] == [27, 30, 33, 36, 39, 40, 40, 40]
    kps = dataset[sample.id].frames[20][LABEL]
    assert kps.keypoints[0].input_size == [32, 32]
    assert dataset[sample.id].frames[20][f"{LABEL}_heatmap"].map.shape == (4, 4)

    engine.calls.clear()
    run_videogem(dataset, load_model(engine), "strided", prompt_field="action", gt_field="frames.gt",
                 context_stride_frames=1, progress=False)
    assert engine.calls[0][1] == list(range(16, 24))


# ------------------------------------------------------------------------------- heatmaps
@pytest.mark.parametrize("dtype,top", [("uint8", 255), ("uint16", 65535)])
def test_heatmap_files(dataset, tmp_path, dtype, top):
    (sample,) = video_dataset(dataset, tmp_path, [("a", 10, [3])])
    engine = recording_engine(merge="heatmap_average")
    map_dir = tmp_path / "maps"
    run_videogem(dataset, load_model(engine), LABEL, prompt_field="action", gt_field="frames.gt",
                 heatmap_storage="files", map_dir=str(map_dir), heatmaps="all", heatmap_size="frame",
                 heatmap_dtype=dtype, progress=False)
    frame = dataset[sample.id].frames[3]
    for suffix in ("", "_verb", "_object", "_merged"):
        heatmap = frame[f"{LABEL}_heatmap{suffix}"]
        assert heatmap.map is None and list(heatmap.range) == [0, top]
        assert heatmap.map_path.startswith(str(map_dir))
        array = cv2.imread(heatmap.map_path, cv2.IMREAD_UNCHANGED)
        assert array.dtype == np.dtype(dtype) and array.shape == (48, 64)
        assert array.max() <= top and array.max() > 0
        assert heatmap.get_map().shape == (48, 64)
    result = engine.result_for(3)
    action = cv2.imread(frame[f"{LABEL}_heatmap"].map_path, cv2.IMREAD_UNCHANGED).astype(np.float64) / top
    expected = cv2.resize(result.components["action"].heatmap, (64, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(action - expected).max() < 0.02
    info = dataset.get_run_info("videogem_vgem").config
    assert info.map_dir == str(map_dir) and "frames.vgem_heatmap_merged" in info.fields


def test_deleting_the_run_deletes_its_fields(dataset, tmp_path):
    video_dataset(dataset, tmp_path, [("a", 10, [3])])
    os.remove(dataset.first().filepath)
    engine = recording_engine()
    model = load_model(engine)
    video_dataset(dataset, tmp_path, [("b", 10, [3])])
    run_videogem(dataset, model, LABEL, prompt_field="action", gt_field="frames.gt", heatmaps="all", progress=False)
    run_videogem(dataset, model, "keep", prompt_field="action", gt_field="frames.gt", progress=False)
    assert sorted(fvg.runs.list_videogem_runs(dataset)) == ["videogem_keep", "videogem_vgem"]
    assert dataset.get_field("vgem_error") is not None
    dataset.delete_run("videogem_vgem")
    frame_fields = set(dataset.get_frame_field_schema())
    assert not any(f.startswith("vgem") for f in frame_fields)
    assert {"gt", "keep", "keep_heatmap"} <= frame_fields
    assert dataset.get_field("vgem_error") is None
    fvg.runs.delete_videogem_run(dataset, "videogem_keep", delete_fields=False)
    assert dataset.list_runs() == [] and "keep" in dataset.get_frame_field_schema()


# ----------------------------------------------------------------- frames views and images
def test_frames_view(dataset, tmp_path):
    path = make_video(tmp_path / "v.mp4", num_frames=20, size=SIZE)
    sample = add_video(dataset, path, [4, 11], frame_actions={4: "open door", 11: "close door"})
    frames = dataset.match_frames(F("gt") != None).to_frames(
        sample_frames=True, sparse=True, output_dir=str(tmp_path / "frames"))
    assert len(frames) == 2
    engine = recording_engine()
    model = load_model(engine, media_type="image")
    with pytest.raises(ValueError, match="Video models can only be applied to video collections"):
        frames.apply_model(load_model(engine), label_field=LABEL, prompt_field="step", gt_field="gt")

    frames.apply_model(model, label_field=LABEL, prompt_field="step", gt_field="gt", skip_failures=False,
                       progress=False)
    assert sorted(n for c in engine.calls for n in c) == [4, 11]
    assert frames.values(f"{LABEL}_points.keypoints.label") == [
        ["open door", "action", "verb", "object"], ["close door", "action", "verb", "object"]]
    # labels written on the frames view reach the videos' frames
    dataset.reload()
    video_frames = dataset[sample.id].frames
    assert video_frames[11][f"{LABEL}_points"].keypoints[0].label == "close door"
    assert video_frames[4][f"{LABEL}_heatmap"].map.shape == (4, 4)

    # run_videogem on a frames view accepts frames.<field>, writes through to the videos, and resumes;
    # apply_model wrote frames.vgem_heatmap, which no run owns: writing there takes overwrite=True
    with pytest.raises(ValueError, match="frames.vgem_heatmap' exists and was not created by a VideoGEM run"):
        run_videogem(frames, model, LABEL, prompt_field="frames.step", gt_field="frames.gt", progress=False)
    summary = run_videogem(frames, model, LABEL, prompt_field="frames.step", gt_field="frames.gt", overwrite=True,
                           progress=False)
    assert summary.frames_grounded == 2
    assert dataset[sample.id].frames[11][LABEL].keypoints[0].label == "close door"
    assert "frames.vgem_heatmap" in dataset.app_config.active_fields.paths
    assert dataset.get_run_info("videogem_vgem").config.fields == ["frames.vgem", "frames.vgem_heatmap",
                                                                  "frames.vgem_error"]
    summary = run_videogem(frames, model, LABEL, prompt_field="frames.step", gt_field="frames.gt", progress=False)
    assert summary.frames_skipped == 2 and summary.frames_grounded == 0


def test_image_dataset(dataset, tmp_path):
    paths = []
    for n in (3, 9, 17):
        path = str(tmp_path / f"img{n}.png")
        cv2.imwrite(path, cv2.cvtColor(frame_image(n, SIZE), cv2.COLOR_RGB2BGR))
        paths.append(path)
    samples = [fo.Sample(filepath=p, action="ride bike", gt=box()) for p in paths]
    samples.append(fo.Sample(filepath=paths[0], action="ride bike"))  # no ground truth
    samples.append(fo.Sample(filepath=str(tmp_path / "gone.png"), action="ride bike", gt=box()))
    dataset.add_samples(samples)
    engine = recording_engine()
    model = load_model(engine, media_type="image")

    # batches of images through predict_all; the image without ground truth is logged, not written
    dataset.apply_model(model, label_field=LABEL, prompt_field="action", gt_field="gt", batch_size=2,
                        progress=False)
    assert engine.calls == [[3, 9], [17]]
    kps = dataset.values(f"{LABEL}_points.keypoints.component")
    assert kps[:3] == [["final", "action", "verb", "object"]] * 3 and kps[3:] == [None, None]
    assert dataset.first()[f"{LABEL}_heatmap"].map.shape == (4, 4)
    point = dataset.first()[f"{LABEL}_points"].keypoints[0].points[0]
    assert point == pytest.approx(engine.result_for(3).point)

    # single-sample predict path, fixed prompt, all samples
    engine.calls.clear()
    dataset.apply_model(load_model(engine, prompt="jump", frames="all", media_type="image"), label_field="other",
                        progress=False)
    assert sorted(n for c in engine.calls for n in c) == [3, 3, 9, 17]

    # run_videogem records the failures, and resumes (apply_model wrote vgem_heatmap: overwrite=True)
    engine.calls.clear()
    run_videogem(dataset, model, LABEL, prompt_field="action", gt_field="gt", overwrite=True, progress=False)
    errors = dataset.values(f"{LABEL}_error")
    assert errors[:3] == [None] * 3
    assert "no ground truth in 'gt'" in errors[3] and "does not exist" in errors[4]
    assert "vgem.keypoints.heat" in dataset.get_field_schema(flat=True)
    engine.calls.clear()
    summary = run_videogem(dataset, model, LABEL, prompt_field="action", frames="all", progress=False)
    assert engine.calls == [[3]] and summary.frames_skipped == 3

    with pytest.raises(ValueError, match="image collections accept"):
        run_videogem(dataset, model, "x", prompt_field="action", frames=3)
    model.media_type = "image"
    assert model.media_type == "image"


def test_image_model_refuses_video_collections(dataset, tmp_path):
    video_dataset(dataset, tmp_path, [("a", 10, [3])])
    model = load_model(recording_engine(), media_type="image")
    with pytest.raises(ValueError, match="every decoded frame"):
        dataset.apply_model(model, label_field=LABEL, prompt_field="action", gt_field="frames.gt",
                            skip_failures=False, progress=False)


def test_progress_callback_and_summary(dataset, tmp_path):
    video_dataset(dataset, tmp_path, [("a", 10, [2]), ("b", 10, [3])])
    events = []
    summary = run_videogem(dataset, "test-vit-tiny", LABEL, random_weights=True, prompt_field="action",
                           gt_field="frames.gt", progress=events.append)
    assert [(e.samples_done, e.samples_total) for e in events] == [(1, 2), (2, 2), (2, 2)]
    assert events[-1].summary is summary and summary.frames_grounded == 2
    assert "2 frame(s) grounded in 2 of 2 sample(s)" in str(summary)


def test_clips_view(dataset, tmp_path):
    path = make_video(tmp_path / "v.mp4", num_frames=30, size=SIZE)
    sample = add_video(dataset, path, [3, 4, 5, 20, 21])
    clips = dataset.to_clips("frames.gt")
    assert clips.values("support") == [[3, 5], [20, 21]]
    engine = recording_engine()
    # clips carry no video-level fields, so the prompt is fixed on the model
    clips.apply_model(load_model(engine, prompt="cut onion"), label_field=LABEL, gt_field="frames.gt",
                      skip_failures=False, progress=False)
    assert sorted(n for c in engine.calls for n in c) == [3, 4, 5, 20, 21]
    frames = dataset[sample.id].frames
    assert all(frames[n][f"{LABEL}_points"].keypoints[0].label == "cut onion" for n in (3, 4, 5, 20, 21))

    engine.calls.clear()
    run_videogem(clips.limit(1), load_model(engine, prompt="cut onion"), "in_clip", frames="all", progress=False)
    assert sorted(n for c in engine.calls for n in c) == [3, 4, 5]  # the clip's support only


def test_image_mode_feeds_the_keyframe_t_times(tmp_path):
    """Video backbones in image mode see the target frame repeated, not its context."""
    import fiftyone as fo
    import numpy as np

    import fiftyone_videogem as fvg
    from fiftyone_videogem.engine.grounding import VideoGEM

    from .videos import frame_number_of, make_video

    seen = []

    class Recording(VideoGEM):
        def ground_batch(self, frames, prompts):
            seen.extend([[frame_number_of(f, "bits") for f in item] for item in frames])
            return super().ground_batch(frames, prompts)

    base = VideoGEM.from_config("test-viclip-tiny")
    engine = Recording(base.backbone)
    path = str(tmp_path / "v.mp4")
    make_video(path, num_frames=40, size=(64, 48), fps=10)
    dataset = fo.Dataset()
    sample = fo.Sample(filepath=path, action="crack eggs")
    sample.frames[20] = fo.Frame(gt=fo.Detections(detections=[fo.Detection(label="x", bounding_box=[0, 0, 1, 1])]))
    dataset.add_sample(sample)
    try:
        fvg.run_videogem(dataset, fvg.load_model(engine, image_mode=True), "vg", prompt_field="action",
                         gt_field="frames.gt", skip_failures=False)
        assert seen == [[20] * 8]
        seen.clear()
        fvg.run_videogem(dataset, fvg.load_model(engine, context_stride_frames=2), "vg2", prompt_field="action",
                         gt_field="frames.gt", skip_failures=False)
        assert seen == [[12, 14, 16, 18, 20, 22, 24, 26]]
        assert dataset.count("frames.vg") == 1 and np.isfinite(dataset.values("frames.vg.keypoints.points",
                                                                              unwind=True)).all()
    finally:
        dataset.delete()


# ------------------------------------------------------------------ importers' hints
HINTED = "put the pan on the stove"


def object_prompt(kps):
    return next(k.prompt for k in kps.keypoints if k.component == "object")


def test_prompt_parser_hint_of_an_imported_dataset_is_honoured(dataset, tmp_path):
    """Importers store the benchmark's parser in the sample field ``prompt_parser``; unless the
    parser is passed explicitly, every path parses the prompts of such a dataset with it."""
    assert parse_prompt(HINTED, "auto").objects == ("pan", "stove")  # what the default would give
    hinted = "A photo of a person using the pan on the stove."
    path = make_video(tmp_path / "v.mp4", num_frames=10, size=SIZE)
    sample = add_video(dataset, path, [3], action=HINTED, frame_actions={3: HINTED}, prompt_parser="verb_object")
    bad = add_video(dataset, make_video(tmp_path / "b.mp4", num_frames=10, size=SIZE), [2], prompt_parser="bogus")
    engine = recording_engine()
    model = load_model(engine, prompt_field="action", gt_field="frames.gt")

    summary = run_videogem(dataset, model, "run", progress=False)
    assert object_prompt(dataset[sample.id].frames[3]["run"]) == hinted
    assert "'prompt_parser' holds 'bogus', which is not a prompt parser" in dataset[bad.id]["run_error"]
    assert summary.samples_failed == 1

    view = dataset.select(sample.id)
    view.apply_model(model, label_field="kw", prompt_field="action", gt_field="frames.gt", skip_failures=False,
                     progress=False)
    view.apply_model(model, label_field="zoo", skip_failures=False, progress=False)  # no keywords
    for field in ("kw_points", "zoo_points"):
        assert object_prompt(dataset[sample.id].frames[3][field]) == hinted

    # on a frames view the hint comes from the source videos
    frames = view.to_frames(sample_frames=True, sparse=True, output_dir=str(tmp_path / "frames"))
    run_videogem(frames, model, "framed", prompt_field="step", gt_field="gt", progress=False)
    assert object_prompt(dataset[sample.id].frames[3]["framed"]) == hinted

    # an explicit parser wins over the hint
    explicit = load_model("test-vit-tiny", random_weights=True, prompt_parser="auto")
    run_videogem(view, explicit, "explicit", prompt_field="action", gt_field="frames.gt", progress=False)
    assert object_prompt(dataset[sample.id].frames[3]["explicit"]) in (
        "A photo of a person using pan.", "A photo of a person using stove.")


def test_context_edge_rules_for_windows_past_the_video_ends(dataset, tmp_path):
    path = make_video(tmp_path / "v.mp4", num_frames=40, size=SIZE, fps=10)
    sample = add_video(dataset, path, [2, 20, 39])
    engine = recording_engine("test-viclip-tiny")
    clamped = [context_frame_numbers(t, 8, 4, 3, 1, 40) for t in (2, 20, 39)]
    assert clamped[0][0] == 1 and clamped[2][-1] == 40  # both ends reach past the video
    fields = dict(prompt_field="action", gt_field="frames.gt", context_stride_frames=3, progress=False)

    run_videogem(dataset, load_model(engine), "clamp", **fields)
    assert [w for call in engine.calls for w in call] == clamped

    engine.calls.clear()
    run_videogem(dataset, load_model(engine, context_edge="repeat_keyframe"), "repeat", **fields)
    assert [w for call in engine.calls for w in call] == [[2] * 8, clamped[1], [39] * 8]

    engine.calls.clear()
    summary = run_videogem(dataset, load_model(engine, context_edge="skip"), "skip", **fields)
    assert [w for call in engine.calls for w in call] == [clamped[1]]
    assert labelled_frames(dataset, "skip") == [[20]] and summary.frames_failed == 2
    assert "frame(s) 2, 39 were skipped: their context window reaches past the ends" in dataset[sample.id]["skip_error"]

    # apply_model: the skipped frames are logged, the others returned
    engine.calls.clear()
    dataset.apply_model(load_model(engine, context_edge="skip", context_stride_frames=3), label_field="applied",
                        prompt_field="action", gt_field="frames.gt", skip_failures=False, progress=False)
    assert labelled_frames(dataset, "applied_points") == [[20]]

    # a dataset's own rule (sample field context_edge), unless one is passed
    sample["context_edge"] = "repeat_keyframe"
    sample.save()
    engine.calls.clear()
    run_videogem(dataset, load_model(engine), "hint", **fields)
    assert [w for call in engine.calls for w in call] == [[2] * 8, clamped[1], [39] * 8]
    engine.calls.clear()
    run_videogem(dataset, load_model(engine, context_edge="clamp"), "explicit", **fields)
    assert [w for call in engine.calls for w in call] == clamped
