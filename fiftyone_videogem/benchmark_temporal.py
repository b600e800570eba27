"""THUMOS14 temporal action localisation with ZEAL's protocol, in one command.

``python -m fiftyone_videogem benchmark --task temporal --dataset thumos14 --method zeal --scorer NAME
--annotations DIR --videos DIR`` imports THUMOS14 (:func:`fiftyone_videogem.datasets.load_thumos14`, or
reuses the dataset imported before), localises its actions with
``localize_actions(method="zeal")`` in two settings and scores them as ZEAL does:

* **zero-shot**: every video against all classes, with ZEAL's class filter (the ``--top-k`` classes
  whose descriptions best match the mean embedding of 8 frames, 3 on THUMOS14) and its rule that skips
  a class whose mean score is below 0.1;
* **video-level labels known**: every video against its own classes (the importer's ``actions``).

For each, the temporal mAP at tIoU 0.3, 0.4, 0.5, 0.6 and 0.7 and their mean comes from FiftyOne's
ActivityNet evaluation (:func:`fiftyone_videogem.evaluation.spatiotemporal.evaluate_temporal`), over
all classes and as ZEAL's zero-shot rows compute it (:func:`class_subsets`, :func:`subset_map`): the
mean, over 10 random subsets of 25% ("75/25") or 50% ("50/50") of the classes with ground truth drawn
with seed 1111, of the mean AP of the subset's classes. ZEAL's Table 1 rows are printed beside ours and
everything is saved as JSON.

The localisation resumes (videos that have segments are skipped), and the yes/no scores are cached per
video, class, question and model, so a rerun after an interruption only does what is left.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
from typing import Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
"""THUMOS14's temporal IoU thresholds."""

SEED = 1111
"""ZEAL's seed of the class subsets (``np.random.seed(1111)`` in its ``helpers/eval.py``)."""

NUM_SUBSETS = 10
"""Random class subsets per split."""

SPLITS = {"75/25": 0.25, "50/50": 0.50}
"""ZEAL's zero-shot splits: the fraction of the classes in each subset."""

SETTINGS = {"zero_shot": "zero-shot (class filter)", "labels_known": "video-level labels known"}

ZEAL_TABLE1 = (
    ("T3AL0 (CoCa, no adaptation)", "yes", 4.6, 4.8),
    ("FreeZAD (CoCa only, no LVLM)", "yes", 10.05, 9.90),
    ("T3AL (adapts on the test video)", "no training data", 9.2, 10.4),
    ("ZEAL LLaVA-OneVision-7B", "yes", 11.6, 10.7),
    ("ZEAL LLaVA-OV-7B, video-level labels known", "yes", 17.0, 16.0),
    ("ActionFormer (fully supervised), all classes", "no", 66.8, None),
)
"""ZEAL's Table 1 on THUMOS14: ``(method, training-free, avg mAP % 75/25, avg mAP % 50/50)``."""


