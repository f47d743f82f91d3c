"""The fake core: one plugin started by the host's own code on an in-memory transport, driven synchronously.

:class:`FakeCore` starts a plugin by the host's own start sequence,
:func:`~openmodule_host.lifecycle.start_in_thread` (the same loader and contract check, ``config_model`` and
settings validation, the NAME check, migrations on a SQLite file in a temporary folder, the same
:func:`~openmodule_host.plugin.assemble_core`, ``register_handlers`` through the plugin's mailbox, the access,
privacy and legacy hooks wired by the host's functions). Only the transport is new (:mod:`.memory`): no broker,
no sockets, no worker thread. What a test sends is routed by the host's routing table into the plugin's
mailbox, and the mailbox is emptied on the test's own thread before the call returns. So a test sees the host's
behaviour (filters, validation, RPC statuses, health, alerts) in microseconds; ``tests/test_fake_vs_host.py``
runs the same scenarios through both and compares them.

A ``FakeCore`` is a :class:`~openmodule_hookspecs.PluginCore` too (the plugin's own, by delegation): code that
takes a core can be handed the fake.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import orjson
from openmodule_hookspecs import (
    BridgeStatus,
    ConnectionRPCResponse,
    ConnectionStatus,
    ConnectionStatusMessage,
    HealthCheck,
    HealthMetric,
    RPCTimeoutError,
    ZMQMessage,
    dumps,
    request_topic,
    response_topic,
)
from pydantic import BaseModel

from ..alerts import PluginAlerts
from ..compat import plugin_context
from ..config import HostConfig, PluginConfig, resolve_standard
from ..connection_status import ConnectionState, ConnectionStatusListener
from ..core import HostedCore, PluginMessages
from ..database import DatabaseTarget, MigrationResult, PluginDatabase, normalise_url, upgrade
from ..errors import PluginLoadError
from ..health import HealthResponder, PluginHealth
from ..legacy import announce_backend, withdraw_backend
from ..lifecycle import StartFailed, check_plugin_name, start_in_thread
from ..limits import Limits
from ..plugin import HostedPlugin, PluginState, SharedInfrastructure
from ..rpc import PluginRPCClient, PluginRPCServer, RPCCalls, RPCRouter
from ..rpc.client import _parse
from ..scheduling import PluginJob, PluginScheduler
from ..stats import PluginStats
from ..version import __version__
from .harness import _candidates
from .memory import MemoryIntake, MemoryPublisher
from .mock_rpc import MockRPCClient, Reply

__all__ = ["FakeCore"]

Res = TypeVar("Res", bound=BaseModel)
T = TypeVar("T")

log = logging.getLogger("openmodule_host.testing.fake")


def fake_plugin_name(plugin: Any, name: str | None = None) -> str:
    """The name a :class:`FakeCore` gives ``plugin`` (its ``[plugins.<name>]`` table): ``name`` if given, an
    installed plugin's own name, else ``"plugin"``."""
    if name is not None:
        return name
    return plugin if isinstance(plugin, str) and "." not in plugin else "plugin"


