"""The "Ground actions with VideoGEM" operator.

A thin form over :func:`fiftyone_videogem.runner.iter_videogem`: pick the target (dataset,
current view or selected samples), the prompt source (a field or a fixed text), the ground
truth, the backbone, the frames, the weighting, decomposition, the output field, heatmap
storage, batch size and device. Runs immediately with a live progress bar, or delegated
(``fiftyone delegated launch``) with its progress stored on the operation.

When Ray is installed (``pip install "fiftyone-videogem[ray]"``) the form offers "Run on a Ray
cluster" (address, workers): the operator's ``execute`` is then the Ray driver of
:func:`fiftyone_videogem.distributed.iter_videogem` (in the launcher's process when delegated).
"""

from __future__ import annotations

import importlib.util
import logging
import time

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.operators as foo
import fiftyone.operators.types as types

from fiftyone_videogem.fields import DEFAULT_LABEL_FIELD, PROMPT_TYPES, frame_path
from fiftyone_videogem.fields import is_video as _is_video

logger = logging.getLogger(__name__)

FRAME_MODES = ("gt", "interval", "all")
DEVICES = ("auto", "cpu", "cuda")
PROGRESS_SECONDS = 0.5


def prompt_field_choices(collection) -> list[str]:
    """Fields that can hold the action text: string, Classification(s), Detection(s)."""

    def usable(field) -> bool:
        if isinstance(field, fof.StringField):
            return True
        return isinstance(field, fof.EmbeddedDocumentField) and issubclass(field.document_type, PROMPT_TYPES)

    skip = {"filepath", "id", "media_type"}
    names = []
    if _is_video(collection):
        names += [frame_path(n, True) for n, f in collection.get_frame_field_schema().items() if usable(f)]
    names += [n for n, f in collection.get_field_schema().items() if n not in skip and usable(f)]
    return [n for n in names if not n.endswith("_error")]


def gt_field_choices(collection) -> list[str]:
    """Label fields that can mark the frames to ground (frame-level on videos)."""
    if _is_video(collection):
        schema = collection.get_frame_field_schema(embedded_doc_type=fol.Label) or {}
        return [frame_path(n, True) for n, f in schema.items() if not issubclass(f.document_type, fol.Keypoints)]
    schema = collection.get_field_schema(embedded_doc_type=fol.Label) or {}
    return [n for n, f in schema.items() if not issubclass(f.document_type, (fol.Keypoints, fol.Heatmap))]


def backbone_names() -> list[str]:
    return list(backbone_descriptions())


def backbone_descriptions() -> dict[str, str]:
    """The registered (real) backbones and what the dropdown says of each: size and weights' licence."""
    from fiftyone_videogem.engine import list_backbones

    return {spec.name: f"{spec.description}; licence: {spec.license}" for spec in list_backbones()}


def choices_view(values, view=types.DropdownView, labels=None, descriptions=None):
    choices = view()
    for value in values:
        choices.add_choice(value, label=(labels or {}).get(value, value),
                           description=(descriptions or {}).get(value))
    return choices


