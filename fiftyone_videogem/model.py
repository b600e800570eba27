"""VideoGEM as a FiftyOne model: its config, the :class:`VideoGEMModel` and :func:`load_model`.

``apply_model`` is the plain, conventional path: the model returns labels and FiftyOne writes them::

    import fiftyone_videogem as fvg

    model = fvg.load_model("clip-vit-b-16")
    dataset.apply_model(model, label_field="videogem", prompt_field="frames.action", gt_field="frames.gt")
    # frames.videogem_points (Keypoints) and frames.videogem_heatmap (Heatmap)

    dataset.apply_model(model, label_field=model.label_fields("videogem"), ...)
    # frames.videogem (Keypoints) and frames.videogem_heatmap, the names run_videogem writes

On a video collection ``predict(video_reader, sample)`` returns ``{frame_number: {"points":
Keypoints, "heatmap": Heatmap, ...}}`` for the frames it grounds (only those frames are decoded);
on an image collection or a ``to_frames()`` view (``media_type="image"``) it returns
``{"points": Keypoints, "heatmap": Heatmap}``. A sample that cannot be grounded raises, and
FiftyOne's ``skip_failures`` logs it and goes on; frames of a video that cannot be grounded
(no prompt, past the end) are logged and the others returned. Reruns replace the labels.

:func:`fiftyone_videogem.runner.run_videogem` grounds with the same model and adds what
``apply_model`` cannot do: batches across videos, resume, ``<label_field>_error``, run records.

What ``apply_model`` guards and what it does not: the model's options (types and values) and the
prompt and ground-truth fields are checked before the first sample, and the model never writes to
the database. FiftyOne writes what ``predict`` returns into the ``label_field`` you name, replacing
the labels of the frames it grounds, whoever wrote them (another model's labels too), and records
no run. The model cannot check or record that field: FiftyOne hands a model only the fields named
in ``needs_fields`` (``prompt_field``, ``gt_field``), never the label field, and finding it out
would mean reading FiftyOne's private state. Use ``run_videogem`` where those guards matter: it
refuses an output field it does not own unless ``overwrite=True`` and records what it created.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import os
from typing import TYPE_CHECKING, Any

import fiftyone.core.config as foc
import fiftyone.core.frame as fofr
import fiftyone.core.models as fom

from . import labels as fvl
from . import runner as fvrun
from .engine.options import GroundingOptions
from .fields import DEFAULT_LABEL_FIELD

if TYPE_CHECKING:  # pragma: no cover
    from .engine.grounding import VideoGEM

logger = logging.getLogger(__name__)

MEDIA_TYPES = ("video", "image")
NEEDS_FIELDS_KEYS = ("prompt_field", "gt_field")
POINTS_KEY = "points"
"""The key of the Keypoints in what ``predict`` returns; heatmaps are under ``heatmap``,
``heatmap_verb``, ... so that ``label_field="x"`` gives ``x_points``, ``x_heatmap``, ..."""

LOAD_OPTIONS = ("backbone", "checkpoint", "device", "random_weights", "seed", "image_size", "media_type")
RUN_OPTIONS = (
    "prompt_field", "gt_field", "prompt", "frames", "overwrite", "heatmaps", "heatmap_storage", "map_dir",
    "heatmap_size", "heatmap_dtype", "context_stride", "context_stride_frames", "image_mode", "context_edge",
    "run_key", "record_run",
)
ENGINE_OPTIONS = tuple(f.name for f in dataclasses.fields(GroundingOptions))
OPTIONS = LOAD_OPTIONS + RUN_OPTIONS + ENGINE_OPTIONS

_BOOL = "True or False"
OPTION_KINDS: dict[str, tuple[str, str]] = {
    "backbone": ("str", "a backbone name such as 'clip-vit-b-16' (fvg.list_backbones())"),
    "checkpoint": ("str", "the path of a local weights file"),
    "device": ("str", "'cpu', 'cuda', 'cuda:1' or 'auto'"),
    "random_weights": ("bool", _BOOL),
    "seed": ("int", "an integer"),
    "image_size": ("int", "an integer number of pixels, e.g. 448"),
    "media_type": ("str", "'video' or 'image'"),
    "prompt_field": ("str", "the name of the field holding the action text, e.g. 'frames.action'"),
    "gt_field": ("str", "the name of the ground-truth field, e.g. 'frames.gt'"),
    "prompt": ("str", "the action text, e.g. prompt='cut onion'"),
    "overwrite": ("bool", _BOOL),
    "heatmaps": ("str", "'action', 'all' or 'none'"),
    "heatmap_storage": ("str", "'inline' or 'files'"),
    "map_dir": ("str", "a directory path"),
    "heatmap_dtype": ("str", "'uint8' or 'uint16'"),
    "context_stride": ("number", "a number of seconds, e.g. 0.25"),
    "context_stride_frames": ("int", "an integer number of frames"),
    "image_mode": ("bool", _BOOL),
    "context_edge": ("str", "'clamp', 'repeat_keyframe' or 'skip'"),
    "run_key": ("str", "a key made of letters, digits and '_'"),
    "record_run": ("bool", _BOOL),
}
"""The type of each option that has one (``frames`` and ``heatmap_size`` are validated by value), and
what to pass; the engine options take the type of their default (:func:`option_kind`)."""


def option_kind(name: str) -> tuple[str, str] | None:
    """``(kind, what to pass)`` of an option: ``kind`` is ``"str"``, ``"bool"``, ``"int"``,
    ``"number"``, ``"numbers"`` (a list) or ``"number|None"``; None for options checked by value."""
    if name in OPTION_KINDS:
        return OPTION_KINDS[name]
    field = next((f for f in dataclasses.fields(GroundingOptions) if f.name == name), None)
    if field is None:
        return None
    default = field.default
    if isinstance(default, bool):
        return "bool", _BOOL
    if isinstance(default, int):
        return "int", "an integer"
    if isinstance(default, float):
        return "number", "a number"
    if isinstance(default, str):
        return "str", "a string"
    if isinstance(default, tuple):
        return "numbers", f"a list of {len(default)} numbers" if name == "merge_weights" else "a list of numbers"
    return "number|None", "a number, or None"


def _is_kind(value: Any, kind: str) -> bool:
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind == "numbers":
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    return number  # "number", "number|None" (None is never checked)


def check_option_types(options: dict[str, Any]) -> None:
    """Raise a ValueError naming the first option whose value has the wrong type (None is always
    allowed: it means the default)."""
    for name, value in options.items():
        kind = option_kind(name)
        if value is None or kind is None or _is_kind(value, kind[0]):
            continue
        raise ValueError(f"{name} must be {kind[1]}, got {value!r} ({type(value).__name__})")


class VideoGEMModelConfig(foc.Config):
    """Config of a :class:`VideoGEMModel`: the backbone, the engine options, and what a grounding
    reads and writes.

    Args:
        backbone ("clip-vit-b-16"): a backbone registry name (``fvg.list_backbones()``)
        checkpoint (None): a local weights file instead of the download
        device (None): ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or None / ``"auto"`` for CUDA when available
        random_weights (False): the backbone's architecture with random weights (tests, offline smoke runs)
        seed (0): seed of the random weights
        image_size (None): override the backbone's input size
        media_type ("video"): ``"video"`` for video collections (one ``predict`` per video, only the
            selected frames decoded) or ``"image"`` for image collections and ``to_frames()`` views
        prompt_field (None): field holding the action text: a frame-level (``"frames.action"``) or
            sample-level (``"action"``) string, ``Classification`` or ``Detection(s)`` field (the label
            of the first object is used); ``apply_model(..., prompt_field=...)`` overrides it
        gt_field (None): ground-truth field (``"frames.gt"`` for videos), needed for ``frames="gt"``;
            ``apply_model(..., gt_field=...)`` overrides it
        prompt (None): one fixed action text for every frame, instead of ``prompt_field``
        frames ("gt"): which frames of a video to ground: ``"gt"`` (frames with ground truth),
            ``"all"``, an int N (every N-th frame: 1, 1+N, ...) or a list of frame numbers. Image
            collections accept ``"gt"`` (samples with ground truth) and ``"all"``
        overwrite (False): :func:`~fiftyone_videogem.runner.run_videogem` grounds frames that already
            have labels again (``apply_model`` always replaces them)
        heatmaps ("action"): ``"action"``, ``"all"`` or ``"none"``
            (see :class:`~fiftyone_videogem.labels.HeatmapOptions`)
        heatmap_storage ("inline"): ``"inline"`` or ``"files"`` (PNG files, ``run_videogem`` only; with
            ``apply_model`` pass ``output_dir=`` and FiftyOne writes the inline maps as files)
        map_dir (None): directory of heatmap files (None: ``<fo.config.default_dataset_dir>/videogem/
            <dataset name>/heatmaps``)
        heatmap_size (None): ``"grid"``, ``"input"``, ``"frame"`` or ``(width, height)`` (None:
            ``"grid"`` inline, ``"input"`` for files)
        heatmap_dtype ("uint8"): ``"uint8"`` or ``"uint16"`` PNG files
        context_stride (0.25): seconds between the context frames of video backbones
        context_stride_frames (None): the same in frames; overrides ``context_stride``
        image_mode (False): video backbones get the target frame repeated T times instead of its
            context (the paper's "image" input, Table 5)
        context_edge (None): video backbones, for a frame whose context window reaches past the
            video's ends: ``"clamp"`` (repeat the first / last frame), ``"repeat_keyframe"`` (the frame
            itself T times, the V-HICO rule) or ``"skip"`` (leave the frame out, the DALY rule). None:
            the dataset's rule (sample field ``context_edge``) if it has one, else ``"clamp"``
        run_key (None): ``run_videogem``'s run record key (None: ``"videogem_<label_field>"``)
        record_run (True): ``run_videogem`` records the run on the dataset
        **engine options (None each: the engine's default): the fields of
            :class:`~fiftyone_videogem.engine.options.GroundingOptions` (``weighting``,
            ``decomposition``, ``merge``, ``batch_size``, ``precision``, ``exact``, ...).
            ``prompt_parser`` None means ``"auto"`` with the dataset's hint honoured: samples of an
            imported benchmark (sample field ``prompt_parser``) are parsed with the benchmark's parser
    """

    def __init__(self, d: dict | None = None):
        d = dict(d or {})
        unknown = sorted(set(d) - set(OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown}; the options are {', '.join(LOAD_OPTIONS + RUN_OPTIONS)} and the "
                f"engine options {', '.join(ENGINE_OPTIONS)}"
            )
        check_option_types(d)
        self.backbone = self.parse_string(d, "backbone", default="clip-vit-b-16")
        self.checkpoint = self.parse_string(d, "checkpoint", default=None)
        self.device = self.parse_string(d, "device", default=None)
        self.random_weights = self.parse_bool(d, "random_weights", default=False)
        self.seed = self.parse_int(d, "seed", default=0)
        self.image_size = self.parse_int(d, "image_size", default=None)
        self.media_type = self.parse_categorical(d, "media_type", MEDIA_TYPES, default="video")

        self.prompt_field = self.parse_string(d, "prompt_field", default=None)
        self.gt_field = self.parse_string(d, "gt_field", default=None)
        self.prompt = self.parse_string(d, "prompt", default=None)
        self.frames = fvrun.normalize_frames(self.parse_raw(d, "frames", default="gt"))
        self.overwrite = self.parse_bool(d, "overwrite", default=False)
        self.heatmaps = self.parse_string(d, "heatmaps", default="action")
        self.heatmap_storage = self.parse_string(d, "heatmap_storage", default="inline")
        self.map_dir = self.parse_string(d, "map_dir", default=None)
        self.heatmap_size = self.parse_raw(d, "heatmap_size", default=None)
        self.heatmap_dtype = self.parse_string(d, "heatmap_dtype", default="uint8")
        self.context_stride = self.parse_number(d, "context_stride", default=0.25)
        self.context_stride_frames = self.parse_int(d, "context_stride_frames", default=None)
        self.image_mode = self.parse_bool(d, "image_mode", default=False)
        self.context_edge = self.parse_string(d, "context_edge", default=None)
        self.run_key = self.parse_string(d, "run_key", default=None)
        self.record_run = self.parse_bool(d, "record_run", default=True)
        for name in ENGINE_OPTIONS:
            setattr(self, name, self.parse_raw(d, name, default=None))
        self._validate()

    def _validate(self) -> None:
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("prompt is empty; pass an action such as prompt='cut onion', or prompt_field=")
        if not (math.isfinite(self.context_stride) and self.context_stride >= 0):
            raise ValueError(f"context_stride must be a non-negative number of seconds, got {self.context_stride}")
        if self.context_stride_frames is not None and self.context_stride_frames < 1:
            raise ValueError(f"context_stride_frames must be >= 1, got {self.context_stride_frames}")
        if self.context_edge is not None and self.context_edge not in fvrun.CONTEXT_EDGES:
            raise ValueError(f"context_edge must be one of {fvrun.CONTEXT_EDGES} or None, got {self.context_edge!r}")
        self.heatmap_options(map_dir=self.map_dir or "unused")  # validates the heatmap settings
        GroundingOptions(**self.engine_options())  # validates the engine options

    def to_dict(self) -> dict[str, Any]:
        """Every option, JSON-able."""
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v for name in OPTIONS}

    def replace(self, **changes: Any) -> VideoGEMModelConfig:
        """A copy with ``changes`` applied (validated like the original)."""
        return type(self)({**{name: getattr(self, name) for name in OPTIONS}, **changes})

    def engine_options(self) -> dict[str, Any]:
        """The engine options that were set (the others keep the engine's defaults)."""
        return {name: getattr(self, name) for name in ENGINE_OPTIONS if getattr(self, name) is not None}

    def heatmap_options(self, map_dir: str | None = None) -> fvl.HeatmapOptions:
        return fvl.HeatmapOptions(
            heatmaps=self.heatmaps, storage=self.heatmap_storage, map_dir=map_dir or self.map_dir,
            size=self.heatmap_size, dtype=self.heatmap_dtype,
        )

    def default_needs_fields(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in NEEDS_FIELDS_KEYS if getattr(self, k)}


def load_pretrained(backbone: str, checkpoint: str | None = None, device: str | None = None,
                    image_size: int | None = None, **options: Any) -> VideoGEM:
    """``VideoGEM.from_pretrained``, with a checkpoint file that cannot be loaded reported as a
    ValueError that names the file and the backbone (loading a wrong file raises errors of many
    types: unpickling, size mismatches, a folder, a truncated archive).

    Args:
        backbone: a backbone registry name
        checkpoint (None): a local weights file instead of the download
        device (None): the torch device (None: CUDA when available)
        image_size (None): override the backbone's input size
        **options: engine options
    """
    from .engine.grounding import VideoGEM

    try:
        return VideoGEM.from_pretrained(backbone, checkpoint=checkpoint, device=device, image_size=image_size,
                                        **options)
    except Exception as e:
        if checkpoint is None or isinstance(e, ValueError) or not os.path.exists(checkpoint):
            raise
        detail = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(
            f"checkpoint '{checkpoint}' could not be loaded into backbone '{backbone}' ({type(e).__name__}: "
            f"{detail}); pass a weights file of that backbone's architecture"
        ) from e


def describe_weights(config: VideoGEMModelConfig) -> dict[str, Any]:
    """Which weights produce a config's labels, for run records: the checkpoint file (path, size,
    modification time) when one is loaded, random weights and their seed, or the registry's
    pretrained tag and licence.

    Returns:
        a dict with ``source`` (``"checkpoint"``, ``"random"`` or ``"pretrained"``), ``description``
        and ``license``, plus ``checkpoint``, ``size_bytes``, ``modified`` or ``seed``, ``pretrained``
    """
    import datetime

    from .engine.backbones.registry import get_backbone_spec

    try:
        spec = get_backbone_spec(config.backbone)
    except Exception:  # a backbone outside the registry (an engine built by the caller)
        spec = None
    if config.random_weights:
        return dict(source="random", seed=config.seed, description=f"random weights (seed {config.seed})",
                    license="none (random weights)")
    if config.checkpoint:
        path = os.path.abspath(config.checkpoint)
        record = dict(source="checkpoint", checkpoint=path,
                      license="that of the checkpoint file (not known to VideoGEM)")
        if os.path.exists(path):
            stat = os.stat(path)
            record.update(size_bytes=stat.st_size, modified=datetime.datetime.fromtimestamp(
                stat.st_mtime, datetime.timezone.utc).isoformat(timespec="seconds"))
        record["description"] = f"checkpoint {path}" + (
            f" ({record['size_bytes']} bytes, modified {record['modified']})" if "size_bytes" in record else "")
        return record
    tag = getattr(spec, "pretrained", None)
    return dict(source="pretrained", pretrained=tag,
                description=f"pretrained weights '{tag}'" if tag else "the weights of the engine passed in",
                license=getattr(spec, "license", None))


def build_engine(config: VideoGEMModelConfig) -> VideoGEM:
    """The VideoGEM engine a config describes."""
    from .engine.grounding import VideoGEM

    device = None if config.device in (None, "auto") else config.device
    if device is not None and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available here; use 'cpu' or 'auto'")
    options = config.engine_options()
    if config.random_weights:
        if config.checkpoint:
            raise ValueError("random_weights=True and checkpoint= contradict each other; pass one")
        return VideoGEM.from_config(config.backbone, seed=config.seed, device=device, image_size=config.image_size,
                                    **options)
    return load_pretrained(config.backbone, checkpoint=config.checkpoint, device=device,
                           image_size=config.image_size, **options)


class VideoGEMModel(fom.SamplesMixin, fom.Model):
    """VideoGEM for ``apply_model``: grounds action text in video frames or images.

    Build it with :func:`load_model`, or from its config as FiftyOne builds models::

        fom.load_model({"type": "fiftyone_videogem.model.VideoGEMModel", "config": {"backbone": ...}})

    The ``apply_model`` keyword arguments ``prompt_field`` and ``gt_field`` override the config's;
    every other option is set on the config. Without them (the model zoo's "Apply zoo model"
    operator passes none) the config's fields are used.

    Args:
        config (None): a :class:`VideoGEMModelConfig` or a dict of its options
        engine (None): a :class:`~fiftyone_videogem.engine.grounding.VideoGEM` to use instead of
            building the one the config describes
    """

    def __init__(self, config: VideoGEMModelConfig | dict | None = None, engine: VideoGEM | None = None):
        fom.SamplesMixin.__init__(self)
        if config is None or isinstance(config, dict):
            config = VideoGEMModelConfig(config)
        if engine is None:
            engine = build_engine(config)
        else:
            from .engine.grounding import VideoGEM

            if not isinstance(engine, VideoGEM):
                raise TypeError(f"engine must be a VideoGEM, got {type(engine).__name__}; use fvg.load_model(name)")
        self.config = config
        self.engine = engine
        self.needs_fields = config.default_needs_fields()

    def __repr__(self) -> str:
        return f"VideoGEMModel({self.engine.info.name!r}, media_type={self.media_type!r})"

    # -------------------------------------------------------------------- Model interface
    @property
    def media_type(self) -> str:
        return self.config.media_type

    @media_type.setter
    def media_type(self, value: str) -> None:
        if value not in MEDIA_TYPES:
            raise ValueError(f"media_type must be one of {MEDIA_TYPES}, got {value!r}")
        self.config.media_type = value

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

    def label_fields(self, label_field: str = DEFAULT_LABEL_FIELD) -> dict[str, str]:
        """A ``label_field`` dict for ``apply_model`` that stores the labels where
        :func:`~fiftyone_videogem.runner.run_videogem` does: Keypoints in ``label_field``, heatmaps
        in ``<label_field>_heatmap``, ... ."""
        names = fvl.output_fields(label_field, "all")
        return {_key(name, label_field): name for name in names}

    def run_config(self) -> VideoGEMModelConfig:
        """The config with the ``prompt_field`` / ``gt_field`` of :attr:`needs_fields` applied.

        Raises:
            ValueError: apply_model got other keyword arguments, or the prompt source is incomplete
        """
        needs = dict(self.needs_fields or {})
        unknown = sorted(set(needs) - set(NEEDS_FIELDS_KEYS))
        if unknown:
            raise ValueError(
                f"apply_model got unknown keyword argument(s) {unknown}; it passes only "
                f"{', '.join(NEEDS_FIELDS_KEYS)} to this model. Set other options when loading it: "
                f"fvg.load_model(..., {unknown[0]}=...)"
            )
        overrides = {k: v for k, v in needs.items() if v}
        if "prompt_field" in overrides:
            overrides["prompt"] = None
        config = self.config.replace(**overrides) if overrides else self.config
        fvrun.check_prompt_sources(config)
        if config.heatmap_storage == "files":
            raise ValueError(
                "heatmap_storage='files' is written by fvg.run_videogem(); with apply_model keep the inline "
                "maps and pass apply_model(..., output_dir=...) to have FiftyOne write them as PNG files"
            )
        return config

    def __enter__(self):
        self.run_config()  # a misconfigured call fails before any sample is processed
        return self

    def predict(self, arg, sample=None):
        """Ground one video (``arg`` is apply_model's video reader) or one image (an HxWx3 array).

        Returns:
            ``{frame_number: {"points": Keypoints, "heatmap": Heatmap, ...}}`` for a video,
            ``{"points": Keypoints, "heatmap": Heatmap, ...}`` for an image, or None

        Raises:
            GroundingError: the sample could not be grounded (the reason is in the message)
        """
        return self.predict_all([arg], samples=[sample])[0]

    def predict_all(self, args, samples=None):
        """Ground several images (or videos) in one batch; see :meth:`predict`."""
        if samples is None or any(s is None for s in samples):
            raise ValueError(
                "VideoGEMModel reads the prompt of each sample, so it needs the samples: use "
                "dataset.apply_model(model, ...), or ground a frame in memory with model.engine.ground(frame, prompt)"
            )
        if isinstance(samples[0], (fofr.Frame, fofr.FrameView)):
            raise ValueError(
                "this model has media_type='image', so apply_model hands it every decoded frame of every video; "
                "load it with media_type='video' (the default) to ground only the selected frames, or apply it "
                "to a to_frames() view"
            )
        config = self.run_config()
        settings = fvrun.resolve_settings(samples[0].dataset, config, label_field=None, skip_failures=False)
        plans = [
            fvrun.plan_from_sample(sample, settings, image=None if settings.video else _as_image(arg))
            for arg, sample in zip(args, samples)
        ]
        summary = fvrun.GroundingSummary(label_field="")
        states = list(fvrun.Grounder(self.engine, settings, summary).run(plans))
        if all(not state.results and state.error for state in states):
            raise fvrun.GroundingError("; ".join(state.error for state in states))
        outputs = []
        for state in states:
            if state.error:
                logger.warning("sample %s ('%s'): %s", state.plan.sample_id, state.plan.filepath, state.error)
            outputs.append(_keyed_labels(state, settings) if state.results else None)
        return outputs


def _key(name: str, label_field: str) -> str:
    """The key of an output field in what ``predict`` returns (``"x"`` -> ``"points"``,
    ``"x_heatmap"`` -> ``"heatmap"``)."""
    return POINTS_KEY if name == label_field else name[len(label_field) + 1:]


def _keyed_labels(state: fvrun.SampleState, settings: fvrun.GroundingSettings) -> dict:
    labels = fvrun.sample_labels(state, settings, DEFAULT_LABEL_FIELD)
    if not settings.video:
        return {_key(name, DEFAULT_LABEL_FIELD): label for name, label in labels.items()}
    frames: dict[int, dict] = {}
    for name, by_frame in labels.items():
        for frame_number, label in by_frame.items():
            frames.setdefault(frame_number, {})[_key(name, DEFAULT_LABEL_FIELD)] = label
    return dict(sorted(frames.items()))


def _as_image(image):
    from .engine.backbones.base import as_rgb_uint8

    return as_rgb_uint8(image)


# ---------------------------------------------------------------------------- entry point
def load_model(
    name_or_engine: str | VideoGEM = "clip-vit-b-16",
    checkpoint: str | None = None,
    device: str | None = None,
    *,
    random_weights: bool = False,
    seed: int = 0,
    image_size: int | None = None,
    media_type: str = "video",
    **options: Any,
) -> VideoGEMModel:
    """A :class:`VideoGEMModel` for ``apply_model`` and :func:`~fiftyone_videogem.runner.run_videogem`.

    Args:
        name_or_engine ("clip-vit-b-16"): a backbone registry name (``fvg.list_backbones()``) or a
            :class:`~fiftyone_videogem.engine.grounding.VideoGEM` to wrap
        checkpoint (None): a local weights file instead of the download
        device (None): ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or None / ``"auto"`` for CUDA when available
        random_weights (False): the backbone's architecture with random weights, for tests and
            offline smoke runs
        seed (0): seed of the random weights
        image_size (None): override the backbone's input size
        media_type ("video"): ``"video"`` or ``"image"`` (image collections and ``to_frames()`` views)
        **options: the other options of :class:`VideoGEMModelConfig`: engine options (``weighting``,
            ``decomposition``, ``merge``, ``batch_size``, ``precision``, ``prompt_parser``, ...) and
            grounding options (``prompt_field``, ``gt_field``, ``prompt``, ``frames``, ``heatmaps``, ...)
    """
    load = dict(media_type=media_type, **options)
    if isinstance(name_or_engine, str):
        load.update(backbone=name_or_engine, checkpoint=checkpoint, device=device, random_weights=random_weights,
                    seed=seed, image_size=image_size)
        return VideoGEMModel(VideoGEMModelConfig(load))
    engine_options = sorted(k for k in options if k in ENGINE_OPTIONS)
    if engine_options or checkpoint or random_weights or image_size or device is not None:
        raise ValueError(
            "an engine instance is wrapped as it is; build it with the engine options, checkpoint, device and "
            f"image size you want (VideoGEM.from_pretrained(name, ..., **options)), got {engine_options or 'load options'}"
        )
    from .engine.grounding import VideoGEM

    if not isinstance(name_or_engine, VideoGEM):
        raise TypeError(f"load_model takes a backbone name or a VideoGEM engine, got {type(name_or_engine).__name__}")
    load["backbone"] = name_or_engine.info.name
    return VideoGEMModel(VideoGEMModelConfig(load), engine=name_or_engine)
