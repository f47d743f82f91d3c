"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package that re-exports names from modules with heavy dependencies (SQLAlchemy, prometheus-client,
requests, yaml ...) maps those names to their modules instead of importing them: the module is imported
when the name is first looked up, and the value is then stored in the package, so later lookups cost
nothing. The package keeps ``from .module import name`` under ``TYPE_CHECKING`` for type checkers, and
the public import paths stay what they were. ``tests/test_lazy_imports.py`` keeps a plain host free of
them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, which import ``names`` (name -> module, relative
    to ``package`` or absolute) on first access. Call it from the package's ``__init__``."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value: object = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
