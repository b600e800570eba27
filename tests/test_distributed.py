"""Grounding on Ray: the same labels as the single-process run, retries, resume, placement, the guard.

The Ray tests start a real local Ray instance (two CPUs, no dashboard) whose actors build a real
VideoGEM (the tiny random-weight test backbone with a fixed seed) and write to the test database,
which is FiftyOne's own ``mongod`` on this machine: the actors reach it through the URI the driver
passes them. Each run starts fresh actors (each imports torch and FiftyOne), so the file keeps the
number of runs small: the equality test is also the fault test.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import pathlib
import pickle
import sys
import time

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import fiftyone as fo  # noqa: E402

from fiftyone_videogem import distributed as fvd  # noqa: E402
from fiftyone_videogem.engine.grounding import VideoGEM  # noqa: E402
from fiftyone_videogem.runner import GroundingError, run_videogem  # noqa: E402
from fiftyone_videogem.video import FrameDecoder  # noqa: E402
from tests.videos import make_video  # noqa: E402

import ray  # noqa: E402  (the ray extra: pip install "fiftyone-videogem[ray]")

# the engine factories below travel to the workers by value: pytest may import this file under a
# package name (the repository root is a plugin with its own __init__.py) that workers cannot import
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

LABEL = "vgem"
SIZE = (64, 48)
# one frame per engine call and one thread everywhere (Ray gives a one-CPU actor one thread): the
# same arithmetic in every process, so Ray and the local run give bitwise the same labels
ENGINE = dict(random_weights=True, seed=0, device="cpu", batch_size=1)
FIELDS = dict(prompt_field="action", gt_field="frames.gt")


# ----------------------------------------------------------------------------- pure functions
def test_work_units_cover_every_target_once_and_balance():
    targets = list(range(1, 101, 3))  # every 3rd frame: 34 targets
    done = set(targets[:10])
    pending = [t for t in targets if t not in done]
    units = fvd.plan_work_units([("long", targets, pending), ("short", [5, 9], [9]), ("image", None, [])], 8)

    long_units = sorted((u for u in units if u.sample_id == "long"), key=lambda u: u.part)
    assert [u.parts for u in long_units] == [3] * 3 and [u.part for u in long_units] == [0, 1, 2]
    covered = [t for u in long_units for t in targets if u.frames[0] <= t <= u.frames[1]]
    assert covered == targets  # labelled frames too, each in exactly one range
    assert all(u.frames[0] in targets for u in long_units)  # ranges start on a target: the step's phase holds
    assert [u.cost for u in long_units] == [8, 8, 8] and sum(u.cost for u in long_units) == len(pending)
    pending_per_unit = [sum(u.frames[0] <= t <= u.frames[1] for t in pending) for u in long_units]
    assert pending_per_unit == [u.cost for u in long_units]

    short = [u for u in units if u.sample_id == "short"]
    image = [u for u in units if u.sample_id == "image"]
    assert [(u.frames, u.cost, u.parts) for u in short] == [(None, 1, 1)]
    assert [(u.frames, u.cost, u.parts) for u in image] == [(None, 1, 1)]
    assert [u.index for u in units] == list(range(len(units)))
    assert [u.cost for u in units] == sorted((u.cost for u in units), reverse=True)


def test_split_frames_and_unit_size():
    assert fvd.split_frames(range(1, 11), 4) == [[1, 2, 3, 4], [5, 6, 7], [8, 9, 10]]
    assert fvd.split_frames([3], 4) == [[3]]
    assert fvd.split_frames([], 4) == [[]]
    assert fvd.unit_size(1000, 2) == 125 and fvd.unit_size(10, 8) == fvd.MIN_UNIT_FRAMES
    with pytest.raises(ValueError, match="num_workers"):
        fvd.unit_size(10, 0)


def test_database_guard():
    assert fvd.database_hosts("mongodb://u:p@db1:27017,db2/fiftyone?authSource=admin") == ["db1", "db2"]
    assert fvd.is_local_database(None)
    assert fvd.is_local_database("mongodb://localhost:27017") and fvd.is_local_database("mongodb://127.0.0.1")
    assert fvd.is_local_database("mongodb://[::1]:27017")
    assert not fvd.is_local_database("mongodb://mongo.internal:27017")
    assert not fvd.is_local_database("mongodb+srv://cluster0.example.net")
    assert not fvd.is_remote_address(None) and not fvd.is_remote_address("auto")
    assert not fvd.is_remote_address("127.0.0.1:6379")
    assert fvd.is_remote_address("ray://head:10001") and fvd.is_remote_address("10.0.0.5:6379")
    assert not fvd.is_remote_address("10.0.0.5:6379", own_hosts=["10.0.0.5"])  # this machine's own address

    # a local Ray instance, or a database every node reaches: fine
    fvd.check_database_reachable(None, None)
    fvd.check_database_reachable("mongodb://mongo.internal:27017", "ray://head:10001")
    fvd.check_database_reachable(None, "auto", ["10.0.0.2", "10.0.0.2"], "10.0.0.2")
    fvd.check_database_reachable(None, "10.0.0.2:6379", ["10.0.0.2"], "10.0.0.2")
    # a local database and a remote cluster, or a cluster with other machines: refused
    with pytest.raises(fvd.DatabaseNotShared, match="FiftyOne's own database on this machine.*ray://head:10001"):
        fvd.check_database_reachable(None, "ray://head:10001")
    with pytest.raises(fvd.DatabaseNotShared, match=r"u:\*\*\*@localhost.*other machines \(10.0.0.3\)"):
        fvd.check_database_reachable("mongodb://u:secret@localhost:27017", "auto", ["10.0.0.2", "10.0.0.3"],
                                     "10.0.0.2")


def test_engine_factories_rebuild_the_engine_on_a_worker():
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[10:30, 20:50] = 200
    engine = VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1, merge="heatmap_average")
    factory, described, config = fvd.engine_factory(engine, {"prompt_field": "action"})
    copy = factory()  # what a worker builds: the same weights and options, another object
    assert copy is not engine and described is engine and config.prompt_field == "action"
    assert copy.options == engine.options
    np.testing.assert_array_equal(copy.ground(frame, "cut onion").heatmap, engine.ground(frame, "cut onion").heatmap)

    factory, described, config = fvd.engine_factory("test-vit-tiny", dict(ENGINE, prompt_field="action"))
    assert isinstance(factory, fvd.ConfigEngine) and config.backbone == "test-vit-tiny" and config.seed == 0
    built = factory()
    assert built.options.batch_size == 1 and described.info.name == built.info.name == "test-vit-tiny"
    reference = VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)
    np.testing.assert_array_equal(built.ground(frame, "cut onion").heatmap,
                                  reference.ground(frame, "cut onion").heatmap)
    with pytest.raises(TypeError, match="engine factory returned a str"):
        fvd.engine_factory(lambda: "not an engine", {})


def test_a_remote_cluster_with_a_local_database_is_refused_before_any_work(make_dataset, tmp_path):
    dataset = make_dataset()
    _add_videos(dataset, tmp_path)
    if fo.config.database_uri and not fvd.is_local_database(fo.config.database_uri):
        pytest.fail("these tests expect the local test database")
    with pytest.raises(fvd.DatabaseNotShared, match="FIFTYONE_DATABASE_URI=mongodb://<host>:27017"):
        run_videogem(dataset, "test-vit-tiny", LABEL, executor="ray", address="ray://192.0.2.10:10001",
                     **ENGINE, **FIELDS)
    assert not ray.is_initialized()
    assert dataset.get_frame_field_schema().get(LABEL) is None and not dataset.list_runs()

    from fiftyone_videogem.localization import localize_actions

    engine = VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)
    with pytest.raises(fvd.DatabaseNotShared, match="FIFTYONE_DATABASE_URI=mongodb://<host>:27017"):
        localize_actions(dataset, engine, "found", queries=["stir"], executor="ray", address="ray://192.0.2.10:10001")
    with pytest.raises(ValueError, match="need executor='ray'"):
        localize_actions(dataset, engine, "found", queries=["stir"], num_workers=2)
    assert not ray.is_initialized() and not dataset.has_field("found") and not dataset.list_runs()


# ------------------------------------------------------------------------- the decoding stage
def _grounded(states):
    """What a grounder made of each sample: its frames' points and heatmaps, problems and counts."""
    out = []
    for state in states:
        frames = {n: (r.point, r.input_point, {k: c.point for k, c in r.components.items()}, r.heatmap)
                  for n, r in state.results.items()}
        out.append((state.plan.sample_id, state.plan.support, frames, state.problems, sorted(state.failed_frames),
                    state.skipped, state.targets, state.frame_size))
    return out


