"""Where the tests find the real benchmark annotation files.

The repository carries what the tests need under ``tests/data/``:

* ``groundingyoutube/``: the complete published GroundingYouTube box files
  (Apache-2.0, LICENSE beside them), so the tests of whole-file properties
  always run on the published data;
* ``youcook2_interactions/``: an excerpt of the YouCook2-Interactions files
  (a few videos, in the original formats; see ``tests/data/README.md``).

When ``$VIDEOGEM_SHARED_DATASETS`` names a folder that holds the complete
``youcook2_interactions/`` files, the YouCook2 tests run on those instead.
Either way they run: :data:`YOUCOOK_FILES` says which file set is in use and
:data:`YOUCOOK_FACTS` gives that set's known properties.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "VIDEOGEM_SHARED_DATASETS"

DATA = Path(__file__).resolve().parent / "data"
GYT_DIR = DATA / "groundingyoutube"
"""The complete GroundingYouTube annotation files shipped with the tests."""

YOUCOOK_EXCERPT_DIR = DATA / "youcook2_interactions"
"""The YouCook2-Interactions excerpt shipped with the tests."""

_YOUCOOK_FILE_NAMES = (
    "final_dataset_annotations.pkl",
    "final_dataset_segments.pkl",
    "validation_youcook.csv",
    "youcookii_annotations_trainval.json",
)

# Known properties of each file set, counted in the files themselves (see tests/data/README.md).
_FACTS = {
    "published": {
        "videos": 92,
        "boxes": 2570,
        "box_segments": 254,
        # boxes outside every narrated segment, and the largest distance to the nearest one (s)
        "outside": 116,
        "max_outside_distance": 7,
        # videos whose boxes were drawn at their own resolution, not at 640x360
        "native": ["30Q8k57Kbz4", "FzhJGCaaYVs", "oJZUxU9szWA", "4Y8vVGsv4JE", "vU2lND4YQjM", "WYAFPvlDB_A",
                   "1vJp-jaIaeE", "9Y9_OBnJub0"],
    },
    "excerpt": {
        "videos": 5,
        "boxes": 62,
        "box_segments": 10,
        # 10dZTHlkb8w: times 265-268 s after the segment [260, 264]; 1vJp-jaIaeE: 7 s before [8, 13]
        "outside": 5,
        "max_outside_distance": 4,
        "native": ["1vJp-jaIaeE"],
    },
}


def _youcook_from_environment() -> Path | None:
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    folder = Path(value) / "youcook2_interactions"
    missing = [name for name in _YOUCOOK_FILE_NAMES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{ENV_VAR}={value!r} does not hold the YouCook2-Interactions files ({', '.join(missing)} missing "
            f"in {str(folder)!r}); point it at the folder that holds youcook2_interactions/, or unset it to "
            "test on the excerpt shipped in tests/data"
        )
    return folder


_FULL = _youcook_from_environment()
YOUCOOK_DIR: Path = _FULL or YOUCOOK_EXCERPT_DIR
"""The YouCook2-Interactions files the tests read: the complete ones when configured, else the excerpt."""

YOUCOOK_FILES: str = "published" if _FULL else "excerpt"
"""Which YouCook2-Interactions file set :data:`YOUCOOK_DIR` holds: ``"published"`` or ``"excerpt"``."""

YOUCOOK_FACTS: dict = _FACTS[YOUCOOK_FILES]
"""Known properties of the file set in :data:`YOUCOOK_DIR`."""

SHARED_DATASETS: Path = YOUCOOK_DIR.parent if _FULL else DATA
"""A folder holding ``groundingyoutube/`` and ``youcook2_interactions/`` (the configured one, else tests/data)."""
