"""The temporal scan on Ray: an interrupted run resumes to the local scan's results; a failure stops it.

Like ``test_distributed.py`` (whose fixtures and helpers these tests share), the tests start a real
local Ray instance (two CPUs, no dashboard) whose actors build the tiny random-weight test backbone
and write to the test database. Each run starts fresh actors, so the file keeps the runs few.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import fiftyone as fo  # noqa: E402

from fiftyone_videogem.engine.grounding import VideoGEM  # noqa: E402
from fiftyone_videogem.localization import localize_actions  # noqa: E402
from tests.test_distributed import (  # noqa: E402,F401
    SIZE, GatedDecoder, _assert_same_localization, _localized, local_ray, one_thread)
from tests.videos import make_video  # noqa: E402

import ray  # noqa: E402  (the ray extra: pip install "fiftyone-videogem[ray]")

OPTIONS = dict(queries=["cut onion", "open the fridge"], fps=5)
VIDEOS = (("a", 40, "bits"), ("b", 30, "square"), ("c", 25, "gray"), ("d", 20, "bits"), ("e", 35, "square"))


@pytest.fixture(scope="module", autouse=True)
def _stop_ray():
    yield
    ray.shutdown()


class Interrupt(Exception):
    """Stops the driver, as Ctrl-C would."""

    @classmethod
    def at_first_report(cls, event) -> None:
        raise cls(f"after video {event.sample_id}")


def _engine() -> VideoGEM:
    # one frame per engine call, as in the grounding tests: the same arithmetic in every process
    return VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)


def _add_videos(dataset, tmp_path, names=None):
    """The videos of ``VIDEOS`` (or those named), then one whose file is missing (the last sample)."""
    for name, num_frames, pattern in VIDEOS:
        if names is None or name in names:
            path = make_video(tmp_path / f"{name}.mp4", num_frames=num_frames, size=SIZE, pattern=pattern)
            dataset.add_sample(fo.Sample(filepath=path))
    dataset.add_sample(fo.Sample(filepath=str(tmp_path / "missing.mp4")))
    return dataset.values("id")


def test_interrupted_ray_scan_resumes_to_the_local_results(local_ray, one_thread, make_dataset, tmp_path):
    dataset = make_dataset()
    ids = _add_videos(dataset, tmp_path)
    missing = ids[-1]
    local = localize_actions(dataset, _engine(), "local", cache_dir=str(tmp_path / "local-cache"), **OPTIONS)
    assert local.videos_localized == len(VIDEOS) and local.frames_grounded > 0

    # the first video opened goes on, every other waits: an actor's first report reaches the driver
    # once its next video is done too, and the interrupt at that report finds videos left
    gate = tmp_path / "gate"
    gate.mkdir()
    cache = str(tmp_path / "ray-cache")
    with pytest.raises(Interrupt):
        localize_actions(dataset, _engine(), "onray", cache_dir=cache, executor="ray", num_workers=2,
                         progress=Interrupt.at_first_report, decoder=GatedDecoder.factory(gate), **OPTIONS)
    segments, expected = _localized(dataset, "onray")[0], _localized(dataset, "local")[0]
    done = [sid for sid in ids if segments[sid] is not None]
    assert 1 <= len(done) < len(VIDEOS)
    assert all(segments[sid] == expected[sid] for sid in done)  # the rerun checks their frames too
    interrupted = dataset.load_run_results("localize_onray")
    assert interrupted.stopped.startswith("Interrupt")
    assert interrupted.videos_localized + interrupted.videos_failed == 1  # the driver counted one video

    events = []
    summary = localize_actions(dataset, _engine(), "onray", cache_dir=cache, executor="ray", num_workers=2,
                               progress=events.append, **OPTIONS)
    assert summary.stopped is None and "stopped" not in str(summary)
    assert summary.videos_up_to_date == len(done)
    assert summary.videos_localized == len(VIDEOS) - len(done) and summary.videos_failed == 1
    assert sorted(e.sample_id for e in events) == sorted(set(ids) - set(done))  # only what was missing
    assert [f["sample_id"] for f in summary.failures] == [missing]
    _assert_same_localization(dataset, "onray", "local")
    results = dataset.load_run_results("localize_onray")
    assert results.stopped is None and results.videos_up_to_date == len(done)


def test_skip_failures_false_on_ray_stops_at_a_failure_and_keeps_what_was_written(local_ray, one_thread,
                                                                                 make_dataset, tmp_path):
    dataset = make_dataset()
    ids = _add_videos(dataset, tmp_path, names=("a", "b"))
    good, missing = ids[:-1], ids[-1]
    with pytest.raises(RuntimeError) as local_error:
        localize_actions(dataset, _engine(), "local", cache_dir=False, skip_failures=False, **OPTIONS)

    events = []
    with pytest.raises(type(local_error.value)) as ray_error:
        localize_actions(dataset, _engine(), "onray", cache_dir=False, skip_failures=False, executor="ray",
                         num_workers=1, progress=events.append, **OPTIONS)
    assert str(ray_error.value) == str(local_error.value)
    assert f"video {missing} ('{tmp_path / 'missing.mp4'}')" in str(ray_error.value)
    assert "does not exist" in str(ray_error.value)

    # the videos scanned before the failure keep their results, and the failure its error
    segments, _, errors = _localized(dataset, "onray")
    reported = [e.sample_id for e in events]
    assert reported == good  # the one actor takes the videos in order: the missing one comes last
    assert all(segments[sid] is not None for sid in good)
    assert segments[missing] is None and "does not exist" in errors[missing]
    _assert_same_localization(dataset, "onray", "local")  # the local scan, stopped at the same video
    record = dataset.load_run_results("localize_onray")
    assert record.stopped == f"RuntimeError: {ray_error.value}"
    assert record.videos_failed == 1 and record.videos_localized == len(reported)
    local_record = dataset.load_run_results("localize_local")
    assert local_record.stopped == f"RuntimeError: {local_error.value}"
