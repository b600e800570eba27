"""Grounding and the temporal scan on a Ray cluster: a pool of actors, each with the engine loaded once.

``run_videogem(..., executor="ray")`` runs here. The driver (the process that calls it) reads only
ids, file paths, prompts and frame lists from the database, cuts the work into units (one per
video, or one per range of target frames for long videos, so that units are balanced) and hands
them to a Ray Data pipeline::

    ray.data.from_items(units).map_batches(GroundingActor, compute=ActorPoolStrategy(size=n), num_gpus=...)

Each actor builds its engine once, decodes its units' frames, grounds them and writes their labels
with ``set_values`` keyed by sample id, so a batch that Ray retries after an actor died rewrites the
same labels. The driver collects one small report per unit: it counts, reports progress, writes
each sample's error field once every unit of that sample is in, and records the run at the end,
exactly as the local runner does.

With ``num_decode_workers`` a stage of one-CPU :class:`DecodingActor` workers before the engine
actors decodes each unit's frames (those the grounder would ask for, :func:`decode_unit`) and hands
them on as a tensor column; the engine actors replay them (:class:`ReplayDecoders`) and only run the
engine, so that decoding can use CPUs of the cluster other than the GPU nodes'.

Every worker reaches the driver's FiftyOne database: its URI is passed to the actors in their
``runtime_env``. A database that only this machine can reach (FiftyOne's own ``mongod``, or a URI
naming localhost) cannot serve workers on other machines, so :func:`check_database_reachable`
refuses such runs before any work.

``localize_actions(..., executor="ray")`` scans one video per work unit in the same way
(:func:`localize_on_ray`, :class:`LocalizationActor`): each actor runs the local scan of its
videos (embedding with the cache, segmentation, spatial grounding, writes keyed by sample id) and
the driver counts, reports and records the run.

Ray Data hands an actor's output to the driver only once that actor's next task has finished too
(or at the end), so the driver's progress lags the work by one unit per actor.

Ray is imported only when a run starts (``pip install "fiftyone-videogem[ray]"``).
"""

from __future__ import annotations

import collections
import ipaddress
import json
import logging
import math
import os
import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import fiftyone as fo

logger = logging.getLogger(__name__)

RAY_EXTRA = 'pip install "fiftyone-videogem[ray]"'
DATABASE_URI_ENV = "FIFTYONE_DATABASE_URI"
DATABASE_NAME_ENV = "FIFTYONE_DATABASE_NAME"
LOCAL_HOSTS = ("localhost", "ip6-localhost", "0.0.0.0")

# a unit is cut so that every worker gets several units; it is never smaller than this many frames
MIN_UNIT_FRAMES = 16
UNITS_PER_WORKER = 4
# with a decoding stage, the decoded frames of a unit travel together: a unit grounds at most this many
DECODED_UNIT_FRAMES = 32


def import_ray():
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (executor="ray" needs Ray Data)
    except ImportError as e:
        raise ImportError(f"executor='ray' needs Ray with Ray Data: {RAY_EXTRA} ({e})") from e
    return ray


# ------------------------------------------------------------------------------ the database
class DatabaseNotShared(RuntimeError):
    """The FiftyOne database is one that workers on other machines cannot reach."""


def database_hosts(uri: str) -> list[str]:
    """The host names of a MongoDB URI (``mongodb://user:pw@a:27017,b/db?x=y`` -> ``["a", "b"]``)."""
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    rest = rest.split("/", 1)[0].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    hosts = []
    for host in rest.split(","):
        host = host.strip()
        if host.startswith("["):  # [::1]:27017
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        if host:
            hosts.append(host.lower())
    return hosts


def is_local_host(host: str) -> bool:
    """Whether ``host`` names this machine only (localhost, a loopback address, a Unix socket)."""
    host = host.strip().lower()
    if host in LOCAL_HOSTS or host.endswith(".sock") or host.startswith("%2f") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_database(uri: str | None) -> bool:
    """Whether a FiftyOne database URI reaches a database on this machine only.

    None (FiftyOne starts its own ``mongod``, bound to localhost) and URIs whose hosts are all
    loopback names are local; ``mongodb+srv://`` URIs and any other host are not.
    """
    if uri is None:
        return True
    if uri.strip().lower().startswith("mongodb+srv://"):
        return False
    hosts = database_hosts(uri)
    return bool(hosts) and all(is_local_host(h) for h in hosts)


def is_remote_address(address: str | None, own_hosts: Sequence[str] = ()) -> bool:
    """Whether a Ray ``address`` may bring nodes of other machines.

    None and ``"local"`` start a Ray instance on this machine; ``"auto"`` joins the cluster whose
    head runs here, which may have other nodes (checked once connected, see
    :func:`check_database_reachable`); ``ray://host:port`` and ``host:port`` are remote unless the
    host is a loopback name or one of ``own_hosts`` (this machine's addresses).
    """
    if address is None:
        return False
    text = address.strip()
    if text.lower() in ("local", "auto", ""):
        return False
    host = text.split("://", 1)[1] if "://" in text else text
    host = host.split("/", 1)[0]
    host = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if ":" in host else host
    return not (is_local_host(host) or host.lower() in {h.lower() for h in own_hosts})


