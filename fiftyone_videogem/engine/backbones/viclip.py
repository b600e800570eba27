"""ViCLIP (InternVid) video-language backbone in plain torch.

ViCLIP is a CLIP ViT whose patch embedding is a ``(1, p, p)`` Conv3d. It sees a clip of ``T = 8``
frames as one sequence of ``1 + T * G * G`` tokens (a single CLS token, then every patch of every
frame) and attends jointly over space and time. This module rebuilds the vision and text towers
of ViCLIP-B/16 and ViCLIP-L/14 so that the GEM engine reads them through the
:class:`~fiftyone_videogem.engine.backbones.base.Backbone` interface, and loads the released
weights (the InternVid ``.pth`` files and the Hugging Face ``model.safetensors`` files) by key
mapping. See ``docs/viclip.md`` for the token layout and the key table.

Token order (METHOD.md 1.1): CLS first, then patch tokens spatial-major and time-minor, i.e. the
patch at row ``r``, column ``c`` of frame ``t`` is token ``1 + (r * G + c) * T + t``.
"""

from __future__ import annotations

import logging
import os
import pickle
import types
from collections import OrderedDict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch
from torch import nn

from .base import Backbone, BackboneInfo, as_rgb_uint8, resample_positional_embedding

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VICLIP_LICENSE = "CC-BY-NC-SA-4.0"

# Sizes from InternVid's viclip_vision.py (clip_joint_b16 / clip_joint_l14) and viclip_text.py
# (clip_text_b16 / clip_text_l14); ViCLIP builds its text tower with context length 32.
VICLIP_CONFIGS: dict[str, dict[str, Any]] = {
    "viclip-b-16": dict(
        patch=16, width=768, layers=12, heads=12, embed_dim=512,
        text_width=512, text_layers=12, text_heads=8,
        image_size=224, num_frames=8, target_frame=4, context_length=32, vocab_size=49408,
        hf_repo="OpenGVLab/ViCLIP-B-16-hf", release_file="ViCLIP-B_InternVid-FLT-10M.pth",
    ),
    "viclip-l-14": dict(
        patch=14, width=1024, layers=24, heads=16, embed_dim=768,
        text_width=768, text_layers=12, text_heads=12,
        image_size=224, num_frames=8, target_frame=4, context_length=32, vocab_size=49408,
        hf_repo="OpenGVLab/ViCLIP-L-14-hf", release_file="ViCLIP-L_InternVid-FLT-10M.pth",
    ),
}

# Checkpoint entries that are not part of the two towers (the contrastive temperature).
IGNORED_CHECKPOINT_KEYS = frozenset({"temp"})

# InternVid / Hugging Face key prefix -> this module's key prefix, first match wins.
_KEY_PREFIXES = (
    ("vision_encoder.transformer.resblocks.", "blocks."),
    ("vision_encoder.", ""),
    ("text_encoder.transformer.resblocks.", "text.blocks."),
    ("text_encoder.", "text."),
)


