"""The GEM engine against METHOD.md: pathways, attention, weights, heatmaps, points, batching."""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

import fiftyone_videogem as fvg
from fiftyone_videogem.engine.gem import (
    GemOptions,
    adaptive_inverse_temperature,
    gem_forward,
    self_self_attention,
)
from fiftyone_videogem.engine.heatmaps import argmax_points, merge_heatmaps, merge_points, min_max_normalize, upsample
from fiftyone_videogem.engine.weighting import WeightingOptions, dynamic_weights, layer_weights

from . import reference


def random_frame(seed=0, h=90, w=120):
    return (np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny():
    return fvg.VideoGEM.from_config("test-vit-tiny", seed=0)


@pytest.fixture(scope="module")
def vit_b16():
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-16", pretrained=None, force_quick_gelu=True).eval()
    return model, open_clip.get_tokenizer("ViT-B-16")


# ------------------------------------------------------------------------------ original pathway
def test_exact_original_pathway_equals_encode_image_tiny(tiny):
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        features = gem_forward(tiny.backbone, x, GemOptions(exact=True))
        assert torch.equal(features.embedding, tiny.backbone.encode_image(x))


def test_exact_original_pathway_equals_encode_image_vit_b16_native(vit_b16):
    model, tokenizer = vit_b16
    engine = fvg.VideoGEM.from_open_clip(model, tokenizer, image_size=224)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        features = gem_forward(engine.backbone, x, GemOptions(exact=True))
        assert torch.equal(features.embedding, model.encode_image(x))


def test_default_fused_pathway_matches_within_rounding(vit_b16):
    model, tokenizer = vit_b16
    engine = fvg.VideoGEM.from_open_clip(model, tokenizer, image_size=224)
    assert engine.options.gem_options() == GemOptions(exact=False)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        exact = gem_forward(engine.backbone, x, GemOptions(exact=True))
        fast = gem_forward(engine.backbone, x)
        assert torch.allclose(fast.embedding, model.encode_image(x), atol=1e-5)
        assert torch.allclose(fast.stack, exact.stack, atol=1e-5)
        assert torch.allclose(fast.residual_cls, exact.residual_cls, atol=1e-5)


def test_residuals_sum_to_final_state(tiny):
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64)
        backbone = tiny.backbone
        f = gem_forward(backbone, x)
        tokens = backbone.embed(x)
        for block in backbone.blocks[:1]:  # K = 7 of 8 blocks: X^{L-K} is the output of block 0
            tokens = block(tokens)
        assert torch.allclose(tokens[:, 0] + f.residual_cls.sum(1), f.final_cls, atol=1e-5)
        assert torch.allclose(f.stack[:, 0], tokens[:, 1:])


# --------------------------------------------------------------------------- self-self attention
def naive_ss(q, k, v, inv_tau, iterations=1):
    b, h, n, d = v.shape
    out = torch.zeros_like(v)
    for bi in range(b):
        for hi in range(h):
            total = 0
            for p0 in (v, k, q):
                p = p0[bi, hi]
                for _ in range(iterations):
                    p = p / p.norm(dim=-1, keepdim=True)
                    p = torch.softmax(p @ p.T * inv_tau[bi], -1) @ p
                p = p / p.norm(dim=-1, keepdim=True)
                total = total + torch.softmax(p @ p.T * inv_tau[bi], -1) @ v[bi, hi]
            out[bi, hi] = total / 3
    return out


@pytest.mark.parametrize("iterations", [0, 1, 2])
def test_self_self_attention_matches_naive(iterations):
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 17, 8) for _ in range(3))
    inv_tau = torch.tensor([0.7, 2.5])
    got = self_self_attention(q, k, v, inv_tau, iterations)
    assert torch.allclose(got, naive_ss(q, k, v, inv_tau, iterations), atol=1e-6)


