"""fiftyone-videogem: VideoGEM training-free spatial action grounding for FiftyOne.

The engine (``VideoGEM``, ``ActionPrompt``) needs only torch and open_clip; the FiftyOne parts
(``load_model``, ``evaluate_pointing_game``, ``datasets``) are imported on first use.
"""

import importlib

from .engine import (
    ActionPrompt,
    BackboneSpec,
    ComponentResult,
    GroundingOptions,
    GroundingResult,
    VideoGEM,
    build_backbone,
    get_backbone_spec,
    list_backbones,
    parse_prompt,
    register_backbone,
)

__version__ = "0.1.0"

_LAZY = {
    "load_model": "fiftyone_videogem.model",
    "VideoGEMModel": "fiftyone_videogem.model",
    "run_videogem": "fiftyone_videogem.model",
    "iter_videogem": "fiftyone_videogem.model",
    "GroundingSummary": "fiftyone_videogem.model",
    "GroundingError": "fiftyone_videogem.model",
    "save_triage_views": "fiftyone_videogem.evaluation",
    "evaluate_pointing_game": "fiftyone_videogem.evaluation",
    "compare_pointing_games": "fiftyone_videogem.evaluation",
    "evaluate_spatiotemporal": "fiftyone_videogem.evaluation",
    "evaluate_temporal": "fiftyone_videogem.evaluation",
    "datasets": "fiftyone_videogem.datasets",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if name == "datasets" else getattr(module, name)
    raise AttributeError(f"module 'fiftyone_videogem' has no attribute {name!r}")