@dataclass(frozen=True)
class ViCLIPConfig:
    """Architecture of a ViCLIP model.

    Args:
        name: a name for reports ("viclip-custom")
        patch: patch size in pixels
        width: vision width ``C``
        layers: number of vision blocks ``L``
        heads: vision attention heads
        embed_dim: joint embedding size ``E``
        text_width: text transformer width
        text_layers: number of text blocks
        text_heads: text attention heads
        image_size: square input size in pixels (224)
        num_frames: frames per clip ``T`` (8)
        target_frame: index of the frame whose heatmap is used (4)
        context_length: text context length (32)
        vocab_size: BPE vocabulary size (49408)
        hf_repo: Hugging Face repository with the weights (None)
        release_file: file name of the InternVid release checkpoint (None)
        license: licence of the pretrained weights ("CC-BY-NC-SA-4.0")
    """

    patch: int
    width: int
    layers: int
    heads: int
    embed_dim: int
    text_width: int
    text_layers: int
    text_heads: int
    name: str = "viclip-custom"
    image_size: int = 224
    num_frames: int = 8
    target_frame: int = 4
    context_length: int = 32
    vocab_size: int = 49408
    hf_repo: str | None = None
    release_file: str | None = None
    license: str = VICLIP_LICENSE

    def __post_init__(self) -> None:
        if self.image_size % self.patch:
            raise ValueError(f"image_size {self.image_size} is not divisible by the patch size {self.patch}")
        if self.width % self.heads or self.text_width % self.text_heads:
            raise ValueError("width and text_width must be divisible by their number of heads")
        if not 0 <= self.target_frame < self.num_frames:
            raise ValueError(f"target_frame {self.target_frame} is outside 0..{self.num_frames - 1}")

    @property
    def grid(self) -> int:
        """Patches per side of one frame."""
        return self.image_size // self.patch

    @classmethod
    def resolve(cls, name_or_config: Union[str, Mapping[str, Any], "ViCLIPConfig"]) -> "ViCLIPConfig":
        """A config from a registry name (:data:`VICLIP_CONFIGS`), a dict of fields, or a config."""
        if isinstance(name_or_config, ViCLIPConfig):
            return name_or_config
        if isinstance(name_or_config, str):
            if name_or_config not in VICLIP_CONFIGS:
                known = ", ".join(sorted(VICLIP_CONFIGS))
                raise ValueError(f"unknown ViCLIP model {name_or_config!r}; use one of {known} or pass a config")
            return cls(name=name_or_config, **VICLIP_CONFIGS[name_or_config])
        if isinstance(name_or_config, Mapping):
            allowed = {f.name for f in fields(cls)}
            unknown = sorted(set(name_or_config) - allowed)
            if unknown:
                raise ValueError(f"unknown ViCLIP config fields {unknown}; allowed: {sorted(allowed)}")
            return cls(**name_or_config)
        raise TypeError(f"expected a ViCLIP model name, a dict or a ViCLIPConfig, got {type(name_or_config).__name__}")