def test_self_self_attention_uniform_when_temperature_vanishes():
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 2, 9, 4) for _ in range(3))
    out = self_self_attention(q, k, v, torch.tensor([1e-9]))
    assert torch.allclose(out, v.mean(dim=2, keepdim=True).expand_as(v), atol=1e-6)


def test_adaptive_temperature():
    u = torch.zeros(2, 4, 8)
    u[0, :, 0] = torch.tensor([1.0, 2.0, 3.0, 6.0])  # norms 1,2,3,6 -> mean 3
    u[1, :, 1] = 2.0
    got = adaptive_inverse_temperature(u, head_dim=16)
    assert torch.allclose(got, torch.tensor([3.0 / 4.0, 2.0 / 4.0]))


def test_fixed_temperature_changes_the_result(tiny):
    frame = random_frame(3)
    adaptive = tiny.ground(frame, "crack eggs").components["action"].similarity
    fixed = fvg.VideoGEM(tiny.backbone, temperature=5.0).ground(frame, "crack eggs").components["action"].similarity
    assert not np.allclose(adaptive, fixed, atol=1e-6)


# ------------------------------------------------------------------------ against the reference
@pytest.mark.parametrize("mode,exact", [("none", True), ("static", True), ("dynamic", True),
                                        ("static+dynamic", True), ("static+dynamic", False)])
def test_similarity_grids_match_reference_tiny_resampled(mode, exact):
    torch.manual_seed(0)
    from open_clip.model import CLIP

    spec = fvg.get_backbone_spec("test-vit-tiny")
    model = CLIP(**spec.model_config).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-16")
    engine = fvg.VideoGEM.from_open_clip(model, tokenizer, image_size=96, weighting=mode, decomposition=False,
                                         exact=exact)
    frame = random_frame(4, 70, 130)
    got = engine.ground(frame, "crack eggs").components["action"].similarity
    ref = reference.similarity_grids(model, tokenizer, frame, ["A photo of a person crack eggs."], 96, mode=mode)[0]
    assert got.shape == (6, 6)
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-5)


def test_similarity_grids_match_reference_vit_b16_448(vit_b16):
    model, tokenizer = vit_b16
    engine = fvg.VideoGEM.from_open_clip(model, tokenizer, image_size=448)
    frame = random_frame(5, 180, 320)
    result = engine.ground(frame, fvg.ActionPrompt(action="cut onion", verb="cut", object="onion"))
    texts = [result.components[n].prompt for n in ("action", "verb", "object")]
    ref = reference.similarity_grids(model, tokenizer, frame, texts, 448)
    for i, name in enumerate(("action", "verb", "object")):
        assert result.components[name].similarity.shape == (28, 28)
        np.testing.assert_allclose(result.components[name].similarity, ref[i].numpy(), atol=1e-5)


# ------------------------------------------------------------------------------------- weights
def test_layer_weights_modes():
    dyn = torch.tensor([[[0.5, 0.3, 0.2]]])
    opts = dict(depth=7, dynamic=dyn, shape=(1, 1), device="cpu", dtype=torch.float32)
    none = layer_weights(WeightingOptions("none"), **opts)
    static = layer_weights(WeightingOptions("static"), **opts)
    dynamic = layer_weights(WeightingOptions("dynamic"), **opts)
    combined = layer_weights(WeightingOptions("static+dynamic"), **opts)
    assert none.tolist() == [[[1.0] * 8]]
    assert torch.allclose(static, torch.tensor([0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 0.9, 0.9]))
    third = 1 / 3
    assert torch.allclose(dynamic[0, 0], torch.tensor([1, 1, 1, 1, 1, 1 - third + 0.5, 1 - third + 0.3, 1 - third + 0.2]))
    assert torch.allclose(
        combined[0, 0], torch.tensor([0.3, 0.4, 0.5, 0.6, 0.7, 2 / 3 - 0.1 + 0.5, 2 / 3 - 0.1 + 0.3, 2 / 3 - 0.1 + 0.2])
    )


