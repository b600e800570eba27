"""When (and where) on a benchmark, in one command: the temporal tasks of ``python -m fiftyone_videogem benchmark``.

``--task spatiotemporal --dataset groundingyoutube``
    WWW's untrimmed protocol (Chen et al., CVPR 2024, Table 2): imports GroundingYouTube (or reuses the
    dataset imported before), runs :func:`~fiftyone_videogem.localization.localize_actions` with the
    WWW method over each video's own pool of steps (the importer's ``pool`` field) at ``--fps``
    (default 1), with VideoGEM's spatial grounding of the chosen step on every frame inside a segment,
    and scores it with :func:`~fiftyone_videogem.evaluation.evaluate_spatiotemporal` at 1 fps (the
    annotation rate): IoU+Pointing and video mAP at tube IoU 0.1-0.5 and their mean, printed in the
    layout of WWW's Table 2 with the paper's rows beside ours.

``--task temporal --dataset youcook2``
    Single-sentence temporal grounding on YouCook2's narrated segments: each sentence of a video is one
    query, localised on its own in that video (method ``"contrast"``, no spatial grounding), and the
    segments are scored with :func:`~fiftyone_videogem.evaluation.evaluate_temporal` (FiftyOne's
    ActivityNet mAP, one class per sentence) at temporal IoU 0.1-0.5 and their mean. No published
    training-free result uses this protocol, so the table has our row alone.

Both are resumable as the spatial benchmark is: the dataset, the localisation (videos that have
segments are skipped) and the embedding cache are reused, so a rerun after an interruption only does
what is left, and a rerun of a finished benchmark only evaluates again. A video that cannot be
read is recorded (``<label_field>_error``, the JSON's ``localization.failures``) and the others go
on; videos the annotations name but the videos folder lacks are listed in the import report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

logger = logging.getLogger(__name__)

TASKS = ("spatial", "spatiotemporal", "temporal")
GYT_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
"""Tube-IoU thresholds of GroundingYouTube's video mAP (WWW Table 2)."""
YOUCOOK2_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
"""Temporal IoU thresholds of the YouCook2 sentence grounding: the GroundingYouTube range (narrated
cooking steps of a few seconds; THUMOS14's 0.3-0.7 would score mostly near-exact boundaries)."""
EVAL_FPS = 1.0
"""GroundingYouTube is annotated, and scored, at one frame per second."""


@dataclass(frozen=True)
class TemporalBenchmark:
    """One temporal benchmark of the command.

    Args:
        task: ``"spatiotemporal"`` or ``"temporal"``
        dataset: the ``--dataset`` name
        loader: function name in :mod:`fiftyone_videogem.datasets`
        method: the :func:`~fiftyone_videogem.localization.localize_actions` method
        pool_field: the sample field holding each video's queries
        gt_field: the sample field of the ground-truth segments
        prompt_parser: how the queries are split into verb and object for spatial grounding
        spatial: whether the phrases are grounded spatially
        prefix: prefix of the derived label field
        eval_suffix: suffix of the evaluation key (label field + suffix)
    """

    task: str
    dataset: str
    loader: str
    method: str
    pool_field: str
    gt_field: str
    prompt_parser: str
    spatial: bool
    prefix: str
    eval_suffix: str


TEMPORAL_BENCHMARKS = {
    (b.task, b.dataset): b
    for b in (
        TemporalBenchmark("spatiotemporal", "groundingyoutube", "load_groundingyoutube", "www", "pool", "segments",
                          "verb_object", True, "www", "_st"),
        TemporalBenchmark("temporal", "youcook2", "load_youcook2", "contrast", "actions", "segments", "sentence",
                          False, "contrast", "_tm"),
    )
}


@dataclass(frozen=True)
class PaperRow:
    """A row of WWW's Table 2 (untrimmed GroundingYouTube), in percent.

    Args:
        method: the method as the paper names it
        training: what it was trained for this task
        iou_pointing: IoU+Pointing
        video_map: video mAP at tube IoU 0.1, 0.2, 0.3, 0.4, 0.5
        mean: the paper's mean of those
    """

    method: str
    training: str
    iou_pointing: float
    video_map: tuple[float, float, float, float, float]
    mean: float


