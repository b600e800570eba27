"""Visual error triage of pointing-game and spatio-temporal runs in the FiftyOne App.

Two plugin components live here; the plugin entry (``__init__.py`` at the plugin root)
registers them:

-   :class:`EvaluatePointingGame` (operator ``evaluate_pointing_game``): a form over
    :func:`fiftyone_videogem.evaluation.evaluate_pointing_game` that also saves the triage
    views of the run (:func:`fiftyone_videogem.evaluation.save_triage_views`) and reports
    the accuracy in a notification.
-   :class:`TriagePanel` (panel ``videogem_triage``): picks one pointing-game run of the
    dataset, shows its overall / per-component and per-class accuracy as Plotly bar charts
    and its worst misses as a table. Every bar is a full-height column (the accuracy in
    colour, the misses in grey), so a class at 0% can be clicked too. Clicking a class bar
    shows that class's missed frames in the App, clicking a component bar shows the frames
    that component missed, and a button shows every miss. A table row's Show opens that miss
    in the sample view on its frame (a one-frame clip of a video).

    The panel also reads spatio-temporal runs
    (:func:`fiftyone_videogem.evaluation.evaluate_spatiotemporal`): for such a run it shows the
    video AP per phrase (at the mean over the run's thresholds or at one of them) and the
    IoU+Pointing per video. Clicking a phrase or a video opens its misses as clips
    (:func:`fiftyone_videogem.evaluation.spatiotemporal.misses_view`): its missed ground-truth
    segments or its false predicted segments, as the panel's "Open" choice says.

The panel only wires state and draws: every number, table row and view it shows comes from
the run's :class:`fiftyone_videogem.evaluation.PointingGameResults` (``per_class``,
``per_component_groups``, ``notes()``, ``worst_misses()``, ``misses_view()``,
``frame_view()``), read in its event handlers (``on_load``, ``on_change_run``, ``refresh``, the
clicks) and kept in the panel state/data; ``render`` only lays the components out.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Optional

from bson import ObjectId

import fiftyone as fo
import fiftyone.core.labels as fol
import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone import ViewField as F

from fiftyone_videogem.evaluation import (
    BOX_MODES,
    METHOD_NAME,
    MISSING_POLICIES,
    PROTOCOLS,
    PointingGameResults,
    SpatiotemporalResults,
    eval_key_problem,
    evaluate_pointing_game,
    save_triage_views,
)
from fiftyone_videogem.evaluation.spatiotemporal import METHOD_NAME as SPATIOTEMPORAL_METHOD
from fiftyone_videogem.evaluation.spatiotemporal import MISS_KINDS, misses_view
from fiftyone_videogem.fields import FRAMES_PREFIX, is_clips_view, is_frame_path, is_video
from fiftyone_videogem.plugin.grounding import job_operator_config

logger = logging.getLogger(__name__)

OPERATOR_NAME = "evaluate_pointing_game"
SPATIOTEMPORAL_OPERATOR_NAME = "evaluate_spatiotemporal"  # the plugin's spatio-temporal evaluation operator
PANEL_NAME = "videogem_triage"
DEFAULT_EVAL_KEY = "pointing"
# preferred defaults of the form, most specific first
# ("videogem" is the default output field of the grounding operator and of run_videogem)
PREFERRED_PRED_FIELDS = ("frames.videogem", "videogem", "frames.vgem_point", "vgem_point")
PREFERRED_GT_FIELDS = ("frames.gt", "gt", "frames.ground_truth", "ground_truth")
OVERALL_BAR = "all frames"
COMPONENT_ORDER = ("action", "verb", "object")
NO_POINT = "no point"
HIT_COLOR = "#4caf50"
MISS_COLOR = "#ff6d04"
REST_COLOR = "#9e9e9e"  # the missed share of a column: mid grey, readable on light and dark themes
TEXT_COLOR = "#212121"
# pixels; the App sizes charts of new panels before their layout settles, so charts have a fixed
# width, one that fits a panel opened next to the grid in a 1280-pixel wide window
CHART_WIDTH = 440
MAX_MEDIA_CHARS = 28
MEAN_THRESHOLD = "mean"  # the AP chart's default: the mean over the run's thresholds
MAX_BARS = 20  # a spatio-temporal chart shows the worst phrases / videos, at most this many
MISS_KIND_LABELS = {"missed": "missed GT segments", "false": "false segments"}


# --------------------------------------------------------------------------------------
# Helpers shared by the operator and the panel
# --------------------------------------------------------------------------------------


def _list_runs(dataset: fo.Dataset, methods: tuple[str, ...]) -> dict[str, str]:
    """Key -> method of the evaluations of ``methods`` on a dataset, oldest first."""
    runs = []
    for key in dataset.list_evaluations():
        try:
            info = dataset.get_evaluation_info(key)
        except Exception as e:  # a run whose config class cannot be imported
            logger.warning("Skipping evaluation '%s' whose config cannot be loaded: %s", key, e)
            continue
        if info.config.method in methods:
            runs.append((info.timestamp is None, info.timestamp, key, info.config.method))
    runs.sort(key=lambda r: (r[0], r[1] or 0, r[2]))
    return {key: method for _, _, key, method in runs}


def list_pointing_game_runs(dataset: fo.Dataset) -> list[str]:
    """Returns the evaluation keys of the pointing-game runs on a dataset, oldest first."""
    return list(_list_runs(dataset, (METHOD_NAME,)))


def list_triage_runs(dataset: fo.Dataset) -> dict[str, str]:
    """Returns key -> method (``"pointing-game"`` or ``"spatiotemporal"``) of the runs the triage
    panel shows, oldest first."""
    return _list_runs(dataset, (METHOD_NAME, SPATIOTEMPORAL_METHOD))


def label_fields(collection, label_type: type) -> list[str]:
    """Returns the sample-level and (on videos) ``frames.``-prefixed frame-level fields of
    ``collection`` that hold labels of ``label_type``."""
    fields = sorted(collection.get_field_schema(embedded_doc_type=label_type))
    if is_video(collection):
        frame_schema = collection.get_frame_field_schema(embedded_doc_type=label_type) or {}
        fields += [FRAMES_PREFIX + name for name in sorted(frame_schema)]
    return fields


def validate_eval_key(
    eval_key: Optional[str],
    samples,
    pred_field: Optional[str] = None,
    gt_field: Optional[str] = None,
) -> Optional[str]:
    """Returns why ``eval_key`` cannot name a new pointing-game run on ``samples``, or None
    when it can (an existing pointing-game run of that key is replaced). With ``pred_field``
    and ``gt_field``, keys whose fields would overlap another evaluation's fields, or fields
    the run did not create, are refused too."""
    return eval_key_problem(samples, eval_key, pred_field=pred_field, gt_field=gt_field)


def _default_choice(choices: list[str], preferred) -> Optional[str]:
    for name in preferred:
        if name in choices:
            return name
    return choices[0] if choices else None


def _same_level(field: Optional[str], choices: list[str]) -> list[str]:
    if field is None:
        return choices
    frame_level = is_frame_path(field)
    return [c for c in choices if is_frame_path(c) == frame_level]


def _next_free_key(dataset: fo.Dataset) -> str:
    existing = set(dataset.list_evaluations())
    if DEFAULT_EVAL_KEY not in existing:
        return DEFAULT_EVAL_KEY
    n = 2
    while "%s%d" % (DEFAULT_EVAL_KEY, n) in existing:
        n += 1
    return "%s%d" % (DEFAULT_EVAL_KEY, n)


def _percent(value: float) -> str:
    return "%.1f%%" % (100.0 * value)


# --------------------------------------------------------------------------------------
# Operator
# --------------------------------------------------------------------------------------


class EvaluatePointingGame(foo.Operator):
    """Runs the pointing game on the dataset, the current view or the selected samples.

    Form parameters: ``pred_field`` (a Keypoints field, ``frames.<name>`` for video
    frames), ``gt_field`` (a Detections field at the same level), ``eval_key``,
    ``box_mode`` (``"any"``/``"union"``), ``protocol`` (``"paper"``/``"normalized"``),
    ``missing`` (``"miss"``/``"skip"``), ``save_views`` (default True) and the usual ``view_target``. The run is stored as a
    pointing-game evaluation under ``eval_key``; the triage views
    ``<eval_key>-misses[-<class>]`` are saved on the dataset.
    """

    @property
    def config(self):
        return job_operator_config(
            OPERATOR_NAME, "Evaluate VideoGEM (pointing game)",
            "Score predicted action points against ground-truth boxes (pointing game) and save views of the misses",
            icon="ads_click",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        form = types.View(label="Evaluate VideoGEM (pointing game)")
        if ctx.dataset is None:
            inputs.view("no_dataset", types.Error(label="Open a dataset first"))
            return types.Property(inputs, view=form)

        target = ctx.target_view()
        pred_choices = label_fields(target, fol.Keypoints)
        gt_all = label_fields(target, fol.Detections)
        if not pred_choices or not gt_all:
            if not pred_choices:
                missing = "Keypoints (predicted points)"
            else:
                missing = "Detections (ground truth)"
            inputs.view(
                "missing_fields",
                types.Error(
                    label="No %s field" % missing,
                    description=(
                        "The pointing game needs a Keypoints field of predicted points and "
                        "a Detections field of ground-truth boxes; run VideoGEM grounding "
                        "or import ground truth first"
                    ),
                ),
            )
            return types.Property(inputs, view=form)

        pred_field = ctx.params.get("pred_field")
        if pred_field not in pred_choices:
            pred_field = _default_choice(pred_choices, PREFERRED_PRED_FIELDS)
        inputs.enum(
            "pred_field",
            pred_choices,
            default=pred_field,
            required=True,
            label="Predicted points",
            description="Keypoints field holding the predicted action points",
            view=types.DropdownView(),
        )

        gt_choices = _same_level(pred_field, gt_all)
        if not gt_choices:
            inputs.view(
                "missing_gt",
                types.Error(
                    label="No Detections field at the level of '%s'" % pred_field,
                    description=(
                        "Frame-level predictions need frame-level ground truth and "
                        "sample-level predictions need sample-level ground truth"
                    ),
                ),
            )
            return types.Property(inputs, view=form)

        gt_field = ctx.params.get("gt_field")
        if gt_field not in gt_choices:
            gt_field = _default_choice(gt_choices, PREFERRED_GT_FIELDS)
        inputs.enum(
            "gt_field",
            gt_choices,
            default=gt_field,
            required=True,
            label="Ground truth",
            description="Detections field holding the ground-truth boxes",
            view=types.DropdownView(),
        )

        eval_key = ctx.params.get("eval_key") or _next_free_key(ctx.dataset)
        key_prop = inputs.str(
            "eval_key",
            default=eval_key,
            required=True,
            label="Evaluation key",
            description="Names the run and the fields it writes (<key>_hit, <key>_distance, ...)",
        )
        problem = validate_eval_key(eval_key, target, pred_field, gt_field)
        if problem is not None:
            key_prop.invalid = True
            key_prop.error_message = problem
        elif eval_key in ctx.dataset.list_evaluations():
            inputs.view(
                "overwrite_warning",
                types.Warning(
                    label="The pointing-game run '%s' will be replaced" % eval_key,
                ),
            )

        box_modes = types.RadioGroup()
        box_modes.add_choice("any", label="any", description="a hit on any box of the frame counts")
        box_modes.add_choice(
            "union", label="union", description="the rectangle enclosing all boxes of the frame"
        )
        inputs.enum("box_mode", list(BOX_MODES), default="any", label="Box mode", view=box_modes)

        protocols = types.RadioGroup()
        protocols.add_choice(
            "paper",
            label="paper",
            description="integer input-frame pixel against rounded boxes (VideoGEM protocol)",
        )
        protocols.add_choice(
            "normalized", label="normalized", description="normalised point against normalised box"
        )
        inputs.enum("protocol", list(PROTOCOLS), default="paper", label="Protocol", view=protocols)

        missing = types.RadioGroup()
        missing.add_choice("miss", label="miss", description="a frame with ground truth but no point is a miss")
        missing.add_choice(
            "skip", label="skip", description="such frames are not evaluated (the paper skips unreadable samples)"
        )
        inputs.enum(
            "missing",
            list(MISSING_POLICIES),
            default="miss",
            label="Frames without a predicted point",
            view=missing,
        )

        inputs.bool(
            "save_views",
            default=True,
            label="Save triage views",
            description="Save '<key>-misses' and '<key>-misses-<class>' views on the dataset",
        )
        inputs.view_target(ctx, action_description="Evaluate")
        return types.Property(inputs, view=form)

    def execute(self, ctx):
        params = ctx.params
        eval_key = params.get("eval_key") or DEFAULT_EVAL_KEY
        target = ctx.target_view()
        if ctx.delegated:
            progress = fo.report_progress(
                lambda pb: ctx.set_progress(progress=pb.progress, label="Scoring points"), dt=2.0
            )
        else:
            progress = False
            yield ctx.trigger("set_progress", dict(progress=0.0, label="Scoring points"))

        results = evaluate_pointing_game(
            target,
            params["pred_field"],
            params["gt_field"],
            eval_key=eval_key,
            box_mode=params.get("box_mode", "any"),
            protocol=params.get("protocol", "paper"),
            missing=params.get("missing", "miss"),
            progress=progress,
        )

        view_names: list[str] = []
        if params.get("save_views", True):
            if not ctx.delegated:
                yield ctx.trigger("set_progress", dict(progress=0.8, label="Saving triage views"))
            view_names = save_triage_views(ctx.dataset, eval_key)

        message = "Pointing game '%s': %d/%d frames hit, accuracy %s" % (
            eval_key,
            results.num_hits,
            results.num_evaluated,
            _percent(results.accuracy),
        )
        if view_names:
            message += "; saved view '%s'" % view_names[0]
        logger.info(message)
        if ctx.delegated:
            ctx.set_progress(progress=1.0, label=message)
        else:
            yield ctx.trigger("set_progress", dict(progress=1.0, label="Done"))
        yield ctx.ops.notify(message, variant="success")
        yield ctx.ops.reload_dataset()


# --------------------------------------------------------------------------------------
# Panel
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class MissRow:
    """One row of the panel's worst-misses table.

    Args:
        rank: 1-based position in the table
        label: the frame's class
        distance: normalised distance of the point to the nearest box, formatted, or
            ``"no point"`` when nothing was predicted
        media: file name of the sample
        frame: frame number, or ``"-"`` for images and frame samples
        sample_id: the sample (video) ID
        frame_id: the evaluated frame's ID (the sample ID for images and frame samples)
        where: the media name, shortened to fit the table, and the frame number
    """

    rank: int
    label: str
    distance: str
    media: str
    frame: str
    sample_id: str
    frame_id: str
    where: str = ""


def shorten(text: str, limit: int = MAX_MEDIA_CHARS) -> str:
    """``text`` cut in the middle to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "\u2026" + text[len(text) - (limit - 1 - head):]


