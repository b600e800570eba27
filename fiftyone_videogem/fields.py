"""Resolving the fields a run or an evaluation reads and writes, through FiftyOne's public API.

One set of rules for every entry point (``apply_model``, ``run_videogem``, the evaluations, the
operators):

* on a video collection, a name that is not a sample field but is a frame field means the frame
  field: ``gt`` and ``frames.gt`` are the same field;
* on an image collection (including a ``to_frames()`` view), ``frames.gt`` means the sample field
  ``gt`` when that exists;
* anything else that does not exist is a ``ValueError`` that lists the fields there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fiftyone as fo
import fiftyone.core.clips as focl
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.media as fom
import fiftyone.core.video as fov

FRAMES_PREFIX = "frames."
BUILTIN_FIELDS = ("id", "filepath", "metadata", "created_at", "last_modified_at", "frame_number")


def strip_frames(path: str) -> str:
    """``"frames.gt"`` -> ``"gt"``; other paths unchanged."""
    return path[len(FRAMES_PREFIX):] if path.startswith(FRAMES_PREFIX) else path


def is_frame_path(path: str) -> bool:
    return path.startswith(FRAMES_PREFIX)


def is_video(collection) -> bool:
    """Whether ``collection`` holds videos (clips views included, ``to_frames()`` views not)."""
    return collection.media_type == fom.VIDEO


def root_dataset(collection) -> fo.Dataset:
    """The persistent dataset behind any view (for ``to_frames()``/clips views: the source videos);
    a dataset is its own root."""
    if isinstance(collection, fo.Dataset):
        return collection
    return fo.load_dataset(collection.dataset_name)


def is_frames_view(collection) -> bool:
    """Whether ``collection`` is a ``to_frames()`` view: one image sample per video frame, whose
    fields are synced to the frames of the source videos."""
    return isinstance(collection, fov.FramesView)


def document_type(schema_field) -> type | None:
    """The label class of an embedded-document field, else None."""
    if isinstance(schema_field, fof.EmbeddedDocumentField):
        return schema_field.document_type
    return None


def field_document_type(collection, path: str) -> type | None:
    """The label class stored at ``path`` of ``collection``, or None (missing or not a label)."""
    return document_type(collection.get_field(path))


def field_names(collection) -> list[str]:
    """The user-visible fields of ``collection``, frame fields as ``frames.<name>``."""
    names = [n for n in collection.get_field_schema() if n not in BUILTIN_FIELDS]
    if is_video(collection):
        names += [FRAMES_PREFIX + n for n in collection.get_frame_field_schema() if n not in BUILTIN_FIELDS]
    return names


def frame_path(name: str, frame_level: bool) -> str:
    """``frames.<name>`` for a frame field, ``<name>`` for a sample field (any prefix of ``name`` is replaced)."""
    bare = strip_frames(name)
    return FRAMES_PREFIX + bare if frame_level else bare


def output_path(collection, name: str) -> str:
    """Where a label field named ``name`` lives on ``collection``: a frame field of videos."""
    return frame_path(name, is_video(collection))


def resolve_field(collection, path: Any, role: str) -> tuple[str, Any]:
    """The path of an existing field on ``collection`` and its schema field.

    Args:
        collection: a dataset or view
        path: the field as the user named it (``"gt"`` or ``"frames.gt"``)
        role: the argument's name, used in messages (``"gt_field"``)

    Raises:
        ValueError: the name is empty or names no field of the collection
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{role} must be a field name, got {path!r}")
    path = path.strip()
    video = is_video(collection)
    if video and not is_frame_path(path) and collection.get_field(path) is None:
        if collection.get_field(FRAMES_PREFIX + path) is not None:
            path = FRAMES_PREFIX + path
    elif not video and is_frame_path(path):
        bare = strip_frames(path)
        if collection.get_field(bare) is None:
            raise ValueError(
                f"{role}='{path}' names a frame field, but this collection holds images and has no field "
                f"'{bare}'; its fields are: {', '.join(field_names(collection)) or 'none'}"
            )
        path = bare
    schema_field = collection.get_field(path)
    if schema_field is None:
        raise ValueError(
            f"{role}='{path}' does not exist on this collection; its fields are: "
            f"{', '.join(field_names(collection)) or 'none'}"
        )
    return path, schema_field


# ------------------------------------------------------------------------ views and writes
def is_clips_view(collection) -> bool:
    """Whether ``collection`` is a ``to_clips()`` view: one video sample per clip of a source video,
    sharing the frames of that video."""
    return isinstance(collection, focl.ClipsView)


def has_clip_support(collection) -> bool:
    """Whether the samples of ``collection`` are clips (a clips view, or a sample's dataset in one):
    their ``support`` field holds the ``[first, last]`` frames of the clip."""
    return isinstance(collection.get_field("support"), fof.FrameSupportField)


def write_target(collection):
    """The collection to write labels through with ``set_values(..., key_field="id")``.

    Frames and clips views write through themselves (FiftyOne syncs their writes to the source
    videos); any other view writes to its dataset, so that the view's filters never drop or reshape
    what is written.
    """
    if is_frames_view(collection) or is_clips_view(collection):
        return collection
    return root_dataset(collection)


def root_paths(collection, paths: list[str]) -> list[str]:
    """Field paths as the root dataset names them (a frames view's fields are frame fields there)."""
    return [frame_path(p, True) for p in paths] if is_frames_view(collection) else list(paths)


# ---------------------------------------------------------------- fields a grounding run reads
DEFAULT_LABEL_FIELD = "videogem"
"""The label field of a grounding run when none is given."""

