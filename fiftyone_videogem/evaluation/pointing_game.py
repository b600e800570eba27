"""The pointing game as a FiftyOne evaluation: predicted action points against ground-truth boxes.

A predicted point is a *hit* when it falls inside a ground-truth box of its frame (borders
included, see :mod:`fiftyone_videogem.evaluation.pointing`); the accuracy is hits divided by the
number of evaluated frames. A frame (video frame, frame of a ``to_frames()`` view, or image) is
evaluated when it has at least one valid ground-truth box. Frames with ground truth but no
predicted point count as misses (``missing="miss"``, the default) or are left out like the
paper's unreadable samples (``missing="skip"``); their number is reported either way. Boxes that
cannot be scored (non-finite, zero or negative area, outside the frame) are counted, reported and
ignored, the same way in both protocols.

The run is stored as a FiftyOne evaluation of type ``"pointing"`` and method
``"pointing-game"``, so ``list_evaluations()``, ``load_evaluation_results()``,
``rename_evaluation()`` and ``delete_evaluation()`` work with it. Its results are
detection-style (a hit is a true positive, a miss a false negative), but its type keeps it out
of FiftyOne's Model Evaluation panel, whose false positives, "confidence" and TP/FP/FN views
have no meaning for a pointing game: that panel lists the run as an unsupported type; the
VideoGEM triage panel shows it. Per evaluated frame the run writes:

-   ``<eval_key>_hit`` (bool): whether the final point hit
-   ``<eval_key>_<component>_hit`` (bool): the same for each decomposition component
    (``action``, ``verb``, ``object``) present in the predictions
-   ``<eval_key>_distance`` (float): normalised distance of the final point to the nearest
    box edge, ``0`` for hits and ``None`` when the frame has no predicted point
-   the attribute ``<eval_key>`` = ``"hit"`` / ``"miss"`` on the evaluated keypoint
-   on video samples (frame-level runs only): ``<eval_key>_num_hits`` and
    ``<eval_key>_num_misses``

Nothing is written until every frame has been scored, and the new fields are written under
temporary names first: a run that fails leaves an earlier evaluation of the same key, its fields
and its results as they were. Keys whose fields would overlap the fields of another evaluation
(``pg`` writes ``pg_action_hit``, which a key ``pg_action`` would also write) or fields the run did
not create are refused before anything is computed.

Example::

    import fiftyone as fo
    from fiftyone_videogem.evaluation import evaluate_pointing_game, save_triage_views

    results = evaluate_pointing_game(dataset, "frames.vgem_point", "frames.gt", eval_key="pg")
    results.print_report()
    session = fo.launch_app(results.misses_view())
    save_triage_views(dataset, "pg")
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import uuid
from typing import Any, Iterable, Optional, Sequence

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou
import fiftyone.core.validation as fova
import fiftyone.utils.eval.detection as foud
from fiftyone import ViewField as F

from ..fields import (
    FRAMES_PREFIX,
    document_type,
    is_frame_path,
    is_frames_view,
    resolve_field,
    root_dataset,
    strip_frames,
)
from ..runs import delete_fields
from .pointing import (
    BOX_MODES,
    FINAL_COMPONENT,
    MISSING_POLICIES,
    PROTOCOLS,
    FrameOutcome,
    GroundTruthBox,
    GroupAccuracy,
    PredictedPoint,
    box_problem,
    check_choice,
    component_key,
    score_frame,
)

logger = logging.getLogger(__name__)

# FiftyOne stores the class paths of a run's config and results in the database and imports
# them when the run is loaded; they are pinned to the public package path, which does not
# change when the modules inside the package move
PUBLIC_MODULE = "fiftyone_videogem.evaluation"
METHOD_NAME = "pointing-game"
# the evaluation type: not "detection", which FiftyOne's Model Evaluation panel would show with
# detection metrics (false positives, confidence, TP/FP/FN views) that a pointing game lacks
EVALUATION_TYPE = "pointing"
# keypoint attributes the run must not overwrite with its "hit"/"miss" attribute
RESERVED_EVAL_KEYS = frozenset(
    ["id", "tags", "label", "points", "confidence", "index", "attributes"]
    + ["component", "prompt", "input_point", "input_size", "heat", "score"]
)
HIT = "hit"
MISS = "miss"
KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------------------
# Reading labels
# --------------------------------------------------------------------------------------


def _attribute(label: fol.Label, name: str, default=None):
    try:
        value = label[name]
    except (KeyError, AttributeError):
        return default
    return default if value is None else value


def _parse_keypoint(keypoint: fol.Keypoint) -> Optional[PredictedPoint]:
    points = keypoint.points or []
    if not points or points[0] is None or len(points[0]) < 2:
        return None
    x, y = points[0][0], points[0][1]
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None

    confidence = _attribute(keypoint, "heat")
    if confidence is None and keypoint.confidence:
        confidence = keypoint.confidence[0]
    try:
        confidence = None if confidence is None else float(confidence)
    except (TypeError, ValueError):
        confidence = None
    if confidence is not None and not math.isfinite(confidence):
        confidence = None

    return PredictedPoint(
        xy=(x, y),
        label=keypoint.label,
        component=_attribute(keypoint, "component"),
        input_point=_attribute(keypoint, "input_point"),
        input_size=_attribute(keypoint, "input_size"),
        confidence=confidence,
        id=keypoint.id,
    )


def predicted_points(prediction: Optional[fol.Keypoints]) -> list[PredictedPoint]:
    keypoints = getattr(prediction, "keypoints", None) or []
    return [p for p in map(_parse_keypoint, keypoints) if p is not None]


def _ground_truth_boxes(ground_truth: Optional[fol.Detections]) -> tuple[list[GroundTruthBox], int]:
    """The scorable boxes of a frame and the number of boxes that cannot be scored."""
    detections = getattr(ground_truth, "detections", None) or []
    boxes = []
    for d in detections:
        if d.bounding_box is not None and box_problem(d.bounding_box) is None:
            boxes.append(GroundTruthBox(box=list(d.bounding_box), label=d.label, id=d.id))
    return boxes, len(detections) - len(boxes)


@dataclasses.dataclass(frozen=True)
class _DocumentScore:
    """How one frame or image fared: ``outcome`` is None when it is not evaluated."""

    outcome: Optional[FrameOutcome]
    num_invalid_boxes: int = 0
    without_prediction: bool = False

    @property
    def only_invalid_boxes(self) -> bool:
        return self.outcome is None and self.num_invalid_boxes > 0 and not self.without_prediction


def _score_document(prediction, ground_truth, config: "PointingGameEvaluationConfig") -> _DocumentScore:
    boxes, num_invalid = _ground_truth_boxes(ground_truth)
    outcome = score_frame(
        boxes,
        predicted_points(prediction),
        box_mode=config.box_mode,
        protocol=config.protocol,
        use_components=config.components,
    )
    if outcome is None:
        return _DocumentScore(None, num_invalid)
    without_prediction = outcome.final is None
    if without_prediction and config.missing == "skip":
        return _DocumentScore(None, num_invalid, without_prediction=True)
    return _DocumentScore(outcome, num_invalid, without_prediction=without_prediction)


def _matches(outcome: FrameOutcome) -> list[tuple]:
    """Detection-style matches of one frame: a hit is a true positive; a miss is a false
    negative, plus a false positive when a point was predicted."""
    final = outcome.final
    confidence = final.confidence if final is not None else None
    pred_id = final.id if final is not None else None
    if outcome.hit:
        return [(outcome.frame_class, outcome.frame_class, None, confidence, outcome.gt_id, pred_id)]
    out = [(outcome.frame_class, None, None, None, outcome.gt_id, None)]
    if final is not None:
        out.append((None, outcome.frame_class, None, confidence, None, pred_id))
    return out


# --------------------------------------------------------------------------------------
# FiftyOne evaluation classes
# --------------------------------------------------------------------------------------


class PointingGameEvaluationConfig(foud.DetectionEvaluationConfig):
    """Configuration of a pointing-game evaluation.

    Args:
        pred_field: the predicted :class:`fiftyone.core.labels.Keypoints` field
            (``"frames.<name>"`` for frame-level fields of video collections)
        gt_field: the ground-truth :class:`fiftyone.core.labels.Detections` field
        box_mode ("any"): ``"any"`` or ``"union"``
        protocol ("paper"): ``"paper"`` or ``"normalized"``
        missing ("miss"): what a frame with ground truth but no predicted point counts as:
            ``"miss"`` or ``"skip"`` (not evaluated)
        components (True): whether to score the ``action``/``verb``/``object`` points too
        frame_fields (False): whether the written fields live on the frames of the root
            video dataset (frame-level runs and runs on ``to_frames()`` views)
        component_names (None): the component field keys written by the run
        iou (None): unused, kept for compatibility with detection evaluations
        classwise (None): unused, kept for compatibility with detection evaluations
        custom_metrics (None): optional custom metrics (see FiftyOne's evaluation docs)
    """

    __module__ = PUBLIC_MODULE

    def __init__(
        self,
        pred_field,
        gt_field,
        box_mode="any",
        protocol="paper",
        missing="miss",
        components=True,
        frame_fields=False,
        component_names=None,
        iou=None,
        classwise=None,
        custom_metrics=None,
        **kwargs,
    ):
        super().__init__(
            pred_field,
            gt_field,
            iou=iou,
            classwise=classwise,
            custom_metrics=custom_metrics,
            **kwargs,
        )
        check_choice("box_mode", box_mode, BOX_MODES)
        check_choice("protocol", protocol, PROTOCOLS)
        check_choice("missing", missing, MISSING_POLICIES)
        self.box_mode = box_mode
        self.protocol = protocol
        self.missing = missing
        self.components = bool(components)
        self.frame_fields = bool(frame_fields)
        self.component_names = list(component_names or [])

    @property
    def type(self):
        return EVALUATION_TYPE

    @property
    def method(self):
        return METHOD_NAME


class PointingGameEvaluation(foud.DetectionEvaluation):
    """Pointing-game evaluation method (see :func:`evaluate_pointing_game`).

    Args:
        config: a :class:`PointingGameEvaluationConfig`
    """

    __module__ = PUBLIC_MODULE

    def evaluate(self, doc, eval_key=None):
        """Scores one frame or sample document.

        Returns detection-style ``(gt_label, pred_label, iou, confidence, gt_id, pred_id)``
        matches: one true positive for a hit; a false negative (plus a false positive when a
        point was predicted) for a miss; nothing for a document that is not evaluated.
        """
        pred = doc[strip_frames(self.config.pred_field)]
        gt = doc[strip_frames(self.config.gt_field)]
        outcome = _score_document(pred, gt, self.config).outcome
        return [] if outcome is None else _matches(outcome)

    def generate_results(self, samples, matches, eval_key=None, classes=None, missing=None, progress=None):
        return PointingGameResults(
            samples, self.config, eval_key, matches, classes=classes, missing=missing, backend=self
        )

    def get_fields(self, samples, eval_key, include_custom_metrics=True):
        """Returns the fields written by the run, as paths of the root dataset."""
        fields = _run_fields(self.config, eval_key)
        if include_custom_metrics:
            fields += self.get_custom_metric_fields(samples, eval_key)
        return fields

    def rename(self, samples, eval_key, new_eval_key):
        dataset = root_dataset(samples)
        _rename_fields(dataset, self.config, eval_key, new_eval_key)
        self.rename_custom_metrics(samples, eval_key, new_eval_key)
        _rename_sidebar_group(dataset, eval_key, new_eval_key)

    def cleanup(self, samples, eval_key):
        dataset = root_dataset(samples)
        delete_fields(dataset, _run_fields(self.config, eval_key))
        self.cleanup_custom_metrics(samples, eval_key)
        _delete_empty_sidebar_group(dataset, eval_key)

    def _validate_run(self, samples, eval_key, existing_info):
        # FiftyOne's hook for checks when a run of the same key exists (see BaseRun.validate_run)
        super()._validate_run(samples, eval_key, existing_info)
        self._validate_fields_match(eval_key, "frame_fields", existing_info)


def _root_pred_path(config: PointingGameEvaluationConfig) -> str:
    """The predicted field as a path of the root dataset."""
    pred = config.pred_field
    if config.frame_fields and not is_frame_path(pred):
        return FRAMES_PREFIX + pred
    return pred


def _document_fields(config: PointingGameEvaluationConfig, eval_key: str) -> dict[str, type]:
    """Name -> field type of the fields written on each evaluated frame or image."""
    fields = {"%s_hit" % eval_key: fof.BooleanField, "%s_distance" % eval_key: fof.FloatField}
    for component in config.component_names:
        fields["%s_%s_hit" % (eval_key, component)] = fof.BooleanField
    return fields


def _summary_fields(config: PointingGameEvaluationConfig, eval_key: str) -> list[str]:
    """The per-video counts of frame-level runs."""
    if is_frame_path(config.pred_field):
        return ["%s_num_hits" % eval_key, "%s_num_misses" % eval_key]
    return []


def _label_attribute(config: PointingGameEvaluationConfig, eval_key: str) -> str:
    return "%s.keypoints.%s" % (_root_pred_path(config), eval_key)


def _run_fields(config: PointingGameEvaluationConfig, eval_key: str) -> list[str]:
    """Every field the run writes, as paths of the root dataset."""
    prefix = FRAMES_PREFIX if config.frame_fields else ""
    fields = [prefix + name for name in _document_fields(config, eval_key)]
    fields.append(_label_attribute(config, eval_key))
    return fields + _summary_fields(config, eval_key)


def _rename_fields(dataset: fo.Dataset, config, eval_key: str, new_eval_key: str) -> None:
    mapping = dict(zip(_run_fields(config, eval_key), _run_fields(config, new_eval_key)))
    mapping = {old: new for old, new in mapping.items() if dataset.get_field(old) is not None}
    sample_fields, frame_fields = fou.split_frame_fields(mapping)
    if sample_fields:
        dataset.rename_sample_fields(sample_fields)
    if frame_fields:
        dataset.rename_frame_fields(frame_fields)


def _rename_sidebar_group(dataset: fo.Dataset, name: str, new_name: str) -> None:
    groups = dataset.app_config.sidebar_groups
    if not groups or not any(g.name == name for g in groups):
        return
    target = next((g for g in groups if g.name == new_name), None)
    kept = []
    for group in groups:
        if group.name == name and target is not None:
            target.paths.extend(p for p in group.paths if p not in target.paths)
            continue
        if group.name == name:
            group.name = new_name
        kept.append(group)
    dataset.app_config.sidebar_groups = kept
    dataset.save()


def _delete_empty_sidebar_group(dataset: fo.Dataset, name: str) -> None:
    groups = dataset.app_config.sidebar_groups
    if groups and any(g.name == name and not g.paths for g in groups):
        dataset.app_config.sidebar_groups = [g for g in groups if g.name != name or g.paths]
        dataset.save()


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EvaluatedFrame:
    """One evaluated frame (or image) of a run, as :meth:`PointingGameResults.worst_misses`
    lists them.

    Args:
        frame_class: the frame's class
        hit: whether the final point hit
        distance: normalised distance of the point to the nearest box (None: no point)
        sample_id: the sample (video) ID
        frame_id: the frame's ID (the sample ID for images and frame samples)
        frame_number: the frame number (None for images)
        filepath: the media of the sample (the video for frames)
    """

    frame_class: str
    hit: bool
    distance: Optional[float]
    sample_id: str
    frame_id: str
    frame_number: Optional[int]
    filepath: Optional[str]


class PointingGameResults(foud.DetectionResults):
    """Results of a pointing-game evaluation.

    Besides the detection-style matches that FiftyOne's Model Evaluation panel reads (a hit
    is a true positive; a miss is a false negative, plus a false positive when a point was
    predicted, so ``recall`` equals the pointing accuracy), it keeps one record per
    evaluated frame (or image): its ID, the video sample ID, the frame number, its class,
    the hit, the distance and the component hits.

    Args:
        samples: the evaluated collection
        config: the :class:`PointingGameEvaluationConfig`
        eval_key: the evaluation key
        matches: detection-style matches (see :meth:`PointingGameEvaluation.evaluate`)
        frame_ids (None): IDs of the evaluated frames (sample IDs for images and frame views)
        sample_ids (None): IDs of the samples holding them (video IDs for frames)
        frame_numbers (None): frame numbers (None for images)
        frame_classes (None): class of each evaluated frame (label of its first box)
        hits (None): whether each final point hit
        distances (None): normalised distances (None where no point was predicted)
        component_hits (None): component key -> per-frame hits
        num_protocol_fallbacks (0): points scored in normalised coordinates because the
            ``"paper"`` protocol lacked ``input_point``/``input_size``
        num_without_prediction (None): frames with ground truth but no predicted point
            (misses or left out, see ``config.missing``); None counts the evaluated frames
            without a distance
        num_invalid_boxes (0): ground-truth boxes that could not be scored and were ignored
        num_invalid_frames (0): frames not evaluated because none of their boxes could be
            scored
        classes (None): the list of classes
        missing (None): the label FiftyOne uses for unmatched entries
        custom_metrics (None): custom metrics
        backend (None): a :class:`PointingGameEvaluation`
    """

    __module__ = PUBLIC_MODULE

    def __init__(
        self,
        samples,
        config,
        eval_key,
        matches,
        frame_ids=None,
        sample_ids=None,
        frame_numbers=None,
        frame_classes=None,
        hits=None,
        distances=None,
        component_hits=None,
        num_protocol_fallbacks=0,
        num_without_prediction=None,
        num_invalid_boxes=0,
        num_invalid_frames=0,
        classes=None,
        missing=None,
        custom_metrics=None,
        backend=None,
    ):
        super().__init__(
            samples,
            config,
            eval_key,
            matches,
            classes=classes,
            missing=missing,
            custom_metrics=custom_metrics,
            backend=backend,
        )
        self.frame_ids = list(frame_ids or [])
        self.sample_ids = list(sample_ids or [])
        self.frame_numbers = list(frame_numbers or [])
        self.frame_classes = list(frame_classes or [])
        self.hits = [bool(h) for h in (hits or [])]
        self.distances = list(distances or [])
        self.component_hits = {k: [bool(h) for h in v] for k, v in (component_hits or {}).items()}
        self.num_protocol_fallbacks = int(num_protocol_fallbacks)
        if num_without_prediction is None:  # runs saved before the count was stored
            num_without_prediction = sum(1 for d in self.distances if d is None)
        self.num_without_prediction = int(num_without_prediction)
        self.num_invalid_boxes = int(num_invalid_boxes)
        self.num_invalid_frames = int(num_invalid_frames)

    # -- numbers --------------------------------------------------------------------

    @property
    def num_evaluated(self) -> int:
        """Number of evaluated frames."""
        return len(self.hits)

    @property
    def num_hits(self) -> int:
        """Number of frames whose final point hit."""
        return int(sum(self.hits))

    @property
    def num_misses(self) -> int:
        """Number of evaluated frames whose final point missed (or that had none)."""
        return self.num_evaluated - self.num_hits

    @property
    def num_skipped(self) -> int:
        """Frames with ground truth that were not evaluated: no valid box, or no predicted
        point with ``missing="skip"``."""
        skipped_without_point = self.num_without_prediction if self._skips_missing else 0
        return self.num_invalid_frames + skipped_without_point

    @property
    def _skips_missing(self) -> bool:
        return getattr(self.config, "missing", "miss") == "skip"

    @property
    def accuracy(self) -> float:
        """Pointing accuracy: hits / evaluated frames (0 when nothing was evaluated)."""
        return self.num_hits / self.num_evaluated if self.num_evaluated else 0.0

    @property
    def per_class(self) -> dict[str, GroupAccuracy]:
        """Class -> :class:`GroupAccuracy`, sorted by class name."""
        counts: dict[str, list[int]] = {}
        for frame_class, hit in zip(self.frame_classes, self.hits):
            entry = counts.setdefault(frame_class, [0, 0])
            entry[0] += int(hit)
            entry[1] += 1
        return {c: GroupAccuracy(accuracy=h / n, num_hits=h, count=n) for c, (h, n) in sorted(counts.items())}

    @property
    def per_component_groups(self) -> dict[str, GroupAccuracy]:
        """Component -> :class:`GroupAccuracy` over all evaluated frames (a frame without that
        component's point counts as a miss)."""
        n = self.num_evaluated
        return {
            c: GroupAccuracy(accuracy=sum(h) / n if n else 0.0, num_hits=sum(h), count=n)
            for c, h in self.component_hits.items()
        }

    @property
    def per_component(self) -> dict[str, float]:
        """Component (``action``, ``verb``, ``object``, ...) -> accuracy over all evaluated
        frames (a frame without that component's point counts as a miss)."""
        return {c: g.accuracy for c, g in self.per_component_groups.items()}

    def metrics(self, classes=None, average="micro", beta=1.0) -> dict:
        """Returns the metrics of the run.

        ``accuracy`` is the pointing accuracy (computed from the matches, so it honours
        :meth:`use_subset`); ``precision``/``recall``/``fscore``/``support`` are the
        detection-style numbers the Model Evaluation panel shows; ``num_evaluated``,
        ``num_hits``, ``num_without_prediction``, ``num_invalid_boxes``,
        ``num_invalid_frames`` and ``<component>_accuracy`` follow.
        """
        metrics = super().metrics(classes=classes, average=average, beta=beta)
        evaluated = self.ytrue != self.missing
        num_evaluated = int(np.count_nonzero(evaluated))
        num_hits = int(np.count_nonzero(evaluated & (self.ytrue == self.ypred)))
        metrics["accuracy"] = num_hits / num_evaluated if num_evaluated else 0.0
        metrics["num_evaluated"] = num_evaluated
        metrics["num_hits"] = num_hits
        if not self.has_subset:
            metrics["num_without_prediction"] = self.num_without_prediction
            metrics["num_invalid_boxes"] = self.num_invalid_boxes
            metrics["num_invalid_frames"] = self.num_invalid_frames
            for component, accuracy in self.per_component.items():
                metrics["%s_accuracy" % component] = accuracy
        return metrics

    def notes(self) -> list[str]:
        """One sentence per frame count the numbers leave out or count specially (frames
        without a predicted point, ground truth that could not be scored)."""
        notes = []
        if self.num_without_prediction:
            if self._skips_missing:
                notes.append(
                    "%d frame(s) with ground truth but no predicted point were not evaluated "
                    "(missing='skip')" % self.num_without_prediction
                )
            else:
                notes.append(
                    "%d evaluated frame(s) had no predicted point and count as misses "
                    "(missing='skip' leaves them out)" % self.num_without_prediction
                )
        if self.num_invalid_boxes:
            notes.append(
                "%d ground-truth box(es) could not be scored (non-finite, zero or negative area, "
                "or outside the frame) and were ignored; %d frame(s) had no other box and were "
                "not evaluated" % (self.num_invalid_boxes, self.num_invalid_frames)
            )
        if self.num_protocol_fallbacks:
            notes.append(
                "%d point(s) had no input_point/input_size and were compared in normalised "
                "coordinates" % self.num_protocol_fallbacks
            )
        return notes

    def report_str(self, digits: int = 3) -> str:
        """Returns the per-class / per-component table and the :meth:`notes` as text."""
        rows = [(c, g.count, g.num_hits, g.accuracy) for c, g in self.per_class.items()]
        rows.append(("overall", self.num_evaluated, self.num_hits, self.accuracy))
        lines = format_table(["class", "frames", "hits", "accuracy"], rows, digits)
        if self.component_hits:
            lines.append("")
            comp_rows = [(c, g.count, g.num_hits, g.accuracy) for c, g in self.per_component_groups.items()]
            lines += format_table(["component", "frames", "hits", "accuracy"], comp_rows, digits)
        notes = self.notes()
        if notes:
            lines.append("")
            lines += notes
        return "\n".join(lines)

    def print_report(self, classes=None, digits: int = 3) -> None:
        """Prints :meth:`report_str` (``classes`` is accepted for API compatibility)."""
        print(self.report_str(digits=digits))

    # -- views ----------------------------------------------------------------------

    def misses_view(self, samples=None, label: Optional[str] = None, component: Optional[str] = None):
        """Returns a view of the missed frames.

        On video collections the result keeps only videos with a miss and only their missed
        frames; on images / frame views the missed samples are sorted by distance, worst
        first (frames without a prediction last).

        Args:
            samples (None): the collection to filter (defaults to the evaluated view)
            label (None): only frames whose ground truth contains a box of this class
            component (None): the frames whose ``component`` point (``"action"``, ``"verb"``,
                ``"object"``) missed, instead of the frames whose final point missed
        """
        return _outcome_view(self, samples, False, label, component)

    def hits_view(self, samples=None, label: Optional[str] = None, component: Optional[str] = None):
        """Returns a view of the frames whose final (or ``component``) point hit (see
        :meth:`misses_view`)."""
        return _outcome_view(self, samples, True, label, component)

    def frame_view(self, frame_id: str, samples=None):
        """Returns the view of one evaluated frame: a clips view holding one clip, that frame of
        its video (the App opens a clip on its first frame), or the image / frame sample.

        Args:
            frame_id: the frame's ID (the sample ID for images and frame samples), as in
                :attr:`frame_ids`
            samples (None): the collection to select from (defaults to the evaluated view)
        """
        try:
            index = self.frame_ids.index(frame_id)
        except ValueError:
            raise ValueError("Frame '%s' was not evaluated by this run" % frame_id) from None
        samples = self.samples if samples is None else samples
        if is_frame_path(self.config.pred_field):
            frame_number = self.frame_numbers[index]
            # lists, not tuples: the stage's JSON form then equals the stage, and the App, which
            # rebuilds the view from JSON, reuses its clip instead of making a new one
            return samples.select(self.sample_ids[index]).to_clips([[[frame_number, frame_number]]])
        return samples.select(frame_id)

    def worst_misses(self, limit: Optional[int] = 10) -> list[EvaluatedFrame]:
        """Returns the misses farthest from their ground truth first, frames without a
        predicted point last.

        Args:
            limit (10): the maximum number of misses to return (None: all)
        """
        misses = [i for i, hit in enumerate(self.hits) if not hit]
        misses.sort(
            key=lambda i: (self.distances[i] is None, -(self.distances[i] or 0.0), self.frame_classes[i])
        )
        misses = misses[:limit] if limit is not None else misses
        paths = _filepaths(root_dataset(self.samples), [self.sample_ids[i] for i in misses])
        return [
            EvaluatedFrame(
                frame_class=self.frame_classes[i],
                hit=False,
                distance=self.distances[i],
                sample_id=self.sample_ids[i],
                frame_id=self.frame_ids[i],
                frame_number=self.frame_numbers[i] if i < len(self.frame_numbers) else None,
                filepath=paths.get(self.sample_ids[i]),
            )
            for i in misses
        ]

    # -- serialisation --------------------------------------------------------------

    @classmethod
    def _from_dict(cls, d, samples, config, eval_key, **kwargs):
        # FiftyOne's hook for building results from their stored form (BaseRunResults.from_dict)
        ytrue = d.get("ytrue", [])
        n = len(ytrue)

        def column(name):
            value = d.get(name)
            return value if value is not None else [None] * n

        matches = list(
            zip(ytrue, column("ypred"), column("ious"), column("confs"), column("ytrue_ids"), column("ypred_ids"))
        )
        return cls(
            samples,
            config,
            eval_key,
            matches,
            frame_ids=d.get("frame_ids"),
            sample_ids=d.get("sample_ids"),
            frame_numbers=d.get("frame_numbers"),
            frame_classes=d.get("frame_classes"),
            hits=d.get("hits"),
            distances=d.get("distances"),
            component_hits=d.get("component_hits"),
            num_protocol_fallbacks=d.get("num_protocol_fallbacks", 0),
            num_without_prediction=d.get("num_without_prediction"),
            num_invalid_boxes=d.get("num_invalid_boxes", 0),
            num_invalid_frames=d.get("num_invalid_frames", 0),
            classes=d.get("classes"),
            missing=d.get("missing"),
            custom_metrics=d.get("custom_metrics"),
            **kwargs,
        )


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int) -> list[str]:
    """Lines of a plain-text table: the first column left-aligned, the others right-aligned,
    floats with ``digits`` decimals, None as ``-``."""

    def fmt(v):
        if isinstance(v, float):
            return "%.*f" % (digits, v)
        return "-" if v is None else str(v)

    cells = [list(map(str, header))] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for i, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _filepaths(dataset: fo.Dataset, sample_ids: list[str]) -> dict[str, str]:
    if not sample_ids:
        return {}
    ids, paths = dataset.select(sample_ids).values(["id", "filepath"])
    return dict(zip(ids, paths))