@pytest.mark.parametrize("backbone", ["test-vit-tiny", "test-viclip-tiny"])
def test_a_decoding_stage_replays_exactly_what_the_engine_would_decode(make_dataset, tmp_path, backbone):
    """Frames decoded without the engine (the decoding stage) and replayed to the engine give the same
    results, problems and counts as decoding on the spot: context windows (ViCLIP), frame ranges of
    a cut video, frames past the end, a damaged and a missing video included."""
    from fiftyone_videogem import runner as fvrun
    from fiftyone_videogem.model import VideoGEMModelConfig
    from tests.videos import make_truncated_video

    dataset = make_dataset()
    _add_videos(dataset, tmp_path)
    broken = make_truncated_video(tmp_path / "broken.mp4", num_frames=40, keep=0.5)
    dataset.add_samples([fo.Sample(filepath=broken, action="cut onion"),
                         fo.Sample(filepath=str(tmp_path / "missing.mp4"), action="cut onion")])
    engine = VideoGEM.from_config(backbone, seed=0, device="cpu", batch_size=2)
    config = VideoGEMModelConfig(dict(backbone=backbone, frames="all", **FIELDS))
    settings = fvrun.resolve_settings(dataset, config, LABEL, True, engine.options)
    plans = fvrun.read_plans(dataset, settings)
    plans.insert(1, dataclasses.replace(plans[0], support=(8, 20)))  # a range of a cut video

    direct = list(fvrun.Grounder(engine, settings, fvrun.GroundingSummary(LABEL)).run(plans))
    outline = fvd.EngineOutline(engine.info, engine.options)
    decoded = []
    for plan in plans:  # each unit's frames travel as one array, the rest pickled, as between Ray stages
        bare, pixels = fvd.pack_frames(fvd.decode_unit(plan, settings, outline, FrameDecoder))
        assert all(rgb is None for video in bare for _, rgb in video.frames)
        decoded += fvd.unpack_frames(pickle.loads(pickle.dumps(bare)), pixels.copy())
    replayed = list(fvrun.Grounder(engine, settings, fvrun.GroundingSummary(LABEL),
                                   decoder=fvd.ReplayDecoders(decoded)).run(plans))

    assert len(decoded) == len(plans)  # every video opened once (or tried: the missing one)
    assert [v.info is None for v in decoded] == [False] * (len(plans) - 1) + [True]
    assert "could not be decoded" in decoded[-2].error
    # the range (8, 20) decodes its targets and their windows, not the video from its start
    assert set(range(8, 21)) <= set(decoded[1].requested) < set(decoded[0].requested)
    if engine.info.num_frames == 1:
        assert decoded[1].requested == list(range(8, 21))
    got, expected = _grounded(replayed), _grounded(direct)
    assert len(got) == len(expected) == len(plans)
    for g, e in zip(got, expected):
        assert g[:2] == e[:2] and g[3:] == e[3:]
        assert sorted(g[2]) == sorted(e[2])
        for n, (point, input_point, components, heatmap) in e[2].items():
            assert heatmap is not None
            assert g[2][n][:3] == (point, input_point, components), (e[0], n)
            np.testing.assert_array_equal(g[2][n][3], heatmap)
    assert any("could not be decoded" in p for p in expected[-2][3]) and "missing.mp4" in expected[-1][3][0]
    assert sum(len(e[2]) for e in expected) > 20


