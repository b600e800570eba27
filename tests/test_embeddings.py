"""Global frame, clip and text embeddings for temporal scans: the models' own embeddings at their
native resolution, normalised, batched."""

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

import fiftyone_videogem as fvg
from fiftyone_videogem.engine.backbones.registry import randomize_parameters

from . import reference
from .test_viclip import internvid_video_embedding


def random_frame(seed=0, h=72, w=100):
    return (np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_model():
    from open_clip.model import CLIP

    model = CLIP(**fvg.get_backbone_spec("test-vit-tiny").model_config).eval()
    randomize_parameters(model, seed=1)
    return model


@pytest.fixture(scope="module")
def tiny(tiny_model):
    """Grounding at 96 px; the model's positional table is 4x4 patches of 16, so native is 64 px."""
    return fvg.VideoGEM.from_open_clip(tiny_model, open_clip.get_tokenizer("ViT-B-16"), image_size=96, batch_size=2)


@pytest.fixture(scope="module")
def viclip():
    return fvg.VideoGEM.from_config("test-viclip-tiny", seed=0, device="cpu", batch_size=2)


def test_frame_embeddings_are_encode_image_at_native_size(tiny, tiny_model):
    assert tiny.info.image_size == (96, 96) and tiny.backbone.native_size == (64, 64)
    frames = [random_frame(s, 60 + 7 * s, 90) for s in range(5)]
    got = tiny.embed_frames(frames)
    assert got.shape == (5, 32) and got.dtype == np.float32
    pixels = torch.stack([reference.preprocess(f, 64) for f in frames])  # independent PIL bicubic squash
    with torch.no_grad():
        expected = F.normalize(tiny_model.encode_image(pixels), dim=-1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_frame_embeddings_do_not_depend_on_the_batch(tiny):
    frames = [random_frame(s) for s in range(3)]
    together = tiny.embed_frames(frames)
    alone = np.concatenate([tiny.embed_frames([f]) for f in frames])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)  # different frames, different embeddings


def test_no_frames_give_an_empty_array(tiny, viclip):
    assert tiny.embed_frames([]).shape == (0, 32)
    assert viclip.embed_frames([]).shape == (0, 32)


def test_clip_embeddings_are_the_video_encoders_own(viclip):
    rng = np.random.RandomState(0)
    windows = [(rng.rand(8, 40, 56, 3) * 255).astype(np.uint8) for _ in range(3)]
    got = viclip.embed_frames([list(w) for w in windows])
    assert got.shape == (3, 32)
    pixels = torch.stack([viclip.backbone.preprocess(list(w)) for w in windows])
    with torch.no_grad():
        expected = F.normalize(internvid_video_embedding(viclip.backbone, pixels), dim=-1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # a single frame stands for the keyframe repeated over the window, as in grounding
    single = viclip.embed_frames([windows[0][4]])
    np.testing.assert_allclose(single, viclip.embed_frames([[windows[0][4]] * 8]), atol=1e-6)
    with pytest.raises(ValueError, match="8 frame"):
        viclip.embed_frames([windows[0][:5]])


def test_text_embeddings_are_normalised_and_cached(tiny, tiny_model):
    queries = ["crack eggs", "someone phoning", "crack eggs"]
    got = tiny.embed_texts(queries)
    assert got.shape == (3, 32) and got.dtype == np.float32
    tokens = open_clip.get_tokenizer("ViT-B-16")(queries[:2])
    with torch.no_grad():
        expected = F.normalize(tiny_model.encode_text(tokens), dim=-1).numpy()
    np.testing.assert_allclose(got[:2], expected, atol=1e-5)
    np.testing.assert_array_equal(got[0], got[2])
    cached = tiny.text_cache["crack eggs"]
    tiny.embed_texts("crack eggs")
    assert tiny.text_cache["crack eggs"] is cached
    assert tiny.embed_texts([]).shape == (0, 32)


def test_frame_and_text_embeddings_share_the_space(tiny):
    """Cosine scores of frames against queries are plain dot products of the two arrays."""
    scores = tiny.embed_frames([random_frame(1), random_frame(2)]) @ tiny.embed_texts(["crack eggs", "cut onion"]).T
    assert scores.shape == (2, 2) and np.all(np.abs(scores) <= 1 + 1e-6)


def test_out_of_memory_retries_with_smaller_batches(tiny, caplog):
    class Tight(fvg.VideoGEM):
        """Runs out of memory on batches larger than one, as a full GPU would."""

        sizes = []

        def embed_pixels(self, pixels):
            self.sizes.append(len(pixels))
            if len(pixels) > 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().embed_pixels(pixels)

    engine = Tight(tiny.backbone, batch_size=4)
    frames = [random_frame(s) for s in range(3)]
    got = engine.embed_frames(frames)
    assert Tight.sizes == [3, 2, 1, 1, 1]
    assert "retrying with batches of 2" in caplog.text
    np.testing.assert_allclose(got, tiny.embed_frames(frames), atol=1e-5)