def ray_available() -> bool:
    """Whether Ray is installed here (the ``[ray]`` extra), without importing it."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


RAY_MISSING = (
    "'Run on a Ray cluster' needs Ray, which is not installed where this operation runs: "
    'pip install "fiftyone-videogem[ray]" there (and on every node of the cluster), or untick it'
)


def delegation_available() -> bool:
    """Whether "Schedule" (delegated execution) can run in this open-source install: it needs
    ``FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS=true`` (``fo.config.allow_legacy_orchestrators``)."""
    return bool(fo.config.allow_legacy_orchestrators)


DELEGATION_HELP = (
    "Schedule (delegated execution) is not available here: restart the App with "
    "FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS=true and run `fiftyone delegated launch` in a terminal to run "
    "scheduled operations; until then choose Execute, which stops after {timeout} s."
)

CPU_SECONDS_PER_FRAME = 2.5
"""Conservative CPU cost of one frame at 448 px with a ViT-B/16 (a 40-frame video took 102 s)."""
GPU_SECONDS_PER_FRAME = 0.1
"""Conservative GPU cost of one frame at 448 px with a ViT-B/16."""


def check_weights_choice(params: dict) -> None:
    """Refuses a form that asks for random weights and a checkpoint at once."""
    if params.get("random_weights") and params.get("checkpoint"):
        raise OperatorFailure("'Random weights' and a 'Checkpoint' contradict each other: untick "
                              "'Random weights (to try the pipeline)' or clear 'Checkpoint'")


def job_operator_config(name: str, label: str, description: str, icon: str | None = None) -> foo.OperatorConfig:
    """The config of the plugin's job operators: a dynamic form, progress as a generator, run now or
    scheduled (delegated)."""
    return foo.OperatorConfig(
        name=name,
        label=label,
        description=description,
        icon=icon,
        dynamic=True,
        execute_as_generator=True,
        allow_immediate_execution=True,
        allow_delegated_execution=True,
    )


class GroundActions(foo.Operator):
    """Ground the action of each frame (or image) with VideoGEM and store points and heatmaps."""

    @property
    def config(self):
        return job_operator_config(
            "ground_actions", "Ground actions with VideoGEM",
            "Locate where an action happens in video frames or images (points and heatmaps)",
        )

    def resolve_placement(self, ctx):
        return types.Placement(
            types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
            types.Button(label="Ground actions with VideoGEM", prompt=True),
        )

    # ---------------------------------------------------------------------------- form
    def resolve_input(self, ctx):
        from fiftyone_videogem.labels import HEATMAP_STORAGES

        inputs = types.Object()
        inputs.view_target(ctx, action_description="Ground actions in")
        target = ctx.target_view()
        params = ctx.params
        add_source_inputs(inputs, target, params)

        backbones = backbone_names()
        # a string with a dropdown: the registered backbones are offered, and hidden test backbones
        # (left out of the list) can still be named
        inputs.str("backbone", default="clip-vit-b-16", required=True, label="Backbone",
                   view=choices_view(backbones, descriptions=backbone_descriptions()))
        add_engine_inputs(inputs)

        inputs.str("label_field", default=DEFAULT_LABEL_FIELD, required=True, label="Output field",
                   description="keypoints field; heatmaps go to <field>_heatmap")
        inputs.bool("overwrite", default=False, label="Redo frames that already have labels")
        add_heatmap_inputs(inputs)
        inputs.enum("heatmap_storage", list(HEATMAP_STORAGES), default="inline", label="Heatmap storage",
                    view=choices_view(HEATMAP_STORAGES, types.RadioGroup,
                                  {"inline": "In the database (patch grid)", "files": "PNG files"}))
        if params.get("heatmap_storage") == "files":
            inputs.str("map_dir", required=True, label="Heatmap directory")
        if ray_available():
            add_ray_inputs(inputs, params, decoding=target.media_type == "video")
        if not delegation_available():
            inputs.view("delegation_notice", types.Notice(
                label=DELEGATION_HELP.format(timeout=fo.config.operator_timeout)))
        return types.Property(inputs, view=types.View(label="Ground actions with VideoGEM"))

    # ------------------------------------------------------------------------- execute
    def resolve_run_name(self, ctx):
        """What the run is called in the list of scheduled operations: backbone, field and size."""
        params = ctx.params
        count = target_size(ctx)
        size = f", {count} sample(s)" if count is not None else ""
        return (f"VideoGEM {params.get('backbone') or 'clip-vit-b-16'} -> "
                f"{(params.get('label_field') or DEFAULT_LABEL_FIELD).strip()}{size}")

    def execute(self, ctx):
        yield from run_reporting_failures(ctx, self._ground)

    def _ground(self, ctx, delegated: bool):
        params = ctx.params
        target = ctx.target_view()
        label_field = (params.get("label_field") or DEFAULT_LABEL_FIELD).strip()
        options = run_options(params, target)
        check_weights_choice(params)
        on_ray = bool(params.get("ray", False))
        if on_ray and not ray_available():
            raise OperatorFailure(RAY_MISSING)
        if not delegated:
            check_fits_time_limit(target, params, options, label_field)
        last = 0.0
        summary = None
        for event in _events(target, params, options, label_field, on_ray):
            if event.summary is not None:
                summary = event.summary
                continue
            now = time.monotonic()
            final = event.samples_done == event.samples_total
            if not final and now - last < PROGRESS_SECONDS and last:
                continue
            last = now
            if delegated:
                ctx.set_progress(progress=event.fraction, label=event.label)
            else:
                yield ctx.trigger("set_progress", dict(progress=event.fraction, label=event.label))
        if delegated:
            logger.info("%s", summary)
            if summary is not None and summary.stopped:
                raise OperatorFailure(f"grounding stopped early ({summary.stopped}); schedule it again to resume")
            return
        yield ctx.trigger("reload_dataset")
        variant = "warning" if summary is not None and summary.samples_failed else "success"
        message = str(summary) if summary is not None else "nothing to ground"
        if summary is not None and summary.samples_failed:
            message += f"; see the '{label_field}_error' field"
        yield ctx.trigger("notify", dict(message=message, variant=variant))


def _events(target, params: dict, options: dict, label_field: str, on_ray: bool):
    """The run's progress events: in this process, or with this process as the Ray driver."""
    backbone = params.get("backbone") or "clip-vit-b-16"
    if on_ray:
        from fiftyone_videogem.distributed import iter_videogem as iter_on_ray

        # the workers load the backbone by name, each on its own device
        return iter_on_ray(target, backbone, label_field, **ray_options(params), **load_options(params), **options)
    from fiftyone_videogem.model import load_model
    from fiftyone_videogem.runner import iter_videogem

    model = load_model(backbone, **load_options(params))
    return iter_videogem(target, model, label_field, progress_per_batch=True, **options)


