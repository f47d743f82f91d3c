"""Garage settings for a plugin (openmodule 18.5.0's ``SettingsProvider``): read over the ``settings`` RPCs,
cached, invalidated by the ``settings`` topic.

Behaviour, as openmodule's:

* ``get(key, scope="", custom_type=None)`` answers from the cache while the entry is younger than
  ``expire_time`` (300 s), else asks the settings service (``settings``/``get``, ``rpc_timeout`` 3 s);
* ``get_many({key: type}, scope="")`` answers from the cache only when every key is cached, else asks for all
  of them at once (``settings``/``get_many``);
* a ``changed`` message on topic ``settings`` drops the entries it names (``<key>/<scope>``); it is handled on
  the plugin's worker, like its other handlers;
* ``get_many`` takes only the keys it asked for from the answer (others are logged as a warning and
  ignored: nothing of a malformed answer reaches the cache);
* "no such setting" is ``None``; any other ``success: false`` is logged as an error and is ``None`` too;
* a value that does not fit its model raises in ``get`` and is logged and ``None`` in ``get_many``;
* when the settings service does not answer, the RPC's exception (``RPCTimeoutError``, also a
  ``TimeoutError``) or its error status (``ServerHandlerError``, ...) reaches the caller: nothing is
  retried and nothing stale is served (an entry is dropped before it is asked for again).

Values are parsed into the settings models of :mod:`openmodule_hookspecs` for the keys modelled there
(:data:`SETTING_TYPES`), kept as their JSON value for the other keys openmodule knows, and into
``custom_type`` (any type pydantic validates, e.g. a model of only the fields a plugin reads) when given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeVar, overload

from openmodule_hookspecs import (
    SETTINGS_CHANNEL,
    SETTINGS_TOPIC,
    DayMode,
    Gate,
    GateMode,
    ParkingArea,
    Parksetting,
    PluginCore,
    PrivacySettings,
    SettingsChangedMessage,
    SettingsGetManyRequest,
    SettingsGetManyResponse,
    SettingsGetRequest,
    SettingsGetResponse,
)
from pydantic import TypeAdapter

from ..compat import core as current_core

__all__ = ["NO_SUCH_SETTING", "SETTING_TYPES", "SettingsProvider", "join_key", "parse_setting"]

T = TypeVar("T")

#: the error the settings service answers for a key it does not have.
NO_SUCH_SETTING = "no such setting"

#: the type each modelled key's value is parsed into (without ``custom_type``).
SETTING_TYPES: dict[str, Any] = {
    "common/gates": dict[str, Gate],
    "common/parking_areas2": dict[str, ParkingArea],
    "common/parksettings2": dict[str, Parksetting],
    "common/privacy_settings": PrivacySettings,
    "common/currency": str,
    "common/language": str,
    "common/timezone": str,
    "gate_control/mode": GateMode | None,
    "gate_control/day_mode": DayMode | None,
    "feature_flags": dict[str, Any],
}

#: keys openmodule knows that have no model here: their value is returned as it came (JSON data).
_UNMODELLED = frozenset({
    "common/rates", "common/cost_groups", "common/garage_settings", "common/location", "common/billing",
    "common/support", "common/garage_name", "common/urls", "enforcement/basic_settings", "intercom/basic_settings",
    "device_keys/pairing", "io/signals", "io/inputs", "assets/visuals",
})

#: keyed settings whose keys must equal a field of each value (as the settings service guarantees).
_KEYED_BY = {"common/gates": "gate", "common/parking_areas2": "id", "common/parksettings2": "id"}


def join_key(key: str, scope: str = "") -> str:
    """A setting's cache key and its form in ``changed`` messages: ``<key>/<scope>`` (``common/gates/``)."""
    return f"{key}/{scope}"


@lru_cache(maxsize=256)
def _adapter(target: Any) -> TypeAdapter[Any]:
    return TypeAdapter(target)


def parse_setting(key: str, value: Any, custom_type: Any = None) -> Any:
    """``value`` (JSON data) as the setting ``key``: validated into ``custom_type`` when given, else into the
    key's model (:data:`SETTING_TYPES`; keyed settings also check each entry's key), else returned as it is
    for the other keys openmodule knows (and ``<service>/refs/...`` keys). ``KeyError`` for a key nobody
    knows without ``custom_type``; ``ValueError`` (pydantic's ``ValidationError``) for a value that does not
    fit."""
    if custom_type is not None:
        return _adapter(custom_type).validate_python(value)
    if key in SETTING_TYPES:
        parsed = _adapter(SETTING_TYPES[key]).validate_python(value)
        field = _KEYED_BY.get(key)
        if field is not None:
            for entry_key, entry in parsed.items():
                if entry_key != getattr(entry, field):
                    raise ValueError(f"setting {key}: entry {entry_key!r} has {field} {getattr(entry, field)!r}; "
                                     f"the key must equal its {field}")
        return parsed
    if key in _UNMODELLED or "/refs/" in key:
        return value
    raise KeyError(f"no model for setting {key!r}: pass custom_type")


@dataclass
class _Cached:
    value: Any  # as the settings service sent it: parsed again for each caller's type
    expires_at: float