def miss_rows(results: PointingGameResults, limit: int = 10) -> list[MissRow]:
    """The rows of the worst-misses table: :meth:`PointingGameResults.worst_misses`, formatted."""
    rows = []
    for rank, miss in enumerate(results.worst_misses(limit), 1):
        media = (miss.filepath or "").rsplit("/", 1)[-1]
        where = shorten(media)
        if miss.frame_number is not None:
            where += " @ %d" % miss.frame_number
        rows.append(
            MissRow(
                rank=rank,
                label=miss.frame_class,
                distance=NO_POINT if miss.distance is None else "%.3f" % miss.distance,
                media=media,
                frame="-" if miss.frame_number is None else str(miss.frame_number),
                sample_id=miss.sample_id,
                frame_id=miss.frame_id,
                where=where,
            )
        )
    return rows


def sample_showing(view, frame_id: str) -> Optional[str]:
    """The ID of the sample of ``view`` that the App opens to show the evaluated frame
    ``frame_id``: the image or frame sample itself, or a clip holding that frame; None when
    ``view`` has none (a video shows its first frame, not that one)."""
    if view is None:
        return None
    if is_clips_view(view):
        clips = view.match_frames(F("_id") == ObjectId(frame_id))
        ids = clips.values("id")
        return ids[0] if ids else None
    if is_video(view):
        return None
    return frame_id if len(view.select(frame_id)) else None


