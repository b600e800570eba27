"""Records of grounding runs on a dataset.

Every :func:`~fiftyone_videogem.runner.run_videogem` run is recorded as a FiftyOne
run with method ``"videogem"``: its config holds the backbone, the engine options, the label
field and every field the run writes, the prompt source and the frame selection; its results
hold the counts and the per-sample failures of the latest run into that key. Deleting the run
deletes the fields it wrote::

    dataset.list_runs(method="videogem")          # ["videogem_vgem"]
    info = dataset.get_run_info("videogem_vgem")
    info.config.backbone, info.config.fields      # "clip-vit-b-16", ["frames.vgem", ...]
    results = dataset.load_run_results("videogem_vgem")
    results.frames_grounded, results.failures
    dataset.delete_run("videogem_vgem")           # also deletes frames.vgem, frames.vgem_heatmap, ...

Heatmap PNG files (``heatmap_storage="files"``) are left on disk; their directory is in
``info.config.map_dir``.
"""

from __future__ import annotations

import logging
from typing import Any

import fiftyone.core.runs as fors

from . import fields as fvf

logger = logging.getLogger(__name__)

METHOD = "videogem"


class VideoGEMRunConfig(fors.RunConfig):
    """Config of a grounding run.

    Args:
        label_field: the keypoints field (``frames.`` prefix on videos)
        fields: every field the run writes, as the root dataset names them
        **kwargs: JSON-able facts about the run (backbone, engine options, prompt source, ...)
    """

    def __init__(self, label_field: str | None = None, fields: list[str] | None = None, **kwargs: Any):
        kwargs["method"] = METHOD
        super().__init__(label_field=label_field, fields=list(fields or []), **kwargs)


class VideoGEMRun(fors.Run):
    """A grounding run; :meth:`cleanup` deletes the fields it wrote."""

    def get_fields(self, samples, key: str) -> list[str]:
        return list(self.config.fields or [])

    def cleanup(self, samples, key: str) -> None:
        delete_fields(samples, self.config.fields or [])


def delete_fields(samples, paths: list[str]) -> list[str]:
    """Delete the given sample / ``frames.`` fields from the root dataset; returns those deleted."""
    root = fvf.root_dataset(samples)
    deleted = []
    for path in paths:
        if fvf.is_frame_path(path):
            if fvf.is_video(root) and root.get_field(path) is not None:
                root.delete_frame_field(fvf.strip_frames(path))
                deleted.append(path)
        elif root.get_field(path) is not None:
            root.delete_sample_field(path)
            deleted.append(path)
    if deleted:
        logger.info("deleted field(s) %s", ", ".join(deleted))
    return deleted


def register_videogem_run(samples, run_key: str, config: dict[str, Any]) -> VideoGEMRunConfig:
    """Record a run under ``run_key``, replacing an earlier grounding run with that key.

    The earlier run's fields are kept (a rerun resumes into them). A different kind of run under
    the same key is an error.
    """
    run_config = VideoGEMRunConfig(**config)
    if run_key in samples.list_runs():
        existing = samples.get_run_info(run_key).config
        if getattr(existing, "method", None) != METHOD:
            raise ValueError(
                f"run key '{run_key}' is taken by a run of method {getattr(existing, 'method', None)!r}; "
                "pass run_key= with another name or delete that run"
            )
    run_config.build().register_run(samples, run_key, overwrite=True, cleanup=False)
    return run_config


def save_videogem_results(samples, run_key: str, results: dict[str, Any]) -> None:
    """Store a run's summary (counts and failures) as its results."""
    run_results = samples.init_run_results(run_key, **results)
    samples.save_run_results(run_key, run_results, overwrite=True)


def list_videogem_runs(samples) -> list[str]:
    """The keys of the grounding runs on the collection's dataset."""
    return samples.list_runs(method=METHOD)


def load_videogem_results(samples, run_key: str) -> dict[str, Any]:
    """A run's stored summary as a dict (``frames_grounded``, ``failures``, ...)."""
    results = samples.load_run_results(run_key, cache=False)
    if results is None:
        return {}
    return {k: getattr(results, k) for k in results.attributes()}


def delete_videogem_run(samples, run_key: str, delete_fields: bool = True) -> None:
    """Delete a run record and, by default, the fields it wrote (``dataset.delete_run`` does the same)."""
    if not delete_fields:
        info = samples.get_run_info(run_key)
        info.config.fields = []
        samples.update_run_config(run_key, info.config)
    samples.delete_run(run_key)
