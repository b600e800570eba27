"""A plain registry of named backbones, and the factory that builds them.

Names are what users type: ``"clip-vit-b-16"``, ``"openclip-vit-b-16"``, ``"viclip-b-16"``. Any other
open_clip pair is written ``"open_clip:<architecture>/<pretrained tag>"`` (or ``"<architecture>:<tag>"``),
and a local checkpoint file can replace the download of any entry.

Test fixtures (``test-vit-tiny``, ``test-viclip-tiny``) are registered as hidden: they are built by
name like any entry but stay out of :func:`list_backbones`, as open_clip's ``list_pretrained()``
shows only real weights.

Importing this module does not import torch; :func:`build_backbone` does.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import hub

if TYPE_CHECKING:  # pragma: no cover
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
        pretrained: open_clip pretrained tag, or the Hugging Face repository of ViCLIP weights (None: no
            downloadable weights)
        image_size: model input size used by VideoGEM
        license: licence of the pretrained weights
        description: one line for listings ("")
        quick_gelu: whether the architecture uses QuickGELU (OpenAI weights) (False)
        model_config: inline open_clip configuration (``embed_dim``, ``vision_cfg``, ``text_cfg``) or
            ViCLIP configuration for architectures that are not in a library's list (None)
        hidden: a test fixture: built by name, left out of :func:`list_backbones` (False)
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
    hidden: bool = False


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec, overwrite: bool = False) -> None:
    """Add a backbone to the registry."""
    if spec.name in _REGISTRY and not overwrite:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def list_backbones(include_hidden: bool = False) -> list[BackboneSpec]:
    """The registered backbones a user can pick.

    Args:
        include_hidden: also list the hidden test fixtures (False)
    """
    return [spec for spec in _REGISTRY.values() if include_hidden or not spec.hidden]


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
    license="none (random weights)", hidden=True,
    description="a tiny 8-block ViCLIP with random weights, for tests",
    model_config=dict(
        name="test-viclip-tiny", patch=8, width=64, layers=8, heads=4, embed_dim=32, text_width=32,
        text_layers=2, text_heads=4, image_size=32, num_frames=8, target_frame=4,
    ),
))
register_backbone(BackboneSpec(
    name="test-vit-tiny", family="open_clip", architecture="test-vit-tiny", pretrained=None, image_size=64,
    license="none (random weights)", hidden=True,
    description="a tiny 8-block ViT with random weights, for tests",
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
    known = ", ".join(spec.name for spec in list_backbones())
    raise ValueError(
        f"unknown backbone {name!r}; use one of {known}, or 'open_clip:<architecture>/<pretrained tag>'"
    )


def build_backbone(
    name: str | BackboneSpec,
    checkpoint: str | None = None,
    pretrained: bool = True,
    image_size: int | tuple[int, int] | None = None,
    seed: int | None = 0,
) -> Backbone:
    """Build a registered backbone, in eval mode with its parameters frozen.

    Building leaves torch's global random state as it was: random weights come from a local
    generator seeded with ``seed`` (see :func:`randomize_parameters`). When the pretrained weights
    are neither a local ``checkpoint`` nor in the hub cache and the hub cannot be reached (or
    ``HF_HUB_OFFLINE`` is set), a :class:`~fiftyone_videogem.engine.backbones.hub.WeightsUnavailableError`
    is raised within seconds, saying what to pass instead.

    Args:
        name: registry name, ``open_clip:<arch>/<tag>`` string, or a spec
        checkpoint: a local weights file that replaces the download (None)
        pretrained: load weights; False gives random weights of the same architecture (True)
        image_size: override the spec's input size (None)
        seed: seed of the random weights (0; None means 0)
    """
    import torch

    spec = name if isinstance(name, BackboneSpec) else get_backbone_spec(name)
    if image_size is not None:
        spec = replace(spec, image_size=image_size)
    if spec.family not in ("open_clip", "viclip"):
        raise ValueError(f"unknown backbone family {spec.family!r}")
    if pretrained:
        _check_weights(spec, checkpoint)
    with torch.random.fork_rng(devices=[]):  # the libraries' own initialisation draws from a fork
        if spec.family == "viclip":
            from .viclip import build_viclip

            backbone = build_viclip(spec.model_config or spec.architecture,
                                    checkpoint=checkpoint if pretrained else None, pretrained=pretrained)
        else:
            backbone = _build_open_clip(spec, checkpoint, pretrained)
    if not pretrained:
        randomize_parameters(backbone, 0 if seed is None else seed)
    backbone.eval()
    backbone.requires_grad_(False)
    return backbone


def randomize_parameters(module: torch.nn.Module, seed: int = 0) -> None:
    """Random weights from a local generator, the same for the same seed, in place.

    Every parameter is drawn from a normal distribution by its role: LayerNorm weights
    ``1 + N(0, 0.02)``, biases ``N(0, 0.02)``, other vectors ``N(0, n^-1/2)``, matrices and kernels
    ``N(0, fan_in^-1/2)`` with ``fan_in`` the product of all but the first dimension; scalars (a
    contrastive temperature) keep their value. Biases are non-zero so that tests can tell every
    term apart. Buffers are left as built.

    Args:
        module: the model
        seed: seed of the local generator (0)
    """
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(int(seed))
    layer_norm_weights = {
        id(m.weight) for m in module.modules() if isinstance(m, nn.LayerNorm) and m.weight is not None
    }
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if parameter.ndim == 0 or parameter.numel() == 1:
                continue
            if id(parameter) in layer_norm_weights:
                mean, std = 1.0, 0.02
            elif parameter.ndim == 1:
                mean, std = 0.0, 0.02 if name.endswith("bias") else parameter.numel() ** -0.5
            else:
                mean, std = 0.0, parameter[0].numel() ** -0.5
            values = torch.randn(parameter.shape, generator=generator) * std + mean
            parameter.copy_(values.to(parameter.dtype))


def _alternatives(spec: BackboneSpec, file_hint: str) -> str:
    return (
        f"pass it as checkpoint='/path/to/{file_hint}' in Python or --checkpoint PATH on the command line. "
        f"To try the pipeline without weights (meaningless output), use --random-weights on the command line, "
        f"random_weights=True in load_model(), or VideoGEM.from_config({spec.name!r})."
    )


def _check_weights(spec: BackboneSpec, checkpoint: str | None) -> None:
    """Fail fast when the weights must be downloaded and cannot be (see :mod:`.hub`)."""
    if checkpoint is not None:
        if not os.path.exists(checkpoint):
            raise FileNotFoundError(
                f"checkpoint {checkpoint!r} does not exist; pass the path of a local weights file for "
                f"backbone {spec.name!r}"
            )
        return
    if spec.model_config is not None:
        raise ValueError(
            f"backbone {spec.name!r} has no pretrained weights; use VideoGEM.from_config({spec.name!r}) "
            "(random weights) or pass checkpoint='/path/to/weights'"
        )
    if spec.pretrained is None:
        raise ValueError(f"backbone {spec.name!r} names no pretrained weights; pass checkpoint='/path/to/weights'")
    if spec.family == "viclip":
        from .viclip import ViCLIPConfig

        repo = ViCLIPConfig.resolve(spec.architecture).hf_repo or spec.pretrained
        hub.ensure_weights_available(f"backbone {spec.name!r}", repo, ["model.safetensors"],
                                     _alternatives(spec, "model.safetensors"))
        return
    import open_clip

    source = open_clip.get_pretrained_cfg(spec.architecture, spec.pretrained).get("hf_hub", "")
    if not source:  # a tag open_clip fetches from a plain URL, or one it does not know: open_clip decides
        return
    # open_clip's form: "org/model/file", or "org/model/" for its default file name
    repo, filename = (source.rstrip("/"), "") if source.endswith("/") else os.path.split(source)
    filenames = _open_clip_weight_files(filename)
    hub.ensure_weights_available(
        f"backbone {spec.name!r} ({spec.architecture}/{spec.pretrained})", repo, filenames,
        _alternatives(spec, filenames[0]),
    )


def _open_clip_weight_files(filename: str) -> list[str]:
    """The files open_clip tries for a hub entry: the safetensors variant first, then the named file."""
    filename = filename or "open_clip_pytorch_model.bin"
    stem, suffix = os.path.splitext(filename)
    if suffix == ".safetensors":
        return [filename]
    safe = "open_clip_model.safetensors" if filename == "open_clip_pytorch_model.bin" else stem + ".safetensors"
    return [safe, filename]


def _build_open_clip(spec: BackboneSpec, checkpoint: str | None, pretrained: bool) -> Backbone:
    import open_clip

    from .open_clip import OpenClipBackbone

    if spec.model_config is not None:
        from open_clip.model import CLIP

        model = CLIP(**spec.model_config)
        tokenizer = open_clip.get_tokenizer("ViT-B-16")
        if pretrained and checkpoint is not None:
            model.load_state_dict(_load_state_dict(checkpoint))
    else:
        weights = (checkpoint or spec.pretrained) if pretrained else None
        try:
            model = open_clip.create_model(
                spec.architecture, pretrained=weights, force_quick_gelu=spec.quick_gelu,
            )
        except Exception as e:  # download failures come in many types
            if checkpoint is None and weights is not None:
                raise hub.WeightsUnavailableError(
                    f"could not get the pretrained weights {spec.architecture}/{spec.pretrained} for backbone "
                    f"{spec.name!r} ({type(e).__name__}: {e}). open_clip downloads them from the Hugging Face "
                    f"hub on first use; on a machine without access, download the checkpoint elsewhere and "
                    + _alternatives(spec, "open_clip_model.safetensors")
                ) from e
            raise
        tokenizer = open_clip.get_tokenizer(spec.architecture)
    return OpenClipBackbone(model.eval(), tokenizer, image_size=spec.image_size, name=spec.name,
                            license=spec.license)


def _load_state_dict(path: str) -> dict:
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state)