def test_a_decoding_stage_is_refused_for_images(make_dataset, tmp_path):
    from PIL import Image

    dataset = make_dataset()
    path = str(tmp_path / "a.png")
    Image.new("RGB", SIZE).save(path)
    dataset.add_sample(fo.Sample(filepath=path, action="cut onion"))
    with pytest.raises(ValueError, match="num_decode_workers applies to videos"):
        run_videogem(dataset, "test-vit-tiny", LABEL, executor="ray", num_decode_workers=2, prompt_field="action",
                     **ENGINE)
    with pytest.raises(ValueError, match="must be >= 0"):
        run_videogem(dataset, "test-vit-tiny", LABEL, executor="ray", num_decode_workers=-1, prompt_field="action",
                     **ENGINE)
    assert not dataset.has_field(LABEL) and not dataset.list_runs()


def test_replay_refuses_a_video_it_was_not_given_and_other_frames():
    small, large = np.zeros((2, 3, 3), np.uint8), np.ones((4, 3, 3), np.uint8)
    mixed = [fvd.DecodedVideo("a.mp4", frames=[(1, small), (2, large)])]
    bare, pixels = fvd.pack_frames(mixed)  # frames of different sizes stay with their video
    assert len(pixels) == 0 and fvd.unpack_frames(bare, pixels)[0].frames[1][1] is large

    video = fvd.DecodedVideo("a.mp4", info=object(), requested=[1, 2], frames=[(1, None), (2, None)])
    replay = fvd.ReplayDecoders([video])
    with pytest.raises(RuntimeError, match="other frames"):
        list(replay("a.mp4").frames([1, 3]))
    with pytest.raises(RuntimeError, match="not by the decoding stage"):
        replay("a.mp4")  # its only recording was used
    with pytest.raises(RuntimeError, match="not by the decoding stage"):
        replay("b.mp4")


