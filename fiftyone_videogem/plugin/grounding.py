"""The "Ground actions with VideoGEM" operator.

A thin form over :func:`fiftyone_videogem.runner.iter_videogem`: pick the target (dataset,
current view or selected samples), the prompt source (a field or a fixed text), the ground
truth, the backbone, the frames, the weighting, decomposition, the output field, heatmap
storage, batch size and device. Runs immediately with a live progress bar, or delegated
(``fiftyone delegated launch``) with its progress stored on the operation.
"""

from __future__ import annotations

import logging
import time

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


def _backbone_names() -> list[str]:
    from fiftyone_videogem.engine import list_backbones

    return [spec.name for spec in list_backbones()]


def _choices(values, view=types.DropdownView, labels=None):
    choices = view()
    for value in values:
        choices.add_choice(value, label=(labels or {}).get(value, value))
    return choices


class GroundActions(foo.Operator):
    """Ground the action of each frame (or image) with VideoGEM and store points and heatmaps."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="ground_actions",
            label="Ground actions with VideoGEM",
            description="Locate where an action happens in video frames or images (points and heatmaps)",
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
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

        backbones = _backbone_names()
        # a string with a dropdown: the registered backbones are offered, and hidden test backbones
        # (left out of the list) can still be named
        inputs.str("backbone", default="clip-vit-b-16", required=True, label="Backbone", view=_choices(backbones))
        add_engine_inputs(inputs)

        inputs.str("label_field", default=DEFAULT_LABEL_FIELD, required=True, label="Output field",
                   description="keypoints field; heatmaps go to <field>_heatmap")
        inputs.bool("overwrite", default=False, label="Redo frames that already have labels")
        add_heatmap_inputs(inputs)
        inputs.enum("heatmap_storage", list(HEATMAP_STORAGES), default="inline", label="Heatmap storage",
                    view=_choices(HEATMAP_STORAGES, types.RadioGroup,
                                  {"inline": "In the database (patch grid)", "files": "PNG files"}))
        if params.get("heatmap_storage") == "files":
            inputs.str("map_dir", required=True, label="Heatmap directory")
        return types.Property(inputs, view=types.View(label="Ground actions with VideoGEM"))

    # ------------------------------------------------------------------------- execute
    def execute(self, ctx):
        from fiftyone_videogem.model import load_model
        from fiftyone_videogem.runner import iter_videogem

        params = ctx.params
        target = ctx.target_view()
        label_field = (params.get("label_field") or DEFAULT_LABEL_FIELD).strip()
        model = load_model(params.get("backbone") or "clip-vit-b-16", **load_options(params))
        options = run_options(params, target)
        delegated = bool(ctx.delegated)
        last = 0.0
        summary = None
        for event in iter_videogem(target, model, label_field, **options):
            if event.summary is not None:
                summary = event.summary
                continue
            now = time.monotonic()
            final = event.samples_done == event.samples_total
            if not final and now - last < PROGRESS_SECONDS and event.samples_done > 1:
                continue
            last = now
            if delegated:
                ctx.set_progress(progress=event.fraction, label=event.label)
            else:
                yield ctx.trigger("set_progress", dict(progress=event.fraction, label=event.label))
        if delegated:
            logger.info("%s", summary)
            return
        yield ctx.trigger("reload_dataset")
        variant = "warning" if summary is not None and summary.samples_failed else "success"
        message = str(summary) if summary is not None else "nothing to ground"
        if summary is not None and summary.samples_failed:
            message += f"; see the '{label_field}_error' field"
        yield ctx.trigger("notify", dict(message=message, variant=variant))


# ------------------------------------------------------------------------ shared form parts
# used by this operator and by the model zoo's "Apply zoo model" form (zoo.py's resolve_input)
def add_source_inputs(inputs: types.Object, target, params: dict) -> None:
    """The prompt source (a field or a fixed text) and the frames to ground (ground truth, every N-th, all)."""
    video = _is_video(target)
    source = inputs.enum(
        "prompt_source", ["field", "text"], default="field", label="Prompt",
        view=_choices(["field", "text"], types.RadioGroup, {"field": "From a field", "text": "Fixed text"}),
    )
    if params.get("prompt_source", "field") == "field":
        fields = prompt_field_choices(target)
        if fields:
            inputs.enum(
                "prompt_field", fields, required=True, default=_preferred(fields, ("frames.action", "action")),
                label="Prompt field", description="string, Classification or Detections field with the action text",
                view=_choices(fields),
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
                view=_choices(list(frame_labels), types.RadioGroup, frame_labels))
    if mode == "gt":
        gt_fields = gt_field_choices(target)
        prop = inputs.enum(
            "gt_field", gt_fields or [""], required=True, default=_preferred(gt_fields, ("frames.gt", "gt")),
            label="Ground-truth field", view=_choices(gt_fields),
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
                view=_choices(WEIGHTING_MODES))
    inputs.bool("decomposition", default=True, label="Verb / object / action decomposition")
    inputs.int("batch_size", default=16, min=1, label="Batch size")
    inputs.enum("device", list(DEVICES), default="auto", label="Device", view=_choices(DEVICES))
    inputs.bool("random_weights", default=False, view=types.HiddenView())


def add_heatmap_inputs(inputs: types.Object) -> None:
    """Which heatmaps to store."""
    from fiftyone_videogem.labels import HEATMAP_CHOICES

    labels = {"action": "Action prompt", "all": "Every component", "none": "None"}
    inputs.enum("heatmaps", list(HEATMAP_CHOICES), default="action", label="Heatmaps",
                view=_choices(HEATMAP_CHOICES, labels=labels))


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


def _preferred(values, preferred):
    for value in preferred:
        if value in values:
            return value
    return values[0] if values else None