CONTEXT_EDGE_FIELD = "context_edge"
"""Sample field in which a dataset (an importer) may record its rule for context windows at video ends."""

PROMPT_TYPES = (fol.Classification, fol.Detection, fol.Classifications, fol.Detections)


@dataclass(frozen=True)
class FieldSpec:
    """A field a run reads: where it lives and which path gives its values.

    Attributes:
        path: the field as the collection names it (``"frames.gt"`` or ``"gt"``)
        frame_level: whether it is a frame field of a video collection
        value_path: the path whose ``values()`` are read
        is_list: whether those values are lists (label lists)
        kind: a short type name for messages and run records
    """

    path: str
    frame_level: bool
    value_path: str
    is_list: bool
    kind: str

    @property
    def name(self) -> str:
        """The field's name on a sample or a frame."""
        return strip_frames(self.path)

    def value_of(self, value: Any) -> Any:
        """What ``values(value_path)`` gives for a sample's (or frame's) value of the field."""
        if value is None:
            return None
        rest = self.value_path[len(self.path) + 1:]
        if not rest:
            return value
        parts = rest.split(".")
        if self.is_list:
            return [item[parts[1]] for item in (value[parts[0]] or [])]
        return value[parts[0]]


def label_list_attribute(schema_field) -> str | None:
    """The list attribute of a label-list field (``"detections"`` of ``Detections``), else None."""
    if not isinstance(schema_field, fof.EmbeddedDocumentField):
        return None
    for name, sub in schema_field.get_field_schema().items():
        if isinstance(sub, fof.ListField) and issubclass(document_type(sub.field) or object, fol.Label):
            return name
    return None


def _kind(schema_field) -> str:
    doc = document_type(schema_field)
    return doc.__name__ if doc is not None else type(schema_field).__name__


def prompt_spec(collection, path: Any) -> FieldSpec:
    """The field holding the action text: a string, ``Classification(s)`` or ``Detection(s)`` field.

    Raises:
        ValueError: the field does not exist or cannot hold text
    """
    path, schema_field = resolve_field(collection, path, "prompt_field")
    frame_level = is_video(collection) and is_frame_path(path)
    doc = document_type(schema_field)
    if isinstance(schema_field, fof.StringField):
        return FieldSpec(path, frame_level, path, False, "string")
    if doc is not None and issubclass(doc, (fol.Classification, fol.Detection)):
        return FieldSpec(path, frame_level, f"{path}.label", False, doc.__name__)
    if doc is not None and issubclass(doc, (fol.Classifications, fol.Detections)):
        return FieldSpec(path, frame_level, f"{path}.{label_list_attribute(schema_field)}.label", True, doc.__name__)
    raise ValueError(
        f"prompt_field='{path}' is a {_kind(schema_field)} field; use a string, Classification, Detection or "
        "Detections field holding the action text, or pass a fixed prompt='...'"
    )


def gt_spec(collection, path: Any) -> FieldSpec:
    """The field that marks the frames (videos) or samples (images) that have ground truth.

    Raises:
        ValueError: the field does not exist, or is a sample-level field of a video collection
    """
    path, schema_field = resolve_field(collection, path, "gt_field")
    video = is_video(collection)
    frame_level = video and is_frame_path(path)
    if video and not frame_level:
        raise ValueError(
            f"gt_field='{path}' is a sample-level field; frames='gt' needs frame-level ground truth "
            "such as 'frames.gt', or pass frames='all' or an interval"
        )
    doc = document_type(schema_field)
    attribute = label_list_attribute(schema_field)
    if attribute is not None:
        return FieldSpec(path, frame_level, f"{path}.{attribute}.id", True, doc.__name__)
    if doc is not None and issubclass(doc, fol.Label):
        return FieldSpec(path, frame_level, f"{path}.id", False, doc.__name__)
    return FieldSpec(path, frame_level, path, False, type(schema_field).__name__)


def label_spec(collection, label_field: str, label_type: type = fol.Keypoints) -> FieldSpec | None:
    """The existing output field ``label_field`` (a frame field on videos), or None if there is none.

    Raises:
        ValueError: the field exists with another label type
    """
    path = output_path(collection, label_field)
    schema_field = collection.get_field(path)
    if schema_field is None:
        return None
    doc = document_type(schema_field)
    if doc is None or not issubclass(doc, label_type):
        raise ValueError(
            f"label_field '{path}' already exists as a {_kind(schema_field)} field; VideoGEM writes "
            f"{label_type.__name__} there, so choose another label_field or delete that field first"
        )
    attribute = label_list_attribute(schema_field)
    value_path = f"{path}.{attribute}.id" if attribute else f"{path}.id"
    return FieldSpec(path, is_video(collection), value_path, attribute is not None, doc.__name__)


def hint_field(collection, name: str) -> str | None:
    """``name`` if the collection's samples have a string field of that name (a per-sample hint
    an importer recorded, such as ``prompt_parser``), else None."""
    return name if isinstance(collection.get_field(name), fof.StringField) else None


def text_of(value: Any) -> str | None:
    """The action text in a value read from a prompt field's ``value_path``: the string, or the first
    non-empty string of a list (None when there is none)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)):
        return next((text for text in map(text_of, value) if text), None)
    return None


def has_value(value: Any, is_list: bool = False) -> bool:
    """Whether a value read from a field's ``value_path`` counts as present (lists must not be empty)."""
    if value is None:
        return False
    return bool(value) if is_list else True
