"""The VideoGEM engine: torch and numpy only, no FiftyOne, no files, no videos."""

from .backbones.base import Backbone, BackboneInfo
from .backbones.registry import BackboneSpec, build_backbone, get_backbone_spec, list_backbones, register_backbone
from .gem import GemOptions, VisionFeatures, gem_forward, self_self_attention
from .grounding import ComponentResult, GroundingOptions, GroundingResult, VideoGEM
from .prompts import ActionPrompt, parse_prompt
from .weighting import STATIC_WEIGHTS, WEIGHTING_MODES, WeightingOptions
