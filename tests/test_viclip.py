"""Tests of the ViCLIP backbone: token layout, blocks, text tower, preprocessing, checkpoint loading.

A tiny configuration with random weights runs on the CPU in a few seconds. Reference computations
are written out independently here (InternVid's sequence-first layout, explicit attention math,
explicit checkpoint key names) rather than reusing the module under test.
"""

from __future__ import annotations

import operator

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fiftyone_videogem.engine.backbones.base import Backbone
from fiftyone_videogem.engine.backbones.viclip import (
    VICLIP_CONFIGS,
    ViCLIPBackbone,
    ViCLIPConfig,
    build_viclip,
    load_viclip_checkpoint,
)

TINY = dict(
    name="viclip-tiny", patch=8, width=64, layers=3, heads=4, embed_dim=32,
    text_width=32, text_layers=2, text_heads=4, image_size=32, num_frames=8, target_frame=4,
)
T, G, P = 8, 4, 8  # frames, patches per side, patch size of TINY
SOT, EOT = 49406, 49407


@pytest.fixture(scope="module")
def model() -> ViCLIPBackbone:
    torch.manual_seed(0)
    return build_viclip(TINY)


def video(batch: int = 1, frames: int = T, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, G * P, G * P, generator=generator)


# ------------------------------------------------------------------------------ reference forward
def internvid_embed(model: ViCLIPBackbone, pixels: torch.Tensor) -> torch.Tensor:
    """InternVid's embedding, step by step in its own layout ((b t) batches, CLS from rows [:B])."""
    x = F.conv3d(pixels.permute(0, 2, 1, 3, 4), model.conv1.weight, stride=model.conv1.stride)
    b, c, t, h, w = x.shape
    x = x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
    x = torch.cat([model.class_embedding + torch.zeros(b * t, 1, c), x], dim=1)
    x = x + model.positional_embedding
    cls = x[:b, :1, :]
    x = x[:, 1:]
    x = x.reshape(b, t, h * w, c).permute(0, 2, 1, 3).reshape(b * h * w, t, c)  # (b t) n m -> (b n) t m
    temporal = model.temporal_positional_embedding
    x = x + (temporal.mean(1) if t == 1 else temporal)
    x = x.reshape(b, h * w * t, c)  # (b n) t m -> b (n t) m
    return model.ln_pre(torch.cat([cls, x], dim=1))


