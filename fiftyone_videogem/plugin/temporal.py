"""The "Find actions in time" and "Evaluate spatio-temporal grounding" operators.

-   :class:`FindActionsInTime` (operator ``find_actions_in_time``): a form over
    :func:`fiftyone_videogem.localization.localize_actions`: the target (dataset, current view or
    selected videos), the phrases (typed, or each video's own pool from a field), the segmentation
    method (``www``, ``contrast``, or ``zeal`` with a yes/no scorer named), the sampling rate, spatial grounding on or off, the backbone and the output field. Runs
    immediately with a progress bar that advances per video, then shows the found segments as a clips
    view (``to_clips(<field>)``); or delegated (``fiftyone delegated launch``) with its progress stored
    on the operation. When Ray is installed (``pip install "fiftyone-videogem[ray]"``) the form offers
    "Run on a Ray cluster" (address, workers), as the grounding operator does: ``execute`` is then the
    Ray driver of ``localize_actions(..., executor="ray")``, one work unit per video.
-   :class:`EvaluateSpatiotemporal` (operator ``evaluate_spatiotemporal``): a form over
    :func:`fiftyone_videogem.evaluation.evaluate_spatiotemporal` (IoU+Pointing and video mAP) that
    stores the run under an evaluation key and reports the metrics in a notification.

The form parts, the error messages and the time-limit refusal are those of the grounding operator
(:mod:`fiftyone_videogem.plugin.grounding`).
"""

from __future__ import annotations

import logging
import math
import queue
import re
import threading
import time
from typing import Any, Iterator, Optional

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.operators as foo
import fiftyone.operators.types as types

from fiftyone_videogem import fields as fvf
from fiftyone_videogem import runs as fvr
from fiftyone_videogem.plugin.grounding import (
    DELEGATION_HELP,
    PROGRESS_SECONDS,
    RAY_MISSING,
    OperatorFailure,
    add_engine_inputs,
    add_ray_inputs,
    backbone_descriptions,
    backbone_names,
    check_seconds_fit_time_limit,
    check_weights_choice,
    choices_view,
    delegation_available,
    job_operator_config,
    load_options,
    on_gpu,
    preferred_choice,
    ray_available,
    ray_options,
    run_reporting_failures,
    seconds_per_frame,
    target_size,
)

logger = logging.getLogger(__name__)

FIND_OPERATOR = "find_actions_in_time"
EVALUATE_OPERATOR = "evaluate_spatiotemporal"
DEFAULT_LABEL_FIELD = "found"
DEFAULT_EVAL_KEY = "st"
METHOD_LABELS = {
    "www": "WWW: each frame takes the best phrase of the pool, or background",
    "contrast": "Contrast: each phrase on its own against the video's background",
    "zeal": "ZEAL: interval proposals from a vision-language model's start/end answers",
}
EMBED_SHARE = 0.25
"""Cost of embedding one sampled frame (native resolution, 224 px) relative to grounding it at 448 px."""
CPU_SECONDS_PER_SCORED_FRAME = 5.0
"""Assumed CPU cost of the ``zeal`` scorer's start and end questions on one sampled frame for one class.
An estimate, not a measurement: SmolVLM-256M encodes a 320x240 frame as 13 SigLIP-B/16 tiles of 512 px,
once per frame and class (the class's context sentence is part of the prompt the two questions share)."""
GPU_SECONDS_PER_SCORED_FRAME = 0.1
"""Assumed GPU cost of the ``zeal`` scorer's two questions on one sampled frame for one class."""


# ------------------------------------------------------------------------------- form helpers
def parse_queries(text: Any) -> list[str]:
    """The phrases of a typed text: separated by commas or new lines, blanks dropped, first occurrence kept."""
    parts = re.split(r"[,\n]", text or "") if isinstance(text, str) else list(text or [])
    return list(dict.fromkeys(" ".join(str(p).split()) for p in parts if str(p).strip()))


