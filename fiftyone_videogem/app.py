"""How the FiftyOne App shows grounding results: heatmap colours, point colours, active fields.

:func:`configure_app` is called after a grounding run writes its labels. It stores, on the
dataset's App config (``dataset.app_config``), everything the App needs to show that run
readably:

-   the run's heatmaps coloured with a perceptual colour scale (``viridis``) at an opacity that
    leaves the frame visible. The App colours a heatmap with a colour scale only when labels are
    coloured *by value* (``color_by="value"``); coloured *by field*, a heatmap is drawn in the
    field's single colour with its value as the intensity, a veil over the frame. An unset
    ``color_by`` therefore becomes ``"value"``; a ``color_by`` the user chose is kept, with a
    warning;
-   the keypoints of the run coloured by their ``component`` attribute: the final point in red,
    the ``action`` / ``verb`` / ``object`` points in white, orange and violet;
-   the run's points, heatmap and ground truth active (shown) in the grid and the sample view,
    and every other heatmap field inactive, so the latest run's heatmap is not stacked on
    earlier ones. Frame fields are listed both as ``frames.<name>`` (videos and clips) and as
    ``<name>`` (``to_frames()`` views, whose frame fields are sample fields), so a frames view
    of the run shows its labels too.

Settings of other fields and other colour-scheme options are left as they are.

Example::

    from fiftyone_videogem.app import configure_app

    configure_app(dataset, "frames.videogem", "frames.videogem_heatmap", gt_field="frames.gt")
    session = fo.launch_app(dataset)
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import fiftyone as fo
import fiftyone.core.labels as fol

from .fields import FRAMES_PREFIX, is_frame_path, is_video, resolve_field, root_dataset, root_paths, strip_frames
from .labels import FINAL_COMPONENT, heatmap_field

logger = logging.getLogger(__name__)

HEATMAP_COLORSCALE = "viridis"
"""The named Plotly colour scale of the product's heatmaps (perceptually uniform)."""

OPACITY = 0.5
"""Opacity of labels in the App when the dataset sets none (the App's default is 0.7)."""

COLOR_BY = "value"
"""How the App colours labels; ``"value"`` is needed for heatmap colour scales."""

POINT_COLOR_ATTRIBUTE = "component"
"""The keypoint attribute the points are coloured by."""

POINT_COLORS = {
    FINAL_COMPONENT: "#ff1744",  # the final point: red, a colour the heatmap scale lacks
    "action": "#ffffff",
    "verb": "#ff9100",
    "object": "#e040fb",
}
"""Colour of each point by its ``component`` attribute."""

# labels the App leaves inactive by default
_HIDDEN_BY_DEFAULT = (fol.Heatmap, fol.Segmentation)


def app_paths(collection, paths: list[str]) -> list[str]:
    """The App paths of ``paths`` (root-dataset paths): a frame field of a video dataset is listed
    as ``frames.<name>`` and as ``<name>``, the path of its frame in a ``to_frames()`` view."""
    out: list[str] = []
    video = is_video(root_dataset(collection))
    for path in paths:
        candidates = [path, strip_frames(path)] if video and is_frame_path(path) else [path]
        out += [p for p in candidates if p not in out]
    return out


def run_heatmap_field(collection, label_field: str) -> Optional[str]:
    """The heatmap field that a grounding run writes next to ``label_field`` (``<label>_heatmap``
    at the same level), if ``collection`` has it as a Heatmap field; else None."""
    prefix = FRAMES_PREFIX if is_frame_path(label_field) else ""
    path = prefix + heatmap_field(strip_frames(label_field))
    schema_field = collection.get_field(path)
    document_type = getattr(schema_field, "document_type", None)
    if document_type is not None and issubclass(document_type, fol.Heatmap):
        return path
    return None


def default_active_paths(dataset: fo.Dataset) -> list[str]:
    """The label fields the App shows when a dataset has no active-field setting: every label
    field except heatmaps and segmentations, frame fields as ``frames.<name>``."""
    paths = [
        name
        for name, schema_field in dataset.get_field_schema(embedded_doc_type=fol.Label).items()
        if not issubclass(schema_field.document_type, _HIDDEN_BY_DEFAULT)
    ]
    if is_video(dataset):
        frame_schema = dataset.get_frame_field_schema(embedded_doc_type=fol.Label) or {}
        paths += [
            FRAMES_PREFIX + name
            for name, schema_field in frame_schema.items()
            if not issubclass(schema_field.document_type, _HIDDEN_BY_DEFAULT)
        ]
    return paths


def all_heatmap_paths(dataset: fo.Dataset) -> list[str]:
    """Every Heatmap field of ``dataset``, as App paths (see :func:`app_paths`)."""
    paths = list(dataset.get_field_schema(embedded_doc_type=fol.Heatmap))
    if is_video(dataset):
        frame_schema = dataset.get_frame_field_schema(embedded_doc_type=fol.Heatmap) or {}
        paths += [FRAMES_PREFIX + name for name in frame_schema]
    return app_paths(dataset, paths)


