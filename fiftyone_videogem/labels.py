"""Engine results -> FiftyOne labels.

For every processed frame (or image) a grounding run writes, next to each other:

* ``<label_field>``: :class:`fiftyone.core.labels.Keypoints`. The first keypoint is the final
  point (``component="final"``, ``label`` = the action text); one keypoint per grounded component
  follows (``label`` and ``component`` = ``"action"`` | ``"verb"`` | ``"object"``, plus the
  templated ``prompt`` and its global ``score``). Every keypoint carries ``input_point`` (the
  integer pixel in the model input), ``input_size`` (``[width, height]`` of the model input) and
  ``heat`` (the heatmap value at the point). Points are normalised ``(x, y)`` of the original
  frame, origin top-left.
* ``<label_field>_heatmap``: :class:`fiftyone.core.labels.Heatmap` of the action prompt
  (float32 ``[0, 1]`` inline at patch-grid resolution, or a uint8/uint16 PNG on disk), and with
  ``heatmaps="all"`` also ``<label_field>_heatmap_verb``, ``<label_field>_heatmap_object`` and,
  for heatmap merges, ``<label_field>_heatmap_merged``.
* ``<label_field>_error`` (sample level): why (part of) the sample could not be processed, or
  None.

Everything here is pure conversion: no database access.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

import fiftyone.core.labels as fol

if TYPE_CHECKING:  # pragma: no cover
    from .engine.grounding import GroundingResult

logger = logging.getLogger(__name__)

FINAL_COMPONENT = "final"
COMPONENT_ORDER = ("action", "verb", "object")
MERGED_HEATMAP = "merged"

HEATMAP_CHOICES = ("action", "all", "none")
HEATMAP_STORAGES = ("inline", "files")
HEATMAP_DTYPES = ("uint8", "uint16")
HEATMAP_SIZES = ("grid", "input", "frame")

_DTYPE_RANGE = {"uint8": 255, "uint16": 65535}


# ------------------------------------------------------------------------------------ names
def heatmap_field(label_field: str, component: str = "action") -> str:
    """The field of a component's heatmap: ``<label_field>_heatmap`` for the action prompt,
    ``<label_field>_heatmap_<component>`` for the others."""
    return f"{label_field}_heatmap" if component == "action" else f"{label_field}_heatmap_{component}"


def error_field(label_field: str) -> str:
    """The sample-level string field holding a sample's failure reason."""
    return f"{label_field}_error"


def output_fields(label_field: str, heatmaps: str = "action") -> list[str]:
    """Every label field a run with these settings may write (without the error field)."""
    fields = [label_field]
    if heatmaps == "action":
        fields.append(heatmap_field(label_field))
    elif heatmaps == "all":
        fields += [heatmap_field(label_field, c) for c in COMPONENT_ORDER + (MERGED_HEATMAP,)]
    return fields


# -------------------------------------------------------------------------------- options
@dataclass(frozen=True)
class HeatmapOptions:
    """How heatmaps are stored.

    Args:
        heatmaps: which heatmaps to store: ``"action"`` (the action prompt only), ``"all"``
            (every component, and the merged map of heatmap merges) or ``"none"`` ("action")
        storage: ``"inline"`` (float32 maps in the database) or ``"files"`` (PNG files under
            ``map_dir``) ("inline")
        map_dir: directory of the PNG files (None; required for ``"files"``)
        size: resolution of stored maps: ``"grid"`` (the patch grid, min-max normalised
            similarities), ``"input"`` (the model input size), ``"frame"`` (the original frame
            size) or ``(width, height)``. Inline maps are always at ``"grid"`` unless given
            otherwise (None: ``"grid"`` inline, ``"input"`` for files)
        dtype: PNG sample type, ``"uint8"`` (range [0, 255]) or ``"uint16"`` (range [0, 65535])
            ("uint8")
    """

    heatmaps: str = "action"
    storage: str = "inline"
    map_dir: str | None = None
    size: str | tuple[int, int] | None = None
    dtype: str = "uint8"

    def __post_init__(self):
        if self.heatmaps not in HEATMAP_CHOICES:
            raise ValueError(f"heatmaps must be one of {HEATMAP_CHOICES}, got {self.heatmaps!r}")
        if self.storage not in HEATMAP_STORAGES:
            raise ValueError(f"heatmap storage must be one of {HEATMAP_STORAGES}, got {self.storage!r}")
        if self.dtype not in HEATMAP_DTYPES:
            raise ValueError(f"heatmap dtype must be one of {HEATMAP_DTYPES}, got {self.dtype!r}")
        size = self.size
        if isinstance(size, (list, tuple)):
            if len(size) != 2 or min(int(v) for v in size) < 1:
                raise ValueError(f"heatmap size must be (width, height) with positive values, got {size!r}")
            object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        elif size is not None and size not in HEATMAP_SIZES:
            raise ValueError(f"heatmap size must be one of {HEATMAP_SIZES}, (width, height) or None, got {size!r}")
        if self.storage == "files" and not self.map_dir:
            raise ValueError("heatmap storage 'files' needs map_dir, the directory to write the PNG files to")

    @property
    def resolved_size(self) -> str | tuple[int, int]:
        if self.size is not None:
            return self.size
        return "grid" if self.storage == "inline" else "input"

    def components(self, result: GroundingResult) -> list[str]:
        """The components of ``result`` whose heatmaps are stored."""
        if self.heatmaps == "none":
            return []
        names = [c for c in COMPONENT_ORDER if c in result.components]
        if self.heatmaps == "action":
            # without decomposition the single grounded prompt stands in for the action
            return names[:1] if "action" not in names else ["action"]
        extra = [MERGED_HEATMAP] if _has_merged_heatmap(result) else []
        return names + extra