def outcome_field(samples, eval_key: str, suffix: str = "hit") -> tuple[str, bool]:
    """Returns the name of the field ``<eval_key>_<suffix>`` on ``samples`` and whether it is
    a frame field.

    Raises:
        ValueError: the collection has no such field
    """
    name = "%s_%s" % (eval_key, suffix)
    if samples.has_frame_field(name):
        return name, True
    if samples.has_field(name):
        return name, False
    raise ValueError(
        "The collection has no field '%s' (nor 'frames.%s'); run "
        "evaluate_pointing_game(..., eval_key=%r) on it first" % (name, name, eval_key)
    )


def _outcome_view(results: PointingGameResults, samples, hit: bool, label, component):
    if results.key is None:
        raise ValueError(
            "These results were computed with eval_key=None, so nothing was stored on the "
            "samples; re-run evaluate_pointing_game() with an eval_key to build views"
        )
    suffix = "hit"
    if component is not None:
        if component not in results.component_hits:
            raise ValueError(
                "Run '%s' has no component '%s'; it has %s"
                % (results.key, component, sorted(results.component_hits) or "none")
            )
        suffix = "%s_hit" % component
    samples = results.samples if samples is None else samples
    name, is_frames = outcome_field(samples, results.key, suffix)
    expr = F(name) == hit
    if label is not None:
        gt = strip_frames(results.config.gt_field)
        expr = expr & (F(gt + ".detections").filter(F("label") == label).length() > 0)
    if is_frames:
        return samples.match_frames(expr)
    view = samples.match(expr)
    if not hit:
        view = view.sort_by("%s_distance" % results.key, reverse=True)
    return view