class SettingsProvider:
    """A plugin's view of the garage settings (openmodule's ``SettingsProvider``).

    Make one in ``register_handlers`` (or anywhere on the plugin's worker): ``SettingsProvider()`` takes the
    plugin's core from the thread, as ported code expects; ``core=`` names it explicitly.
    """

    def __init__(self, expire_time: float = 300.0, rpc_timeout: float = 3.0, *, core: PluginCore | None = None
                 ) -> None:
        if core is None:
            core = current_core()
        self._core = core
        self.expire_time = expire_time
        self.rpc_timeout = rpc_timeout
        self._cached: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        core.messages.register_handler(SETTINGS_TOPIC, SettingsChangedMessage, self.settings_changed)

    @property
    def log(self) -> logging.Logger:
        return self._core.log

    def settings_changed(self, message: SettingsChangedMessage) -> None:
        """Drop the cached settings the message names."""
        with self._lock:
            for key_scope in message.changed_keys:
                self._cached.pop(key_scope, None)

    def _from_cache(self, key: str, scope: str, custom_type: Any) -> tuple[bool, Any]:
        """(found, value) for a fresh cache entry; an expired entry or one that does not parse into
        ``custom_type`` is dropped. Call with the lock held."""
        key_scope = join_key(key, scope)
        cached = self._cached.get(key_scope)
        if cached is None:
            return False, None
        if time.monotonic() > cached.expires_at:
            del self._cached[key_scope]
            return False, None
        try:
            return True, parse_setting(key, cached.value, custom_type)
        except Exception:
            self.log.error("setting %s: the cached value does not fit the type asked for (%s); asking again",
                           key_scope, custom_type)
            del self._cached[key_scope]
            return False, None

    def _store(self, key: str, scope: str, value: Any) -> None:
        with self._lock:
            self._cached[join_key(key, scope)] = _Cached(value, time.monotonic() + self.expire_time)

    def _get_rpc(self, key: str, scope: str, custom_type: Any) -> Any:
        with self._lock:
            self._cached.pop(join_key(key, scope), None)
        response = self._core.rpc_client.rpc(SETTINGS_CHANNEL, "get", SettingsGetRequest(key=key, scope=scope),
                                             SettingsGetResponse, self.rpc_timeout)
        if not response.success:
            if response.error != NO_SUCH_SETTING:
                self.log.error("settings RPC for %s failed: %s", join_key(key, scope), response.error)
            return None
        result = parse_setting(key, response.value, custom_type)
        self._store(key, scope, response.value)
        return result

    @overload
    def get(self, key: Literal["common/gates"], scope: str = "", custom_type: None = None
            ) -> dict[str, Gate] | None: ...

    @overload
    def get(self, key: Literal["common/parking_areas2"], scope: str = "", custom_type: None = None
            ) -> dict[str, ParkingArea] | None: ...

    @overload
    def get(self, key: Literal["common/parksettings2"], scope: str = "", custom_type: None = None
            ) -> dict[str, Parksetting] | None: ...

    @overload
    def get(self, key: Literal["common/privacy_settings"], scope: str = "", custom_type: None = None
            ) -> PrivacySettings | None: ...

    @overload
    def get(self, key: Literal["common/currency", "common/language", "common/timezone"], scope: str = "",
            custom_type: None = None) -> str | None: ...

    @overload
    def get(self, key: Literal["gate_control/mode"], scope: str = "", custom_type: None = None
            ) -> GateMode | None: ...

    @overload
    def get(self, key: Literal["gate_control/day_mode"], scope: str = "", custom_type: None = None
            ) -> DayMode | None: ...

    @overload
    def get(self, key: str, scope: str = "", *, custom_type: type[T]) -> T | None: ...

    @overload
    def get(self, key: str, scope: str = "", custom_type: None = None) -> Any: ...

    def get(self, key: str, scope: str = "", custom_type: Any = None) -> Any:
        """The setting ``key`` in ``scope`` (``None``: the service has no such setting)."""
        with self._lock:
            found, value = self._from_cache(key, scope, custom_type)
        if found:
            return value
        return self._get_rpc(key, scope, custom_type)

    def get_many(self, keys_with_types: Mapping[str, Any], scope: str = "") -> dict[str, Any]:
        """Several settings of one scope, ``{key: custom_type or None}`` -> ``{key: value or None}``; keys the
        service leaves out of its answer are left out here too."""
        results: dict[str, Any] = {}
        with self._lock:
            for key, custom_type in keys_with_types.items():
                found, value = self._from_cache(key, scope, custom_type)
                if not found:
                    break
                results[key] = value
            else:
                return results
            for key in keys_with_types:
                self._cached.pop(join_key(key, scope), None)
        response = self._core.rpc_client.rpc(
            SETTINGS_CHANNEL, "get_many", SettingsGetManyRequest(key=list(keys_with_types), scope=scope),
            SettingsGetManyResponse, self.rpc_timeout)
        results = {}
        unasked = [key for key in response.settings if key not in keys_with_types]
        if unasked:  # a malformed reply: nothing of it may reach the cache
            self.log.warning("settings reply carries keys not asked for, ignored: %s", unasked[:10])
        for key, setting in response.settings.items():
            if key not in keys_with_types:
                continue
            key_scope = join_key(key, scope)
            if not setting.success:
                if setting.error != NO_SUCH_SETTING:
                    self.log.error("settings RPC for %s failed: %s", key_scope, setting.error)
                results[key] = None
                continue
            try:
                results[key] = parse_setting(key, setting.value, keys_with_types.get(key))
            except Exception:
                self.log.error("setting %s does not fit its model; answering None", key_scope, exc_info=True)
                results[key] = None
                continue
            self._store(key, scope, setting.value)
        return results