class OperatorFailure(RuntimeError):
    """A grounding run from the App failed; the message says what went wrong and what to do there."""


def target_size(ctx) -> int | None:
    """The number of samples of an operator's target; None when it no longer resolves (the list of
    scheduled operations names runs with it, and must show all the same)."""
    try:
        return len(ctx.target_view())
    except Exception:
        return None


def run_reporting_failures(ctx, work, failed: str = "Grounding failed"):
    """An operator's ``execute``: yields from ``work(ctx, delegated)``; a failure marks a delegated
    operation failed with :func:`failure_message`, or ends an immediate run with an error notification."""
    delegated = bool(ctx.delegated)
    try:
        yield from work(ctx, delegated)
    except Exception as e:
        message = failure_message(e, failed)
        logger.error("%s", message, exc_info=True)
        if delegated:  # the operation is marked failed with the message
            raise OperatorFailure(message) from e
        # in the App a raised exception ends the stream unseen; the notification is what the user sees
        yield ctx.trigger("notify", dict(message=message, variant="error"))


APP_HINTS = (
    ("no pretrained weights", "Tick 'Random weights (to try the pipeline)' or enter a 'Checkpoint'."),
    ("names no pretrained weights", "Enter a 'Checkpoint' (a local weights file)."),
    ("checkpoint '", "In the form, correct the 'Checkpoint' path (a weights file on the machine that runs "
                     "FiftyOne) or clear it to use the backbone's own weights."),
    ("download", "Download the weights once on a connected machine (they are cached), enter a local weights "
                 "file as 'Checkpoint', or tick 'Random weights (to try the pipeline)'."),
    ("cannot be reached", "Download the weights once on a connected machine (they are cached), enter a local "
                          "weights file as 'Checkpoint', or tick 'Random weights (to try the pipeline)'."),
)
"""Markers of the library's messages (lower case) and what to do about them in the form, first match wins."""


def failure_message(error: BaseException, failed: str = "Grounding failed") -> str:
    """The message the App shows for a failed run (``failed``: how it starts): what went wrong, then what
    to do in the form."""
    if isinstance(error, OperatorFailure):
        return f"{failed}: {error}"
    text = str(error).strip() or type(error).__name__
    # the library's hints name Python and command-line options; the App names its own controls
    for marker in ("; pass it as checkpoint=", ". To try the pipeline", "; use VideoGEM.from_config",
                   "; pass checkpoint=", "; pass the path of a local weights file"):
        if marker in text:
            text = text[: text.index(marker)]
    hint = next((h for key, h in APP_HINTS if key in str(error).lower()), None)
    message = f"{failed}: {text}"
    if hint is None and isinstance(error, (ValueError, TypeError, KeyError)):
        hint = "Check the form's fields and run again."
    return message + (f". {hint}" if hint else "")


