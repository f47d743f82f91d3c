"""A real, standalone openmodule 10.0.7 service (the V2-era peer) for the legacy backend interop tests, driven
over stdin/stdout like ``openmodule_service.py``.

Run ONLY with the interpreter of ``.venv-openmodule10`` (openmodule is GPLv2: nothing in the project or in the
test process imports it). Configuration from the environment: ``NAME`` (required), ``BROKER_SUB``,
``BROKER_PUB``. Written for Python 3.11 and openmodule 10.0.7's pydantic 1 models.

Commands (stdin), one JSON object per line::

    {"cmd": "subscribe", "topic": "backend"}             every message on the topic becomes a ``message`` event
    {"cmd": "publish", "topic": "count", "model": "CountMessage", "message": {...}}
                                                        validated into openmodule.models.backend.<model> and sent
    {"cmd": "auth", "tag": ..., "request": {...}, "rpc_timeout": 3.0}
                                                        RPC backend/auth with its RPCClient and AccessRequest;
                                                        the answer read with its AccessResponse
    {"cmd": "backend"}                                  start a 10.0.7 ``Backend`` subclass named NAME
    {"cmd": "exit"}

Events (stdout)::

    {"event": "ready", "name": ...}
    {"event": "subscribed", "topic": ...}
    {"event": "message", "topic": ..., "message": <the raw dict>}
    {"event": "published", "topic": ..., "body": "<the JSON openmodule sent>"}
    {"event": "auth_result", "tag": ..., "ok": true, "status": ..., "response": <AccessResponse, as JSON data>}
    {"event": "auth_result", "tag": ..., "ok": false, "error": "TimeoutError" | ..., "message": ...}
    {"event": "backend_ready", "name": ...}             once its backend/auth answered a probe through the broker
    {"event": "backend_call", "method": "check_access" | "check_in" | ..., "message": <the model, as JSON data>}
    {"event": "error", "cmd": ..., "error": ...}
    {"event": "bye"}

The ``backend`` command's ``Backend`` gives plates starting with "G" one ``permanent-employee`` access since
2024-01-01 for the user ``<NAME>-<plate>``, nothing to others, and reports every call of its methods.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
import types
from datetime import datetime
from typing import Any

# Keep the real stdout for the protocol; everything else written to stdout goes to stderr.
_events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

from openmodule import config as om_config  # noqa: E402
from openmodule.config import settings  # noqa: E402
from openmodule.core import core, init_openmodule, shutdown_openmodule  # noqa: E402
from openmodule.messaging import wait_for_connection  # noqa: E402
from openmodule.models import backend as models  # noqa: E402
from openmodule.models.base import ZMQMessage  # noqa: E402
from openmodule.rpc import RPCServer  # noqa: E402
from openmodule.utils.backend import Backend  # noqa: E402

_emit_lock = threading.Lock()
READY_TIMEOUT = 10.0


def emit(event: str, **fields: Any) -> None:
    with _emit_lock:
        _events.write(json.dumps({"event": event, **fields}, default=str) + "\n")


def as_data(model: Any) -> Any:
    """A model as the JSON data openmodule sends."""
    return json.loads(model.json_bytes())


class AnyMessage(ZMQMessage):
    class Config:
        extra = "allow"


class Exit(Exception):
    pass


class PlateBackend(Backend):
    """A backend written with openmodule 10.0.7's template; reports each call."""

    def check_access(self, request: models.AccessRequest) -> list[models.Access]:
        emit("backend_call", method="check_access", message=as_data(request))
        if not request.medium_id.startswith("G"):
            return []
        return [models.Access(category=models.AccessCategory.permanent_employee, start=datetime(2024, 1, 1),
                              user=f"{settings.NAME}-{request.medium_id}")]

    def check_in(self, message: models.CountMessage) -> None:
        emit("backend_call", method="check_in", message=as_data(message))

    def check_out(self, message: models.CountMessage) -> None:
        emit("backend_call", method="check_out", message=as_data(message))

    def check_in_session(self, message: Any) -> None:
        emit("backend_call", method="check_in_session", message=as_data(message))

    def check_out_session(self, message: Any) -> None:
        emit("backend_call", method="check_out_session", message=as_data(message))

    def session_error_message(self, message: Any) -> None:
        emit("backend_call", method="session_error_message", message=as_data(message))