def check_database_reachable(
    database_uri: str | None,
    address: str | None,
    node_addresses: Sequence[str] = (),
    driver_address: str | None = None,
) -> None:
    """Refuse a run whose workers could not reach the FiftyOne database.

    Args:
        database_uri: ``fo.config.database_uri`` of the driver (None: FiftyOne's own database)
        address: the Ray address of the run (None: a new Ray instance on this machine)
        node_addresses: the IP addresses of the cluster's nodes, once connected (())
        driver_address: this machine's IP address (None)

    Raises:
        DatabaseNotShared: the database is local to this machine and the cluster is, or may be,
            made of other machines too
    """
    if not is_local_database(database_uri):
        return
    own = [driver_address] if driver_address else []
    other_nodes = sorted({a for a in node_addresses if driver_address is not None and a != driver_address})
    remote = is_remote_address(address, own)
    if not remote and not other_nodes:
        return
    where = (
        "FiftyOne's own database on this machine (no database_uri is configured)" if database_uri is None
        else f"database_uri '{_redact(database_uri)}', which names this machine"
    )
    cluster = (
        f"the Ray cluster at '{address}'" if remote
        else f"the Ray cluster has nodes on other machines ({', '.join(other_nodes)})"
    )
    raise DatabaseNotShared(
        f"the FiftyOne database is {where}, and {cluster}: workers there could not reach it, and "
        "FiftyOne would start a private database on each node where their labels would vanish. Run "
        "MongoDB where every node reaches it and point FiftyOne at it on the driver (the workers get "
        "the same URI): FIFTYONE_DATABASE_URI=mongodb://<host>:27017 or database_uri in "
        "~/.fiftyone/config.json; or run on this machine only with address=None"
    )


def _redact(uri: str) -> str:
    """A URI without its password, for messages."""
    if "@" not in uri:
        return uri
    scheme, _, rest = uri.partition("://")
    credentials, _, hosts = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hosts}"


def worker_database_uri() -> str:
    """The URI of the driver's FiftyOne database as workers must use it.

    ``fo.config.database_uri`` when one is configured; otherwise the database FiftyOne started on
    this machine, reached at the address of the driver's own connection
    (``fiftyone.core.odm.get_db_client().address``), which only workers on this machine can use.
    """
    if fo.config.database_uri:
        return fo.config.database_uri
    import fiftyone.core.odm as foo

    host, port = foo.get_db_client().address
    return f"mongodb://{host}:{port}"


def worker_environment() -> dict[str, str]:
    """Environment variables that point a worker's FiftyOne at the driver's database."""
    return {DATABASE_URI_ENV: worker_database_uri(), DATABASE_NAME_ENV: fo.config.database_name}


# ------------------------------------------------------------------------------ work units
@dataclass(frozen=True)
class WorkUnit:
    """A piece of work for one actor: one sample, or a range of its target frames.

    Attributes:
        index: position in the run (0-based)
        sample_id: the sample's id
        frames: ``(first, last)`` target frames of the unit (inclusive), or None for the whole sample
        cost: target frames the unit grounds (at least 1), to balance the units
        part: which part of the sample this is (0-based)
        parts: how many units the sample was cut into
    """

    index: int
    sample_id: str
    frames: tuple[int, int] | None
    cost: int
    part: int = 0
    parts: int = 1


def unit_size(total_frames: int, num_workers: int, per_worker: int = UNITS_PER_WORKER,
              minimum: int = MIN_UNIT_FRAMES) -> int:
    """Frames per unit so that each of ``num_workers`` workers gets about ``per_worker`` units."""
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    return max(int(minimum), math.ceil(total_frames / (num_workers * per_worker)))


def split_frames(frames: Sequence[int], max_frames: int) -> list[list[int]]:
    """Sorted ``frames`` cut into the fewest runs of at most ``max_frames``, of near-equal size."""
    frames = sorted(frames)
    if not frames:
        return [[]]
    parts = math.ceil(len(frames) / max(1, int(max_frames)))
    size, extra = divmod(len(frames), parts)
    chunks, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        chunks.append(frames[start:end])
        start = end
    return chunks


def unit_targets(plan, settings, num_frames: int | None = None) -> list[int] | None:
    """The target frames of a video sample as the driver knows them, or None when only decoding
    tells (images; ``frames="all"`` or every N-th frame without ``num_frames``)."""
    if not settings.video:
        return None
    if settings.frames == "gt":
        return sorted(plan.gt_frames)
    if isinstance(settings.frames, tuple):
        return list(settings.frames)
    if num_frames:
        step = 1 if settings.frames == "all" else int(settings.frames)
        return list(range(1, int(num_frames) + 1, step))
    return None


