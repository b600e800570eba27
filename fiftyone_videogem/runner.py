"""Grounding runs over whole collections: :func:`run_videogem` and :func:`iter_videogem`.

What a run does, in order:

1. **Settings**: the model's config (plus per-run overrides) is validated against the collection:
   the prompt source, the ground truth, the label field; every error is a ``ValueError`` raised
   before any work (:func:`resolve_settings`).
2. **Plans**: what each sample needs (prompts, frames with ground truth, frames already labelled,
   the importers' hints) is read with one ``values()`` query per field (:func:`read_plans`).
3. **Decoding and batching**: each video is decoded once, sequentially, and only up to the frames
   it needs; video backbones get the union of their context windows. Frames go through the engine
   in batches that span videos (:class:`Grounder`).
4. **Writing**: labels are written with one ``set_values`` per field for several samples at a
   time (every 16 videos or 64 images, and at least every 2 seconds, also in the middle of a long
   video), heatmaps before keypoints, and when the run stops (an exception, Ctrl-C or SIGTERM) also
   the frames grounded so far; a rerun skips frames that have every output of the run (keypoints,
   heatmaps, heatmap files) unless ``overwrite=True``.
5. **Records**: problems with a sample go to the sample field ``<label_field>_error`` and the
   run's summary; the run is recorded on the dataset (:mod:`fiftyone_videogem.runs`) with the
   fields it created, which are the only ones deleting the run deletes. Output fields that exist
   and were not created by a run of this key, and a rerun with other options, are refused before
   anything is written unless ``overwrite=True`` (docs/reliability.md).

``dataset.apply_model(model, ...)`` uses the same planning and grounding for one sample at a time
(:mod:`fiftyone_videogem.model`), and FiftyOne writes what the model returns.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import logging
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.media as fomm
import fiftyone.core.utils as fou

from . import fields as fvf
from . import labels as fvl
from . import runs as fvr
from .app import configure_app
from .datasets.common import PROMPT_PARSER_FIELD
from .engine.options import COMPONENTS, GroundingOptions
from .engine.prompts import PARSERS, ActionPrompt, parse_prompt
from .fields import DEFAULT_LABEL_FIELD, FieldSpec
from .video import FrameDecoder, VideoError, context_frame_numbers, stride_in_frames

if TYPE_CHECKING:  # pragma: no cover
    from .engine.grounding import GroundingResult, VideoGEM
    from .model import VideoGEMModel, VideoGEMModelConfig

logger = logging.getLogger(__name__)

FRAME_CHOICES = ("gt", "all")
"""Named frame selections; ``frames`` also takes an int N (every N-th frame) or frame numbers."""

CONTEXT_EDGES = ("clamp", "repeat_keyframe", "skip")
"""What a video backbone gets for a frame whose context window reaches past a video's ends:
``"clamp"`` repeats the first / last frame in the missing positions; ``"repeat_keyframe"`` gives
the frame itself T times (the V-HICO protocol); ``"skip"`` leaves the frame out and records it
(the DALY protocol)."""

DEFAULT_CONTEXT_EDGE = "clamp"


class GroundingError(RuntimeError):
    """A sample could not be grounded and the run was asked not to skip failures."""


class Interrupted(KeyboardInterrupt):
    """A run was stopped by a signal (SIGTERM: ``kill``, ``docker stop``, batch schedulers), which
    is handled like Ctrl-C: what was grounded is written and recorded, then this is raised."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Interrupted` (a KeyboardInterrupt) like Ctrl-C.

    Only in the main thread (Python delivers signals there); elsewhere the block runs unchanged.
    The previous handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def normalize_frames(frames: Any) -> str | int | tuple[int, ...]:
    """Validate a frame selection: ``"gt"``, ``"all"``, an int N >= 1 or frame numbers >= 1."""
    if isinstance(frames, str):
        text = frames.strip().lower()
        if text in FRAME_CHOICES:
            return text
        if not text.isdigit():
            raise ValueError(
                f"frames must be 'gt', 'all', an int N (every N-th frame) or a list of frame numbers, got {frames!r}"
            )
        frames = int(text)
    if isinstance(frames, bool):
        raise ValueError("frames must be 'gt', 'all', an int or a list of frame numbers, not a bool")
    if isinstance(frames, (int, np.integer)):
        if frames < 1:
            raise ValueError(f"frames=N grounds every N-th frame; N must be >= 1, got {frames}")
        return int(frames)
    if isinstance(frames, Iterable):
        numbers = sorted({int(n) for n in frames})
        if not numbers:
            raise ValueError("frames is an empty list; pass frame numbers, 'gt' or 'all'")
        if numbers[0] < 1:
            raise ValueError(f"frame numbers are 1-based, got {numbers[0]}")
        return tuple(numbers)
    raise ValueError(f"frames must be 'gt', 'all', an int N or a list of frame numbers, got {frames!r}")


def format_frames(numbers: Sequence[int], limit: int = 8) -> str:
    """``"3, 7, 9"``, or the first ``limit`` numbers and the count."""
    numbers = sorted(numbers)
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f", ... ({len(numbers)} in all)" if len(numbers) > limit else "")


# ------------------------------------------------------------------------------- results
@dataclass
class SampleFailure:
    """Why (part of) a sample was not grounded.

    Attributes:
        sample_id: the sample's id
        filepath: its media path
        reason: what went wrong and what to do
        frames: the frame numbers affected (empty when the whole sample failed)
    """

    sample_id: str
    filepath: str
    reason: str
    frames: list[int] = field(default_factory=list)


@dataclass
class GroundingSummary:
    """What a grounding run did.

    Attributes:
        label_field: the label field written (``frames.`` prefix for video collections)
        run_key: the run record's key (None when not recorded)
        samples_total: samples in the target collection
        samples_grounded: samples with at least one newly grounded frame
        samples_up_to_date: samples whose selected frames all had labels already
        samples_failed: samples with a failure (some may also have grounded frames)
        frames_grounded: frames (images) grounded by this run
        frames_skipped: frames skipped because they already had labels
        frames_failed: frames that could not be grounded (missing prompt, past the end, ...)
        failures: one entry per sample with a problem
        seconds: wall time of the run
        engine_seconds: time spent inside the engine
        stopped: why the run ended before every sample was done (``"KeyboardInterrupt"``,
            ``"SIGTERM"``, ``"GroundingError: ..."``), or None when it finished
    """

    label_field: str
    run_key: str | None = None
    samples_total: int = 0
    samples_grounded: int = 0
    samples_up_to_date: int = 0
    samples_failed: int = 0
    frames_grounded: int = 0
    frames_skipped: int = 0
    frames_failed: int = 0
    failures: list[SampleFailure] = field(default_factory=list)
    seconds: float = 0.0
    engine_seconds: float = 0.0
    stopped: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def add(self, state: SampleState) -> None:
        """Count one finished sample."""
        error = state.error
        self.frames_grounded += len(state.results)
        self.frames_skipped += state.skipped
        if state.results:
            self.samples_grounded += 1
        elif state.skipped and error is None:
            self.samples_up_to_date += 1
        if error is not None:
            self.samples_failed += 1
            failed = sorted(set(state.failed_frames))
            self.frames_failed += len(failed) if failed else len(state.targets)
            self.failures.append(SampleFailure(state.plan.sample_id, state.plan.filepath, error, failed))

    def __str__(self) -> str:
        return (
            f"{self.frames_grounded} frame(s) grounded in {self.samples_grounded} of {self.samples_total} sample(s) "
            f"into '{self.label_field}', {self.frames_skipped} already labelled, "
            f"{self.samples_failed} sample(s) with failures"
            + (f"; stopped early ({self.stopped}): rerun to resume" if self.stopped else "")
        )