@dataclass(frozen=True)
class CheckpointLoadResult:
    """What :func:`load_viclip_checkpoint` loaded.

    Args:
        source: the file path, or ``"<state dict>"``
        format: ``"internvid"`` (``vision_encoder.*`` / ``text_encoder.*`` keys, the layout of both the
            InternVid ``.pth`` files and the Hugging Face ``model.safetensors`` files) or ``"native"``
            (the keys of :class:`ViCLIPBackbone` itself)
        loaded_keys: number of tensors copied into the model
        ignored_keys: checkpoint keys that were deliberately skipped (the contrastive temperature)
    """

    source: str
    format: str
    loaded_keys: int
    ignored_keys: tuple[str, ...]


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the activation of the CLIP and ViCLIP MLPs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """A pre-LN transformer block laid out like open_clip's (``ln_1, attn, ls_1, ln_2, mlp, ls_2``).

    Batch-first: ``x`` is ``[B, N, C]``. ``ls_1``/``ls_2`` are identities (ViCLIP's drop-path is the
    identity at inference).
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ls_1 = nn.Identity()
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ls_2 = nn.Identity()

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.ls_1(self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0])
        return x + self.ls_2(self.mlp(self.ln_2(x)))


class ViCLIPTextTransformer(nn.Module):
    """ViCLIP's CLIP-style text tower: causal transformer, EOT pooling, projection."""

    def __init__(self, width: int, layers: int, heads: int, embed_dim: int, context_length: int, vocab_size: int):
        super().__init__()
        self.context_length = context_length
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.blocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[P, L]`` token ids (L <= context length) -> ``[P, E]`` embeddings, not normalised."""
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(f"got {length} tokens per text; ViCLIP's context length is {self.context_length}")
        tokens = tokens.long()
        x = self.token_embedding(tokens) + self.positional_embedding[:length]  # [P, L, W]
        mask = self.attn_mask[:length, :length].to(x.dtype)
        for block in self.blocks:
            x = block(x, attn_mask=mask)
        x = self.ln_final(x)
        eot = tokens.argmax(dim=-1)  # the end-of-text token has the largest id
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection


class ViCLIPBackbone(Backbone):
    """ViCLIP vision and text towers seen as a GEM backbone.

    Build it with :func:`build_viclip`. The vision parameters sit on the backbone itself
    (``conv1``, ``class_embedding``, ``positional_embedding``, ``temporal_positional_embedding``,
    ``ln_pre``, ``blocks``, ``ln_post``, ``proj``); the text tower is ``text``.

    Args:
        config: the architecture
    """

    def __init__(self, config: ViCLIPConfig):
        super().__init__()
        self.config = config
        self.info = BackboneInfo(
            name=config.name, num_frames=config.num_frames, target_frame=config.target_frame,
            image_size=(config.image_size, config.image_size), patch_size=config.patch, license=config.license,
        )
        self.num_heads = config.heads
        width, patch = config.width, config.patch
        self.conv1 = nn.Conv3d(3, width, kernel_size=(1, patch, patch), stride=(1, patch, patch), bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(config.grid ** 2 + 1, width))
        self.temporal_positional_embedding = nn.Parameter(torch.empty(1, config.num_frames, width))
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList([ResidualAttentionBlock(width, config.heads) for _ in range(config.layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, config.embed_dim))
        self.text = ViCLIPTextTransformer(
            config.text_width, config.text_layers, config.text_heads, config.embed_dim,
            config.context_length, config.vocab_size,
        )
        self._tokenizer = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random weights, for tests and smoke runs.

        Every parameter is non-zero (biases and the temporal embedding included, although InternVid
        starts those at zero) so that a test can tell every term apart.
        """
        if self.proj.is_meta:  # shapes only (e.g. counting parameters): nothing to initialise
            return
        scale = self.config.width ** -0.5
        for parameter in (self.class_embedding, self.positional_embedding, self.temporal_positional_embedding,
                          self.proj):
            nn.init.normal_(parameter, std=scale)
        nn.init.normal_(self.text.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text.positional_embedding, std=0.01)
        nn.init.normal_(self.text.text_projection, std=self.config.text_width ** -0.5)
        for block in [*self.blocks, *self.text.blocks]:
            for layer_norm in (block.ln_1, block.ln_2):
                nn.init.normal_(layer_norm.weight, mean=1.0, std=0.02)
                nn.init.normal_(layer_norm.bias, std=0.02)
            nn.init.normal_(block.attn.in_proj_bias, std=0.02)
            nn.init.normal_(block.attn.out_proj.bias, std=0.02)

    # ----------------------------------------------------------------------------------- vision
    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, T, 3, H, W]`` -> tokens entering block 1, after ``ln_pre``: ``[B, 1 + T*G_h*G_w, C]``.

        ``T`` must be the configured number of frames, or 1 (then the mean temporal embedding is
        added). Inputs whose grid differs from the positional table get a resampled table.
        """
        if pixels.ndim != 5 or pixels.shape[2] != 3:
            raise ValueError(
                f"ViCLIP expects pixels of shape [B, T, 3, H, W], got {tuple(pixels.shape)}; "
                "stack the output of preprocess() along a new batch dimension"
            )
        frames = pixels.shape[1]
        table_frames = self.temporal_positional_embedding.shape[1]
        if frames not in (1, table_frames):
            raise ValueError(f"ViCLIP takes {table_frames} frames per clip (or 1), got {frames}")
        x = self.conv1(pixels.permute(0, 2, 1, 3, 4))  # [B, C, T, G_h, G_w]
        batch, width, frames, grid_h, grid_w = x.shape
        x = x.permute(0, 2, 3, 4, 1).reshape(batch, frames, grid_h * grid_w, width)  # [B, T, n, C]
        pos = resample_positional_embedding(self.positional_embedding, (grid_h, grid_w)).to(x.dtype)
        x = x + pos[1:]
        temporal = self.temporal_positional_embedding.to(x.dtype)  # [1, T, C]
        if frames == 1:
            temporal = temporal.mean(dim=1, keepdim=True)
        x = x + temporal[:, :, None, :]
        x = x.transpose(1, 2).reshape(batch, grid_h * grid_w * frames, width)  # token (r*G_w + c)*T + t
        # The CLS token of every frame is class_embedding + pos[0]; ViCLIP keeps one (frame 0's).
        cls = (self.class_embedding.to(x.dtype) + pos[0]).expand(batch, 1, width)
        return self.ln_pre(torch.cat([cls, x], dim=1))

    def patch_grid(self, values: torch.Tensor) -> torch.Tensor:
        """``[..., T*G*G]`` in token order (r, c, t) -> ``[..., T, G, G]`` (a 1-frame input gives T = 1)."""
        grid_h, grid_w = self.info.grid_size
        count = values.shape[-1]
        if count % (grid_h * grid_w):
            raise ValueError(
                f"expected T*{grid_h}*{grid_w} patch values (CLS dropped), got {count}; "
                f"patch_grid assumes {self.info.image_size} inputs"
            )
        frames = count // (grid_h * grid_w)
        return values.reshape(*values.shape[:-1], grid_h, grid_w, frames).movedim(-1, -3)

    @property
    def native_size(self) -> tuple[int, int]:
        return self.config.image_size, self.config.image_size

    def preprocess(self, frames: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> torch.Tensor:
        """``T`` HxWx3 uint8 RGB frames -> ``[T, 3, S, S]`` float32 pixels (METHOD.md 2).

        Each frame is squashed to ``S x S`` (or ``size``) with ``cv2.resize(..., INTER_LINEAR)``, divided by 255 and
        normalised with the ImageNet mean and std, like InternVid's ``frames2tensor``.
        """
        import cv2

        count = self.info.num_frames
        if len(frames) != count:
            raise ValueError(
                f"ViCLIP takes exactly {count} frames per clip, got {len(frames)}; "
                f"repeat the frame {count} times to ground a single image"
            )
        height, width = size or self.info.image_size
        mean = np.asarray(IMAGENET_MEAN, dtype=np.float64)
        std = np.asarray(IMAGENET_STD, dtype=np.float64)
        out = np.empty((count, 3, height, width), dtype=np.float32)
        for index, frame in enumerate(frames):
            rgb = as_rgb_uint8(frame, index)
            resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
            out[index] = ((resized / 255.0 - mean) / std).transpose(2, 0, 1)
        return torch.from_numpy(out)

    def video_embedding(self, pixels: torch.Tensor) -> torch.Tensor:
        """The model's own video embedding ``[B, E]`` (not normalised): ``ln_post(CLS) @ proj``."""
        return self.global_embedding(pixels)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.video_embedding(pixels)

    # ------------------------------------------------------------------------------------- text
    @property
    def tokenizer(self):
        """open_clip's ``SimpleTokenizer`` (the CLIP BPE; lowercases)."""
        if self._tokenizer is None:
            from open_clip.tokenizer import SimpleTokenizer

            self._tokenizer = SimpleTokenizer(context_length=self.config.context_length)
        return self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids ``[P, 32]``: start token, BPE tokens, end token, zero padding.

        A text longer than the context is cut to its first 32 tokens and the last one is replaced
        by the end token (METHOD.md 3).
        """
        if isinstance(texts, str):
            texts = [texts]
        tokenizer = self.tokenizer
        context = self.config.context_length
        result = torch.zeros(len(texts), context, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [tokenizer.sot_token_id, *tokenizer.encode(text), tokenizer.eot_token_id]
            if len(ids) > context:
                logger.debug("text %r has %d tokens; truncated to %d", text, len(ids), context)
                ids = ids[:context]
                ids[-1] = tokenizer.eot_token_id
            result[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return result

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Text embeddings ``[P, E]`` (EOT-pooled, projected, not normalised)."""
        return self.text(tokens.to(self.text.positional_embedding.device))