def pool_field_choices(collection, exclude: tuple[str, ...] = ()) -> list[str]:
    """Sample fields that can hold each video's phrases: lists of strings, or label lists
    (``Classifications``, ``Detections``, ``TemporalDetections``) whose labels are the phrases."""
    names = []
    for name, field in collection.get_field_schema().items():
        if name in fvf.BUILTIN_FIELDS or name == "tags" or name in exclude:  # tags are not phrases
            continue
        strings = isinstance(field, fof.ListField) and isinstance(field.field, fof.StringField)
        if strings or fvf.label_list_attribute(field) is not None:
            names.append(name)
    return names


def method_choices() -> list[str]:
    """The segmentation methods the form offers (those of
    :func:`~fiftyone_videogem.localization.localize_actions`)."""
    from fiftyone_videogem.localization import METHODS

    return list(METHODS)


def scorer_names() -> list[str]:
    """The registered yes/no scorers (vision-language models) of ``"zeal"``."""
    from fiftyone_videogem.temporal.scorer import list_scorers

    return list_scorers()


def scorer_descriptions() -> dict[str, str]:
    """What the scorer dropdown says of each registered model: what it is, size and weights' licence."""
    from fiftyone_videogem.temporal.scorer import get_scorer_spec

    specs = (get_scorer_spec(name) for name in scorer_names())
    return {s.name: f"{s.description}; {s.parameters} parameters; licence: {s.license}" for s in specs}


def localization_run_key(label_field: str) -> str:
    """The run record :func:`~fiftyone_videogem.localization.localize_actions` keeps for ``label_field``."""
    return "localize_" + "".join(c if c.isalnum() or c == "_" else "_" for c in label_field)


def label_field_problem(samples, label_field: Any, spatial: bool, overwrite: bool,
                        pool_field: Optional[str] = None) -> Optional[str]:
    """Why the form's output field cannot take a localisation (None when it can): a name with dots, the
    pool field itself, or a field that another run or no run wrote (unless "overwrite" is ticked)."""
    from fiftyone_videogem.localization import written_fields

    name = (label_field or "").strip() if isinstance(label_field, str) else ""
    if not name or "." in name:
        return "Enter a field name without dots, e.g. 'found'"
    if pool_field and name == pool_field:
        return f"'{name}' is the field of the phrases; choose another output field"
    try:
        fvr.check_output_fields(samples, localization_run_key(name), written_fields(name, spatial), overwrite)
    except ValueError as e:
        return str(e)
    return None


def _pending(target, label_field: str, overwrite: bool):
    """The videos a localisation processes: those without ``label_field``, or all with ``overwrite``."""
    if not overwrite and target.get_field(label_field) is not None:
        return target.exists(label_field, False)
    return target


def _sampled_per_video(view, fps: float) -> Optional[list[int]]:
    counts, rates = view.values(["metadata.total_frame_count", "metadata.frame_rate"])
    if any(not c or not r for c, r in zip(counts, rates)):
        return None
    return [int(c / r * fps) + 1 for c, r in zip(counts, rates)]


def sampled_frames_estimate(target, fps: float, label_field: str, overwrite: bool) -> Optional[int]:
    """Frames a localisation at ``fps`` would sample in the videos it processes (those without
    ``label_field``, or all with ``overwrite``); None when some video has no frame count or rate."""
    frames = _sampled_per_video(_pending(target, label_field, overwrite), fps)
    return None if frames is None else sum(frames)


def scored_frames_estimate(target, options: dict, label_field: str) -> Optional[int]:
    """(Sampled frame, class) pairs the ``zeal`` scorer would answer its start and end questions for,
    over the videos a localisation processes: each video's sampled frames times its classes (the typed
    phrases or the video's pool, at most ``class_filter``); None when some video has no frame count or rate."""
    from fiftyone_videogem.localization import phrase_pool_path

    view = _pending(target, label_field, options["overwrite"])
    frames = _sampled_per_video(view, options["fps"])
    if frames is None:
        return None
    if options.get("pool_field"):
        pools = view.values(phrase_pool_path(view, options["pool_field"]))
        classes = [len(set(p)) if isinstance(p, list) else int(bool(p)) for p in pools]
    else:
        classes = [len(options["queries"])] * len(frames)
    limit = options.get("class_filter")
    return sum(f * (min(c, limit) if limit else c) for f, c in zip(frames, classes))


