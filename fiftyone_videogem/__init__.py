"""fiftyone-videogem: VideoGEM training-free spatial action grounding for FiftyOne.

Every public name is imported on first use, so ``import fiftyone_videogem`` loads neither torch
nor FiftyOne: the engine (``VideoGEM``, ``ActionPrompt``, the backbone registry) needs torch and
open_clip; the FiftyOne parts (``load_model``, ``evaluate_pointing_game``, ``datasets``) need
FiftyOne.
"""

from fiftyone_videogem.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "ActionPrompt": "fiftyone_videogem.engine.prompts",
    "parse_prompt": "fiftyone_videogem.engine.prompts",
    "BackboneSpec": "fiftyone_videogem.engine.backbones.registry",
    "build_backbone": "fiftyone_videogem.engine.backbones.registry",
    "get_backbone_spec": "fiftyone_videogem.engine.backbones.registry",
    "list_backbones": "fiftyone_videogem.engine.backbones.registry",
    "register_backbone": "fiftyone_videogem.engine.backbones.registry",
    "WeightsUnavailableError": "fiftyone_videogem.engine.backbones.hub",
    "GroundingOptions": "fiftyone_videogem.engine.options",
    "ComponentResult": "fiftyone_videogem.engine.grounding",
    "GroundingResult": "fiftyone_videogem.engine.grounding",
    "VideoGEM": "fiftyone_videogem.engine.grounding",
    "load_model": "fiftyone_videogem.model",
    "VideoGEMModel": "fiftyone_videogem.model",
    "run_videogem": "fiftyone_videogem.runner",
    "iter_videogem": "fiftyone_videogem.runner",
    "GroundingSummary": "fiftyone_videogem.runner",
    "GroundingError": "fiftyone_videogem.runner",
    "save_triage_views": "fiftyone_videogem.evaluation",
    "evaluate_pointing_game": "fiftyone_videogem.evaluation",
    "compare_pointing_games": "fiftyone_videogem.evaluation",
    "evaluate_spatiotemporal": "fiftyone_videogem.evaluation",
    "evaluate_temporal": "fiftyone_videogem.evaluation",
    "localize_actions": "fiftyone_videogem.localization",
    "VideoGEMModelConfig": "fiftyone_videogem.model",
    "YesNoScorer": "fiftyone_videogem.temporal.scorer",
    "load_scorer": "fiftyone_videogem.temporal.scorer",
    "ZealScorer": "fiftyone_videogem.zeal",
    "load_queries": "fiftyone_videogem.temporal.queries",
    "temporal": "fiftyone_videogem.temporal",
    "configure_app": "fiftyone_videogem.app",
    "datasets": "fiftyone_videogem.datasets",
}


__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
