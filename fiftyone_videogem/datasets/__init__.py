"""Importers that turn the VideoGEM benchmarks into FiftyOne video datasets.

Each importer reads a benchmark's own annotation files plus a folder of
videos downloaded by the user, and returns a persistent FiftyOne video
dataset with

* frame-level ground truth ``fo.Detections`` (normalised ``[x, y, w, h]``)
  labelled with the action, in frame field ``gt`` (``gt_field``),
* a frame-level string field ``action`` on every annotated frame (the prompt
  of that frame; it varies along GroundingYouTube and YouCook videos),
* sample-level fields ``action`` (the video's main prompt), ``actions``
  (all prompts in order), ``prompt_parser`` (``"verb_object"``,
  ``"camel_case"`` or ``"sentence"``) and ``video_id``,
* a sample tag naming the benchmark, and
* an import report in ``dataset.info["import_report"]``.

Example::

    import fiftyone_videogem.datasets as fvgd

    dataset = fvgd.load_groundingyoutube("annotations/groundingyoutube", "videos/gyt")
    print(dataset.info["import_report"]["missing_videos"])
"""

import json

import fiftyone as fo

from fiftyone_videogem.datasets.common import (
    ImportReport,
    enclosing_box,
    index_videos,
    normalize_box,
)
from fiftyone_videogem.datasets.daly import DALY_CLASSES, load_daly
from fiftyone_videogem.datasets.groundingyoutube import load_groundingyoutube
from fiftyone_videogem.datasets.thumos14 import THUMOS14_CLASSES, load_thumos14
from fiftyone_videogem.datasets.vhico import load_vhico
from fiftyone_videogem.datasets.youcook2 import load_youcook2, load_youcook2_interactions

LOADERS = {
    "groundingyoutube": load_groundingyoutube,
    "youcook2_interactions": load_youcook2_interactions,
    "daly": load_daly,
    "vhico": load_vhico,
}
"""Importer per benchmark name (the sample tag each importer sets)."""


def get_import_report(dataset: fo.Dataset) -> ImportReport | None:
    """The :class:`ImportReport` stored on a dataset by an importer, or None."""
    data = dataset.info.get("import_report")
    # the database returns its own list/dict types; a JSON round trip gives plain ones
    return ImportReport.from_dict(json.loads(json.dumps(data))) if data else None


__all__ = [
    "DALY_CLASSES",
    "LOADERS",
    "ImportReport",
    "enclosing_box",
    "get_import_report",
    "index_videos",
    "load_daly",
    "load_groundingyoutube",
    "load_vhico",
    "load_youcook2",
    "load_youcook2_interactions",
    "normalize_box",
]
