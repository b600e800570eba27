"""The demo behind ``python -m fiftyone_videogem demo``.

Builds a small video dataset (generated scenes with known object boxes, or a folder of your
videos with one prompt), grounds the actions with VideoGEM, scores the points with the pointing
game and opens the FiftyOne App on the result.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

LABEL_FIELD = "videogem"
GT_FIELD = "gt"


@dataclass(frozen=True)
class Scene:
    """A generated clip: a coloured object moving over a textured background."""

    name: str
    action: str
    color: tuple[int, int, int]
    shape: str  # "disk" | "box"
    start: tuple[float, float]  # normalised centre at t = 0
    velocity: tuple[float, float]  # normalised units per second
    radius: float  # normalised to the frame height


SCENES = (
    Scene("red-ball", "roll the red ball", (220, 30, 30), "disk", (0.2, 0.6), (0.10, -0.03), 0.12),
    Scene("blue-box", "push the blue box", (30, 60, 220), "box", (0.8, 0.4), (-0.09, 0.04), 0.14),
    Scene("green-ball", "throw the green ball", (40, 190, 60), "disk", (0.5, 0.8), (0.03, -0.08), 0.10),
    Scene("yellow-box", "lift the yellow box", (235, 210, 40), "box", (0.3, 0.3), (0.08, 0.05), 0.13),
)


def _scene_frame(scene: Scene, t: float, size: tuple[int, int], background: np.ndarray):
    w, h = size
    cx = (scene.start[0] + scene.velocity[0] * t) * w
    cy = (scene.start[1] + scene.velocity[1] * t) * h
    r = scene.radius * h
    frame = background.copy()
    yy, xx = np.mgrid[0:h, 0:w]
    if scene.shape == "disk":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    else:
        mask = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    frame[mask] = scene.color
    box = [max(0.0, (cx - r) / w), max(0.0, (cy - r) / h), min(1.0, (cx + r) / w), min(1.0, (cy + r) / h)]
    return frame, [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def write_scene_video(scene: Scene, path: str, seconds: float = 6.0, fps: int = 10,
                      size: tuple[int, int] = (640, 360)) -> dict[int, list[float]]:
    """Write ``scene`` as an H.264 video; returns the GT box ``[x, y, w, h]`` of every frame number."""
    import av

    rng = np.random.RandomState(abs(hash(scene.name)) % 2**31)
    w, h = size
    background = (rng.rand(h // 8, w // 8, 3) * 60 + 150).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    boxes = {}
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * fps)):
            frame, box = _scene_frame(scene, i / fps, size, background)
            boxes[i + 1] = box
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return boxes


def build_demo_dataset(name: str, directory: str, overwrite: bool = False):
    """A persistent dataset of the generated scenes, with GT boxes once per second."""
    import fiftyone as fo

    from .datasets.common import reuse_or_prepare

    existing = reuse_or_prepare(name, overwrite)
    if existing is not None:
        return existing
    os.makedirs(directory, exist_ok=True)
    dataset = fo.Dataset(name, persistent=True)
    fps = 10
    samples = []
    for scene in SCENES:
        path = os.path.join(directory, f"{scene.name}.mp4")
        boxes = write_scene_video(scene, path, fps=fps)
        sample = fo.Sample(filepath=path, action=scene.action)
        for number, box in boxes.items():
            if (number - 1) % fps == 0:
                sample.frames[number] = fo.Frame(
                    **{GT_FIELD: fo.Detections(detections=[fo.Detection(label=scene.action, bounding_box=box)])}
                )
        samples.append(sample)
    dataset.add_samples(samples)
    dataset.compute_metadata()
    return dataset


def build_folder_dataset(name: str, videos: str, prompt: str, overwrite: bool = False):
    import fiftyone as fo

    from .datasets.common import reuse_or_prepare

    existing = reuse_or_prepare(name, overwrite)
    if existing is not None:
        return existing
    dataset = fo.Dataset.from_dir(videos, dataset_type=fo.types.VideoDirectory, name=name)
    dataset.persistent = True
    dataset.set_values("action", [prompt] * len(dataset))
    dataset.compute_metadata()
    return dataset


def run_demo(args: argparse.Namespace) -> int:
    import fiftyone as fo

    from .evaluation import evaluate_pointing_game, save_triage_views
    from .model import load_model, run_videogem

    if args.videos:
        if not args.prompt:
            raise ValueError("--videos needs --prompt: the action to ground in every video")
        dataset = build_folder_dataset(args.dataset, args.videos, args.prompt, args.overwrite)
        rates = [m.frame_rate for m in dataset.values("metadata") if m is not None and m.frame_rate]
        frames = args.every or max(1, round(rates[0] if rates else 25))
        gt_field = None
    else:
        directory = os.path.join(fo.config.default_dataset_dir, args.dataset)
        dataset = build_demo_dataset(args.dataset, directory, args.overwrite)
        frames, gt_field = (args.every or "gt"), f"frames.{GT_FIELD}"
    model = load_model(
        args.backbone, checkpoint=args.checkpoint, device=args.device, random_weights=args.random_weights,
        weighting=args.weighting, decomposition=not args.no_decomposition, merge=args.merge,
        prompt_parser=args.prompt_parser, batch_size=args.batch_size, precision=args.precision,
        exact=not args.fast,
    )
    summary = run_videogem(dataset, model, LABEL_FIELD, prompt_field="action", gt_field=gt_field,
                           frames=frames, overwrite=args.overwrite, progress=True)
    print(summary)
    if gt_field is not None:
        results = evaluate_pointing_game(dataset, f"frames.{LABEL_FIELD}", gt_field, eval_key="pointing")
        results.print_report()
        save_triage_views(dataset, "pointing")
    if args.no_app:
        print(f"dataset '{dataset.name}' is ready: fiftyone app launch {dataset.name}")
        return 0
    session = fo.launch_app(dataset, port=args.port, auto=False)
    print(f"the FiftyOne App is at {session.url} (Ctrl+C to stop)")
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
    return 0