class TriagePanel(foo.Panel):
    """The "VideoGEM triage" panel (see the module docstring).

    State: ``runs`` (keys of the pointing-game and spatio-temporal runs), ``eval_key`` (the
    selected run), ``method`` (its method), ``summary`` (markdown), ``worst_misses`` (rows of
    :class:`MissRow` as dicts), ``last_view`` (a description of the view last sent to the App);
    for a spatio-temporal run ``thresholds`` (the AP chart's choices), ``threshold`` (the chosen
    one) and ``miss_kind`` (what a click opens, one of ``MISS_KINDS``). Data: ``overall_chart``
    and ``class_chart`` (pointing game), ``ap_chart`` and ``video_chart`` (spatio-temporal), as
    Plotly traces.
    """

    max_rows = 10

    @property
    def config(self):
        return foo.PanelConfig(
            name=PANEL_NAME,
            label="VideoGEM triage",
            help_markdown=(
                "Pointing-game accuracy per class and component, or spatio-temporal AP per "
                "phrase and IoU+Pointing per video. Click a bar to show its misses in the grid."
            ),
            icon="troubleshoot",
            surfaces="grid",
        )

    # -- events ---------------------------------------------------------------------

    def on_load(self, ctx):
        self._load(ctx, ctx.panel.state.eval_key)

    def on_change_dataset(self, ctx):
        self._load(ctx, None)

    def refresh(self, ctx):
        """Re-reads the runs (after a new evaluation) and keeps the selected one."""
        self._load(ctx, ctx.panel.state.eval_key)

    def on_change_run(self, ctx):
        eval_key = ctx.params.get("value") or ctx.panel.state.eval_key
        self._load(ctx, eval_key)

    def on_change_threshold(self, ctx):
        """The AP chart of a spatio-temporal run at another threshold (or the mean)."""
        results = self._current_results(ctx)
        if not isinstance(results, SpatiotemporalResults):
            return
        threshold = ctx.params.get("value")
        if threshold not in threshold_choices(results):
            threshold = MEAN_THRESHOLD
        ctx.panel.state.threshold = threshold
        ctx.panel.data.ap_chart = ap_traces(results, threshold)

    def on_change_miss_kind(self, ctx):
        value = ctx.params.get("value")
        ctx.panel.state.miss_kind = value if value in MISS_KINDS else MISS_KINDS[0]

    def on_click_phrase(self, ctx):
        """A click on a phrase's AP bar: that phrase's misses as clips."""
        label = _clicked(ctx)
        if label:
            self._show_segments(ctx, cls=label, where="of '%s'" % label)

    def on_click_video(self, ctx):
        """A click on a video's IoU+Pointing bar: that video's misses as clips."""
        sample_id = _clicked(ctx)
        if not sample_id:
            return
        name = media_names(ctx.dataset, [sample_id]).get(sample_id, sample_id)
        self._show_segments(ctx, video=sample_id, where="in '%s'" % name)

    def _show_segments(self, ctx, cls: Optional[str] = None, video: Optional[str] = None, where: str = "") -> None:
        results = self._current_results(ctx)
        if not isinstance(results, SpatiotemporalResults):
            return
        state = ctx.panel.state
        kind = state.miss_kind if state.miss_kind in MISS_KINDS else MISS_KINDS[0]
        thresh = miss_threshold(results, state.threshold)
        view = misses_view(ctx.dataset, state.eval_key, cls=cls, video=video, kind=kind, iou_thresh=thresh)
        description = "%d %s %s (tube IoU < %g)" % (len(view), MISS_KIND_LABELS[kind], where, thresh)
        if not len(view):
            state.last_view = "No %s %s (tube IoU < %g) in run '%s'" % (
                MISS_KIND_LABELS[kind], where, thresh, state.eval_key)
            return
        self._show(ctx, view, description)

    def on_click_class(self, ctx):
        """A click on a class bar: show that class's missed frames."""
        label = _clicked(ctx)
        results = self._current_results(ctx)
        if not label or results is None:
            return
        self._show(ctx, results.misses_view(label=label), "misses of '%s'" % label)

    def on_click_overall(self, ctx):
        """A click on the overall/component chart: every miss, or one component's misses."""
        bar = _clicked(ctx)
        results = self._current_results(ctx)
        if not bar or results is None:
            return
        if bar == OVERALL_BAR:
            self._show(ctx, results.misses_view(), "all misses")
            return
        self._show(ctx, results.misses_view(component=bar), "frames where '%s' missed" % bar)

    def show_all_misses(self, ctx):
        results = self._current_results(ctx)
        if results is not None:
            self._show(ctx, results.misses_view(), "all misses")

    def show_miss(self, ctx):
        """A row action of the worst-misses table: open that frame in the sample view (on
        videos a clip of that one frame, which the App opens on it)."""
        rows = ctx.panel.state.worst_misses or []
        row = ctx.params.get("row")
        if row is None or not 0 <= int(row) < len(rows):
            return
        results = self._current_results(ctx)
        if results is None:
            return
        entry = rows[int(row)]
        frame_id = entry["frame_id"]
        description = "miss #%s (%s, %s)" % (entry["rank"], entry["label"], entry.get("where") or entry["media"])
        sample_id = sample_showing(ctx.view, frame_id)
        if sample_id is not None:
            # the App's view holds that frame: open it over the view
            ctx.panel.state.last_view = "Opened %s of run '%s'" % (description, ctx.panel.state.eval_key)
            self._open(ctx, sample_id)
            return
        # the App opens samples of its current view only: set the view of that frame, and open
        # it once the App shows that view (on_change_view)
        ctx.panel.state.pending_frame = frame_id
        self._show(ctx, results.frame_view(frame_id), description)

    def on_change_view(self, ctx):
        """Opens the frame that Show asked for, once the App shows the view holding it."""
        frame_id = ctx.panel.state.pending_frame
        if not frame_id:
            return
        ctx.panel.state.pending_frame = None
        sample_id = sample_showing(ctx.view, frame_id)
        if sample_id is not None:
            self._open(ctx, sample_id)

    def _open(self, ctx, sample_id: str) -> None:
        # the labels shown are the App's active fields, which a grounding run sets to its
        # points, heatmap and ground truth (fiftyone_videogem.app.configure_app); setting them
        # here would replace the user's choice, which the App keeps for the dataset
        ctx.ops.open_sample(id=sample_id)

    def clear_view(self, ctx):
        ctx.ops.clear_view()
        ctx.panel.state.last_view = None

    # -- computation ----------------------------------------------------------------

    def _current_results(self, ctx):
        """The results of the selected run, or None (and a reloaded panel) when it was deleted."""
        eval_key = ctx.panel.state.eval_key
        if eval_key is None:
            return None
        if eval_key in ctx.dataset.list_evaluations():
            return ctx.dataset.load_evaluation_results(eval_key)
        ctx.ops.notify(
            "The evaluation '%s' no longer exists; the panel was reloaded" % eval_key,
            variant="warning",
        )
        self._load(ctx, None)
        return None

    def _show(self, ctx, view, description: str) -> None:
        ctx.ops.set_view(view)
        ctx.panel.state.last_view = "Showing %s of run '%s'" % (
            description,
            ctx.panel.state.eval_key,
        )

    def _load(self, ctx, eval_key: Optional[str]) -> None:
        methods = list_triage_runs(ctx.dataset) if ctx.dataset is not None else {}
        runs = list(methods)
        if eval_key not in methods:
            eval_key = runs[-1] if runs else None
        miss_kind = ctx.panel.state.miss_kind
        state = {
            "runs": runs,
            "eval_key": eval_key,
            "method": methods.get(eval_key),
            "last_view": None,
            "summary": None,
            "worst_misses": [],
            "thresholds": [],
            "threshold": None,
            "miss_kind": miss_kind if miss_kind in MISS_KINDS else MISS_KINDS[0],
        }
        data = {"overall_chart": [], "class_chart": [], "ap_chart": [], "video_chart": []}
        if eval_key is not None and state["method"] == SPATIOTEMPORAL_METHOD:
            results = ctx.dataset.load_evaluation_results(eval_key)
            state["summary"] = spatiotemporal_summary(eval_key, results)
            state["thresholds"] = threshold_choices(results)
            state["threshold"] = MEAN_THRESHOLD
            data["ap_chart"] = ap_traces(results, MEAN_THRESHOLD)
            data["video_chart"] = video_traces(results, media_names(ctx.dataset, list(results.per_video)))
        elif eval_key is not None:
            results = ctx.dataset.load_evaluation_results(eval_key)
            state["summary"] = _summary(eval_key, results)
            state["worst_misses"] = [dataclasses.asdict(r) for r in miss_rows(results, self.max_rows)]
            data["overall_chart"] = _overall_traces(results)
            data["class_chart"] = _class_traces(results)
        ctx.panel.state.set(state)
        ctx.panel.data.set(data)

    # -- layout ---------------------------------------------------------------------

    def render(self, ctx):
        panel = types.Object()
        state = ctx.panel.state
        runs = state.runs or []
        evaluate_uri = "%s/%s" % (self.plugin_name, OPERATOR_NAME)

        if not runs:
            panel.md(
                "### No pointing-game runs yet\n\nScore predicted points against "
                "ground-truth boxes with **Evaluate VideoGEM (pointing game)**, or found "
                "segments against ground-truth segments with **Evaluate spatio-temporal "
                "grounding**, then "
                "come back here.",
                name="empty",
            )
            panel.btn(
                "evaluate",
                label="Evaluate VideoGEM (pointing game)",
                icon="ads_click",
                on_click=evaluate_uri,
                prompt=True,
                variant="contained",
            )
            panel.btn("refresh", label="Refresh", icon="refresh", on_click=self.refresh)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

        panel.enum(
            "eval_key",
            runs,
            default=state.eval_key,
            label="Evaluation run",
            description="pointing-game and spatio-temporal runs of the dataset",
            view=types.DropdownView(),
            on_change=self.on_change_run,
        )
        header = panel.h_stack("header", align_y="center", gap=2)
        header.btn("refresh", label="Refresh", icon="refresh", on_click=self.refresh)
        if state.method == SPATIOTEMPORAL_METHOD:
            evaluate_uri = "%s/%s" % (self.plugin_name, SPATIOTEMPORAL_OPERATOR_NAME)
        header.btn(
            "evaluate", label="New run", icon="ads_click", on_click=evaluate_uri, prompt=True
        )

        if state.summary:
            panel.md(state.summary, name="summary")

        if state.method == SPATIOTEMPORAL_METHOD:
            self._render_spatiotemporal(panel, state)
            return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

        _plot(panel, "overall_chart", "Accuracy (click a bar to see its misses)", "overall / component",
              self.on_click_overall, height=220)
        _plot(panel, "class_chart", "Accuracy per class (click a bar to see its misses)", "class",
              self.on_click_class)

        actions = panel.h_stack("actions", align_y="center", gap=2)
        actions.btn(
            "show_all_misses",
            label="Show all misses",
            icon="visibility",
            on_click=self.show_all_misses,
            variant="contained",
        )
        actions.btn("clear_view", label="Clear view", icon="close", on_click=self.clear_view)
        if state.last_view:
            panel.md("_%s_" % state.last_view, name="last_view")

        # FiftyOne's table has a minimum width of 650 pixels, which would widen the whole panel
        # past a panel next to the grid; the table fits the panel instead
        table = types.TableView(componentsProps={"table": {"sx": {"minWidth": 0}}})
        table.add_column("rank", label="#")
        table.add_column("label", label="Class")
        table.add_column("distance", label="Distance")
        table.add_column("where", label="Media @ frame")
        table.add_row_action("show", self.show_miss, label="Show", icon="visibility")
        panel.list(
            "worst_misses",
            types.Object(),
            view=table,
            label="Worst misses (largest distance to the ground truth)",
        )
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    def _render_spatiotemporal(self, panel, state) -> None:
        thresholds = state.thresholds or [MEAN_THRESHOLD]
        labels = {t: ("mean over the thresholds" if t == MEAN_THRESHOLD else "tube IoU %s" % t) for t in thresholds}
        choices = types.DropdownView()
        for value in thresholds:
            choices.add_choice(value, label=labels[value])
        panel.enum(
            "threshold",
            thresholds,
            default=state.threshold or MEAN_THRESHOLD,
            label="AP at",
            view=choices,
            on_change=self.on_change_threshold,
        )
        kinds = types.RadioGroup(orientation="horizontal")
        for kind in MISS_KINDS:
            kinds.add_choice(kind, label=MISS_KIND_LABELS[kind])
        panel.enum(
            "miss_kind",
            list(MISS_KINDS),
            default=state.miss_kind or MISS_KINDS[0],
            label="A click opens",
            view=kinds,
            on_change=self.on_change_miss_kind,
        )
        _plot(panel, "ap_chart", "Video AP per phrase (click a bar to open its misses as clips)", "phrase",
              self.on_click_phrase, y_title="AP")
        _plot(panel, "video_chart", "IoU+Pointing per video (click a bar to open its misses as clips)", "video",
              self.on_click_video, y_title="IoU+Pointing")
        actions = panel.h_stack("actions", align_y="center", gap=2)
        actions.btn("clear_view", label="Clear view", icon="close", on_click=self.clear_view)
        if state.last_view:
            panel.md("_%s_" % state.last_view, name="last_view")


