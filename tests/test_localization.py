"""localize_actions end to end on generated untrimmed videos, with a backbone whose answer is known.

The videos are dark; a red square is on screen during seconds 3-5 (top left) and a blue square during
seconds 8-10 (bottom right). The backbone has hand-set weights that see colour: a patch token is the
patch's chroma (each channel minus the pixel's grey level) plus a darkness component, so its cosine
with the text "red ..." is highest on red pixels; the CLS token is the mean of the patches. Its blocks
are real residual attention blocks whose layer scales are 0, so the GEM engine runs its whole pathway
(attention, self-self attention, layer weighting, heatmaps, points) on these features unchanged. At
1 fps the red square must be found at sampled frames 31, 41, 51 and the blue one at 81, 91, 101, with
the points inside the squares.
"""

import os

import av
import numpy as np
import pytest
import torch
from torch import nn

import fiftyone as fo
import fiftyone.core.labels as fol

import fiftyone_videogem as fvg
from fiftyone_videogem.engine.backbones.base import Backbone, BackboneInfo
from fiftyone_videogem.engine.grounding import VideoGEM
from fiftyone_videogem.localization import EmbeddingCache, backbone_fingerprint, localize_actions, spatial_fields
from tests.videos import make_corrupt_video

WIDTH, HEIGHT, FPS, SECONDS = 64, 48, 10, 12
RED_BOX = (4, 4, 20, 20)  # x1, y1, x2, y2 in pixels
BLUE_BOX = (44, 28, 60, 44)
RED_FRAMES = range(31, 61)  # seconds 3.0-5.9
BLUE_FRAMES = range(81, 111)  # seconds 8.0-10.9
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def colour_features(rgb: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` colours in [0, 1] -> ``[..., 8]``: chroma (channel minus grey) and darkness, and their negatives
    (so that LayerNorm keeps the direction)."""
    grey = rgb.mean(dim=-1, keepdim=True)
    saturation = rgb.max(dim=-1, keepdim=True).values - rgb.min(dim=-1, keepdim=True).values
    v = torch.cat([rgb - grey, 0.5 * (1 - saturation)], dim=-1)
    return torch.cat([v, -v], dim=-1)


class Scale(nn.Module):
    def __init__(self, width: int, value: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((width,), value))

    def forward(self, x):
        return x * self.gamma


class Block(nn.Module):
    """A pre-norm residual attention block (the layout the GEM engine reads) with zero layer scales."""

    def __init__(self, width: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
        self.ls_1 = Scale(width, 0.0)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.ls_2 = Scale(width, 0.0)

    def forward(self, x):
        u = self.ln_1(x)
        x = x + self.ls_1(self.attn(u, u, u, need_weights=False)[0])
        return x + self.ls_2(self.mlp(self.ln_2(x)))


class ColourBackbone(Backbone):
    """Hand-set weights that see colour; counts its global-embedding passes."""

    def __init__(self, image_size=(32, 32), patch=4):
        super().__init__()
        self.info = BackboneInfo(name="colour", num_frames=1, target_frame=0, image_size=image_size, patch_size=patch)
        self.block_list = nn.ModuleList([Block(8)])
        self.blocks = list(self.block_list)
        self.ln_post = nn.LayerNorm(8)
        self.proj = nn.Parameter(torch.eye(8))
        self.num_heads = 2
        self.embedding_passes = 0
        self.eval()
        self.requires_grad_(False)

    @property
    def native_size(self):
        return (16, 16)

    def embed(self, pixels):
        p = self.info.patch_size
        per_pixel = colour_features(pixels.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # [B, 8, H, W]
        patches = nn.functional.avg_pool2d(per_pixel, p).flatten(2).transpose(1, 2)  # [B, N-1, 8]
        return torch.cat([patches.mean(dim=1, keepdim=True), patches], dim=1)

    def global_embedding(self, pixels):
        self.embedding_passes += 1
        return super().global_embedding(pixels)

    def patch_grid(self, values):
        gh, gw = self.info.grid_size
        return values.reshape(*values.shape[:-1], 1, gh, gw)

    def preprocess(self, frames, size=None):
        import cv2

        h, w = size or self.info.image_size
        image = cv2.resize(np.asarray(frames[0]), (w, h), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)

    def tokenize(self, texts):
        ids = [next((i for i, c in enumerate(COLOURS, 1) if c in t.lower().split()), 0) for t in texts]
        return torch.tensor(ids).view(-1, 1)

    def encode_text(self, tokens):
        table = torch.cat([torch.zeros(1, 8), colour_features(torch.tensor(list(COLOURS.values())))])
        return table[tokens[:, 0]]


def make_engine():
    return VideoGEM(ColourBackbone(), device="cpu", depth=1, static_weights=(1.0, 1.0), dynamic_layers=1,
                    decomposition=False, batch_size=4)


def write_frames(path, paint, seconds=SECONDS):
    """A dark ``WIDTH`` x ``HEIGHT`` video at ``FPS``; ``paint(image, frame_number)`` draws on each frame."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "10"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(seconds * FPS):
            image = np.full((HEIGHT, WIDTH, 3), 16, dtype=np.uint8)
            paint(image, i + 1)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def write_video(path, red=RED_FRAMES, blue=BLUE_FRAMES, seconds=SECONDS):
    def paint(image, number):
        for frames, (x1, y1, x2, y2), colour in ((red, RED_BOX, (230, 30, 30)), (blue, BLUE_BOX, (30, 30, 230))):
            if number in frames:
                image[y1:y2, x1:x2] = colour

    return write_frames(path, paint, seconds)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("untrimmed")
    return [write_video(folder / "one.mp4"), write_video(folder / "two.mp4", red=range(1, 21), blue=())]


@pytest.fixture
def dataset(make_dataset, videos):
    dataset = make_dataset()
    dataset.add_samples([fo.Sample(filepath=p, actions=["red ball", "blue cup"]) for p in videos])
    return dataset


def supports(dataset, field):
    return {
        os.path.basename(path): [(d.label, d.support) for d in value.detections]
        for path, value in zip(dataset.values("filepath"), dataset.values(field))
    }


def inside(point, box):
    x, y = point[0] * WIDTH, point[1] * HEIGHT
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def test_finds_when_and_where(dataset, tmp_path):
    engine = make_engine()
    summary = localize_actions(dataset, engine, "found", pool_field="actions", cache_dir=str(tmp_path))
    assert summary.videos_localized == 2 and summary.videos_failed == 0
    assert supports(dataset, "found") == {
        "one.mp4": [("red ball", [31, 51]), ("blue cup", [81, 101])],
        "two.mp4": [("red ball", [1, 11])],
    }
    assert summary.frames_embedded == 24 and summary.frames_grounded == 8
    sample = dataset[dataset.values("id")[0]]
    confidences = [d.confidence for d in sample["found"].detections]
    assert all(0 < c <= 1 for c in confidences)
    points_field, heatmap_field = spatial_fields("found")
    grounded = {n: f[points_field] for n, f in sample.frames.items() if f[points_field] is not None}
    assert sorted(grounded) == [31, 41, 51, 81, 91, 101]
    for number, keypoints in grounded.items():
        final = keypoints.keypoints[0]
        assert final.component == "final"
        box, label = (RED_BOX, "red ball") if number < 70 else (BLUE_BOX, "blue cup")
        assert final.label == label
        assert inside(final.points[0], box), (number, final.points[0])
        assert sample.frames[number][heatmap_field].map.shape == (8, 8)
    assert not dataset.has_field("found_error")  # created with the first failure
    assert dataset.list_runs() == ["localize_found"]
    assert dataset.first().metadata.total_frame_count == 120  # filled in from the decoder
    # the App shows the segments, the points and the heatmap, the heatmap on its colour scale
    active = dataset.app_config.active_fields.paths
    assert {"found", "frames.found_points", "frames.found_heatmap"} <= set(active)
    scales = {c["path"]: c for c in (dataset.app_config.color_scheme.colorscales or [])}
    assert "frames.found_heatmap" in scales


def test_the_evaluation_scores_the_answer_as_right(dataset, tmp_path):
    localize_actions(dataset, make_engine(), "found", pool_field="actions", cache_dir=str(tmp_path))
    truth = {"one.mp4": [("red ball", (31, 51), RED_BOX), ("blue cup", (81, 101), BLUE_BOX)],
             "two.mp4": [("red ball", (1, 11), RED_BOX)]}
    for sample in dataset:
        segments = truth[os.path.basename(sample.filepath)]
        sample["truth"] = fol.TemporalDetections(
            detections=[fol.TemporalDetection(label=l, support=list(s)) for l, s, _ in segments])
        for label, (first, last), (x1, y1, x2, y2) in segments:
            for number in range(first, last + 1, 10):
                box = [x1 / WIDTH, y1 / HEIGHT, (x2 - x1) / WIDTH, (y2 - y1) / HEIGHT]
                sample.frames[number]["gt"] = fol.Detections(detections=[fol.Detection(label=label, bounding_box=box)])
        sample.save()
    results = fvg.evaluate_spatiotemporal(dataset, "found", "truth", pred_points_field="found_points",
                                          pred_heatmap_field="found_heatmap", gt_boxes_field="gt")
    metrics = results.metrics()
    assert metrics["iou_pointing"] == 1.0 and metrics["iou_pointing_pooled"] == 1.0
    assert metrics["video_map@0.1"] == 1.0 and metrics["video_map@0.3"] == 1.0


def test_a_second_query_set_reads_the_cache(dataset, tmp_path):
    engine = make_engine()
    events = []
    localize_actions(dataset, engine, "found", pool_field="actions", cache_dir=str(tmp_path), spatial=False,
                     progress=events.append)
    assert [(e.videos_done, e.videos_total, e.failure) for e in events] == [(1, 2, None), (2, 2, None)]
    passes = engine.backbone.embedding_passes
    assert passes == 6  # 24 frames in batches of 4
    assert len(os.listdir(tmp_path)) == 2
    summary = localize_actions(dataset, engine, "blue", queries="blue cup", method="contrast", spatial=False,
                               cache_dir=str(tmp_path), segment_options=dict(window=1, merge_gap=1))
    assert engine.backbone.embedding_passes == passes  # nothing embedded again
    assert summary.frames_embedded == 0 and summary.frames_from_cache == 24
    # contrast segmentation assumes the query happens in the video (T3AL0): only "one" has a blue cup to find
    assert supports(dataset, "blue")["one.mp4"] == [("blue cup", [81, 101])]
    # another backbone (other weights) does not read these embeddings
    other = make_engine()
    other.backbone.proj.data *= 2
    assert backbone_fingerprint(other) != backbone_fingerprint(engine)
    localize_actions(dataset, other, "again", pool_field="actions", cache_dir=str(tmp_path), spatial=False)
    assert other.backbone.embedding_passes == 6


def test_an_unreadable_cache_file_is_computed_again(dataset, tmp_path, caplog):
    engine = make_engine()
    localize_actions(dataset, engine, "found", pool_field="actions", cache_dir=str(tmp_path), spatial=False)
    first = supports(dataset, "found")
    files = sorted(os.listdir(tmp_path))
    (tmp_path / files[0]).write_bytes(b"not an npz file")
    passes = engine.backbone.embedding_passes
    summary = localize_actions(dataset, engine, "found", pool_field="actions", cache_dir=str(tmp_path),
                               spatial=False, overwrite=True)
    assert "could not be read" in caplog.text
    assert summary.frames_from_cache == 12 and summary.frames_embedded == 12  # one video from the cache
    assert engine.backbone.embedding_passes > passes
    assert supports(dataset, "found") == first
    assert sorted(os.listdir(tmp_path)) == files  # rewritten whole, no temporary file left


def test_heatmaps_can_be_png_files(dataset, tmp_path):
    localize_actions(dataset.limit(1), make_engine(), "found", queries=["blue cup"], cache_dir=str(tmp_path / "c"),
                     heatmap_storage="files", map_dir=str(tmp_path / "maps"))
    _, heatmap_field = spatial_fields("found")
    heatmap = dataset.first().frames[91][heatmap_field]
    assert heatmap.map is None and heatmap.map_path.startswith(str(tmp_path / "maps"))
    assert os.path.isfile(heatmap.map_path) and heatmap.get_map().shape == (32, 32)  # the input size


def test_an_edited_video_is_embedded_again(tmp_path, videos):
    cache = EmbeddingCache(str(tmp_path), "fingerprint")
    path = write_video(tmp_path / "edit.mp4")
    first = cache.path(path, 1.0)
    os.utime(path, ns=(0, 12345))
    assert cache.path(path, 1.0) != first
    assert cache.path(path, 2.0) != cache.path(path, 1.0)


def test_rerun_resumes_and_overwrite_clears_old_frames(dataset, tmp_path):
    engine = make_engine()
    localize_actions(dataset, engine, "found", queries=["red ball"], cache_dir=str(tmp_path))
    points_field, heatmap_field = spatial_fields("found")
    first = dataset.first()
    assert first.frames[31][points_field] is not None
    summary = localize_actions(dataset, engine, "found", queries=["blue cup"], cache_dir=str(tmp_path))
    assert summary.videos_up_to_date == 2 and summary.videos_localized == 0
    assert supports(dataset, "found")["one.mp4"] == [("red ball", [31, 51])]
    localize_actions(dataset, engine, "found", queries=["blue cup"], cache_dir=str(tmp_path), overwrite=True)
    assert supports(dataset, "found")["one.mp4"] == [("blue cup", [81, 101])]
    first = dataset.first()
    assert first.frames[31][points_field] is None and first.frames[31][heatmap_field] is None
    assert first.frames[81][points_field].keypoints[0].label == "blue cup"


def test_fields_it_did_not_create_are_left_alone(dataset, tmp_path):
    dataset.set_values("mine", [fol.TemporalDetections(detections=[]) for _ in range(len(dataset))])
    dataset.set_values("mine", [None] * len(dataset))  # an empty field of the user's own
    with pytest.raises(ValueError, match="was not created by a VideoGEM run"):
        localize_actions(dataset, make_engine(), "mine", pool_field="actions", cache_dir=str(tmp_path))
    localize_actions(dataset, make_engine(), "mine", pool_field="actions", cache_dir=str(tmp_path), overwrite=True)
    points_field, heatmap_field = spatial_fields("mine")
    assert dataset.first()["mine"] is not None and dataset.has_frame_field(points_field)
    dataset.delete_run("localize_mine")
    assert dataset.has_field("mine")  # it existed before the run
    assert not dataset.has_frame_field(points_field) and not dataset.has_frame_field(heatmap_field)


def test_failures_are_recorded_per_video(dataset, tmp_path):
    broken = make_corrupt_video(tmp_path / "broken.mp4")
    dataset.add_sample(fo.Sample(filepath=broken, actions=["red ball"]))
    dataset.add_sample(fo.Sample(filepath=str(tmp_path / "missing.mp4"), actions=["red ball"]))
    summary = localize_actions(dataset, make_engine(), "found", pool_field="actions", cache_dir=str(tmp_path / "c"))
    assert summary.videos_localized == 2 and summary.videos_failed == 2
    errors = dict(zip(dataset.values("filepath"), dataset.values("found_error")))
    assert "could not be opened" in errors[broken] and "does not exist" in errors[str(tmp_path / "missing.mp4")]
    found = dict(zip(dataset.values("filepath"), dataset.values("found")))
    assert found[broken] is None  # retried by a rerun
    with pytest.raises(RuntimeError, match="could not be opened"):
        localize_actions(dataset, make_engine(), "found", pool_field="actions", cache_dir=str(tmp_path / "c"),
                         skip_failures=False)


def test_zeal_takes_a_pluggable_start_end_scorer(dataset, tmp_path):
    with pytest.raises(ValueError, match="start_end_scorer"):
        localize_actions(dataset, make_engine(), "z", queries=["red ball"], method="zeal")
    seen = []

    def scorer(scan, queries):
        seen.append((os.path.basename(scan.filepath), list(scan.frame_numbers), list(queries)))
        t = len(scan.frame_numbers)
        start, end = np.zeros((t, 1)), np.zeros((t, 1))
        start[3], end[5] = 1.0, 1.0  # sampled frames 31 and 51
        return start, end

    localize_actions(dataset.limit(1), make_engine(), "z", queries=["red ball"], method="zeal",
                     start_end_scorer=scorer, spatial=False, cache_dir=str(tmp_path))
    assert seen == [("one.mp4", list(range(1, 121, 10)), ["red ball"])]
    detections = dataset.first()["z"].detections
    assert [31, 51] in [d.support for d in detections]
    assert all(d.label == "red ball" for d in detections)


def test_bad_arguments_are_refused_before_any_work(dataset):
    engine = make_engine()
    with pytest.raises(ValueError, match="either queries"):
        localize_actions(dataset, engine, "x")
    with pytest.raises(ValueError, match="method"):
        localize_actions(dataset, engine, "x", queries=["a"], method="nope")
    with pytest.raises(ValueError, match="overwrite the input field"):
        localize_actions(dataset, engine, "actions", pool_field="actions")
    with pytest.raises(ValueError, match=r"\['window'\] are not options of method='www'"):
        localize_actions(dataset, engine, "x", queries=["a"], segment_options=dict(window=3))
    dataset.add_sample_field("taken", fo.StringField)
    with pytest.raises(ValueError, match="already exists as a StringField"):
        localize_actions(dataset, engine, "taken", queries=["a"])
    with pytest.raises(ValueError, match="whole videos"):
        localize_actions(dataset.to_frames(sample_frames=False), engine, "x", queries=["a"])
    assert engine.backbone.embedding_passes == 0
    assert dataset.list_runs() == []


def test_public_name():
    assert fvg.localize_actions is localize_actions