# ------------------------------------------------------------------------------- Ray runs
@pytest.fixture
def local_ray():
    """A local Ray instance, shared by the tests that need one (stopped at the end of the module)."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray


@pytest.fixture(scope="module", autouse=True)
def _stop_ray():
    yield
    ray.shutdown()


@dataclasses.dataclass
class CrashOnce:
    """An engine factory whose engine ends its worker process on the first batch of the run (the
    marker file makes it happen once in all workers)."""

    marker: str

    def __call__(self):
        engine = VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)
        marker = self.marker
        ground_batch = engine.ground_batch

        def crash_once(frames, prompts):
            if not os.path.exists(marker):
                pathlib.Path(marker).write_text(str(os.getpid()))
                os._exit(1)
            return ground_batch(frames, prompts)

        engine.ground_batch = crash_once
        return engine


@dataclasses.dataclass
class NodeRecorder:
    """An engine factory that notes the Ray node and GPUs of each worker that builds it."""

    folder: str

    def __call__(self):
        context = ray.get_runtime_context()
        if context.get_actor_id() is not None:  # not the driver, which builds one to describe the run
            path = pathlib.Path(self.folder, f"{os.getpid()}.txt")
            path.write_text(f"{context.get_node_id()} {context.get_accelerator_ids().get('GPU', [])}")
        return VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)


def _add_videos(dataset, tmp_path):
    """Videos with split-worthy ground truth, a video without any, one with a frame past its end
    and one without action text."""
    specs = [
        ("a", 30, [3, 10, 17, 25], "cut onion"),
        ("b", 20, [7, 8, 9, 15], "open the fridge"),
        ("c", 12, [], "stir"),
        ("d", 12, [5, 14], "pour water"),
        ("e", 10, [4], None),
    ]
    samples = []
    for name, num_frames, gt_frames, action in specs:
        path = make_video(tmp_path / f"{name}.mp4", num_frames=num_frames, size=SIZE)
        sample = fo.Sample(filepath=path, action=action)
        dataset.add_sample(sample)
        for fn in gt_frames:
            sample.frames[fn]["gt"] = fo.Detections(
                detections=[fo.Detection(label="x", bounding_box=[0.25, 0.25, 0.5, 0.5])])
        sample.save()
        samples.append(sample)
    return samples


def _labels(dataset, field):
    """``{(sample id, frame number): (points, confidences, heatmap)}`` and the error per sample."""
    dataset.reload()
    frames = {}
    for sample in dataset.select_fields([f"frames.{field}", f"frames.{field}_heatmap"]):
        for fn, frame in sample.frames.items():
            keypoints = frame[field]
            if keypoints is None:
                continue
            heatmap = frame[f"{field}_heatmap"]
            frames[(sample.id, fn)] = (
                [(k.label, k.points) for k in keypoints.keypoints],
                [k.confidence for k in keypoints.keypoints],
                None if heatmap is None else heatmap.map,
            )
    error_field = f"{field}_error"  # created with the first error written
    errors = dict(zip(dataset.values("id"), dataset.values(error_field))) if dataset.has_field(error_field) else {}
    return frames, errors


def _assert_same_labels(dataset, field, expected_field):
    got, got_errors = _labels(dataset, field)
    expected, expected_errors = _labels(dataset, expected_field)
    assert sorted(got) == sorted(expected)
    for key, (points, confidences, heatmap) in expected.items():
        g_points, g_confidences, g_heatmap = got[key]
        assert (g_points, g_confidences) == (points, confidences), key
        np.testing.assert_array_equal(g_heatmap, heatmap, err_msg=str(key))
    assert got_errors == expected_errors


def _counts(summary):
    """A summary's counts and failures (in sample order), without times and names."""
    counts = {k: v for k, v in summary.to_dict().items() if k.startswith(("samples_", "frames_"))}
    failures = sorted((f.sample_id, f.reason, f.frames) for f in summary.failures)
    return counts, failures


