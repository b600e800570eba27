"""The demo command as a user meets it: an App with the plugin, datasets it owns, stable videos, clear help.

The demo runs with the tiny random backbone on its own small generated scenes; the App tests run
the real command once in a subprocess, ask the App server which plugins it loaded, open its App in
headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright) to find the VideoGEM
operators in the operator browser and the triage panel in the "+" menu, then stop the command with
SIGTERM and check that no process it started is left. The browser test saves its screenshots to
``$VIDEOGEM_ARTIFACTS/browser`` (default ``artifacts/browser``); with ``VIDEOGEM_UPDATE_DOC_IMAGES=1``
the operator browser's is also copied to ``docs/images/demo_operators.png``.
"""

import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid

import fiftyone as fo
import psutil
import pytest
import requests

import fiftyone_videogem.evaluation as fvge
from fiftyone_videogem import demo
from fiftyone_videogem.cli import build_parser, main

from .browser_app import CHROMIUM, CHROMIUM_ARGS, dismiss_popovers, free_port, open_operator_browser, save_doc_image
from .videos import make_video

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLUGIN = "@fiftyone-videogem/videogem"
TINY = ["--backbone", "test-vit-tiny", "--random-weights"]


def _leftovers(name):
    """Datasets and generated-media folders that a demo run named ``name`` could have left."""
    datasets = {d for d in fo.list_datasets() if d == name or d.startswith(f"{name}-building-")}
    folder = fo.config.default_dataset_dir
    media = {e for e in os.listdir(folder) if e.startswith(f"{name}-")} if os.path.isdir(folder) else set()
    return datasets, media


def _delete_demo_datasets(name):
    """Deletes what a demo run named ``name`` built."""
    for dataset_name in _leftovers(name)[0]:
        dataset = fo.load_dataset(dataset_name)
        if demo.is_demo_dataset(dataset):
            demo.delete_demo_dataset(dataset)
        else:
            dataset.delete()


@pytest.fixture
def demo_name():
    """A fresh dataset name for the demo; whatever the demo built under it is deleted afterwards."""
    name = f"test-demo-{uuid.uuid4().hex[:8]}"
    yield name
    _delete_demo_datasets(name)


def _demo(name, *extra):
    return main(["demo", "--no-app", "--dataset", name, *TINY, *extra])


def _user_plugins_dir(tmp_path):
    """A plugins directory such as a user may already have, with one plugin of their own."""
    folder = tmp_path / "my-plugins"
    (folder / "other").mkdir(parents=True)
    (folder / "other" / "fiftyone.yml").write_text('name: "@someone/other"\ntype: plugin\n')
    (folder / "other" / "__init__.py").write_text("def register(p):\n    pass\n")
    return folder


class DemoApp:
    """The README's demo command, running in a subprocess with its App on ``port``."""

    def __init__(self, tmp_path):
        self.name = f"test-demo-{uuid.uuid4().hex[:8]}"
        self.user_plugins = _user_plugins_dir(tmp_path)
        self.port = free_port()
        self.log_path = tmp_path / "demo.log"
        self.proc = None
        self.started = []  # the processes the command started (the App server)
        self.plugins = None  # the plugins the App server lists

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        """Runs the command and waits until its App server lists its plugins."""
        env = {**os.environ, "FIFTYONE_PLUGINS_DIR": str(self.user_plugins), "HF_HUB_OFFLINE": "1"}
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fiftyone_videogem", "demo", "--remote", "--port", str(self.port),
                 "--dataset", self.name, *TINY],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 900  # a bound against hanging, not a speed requirement
        while self.plugins is None and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(2)
            try:
                self.plugins = requests.get(f"{self.url}/plugins", timeout=10).json()["plugins"]
            except (requests.RequestException, ValueError):
                continue
        if self.proc.poll() is None:
            self.started = psutil.Process(self.proc.pid).children(recursive=True)
        return self

    def kill(self):
        """Kills whatever of the command and the processes it started still runs."""
        if self.proc is None:
            return
        for p in [*self.started, psutil.Process(self.proc.pid) if self.proc.poll() is None else None]:
            if p is not None and p.is_running():
                p.kill()


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    """The demo command with its App, started once for the tests of the App it opens."""
    app = DemoApp(tmp_path_factory.mktemp("demo-app"))
    try:
        yield app.start()
    finally:
        app.kill()
        _delete_demo_datasets(app.name)


