"""GEM over ViCLIP space-time tokens: original pathway, token order, target frame, batching."""

import numpy as np
import pytest
import torch

import fiftyone_videogem as fvg
from fiftyone_videogem.engine.gem import GemOptions, gem_forward
from fiftyone_videogem.engine.weighting import WeightingOptions, dense_features, layer_weights

T, G, P, SIZE = 8, 4, 8, 32


@pytest.fixture(scope="module")
def engine():
    return fvg.VideoGEM.from_config("test-viclip-tiny", seed=0)


def clip(seed=0, h=40, w=56):
    return (np.random.RandomState(seed).rand(T, h, w, 3) * 255).astype(np.uint8)


def test_registry_and_info(engine):
    info = engine.info
    assert (info.num_frames, info.target_frame, info.image_size, info.patch_size) == (8, 4, (32, 32), 8)
    spec = fvg.get_backbone_spec("viclip-b-16")
    assert spec.family == "viclip" and "CC-BY-NC-SA-4.0" in spec.license
    with pytest.raises(ValueError, match="no pretrained weights"):
        fvg.VideoGEM.from_pretrained("test-viclip-tiny")


def test_original_pathway_equals_video_embedding(engine):
    pixels = torch.stack([engine.preprocess(clip(s)) for s in range(2)])
    with torch.no_grad():
        exact = gem_forward(engine.backbone, pixels, GemOptions(exact=True)).embedding
        assert torch.equal(exact, engine.backbone.video_embedding(pixels))
        fused = gem_forward(engine.backbone, pixels).embedding  # the default pathway
        assert torch.allclose(fused, exact, atol=1e-5)


def local_engine():
    """Identity blocks (no token mixing), tokens that measure brightness, text that means 'bright'."""
    e = fvg.VideoGEM.from_config("test-viclip-tiny", seed=0, weighting="none")
    b = e.backbone
    with torch.no_grad():
        b.conv1.weight.zero_()
        b.conv1.weight[0] = 1.0  # channel 0: summed brightness of the patch
        b.positional_embedding.zero_()
        b.temporal_positional_embedding.zero_()
        b.class_embedding.zero_()
        for block in b.blocks:
            block.attn.out_proj.weight.zero_()
            block.attn.out_proj.bias.zero_()
            block.mlp.c_proj.weight.zero_()
            block.mlp.c_proj.bias.zero_()
        b.proj.zero_()
        b.proj[0, 0] = 1.0
    e.text_cache.clear()
    return e


def bright_patch_clip(spots):
    """Dark frames; frame t gets a bright patch at grid cell (r, c) for each (t, r, c) in spots."""
    frames = np.full((T, SIZE, SIZE, 3), 10, np.uint8)
    for t, r, c in spots:
        frames[t, r * P:(r + 1) * P, c * P:(c + 1) * P] = 250
    return frames


def test_token_order_bright_patch_lights_its_frame_and_cell():
    e = local_engine()
    spots = [(0, 0, 3), (2, 1, 1), (4, 2, 0), (7, 3, 2)]
    pixels = e.preprocess(bright_patch_clip(spots))[None]
    with torch.no_grad():
        f = gem_forward(e.backbone, pixels)
        weights = layer_weights(WeightingOptions("none"), 7, None, (1, 1), "cpu", torch.float32)
        dense = dense_features(f, weights, e.backbone.ln_post, e.backbone.proj)[0, 0]  # [T*G*G, E]
        grid = e.backbone.patch_grid(dense[:, 0])  # embedding direction 0 = brightness
    assert grid.shape == (T, G, G)
    for t, r, c in spots:
        assert int(grid[t].argmax()) == r * G + c
        assert grid[t, r, c] > 0.99
    lit = {(t, r, c) for t, r, c in spots}
    others = [(t, r, c) for t in range(T) for r in range(G) for c in range(G) if (t, r, c) not in lit]
    assert all(grid[o] < 0 for o in others)


def test_target_frame_is_index_4():
    e = local_engine()
    text = torch.zeros(32)
    text[0] = 1.0
    for prompt in ("A photo of a person crack eggs.", "A photo of a person crack something.",
                   "A photo of a person using eggs."):
        e.text_cache[prompt] = text
    # every other frame has its bright patch elsewhere; only frame 4 has it at (1, 2)
    spots = [(t, 3, 0) for t in range(T) if t != 4] + [(4, 1, 2)]
    r = e.ground(list(bright_patch_clip(spots)), "crack eggs")
    x, y = r.input_point
    assert 2 * P <= x < 3 * P and 1 * P <= y < 2 * P
    assert r.components["action"].similarity.shape == (G, G)


def test_image_mode_repeats_the_keyframe(engine):
    frame = clip(3)[0]
    single = engine.ground(frame, "crack eggs")
    repeated = engine.ground(np.stack([frame] * T), "crack eggs")
    assert single.input_point == repeated.input_point
    np.testing.assert_array_equal(single.components["action"].similarity, repeated.components["action"].similarity)


def test_wrong_number_of_frames(engine):
    with pytest.raises(ValueError, match="8 frame"):
        engine.ground(clip(0)[:5], "crack eggs")


def test_batch_equals_one_by_one(engine):
    clips = [clip(s) for s in range(3)]
    prompts = ["crack eggs", "Drinking", "add the salt to the bowl"]
    batched = fvg.VideoGEM(engine.backbone, batch_size=2).ground_batch(clips, prompts)
    for c, p, got in zip(clips, prompts, batched):
        one = engine.ground(c, p)
        for n in one.components:
            np.testing.assert_allclose(got.components[n].similarity, one.components[n].similarity, atol=1e-5)
            assert got.components[n].prompt == one.components[n].prompt