# --------------------------------------------------------------------------------------
# Checks before anything is computed
# --------------------------------------------------------------------------------------


def _resolve_fields(samples, pred_field: str, gt_field: str) -> tuple[str, str]:
    pred_field, pred_schema = resolve_field(samples, pred_field, "pred_field")
    gt_field, gt_schema = resolve_field(samples, gt_field, "gt_field")
    if is_frame_path(pred_field) != is_frame_path(gt_field):
        raise ValueError(
            "pred_field='%s' and gt_field='%s' must both be frame fields or both sample fields"
            % (pred_field, gt_field)
        )
    for role, path, schema, expected in (
        ("pred_field", pred_field, pred_schema, fol.Keypoints),
        ("gt_field", gt_field, gt_schema, fol.Detections),
    ):
        label_type = document_type(schema)
        if label_type is None or not issubclass(label_type, expected):
            raise ValueError(
                "%s='%s' must hold %s labels, but it holds %s"
                % (role, path, expected.__name__, getattr(label_type, "__name__", type(schema).__name__))
            )
    return pred_field, gt_field


def _key_problem(samples, eval_key) -> Optional[str]:
    if not isinstance(eval_key, str) or not eval_key:
        return "Enter an evaluation key"
    if not KEY_PATTERN.match(eval_key):
        return "'%s' is not a valid key: use letters, digits and underscores, not starting with a digit" % eval_key
    if eval_key in RESERVED_EVAL_KEYS:
        return "'%s' is a keypoint attribute name; choose another key" % eval_key
    return other_kind_problem(samples, eval_key, METHOD_NAME)


