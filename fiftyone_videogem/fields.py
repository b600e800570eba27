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

from typing import Any

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.media as fom

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
    """The persistent dataset behind any view (for ``to_frames()``/clips views: the source videos)."""
    return fo.load_dataset(collection.dataset_name)


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


def output_path(collection, name: str) -> str:
    """Where a label field named ``name`` lives on ``collection``: a frame field of videos."""
    bare = strip_frames(name)
    return FRAMES_PREFIX + bare if is_video(collection) else bare


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