def test_weighting_validation():
    with pytest.raises(ValueError, match="K\\+1"):
        WeightingOptions(static_weights=(1.0, 2.0)).validate(7)
    with pytest.raises(ValueError, match="dynamic_layers"):
        WeightingOptions(dynamic_layers=9).validate(7)
    with pytest.raises(ValueError, match="weighting mode"):
        WeightingOptions("sometimes")
    with pytest.raises(ValueError, match="K\\+1"):
        fvg.VideoGEM.from_config("test-vit-tiny", depth=5)


def test_dynamic_weights_by_hand(tiny):
    backbone = tiny.backbone
    with torch.no_grad():
        f = gem_forward(backbone, torch.randn(1, 3, 64, 64))
        text = F.normalize(torch.randn(1, 2, 32), dim=-1)
        got = dynamic_weights(f, text, backbone.ln_post, backbone.proj, 3, 20.0)
        for p in range(2):
            sims = []
            for j in range(3):
                r = f.residual_cls[0, 4 + j]
                c = backbone.ln_post(f.final_cls[0] - r) @ backbone.proj
                sims.append(torch.dot(F.normalize(c, dim=0), text[0, p]))
            expected = torch.softmax(-20.0 * torch.stack(sims), 0)
            assert torch.allclose(got[0, p], expected, atol=1e-6)
            assert got[0, p].sum().item() == pytest.approx(1.0)


# ------------------------------------------------------------------------------ heatmaps/points
def test_argmax_after_upsampling_border_and_interior():
    g = torch.zeros(14, 14)
    g[13, 13] = 1.0  # bottom-right border patch: an 8-px band of one value, first pixel p*(G-1)+p/2
    pt = argmax_points(min_max_normalize(upsample(g, (224, 224))))
    assert pt.tolist() == [216, 216]
    g = torch.zeros(14, 14)
    g[0, 0] = 1.0  # top-left: ties resolve to pixel 0
    assert argmax_points(upsample(g, (224, 224))).tolist() == [0, 0]
    g = torch.zeros(14, 14)
    g[5, 3] = 1.0
    g[5, 4] = 0.5  # larger neighbour on the right: the peak sits at 8 within the patch
    x, y = argmax_points(upsample(g, (224, 224))).tolist()
    assert x in (16 * 3 + 8,) and y in (16 * 5 + 7, 16 * 5 + 8)
    assert argmax_points(g).tolist() == [3, 5]  # on the grid the argmax is the patch itself


def test_argmax_first_occurrence():
    m = torch.zeros(4, 5)
    m[1, 3] = 1.0
    m[2, 0] = 1.0
    assert argmax_points(m).tolist() == [3, 1]


def test_min_max_constant_map_is_zero_not_nan():
    out = min_max_normalize(torch.full((2, 8, 8), 0.3))
    assert torch.isfinite(out).all() and (out == 0).all()
    out = min_max_normalize(torch.tensor([[1.0, 3.0], [2.0, 5.0]]))
    assert out.min() == 0 and out.max() == 1


def test_final_point_arithmetic():
    assert merge_points([(0, 0), (10, 10), (100, 50)], (0.2, 0.2, 0.6)) == (62, 32)
    assert merge_points([(1, 1), (1, 1), (2, 2)], (1, 1, 3)) == (1, 1)  # 8/5 truncates to 1
    # decimal weights stay exact: 3*7 + 1 + 1 = 23 -> 23/5 = 4.6 -> 4
    assert merge_points([(1, 0), (1, 0), (7, 0)], (0.2, 0.2, 0.6)) == (4, 0)


def test_heatmap_merges():
    a, b, c = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.4]])
    avg = merge_heatmaps([a, b, c], (0.2, 0.2, 0.6), "heatmap_average")
    assert torch.allclose(avg, (a + b + 3 * c) / 5)
    prod = merge_heatmaps([a + 0.5, b + 0.5, c], (0.2, 0.2, 0.6), "mul")
    assert torch.allclose(prod, (a + 0.5) * (b + 0.5) * c**3)


