"""Pointing-game evaluation of predicted action points against ground-truth boxes.

A predicted point is a *hit* when it falls inside a ground-truth box of its frame (borders
included); the accuracy is hits divided by the number of evaluated frames, i.e. frames (or
images) that have at least one ground-truth box. Frames with ground truth but no predicted
point count as misses; frames without ground truth are not evaluated.

Two coordinate protocols are available:

-   ``"paper"`` (default) reproduces the VideoGEM protocol exactly: the integer pixel
    ``input_point`` of the model input frame (size ``input_size`` = ``[width, height]``) is
    compared with the ground-truth boxes rescaled into that frame as
    ``round(x * width)`` / ``round(y * height)`` (Python rounding, half to even).
    Points without ``input_point`` (for example keypoints from another model) fall back to
    the normalised comparison.
-   ``"normalized"`` compares the normalised point with the normalised box.

Two box modes are available: ``"any"`` (a hit on any box of the frame counts) and
``"union"`` (the smallest rectangle enclosing all boxes of the frame, as for V-HICO).

The run is stored as a FiftyOne *detection-type* evaluation with method ``"pointing-game"``,
so ``list_evaluations()``, ``load_evaluation_results()``, ``rename_evaluation()``,
``delete_evaluation()`` and the Model Evaluation panel work with it. Per evaluated frame
(video frame, frame of a ``to_frames()`` view, or image) the run writes:

-   ``<eval_key>_hit`` (bool): whether the final point hit
-   ``<eval_key>_<component>_hit`` (bool): the same for each decomposition component
    (``action``, ``verb``, ``object``) present in the predictions
-   ``<eval_key>_distance`` (float): normalised distance of the final point to the nearest
    box edge, ``0`` for hits and ``None`` when the frame has no predicted point
-   the attribute ``<eval_key>`` = ``"hit"`` / ``"miss"`` on the evaluated keypoint
-   on video samples (frame-level runs only): ``<eval_key>_num_hits`` and
    ``<eval_key>_num_misses``

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
from typing import Any, Iterable, Optional, Sequence

import numpy as np

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.utils as fou
import fiftyone.core.validation as fov
import fiftyone.utils.eval.detection as foud
from fiftyone import ViewField as F

from .pointing import (
    BOX_MODES,
    PROTOCOLS,
    UNLABELED_CLASS,
    FrameOutcome,
    GroundTruthBox,
    GroupAccuracy,
    PredictedPoint,
    check_choice,
    score_frame,
)

logger = logging.getLogger(__name__)

# FiftyOne stores the class paths of a run's config and results in the database and imports
# them when the run is loaded; they are pinned to the public package path, which does not
# change when the modules inside the package move
PUBLIC_MODULE = "fiftyone_videogem.evaluation"
METHOD_NAME = "pointing-game"
# keypoint attributes the run must not overwrite with its "hit"/"miss" attribute
RESERVED_EVAL_KEYS = frozenset(
    ["id", "tags", "label", "points", "confidence", "index", "attributes"]
    + ["component", "prompt", "input_point", "input_size", "heat", "score"]
)
HIT = "hit"
MISS = "miss"


# --------------------------------------------------------------------------------------
# Reading predicted points
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
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        return None

    confidence = _attribute(keypoint, "heat")
    if confidence is None and keypoint.confidence:
        confidence = keypoint.confidence[0]
    if confidence is not None and not math.isfinite(float(confidence)):
        confidence = None

    return PredictedPoint(
        xy=(float(x), float(y)),
        label=keypoint.label,
        component=_attribute(keypoint, "component"),
        input_point=_attribute(keypoint, "input_point"),
        input_size=_attribute(keypoint, "input_size"),
        confidence=None if confidence is None else float(confidence),
        id=keypoint.id,
    )


def _predicted_points(prediction: Optional[fol.Keypoints]) -> list[PredictedPoint]:
    keypoints = getattr(prediction, "keypoints", None) or []
    return [p for p in map(_parse_keypoint, keypoints) if p is not None]


def _ground_truth_boxes(ground_truth: Optional[fol.Detections]) -> list[GroundTruthBox]:
    detections = getattr(ground_truth, "detections", None) or []
    return [
        GroundTruthBox(box=d.bounding_box, label=d.label, id=d.id)
        for d in detections
        if d.bounding_box is not None and len(d.bounding_box) == 4
    ]


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
        self.box_mode = box_mode
        self.protocol = protocol
        self.components = bool(components)
        self.frame_fields = bool(frame_fields)
        self.component_names = list(component_names or [])

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
        point was predicted) for a miss; nothing for a document without ground truth.
        """
        pred_name = _leaf(self.config.pred_field)
        gt_name = _leaf(self.config.gt_field)
        outcome = _score_frame(doc[pred_name], doc[gt_name], self.config)
        return [] if outcome is None else _matches(outcome)

    def generate_results(
        self, samples, matches, eval_key=None, classes=None, missing=None, progress=None
    ):
        return PointingGameResults(
            samples, self.config, eval_key, matches, classes=classes, missing=missing, backend=self
        )

    # -- fields ---------------------------------------------------------------------

    def _root_pred_path(self) -> str:
        pred = self.config.pred_field
        if self.config.frame_fields and not pred.startswith("frames."):
            return "frames." + pred
        return pred

    def _document_field_names(self, eval_key: str) -> list[str]:
        names = ["%s_hit" % eval_key, "%s_distance" % eval_key]
        names += ["%s_%s_hit" % (eval_key, c) for c in self.config.component_names]
        return names

    def _summary_field_names(self, eval_key: str) -> list[str]:
        if self.config.pred_field.startswith("frames."):
            return ["%s_num_hits" % eval_key, "%s_num_misses" % eval_key]
        return []

    def get_fields(self, samples, eval_key, include_custom_metrics=True):
        """Returns the fields written by the run, as paths of the root dataset."""
        prefix = "frames." if self.config.frame_fields else ""
        fields = [prefix + name for name in self._document_field_names(eval_key)]
        fields.append("%s.keypoints.%s" % (self._root_pred_path(), eval_key))
        fields += self._summary_field_names(eval_key)
        if include_custom_metrics:
            fields += self.get_custom_metric_fields(samples, eval_key)
        return fields

    def rename(self, samples, eval_key, new_eval_key):
        old = self.get_fields(samples, eval_key, include_custom_metrics=False)
        new = self.get_fields(samples, new_eval_key, include_custom_metrics=False)
        for dataset, mapping in _per_dataset(samples, dict(zip(old, new))):
            mapping = {k: v for k, v in mapping.items() if dataset.get_field(k) is not None}
            sample_fields, frame_fields = fou.split_frame_fields(mapping)
            if sample_fields:
                dataset.rename_sample_fields(sample_fields)
            if frame_fields:
                dataset.rename_frame_fields(frame_fields)
        self.rename_custom_metrics(samples, eval_key, new_eval_key)
        samples._rename_sidebar_group(eval_key, new_eval_key)

    def cleanup(self, samples, eval_key):
        fields = self.get_fields(samples, eval_key, include_custom_metrics=False)
        for dataset, paths in _per_dataset(samples, {f: f for f in fields}):
            paths = [p for p in paths if dataset.get_field(p) is not None]
            sample_fields, frame_fields = fou.split_frame_fields(paths)
            if sample_fields:
                dataset.delete_sample_fields(sample_fields, error_level=1)
            if frame_fields:
                dataset.delete_frame_fields(frame_fields, error_level=1)
        self.cleanup_custom_metrics(samples, eval_key)
        samples._delete_empty_sidebar_group(eval_key)

    def _validate_run(self, samples, eval_key, existing_info):
        super()._validate_run(samples, eval_key, existing_info)
        self._validate_fields_match(eval_key, "frame_fields", existing_info)


