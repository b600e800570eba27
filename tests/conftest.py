"""Shared test setup: offline hubs, quiet FiftyOne, the plugin directory."""

import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
# The repository root is the plugin directory; FiftyOne finds plugins one level below this path.
os.environ.setdefault("FIFTYONE_PLUGINS_DIR", str(pathlib.Path(__file__).resolve().parents[2]))