# ---------------------------------------------------------------------------- grounding results
def test_ground_result_structure(tiny):
    r = tiny.ground(random_frame(6), "crack eggs")
    assert set(r.components) == {"verb", "object", "action"}
    assert r.components["verb"].prompt == "A photo of a person crack something."
    assert r.components["object"].prompt == "A photo of a person using eggs."
    assert r.components["action"].prompt == "A photo of a person crack eggs."
    pts = [r.components[n].input_point for n in ("verb", "object", "action")]
    assert r.input_point == merge_points(pts, (0.2, 0.2, 0.6))
    assert r.input_size == (64, 64)
    assert r.point == ((r.input_point[0] + 0.5) / 64, (r.input_point[1] + 0.5) / 64)
    for c in r.components.values():
        assert c.heatmap.shape == (64, 64) and c.heatmap.dtype == np.float32
        assert c.heatmap.min() == 0.0 and c.heatmap.max() == 1.0
        assert c.heatmap[c.input_point[1], c.input_point[0]] == 1.0
        assert c.similarity.shape == (4, 4)


def test_decomposition_off_and_single_prompts(tiny):
    frame = random_frame(7)
    full = tiny.ground(frame, "crack eggs")
    for name in ("action", "verb", "object"):
        single = fvg.VideoGEM(tiny.backbone, decomposition=False, single_prompt=name).ground(frame, "crack eggs")
        assert list(single.components) == [name]
        np.testing.assert_allclose(single.components[name].similarity, full.components[name].similarity, atol=1e-6)
        assert single.input_point == single.components[name].input_point


def test_best_verb_and_object_are_the_most_similar(tiny):
    frame = random_frame(8)
    prompt = fvg.ActionPrompt(action="x", verb=["cut", "slice", "chop"], object=["onion", "knife"])
    r = tiny.ground(frame, prompt)
    pixels = tiny.preprocess(frame)[None]
    with torch.no_grad():
        emb = F.normalize(gem_forward(tiny.backbone, pixels).embedding[0], dim=-1)
    for name, texts in (("verb", prompt.verb_prompts()), ("object", prompt.object_prompts())):
        scores = tiny.encode_prompts(texts) @ emb
        assert r.components[name].prompt == texts[int(scores.argmax())]


def test_heatmap_merge_modes_give_their_point(tiny):
    frame = random_frame(9)
    for mode in ("heatmap_average", "heatmap_product"):
        r = fvg.VideoGEM(tiny.backbone, merge=mode).ground(frame, "crack eggs")
        assert r.heatmap.shape == (64, 64)
        assert r.heatmap[r.input_point[1], r.input_point[0]] == r.heatmap.max()


def test_determinism(tiny):
    frame = random_frame(10)
    a = tiny.ground(frame, "add the chopped onions to the hot pan")
    b = fvg.VideoGEM.from_config("test-vit-tiny", seed=0).ground(frame, "add the chopped onions to the hot pan")
    assert a.input_point == b.input_point
    for n in a.components:
        assert a.components[n].prompt == b.components[n].prompt
        np.testing.assert_array_equal(a.components[n].similarity, b.components[n].similarity)


def test_constant_image_gives_no_nan(tiny):
    r = tiny.ground(np.full((40, 50, 3), 128, np.uint8), "crack eggs")
    for c in r.components.values():
        assert np.isfinite(c.heatmap).all() and np.isfinite(c.similarity).all()
    assert all(0 <= v <= 1 for v in r.point)