backends: list[PlateBackend] = []
rpc_servers: list[RPCServer] = []


def cmd_subscribe(command: dict[str, Any]) -> None:
    topic = command["topic"]

    def handler(message: AnyMessage) -> None:
        emit("message", topic=topic, message=as_data(message))

    current = core()
    current.messages.register_handler(topic.encode(), AnyMessage, handler, match_type=False)
    wait_for_connection(current.messages, current.pub_socket, current.pub_lock)
    emit("subscribed", topic=topic)


def cmd_publish(command: dict[str, Any]) -> None:
    model = getattr(models, command["model"]) if command.get("model") else AnyMessage
    message = model.parse_obj(command["message"])
    core().publish(message, command["topic"].encode())
    emit("published", topic=command["topic"], body=message.json_bytes().decode("ascii"))


def auth(request: dict[str, Any], timeout: float) -> Any:
    """backend/auth as a 10.x controller calls it; the answer read with openmodule's AccessResponse."""
    result = core().rpc_client.rpc(b"backend", "auth", models.AccessRequest.parse_obj(request), timeout=timeout)
    return result.status, models.AccessResponse.parse_obj(result.response) if result.status == "ok" else None


def cmd_auth(command: dict[str, Any]) -> None:
    tag = command.get("tag")
    try:
        status, response = auth(command["request"], command.get("rpc_timeout") or 3.0)
    except TimeoutError as error:
        emit("auth_result", tag=tag, ok=False, error=type(error).__name__, message=str(error))
        return
    emit("auth_result", tag=tag, ok=True, status=status, response=as_data(response) if response else None)


def cmd_backend(_command: dict[str, Any]) -> None:
    backend = PlateBackend(core())
    server = RPCServer(core().context)
    backend.register_rpcs(server)
    server.run_as_thread()
    backends.append(backend)
    rpc_servers.append(server)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:  # its answer proves the server's subscription went through the broker
        try:
            auth({"name": settings.NAME, "medium_type": "pin", "id": "probe"}, 0.2)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
    emit("backend_ready", name=settings.NAME)


def cmd_exit(_command: dict[str, Any]) -> None:
    raise Exit


COMMANDS = {"subscribe": cmd_subscribe, "publish": cmd_publish, "auth": cmd_auth, "backend": cmd_backend,
            "exit": cmd_exit}


def run_command(line: bytes) -> None:
    name = None
    try:
        command = json.loads(line)
        name = command.get("cmd")
        handler = COMMANDS.get(name)
        if handler is None:
            raise ValueError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
        handler(command)
    except Exit:
        raise
    except Exception as error:
        traceback.print_exc()
        emit("error", cmd=name, error=f"{type(error).__name__}: {error}")


def build_config() -> types.ModuleType:
    cfg = types.ModuleType("openmodule10_interop_config")
    cfg.NAME = om_config.string("NAME")
    if not cfg.NAME:
        raise SystemExit("openmodule10_service: set NAME")
    cfg.VERSION = "0.0.0-interop"
    cfg.RESOURCE = "interop-test"
    cfg.DEBUG = False
    cfg.TESTING = False
    cfg.LOG_LEVEL = om_config.log_level()
    cfg.BROKER_SUB = om_config.broker_sub()
    cfg.BROKER_PUB = om_config.broker_pub()
    return cfg


def main() -> int:
    cfg = build_config()
    settings.configure(cfg)
    init_openmodule(cfg, sentry=False, dsgvo=False, database=False)
    emit("ready", name=cfg.NAME)
    try:
        for line in sys.stdin.buffer:
            if line.strip():
                run_command(line)
    except (Exit, KeyboardInterrupt):
        pass
    finally:
        for backend in backends:
            backend.shutdown()  # publishes unregister
        for server in rpc_servers:
            server.shutdown()
        shutdown_openmodule()
        emit("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