# ---------------------------------------------------------------------------------------- building
def build_viclip(
    name_or_config: Union[str, Mapping[str, Any], ViCLIPConfig],
    checkpoint: Union[str, os.PathLike, Mapping[str, torch.Tensor], None] = None,
    device: Union[str, torch.device, None] = None,
    pretrained: bool = False,
) -> ViCLIPBackbone:
    """Build a ViCLIP backbone in eval mode.

    Args:
        name_or_config: ``"viclip-b-16"``, ``"viclip-l-14"``, a dict of :class:`ViCLIPConfig` fields,
            or a config
        checkpoint: weights to load (see :func:`load_viclip_checkpoint`); None keeps random weights
        device: device to move the model to (None: stay on the CPU)
        pretrained: with no ``checkpoint``, download the config's Hugging Face weights (False)
    """
    config = ViCLIPConfig.resolve(name_or_config)
    model = ViCLIPBackbone(config)
    if checkpoint is None and pretrained:
        if config.hf_repo is None:
            raise ValueError(f"ViCLIP config {config.name!r} names no Hugging Face repo; pass checkpoint='/path'")
        checkpoint = f"hf-hub:{config.hf_repo}"
    if checkpoint is not None:
        result = load_viclip_checkpoint(model, checkpoint)
        logger.info("loaded %d ViCLIP tensors from %s (%s format)", result.loaded_keys, result.source, result.format)
    else:
        logger.info("built %s with random weights", config.name)
    if device is not None:
        model = model.to(device)
    return model.eval()


def map_viclip_key(key: str) -> str:
    """The :class:`ViCLIPBackbone` key for an InternVid / Hugging Face checkpoint key (``module.`` stripped).

    Keys that already use this module's names are returned unchanged.
    """
    while key.startswith("module."):
        key = key[len("module."):]
    for source, target in _KEY_PREFIXES:
        if key.startswith(source):
            return target + key[len(source):]
    return key