def test_batch_equals_one_by_one(tiny):
    frames = [random_frame(s, 60 + s, 80) for s in range(5)]
    prompts = ["crack eggs", "ride bicycle", "Drinking", "add the salt to the bowl", "cut onion"]
    engine = fvg.VideoGEM(tiny.backbone, batch_size=2)
    batch = engine.ground_batch(frames, prompts)
    for frame, prompt, got in zip(frames, prompts, batch):
        one = tiny.ground(frame, prompt)
        for n in one.components:
            a, b = got.components[n], one.components[n]
            assert a.prompt == b.prompt
            np.testing.assert_allclose(a.similarity, b.similarity, atol=1e-5)
            np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-4)
            # the same pixel, or a tie within float rounding of batched matrix products
            assert a.input_point == b.input_point or b.heatmap[a.input_point[1], a.input_point[0]] > 1 - 1e-4
        assert got.input_point == merge_points([got.components[n].input_point for n in ("verb", "object", "action")],
                                               (0.2, 0.2, 0.6))


def test_bad_inputs(tiny):
    with pytest.raises(ValueError, match="prompt"):
        tiny.ground(random_frame(0), "   ")
    with pytest.raises(ValueError, match="frames but"):
        tiny.ground_batch([random_frame(0)], ["a", "b"])
    with pytest.raises(ValueError, match="HxWx3"):
        tiny.ground(np.zeros((4, 4, 7), np.uint8), "crack eggs")
    with pytest.raises(ValueError, match="unknown backbone"):
        fvg.VideoGEM.from_config("no-such-model")


def test_text_embeddings_are_cached(tiny):
    engine = fvg.VideoGEM(tiny.backbone)
    engine.ground(random_frame(1), "crack eggs")
    cached = {k: engine.text_cache[k] for k in ("A photo of a person crack eggs.",)}
    assert "A photo of a person crack eggs." in cached
    engine.ground(random_frame(2), "crack eggs")
    assert all(engine.text_cache[k] is v for k, v in cached.items())


# ------------------------------------------------------------------------- a known answer
def hand_built_engine():
    """Blocks that are the identity, patch tokens that measure redness, text that means red."""
    torch.manual_seed(0)
    from open_clip.model import CLIP

    model = CLIP(**fvg.get_backbone_spec("test-vit-tiny").model_config).eval()
    v = model.visual
    with torch.no_grad():
        v.conv1.weight.zero_()
        v.conv1.weight[0, 0] = 1.0  # channel 0 of a patch token: red minus green minus blue
        v.conv1.weight[0, 1] = -1.0
        v.conv1.weight[0, 2] = -1.0
        v.class_embedding.zero_()
        v.positional_embedding.zero_()
        for block in v.transformer.resblocks:
            block.attn.out_proj.weight.zero_()
            block.attn.out_proj.bias.zero_()
            block.mlp.c_proj.weight.zero_()
            block.mlp.c_proj.bias.zero_()
        v.proj.zero_()
        v.proj[0, 0] = 1.0
        # every text maps to embedding direction 0 ("red")
        model.ln_final.weight.zero_()
        model.ln_final.bias.zero_()
        model.ln_final.bias[0] = 1.0
        model.text_projection.zero_()
        model.text_projection[0, 0] = 1.0
    return fvg.VideoGEM.from_open_clip(model, open_clip.get_tokenizer("ViT-B-16"), image_size=64)


@pytest.mark.parametrize("weighting", ["none", "static+dynamic"])
def test_known_answer_red_square(weighting):
    engine = hand_built_engine()
    engine = fvg.VideoGEM(engine.backbone, weighting=weighting)
    frame = np.full((64, 64, 3), 100, np.uint8)
    frame[:, :, 2] = 160  # bluish background: negative "redness"
    frame[32:64, 0:32] = (255, 0, 0)  # red block over the lower-left 2x2 patches
    r = engine.ground(frame, "pick up the red cup")
    for c in r.components.values():
        x, y = c.input_point
        assert 0 <= x < 32 and 32 <= y < 64
        grid = c.similarity
        assert grid[3, 1] == pytest.approx(1.0, abs=1e-4) and grid[0, 3] < 0
    x, y = r.input_point
    assert 0 <= x < 32 and 32 <= y < 64


