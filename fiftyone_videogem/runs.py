"""Records of grounding runs on a dataset.

Every :func:`~fiftyone_videogem.runner.run_videogem` run is recorded as a FiftyOne
run with method ``"videogem"``: its config holds the backbone, the engine options, the label
field and every field the run writes (``fields``), the fields runs of this key created
(``created_fields``), the prompt source and the frame selection; its results hold the counts and
the per-sample failures of the latest run into that key. Deleting the run deletes the fields
runs of this key created, and only those: a field that existed before is never deleted::

    dataset.list_runs(method="videogem")          # ["videogem_vgem"]
    info = dataset.get_run_info("videogem_vgem")
    info.config.backbone, info.config.fields      # "clip-vit-b-16", ["frames.vgem", ...]
    info.config.created_fields                    # ["frames.vgem", "frames.vgem_heatmap", ...]
    results = dataset.load_run_results("videogem_vgem")
    results.frames_grounded, results.failures
    dataset.delete_run("videogem_vgem")           # also deletes frames.vgem, frames.vgem_heatmap, ...

A field belongs to the run whose record lists it in ``fields``: the run created it, or was allowed
to write into it with ``overwrite=True`` (it is then not in ``created_fields`` and survives the
run's deletion). :func:`check_output_fields` refuses a run whose output field exists and belongs to
no run of its key (another model's labels, a field of the user's own, a field of another run),
before anything is written. Heatmap PNG files
(``heatmap_storage="files"``) are left on disk; their directory is in ``info.config.map_dir``.
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
        created_fields: the fields runs of this key created, which deleting the run deletes (None:
            a record from before fields were tracked, whose deletion deletes no field)
        **kwargs: JSON-able facts about the run (backbone, engine options, prompt source, ...)
    """

    def __init__(self, label_field: str | None = None, fields: list[str] | None = None,
                 created_fields: list[str] | None = None, **kwargs: Any):
        kwargs["method"] = METHOD
        created = list(created_fields) if created_fields is not None else None
        super().__init__(label_field=label_field, fields=list(fields or []), created_fields=created, **kwargs)


class VideoGEMRun(fors.Run):
    """A grounding run; :meth:`cleanup` deletes the fields runs of its key created."""

    def get_fields(self, samples, key: str) -> list[str]:
        return list(self.config.fields or [])

    def cleanup(self, samples, key: str) -> None:
        created = getattr(self.config, "created_fields", None)
        if created is None:
            logger.warning(
                "run '%s' was recorded before created fields were tracked; its fields %s are kept (delete them "
                "with delete_sample_field / delete_frame_field if they are yours to delete)",
                key, ", ".join(self.config.fields or []))
            return
        delete_fields(samples, created)


def field_owners(samples) -> dict[str, str]:
    """Field path (as the root dataset names it) -> key of the grounding run that writes it (whose
    record lists it in ``fields``)."""
    owners: dict[str, str] = {}
    for key in samples.list_runs(method=METHOD):
        for path in samples.get_run_info(key).config.fields or []:
            owners.setdefault(path, key)
    return owners


def videogem_run_config(samples, run_key: str | None) -> dict[str, Any] | None:
    """The config of the grounding run ``run_key`` as a dict, or None when there is none."""
    if not run_key or run_key not in samples.list_runs(method=METHOD):
        return None
    return samples.get_run_info(run_key).config.serialize()


def check_output_fields(samples, run_key: str | None, fields: list[str], overwrite: bool) -> None:
    """Refuse a run, before anything is written, that would write into a field it does not own.

    Args:
        samples: the collection the run writes to
        run_key: the run's record key (None: the run records nothing, so it owns no field)
        fields: every field the run writes, as the root dataset names them, the keypoints first
        overwrite: whether the user allows replacing the labels of a field no grounding run owns

    Raises:
        ValueError: ``run_key`` names another kind of run, or a grounding run into another label
            field (``vgem-b16`` and ``vgem_b16`` give the same default key); or a field exists and
            belongs to another grounding run; or a field exists, belongs to no grounding run and
            ``overwrite`` is False
    """
    root = fvf.root_dataset(samples)
    if run_key and run_key in samples.list_runs():
        existing = samples.get_run_info(run_key).config
        if getattr(existing, "method", None) != METHOD:
            raise ValueError(
                f"run key '{run_key}' is taken by a run of method {getattr(existing, 'method', None)!r}; "
                "pass run_key= with another name or delete that run; nothing was written"
            )
        before = list(existing.fields or [])[:1]
        if before and before != fields[:1]:
            raise ValueError(
                f"run key '{run_key}' already records the grounding run into '{before[0]}', not '{fields[0]}' "
                "(label fields that differ only in characters other than letters, digits and '_' share a default "
                "key); pass run_key= with a key of its own, or delete that run first; nothing was written"
            )
    owners = field_owners(samples)
    for path in fields:
        if root.get_field(path) is None:
            continue
        owner = owners.get(path)
        if owner is not None and owner == run_key:
            continue
        if owner is not None:
            raise ValueError(
                f"'{path}' belongs to the grounding run '{owner}'; rerun with run_key='{owner}' to add to it "
                f"(overwrite=True to replace its labels), choose another label_field, or delete run '{owner}' "
                "first; nothing was written"
            )
        if not overwrite:
            raise ValueError(
                f"'{path}' exists and was not created by a VideoGEM run (another model's labels or a field of "
                "your own); nothing was written. Choose another label_field, or pass overwrite=True to replace "
                "its labels (the field is then kept when the run is deleted)"
            )


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

    The earlier run's fields are kept (a rerun resumes into them), and so is its list of created
    fields; the fields of ``config["fields"]`` that do not exist yet are added to it (the run may
    create them; :func:`settle_created_fields` keeps those it did). A different kind of run under
    the same key is an error.
    """
    root = fvf.root_dataset(samples)
    created: list[str] = []
    if run_key in samples.list_runs():
        existing = samples.get_run_info(run_key).config
        if getattr(existing, "method", None) != METHOD:
            raise ValueError(
                f"run key '{run_key}' is taken by a run of method {getattr(existing, 'method', None)!r}; "
                "pass run_key= with another name or delete that run"
            )
        created = list(getattr(existing, "created_fields", None) or [])
    created += [p for p in config.get("fields") or [] if p not in created and root.get_field(p) is None]
    run_config = VideoGEMRunConfig(**{**config, "created_fields": created})
    run_config.build().register_run(samples, run_key, overwrite=True, cleanup=False)
    return run_config


def settle_created_fields(samples, run_key: str) -> list[str]:
    """Keep in the record of ``run_key`` only the created fields that exist (a field the run could
    have created but did not is not claimed); returns them."""
    config = samples.get_run_info(run_key).config
    root = fvf.root_dataset(samples)
    created = [p for p in getattr(config, "created_fields", None) or [] if root.get_field(p) is not None]
    if created != list(getattr(config, "created_fields", None) or []):
        config.created_fields = created
        samples.update_run_config(run_key, config)
    return created


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
        info.config.created_fields = []
        samples.update_run_config(run_key, info.config)
    samples.delete_run(run_key)
