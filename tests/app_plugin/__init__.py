"""A FiftyOne plugin for the browser tests: the App server that loads it offers the registry's test
backbones (``test-vit-tiny``, ``test-viclip-tiny``: tiny architectures, random weights) in the operators'
backbone dropdowns, so that a run from a form takes seconds on a CPU.

It is not found through the repository's own plugin (FiftyOne stops looking below a folder once it finds a
plugin there); a test puts it next to that plugin in the ``FIFTYONE_PLUGINS_DIR`` of its App server.
"""

import dataclasses


def register(p):
    """Makes the hidden test backbones visible in this process's registry (called by FiftyOne's plugin loader)."""
    from fiftyone_videogem.engine import list_backbones, register_backbone

    for spec in list_backbones(include_hidden=True):
        if spec.hidden:
            register_backbone(dataclasses.replace(spec, hidden=False), overwrite=True)
