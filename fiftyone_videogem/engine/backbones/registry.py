"""A plain registry of named backbones, and the factory that builds them.

Names are what users type: ``"clip-vit-b-16"``, ``"openclip-vit-b-16"``, ``"viclip-b-16"``. Any other
open_clip pair is written ``"open_clip:<architecture>/<pretrained tag>"`` (or ``"<architecture>:<tag>"``),
and a local checkpoint file can replace the download of any entry.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace

import torch

from .base import Backbone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry.

    Args:
        name: the registry name
        family: ``"open_clip"`` or ``"viclip"``
        architecture: open_clip model name, or ViCLIP configuration name
        pretrained: open_clip pretrained tag (None: no downloadable weights)
        image_size: model input size used by VideoGEM
        license: licence of the pretrained weights
        description: one line for listings
        quick_gelu: whether the architecture uses QuickGELU (OpenAI weights)
        model_config: inline open_clip configuration (``embed_dim``, ``vision_cfg``, ``text_cfg``) for
            architectures that are not in open_clip's list
    """

    name: str
    family: str
    architecture: str
    pretrained: str | None
    image_size: int
    license: str
    description: str = ""
    quick_gelu: bool = False
    model_config: dict | None = field(default=None, compare=False)


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec, overwrite: bool = False) -> None:
    """Add a backbone to the registry."""
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def list_backbones() -> list[BackboneSpec]:
    """The registered backbones."""
    return list(_REGISTRY.values())


register_backbone(BackboneSpec(
    name="clip-vit-b-16", family="open_clip", architecture="ViT-B-16", pretrained="openai", image_size=448,
    quick_gelu=True,
    license="MIT (OpenAI CLIP weights, trained on WIT-400M)",
    description="OpenAI CLIP ViT-B/16 (WIT-400M), 448 px",
))
register_backbone(BackboneSpec(
    name="openclip-vit-b-16", family="open_clip", architecture="ViT-B-16", pretrained="laion2b_s34b_b88k",
    image_size=448,
    license="MIT (OpenCLIP weights, trained on LAION-2B)",
    description="OpenCLIP ViT-B/16 (LAION-2B, laion2b_s34b_b88k), 448 px",
))
register_backbone(BackboneSpec(
    name="openclip-vit-l-14", family="open_clip", architecture="ViT-L-14", pretrained="laion2b_s32b_b82k",
    image_size=448,
    license="MIT (OpenCLIP weights, trained on LAION-2B)",
    description="OpenCLIP ViT-L/14 (LAION-2B, laion2b_s32b_b82k), 448 px",
))
register_backbone(BackboneSpec(
    name="viclip-b-16", family="viclip", architecture="viclip-b-16", pretrained="OpenGVLab/ViCLIP-B-16-hf",
    image_size=224,
    license="CC-BY-NC-SA-4.0 (ViCLIP weights, InternVid-FLT-10M; non-commercial)",
    description="ViCLIP-B/16 video-language model (InternVid-FLT-10M), 8 frames at 224 px",
))
register_backbone(BackboneSpec(
    name="viclip-l-14", family="viclip", architecture="viclip-l-14", pretrained="OpenGVLab/ViCLIP-L-14-hf",
    image_size=224,
    license="CC-BY-NC-SA-4.0 (ViCLIP weights, InternVid-FLT-10M; non-commercial)",
    description="ViCLIP-L/14 video-language model (InternVid-FLT-10M), 8 frames at 224 px",
))
register_backbone(BackboneSpec(
    name="test-viclip-tiny", family="viclip", architecture="test-viclip-tiny", pretrained=None, image_size=32,
    license="none (random weights)",
    description="a tiny 8-block ViCLIP with random weights, for tests and offline smoke runs",
    model_config=dict(
        name="test-viclip-tiny", patch=8, width=64, layers=8, heads=4, embed_dim=32, text_width=32,
        text_layers=2, text_heads=4, image_size=32, num_frames=8, target_frame=4,
    ),
))
register_backbone(BackboneSpec(
    name="test-vit-tiny", family="open_clip", architecture="test-vit-tiny", pretrained=None, image_size=64,
    license="none (random weights)",
    description="a tiny 8-block ViT with random weights, for tests and offline smoke runs",
    model_config=dict(
        embed_dim=32,
        vision_cfg=dict(image_size=64, layers=8, width=64, head_width=16, patch_size=16, mlp_ratio=2.0),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
    ),
))


