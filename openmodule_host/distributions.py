"""The installed distributions' entry points and versions, read without :mod:`importlib.metadata`.

Importing importlib.metadata costs about 15 ms of CPU (it brings ``email``, ``zipfile``, ``csv`` ...), a
tenth of a host's start. A host needs three things of the installed distributions, all at start: its
plugins' entry points (group ``openmodule.plugins``), its own version, and whether any distribution declares
a pydantic plugin (group ``pydantic``), which pydantic otherwise finds out by importing importlib.metadata
when it builds its first model. :func:`installed` reads them in one pass over ``sys.path``: each
``*.dist-info`` directory's name and version (its ``METADATA`` headers) and its ``entry_points.txt``; the
first distribution of a name wins, as in importlib.metadata.

Where that pass could miss a distribution or read one differently (a zip file on ``sys.path``, an
``*.egg-info``, a finder on ``sys.meta_path`` with distributions of its own), :func:`installed` returns None
and the callers ask importlib.metadata, as before.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.machinery import PathFinder
from typing import Any

__all__ = [
    "Distribution", "EntryPoint", "InstalledEntryPoint", "entry_points", "installed", "load_target",
    "skip_pydantic_plugin_scan", "version",
]

#: pydantic's entry point group for its plugins, and the module that scans for them.
PYDANTIC_GROUP = "pydantic"
_PYDANTIC_LOADER = "pydantic.plugin._loader"


@dataclass(frozen=True)
class EntryPoint:
    """One ``name = value`` line of a distribution's ``entry_points.txt``, in ``group``."""

    group: str
    name: str
    value: str


class Distribution:
    """An installed distribution as its ``*.dist-info`` directory describes it; its ``METADATA`` is read only
    when its name or version is asked for."""

    def __init__(self, folder: str, entry_points: tuple[EntryPoint, ...]) -> None:
        self.folder = folder
        #: the name as the folder gives it (``name-version.dist-info``), normalised: ``a-b`` for ``A_b``.
        self.key = _normalise(os.path.basename(folder).partition("-")[0])
        self.entry_points = entry_points
        self._headers: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self._metadata()[0]

    @property
    def version(self) -> str:
        return self._metadata()[1]

    def group(self, group: str) -> list[EntryPoint]:
        return [entry_point for entry_point in self.entry_points if entry_point.group == group]

    def _metadata(self) -> tuple[str, str]:
        if self._headers is None:
            self._headers = _read_headers(self.folder)
        return self._headers


def installed(paths: Sequence[str] | None = None) -> list[Distribution] | None:
    """Every distribution on ``paths`` (default ``sys.path``), the first of each name; None where this pass
    cannot be sure to see them as importlib.metadata does (then ask importlib.metadata)."""
    if paths is None:
        if any(hasattr(finder, "find_distributions") and finder is not PathFinder for finder in sys.meta_path):
            return None
        paths = sys.path
    found: dict[str, Distribution] = {}
    for path in paths:
        directory = path or "."
        if not os.path.isdir(directory):
            if os.path.exists(directory):  # a zip file: importlib.metadata reads its distributions too
                return None
            continue
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if name.endswith(".egg-info"):
                return None
            if name.endswith(".dist-info") and _normalise(name.partition("-")[0]) not in found:
                folder = os.path.join(directory, name)
                distribution = Distribution(folder, tuple(_entry_points(os.path.join(folder, "entry_points.txt"))))
                found[distribution.key] = distribution
    return list(found.values())


