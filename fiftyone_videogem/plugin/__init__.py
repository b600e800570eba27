"""The FiftyOne plugin's operators and panels.

The plugin entry (the repository's top-level ``__init__.py``, named in ``fiftyone.yml``) calls
:func:`register`; every operator and panel registered here must also be listed under ``operators:``
or ``panels:`` in ``fiftyone.yml``.
"""

from .grounding import GroundActions
from .temporal import EvaluateSpatiotemporal, FindActionsInTime
from .triage import EvaluatePointingGame, TriagePanel

OPERATORS = (GroundActions, EvaluatePointingGame, TriagePanel, FindActionsInTime, EvaluateSpatiotemporal)


def register(plugin) -> None:
    """Register every operator and panel of the plugin."""
    for operator in OPERATORS:
        plugin.register(operator)
