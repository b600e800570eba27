"""Where the real benchmark annotation files are (the project's shared datasets folder).

Looked up in order: ``$VIDEOGEM_SHARED_DATASETS``, ``<repository>/../shared/datasets``,
``/work/shared/datasets``. Tests that need the files fail (they do not skip) when none exists.
"""

import os
from pathlib import Path


def _find() -> Path:
    candidates = [os.environ.get("VIDEOGEM_SHARED_DATASETS"),
                  Path(__file__).resolve().parents[2] / "shared" / "datasets",
                  "/work/shared/datasets"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "groundingyoutube").is_dir():
            return Path(candidate)
    raise FileNotFoundError(
        "the benchmark annotation files were not found; set VIDEOGEM_SHARED_DATASETS to the folder that "
        "holds groundingyoutube/ and youcook2_interactions/"
    )


SHARED_DATASETS = _find()
