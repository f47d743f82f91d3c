"""The host under fuzz: real plugins on a private broker, a raw PUB socket for hostile frames, and the
checks that it still serves every plugin after each batch."""

from __future__ import annotations

import logging
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psutil
import zmq
from openmodule_hookspecs import Datetime, OpenModuleModel, ZMQMessage, hookimpl

from openmodule_host import Host
from openmodule_host.testing import PrivateBroker, TestClient, free_tcp_address, start_host
from tests.support.rpc_plugins import Lookup

from .frames import Batch
from .toolkit import ToolkitChecker, ToolkitPlugin

#: every check after a batch waits at most this long for its answer.
ANSWER_TIMEOUT = 5.0


class ProbeMessage(ZMQMessage):
    """Topic ``probe``: a field of every kind the wire models use, for the wrong-types kinds to hit."""

    type: str = "probe"
    n: int
    ratio: float = 0.0
    flag: bool = False
    text: str = ""
    tags: list[str] = []
    extra: dict[str, Any] = {}
    when: Datetime | None = None
    inner: dict[str, str] | None = None


class EchoRequest(OpenModuleModel):
    n: int
    text: str = ""


class Probe:
    """A plugin on every hook a hostile frame can reach: a message handler, an RPC, the connection status
    listener, ``check_in``/``check_out`` (topic ``count``), ``anonymize`` (topic ``privacy``), ``health``, and
    an RPC call of its own (so the host subscribes a reply topic, ``rpc-rep-backend_status``)."""

    core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.messages.register_handler("probe", ProbeMessage, lambda message: None)
        core.rpc_server.register_handler("probe", "echo", EchoRequest, EchoRequest,
                                         lambda request, message: EchoRequest(n=request.n))
        core.connection_listener.on_connect.append(lambda status: None)
        core.connection_listener.on_disconnect.append(lambda status: None)
        # a call nobody answers: the host subscribes its reply topic, and the fuzzer sends replies there too
        core.rpc_client.rpc_non_blocking("backend_status", "get", {}, timeout=0.1)

    @hookimpl
    def check_in(self, core: Any, message: Any) -> None:
        pass

    @hookimpl
    def check_out(self, core: Any, message: Any) -> None:
        pass

    @hookimpl
    def anonymize(self, core: Any, message: Any) -> None:
        pass

    @hookimpl
    def health(self, core: Any) -> None:
        return None


