"""The FiftyOne plugin's operators.

The plugin entry (the repository's top-level ``__init__.py``, named in ``fiftyone.yml``) calls
:func:`register`; every operator registered here must also be listed under ``operators:`` in
``fiftyone.yml``.
"""

from .grounding import GroundActions

OPERATORS = (GroundActions,)


def register(plugin) -> None:
    """Register every operator of the plugin."""
    for operator in OPERATORS:
        plugin.register(operator)