def plan_work_units(
    samples: Sequence[tuple[str, Sequence[int] | None, Sequence[int]]],
    max_frames: int,
) -> list[WorkUnit]:
    """Cut samples into work units, the largest first.

    A sample whose frames still to ground (its targets less those already labelled) number more
    than ``max_frames`` is cut into ranges of target frames; the ranges cover all of its targets
    (also those already labelled, so the counts of skipped frames add up), each start at a
    target (so every-N-th-frame selections keep their phase), and each holds at most
    ``max_frames`` frames still to ground.

    Args:
        samples: ``(sample_id, targets, pending)`` per sample: all its target frames (None when
            unknown before decoding: one unit) and those still to ground
        max_frames: the most frames still to ground in one unit

    Returns:
        the units, largest cost first (ties keep the samples' order)
    """
    raw = []
    for sample_id, targets, pending in samples:
        if not targets:
            raw.append((sample_id, None, 1, 0, 1))
            continue
        chunks = split_frames(pending, max_frames) if pending else [[]]
        if len(chunks) == 1:
            raw.append((sample_id, None, max(1, len(chunks[0])), 0, 1))
            continue
        starts = [min(targets)] + [chunk[0] for chunk in chunks[1:]]
        ends = [s - 1 for s in starts[1:]] + [max(targets)]
        for part, (chunk, first, last) in enumerate(zip(chunks, starts, ends)):
            raw.append((sample_id, (first, last), max(1, len(chunk)), part, len(chunks)))
    order = sorted(range(len(raw)), key=lambda i: -raw[i][2])
    return [WorkUnit(index, *raw[i]) for index, i in enumerate(order)]


# --------------------------------------------------------------------------------- engines
@dataclass
class ConfigEngine:
    """An engine factory that builds the engine a model config describes, on the worker's device
    (the config's ``device``, or the worker's GPU when it has one).

    Args:
        config: a :class:`~fiftyone_videogem.model.VideoGEMModelConfig`
    """

    config: Any

    def __call__(self):
        from .model import build_engine

        return build_engine(self.config)


@dataclass
class EngineCopy:
    """An engine factory that rebuilds an engine from its backbone and options, shipped to the
    workers through Ray's object store (the backbone's weights travel once).

    Args:
        backbone: the engine's backbone (a torch module)
        options: the engine's options as a dict
    """

    backbone: Any
    options: dict

    def __call__(self):
        from .engine.grounding import VideoGEM

        return VideoGEM(self.backbone, **self.options)


def engine_factory(model, options: dict) -> tuple[Callable[[], Any], Any, Any]:
    """What the workers build their engine with, and what the driver describes the run with.

    Args:
        model: a backbone name (each worker builds the engine the config describes, with its own
            weights), a VideoGEM model or engine (its weights travel to the workers; it must be on
            the CPU), or a zero-argument callable that returns a VideoGEM engine (called once per
            worker, and once on the driver)
        options: the run's options; load and engine options are taken out when ``model`` is a name

    Returns:
        ``(factory, engine, config)``: the workers' factory, an engine with the same backbone and
        options for the driver's run record (random weights on the CPU for a name), and the
        model config of the run
    """
    import dataclasses

    from .engine.grounding import VideoGEM
    from .model import RUN_OPTIONS, VideoGEMModel, VideoGEMModelConfig, build_engine

    run_options = {k: v for k, v in options.items() if k in RUN_OPTIONS}
    if isinstance(model, str):
        config = VideoGEMModelConfig({**options, "backbone": model})
        described = config.replace(random_weights=True, checkpoint=None, device="cpu")
        return ConfigEngine(config), build_engine(described), config
    if isinstance(model, VideoGEMModel):
        engine, config = model.engine, model.config
    elif isinstance(model, VideoGEM):
        engine, config = model, None
    elif callable(model):
        engine = model()
        if not isinstance(engine, VideoGEM):
            raise TypeError(f"the engine factory returned a {type(engine).__name__}, not a VideoGEM engine")
        config = VideoGEMModelConfig({**run_options, "backbone": engine.info.name})
        return model, engine, config
    else:
        raise TypeError(
            "executor='ray' takes a backbone name, a VideoGEM model or engine, or an engine factory, "
            f"got {type(model).__name__}"
        )
    if engine.device.type != "cpu":
        raise ValueError(
            f"the engine is on {engine.device}; its weights cannot travel to the workers from there. Pass "
            "the backbone name instead (each worker then loads the weights on its own device)"
        )
    if config is None:
        config = VideoGEMModelConfig({**run_options, "backbone": engine.info.name})
    elif run_options:
        config = config.replace(**run_options)
    return EngineCopy(engine.backbone, dataclasses.asdict(engine.options)), engine, config


# --------------------------------------------------------------------------- the decoding stage
@dataclass(frozen=True)
class EngineOutline:
    """What deciding and decoding a sample's frames needs of an engine: its ``info`` and ``options``,
    without weights (a :class:`DecodingActor` runs :meth:`~fiftyone_videogem.runner.Grounder.items`
    with it)."""

    info: Any
    options: Any


@dataclass
class DecodedVideo:
    """What opening and decoding one video for a work unit gave, to replay on an engine actor.

    Attributes:
        path: the video file
        info: its ``VideoInfo`` (None when it could not be opened)
        requested: the frame numbers asked of the decoder (None when none were)
        frames: ``(frame_number, rgb)`` as the decoder yielded them
        error: the message of the ``VideoError`` that opening or decoding raised, or None
    """

    path: str
    info: Any = None
    requested: list[int] | None = None
    frames: list[tuple[int, Any]] = field(default_factory=list)
    error: str | None = None