def other_kind_problem(samples, eval_key: str, method_name: str) -> Optional[str]:
    """Why ``eval_key`` cannot name a run of ``method_name``: it names another kind of evaluation
    (None when it is free or names a run of that kind, which is then replaced)."""
    if eval_key in samples.list_evaluations():
        try:
            method = samples.get_evaluation_info(eval_key).config.method
        except Exception:  # a run whose config class cannot be imported
            method = None
        if method != method_name:
            return (
                "'%s' already names a different kind of evaluation on this dataset; choose "
                "another key or delete that evaluation first" % eval_key
            )
    return None


def written_fields_problem(samples, paths, eval_key: str, kind: str) -> Optional[str]:
    """Why a run under ``eval_key`` cannot write ``paths``: one belongs to another evaluation, or
    exists and was not written by an earlier ``kind`` run of this key (None when it can)."""
    dataset = root_dataset(samples)
    owners = evaluation_field_owners(dataset)
    for path in paths:
        owner = owners.get(path)
        if owner is not None and owner != eval_key:
            return (
                "eval_key '%s' would write '%s', which evaluation '%s' writes; choose another key "
                "or delete evaluation '%s' first" % (eval_key, path, owner, owner)
            )
        if owner is None and dataset.get_field(path) is not None:
            return (
                "eval_key '%s' would write '%s', a field that exists and was not written by a "
                "%s run of that key; choose another key (nothing was written)" % (eval_key, path, kind)
            )
    return None


