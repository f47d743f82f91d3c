"""A real, standalone openmodule 18.5.0 service for interop tests, driven over stdin/stdout.

Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in the project or in
the test process imports it; it lives in this separate process). Configuration comes from the
environment, read with openmodule's own helpers: ``NAME`` (required), ``BROKER_SUB``, ``BROKER_PUB``
(or the legacy ``BROKER_HOST`` form), ``VERSION``, ``AUTH_RESOURCE``, ``LOG_LEVEL``, ``COMPUTE_ID``.

Protocol: one JSON object per line.

Commands (stdin)::

    {"cmd": "subscribe", "topic": "hello_reply", "type": "hello_reply" | null, "model": "<catalogue name>"?}
    {"cmd": "publish", "topic": "hello", "message": {"type": "hello", ...}, "model": "<catalogue name>"?}
    {"cmd": "exit"}

Events (stdout)::

    {"event": "ready", "name": ...}                      once init_openmodule returned (broker check done)
    {"event": "subscribed", "topic": ..., "type": ..., "model": ...}
    {"event": "published", "topic": ..., "body": "<the exact JSON body openmodule sent>"}
    {"event": "message", "topic": ..., "model": ..., "message": <model_dump>, "types": {field: python type}}
    {"event": "error", "cmd": ..., "error": ...}         a command failed; the service keeps running
    {"event": "bye"}                                     right before the process exits

``subscribe`` registers a handler through ``core().messages.register_handler`` (``type`` null means
``match_type=False``) and answers only after openmodule's own ``wait_for_connection`` on that dispatcher
came back, so the subscription is known to be through the broker. ``publish`` validates the message into
an openmodule ``ZMQMessage`` subclass and sends it with ``core().publish``: the bytes on the wire are
exactly openmodule's. Without ``model``, a generic ``ZMQMessage`` subclass that keeps unknown fields is
used; with it, one of :data:`MODELS`. To add a command (RPC, health, ...), write a handler taking the
command dict and add it to :data:`COMMANDS`.

Everything openmodule logs goes to stderr; stdout carries only the protocol.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
import types
from collections.abc import Callable
from typing import Any

# Keep the real stdout for the protocol and send everything else written to fd 1 or sys.stdout (openmodule
# configures logging on sys.stdout) to stderr, so no log line can corrupt the event stream.
_events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

import orjson  # noqa: E402
from openmodule import config as om_config  # noqa: E402
from openmodule.config import settings  # noqa: E402
from openmodule.core import core, init_openmodule, shutdown_openmodule  # noqa: E402
from openmodule.messaging import wait_for_connection  # noqa: E402
from openmodule.models.base import Gateway, ZMQMessage  # noqa: E402
from openmodule.models.vehicle_listener import PresentVehicleEnterMessage  # noqa: E402
from pydantic import ConfigDict, create_model  # noqa: E402

SUBSCRIBE_CHECK_TIMEOUT = 3.0

_emit_lock = threading.Lock()


def emit(event: str, **fields: Any) -> None:
    line = orjson.dumps({"event": event, **fields}, default=str).decode()
    with _emit_lock:
        _events.write(line + "\n")


# -- message models ---------------------------------------------------------------------------------------

class AnyMessage(ZMQMessage):
    """Any message: the openmodule envelope, every other field kept as received."""

    model_config = ConfigDict(extra="allow")


class HelloMessage(ZMQMessage):
    type: str = "hello"
    text: str


class HelloReplyMessage(ZMQMessage):
    type: str = "hello_reply"
    to: str
    reply: str


class AccessDecisionMessage(ZMQMessage):
    """``access_accept``/``access_reject`` as the backend_x example plugin sends them, read with
    openmodule's own ``Gateway`` (its ``direction`` is openmodule's ``Direction`` enum)."""

    type: str = "decision"
    gateway: Gateway
    vehicle_id: str
    plate: str | None = None


#: Models a command can name with ``"model"``; openmodule's own where it has one.
MODELS: dict[str, type[ZMQMessage]] = {
    model.__name__: model
    for model in (AnyMessage, HelloMessage, HelloReplyMessage, AccessDecisionMessage, PresentVehicleEnterMessage)
}


def message_class(model: str | None, type_: str | None) -> type[ZMQMessage]:
    """The class to register or build: the named model, or :class:`AnyMessage` with ``type_`` as default."""
    if model is not None:
        cls = MODELS.get(model)
        if cls is None:
            raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
        default = cls.model_fields["type"].default
        if type_ is not None and default != type_:
            raise ValueError(f"model {model} has type {default!r}, not {type_!r}")
        return cls
    if type_ is None:
        return AnyMessage
    return create_model(f"AnyMessage_{type_}", __base__=AnyMessage, type=(str, type_))


def describe_types(message: ZMQMessage) -> dict[str, str]:
    """The Python type of each top-level field after validation (e.g. ``timestamp: datetime``)."""
    values = {**{name: getattr(message, name) for name in type(message).model_fields}, **(message.model_extra or {})}
    return {name: type(value).__name__ for name, value in values.items()}


# -- commands ---------------------------------------------------------------------------------------------

class Exit(Exception):
    pass


def cmd_subscribe(command: dict[str, Any]) -> None:
    topic, type_, model = command["topic"], command.get("type"), command.get("model")
    cls = message_class(model, type_)

    def handler(message: ZMQMessage) -> None:
        """Report every message the dispatcher validated for this subscription."""
        emit("message", topic=topic, model=type(message).__name__, message=message.model_dump(),
             types=describe_types(message))

    current = core()
    current.messages.register_handler(topic, cls, handler, match_type=type_ is not None)
    wait_for_connection(current.messages, current.pub_socket, current.pub_lock, timeout=SUBSCRIBE_CHECK_TIMEOUT)
    emit("subscribed", topic=topic, type=type_, model=cls.__name__)


def cmd_publish(command: dict[str, Any]) -> None:
    topic = command["topic"]
    message = message_class(command.get("model"), None).model_validate(command["message"])
    core().publish(message, topic)
    emit("published", topic=topic, body=message.json_bytes().decode("ascii"))


def cmd_exit(_command: dict[str, Any]) -> None:
    raise Exit


#: Command name -> handler(command dict). Handlers report success themselves and raise on failure.
COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "subscribe": cmd_subscribe,
    "publish": cmd_publish,
    "exit": cmd_exit,
}


def run_command(line: bytes) -> None:
    name = None
    try:
        command = orjson.loads(line)
        name = command.get("cmd") if isinstance(command, dict) else None
        handler = COMMANDS.get(name)
        if handler is None:
            raise ValueError(f"unknown command {name!r}; known: {', '.join(COMMANDS)}")
        handler(command)
    except Exit:
        raise
    except Exception as error:
        traceback.print_exc()
        emit("error", cmd=name, error=f"{type(error).__name__}: {error}")


# -- main -------------------------------------------------------------------------------------------------

def build_config() -> types.ModuleType:
    """A config module as an openmodule service's ``config.py`` would define it."""
    cfg = types.ModuleType("openmodule_interop_config")
    cfg.NAME = om_config.string("NAME")
    if not cfg.NAME:
        raise SystemExit("openmodule_service: set NAME")
    cfg.VERSION = om_config.string("VERSION", "0.0.0-interop")
    cfg.RESOURCE = om_config.string("AUTH_RESOURCE", "interop-test")
    cfg.DEBUG = False
    cfg.TESTING = False
    cfg.LOG_LEVEL = om_config.log_level()
    cfg.COMPUTE_ID = om_config.compute_id()
    cfg.BROKER_SUB = om_config.broker_sub()
    cfg.BROKER_PUB = om_config.broker_pub()
    return cfg


def main() -> int:
    cfg = build_config()
    settings.configure(cfg)  # openmodule's global settings (message default NAME, health) read this module
    init_openmodule(cfg, sentry=False, dsgvo=False, database=False)
    emit("ready", name=cfg.NAME, broker_sub=cfg.BROKER_SUB, broker_pub=cfg.BROKER_PUB)
    try:
        for line in sys.stdin.buffer:
            if line.strip():
                run_command(line)
    except (Exit, KeyboardInterrupt):  # exit command; SIGTERM (openmodule raises KeyboardInterrupt)
        pass
    finally:
        shutdown_openmodule()
        emit("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