def internvid_key(key: str) -> str:
    """The InternVid / Hugging Face checkpoint key of a :class:`ViCLIPBackbone` key (inverse of
    :func:`map_viclip_key`)."""
    for source, target in _KEY_PREFIXES:
        if target and key.startswith(target):
            return source + key[len(target):]
    return "vision_encoder." + key


def load_viclip_checkpoint(
    backbone: ViCLIPBackbone,
    checkpoint: Union[str, os.PathLike, Mapping[str, Any]],
) -> CheckpointLoadResult:
    """Load ViCLIP weights into ``backbone`` by key mapping; every tower tensor must be present.

    Args:
        backbone: the model to fill
        checkpoint: one of

            - an InternVid release file (``ViCLIP-B_InternVid-FLT-10M.pth``, ...): a torch pickle whose
              ``vision_encoder.*`` / ``text_encoder.*`` tensors may sit under a ``"model"`` (or
              ``"state_dict"``) entry and carry a ``module.`` prefix;
            - a Hugging Face ``model.safetensors`` file (``OpenGVLab/ViCLIP-B-16-hf``,
              ``OpenGVLab/ViCLIP-L-14-hf``), or the folder that holds it;
            - ``"hf-hub:<repo>"`` to download ``model.safetensors`` from the Hugging Face hub;
            - an in-memory state dict in either naming.

    Raises:
        FileNotFoundError: the path does not exist
        KeyError: tensors are missing from the checkpoint, or it holds unknown ones (all are listed)
        ValueError: tensor shapes do not match the architecture
        RuntimeError: a hub download failed
    """
    state, source = _read_checkpoint(checkpoint)
    expected = backbone.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    duplicated: list[str] = []
    internvid_keys = 0
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            unknown.append(f"{key} (a {type(value).__name__}, not a tensor)")
            continue
        bare = key
        while bare.startswith("module."):
            bare = bare[len("module."):]
        if bare in IGNORED_CHECKPOINT_KEYS:
            ignored.append(key)
            continue
        target = map_viclip_key(key)
        if target not in expected:
            unknown.append(key)
            continue
        if target in mapped:
            duplicated.append(key)
            continue
        internvid_keys += target != bare
        mapped[target] = value
    missing = [f"{internvid_key(key)} (model: {key})" for key in expected if key not in mapped]
    if missing or unknown or duplicated:
        raise KeyError(_mismatch_message(source, missing, unknown, duplicated))

    mismatched = []
    context = backbone.config.context_length
    text_pos = mapped["text.positional_embedding"]
    if text_pos.ndim == 2 and text_pos.shape[0] > context:
        logger.info("cutting the text positional embedding from %d to %d rows", text_pos.shape[0], context)
        mapped["text.positional_embedding"] = text_pos[:context]
    for key, value in mapped.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)}, model {tuple(expected[key].shape)}")
    if mismatched:
        raise ValueError(
            f"the ViCLIP checkpoint {source} does not fit the {backbone.config.name} architecture "
            f"(patch {backbone.config.patch}, width {backbone.config.width}, {backbone.config.layers} layers); "
            "pick the configuration that matches the file. Mismatched tensors:\n  " + "\n  ".join(mismatched)
        )
    backbone.load_state_dict(mapped, strict=True)
    return CheckpointLoadResult(
        source=source, format="internvid" if internvid_keys else "native",
        loaded_keys=len(mapped), ignored_keys=tuple(ignored),
    )


def _mismatch_message(source: str, missing: list[str], unknown: list[str], duplicated: list[str]) -> str:
    def listing(keys: list[str], limit: int = 40) -> str:
        shown = "\n    ".join(keys[:limit])
        more = f"\n    ... and {len(keys) - limit} more" if len(keys) > limit else ""
        return f"\n    {shown}{more}"

    parts = [f"the ViCLIP checkpoint {source} does not match the model:"]
    if missing:
        parts.append(f"  {len(missing)} tensor(s) missing from the checkpoint:{listing(missing)}")
    if unknown:
        parts.append(f"  {len(unknown)} unknown checkpoint entr(y/ies):{listing(unknown)}")
    if duplicated:
        parts.append(f"  {len(duplicated)} entr(y/ies) mapping to an already loaded tensor:{listing(duplicated)}")
    parts.append(
        "  expected InternVid / Hugging Face ViCLIP keys (vision_encoder.*, text_encoder.*); "
        "see docs/viclip.md for the full key table"
    )
    return "\n".join(parts)