def _planned_config(samples, pred_field: str, gt_field: str, box_mode="any", protocol="paper",
                    missing="miss", components=True) -> PointingGameEvaluationConfig:
    """The config of a run, with the component fields the predictions will give."""
    config = PointingGameEvaluationConfig(
        pred_field,
        gt_field,
        box_mode=box_mode,
        protocol=protocol,
        missing=missing,
        components=components,
        frame_fields=is_frame_path(pred_field) or is_frames_view(samples),
    )
    if components:
        names = samples.distinct("%s.keypoints.component" % pred_field)
        config.component_names = sorted({component_key(c) for c in names if c is not None and c != FINAL_COMPONENT})
    return config


def evaluation_field_owners(dataset: fo.Dataset) -> dict[str, str]:
    """Field path -> key of the evaluation that writes it, over every evaluation of the dataset."""
    owners = {}
    for key in dataset.list_evaluations():
        try:
            info = dataset.get_evaluation_info(key)
            fields = info.config.build().get_fields(dataset, key)
        except Exception as e:  # a run whose classes or fields cannot be loaded
            logger.debug("Cannot list the fields of evaluation '%s': %s", key, e)
            continue
        for field in fields:
            owners.setdefault(field, key)
    return owners


def _field_problem(samples, config: PointingGameEvaluationConfig, eval_key: str) -> Optional[str]:
    """Why the run cannot write its fields (see :func:`written_fields_problem`)."""
    return written_fields_problem(samples, _run_fields(config, eval_key), eval_key, "pointing-game")


