"""The demo behind ``python -m fiftyone_videogem demo``.

Builds a small video dataset (generated scenes with known object boxes, or a folder of your
videos with one prompt), grounds the actions with VideoGEM, scores the points with the pointing
game and opens the FiftyOne App on the result, with this repository's plugin loaded (its
operators in the operator browser, the triage panel in the panel menu).

What the demo writes and deletes:

* a dataset is built under a temporary name and stays non-persistent until grounding and
  evaluation have succeeded; only then does it take the requested name and become persistent.
  A failed or interrupted run (Ctrl+C, ``kill``) deletes what it built: the dataset and the
  videos it generated;
* the datasets it creates are marked (``dataset.info["created_by"]``) together with the settings
  that made them. An existing demo dataset with the same settings is reused; one with other
  settings is replaced only with ``--overwrite``, and only after the new one is complete. A
  dataset the demo did not create is never reused, replaced or deleted;
* the generated videos are the same in every run (seeded from the scene names), and so are the
  numbers of a run with the same weights.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .fields import DEFAULT_LABEL_FIELD

logger = logging.getLogger(__name__)

LABEL_FIELD = DEFAULT_LABEL_FIELD
GT_FIELD = "gt"
EVAL_KEY = "pointing"

CREATED_BY = "fiftyone-videogem demo"
"""The value of ``dataset.info["created_by"]`` on the datasets the demo creates."""

CREATED_BY_KEY = "created_by"
SETTINGS_KEY = "demo_settings"
BUILD_KEY = "demo_build"
MEDIA_KEY = "demo_media"

FPS = 10
SECONDS = 6.0
SIZE = (640, 360)

PLUGINS_DIR_VAR = "FIFTYONE_PLUGINS_DIR"


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


def scene_seed(scene: Scene) -> int:
    """The seed of ``scene``'s background: the same in every process (unlike ``hash()``)."""
    return int.from_bytes(hashlib.sha256(scene.name.encode("utf-8")).digest()[:4], "big")


def scene_background(scene: Scene, size: tuple[int, int] = SIZE) -> np.ndarray:
    """The HxWx3 uint8 textured background of ``scene`` at ``size = (width, height)``."""
    w, h = size
    rng = np.random.RandomState(scene_seed(scene))
    texture = rng.rand(-(-h // 8), -(-w // 8), 3) * 60 + 150
    return texture.astype(np.uint8).repeat(8, 0).repeat(8, 1)[:h, :w]


def scene_frame(scene: Scene, t: float, size: tuple[int, int], background: np.ndarray):
    """The frame of ``scene`` at ``t`` seconds and its object's box ``[x, y, w, h]`` (normalised)."""
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


def render_scene(
    scene: Scene, seconds: float = SECONDS, fps: int = FPS, size: tuple[int, int] = SIZE
) -> Iterator[tuple[int, np.ndarray, list[float]]]:
    """Yields ``(frame_number, RGB frame, box)`` for every frame of ``scene``, frame numbers from 1."""
    background = scene_background(scene, size)
    for i in range(int(seconds * fps)):
        frame, box = scene_frame(scene, i / fps, size, background)
        yield i + 1, frame, box


def write_scene_video(
    scene: Scene, path: str, seconds: float = SECONDS, fps: int = FPS, size: tuple[int, int] = SIZE
) -> dict[int, list[float]]:
    """Write ``scene`` as an H.264 video; returns the GT box ``[x, y, w, h]`` of every frame number."""
    import av

    boxes = {}
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for number, frame, box in render_scene(scene, seconds, fps, size):
            boxes[number] = box
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return boxes


def scene_files() -> list[str]:
    """The file names the generated dataset writes into its media folder."""
    return [f"{scene.name}.mp4" for scene in SCENES]


def scenes_digest() -> str:
    """A short digest of everything that shapes the generated videos."""
    return hashlib.sha256(repr((SCENES, SECONDS, FPS, SIZE)).encode("utf-8")).hexdigest()[:16]


def demo_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings that shape a demo dataset and its labels, as stored in ``dataset.info``."""
    if args.videos:
        source = {"videos": os.path.abspath(args.videos), "prompt": args.prompt}
    else:
        source = {"videos": None, "scenes": scenes_digest()}
    return {
        **source,
        "every": args.every,
        "backbone": args.backbone,
        "checkpoint": os.path.abspath(args.checkpoint) if args.checkpoint else None,
        "random_weights": bool(args.random_weights),
        "weighting": args.weighting,
        "decomposition": not args.no_decomposition,
        "merge": args.merge,
        "prompt_parser": args.prompt_parser,
        "precision": args.precision,
        "exact": args.exact,
    }


def settings_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"key: old -> new"`` for every setting that differs."""
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)]


