"""Remote model-zoo source: ``manifest.json`` entries -> :func:`fiftyone_videogem.load_model`.

Register the source once, then load an entry by name::

    import fiftyone.zoo as foz

    foz.register_zoo_model_source("https://github.com/fiftyone-videogem/fiftyone-videogem")
    model = foz.load_zoo_model("videogem-clip-vit-b-16")          # keyword arguments go to load_model()
    dataset.apply_model(model, label_field="vgem", prompt_field="frames.action", gt_field="frames.gt")

Keyword arguments of ``load_zoo_model`` are those of :func:`fiftyone_videogem.load_model`
(``checkpoint=``, ``device=``, engine options, grounding options such as ``prompt_field=`` and
``gt_field=``, ``random_weights=True``). Options given here are used when ``apply_model`` is called
without them, as the model zoo's "Apply zoo model" operator does; that operator shows the form of
:func:`resolve_input` and turns its values into these options with :func:`parse_parameters`.
With ``label_field="videogem"`` the points go to ``videogem_points`` and the heatmaps to
``videogem_heatmap``.
"""

import json
import logging
import os

from . import _import_package

logger = logging.getLogger(__name__)

# zoo entry -> backbone registry name (fiftyone_videogem.list_backbones())
BACKBONES = {
    "videogem-clip-vit-b-16": "clip-vit-b-16",
    "videogem-openclip-vit-b-16": "openclip-vit-b-16",
    "videogem-openclip-vit-l-14": "openclip-vit-l-14",
    "videogem-viclip-b-16": "viclip-b-16",
    "videogem-viclip-l-14": "viclip-l-14",
}

STATUS_FILE = "videogem.json"
REMOTE_PARAMS = "remote_params"  # where the "Apply zoo model" operator keeps this source's form values
RUN_ONLY_OPTIONS = ("overwrite", "heatmap_storage", "map_dir")  # options of run_videogem, not of apply_model


def backbone_of(model_name):
    """The backbone registry name of a zoo entry (a version suffix ``@x`` is ignored)."""
    base = model_name.split("@", 1)[0]
    try:
        return BACKBONES[base]
    except KeyError:
        raise ValueError(f"unknown VideoGEM zoo model '{model_name}'; the entries are {', '.join(BACKBONES)}")


def _has_weights(spec):
    return spec.pretrained is not None


def download_model(model_name, model_path):
    """Fetch the pretrained weights into the backbone library's cache and mark the model as downloaded.

    A failed download (no network, no access to the hub) is logged, not raised: the model can still
    be loaded with ``checkpoint="/path/to/weights"`` or ``random_weights=True``, and loading it
    without either retries the download and explains what to do.
    """
    fvg = _import_package()
    backbone = backbone_of(model_name)
    status = dict(model=model_name, backbone=backbone, weights="none (random weights)")
    try:
        spec = fvg.get_backbone_spec(backbone)
        if _has_weights(spec):
            from fiftyone_videogem.engine.backbones.registry import build_backbone

            build_backbone(spec, pretrained=True)
            status["weights"] = "downloaded to the backbone library's cache"
    except Exception as e:  # download failures come in many types
        status["weights"] = "not downloaded"
        status["error"] = f"{type(e).__name__}: {e}"
        logger.warning(
            "could not download the weights of '%s' (%s); load it with checkpoint='/path/to/weights' "
            "or random_weights=True, or retry with network access", model_name, e,
        )
    os.makedirs(model_path, exist_ok=True)
    with open(os.path.join(model_path, STATUS_FILE), "w") as f:
        json.dump(status, f, indent=2)


def load_model(model_name, model_path, **kwargs):
    """A :class:`fiftyone_videogem.model.VideoGEMModel` for the entry; ``kwargs`` go to ``load_model``."""
    fvg = _import_package()
    backbone = backbone_of(model_name)
    spec = fvg.get_backbone_spec(backbone)
    if not _has_weights(spec) and not kwargs.get("checkpoint"):
        kwargs.setdefault("random_weights", True)
    return fvg.load_model(backbone, **kwargs)


def resolve_input(model_name, ctx):
    """The form of VideoGEM's options in the model zoo's "Apply zoo model" operator: the prompt
    source, the frames to ground, the engine options and the heatmaps."""
    _import_package()
    import fiftyone.operators.types as types

    from fiftyone_videogem.plugin.grounding import add_engine_inputs, add_heatmap_inputs, add_source_inputs

    backbone_of(model_name)
    inputs = types.Object()
    add_source_inputs(inputs, ctx.target_view(), ctx.params.get(REMOTE_PARAMS) or {})
    add_engine_inputs(inputs)
    add_heatmap_inputs(inputs)
    return types.Property(inputs, view=types.View(label="VideoGEM options"))


def parse_parameters(model_name, ctx, params):
    """Turn the values of :func:`resolve_input`'s form into ``load_model`` keyword arguments, in place."""
    _import_package()
    from fiftyone_videogem.fields import is_video
    from fiftyone_videogem.plugin.grounding import load_options, run_options

    backbone_of(model_name)
    target = ctx.target_view()
    options = load_options(params)
    options.update(run_options(params, target))
    for key in RUN_ONLY_OPTIONS:
        options.pop(key, None)
    if not is_video(target):
        options["media_type"] = "image"
    params.clear()
    params.update(options)