@dataclass
class GroundingProgress:
    """One progress event of :func:`iter_videogem`, sent after each finished sample.

    Attributes:
        samples_done: samples finished so far
        samples_total: samples in the run
        frames_grounded: frames grounded so far
        sample_id: the sample just finished
        failure: its failure reason, or None
        summary: the run's summary, only on the last event
        partial: the grounded share of the samples in flight (batch events of ``progress_per_batch``)
    """

    samples_done: int
    samples_total: int
    frames_grounded: int
    sample_id: str | None = None
    failure: str | None = None
    summary: GroundingSummary | None = None
    partial: float = 0.0

    @property
    def fraction(self) -> float:
        return 1.0 if self.samples_total == 0 else min(1.0, (self.samples_done + self.partial) / self.samples_total)

    @property
    def label(self) -> str:
        return f"{self.samples_done}/{self.samples_total} samples, {self.frames_grounded} frames grounded"


# ------------------------------------------------------------------------------ settings
@dataclass
class GroundingSettings:
    """Everything a run needs, resolved against one collection.

    ``label_field`` is None for ``apply_model``, where FiftyOne names and writes the fields.
    A frame (image) counts as done when ``labelled`` (the keypoints) and every field of ``outputs``
    (the heatmaps; their ``map_path`` when they are files, which must exist) hold a value for it;
    ``labelled`` is None when nothing can be done yet (a field of the run does not exist).
    """

    label_field: str | None  # bare name
    video: bool
    prompt: FieldSpec | None
    fixed_prompt: str | None
    gt: FieldSpec | None
    labelled: FieldSpec | None
    frames: Any
    overwrite: bool
    heatmaps: fvl.HeatmapOptions
    stride_seconds: float
    stride_frames: int | None
    image_mode: bool
    context_edge: str | None  # None: the sample's hint, else DEFAULT_CONTEXT_EDGE
    prompt_parser: str | None  # explicit parser; None: the sample's hint when the engine's is "auto"
    skip_failures: bool
    clips: bool
    run_key: str | None
    hints: tuple[str, ...] = ()  # hint fields present on the samples' dataset
    outputs: tuple[FieldSpec, ...] = ()  # heatmap fields every done frame has

    @property
    def label_path(self) -> str:
        return fvf.frame_path(self.label_field or DEFAULT_LABEL_FIELD, self.video)

    @property
    def prompt_source(self) -> str:
        if self.fixed_prompt is not None:
            return f"prompt={self.fixed_prompt!r}"
        return f"prompt_field={self.prompt.path!r} ({self.prompt.kind})"


def check_prompt_sources(config: VideoGEMModelConfig) -> None:
    """The checks that need no collection: one prompt source, and a gt_field for ``frames="gt"``."""
    if config.prompt is not None and config.prompt_field:
        raise ValueError(
            f"both prompt={config.prompt!r} and prompt_field={config.prompt_field!r} are set; pass only one"
        )
    if config.prompt is None and not config.prompt_field:
        raise ValueError(
            "no prompt source: pass prompt_field= (e.g. apply_model(model, label_field=..., "
            "prompt_field='frames.action', gt_field='frames.gt')) or a fixed prompt= when loading the model"
        )
    if config.frames == "gt" and not config.gt_field:
        raise ValueError(
            "frames='gt' grounds the frames that carry ground truth, but no gt_field was given; pass "
            "gt_field='frames.gt' (apply_model(..., gt_field='frames.gt')), or frames='all' / an interval "
            "when loading the model"
        )