def is_demo_dataset(dataset) -> bool:
    """Whether ``dataset`` was created by the demo."""
    return dataset.info.get(CREATED_BY_KEY) == CREATED_BY


def existing_demo_dataset(name: str, settings: dict[str, Any], overwrite: bool):
    """The earlier demo dataset ``name`` to reuse (same settings) or replace (``overwrite``), or None.

    Raises:
        ValueError: a dataset ``name`` exists that the demo did not create, or one that it created
            with other settings and ``overwrite`` is False
    """
    import fiftyone as fo

    if not fo.dataset_exists(name):
        return None
    dataset = fo.load_dataset(name)
    if not is_demo_dataset(dataset):
        raise ValueError(
            f"a dataset named '{name}' exists and was not created by the demo; the demo never reuses, "
            f"replaces or deletes a dataset it did not create{' (--overwrite included)' if overwrite else ''}. "
            f"Pass --dataset NAME to build the demo under another name"
        )
    if not overwrite:
        differences = settings_differences(dataset.info.get(SETTINGS_KEY) or {}, settings)
        if differences:
            raise ValueError(
                f"dataset '{name}' was made by an earlier demo run with other settings "
                f"({'; '.join(differences)}); pass --overwrite to rebuild it with these settings, "
                f"or --dataset NAME to keep both"
            )
    return dataset


def remove_media(media: dict[str, Any] | None) -> None:
    """Deletes the files the demo generated (``{"dir": ..., "files": [...]}``), then their folder if empty."""
    if not media or not media.get("dir"):
        return
    directory = media["dir"]
    for name in media.get("files", []):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            os.remove(path)
    with contextlib.suppress(OSError):  # not empty: something the demo did not write is in it
        os.rmdir(directory)


def delete_demo_dataset(dataset) -> None:
    """Deletes a dataset the demo created, with the videos it generated for it."""
    if not is_demo_dataset(dataset):
        raise ValueError(f"dataset '{dataset.name}' was not created by the demo; it is not deleted")
    media = dataset.info.get(MEDIA_KEY)
    dataset.delete()
    remove_media(media)


def build_generated_dataset(name: str, media_dir: str):
    """A non-persistent dataset of the generated scenes, videos in ``media_dir``, GT boxes once per second."""
    import fiftyone as fo

    dataset = fo.Dataset(name)
    samples = []
    for scene, filename in zip(SCENES, scene_files()):
        path = os.path.join(media_dir, filename)
        boxes = write_scene_video(scene, path)
        sample = fo.Sample(filepath=path, action=scene.action)
        for number, box in boxes.items():
            if (number - 1) % FPS == 0:
                sample.frames[number] = fo.Frame(
                    **{GT_FIELD: fo.Detections(detections=[fo.Detection(label=scene.action, bounding_box=box)])}
                )
        samples.append(sample)
    dataset.add_samples(samples)
    dataset.compute_metadata()
    return dataset


def build_folder_dataset(name: str, videos: str, prompt: str):
    """A non-persistent dataset of the videos in the folder ``videos``, each with the action ``prompt``."""
    import fiftyone as fo

    dataset = fo.Dataset.from_dir(videos, dataset_type=fo.types.VideoDirectory, name=name)
    if len(dataset) == 0:
        dataset.delete()
        raise ValueError(f"--videos '{videos}' holds no video files; pass a folder of videos (.mp4, .mkv, ...)")
    dataset.set_values("action", [prompt] * len(dataset))
    dataset.compute_metadata()
    return dataset


