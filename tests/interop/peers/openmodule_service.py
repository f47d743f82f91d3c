"""A real, standalone openmodule 18.5.0 service for interop tests, driven over stdin/stdout.

Run ONLY with the interpreter of ``.venv-openmodule`` (openmodule is GPLv2: nothing in the project or in
the test process imports it; it lives in this separate process). Configuration comes from the
environment, read with openmodule's own helpers: ``NAME`` (required), ``BROKER_SUB``, ``BROKER_PUB``
(or the legacy ``BROKER_HOST`` form), ``VERSION``, ``AUTH_RESOURCE``, ``LOG_LEVEL``, ``COMPUTE_ID``.

Protocol: one JSON object per line.

Commands (stdin)::

    {"cmd": "subscribe", "topic": "hello_reply", "type": "hello_reply" | null, "model": "<catalogue name>"?}
    {"cmd": "publish", "topic": "hello", "message": {"type": "hello", ...}, "model": "<catalogue name>"?}
    {"cmd": "rpc", "tag": ..., "channel": "plates", "type": "lookup", "request": {...},
     "request_model": "<RPC model name>" | "dict", "response_model": "<RPC model name>",
     "timeout": 0.5 | null, "blocking": true | false}
    {"cmd": "rpc_server", "channel": "plates", "type": "lookup", "filter_resource": true}
    {"cmd": "access_service"}
    {"cmd": "exit"}

Events (stdout)::

    {"event": "ready", "name": ...}                      once init_openmodule returned (broker check done)
    {"event": "subscribed", "topic": ..., "type": ..., "model": ...}
    {"event": "published", "topic": ..., "body": "<the exact JSON body openmodule sent>"}
    {"event": "message", "topic": ..., "model": ..., "message": <model_dump>, "types": {field: python type}}
    {"event": "rpc_result", "tag": ..., "ok": true, "response": <model_dump>, "model": ..., "raw": ... | null,
     "elapsed": seconds, "sent": <the request model, dumped as JSON data> | null}
    {"event": "rpc_result", "tag": ..., "ok": false, "error": "RPCClient.TimeoutError", "message": ...,
     "builtin_timeout": bool, "raw": ... | null, "elapsed": seconds}
    {"event": "rpc_server_ready", "channel": ..., "type": ..., "name": ..., "resource": ... | null}
    {"event": "access_check", "request": <the AccessCheckRequest the service got, dumped as JSON data>}
    {"event": "rpc_request", "channel": ..., "type": ..., "message": <RPCRequest model_dump, None kept>}
    {"event": "error", "cmd": ..., "error": ...}         a command failed; the service keeps running
    {"event": "bye"}                                     right before the process exits

``subscribe`` registers a handler through ``core().messages.register_handler`` (``type`` null means
``match_type=False``) and answers only after openmodule's own ``wait_for_connection`` on that dispatcher
came back, so the subscription is known to be through the broker. ``publish`` validates the message into
an openmodule ``ZMQMessage`` subclass and sends it with ``core().publish``: the bytes on the wire are
exactly openmodule's. Without ``model``, a generic ``ZMQMessage`` subclass that keeps unknown fields is
used; with it, one of :data:`MODELS`. To add a command (health, ...), write a handler taking the
command dict and add it to :data:`COMMANDS`.

``rpc`` calls through ``core().rpc_client``: ``rpc(...)`` when ``blocking`` (the default), otherwise
``rpc_non_blocking(...)`` then ``.result(...)``, which also reports ``raw`` (the ``response`` dict as
openmodule received it). The request is validated into ``request_model`` (one of :data:`RPC_MODELS`, by
default :class:`AnyRequest`, which keeps every key) and passed as that model; ``"dict"`` passes the dict as
is (openmodule's deprecated form). The answer is the response validated into ``response_model``, or the
``RPCClient`` exception openmodule raised (``error`` is its qualified class name, e.g.
``RPCClient.ServerHandlerError``). Any other exception is an ``error`` event.

``rpc_server`` starts an ``openmodule.rpc.server.RPCServer`` (own SUB socket and thread; NAME and
RESOURCE from the global settings; the resource filter is on unless ``filter_resource`` is false)
serving ``type`` on ``channel`` with the same behaviour as the ``Lookup`` test plugin plus its
``plate_filter`` (tests/support/rpc_plugins.py, tests/interop/test_rpc_interop.py), picked by the plate:

    "RAISE"     the handler raises RuntimeError(HANDLER_ERROR)           -> handler_error
    "WRONG"     the handler returns an invalid response                  -> handler_error
    "EXPLODE"   the filter raises RuntimeError(FILTER_ERROR)             -> filter_error
    "BLOCKED"   the filter rejects                                       -> no reply
    "DICT"      {"known": true, "owner": <caller's name>, "status": ...} -> ok (status dropped)
    "NONE"      None                                                     -> ok, the response defaults
    other       known = plate starts with "G", owner = NAME              -> ok
    a request without "plate"                                            -> validation_error

``access_service`` starts openmodule's ``AccessService`` template (``register_rpcs`` on an ``RPCServer`` of
its own) whose ``rpc_check_access`` whitelists plates starting with "G" (an access ``acc-<plate>`` from
``source`` NAME) and reports each request it gets as ``access_check``; it answers ``rpc_server_ready``.

Every request the handler gets is reported as ``rpc_request``. ``rpc_server_ready`` comes once an RPC of
the core's own client (type :data:`PROBE_TYPE`) was answered by that server, so its subscription is
through the broker.

Everything openmodule logs goes to stderr; stdout carries only the protocol.
"""