# --------------------------------------------------------------------------------- protocol
def class_subsets(classes: Sequence[str], fraction: float, seed: int = SEED, count: int = NUM_SUBSETS
                  ) -> list[list[str]]:
    """ZEAL's random class subsets: ``count`` draws of ``int(fraction * n)`` classes without
    replacement from one generator seeded with ``seed`` (numpy's legacy ``RandomState``, the generator
    behind ZEAL's ``np.random.seed`` / ``np.random.choice``).

    ZEAL draws from the classes in the order its annotation files were listed (``glob``, so the
    file system's order); here they are drawn from the sorted class names, so the subsets are the
    same on every machine. At least one class is drawn.

    Args:
        classes: the classes with ground truth
        fraction: the share of the classes per subset (0.25 or 0.5)
        seed (1111): the seed
        count (10): the number of subsets

    Returns:
        the subsets, each in the order drawn
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    pool = np.asarray(sorted(set(classes)), dtype=object)
    if not len(pool):
        return []
    size = max(1, int(fraction * len(pool)))
    rng = np.random.RandomState(seed)
    return [[str(c) for c in rng.choice(pool, size, replace=False)] for _ in range(count)]


def subset_map(classwise_ap: Mapping[str, Sequence[float]], subsets: Sequence[Sequence[str]],
               num_thresholds: int = len(THRESHOLDS)) -> list[float]:
    """The mean over ``subsets`` of the mean AP of each subset's classes, per threshold (a class
    without an AP, i.e. never predicted, counts as 0, as in ZEAL)."""
    if not subsets:
        return [math.nan] * num_thresholds
    zero = [0.0] * num_thresholds
    per_subset = [np.mean([classwise_ap.get(c, zero) for c in subset], axis=0) for subset in subsets]
    return [float(v) for v in np.mean(per_subset, axis=0)]


def protocol_results(temporal_map, classes: Sequence[str]) -> dict:
    """All-class and ZEAL split mAPs of a :class:`~fiftyone_videogem.evaluation.spatiotemporal.TemporalMAP`.

    Args:
        temporal_map: the evaluation
        classes: the classes with ground truth (the pool of the subsets)
    """
    thresholds = list(temporal_map.iou_threshs)
    out = {
        "iou_threshs": thresholds,
        "map_per_threshold": list(temporal_map.map_per_threshold),
        "map": temporal_map.map,
        "classwise_ap": {c: list(v) for c, v in temporal_map.classwise_ap.items()},
        "splits": {},
    }
    for split, fraction in SPLITS.items():
        subsets = class_subsets(classes, fraction)
        per_threshold = subset_map(temporal_map.classwise_ap, subsets, len(thresholds))
        out["splits"][split] = {"fraction": fraction, "subsets": subsets, "map_per_threshold": per_threshold,
                                "map": float(np.mean(per_threshold))}
    return out


# ------------------------------------------------------------------------------------ table
def _cell(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def format_tables(results: Mapping[str, dict], label: str) -> str:
    """Our mAP per threshold (%), and our average mAP per split beside ZEAL's Table 1."""
    header = f"{'mAP (%) at tIoU':62s}" + "".join(f"{t:>7g}" for t in THRESHOLDS) + f"{'avg':>7s}"
    lines = [header, "-" * len(header)]
    for key, result in results.items():
        rows = [("all classes", result["map_per_threshold"], result["map"])]
        rows += [(f"{split} (mean of {NUM_SUBSETS} subsets)", r["map_per_threshold"], r["map"])
                 for split, r in result["splits"].items()]
        for name, values, mean in rows:
            title = f"ours, {SETTINGS[key]}: {name}"
            lines.append(f"{title[:62]:62s}" + "".join(f"{_cell(100 * v):>7s}" for v in values)
                         + f"{_cell(100 * mean):>7s}")
    header = f"{'avg mAP (%) over tIoU 0.3-0.7':60s}{'free':>18s}" + "".join(f"{s:>8s}" for s in SPLITS)
    lines += ["", header, "-" * len(header)]
    for key, result in results.items():
        title = f"ours: {label}, {SETTINGS[key]}"
        lines.append(f"{title[:60]:60s}{'yes':>18s}" + "".join(f"{_cell(100 * result['splits'][s]['map']):>8s}"
                                                              for s in SPLITS))
    for method, free, a, b in ZEAL_TABLE1:
        lines.append(f"{('ZEAL Table 1: ' + method)[:60]:60s}{free[:18]:>18s}{_cell(a):>8s}{_cell(b):>8s}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- run
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark command's options of ``--dataset thumos14``."""
    parser.add_argument("--method", default=None, choices=sorted(DATASET_METHODS),
                        help="the localisation method of a temporal task, the one its protocol runs (the default): "
                             "zeal (thumos14), contrast (youcook2), www (groundingyoutube)")
    parser.add_argument("--scorer", default=None, metavar="NAME",
                        help="thumos14: the yes/no vision-language model: a registry name (smolvlm-256m, ...), a "
                             "Hugging Face id, a local folder, or random-idefics3 / random-qwen2_vl (random weights)")
    parser.add_argument("--queries", default=None, metavar="FILE",
                        help="thumos14: ZEAL's query file {class: {start, end, description}} (default: templates)")
    parser.add_argument("--top-k", type=int, default=3,
                        help="thumos14: classes the zero-shot class filter keeps per video (default: 3, ZEAL's)")
    parser.add_argument("--scorer-batch-size", type=int, default=8,
                        help="thumos14: frames per forward pass of the scorer (default: 8)")


def _field_name(scorer: str, options: dict, setting: str) -> str:
    """A label field unique to the scorer, the options that change the segments and the setting."""
    digest = hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:6]
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", scorer).strip("_").lower()
    return f"zeal_{slug}_{digest}_{'known' if setting == 'labels_known' else 'zs'}"


DATASET_METHODS = {"zeal": "thumos14", "contrast": "youcook2", "www": "groundingyoutube"}
"""The localisation method of each temporal benchmark (the one its protocol runs)."""


def check_method(args: argparse.Namespace) -> None:
    """Refuses a ``--method`` that the dataset's protocol does not run.

    Raises:
        ValueError: naming the method the dataset takes
    """
    method = getattr(args, "method", None)
    if method is not None and getattr(args, "task", None) == "spatial":
        raise ValueError(f"--method {method} applies to --task spatiotemporal or temporal; leave it out")
    if method is not None and DATASET_METHODS.get(method) != args.dataset:
        runs = [m for m, d in DATASET_METHODS.items() if d == args.dataset]
        raise ValueError(f"--method {method} does not apply to --dataset {args.dataset}"
                         + (f"; its protocol runs --method {runs[0]}" if runs else "; leave --method out"))