def sequence_first_attention(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    reference = nn.MultiheadAttention(x.shape[-1], block.attn.num_heads)  # batch_first=False, like InternVid
    reference.load_state_dict(block.attn.state_dict())
    return reference(x, x, x, need_weights=False)[0]


def internvid_video_embedding(model: ViCLIPBackbone, pixels: torch.Tensor) -> torch.Tensor:
    x = internvid_embed(model, pixels).permute(1, 0, 2)  # [N, B, C]
    for block in model.blocks:
        x = x + sequence_first_attention(block, block.ln_1(x))
        x = x + block.mlp(block.ln_2(x))
    return model.ln_post(x.permute(1, 0, 2)[:, 0]) @ model.proj


def explicit_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pre-LN block with the attention written out (scale d_h^-1/2, biases on, heads head-major)."""
    batch, tokens, width = x.shape
    heads = block.attn.num_heads
    head_dim = width // heads
    h = F.layer_norm(x, (width,), block.ln_1.weight, block.ln_1.bias, block.ln_1.eps)
    qkv = h @ block.attn.in_proj_weight.T + block.attn.in_proj_bias
    q, k, v = (part.reshape(batch, tokens, heads, head_dim).transpose(1, 2) for part in qkv.split(width, dim=-1))
    weights = torch.softmax(q @ k.transpose(-1, -2) * head_dim ** -0.5, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(batch, tokens, width)
    x = x + out @ block.attn.out_proj.weight.T + block.attn.out_proj.bias
    m = F.layer_norm(x, (width,), block.ln_2.weight, block.ln_2.bias, block.ln_2.eps)
    m = m @ block.mlp.c_fc.weight.T + block.mlp.c_fc.bias
    m = m * torch.sigmoid(1.702 * m)
    return x + m @ block.mlp.c_proj.weight.T + block.mlp.c_proj.bias


# ------------------------------------------------------------------------------------ structure
def test_structure_follows_the_backbone_interface(model):
    assert isinstance(model, Backbone)
    assert not model.training and all(not module.training for module in model.modules())
    info = model.info
    assert (info.num_frames, info.target_frame, info.image_size, info.patch_size) == (8, 4, (32, 32), 8)
    assert info.grid_size == (G, G) and info.license == "CC-BY-NC-SA-4.0"
    assert isinstance(model.blocks, nn.ModuleList) and model.depth == 3 and model.width == 64
    assert model.num_heads == 4 and tuple(model.proj.shape) == (64, 32)
    assert isinstance(model.ln_post, nn.LayerNorm)
    for block in model.blocks:
        assert isinstance(block.ln_1, nn.LayerNorm) and isinstance(block.ln_2, nn.LayerNorm)
        assert isinstance(block.attn, nn.MultiheadAttention) and block.attn.batch_first
        assert block.attn.in_proj_bias is not None and block.attn.num_heads == 4
        assert isinstance(block.ls_1, nn.Identity) and isinstance(block.ls_2, nn.Identity)
        assert isinstance(block.mlp.c_fc, nn.Linear) and isinstance(block.mlp.c_proj, nn.Linear)
        assert block.mlp.c_fc.out_features == 4 * 64
    assert model.conv1.bias is None and model.conv1.kernel_size == (1, P, P) and model.conv1.stride == (1, P, P)


def test_registry_configs_have_the_released_sizes():
    base, large = ViCLIPConfig.resolve("viclip-b-16"), ViCLIPConfig.resolve("viclip-l-14")
    assert (base.patch, base.width, base.layers, base.heads, base.embed_dim) == (16, 768, 12, 12, 512)
    assert (base.text_width, base.text_layers, base.text_heads, base.context_length) == (512, 12, 8, 32)
    assert (large.patch, large.width, large.layers, large.heads, large.embed_dim) == (14, 1024, 24, 16, 768)
    assert (large.text_width, large.text_layers, large.text_heads) == (768, 12, 12)
    assert base.grid == 14 and large.grid == 16
    assert set(VICLIP_CONFIGS) == {"viclip-b-16", "viclip-l-14"}

    def count(config, text: bool) -> int:
        with torch.device("meta"):
            backbone = ViCLIPBackbone(config)
        return sum(p.numel() for name, p in backbone.named_parameters() if name.startswith("text.") == text)

    # ViCLIP-B/16 vision = CLIP ViT-B/16 visual (86,192,640) + the [1, 8, 768] temporal embedding.
    assert count(base, text=False) == 86_192_640 + 8 * 768
    # OpenGVLab/ViCLIP-L-14-hf reports 428M parameters.
    assert count(large, text=False) + count(large, text=True) == 427_590_144


def test_unknown_names_and_fields_are_refused():
    with pytest.raises(ValueError, match="viclip-b-16"):
        build_viclip("viclip-h-14")
    with pytest.raises(ValueError, match="patchsize"):
        ViCLIPConfig.resolve({**TINY, "patchsize": 8})
    with pytest.raises(ValueError, match="divisible"):
        ViCLIPConfig.resolve({**TINY, "image_size": 30})


# ------------------------------------------------------------------------------------ token layout
@pytest.mark.parametrize("frame,row,col", [(0, 0, 0), (5, 2, 1), (7, 3, 3), (3, 0, 2)])
def test_one_changed_patch_changes_exactly_its_token(model, frame, row, col):
    pixels = video()
    changed = pixels.clone()
    changed[0, frame, :, row * P:(row + 1) * P, col * P:(col + 1) * P] += 3.0
    with torch.no_grad():
        difference = (model.embed(changed) - model.embed(pixels)).abs().amax(dim=-1)[0]  # [N]
    assert difference.shape == (1 + T * G * G,)
    changed_tokens = torch.nonzero(difference > 1e-6).flatten().tolist()
    assert changed_tokens == [1 + (row * G + col) * T + frame]
    grid = model.patch_grid(difference[1:])  # [T, G, G]
    assert grid.shape == (T, G, G)
    assert torch.nonzero(grid > 1e-6).tolist() == [[frame, row, col]]


def test_embed_matches_internvid_layout(model):
    pixels = video(batch=2, seed=1)
    with torch.no_grad():
        ours = model.embed(pixels)
        reference = internvid_embed(model, pixels)
    assert ours.shape == (2, 1 + T * G * G, 64)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_embed_token_values_by_definition(model):
    pixels = video(seed=2)
    with torch.no_grad():
        tokens = model.embed(pixels)[0]
        weight = model.conv1.weight[:, :, 0]  # [C, 3, P, P]
        for frame, row, col in [(0, 0, 0), (4, 1, 3), (7, 3, 2)]:
            patch = pixels[0, frame, :, row * P:(row + 1) * P, col * P:(col + 1) * P]
            value = (weight * patch).sum(dim=(1, 2, 3))
            value = value + model.positional_embedding[1 + row * G + col] + model.temporal_positional_embedding[0, frame]
            expected = model.ln_pre(value)
            torch.testing.assert_close(tokens[1 + (row * G + col) * T + frame], expected, atol=1e-5, rtol=1e-5)


def test_single_cls_token_from_frame_zero(model):
    with torch.no_grad():
        tokens = model.embed(torch.cat([video(seed=3), video(seed=4)]))
        expected_cls = model.ln_pre(model.class_embedding + model.positional_embedding[0])
    assert tokens.shape[1] == 1 + T * G * G  # one CLS, not one per frame
    torch.testing.assert_close(tokens[0, 0], expected_cls, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(tokens[1, 0], expected_cls, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(tokens[0, 1:], tokens[1, 1:])
    # no patch token carries the CLS value
    assert ((tokens[0, 1:] - expected_cls).abs().amax(dim=-1) > 1e-3).all()


def test_single_frame_adds_the_mean_temporal_embedding(model):
    pixels = video(frames=1, seed=5)
    with torch.no_grad():
        tokens = model.embed(pixels)[0]
        reference = internvid_embed(model, pixels)[0]
        weight = model.conv1.weight[:, :, 0]
        patch = pixels[0, 0, :, P:2 * P, 2 * P:3 * P]  # row 1, col 2
        value = (weight * patch).sum(dim=(1, 2, 3)) + model.positional_embedding[1 + G + 2]
        expected = model.ln_pre(value + model.temporal_positional_embedding.mean(dim=1)[0])
        without_mean = model.ln_pre(value)
    assert tokens.shape == (1 + G * G, 64)
    torch.testing.assert_close(tokens, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(tokens[1 + G + 2], expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(tokens[1 + G + 2], without_mean, atol=1e-3)
    assert model.patch_grid(tokens[1:, 0]).shape == (1, G, G)


def test_wrong_frame_counts_and_layouts_are_refused(model):
    with pytest.raises(ValueError, match="8 frames"):
        model.embed(video(frames=3))
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        model.embed(video()[0])


def test_patch_grid_inverts_the_flatten_order(model):
    flat = torch.arange(T * G * G)
    grid = model.patch_grid(flat)
    assert grid.shape == (T, G, G)
    for frame in range(T):
        for row in range(G):
            for col in range(G):
                assert grid[frame, row, col] == (row * G + col) * T + frame
    batched = model.patch_grid(torch.stack([flat, flat + 1000]))
    assert batched.shape == (2, T, G, G) and batched[1, 3, 2, 1] == (2 * G + 1) * T + 3 + 1000
    with pytest.raises(ValueError, match="patch values"):
        model.patch_grid(torch.zeros(T * G * G + 1))


def test_positional_embedding_is_resampled_for_another_grid(model):
    pixels = torch.randn(1, T, 3, 6 * P, 6 * P)
    with torch.no_grad():
        tokens = model.embed(pixels)
        table = model.positional_embedding[1:].reshape(1, G, G, 64).permute(0, 3, 1, 2)
        resized = F.interpolate(table, size=(6, 6), mode="bicubic", antialias=True, align_corners=False)
        value = (model.conv1.weight[:, :, 0] * pixels[0, 2, :, P:2 * P, 4 * P:5 * P]).sum(dim=(1, 2, 3))
        expected = model.ln_pre(value + resized[0, :, 1, 4] + model.temporal_positional_embedding[0, 2])
    assert tokens.shape == (1, 1 + T * 36, 64)
    torch.testing.assert_close(tokens[0, 1 + (1 * 6 + 4) * T + 2], expected, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------ blocks
@pytest.mark.parametrize("grad", [False, True])
def test_block_forward_is_multihead_attention_then_mlp(model, grad):
    x = torch.randn(2, 1 + T * G * G, 64, generator=torch.Generator().manual_seed(6))
    for block in model.blocks:
        with torch.set_grad_enabled(grad):
            ours = block(x)
        with torch.no_grad():
            expected = explicit_block(block, x)
        torch.testing.assert_close(ours.detach(), expected, atol=1e-5, rtol=1e-5)
        x = expected


def test_video_embedding_matches_the_sequence_first_reference(model):
    pixels = video(batch=2, seed=7)
    with torch.no_grad():
        ours = model.video_embedding(pixels)
        reference = internvid_video_embedding(model, pixels)
        x = model.embed(pixels)
        for block in model.blocks:
            x = explicit_block(block, x)
        by_definition = model.ln_post(x[:, 0]) @ model.proj
    assert ours.shape == (2, 32)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours, by_definition, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(pixels), ours)


# -------------------------------------------------------------------------------------------- text
def test_tokenizer_truncates_at_32_with_end_token_last(model):
    long_text = " ".join(["onion"] * 60)
    tokens = model.tokenize([long_text, "A Person CUTTING an onion."])
    assert tokens.shape == (2, 32) and tokens.dtype == torch.long
    assert tokens[0, 0] == SOT and tokens[0, -1] == EOT and (tokens[0] != 0).all()
    assert (tokens[0, 1:-1] == tokens[0, 1]).all()  # 30 "onion" tokens kept, the 31st replaced by EOT
    short = tokens[1]
    end = int((short == EOT).nonzero()[0, 0])
    assert short[0] == SOT and (short[end + 1:] == 0).all() and end == 7
    # lowercasing, and the same ids as open_clip's CLIP tokenizer
    import open_clip

    assert torch.equal(model.tokenize(["a person cutting an onion."])[0], short)
    assert torch.equal(open_clip.tokenize(["a person cutting an onion."])[0, :32], short)
    assert torch.equal(model.tokenize("a person cutting an onion."), model.tokenize(["a person cutting an onion."]))


def test_encode_text_is_causal_and_pools_the_end_token(model):
    tokens = model.tokenize(["a photo of a person cutting an onion.", "a photo of a person."])
    with torch.no_grad():
        embeddings = model.encode_text(tokens)
        padded = tokens.clone()
        padded[1, -1] = 1234  # after the end token: invisible through the causal mask
        after_end = model.encode_text(padded)
        edited = tokens.clone()
        edited[1, 2] = 1234  # before the end token
        before_end = model.encode_text(edited)
    assert embeddings.shape == (2, 32)
    torch.testing.assert_close(after_end, embeddings, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(before_end[1], embeddings[1], atol=1e-4)
    torch.testing.assert_close(before_end[0], embeddings[0], atol=1e-6, rtol=1e-6)


def test_encode_text_matches_an_explicit_causal_reference(model):
    tokens = model.tokenize(["a person slicing bread"])
    text = model.text
    with torch.no_grad():
        x = text.token_embedding(tokens) + text.positional_embedding
        mask = torch.triu(torch.full((32, 32), float("-inf")), diagonal=1)
        x = x.permute(1, 0, 2)
        for block in text.blocks:
            reference = nn.MultiheadAttention(32, block.attn.num_heads)
            reference.load_state_dict(block.attn.state_dict())
            h = block.ln_1(x)
            x = x + reference(h, h, h, need_weights=False, attn_mask=mask)[0]
            x = x + block.mlp(block.ln_2(x))
        x = text.ln_final(x.permute(1, 0, 2))
        end = int((tokens[0] == EOT).nonzero()[0, 0])
        expected = x[0, end] @ text.text_projection
        ours = model.encode_text(tokens)[0]
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------ preprocessing
def test_preprocess_is_cv2_linear_resize_and_imagenet_statistics(model):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(45, 60, 3), dtype=np.uint8) for _ in range(T)]
    pixels = model.preprocess(frames)
    assert pixels.shape == (T, 3, 32, 32) and pixels.dtype == torch.float32
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    for index, frame in enumerate(frames):
        resized = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_LINEAR)
        expected = ((resized / 255.0 - mean) / std).transpose(2, 0, 1)
        np.testing.assert_allclose(pixels[index].numpy(), expected, atol=1e-6)

    red = [np.zeros((20, 30, 3), dtype=np.uint8) for _ in range(T)]
    for frame in red:
        frame[..., 0] = 255
    red_pixels = model.preprocess(red)
    torch.testing.assert_close(red_pixels[:, 0], torch.full((T, 32, 32), (1 - 0.485) / 0.229))
    torch.testing.assert_close(red_pixels[:, 1], torch.full((T, 32, 32), -0.456 / 0.224))
    torch.testing.assert_close(red_pixels[:, 2], torch.full((T, 32, 32), -0.406 / 0.225))


def test_preprocess_refuses_wrong_frame_counts(model):
    with pytest.raises(ValueError, match="exactly 8 frames"):
        model.preprocess([np.zeros((10, 10, 3), dtype=np.uint8)] * 3)
    with pytest.raises(ValueError, match="frame 2"):
        model.preprocess([np.zeros((10, 10, 3), dtype=np.uint8)] * 2 + [np.zeros((10, 10, 5))] * 6)


# ----------------------------------------------------------------------------------- checkpoints
def _block_tensors(prefix: str, width: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    shapes = {
        "ln_1.weight": (width,), "ln_1.bias": (width,),
        "attn.in_proj_weight": (3 * width, width), "attn.in_proj_bias": (3 * width,),
        "attn.out_proj.weight": (width, width), "attn.out_proj.bias": (width,),
        "ln_2.weight": (width,), "ln_2.bias": (width,),
        "mlp.c_fc.weight": (4 * width, width), "mlp.c_fc.bias": (4 * width,),
        "mlp.c_proj.weight": (width, 4 * width), "mlp.c_proj.bias": (width,),
    }
    return {f"{prefix}.{name}": torch.randn(*shape, generator=generator) for name, shape in shapes.items()}


def internvid_state_dict(seed: int = 0, text_rows: int = 32) -> dict[str, torch.Tensor]:
    """The key names of InternVid's ViCLIP (vision_encoder.* / text_encoder.*) for the TINY sizes."""
    g = torch.Generator().manual_seed(seed)
    c, e, tw = TINY["width"], TINY["embed_dim"], TINY["text_width"]
    state = {
        "vision_encoder.conv1.weight": torch.randn(c, 3, 1, P, P, generator=g),
        "vision_encoder.class_embedding": torch.randn(c, generator=g),
        "vision_encoder.positional_embedding": torch.randn(G * G + 1, c, generator=g),
        "vision_encoder.temporal_positional_embedding": torch.randn(1, T, c, generator=g),
        "vision_encoder.ln_pre.weight": torch.randn(c, generator=g),
        "vision_encoder.ln_pre.bias": torch.randn(c, generator=g),
        "vision_encoder.ln_post.weight": torch.randn(c, generator=g),
        "vision_encoder.ln_post.bias": torch.randn(c, generator=g),
        "vision_encoder.proj": torch.randn(c, e, generator=g),
        "text_encoder.token_embedding.weight": torch.randn(49408, tw, generator=g),
        "text_encoder.positional_embedding": torch.randn(text_rows, tw, generator=g),
        "text_encoder.ln_final.weight": torch.randn(tw, generator=g),
        "text_encoder.ln_final.bias": torch.randn(tw, generator=g),
        "text_encoder.text_projection": torch.randn(tw, e, generator=g),
        "temp": torch.tensor(0.01),
    }
    for i in range(TINY["layers"]):
        state.update(_block_tensors(f"vision_encoder.transformer.resblocks.{i}", c, g))
    for i in range(TINY["text_layers"]):
        state.update(_block_tensors(f"text_encoder.transformer.resblocks.{i}", tw, g))
    return state


def tensor_in_model(model: ViCLIPBackbone, key: str) -> torch.Tensor:
    """Where an InternVid key must land, by attribute access on the modules the engine reads."""
    for prefix, blocks in (("vision_encoder.transformer.resblocks.", model.blocks),
                           ("text_encoder.transformer.resblocks.", model.text.blocks)):
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            return operator.attrgetter(rest)(blocks[int(index)])
    if key.startswith("vision_encoder."):
        return operator.attrgetter(key[len("vision_encoder."):])(model)
    return operator.attrgetter(key[len("text_encoder."):])(model.text)


def assert_loaded(model: ViCLIPBackbone, state: dict[str, torch.Tensor]) -> None:
    for key, value in state.items():
        if key == "temp":
            continue
        expected = value[:32] if key == "text_encoder.positional_embedding" else value
        assert torch.equal(tensor_in_model(model, key).detach(), expected), key


class TrainingConfig:
    """Stands for the non-tensor objects (configs) that release checkpoints may carry."""

    def __init__(self):
        self.lr = 1e-4


class WritesAFile:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_internvid_pth_round_trip(tmp_path):
    state = internvid_state_dict(seed=1)
    path = tmp_path / "ViCLIP-B_InternVid-FLT-10M.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 9}, path)
    fresh = build_viclip(TINY)
    result = load_viclip_checkpoint(fresh, path)
    assert result.format == "internvid" and result.ignored_keys == ("module.temp",)
    assert result.loaded_keys == len(state) - 1 == len(fresh.state_dict())
    assert_loaded(fresh, state)
    with torch.no_grad():
        assert torch.isfinite(fresh.video_embedding(video())).all()


def test_pth_with_foreign_objects_loads_without_running_them(tmp_path):
    state = internvid_state_dict(seed=2)
    marker = tmp_path / "should-not-exist.txt"
    path = tmp_path / "release.pth"
    torch.save({"model": state, "config": TrainingConfig(), "hook": WritesAFile(str(marker))}, path)
    fresh = build_viclip(TINY)
    load_viclip_checkpoint(fresh, path)
    assert not marker.exists()
    assert_loaded(fresh, state)


def test_huggingface_safetensors_round_trip(tmp_path):
    from safetensors.torch import save_file

    state = internvid_state_dict(seed=3)
    folder = tmp_path / "ViCLIP-B-16-hf"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    for source in (folder, folder / "model.safetensors", str(folder / "model.safetensors")):
        fresh = build_viclip(TINY, checkpoint=source)
        assert not fresh.training
        assert_loaded(fresh, state)


def test_native_state_dict_round_trip(model):
    fresh = build_viclip(TINY)
    result = load_viclip_checkpoint(fresh, model.state_dict())
    assert result.format == "native"
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_longer_text_positional_table_is_cut_to_the_context():
    state = internvid_state_dict(seed=4, text_rows=77)
    fresh = build_viclip(TINY)
    load_viclip_checkpoint(fresh, state)
    assert_loaded(fresh, state)


def test_missing_key_error_lists_it():
    state = internvid_state_dict(seed=5)
    del state["vision_encoder.transformer.resblocks.1.attn.in_proj_bias"]
    del state["text_encoder.ln_final.weight"]
    with pytest.raises(KeyError) as raised:
        load_viclip_checkpoint(build_viclip(TINY), state)
    message = str(raised.value)
    assert "2 tensor(s) missing" in message
    assert "vision_encoder.transformer.resblocks.1.attn.in_proj_bias" in message
    assert "text_encoder.ln_final.weight" in message


def test_unknown_key_and_wrong_shape_errors():
    state = internvid_state_dict(seed=6)
    state["vision_encoder.head.weight"] = torch.zeros(3)
    with pytest.raises(KeyError, match="vision_encoder.head.weight"):
        load_viclip_checkpoint(build_viclip(TINY), state)
    state = internvid_state_dict(seed=6)
    state["vision_encoder.proj"] = torch.zeros(64, 16)
    with pytest.raises(ValueError, match=r"proj: checkpoint \(64, 16\), model \(64, 32\)"):
        load_viclip_checkpoint(build_viclip(TINY), state)


def test_missing_file_and_failed_download_say_to_pass_a_local_path(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="local checkpoint"):
        build_viclip(TINY, checkpoint=tmp_path / "nope.pth")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(RuntimeError, match="local\\s+checkpoint path"):
        load_viclip_checkpoint(build_viclip(TINY), "hf-hub:OpenGVLab/ViCLIP-B-16-hf")
    with pytest.raises(RuntimeError, match="OpenGVLab/ViCLIP-B-16-hf"):
        build_viclip({**TINY, "hf_repo": "OpenGVLab/ViCLIP-B-16-hf"}, pretrained=True)
