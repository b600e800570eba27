"""The remote model-zoo source (manifest.json + zoo.py), served from a local HTTP server.

The repository's source is zipped the way GitHub serves an archive, registered with
``foz.register_zoo_model_source`` and loaded with ``foz.load_zoo_model``.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import uuid
import zipfile
from pathlib import Path

import pytest

import fiftyone as fo
import fiftyone.zoo as foz
from fiftyone.operators.executor import ExecutionContext

from fiftyone_videogem.model import VideoGEMModel
from tests.videos import make_video

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FILES = ("manifest.json", "__init__.py", "zoo.py", "fiftyone.yml")


def build_archive(path: Path) -> Path:
    """A zip of the source with one top-level directory, like a GitHub archive."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in SOURCE_FILES:
            archive.write(ROOT / name, f"fiftyone-videogem-main/{name}")
        for file in sorted((ROOT / "fiftyone_videogem").rglob("*.py")):
            archive.write(file, f"fiftyone-videogem-main/{file.relative_to(ROOT)}")
    return path


@pytest.fixture
def zoo_source(tmp_path, monkeypatch):
    """Serve the archive on localhost and point the model zoo at a fresh directory."""
    serve_dir = tmp_path / "www"
    serve_dir.mkdir()
    build_archive(serve_dir / "videogem-zoo.zip")
    handler = functools.partial(QuietHandler, directory=str(serve_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(fo.config, "model_zoo_dir", str(tmp_path / "zoo"))
    url = f"http://127.0.0.1:{server.server_address[1]}/videogem-zoo.zip"
    try:
        yield url
    finally:
        try:
            foz.delete_zoo_model_source(url)
        except Exception:
            pass
        server.shutdown()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def dataset(tmp_path):
    ds = fo.Dataset(f"vgem-zoo-{uuid.uuid4().hex[:8]}")
    sample = fo.Sample(filepath=make_video(tmp_path / "v.mp4", num_frames=10, size=(64, 48)), action="cut onion")
    ds.add_sample(sample)
    sample.frames[4]["gt"] = fo.Detections(detections=[fo.Detection(label="x", bounding_box=[0.1, 0.1, 0.5, 0.5])])
    sample.save()
    yield ds
    ds.delete()


def test_manifest_lists_every_backbone_with_its_licence():
    manifest = json.loads((ROOT / "manifest.json").read_text())
    models = {m["base_name"]: m for m in manifest["models"]}
    assert set(models) == {
        "videogem-clip-vit-b-16", "videogem-openclip-vit-b-16", "videogem-openclip-vit-l-14",
        "videogem-viclip-b-16", "videogem-viclip-l-14",
    }
    assert models["videogem-viclip-b-16"]["license"].startswith("CC-BY-NC-SA-4.0")
    assert models["videogem-viclip-l-14"]["license"].startswith("CC-BY-NC-SA-4.0")
    assert models["videogem-clip-vit-b-16"]["license"].startswith("MIT")
    from fiftyone_videogem import list_backbones

    registered = {spec.name for spec in list_backbones()}
    assert {"clip-vit-b-16", "openclip-vit-b-16", "viclip-b-16", "viclip-l-14"} <= registered
    text = (ROOT / "zoo.py").read_text()
    assert "test-" not in text and "test-" not in (ROOT / "manifest.json").read_text()  # no test backbone for users
    for name, model in models.items():
        backbone = name[len("videogem-"):]
        assert f'"{name}": "{backbone}"' in text  # zoo.py maps every entry to its backbone
        assert model["requirements"]["packages"] and model["description"]


def test_register_load_and_apply_like_the_apply_zoo_model_operator(zoo_source, dataset):
    """Load options as remote parameters, then apply_model without prompt keywords, as the model
    zoo's "Apply zoo model" operator does."""
    foz.register_zoo_model_source(zoo_source)
    assert zoo_source in foz.list_zoo_model_sources()
    names = foz.list_zoo_models(source=zoo_source)
    assert "videogem-clip-vit-b-16" in names and not any("test" in name for name in names)
    zoo_model = foz.get_zoo_model("videogem-viclip-b-16")
    assert zoo_model.license.startswith("CC-BY-NC-SA-4.0")

    model = foz.load_zoo_model("videogem-clip-vit-b-16", random_weights=True, image_size=64, batch_size=2,
                               prompt_field="action", gt_field="frames.gt", cache=False)
    assert isinstance(model, VideoGEMModel)
    assert model.engine.info.name == "clip-vit-b-16" and model.engine.options.batch_size == 2
    status_file = Path(fo.config.model_zoo_dir) / "fiftyone-videogem" / "zoo" / "videogem-clip-vit-b-16" / "videogem.json"
    assert json.loads(status_file.read_text())["backbone"] == "clip-vit-b-16"

    dataset.apply_model(model, label_field="zoo", skip_failures=False, progress=False)
    frame = dataset.first().frames[4]
    assert frame["zoo_points"].keypoints[0].label == "cut onion" and len(frame["zoo_points"].keypoints) == 4
    assert frame["zoo_heatmap"].map.shape == (4, 4)


def test_the_apply_zoo_model_form(zoo_source, dataset):
    """The form the "Apply zoo model" operator shows under ``remote_params``, and its parsing into
    load options, through the zoo's public RemoteZooModel hooks."""
    foz.register_zoo_model_source(zoo_source)
    zoo_model = foz.get_zoo_model("videogem-clip-vit-b-16")
    sample = dataset.first()
    sample.frames[4]["step"] = "slice bread"
    sample.save()

    def context(**remote):
        return ExecutionContext(request_params=dict(dataset_name=dataset.name, params=dict(remote_params=remote)))

    props = zoo_model.resolve_input(context()).type.properties
    assert props["prompt_field"].type.values == ["frames.gt", "frames.step", "action"]
    assert props["gt_field"].default == "frames.gt"
    assert {"frames", "weighting", "decomposition", "heatmaps", "checkpoint", "device"} <= set(props)
    assert "label_field" not in props and "backbone" not in props  # the operator and the entry decide those
    props = zoo_model.resolve_input(context(prompt_source="text", frames="interval")).type.properties
    assert "prompt" in props and "interval" in props and "prompt_field" not in props

    params = dict(prompt_source="field", prompt_field="frames.step", frames="gt", gt_field="frames.gt",
                  weighting="static", decomposition=False, heatmaps="none", batch_size=4, device="cpu",
                  random_weights=True)
    zoo_model.parse_parameters(context(**params), params)
    assert params == dict(checkpoint=None, device="cpu", random_weights=True, weighting="static",
                          decomposition=False, batch_size=4, prompt_field="frames.step", prompt=None,
                          frames="gt", gt_field="frames.gt", heatmaps="none")
    model = foz.load_zoo_model("videogem-clip-vit-b-16", image_size=64, cache=False, **params)
    dataset.apply_model(model, label_field="form", skip_failures=False, progress=False)
    kps = dataset.first().frames[4]["form_points"]
    assert kps.keypoints[0].label == "slice bread" and [k.component for k in kps.keypoints] == ["final", "action"]
    assert "form_heatmap" not in dataset.get_frame_field_schema()


def test_a_real_entry_downloads_gracefully_offline(zoo_source, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    foz.register_zoo_model_source(zoo_source)
    # no network: the download is recorded as failed instead of raising, and random weights still load
    model = foz.load_zoo_model("videogem-clip-vit-b-16", random_weights=True, image_size=64, cache=False)
    assert isinstance(model, VideoGEMModel)
    assert model.engine.info.name == "clip-vit-b-16" and model.engine.info.image_size == (64, 64)
    status_file = Path(fo.config.model_zoo_dir) / "fiftyone-videogem" / "zoo" / "videogem-clip-vit-b-16" / "videogem.json"
    status = json.loads(status_file.read_text())
    assert status["weights"] == "not downloaded" and "error" in status
    # without weights or random_weights the load explains what to do
    with pytest.raises(Exception, match="checkpoint"):
        foz.load_zoo_model("videogem-clip-vit-b-16", cache=False)