def _progress_label(done: int, total: int, failure: Optional[str]) -> str:
    label = f"{done}/{total} videos"
    return label + " (last one failed)" if failure else label


# ---------------------------------------------------------------------------- find actions
class FindActionsInTime(foo.Operator):
    """Find when (and where) actions happen in untrimmed videos; store segments, points and heatmaps."""

    @property
    def config(self):
        return job_operator_config(
            FIND_OPERATOR, "Find actions in time",
            "Find the segments of untrimmed videos where actions happen, and where (points and heatmaps)",
            icon="manage_search",
        )

    def resolve_placement(self, ctx):
        return types.Placement(
            types.Places.SAMPLES_GRID_SECONDARY_ACTIONS,
            types.Button(label="Find actions in time", prompt=True),
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        form = types.View(label="Find actions in time")
        if ctx.dataset is None or not fvf.is_video(ctx.dataset):
            inputs.view("not_video", types.Error(label="Open a video dataset first",
                                                 description="Finding actions in time needs videos"))
            return types.Property(inputs, view=form)
        inputs.view_target(ctx, action_description="Find actions in")
        target = ctx.target_view()
        params = ctx.params
        label_field = (params.get("label_field") or DEFAULT_LABEL_FIELD).strip()

        source = inputs.enum(
            "query_source", ["text", "field"], default="text", label="Phrases",
            view=choices_view(["text", "field"], types.RadioGroup,
                          {"text": "Typed (the same for every video)", "field": "Each video's own, from a field"}),
        )
        pool_field = None
        if params.get("query_source", "text") == "field":
            pools = pool_field_choices(target, exclude=(label_field,))
            if pools:
                pool_field = params.get("pool_field") if params.get("pool_field") in pools else pools[0]
                inputs.enum("pool_field", pools, default=pool_field, required=True, label="Phrase field",
                            description="a list of strings, or a label list whose labels are the phrases",
                            view=choices_view(pools))
            else:
                source.invalid = True
                source.error_message = "No field holds lists of phrases (strings or label lists); type the phrases"
        else:
            inputs.str("queries", required=True, label="Actions",
                       description="separated by commas or new lines, e.g. 'crack eggs, pour milk'",
                       view=types.TextFieldView(multiline=True))

        methods = method_choices()
        inputs.enum("method", methods, default="www", label="Method",
                    view=choices_view(methods, types.RadioGroup, descriptions=METHOD_LABELS))
        if params.get("method") == "zeal" and "zeal" in methods:
            # a string with a dropdown: the registered models are offered, and any other Hugging Face id,
            # local folder or "random-<family>" (random weights, offline) can still be named
            inputs.str("scorer", default=scorer_names()[0], required=True, label="Start/end scorer",
                       description="the vision-language model asked whether each action starts or ends in a frame",
                       view=choices_view(scorer_names(), descriptions=scorer_descriptions()))
            inputs.int("class_filter", min=1, label="Classes per video (optional)",
                       description="ZEAL's class filter: keep the k phrases that best match each video")
        inputs.float("fps", default=1.0, min=0.01, label="Sampled frames per second")
        spatial = bool(params.get("spatial", True))
        inputs.bool("spatial", default=True, label="Ground where (points and heatmaps) inside the segments")

        inputs.str("backbone", default="clip-vit-b-16", required=True, label="Backbone",
                   view=choices_view(backbone_names(), descriptions=backbone_descriptions()))
        add_engine_inputs(inputs)

        overwrite = bool(params.get("overwrite", False))
        prop = inputs.str("label_field", default=DEFAULT_LABEL_FIELD, required=True, label="Output field",
                          description="segments (TemporalDetections); points and heatmaps go to the frame "
                                      "fields <field>_points and <field>_heatmap")
        problem = label_field_problem(target, label_field, spatial, overwrite, pool_field)
        if problem is not None:
            prop.invalid = True
            prop.error_message = problem
        inputs.bool("overwrite", default=False, label="Redo videos that already have segments")
        if ray_available():
            add_ray_inputs(inputs, params)
        if not delegation_available():
            inputs.view("delegation_notice", types.Notice(
                label=DELEGATION_HELP.format(timeout=fo.config.operator_timeout)))
        return types.Property(inputs, view=form)

    def resolve_run_name(self, ctx):
        """What the run is called in the list of scheduled operations: method, field and size."""
        params = ctx.params
        count = target_size(ctx)
        size = f", {count} video(s)" if count is not None else ""
        return (f"Find actions ({params.get('method') or 'www'}) -> "
                f"{(params.get('label_field') or DEFAULT_LABEL_FIELD).strip()}{size}")

    def execute(self, ctx):
        yield from run_reporting_failures(ctx, self._find)

    def _find(self, ctx, delegated: bool):
        from fiftyone_videogem.localization import localize_actions

        params = ctx.params
        target = ctx.target_view()
        options = localize_options(params)
        label_field = options.pop("label_field")
        check_weights_choice(params)
        problem = label_field_problem(target, label_field, options["spatial"], options["overwrite"],
                                      options.get("pool_field"))
        if problem is not None:
            raise OperatorFailure(f"output field '{label_field}': {problem}")
        if params.get("ray", False):
            if not ray_available():
                raise OperatorFailure(RAY_MISSING)
            options.update(executor="ray", **ray_options(params))
        if not delegated:
            check_fits_time_limit(target, params, options, label_field)
        model = _load(params)
        if delegated:
            last = [0.0]

            def report(event):
                now = time.monotonic()
                if event.videos_done == event.videos_total or now - last[0] >= PROGRESS_SECONDS:
                    last[0] = now
                    ctx.set_progress(progress=event.videos_done / max(1, event.videos_total),
                                     label=_progress_label(event.videos_done, event.videos_total, event.failure))

            summary = localize_actions(target, model, label_field, progress=report, **options)
            logger.info("%s", summary)
            return
        yield ctx.trigger("set_progress", dict(progress=0.0, label=f"0/{len(target)} videos"))
        summary = None
        for event in _in_background(lambda report: localize_actions(target, model, label_field, progress=report,
                                                                    **options)):
            if isinstance(event, _Done):
                summary = event.value
                continue
            yield ctx.trigger("set_progress", dict(
                progress=event.videos_done / max(1, event.videos_total),
                label=_progress_label(event.videos_done, event.videos_total, event.failure)))
        yield ctx.trigger("reload_dataset")
        found = target.count(f"{label_field}.detections") if target.get_field(label_field) is not None else 0
        if found:
            yield ctx.ops.set_view(target.to_clips(label_field))
        message = str(summary)
        variant = "success" if found else "info"
        if summary.videos_failed:
            variant = "warning"
            message += f"; see the '{label_field}_error' field"
        if not found:
            message += "; no segment found, so the view is unchanged"
        yield ctx.trigger("notify", dict(message=message, variant=variant))


def _load(params: dict):
    """The form's model; on Ray, a factory with which each worker (and the driver) builds it on its own device."""
    from fiftyone_videogem.model import VideoGEMModelConfig, load_model

    backbone = params.get("backbone") or "clip-vit-b-16"
    if params.get("ray", False):
        from fiftyone_videogem.distributed import ConfigEngine

        return ConfigEngine(VideoGEMModelConfig({**load_options(params), "backbone": backbone}))
    return load_model(backbone, **load_options(params))


def localize_options(params: dict) -> dict:
    """The :func:`~fiftyone_videogem.localization.localize_actions` options from the form (``label_field``
    included), checked: phrases or a phrase field, a positive rate, a scorer for ``"zeal"``."""
    options: dict[str, Any] = dict(label_field=(params.get("label_field") or DEFAULT_LABEL_FIELD).strip())
    if params.get("query_source", "text") == "field":
        if not params.get("pool_field"):
            raise OperatorFailure("choose the field that holds each video's phrases, or type the phrases")
        options["pool_field"] = params["pool_field"]
    else:
        queries = parse_queries(params.get("queries"))
        if not queries:
            raise OperatorFailure("no phrase to look for: type one or more actions (e.g. 'crack eggs, pour milk') "
                                  "or take each video's phrases from a field")
        options["queries"] = queries
    method = params.get("method") or "www"
    if method not in method_choices():
        raise OperatorFailure(f"method '{method}' is not available here; choose one of {', '.join(method_choices())}")
    options["method"] = method
    if method == "zeal":
        if not params.get("scorer"):
            raise OperatorFailure("method 'zeal' needs a start/end scorer; choose one")
        options["scorer"] = params["scorer"].strip()
        if params.get("class_filter"):
            options["class_filter"] = int(params["class_filter"])
    fps = params.get("fps", 1.0)
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise OperatorFailure(f"'Sampled frames per second' must be a positive number, got {fps!r}")
    options["fps"] = float(fps)
    options["spatial"] = bool(params.get("spatial", True))
    options["overwrite"] = bool(params.get("overwrite", False))
    return options


def check_fits_time_limit(target, params: dict, options: dict, label_field: str) -> None:
    """Refuse an immediate localisation that would outlast the App's operator time limit, when the
    videos' metadata gives its size before it starts (embedding every sampled frame, and grounding each
    one when spatial grounding is on; with ``zeal``, the scorer's questions on each sampled frame for
    each class)."""
    frames = sampled_frames_estimate(target, options["fps"], label_field, options["overwrite"])
    if not frames:
        return
    share = EMBED_SHARE + (1.0 if options["spatial"] else 0.0)
    seconds = frames * seconds_per_frame(params) * share
    size = f"{frames} sampled frames"
    if options["method"] == "zeal":
        scored = scored_frames_estimate(target, options, label_field) or 0
        per_scored = GPU_SECONDS_PER_SCORED_FRAME if on_gpu(params) else CPU_SECONDS_PER_SCORED_FRAME
        seconds += scored * per_scored
        size += f", {scored} frame-class pairs for the scorer"
    check_seconds_fit_time_limit(seconds, size)


class _Done:
    """The end of a background call, with its return value."""

    def __init__(self, value):
        self.value = value


def _in_background(call) -> Iterator[Any]:
    """Runs ``call(report)`` in a thread and yields what it reports as it comes, then a :class:`_Done`
    with its return value; an exception of the call is raised here. (An immediate operator reports
    progress by yielding, which a callback cannot do.)"""
    events: queue.Queue = queue.Queue()

    def run():
        try:
            events.put(_Done(call(events.put)))
        except BaseException as e:  # handed to the generator, which raises it
            events.put(e)

    worker = threading.Thread(target=run, name="find-actions-in-time", daemon=True)
    worker.start()
    while True:
        event = events.get()
        if isinstance(event, BaseException):
            worker.join()
            raise event
        yield event
        if isinstance(event, _Done):
            worker.join()
            return


# ------------------------------------------------------------------------------ evaluation
def temporal_fields(collection) -> list[str]:
    """Sample-level ``TemporalDetections`` fields."""
    return sorted(collection.get_field_schema(embedded_doc_type=fol.TemporalDetections) or {})


def frame_fields(collection, label_type: type) -> list[str]:
    """Frame-level fields of ``label_type``, as ``frames.<name>``."""
    schema = collection.get_frame_field_schema(embedded_doc_type=label_type) or {}
    return [fvf.FRAMES_PREFIX + name for name in sorted(schema)]


def free_eval_key(samples, pred_field: Optional[str], gt_field: Optional[str]) -> str:
    """The first of ``st``, ``st2``, ``st3``, ... that names no evaluation and no field of this run."""
    from fiftyone_videogem.evaluation.spatiotemporal import eval_key_problem

    existing = set(samples.list_evaluations())
    n = 1
    while True:
        key = DEFAULT_EVAL_KEY if n == 1 else f"{DEFAULT_EVAL_KEY}{n}"
        if key not in existing and (pred_field is None or gt_field is None
                                    or eval_key_problem(samples, key, pred_field, gt_field) is None):
            return key
        n += 1


def parse_thresholds(text: Any) -> list[float]:
    """IoU thresholds from a typed text (``"0.1, 0.2 0.3"``) or a list."""
    parts = re.split(r"[,\s]+", text.strip()) if isinstance(text, str) else list(text or [])
    try:
        values = [float(p) for p in parts if str(p).strip()]
    except ValueError:
        raise OperatorFailure(f"IoU thresholds must be numbers in (0, 1] separated by commas; got {text!r}")
    if not values or not all(0 < v <= 1 for v in values):
        raise OperatorFailure(f"IoU thresholds must be one or more numbers in (0, 1]; got {text!r}")
    return values


def _localization_fps(samples, pred_field: str) -> Optional[float]:
    """The sampling rate of the localisation that wrote ``pred_field``, if one did."""
    config = fvr.videogem_run_config(samples, localization_run_key(pred_field))
    return float(config["fps"]) if config and config.get("fps") else None


def _pick(params: dict, name: str, choices: list[str], preferred) -> Optional[str]:
    value = params.get(name)
    return value if value in choices else preferred_choice(choices, preferred)


class EvaluateSpatiotemporal(foo.Operator):
    """Score found segments with their points and heatmaps against ground-truth segments and boxes."""

    @property
    def config(self):
        return job_operator_config(
            EVALUATE_OPERATOR, "Evaluate spatio-temporal grounding",
            "IoU+Pointing and video mAP of found segments, points and heatmaps against ground-truth segments "
            "and boxes (GroundingYouTube)",
            icon="analytics",
        )

    def resolve_input(self, ctx):
        from fiftyone_videogem.evaluation.spatiotemporal import DEFAULT_MASK_THRESHOLD, eval_key_problem
        from fiftyone_videogem.localization import spatial_fields
        from fiftyone_videogem.temporal.metrics import GROUNDINGYOUTUBE_THRESHOLDS

        inputs = types.Object()
        form = types.View(label="Evaluate spatio-temporal grounding")
        if ctx.dataset is None or not fvf.is_video(ctx.dataset):
            inputs.view("not_video", types.Error(label="Open a video dataset first"))
            return types.Property(inputs, view=form)
        inputs.view_target(ctx, action_description="Evaluate")
        target = ctx.target_view()
        params = ctx.params
        segments = temporal_fields(target)
        points, heatmaps, boxes = (frame_fields(target, t) for t in (fol.Keypoints, fol.Heatmap, fol.Detections))
        missing = [what for what, found in (("two TemporalDetections fields (found and true segments)",
                                              len(segments) >= 2),
                                             ("a frame-level Keypoints field", points),
                                             ("a frame-level Heatmap field", heatmaps),
                                             ("a frame-level Detections field (true boxes)", boxes)) if not found]
        if missing:
            inputs.view("missing_fields", types.Error(
                label="This dataset lacks " + "; ".join(missing),
                description="Run 'Find actions in time' and import ground truth with segments and boxes first"))
            return types.Property(inputs, view=form)

        pred = _pick(params, "pred_field", segments, (DEFAULT_LABEL_FIELD,))
        inputs.enum("pred_field", segments, default=pred, required=True, label="Found segments",
                    view=choices_view(segments))
        gt_choices = [s for s in segments if s != pred]
        gt = _pick(params, "gt_field", gt_choices, ("segments", "gt_segments", "gt"))
        inputs.enum("gt_field", gt_choices, default=gt, required=True, label="True segments",
                    view=choices_view(gt_choices))
        own_points, own_heatmap = (fvf.FRAMES_PREFIX + name for name in spatial_fields(pred))
        inputs.enum("pred_points_field", points, default=_pick(params, "pred_points_field", points, (own_points,)),
                    required=True, label="Predicted points", view=choices_view(points),
                    description=f"'Find actions in time' writes {own_points}")
        inputs.enum("pred_heatmap_field", heatmaps,
                    default=_pick(params, "pred_heatmap_field", heatmaps, (own_heatmap,)),
                    required=True, label="Predicted heatmaps", view=choices_view(heatmaps))
        inputs.enum("gt_boxes_field", boxes, default=_pick(params, "gt_boxes_field", boxes, ("frames.gt",)),
                    required=True, label="True boxes", view=choices_view(boxes))

        key = params.get("eval_key") or free_eval_key(target, pred, gt)
        prop = inputs.str("eval_key", default=key, required=True, label="Evaluation key",
                          description="names the run and the fields it writes (<key>_iou_pointing, <key>_iou)")
        problem = eval_key_problem(target, key, pred, gt)
        if problem is not None:
            prop.invalid = True
            prop.error_message = problem
        elif key in target.list_evaluations():
            inputs.view("replace_warning", types.Warning(label=f"The spatio-temporal run '{key}' will be replaced"))
        inputs.float("fps", default=_localization_fps(target, pred) or 1.0, min=0.01,
                      label="Sampled frames per second", description="the rate the segments were found at")
        inputs.float("mask_threshold", default=DEFAULT_MASK_THRESHOLD, min=0.0, max=1.0,
                     label="Heatmap threshold", description="least heatmap value (in [0, 1]) inside a tube")
        inputs.str("iou_threshs", default=", ".join(f"{t:g}" for t in GROUNDINGYOUTUBE_THRESHOLDS),
                   label="IoU thresholds", description="of the video mAP, separated by commas")
        inputs.bool("ignore_unboxed", default=False, label="Leave true frames without a box out")
        return types.Property(inputs, view=form)

    def execute(self, ctx):
        yield from run_reporting_failures(ctx, self._evaluate, "Evaluation failed")

    def _evaluate(self, ctx, delegated: bool):
        from fiftyone_videogem.evaluation.spatiotemporal import DEFAULT_MASK_THRESHOLD, evaluate_spatiotemporal
        from fiftyone_videogem.temporal.metrics import GROUNDINGYOUTUBE_THRESHOLDS

        params = ctx.params
        target = ctx.target_view()
        key = (params.get("eval_key") or "").strip() or free_eval_key(target, params.get("pred_field"),
                                                                      params.get("gt_field"))
        if delegated:
            progress = fo.report_progress(
                lambda pb: ctx.set_progress(progress=pb.progress, label="Scoring videos"), dt=PROGRESS_SECONDS)
        else:
            progress = False
            yield ctx.trigger("set_progress", dict(progress=0.0, label="Scoring videos"))
        results = evaluate_spatiotemporal(
            target, params.get("pred_field"), params.get("gt_field"),
            pred_points_field=params.get("pred_points_field"), pred_heatmap_field=params.get("pred_heatmap_field"),
            gt_boxes_field=params.get("gt_boxes_field"), eval_key=key,
            fps=float(params.get("fps") or _localization_fps(target, params.get("pred_field") or "") or 1.0),
            mask_threshold=float(params.get("mask_threshold", DEFAULT_MASK_THRESHOLD)),
            iou_threshs=parse_thresholds(params.get("iou_threshs", GROUNDINGYOUTUBE_THRESHOLDS)),
            ignore_unboxed=bool(params.get("ignore_unboxed", False)), progress=progress,
        )
        message = summary_message(key, results)
        logger.info("%s", message)
        if delegated:
            ctx.set_progress(progress=1.0, label=message)
            return
        yield ctx.trigger("set_progress", dict(progress=1.0, label="Done"))
        yield ctx.trigger("reload_dataset")
        yield ctx.trigger("notify", dict(message=message, variant="warning" if results.notes else "success"))


def summary_message(key: str, results) -> str:
    """One line of a spatio-temporal run's metrics: IoU+Pointing, the video mAP per threshold and mean."""

    def pct(value: float) -> str:
        return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"

    metrics = results.metrics()
    per_threshold = ", ".join(f"@{t:g} {pct(v)}" for t, v in zip(results.config.iou_threshs,
                                                                  [metrics[f"video_map@{t:g}"]
                                                                   for t in results.config.iou_threshs]))
    message = (f"Spatio-temporal run '{key}': IoU+Pointing {pct(metrics['iou_pointing'])}, video mAP "
               f"{pct(metrics['video_map'])} ({per_threshold}); {results.num_predictions} found and "
               f"{results.num_ground_truth} true segments")
    if results.notes:
        message += f"; {len(results.notes)} video(s) left out (see the run's notes)"
    return message