def _clicked(ctx) -> Optional[str]:
    """The category of a clicked bar: the trace's ``ids`` entry, else its ``x`` value."""
    value = ctx.params.get("id")
    if value is None:
        value = ctx.params.get("x")
    return None if value is None else str(value)


def _summary(eval_key: str, results: PointingGameResults) -> str:
    config = results.config
    lines = [
        "**%s**: %d/%d frames hit, accuracy **%s**"
        % (eval_key, results.num_hits, results.num_evaluated, _percent(results.accuracy)),
        "`%s` vs `%s`, box mode `%s`, protocol `%s`, frames without a point: `%s`"
        % (config.pred_field, config.gt_field, config.box_mode, config.protocol, config.missing),
    ]
    return "\n\n".join(lines + results.notes())


def _bars(
    x: list[str], accuracy: list[float], text: list[str], name: str, ids: Optional[list[str]] = None
) -> list[dict[str, Any]]:
    """Two stacked traces that make one full-height, clickable column per category: the accuracy
    (green from 50%, orange below) and the missed share above it (grey). Both carry the
    category (or ``ids``, one per category) as ``ids``; the label sits in the taller part."""
    common = {"type": "bar", "x": x, "ids": list(ids) if ids is not None else x, "textposition": "inside", "textangle": 0,
              "insidetextanchor": "middle", "insidetextfont": {"color": TEXT_COLOR}, "customdata": text}
    labels = [t.replace(" ", "<br>", 1) for t in text]  # two short lines fit narrow columns
    accuracy_trace = {
        **common,
        "name": name,
        "y": accuracy,
        "text": [t if a >= 0.5 else "" for t, a in zip(labels, accuracy)],
        "hovertemplate": "%{x}: %{customdata}<extra></extra>",
        "marker": {"color": [HIT_COLOR if a >= 0.5 else MISS_COLOR for a in accuracy]},
    }
    missed_trace = {
        **common,
        "name": "missed",
        "y": [1.0 - a for a in accuracy],
        "text": [t if a < 0.5 else "" for t, a in zip(labels, accuracy)],
        "hovertemplate": "%{x}: %{customdata}, click for the misses<extra></extra>",
        "marker": {"color": REST_COLOR},
    }
    return [accuracy_trace, missed_trace]


