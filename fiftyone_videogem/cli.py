"""Command line: ``python -m fiftyone_videogem <command>``.

Commands:
    backbones   list the registered backbones and their licences
    ground      ground a prompt in one frame of a video file and write a picture of the result
    ground-dataset  ground the actions of a FiftyOne dataset, here or on a Ray cluster
    localize    find when (and where) actions happen in a FiftyOne video dataset, here or on a Ray cluster
    demo        build (or load) a video dataset, run VideoGEM over it and open the FiftyOne App
    benchmark   reproduce the paper's pointing-game protocol (or a temporal task) on a benchmark dataset
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys

from .benchmark_spatiotemporal import add_arguments as add_temporal_benchmark_arguments
from .benchmark_temporal import add_arguments as add_thumos14_arguments
from .engine.options import MERGE_MODES, PARSERS, PRECISIONS, WEIGHTING_MODES

logger = logging.getLogger(__name__)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="clip-vit-b-16",
                        help="backbone name, as listed by the backbones command (default: clip-vit-b-16)")
    parser.add_argument("--checkpoint", default=None, metavar="PATH", help="local weights file instead of the download")
    parser.add_argument("--random-weights", action="store_true",
                        help="random weights of the backbone's architecture (offline smoke runs; meaningless output)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--weighting", default="static+dynamic",
                        choices=WEIGHTING_MODES,
                        help="layer weighting of the self-self attention (default: static+dynamic)")
    parser.add_argument("--no-decomposition", action="store_true", help="ground the action prompt only")
    parser.add_argument("--merge", default="point_average",
                        choices=MERGE_MODES,
                        help="how the verb, object and action results combine (default: point_average)")
    parser.add_argument("--parser", default="auto", dest="prompt_parser",
                        choices=PARSERS,
                        help="how an action is split into verb and object (default: auto)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per forward pass (default: 16)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="precision of the vision pass on every device (default: fp32, the paper's; "
                             "fp16/bf16 autocast is faster on a GPU, see docs/method.md for its drift)")
    parser.add_argument("--exact", action="store_true",
                        help="original pathway bit-identical to the model's own forward, for verification "
                             "(default: fused attention, equal within float rounding and faster)")
    parser.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)  # the default; kept for old commands


def _add_ray_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", default="local", choices=["local", "ray"],
                        help="work in this process, or on a Ray cluster (default: local)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address: auto, ray://head:10001, head:6379 (default: a local Ray instance)")
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray actors (default: one per GPU of the cluster, or one per CPU without GPUs)")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="GPUs each Ray actor reserves (default: 1 when the cluster has GPUs, else 0)")


def engine_options(args: argparse.Namespace) -> dict:
    """The engine options of the common command-line options."""
    return dict(weighting=args.weighting, decomposition=not args.no_decomposition, merge=args.merge,
                prompt_parser=args.prompt_parser, batch_size=args.batch_size, precision=args.precision,
                exact=args.exact)


def build_engine(args: argparse.Namespace):
    """A VideoGEM engine from the common command-line options."""
    from .engine.grounding import VideoGEM
    from .model import load_pretrained

    options = engine_options(args)
    if args.random_weights:
        logger.warning("using random weights: the output shows the pipeline works, not where actions are")
        return VideoGEM.from_config(args.backbone, device=args.device, **options)
    return load_pretrained(args.backbone, checkpoint=args.checkpoint, device=args.device, **options)


def check_output_file(path: str, flag: str, image: bool = False) -> None:
    """Refuse an output file that could not be written, before any work is done.

    Args:
        path: the file to write
        flag: the option that named it (``"--output"``), for messages
        image (False): whether it is a picture (its extension must be one OpenCV writes)
    """
    import cv2

    from .runner import check_writable_dir

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{flag} '{path}' is a folder; pass the path of a file to write")
    if not os.path.isdir(folder):
        raise ValueError(f"{flag} '{path}': the folder '{folder}' does not exist; create it or pass another path")
    check_writable_dir(folder, f"the folder of {flag}")
    if image and not cv2.haveImageWriter(path):
        raise ValueError(f"{flag} '{path}': pictures are written as .png or .jpg; pass a path with one of those")


def cmd_backbones(args: argparse.Namespace) -> int:
    from .engine.backbones.registry import list_backbones

    for spec in list_backbones():
        print(f"{spec.name:20s} {spec.description}\n{'':20s} licence: {spec.license}")
    return 0


def cmd_ground(args: argparse.Namespace) -> int:
    from .video import FrameDecoder, context_frame_numbers, probe, read_frame_times, stride_in_frames
    from .visualize import render_result, save_rgb

    check_output_file(args.output, "--output", image=True)
    info = probe(args.video)
    if args.frame is not None:
        target = args.frame
    elif args.time is not None:
        times = read_frame_times(args.video)  # the frame on screen then, also at a variable frame rate
        if not 0 <= args.time < times.end:
            raise ValueError(f"--time {args.time:g} is outside the video '{args.video}' (0 to {times.end:.3f} s); "
                             "pass a time inside it")
        target = times.frame_number(args.time)
    else:
        target = (info.num_frames + 1) // 2
    if not 1 <= target <= info.num_frames:
        raise ValueError(f"frame {target} is outside the video '{args.video}' (frames 1..{info.num_frames}); "
                         "pass --frame or --time inside it")
    engine = build_engine(args)
    t, index = engine.info.num_frames, engine.info.target_frame
    numbers = [target]
    if t > 1:
        stride = stride_in_frames(args.stride, info.frame_rate)
        numbers = context_frame_numbers(target, t, index, stride, last=info.num_frames)
    with FrameDecoder(args.video) as decoder:
        decoded = dict(decoder.frames(numbers))
        if decoder.missing:
            raise ValueError(f"could not decode frames {decoder.missing} of '{args.video}'; the file may be damaged, "
                             "re-encode it or pick another frame")
    frames = [decoded[n] for n in numbers]
    result = engine.ground(frames if t > 1 else frames[0], args.prompt)
    save_rgb(args.output, render_result(decoded[target], result))
    x, y = result.point
    print(f"frame {target}: point ({x:.3f}, {y:.3f}) of the frame; picture written to {args.output}")
    for name, c in result.components.items():
        print(f"  {name:6s} ({c.point[0]:.3f}, {c.point[1]:.3f})  {c.prompt}")
    return 0


def load_samples(args: argparse.Namespace):
    """The dataset ``args.dataset``, or its saved view ``args.view``."""
    import fiftyone as fo

    if not fo.dataset_exists(args.dataset):
        raise ValueError(f"there is no FiftyOne dataset '{args.dataset}'; `fiftyone datasets list` shows them")
    samples = fo.load_dataset(args.dataset)
    if args.view:
        samples = samples.load_saved_view(args.view)
    return samples


def model_options(args: argparse.Namespace) -> dict:
    """The model options (:class:`~fiftyone_videogem.model.VideoGEMModelConfig`) of the engine options."""
    options = dict(engine_options(args), checkpoint=args.checkpoint, device=args.device,
                   random_weights=args.random_weights)
    if args.prompt_parser == "auto":
        options["prompt_parser"] = None  # "auto", honouring an imported dataset's parser
    return options


def ray_options(args: argparse.Namespace) -> dict:
    """The cluster options of ``--executor ray`` (address, actors, GPUs each); none for ``local``."""
    if args.executor == "ray":
        return dict(address=args.address, num_workers=args.workers, num_gpus_per_worker=args.gpus_per_worker)
    if args.address or args.workers or args.gpus_per_worker is not None:
        raise ValueError("--address, --workers and --gpus-per-worker need --executor ray")
    return {}


def cmd_ground_dataset(args: argparse.Namespace) -> int:
    from .runner import run_videogem

    samples = load_samples(args)
    options = dict(model_options(args), **ray_options(args))
    if args.executor == "ray":
        options.update(num_cpus_per_worker=args.cpus_per_worker, num_decode_workers=args.decode_workers)
    elif args.decode_workers:
        raise ValueError("--decode-workers needs --executor ray")
    frames = [int(n) for n in args.frames.split(",")] if "," in args.frames else args.frames
    summary = run_videogem(samples, args.backbone, args.label_field, prompt_field=args.prompt_field,
                           gt_field=args.gt_field, prompt=args.prompt, frames=frames, overwrite=args.overwrite,
                           executor=args.executor, progress=True, **options)
    print(summary)
    for failure in summary.failures[:10]:
        print(f"  {failure.filepath}: {failure.reason}")
    return 0


def cmd_localize(args: argparse.Namespace) -> int:
    from .distributed import ConfigEngine
    from .localization import localize_actions
    from .model import VideoGEMModelConfig

    if (args.queries is None) == (args.pool_field is None):
        raise ValueError('pass the phrases to look for as --queries "crack eggs, pour milk", or name the field '
                         "that holds each video's own with --pool-field (one of the two)")
    if args.scorer and args.method != "zeal":
        raise ValueError("--scorer is the start/end model of --method zeal; drop it or pass --method zeal")
    if args.method == "zeal" and not args.scorer:
        raise ValueError("--method zeal needs a start/end scorer: pass --scorer NAME (e.g. smolvlm-256m)")
    queries = args.queries
    if queries is not None and not os.path.isfile(queries):  # a file is ZEAL's query file (JSON)
        queries = [q for q in queries.split(",") if q.strip()]
        if not queries:
            raise ValueError('--queries has no phrase; pass them separated by commas, e.g. "crack eggs, pour milk"')
    samples = load_samples(args)
    cluster = ray_options(args)
    if args.random_weights:
        logger.warning("using random weights: the output shows the pipeline works, not where actions are")
    # on Ray each worker builds the engine on its own device; here it is built once
    factory = ConfigEngine(VideoGEMModelConfig({**model_options(args), "backbone": args.backbone}))
    model = factory if args.executor == "ray" else factory()
    options = dict(queries=queries, pool_field=args.pool_field, method=args.method, fps=args.fps,
                   spatial=not args.no_spatial, overwrite=args.overwrite, progress=True, executor=args.executor,
                   **cluster)
    if args.scorer:
        options.update(scorer=args.scorer, class_filter=args.class_filter)
    elif args.class_filter is not None:
        raise ValueError("--class-filter is ZEAL's class filter; it needs --method zeal with --scorer")
    summary = localize_actions(samples, model, args.label_field, **options)
    print(summary)
    for failure in summary.failures[:10]:
        print(f"  {failure['filepath']}: {failure['reason']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def cmd_benchmark(args: argparse.Namespace) -> int:
    from .benchmark_temporal import check_method

    check_method(args)
    if args.dataset == "thumos14":
        from .benchmark_temporal import run_thumos14

        return run_thumos14(args)
    from .benchmark import run_benchmark

    return run_benchmark(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fiftyone_videogem",
                                     description="VideoGEM: training-free spatial action grounding in videos.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backbones", help="list the registered backbones")
    p.set_defaults(func=cmd_backbones)

    p = sub.add_parser("ground", help="ground a prompt in a frame of a video and write a picture")
    p.add_argument("video")
    p.add_argument("prompt")
    p.add_argument("--frame", type=int, default=None, help="1-based frame number (default: the middle frame)")
    p.add_argument("--time", type=float, default=None, help="time in seconds instead of --frame")
    p.add_argument("--stride", type=float, default=0.25, help="context spacing in seconds (video backbones)")
    p.add_argument("--output", default="videogem.png")
    _add_engine_options(p)
    p.set_defaults(func=cmd_ground)

    p = sub.add_parser(
        "ground-dataset", help="ground the actions of a FiftyOne dataset, here or on a Ray cluster",
        description="Ground the actions of a FiftyOne dataset (or one of its saved views) with run_videogem: "
                    "labels in frames.<label-field> and <label-field>_heatmap, problems in <label-field>_error, "
                    "the run recorded on the dataset. A rerun resumes. With --executor ray the work goes to a "
                    "pool of Ray actors (docs/scale.md).")
    p.add_argument("dataset", help="name of the FiftyOne dataset")
    p.add_argument("--view", default=None, metavar="NAME", help="a saved view of the dataset to ground")
    p.add_argument("--label-field", default="videogem", help="where the labels go (default: videogem)")
    p.add_argument("--prompt-field", default=None, metavar="FIELD",
                   help="field holding the action text (frames.action, action, ...)")
    p.add_argument("--prompt", default=None, metavar="TEXT", help="one action for every frame instead")
    p.add_argument("--gt-field", default=None, metavar="FIELD", help="ground-truth field, for --frames gt")
    p.add_argument("--frames", default="gt",
                   help="gt (frames with ground truth), all, N (every N-th frame) or 1,5,9 (default: gt)")
    p.add_argument("--overwrite", action="store_true", help="ground frames that already have labels again")
    _add_ray_options(p)
    p.add_argument("--cpus-per-worker", type=float, default=1, help="CPUs each Ray actor reserves (default: 1)")
    p.add_argument("--decode-workers", type=int, default=0,
                   help="videos on Ray: one-CPU actors that decode the frames before the engine actors, when "
                        "decoding sets the pace (sparse frames, GPU nodes with few cores); default 0: each "
                        "engine actor decodes its own")
    _add_engine_options(p)
    p.set_defaults(func=cmd_ground_dataset)

    p = sub.add_parser(
        "localize", help="find when (and where) actions happen in a video dataset, here or on a Ray cluster",
        description="Find the segments of a FiftyOne video dataset's videos (or one of its saved views) where "
                    "actions happen, with localize_actions: segments in <label-field> (TemporalDetections), "
                    "points and heatmaps in frames.<label-field>_points and frames.<label-field>_heatmap, "
                    "problems in <label-field>_error, the run recorded on the dataset. A rerun resumes. With "
                    "--executor ray the videos go to a pool of Ray actors (docs/scale.md); see docs/temporal.md.")
    p.add_argument("dataset", help="name of the FiftyOne dataset")
    p.add_argument("--view", default=None, metavar="NAME", help="a saved view of the dataset to scan")
    p.add_argument("--label-field", required=True, metavar="FIELD", help="where the segments go")
    p.add_argument("--queries", default=None, metavar="TEXT",
                   help='the phrases to look for in every video, separated by commas ("crack eggs, pour milk"); '
                        "with --method zeal also a JSON file of ZEAL's queries")
    p.add_argument("--pool-field", default=None, metavar="FIELD",
                   help="instead of --queries, the field of each video's own phrases (a list of strings, or "
                        "Classifications, Detections or TemporalDetections)")
    p.add_argument("--method", default="www", choices=["www", "contrast", "zeal"],
                   help="www: each frame takes the best phrase, or background (default); contrast: each phrase "
                        "against the video's background; zeal: interval proposals from --scorer's answers")
    p.add_argument("--scorer", default=None, metavar="NAME",
                   help="--method zeal: the yes/no vision-language model (e.g. smolvlm-256m, a Hugging Face id, "
                        "a local folder, or random-<family> for random weights)")
    p.add_argument("--class-filter", type=int, default=None, metavar="K",
                   help="--method zeal: keep the K phrases that best match each video")
    p.add_argument("--fps", type=float, default=1.0, help="sampled frames per second (default: 1)")
    p.add_argument("--no-spatial", action="store_true", help="segments only: no points and heatmaps")
    p.add_argument("--overwrite", action="store_true", help="scan videos that already have segments again")
    _add_ray_options(p)
    _add_engine_options(p)
    p.set_defaults(func=cmd_localize)

    p = sub.add_parser(
        "demo", help="run VideoGEM on a video dataset and open the FiftyOne App",
        description="Build a small video dataset (generated scenes with known boxes, or --videos with --prompt), "
                    "ground its actions with VideoGEM, score the points with the pointing game and open the "
                    "FiftyOne App, with the VideoGEM operators and triage panel, on the result. A dataset of the "
                    "same name made by an earlier demo run with the same settings is reused; a dataset the demo "
                    "did not create is never reused, replaced or deleted.")
    p.add_argument("--videos", default=None, metavar="DIR",
                   help="a folder of videos (default: four generated scenes with ground-truth boxes)")
    p.add_argument("--prompt", default=None, metavar="TEXT", help="the action to ground in every video of --videos")
    p.add_argument("--dataset", default="videogem-demo", metavar="NAME",
                   help="name of the FiftyOne dataset to build (default: videogem-demo)")
    p.add_argument("--every", type=int, default=None, metavar="N",
                   help="ground every N-th frame (default: the ground-truth frames, or one frame per second)")
    p.add_argument("--no-app", action="store_true", help="build and ground the dataset, but do not open the App")
    p.add_argument("--remote", action="store_true",
                   help="serve the App without opening a browser tab (open the printed URL yourself)")
    p.add_argument("--port", type=int, default=5151, help="port of the App (default: 5151)")
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild the dataset if an earlier demo run made it (a dataset the demo did not "
                        "create is never replaced)")
    _add_engine_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("benchmark", help="the paper's pointing-game protocol, or a temporal task, on a benchmark")
    p.add_argument("--task", default="spatial", choices=["spatial", "spatiotemporal", "temporal"],
                   help="spatial: the pointing game (default); spatiotemporal: when and where (groundingyoutube); "
                        "temporal: when (youcook2); see docs/benchmark.md")
    p.add_argument("--dataset", required=True,
                   choices=["groundingyoutube", "youcook2_interactions", "daly", "vhico", "youcook2", "thumos14"])
    p.add_argument("--annotations", required=True, help="annotation file or folder of the benchmark")
    p.add_argument("--videos", required=True, help="folder with the downloaded videos")
    p.add_argument("--name", default=None, help="FiftyOne dataset name (default: the benchmark's)")
    p.add_argument("--label-field", default=None)
    p.add_argument("--image-mode", action="store_true", help="video backbones: repeat the keyframe T times")
    p.add_argument("--single-prompt", default="action", choices=["action", "verb", "object"])
    p.add_argument("--max-videos", type=int, default=None)
    p.add_argument("--output", default=None, help="results JSON (default: <dataset>-<backbone>.json)")
    p.add_argument("--overwrite", action="store_true", help="recompute labels that already exist")
    add_temporal_benchmark_arguments(p)
    add_thumos14_arguments(p)
    _add_engine_options(p)
    p.set_defaults(func=cmd_benchmark)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("fiftyone_videogem").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for name in ("fiftyone", "eta"):  # FiftyOne prints these through its own handlers: print them once
        logging.getLogger(name).propagate = False
    try:
        return args.func(args) or 0
    except KeyboardInterrupt as e:  # Ctrl-C, and SIGTERM during a grounding run (runner.Interrupted)
        if args.verbose:
            raise
        reason = f" ({e})" if str(e) else ""
        print(f"interrupted{reason}: labels written so far are kept; run the command again to resume",
              file=sys.stderr)
        return 128 + getattr(e, "signum", 2)
    except Exception as e:
        from .video import VideoError

        if args.verbose or not isinstance(e, USER_ERRORS + (VideoError,)):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1


USER_ERRORS = (ValueError, RuntimeError, OSError, pickle.UnpicklingError)
"""What a user's input can cause (with video errors; a damaged annotation pickle is an unpickling
error): reported as ``error: <message>`` and exit code 1, without a traceback (``-v`` shows it).
The messages say what went wrong and what to do."""


if __name__ == "__main__":
    sys.exit(main())