class FakeCore:
    """One plugin, started as the host starts it, on an in-memory transport.

    ``plugin``: an installed plugin's name (``"om_welcome"``), or a module or object with hookimpls (then
    ``name`` names it, default ``"plugin"``), or an import path (``"my_plugin.plugin"``, with ``name``).
    ``config`` is its ``[plugins.<name>]`` table (``{"plugin": "om_welcome", "gate": "in-1"}`` for an instance),
    validated against its ``config_model``. ``rpc_client`` scripts the answers to the RPCs the plugin calls (see
    :class:`MockRPCClient`; its ``default_timeout`` becomes the plugin's). ``connection`` is what the RPC
    ``connection``/``status`` answers (the first connection status; None: nobody answers). Further keyword
    arguments are ``[host]`` settings: ``data_dir`` (default: a temporary folder removed by :meth:`close`),
    ``database_url`` (PostgreSQL: the plugin's schema and role are made as the host makes them), the limits,
    ``mailbox_size``; no broker, HTTP endpoint or sentry is started, and ``ISOLATION = "process"`` is ignored
    (the plugin runs in the test's process).

    A plugin that fails to start raises :class:`~openmodule_host.errors.PluginLoadError` with the host's reason.
    """

    def __init__(
        self,
        plugin: Any,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        rpc_client: MockRPCClient | None = None,
        connection: ConnectionStatus | str | None = ConnectionStatus.online,
        **host_settings: Any,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if "data_dir" not in host_settings:
            self._tmp = tempfile.TemporaryDirectory(prefix="om-fake-")
            host_settings["data_dir"] = self._tmp.name
        installed = isinstance(plugin, str) and name is None and "." not in plugin  # by its own name
        name = fake_plugin_name(plugin, name)
        spec: list[Any] = [plugin] if installed else [(name, plugin)]
        host_settings.setdefault("dsgvo", False)
        host_settings.setdefault("broker", "external")
        self.host_config = HostConfig(plugins={name: dict(config or {})}, **host_settings)
        candidates = _candidates(spec, self.host_config.plugins)
        if len(candidates) != 1:
            raise ValueError(f"a FakeCore runs one plugin; {plugin!r} gave {len(candidates)}")
        self._mock_rpc = rpc_client if rpc_client is not None else MockRPCClient(default_timeout=3.0)
        self._connection = (ConnectionRPCResponse(connected=ConnectionStatus(connection))
                            if connection is not None else None)
        self._draining = False
        self._closed = False
        #: ``sending`` is set while this thread routes the test's own message (never answered by the script).
        self._test_thread = threading.local()
        #: every message on the in-memory wire, in order: (topic, body), the test's and the plugin's.
        self.wire: list[tuple[str, dict[str, Any]]] = []
        config_ = self.host_config
        self.intake = MemoryIntake(max_body_bytes=config_.max_message_bytes, log=log, max_depth=config_.max_depth)
        self.intake.add_tap(self._on_wire)
        self.publisher = MemoryPublisher(self.intake)
        self._outside = MemoryPublisher(self.intake)  # the test's own sends, not the plugin's
        self.rpc_router = RPCRouter(self.intake, log)
        self.rpc_calls = RPCCalls(self.intake, self.publisher, config_.name, config_.connect_timeout, log,
                                  channel_idle=config_.rpc_channel_idle, max_body_bytes=config_.max_message_bytes)
        self.connection = ConnectionState(self.intake, PluginRPCClient(self.rpc_calls, config_.name).rpc, log)
        self._shared = SharedInfrastructure(
            self.intake, self.publisher, self.rpc_router, self.rpc_calls, self.connection, config_.mailbox_size,
            limits=Limits.of(config_),
        )
        self.hosted = HostedPlugin(candidates[0])
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        self.health_responder = HealthResponder(
            config_.name, __version__, lambda: [self.hosted], list, list, self.publisher, log,
            config_.health_timeout, host_pong=False, limits=Limits.of(config_),
        )

    # -- start and stop, as the host does them ---------------------------------------------------------

    def _start(self) -> None:
        """The host's own start sequence (:func:`~openmodule_host.lifecycle.start_in_thread`), run by
        :class:`_FakeStart`; a failure raises :class:`PluginLoadError` with the reason the host would report."""
        plugin, config = self.hosted, self.host_config
        candidate = plugin.candidate
        table = config.plugins.get(candidate.name, {})
        plugin.required = resolve_standard(candidate.name, candidate.version, table, config).REQUIRED
        database_url = normalise_url(config.database_url) if config.database_url else None
        try:
            start_in_thread(plugin, table, config, self._shared, _FakeStart(self), claim_name=check_plugin_name,
                            database_url=database_url)
        except StartFailed as failure:
            raise PluginLoadError(candidate.name, failure.reason) from failure.error
        self.rpc_router.warn_unfiltered()
        announce_backend(plugin)
        self.drain()

    def close(self) -> None:
        """Stop the plugin as the host does (``shutdown`` hook, then everything it registered) and remove the
        temporary data folder. Idempotent."""
        if self._closed:
            return
        self._closed = True
        plugin = self.hosted
        try:
            if plugin.state is PluginState.RUNNING and plugin.core is not None and plugin.manager is not None:
                withdraw_backend(plugin)
                manager, core = plugin.manager, plugin.core
                try:
                    self._on_worker(lambda: manager.hook.shutdown(core=core))
                except Exception:
                    log.exception("plugin %s: shutdown raised", plugin.name)
                plugin.state = PluginState.STOPPED
        finally:
            if plugin.core is not None:
                plugin.core.detach()
            self.rpc_calls.close()
            self.connection.close()
            if self._tmp is not None:
                self._tmp.cleanup()

    def __enter__(self) -> FakeCore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def mock_rpc(self) -> MockRPCClient:
        """The scripted answers to the RPCs the plugin calls (set another one at any time: its
        ``default_timeout`` becomes the plugin's)."""
        return self._mock_rpc

    @mock_rpc.setter
    def mock_rpc(self, mock: MockRPCClient) -> None:
        self._mock_rpc = mock
        self.core.rpc_client.default_timeout = mock.default_timeout

    # -- the worker, on the test's thread -----------------------------------------------------------------

    @contextmanager
    def _bound(self) -> Iterator[None]:
        with plugin_context(self.core):
            yield

    def _on_worker(self, call: Callable[[], T]) -> T:
        """Run ``call`` as a hook: queued behind what is in the mailbox, run by :meth:`drain`; its result."""
        assert self.hosted.worker is not None
        future: Future[T] = self.hosted.worker.submit(call)
        self.drain()
        return future.result(timeout=0)

    def drain(self) -> int:
        """Run everything queued in the plugin's mailbox (messages, RPCs, hooks, jobs, connection callbacks), in
        order, on this thread, as its worker would; returns how many. Every other method calls it."""
        worker = self.hosted.worker
        if worker is None or self._draining:
            return 0
        take, count = worker.mailbox.take_nowait, 0
        self._draining = True
        try:
            with self._bound():
                while True:
                    try:
                        function, argument = take()
                    except IndexError:
                        return count
                    count += 1
                    try:
                        function(argument)
                    except Exception:  # deliveries handle their own errors; the worker's last line of defence
                        log.exception("plugin %s: unexpected error in its worker", self.hosted.name)
        finally:
            self._draining = False

    # -- what the test does -----------------------------------------------------------------------------

    def send(self, topic: str, message: ZMQMessage | dict[str, Any], *, sender: str = "testclient") -> None:
        """Deliver a message to the plugin's handlers as if ``sender`` published it (a model in openmodule's
        encoding, a dict as it is, with ``name`` and ``timestamp`` added where missing, as the test client does)
        and run them before returning."""
        if isinstance(message, ZMQMessage):
            data = message.model_dump()
            data["name"] = data.get("name") or sender
            body = dumps(data)
        else:
            body = orjson.dumps({"name": sender, "timestamp": time.time(), **message})
        self.send_raw(topic, body)

    def send_raw(self, topic: str, body: bytes) -> None:
        """Deliver a body as it would come off the wire (malformed ones are counted in ``intake.stats``)."""
        self._test_thread.sending = True
        try:
            self._outside.send(topic, body)
        finally:
            self._test_thread.sending = False
        self.drain()

    def rpc(
        self,
        channel: str,
        type: str,
        request: BaseModel | dict[str, Any] | None,
        *,
        resource: str | None = None,
        envelope: dict[str, Any] | None = None,
        sender: str = "testclient",
    ) -> dict[str, Any] | None:
        """Call one of the plugin's RPCs as an outside service; the reply envelope (a dict: its ``response``
        holds ``status``), or None when the plugin does not answer (a filter rejected it, an unknown type, another
        resource). ``envelope`` replaces fields of the request envelope."""
        data = request.model_dump(by_alias=True, exclude_none=True) if isinstance(request, BaseModel) else request
        body: dict[str, Any] = {"timestamp": time.time(), "name": sender, "type": type, "rpc_id": str(uuid.uuid4()),
                                "request": data}
        if resource is not None:
            body["resource"] = resource
        body.update(envelope or {})
        rpc_id = body.get("rpc_id")
        start = len(self.wire)
        self.send_raw(request_topic(channel), dumps({key: value for key, value in body.items() if value is not None}))
        topic = response_topic(channel)
        for wire_topic, reply in self.wire[start:]:
            if wire_topic == topic and reply.get("rpc_id") == rpc_id:
                return reply
        return None

    def call(self, channel: str, type: str, request: BaseModel | dict[str, Any] | None,
             response_class: type[Res], *, resource: str | None = None) -> Res:
        """:meth:`rpc`, read as the plugin's callers read it: the response as ``response_class``, or the
        ``rpc_client`` error for its status (``ServerValidationError``, ``ServerHandlerError``, ...);
        ``RPCTimeoutError`` when there is no reply."""
        reply = self.rpc(channel, type, request, resource=resource)
        if reply is None:
            raise RPCTimeoutError(f"plugin {self.hosted.name} did not answer RPC {channel}/{type}")
        return _parse(reply.get("response"), response_class)

    def published(self, topic: str | None = None) -> list[dict[str, Any]]:
        """What the plugin published (its RPC replies included), oldest first; only on ``topic`` if given."""
        self.drain()
        return [orjson.loads(body) for sent, body in self.publisher.sent
                if (topic is None or sent == topic) and not sent.startswith("__ping_")]

    def sent_alerts(self, **fields: Any) -> list[dict[str, Any]]:
        """The alerts the plugin sent (topic ``alert``) whose fields equal ``fields``."""
        return [body for body in self.published("alert") if all(body.get(k) == v for k, v in fields.items())]

    def set_connection_status(self, connected: ConnectionStatus | str,
                              bridge_status: BridgeStatus | str | None = None) -> None:
        """Publish ``connection_internal`` as the bridge does: the plugin's ``connection_listener`` changes and
        its ``on_connect``/``on_disconnect`` callbacks run before this returns. Also what ``connection``/
        ``status`` answers from now on."""
        message = ConnectionStatusMessage(connected=ConnectionStatus(connected),
                                          bridge_status=BridgeStatus(bridge_status) if bridge_status else None)
        self._connection = ConnectionRPCResponse(connected=message.connected, bridge_status=message.bridge_status)
        self.send("connection_internal", message, sender="om_bridge")

    def run_hook(self, hook: str, **arguments: Any) -> Any:
        """Call one of the plugin's hooks on its worker, as the host calls it (``core`` is passed for you), and
        return what it returns: ``run_hook("check_access", request=AccessCheckRequest(...))``,
        ``run_hook("health")``. ``ValueError`` for a name that is no hook of the contract."""
        assert self.hosted.manager is not None
        caller = getattr(self.hosted.manager.hook, hook, None)
        if caller is None or caller.spec is None:
            raise ValueError(f"{hook!r} is not a hook of the contract")
        if "core" in caller.spec.argnames:
            arguments = {"core": self.core, **arguments}
        return self._on_worker(lambda: caller(**arguments))

    def run_jobs(self, after: float = 0.0) -> int:
        """Run the plugin's scheduled jobs that are due ``after`` seconds from now, as the host's scheduler
        thread would queue them then; returns how many mailbox items ran."""
        self.scheduler.queue_due(datetime.now() + timedelta(seconds=after))
        return self.drain()

    # -- health -------------------------------------------------------------------------------------------

    def get_health(self, name: str | None = None, timeout: float = 3.0) -> dict[str, Any]:
        """Ping the plugin as ``healthz``/``ping`` does: its ``health`` hook runs, and its ``healthpong`` (a dict:
        ``pong.status``, ``pong.message``, ``checks``, ``metrics``) is returned. With ``name`` (its NAME, as
        :class:`~.client.TestClient.get_health` takes it) a fake core is a pong source for the health helpers
        (``assert_health_ok(fake, "my-plugin")``): another name gets ``AssertionError``, as no pong would come;
        ``timeout`` is not waited (the pong is made at once)."""
        if name is not None and name != self.name:
            raise AssertionError(f"no pong from {name!r}: this fake core runs {self.name!r} only")
        self.drain()
        start = len(self.publisher.sent)
        self.health_responder.answer()
        pongs = [orjson.loads(body) for topic, body in self.publisher.sent[start:] if topic == "healthpong"]
        if not pongs:
            raise AssertionError(f"plugin {self.hosted.name} sent no healthpong (state {self.hosted.state})")
        pong: dict[str, Any] = pongs[-1]
        return pong

    def assert_health_ok(self) -> dict[str, Any]:
        """The pong, after checking its status is ``ok`` (else ``AssertionError`` with the failing checks)."""
        pong = self.get_health()
        if pong["pong"]["status"] != "ok":
            raise AssertionError(f"health of {self.name} is {pong['pong']['status']}: {pong['pong'].get('message')!r}"
                                 f"; failing checks: {_failing(pong)}")
        return pong

    def assert_health_error(self, message: str | None = None) -> dict[str, Any]:
        """The pong, after checking its status is ``error`` (and its message is ``message``, if given)."""
        pong = self.get_health()
        status, said = pong["pong"]["status"], pong["pong"].get("message")
        if status != "error" or (message is not None and said != message):
            raise AssertionError(f"expected health error{f' {message!r}' if message is not None else ''} of "
                                 f"{self.name}, got {status} {said!r}")
        return pong

    def checks(self) -> dict[str, HealthCheck]:
        """The plugin's health checks by id, as its next pong reports them."""
        checks = (HealthCheck.model_validate(check) for check in self.get_health()["checks"] or [])
        return {check.id: check for check in checks}

    def metrics(self) -> dict[str, HealthMetric]:
        """The plugin's metrics by id, as its next pong reports them (``values`` keyed by label JSON)."""
        metrics = (HealthMetric.model_validate(metric) for metric in self.get_health()["metrics"] or [])
        return {metric.id: metric for metric in metrics}

    def metric_value(self, metric_id: str, **labels: Any) -> Any:
        """One metric's value for one label set (``compute_id`` added as the host adds it); None if unset."""
        metric = self.metrics()[metric_id]
        key = {str(k): str(v) for k, v in labels.items()}
        key.setdefault("compute_id", str(self.config.COMPUTE_ID))
        return metric.values.get(orjson.dumps(dict(sorted(key.items()))).decode())

    @property
    def stats(self) -> PluginStats:
        """The plugin's counters (``handled``, ``invalid``, ``handler_errors``, ``rpcs_failed``, ...)."""
        return self.hosted.stats

    # -- the PluginCore protocol, by delegation to the plugin's own core -----------------------------------

    @property
    def core(self) -> HostedCore:
        """The plugin's core, the one its hooks were given."""
        if self.hosted.core is None:
            raise RuntimeError(f"plugin {self.hosted.name} has no core: it failed to start")
        return self.hosted.core

    @property
    def name(self) -> str:
        return self.core.name

    @property
    def plugin(self) -> str:
        return self.core.plugin

    @property
    def config(self) -> PluginConfig:
        return self.core.config

    @property
    def log(self) -> logging.Logger:
        return self.core.log

    @property
    def messages(self) -> PluginMessages:
        return self.core.messages

    @property
    def rpc_server(self) -> PluginRPCServer:
        return self.core.rpc_server

    @property
    def rpc_client(self) -> PluginRPCClient:
        return self.core.rpc_client

    @property
    def health(self) -> PluginHealth:
        return self.core.health

    @property
    def alerts(self) -> PluginAlerts:
        return self.core.alerts

    @property
    def connection_listener(self) -> ConnectionStatusListener:
        return self.core.connection_listener

    @property
    def database(self) -> PluginDatabase:
        return self.core.database

    @property
    def scheduler(self) -> PluginScheduler:
        return self.core.scheduler

    def every(self, seconds: float, job: Callable[..., Any], *args: Any, **kwargs: Any) -> PluginJob:
        return self.core.every(seconds, job, *args, **kwargs)

    def publish(self, message: ZMQMessage, topic: str) -> None:
        """Publish as the plugin (what its handlers do), then run what that delivers to it."""
        self.core.publish(message, topic)
        self.drain()

    # -- the wire -----------------------------------------------------------------------------------------

    def _on_wire(self, topic: str, body: dict[str, Any]) -> None:
        """Every routed message: recorded; an RPC request nobody in here serves is answered by the script."""
        self.wire.append((topic, body))
        if not topic.startswith("rpc-req-") or getattr(self._test_thread, "sending", False):
            return
        channel, type_ = topic[len("rpc-req-"):], body.get("type")
        if not isinstance(type_, str):
            return
        rpc_id = body.get("rpc_id")

        def respond(reply: Reply) -> None:
            self._reply(channel, type_, rpc_id, reply)

        if self.mock_rpc.answer(channel, type_, body.get("request"), respond):
            return
        if (channel, type_) == ("connection", "status") and self._connection is not None:
            respond({"status": "ok", **self._connection.model_dump()})

    def _reply(self, channel: str, type: str, rpc_id: Any, response: Reply) -> None:
        envelope = {"timestamp": time.time(), "name": "mock_rpc", "type": type, "rpc_id": rpc_id,
                    "response": response}
        self._outside.send(response_topic(channel), dumps(envelope))


class _FakeStart:
    """The fake's way to run the start sequence: everything on the test's thread, unbounded; the migration in
    this process; ``register_handlers`` through the plugin's mailbox, drained at once."""

    def __init__(self, fake: FakeCore) -> None:
        self._fake = fake

    def bounded(self, call: Callable[[], T], what: str) -> T:
        return call()

    def migrate(self, versions: Path, target: DatabaseTarget) -> MigrationResult:
        return upgrade(versions, target)

    def on_worker(self, plugin: HostedPlugin, call: Callable[[], None]) -> None:
        self._fake.core.rpc_client.default_timeout = self._fake.mock_rpc.default_timeout
        self._fake._on_worker(call)


def _failing(pong: dict[str, Any]) -> list[str]:
    return [f"{check.get('id')}: {check.get('message')!r}" for check in pong.get("checks") or []
            if check.get("state") == "fail"]