def eval_key_problem(samples, eval_key, pred_field: Optional[str] = None, gt_field: Optional[str] = None,
                     components: bool = True) -> Optional[str]:
    """Why ``eval_key`` cannot name a pointing-game run on ``samples``, or None when it can
    (an existing pointing-game run of that key is replaced).

    Args:
        samples: the collection to evaluate
        eval_key: the evaluation key
        pred_field (None): the predicted field; with ``gt_field``, also checks that the fields
            the run would write belong to no other evaluation and to nothing else
        gt_field (None): the ground-truth field
        components (True): whether the run scores the component points
    """
    problem = _key_problem(samples, eval_key)
    if problem is not None or pred_field is None or gt_field is None:
        return problem
    try:
        pred_field, gt_field = _resolve_fields(samples, pred_field, gt_field)
    except ValueError as e:
        return str(e)
    config = _planned_config(samples, pred_field, gt_field, components=components)
    return _field_problem(samples, config, eval_key)


# --------------------------------------------------------------------------------------
# Scoring every frame
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Record:
    frame_id: str
    sample_id: str
    frame_number: Optional[int]
    outcome: FrameOutcome


@dataclasses.dataclass
class _Counts:
    without_prediction: int = 0
    invalid_boxes: int = 0
    invalid_frames: int = 0

    def add(self, score: _DocumentScore) -> None:
        self.without_prediction += int(score.without_prediction)
        self.invalid_boxes += score.num_invalid_boxes
        self.invalid_frames += int(score.only_invalid_boxes)