class RecordingDecoder:
    """Opens a video with ``opener`` and keeps what it gives in a :class:`DecodedVideo` appended to ``record``.

    Args:
        path: the video file
        opener: the decoder class or factory (``FrameDecoder``)
        record: receives the :class:`DecodedVideo`
    """

    def __init__(self, path, opener: Callable, record: list):
        from .video import VideoError

        self.video = DecodedVideo(os.fspath(path))
        record.append(self.video)
        try:
            self._decoder = opener(path)
        except VideoError as e:
            self.video.error = str(e)
            raise
        self.info = self.video.info = self._decoder.info

    def __enter__(self) -> "RecordingDecoder":
        return self

    def __exit__(self, *exc_info) -> None:
        self._decoder.__exit__(*exc_info)

    def frames(self, frame_numbers):
        from .video import VideoError

        self.video.requested = sorted({int(n) for n in frame_numbers})
        try:
            for number, rgb in self._decoder.frames(self.video.requested):
                self.video.frames.append((number, rgb))
                yield number, rgb
        except VideoError as e:
            self.video.error = str(e)
            raise


class ReplayDecoder:
    """Gives a :class:`DecodedVideo` back as its decoder did: the same info, frames and errors."""

    def __init__(self, video: DecodedVideo):
        from .video import VideoError

        self.video = video
        if video.info is None:
            raise VideoError(video.error or f"video '{video.path}' could not be opened")
        self.info = video.info

    def __enter__(self) -> "ReplayDecoder":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def close(self) -> None:
        pass

    def frames(self, frame_numbers):
        from .video import VideoError

        wanted = sorted({int(n) for n in frame_numbers})
        if wanted != self.video.requested:
            raise RuntimeError(
                f"the engine asked for other frames of '{self.video.path}' than the decoding stage decoded "
                f"({len(wanted)} vs {len(self.video.requested or [])}); both must run with the same settings"
            )
        yield from self.video.frames
        if self.video.error is not None:
            raise VideoError(self.video.error)


class ReplayDecoders:
    """A decoder factory for an engine actor: per file path, the decoded videos of its units, in order."""

    def __init__(self, videos: Sequence[DecodedVideo]):
        self.queues: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        for video in videos:
            self.queues[video.path].append(video)

    def __call__(self, path) -> ReplayDecoder:
        queue = self.queues.get(os.fspath(path))
        if not queue:
            raise RuntimeError(f"video '{path}' was opened by the engine actor but not by the decoding stage")
        return ReplayDecoder(queue.popleft())


def pack_frames(videos: Sequence[DecodedVideo]) -> tuple[list[DecodedVideo], Any]:
    """The frames of decoded videos as one uint8 array ``[K, H, W, 3]``, and the videos without them
    (their frame numbers kept), so that the frames travel as a tensor column: Ray Data moves it
    without pickling. Frames of different sizes stay in the videos, with an empty array."""
    import dataclasses

    import numpy as np

    arrays = [rgb for video in videos for _, rgb in video.frames]
    if not arrays or len({a.shape for a in arrays}) != 1:
        return list(videos), np.zeros((0, 1, 1, 3), np.uint8)
    bare = [dataclasses.replace(video, frames=[(n, None) for n, _ in video.frames]) for video in videos]
    return bare, np.stack(arrays)


def unpack_frames(videos: Sequence[DecodedVideo], pixels) -> list[DecodedVideo]:
    """The videos of :func:`pack_frames` with their frames back (views of ``pixels``)."""
    import dataclasses

    if len(pixels) == 0:
        return list(videos)
    rows = iter(pixels)
    return [dataclasses.replace(video, frames=[(n, next(rows)) for n, _ in video.frames]) for video in videos]


def unit_plan(blob: bytes):
    """``(unit, plan)`` of a pickled work unit, the plan limited to the unit's frames."""
    import dataclasses

    unit, plan = pickle.loads(blob)
    if unit.frames is not None:
        plan = dataclasses.replace(plan, support=unit.frames)
    return unit, plan


def decode_unit(plan, settings, outline: EngineOutline, opener: Callable) -> list[DecodedVideo]:
    """Decode what grounding a sample (or a range of its frames) needs, without an engine.

    Runs the grounder's choice of frames and prompts (:meth:`~fiftyone_videogem.runner.Grounder.items`)
    with ``outline`` and keeps every frame it decodes and every error the video gives.
    """
    import functools

    from . import runner as fvrun

    videos: list[DecodedVideo] = []
    grounder = fvrun.Grounder(outline, settings, fvrun.GroundingSummary(label_field=settings.label_path),
                              decoder=functools.partial(RecordingDecoder, opener=opener, record=videos))
    for _ in grounder.items(fvrun.SampleState(plan)):
        pass
    return videos


class DecodingActor:
    """A Ray Data worker of the decoding stage: decodes the frames of work units on CPU cores, for the
    engine actors that follow (:class:`GroundingActor` replays them).

    Args:
        outline: the engine's info and options (:class:`EngineOutline`)
        settings: the run's settings
        decoder: opens a video (None: ``FrameDecoder``)
    """

    def __init__(self, outline: EngineOutline, settings, decoder: Callable | None = None):
        from .video import FrameDecoder

        self.outline, self.settings = outline, settings
        self.decoder = decoder or FrameDecoder

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        (blob,) = batch["unit"]  # the stage takes one unit per call
        _, plan = unit_plan(blob)
        videos, pixels = pack_frames(decode_unit(plan, self.settings, self.outline, self.decoder))
        return {"unit": batch["unit"], "decoded": np.array([pickle.dumps(videos)], dtype=object),
                "pixels": pixels[None]}