class LogBytes(logging.Handler):
    """Counts the bytes of every log line the host and its plugins write."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bytes = 0
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        self.bytes += len(self.format(record)) + 1


@dataclass
class FuzzReport:
    frames: int = 0
    batches: int = 0
    failures: list[str] = field(default_factory=list)
    rss_start: int = 0
    rss_end: int = 0
    log_bytes: int = 0
    log_lines: int = 0
    intake_received: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        per_frame = self.log_bytes / self.frames if self.frames else 0.0
        return [
            f"frames tried: {self.frames} in {self.batches} batches ({self.seconds:.1f} s); "
            f"messages received by the intake: {self.intake_received}",
            f"failures (batches after which the host did not answer as it must): {len(self.failures)}",
            *(f"  - {failure}" for failure in self.failures[:20]),
            f"RSS: {self.rss_start / 2**20:.1f} MiB -> {self.rss_end / 2**20:.1f} MiB "
            f"(growth {(self.rss_end - self.rss_start) / 2**20:+.1f} MiB; host and fuzzer share the process)",
            f"log: {self.log_bytes} bytes in {self.log_lines} lines, {per_frame:.1f} bytes per bad frame",
        ]


class FuzzTarget:
    """A host with hello, backend_x (an access service with a database), an RPC server (lookup), the probe
    plugin and the toolkit plugin (:mod:`.toolkit`), on a private broker, with the HTTP endpoint on; plus the
    fuzzer's raw PUB socket."""

    PLUGINS = ("hello", "backend_x", "lookup", "probe", "toolkit")

    def __init__(self, report: FuzzReport, plugins: tuple[str, ...] = PLUGINS) -> None:
        self.report = report
        self.plugins = plugins
        available: dict[str, Any] = {"hello": "hello", "backend_x": "backend_x", "lookup": ("lookup", Lookup()),
                                     "probe": ("probe", Probe())}
        self.toolkit = ToolkitPlugin()
        available["toolkit"] = ("toolkit", self.toolkit)
        self.toolkit_checker = ToolkitChecker(self.toolkit)
        self._data = tempfile.TemporaryDirectory(prefix="omh-fuzz-")
        self.broker = PrivateBroker()
        self.context = zmq.Context()
        self.client = TestClient(self.context, self.broker.sub_address, self.broker.pub_address)
        self.http = free_tcp_address().removeprefix("tcp://")
        self.host: Host = start_host(
            self.broker, [available[name] for name in plugins],
            config={"backend_x": {"whitelist": ["G ARIVO 1"]}},
            data_dir=self._data.name, dsgvo=False, http=self.http, mailbox_size=1000,
            # the probe's reply topic stays subscribed for a long run too (an idle channel is released after
            # rpc_channel_idle), so that the fuzzer reaches an rpc-rep-* topic all along
            rpc_channel_idle=24 * 3600,
        )
        assert self.host.rpc_client is not None
        self.host.rpc_client.default_timeout = 0.2  # nobody answers connection/status here
        self.client.sync()
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 0)  # the fuzzer itself must not drop what it claims to send
        self.pub.connect(self.broker.sub_address)
        self._handshake()
        self.log = LogBytes()
        logging.getLogger().addHandler(self.log)
        self._process = psutil.Process()

    def _handshake(self, timeout: float = 10.0) -> None:
        """Wait until our PUB has the host's subscriptions: one of its messages must come back to the client
        (the broker forwards subscriptions in order, so the client's, sent last, arrive last)."""
        topic = f"_fuzz_{time.monotonic_ns()}"
        self.client.subscribe(topic)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pub.send_multipart((topic.encode(), b'{"type":"connection-check"}'))
            try:
                self.client.wait_for_message(topic, timeout=0.05)
                return
            except AssertionError:
                continue
        raise TimeoutError("the fuzzer's PUB socket did not reach the broker")

    @property
    def topics(self) -> list[str]:
        """Every topic the host subscribes to right now (its plugins', the health, RPC and status topics)."""
        assert self.host.intake is not None
        return [topic for topic in self.host.intake.topics if not topic.startswith("__ping_")]

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def send(self, batch: Batch) -> None:
        for frames in batch:
            self.pub.send_multipart(frames)
        self.report.frames += len(batch)
        self.report.batches += 1

    def check_alive(self, timeout: float = ANSWER_TIMEOUT) -> list[str]:
        """What the host no longer does: an RPC of each RPC-serving plugin, hello's reply, a pong from every
        plugin and the host, ``/healthz`` 200. Empty when all is well."""
        problems = []
        client = self.client
        calls = (("lookup", "plates", "lookup", {"plate": "G1"}, "known"),
                 ("probe", "probe", "echo", {"n": 7}, "n"),
                 ("backend_x", "access_service", "auth", {"name": "backend_x", "vehicle": {"lpr": {"id": "G1"}}},
                  "success"),
                 ("toolkit", "access_service", "auth", {"name": "toolkit", "vehicle": {"lpr": {"id": "G1"}}},
                  "success"))
        for plugin, channel, rpc_type, request, key in calls:
            if plugin not in self.plugins:
                continue
            try:
                reply = client.rpc(channel, rpc_type, request, timeout=timeout)
            except AssertionError:
                problems.append(f"no answer to RPC {channel}/{rpc_type}")
                continue
            response = reply.get("response") or {}
            if response.get("status") != "ok" or key not in response:
                problems.append(f"RPC {channel}/{rpc_type} answered {response!r}")
        if "toolkit" in self.plugins:
            problems += self.toolkit_checker.check(client, timeout)
        if "hello" in self.plugins:
            client.subscribe("hello_reply")
            text = f"fuzz-{time.monotonic_ns()}"
            client.publish("hello", {"type": "hello", "text": text})
            try:
                client.wait_for_message("hello_reply", lambda body: text in body.get("reply", ""), timeout)
            except AssertionError:
                problems.append("hello did not reply")
        for name in (*self.plugins, self.host.config.name):
            try:
                pong = client.get_health(name, timeout=timeout)
            except AssertionError:
                problems.append(f"no pong from {name}")
                continue
            if pong.get("pong", {}).get("status") != "ok":
                problems.append(f"{name} answers {pong.get('pong')!r}")
        status = _get_status(f"http://{self.http}/healthz")
        if status != 200:
            problems.append(f"/healthz answered {status}")
        self._drain()
        return problems

    def _drain(self) -> None:
        """Take what the fuzzed frames made the plugins send (replies, pongs), so that the client's inbox does
        not grow and the RSS figure is the host's."""
        for topic in ("hello_reply", "healthpong", "rpc-rep-plates", "rpc-rep-probe", "rpc-rep-access_service",
                      "rpc-rep-kv_sync", "rpc-rep-validation_provider", "rpc-rep-toolkit"):
            while True:
                try:
                    self.client.wait_for_message(topic, timeout=0)
                except (AssertionError, ValueError):  # none left, or never subscribed
                    break

    def close(self) -> None:
        logging.getLogger().removeHandler(self.log)
        assert self.host.intake is not None
        self.report.intake_received += self.host.intake.stats.received
        self.host.stop()
        self.pub.close()
        self.client.close()
        self.context.destroy(linger=0)
        self.broker.close()
        self._data.cleanup()


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=ANSWER_TIMEOUT) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None
