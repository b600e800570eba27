"""Importing the package, loading the plugin and building its forms never import torch; the test
backbones stay out of every list a user sees.

Each check runs in a fresh interpreter, since this test session has torch loaded already.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import fiftyone as fo

import fiftyone_videogem as fvg

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_BACKBONES = {"test-vit-tiny", "test-viclip-tiny"}


def run_python(code: str, *args: str) -> str:
    """stdout of ``code`` in a fresh interpreter started in the repository (FiftyOne settings inherited)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=dict(os.environ),
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def torch_modules_after(code: str) -> list[str]:
    out = run_python(textwrap.dedent(code) + "\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    return eval(out.strip().splitlines()[-1])


def test_package_import_leaves_torch_unloaded():
    assert torch_modules_after("import fiftyone_videogem") == []


def test_registry_options_and_prompts_need_no_torch():
    code = """
    import fiftyone_videogem as fvg
    from fiftyone_videogem.engine import MERGE_MODES, PRECISIONS, WEIGHTING_MODES
    names = [spec.name for spec in fvg.list_backbones()]
    fvg.get_backbone_spec("test-vit-tiny")
    fvg.GroundingOptions(weighting="static", precision="bf16")
    fvg.ActionPrompt(action="crack eggs", verb="crack", object="eggs").verb_prompts()
    """
    assert torch_modules_after(code) == []


def test_engine_names_still_load_on_first_use():
    out = run_python("""
    import sys
    import fiftyone_videogem as fvg
    before = "torch" in sys.modules
    engine = fvg.VideoGEM.from_config("test-vit-tiny", device="cpu")
    print(before, "torch" in sys.modules, type(engine).__module__)
    """)
    assert out.split() == ["False", "True", "fiftyone_videogem.engine.grounding"]


def test_loading_the_plugin_and_its_form_leaves_torch_unloaded(make_dataset):
    """FiftyOne's own plugin loader (through ``FIFTYONE_PLUGINS_DIR``) registers the operators, then
    the grounding form is built; torch stays unloaded and the backbone dropdown lists real models only."""
    dataset = make_dataset()  # started here, the database serves the fresh interpreter too
    dataset.add_sample(fo.Sample(filepath="video.mp4"))
    out = run_python("""
    import json, sys
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext

    operator = foo.get_operator("@fiftyone-videogem/videogem/ground_actions")
    loaded = "torch" in sys.modules
    context = ExecutionContext(request_params=dict(dataset_name=sys.argv[1], params={}))
    backbones = [choice.value for choice in operator.resolve_input(context).type.properties["backbone"].view.choices]
    print(json.dumps(dict(after_load=loaded, after_form="torch" in sys.modules, backbones=backbones)))
    """, dataset.name)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["after_load"] is False and result["after_form"] is False
    assert "clip-vit-b-16" in result["backbones"]
    assert not TEST_BACKBONES & set(result["backbones"])


def test_command_line_listing_shows_real_backbones_only():
    out = run_python("from fiftyone_videogem.cli import main; main()", "backbones")
    listed = {line.split()[0] for line in out.splitlines() if line and not line[0].isspace()}
    assert {"clip-vit-b-16", "viclip-b-16"} <= listed
    assert not TEST_BACKBONES & listed


def test_test_backbones_are_hidden_but_reachable_by_name():
    names = {spec.name for spec in fvg.list_backbones()}
    assert {"clip-vit-b-16", "openclip-vit-b-16", "viclip-b-16"} <= names
    assert not TEST_BACKBONES & names
    assert TEST_BACKBONES <= {spec.name for spec in fvg.list_backbones(include_hidden=True)}
    for name in TEST_BACKBONES:
        assert fvg.get_backbone_spec(name).hidden
    assert fvg.VideoGEM.from_config("test-vit-tiny", device="cpu").info.name == "test-vit-tiny"