def estimate_frames(target, params: dict, options: dict, label_field: str) -> int | None:
    """Frames (images) the run would ground, from the collection's labels and metadata; None when
    the size cannot be known before decoding (videos without ``metadata.frame_count``)."""
    video = _is_video(target)
    if not video:
        total = target.count(options["gt_field"]) if options["frames"] == "gt" else len(target)
    elif options["frames"] == "gt":
        total = target.count(options["gt_field"])
    else:
        if target.count("metadata.frame_count") < len(target):
            return None
        total = int(target.sum("metadata.frame_count") or 0)
        if isinstance(options["frames"], int):
            total = -(-total // options["frames"])
    if not options.get("overwrite"):
        path = frame_path(label_field, video)
        if path.split(".")[-1] in (target.get_frame_field_schema() if video else target.get_field_schema()) or {}:
            total -= target.count(path)
    return max(0, total)


def on_gpu(params: dict) -> bool:
    """Whether the form's device (``auto``: CUDA when available) is a GPU."""
    device = params.get("device") or "auto"
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device.startswith("cuda")


def seconds_per_frame(params: dict) -> float:
    """A conservative cost of one frame for the form's backbone and device (scaled by input area)."""
    from fiftyone_videogem.engine.backbones.registry import get_backbone_spec

    base = GPU_SECONDS_PER_FRAME if on_gpu(params) else CPU_SECONDS_PER_FRAME
    try:
        size = get_backbone_spec(params.get("backbone") or "clip-vit-b-16").image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
    except Exception:  # an unknown name fails when the model loads, with its own message
        return base
    return base * (size / 448) ** 2


def check_fits_time_limit(target, params: dict, options: dict, label_field: str) -> None:
    """Refuse an immediate run that would outlast the App's operator time limit
    (``FIFTYONE_OPERATOR_TIMEOUT``) when its size is known before it starts."""
    frames = estimate_frames(target, params, options, label_field)
    if not frames:
        return
    check_seconds_fit_time_limit(frames * seconds_per_frame(params), f"{frames} frames")


def check_seconds_fit_time_limit(seconds: float, size: str) -> None:
    """Refuse an immediate run of about ``seconds`` (``size``: what it processes, e.g. ``"1200 frames"``)
    that would outlast the App's operator time limit (``FIFTYONE_OPERATOR_TIMEOUT``)."""
    limit = fo.config.operator_timeout
    if limit and seconds > limit:
        schedule = ("choose Schedule (delegated execution) instead of Execute" if delegation_available() else
                    "schedule it (delegated execution: start the App with FIFTYONE_ALLOW_LEGACY_ORCHESTRATORS=true "
                    "and run `fiftyone delegated launch`)")
        raise OperatorFailure(
            f"this run would take about {seconds / 60:.0f} min ({size}) and the App stops an operator "
            f"after {limit} s, so it was not started; {schedule}, or select fewer samples or frames"
        )


# ------------------------------------------------------------------------ shared form parts
# used by this operator and by the model zoo's "Apply zoo model" form (zoo.py's resolve_input)
def add_source_inputs(inputs: types.Object, target, params: dict) -> None:
    """The prompt source (a field or a fixed text) and the frames to ground (ground truth, every N-th, all)."""
    video = _is_video(target)
    source = inputs.enum(
        "prompt_source", ["field", "text"], default="field", label="Prompt",
        view=choices_view(["field", "text"], types.RadioGroup, {"field": "From a field", "text": "Fixed text"}),
    )
    if params.get("prompt_source", "field") == "field":
        fields = prompt_field_choices(target)
        if fields:
            inputs.enum(
                "prompt_field", fields, required=True, default=preferred_choice(fields, ("frames.action", "action")),
                label="Prompt field", description="string, Classification or Detections field with the action text",
                view=choices_view(fields),
            )
        else:
            source.invalid = True
            source.error_message = "This collection has no text, Classification or Detections field; use a fixed text"
    else:
        inputs.str("prompt", required=True, label="Action", description="e.g. 'cut onion'")

    frame_labels = {"gt": "Frames with ground truth", "interval": "Every N-th frame", "all": "All frames"}
    if not video:
        frame_labels = {"gt": "Samples with ground truth", "all": "All samples"}
    mode = params.get("frames", "gt")
    inputs.enum("frames", list(frame_labels), default="gt", label="Frames",
                view=choices_view(list(frame_labels), types.RadioGroup, frame_labels))
    if mode == "gt":
        gt_fields = gt_field_choices(target)
        prop = inputs.enum(
            "gt_field", gt_fields or [""], required=True, default=preferred_choice(gt_fields, ("frames.gt", "gt")),
            label="Ground-truth field", view=choices_view(gt_fields),
        )
        if not gt_fields:
            prop.invalid = True
            prop.error_message = "No label field marks frames with ground truth; choose other frames"
    elif mode == "interval" and video:
        inputs.int("interval", default=10, min=1, label="N", description="ground frames 1, 1+N, 1+2N, ...")


def add_engine_inputs(inputs: types.Object) -> None:
    """Checkpoint, layer weighting, decomposition, batch size and device."""
    from fiftyone_videogem.engine.options import WEIGHTING_MODES

    inputs.str("checkpoint", label="Checkpoint (optional)", description="a local weights file instead of the download")
    inputs.enum("weighting", list(WEIGHTING_MODES), default="static+dynamic", label="Layer weighting",
                view=choices_view(WEIGHTING_MODES))
    inputs.bool("decomposition", default=True, label="Verb / object / action decomposition")
    inputs.int("batch_size", default=16, min=1, label="Batch size")
    inputs.enum("device", list(DEVICES), default="auto", label="Device", view=choices_view(DEVICES))
    inputs.bool("random_weights", default=False, label="Random weights (to try the pipeline)",
                description="the backbone's architecture with random weights: runs without a download, "
                            "but the points and heatmaps mean nothing")


def add_heatmap_inputs(inputs: types.Object) -> None:
    """Which heatmaps to store."""
    from fiftyone_videogem.labels import HEATMAP_CHOICES

    labels = {"action": "Action prompt", "all": "Every component", "none": "None"}
    inputs.enum("heatmaps", list(HEATMAP_CHOICES), default="action", label="Heatmaps",
                view=choices_view(HEATMAP_CHOICES, labels=labels))


def add_ray_inputs(inputs: types.Object, params: dict, decoding: bool = False) -> None:
    """"Run on a Ray cluster": its address and number of workers (shown when Ray is installed), and
    with ``decoding`` the workers of a decoding stage."""
    inputs.bool("ray", default=False, label="Run on a Ray cluster",
                description="work on a pool of Ray workers, one engine each (see docs/scale.md)")
    if not params.get("ray", False):
        return
    inputs.str("ray_address", label="Ray address",
               description="auto, ray://head:10001 or head:6379; blank: a Ray instance on this machine")
    inputs.int("ray_workers", min=1, label="Workers",
               description="blank: one per GPU of the cluster, or one per CPU when it has none")
    if decoding:
        inputs.int("ray_decode_workers", min=0, label="Decoding workers",
                   description="one-CPU workers that decode the frames for the engine workers, when decoding "
                               "sets the pace (sparse frames, GPU nodes with few cores); blank: each engine "
                               "worker decodes its own")


def ray_options(params: dict) -> dict:
    """The Ray options of :func:`fiftyone_videogem.distributed.iter_videogem` (or of
    ``localize_actions``) from the form."""
    address = (params.get("ray_address") or "").strip() or None
    workers = params.get("ray_workers")
    options = dict(address=address, num_workers=int(workers) if workers else None)
    if params.get("ray_decode_workers"):
        options["num_decode_workers"] = int(params["ray_decode_workers"])
    if (params.get("device") or "auto") == "cpu":
        options["num_gpus_per_worker"] = 0  # a CPU engine reserves no GPU
    return options


def load_options(params: dict) -> dict:
    """The :func:`~fiftyone_videogem.model.load_model` options from the form's engine inputs."""
    return dict(
        checkpoint=params.get("checkpoint") or None,
        device=params.get("device") or "auto",
        random_weights=bool(params.get("random_weights", False)),
        weighting=params.get("weighting") or "static+dynamic",
        decomposition=bool(params.get("decomposition", True)),
        batch_size=int(params.get("batch_size") or 16),
    )


def run_options(params: dict, target) -> dict:
    """The :func:`~fiftyone_videogem.runner.iter_videogem` options from the form's parameters."""
    options = {}
    if params.get("prompt_source", "field") == "text":
        options["prompt"] = (params.get("prompt") or "").strip() or None
        options["prompt_field"] = None
        if options["prompt"] is None:
            raise ValueError("the fixed action text is empty; type an action such as 'cut onion'")
    else:
        options["prompt_field"] = params.get("prompt_field")
        options["prompt"] = None
    mode = params.get("frames", "gt")
    if mode == "gt":
        options["frames"] = "gt"
        options["gt_field"] = params.get("gt_field")
    elif mode == "interval":
        options["frames"] = int(params.get("interval") or 1) if _is_video(target) else "all"
    else:
        options["frames"] = "all"
    options["overwrite"] = bool(params.get("overwrite", False))
    options["heatmaps"] = params.get("heatmaps") or "action"
    options["heatmap_storage"] = params.get("heatmap_storage") or "inline"
    if options["heatmap_storage"] == "files":
        options["map_dir"] = params.get("map_dir") or None
    return options


def preferred_choice(values, preferred):
    for value in preferred:
        if value in values:
            return value
    return values[0] if values else None