def get_backbone_spec(name: str) -> BackboneSpec:
    """Resolve a registry name or an ``open_clip:<arch>/<tag>`` / ``<arch>:<tag>`` string."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    text = name[len("open_clip:"):] if name.startswith("open_clip:") else name
    arch, tag = None, None
    if "/" in text and name.startswith("open_clip:"):
        arch, tag = text.split("/", 1)
    elif ":" in text:
        arch, tag = text.split(":", 1)
    elif name.startswith("open_clip:"):
        arch = text
    if arch:
        import open_clip

        if arch not in open_clip.list_models():
            raise ValueError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")
        return BackboneSpec(
            name=name, family="open_clip", architecture=arch, pretrained=tag or None, image_size=448,
            license="see the open_clip model card of this tag",
            description=f"open_clip {arch} ({tag or 'local checkpoint'})",
            quick_gelu=bool(tag) and tag.lower() == "openai",
        )
    known = ", ".join(sorted(_REGISTRY))
    raise ValueError(
        f"unknown backbone {name!r}; use one of {known}, or 'open_clip:<architecture>/<pretrained tag>'"
    )


def build_backbone(
    name: str | BackboneSpec,
    checkpoint: str | None = None,
    pretrained: bool = True,
    image_size: int | tuple[int, int] | None = None,
    seed: int | None = None,
) -> Backbone:
    """Build a registered backbone.

    Args:
        name: registry name, ``open_clip:<arch>/<tag>`` string, or a spec
        checkpoint: a local weights file that replaces the download
        pretrained: load weights (False: random weights of the same architecture)
        image_size: override the spec's input size
        seed: torch seed for random weights
    """
    spec = name if isinstance(name, BackboneSpec) else get_backbone_spec(name)
    if image_size is not None:
        spec = replace(spec, image_size=image_size)
    if seed is not None:
        torch.manual_seed(seed)
    if spec.family == "viclip":
        from .viclip import build_viclip

        if spec.model_config is not None and pretrained and checkpoint is None:
            raise ValueError(f"backbone {spec.name!r} has no pretrained weights; use from_config()")
        if checkpoint is not None and not os.path.exists(checkpoint):
            raise FileNotFoundError(f"checkpoint {checkpoint!r} does not exist")
        return build_viclip(spec.model_config or spec.architecture, checkpoint=checkpoint if pretrained else None,
                            pretrained=pretrained)
    if spec.family != "open_clip":
        raise ValueError(f"unknown backbone family {spec.family!r}")
    return _build_open_clip(spec, checkpoint, pretrained)


def _build_open_clip(spec: BackboneSpec, checkpoint: str | None, pretrained: bool) -> Backbone:
    import open_clip

    from .open_clip import OpenClipBackbone

    if spec.model_config is not None:
        if pretrained and checkpoint is None:
            raise ValueError(f"backbone {spec.name!r} has no pretrained weights; use from_config()")
        from open_clip.model import CLIP

        model = CLIP(**spec.model_config)
        tokenizer = open_clip.get_tokenizer("ViT-B-16")
        if checkpoint is not None:
            model.load_state_dict(_load_state_dict(checkpoint))
    else:
        weights = None
        if pretrained:
            weights = checkpoint or spec.pretrained
            if weights is None:
                raise ValueError(
                    f"backbone {spec.name!r} names no pretrained tag; pass checkpoint='/path/to/weights'"
                )
            if checkpoint is not None and not os.path.isfile(checkpoint):
                raise FileNotFoundError(f"checkpoint file {checkpoint!r} does not exist")
        try:
            model = open_clip.create_model(
                spec.architecture, pretrained=weights, force_quick_gelu=spec.quick_gelu,
            )
        except Exception as e:  # download failures come in many types
            if checkpoint is None and weights is not None:
                raise RuntimeError(
                    f"could not get the pretrained weights {spec.architecture}/{spec.pretrained} for backbone "
                    f"{spec.name!r} ({type(e).__name__}: {e}). open_clip downloads them from the Hugging Face "
                    f"hub on first use; on a machine without access, download the checkpoint elsewhere and pass "
                    f"checkpoint='/path/to/open_clip_model.safetensors' (command line: --checkpoint PATH)."
                ) from e
            raise
        tokenizer = open_clip.get_tokenizer(spec.architecture)
    return OpenClipBackbone(model.eval(), tokenizer, image_size=spec.image_size, name=spec.name,
                            license=spec.license)


def _load_state_dict(path: str) -> dict:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)
