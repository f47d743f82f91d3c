"""Garage settings for tests, as openmodule-test's settings mocks.

:class:`SettingsMock` is a settings service on a broker: it serves the ``settings`` RPCs (``get``,
``get_many``) from values a test sets, and announces each change on topic ``settings`` (``changed``), as
the garage's settings service does (wire-protocol.md 5.4, 5.10), so a plugin's
:class:`~openmodule_host.utils.SettingsProvider` (or an openmodule service's) reads from it unchanged. It
runs on a thread of its own with its own sockets, so it answers while the test waits for something else.

:class:`SettingsMocker` is the in-memory stand-in for a ``SettingsProvider`` (no broker), for code that is
handed one, e.g. ``check_accesses_valid_at_gate``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import zmq
from openmodule_hookspecs import (
    SETTINGS_CHANNEL,
    SETTINGS_TOPIC,
    SettingsGetManyRequest,
    SettingsGetRequest,
    dumps,
    request_topic,
    response_topic,
)
from pydantic import BaseModel, ValidationError

from ..utils.settings_provider import NO_SUCH_SETTING, join_key, parse_setting
from .mock_rpc import MockRPCClient

__all__ = ["SettingsMock", "SettingsMocker", "SettingsRequest"]

_POLL_MS = 50


def _as_sent(key: str, scope: str, value: Any, validate: bool) -> Any:
    """``value`` (JSON data, models, or a dict of models) as the settings service would send it; checked against
    the key's model when ``validate`` (a key without a model takes any value)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(value, Mapping):
        value = {entry_key: entry.model_dump(mode="json", by_alias=True, exclude_none=True)
                 if isinstance(entry, BaseModel) else entry for entry_key, entry in value.items()}
    value = orjson.loads(dumps(value))
    if validate:
        try:
            parse_setting(key, value)
        except KeyError:
            pass
        except ValueError as error:
            raise ValueError(f"{join_key(key, scope)} does not fit its model (validate=False allows it): "
                             f"{error}") from error
    return value


class SettingsMocker:
    """An in-memory stand-in for a :class:`~openmodule_host.utils.SettingsProvider` (openmodule-test's
    ``SettingsMocker``): ``get`` and ``get_many`` answer as the provider does (parsed into the key's model or
    ``custom_type``; ``None`` for a setting it does not have) from the values given or set here, which are
    checked against their model unless ``validate`` is false. ``settings`` maps ``key`` (empty scope) or
    ``(key, scope)`` to a value."""

    def __init__(self, settings: Mapping[str | tuple[str, str], Any] | None = None, *, validate: bool = True
                 ) -> None:
        self.validate = validate
        self._values: dict[str, Any] = {}
        for key_scope, value in (settings or {}).items():
            key, scope = (key_scope, "") if isinstance(key_scope, str) else key_scope
            self.add_setting(key, value, scope)

    def get(self, key: str, scope: str = "", custom_type: Any = None) -> Any:
        joined = join_key(key, scope)
        return parse_setting(key, self._values[joined], custom_type) if joined in self._values else None

    def get_many(self, keys_with_types: Mapping[str, Any], scope: str = "") -> dict[str, Any]:
        return {key: self.get(key, scope, custom_type) for key, custom_type in keys_with_types.items()}

    def add_setting(self, key: str, value: Any, scope: str = "") -> None:
        self._values[join_key(key, scope)] = _as_sent(key, scope, value, self.validate)

    #: openmodule-test has both names for it.
    change_setting = add_setting

    def remove_setting(self, key: str, scope: str = "") -> None:
        self._values.pop(join_key(key, scope), None)

    def serve(self, mock_rpc: MockRPCClient) -> None:
        """Script the settings service's RPCs (``settings``/``get`` and ``get_many``) on ``mock_rpc`` to answer
        from these values as :class:`SettingsMock` answers on a broker: a plugin's ``SettingsProvider`` on a
        :class:`~.fake_core.FakeCore` (``fake.mock_rpc``) then reads them. Values changed later are answered
        from then on; the plugin's cache drops a key when the test sends it the ``changed`` message on topic
        ``settings``."""
        mock_rpc.immediate_callbacks[(SETTINGS_CHANNEL, "get")] = self._answer_get
        mock_rpc.immediate_callbacks[(SETTINGS_CHANNEL, "get_many")] = self._answer_get_many

    def _answer_get(self, request: Any, _message: None) -> dict[str, Any]:
        parsed = SettingsGetRequest.model_validate(dict(request))
        return _setting(self._values, parsed.key, parsed.scope, None)

    def _answer_get_many(self, request: Any, _message: None) -> dict[str, Any]:
        parsed = SettingsGetManyRequest.model_validate(dict(request))
        return {"settings": {key: _setting(self._values, key, parsed.scope, None) for key in parsed.key}}


def _setting(values: Mapping[str, Any], key: str, scope: str, error: str | None) -> dict[str, Any]:
    """One key's answer as the settings service sends it: its value, ``error`` for every key when set, or
    "no such setting"."""
    if error is not None:
        return {"success": False, "error": error}
    if join_key(key, scope) not in values:
        return {"success": False, "error": NO_SUCH_SETTING}
    return {"success": True, "value": values[join_key(key, scope)]}


@dataclass(frozen=True)
class SettingsRequest:
    """A request the mock answered (or was asked not to): ``type`` is ``get`` or ``get_many``."""

    type: str
    keys: tuple[str, ...]
    scope: str
    sender: str