def test_out_of_memory_retries_with_smaller_batches(tiny, caplog):
    class Tight(fvg.VideoGEM):
        """Runs out of memory on batches larger than two, as a full GPU would."""

        calls = []

        def ground_pixels(self, pixels, prompts):
            self.calls.append(len(pixels))
            if len(pixels) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().ground_pixels(pixels, prompts)

    engine = Tight(tiny.backbone, batch_size=8)
    frames = [random_frame(s) for s in range(5)]
    results = engine.ground_batch(frames, "crack eggs")
    assert Tight.calls == [5, 4, 2, 2, 1]  # 5 frames fail, 4 fail, then batches of 2
    assert "retrying with batches of 2" in caplog.text
    for frame, got in zip(frames, results):
        np.testing.assert_allclose(got.components["action"].similarity,
                                   tiny.ground(frame, "crack eggs").components["action"].similarity, atol=1e-5)


def test_other_errors_are_not_retried(tiny):
    class Broken(fvg.VideoGEM):
        def ground_pixels(self, pixels, prompts):
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        Broken(tiny.backbone, batch_size=4).ground_batch([random_frame(0)] * 3, "crack eggs")


# ---------------------------------------------------------------------------------- defaults
def test_defaults_are_the_fused_pathway_in_fp32_on_every_device(tiny):
    options = fvg.GroundingOptions()
    assert options.exact is False and options.precision == "fp32"
    assert fvg.GroundingOptions(precision=None).precision == "fp32"
    assert tiny.options.exact is False and tiny.options.precision == "fp32"
    engine = fvg.VideoGEM(tiny.backbone, device="cpu")
    engine.device = torch.device("cuda")  # what the engine would autocast to on a GPU (nothing runs)
    assert isinstance(engine.autocast(), contextlib.nullcontext)
    half = fvg.VideoGEM(tiny.backbone, device="cpu", precision="bf16")
    assert half.autocast().fast_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        fvg.GroundingOptions(precision="fp8")


def test_exact_pathway_stays_available(tiny):
    frame = random_frame(11)
    fused = tiny.ground(frame, "crack eggs")
    exact = fvg.VideoGEM(tiny.backbone, exact=True).ground(frame, "crack eggs")
    for name in fused.components:
        np.testing.assert_allclose(fused.components[name].similarity, exact.components[name].similarity, atol=1e-5)