def default_map_dir(collection) -> str:
    """``<fo.config.default_dataset_dir>/videogem/<dataset name>/heatmaps``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in collection.dataset_name)
    return os.path.join(fo.config.default_dataset_dir, "videogem", safe, "heatmaps")


def default_run_key(label_field: str) -> str:
    """``videogem_<label_field>`` made a valid identifier."""
    return "videogem_" + "".join(c if c.isalnum() or c == "_" else "_" for c in fvf.strip_frames(label_field))


def _bare_label_field(collection, label_field: Any) -> str:
    if not isinstance(label_field, str) or not label_field.strip():
        raise ValueError(f"label_field must be a field name, got {label_field!r}")
    label_field = label_field.strip()
    if fvf.is_frame_path(label_field):
        if not fvf.is_video(collection):
            raise ValueError(f"label_field '{label_field}' names a frame field, but this is an image collection")
        label_field = fvf.strip_frames(label_field)
    if "." in label_field:
        raise ValueError(f"label_field must be a top-level field name without dots, got '{label_field}'")
    return label_field


def frame_output_fields(label_field: str, heatmaps: str, options: GroundingOptions) -> list[str]:
    """The fields a run writes for every grounded frame (image): the keypoints, then the heatmaps that
    :meth:`~fiftyone_videogem.labels.HeatmapOptions.components` keeps for an engine with ``options``."""
    grounded = COMPONENTS if options.decomposition else (options.single_prompt,)
    names = [c for c in fvl.COMPONENT_ORDER if c in grounded]
    if heatmaps == "none":
        kept = []
    elif heatmaps == "action":
        kept = ["action"] if "action" in names else names[:1]
    else:
        merged = len(names) > 1 and options.merge != "point_average" and options.return_heatmaps
        kept = names + ([fvl.MERGED_HEATMAP] if merged else [])
    return [label_field] + [fvl.heatmap_field(label_field, c) for c in kept]


def check_writable_dir(path: str, role: str) -> None:
    """Raise a ValueError unless ``path`` is, or can be created as, a writable directory (nothing is
    created: the nearest existing folder is probed with a temporary file)."""
    import tempfile

    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{role} '{path}' cannot be created: '{existing}' is a file; pass a directory path")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise ValueError(
            f"{role} '{path}' is not writable ({e.strerror or e} in '{existing}'); pass a directory you can write to"
        ) from None


def _output_specs(collection, label_field: str, heatmaps: fvl.HeatmapOptions,
                  options: GroundingOptions | None) -> tuple[FieldSpec, ...] | None:
    """Check the types of the output fields that exist; return the heatmap fields a done frame
    has (None when one of them does not exist yet, so no frame is done)."""
    error_name = fvl.error_field(label_field)
    error_field = collection.get_field(error_name)
    if error_field is not None and not isinstance(error_field, fof.StringField):
        raise ValueError(
            f"'{error_name}' exists as a field of type {type(error_field).__name__}; a run records each sample's "
            "problems there as text, so choose another label_field or delete that field first"
        )
    specs = {name: fvf.label_spec(collection, name, fol.Heatmap)
             for name in fvl.output_fields(label_field, heatmaps.heatmaps)[1:]}
    expected = frame_output_fields(label_field, heatmaps.heatmaps, options)[1:] if options is not None else []
    if any(specs[name] is None for name in expected):
        return None
    files = heatmaps.storage == "files"
    return tuple(dataclasses.replace(specs[n], value_path=f"{specs[n].path}.map_path") if files else specs[n]
                 for n in expected)


def resolve_settings(
    collection,
    config: VideoGEMModelConfig,
    label_field: str | None,
    skip_failures: bool,
    engine_options: GroundingOptions | None = None,
) -> GroundingSettings:
    """Validate ``config`` against ``collection``; every error is a ValueError raised before any work.

    Args:
        collection: the dataset or view to ground (for ``apply_model``: a sample's dataset)
        config: the model's config with this run's overrides
        label_field: the run's label field, or None when FiftyOne writes the labels (``apply_model``)
        skip_failures: record failing samples and go on, or raise
        engine_options (None): the engine's options, which decide the heatmap fields a done frame has
    """
    if not isinstance(skip_failures, bool):
        raise ValueError(f"skip_failures must be True or False, got {skip_failures!r}")
    if collection.media_type not in (fomm.VIDEO, fomm.IMAGE):
        raise ValueError(
            f"VideoGEM grounds video and image collections, not '{collection.media_type}' ones; "
            "select a slice of a grouped dataset with select_group_slices() first"
        )
    video = fvf.is_video(collection)
    if label_field is not None:
        label_field = _bare_label_field(collection, label_field)
    check_prompt_sources(config)
    prompt = fvf.prompt_spec(collection, config.prompt_field) if config.prompt is None else None

    frames = config.frames
    if not video and frames not in FRAME_CHOICES:
        raise ValueError(f"frames={frames!r} selects video frames; image collections accept frames='gt' or 'all'")
    gt = fvf.gt_spec(collection, config.gt_field) if config.gt_field else None

    labelled = None
    run_key = None
    if label_field is not None:
        labelled = fvf.label_spec(collection, label_field)
        written = fvl.output_fields(label_field, "all") + [fvl.error_field(label_field)]
        for spec in (prompt, gt):
            if spec is not None and spec.name in written:
                raise ValueError(
                    f"label_field '{label_field}' would overwrite the input field '{spec.path}'; choose another name"
                )
        if config.record_run:
            run_key = config.run_key or default_run_key(label_field)
            if not run_key.isidentifier():
                raise ValueError(f"run_key must be a valid identifier, got {run_key!r}")

    map_dir = config.map_dir
    if config.heatmap_storage == "files" and not map_dir:
        map_dir = default_map_dir(collection)
    heatmaps = config.heatmap_options(map_dir=map_dir)
    outputs: tuple[FieldSpec, ...] = ()
    if label_field is not None:
        if heatmaps.storage == "files":
            check_writable_dir(heatmaps.map_dir, "map_dir (the heatmap files' directory)")
        found = _output_specs(collection, label_field, heatmaps, engine_options)
        if found is None:
            labelled = None
        else:
            outputs = found
    hints = tuple(name for name in (PROMPT_PARSER_FIELD, fvf.CONTEXT_EDGE_FIELD)
                  if fvf.hint_field(fvf.root_dataset(collection), name))
    return GroundingSettings(
        label_field=label_field, video=video, prompt=prompt, fixed_prompt=config.prompt, gt=gt,
        labelled=labelled, frames=frames, overwrite=bool(config.overwrite),
        heatmaps=heatmaps, stride_seconds=float(config.context_stride),
        stride_frames=config.context_stride_frames, image_mode=bool(config.image_mode),
        context_edge=config.context_edge, prompt_parser=config.prompt_parser,
        skip_failures=bool(skip_failures), clips=fvf.has_clip_support(collection), run_key=run_key, hints=hints,
        outputs=outputs,
    )


# ---------------------------------------------------------------------------------- plans
@dataclass
class SamplePlan:
    """What one sample needs, read before any decoding."""

    sample_id: str
    filepath: str
    prompt: str | None = None  # sample-level or fixed prompt
    frame_prompts: dict[int, str | None] | None = None
    gt_frames: set[int] = field(default_factory=set)  # videos
    has_gt: bool = False  # images
    labelled_frames: set[int] = field(default_factory=set)  # videos
    labelled: bool = False  # images
    support: tuple[int, int] | None = None  # clips
    image: np.ndarray | None = None  # images handed over by apply_model
    prompt_parser: str | None = None  # the dataset's hint
    context_edge: str | None = None  # the dataset's hint


def _fill_plan(plan: SamplePlan, settings: GroundingSettings, values: dict[str, Any],
               numbers: dict[str, Sequence[int]]) -> None:
    """Fill ``plan`` from one sample's values (as ``values(value_path)`` gives them); for frame
    fields, ``numbers[key]`` are the frame numbers of ``values[key]``."""
    s = settings

    def by_frame(key: str) -> Iterator[tuple[int, Any]]:
        return zip(numbers.get(key) or (), values[key] or ())

    if s.prompt is not None:
        if s.video and s.prompt.frame_level:
            plan.frame_prompts = {fn: fvf.text_of(v) for fn, v in by_frame("prompt")}
        else:
            plan.prompt = fvf.text_of(values["prompt"])
    if s.gt is not None:
        if s.video:
            plan.gt_frames = {fn for fn, v in by_frame("gt") if fvf.has_value(v, s.gt.is_list)}
        else:
            plan.has_gt = fvf.has_value(values["gt"], s.gt.is_list)
    if s.labelled is not None:
        # done: the keypoints and every heatmap (and its file) of the run are there
        present = functools.partial(_output_present, files=s.heatmaps.storage == "files")
        if s.video:
            done = {fn for fn, v in by_frame("labelled") if fvf.has_value(v, True)}
            for i in range(len(s.outputs)):
                done &= {fn for fn, v in by_frame(f"output{i}") if present(v)}
            plan.labelled_frames = done
        else:
            plan.labelled = fvf.has_value(values["labelled"], True) and all(
                present(values[f"output{i}"]) for i in range(len(s.outputs)))


def _output_present(value: Any, files: bool) -> bool:
    """Whether a heatmap value read for resume is there: its id, or for files a ``map_path`` that exists."""
    if files:
        return isinstance(value, str) and os.path.isfile(value)
    return value is not None


def _hints_by_source(collection, settings: GroundingSettings) -> dict[str, dict[str, str]]:
    """``{hint field: {source video id: value}}`` from the root dataset."""
    if not settings.hints:
        return {}
    root = fvf.root_dataset(collection)
    ids = root.values("id")
    return {name: dict(zip(ids, root.values(name))) for name in settings.hints}


def read_plans(collection, settings: GroundingSettings) -> list[SamplePlan]:
    """The plans of every sample of ``collection``, with one query per field."""
    s = settings
    paths = {"id": "id", "filepath": "filepath"}
    if s.video:
        paths["frame_number"] = "frames.frame_number"
    if s.clips:
        paths["support"] = "support"
    generated = s.clips or fvf.is_frames_view(collection)
    if s.hints and generated:
        paths["source_id"] = "sample_id"
    outputs = [(f"output{i}", spec) for i, spec in enumerate(s.outputs)] if s.labelled is not None else []
    for key, spec in (("prompt", s.prompt), ("gt", s.gt), ("labelled", s.labelled), *outputs):
        if spec is not None:
            paths[key] = spec.value_path
    keys = list(paths)
    values = dict(zip(keys, collection.values([paths[k] for k in keys])))
    hints = _hints_by_source(collection, s)

    plans = []
    for i, (sample_id, filepath) in enumerate(zip(values["id"], values["filepath"])):
        plan = SamplePlan(sample_id=sample_id, filepath=filepath, prompt=s.fixed_prompt)
        if s.clips and values["support"][i]:
            plan.support = (int(values["support"][i][0]), int(values["support"][i][1]))
        source_id = values["source_id"][i] if "source_id" in values else sample_id
        plan.prompt_parser = hints.get(PROMPT_PARSER_FIELD, {}).get(source_id)
        plan.context_edge = hints.get(fvf.CONTEXT_EDGE_FIELD, {}).get(source_id)
        keys = [k for k in ("prompt", "gt", "labelled", *(k for k, _ in outputs)) if k in values]
        numbers = (values["frame_number"][i] or []) if s.video else ()
        _fill_plan(plan, s, {k: values[k][i] for k in keys}, {k: numbers for k in keys})
        plans.append(plan)
    return plans


def plan_from_sample(sample, settings: GroundingSettings, image: np.ndarray | None = None) -> SamplePlan:
    """The plan of one sample that ``apply_model`` handed to the model.

    Fields that apply_model did not load (it loads only those named in ``needs_fields``) are read
    from the sample's dataset (``sample.dataset[sample.id]``).
    """
    s = settings
    full = None

    def document():
        nonlocal full
        if full is None:
            full = sample.dataset[sample.id]
        return full

    def sample_value(name: str):
        try:
            return sample[name]
        except KeyError:  # not loaded by apply_model
            return document()[name]

    def frame_values(name: str) -> tuple[list[int], list]:
        try:
            items = [(fn, frame[name]) for fn, frame in sample.frames.items()]
        except KeyError:  # not loaded by apply_model
            items = [(fn, frame[name]) for fn, frame in document().frames.items()]
        return [fn for fn, _ in items], [value for _, value in items]

    plan = SamplePlan(sample_id=sample.id, filepath=sample.filepath, prompt=s.fixed_prompt, image=image)
    if s.clips:
        support = sample_value("support")
        plan.support = (int(support[0]), int(support[1])) if support else None
    if PROMPT_PARSER_FIELD in s.hints:
        plan.prompt_parser = sample_value(PROMPT_PARSER_FIELD)
    if fvf.CONTEXT_EDGE_FIELD in s.hints:
        plan.context_edge = sample_value(fvf.CONTEXT_EDGE_FIELD)
    values: dict[str, Any] = {}
    numbers: dict[str, list[int]] = {}
    for key, spec in (("prompt", s.prompt), ("gt", s.gt)):
        if spec is None:
            continue
        if spec.frame_level:
            numbers[key], raw = frame_values(spec.name)
            values[key] = [spec.value_of(v) for v in raw]
        else:
            values[key] = spec.value_of(sample_value(spec.name))
    _fill_plan(plan, s, values, numbers)
    return plan


# ---------------------------------------------------------------------------- grounding
@dataclass
class SampleState:
    """A sample on its way through decoding and the engine."""

    plan: SamplePlan
    targets: list[int] = field(default_factory=list)
    pending: int = 0
    decoded: bool = False
    results: dict[int, GroundingResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    failed_frames: list[int] = field(default_factory=list)
    whole_failed: bool = False
    skipped: int = 0
    frame_size: tuple[int, int] | None = None

    @property
    def done(self) -> bool:
        return self.decoded and self.pending == 0

    @property
    def error(self) -> str | None:
        return "; ".join(self.problems) if self.problems else None

    def fail(self, reason: str, frames: Sequence[int] = ()) -> None:
        self.problems.append(reason)
        if frames:
            self.failed_frames.extend(int(f) for f in frames)
        else:
            self.whole_failed = True


@dataclass
class _Item:
    state: SampleState
    frame_number: int | None
    pixels: Any  # HxWx3 array, or a list of T of them
    prompt: ActionPrompt


def _window_is_complete(target: int, length: int, target_index: int, stride: int, last: int) -> bool:
    """Whether every position of a context window falls inside frames ``1..last``."""
    return target - target_index * stride >= 1 and target + (length - 1 - target_index) * stride <= last


class Grounder:
    """Decodes what each sample needs and grounds it in batches that span samples.

    Args:
        engine: the VideoGEM engine
        settings: the run's settings
        summary: receives the engine time
        decoder: opens a video: anything with :class:`~fiftyone_videogem.video.FrameDecoder`'s
            interface (``FrameDecoder``)

    Attributes:
        on_batch: called after each engine batch with the samples in flight (not yet yielded), so
            that a run can write the frames of a long video before the video is finished (None)
        in_flight: the samples in flight
    """

    def __init__(self, engine: VideoGEM, settings: GroundingSettings, summary: GroundingSummary,
                 decoder: Callable[[str], FrameDecoder] = FrameDecoder):
        self.engine = engine
        self.settings = settings
        self.summary = summary
        self.decoder = decoder
        self.on_batch: Callable[[Sequence[SampleState]], None] | None = None
        self.yield_batches = False
        self.in_flight: collections.deque[SampleState] = collections.deque()
        self._parsed: dict[tuple[str, str], ActionPrompt] = {}
        info = engine.info
        self.num_frames = int(info.num_frames)
        self.target_index = int(info.target_frame)

    # ------------------------------------------------------------------------- main loop
    def run(self, plans: Iterable[SamplePlan]) -> Iterator[SampleState]:
        """Yields every sample's state once its frames are grounded, in order."""
        batch: list[_Item] = []
        queue = self.in_flight = collections.deque()
        batch_size = max(1, int(self.engine.options.batch_size))
        for plan in plans:
            state = SampleState(plan)
            queue.append(state)
            for item in self.items(state):
                state.pending += 1
                batch.append(item)
                if len(batch) >= batch_size:
                    self._ground(batch)
                    batch = []
                    yield from self._finished(queue)
                    if self.on_batch is not None and queue:
                        self.on_batch(queue)
                    if self.yield_batches:
                        yield None
            state.decoded = True
            yield from self._finished(queue)
        if batch:
            self._ground(batch)
        yield from self._finished(queue)

    @staticmethod
    def _finished(queue) -> Iterator[SampleState]:
        while queue and queue[0].done:
            yield queue.popleft()

    # ---------------------------------------------------------------------------- prompts
    def _parser_for(self, state: SampleState) -> str | None:
        """The prompt parser of a sample: the explicit one, else the dataset's hint when the
        engine's parser is ``"auto"``, else the engine's (None after recording a bad hint)."""
        engine_parser = self.engine.options.prompt_parser
        if self.settings.prompt_parser is not None or engine_parser != "auto":
            return self.settings.prompt_parser or engine_parser
        hint = state.plan.prompt_parser
        if hint is None or (self.settings.fixed_prompt is not None):
            return engine_parser
        if hint not in PARSERS:
            state.fail(
                f"the sample field '{PROMPT_PARSER_FIELD}' holds {hint!r}, which is not a prompt parser "
                f"({', '.join(PARSERS)}); correct it or pass prompt_parser= when loading the model"
            )
            return None
        return hint

    def _parse(self, text: str, parser: str) -> ActionPrompt:
        key = (text, parser)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = parse_prompt(text, parser)
            self._parsed[key] = parsed
        return parsed

    def _prompt_for(self, state: SampleState, frame_number: int | None, parser: str) -> ActionPrompt | None:
        """The parsed prompt of a frame (None when there is none; sample-level gaps are recorded here,
        frame-level gaps by the caller, which lists them together)."""
        plan, s = state.plan, self.settings
        text = plan.frame_prompts.get(frame_number) if plan.frame_prompts is not None else plan.prompt
        if text is None:
            if plan.frame_prompts is None:
                state.fail(f"no action text in '{s.prompt.path}'; fill it in or pass a fixed prompt")
            return None
        try:
            return self._parse(text, parser)
        except (ValueError, TypeError) as e:
            frames = [frame_number] if plan.frame_prompts is not None else ()
            state.fail(f"the action text {text!r} could not be parsed ({e})", frames)
            return None

    # ----------------------------------------------------------------------------- images
    def items(self, state: SampleState) -> Iterator[_Item]:
        """The engine inputs of a sample, as its frames are decoded (its problems go to ``state``).

        Uses only the engine's ``info`` and ``options``: a decoding stage runs it with an outline of
        the engine (:class:`~fiftyone_videogem.distributed.EngineOutline`) and no weights.
        """
        parser = self._parser_for(state)
        if parser is None:
            return
        if self.settings.video:
            yield from self._video_items(state, parser)
        else:
            yield from self._image_items(state, parser)

    def _image_items(self, state: SampleState, parser: str) -> Iterator[_Item]:
        plan, s = state.plan, self.settings
        if plan.labelled and not s.overwrite:
            state.skipped = 1
            return
        if s.frames == "gt" and not plan.has_gt:
            state.fail(f"no ground truth in '{s.gt.path}' (frames='gt' grounds only samples with ground truth)")
            return
        prompt = self._prompt_for(state, None, parser)
        if prompt is None:
            return
        image = plan.image if plan.image is not None else self._read_image(state)
        if image is None:
            return
        state.frame_size = (int(image.shape[1]), int(image.shape[0]))
        state.targets = [0]
        yield _Item(state, None, image, prompt)

    @staticmethod
    def _read_image(state: SampleState) -> np.ndarray | None:
        path = state.plan.filepath
        if not os.path.isfile(path):
            state.fail(f"image '{path}' does not exist; check the path or remove the sample")
            return None
        try:
            import fiftyone.utils.image as foui

            from .engine.backbones.base import as_rgb_uint8

            return as_rgb_uint8(foui.read(path))
        except Exception as e:  # unreadable files come in many types
            state.fail(f"image '{path}' could not be read ({e}); the file is corrupt or not an image")
            return None

    # ----------------------------------------------------------------------------- videos
    def _video_targets(self, state: SampleState, num_frames: int) -> list[int]:
        plan, s = state.plan, self.settings
        first, last = plan.support or (1, num_frames)
        if s.frames == "gt":
            targets = sorted(t for t in plan.gt_frames if not plan.support or first <= t <= last)
            if not targets:
                self._no_ground_truth(state)
                return []
        elif s.frames == "all":
            targets = list(range(first, last + 1))
        elif isinstance(s.frames, int):
            targets = list(range(first, last + 1, s.frames))
        else:
            targets = [t for t in s.frames if not plan.support or first <= t <= last]
        if not s.overwrite and plan.labelled_frames:
            kept = [t for t in targets if t not in plan.labelled_frames]
            state.skipped = len(targets) - len(kept)
            targets = kept
        return targets

    def _no_ground_truth(self, state: SampleState) -> None:
        where = "this clip" if state.plan.support else "no frame of this video"
        state.fail(
            f"{where} has ground truth in '{self.settings.gt.path}'; frames='gt' grounds only frames with "
            "ground truth, pass frames='all' or an interval to ground others"
        )

    def _video_items(self, state: SampleState, parser: str) -> Iterator[_Item]:
        plan, s = state.plan, self.settings
        if s.frames == "gt" and not plan.gt_frames and os.path.isfile(plan.filepath):
            self._no_ground_truth(state)  # known without opening the file
            return
        edge = self._context_edge(state)
        if edge is None:
            return
        try:
            decoder = self.decoder(plan.filepath)
        except VideoError as e:
            state.fail(str(e))
            return
        with decoder:
            info = decoder.info
            state.frame_size = (info.width, info.height)
            targets = self._video_targets(state, info.num_frames)
            if not targets:
                return
            prompts: dict[int, ActionPrompt] = {}
            missing_prompt = []
            for t in targets:
                prompt = self._prompt_for(state, t, parser)
                if prompt is None:
                    if state.whole_failed:
                        return
                    if t not in state.failed_frames:
                        missing_prompt.append(t)
                    continue
                prompts[t] = prompt
            if missing_prompt:
                state.fail(
                    f"frame(s) {format_frames(missing_prompt)} have no action text in '{s.prompt.path}'; "
                    "they were skipped",
                    missing_prompt,
                )
            targets = [t for t in targets if t in prompts]
            state.targets = targets
            if not targets:
                return
            yield from self._decode_windows(state, decoder, targets, prompts, edge)

    def _context_edge(self, state: SampleState) -> str | None:
        """The context-window rule of a sample: the explicit one, else the dataset's hint, else
        ``"clamp"`` (None after recording a bad hint)."""
        if self.settings.context_edge is not None:
            return self.settings.context_edge
        hint = state.plan.context_edge
        if hint is None:
            return DEFAULT_CONTEXT_EDGE
        if hint not in CONTEXT_EDGES:
            state.fail(
                f"the sample field '{fvf.CONTEXT_EDGE_FIELD}' holds {hint!r}, which is not a context-window "
                f"rule ({', '.join(CONTEXT_EDGES)}); correct it or pass context_edge= when loading the model"
            )
            return None
        return hint

    def _stride(self, frame_rate: float) -> int:
        s = self.settings
        if s.stride_frames is not None:
            return int(s.stride_frames)
        if not frame_rate or frame_rate <= 0:
            return 1
        return stride_in_frames(s.stride_seconds, frame_rate)

    def _windows(self, state: SampleState, targets: list[int], num_frames: int, frame_rate: float,
                 edge: str) -> dict[int, list[int]]:
        """The context window of each target; with ``edge="skip"`` incomplete ones are left out and recorded."""
        t_len, index = self.num_frames, self.target_index
        if self.settings.image_mode or t_len == 1:
            return {t: [t] * t_len for t in targets}
        stride = self._stride(frame_rate)
        windows, cut = {}, []
        for t in targets:
            last = max(num_frames, t)
            if edge == DEFAULT_CONTEXT_EDGE or _window_is_complete(t, t_len, index, stride, last):
                windows[t] = context_frame_numbers(t, t_len, index, stride, 1, last)
            elif edge == "repeat_keyframe":
                windows[t] = [t] * t_len
            else:
                cut.append(t)
        if cut:
            self._skip_incomplete(state, cut)
        return windows

    def _skip_incomplete(self, state: SampleState, frames: list[int]) -> None:
        state.fail(
            f"frame(s) {format_frames(frames)} were skipped: their context window reaches past the ends "
            "of the video (context_edge='skip')",
            frames,
        )

    def _decode_windows(self, state: SampleState, decoder: FrameDecoder, targets, prompts, edge: str
                        ) -> Iterator[_Item]:
        """Decode the union of the targets' context windows in one pass and emit each target
        as soon as its window is complete, keeping only frames still needed."""
        info = decoder.info
        windows = self._windows(state, targets, info.num_frames, info.frame_rate, edge)
        needed = sorted({n for w in windows.values() for n in w})
        pending = collections.deque(t for t in targets if t in windows)
        buffer: dict[int, np.ndarray] = {}
        last_frame: np.ndarray | None = None
        decode_error: str | None = None
        try:
            for frame_number, rgb in decoder.frames(needed):
                buffer[frame_number] = rgb
                last_frame = rgb
                while pending and windows[pending[0]][-1] <= frame_number:
                    t = pending.popleft()
                    yield self._window_item(state, t, windows[t], buffer, last_frame, prompts[t])
                    low = windows[pending[0]][0] if pending else math.inf
                    for n in [n for n in buffer if n < low]:
                        del buffer[n]
        except VideoError as e:
            decode_error = str(e)
        late, incomplete = [], []
        for t in pending:
            if t not in buffer:
                late.append(t)
            elif edge == "skip":
                incomplete.append(t)
            else:
                # the target was decoded but part of its window was not (the video is shorter than
                # its header says): repeat the last frame, or the keyframe
                window = windows[t] if edge == DEFAULT_CONTEXT_EDGE else [t] * len(windows[t])
                yield self._window_item(state, t, window, buffer, last_frame, prompts[t])
        if incomplete:
            self._skip_incomplete(state, incomplete)
        if late and decode_error is not None:
            state.fail(f"frame(s) {format_frames(late)} could not be decoded: {decode_error}", late)
        elif late:
            state.fail(
                f"frame(s) {format_frames(late)} are past the end of the video (it has "
                f"{info.num_frames} frames); they were skipped. Check that the annotations were made for "
                "this encoding of the video",
                late,
            )

    def _window_item(self, state, target, window, buffer, last_frame, prompt) -> _Item:
        if self.num_frames == 1:
            return _Item(state, target, buffer[target], prompt)
        return _Item(state, target, [buffer.get(n, last_frame) for n in window], prompt)

    # ----------------------------------------------------------------------------- engine
    def _ground(self, batch: list[_Item]) -> None:
        """Ground a batch; an engine error fails its frames (a run then records them, and raises
        :class:`GroundingError` after recording when failures are not skipped)."""
        start = time.perf_counter()
        try:
            results = self.engine.ground_batch([item.pixels for item in batch], [item.prompt for item in batch])
        except Exception as e:  # MemoryError and the allocator's out-of-memory errors included
            logger.warning("the engine failed on a batch of %d frame(s): %s", len(batch), e)
            for item in batch:
                frames = [item.frame_number] if item.frame_number is not None else ()
                item.state.fail(f"the engine failed: {type(e).__name__}: {e}", frames)
                item.state.pending -= 1
            return
        finally:
            self.summary.engine_seconds += time.perf_counter() - start
        for item, result in zip(batch, results):
            item.state.results[item.frame_number or 0] = result
            item.state.pending -= 1


def sample_labels(state: SampleState, settings: GroundingSettings, label_field: str,
                  file_prefix: str = "") -> dict[str, Any]:
    """The labels of a grounded sample, keyed by field name: ``{field: {frame_number: label}}`` for
    videos, ``{field: label}`` for images. Frames already written (result None) are left out.

    Args:
        state: the grounded sample
        settings: the run's settings
        label_field: the stem of the field names
        file_prefix: folder below ``map_dir`` for heatmap files ("")

    Raises:
        OSError: a heatmap file could not be written
    """
    plan = state.plan
    labels: dict[str, Any] = {}
    for frame_number, result in sorted(state.results.items()):
        if result is None:
            continue
        stem = os.path.join(file_prefix, plan.sample_id)
        if settings.video:
            stem = os.path.join(stem, f"{frame_number:06d}")
        frame_labels = fvl.to_labels(result, label_field, settings.heatmaps, state.frame_size, stem)
        for name, label in frame_labels.items():
            if settings.video:
                labels.setdefault(name, {})[frame_number] = label
            else:
                labels[name] = label
    return labels


def finished_labels(state: SampleState, settings: GroundingSettings) -> dict[str, Any]:
    """The labels :func:`run_videogem` writes for a grounded sample; a heatmap file that cannot be
    written fails the sample instead (its results are dropped and the reason recorded)."""
    try:
        return sample_labels(state, settings, settings.label_field, file_prefix=settings.label_field)
    except OSError as e:
        state.results = {n: r for n, r in state.results.items() if r is None}  # those written stay counted
        state.fail(str(e))
        return {}


def partial_labels(state: SampleState, settings: GroundingSettings) -> dict[str, Any]:
    """The labels of the frames of an unfinished video grounded since its last partial write, which
    are then marked written (their results dropped to free memory, their count kept); {} when a
    heatmap file cannot be written (the end of the sample records why)."""
    fresh = {n: r for n, r in state.results.items() if r is not None}
    if not fresh:
        return {}
    try:
        labels = sample_labels(dataclasses.replace(state, results=fresh), settings, settings.label_field,
                               file_prefix=settings.label_field)
    except OSError:
        return {}
    state.results.update(dict.fromkeys(fresh))
    return labels


# --------------------------------------------------------------------------------- writing
class _Writer:
    """Writes labels with one ``set_values`` per field for several samples at a time.

    Buffered samples are written once ``flush_every`` samples are waiting or ``flush_seconds``
    have passed since the last write, and when the run ends (also when it is interrupted). Heatmaps
    are written before keypoints, and the error field last, so a frame never has keypoints without
    the heatmaps that were buffered with them (and resume checks both).
    """

    def __init__(self, collection, settings: GroundingSettings, flush_every: int | None = None,
                 flush_seconds: float = 2.0):
        self.target = fvf.write_target(collection)
        self.settings = settings
        self.error_name = fvl.error_field(settings.label_field)
        self.flush_every = flush_every or (16 if settings.video else 64)
        self.flush_seconds = flush_seconds
        self._buffer: dict[str, dict[str, Any]] = collections.defaultdict(dict)
        self._buffered = 0
        self._last_flush = time.monotonic()
        self.fields_written: set[str] = set()

    def write(self, sample_id: str, labels: dict[str, Any], error: str | None, partial: bool = False) -> None:
        """``labels``: ``{field: {frame_number: label}}`` for videos, ``{field: label}`` for images;
        ``partial``: some frames of a sample not finished yet (its error field is left alone)."""
        for name, value in labels.items():
            if self.settings.video and not value:
                continue
            if self.settings.video:
                self._buffer[name].setdefault(sample_id, {}).update(value)
            else:
                self._buffer[name][sample_id] = value
        if partial:
            return
        self._buffer[self.error_name][sample_id] = error  # also clears the error of an earlier run
        self._buffered += 1
        if self._buffered >= self.flush_every or self.due():
            self.flush()

    def due(self) -> bool:
        """Whether ``flush_seconds`` have passed since the last write."""
        return time.monotonic() - self._last_flush > self.flush_seconds

    def flush(self) -> None:
        label_field = self.settings.label_field
        order = sorted(self._buffer, key=lambda name: (name == self.error_name, name == label_field))
        for name in order:
            values = self._buffer[name]
            if name == self.error_name and self.target.get_field(name) is None:
                # FiftyOne cannot infer a field's type from None values: create it with the first error
                values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            frame_level = self.settings.video and name != self.error_name
            path = fvf.frame_path(name, frame_level)
            self._set(path, values)
            self.fields_written.add(path)
        self._buffer.clear()
        self._buffered = 0
        self._last_flush = time.monotonic()

    def _set(self, path: str, values: dict[str, Any]) -> None:
        self.target.set_values(path, values, key_field="id")


# ----------------------------------------------------------------------------- run lifecycle
class _Run:
    """One grounding run over one collection: settings, plans, grounder, writer and its record."""

    def __init__(self, engine: VideoGEM, config: VideoGEMModelConfig, collection, label_field: str,
                 skip_failures: bool, decoder: Callable[[str], FrameDecoder]):
        self.started = time.perf_counter()
        self.collection = collection
        self.engine = engine
        self.config = config
        self.settings = resolve_settings(collection, config, label_field, skip_failures, engine.options)
        s = self.settings
        record = self.run_config()
        fvr.check_output_fields(collection, s.run_key, record["fields"], s.overwrite)
        record.update(self._provenance(fvr.videogem_run_config(collection, s.run_key), record))
        self.summary = GroundingSummary(label_field=s.label_path, run_key=s.run_key)
        self.plans = read_plans(collection, s)
        self.summary.samples_total = len(self.plans)
        self.writer = _Writer(collection, s)
        self.grounder = Grounder(engine, s, self.summary, decoder=decoder)
        self.grounder.on_batch = self._write_in_flight
        if s.run_key:
            fvr.register_videogem_run(collection, s.run_key, record)
        logger.info(
            "grounding %d sample(s) with %s into '%s' (%s, frames=%r)",
            len(self.plans), engine.info.name, s.label_path, s.prompt_source, s.frames,
        )

    def run_config(self) -> dict:
        from .model import describe_weights

        s = self.settings
        weights = describe_weights(self.config)
        names = fvl.output_fields(s.label_field, s.heatmaps.heatmaps)
        written = [fvf.frame_path(f, s.video) for f in names] + [fvl.error_field(s.label_field)]
        return dict(
            label_field=s.label_path,
            fields=fvf.root_paths(self.collection, written) if fvf.is_frames_view(self.collection) else written,
            backbone=self.engine.info.name,
            engine=_jsonable(_engine_record(self.engine, weights)),
            weights=_jsonable(weights),
            model=_jsonable(self.config.to_dict()),
            prompt_source=s.prompt_source,
            prompt_field=s.prompt.path if s.prompt is not None else None,
            prompt=s.fixed_prompt,
            gt_field=s.gt.path if s.gt is not None else None,
            frames=list(s.frames) if isinstance(s.frames, tuple) else s.frames,
            overwrite=s.overwrite,
            heatmaps=s.heatmaps.heatmaps,
            heatmap_storage=s.heatmaps.storage,
            map_dir=s.heatmaps.map_dir if s.heatmaps.storage == "files" else None,
            media_type=self.collection.media_type,
        )

    def _provenance(self, previous: dict | None, record: dict) -> dict:
        """What the record says about the labels already in the field, so that it stays true.

        A rerun whose label options differ from the earlier run's (:func:`option_differences`) is
        refused unless ``overwrite``; with it, ``earlier_options`` keeps the options of earlier runs
        whose labels may remain on frames this run does not ground again. Frame selections only add
        frames: ``frame_selections`` lists every selection grounded into the field.
        """
        selection = {"frames": record["frames"], "gt_field": record["gt_field"] if record["frames"] == "gt" else None}
        if previous is None or fvf.root_dataset(self.collection).get_field(record["fields"][0]) is None:
            return {"earlier_options": [], "frame_selections": [selection]}
        selections = list(previous.get("frame_selections") or [])
        earlier = list(previous.get("earlier_options") or [])
        differences = option_differences(previous, record)
        if differences and not self.settings.overwrite:
            raise ValueError(
                f"'{record['fields'][0]}' holds labels of run '{self.settings.run_key}' made with other options "
                f"({'; '.join(differences)}); nothing was written. Pass overwrite=True to ground the selected frames "
                "again with these options (the record keeps the earlier options), or choose another label_field"
            )
        if differences:
            earlier.append(label_options(previous))
        return {"earlier_options": earlier,
                "frame_selections": selections + ([selection] if selection not in selections else [])}

    def _write_in_flight(self, states: Sequence[SampleState], force: bool = False) -> None:
        """Write the frames grounded so far of unfinished samples (a long video), at most every
        ``flush_seconds``, or now with ``force``."""
        if not force and not self.writer.due():
            return
        for state in states:
            labels = partial_labels(state, self.settings)
            if labels:
                self.writer.write(state.plan.sample_id, labels, None, partial=True)
        self.writer.flush()

    def states(self) -> Iterator[SampleState | None]:
        """Ground every sample, write its labels and yield its state (and None after each engine
        batch when ``grounder.yield_batches``)."""
        for state in self.grounder.run(self.plans):
            if state is not None:
                self._finish(state)
            yield state

    def in_flight_progress(self) -> tuple[int, float]:
        """Frames grounded of the samples in flight, and their grounded share (in samples)."""
        states = [s for s in self.grounder.in_flight if s.results]
        share = sum(min(1.0, len(s.results) / max(len(s.targets), len(s.results))) for s in states)
        return sum(len(s.results) for s in states), share

    def _finish(self, state: SampleState) -> None:
        self.record(state, finished_labels(state, self.settings))

    def record(self, state: SampleState, labels: dict[str, Any]) -> None:
        """Write a finished sample's labels and error, count it, and raise on a failure unless
        failures are skipped (the Ray executor records here what its workers grounded)."""
        plan, s = state.plan, self.settings
        error = state.error
        self.writer.write(plan.sample_id, labels, error)
        self.summary.add(state)
        if error is not None:
            logger.warning("sample %s ('%s'): %s", plan.sample_id, plan.filepath, error)
            if not s.skip_failures:
                self.writer.flush()
                raise GroundingError(f"sample {plan.sample_id} ('{plan.filepath}'): {error}")

    def close(self, stopped: str | None = None) -> GroundingSummary:
        """Write what is buffered, and the frames of unfinished samples; record the run.

        Args:
            stopped (None): why the run ended early, if it did (see :attr:`GroundingSummary.stopped`)
        """
        in_flight = [state for state in self.grounder.in_flight if state.results]
        self._write_in_flight(in_flight, force=True)
        for state in in_flight:  # counted as grounded; the samples finish in the next run
            self.summary.frames_grounded += len(state.results)
        self.summary.stopped = stopped
        self.summary.seconds = time.perf_counter() - self.started
        if self.writer.fields_written:
            # set_values() leaves samples and frames already loaded in memory stale, and fields that
            # Ray workers created are not yet in this process's schema
            fvf.root_dataset(self.collection).reload()
        _finalize_dataset(self.collection, self.settings, self.writer.fields_written)
        if self.settings.run_key:
            fvr.settle_created_fields(self.collection, self.settings.run_key)
            results = self.summary.to_dict()
            results.pop("run_key", None)
            fvr.save_videogem_results(self.collection, self.settings.run_key, results)
        logger.info("%s", self.summary)
        return self.summary


def _engine_record(engine: VideoGEM, weights: dict) -> dict:
    """The engine's config, with the licence of the weights actually loaded."""
    record = engine.config()
    record["license"] = weights.get("license") or record.get("license")
    return record


EXECUTION_OPTIONS = ("batch_size", "exact", "license")
"""Engine facts of a run record that change no label (the exact pathway equals the fused one to
within float rounding)."""

LABEL_OPTIONS = ("checkpoint", "random_weights", "heatmaps", "heatmap_storage", "heatmap_size", "heatmap_dtype",
                 "context_stride", "context_stride_frames", "image_mode", "context_edge")
"""Model options of a run record that decide its labels, besides the engine's."""


def label_options(record: dict) -> dict[str, Any]:
    """The options of a run record (a config dict) that decide what a label is: the engine's options
    and backbone, the weights, the prompt source, the heatmap and context settings (not the frame
    selection, which decides which frames get one)."""
    model = record.get("model") or {}
    options = {k: v for k, v in (record.get("engine") or {}).items() if k not in EXECUTION_OPTIONS}
    options.update({k: model.get(k) for k in LABEL_OPTIONS})
    if model.get("random_weights"):
        options["seed"] = model.get("seed")
    options["prompt_source"] = record.get("prompt_source")
    return options


def option_differences(before: dict, now: dict) -> list[str]:
    """``"weighting: 'none' before, 'static' now"`` for each label option that differs between two run records."""
    old, new = label_options(before), label_options(now)
    return [f"{k}: {old.get(k)!r} before, {new.get(k)!r} now"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _finalize_dataset(collection, settings: GroundingSettings, written: set[str]) -> None:
    """Declare the keypoint attributes and set how the App shows the run (``configure_app``)."""
    if not written:
        return
    root = fvf.root_dataset(collection)
    frames_view = fvf.is_frames_view(collection)
    name = settings.label_field
    try:
        if settings.video or frames_view:
            root.add_dynamic_frame_fields(fields=[name])
        else:
            root.add_dynamic_sample_fields(fields=[name])
    except Exception as e:  # declaring attributes is a convenience; never fail a finished run on it
        logger.warning("could not declare the keypoint attributes of '%s': %s", settings.label_path, e)
    heatmap = next((p for p in sorted(written) if fvf.strip_frames(p) == fvl.heatmap_field(name)), None)
    try:
        configure_app(collection, settings.label_path, heatmap, gt_field=settings.gt.path if settings.gt else None)
    except Exception as e:  # App settings are a convenience; never fail a finished run on them
        logger.warning("could not store the App settings of '%s': %s", settings.label_path, e)


# ---------------------------------------------------------------------------- entry points
def _as_model(model_or_engine, options: dict) -> VideoGEMModel:
    from .model import RUN_OPTIONS, VideoGEMModel, load_model

    if isinstance(model_or_engine, VideoGEMModel):
        return model_or_engine
    load_options = {k: options.pop(k) for k in list(options) if k not in RUN_OPTIONS}
    return load_model(model_or_engine, **load_options)


def iter_videogem(
    samples,
    model: VideoGEMModel | VideoGEM | str,
    label_field: str = DEFAULT_LABEL_FIELD,
    *,
    skip_failures: bool = True,
    decoder: Callable[[str], FrameDecoder] = FrameDecoder,
    progress_per_batch: bool = False,
    **options: Any,
) -> Iterator[GroundingProgress]:
    """Ground ``samples`` and yield a :class:`GroundingProgress` after each sample.

    With ``progress_per_batch`` it also yields an event when the work starts (nothing done yet)
    and one after every engine batch (``sample_id`` None, ``partial`` the share of the samples in
    flight already grounded), so that a progress bar starts with the work and advances within a
    long video.

    The same as :func:`run_videogem`, as a generator (operators yield progress from it). The last
    event carries the summary. Settings are validated before the first event. Labels are written
    in small groups as the run goes (within a long video too), and the rest when the generator
    finishes or is closed early. In the main thread SIGTERM is handled like Ctrl-C while the
    generator runs: what was grounded is written and recorded, then :class:`Interrupted` is raised.
    """
    model = _as_model(model, options)
    config = model.config.replace(**options) if options else model.config
    run = _Run(model.engine, config, samples, label_field, skip_failures, decoder)
    run.grounder.yield_batches = progress_per_batch
    total = len(run.plans)
    done = 0
    stopped = "closed early"
    try:
        with sigterm_as_interrupt():
            if progress_per_batch:
                yield GroundingProgress(0, total, 0)
            for state in run.states():
                if state is None:
                    frames, partial = run.in_flight_progress()
                    yield GroundingProgress(done, total, run.summary.frames_grounded + frames, partial=partial)
                    continue
                done += 1
                yield GroundingProgress(done, total, run.summary.frames_grounded, state.plan.sample_id, state.error)
        stopped = None
    except BaseException as e:
        stopped = stop_reason(e)
        raise
    finally:
        summary = run.close(stopped)
    yield GroundingProgress(done, total, summary.frames_grounded, None, None, summary)


def stop_reason(error: BaseException) -> str:
    """Why a run stopped early, for its record (:attr:`GroundingSummary.stopped`): the signal's name
    (``"SIGTERM"``), ``"KeyboardInterrupt"`` or ``"GeneratorExit"``, else the exception and its message."""
    if isinstance(error, Interrupted):
        return signal.Signals(error.signum).name
    if isinstance(error, (KeyboardInterrupt, GeneratorExit)):
        return type(error).__name__
    return f"{type(error).__name__}: {error}"


def run_videogem(
    samples,
    model: VideoGEMModel | VideoGEM | str,
    label_field: str = DEFAULT_LABEL_FIELD,
    *,
    prompt_field: str | None = None,
    gt_field: str | None = None,
    prompt: str | None = None,
    frames: Any = None,
    overwrite: bool | None = None,
    skip_failures: bool = True,
    progress: bool | Callable[[GroundingProgress], None] | None = None,
    decoder: Callable[[str], FrameDecoder] = FrameDecoder,
    executor: str = "local",
    **options: Any,
) -> GroundingSummary:
    """Ground the actions of a video or image collection and write the labels.

    Unlike ``apply_model`` this batches frames across videos, resumes, records failing samples
    in ``<label_field>_error`` and the returned summary, and records the run on the dataset.

    Args:
        samples: a video or image collection (dataset, view, frames or clips view)
        model: a :class:`~fiftyone_videogem.model.VideoGEMModel`, a VideoGEM engine, or a backbone
            registry name
        label_field ("videogem"): where the keypoints go (``frames.<label_field>`` on videos);
            heatmaps go to ``<label_field>_heatmap``
        prompt_field, gt_field, prompt, frames, overwrite (None): override the model's settings
            (see :class:`~fiftyone_videogem.model.VideoGEMModelConfig`); None keeps the model's
        skip_failures (True): record a failing sample and go on, or raise :class:`GroundingError`
            after recording it
        progress (None): True / False / None (``fo.config.show_progress_bars``) for a progress bar,
            or a callable that gets each :class:`GroundingProgress`
        decoder (FrameDecoder): opens a video for decoding; anything with
            :class:`~fiftyone_videogem.video.FrameDecoder`'s interface
        executor ("local"): ``"local"`` grounds in this process; ``"ray"`` on a Ray cluster, with the
            same labels, resume and run record (:func:`fiftyone_videogem.distributed.iter_videogem`:
            ``address``, ``num_workers``, ``num_gpus_per_worker``, ... go in ``**options``)
        **options: other config fields for this run (``heatmaps``, ``heatmap_storage``, ``map_dir``,
            ``context_edge``, ``run_key``, ...), or load and engine options when ``model`` is a name

    Returns:
        a :class:`GroundingSummary`
    """
    for key, value in (("prompt_field", prompt_field), ("gt_field", gt_field), ("frames", frames),
                       ("overwrite", overwrite)):
        if value is not None:
            options[key] = value
    if prompt is not None:
        options["prompt"] = prompt
        options.setdefault("prompt_field", None)
    elif prompt_field is not None:
        options["prompt"] = None
    if executor == "ray":
        from .distributed import iter_videogem as iterate
    elif executor == "local":
        iterate = iter_videogem
        options["progress_per_batch"] = True  # the bar starts when the work starts
    else:
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    events = iterate(samples, model, label_field, skip_failures=skip_failures, decoder=decoder, **options)
    try:
        return _consume(events, progress)
    except BaseException as e:
        # an interruption that lands here (in a progress callback, between two events) goes into the
        # generator, which writes and records what was grounded, and why the run stopped, at once
        with contextlib.suppress(BaseException):
            events.throw(e)
        raise


def _consume(events: Iterator[GroundingProgress], progress) -> GroundingSummary:
    summary = None
    if callable(progress):
        for event in events:
            if event.sample_id is not None or event.summary is not None:  # one event per sample
                progress(event)
            summary = event.summary or summary
        return summary
    first = next(events)
    with fou.ProgressBar(total=first.samples_total, progress=progress) as bar:
        for event in _chain(first, events):
            if event.summary is not None:
                summary = event.summary
            elif event.sample_id is not None:
                bar.update()
    return summary


def _chain(first, rest):
    yield first
    yield from rest
