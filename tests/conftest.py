"""Shared test setup: offline hubs, quiet FiftyOne, the plugin directory."""

import os
import pathlib
import tempfile
import uuid

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")

# FiftyOne finds plugins below FIFTYONE_PLUGINS_DIR (following links). The repository root is the
# plugin, so the tests point FiftyOne at a fresh folder holding only a link to it: nothing else
# next to the checkout is scanned. Subprocesses (the App server, delegated runs) inherit it.
if "FIFTYONE_PLUGINS_DIR" not in os.environ:
    _plugins = pathlib.Path(tempfile.mkdtemp(prefix="videogem-plugins-"))
    (_plugins / "videogem").symlink_to(pathlib.Path(__file__).resolve().parents[1], target_is_directory=True)
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(_plugins)

import fiftyone as fo  # noqa: E402  (after the environment above)


@pytest.fixture
def make_dataset(request):
    """A factory of empty, non-persistent datasets with unique names, deleted after the test."""
    created = []

    def make():
        dataset = fo.Dataset(f"test-{request.module.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex}")
        created.append(dataset)
        return dataset

    yield make
    for dataset in created:
        if fo.dataset_exists(dataset.name):
            dataset.delete()
