"""Validating settings given in layers: typed defaults < the TOML file < the environment < flags.

The file's values are checked strictly: TOML has strings, numbers and booleans of its own, so a string where
a number or a boolean belongs (``REQUIRED = "false"``, ``mailbox_size = "10"``) is an error rather than a
quiet conversion (``bool("false")`` is true); a wrong value in the file is an error even where the
environment or a flag overrides it. Environment values are always strings and are parsed as
pydantic parses them (``"10"`` is 10, ``"false"`` is false; lists, dicts and models as JSON).

A plugin's own environment variables carry its instance's prefix, ``<INSTANCE>__<KEY>``
(:func:`env_prefix`); they are read with pydantic-settings (:mod:`.config_env`).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .errors import ConfigError

__all__ = ["Layers", "accepted_keys", "env_prefix", "instance_env", "validate_layers"]

M = TypeVar("M", bound=BaseModel)

#: added to a strict error about a TOML string (``mailbox_size = "10"``).
_QUOTED_HINT = "write it without quotes"


#: a number that lax parsing quietly takes as another type: ``DEBUG = 1`` as true, ``retries = 2.0`` as 2.
_NUMBER_CONVERSIONS = frozenset({"bool_type", "int_type", "int_from_float"})


def env_prefix(instance: str) -> str:
    """The environment prefix of a plugin instance: ``gate-in.1`` -> ``GATE_IN_1__``."""
    return instance.upper().replace("-", "_").replace(".", "_") + "__"


def accepted_keys(model: type[BaseModel]) -> set[str]:
    """The keys a model's table may hold: its field names and their (string) aliases."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        keys.add(name)
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                keys.add(alias)
    return keys


@dataclass
class Layers:
    """One table's values by layer, for :func:`validate_layers` and its error messages."""

    #: where the file's values are, for messages: ``[plugins.hello]`` or ``[host]``.
    table: str
    defaults: dict[str, Any] = field(default_factory=dict)
    file: dict[str, Any] = field(default_factory=dict)
    #: key -> (the environment variable it came from, its value); flags are given here too, named as flags.
    env: dict[str, tuple[str, Any]] = field(default_factory=dict)

    def merged(self) -> dict[str, Any]:
        return {**self.defaults, **self.file, **{key: value for key, (_name, value) in self.env.items()}}

    def where(self, key: str) -> str:
        if key in self.env:
            return self.env[key][0]
        return f"{self.table} {key}"


def instance_env(model: type[BaseModel], instance: str, env: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """The model's fields set by ``<INSTANCE>__<FIELD>`` variables (names case-insensitive), with the variable
    each came from. Raises :class:`ConfigError` for a complex value that is not valid JSON."""
    prefix = env_prefix(instance)
    if not any(name.upper().startswith(prefix) for name in env):
        return {}
    # pydantic-settings is imported only now: most plugins have no variables of their own, and a start saves it.
    from pydantic_settings.exceptions import SettingsError

    from .config_env import MappingEnvSource

    try:
        values = MappingEnvSource(model, prefix, env)()
    except SettingsError as error:  # its text names the field and its own class, not the variable
        field = match.group(1).upper() if (match := re.search(r'field "([^"]+)"', str(error))) else "..."
        raise ConfigError(f"invalid settings for plugin {instance!r}:\n  env {prefix}{field}: not valid JSON "
                          "(lists, dicts and models are given as JSON)") from None
    # Only prefixed variables: pydantic-settings reads a field with an alias from the bare alias, which would
    # be one variable for every instance.
    given = {name.upper() for name in env}
    return {key: (f"env {prefix}{key.upper()}", value) for key, value in values.items()
            if f"{prefix}{key.upper()}" in given}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.time):  # TOML's own date and time values
        return value.isoformat()
    return str(value)


def _strict_errors(model: type[BaseModel], file_values: Mapping[str, Any]) -> list[ErrorDetails]:
    """The file's values checked as JSON is checked strictly; only what lax parsing would quietly convert from a
    string, a boolean or a number (to a boolean or an integer) counts: a number for a duration, say, is not
    a quiet conversion and stays allowed."""
    try:
        document = json.dumps(file_values, default=_json_default)
    except (TypeError, ValueError):  # not a TOML table (a test's Python values): nothing quoted to catch
        return []
    try:
        model.model_validate_json(document, strict=True)
    except ValidationError as error:
        return [item for item in error.errors() if item["type"] != "missing" and (
            isinstance(item.get("input"), str | bool) or item["type"] in _NUMBER_CONVERSIONS)]
    return []


def _shadowed_errors(model: type[BaseModel], layers: Layers) -> list[ErrorDetails]:
    """The file's own wrong values where the environment or a flag sets the key too (the merged values hide
    them): a wrong file is an error whatever overrides it."""
    shadowed = {key for key in layers.file if key in layers.env}
    if not shadowed:
        return []
    try:
        model.model_validate({**layers.defaults, **layers.file})
    except ValidationError as error:
        return [item for item in error.errors() if item["type"] != "missing" and item["loc"]
                and item["loc"][0] in shadowed]
    return []


def _lines(errors: list[ErrorDetails], layers: Layers, secret: set[str], *, in_file: bool = False,
           strict: bool = False) -> list[str]:
    """One line per error, naming where its value came from: the file (``in_file``), else the layer that won;
    ``strict``: the errors of the strict check, with a hint for a quoted value."""
    lines = []
    for item in errors:
        location = [str(part) for part in item["loc"]]
        key = location[0] if location else ""
        where = f"{layers.table} {key}" if in_file or strict else layers.where(key)
        inner = "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in location[1:])
        got = "" if key in secret else f" (got {item.get('input')!r})"
        hint = f"; {_QUOTED_HINT}" if strict and isinstance(item.get("input"), str) else ""
        lines.append(f"  {where}{inner}: {item['msg']}{got}{hint}")
    return lines


def validate_layers(model: type[M], layers: Layers, what: str, *, secret: frozenset[str] = frozenset()) -> M:
    """``model`` validated from the merged layers; raises :class:`ConfigError` starting with ``what`` and naming
    the table and key (or environment variable) of each wrong value. ``secret`` keys' values are never shown."""
    try:
        result = model.model_validate(layers.merged())
    except ValidationError as error:
        errors = _lines(error.errors(), layers, set(secret))
        raise ConfigError(f"{what}:\n" + "\n".join(errors)) from None
    # What the lax check took is valid; what only the strict one refuses was quietly converted (a quoted number).
    shadowed = _shadowed_errors(model, layers)
    wrong = {item["loc"][0] for item in shadowed}
    strict = [item for item in _strict_errors(model, layers.file) if not item["loc"] or item["loc"][0] not in wrong]
    errors = _lines(shadowed, layers, set(secret), in_file=True) + _lines(strict, layers, set(secret), strict=True)
    if errors:
        raise ConfigError(f"{what}:\n" + "\n".join(errors))
    return result