# ---------------------------------------------------------------------------------- workers
class GroundingActor:
    """A Ray Data worker: builds the engine once, then grounds batches of work units.

    Each call decodes and grounds the units of one batch (frames are batched across its videos; with
    a decoding stage before it, it replays the frames that stage decoded, :class:`ReplayDecoders`),
    writes their labels and errors with ``set_values`` keyed by sample id, and returns one JSON
    report per unit for the driver, which counts, reports progress, and writes the error of a
    sample that was cut into several units once all of them are in.

    Args:
        factory: called once to build the engine
        settings: the run's settings, resolved by the driver
        dataset_name: the dataset the labels are written to
        decoder: opens a video (the runner's ``FrameDecoder``)
    """

    def __init__(self, factory: Callable[[], Any], settings, dataset_name: str, decoder: Callable | None = None):
        import dataclasses

        from .video import FrameDecoder

        ray = import_ray()
        start = time.perf_counter()
        self.engine = factory()
        self.settings = dataclasses.replace(settings, skip_failures=True)
        self.dataset = fo.load_dataset(dataset_name)
        self.decoder = decoder or FrameDecoder
        self.node_id = ray.get_runtime_context().get_node_id()
        logger.info("worker %d on node %s: %s on %s, loaded in %.1f s", os.getpid(), self.node_id,
                    self.engine.info.name, self.engine.device, time.perf_counter() - start)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from . import runner as fvrun

        units, plans = [], []
        for blob in batch["unit"]:
            unit, plan = unit_plan(blob)
            units.append(unit)
            plans.append(plan)
        decoder = self.decoder
        if "decoded" in batch:  # a decoding stage decoded the frames: replay them
            decoder = ReplayDecoders([video for blob, pixels in zip(batch["decoded"], batch["pixels"])
                                      for video in unpack_frames(pickle.loads(blob), pixels)])
        s = self.settings
        summary = fvrun.GroundingSummary(label_field=s.label_path)
        writer = fvrun._Writer(self.dataset, s)
        grounder = fvrun.Grounder(self.engine, s, summary, decoder=decoder)
        waiting: set[str] = set()
        reports = []
        for unit, state in zip(units, grounder.run(plans)):
            labels = fvrun.finished_labels(state, s)
            if unit.sample_id in waiting:  # two units of one sample: write the first before the second
                writer.flush()
                waiting.clear()
            writer.write(unit.sample_id, labels, state.error)
            waiting.add(unit.sample_id)
            reports.append(dict(
                index=unit.index, sample_id=unit.sample_id, part=unit.part, parts=unit.parts,
                grounded=sorted(state.results), skipped=state.skipped, targets=list(state.targets),
                failed_frames=sorted(set(state.failed_frames)), problems=list(state.problems),
                node_id=self.node_id, pid=os.getpid(),
            ))
        writer.flush()
        for report in reports:
            report["fields"] = sorted(writer.fields_written)
        reports[0]["engine_seconds"] = summary.engine_seconds
        return {"report": np.array([json.dumps(r) for r in reports], dtype=object)}


# ----------------------------------------------------------------------------------- driver
@dataclass
class _SampleParts:
    """The reports of one sample's units, until all are in."""

    parts: int
    reports: dict[int, dict] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.reports) == self.parts


def merged_state(plan, reports: Sequence[dict]):
    """One sample's state from the reports of its units, for counting and its error field."""
    from .runner import SampleState

    state = SampleState(plan, decoded=True)
    for report in sorted(reports, key=lambda r: r["part"]):
        state.results.update({int(n): None for n in report["grounded"]})
        state.skipped += int(report["skipped"])
        state.targets.extend(report["targets"])
        state.failed_frames.extend(report["failed_frames"])
        state.problems.extend(p for p in report["problems"] if p not in state.problems)
    return state


def _generated_view(samples) -> bool:
    import fiftyone.core.clips as focl
    import fiftyone.core.patches as fop
    import fiftyone.core.video as fov

    return isinstance(samples, (fov.FramesView, focl.ClipsView, fop.PatchesView, fop.EvaluationPatchesView))


def connect(address: str | None = None):
    """Connect to Ray after checking that its workers can reach the FiftyOne database.

    Joins the Ray instance this process already runs, or ``ray.init(address)`` (None: a new local
    instance). Returns ``(ray, started)``, ``started`` being True when this call started Ray.

    Raises:
        DatabaseNotShared: see :func:`check_database_reachable`
    """
    ray = import_ray()
    database_uri = fo.config.database_uri
    here = ray.util.get_node_ip_address()
    check_database_reachable(database_uri, address, driver_address=here)
    started = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False)
        started = True
    nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")]
    try:
        check_database_reachable(database_uri, address, nodes, here)
    except DatabaseNotShared:
        if started:
            ray.shutdown()
        raise
    return ray, started