@pytest.fixture
def one_thread():
    """The local run with one torch thread, as the one-CPU actors have."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ray_labels_equal_the_local_run_and_a_dead_actor_is_replaced(local_ray, one_thread, make_dataset, tmp_path):
    dataset = make_dataset()
    a, b, c, d, e = _add_videos(dataset, tmp_path)
    local = run_videogem(dataset, "test-vit-tiny", "local", **ENGINE, **FIELDS)

    marker = tmp_path / "crashed"
    summary = run_videogem(dataset, CrashOnce(str(marker)), LABEL, executor="ray", num_workers=2,
                           max_frames_per_unit=2, **FIELDS)
    assert marker.exists()  # a worker did die on its first batch, and the run went on

    _assert_same_labels(dataset, LABEL, "local")
    # every target frame labelled once: one keypoint set per frame, counted once
    expected_frames = {(a.id, n) for n in (3, 10, 17, 25)} | {(b.id, n) for n in (7, 8, 9, 15)} | {(d.id, 5)}
    frames, errors = _labels(dataset, LABEL)
    assert set(frames) == expected_frames
    assert summary.frames_grounded == len(expected_frames)
    assert _counts(summary) == _counts(local)
    assert "no frame of this video has ground truth" in errors[c.id]
    assert "past the end" in errors[d.id] and "no action text" in errors[e.id]
    assert errors[a.id] is None and errors[b.id] is None

    # the run record is the local runner's, complete
    info = dataset.get_run_info(f"videogem_{LABEL}")
    assert info.config.label_field == f"frames.{LABEL}" and info.config.backbone == "test-vit-tiny"
    local_fields = dataset.get_run_info("videogem_local").config.fields
    assert sorted(info.config.fields) == sorted(f.replace("local", LABEL) for f in local_fields)
    results = dataset.load_run_results(f"videogem_{LABEL}")
    assert results.frames_grounded == len(expected_frames) and results.samples_total == 5
    assert sorted(f["sample_id"] for f in results.failures) == sorted([c.id, d.id, e.id])


class GatedDecoder(FrameDecoder):
    """A decoder that opens the first video it is asked for at once and any other after a pause.

    Ray hands the driver an actor's report once the actor's next unit is done too, so the units of
    other videos must take a while for an interrupt at the first report to find work left.
    """

    PAUSE = 10.0

    def __init__(self, path, gate: pathlib.Path, **kwargs):
        first = gate / "first"
        try:
            with first.open("x") as f:  # atomic across processes: one video is the first
                f.write(str(path))
        except FileExistsError:
            if first.read_text() != str(path):
                time.sleep(self.PAUSE)
        super().__init__(path, **kwargs)

    @classmethod
    def factory(cls, gate: pathlib.Path):
        return functools.partial(cls, gate=gate)


def test_interrupted_ray_run_resumes_to_the_same_labels(local_ray, one_thread, make_dataset, tmp_path, caplog):
    """The rerun goes through a decoding stage: its labels equal the local run's too."""
    dataset = make_dataset()
    _add_videos(dataset, tmp_path)
    run_videogem(dataset, "test-vit-tiny", "local", **ENGINE, **FIELDS)

    class Interrupt(Exception):
        pass

    def stop_after_first(event):
        raise Interrupt()

    # the units of the first video go on, the others wait: the interrupt comes while work is left
    gate = tmp_path / "gate"
    gate.mkdir()
    with pytest.raises(Interrupt):
        run_videogem(dataset, "test-vit-tiny", LABEL, executor="ray", num_workers=2, max_frames_per_unit=2,
                     progress=stop_after_first, decoder=GatedDecoder.factory(gate), **ENGINE, **FIELDS)
    first, _ = _labels(dataset, LABEL)
    assert 1 <= len(first) < 9
    assert "could not" not in caplog.text  # the fields the workers created are declared and shown
    interrupted = dataset.load_run_results(f"videogem_{LABEL}")
    assert interrupted.frames_grounded >= 1 and interrupted.stopped.startswith("Interrupt")

    caplog.set_level(logging.INFO, logger="fiftyone_videogem.distributed")
    summary = run_videogem(dataset, "test-vit-tiny", LABEL, executor="ray", num_workers=1, num_decode_workers=1,
                           max_frames_per_unit=2, **ENGINE, **FIELDS)
    assert "a decoding stage of 1 one-CPU worker(s)" in caplog.text
    assert summary.frames_skipped == len(first) and summary.stopped is None
    assert summary.frames_grounded + summary.frames_skipped == 9
    _assert_same_labels(dataset, LABEL, "local")