class SettingsMock:
    """The garage's settings service on the broker at ``broker_sub``/``broker_pub`` (fixture ``om_settings``).

    ``settings`` maps ``key`` (empty scope) or ``(key, scope)`` to a value (JSON data or a model). Values of the
    keys the settings provider models are checked against their model when set, unless ``validate`` is false
    (to test a plugin with a wrong value). ``error`` set to a string answers every key with ``success: false``
    and that error; ``handler_error`` set to a string answers every request with status ``handler_error``
    (the settings service's handler raised that); ``answering`` false sends no reply at all (the settings
    service is down). ``requests`` lists what was asked, oldest first.
    """

    def __init__(
        self, broker_sub: str, broker_pub: str, settings: Mapping[str | tuple[str, str], Any] | None = None, *,
        name: str = "om_settings_mock", validate: bool = True, connect_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.validate = validate
        self.error: str | None = None
        self.handler_error: str | None = None
        self.answering = True
        self.requests: list[SettingsRequest] = []
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._context = zmq.Context()
        self._pub = self._context.socket(zmq.PUB)
        self._pub.setsockopt(zmq.LINGER, 0)
        self._pub.connect(broker_sub)
        self._sub = self._context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.connect(broker_pub)
        self._sub.setsockopt_string(zmq.SUBSCRIBE, request_topic(SETTINGS_CHANNEL))
        self._connect(connect_timeout)
        for key, value in (settings or {}).items():
            self._store(*((key, "") if isinstance(key, str) else key), value)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"settings-mock-{name}", daemon=True)
        self._thread.start()

    # -- the test's side ----------------------------------------------------------------------------

    def get(self, key: str, scope: str = "") -> Any:
        """The value the mock serves for ``key`` in ``scope`` (``KeyError`` when it has none)."""
        with self._lock:
            return self._values[join_key(key, scope)]

    def set(self, key: str, value: Any, scope: str = "") -> None:
        """Serve ``value`` for ``key`` in ``scope`` from now on and announce the change (``changed``)."""
        self._store(key, scope, value)
        self._announce([join_key(key, scope)])

    def update(self, settings: Mapping[str | tuple[str, str], Any]) -> None:
        """Set several values and announce them in one ``changed`` message."""
        changed = []
        for key, value in settings.items():
            key, scope = (key, "") if isinstance(key, str) else key
            self._store(key, scope, value)
            changed.append(join_key(key, scope))
        self._announce(changed)

    def remove(self, key: str, scope: str = "") -> None:
        """Answer "no such setting" for ``key`` in ``scope`` from now on and announce the change."""
        with self._lock:
            self._values.pop(join_key(key, scope), None)
        self._announce([join_key(key, scope)])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self._thread.is_alive():  # (closing its sockets under its thread could crash the process)
            self._context.destroy(linger=0)

    def __enter__(self) -> SettingsMock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _store(self, key: str, scope: str, value: Any) -> None:
        value = _as_sent(key, scope, value, self.validate)
        with self._lock:
            self._values[join_key(key, scope)] = value

    def _announce(self, changed_keys: list[str]) -> None:
        self._send(SETTINGS_TOPIC, {"timestamp": time.time(), "name": self.name, "type": "changed",
                                    "changed_keys": changed_keys})

    # -- the wire -----------------------------------------------------------------------------------

    def _send(self, topic: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._pub.send_multipart((topic.encode(), dumps(body)))

    def _connect(self, timeout: float) -> None:
        """Our own message on a private topic comes back: the broker has our subscriptions and we reach it."""
        private = f"_settings_mock_{uuid.uuid4().hex}"
        self._sub.setsockopt_string(zmq.SUBSCRIBE, private)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._pub.send_multipart((private.encode(), b'{"type": "connection-check"}'))
                if self._sub.poll(_POLL_MS) and self._sub.recv_multipart()[0] == private.encode():
                    return
            raise TimeoutError(f"settings mock could not reach the broker within {timeout} s")
        finally:
            self._sub.setsockopt_string(zmq.UNSUBSCRIBE, private)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._sub.poll(_POLL_MS):
                continue
            frames = self._sub.recv_multipart()
            if len(frames) != 2 or frames[0] != request_topic(SETTINGS_CHANNEL).encode():
                continue
            try:
                body = orjson.loads(frames[1])
            except orjson.JSONDecodeError:
                continue
            if isinstance(body, dict):
                self._answer(body)

    def _answer(self, body: dict[str, Any]) -> None:
        type_, rpc_id = body.get("type"), body.get("rpc_id")
        reply: dict[str, Any] = {"timestamp": time.time(), "name": self.name, "type": type_, "rpc_id": rpc_id}
        try:
            if not isinstance(rpc_id, str) or type_ not in ("get", "get_many"):
                return  # not a request this service serves: no reply, as an openmodule server
            request = (SettingsGetRequest if type_ == "get" else SettingsGetManyRequest).model_validate(
                body.get("request"))
        except ValidationError as error:
            reply["response"] = {"status": "validation_error", "exception": error.json()}
            self._send(response_topic(SETTINGS_CHANNEL), reply)
            return
        keys = (request.key,) if isinstance(request, SettingsGetRequest) else tuple(request.key)
        self.requests.append(SettingsRequest(type_, keys, request.scope, str(body.get("name", ""))))
        if not self.answering:
            return
        if self.handler_error is not None:
            reply["response"] = {"status": "handler_error", "exception": self.handler_error}
            self._send(response_topic(SETTINGS_CHANNEL), reply)
            return
        values = {key: self._value(key, request.scope) for key in keys}
        response = values[request.key] if isinstance(request, SettingsGetRequest) else {"settings": values}
        reply["response"] = {**response, "status": "ok"}
        self._send(response_topic(SETTINGS_CHANNEL), reply)

    def _value(self, key: str, scope: str) -> dict[str, Any]:
        with self._lock:
            return _setting(self._values, key, scope, self.error)
