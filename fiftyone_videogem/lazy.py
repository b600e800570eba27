"""Lazy exports of a package: public names imported on first use.

A package lists ``{public name: module}`` and gets the module-level ``__getattr__`` and ``__dir__``
(PEP 562) from :func:`lazy_exports`, so that importing the package imports none of its heavy
dependencies (torch, FiftyOne) until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names are imported on first use.

    Args:
        package: the package's ``__name__``
        exports: public name -> the module that defines it (absolute, or relative to ``package`` when it
            starts with a dot); a name equal to the module's own last component is the module itself
        namespace: the package's ``globals()``, where each name is kept once imported

    Returns:
        ``(__getattr__, __dir__)``
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        value = module if module.__name__.rsplit(".", 1)[-1] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
