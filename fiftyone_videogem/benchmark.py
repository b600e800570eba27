"""The paper's pointing-game protocol on a benchmark, in one command (``--task spatial``, the default;
the temporal tasks are in :mod:`fiftyone_videogem.benchmark_spatiotemporal`).

``python -m fiftyone_videogem benchmark --dataset groundingyoutube --annotations DIR --videos DIR``
imports the benchmark (or reuses the dataset imported before), grounds every annotated frame
(resuming a run that was interrupted), evaluates with ``protocol="paper"`` and prints the result in
the layout of the paper's tables with the paper's numbers beside ours. Results are saved as JSON.

What can be checked is checked before the long work: the ``--output`` file can be written (before
the import), and the evaluation key derived from the label field is valid and free (before the
grounding).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

COLUMNS = ("VH", "DALY", "YC", "gYT")


@dataclass(frozen=True)
class Benchmark:
    """How one benchmark is imported and run.

    Args:
        name: the command-line name
        column: its column in the paper's tables
        loader: function name in :mod:`fiftyone_videogem.datasets`
        prompt_parser: how its action labels are split into verb and object
        stride_seconds: spacing of ViCLIP context frames in seconds (None: use ``stride_frames``)
        stride_frames: spacing in frames
        context_edge: what ViCLIP gets for a frame whose context window reaches past the video's
            ends (METHOD.md section 7): ``"repeat_keyframe"`` on V-HICO, ``"skip"`` on DALY
            ("clamp")
    """

    name: str
    column: str
    loader: str
    prompt_parser: str
    stride_seconds: float | None = None
    stride_frames: int | None = None
    context_edge: str = "clamp"


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("groundingyoutube", "gYT", "load_groundingyoutube", "verb_object", stride_seconds=0.25),
        Benchmark("youcook2_interactions", "YC", "load_youcook2_interactions", "sentence", stride_seconds=0.25),
        Benchmark("daly", "DALY", "load_daly", "camel_case", stride_frames=32, context_edge="skip"),
        Benchmark("vhico", "VH", "load_vhico", "verb_object", stride_frames=4, context_edge="repeat_keyframe"),
    )
}

# The paper's numbers (PAPER_RESULTS.md): {(table, model, backbone, setting): {column: accuracy %}}


def _row(values):
    return dict(zip(("VH", "DALY", "YC", "gYT", "avg"), values))


PAPER = {
    ("Table 1", "GEM", "CLIP", ""): _row((67.79, 78.52, 50.08, 36.92, 58.33)),
    ("Table 1", "GEM", "OpenCLIP", ""): _row((68.28, 74.05, 56.87, 32.91, 58.03)),
    ("Table 1", "GEM", "ViCLIP", ""): _row((65.08, 73.75, 53.62, 51.28, 60.93)),
    ("Table 1", "VideoGEM", "CLIP", ""): _row((76.90, 84.53, 52.57, 47.46, 65.37)),
    ("Table 1", "VideoGEM", "OpenCLIP", ""): _row((76.42, 80.32, 60.05, 45.33, 65.53)),
    ("Table 1", "VideoGEM", "ViCLIP", ""): _row((75.75, 78.25, 55.10, 57.21, 66.58)),
    ("Table 2", "VideoGEM", "ViCLIP", "weights none"): _row((74.79, 76.84, 54.38, 56.39, 65.60)),
    ("Table 2", "VideoGEM", "ViCLIP", "weights dynamic"): _row((74.49, 76.85, 54.62, 56.47, 65.61)),
    ("Table 2", "VideoGEM", "ViCLIP", "weights static"): _row((76.18, 78.38, 55.02, 56.75, 66.58)),
    ("Table 2", "VideoGEM", "OpenCLIP", "weights none"): _row((77.86, 79.27, 59.20, 40.17, 64.13)),
    ("Table 2", "VideoGEM", "OpenCLIP", "weights dynamic"): _row((78.41, 79.07, 59.77, 43.29, 65.14)),
    ("Table 2", "VideoGEM", "OpenCLIP", "weights static"): _row((76.12, 80.30, 61.82, 42.96, 65.30)),
    ("Table 3", "VideoGEM", "ViCLIP", "prompt verb"): _row((64.72, 76.21, 36.54, 31.26, 52.18)),
    ("Table 3", "VideoGEM", "ViCLIP", "prompt object"): _row((62.30, 68.71, 54.94, 46.78, 58.18)),
    ("Table 3", "VideoGEM", "ViCLIP", "prompt action"): _row((65.68, 74.17, 52.97, 51.99, 60.95)),
    ("Table 3", "VideoGEM", "OpenCLIP", "prompt verb"): _row((69.60, 80.24, 43.45, 21.60, 53.72)),
    ("Table 3", "VideoGEM", "OpenCLIP", "prompt object"): _row((65.44, 77.00, 51.21, 34.20, 56.96)),
    ("Table 3", "VideoGEM", "OpenCLIP", "prompt action"): _row((66.77, 74.87, 57.36, 38.38, 59.35)),
    ("Table 4", "VideoGEM", "ViCLIP", "merge heatmap_product"): _row((66.16, 76.72, 55.91, 48.87, 61.92)),
    ("Table 4", "VideoGEM", "ViCLIP", "merge heatmap_average"): _row((65.44, 75.99, 56.75, 49.96, 62.04)),
    ("Table 4", "VideoGEM", "OpenCLIP", "merge heatmap_product"): _row((68.28, 80.36, 58.40, 34.18, 60.31)),
    ("Table 4", "VideoGEM", "OpenCLIP", "merge heatmap_average"): _row((68.40, 78.94, 58.04, 35.34, 60.18)),
    ("Table 5", "GEM", "ViCLIP", "image input"): _row((65.20, 74.00, 52.17, 48.80, 60.04)),
    ("Table 5", "VideoGEM", "ViCLIP", "image input"): _row((74.19, 78.47, 54.86, 55.08, 65.65)),
}

_BACKBONE_FAMILY = {"clip-vit-b-16": "CLIP", "openclip-vit-b-16": "OpenCLIP", "viclip-b-16": "ViCLIP"}


def describe_setting(backbone: str, weighting: str, decomposition: bool, single_prompt: str, merge: str,
                     image_mode: bool) -> tuple[str, str, str] | None:
    """``(model, backbone family, setting)`` of the paper row this configuration reproduces, or None."""
    family = _BACKBONE_FAMILY.get(backbone)
    if family is None:
        return None
    if not decomposition and weighting == "none" and single_prompt == "action":
        return "GEM", family, "image input" if image_mode else ""
    if image_mode:
        return ("VideoGEM", family, "image input") if (decomposition and weighting == "static+dynamic"
                                                         and merge == "point_average") else None
    if not decomposition:
        return ("VideoGEM", family, f"prompt {single_prompt}") if weighting == "static+dynamic" else None
    if merge != "point_average":
        return ("VideoGEM", family, f"merge {merge}") if weighting == "static+dynamic" else None
    if weighting != "static+dynamic":
        return "VideoGEM", family, f"weights {weighting}"
    return "VideoGEM", family, ""


def paper_rows(setting: tuple[str, str, str] | None) -> list[tuple[str, dict]]:
    """The paper rows of a setting: ``[(title, {column: value})]``."""
    if setting is None:
        return []
    return [(f"{table}: {model} {family}" + (f", {extra}" if extra else ""), values)
            for (table, model, family, extra), values in PAPER.items() if (model, family, extra) == setting]


def format_table(ours: dict, column: str, setting, label: str) -> str:
    """Our accuracy beside the paper's rows, in the paper's column layout."""
    header = f"{'':44s}" + "".join(f"{c:>8s}" for c in (*COLUMNS, "avg"))
    lines = [header, "-" * len(header)]
    cells = "".join(f"{(f'{ours[column]:.2f}' if c == column else '-'):>8s}" for c in (*COLUMNS, "avg"))
    lines.append(f"{('ours: ' + label)[:44]:44s}{cells}")
    for title, values in paper_rows(setting):
        lines.append(f"{('paper ' + title)[:44]:44s}" + "".join(f"{values[c]:8.2f}" for c in (*COLUMNS, "avg")))
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


def run_key_for(backbone: str, options: dict) -> str:
    """A label field name unique to the backbone and the options that change the labels."""
    digest = hashlib.sha1(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return f"vgem_{_slug(backbone)}_{digest}"


def check_eval_key(dataset, eval_key: str, label_field: str) -> None:
    """Refuse, before the grounding, an evaluation key the pointing game would refuse after it
    (with the fields it would write when the labels exist already).

    Args:
        dataset: the imported benchmark
        eval_key: the key the command derives from the label field
        label_field: the label field (``--label-field`` or the derived one)
    """
    from .evaluation import eval_key_problem

    pred = f"frames.{label_field}"
    problem = eval_key_problem(dataset, eval_key, pred, "frames.gt") if dataset.get_field(pred) else None
    problem = problem or eval_key_problem(dataset, eval_key)
    if problem is not None:
        raise ValueError(
            f"the evaluation key '{eval_key}' derived from the label field '{label_field}' cannot be used: {problem}. "
            "Pass --label-field with another name (letters, digits and '_'); nothing was grounded"
        )


def run_benchmark(args: argparse.Namespace) -> int:
    """``benchmark``: the pointing game (``--task spatial``), or a temporal task
    (:mod:`fiftyone_videogem.benchmark_spatiotemporal`)."""
    if getattr(args, "task", "spatial") != "spatial":
        from .benchmark_spatiotemporal import run_temporal_benchmark

        return run_temporal_benchmark(args)
    if args.dataset not in BENCHMARKS:
        raise ValueError(f"'{args.dataset}' has no pointing-game benchmark (--task spatial); it takes one of "
                         f"{sorted(BENCHMARKS)}. For its temporal task pass --task temporal")
    from . import datasets as fvd
    from .cli import check_output_file
    from .evaluation import evaluate_pointing_game, save_triage_views
    from .model import load_model
    from .runner import run_videogem

    bench = BENCHMARKS[args.dataset]
    name = args.name or f"videogem-{bench.name}"
    output = args.output or f"{name}-{_slug(args.backbone)}.json"
    check_output_file(output, "--output")
    loader = getattr(fvd, bench.loader)
    dataset = loader(args.annotations, args.videos, name=name, max_videos=args.max_videos)
    report = fvd.get_import_report(dataset)
    if len(dataset) == 0:
        raise RuntimeError(f"no video of {bench.name} could be imported from '{args.videos}'; see the import report")

    decomposition = not args.no_decomposition
    engine_options = dict(weighting=args.weighting, decomposition=decomposition, merge=args.merge,
                          single_prompt=args.single_prompt, prompt_parser=bench.prompt_parser,
                          batch_size=args.batch_size, precision=args.precision or "fp32", exact=args.exact)
    model_options = dict(context_stride=bench.stride_seconds or 0.25, context_stride_frames=bench.stride_frames,
                         context_edge=bench.context_edge)
    if args.image_mode:
        model_options["image_mode"] = True
    label_field = args.label_field or run_key_for(args.backbone, dict(engine_options, **model_options,
                                                                      checkpoint=args.checkpoint,
                                                                      random=args.random_weights))
    eval_key = f"{label_field}_pg"
    check_eval_key(dataset, eval_key, label_field)
    model = load_model(args.backbone, checkpoint=args.checkpoint, device=args.device,
                       random_weights=args.random_weights, **engine_options, **model_options)
    prompt_field = "frames.action" if dataset.has_frame_field("action") else "action"
    summary = run_videogem(dataset, model, label_field, prompt_field=prompt_field, gt_field="frames.gt",
                           frames="gt", overwrite=args.overwrite, progress=True)
    logger.info("%s", summary)

    results = evaluate_pointing_game(dataset, f"frames.{label_field}", "frames.gt", eval_key=eval_key,
                                     protocol="paper", box_mode="any")
    save_triage_views(dataset, eval_key)
    ours = {bench.column: 100.0 * results.accuracy}
    setting = describe_setting(args.backbone, args.weighting, decomposition, args.single_prompt, args.merge,
                               args.image_mode)
    label = (f"{args.backbone} {args.weighting}" + ("" if decomposition else f" {args.single_prompt} only")
             + ("" if args.merge == "point_average" else f" {args.merge}") + (" image" if args.image_mode else ""))
    print()
    print(f"Pointing game on {bench.name} (protocol=paper): {results.num_hits}/{results.num_evaluated} frames, "
          f"{len(dataset)} videos")
    print(format_table(ours, bench.column, setting, label))
    print()
    results.print_report()
    if args.random_weights:
        print("\nnote: random weights; these numbers only show that the pipeline runs")

    payload = dict(
        benchmark=bench.name, dataset=dataset.name, backbone=args.backbone, checkpoint=args.checkpoint,
        random_weights=args.random_weights, label_field=label_field, eval_key=eval_key,
        options=dict(engine_options, **model_options), accuracy=results.accuracy,
        num_evaluated=results.num_evaluated, num_hits=results.num_hits, metrics=results.metrics(),
        paper=[dict(row=title, **values) for title, values in paper_rows(setting)],
        grounding=summary.to_dict(), import_report=report.to_dict() if report is not None else None,
    )
    with open(output, "w") as f:
        json.dump(payload, f, indent=2, default=str)
    print(f"\nresults written to {output}; dataset '{dataset.name}', eval key '{eval_key}'")
    return 0