def check_flags(args: argparse.Namespace) -> None:
    """Refuses contradictory or unusable command-line flags before anything is built or loaded."""
    from .engine.backbones.registry import get_backbone_spec

    if args.videos:
        if not args.prompt:
            raise ValueError('--videos needs --prompt, the action to ground in every video: --prompt "ride a bike"')
        if not os.path.isdir(args.videos):
            raise ValueError(f"--videos '{args.videos}' is not a folder; pass a folder of video files")
    elif args.prompt:
        raise ValueError("--prompt goes with --videos; the generated scenes come with their own actions")
    if args.every is not None and args.every < 1:
        raise ValueError(f"--every {args.every}: pass a frame step of 1 or more")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port}: pass a TCP port number between 1 and 65535")
    if args.random_weights and args.checkpoint:
        raise ValueError("--random-weights and --checkpoint contradict each other; pass one of them")
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        raise ValueError(f"--checkpoint '{args.checkpoint}': no such file; pass the path of a local weights file")
    try:
        spec = get_backbone_spec(args.backbone)
    except ValueError as e:
        raise ValueError(f"--backbone: {e} (list them with: python -m fiftyone_videogem backbones)") from None
    if spec.model_config is not None and not args.random_weights and not args.checkpoint:
        raise ValueError(
            f"backbone '{spec.name}' is a test architecture without pretrained weights; pass --random-weights "
            f"to run it (meaningless output) or --checkpoint PATH"
        )


PYTHON_FORMS = ("checkpoint=", "random_weights=", "from_config", "from_pretrained", "load_model(")
"""Python spellings that a command-line message must not ask for."""


def without_python_forms(message: str) -> str:
    """The sentences and clauses of ``message`` before the first one that spells a Python call."""
    kept = []
    for part in re.split(r"(?<=[.;])\s+", message.strip()):
        if any(form in part for form in PYTHON_FORMS):
            break
        kept.append(part)
    return " ".join(kept).rstrip(";,. ")


def load_demo_model(args: argparse.Namespace):
    """The model the flags describe; loading failures are reported in terms of the flags."""
    from .model import load_model

    if args.random_weights:
        logger.warning("using random weights: the output shows the pipeline works, not where actions are")
    try:
        return load_model(
            args.backbone, checkpoint=args.checkpoint, device=args.device, random_weights=args.random_weights,
            weighting=args.weighting, decomposition=not args.no_decomposition, merge=args.merge,
            prompt_parser=args.prompt_parser, batch_size=args.batch_size, precision=args.precision,
            exact=args.exact,
        )
    except Exception as e:
        if args.random_weights:
            raise
        if args.checkpoint:
            cause = e.__cause__ or e
            detail = without_python_forms(str(cause).strip().splitlines()[0] if str(cause).strip() else "")
            raise RuntimeError(
                f"could not load --checkpoint '{args.checkpoint}' into backbone '{args.backbone}' "
                f"({type(cause).__name__}: {detail}); pass a weights file of that backbone's architecture "
                f"(see: python -m fiftyone_videogem backbones)"
            ) from e
        if not isinstance(e, RuntimeError):
            raise
        reason = without_python_forms(str(e)) or f"could not get the pretrained weights of backbone '{args.backbone}'"
        raise RuntimeError(
            f"{reason}. Download the weights on a machine with access and pass --checkpoint PATH, or pass "
            f"--random-weights to see the pipeline work (meaningless output)"
        ) from e


def _temporary_name(name: str) -> str:
    return f"{name}-building-{uuid.uuid4().hex[:8]}"