def _leaf(path: str) -> str:
    return path[len("frames.") :] if path.startswith("frames.") else path


def _per_dataset(samples, mapping: dict[str, str]):
    """Yields ``(dataset, mapping)`` pairs: root-dataset paths, plus the same fields as
    sample fields of the generated dataset behind a ``to_frames()`` view."""
    root = samples._root_dataset
    yield root, dict(mapping)
    generated = samples._dataset
    if generated is not root and getattr(generated, "_is_frames", False):
        stripped = {
            _leaf(k): _leaf(v) for k, v in mapping.items() if k.startswith("frames.")
        }
        yield generated, stripped


# --------------------------------------------------------------------------------------
# Per-frame scoring
# --------------------------------------------------------------------------------------


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


def _score_frame(prediction, ground_truth, config: PointingGameEvaluationConfig) -> Optional[FrameOutcome]:
    return score_frame(
        _ground_truth_boxes(ground_truth),
        _predicted_points(prediction),
        box_mode=config.box_mode,
        protocol=config.protocol,
        use_components=config.components,
    )


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


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
        classes (None): the list of classes
        missing (None): the label used for unmatched entries
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

    # -- numbers --------------------------------------------------------------------

    @property
    def num_evaluated(self) -> int:
        """Number of evaluated frames (frames or images with ground truth)."""
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
    def num_without_prediction(self) -> int:
        """Number of evaluated frames without a predicted point (counted as misses)."""
        return sum(1 for d in self.distances if d is None)

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
        return {
            c: GroupAccuracy(accuracy=h / n, num_hits=h, count=n)
            for c, (h, n) in sorted(counts.items())
        }

    @property
    def per_component(self) -> dict[str, float]:
        """Component (``action``, ``verb``, ``object``, ...) -> accuracy over all evaluated
        frames (a frame without that component's point counts as a miss)."""
        n = self.num_evaluated
        return {c: (sum(h) / n if n else 0.0) for c, h in self.component_hits.items()}

    def metrics(self, classes=None, average="micro", beta=1.0) -> dict:
        """Returns the metrics of the run.

        ``accuracy`` is the pointing accuracy (computed from the matches, so it honours
        :meth:`use_subset`); ``precision``/``recall``/``fscore``/``support`` are the
        detection-style numbers the Model Evaluation panel shows; ``num_evaluated``,
        ``num_hits``, ``num_without_prediction`` and ``<component>_accuracy`` follow.
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
            for component, accuracy in self.per_component.items():
                metrics["%s_accuracy" % component] = accuracy
        return metrics

    def report_str(self, digits: int = 3) -> str:
        """Returns the per-class / per-component table as text."""
        rows = [(c, g.count, g.num_hits, g.accuracy) for c, g in self.per_class.items()]
        rows.append(("overall", self.num_evaluated, self.num_hits, self.accuracy))
        lines = _table(["class", "frames", "hits", "accuracy"], rows, digits)
        if self.component_hits:
            lines.append("")
            comp_rows = [
                (c, self.num_evaluated, sum(self.component_hits[c]), a)
                for c, a in self.per_component.items()
            ]
            lines += _table(["component", "frames", "hits", "accuracy"], comp_rows, digits)
        if self.num_without_prediction:
            lines.append("")
            lines.append("%d evaluated frame(s) had no predicted point" % self.num_without_prediction)
        return "\n".join(lines)

    def print_report(self, classes=None, digits: int = 3) -> None:
        """Prints :meth:`report_str` (``classes`` is accepted for API compatibility)."""
        print(self.report_str(digits=digits))

    # -- views ----------------------------------------------------------------------

    def misses_view(self, samples=None, label: Optional[str] = None):
        """Returns a view of the missed frames.

        On video collections the result keeps only videos with a miss and only their missed
        frames; on images / frame views the missed samples are sorted by distance, worst
        first (frames without a prediction last).

        Args:
            samples (None): the collection to filter (defaults to the evaluated view)
            label (None): only frames whose ground truth contains a box of this class
        """
        return _outcome_view(self, samples, label, hit=False)

    def hits_view(self, samples=None, label: Optional[str] = None):
        """Returns a view of the frames whose final point hit (see :meth:`misses_view`)."""
        return _outcome_view(self, samples, label, hit=True)

    # -- serialisation --------------------------------------------------------------

    @classmethod
    def _from_dict(cls, d, samples, config, eval_key, **kwargs):
        ytrue = d.get("ytrue", [])
        n = len(ytrue)

        def column(name):
            value = d.get(name)
            return value if value is not None else [None] * n

        matches = list(
            zip(
                ytrue,
                column("ypred"),
                column("ious"),
                column("confs"),
                column("ytrue_ids"),
                column("ypred_ids"),
            )
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
            classes=d.get("classes"),
            missing=d.get("missing"),
            custom_metrics=d.get("custom_metrics"),
            **kwargs,
        )


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int) -> list[str]:
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


def _hit_field_path(samples, eval_key: str, suffix: str = "hit") -> tuple[str, bool]:
    """Returns the field name of ``<eval_key>_<suffix>`` in ``samples`` and whether it is a
    frame field."""
    name = "%s_%s" % (eval_key, suffix)
    if samples._has_frame_fields() and samples.get_field("frames." + name) is not None:
        return name, True
    if samples.get_field(name) is not None:
        return name, False
    raise ValueError(
        "The collection has no field '%s' (nor 'frames.%s'); run "
        "evaluate_pointing_game(..., eval_key=%r) on it first" % (name, name, eval_key)
    )


def _outcome_view(results: PointingGameResults, samples, label, hit: bool):
    if results.key is None:
        raise ValueError(
            "These results were computed with eval_key=None, so nothing was stored on the "
            "samples; re-run evaluate_pointing_game() with an eval_key to build views"
        )
    samples = results.samples if samples is None else samples
    name, is_frames = _hit_field_path(samples, results.key)
    expr = F(name) == hit
    if label is not None:
        gt = _leaf(results.config.gt_field)
        expr = expr & (F(gt + ".detections").filter(F("label") == label).length() > 0)
    if is_frames:
        return samples.match_frames(expr)
    view = samples.match(expr)
    if not hit:
        view = view.sort_by("%s_distance" % results.key, reverse=True)
    return view


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def _resolve_field(samples, name: str, what: str) -> str:
    is_video = samples._has_frame_fields()
    if name.startswith("frames.") and not is_video:
        raise ValueError(
            "%s field '%s' is a frame field, but the collection has no frames (media type "
            "'%s'); pass the field name without 'frames.'" % (what, name, samples.media_type)
        )
    if (
        is_video
        and not name.startswith("frames.")
        and samples.get_field(name) is None
        and samples.get_field("frames." + name) is not None
    ):
        name = "frames." + name
    if samples.get_field(name) is None:
        raise ValueError(
            "The collection has no %s field '%s'; check the name (frame fields of videos can "
            "be given as 'frames.<name>' or '<name>')" % (what, name)
        )
    return name


def _check_label_type(samples, name: str, expected: type, what: str) -> None:
    try:
        label_type = samples._get_label_field_type(name)
    except ValueError:
        label_type = None
    if label_type is None or not issubclass(label_type, expected):
        raise ValueError(
            "The %s field '%s' must hold %s labels, but it holds %s"
            % (what, name, expected.__name__, getattr(label_type, "__name__", label_type))
        )


@dataclasses.dataclass
class _Record:
    frame_id: str
    sample_id: str
    frame_number: Optional[int]
    outcome: FrameOutcome


def _collect(samples, pred_field: str, gt_field: str, config, progress=None) -> list[_Record]:
    records: list[_Record] = []
    if pred_field.startswith("frames."):
        sample_ids, frame_ids, frame_numbers, preds, gts = samples.values(
            ["id", "frames.id", "frames.frame_number", pred_field, gt_field]
        )
        rows = zip(sample_ids, frame_ids, frame_numbers, preds, gts)
        with fou.ProgressBar(total=len(sample_ids), progress=progress) as bar:
            for sid, fids, fns, fpreds, fgts in bar(rows):
                for fid, fn, pred, gt in zip(fids or [], fns or [], fpreds or [], fgts or []):
                    outcome = _score_frame(pred, gt, config)
                    if outcome is not None:
                        records.append(_Record(fid, sid, fn, outcome))
        return records

    if samples._dataset._is_frames:
        ids, sample_ids, frame_numbers, preds, gts = samples.values(
            ["id", "sample_id", "frame_number", pred_field, gt_field]
        )
    else:
        ids, preds, gts = samples.values(["id", pred_field, gt_field])
        sample_ids, frame_numbers = ids, [None] * len(ids)

    rows = zip(ids, sample_ids, frame_numbers, preds, gts)
    with fou.ProgressBar(total=len(ids), progress=progress) as bar:
        for fid, sid, fn, pred, gt in bar(rows):
            outcome = _score_frame(pred, gt, config)
            if outcome is not None:
                records.append(_Record(fid, sid, fn, outcome))
    return records


def _declare_fields(samples, config: PointingGameEvaluationConfig, eval_key: str) -> None:
    doc_fields = {
        "%s_hit" % eval_key: fof.BooleanField,
        "%s_distance" % eval_key: fof.FloatField,
    }
    for component in config.component_names:
        doc_fields["%s_%s_hit" % (eval_key, component)] = fof.BooleanField
    label_attr = "%s.keypoints.%s" % (_leaf(config.pred_field), eval_key)

    dataset = samples._dataset
    root = samples._root_dataset
    if config.pred_field.startswith("frames."):
        for name, ftype in doc_fields.items():
            dataset.add_frame_field(name, ftype)
        dataset.add_frame_field(label_attr, fof.StringField)
        dataset.add_sample_field("%s_num_hits" % eval_key, fof.IntField)
        dataset.add_sample_field("%s_num_misses" % eval_key, fof.IntField)
        return

    for name, ftype in doc_fields.items():
        dataset.add_sample_field(name, ftype)
    dataset.add_sample_field(label_attr, fof.StringField)
    if root is not dataset and config.frame_fields:
        # to_frames() view: the fields are synced to the frames of the source videos
        for name, ftype in doc_fields.items():
            root.add_frame_field(name, ftype)
        root.add_frame_field(label_attr, fof.StringField)


def _write_fields(samples, config, eval_key: str, records: list[_Record]) -> None:
    frame_level = config.pred_field.startswith("frames.")
    prefix = "frames." if frame_level else ""
    key_field = "frames.id" if frame_level else "id"

    def write(name, values):
        if values:
            samples.set_values(prefix + name, values, key_field=key_field, progress=False)

    write("%s_hit" % eval_key, {r.frame_id: r.outcome.hit for r in records})
    write("%s_distance" % eval_key, {r.frame_id: r.outcome.distance for r in records})
    for component in config.component_names:
        write(
            "%s_%s_hit" % (eval_key, component),
            {r.frame_id: bool(r.outcome.component_hits.get(component, False)) for r in records},
        )

    label_values = [
        {
            "sample_id": r.frame_id if not frame_level else r.sample_id,
            "frame_id": r.frame_id,
            "label_id": r.outcome.final.id,
            "value": HIT if r.outcome.hit else MISS,
        }
        for r in records
        if r.outcome.final is not None
    ]
    if label_values:
        samples.set_label_values(
            "%s.keypoints.%s" % (config.pred_field, eval_key), label_values, progress=False
        )

    if frame_level:
        num_hits: dict[str, int] = {}
        num_misses: dict[str, int] = {}
        for r in records:
            num_hits[r.sample_id] = num_hits.get(r.sample_id, 0) + int(r.outcome.hit)
            num_misses[r.sample_id] = num_misses.get(r.sample_id, 0) + int(not r.outcome.hit)
        for name, values in (("num_hits", num_hits), ("num_misses", num_misses)):
            samples.set_values("%s_%s" % (eval_key, name), values, key_field="id", progress=False)


def evaluate_pointing_game(
    samples,
    pred_field: str,
    gt_field: str,
    eval_key: Optional[str] = "pointing",
    box_mode: str = "any",
    protocol: str = "paper",
    components: bool = True,
    progress=None,
) -> PointingGameResults:
    """Runs the pointing game on a video dataset, a ``to_frames()`` view or an image dataset.

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
        components (True): also score the ``action``/``verb``/``object`` points
        progress (None): whether to render progress bars (True/False), the FiftyOne default
            (None), or a progress callback

    Returns:
        a :class:`PointingGameResults`
    """
    check_choice("box_mode", box_mode, BOX_MODES)
    check_choice("protocol", protocol, PROTOCOLS)
    if eval_key in RESERVED_EVAL_KEYS:
        raise ValueError(
            "eval_key %r would overwrite the keypoint attribute of the same name; choose "
            "another key, e.g. 'pointing'" % eval_key
        )
    fov.validate_non_grouped_collection(samples)

    pred_field = _resolve_field(samples, pred_field, "prediction")
    gt_field = _resolve_field(samples, gt_field, "ground-truth")
    if pred_field.startswith("frames.") != gt_field.startswith("frames."):
        raise ValueError(
            "The prediction field '%s' and the ground-truth field '%s' must both be frame "
            "fields or both sample fields" % (pred_field, gt_field)
        )
    _check_label_type(samples, pred_field, fol.Keypoints, "prediction")
    _check_label_type(samples, gt_field, fol.Detections, "ground-truth")

    frame_fields = pred_field.startswith("frames.") or bool(
        getattr(samples._dataset, "_is_frames", False)
    )
    config = PointingGameEvaluationConfig(
        pred_field,
        gt_field,
        box_mode=box_mode,
        protocol=protocol,
        components=components,
        frame_fields=frame_fields,
    )
    method = config.build()
    method.ensure_requirements()
    method.register_run(samples, eval_key)

    logger.info("Evaluating pointing game on '%s' against '%s'...", pred_field, gt_field)
    records = _collect(samples, pred_field, gt_field, config, progress=progress)

    component_names = sorted({c for r in records for c in r.outcome.component_hits})
    config.component_names = component_names
    num_fallbacks = sum(1 for r in records if r.outcome.used_fallback)
    if num_fallbacks:
        logger.warning(
            "%d evaluated point(s) have no input_point/input_size, so the 'paper' protocol "
            "compared them in normalised coordinates",
            num_fallbacks,
        )

    if eval_key is not None:
        method.update_run_config(samples, eval_key, config)
        _declare_fields(samples, config, eval_key)
        _write_fields(samples, config, eval_key, records)

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
            c: [bool(r.outcome.component_hits.get(c, False)) for r in records]
            for c in component_names
        },
        num_protocol_fallbacks=num_fallbacks,
        backend=method,
    )
    method.compute_custom_metrics(samples, eval_key, results)

    if eval_key is not None:
        method.save_run_results(samples, eval_key, results)
        if pred_field.startswith("frames.") or not frame_fields:
            method.add_fields_to_sidebar_group(samples, eval_key, omit_fields=(pred_field, gt_field))

    logger.info(
        "Pointing game: %d/%d hits (accuracy %.4f)",
        results.num_hits,
        results.num_evaluated,
        results.accuracy,
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
            "save_triage_views() needs the dataset itself (saved views live on datasets), "
            "got a %s; pass view._root_dataset or the fo.Dataset" % type(dataset).__name__
        )
    if eval_key not in dataset.list_evaluations():
        raise ValueError(
            "No evaluation '%s' on dataset '%s'; available: %s"
            % (eval_key, dataset.name, dataset.list_evaluations())
        )
    results = dataset.load_evaluation_results(eval_key)
    if not isinstance(results, PointingGameResults):
        raise ValueError("Evaluation '%s' is not a pointing-game run" % eval_key)

    if classes is None:
        classes = [c for c, g in results.per_class.items() if g.num_hits < g.count]
    classes = list(classes)
    names = triage_view_names(eval_key, classes)
    eval_view = dataset.load_evaluation_view(eval_key)

    dataset.save_view(
        names[0],
        results.misses_view(eval_view),
        description="Frames missed by pointing-game run '%s'" % eval_key,
        overwrite=overwrite,
    )
    for name, c in zip(names[1:], classes):
        dataset.save_view(
            name,
            results.misses_view(eval_view, label=c),
            description="Frames of class '%s' missed by pointing-game run '%s'" % (c, eval_key),
            overwrite=overwrite,
        )
    return names