def test_the_app_of_the_demo_has_the_plugin(demo_app):
    plugins = demo_app.plugins
    assert plugins is not None, demo_app.log_path.read_text()[-3000:]
    by_name = {p["name"]: p for p in plugins}
    assert PLUGIN in by_name, sorted(by_name)
    assert set(by_name[PLUGIN]["operators"]) >= {"ground_actions", "evaluate_pointing_game"}
    assert "videogem_triage" in by_name[PLUGIN]["panels"]
    assert "@someone/other" in by_name  # the user's own plugins stay available
    listed = requests.post(f"{demo_app.url}/operators", json={"dataset_name": demo_app.name}, timeout=60).json()
    uris = {o["uri"] for o in listed["operators"]}
    assert {f"{PLUGIN}/ground_actions", f"{PLUGIN}/evaluate_pointing_game", f"{PLUGIN}/videogem_triage"} <= uris
    assert not [e for e in listed["errors"] if "videogem" in str(e)]
    assert demo_app.started  # the App server


OPERATOR_LABELS = ("Ground actions with VideoGEM", "Find actions in time", "Evaluate VideoGEM (pointing game)")


def _browser_artifacts():
    folder = pathlib.Path(os.environ.get("VIDEOGEM_ARTIFACTS", ROOT / "artifacts")) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.browser
def test_the_app_of_the_demo_shows_the_plugin_in_the_browser(demo_app):
    from playwright.sync_api import sync_playwright

    assert demo_app.proc.poll() is None, demo_app.log_path.read_text()[-3000:]
    out = _browser_artifacts()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15_000)
        try:
            page.goto(f"{demo_app.url}/datasets/{demo_app.name}", wait_until="domcontentloaded")
            page.get_by_text(f"{len(demo.SCENES)} samples", exact=True).first.wait_for(timeout=60_000)
            dismiss_popovers(page, wait=5_000)

            dialog = open_operator_browser(page, "videogem", OPERATOR_LABELS)
            for label in OPERATOR_LABELS:
                assert dialog.get_by_text(label, exact=True).first.is_visible(), label
            page.screenshot(path=str(out / "demo_operators.png"))
            page.keyboard.press("Escape")
            dialog.wait_for(state="hidden")

            dismiss_popovers(page)
            page.locator('[data-cy="new-panel-btn"]').first.click()
            page.get_by_text("VideoGEM triage", exact=True).first.wait_for()
            page.screenshot(path=str(out / "demo_panels.png"))
        except Exception:
            page.screenshot(path=str(out / "demo_failure.png"))
            raise
        finally:
            chromium.close()
    if os.environ.get("VIDEOGEM_UPDATE_DOC_IMAGES") == "1":
        save_doc_image(out / "demo_operators.png", ROOT / "docs" / "images" / "demo_operators.png")