from __future__ import annotations

import os
import sys
import threading
import time
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
from openmodule.health import HealthPongMessage  # noqa: E402
from openmodule.messaging import wait_for_connection  # noqa: E402
from openmodule.models.access_service import (  # noqa: E402
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessCheckResponse,
)
from openmodule.models.alert import AlertMessage  # noqa: E402
from openmodule.models.base import Gateway, OpenModuleModel, ZMQMessage  # noqa: E402
from openmodule.models.io import IoMessage  # noqa: E402
from openmodule.models.privacy import AnonymizeMessage  # noqa: E402
from openmodule.models.rpc import RPCRequest  # noqa: E402
from openmodule.models.signals import SignalMessage  # noqa: E402
from openmodule.models.validation import ValidateRequest, ValidateResponse  # noqa: E402
from openmodule.models.vehicle import Medium, MediumType  # noqa: E402
from openmodule.models.vehicle_listener import PresentVehicleEnterMessage  # noqa: E402
from openmodule.rpc import RPCClient, RPCServer  # noqa: E402
from openmodule.utils.access_service import AccessService  # noqa: E402
from openmodule.utils.eventlog import EventlogMessage  # noqa: E402
from pydantic import ConfigDict, create_model  # noqa: E402

SUBSCRIBE_CHECK_TIMEOUT = 3.0
RPC_SERVER_READY_TIMEOUT = 3.0
PROBE_TYPE = "interop_probe"
HANDLER_ERROR = "plate database locked"
FILTER_ERROR = "gate filter exploded"

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
    for model in (AnyMessage, HelloMessage, HelloReplyMessage, AccessDecisionMessage, PresentVehicleEnterMessage,
                  HealthPongMessage, AlertMessage, AnonymizeMessage, IoMessage, SignalMessage, EventlogMessage)
}


# -- RPC models -------------------------------------------------------------------------------------------

class AnyRequest(OpenModuleModel):
    """Any RPC request: every key kept as given."""

    model_config = ConfigDict(extra="allow")


class AnyResponse(OpenModuleModel):
    """Any RPC response: every key of ``response`` kept, ``status`` included."""

    model_config = ConfigDict(extra="allow")


class LookupRequest(OpenModuleModel):
    """tests.support.rpc_plugins.LookupRequest, written with openmodule."""

    plate: str


class LookupResponse(OpenModuleModel):
    """tests.support.rpc_plugins.LookupResponse, written with openmodule."""

    known: bool = False
    owner: str | None = None


class Empty(OpenModuleModel):
    pass


#: Models an ``rpc`` command can name as ``request_model`` / ``response_model``.
RPC_MODELS: dict[str, type[OpenModuleModel]] = {
    model.__name__: model
    for model in (AnyRequest, AnyResponse, LookupRequest, LookupResponse, Empty, AccessCheckRequest,
                  AccessCheckResponse, ValidateRequest, ValidateResponse)
}


def rpc_model(name: str) -> type[OpenModuleModel]:
    cls = RPC_MODELS.get(name)
    if cls is None:
        raise ValueError(f"unknown RPC model {name!r}; known: {', '.join(RPC_MODELS)}")
    return cls


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


def cmd_rpc(command: dict[str, Any]) -> None:
    channel, type_, tag = command["channel"], command["type"], command.get("tag")
    request_model = command.get("request_model") or "AnyRequest"
    request = command["request"] if request_model == "dict" else rpc_model(request_model).model_validate(
        command["request"])
    response_class = rpc_model(command.get("response_model") or "AnyResponse")
    timeout = command.get("timeout")
    client = core().rpc_client
    raw = None
    started = time.monotonic()
    try:
        if command.get("blocking", True):
            response = client.rpc(channel, type_, request, response_class, timeout=timeout)
        else:
            entry = client.rpc_non_blocking(channel, type_, request, timeout=timeout)
            try:
                response = entry.result(response_class)
            finally:
                raw = entry.response
    except RPCClient.Exception as error:
        emit("rpc_result", tag=tag, ok=False, error=type(error).__qualname__, message=str(error),
             builtin_timeout=isinstance(error, TimeoutError), elapsed=time.monotonic() - started, raw=raw)
        return
    sent = request.model_dump(mode="json") if isinstance(request, OpenModuleModel) else None
    emit("rpc_result", tag=tag, ok=True, model=type(response).__name__, response=response.model_dump(), raw=raw,
         elapsed=time.monotonic() - started, sent=sent)