# ------------------------------------------------------------------------- no hidden state
def test_random_weights_leave_the_global_generator_alone():
    state = torch.get_rng_state()
    a = fvg.VideoGEM.from_config("test-vit-tiny", seed=3, device="cpu")
    b = fvg.build_backbone("test-viclip-tiny", pretrained=False, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    again = fvg.VideoGEM.from_config("test-vit-tiny", seed=3, device="cpu")
    other = fvg.VideoGEM.from_config("test-vit-tiny", seed=4, device="cpu")
    for (name, p), q, r in zip(a.backbone.named_parameters(), again.backbone.parameters(), other.backbone.parameters()):
        assert torch.equal(p, q), name
        if p.numel() > 1 and name.endswith(("weight", "proj", "embedding")) and "ln" not in name:
            assert not torch.equal(p, r), name
    assert not any(p.requires_grad for p in b.parameters()) and not b.training


def test_the_callers_model_is_left_as_it_was():
    from open_clip.model import CLIP

    model = CLIP(**fvg.get_backbone_spec("test-vit-tiny").model_config).eval()
    model.visual.ln_post.requires_grad_(False)  # a mix of flags, as a fine-tuning setup would have
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    state = {name: p.detach().clone() for name, p in model.named_parameters()}
    engine = fvg.VideoGEM.from_open_clip(model, open_clip.get_tokenizer("ViT-B-16"), image_size=64)
    engine.ground(random_frame(12), "crack eggs")
    engine.embed_frames([random_frame(13)])
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert not any(m.training for m in model.modules())
    assert all(torch.equal(p, state[name]) for name, p in model.named_parameters())
    assert all(p.grad is None for p in model.parameters())


def test_a_model_in_training_mode_is_refused_not_switched():
    from open_clip.model import CLIP

    model = CLIP(**fvg.get_backbone_spec("test-vit-tiny").model_config)  # nn.Module starts in training mode
    with pytest.raises(ValueError, match=r"training mode.*model\.eval\(\)"):
        fvg.VideoGEM.from_open_clip(model, open_clip.get_tokenizer("ViT-B-16"), image_size=64)
    assert model.training and all(m.training for m in model.modules())


def test_no_preprocessing_threads_outlive_a_call(tiny):
    def preprocessing_threads():
        return [t for t in threading.enumerate() if t.name.startswith("videogem-preprocess")]

    engine = fvg.VideoGEM(tiny.backbone, batch_size=2)
    engine.ground_batch([random_frame(s) for s in range(5)], "crack eggs")
    engine.embed_frames([random_frame(s) for s in range(5)])
    assert preprocessing_threads() == []


def test_text_cache_is_bounded_and_keeps_the_recent_texts(tiny):
    engine = fvg.VideoGEM(tiny.backbone, text_cache_size=3)
    texts = [f"a photo of thing {i}" for i in range(5)]
    first = engine.encode_prompts(texts)
    assert len(engine.text_cache) == 3
    assert [t in engine.text_cache for t in texts] == [False, False, True, True, True]
    again = fvg.VideoGEM(tiny.backbone).encode_prompts(texts)
    assert torch.allclose(first, again)
    engine.encode_prompts([texts[0]])
    assert texts[0] in engine.text_cache and texts[2] not in engine.text_cache


# ------------------------------------------------------------------------------ weights offline
def test_unreachable_hub_fails_fast_with_what_to_pass_instead(tmp_path):
    """With HF_HUB_OFFLINE, and with a hub address nothing listens on, the pretrained backbones fail
    at once with one message naming the alternatives (no download retries)."""
    script = textwrap.dedent("""
        import json, os
        import fiftyone_videogem as fvg

        results = {}
        for case, env in (("offline", {"HF_HUB_OFFLINE": "1"}),
                          ("unreachable", {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"})):
            os.environ.update(env)
            for name in ("clip-vit-b-16", "viclip-b-16"):
                try:
                    fvg.VideoGEM.from_pretrained(name, device="cpu")
                    results[f"{case} {name}"] = None
                except Exception as error:
                    results[f"{case} {name}"] = [type(error).__name__, str(error)]
        print(json.dumps(results))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env["HF_HOME"] = str(tmp_path / "hf")  # an empty cache: nothing downloaded before
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == 4
    for case, outcome in results.items():
        assert outcome is not None, case
        kind, message = outcome
        assert kind == "WeightsUnavailableError", (case, message)
        for hint in ("checkpoint='/path/to/", "--checkpoint PATH", "--random-weights"):
            assert hint in message, (case, message)
        assert ("HF_HUB_OFFLINE" in message) == case.startswith("offline"), (case, message)
        assert ("127.0.0.1:9" in message) == case.startswith("unreachable"), (case, message)
    assert "thrown while requesting" not in done.stderr  # the hub client never started retrying


def test_preprocessing_stays_on_the_cpu_wherever_the_model_is():
    frame = random_frame(14)
    for name in ("test-vit-tiny", "test-viclip-tiny"):
        backbone = fvg.build_backbone(name, pretrained=False)
        before = fvg.VideoGEM(backbone).preprocess(frame)
        backbone.to("meta")  # stands in for a GPU: the parameters leave the CPU
        after = fvg.VideoGEM(backbone).preprocess(frame)
        assert after.device.type == "cpu"
        assert torch.equal(before, after)