def build_and_run(args: argparse.Namespace, model, settings: dict[str, Any], replaces=None):
    """Builds, grounds and evaluates the demo dataset; it becomes ``args.dataset`` only if all succeed.

    Args:
        args: the parsed command line
        model: the :class:`~fiftyone_videogem.model.VideoGEMModel` to run
        settings: :func:`demo_settings` of ``args``
        replaces (None): the earlier demo dataset of the same name to delete once this one is done
    """
    import fiftyone as fo

    from .evaluation import evaluate_pointing_game, save_triage_views
    from .runner import run_videogem

    name, dataset, media = _temporary_name(args.dataset), None, None
    try:
        if args.videos:
            dataset = build_folder_dataset(name, args.videos, args.prompt)
            rates = [m.frame_rate for m in dataset.values("metadata") if m is not None and m.frame_rate]
            frames, gt_field = args.every or max(1, round(rates[0] if rates else 25)), None
        else:
            os.makedirs(fo.config.default_dataset_dir, exist_ok=True)
            prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", args.dataset) + "-"
            media = {"dir": tempfile.mkdtemp(prefix=prefix, dir=fo.config.default_dataset_dir), "files": scene_files()}
            dataset = build_generated_dataset(name, media["dir"])
            frames, gt_field = (args.every or "gt"), f"frames.{GT_FIELD}"
        dataset.info.update({CREATED_BY_KEY: CREATED_BY, SETTINGS_KEY: settings, BUILD_KEY: uuid.uuid4().hex,
                             MEDIA_KEY: media})
        dataset.save()
        run_videogem(dataset, model, LABEL_FIELD, prompt_field="action", gt_field=gt_field, frames=frames,
                     overwrite=True, progress=True)
        if gt_field is not None:
            results = evaluate_pointing_game(dataset, f"frames.{LABEL_FIELD}", gt_field, eval_key=EVAL_KEY)
            results.print_report()
            save_triage_views(dataset, EVAL_KEY)
        publish(dataset, args.dataset, replaces)
    except BaseException:
        for leftover in {name, dataset.name if dataset is not None else name}:
            if fo.dataset_exists(leftover):
                fo.delete_dataset(leftover)
        remove_media(media)
        raise
    return dataset


def publish(dataset, name: str, replaces=None) -> None:
    """Gives the finished ``dataset`` its name and makes it persistent, deleting ``replaces`` first."""
    import fiftyone as fo

    if fo.dataset_exists(name):
        current = fo.load_dataset(name)
        same = replaces is not None and current.info.get(BUILD_KEY) == replaces.info.get(BUILD_KEY)
        if not (same and is_demo_dataset(current)):
            raise ValueError(
                f"a dataset named '{name}' was created while the demo ran; it is left as it is and this run's "
                f"dataset is deleted. Pass --dataset NAME to build the demo under another name"
            )
        delete_demo_dataset(current)
        logger.info("rebuilt dataset '%s' (--overwrite): the earlier demo run's dataset was replaced", name)
    else:
        logger.info("built dataset '%s'", name)
    dataset.name = name
    dataset.persistent = True