def test_skip_failures_false_stops_at_a_failure(local_ray, make_dataset, tmp_path):
    dataset = make_dataset()
    _add_videos(dataset, tmp_path)
    with pytest.raises(GroundingError, match="sample .*: "):
        run_videogem(dataset, "test-vit-tiny", LABEL, executor="ray", num_workers=1, skip_failures=False,
                     **ENGINE, **FIELDS)


def test_two_gpu_nodes_get_one_actor_each(make_dataset, tmp_path):
    from ray.cluster_utils import Cluster

    dataset = make_dataset()
    _add_videos(dataset, tmp_path)
    ray.shutdown()
    cluster = Cluster(initialize_head=True,
                      head_node_args=dict(num_cpus=1, num_gpus=1, include_dashboard=False))
    try:
        cluster.add_node(num_cpus=1, num_gpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        assert len(nodes) == 2

        folder = tmp_path / "workers"
        folder.mkdir()
        summary = run_videogem(dataset, NodeRecorder(str(folder)), LABEL, executor="ray",
                               address=cluster.address, num_workers=2, num_gpus_per_worker=1,
                               max_frames_per_unit=2, **FIELDS)
        workers = [p.read_text().split(" ", 1) for p in folder.iterdir()]
        assert sorted(node for node, _ in workers) == sorted(nodes)  # one actor per node
        assert all(gpus == "['0']" for _, gpus in workers)  # each holds its node's GPU
        assert summary.frames_grounded == 9
    finally:
        ray.shutdown()
        cluster.shutdown()



# ------------------------------------------------------------------------- the temporal scan
def _localized(dataset, field):
    """``({sample id: segments}, {(sample id, frame): (points, confidences, heatmap)}, {sample id: error})``
    of a localisation into ``field``."""
    from fiftyone_videogem.localization import spatial_fields

    dataset.reload()
    ids = dataset.values("id")
    segments = {sid: None if value is None else [(d.label, d.support, d.confidence) for d in value.detections]
                for sid, value in zip(ids, dataset.values(field))}
    points, heatmaps = spatial_fields(field)
    frames = {}
    for sample in dataset.select_fields([f"frames.{points}", f"frames.{heatmaps}"]):
        for fn, frame in sample.frames.items():
            if frame[points] is not None:
                frames[(sample.id, fn)] = ([(k.label, k.component, k.points) for k in frame[points].keypoints],
                                           [k.confidence for k in frame[points].keypoints], frame[heatmaps].map)
    error_field = f"{field}_error"  # created with the first error written
    errors = dict(zip(ids, dataset.values(error_field))) if dataset.has_field(error_field) else {}
    return segments, frames, errors


def _assert_same_localization(dataset, field, expected_field):
    """The segments, points, heatmaps and errors of ``field`` equal those of ``expected_field``
    (bitwise); returns those of ``field``."""
    segments, frames, errors = _localized(dataset, field)
    expected_segments, expected_frames, expected_errors = _localized(dataset, expected_field)
    assert segments == expected_segments and errors == expected_errors
    assert sorted(frames) == sorted(expected_frames)
    for key, (points, confidences, heatmap) in expected_frames.items():
        assert frames[key][:2] == (points, confidences), key
        np.testing.assert_array_equal(frames[key][2], heatmap, err_msg=str(key))
    return segments, frames, errors


def test_localize_actions_on_ray_equals_the_local_scan(local_ray, one_thread, make_dataset, tmp_path):
    from fiftyone_videogem.localization import localize_actions

    dataset = make_dataset()
    for name, num_frames, pattern in (("a", 40, "bits"), ("b", 30, "square"), ("c", 25, "gray")):
        dataset.add_sample(fo.Sample(filepath=make_video(tmp_path / f"{name}.mp4", num_frames=num_frames,
                                                         size=SIZE, pattern=pattern)))
    dataset.add_sample(fo.Sample(filepath=str(tmp_path / "missing.mp4")))
    engine = VideoGEM.from_config("test-vit-tiny", seed=0, device="cpu", batch_size=1)
    options = dict(queries=["cut onion", "open the fridge"], fps=5)
    local = localize_actions(dataset, engine, "local", cache_dir=str(tmp_path / "local-cache"), **options)

    events = []
    summary = localize_actions(dataset, engine, "onray", cache_dir=str(tmp_path / "ray-cache"), executor="ray",
                               num_workers=2, progress=events.append, **options)
    segments, frames, errors = _assert_same_localization(dataset, "onray", "local")
    assert len(frames) == local.frames_grounded > 0
    missing = dataset.values("id")[3]
    assert segments[missing] is None and "missing.mp4" in errors[missing]

    # the actors embedded every video and filled the cache, as the local scan did
    counts = ("videos_total", "videos_localized", "videos_failed", "segments", "frames_embedded", "frames_grounded")
    assert [getattr(summary, k) for k in counts] == [getattr(local, k) for k in counts]
    assert summary.frames_from_cache == 0 and [f["sample_id"] for f in summary.failures] == [missing]
    cached = sorted(os.listdir(tmp_path / "ray-cache"))
    assert len(cached) == 3 and cached == sorted(os.listdir(tmp_path / "local-cache"))
    for name in cached:
        with np.load(tmp_path / "ray-cache" / name) as got, np.load(tmp_path / "local-cache" / name) as expected:
            np.testing.assert_array_equal(got["embeddings"], expected["embeddings"])

    # the driver reported each video once and recorded the run once
    assert sorted(e.sample_id for e in events) == sorted(dataset.values("id"))
    assert [e.videos_done for e in events] == [1, 2, 3, 4]
    results = dataset.load_run_results("localize_onray")
    assert results.segments == local.segments and results.frames_grounded == local.frames_grounded
    local_fields = dataset.get_run_info("localize_local").config.fields
    assert dataset.get_run_info("localize_onray").config.fields == [f.replace("local", "onray") for f in local_fields]
    assert "onray_points" in dataset.get_frame_field_schema()


# ---------------------------------------------------------------------------- command line
def test_command_line_grounds_a_dataset_and_refuses_a_remote_cluster(make_dataset, tmp_path, capsys):
    from fiftyone_videogem.cli import main

    dataset = make_dataset()
    a, b, c, d, e = _add_videos(dataset, tmp_path)
    common = [dataset.name, "--backbone", "test-vit-tiny", "--random-weights", "--device", "cpu",
              "--prompt-field", "action", "--gt-field", "frames.gt", "--label-field", LABEL]
    assert main(["ground-dataset", *common, "--frames", "3,10"]) == 0
    assert "8 frame(s) grounded in 4 of 5 sample(s)" in capsys.readouterr().out
    assert set(_labels(dataset, LABEL)[0]) == {(s.id, n) for s in (a, b, c, d) for n in (3, 10)}

    assert main(["ground-dataset", *common, "--executor", "ray", "--address", "ray://192.0.2.10:10001"]) == 1
    assert "FIFTYONE_DATABASE_URI" in capsys.readouterr().err
    assert main(["ground-dataset", *common, "--workers", "2"]) == 1
    assert "need --executor ray" in capsys.readouterr().err
    assert main(["ground-dataset", *common, "--decode-workers", "2"]) == 1
    assert "--decode-workers needs --executor ray" in capsys.readouterr().err
