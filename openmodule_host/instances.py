"""Several instances of one plugin: which entry point each ``[plugins.<name>]`` table instantiates.

A garage runs the same service once per gate, lane or device. A config table may name the entry point it
instantiates::

    [plugins.gate_in]
    plugin = "om_welcome"     # the installed entry point
    gate = "in-1"

    [plugins.gate_out]
    plugin = "om_welcome"
    gate = "out-1"

Each instance is a plugin of its own to the host (its own NAME, config, logger, mailbox, database, health
pong, metrics); ``--plugins gate_in,gate_out`` selects them. An entry point selected by its own name is an
instance of itself, as before. :func:`resolve_instances` turns the installed entry points and the tables
into everything that may be selected, and refuses what cannot be meant (each error names the table):

- ``plugin`` names no installed entry point (nor is a string);
- ``plugin`` names another instance rather than an entry point (chains, and a table naming itself);
- an instance takes the name of an installed entry point that is selected as well (``--all-plugins``):
  both would be plugins of one name.

Two instances with the same NAME are refused when the host starts them (they would share a database and a
pong): see ``PluginLifecycle.claim_name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .config import INSTANCE_KEY
from .errors import ConfigError, UnknownPluginError
from .loader import PluginCandidate

__all__ = ["resolve_instances", "select_instances"]


def resolve_instances(
    installed: Mapping[str, PluginCandidate], tables: Mapping[str, Mapping[str, Any]]
) -> dict[str, PluginCandidate]:
    """Everything selectable by name, sorted: each installed entry point as an instance of itself, and each
    table with a ``plugin`` key as an instance of that entry point (it takes the place of an installed entry
    point of the same name). Raises :class:`ConfigError` naming the table."""
    found = dict(installed)
    for name, table in tables.items():
        if INSTANCE_KEY not in table:
            continue
        entry_point = table[INSTANCE_KEY]
        where = f"[plugins.{name}] {INSTANCE_KEY} = {entry_point!r}"
        if not isinstance(entry_point, str) or not entry_point.strip():
            raise ConfigError(f"{where}: must be the name of an installed entry point (a non-empty string)")
        if entry_point not in installed:
            if entry_point in tables:
                what = "its own table" if entry_point == name else f"the instance [plugins.{entry_point}]"
                raise ConfigError(
                    f"{where} names {what}, not an installed entry point; an instance names the entry point it "
                    f"instantiates (installed: {', '.join(installed) or '(none)'})"
                )
            raise ConfigError(
                f"{where}: no installed entry point has that name (installed: {', '.join(installed) or '(none)'}; "
                f"entry point group 'openmodule.plugins')"
            )
        found[name] = installed[entry_point].instance(name)
    return dict(sorted(found.items()))


def select_instances(
    installed: Mapping[str, PluginCandidate],
    tables: Mapping[str, Mapping[str, Any]],
    names: Iterable[str] | None,
    all_plugins: bool = False,
) -> list[PluginCandidate]:
    """The chosen instances in load order (sorted by name).

    ``all_plugins`` chooses every installed entry point and every instance; an instance named like an
    installed entry point of another is then refused (:class:`ConfigError`, naming both). Unknown names raise
    :class:`UnknownPluginError`, which lists the instances too.
    """
    known = resolve_instances(installed, tables)
    if all_plugins:
        for name, candidate in known.items():
            if candidate.instance_of and name in installed:
                raise ConfigError(
                    f"[plugins.{name}] is an instance of {candidate.instance_of} named like the installed entry "
                    f"point {name} ({installed[name].distribution}), which --all-plugins selects too; give the "
                    "instance another name"
                )
        return list(known.values())
    wanted = sorted({name.strip() for name in names or () if name.strip()})
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UnknownPluginError(unknown, list(known))
    return [known[name] for name in wanted]

