"""Finding plugins (entry points) and turning one into a validated pluggy plugin.

Discovery reads entry point metadata only: a plugin that is not selected is never imported. Loading
imports the selected plugin's object and registers it with its own :class:`pluggy.PluginManager`
against the contract's hook specifications, so an unknown hook name or a wrong argument name is caught
here, with the plugin named, before any of its code runs.

A candidate is one *instance* of an entry point (see :mod:`.instances`): an entry point selected by its own
name is an instance of itself. An entry point whose target is a class gets one object of it per instance
(made without arguments); a module is registered as it is, the same object for each of its instances.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import pluggy
from openmodule_hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, specs

from .config_layers import env_prefix
from .distributions import entry_points as installed_entry_points
from .distributions import load_target
from .errors import PluginLoadError, UnknownPluginError

if TYPE_CHECKING:
    from importlib import metadata

__all__ = ["PluginCandidate", "discover", "hookimpl_names", "make_plugin_manager", "select"]

log = logging.getLogger("openmodule_host")


@dataclass(frozen=True)
class PluginCandidate:
    """A plugin the host may load: where it comes from and how to import it."""

    name: str
    distribution: str
    version: str
    #: the entry point's target, e.g. ``hello_plugin.plugin`` (or a description for in-process plugins).
    target: str
    load: Callable[[], Any] = field(compare=False, repr=False)
    #: problems found without importing (e.g. two distributions claiming one name).
    problems: tuple[str, ...] = ()
    #: the entry point this candidate is an instance of, when that is not ``name`` (``plugin = "..."`` in
    #: its ``[plugins.<name>]`` table); empty for an entry point selected by its own name.
    instance_of: str = ""

    @property
    def entry_point(self) -> str:
        """The entry point (or in-process plugin) it instantiates: its own name unless it is an instance."""
        return self.instance_of or self.name

    def instance(self, name: str) -> PluginCandidate:
        """The same entry point as the instance ``name``: loaded the same way, with a name (and so a NAME,
        config, logger, mailbox, database, ...) of its own."""
        return replace(self, name=name, instance_of=self.entry_point if name != self.entry_point else "")

    @classmethod
    def from_object(cls, name: str, plugin: Any, version: str = "0.0.0") -> PluginCandidate:
        """A plugin that is not installed: a module or object holding hookimpls (tests, embedding)."""
        target = getattr(plugin, "__name__", None) or type(plugin).__qualname__
        return cls(name=name, distribution="(in-process)", version=version, target=target, load=lambda: plugin)

    @classmethod
    def from_target(cls, name: str, target: str, version: str = "0.0.0") -> PluginCandidate:
        """A plugin that is not installed, named by its import path as an entry point would (``module`` or
        ``module:attribute``): it is imported only when loaded, and a child process can load it too."""
        return cls(name=name, distribution="(import path)", version=version, target=target,
                   load=partial(load_target, target))

    @property
    def importable(self) -> bool:
        """A child process can load it (an entry point or an import path, not an object in this process)."""
        return self.distribution != "(in-process)"


def discover(entry_points: Iterable[metadata.EntryPoint] | None = None) -> dict[str, PluginCandidate]:
    """Every installed plugin, sorted by name, without importing any of them (``entry_points``: these
    instead of the installed ones)."""
    if entry_points is None:
        candidates = [PluginCandidate(name=entry_point.name, distribution=entry_point.distribution,
                                      version=entry_point.version, target=entry_point.value,
                                      load=partial(load_target, entry_point.value))
                      for entry_point in installed_entry_points(ENTRY_POINT_GROUP)]
    else:
        candidates = [PluginCandidate(name=entry_point.name,
                                      distribution=entry_point.dist.name if entry_point.dist else "(unknown)",
                                      version=entry_point.dist.version if entry_point.dist else "0.0.0",
                                      target=entry_point.value, load=entry_point.load)
                      for entry_point in entry_points]
    found: dict[str, PluginCandidate] = {}
    for candidate in candidates:
        previous = found.get(candidate.name)
        if previous is not None and previous.distribution != candidate.distribution:
            problem = (
                f"the name is claimed by more than one distribution: {previous.distribution} and "
                f"{candidate.distribution}"
            )
            candidate = PluginCandidate(**{**candidate.__dict__, "problems": (*previous.problems, problem)})
        found[candidate.name] = candidate
    return dict(sorted(found.items()))


def select(
    installed: dict[str, PluginCandidate], names: Iterable[str] | None, all_plugins: bool = False
) -> list[PluginCandidate]:
    """The chosen plugins in load order (sorted by name); unknown names raise :class:`UnknownPluginError`."""
    if all_plugins:
        return list(installed.values())
    wanted = sorted({name.strip() for name in names or () if name.strip()})
    unknown = [name for name in wanted if name not in installed]
    if unknown:
        raise UnknownPluginError(unknown, list(installed))
    return [installed[name] for name in wanted]


def make_plugin_manager(candidate: PluginCandidate) -> pluggy.PluginManager:
    """Import the plugin and check it against the contract; raises :class:`PluginLoadError` with the reason."""
    if candidate.problems:
        raise PluginLoadError(candidate.name, "; ".join(candidate.problems))
    try:
        plugin = candidate.load()
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise PluginLoadError(
            candidate.name,
            f"import of {candidate.target} failed: {type(error).__name__}: {error} "
            f"({where.filename}:{where.lineno})",
        ) from error
    if isinstance(plugin, type):  # a class: an object of its own for this instance
        try:
            plugin = plugin()
        except Exception as error:
            raise PluginLoadError(
                candidate.name, f"{candidate.target}() (the entry point's class, made without arguments) "
                                f"raised {type(error).__name__}: {error}",
            ) from error
    _warn_module_name(candidate, plugin)
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(specs)
    try:
        manager.register(plugin, name=candidate.name)
        manager.check_pending()  # a hookimpl whose name is no hook of the contract
    except pluggy.PluginValidationError as error:
        import difflib  # here: only this error's message needs it

        guesses = "".join(f"; {name!r}: did you mean {close[0]!r}?" for name in _unknown_hooks(manager)
                          if (close := difflib.get_close_matches(name, specs.__all__, n=1)))
        raise PluginLoadError(
            candidate.name,
            f"does not implement the contract: {error}{guesses} (known hooks: {', '.join(specs.__all__)})",
        ) from error
    except ValueError as error:
        raise PluginLoadError(candidate.name, str(error)) from error
    if not hookimpl_names(manager):
        raise PluginLoadError(
            candidate.name,
            f"does not implement the contract: {candidate.target} has no @hookimpl functions "
            f"(known hooks: {', '.join(specs.__all__)})",
        )
    return manager


def _warn_module_name(candidate: PluginCandidate, plugin: object) -> None:
    """openmodule's habit, a module-level ``NAME`` in the service's settings, does nothing in a plugin: warn
    and say where the service name is set instead."""
    module = inspect.getmodule(plugin)
    name = getattr(module, "NAME", None)
    if isinstance(name, str):
        log.warning("plugin %s: %s sets NAME = %r at module level, which the host does not read; set NAME in "
                    "[plugins.%s] of the config file or the environment variable %sNAME (default: the plugin's "
                    "name, %r)", candidate.name, module.__name__ if module else candidate.target, name,
                    candidate.name, env_prefix(candidate.name), candidate.name)


def _unknown_hooks(manager: pluggy.PluginManager) -> list[str]:
    """The names of the registered hookimpls that are no hook of the contract."""
    return sorted(name for name, caller in vars(manager.hook).items()
                  if isinstance(caller, pluggy.HookCaller) and not caller.has_spec() and caller.get_hookimpls())


def hookimpl_names(manager: pluggy.PluginManager) -> list[str]:
    """The hooks a loaded plugin implements."""
    return sorted(
        name for name in specs.__all__ if getattr(manager.hook, name).get_hookimpls()
    )