def _rows(samples, config: PointingGameEvaluationConfig):
    """``(frame_id, sample_id, frame_number, prediction, ground truth)`` per frame or image,
    and their number."""
    pred, gt = config.pred_field, config.gt_field
    if is_frame_path(pred):
        sample_ids, frame_ids, frame_numbers, preds, gts = samples.values(
            ["id", "frames.id", "frames.frame_number", pred, gt]
        )
        rows = (
            (fid, sid, fn, p, g)
            for sid, fids, fns, fpreds, fgts in zip(sample_ids, frame_ids, frame_numbers, preds, gts)
            for fid, fn, p, g in zip(fids or [], fns or [], fpreds or [], fgts or [])
        )
        return rows, sum(len(f or []) for f in frame_ids)
    if is_frames_view(samples):
        ids, sample_ids, frame_numbers, preds, gts = samples.values(["id", "sample_id", "frame_number", pred, gt])
    else:
        ids, preds, gts = samples.values(["id", pred, gt])
        sample_ids, frame_numbers = ids, [None] * len(ids)
    return zip(ids, sample_ids, frame_numbers, preds, gts), len(ids)


def _score_all(samples, config: PointingGameEvaluationConfig, progress=None) -> tuple[list[_Record], _Counts]:
    records: list[_Record] = []
    counts = _Counts()
    rows, total = _rows(samples, config)
    with fou.ProgressBar(total=total, progress=progress) as bar:
        for frame_id, sample_id, frame_number, pred, gt in bar(rows):
            score = _score_document(pred, gt, config)
            counts.add(score)
            if score.outcome is not None:
                records.append(_Record(frame_id, sample_id, frame_number, score.outcome))
    return records, counts


# --------------------------------------------------------------------------------------
# Writing: new fields under temporary names, then the swap
# --------------------------------------------------------------------------------------


def _pending_key(dataset: fo.Dataset, config: PointingGameEvaluationConfig, eval_key: str) -> str:
    while True:
        key = "%s_pending_%s" % (eval_key, uuid.uuid4().hex[:8])
        if all(dataset.get_field(p) is None for p in _run_fields(config, key)):
            return key


def _declare_fields(dataset: fo.Dataset, config: PointingGameEvaluationConfig, eval_key: str) -> None:
    add = dataset.add_frame_field if config.frame_fields else dataset.add_sample_field
    for name, field_type in _document_fields(config, eval_key).items():
        add(name, field_type)
    add(strip_frames(_label_attribute(config, eval_key)), fof.StringField)
    for name in _summary_fields(config, eval_key):
        dataset.add_sample_field(name, fof.IntField)


def _write_fields(samples, config: PointingGameEvaluationConfig, eval_key: str, records: list[_Record]) -> None:
    """Writes the outcome of every record under ``eval_key``. A ``to_frames()`` view is written
    through the frames of its videos."""
    dataset = root_dataset(samples)
    target = dataset if is_frames_view(samples) else samples
    prefix = FRAMES_PREFIX if config.frame_fields else ""
    key_field = "frames.id" if config.frame_fields else "id"

    def write(name, values):
        if values:
            target.set_values(prefix + name, values, key_field=key_field, progress=False)

    write("%s_hit" % eval_key, {r.frame_id: r.outcome.hit for r in records})
    write("%s_distance" % eval_key, {r.frame_id: r.outcome.distance for r in records})
    for component in config.component_names:
        write(
            "%s_%s_hit" % (eval_key, component),
            {r.frame_id: bool(r.outcome.component_hits.get(component, False)) for r in records},
        )

    label_values = [
        {
            "sample_id": r.sample_id if config.frame_fields else r.frame_id,
            "frame_id": r.frame_id,
            "label_id": r.outcome.final.id,
            "value": HIT if r.outcome.hit else MISS,
        }
        for r in records
        if r.outcome.final is not None
    ]
    if label_values:
        target.set_label_values(_label_attribute(config, eval_key), label_values, progress=False)

    if _summary_fields(config, eval_key):
        num_hits: dict[str, int] = {}
        num_misses: dict[str, int] = {}
        for r in records:
            num_hits[r.sample_id] = num_hits.get(r.sample_id, 0) + int(r.outcome.hit)
            num_misses[r.sample_id] = num_misses.get(r.sample_id, 0) + int(not r.outcome.hit)
        for name, values in zip(_summary_fields(config, eval_key), (num_hits, num_misses)):
            if values:
                samples.set_values(name, values, key_field="id", progress=False)