def run_thumos14(args: argparse.Namespace) -> int:
    """``benchmark --task temporal --dataset thumos14``: see the module docstring."""
    from . import datasets as fvd
    from .cli import build_engine, check_output_file
    from .evaluation.spatiotemporal import evaluate_temporal
    from .localization import localize_actions
    from .temporal.queries import resolve_queries
    from .temporal.scorer import load_scorer
    from .zeal import MIN_MEAN_SCORE, ScoreCache, ZealScorer, scorer_fingerprint

    if getattr(args, "task", "temporal") != "temporal":
        raise ValueError("THUMOS14 is a temporal benchmark: pass --task temporal")
    if args.scorer is None:
        raise ValueError("--method zeal needs --scorer: a registry name (smolvlm-256m, ...), a Hugging Face id, a "
                         "local folder, or random-idefics3 for a smoke run with random weights")
    if args.top_k < 1:
        raise ValueError(f"--top-k keeps at least one class, got {args.top_k}")
    name = args.name or "videogem-thumos14"
    output = args.output or f"{name}-zeal-{args.scorer.replace('/', '_')}.json"
    check_output_file(output, "--output")
    dataset = fvd.load_thumos14(args.annotations, args.videos, name=name, max_videos=args.max_videos)
    report = fvd.get_import_report(dataset)
    if len(dataset) == 0:
        raise RuntimeError(f"no THUMOS14 video could be imported from '{args.videos}'; see the import report")
    gt_field = "gt_instances"
    classes = sorted(dataset.distinct(f"{gt_field}.detections.label"))
    queries = resolve_queries(classes, args.queries)

    engine = build_engine(args)
    scorer = load_scorer(args.scorer, device=args.device, batch_size=args.scorer_batch_size)
    fps = float(getattr(args, "fps", 1.0))
    cache_dir = getattr(args, "cache_dir", None)
    cache = ScoreCache(ScoreCache.directory_for(cache_dir), scorer_fingerprint(scorer))
    options = dict(scorer=scorer.config(), backbone=args.backbone, random_weights=args.random_weights,
                   checkpoint=args.checkpoint, fps=fps, queries=queries)
    results, runs = {}, {}
    for setting in SETTINGS:
        known = setting == "labels_known"
        adapter = ZealScorer(scorer, queries, top_k=None if known else args.top_k,
                             min_mean_score=None if known else MIN_MEAN_SCORE, cache=cache)
        field = args.label_field + ("_known" if known else "_zs") if args.label_field else _field_name(
            args.scorer, dict(options, top_k=None if known else args.top_k), setting)
        summary = localize_actions(
            dataset, engine, field, method="zeal", start_end_scorer=adapter, fps=fps, spatial=False,
            queries=None if known else classes, pool_field="actions" if known else None,
            overwrite=args.overwrite, cache_dir=cache_dir, progress=True,
        )
        evaluation = evaluate_temporal(dataset, field, gt_field, iou_threshs=THRESHOLDS)
        results[setting] = protocol_results(evaluation, classes)
        runs[setting] = dict(label_field=field, localization=summary.to_dict(), questions_scored=adapter.questions_scored,
                             questions_from_cache=adapter.questions_from_cache,
                             classes_filtered=adapter.classes_filtered, classes_skipped=adapter.classes_skipped)

    label = f"zeal {args.scorer}"
    print()
    print(f"THUMOS14 temporal action localisation (ZEAL's protocol): {len(dataset)} videos, {len(classes)} classes")
    print(format_tables(results, label))
    if args.random_weights or scorer.name.startswith("random-"):
        print("\nnote: random weights; these numbers only show that the pipeline runs")
    payload = dict(
        benchmark="thumos14", task="temporal", method="zeal", dataset=dataset.name, scorer=args.scorer,
        scorer_config=scorer.config(), backbone=args.backbone, random_weights=args.random_weights,
        protocol=dict(iou_threshs=list(THRESHOLDS), seed=SEED, subsets=NUM_SUBSETS, splits=dict(SPLITS),
                      top_k=args.top_k, min_mean_score=MIN_MEAN_SCORE, fps=fps, classes=classes),
        results=results, runs=runs,
        zeal_table1=[dict(method=m, training_free=f, **{"75/25": a, "50/50": b}) for m, f, a, b in ZEAL_TABLE1],
        import_report=report.to_dict() if report is not None else None,
    )
    with open(output, "w") as f:
        json.dump(payload, f, indent=2, default=str)
    print(f"\nresults written to {output}; dataset '{dataset.name}'")
    return 0