def active_fields(dataset: fo.Dataset, shown: list[str]) -> fo.ActiveFields:
    """The dataset's active fields with ``shown`` (App paths) active and every heatmap field not
    in ``shown`` inactive.

    A dataset without an active-field setting starts from the App's default
    (:func:`default_active_paths`), so nothing else disappears from view.
    """
    current = dataset.app_config.active_fields
    if current is None or (not current.paths and not current.exclude):
        current = fo.ActiveFields(paths=app_paths(dataset, default_active_paths(dataset)))
    others = [p for p in all_heatmap_paths(dataset) if p not in shown]
    paths = list(current.paths or [])
    if current.exclude:  # the listed paths are the hidden ones
        paths = [p for p in paths if p not in shown] + [p for p in others if p not in paths]
    else:
        paths = [p for p in paths if p not in others] + [p for p in shown if p not in paths]
    return fo.ActiveFields(paths=paths, exclude=bool(current.exclude))


def color_scheme(
    scheme: Optional[fo.ColorScheme],
    point_paths: list[str],
    heatmap_paths: list[str],
) -> fo.ColorScheme:
    """``scheme`` (or a new one) with the point colours on ``point_paths`` and the heatmap colour
    scale on ``heatmap_paths`` (App paths); other entries and options are kept."""
    scheme = fo.ColorScheme() if scheme is None else scheme.copy()
    if not scheme.color_by:
        scheme.color_by = COLOR_BY
    elif scheme.color_by != COLOR_BY:
        logger.warning(
            "The dataset's App colour scheme colours labels by %r, so the App draws heatmaps in one "
            "colour; set dataset.app_config.color_scheme.color_by = %r for the heatmap colour scale",
            scheme.color_by,
            COLOR_BY,
        )
    if scheme.opacity is None:
        scheme.opacity = OPACITY

    value_colors = [{"value": value, "color": color} for value, color in POINT_COLORS.items()]
    fields = [f for f in (scheme.fields or []) if f.get("path") not in point_paths]
    fields += [
        {"path": path, "colorByAttribute": POINT_COLOR_ATTRIBUTE, "valueColors": value_colors}
        for path in point_paths
    ]
    scheme.fields = fields

    scales = [s for s in (scheme.colorscales or []) if s.get("path") not in heatmap_paths]
    scales += [{"path": path, "name": HEATMAP_COLORSCALE} for path in heatmap_paths]
    scheme.colorscales = scales
    return scheme


def configure_app(
    samples,
    label_field: str,
    heatmap_field: Optional[str] = None,
    gt_field: Optional[str] = None,
    also_show: Sequence[str] = (),
) -> None:
    """Makes the App show a grounding run readably (see the module docstring) and saves the
    dataset.

    Args:
        samples: the dataset, or a view of it (a ``to_frames()`` or clips view included), that
            the run wrote to; the settings are stored on its dataset
        label_field: the run's Keypoints field (``"frames.videogem"`` or ``"videogem"``)
        heatmap_field (None): the run's Heatmap field (:func:`run_heatmap_field` names the one a
            grounding run writes), or None when the run wrote none
        gt_field (None): a ground-truth field to show with the run
        also_show (()): further fields to show with the run (the segments of a temporal run)

    Raises:
        ValueError: a field that ``samples`` does not have
    """
    dataset = root_dataset(samples)
    label_path = _root_path(samples, label_field, "label_field")
    heatmap_path = _root_path(samples, heatmap_field, "heatmap_field") if heatmap_field is not None else None
    gt_path = _root_path(samples, gt_field, "gt_field") if gt_field is not None else None

    point_paths = app_paths(dataset, [label_path])
    heatmap_app_paths = app_paths(dataset, [heatmap_path]) if heatmap_path else []
    shown = point_paths + heatmap_app_paths
    extra = ([gt_path] if gt_path is not None else []) + [_root_path(samples, p, "also_show") for p in also_show]
    shown += [p for p in app_paths(dataset, extra) if p not in shown]

    dataset.app_config.active_fields = active_fields(dataset, shown)
    dataset.app_config.color_scheme = color_scheme(dataset.app_config.color_scheme, point_paths, heatmap_app_paths)
    dataset.save()
    logger.debug("App settings of '%s': showing %s", dataset.name, ", ".join(shown))


def show_fields(samples, paths: Sequence[str]) -> None:
    """Makes the App show ``paths`` (fields of ``samples``) besides what it shows already, and
    saves the dataset."""
    dataset = root_dataset(samples)
    shown = app_paths(dataset, [_root_path(samples, p, "paths") for p in paths])
    dataset.app_config.active_fields = active_fields(dataset, shown)
    dataset.save()


def _root_path(samples, path: str, role: str) -> str:
    path, _ = resolve_field(samples, path, role)
    return root_paths(samples, [path])[0]
