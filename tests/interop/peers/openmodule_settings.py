"""The openmodule 18.5.0 service of ``openmodule_service.py`` plus commands for garage settings: openmodule's
own ``SettingsProvider`` as a client, and a settings service written with openmodule's ``RPCServer``.

Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in the project or the test
process imports it). Same protocol as ``openmodule_service.py`` (whose commands all work here), plus:

Commands (stdin)::

    {"cmd": "settings_provider", "expire_time": 300.0, "rpc_timeout": 3.0}
    {"cmd": "settings_get", "tag": ..., "key": "common/gates", "scope": ""}
    {"cmd": "settings_get_many", "tag": ..., "keys": ["common/gates", ...], "scope": ""}
    {"cmd": "settings_server", "values": {"<key>/<scope>": value, ...}}
    {"cmd": "settings_set", "key": ..., "scope": "", "value": ... | absent to remove it}

Events (stdout)::

    {"event": "settings_provider_ready"}
    {"event": "settings_value", "tag": ..., "ok": true, "value": <JSON of the parsed value>,
     "types": <the parsed value's class name, or {key: class name} for a dict>}
    {"event": "settings_value", "tag": ..., "ok": false, "error": "<exception class>", "message": ...}
    {"event": "rpc_server_ready", "channel": "settings", ...}
    {"event": "published", "topic": "settings", "body": ...}

``settings_provider`` makes one ``openmodule.utils.settings.SettingsProvider`` (it registers its ``changed``
handler on openmodule's core); ``settings_get``/``settings_get_many`` call its ``get``/``get_many`` and
report what they returned (``settings_models``' ``dump_setting``) or raised. ``settings_server`` serves
``settings``/``get`` and ``get_many`` from ``values`` as the garage's settings service does ("no such
setting" for a key it lacks); ``settings_set`` changes a value (or removes it) and publishes
``changed`` with ``core().publish``.
"""

from __future__ import annotations

import sys
from typing import Any

import openmodule_service as service
import orjson
from openmodule.core import core
from openmodule.models.settings import (
    SettingsChangedMessage,
    SettingsGetManyRequest,
    SettingsGetManyResponse,
    SettingsGetRequest,
    SettingsGetResponse,
)
from openmodule.rpc import RPCServer
from openmodule.utils.settings import SettingsProvider
from settings_models.serialization import dump_setting

providers: list[SettingsProvider] = []
values: dict[str, Any] = {}


def class_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: type(entry).__name__ for key, entry in value.items()}
    return type(value).__name__


def report(tag: Any, call: Any) -> None:
    try:
        value = call()
    except Exception as error:
        service.emit("settings_value", tag=tag, ok=False, error=type(error).__qualname__, message=str(error))
        return
    service.emit("settings_value", tag=tag, ok=True, value=orjson.loads(dump_setting(value)), types=class_names(value))


def cmd_settings_provider(command: dict[str, Any]) -> None:
    providers.append(SettingsProvider(expire_time=command.get("expire_time", 300.0),
                                      rpc_timeout=command.get("rpc_timeout", 3.0)))
    service.emit("settings_provider_ready")


def cmd_settings_get(command: dict[str, Any]) -> None:
    report(command.get("tag"), lambda: providers[-1].get(command["key"], command.get("scope", "")))


def cmd_settings_get_many(command: dict[str, Any]) -> None:
    report(command.get("tag"), lambda: providers[-1].get_many({key: None for key in command["keys"]},
                                                               command.get("scope", "")))


def one(key: str, scope: str) -> SettingsGetResponse:
    joined = f"{key}/{scope}"
    if joined not in values:
        return SettingsGetResponse(success=False, error="no such setting")
    return SettingsGetResponse(success=True, value=values[joined])


def cmd_settings_server(command: dict[str, Any]) -> None:
    values.update(command.get("values", {}))
    server = RPCServer(core().context)
    server.register_handler("settings", "get", SettingsGetRequest, SettingsGetResponse,
                            lambda request, _message: one(request.key, request.scope))
    server.register_handler("settings", "get_many", SettingsGetManyRequest, SettingsGetManyResponse,
                            lambda request, _message: SettingsGetManyResponse(
                                settings={key: one(key, request.scope) for key in request.key}))
    server.register_handler("settings", service.PROBE_TYPE, service.Empty, service.Empty,
                            lambda _request, _message: service.Empty())
    server.run_as_thread()
    service.rpc_servers.append(server)
    service._wait_until_served("settings")
    service.emit("rpc_server_ready", channel="settings", type="get", name=server.name, resource=server.resource)


def cmd_settings_set(command: dict[str, Any]) -> None:
    joined = f"{command['key']}/{command.get('scope', '')}"
    if "value" in command:
        values[joined] = command["value"]
    else:
        values.pop(joined, None)
    message = SettingsChangedMessage(changed_keys=[joined])
    core().publish(message, "settings")
    service.emit("published", topic="settings", body=message.json_bytes().decode("ascii"))


service.COMMANDS.update({
    "settings_provider": cmd_settings_provider,
    "settings_get": cmd_settings_get,
    "settings_get_many": cmd_settings_get_many,
    "settings_server": cmd_settings_server,
    "settings_set": cmd_settings_set,
})

if __name__ == "__main__":
    sys.exit(service.main())