def pool_size(ray, num_workers: int | None, num_gpus_per_worker: float | None,
              num_cpus_per_worker: float) -> tuple[int, float]:
    """``(workers, GPUs per worker)``: by default one worker per GPU of the cluster, or one per
    ``num_cpus_per_worker`` CPUs when it has no GPUs."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    if num_gpus_per_worker is None:
        num_gpus_per_worker = 1.0 if gpus >= 1 else 0.0
    if num_workers is None:
        if num_gpus_per_worker > 0:
            num_workers = int(gpus // num_gpus_per_worker)
        else:
            num_workers = int(float(resources.get("CPU", 1)) // max(float(num_cpus_per_worker), 1e-9))
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    return int(num_workers), float(num_gpus_per_worker)


def actor_pipeline(ray, items: list[dict], actor: type, constructor_kwargs: dict, *, batch_size: int, workers: int,
                   gpus: float, cpus: float, max_retries: int, before: tuple[type, dict, int] | None = None):
    """``items`` through a pool of ``workers`` actors of class ``actor`` (a Ray Data pipeline, not started).

    Each actor is built with ``constructor_kwargs``, reserves ``gpus`` GPUs and ``cpus`` CPUs, gets
    the driver's FiftyOne database in its environment (:func:`worker_environment`), and is restarted
    (its batch retried) up to ``max_retries`` times.

    ``before`` (None), ``(actor class, constructor kwargs, workers)``, puts a stage of one-CPU actors
    before that pool (one item per call; the decoding stage), restarted in the same way.
    """
    source = ray.data.from_items(items)
    if before is not None:
        stage, stage_kwargs, stage_workers = before
        source = source.map_batches(
            stage,
            fn_constructor_kwargs=stage_kwargs,
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=stage_workers),
            num_cpus=1,
            max_restarts=max_retries,
            max_task_retries=max_retries,
        )
    return source.map_batches(
        actor,
        fn_constructor_kwargs=constructor_kwargs,
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_gpus=gpus,
        num_cpus=cpus,
        runtime_env={"env_vars": worker_environment()},
        max_restarts=max_retries,
        max_task_retries=max_retries,
    )


def iter_videogem(
    samples,
    model,
    label_field: str,
    *,
    skip_failures: bool = True,
    decoder: Callable | None = None,
    address: str | None = None,
    num_workers: int | None = None,
    num_gpus_per_worker: float | None = None,
    num_cpus_per_worker: float = 1,
    units_per_batch: int | None = None,
    max_frames_per_unit: int | None = None,
    num_decode_workers: int = 0,
    max_retries: int = 3,
    **options: Any,
):
    """Ground ``samples`` on a Ray cluster and yield a ``GroundingProgress`` after each sample.

    The Ray counterpart of :func:`fiftyone_videogem.runner.iter_videogem`, with the same labels,
    error fields, resume and overwrite rules and run record.

    Args:
        samples: a video or image dataset, or a view of one (not a frames, clips or patches view)
        model: a backbone name, a VideoGEM model or engine on the CPU, or an engine factory (see
            :func:`engine_factory`)
        label_field: where the keypoints go
        skip_failures (True): record a failing sample and go on, or stop at the first failure the
            driver learns of and raise ``GroundingError``
        decoder (None): opens a video on the workers (None: ``FrameDecoder``)
        address (None): the Ray cluster (``"auto"``, ``"ray://head:10001"``, ``"head:6379"``), or
            None to join the Ray instance of this process or start one on this machine
        num_workers (None): actors in the pool (None: one per GPU of the cluster, or one per
            ``num_cpus_per_worker`` CPUs when it has no GPUs)
        num_gpus_per_worker (None): GPUs each actor reserves (None: 1 when the cluster has GPUs, else 0)
        num_cpus_per_worker (1): CPUs each actor reserves (decoding and, without a GPU, the engine)
        units_per_batch (None): work units per call of an actor (None: 1 for videos, the engine's
            batch size for images)
        max_frames_per_unit (None): the most frames still to ground in one unit (None: so that each
            worker gets about four units, and at least 16 frames; with a decoding stage at most
            ``DECODED_UNIT_FRAMES``, since a unit's decoded frames travel together)
        num_decode_workers (0): videos only: one-CPU actors of a decoding stage before the engine
            actors, which then only run the engine on the frames it decoded (0: each engine actor
            decodes its own units). Use it when decoding, not the engine, sets the pace and the
            cluster has cores beyond the GPU nodes': sparse frames (see docs/scale.md)
        max_retries (3): restarts of a dead actor, and retries of its batch
        **options: the run's options (``prompt_field``, ``gt_field``, ``frames``, ``overwrite``, ...),
            and with a backbone name its load and engine options (``random_weights``, ``seed``,
            ``checkpoint``, ``batch_size``, ...)
    """
    from . import runner as fvrun
    from .fields import is_video, root_dataset
    from .video import FrameDecoder

    if _generated_view(samples):
        raise ValueError(
            "executor='ray' grounds datasets and their views, not frames, clips or patches views; ground the "
            "videos themselves (frames= selects the frames) or use the local executor"
        )
    if int(num_decode_workers) < 0:
        raise ValueError(f"num_decode_workers must be >= 0, got {num_decode_workers}")
    if num_decode_workers and not is_video(samples):
        raise ValueError("num_decode_workers applies to videos; the engine actors read images themselves")
    ray = import_ray()
    check_database_reachable(fo.config.database_uri, address, driver_address=ray.util.get_node_ip_address())
    factory, engine, config = engine_factory(model, dict(options))
    # settings are checked (and the run registered) before Ray starts, which takes a while
    run = fvrun._Run(engine, config, samples, label_field, skip_failures, decoder=decoder or FrameDecoder)
    started = False
    stopped = "closed early"  # why the run ended early, for its record, in the local runner's words
    try:
        with fvrun.sigterm_as_interrupt():
            ray, started = connect(address)
            workers, gpus = pool_size(ray, num_workers, num_gpus_per_worker, num_cpus_per_worker)
            units = _units(run, samples, workers, max_frames_per_unit,
                           cap=DECODED_UNIT_FRAMES if num_decode_workers else None)
            if units:
                workers = min(workers, len(units))
                per_batch = units_per_batch or (1 if run.settings.video else max(1, int(engine.options.batch_size)))
                logger.info("%d work unit(s) for %d worker(s) with %s GPU and %s CPU each", len(units), workers,
                            gpus, num_cpus_per_worker)
                plans = {plan.sample_id: plan for plan in run.plans}
                items = [{"unit": pickle.dumps((unit, plans[unit.sample_id]))} for unit in units]
                decoding = None
                if num_decode_workers:
                    decoding = (DecodingActor, dict(outline=EngineOutline(engine.info, engine.options),
                                                    settings=run.settings, decoder=decoder),
                                min(int(num_decode_workers), len(units)))
                    logger.info("a decoding stage of %d one-CPU worker(s)", decoding[2])
                pipeline = actor_pipeline(
                    ray, items, GroundingActor,
                    dict(factory=factory, settings=run.settings, dataset_name=root_dataset(samples).name,
                         decoder=decoder),
                    batch_size=per_batch, workers=workers, gpus=gpus, cpus=num_cpus_per_worker,
                    max_retries=max_retries, before=decoding,
                )
                yield from _collect(run, pipeline, fvrun)
        stopped = None
    except BaseException as e:
        stopped = fvrun.stop_reason(e)
        raise
    finally:
        summary = run.close(stopped)
        if started:
            ray.shutdown()
    total = len(run.plans)
    yield fvrun.GroundingProgress(total, total, summary.frames_grounded, None, None, summary)


def _units(run, samples, num_workers: int, max_frames_per_unit: int | None, cap: int | None = None) -> list[WorkUnit]:
    settings, plans = run.settings, run.plans
    counts = None
    if settings.video and (settings.frames == "all" or isinstance(settings.frames, int)):
        counts = samples.values("metadata.total_frame_count")
    work = []
    for i, plan in enumerate(plans):
        targets = unit_targets(plan, settings, counts[i] if counts else None)
        pending = targets
        if targets is not None and not settings.overwrite:
            pending = [t for t in targets if t not in plan.labelled_frames]
        work.append((plan.sample_id, targets, pending or []))
    max_frames = max_frames_per_unit or min(unit_size(sum(len(p) for _, _, p in work), num_workers), cap or math.inf)
    return plan_work_units(work, max_frames)


def _collect(run, pipeline, fvrun):
    """Count the units' reports as they come; finish each sample once all its units are in."""
    waiting: dict[str, _SampleParts] = {}
    plans = {plan.sample_id: plan for plan in run.plans}
    done = 0
    for row in pipeline.iter_rows():
        report = json.loads(row["report"])
        run.writer.fields_written.update(report["fields"])
        run.summary.engine_seconds += report.get("engine_seconds", 0.0)
        sample_id = report["sample_id"]
        parts = waiting.setdefault(sample_id, _SampleParts(report["parts"]))
        parts.reports[report["part"]] = report
        if not parts.complete:
            continue
        del waiting[sample_id]
        state = merged_state(plans[sample_id], list(parts.reports.values()))
        # the error of a sample cut into units is known only now; for the others this rewrites it
        run.record(state, {})
        done += 1
        yield fvrun.GroundingProgress(done, len(run.plans), run.summary.frames_grounded, sample_id, state.error)



# -------------------------------------------------------------------------- the temporal scan
def localization_engine(model, address: str | None = None) -> tuple[Callable[[], Any], Any]:
    """What the actors of ``localize_actions(..., executor="ray")`` build their engine with, and an
    engine for the driver, after checking that Ray is installed and its workers can reach the database.

    Args:
        model: a backbone name, a VideoGEM model or engine on the CPU, or an engine factory (see
            :func:`engine_factory`)
        address (None): the Ray address of the run

    Returns:
        ``(factory, engine)``: the driver's engine names the backbone in the run record; with a
        backbone name it has random weights, and each actor loads the real ones

    Raises:
        DatabaseNotShared: see :func:`check_database_reachable`
    """
    ray = import_ray()
    check_database_reachable(fo.config.database_uri, address, driver_address=ray.util.get_node_ip_address())
    factory, engine, _ = engine_factory(model, {})
    return factory, engine


def detached_localizer(run):
    """A copy of a localisation run's settings without its collection, engine and counts, to send
    to the actors (:class:`LocalizationActor` binds it to its own)."""
    import copy

    detached = copy.copy(run)
    detached.samples = detached.target = detached.engine = detached.summary = None
    detached.written = set()
    return detached


class LocalizationActor:
    """A Ray Data worker of ``localize_actions``: builds the engine once, then scans batches of videos.

    Each call runs the local scan on its videos (the localisation's own embedding, with the
    embedding cache, segmentation, spatial grounding and writing with ``set_values`` keyed by
    sample id) and returns, per video, the video (without its embeddings) and what it counted, for
    the driver to count and report.

    Args:
        factory: called once to build the engine
        localizer: the run's settings (:func:`detached_localizer`)
        dataset_name: the dataset the results are written to
    """

    def __init__(self, factory: Callable[[], Any], localizer, dataset_name: str):
        import copy

        from . import fields as fvf
        from .localization import EmbeddingCache, backbone_fingerprint

        ray = import_ray()
        start = time.perf_counter()
        engine = factory()
        root = fo.load_dataset(dataset_name)
        run = copy.copy(localizer)
        run.samples, run.target, run.engine = root, fvf.write_target(root), engine
        run.skip_failures = True  # the driver decides whether a failure stops the run
        if run.cache is not None:  # the fingerprint of the weights this actor loaded
            run.cache = EmbeddingCache(run.cache.directory, backbone_fingerprint(engine, run.context_stride))
        self.run = run
        logger.info("worker %d on node %s: %s on %s, loaded in %.1f s", os.getpid(),
                    ray.get_runtime_context().get_node_id(), engine.info.name, engine.device,
                    time.perf_counter() - start)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from .localization import LocalizationSummary

        run = self.run
        run.summary = LocalizationSummary(label_field=run.label_field, run_key=run.run_key)
        run.written = set()
        videos = list(run.run([pickle.loads(blob) for blob in batch["video"]]))
        counts = {k: getattr(run.summary, k) for k in LOCALIZATION_COUNTS}
        blobs, reports = [], []
        for i, video in enumerate(videos):
            video.embeddings, video.info = [], None  # the driver needs what happened, not the embeddings
            blobs.append(pickle.dumps(video))
            reports.append(json.dumps(dict(fields=sorted(run.written), **(counts if i == 0 else {}))))
        return {"video": np.array(blobs, dtype=object), "report": np.array(reports, dtype=object)}


LOCALIZATION_COUNTS = ("frames_embedded", "frames_from_cache", "frames_grounded", "embed_seconds", "ground_seconds")
"""What a :class:`LocalizationActor` counts for the driver's summary (seconds are worker seconds)."""


def localize_on_ray(
    run,
    videos: Sequence[Any],
    factory: Callable[[], Any],
    *,
    address: str | None = None,
    num_workers: int | None = None,
    num_gpus_per_worker: float | None = None,
    num_cpus_per_worker: float = 1,
    videos_per_batch: int = 1,
    max_retries: int = 3,
) -> Iterator[Any]:
    """Scan ``videos`` of a localisation run on Ray and yield each video once its results are written.

    The Ray counterpart of the local scan of :func:`fiftyone_videogem.localization.localize_actions`
    (which records the run and reports progress): one work unit per video, a pool of
    :class:`LocalizationActor`; the driver counts each video as its report arrives.

    Args:
        run: the localisation run (its settings, summary and record)
        videos: the videos to scan (the run's plan)
        factory: builds the engine on each actor (:func:`localization_engine`)
        address (None): the Ray cluster, or None to join this process's Ray instance or start one here
        num_workers (None): actors (None: one per GPU of the cluster, or one per
            ``num_cpus_per_worker`` CPUs when it has none), at most one per batch of videos
        num_gpus_per_worker (None): GPUs each actor reserves (None: 1 when the cluster has GPUs, else 0)
        num_cpus_per_worker (1): CPUs each actor reserves
        videos_per_batch (1): videos per call of an actor (its embedding batches span them)
        max_retries (3): restarts of a dead actor, and retries of its batch
    """
    from . import fields as fvf
    from .runner import sigterm_as_interrupt

    if not videos:
        return
    root = fvf.root_dataset(run.samples)
    started = False
    try:
        with sigterm_as_interrupt():
            ray, started = connect(address)
            workers, gpus = pool_size(ray, num_workers, num_gpus_per_worker, num_cpus_per_worker)
            per_batch = max(1, int(videos_per_batch))
            workers = min(workers, math.ceil(len(videos) / per_batch))
            logger.info("%d video(s) for %d worker(s) with %s GPU and %s CPU each", len(videos), workers, gpus,
                        num_cpus_per_worker)
            pipeline = actor_pipeline(
                ray, [{"video": pickle.dumps(video)} for video in videos], LocalizationActor,
                dict(factory=factory, localizer=detached_localizer(run), dataset_name=root.name),
                batch_size=per_batch, workers=workers, gpus=gpus, cpus=num_cpus_per_worker, max_retries=max_retries,
            )
            summary = run.summary
            for row in pipeline.iter_rows():
                report = json.loads(row["report"])
                run.written.update(report["fields"])
                for name in LOCALIZATION_COUNTS:
                    setattr(summary, name, getattr(summary, name) + report.get(name, 0))
                video = pickle.loads(row["video"])
                run.count_video(video)
                yield video
    finally:  # localize_actions then reads the fields the workers created into this process's schema
        if started:
            ray.shutdown()