def _overall_traces(results: PointingGameResults) -> list[dict]:
    x = [OVERALL_BAR]
    y = [results.accuracy]
    text = ["%s (%d/%d)" % (_percent(results.accuracy), results.num_hits, results.num_evaluated)]
    groups = results.per_component_groups
    ordered = [c for c in COMPONENT_ORDER if c in groups]
    ordered += sorted(c for c in groups if c not in COMPONENT_ORDER)
    for component in ordered:
        group = groups[component]
        x.append(component)
        y.append(group.accuracy)
        text.append("%s (%d/%d)" % (_percent(group.accuracy), group.num_hits, group.count))
    return _bars(x, y, text, "overall")


def _class_traces(results: PointingGameResults) -> list[dict]:
    groups = sorted(results.per_class.items(), key=lambda kv: (kv[1].accuracy, kv[0]))
    x = [c for c, _ in groups]
    y = [g.accuracy for _, g in groups]
    text = ["%s (%d/%d)" % (_percent(g.accuracy), g.num_hits, g.count) for _, g in groups]
    return _bars(x, y, text, "per class")


def _plot(panel, name: str, label: str, x_title: str, on_click, height: int = 280, y_title: str = "accuracy") -> None:
    """A clickable bar chart of the panel data ``name``, ``height`` pixels high and of fixed width."""
    panel.plot(
        name,
        label=label,
        layout=_bar_layout(x_title, height=height, y_title=y_title),
        config={"displayModeBar": False},
        on_click=on_click,
        height="%dpx" % (height + 20),
        width="100%",
    )