#: RPC servers started by ``rpc_server``; shut down before the core.
rpc_servers: list[RPCServer] = []


def plate_filter(request: LookupRequest, _message: RPCRequest, _handler: Any) -> bool:
    """The filter of the interop tests: "EXPLODE" raises, "BLOCKED" is rejected, the rest passes."""
    if request.plate == "EXPLODE":
        raise RuntimeError(FILTER_ERROR)
    return request.plate != "BLOCKED"


def cmd_rpc_server(command: dict[str, Any]) -> None:
    channel, type_ = command["channel"], command.get("type") or "lookup"

    def lookup(request: LookupRequest, message: RPCRequest) -> Any:
        """Mirrors tests.support.rpc_plugins.Lookup.lookup; reports every request it gets."""
        emit("rpc_request", channel=channel, type=message.type, message=message.model_dump(exclude_none=False))
        plate = request.plate
        if plate == "RAISE":
            raise RuntimeError(HANDLER_ERROR)
        if plate == "DICT":
            return {"known": True, "owner": message.name, "status": "ignored"}
        if plate == "NONE":
            return None
        if plate == "WRONG":
            return {"known": "not a bool"}
        return LookupResponse(known=plate.startswith("G"), owner=settings.NAME)

    def probe(_request: Empty, _message: RPCRequest) -> Empty:
        """Answers the readiness probe."""
        return Empty()

    server = RPCServer(core().context, filter_resource=command.get("filter_resource", True))
    server.register_handler(channel, type_, LookupRequest, LookupResponse, lookup)
    server.register_handler(channel, PROBE_TYPE, Empty, Empty, probe)
    server.add_filter(plate_filter, channel=channel, type=type_)
    server.run_as_thread()
    rpc_servers.append(server)

    # The server has its own SUB socket: a probe answered by it proves its subscription reached our PUB
    # through the broker (and, queued before any later subscription, every other publisher's).
    _wait_until_served(channel)
    emit("rpc_server_ready", channel=channel, type=type_, name=server.name, resource=server.resource)


class WhitelistService(AccessService):
    """An access service written with openmodule's template: plates starting with "G" are whitelisted."""

    def rpc_check_access(self, request: AccessCheckRequest, _message: Any) -> AccessCheckResponse:
        emit("access_check", request=request.model_dump(mode="json"))
        plate = request.vehicle.lpr.id if request.vehicle.lpr else ""
        if not plate.startswith("G"):
            return AccessCheckResponse(success=True, accesses=[])
        access = AccessCheckAccess(id=f"acc-{plate}", source=settings.NAME, category=AccessCategory.whitelist,
                                   used_medium=Medium(id=plate, type=MediumType.lpr), access_data={"plate": plate},
                                   accepted=True)
        return AccessCheckResponse(success=True, accesses=[access])


def cmd_access_service(_command: dict[str, Any]) -> None:
    server = RPCServer(core().context)
    WhitelistService().register_rpcs(server)
    server.register_handler("access_service", PROBE_TYPE, Empty, Empty, lambda _request, _message: Empty())
    server.run_as_thread()
    rpc_servers.append(server)
    _wait_until_served("access_service")
    emit("rpc_server_ready", channel="access_service", type="auth", name=server.name, resource=server.resource)


def _wait_until_served(channel: str) -> None:
    """A probe answered by the server proves its subscription reached our PUB through the broker."""
    deadline = time.monotonic() + RPC_SERVER_READY_TIMEOUT
    while True:
        try:
            core().rpc_client.rpc(channel, PROBE_TYPE, Empty(), Empty, timeout=0.1)
            return
        except RPCClient.TimeoutError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"RPC server on {channel!r} not reachable within {RPC_SERVER_READY_TIMEOUT} s") \
                    from None


def cmd_exit(_command: dict[str, Any]) -> None:
    raise Exit


#: Command name -> handler(command dict). Handlers report success themselves and raise on failure.
COMMANDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "subscribe": cmd_subscribe,
    "publish": cmd_publish,
    "rpc": cmd_rpc,
    "rpc_server": cmd_rpc_server,
    "access_service": cmd_access_service,
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
        for server in rpc_servers:  # each notices within its 1 s poll; stop them all before waiting for one
            server.running = False
        for server in rpc_servers:
            server.shutdown()
        shutdown_openmodule()
        emit("bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
