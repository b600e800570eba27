"""Entry of the FiftyOne plugin ``@fiftyone-videogem/videogem`` and of the remote model-zoo source.

Everything real lives in the ``fiftyone_videogem`` package; this module only hands it to FiftyOne:

* the plugin loader calls :func:`register` (operators are listed in ``fiftyone.yml``);
* ``fiftyone.zoo`` calls :func:`download_model` and :func:`load_model` for the entries of
  ``manifest.json``, and the model zoo's "Apply zoo model" operator calls :func:`resolve_input`
  and :func:`parse_parameters` for its form (see ``zoo.py``).

Nothing is imported at module level, so importing this file never configures FiftyOne early.
When the package is not installed, the copy next to this file is used.
"""

import os
import sys


def _import_package():
    try:
        import fiftyone_videogem
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        if here not in sys.path:
            sys.path.insert(0, here)
        import fiftyone_videogem
    return fiftyone_videogem


def register(p):
    """Register the plugin's operators and panels (called by FiftyOne's plugin loader)."""
    _import_package()
    from fiftyone_videogem.plugin import register as register_operators

    register_operators(p)


def download_model(model_name, model_path):
    """Model-zoo hook: fetch the weights of ``model_name`` (see ``zoo.py``)."""
    from .zoo import download_model as _download

    return _download(model_name, model_path)


def load_model(model_name, model_path, **kwargs):
    """Model-zoo hook: build the ``fiftyone_videogem`` model of ``model_name`` (see ``zoo.py``)."""
    from .zoo import load_model as _load

    return _load(model_name, model_path, **kwargs)


def resolve_input(model_name, ctx):
    """Model-zoo hook: the form of ``model_name``'s options in the "Apply zoo model" operator."""
    from .zoo import resolve_input as _resolve

    return _resolve(model_name, ctx)


def parse_parameters(model_name, ctx, params):
    """Model-zoo hook: the form's values -> ``load_model`` keyword arguments, in place."""
    from .zoo import parse_parameters as _parse

    _parse(model_name, ctx, params)