def test_the_app_of_the_demo_with_the_plugin_stops_on_sigterm(demo_app):
    """Run after the tests above (it stops their App): SIGTERM ends the command and every
    process it started; the dataset stays and the user's plugins directory is untouched."""
    assert demo_app.proc.poll() is None and demo_app.started, demo_app.log_path.read_text()[-3000:]
    demo_app.proc.send_signal(signal.SIGTERM)
    assert demo_app.proc.wait(timeout=300) == 0
    _, alive = psutil.wait_procs(demo_app.started, timeout=60)
    assert not alive, [p.pid for p in alive]
    output = demo_app.log_path.read_text()
    assert f"the App has the plugin {PLUGIN}" in output
    # log lines print once: FiftyOne's through its own handler, the product's through the command's
    for line in ("Computing metadata...", "grounding 4 sample(s)", "frame(s) grounded", "built dataset"):
        assert output.count(line) == 1, (line, output)
    assert sorted(p.name for p in demo_app.user_plugins.iterdir()) == ["other"]  # nothing written there
    dataset = fo.load_dataset(demo_app.name)
    assert dataset.persistent and demo.is_demo_dataset(dataset)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_dataset_the_demo_did_not_create_is_never_touched(tmp_path, capsys, overwrite):
    name = f"test-demo-mine-{uuid.uuid4().hex[:8]}"
    video = tmp_path / "mine.mp4"
    make_video(str(video), num_frames=10, size=(64, 48), fps=10)
    dataset = fo.Dataset(name, persistent=True)
    try:
        sample = fo.Sample(filepath=str(video), action="hand-labelled")
        sample.frames[1] = fo.Frame(gt=fo.Detections(detections=[fo.Detection(label="a", bounding_box=[0, 0, .5, .5])]))
        dataset.add_sample(sample)
        assert _demo(name, *(["--overwrite"] if overwrite else [])) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "not created by the demo" in err and "--dataset NAME" in err
        kept = fo.load_dataset(name)
        assert len(kept) == 1 and kept.first().action == "hand-labelled" and kept.count("frames.gt") == 1
        assert video.exists()
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def _fail(error):
    def save_triage_views(*args, **kwargs):
        raise error

    return save_triage_views


@pytest.mark.parametrize("error,code", [(RuntimeError("the disk is full"), 1), (KeyboardInterrupt(), 130)])
def test_a_failed_run_leaves_nothing_behind(monkeypatch, capsys, demo_name, error, code):
    monkeypatch.setattr(fvge, "save_triage_views", _fail(error))  # the last step before the dataset is kept
    assert _demo(demo_name) == code
    assert _leftovers(demo_name) == (set(), set())
    if code == 1:
        assert "error: the disk is full" in capsys.readouterr().err


def test_reuse_only_the_same_settings_and_rebuild_only_on_overwrite(monkeypatch, capsys, caplog, demo_name):
    caplog.set_level("INFO", logger="fiftyone_videogem")
    assert _demo(demo_name) == 0
    first = fo.load_dataset(demo_name)
    build, media = first.info[demo.BUILD_KEY], first.info[demo.MEDIA_KEY]
    assert sorted(os.listdir(media["dir"])) == sorted(demo.scene_files())
    assert first.count("frames.videogem") == 24 and "pointing" in first.list_evaluations()

    caplog.clear()
    assert _demo(demo_name) == 0
    assert f"reusing dataset '{demo_name}'" in caplog.text
    assert fo.load_dataset(demo_name).info[demo.BUILD_KEY] == build

    capsys.readouterr()
    assert _demo(demo_name, "--weighting", "none") == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "weighting" in err and "--overwrite" in err

    # a rebuild that fails keeps the earlier dataset and its videos
    with monkeypatch.context() as m:
        m.setattr(fvge, "save_triage_views", _fail(RuntimeError("the disk is full")))
        assert _demo(demo_name, "--weighting", "none", "--overwrite") == 1
    assert fo.load_dataset(demo_name).info[demo.BUILD_KEY] == build
    assert sorted(os.listdir(media["dir"])) == sorted(demo.scene_files())
    assert _leftovers(demo_name) == ({demo_name}, {os.path.basename(media["dir"])})

    caplog.clear()
    assert _demo(demo_name, "--weighting", "none", "--overwrite") == 0
    assert f"rebuilt dataset '{demo_name}'" in caplog.text
    rebuilt = fo.load_dataset(demo_name)
    assert rebuilt.info[demo.BUILD_KEY] != build
    assert rebuilt.info[demo.SETTINGS_KEY]["weighting"] == "none"
    assert not os.path.exists(media["dir"])  # the earlier run's videos went with its dataset
    assert all(os.path.isfile(p) for p in rebuilt.values("filepath"))