def _bar_layout(x_title: str, height: int, y_title: str = "accuracy") -> dict[str, Any]:
    return {
        "width": CHART_WIDTH,
        "height": height,
        "xaxis": {"type": "category", "title": {"text": x_title}, "automargin": True, "showgrid": False},
        "yaxis": {"range": [0, 1.0], "title": {"text": y_title}, "tickformat": ".0%"},
        "margin": {"t": 16, "l": 56, "b": 48, "r": 8},
        "bargap": 0.3,
        "barmode": "stack",
        "showlegend": False,
        "uniformtext": {"minsize": 10, "mode": "show"},
    }


# --------------------------------------------------------------------------------------
# Spatio-temporal runs
# --------------------------------------------------------------------------------------


def threshold_choices(results: SpatiotemporalResults) -> list[str]:
    """The AP chart's choices: ``"mean"``, then each tube-IoU threshold of the run (``"0.1"``, ...)."""
    return [MEAN_THRESHOLD] + ["%g" % t for t in results.config.iou_threshs]


def miss_threshold(results: SpatiotemporalResults, threshold: Optional[str]) -> float:
    """The tube-IoU threshold below which a segment is a miss: the chosen one, or for the mean
    the middle threshold of the run."""
    threshs = results.config.iou_threshs
    if threshold not in (None, MEAN_THRESHOLD):
        for t in threshs:
            if "%g" % t == threshold:
                return float(t)
    return float(threshs[len(threshs) // 2])


def class_ap(results: SpatiotemporalResults, threshold: str = MEAN_THRESHOLD) -> dict[str, float]:
    """Phrase -> video AP at a threshold of :func:`threshold_choices` (the mean over the run's
    thresholds for ``"mean"``), for every phrase with ground-truth segments."""
    keys = ["%g" % t for t in results.config.iou_threshs]
    out = {}
    for label, aps in results.classwise_ap.items():
        if threshold in keys:
            out[label] = float(aps[keys.index(threshold)])
        else:
            out[label] = float(sum(aps) / len(aps)) if aps else 0.0
    return out


def ap_traces(results: SpatiotemporalResults, threshold: str = MEAN_THRESHOLD, limit: int = MAX_BARS) -> list[dict]:
    """The AP chart: one column per phrase, the lowest AP first (at most ``limit`` phrases)."""
    ranked = sorted(class_ap(results, threshold).items(), key=lambda kv: (kv[1], kv[0]))[:limit]
    x = [label for label, _ in ranked]
    y = [ap for _, ap in ranked]
    text = ["%s AP" % _percent(ap) for ap in y]
    return _bars(x, y, text, "AP per phrase")


def media_names(dataset, sample_ids: list[str]) -> dict[str, str]:
    """Sample ID -> the file name of the video (IDs no longer in the dataset are left out)."""
    if not sample_ids:
        return {}
    ids, paths = dataset.select(sample_ids).values(["id", "filepath"])
    return {sid: (path or "").rsplit("/", 1)[-1] for sid, path in zip(ids, paths)}


def video_traces(results: SpatiotemporalResults, names: dict[str, str], limit: int = MAX_BARS) -> list[dict]:
    """The IoU+Pointing chart: one column per video with a non-empty union of predicted and
    annotated frames, the lowest first (at most ``limit`` videos); the columns carry the
    sample IDs as ``ids`` and the (shortened, unique) file names as categories."""
    ranked = sorted(
        ((c / u, sid, c, u) for sid, (c, u) in results.per_video.items() if u),
        key=lambda r: (r[0], names.get(r[1], r[1])),
    )[:limit]
    x, seen = [], set()
    for _, sid, _, _ in ranked:
        name = shorten(names.get(sid, sid), 24)
        label, n = name, 2
        while label in seen:  # a category axis merges equal names
            label, n = "%s (%d)" % (name, n), n + 1
        seen.add(label)
        x.append(label)
    y = [r[0] for r in ranked]
    text = ["%s (%d/%d)" % (_percent(v), c, u) for v, _, c, u in ranked]
    return _bars(x, y, text, "IoU+Pointing per video", ids=[r[1] for r in ranked])


def _optional_percent(value: Optional[float]) -> str:
    return "n/a" if value is None or value != value else _percent(value)


def spatiotemporal_summary(eval_key: str, results: SpatiotemporalResults) -> str:
    """The markdown summary of a spatio-temporal run: IoU+Pointing, video mAP per threshold, the
    fields and the notes."""
    config = results.config
    videos = sum(1 for _, u in results.per_video.values() if u)
    per_threshold = ", ".join(
        "%g: %s" % (t, _optional_percent(v)) for t, v in zip(config.iou_threshs, results.map_per_threshold)
    )
    lines = [
        "**%s**: IoU+Pointing **%s** (mean over %d videos, %s pooled), video mAP **%s**"
        % (eval_key, _optional_percent(results.iou_pointing), videos,
           _optional_percent(results.iou_pointing_pooled), _optional_percent(results.video_map)),
        "video mAP at tube IoU %s; %d predicted and %d ground-truth segments"
        % (per_threshold, results.num_predictions, results.num_ground_truth),
        "`%s` vs `%s`, points `%s`, heatmaps `%s` at %g, boxes `%s`, %g fps"
        % (config.pred_field, config.gt_field, config.pred_points_field, config.pred_heatmap_field,
           config.mask_threshold, config.gt_boxes_field, config.fps),
    ]
    return "\n\n".join(lines + list(results.notes))
