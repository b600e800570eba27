"""VideoGEM as a FiftyOne model: ``dataset.apply_model(...)`` and :func:`run_videogem`.

Two ways to ground the actions of a collection, with the same labels and the same guarantees::

    import fiftyone_videogem as fvg

    model = fvg.load_model("clip-vit-b-16")
    dataset.apply_model(model, label_field="vgem", prompt_field="frames.action", gt_field="frames.gt")

    from fiftyone_videogem.model import run_videogem

    summary = run_videogem(dataset, model, "vgem", prompt_field="frames.action", gt_field="frames.gt")

* Only the frames that are needed are decoded, in one sequential pass per video
  (:class:`~fiftyone_videogem.video.FrameDecoder`); video backbones get the union of their
  context windows. Frames go through the engine in batches (:meth:`VideoGEM.ground_batch`);
  :func:`run_videogem` also batches across videos.
* Labels are written while the run goes on (every 16 videos or 64 images, and at least every 2
  seconds), and when a run stops early, so an interrupted run keeps what it grounded and a rerun
  skips frames that already have labels unless ``overwrite=True``.
* Problems with one sample (missing or corrupt file, a video without frames, ground-truth frames
  past the end of the video, a missing or empty prompt, no frame with ground truth) are written
  to the sample field ``<label_field>_error``, logged, listed in the run's results, and the run
  goes on.
* Each run is recorded (:mod:`fiftyone_videogem.runs`): ``dataset.list_runs()``,
  ``dataset.get_run_info(key)``, ``dataset.load_run_results(key)``; ``dataset.delete_run(key)``
  also deletes the fields the run wrote.

How the model works with ``apply_model``: apply_model calls ``predict`` once per video (video
collections) or once per image (image collections and ``to_frames()`` views) and stores what it
returns with ``sample.add_labels``. That cannot express this model's labels (a Keypoints field
*and* heatmap fields next to it, on frames), nor resume and per-sample failure records. So the
model does the writing itself: when apply_model enters the model (it is a context manager), the
model reads ``label_field``, the target collection and ``skip_failures`` from that apply_model
call, validates every field against the dataset schema before any work, and from then on
``predict`` writes the labels of each sample and returns None (which apply_model ignores).
``media_type`` follows the collection the model is applied to (``"video"`` for videos,
``"image"`` for images and frames views) unless it was fixed with ``media_type=``.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.models as fom
import fiftyone.core.utils as fou

from . import labels as fvl
from . import runs as fvr
from .engine.grounding import GroundingOptions, GroundingResult, VideoGEM
from .engine.prompts import ActionPrompt
from .video import FrameDecoder, VideoError, context_frame_numbers, probe, stride_in_frames

logger = logging.getLogger(__name__)

FRAME_CHOICES = ("gt", "all")
MEDIA_TYPES = ("video", "image")
NEEDS_FIELDS_KEYS = ("prompt_field", "gt_field")
DEFAULT_LABEL_FIELD = "videogem"

_FRAMES = "frames."
_PROMPT_TYPES = (fol.Classification, fol.Detection, fol.Classifications, fol.Detections)


class GroundingError(RuntimeError):
    """A sample could not be grounded and the run was asked not to skip failures."""


# ------------------------------------------------------------------------------------ config
@dataclass
class VideoGEMModelConfig:
    """What a grounding run reads, which frames it grounds and how it stores the results.

    Args:
        prompt_field: field holding the action text: a frame-level (``"frames.action"``) or
            sample-level (``"action"``) string, ``Classification`` or ``Detection(s)`` field
            (the label of the first object is used) (None)
        gt_field: ground-truth field (``"frames.gt"`` for videos); needed for ``frames="gt"``
            (None)
        prompt: one fixed action text for every frame, instead of ``prompt_field`` (None)
        frames: which frames of a video to ground: ``"gt"`` (frames with ground truth),
            ``"all"``, an int N (every N-th frame: 1, 1+N, ...) or a list of frame numbers
            ("gt"). Image collections accept ``"gt"`` (samples with ground truth) and ``"all"``
        overwrite: ground frames that already have labels in the label field again (False)
        heatmaps: ``"action"``, ``"all"`` or ``"none"`` (see :class:`~fiftyone_videogem.labels.HeatmapOptions`)
            ("action")
        heatmap_storage: ``"inline"`` or ``"files"`` ("inline")
        map_dir: directory for heatmap PNG files (None: ``<fo.config.default_dataset_dir>/videogem/
            <dataset name>/heatmaps`` when ``heatmap_storage="files"``)
        heatmap_size: ``"grid"``, ``"input"``, ``"frame"`` or ``(width, height)`` (None: ``"grid"``
            inline, ``"input"`` for files)
        heatmap_dtype: ``"uint8"`` or ``"uint16"`` PNG files ("uint8")
        context_stride: seconds between the context frames of video backbones (0.25)
        context_stride_frames: the same in frames; overrides ``context_stride`` (None)
        image_mode: video backbones get the target frame repeated T times instead of its context
            (the paper's "image" input, Table 5) (False)
        run_key: key of the run record (None: ``"videogem_<label_field>"``)
        record_run: record the run on the dataset (True)
    """

    prompt_field: str | None = None
    gt_field: str | None = None
    prompt: str | None = None
    frames: Any = "gt"
    overwrite: bool = False
    heatmaps: str = "action"
    heatmap_storage: str = "inline"
    map_dir: str | None = None
    heatmap_size: Any = None
    heatmap_dtype: str = "uint8"
    context_stride: float = 0.25
    context_stride_frames: int | None = None
    image_mode: bool = False
    run_key: str | None = None
    record_run: bool = True

    def __post_init__(self):
        self.frames = normalize_frames(self.frames)
        if self.prompt is not None and not str(self.prompt).strip():
            raise ValueError("prompt is empty; pass an action such as prompt='cut onion', or prompt_field=")
        if not (math.isfinite(self.context_stride) and self.context_stride >= 0):
            raise ValueError(f"context_stride must be a non-negative number of seconds, got {self.context_stride}")
        if self.context_stride_frames is not None and int(self.context_stride_frames) < 1:
            raise ValueError(f"context_stride_frames must be >= 1, got {self.context_stride_frames}")
        # validates the heatmap settings (map_dir is filled in per dataset)
        self.heatmap_options(map_dir=self.map_dir or "unused")

    def heatmap_options(self, map_dir: str | None = None) -> fvl.HeatmapOptions:
        return fvl.HeatmapOptions(
            heatmaps=self.heatmaps, storage=self.heatmap_storage, map_dir=map_dir or self.map_dir,
            size=self.heatmap_size, dtype=self.heatmap_dtype,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if isinstance(d["frames"], tuple):
            d["frames"] = list(d["frames"])
        if isinstance(d["heatmap_size"], tuple):
            d["heatmap_size"] = list(d["heatmap_size"])
        return d


MODEL_OPTIONS = tuple(f.name for f in dataclasses.fields(VideoGEMModelConfig))
ENGINE_OPTIONS = tuple(f.name for f in dataclasses.fields(GroundingOptions))


def normalize_frames(frames: Any) -> str | int | tuple[int, ...]:
    """Validate a frame selection: ``"gt"``, ``"all"``, an int N >= 1 or frame numbers >= 1."""
    if isinstance(frames, str):
        text = frames.strip().lower()
        if text in FRAME_CHOICES:
            return text
        if text.isdigit():
            frames = int(text)
        else:
            raise ValueError(
                f"frames must be 'gt', 'all', an int N (every N-th frame) or a list of frame numbers, got {frames!r}"
            )
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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.frames_grounded} frame(s) grounded in {self.samples_grounded} of {self.samples_total} sample(s) "
            f"into '{self.label_field}', {self.frames_skipped} already labelled, "
            f"{self.samples_failed} sample(s) with failures"
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
    """

    samples_done: int
    samples_total: int
    frames_grounded: int
    sample_id: str | None = None
    failure: str | None = None
    summary: GroundingSummary | None = None

    @property
    def fraction(self) -> float:
        return 1.0 if self.samples_total == 0 else self.samples_done / self.samples_total

    @property
    def label(self) -> str:
        return f"{self.samples_done}/{self.samples_total} samples, {self.frames_grounded} frames grounded"


# ----------------------------------------------------------------------- field resolution
@dataclass(frozen=True)
class _FieldSpec:
    """A field the run reads: where it lives and which path gives its value."""

    path: str  # as the collection names it: "frames.gt" or "gt"
    frame_level: bool
    value_path: str  # path whose values() are read
    is_list: bool  # values are lists (label lists)
    kind: str  # short type name for messages and run records


def _is_video(collection) -> bool:
    return collection.media_type == fo.core.media.VIDEO


def _bare(path: str) -> str:
    return path[len(_FRAMES):] if path.startswith(_FRAMES) else path


def _resolve_field(collection, path: str, role: str, allow_prefix_fix: bool) -> tuple[str, Any]:
    """The field's path on ``collection`` and its schema field, or a clear ValueError."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{role} must be a field name, got {path!r}")
    path = path.strip()
    video = _is_video(collection)
    if not video and path.startswith(_FRAMES):
        bare = _bare(path)
        if allow_prefix_fix and collection.get_field(bare) is not None:
            return bare, collection.get_field(bare)
        hint = (
            f"on a frames view or an image collection the frame fields are sample fields: pass {role}='{bare}'"
            if collection.get_field(bare) is not None else
            f"this image collection has no field '{bare}'"
        )
        raise ValueError(f"{role}='{path}' names a frame field, but {hint}")
    schema_field = collection.get_field(path)
    if schema_field is None:
        if video and not path.startswith(_FRAMES) and collection.get_field(_FRAMES + path) is not None:
            raise ValueError(
                f"{role}='{path}': the videos have no sample field '{path}', but their frames do; "
                f"pass {role}='{_FRAMES}{path}'"
            )
        names = _field_names(collection)
        raise ValueError(f"{role}='{path}' does not exist on this collection; its fields are: {', '.join(names)}")
    return path, schema_field


_BUILTIN_FIELDS = ("id", "filepath", "metadata", "created_at", "last_modified_at", "frame_number")


def _field_names(collection) -> list[str]:
    names = [n for n in collection.get_field_schema() if n not in _BUILTIN_FIELDS]
    if _is_video(collection):
        names += [_FRAMES + n for n in collection.get_frame_field_schema() if n not in _BUILTIN_FIELDS]
    return names


def _doc_type(schema_field):
    if isinstance(schema_field, fof.EmbeddedDocumentField):
        return schema_field.document_type
    return None


def _prompt_spec(collection, path: str, allow_prefix_fix: bool) -> _FieldSpec:
    path, schema_field = _resolve_field(collection, path, "prompt_field", allow_prefix_fix)
    frame_level = _is_video(collection) and path.startswith(_FRAMES)
    doc = _doc_type(schema_field)
    if isinstance(schema_field, fof.StringField):
        return _FieldSpec(path, frame_level, path, False, "string")
    if doc is not None and issubclass(doc, (fol.Classification, fol.Detection)):
        return _FieldSpec(path, frame_level, f"{path}.label", False, doc.__name__)
    if doc is not None and issubclass(doc, (fol.Classifications, fol.Detections)):
        return _FieldSpec(path, frame_level, f"{path}.{doc._LABEL_LIST_FIELD}.label", True, doc.__name__)
    kind = doc.__name__ if doc is not None else type(schema_field).__name__
    raise ValueError(
        f"prompt_field='{path}' is a {kind} field; use a string, Classification, Detection or Detections "
        "field holding the action text, or pass a fixed prompt='...'"
    )


def _gt_spec(collection, path: str, allow_prefix_fix: bool) -> _FieldSpec:
    path, schema_field = _resolve_field(collection, path, "gt_field", allow_prefix_fix)
    frame_level = _is_video(collection) and path.startswith(_FRAMES)
    if _is_video(collection) and not frame_level:
        raise ValueError(
            f"gt_field='{path}' is a sample-level field; frames='gt' needs frame-level ground truth "
            f"such as 'frames.gt', or pass frames='all' or an interval"
        )
    doc = _doc_type(schema_field)
    if doc is not None and issubclass(doc, fol._HasLabelList):
        return _FieldSpec(path, frame_level, f"{path}.{doc._LABEL_LIST_FIELD}.id", True, doc.__name__)
    if doc is not None and issubclass(doc, fol.Label):
        return _FieldSpec(path, frame_level, f"{path}.id", False, doc.__name__)
    return _FieldSpec(path, frame_level, path, False, type(schema_field).__name__)


def _label_spec(collection, label_field: str) -> _FieldSpec | None:
    path = (_FRAMES + label_field) if _is_video(collection) else label_field
    schema_field = collection.get_field(path)
    if schema_field is None:
        return None
    doc = _doc_type(schema_field)
    if doc is None or not issubclass(doc, fol.Keypoints):
        kind = doc.__name__ if doc is not None else type(schema_field).__name__
        raise ValueError(
            f"label_field '{path}' already exists as a {kind} field; VideoGEM writes Keypoints there, "
            "so choose another label_field or delete that field first"
        )
    return _FieldSpec(path, _is_video(collection), f"{path}.keypoints.id", True, "Keypoints")


def _present(value, is_list: bool) -> bool:
    if value is None:
        return False
    return bool(value) if is_list else True


def _prompt_text(value, is_list: bool) -> str | None:
    if is_list:
        value = next((v for v in (value or []) if isinstance(v, str) and v.strip()), None)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


# ------------------------------------------------------------------------------ settings
@dataclass
class _Settings:
    """Everything a run needs, resolved against one collection."""

    label_field: str  # bare name
    video: bool
    prompt: _FieldSpec | None
    fixed_prompt: str | None
    gt: _FieldSpec | None
    labelled: _FieldSpec | None
    frames: Any
    overwrite: bool
    heatmaps: fvl.HeatmapOptions
    stride_seconds: float
    stride_frames: int | None
    image_mode: bool
    skip_failures: bool
    clips: bool
    run_key: str | None

    @property
    def label_path(self) -> str:
        return (_FRAMES + self.label_field) if self.video else self.label_field

    @property
    def prompt_source(self) -> str:
        if self.fixed_prompt is not None:
            return f"prompt={self.fixed_prompt!r}"
        return f"prompt_field={self.prompt.path!r} ({self.prompt.kind})"


def _default_map_dir(collection) -> str:
    name = collection._root_dataset.name
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return os.path.join(fo.config.default_dataset_dir, "videogem", safe, "heatmaps")


def default_run_key(label_field: str) -> str:
    """``videogem_<label_field>`` made a valid identifier."""
    key = "videogem_" + "".join(c if c.isalnum() or c == "_" else "_" for c in _bare(label_field))
    return key


def _resolve_settings(
    collection,
    config: VideoGEMModelConfig,
    label_field: str,
    skip_failures: bool,
    allow_prefix_fix: bool,
) -> _Settings:
    """Validate the config against ``collection``; every error is a ValueError raised before any work."""
    if not isinstance(label_field, str) or not label_field.strip():
        raise ValueError(f"label_field must be a field name, got {label_field!r}")
    video = _is_video(collection)
    if collection.media_type not in (fo.core.media.VIDEO, fo.core.media.IMAGE):
        raise ValueError(
            f"VideoGEM grounds video and image collections, not '{collection.media_type}' ones; "
            "select a slice of a grouped dataset with select_group_slices() first"
        )
    label_field = label_field.strip()
    if label_field.startswith(_FRAMES):
        if not video:
            raise ValueError(f"label_field '{label_field}' names a frame field, but this is an image collection")
        label_field = _bare(label_field)
    if "." in label_field:
        raise ValueError(f"label_field must be a top-level field name without dots, got '{label_field}'")

    if config.prompt is not None and config.prompt_field:
        raise ValueError(
            f"both prompt={config.prompt!r} and prompt_field={config.prompt_field!r} are set; pass only one"
        )
    if config.prompt is None and not config.prompt_field:
        raise ValueError(
            "no prompt source: pass prompt_field= (e.g. apply_model(model, label_field=..., "
            "prompt_field='frames.action', gt_field='frames.gt')) or a fixed prompt= when loading the model"
        )
    prompt = _prompt_spec(collection, config.prompt_field, allow_prefix_fix) if config.prompt is None else None

    frames = config.frames
    if not video and frames not in FRAME_CHOICES:
        raise ValueError(
            f"frames={frames!r} selects video frames; image collections accept frames='gt' or 'all'"
        )
    gt = None
    if frames == "gt":
        if not config.gt_field:
            raise ValueError(
                "frames='gt' grounds the frames that carry ground truth, but no gt_field was given; pass "
                "gt_field='frames.gt' (apply_model(..., gt_field='frames.gt')), or frames='all' / an interval "
                "when loading the model"
            )
        gt = _gt_spec(collection, config.gt_field, allow_prefix_fix)
    elif config.gt_field:
        gt = _gt_spec(collection, config.gt_field, allow_prefix_fix)

    labelled = _label_spec(collection, label_field)
    written = fvl.output_fields(label_field, "all") + [fvl.error_field(label_field)]
    for spec in (prompt, gt):
        if spec is not None and _bare(spec.path) in written:
            raise ValueError(
                f"label_field '{label_field}' would overwrite the input field '{spec.path}'; choose another name"
            )

    map_dir = config.map_dir
    if config.heatmap_storage == "files" and not map_dir:
        map_dir = _default_map_dir(collection)
    heatmaps = config.heatmap_options(map_dir=map_dir)

    run_key = None
    if config.record_run:
        run_key = config.run_key or default_run_key(label_field)
        if not run_key.isidentifier():
            raise ValueError(f"run_key must be a valid identifier, got {run_key!r}")

    return _Settings(
        label_field=label_field, video=video, prompt=prompt, fixed_prompt=config.prompt, gt=gt,
        labelled=labelled, frames=frames, overwrite=bool(config.overwrite), heatmaps=heatmaps,
        stride_seconds=float(config.context_stride), stride_frames=config.context_stride_frames,
        image_mode=bool(config.image_mode),
        skip_failures=bool(skip_failures), clips=bool(getattr(collection, "_is_clips", False)), run_key=run_key,
    )


# ---------------------------------------------------------------------------------- plans
@dataclass
class _Plan:
    """What one sample needs, read from the database in bulk before any decoding."""

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


def _read_plans(collection, settings: _Settings) -> list[_Plan]:
    """One query per field for the whole collection."""
    paths = {"id": "id", "filepath": "filepath"}
    if settings.video:
        paths["frame_number"] = "frames.frame_number"
    if settings.clips:
        paths["support"] = "support"
    if settings.prompt is not None:
        paths["prompt"] = settings.prompt.value_path
    if settings.gt is not None:
        paths["gt"] = settings.gt.value_path
    if settings.labelled is not None:
        paths["labelled"] = settings.labelled.value_path
    keys = list(paths)
    values = dict(zip(keys, collection.values([paths[k] for k in keys])))

    plans = []
    for i, (sample_id, filepath) in enumerate(zip(values["id"], values["filepath"])):
        plan = _Plan(sample_id=sample_id, filepath=filepath, prompt=settings.fixed_prompt)
        if settings.clips:
            support = values["support"][i]
            plan.support = (int(support[0]), int(support[1])) if support else None
        if settings.video:
            numbers = values["frame_number"][i] or []
            if settings.prompt is not None:
                if settings.prompt.frame_level:
                    plan.frame_prompts = {
                        fn: _prompt_text(v, settings.prompt.is_list)
                        for fn, v in zip(numbers, values["prompt"][i] or [])
                    }
                else:
                    plan.prompt = _prompt_text(values["prompt"][i], settings.prompt.is_list)
            if settings.gt is not None:
                plan.gt_frames = {
                    fn for fn, v in zip(numbers, values["gt"][i] or []) if _present(v, settings.gt.is_list)
                }
            if settings.labelled is not None:
                plan.labelled_frames = {
                    fn for fn, v in zip(numbers, values["labelled"][i] or []) if _present(v, True)
                }
        else:
            if settings.prompt is not None:
                plan.prompt = _prompt_text(values["prompt"][i], settings.prompt.is_list)
            if settings.gt is not None:
                plan.has_gt = _present(values["gt"][i], settings.gt.is_list)
            if settings.labelled is not None:
                plan.labelled = _present(values["labelled"][i], True)
        plans.append(plan)
    return plans


# --------------------------------------------------------------------------------- writing
def _write_target(collection):
    """The collection to write through: the dataset, or the unfiltered generated view
    (frames, clips), whose writes FiftyOne syncs back to the source videos."""
    if getattr(collection, "_is_generated", False):
        return collection._base_view
    return collection._dataset


class _Writer:
    """Writes labels with one ``set_values`` per field for several samples at a time.

    Buffered samples are written once ``flush_every`` samples are waiting or ``flush_seconds``
    have passed since the last write, and when the run ends (also when it is interrupted).
    """

    def __init__(self, collection, settings: _Settings, flush_every: int | None = None,
                 flush_seconds: float = 2.0):
        self.target = _write_target(collection)
        self.settings = settings
        self.flush_every = flush_every or (16 if settings.video else 64)
        self.flush_seconds = flush_seconds
        self._buffer: dict[str, dict[str, Any]] = collections.defaultdict(dict)
        self._buffered = 0
        self._last_flush = time.monotonic()
        self.fields_written: set[str] = set()

    def write(self, sample_id: str, labels: dict[str, Any], error: str | None) -> None:
        """``labels``: ``{field: {frame_number: label}}`` for videos, ``{field: label}`` for images."""
        error_name = fvl.error_field(self.settings.label_field)
        for name, value in labels.items():
            if self.settings.video and not value:
                continue
            self._buffer[name][sample_id] = value
        self._buffer[error_name][sample_id] = error
        self._buffered += 1
        if self._buffered >= self.flush_every or time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        error_name = fvl.error_field(self.settings.label_field)
        for name, values in self._buffer.items():
            if name == error_name and self.target.get_field(name) is None:
                # FiftyOne cannot infer a field's type from None values: create it with the first error
                values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            frame_level = self.settings.video and name != error_name
            path = (_FRAMES + name) if frame_level else name
            self.target.set_values(path, values, key_field="id")
            self.fields_written.add(path)
        self._buffer.clear()
        self._buffered = 0
        self._last_flush = time.monotonic()


# ---------------------------------------------------------------------------------- runner
@dataclass
class _State:
    """A sample on its way through decoding, the engine and writing."""

    plan: _Plan
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

    def fail(self, reason: str, frames: Sequence[int] = ()) -> None:
        self.problems.append(reason)
        if frames:
            self.failed_frames.extend(int(f) for f in frames)
        else:
            self.whole_failed = True


@dataclass
class _Item:
    state: _State
    frame_number: int | None
    pixels: Any  # HxWx3 array, or a list of T of them
    prompt: ActionPrompt


def _format_frames(numbers: Sequence[int], limit: int = 8) -> str:
    numbers = sorted(numbers)
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f", ... ({len(numbers)} in all)" if len(numbers) > limit else "")


class _Runner:
    """Decodes what each sample needs, grounds it in batches and writes each finished sample."""

    decoder_cls = FrameDecoder  # anything with FrameDecoder's interface (benchmarks swap it)

    def __init__(self, engine: VideoGEM, settings: _Settings, writer: _Writer, summary: GroundingSummary):
        self.engine = engine
        self.settings = settings
        self.writer = writer
        self.summary = summary
        self._parsed: dict[str, ActionPrompt] = {}
        info = engine.info
        self.num_frames = int(info.num_frames)
        self.target_index = int(info.target_frame)

    # ------------------------------------------------------------------------- main loop
    def run(self, plans: Iterable[_Plan]) -> Iterator[_State]:
        """Yields every sample's state once its labels are written, in order."""
        batch: list[_Item] = []
        queue: collections.deque[_State] = collections.deque()
        batch_size = max(1, int(self.engine.options.batch_size))
        for plan in plans:
            state = _State(plan)
            queue.append(state)
            for item in self._items(state):
                state.pending += 1
                batch.append(item)
                if len(batch) >= batch_size:
                    self._ground(batch)
                    batch = []
                    yield from self._finish_ready(queue)
            state.decoded = True
            yield from self._finish_ready(queue)
        if batch:
            self._ground(batch)
        yield from self._finish_ready(queue)

    def _finish_ready(self, queue) -> Iterator[_State]:
        while queue and queue[0].done:
            state = queue.popleft()
            self._finish(state)
            yield state

    # ---------------------------------------------------------------------------- prompts
    def _parse(self, text: str) -> ActionPrompt:
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = self.engine.parse(text)
            self._parsed[text] = parsed
        return parsed

    def _prompt_for(self, state: _State, frame_number: int | None) -> ActionPrompt | None:
        """The parsed prompt of a frame (None when there is none; sample-level gaps are recorded here,
        frame-level gaps by the caller, which lists them together)."""
        plan, s = state.plan, self.settings
        text = plan.frame_prompts.get(frame_number) if plan.frame_prompts is not None else plan.prompt
        if text is None:
            if plan.frame_prompts is None:
                state.fail(f"no action text in '{s.prompt.path}'; fill it in or pass a fixed prompt")
            return None
        try:
            return self._parse(text)
        except (ValueError, TypeError) as e:
            frames = [frame_number] if plan.frame_prompts is not None else ()
            state.fail(f"the action text {text!r} could not be parsed ({e})", frames)
            return None

    # ----------------------------------------------------------------------------- images
    def _items(self, state: _State) -> Iterator[_Item]:
        if self.settings.video:
            yield from self._video_items(state)
        else:
            yield from self._image_items(state)

    def _image_items(self, state: _State) -> Iterator[_Item]:
        plan, s = state.plan, self.settings
        if plan.labelled and not s.overwrite:
            state.skipped = 1
            return
        if s.frames == "gt" and not plan.has_gt:
            state.fail(f"no ground truth in '{s.gt.path}' (frames='gt' grounds only samples with ground truth)")
            return
        prompt = self._prompt_for(state, None)
        if prompt is None:
            return
        image = plan.image
        if image is None:
            image = self._read_image(state)
            if image is None:
                return
        state.frame_size = (int(image.shape[1]), int(image.shape[0]))
        state.targets = [0]
        yield _Item(state, None, image, prompt)

    def _read_image(self, state: _State) -> np.ndarray | None:
        path = state.plan.filepath
        if not os.path.isfile(path):
            state.fail(f"image '{path}' does not exist; check the path or remove the sample")
            return None
        try:
            import fiftyone.utils.image as foui

            return _as_rgb(foui.read(path))
        except Exception as e:  # unreadable files come in many types
            state.fail(f"image '{path}' could not be read ({e}); the file is corrupt or not an image")
            return None

    # ----------------------------------------------------------------------------- videos
    def _video_targets(self, state: _State, num_frames: int) -> list[int]:
        plan, s = state.plan, self.settings
        first, last = (plan.support or (1, num_frames))
        if s.frames == "gt":
            targets = sorted(plan.gt_frames)
            if plan.support:
                targets = [t for t in targets if first <= t <= last]
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

    def _no_ground_truth(self, state: _State) -> None:
        where = "this clip" if state.plan.support else "no frame of this video"
        state.fail(
            f"{where} has ground truth in '{self.settings.gt.path}'; frames='gt' grounds only frames with "
            "ground truth, pass frames='all' or an interval to ground others"
        )

    def _video_items(self, state: _State) -> Iterator[_Item]:
        plan, s = state.plan, self.settings
        if s.frames == "gt" and not plan.gt_frames and os.path.isfile(plan.filepath):
            self._no_ground_truth(state)  # known without opening the file
            return
        try:
            decoder = self.decoder_cls(plan.filepath)
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
                prompt = self._prompt_for(state, t)
                if prompt is None:
                    if state.whole_failed:
                        return
                    if t not in state.failed_frames:
                        missing_prompt.append(t)
                    continue
                prompts[t] = prompt
            if missing_prompt:
                state.fail(
                    f"frame(s) {_format_frames(missing_prompt)} have no action text in '{s.prompt.path}'; "
                    "they were skipped",
                    missing_prompt,
                )
            targets = [t for t in targets if t in prompts]
            state.targets = targets
            if not targets:
                return
            yield from self._decode_windows(state, decoder, targets, prompts)

    def _stride(self, frame_rate: float) -> int:
        s = self.settings
        if s.stride_frames is not None:
            return int(s.stride_frames)
        if not frame_rate or frame_rate <= 0:
            return 1
        return stride_in_frames(s.stride_seconds, frame_rate)

    def _decode_windows(self, state, decoder: FrameDecoder, targets, prompts) -> Iterator[_Item]:
        """Decode the union of the targets' context windows in one pass and emit each target
        as soon as its window is complete, keeping only frames still needed."""
        info = decoder.info
        t_len = self.num_frames
        stride = self._stride(info.frame_rate) if t_len > 1 else 1
        if self.settings.image_mode:
            windows = {t: [t] * t_len for t in targets}
        else:
            windows = {
                t: context_frame_numbers(t, t_len, self.target_index, stride, 1, max(info.num_frames, t))
                for t in targets
            }
        needed = sorted({n for w in windows.values() for n in w})
        pending = collections.deque(targets)
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
        late = []
        for t in pending:
            if t in buffer:
                # the target was decoded but part of its window was not: repeat the last frame
                yield self._window_item(state, t, windows[t], buffer, last_frame, prompts[t])
            else:
                late.append(t)
        if late and decode_error is not None:
            state.fail(f"frame(s) {_format_frames(late)} could not be decoded: {decode_error}", late)
        elif late:
            state.fail(
                f"frame(s) {_format_frames(late)} are past the end of the video (it has "
                f"{info.num_frames} frames); they were skipped. Check that the annotations were made for "
                "this encoding of the video",
                late,
            )

    def _window_item(self, state, target, window, buffer, last_frame, prompt) -> _Item:
        if self.num_frames == 1:
            return _Item(state, target, buffer[target], prompt)
        frames = [buffer.get(n, last_frame) for n in window]
        return _Item(state, target, frames, prompt)

    # ----------------------------------------------------------------------------- engine
    def _ground(self, batch: list[_Item]) -> None:
        start = time.perf_counter()
        try:
            results = self.engine.ground_batch([item.pixels for item in batch], [item.prompt for item in batch])
        except Exception as e:
            if not self.settings.skip_failures:
                raise
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

    # ----------------------------------------------------------------------------- output
    def _finish(self, state: _State) -> None:
        plan, s = state.plan, self.settings
        labels: dict[str, Any] = {}
        try:
            for frame_number, result in sorted(state.results.items()):
                stem = (
                    os.path.join(s.label_field, plan.sample_id, f"{frame_number:06d}") if s.video
                    else os.path.join(s.label_field, plan.sample_id)
                )
                frame_labels = fvl.to_labels(result, s.label_field, s.heatmaps, state.frame_size, stem)
                for name, label in frame_labels.items():
                    if s.video:
                        labels.setdefault(name, {})[frame_number] = label
                    else:
                        labels[name] = label
        except OSError as e:
            labels = {}
            state.results.clear()
            state.fail(str(e))
        error = "; ".join(state.problems) if state.problems else None
        self.writer.write(plan.sample_id, labels, error)  # also clears the error of an earlier run
        self._count(state, error)
        if error is not None:
            logger.warning("sample %s ('%s'): %s", plan.sample_id, plan.filepath, error)
            if not s.skip_failures:
                self.writer.flush()
                raise GroundingError(f"sample {plan.sample_id} ('{plan.filepath}'): {error}")

    def _count(self, state: _State, error: str | None) -> None:
        summary = self.summary
        summary.frames_grounded += len(state.results)
        summary.frames_skipped += state.skipped
        if state.results:
            summary.samples_grounded += 1
        elif state.skipped and error is None:
            summary.samples_up_to_date += 1
        if error is not None:
            summary.samples_failed += 1
            failed = sorted(set(state.failed_frames))
            summary.frames_failed += len(failed) if failed else len(state.targets)
            summary.failures.append(SampleFailure(state.plan.sample_id, state.plan.filepath, error, failed))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return image[:, :, :3]
    return image


# ----------------------------------------------------------------------------- run lifecycle
class _Run:
    """One grounding run over one collection: settings, plans, writer, runner and its record."""

    def __init__(self, engine: VideoGEM, config: VideoGEMModelConfig, collection, label_field: str,
                 skip_failures: bool, allow_prefix_fix: bool):
        self.started = time.perf_counter()
        self.collection = collection
        self.engine = engine
        self.config = config
        self.settings = _resolve_settings(collection, config, label_field, skip_failures, allow_prefix_fix)
        s = self.settings
        self.summary = GroundingSummary(label_field=s.label_path, run_key=s.run_key)
        self.plans = _read_plans(collection, s)
        self.plans_by_id = {p.sample_id: p for p in self.plans}
        self.summary.samples_total = len(self.plans)
        self.writer = _Writer(collection, s)
        self.runner = _Runner(engine, s, self.writer, self.summary)
        self.visited: set[str] = set()
        if s.run_key:
            fvr.register_videogem_run(collection, s.run_key, self.run_config())
        logger.info(
            "grounding %d sample(s) with %s into '%s' (%s, frames=%r)",
            len(self.plans), engine.info.name, s.label_path, s.prompt_source, s.frames,
        )

    def run_config(self) -> dict:
        s = self.settings
        fields = [(_FRAMES + f) if s.video else f for f in fvl.output_fields(s.label_field, s.heatmaps.heatmaps)]
        fields.append(fvl.error_field(s.label_field))
        return dict(
            label_field=s.label_path,
            fields=_root_paths(self.collection, fields),
            backbone=self.engine.info.name,
            engine=_jsonable(self.engine.config()),
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

    def states(self, plans: Iterable[_Plan]) -> Iterator[_State]:
        for state in self.runner.run(plans):
            self.visited.add(state.plan.sample_id)
            yield state

    def record_unvisited(self, reason_for: Callable[[_Plan], str]) -> None:
        """Samples the caller never handed over (e.g. apply_model could not open the file)."""
        for plan in self.plans:
            if plan.sample_id in self.visited:
                continue
            state = _State(plan, decoded=True)
            state.fail(reason_for(plan))
            self.writer.write(plan.sample_id, {}, "; ".join(state.problems))
            self.runner._count(state, state.problems[0])
            logger.warning("sample %s ('%s'): %s", plan.sample_id, plan.filepath, state.problems[0])

    def close(self) -> GroundingSummary:
        self.writer.flush()
        self.summary.seconds = time.perf_counter() - self.started
        _finalize_dataset(self.collection, self.settings, self.writer.fields_written)
        if self.writer.fields_written:
            # set_values() leaves samples and frames already loaded in memory stale
            self.collection._root_dataset.reload()
            if self.collection._dataset is not self.collection._root_dataset:
                self.collection._dataset.reload()
        if self.settings.run_key:
            results = self.summary.to_dict()
            results.pop("run_key", None)
            fvr.save_videogem_results(self.collection, self.settings.run_key, results)
        logger.info("%s", self.summary)
        return self.summary


def _root_paths(collection, paths: list[str]) -> list[str]:
    """Field paths as the root dataset names them (frames views write to the videos' frames)."""
    if getattr(collection, "_is_frames", False):
        return [_FRAMES + p for p in paths]
    return paths


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _finalize_dataset(collection, settings: _Settings, written: set[str]) -> None:
    """Declare the keypoint attributes and make the label and heatmap fields active in the App."""
    if not written:
        return
    root = collection._root_dataset
    frames_view = bool(getattr(collection, "_is_frames", False))
    name = settings.label_field
    try:
        if settings.video or frames_view:
            root.add_dynamic_frame_fields(fields=[name])
        if frames_view:
            collection._dataset.add_dynamic_sample_fields(fields=[name])
        elif not settings.video:
            root.add_dynamic_sample_fields(fields=[name])
    except Exception as e:  # declaring attributes is a convenience; never fail a finished run on it
        logger.warning("could not declare the keypoint attributes of '%s': %s", settings.label_path, e)
    error_name = fvl.error_field(name)
    shown = [p for p in sorted(written) if _bare(p) != error_name]
    if frames_view:
        # the frames view writes through to the videos' frames; its own paths are sample paths
        shown = [_FRAMES + p for p in shown] + shown
    activate_fields(root, shown)


def activate_fields(dataset: fo.Dataset, paths: Sequence[str]) -> None:
    """Add ``paths`` to the App's active fields of ``dataset`` (heatmaps are inactive by default).

    When the dataset has no active-field setting yet, the App's default (every label field except
    heatmaps and segmentations) is written out first so nothing else disappears from view.
    """
    paths = list(dict.fromkeys(paths))
    if not paths:
        return
    active = dataset.app_config.active_fields
    if active is None or (not active.paths and not active.exclude):
        defaults = _default_active_paths(dataset)
        active = fo.ActiveFields(paths=defaults)
    if active.exclude:
        active.paths = [p for p in active.paths if p not in paths]
    else:
        active.paths = list(active.paths) + [p for p in paths if p not in active.paths]
    dataset.app_config.active_fields = active
    dataset.save()


def _default_active_paths(dataset: fo.Dataset) -> list[str]:
    hidden = (fol.Heatmap, fol.Segmentation)
    paths = []
    for name, schema_field in dataset.get_field_schema(embedded_doc_type=fol.Label).items():
        if not issubclass(schema_field.document_type, hidden):
            paths.append(name)
    if dataset.media_type == fo.core.media.VIDEO:
        for name, schema_field in dataset.get_frame_field_schema(embedded_doc_type=fol.Label).items():
            if not issubclass(schema_field.document_type, hidden):
                paths.append(_FRAMES + name)
    return paths


def _unvisited_reason(settings: _Settings) -> Callable[[_Plan], str]:
    """Why apply_model never handed a sample to the model (it logs its own warning too)."""

    def reason(plan: _Plan) -> str:
        if settings.video:
            try:
                probe(plan.filepath)
            except VideoError as e:
                return str(e)
            return (
                f"FiftyOne's video reader could not open '{plan.filepath}' (see the warnings of apply_model); "
                "fiftyone_videogem.model.run_videogem() decodes with PyAV instead"
            )
        if not os.path.isfile(plan.filepath):
            return f"image '{plan.filepath}' does not exist; check the path or remove the sample"
        import cv2

        if cv2.imread(plan.filepath, cv2.IMREAD_UNCHANGED) is None:
            return f"image '{plan.filepath}' could not be read; the file is corrupt or not an image"
        return (
            "apply_model skipped this image because another image of its batch could not be loaded "
            "(see its warnings); rerun to ground it"
        )

    return reason


# -------------------------------------------------------------------------------- the model
def _apply_model_call() -> dict | None:
    """The arguments of the ``fiftyone.core.models.apply_model`` call on the stack, if any.

    apply_model passes the model neither the label field nor the collection; a model that writes
    its own labels reads them from the call (FiftyOne 1.22 keeps them as the locals
    ``samples``, ``label_field`` and ``skip_failures`` of ``apply_model``).
    """
    code = fom.apply_model.__code__
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code is code:
                local = frame.f_locals
                return dict(
                    samples=local.get("samples"), label_field=local.get("label_field"),
                    skip_failures=local.get("skip_failures", True),
                )
            frame = frame.f_back
        return None
    finally:
        del frame


class VideoGEMModel(fom.SamplesMixin, fom.Model):
    """VideoGEM for ``apply_model``: grounds action text in video frames or images.

    Build it with :func:`load_model`. Use it with
    ``dataset.apply_model(model, label_field="vgem", prompt_field="frames.action", gt_field="frames.gt")``
    (the apply_model keyword arguments ``prompt_field`` and ``gt_field`` override the ones given
    here; every other option is set here or on :attr:`config`), or with :func:`run_videogem`.

    Args:
        engine: a :class:`~fiftyone_videogem.engine.grounding.VideoGEM`
        config: a :class:`VideoGEMModelConfig` (None: built from ``**options``)
        media_type: ``"video"`` or ``"image"``; None follows the collection it is applied to (None)
        **options: fields of :class:`VideoGEMModelConfig`
    """

    def __init__(self, engine: VideoGEM, config: VideoGEMModelConfig | None = None,
                 media_type: str | None = None, **options: Any):
        fom.SamplesMixin.__init__(self)
        if not isinstance(engine, VideoGEM):
            raise TypeError(f"engine must be a VideoGEM, got {type(engine).__name__}; use fvg.load_model(name)")
        unknown = sorted(set(options) - set(MODEL_OPTIONS))
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}; the options are {', '.join(MODEL_OPTIONS)}")
        if config is None:
            config = VideoGEMModelConfig(**options)
        elif options:
            config = dataclasses.replace(config, **options)
        if media_type is not None and media_type not in MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {MEDIA_TYPES} or None, got {media_type!r}")
        self.engine = engine
        self.config = config
        self._media_type = media_type
        self._run: _Run | None = None
        self.last_summary: GroundingSummary | None = None
        self.needs_fields = self._default_needs_fields()

    def _default_needs_fields(self) -> dict:
        return {k: getattr(self.config, k) for k in NEEDS_FIELDS_KEYS if getattr(self.config, k)}

    def __repr__(self) -> str:
        return f"VideoGEMModel({self.engine.info.name!r}, {self.config})"

    # -------------------------------------------------------------------- Model interface
    @property
    def media_type(self) -> str:
        if self._media_type is not None:
            return self._media_type
        call = _apply_model_call()
        if call is not None and call["samples"] is not None:
            return "video" if _is_video(call["samples"]) else "image"
        return "video"

    @media_type.setter
    def media_type(self, value: str | None) -> None:
        if value is not None and value not in MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {MEDIA_TYPES} or None, got {value!r}")
        self._media_type = value

    @property
    def ragged_batches(self) -> bool:
        return False

    @property
    def transforms(self):
        return None

    @property
    def preprocess(self) -> bool:
        return False

    @preprocess.setter
    def preprocess(self, value: bool) -> None:
        pass

    def effective_config(self) -> VideoGEMModelConfig:
        """:attr:`config` with ``prompt_field`` / ``gt_field`` from :attr:`needs_fields` applied."""
        needs = dict(self.needs_fields or {})
        unknown = sorted(set(needs) - set(NEEDS_FIELDS_KEYS))
        if unknown:
            raise ValueError(
                f"apply_model got unknown keyword argument(s) {unknown}; it passes only "
                f"{', '.join(NEEDS_FIELDS_KEYS)} to this model. Set other options on the model instead: "
                f"fvg.load_model(..., {unknown[0]}=...) or model.config.{unknown[0]} = ..."
            )
        overrides = {k: v for k, v in needs.items() if v}
        if "prompt_field" in overrides and self.config.prompt is not None:
            overrides["prompt"] = None
        return dataclasses.replace(self.config, **overrides) if overrides else self.config

    def __enter__(self):
        call = _apply_model_call()
        if call is not None and call["samples"] is not None and self._run is None:
            samples = call["samples"]
            if self.media_type == "image" and _is_video(samples):
                raise ValueError(
                    "this model has media_type='image', so apply_model would ground every decoded frame of "
                    "every video; set model.media_type = None (or 'video') to ground the selected frames"
                )
            label_field = call["label_field"] or DEFAULT_LABEL_FIELD
            self._run = _Run(self.engine, self.effective_config(), samples, label_field,
                             bool(call["skip_failures"]), allow_prefix_fix=False)
        return self

    def __exit__(self, exc_type, exc, tb):
        run, self._run = self._run, None
        if run is None:
            return False
        if exc_type is None:
            run.record_unvisited(_unvisited_reason(run.settings))
        self.last_summary = run.close()
        return False

    def _plan_for(self, sample) -> _Plan:
        plan = self._run.plans_by_id.get(sample.id)
        if plan is None:
            raise ValueError(f"sample {sample.id} is not part of the collection apply_model was called on")
        return plan

    def predict(self, arg, sample=None):
        """Ground one video (``arg`` is apply_model's video reader) or one image and write its labels.

        Only works inside ``apply_model`` (or :func:`run_videogem`); returns None because the labels
        are already written. To ground a single frame in memory use ``model.engine.ground(frame, prompt)``.
        """
        return self.predict_all([arg], samples=[sample])[0]

    def predict_all(self, args, samples=None):
        if self._run is None:
            raise RuntimeError(
                "VideoGEMModel writes its labels itself and only predicts inside dataset.apply_model(model, "
                "label_field=..., prompt_field=..., gt_field=...) or fiftyone_videogem.model.run_videogem(...); "
                "to ground a frame in memory use model.engine.ground(frame, prompt)"
            )
        if samples is None or any(s is None for s in samples):
            raise ValueError("VideoGEMModel needs the samples; apply_model passes them")
        plans = []
        for arg, sample in zip(args, samples):
            plan = self._plan_for(sample)
            if not self._run.settings.video and isinstance(arg, np.ndarray):
                plan = dataclasses.replace(plan, image=_as_rgb(arg))
            plans.append(plan)
        for _ in self._run.states(plans):
            pass
        return [None] * len(plans)


# ---------------------------------------------------------------------------- entry points
def load_model(
    name_or_engine: str | VideoGEM = "clip-vit-b-16",
    checkpoint: str | None = None,
    device: str | None = None,
    *,
    random_weights: bool = False,
    seed: int = 0,
    image_size: int | None = None,
    media_type: str | None = None,
    **options: Any,
) -> VideoGEMModel:
    """A :class:`VideoGEMModel` for ``apply_model`` and :func:`run_videogem`.

    Args:
        name_or_engine: a backbone registry name (``fvg.list_backbones()``) or a
            :class:`~fiftyone_videogem.engine.grounding.VideoGEM` to wrap ("clip-vit-b-16")
        checkpoint: a local weights file instead of the download (None)
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or None / ``"auto"`` for CUDA when available (None)
        random_weights: the backbone's architecture with random weights, for tests and offline
            smoke runs (False)
        seed: torch seed of the random weights (0)
        image_size: override the backbone's input size (None)
        media_type: ``"video"``, ``"image"`` or None to follow the collection (None)
        **options: engine options (fields of :class:`~fiftyone_videogem.engine.grounding.GroundingOptions`:
            ``weighting``, ``decomposition``, ``merge``, ``batch_size``, ``precision``,
            ``prompt_parser``, ...) and model options (fields of :class:`VideoGEMModelConfig`:
            ``prompt_field``, ``gt_field``, ``prompt``, ``frames``, ``overwrite``, ``heatmaps``,
            ``heatmap_storage``, ``map_dir``, ...)
    """
    model_options = {k: options.pop(k) for k in list(options) if k in MODEL_OPTIONS}
    unknown = sorted(set(options) - set(ENGINE_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown}; engine options are {', '.join(ENGINE_OPTIONS)} and model "
            f"options are {', '.join(MODEL_OPTIONS)}"
        )
    if device == "auto":
        device = None
    if isinstance(device, str) and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available here; use 'cpu' or 'auto'")
    if isinstance(name_or_engine, VideoGEM):
        if options or checkpoint or random_weights or image_size:
            raise ValueError(
                "an engine instance is wrapped as it is; build it with the engine options, checkpoint and "
                "image size you want (VideoGEM.from_pretrained(name, ..., **options))"
            )
        engine = name_or_engine
        if device is not None:
            raise ValueError("an engine instance keeps its device; pass device= when building the engine")
    elif isinstance(name_or_engine, str):
        if random_weights:
            if checkpoint:
                raise ValueError("random_weights=True and checkpoint= contradict each other; pass one")
            engine = VideoGEM.from_config(name_or_engine, seed=seed, device=device, image_size=image_size, **options)
        else:
            engine = VideoGEM.from_pretrained(name_or_engine, checkpoint=checkpoint, device=device,
                                              image_size=image_size, **options)
    else:
        raise TypeError(f"load_model takes a backbone name or a VideoGEM engine, got {type(name_or_engine).__name__}")
    return VideoGEMModel(engine, media_type=media_type, **model_options)


def _as_model(model_or_engine, options: dict) -> VideoGEMModel:
    if isinstance(model_or_engine, VideoGEMModel):
        return model_or_engine
    if isinstance(model_or_engine, (VideoGEM, str)):
        engine_options = {k: options.pop(k) for k in list(options) if k not in MODEL_OPTIONS}
        return load_model(model_or_engine, **engine_options)
    raise TypeError(
        f"expected a VideoGEMModel, a VideoGEM engine or a backbone name, got {type(model_or_engine).__name__}"
    )


def iter_videogem(
    samples,
    model: VideoGEMModel | VideoGEM | str,
    label_field: str = DEFAULT_LABEL_FIELD,
    *,
    skip_failures: bool = True,
    **options: Any,
) -> Iterator[GroundingProgress]:
    """Ground ``samples`` and yield a :class:`GroundingProgress` after each sample.

    The same as :func:`run_videogem`, as a generator (operators yield progress from it). The last
    event carries the summary. Settings are validated before the first event. Labels are written
    in small groups as the run goes, and the rest when the generator finishes or is closed early.
    """
    model = _as_model(model, options)
    config = dataclasses.replace(model.config, **options) if options else model.config
    run = _Run(model.engine, config, samples, label_field, skip_failures, allow_prefix_fix=True)
    total = len(run.plans)
    done = 0
    try:
        for state in run.states(run.plans):
            done += 1
            error = "; ".join(state.problems) if state.problems else None
            yield GroundingProgress(done, total, run.summary.frames_grounded, state.plan.sample_id, error)
    finally:
        summary = run.close()
        model.last_summary = summary
    yield GroundingProgress(done, total, summary.frames_grounded, None, None, summary)


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
    **options: Any,
) -> GroundingSummary:
    """Ground the actions of a video or image collection and write the labels.

    Unlike ``apply_model`` this batches frames across videos, reports failures in the returned
    summary, and accepts ``frames.`` prefixes on frames views.

    Args:
        samples: a video or image collection (dataset, view, frames or clips view)
        model: a :class:`VideoGEMModel`, a VideoGEM engine, or a backbone registry name
        label_field: where the keypoints go (``frames.<label_field>`` on videos) ("videogem")
        prompt_field, gt_field, prompt, frames, overwrite: override the model's settings
            (see :class:`VideoGEMModelConfig`); None keeps the model's
        skip_failures: record a failing sample and go on (True), or raise :class:`GroundingError`
            after recording it (False)
        progress: True / False / None (``fo.config.show_progress_bars``) for a progress bar, or a
            callable that gets each :class:`GroundingProgress`
        **options: other :class:`VideoGEMModelConfig` fields for this run (``heatmaps``,
            ``heatmap_storage``, ``map_dir``, ``run_key``, ...), or engine options when ``model``
            is a name

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
    events = iter_videogem(samples, model, label_field, skip_failures=skip_failures, **options)
    summary = None
    if callable(progress):
        for event in events:
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