def _has_merged_heatmap(result: GroundingResult) -> bool:
    if result.heatmap is None:
        return False
    return not any(c.heatmap is result.heatmap for c in result.components.values())


# ------------------------------------------------------------------------------ keypoints
def _point(point: Sequence[float]) -> tuple[float, float]:
    return float(point[0]), float(point[1])


def _ints(values: Sequence[int]) -> list[int]:
    return [int(v) for v in values]


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def to_keypoints(result: GroundingResult) -> fol.Keypoints:
    """The final point first, then one keypoint per grounded component (action, verb, object)."""
    size = _ints(result.input_size)
    keypoints = [
        fol.Keypoint(
            label=result.action, points=[_point(result.point)], component=FINAL_COMPONENT,
            input_point=_ints(result.input_point), input_size=size, heat=_float_or_none(result.heat),
        )
    ]
    for name in COMPONENT_ORDER:
        component = result.components.get(name)
        if component is None:
            continue
        keypoints.append(
            fol.Keypoint(
                label=name, points=[_point(component.point)], component=name, prompt=component.prompt,
                input_point=_ints(component.input_point), input_size=size,
                heat=_float_or_none(component.heat), score=float(component.score),
            )
        )
    return fol.Keypoints(keypoints=keypoints)


# ------------------------------------------------------------------------------- heatmaps
def normalize_grid(similarity: np.ndarray) -> np.ndarray:
    """Min-max normalise a similarity grid to float32 [0, 1] (a constant grid becomes zeros)."""
    grid = np.asarray(similarity, dtype=np.float32)
    low, high = float(grid.min()), float(grid.max())
    if not high > low:
        return np.zeros_like(grid, dtype=np.float32)
    return ((grid - low) / (high - low)).astype(np.float32)


def _component_map(result: GroundingResult, component: str, size, frame_size) -> np.ndarray:
    """A component's map in [0, 1] at the requested size."""
    if component == MERGED_HEATMAP:
        source = result.heatmap
        if size == "grid":
            # the merged map only exists at input resolution; shrink it to the action grid's shape
            grid_shape = next(iter(result.components.values())).similarity.shape
            return _resize(source, (grid_shape[1], grid_shape[0]))
    else:
        item = result.components[component]
        if size == "grid":
            return normalize_grid(item.similarity)
        source = item.heatmap
        if source is None:  # heatmaps were not returned by the engine: upsample the grid
            source = _resize(normalize_grid(item.similarity), tuple(result.input_size))
    source = np.asarray(source, dtype=np.float32)
    if size == "input":
        return source
    if size == "frame":
        if frame_size is None:
            return source
        return _resize(source, frame_size)
    return _resize(source, size)


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    width, height = int(size[0]), int(size[1])
    array = np.asarray(array, dtype=np.float32)
    if array.shape == (height, width):
        return array
    interpolation = cv2.INTER_AREA if width < array.shape[1] else cv2.INTER_LINEAR
    out = cv2.resize(array, (width, height), interpolation=interpolation)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def write_heatmap_png(array: np.ndarray, path: str, dtype: str = "uint8") -> fol.Heatmap:
    """Quantise a [0, 1] map to a uint8/uint16 PNG at ``path`` and return a Heatmap pointing to it."""
    import cv2

    top = _DTYPE_RANGE[dtype]
    values = np.rint(np.clip(np.asarray(array, dtype=np.float64), 0.0, 1.0) * top).astype(dtype)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if not cv2.imwrite(path, values):
        raise OSError(f"could not write heatmap '{path}'; check that the directory is writable")
    return fol.Heatmap(map_path=path, range=[0, top])


def to_heatmaps(
    result: GroundingResult,
    label_field: str,
    options: HeatmapOptions,
    frame_size: tuple[int, int] | None = None,
    file_stem: str | None = None,
) -> dict[str, fol.Heatmap]:
    """The heatmap labels of one result, keyed by field name.

    Args:
        result: the engine's result for one frame
        label_field: the run's label field (heatmap fields are derived from it)
        options: storage options
        frame_size: ``(width, height)`` of the original frame (for ``size="frame"``)
        file_stem: path of the PNG files without extension, relative to
            ``options.map_dir``; the component name is appended (required for files)
    """
    labels = {}
    size = options.resolved_size
    for component in options.components(result):
        array = _component_map(result, component, size, frame_size)
        field = heatmap_field(label_field, component)
        if options.storage == "inline":
            labels[field] = fol.Heatmap(map=np.ascontiguousarray(array, dtype=np.float32), range=[0, 1])
        else:
            if file_stem is None:
                raise ValueError("file_stem is required to write heatmap files")
            path = os.path.join(options.map_dir, f"{file_stem}_{component}.png")
            labels[field] = write_heatmap_png(array, path, options.dtype)
    return labels


def to_labels(
    result: GroundingResult,
    label_field: str,
    options: HeatmapOptions,
    frame_size: tuple[int, int] | None = None,
    file_stem: str | None = None,
) -> dict[str, fol.Label]:
    """Every label of one processed frame, keyed by field name."""
    labels: dict[str, fol.Label] = {label_field: to_keypoints(result)}
    labels.update(to_heatmaps(result, label_field, options, frame_size=frame_size, file_stem=file_stem))
    return labels