@dataclass(frozen=True)
class InstalledEntryPoint:
    """An entry point with the name and version of the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str


def entry_points(group: str) -> list[InstalledEntryPoint]:
    """The entry points of ``group`` of every installed distribution (importlib.metadata's where
    :func:`installed` cannot tell)."""
    distributions = installed()
    if distributions is None:
        from importlib import metadata

        return [InstalledEntryPoint(entry_point.name, entry_point.value,
                                    entry_point.dist.name if entry_point.dist is not None else "(unknown)",
                                    entry_point.dist.version if entry_point.dist is not None else "0.0.0")
                for entry_point in metadata.entry_points(group=group)]
    return [InstalledEntryPoint(entry_point.name, entry_point.value, distribution.name, distribution.version)
            for distribution in distributions for entry_point in distribution.group(group)]


def version(name: str) -> str | None:
    """The version of the installed distribution ``name``; None when it is not installed."""
    distributions = installed()
    if distributions is None:
        from importlib import metadata

        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    wanted = _normalise(name)
    return next((distribution.version for distribution in distributions if distribution.key == wanted), None)


def load_target(value: str) -> Any:
    """The object an entry point's value names (``module``, ``module:attr`` or ``module:attr.attr``, extras
    ignored), imported as :meth:`importlib.metadata.EntryPoint.load` does."""
    match = _VALUE.match(value)
    if match is None:
        raise ValueError(f"not an entry point target: {value!r} (expected module or module:attribute)")
    target: Any = importlib.import_module(match["module"])
    for attribute in match["attr"].split(".") if match["attr"] else ():
        target = getattr(target, attribute)
    return target


def skip_pydantic_plugin_scan(distributions: Iterable[Distribution] | None = None) -> bool:
    """Tell pydantic there are no pydantic plugins, when no installed distribution declares one.

    pydantic looks for its plugins at the first model it builds, through ``pydantic.plugin._loader``, which
    imports importlib.metadata. When this pass sees no ``pydantic`` entry point anywhere, that module is
    replaced by one whose ``get_plugins()`` gives what the real one would: nothing. Any other name asked of it
    (one a later pydantic may add and import) is read from the real module, imported then: the replacement
    never makes an import fail. Otherwise (a plugin is installed, the module is loaded already, or the
    distributions cannot be read here) pydantic is left as it is. True when the scan was skipped.
    """
    if _PYDANTIC_LOADER in sys.modules:
        return False
    if distributions is None:
        distributions = installed()
        if distributions is None:
            return False
    if any(distribution.group(PYDANTIC_GROUP) for distribution in distributions):
        return False
    loader = type(sys)(_PYDANTIC_LOADER, "pydantic's plugin loader, where no distribution declares a plugin")
    loader.__dict__.update(PYDANTIC_ENTRY_POINT_GROUP=PYDANTIC_GROUP, _plugins={}, _loading_plugins=False,
                           get_plugins=_no_plugins, __getattr__=_from_the_real_loader)
    sys.modules[_PYDANTIC_LOADER] = loader
    return True


def _no_plugins() -> tuple[()]:
    return ()


def _from_the_real_loader(name: str) -> Any:
    """A name the replacement does not have (PEP 562): pydantic's own loader takes its place, and gives it.

    Dunder names are not pydantic's: the import system asks a module for ``__path__`` at every ``from ... import``
    (is it a package?), and must hear that it has none, as from the real module.
    """
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(f"module {_PYDANTIC_LOADER!r} has no attribute {name!r}")
    replacement = sys.modules.pop(_PYDANTIC_LOADER, None)
    try:
        real = importlib.import_module(_PYDANTIC_LOADER)
    except BaseException:
        if replacement is not None:
            sys.modules[_PYDANTIC_LOADER] = replacement
        raise
    return getattr(real, name)


# importlib.metadata's pattern for an entry point's value
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _read_headers(folder: str) -> tuple[str, str]:
    """The ``Name`` and ``Version`` of a ``METADATA`` file (the folder's name where they are missing)."""
    stem = os.path.basename(folder).removesuffix(".dist-info")
    name, _, version = stem.partition("-")
    try:
        with open(os.path.join(folder, "METADATA"), encoding="utf-8") as metadata:
            for line in metadata:
                if not line.strip():
                    break  # the headers end at the first empty line
                key, _, value = line.partition(":")
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
    except OSError:
        pass
    return name, version or "0.0.0"


def _entry_points(path: str) -> list[EntryPoint]:
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    group, entry_points = None, []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group is not None and "=" in line:
            name, _, value = line.partition("=")
            entry_points.append(EntryPoint(group, name.strip(), value.strip()))
    return entry_points
