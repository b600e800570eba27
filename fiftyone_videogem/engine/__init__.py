"""The VideoGEM engine: torch and numpy only, no FiftyOne, no files, no videos.

Names are imported on first use: the registry (``list_backbones``, ``get_backbone_spec``), the
prompt parser and the option classes and choice lists load without torch; ``VideoGEM`` and the
tensor code load it.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Backbone": ".backbones.base",
    "BackboneInfo": ".backbones.base",
    "BackboneSpec": ".backbones.registry",
    "build_backbone": ".backbones.registry",
    "get_backbone_spec": ".backbones.registry",
    "list_backbones": ".backbones.registry",
    "register_backbone": ".backbones.registry",
    "WeightsUnavailableError": ".backbones.hub",
    "is_out_of_memory": ".batching",
    "run_in_batches": ".batching",
    "VisionFeatures": ".gem",
    "gem_forward": ".gem",
    "self_self_attention": ".gem",
    "ComponentResult": ".grounding",
    "GroundingResult": ".grounding",
    "TextEmbeddingCache": ".grounding",
    "VideoGEM": ".grounding",
    "ActionPrompt": ".prompts",
    "PARSERS": ".prompts",
    "parse_prompt": ".prompts",
    "COMPONENTS": ".options",
    "GemOptions": ".options",
    "GroundingOptions": ".options",
    "MERGE_MODES": ".options",
    "PRECISIONS": ".options",
    "STATIC_WEIGHTS": ".options",
    "WEIGHTING_MODES": ".options",
    "WeightingOptions": ".options",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