def repository_plugin_dir() -> str | None:
    """The repository root, which is the FiftyOne plugin directory, or None if the package is not in it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return root if os.path.isfile(os.path.join(root, "fiftyone.yml")) else None


@contextlib.contextmanager
def app_plugins_dir() -> Iterator[str | None]:
    """Within the block, App servers started by this process load this repository's plugin.

    ``FIFTYONE_PLUGINS_DIR`` (which the App server, a child process, inherits) points at a fresh
    folder holding a link to the repository and one to each plugin of the user's own plugins
    directory, so those stay available. Nothing is written to the user's plugins directory; the
    folder is removed and the variable restored at the end.

    Yields:
        the plugin's name, or None when the package is not inside its repository (nothing changed)
    """
    import fiftyone.plugins as fop

    root = repository_plugin_dir()
    if root is None:
        logger.warning(
            "the package is not inside its repository, so the App may lack the VideoGEM plugin; install it with "
            "'fiftyone plugins download https://github.com/fiftyone-videogem/fiftyone-videogem'"
        )
        yield None
        return
    name = fop.PluginDefinition.from_disk(os.path.join(root, "fiftyone.yml")).name
    folder = tempfile.mkdtemp(prefix="videogem-app-plugins-")
    links = [os.path.join(folder, "videogem")]
    previous = os.environ.get(PLUGINS_DIR_VAR)
    try:
        os.symlink(root, links[0], target_is_directory=True)
        others = [p for p in fop.list_plugins(enabled="all") if p.name != name]
        for i, plugin in enumerate(others):
            links.append(os.path.join(folder, f"user-{i}-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", plugin.name)))
            os.symlink(plugin.directory, links[-1], target_is_directory=True)
        os.environ[PLUGINS_DIR_VAR] = folder
        yield name
    finally:
        if previous is None:
            os.environ.pop(PLUGINS_DIR_VAR, None)
        else:
            os.environ[PLUGINS_DIR_VAR] = previous
        for link in links:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
        os.rmdir(folder)


def app_plugin(port: int, name: str, address: str | None = None) -> dict[str, Any] | None:
    """The definition of plugin ``name`` as the App server on ``port`` lists it (``GET /plugins``), or None."""
    import requests

    host = "127.0.0.1" if address in (None, "", "0.0.0.0", "localhost") else address
    response = requests.get(f"http://{host}:{port}/plugins", timeout=30)
    response.raise_for_status()
    return next((p for p in response.json().get("plugins", []) if p.get("name") == name), None)


def _report_app_plugin(session, name: str) -> None:
    import fiftyone.plugins as fop

    try:
        plugin = app_plugin(session.server_port, name, session.server_address)
    except Exception as e:  # the App still works; say what could not be checked
        logger.warning("could not ask the App which plugins it loaded (%s: %s)", type(e).__name__, e)
        return
    if plugin is not None:
        logger.info("the App has the plugin %s: operators %s (press ` in the App to browse them), panels %s "
                    "(the + menu next to the grid)", name, ", ".join(plugin.get("operators") or []),
                    ", ".join(plugin.get("panels") or []))
    elif name in fop.list_disabled_plugins():
        logger.warning("the plugin %s is disabled in your FiftyOne settings; enable it with "
                       "'fiftyone plugins enable %s' and run the demo again", name, name)
    else:
        logger.warning("the App on port %d does not list the plugin %s: an App server that was already "
                       "running there keeps its own plugins; stop it, or pass --port with a free port",
                       session.server_port, name)


def open_app(dataset, port: int, remote: bool = False) -> None:
    """Serves ``dataset`` in the FiftyOne App, with the plugin loaded, until Ctrl+C or SIGTERM."""
    import fiftyone as fo

    from .runner import sigterm_as_interrupt

    with app_plugins_dir() as plugin_name, sigterm_as_interrupt():
        session = fo.launch_app(dataset, port=port, remote=remote, auto=False)
        try:
            if plugin_name is not None:
                _report_app_plugin(session, plugin_name)
            logger.info("the FiftyOne App is at %s (Ctrl+C to stop)", session.url)
            session.wait(-1)
        except KeyboardInterrupt:
            pass
        finally:
            session.close()


def run_demo(args: argparse.Namespace) -> int:
    """``python -m fiftyone_videogem demo``: returns the exit status."""
    check_flags(args)
    settings = demo_settings(args)
    existing = existing_demo_dataset(args.dataset, settings, args.overwrite)
    if existing is not None and not args.overwrite:
        dataset = existing
        logger.info("reusing dataset '%s' of an earlier demo run with the same settings (--overwrite rebuilds it)",
                    dataset.name)
        if EVAL_KEY in dataset.list_evaluations():
            dataset.load_evaluation_results(EVAL_KEY).print_report()
    else:
        from .runner import sigterm_as_interrupt

        model = load_demo_model(args)
        try:
            with sigterm_as_interrupt():
                dataset = build_and_run(args, model, settings, replaces=existing)
        except KeyboardInterrupt:
            logger.warning("interrupted: the dataset this run was building and its generated videos were deleted")
            return 130
    if args.no_app:
        logger.info("dataset '%s' is ready; open it with: fiftyone app launch %s", dataset.name, dataset.name)
        return 0
    open_app(dataset, args.port, remote=args.remote)
    return 0