# ----------------------------------------------------------------------------------- reading files
def _read_checkpoint(checkpoint: Union[str, os.PathLike, Mapping[str, Any]]) -> tuple[Mapping[str, Any], str]:
    if isinstance(checkpoint, Mapping):
        return _unwrap_state_dict(checkpoint), "<state dict>"
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path or a state dict, got {type(checkpoint).__name__}")
    text = os.fspath(checkpoint)
    if text.startswith("hf-hub:"):
        path = _download_checkpoint(text[len("hf-hub:"):])
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            path = _checkpoint_in_folder(path)
        elif not path.is_file():
            raise FileNotFoundError(
                f"ViCLIP checkpoint {text!r} does not exist; pass the path of a local checkpoint "
                "(an InternVid .pth file such as ViCLIP-B_InternVid-FLT-10M.pth, or the model.safetensors "
                "of OpenGVLab/ViCLIP-B-16-hf)"
            )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu"), str(path)
    return _unwrap_state_dict(_torch_load(path)), str(path)


def _checkpoint_in_folder(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    candidates = sorted([*folder.glob("*.safetensors"), *folder.glob("*.pth"), *folder.glob("*.pt")])
    if len(candidates) == 1:
        return candidates[0]
    raise FileNotFoundError(
        f"found {len(candidates)} candidate checkpoint files in the folder {str(folder)!r}; "
        "pass the path of the weights file itself"
    )


def _unwrap_state_dict(state: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(state, Mapping):
        raise TypeError(f"the checkpoint holds a {type(state).__name__}, not a state dict")
    for _ in range(3):
        for wrapper in ("model", "state_dict", "module"):
            inner = state.get(wrapper)
            if isinstance(inner, Mapping):
                state = inner
                break
        else:
            break
    return state


def _download_checkpoint(repo_id: str) -> Path:
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, "model.safetensors"))
    except Exception as error:  # network, offline mode, missing repo: all end the same way
        raise RuntimeError(
            f"could not download model.safetensors from the Hugging Face repo {repo_id!r} "
            f"({type(error).__name__}: {error}). Download the weights on a machine with access "
            f"(https://huggingface.co/{repo_id}, or the InternVid release .pth) and pass the local "
            "checkpoint path instead, e.g. checkpoint='/path/to/model.safetensors'"
        ) from error


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        logger.info(
            "%s holds objects besides tensors (%s); reading it again with those objects replaced by "
            "inert placeholders", path, str(error).splitlines()[0] if str(error) else type(error).__name__,
        )
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_PLACEHOLDER_PICKLE)


class _Placeholder(dict):
    """Stands in for a pickled object whose class is not imported (configs, optimiser state, ...)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        self.__dict__["pickled_state"] = state

    def append(self, item: Any) -> None:
        self.__dict__.setdefault("pickled_items", []).append(item)

    def extend(self, items: Any) -> None:
        self.__dict__.setdefault("pickled_items", []).extend(items)


_SAFE_BUILTINS = frozenset({"set", "frozenset", "slice", "complex", "bytearray", "range"})


class _PlaceholderUnpickler(pickle.Unpickler):
    """Imports only what tensors need; every other global becomes :class:`_Placeholder`."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if module in ("torch._utils", "torch._tensor") and name.startswith("_rebuild"):
            return super().find_class(module, name)
        if module == "torch.nn.parameter" and name == "Parameter":
            return torch.nn.Parameter
        if module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)):
            return getattr(torch, name)
        logger.debug("checkpoint object %s.%s replaced by a placeholder", module, name)
        return _Placeholder


_PLACEHOLDER_PICKLE = types.ModuleType("viclip_placeholder_pickle")
_PLACEHOLDER_PICKLE.Unpickler = _PlaceholderUnpickler
_PLACEHOLDER_PICKLE.load = lambda file, **kwargs: _PlaceholderUnpickler(file, **kwargs).load()
_PLACEHOLDER_PICKLE.__version__ = "1"


# ---------------------------------------------------------------------------------------- helpers
__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IGNORED_CHECKPOINT_KEYS",
    "VICLIP_CONFIGS",
    "CheckpointLoadResult",
    "ResidualAttentionBlock",
    "ViCLIPBackbone",
    "ViCLIPConfig",
    "ViCLIPTextTransformer",
    "build_viclip",
    "load_viclip_checkpoint",
    "internvid_key",
    "map_viclip_key",
]