def test_generated_videos_are_the_same_in_every_process():
    code = (
        "import hashlib\n"
        "from fiftyone_videogem.demo import SCENES, render_scene\n"
        "h = hashlib.sha256()\n"
        "for scene in SCENES:\n"
        "    for number, frame, box in render_scene(scene):\n"
        "        h.update(frame.tobytes()); h.update(repr((number, box)).encode())\n"
        "print(h.hexdigest())\n"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1
    backgrounds = {hashlib.sha256(demo.scene_background(s).tobytes()).hexdigest() for s in demo.SCENES}
    assert len(backgrounds) == len(demo.SCENES)


def _option_entries(help_text):
    """``(invocation, help)`` for each option of an argparse help text."""
    entries, in_option = [], False
    for line in help_text.splitlines():
        if line.startswith("  -"):
            invocation, _, explanation = line.strip().partition("  ")
            entries.append([invocation, explanation.strip()])
            in_option = True
        elif in_option and line.startswith("    ") and line.strip():
            entries[-1][1] = (entries[-1][1] + " " + line.strip()).strip()
        else:
            in_option = False
    return entries


def test_help_is_plain_text_and_every_option_is_explained(capsys):
    for argv in (["--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for markup in ("`", ":class:", ":func:", ":mod:", ":meth:"):
            assert markup not in text, (argv, markup)
        entries = _option_entries(text)
        assert entries
        assert [invocation for invocation, explained in entries if not explained] == []
    assert "--overwrite" in text and "--remote" in text


@pytest.mark.parametrize("extra,flags", [
    (["--backbone", "test-vit-tiny"], ["--random-weights"]),
    ([], ["--checkpoint PATH", "--random-weights"]),  # offline: the default backbone's weights cannot download
    (["--checkpoint", "missing.safetensors"], ["--checkpoint"]),
    (["--backbone", "test-vit-tiny", "--random-weights", "--checkpoint", "w.pt"], ["--random-weights", "--checkpoint"]),
    (["--backbone", "test-vit-tiny", "--checkpoint", "{garbage}"], ["--checkpoint"]),
    (["--prompt", "ride a bike"], ["--videos"]),
    (["--videos", "{tmp}"], ["--prompt"]),
])
def test_messages_name_command_line_flags(tmp_path, capsys, demo_name, extra, flags):
    garbage = tmp_path / "weights.pt"
    garbage.write_bytes(b"not a weights file")
    argv = [a.format(garbage=garbage, tmp=tmp_path) for a in extra]
    assert main(["demo", "--no-app", "--dataset", demo_name, *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for flag in flags:
        assert flag in err, err
    for python in ("from_config", "checkpoint=", "random_weights="):
        assert python not in err, err
    assert _leftovers(demo_name) == (set(), set())


def test_a_folder_of_your_videos_is_grounded_and_never_deleted(tmp_path, capsys, caplog, demo_name):
    caplog.set_level("INFO", logger="fiftyone_videogem")
    folder = tmp_path / "my videos"
    folder.mkdir()
    assert _demo(demo_name, "--videos", str(folder), "--prompt", "ride a bike") == 1
    assert "holds no video files" in capsys.readouterr().err
    assert _leftovers(demo_name) == (set(), set())

    for name in ("a.mp4", "b.mp4"):
        make_video(str(folder / name), num_frames=12, size=(64, 48), fps=10)
    args = ["--videos", str(folder), "--prompt", "ride a bike", "--every", "5"]
    assert _demo(demo_name, *args) == 0
    assert _demo(demo_name, *args, "--overwrite") == 0
    assert f"rebuilt dataset '{demo_name}'" in caplog.text
    dataset = fo.load_dataset(demo_name)
    assert sorted(dataset.values("action")) == ["ride a bike"] * 2
    assert dataset.count("frames.videogem") == 2 * 3  # frames 1, 6 and 11 of each video
    assert sorted(p.name for p in folder.iterdir()) == ["a.mp4", "b.mp4"]