def _store(samples, method: PointingGameEvaluation, results: PointingGameResults, records: list[_Record]) -> None:
    """Stores a computed run under ``results.key``, replacing a run of that key only once the
    new fields are written in full."""
    config, eval_key = method.config, results.key
    dataset = root_dataset(samples)

    pending = _pending_key(dataset, config, eval_key)
    try:
        _declare_fields(dataset, config, pending)
        _write_fields(samples, config, pending, records)
    except BaseException:
        delete_fields(dataset, _run_fields(config, pending))
        raise

    # the swap: a few quick database operations, undone if one of them fails
    old_removed = eval_key not in dataset.list_evaluations()
    registered = False
    try:
        if not old_removed:
            dataset.delete_evaluation(eval_key)
            old_removed = True
        _rename_fields(dataset, config, pending, eval_key)
        method.register_run(samples, eval_key, overwrite=False)
        registered = True
        method.compute_custom_metrics(samples, eval_key, results)
        method.save_run_results(samples, eval_key, results)
    except BaseException:
        if registered:
            dataset.delete_evaluation(eval_key)  # never a record without results
        delete_fields(dataset, _run_fields(config, pending))
        if old_removed:
            delete_fields(dataset, _run_fields(config, eval_key))
        raise

    if not is_frames_view(samples):
        method.add_fields_to_sidebar_group(samples, eval_key, omit_fields=(config.pred_field, config.gt_field))
    else:
        samples.reload()  # the frames view picks up the fields written on the frames of its videos


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def evaluate_pointing_game(
    samples,
    pred_field: str,
    gt_field: str,
    eval_key: Optional[str] = "pointing",
    box_mode: str = "any",
    protocol: str = "paper",
    missing: str = "miss",
    components: bool = True,
    progress=None,
) -> PointingGameResults:
    """Runs the pointing game on a video dataset, a ``to_frames()`` view or an image dataset.

    Every frame is scored before anything is written; a run that fails (bad input, an
    interruption, a database error while writing) leaves an earlier run of the same key as it
    was.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection`
        pred_field: the predicted :class:`fiftyone.core.labels.Keypoints` field; on video
            collections ``"frames.<name>"`` or ``"<name>"``
        gt_field: the ground-truth :class:`fiftyone.core.labels.Detections` field (same level)
        eval_key ("pointing"): the evaluation key; None computes the results without
            storing anything on the dataset
        box_mode ("any"): ``"any"`` (hit on any box of the frame) or ``"union"`` (the
            smallest box enclosing all boxes of the frame)
        protocol ("paper"): ``"paper"`` (integer ``input_point`` against boxes rounded into
            the input frame) or ``"normalized"`` (normalised point against normalised boxes);
            both include the borders
        missing ("miss"): a frame with ground truth but no predicted point counts as a miss
            (``"miss"``) or is not evaluated (``"skip"``, as the paper skips unreadable
            samples); :attr:`PointingGameResults.num_without_prediction` counts them either way
        components (True): also score the ``action``/``verb``/``object`` points
        progress (None): whether to render progress bars (True/False), the FiftyOne default
            (None), or a progress callback

    Returns:
        a :class:`PointingGameResults`

    Raises:
        ValueError: a bad option, field or key (nothing is written)
    """
    check_choice("box_mode", box_mode, BOX_MODES)
    check_choice("protocol", protocol, PROTOCOLS)
    check_choice("missing", missing, MISSING_POLICIES)
    fova.validate_non_grouped_collection(samples)
    if eval_key is not None:
        problem = _key_problem(samples, eval_key)
        if problem is not None:
            raise ValueError(problem)

    pred_field, gt_field = _resolve_fields(samples, pred_field, gt_field)
    config = _planned_config(samples, pred_field, gt_field, box_mode, protocol, missing, components)
    method = config.build()
    method.ensure_requirements()
    if eval_key is not None:
        method.validate_run(samples, eval_key, overwrite=True)
        problem = _field_problem(samples, config, eval_key)
        if problem is not None:
            raise ValueError(problem)

    logger.info("Evaluating pointing game on '%s' against '%s'...", pred_field, gt_field)
    records, counts = _score_all(samples, config, progress=progress)
    config.component_names = sorted({c for r in records for c in r.outcome.component_hits})

    matches = [m for r in records for m in _matches(r.outcome)]
    results = PointingGameResults(
        samples,
        config,
        eval_key,
        matches,
        frame_ids=[r.frame_id for r in records],
        sample_ids=[r.sample_id for r in records],
        frame_numbers=[r.frame_number for r in records],
        frame_classes=[r.outcome.frame_class for r in records],
        hits=[r.outcome.hit for r in records],
        distances=[r.outcome.distance for r in records],
        component_hits={
            c: [bool(r.outcome.component_hits.get(c, False)) for r in records] for c in config.component_names
        },
        num_protocol_fallbacks=sum(1 for r in records if r.outcome.used_fallback),
        num_without_prediction=counts.without_prediction,
        num_invalid_boxes=counts.invalid_boxes,
        num_invalid_frames=counts.invalid_frames,
        backend=method,
    )
    for note in results.notes():
        logger.warning("Pointing game: %s", note)

    if eval_key is not None:
        _store(samples, method, results, records)

    logger.info(
        "Pointing game: %d/%d hits (accuracy %.4f)", results.num_hits, results.num_evaluated, results.accuracy
    )
    return results


# --------------------------------------------------------------------------------------
# Saved views
# --------------------------------------------------------------------------------------


def triage_view_names(eval_key: str, classes: Sequence[str] = ()) -> list[str]:
    """Returns the saved-view names :func:`save_triage_views` uses:
    ``"<eval_key>-misses"`` and ``"<eval_key>-misses-<class>"`` per class (a ``-2``,
    ``-3``, ... suffix is added when two class names map to the same URL slug)."""
    names = ["%s-misses" % eval_key]
    slugs = {fou.to_slug(names[0])}
    for c in classes:
        base = "%s-misses-%s" % (eval_key, c)
        name, n = base, 1
        while fou.to_slug(name) in slugs:
            n += 1
            name = "%s-%d" % (base, n)
        slugs.add(fou.to_slug(name))
        names.append(name)
    return names


def load_pointing_game_results(dataset: fo.Dataset, eval_key: str) -> PointingGameResults:
    """The results of the pointing-game run ``eval_key`` of ``dataset``.

    Raises:
        ValueError: there is no such run, or it is another kind of evaluation
    """
    if eval_key not in dataset.list_evaluations():
        raise ValueError(
            "No evaluation '%s' on dataset '%s'; available: %s" % (eval_key, dataset.name, dataset.list_evaluations())
        )
    results = dataset.load_evaluation_results(eval_key)
    if not isinstance(results, PointingGameResults):
        raise ValueError(
            "Evaluation '%s' is not a pointing-game run (method %r)"
            % (eval_key, dataset.get_evaluation_info(eval_key).config.method)
        )
    return results


def save_triage_views(
    dataset: fo.Dataset,
    eval_key: str,
    classes: Optional[Sequence[str]] = None,
    overwrite: bool = True,
) -> list[str]:
    """Saves views of the misses of a pointing-game run on the dataset.

    Creates ``"<eval_key>-misses"`` (all missed frames) and ``"<eval_key>-misses-<class>"``
    for each class (see :func:`triage_view_names`).

    Args:
        dataset: the dataset holding the run
        eval_key: the evaluation key
        classes (None): the classes to save views for; by default every class with at
            least one miss
        overwrite (True): whether to replace saved views of the same names

    Returns:
        the names of the saved views, the overall one first
    """
    if not isinstance(dataset, fo.Dataset):
        raise ValueError(
            "save_triage_views() needs the dataset itself (saved views live on datasets), got a "
            "%s; pass fo.load_dataset(view.dataset_name)" % type(dataset).__name__
        )
    results = load_pointing_game_results(dataset, eval_key)
    if classes is None:
        classes = [c for c, g in results.per_class.items() if g.num_hits < g.count]
    classes = list(classes)
    names = triage_view_names(eval_key, classes)

    dataset.save_view(
        names[0],
        results.misses_view(),
        description="Frames missed by pointing-game run '%s'" % eval_key,
        overwrite=overwrite,
    )
    for name, c in zip(names[1:], classes):
        dataset.save_view(
            name,
            results.misses_view(label=c),
            description="Frames of class '%s' missed by pointing-game run '%s'" % (c, eval_key),
            overwrite=overwrite,
        )
    return names