WWW_TABLE2 = (
    PaperRow("CLIP off the shelf", "none", 3.59, (29.54, 22.15, 9.16, 2.48, 0.39), 12.74),
    PaperRow("MIL-NCE (temporal) + RegionCLIP (spatial)", "none for the task", 9.21,
             (40.54, 34.97, 22.38, 13.79, 9.18), 22.33),
    PaperRow("WWW, CLIP backbone", "self-supervised (HowTo100M)", 10.09, (42.81, 36.05, 25.84, 17.10, 11.35), 26.63),
    PaperRow("WWW, fine-tuned CLIP", "self-supervised (HowTo100M)", 11.53, (43.64, 36.94, 26.78, 19.45, 14.61), 28.26),
)
"""GroundingYouTube, untrimmed videos (WWW, CVPR 2024, Table 2). The paper's clip-level variant (one
step with the same length of context before and after) is another protocol and is not listed."""


# ------------------------------------------------------------------------------ arguments
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark command's options of the temporal tasks."""
    parser.add_argument("--fps", type=float, default=1.0,
                        help="temporal tasks: frames sampled per second (default: 1, the annotation rate)")
    parser.add_argument("--mask-threshold", type=float, default=0.5,
                        help="spatiotemporal: least heatmap value of a tube's region (default: 0.5, WWW's CLIP "
                             "baseline on min-max normalised heatmaps)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="temporal tasks: folder of the frame-embedding cache (default: "
                             "<FiftyOne dataset dir>/videogem/embeddings)")


def benchmark_for(task: str, dataset: str) -> TemporalBenchmark:
    """The temporal benchmark of ``--task`` and ``--dataset``; a clear error for a pair that does not exist."""
    bench = TEMPORAL_BENCHMARKS.get((task, dataset))
    if bench is None:
        known = ", ".join(f"--task {t} --dataset {d}" for t, d in TEMPORAL_BENCHMARKS)
        raise ValueError(f"there is no {task} benchmark on '{dataset}'; the temporal benchmarks are: {known}")
    return bench


# ------------------------------------------------------------------------------ naming
def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def label_field_for(bench: TemporalBenchmark, backbone: str, options: dict) -> str:
    """A label field unique to the benchmark's method, the backbone and the options that change the labels."""
    digest = hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return f"{bench.prefix}_{_slug(backbone)}_{digest}"


# ------------------------------------------------------------------------------ tables
def _percent(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else 100.0 * value


def www_table(metrics: dict, label: str, iou_threshs: Sequence[float] = GYT_THRESHOLDS) -> str:
    """Our IoU+Pointing and video mAP (fractions) beside WWW Table 2's rows, in percent."""
    from .evaluation.pointing_game import format_table

    header = ["method", "training", "IoU+Point"] + [f"mAP@{t:g}" for t in iou_threshs] + ["mean"]
    ours = [f"ours: {label}", "none", _percent(metrics.get("iou_pointing"))]
    ours += [_percent(metrics.get(f"video_map@{t:g}")) for t in iou_threshs] + [_percent(metrics.get("video_map"))]
    rows = [ours] + [[f"paper: {r.method}", r.training, r.iou_pointing, *r.video_map, r.mean] for r in WWW_TABLE2]
    return "\n".join(format_table(header, rows, 2))


def temporal_table(metrics: dict, label: str, iou_threshs: Sequence[float]) -> str:
    """Our temporal mAP per threshold and their mean, in percent."""
    from .evaluation.pointing_game import format_table

    header = ["method"] + [f"mAP@{t:g}" for t in iou_threshs] + ["mean"]
    row = [f"ours: {label}"] + [_percent(metrics.get(f"temporal_map@{t:g}")) for t in iou_threshs]
    return "\n".join(format_table(header, [row + [_percent(metrics.get("temporal_map"))]], 2))


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------------------ the command
def check_eval_key(dataset, bench: TemporalBenchmark, label_field: str, eval_key: str) -> None:
    """Refuses, before the localisation, an evaluation key that the evaluation would refuse after it.

    Raises:
        ValueError: naming the key, the problem and what to do
    """
    if bench.task == "spatiotemporal":
        from .evaluation.spatiotemporal import eval_key_problem

        problem = eval_key_problem(dataset, eval_key, label_field, bench.gt_field)
    else:  # FiftyOne's own detection evaluation: it replaces a run of its kind, and no other
        problem = None
        if eval_key in dataset.list_evaluations():
            method = getattr(dataset.get_evaluation_info(eval_key).config, "method", None)
            if method != "activitynet":
                problem = f"'{eval_key}' already names a {method} evaluation on this dataset"
    if problem is not None:
        raise ValueError(
            f"the evaluation key '{eval_key}' derived from the label field '{label_field}' cannot be used: {problem}. "
            "Pass --label-field with another name (letters, digits and '_'); nothing was localised"
        )


def run_temporal_benchmark(args: argparse.Namespace) -> int:
    """``benchmark --task spatiotemporal|temporal``: import, localise (resuming), evaluate, print, save JSON."""
    from . import datasets as fvd
    from .cli import check_output_file
    from .localization import EmbeddingCache, localize_actions
    from .model import load_model

    bench = benchmark_for(args.task, args.dataset)
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise ValueError(f"--fps must be a positive number of frames per second, got {args.fps}")
    if bench.spatial and not 0 <= args.mask_threshold <= 1:
        raise ValueError(f"--mask-threshold applies to heatmaps scaled to [0, 1]; got {args.mask_threshold}")
    name = args.name or f"videogem-{bench.dataset}-{bench.task}"
    output = args.output or f"{name}-{_slug(args.backbone)}.json"
    check_output_file(output, "--output")
    dataset = getattr(fvd, bench.loader)(args.annotations, args.videos, name=name, max_videos=args.max_videos)
    report = fvd.get_import_report(dataset)
    if len(dataset) == 0:
        raise RuntimeError(f"no video of {bench.dataset} could be imported from '{args.videos}'; see the import report")
    for field in (bench.pool_field, bench.gt_field):
        if dataset.get_field(field) is None:
            raise ValueError(
                f"dataset '{dataset.name}' has no sample field '{field}' (an import made before the importer wrote "
                "it); pass another --name to import again, or delete that dataset"
            )

    decomposition = not args.no_decomposition
    engine_options = dict(weighting=args.weighting, decomposition=decomposition, merge=args.merge,
                          single_prompt=args.single_prompt, prompt_parser=bench.prompt_parser,
                          batch_size=args.batch_size, precision=args.precision or "fp32", exact=args.exact)
    run_options = dict(method=bench.method, fps=float(args.fps), spatial=bench.spatial, pool_field=bench.pool_field)
    label_field = args.label_field or label_field_for(bench, args.backbone, dict(
        engine_options, **run_options, checkpoint=args.checkpoint, random=args.random_weights))
    eval_key = f"{label_field}{bench.eval_suffix}"
    check_eval_key(dataset, bench, label_field, eval_key)
    model = load_model(args.backbone, checkpoint=args.checkpoint, device=args.device,
                       random_weights=args.random_weights, **engine_options)
    cache_dir = args.cache_dir or EmbeddingCache.default_directory()
    summary = localize_actions(dataset, model, label_field, pool_field=bench.pool_field, method=bench.method,
                               fps=float(args.fps), spatial=bench.spatial, overwrite=args.overwrite,
                               cache_dir=cache_dir, progress=True)
    if dataset.get_field(label_field) is None:
        raise RuntimeError(
            f"no video of '{dataset.name}' could be localised ({summary.videos_failed} failed; the reasons are in "
            f"the sample field '{label_field}_error'); nothing to evaluate"
        )

    label = f"{args.backbone} {bench.method}" + (" (random weights)" if args.random_weights else "")
    payload = dict(
        benchmark=bench.dataset, task=bench.task, dataset=dataset.name, backbone=args.backbone,
        checkpoint=args.checkpoint, random_weights=args.random_weights, label_field=label_field, eval_key=eval_key,
        method=bench.method, fps=float(args.fps), options=engine_options, localization=summary.to_dict(),
        import_report=report.to_dict() if report is not None else None,
    )
    if bench.task == "spatiotemporal":
        payload.update(_evaluate_spatiotemporal(dataset, bench, label_field, eval_key, args.mask_threshold, label))
    else:
        payload.update(_evaluate_temporal(dataset, bench, label_field, eval_key, label))
    if summary.videos_failed:
        print(f"\n{summary.videos_failed} video(s) could not be (fully) localised; see 'localization.failures' in "
              f"the JSON or the sample field '{label_field}_error'")
    if args.random_weights:
        print("\nnote: random weights; these numbers only show that the pipeline runs")
    with open(output, "w") as f:
        json.dump(json_safe(payload), f, indent=2, default=str)
    print(f"\nresults written to {output}; dataset '{dataset.name}', eval key '{eval_key}'")
    return 0


def _evaluate_spatiotemporal(dataset, bench: TemporalBenchmark, label_field: str, eval_key: str,
                             mask_threshold: float, label: str) -> dict:
    from .evaluation import evaluate_spatiotemporal
    from .localization import spatial_fields

    points, heatmap = spatial_fields(label_field)
    missing = [f for f in (points, heatmap) if not dataset.has_frame_field(f)]
    if missing:
        raise RuntimeError(f"the localisation wrote no spatial grounding ({missing} missing): no frame lies in a "
                           "found segment, so there is nothing to score")
    results = evaluate_spatiotemporal(
        dataset, label_field, bench.gt_field, pred_points_field=f"frames.{points}",
        pred_heatmap_field=f"frames.{heatmap}", gt_boxes_field="frames.gt", eval_key=eval_key, fps=EVAL_FPS,
        mask_threshold=mask_threshold, iou_threshs=GYT_THRESHOLDS,
    )
    metrics = results.metrics()
    print()
    print(f"Spatio-temporal grounding on {bench.dataset} (WWW Table 2, untrimmed): {len(dataset)} videos, "
          f"{results.num_predictions} predicted and {results.num_ground_truth} ground-truth segments, "
          f"scored at {EVAL_FPS:g} fps (percent)")
    print(www_table(metrics, label))
    print()
    results.print_report()
    return dict(
        metrics=metrics, iou_threshs=list(GYT_THRESHOLDS), mask_threshold=mask_threshold,
        per_class=results.per_class(), per_video_iou_pointing=results.per_video_iou_pointing(),
        num_predictions=results.num_predictions, num_ground_truth=results.num_ground_truth,
        paper=[dict(row=r.method, training=r.training, iou_pointing=r.iou_pointing,
                    **{f"video_map@{t:g}": v for t, v in zip(GYT_THRESHOLDS, r.video_map)}, video_map=r.mean)
               for r in WWW_TABLE2],
    )


def _evaluate_temporal(dataset, bench: TemporalBenchmark, label_field: str, eval_key: str, label: str) -> dict:
    from .evaluation import evaluate_temporal

    result = evaluate_temporal(dataset, label_field, bench.gt_field, eval_key=eval_key,
                               iou_threshs=YOUCOOK2_THRESHOLDS)
    metrics = result.metrics()
    num_gt = dataset.count(f"{bench.gt_field}.detections")
    num_pred = dataset.count(f"{label_field}.detections")
    print()
    print(f"Sentence grounding on {bench.dataset}: {len(result.classwise_ap)} sentences in {len(dataset)} videos, "
          f"{num_gt} ground-truth and {num_pred} predicted segments, method {bench.method} (temporal mAP, percent)")
    print(temporal_table(metrics, label, YOUCOOK2_THRESHOLDS))
    print("no published training-free result uses this protocol; the row is ours alone")
    return dict(metrics=metrics, iou_threshs=list(YOUCOOK2_THRESHOLDS), num_predictions=num_pred,
                num_ground_truth=num_gt, num_sentences=len(result.classwise_ap),
                per_class={c: list(v) for c, v in result.classwise_ap.items()}, paper=[])
