"""The fault matrix: one faulty plugin beside a healthy one, run through the real ``openmodule-host`` CLI.

Each case starts ``openmodule-host --plugins faulty,steady`` (the plugins in ``plugins/``, installed with
pip into a private folder) on a private broker with the fault chosen by ``OMH_FAULT=<fault>@<place>``,
provokes the fault, calls the healthy plugin's RPC for a few seconds while pinging, reads ``/healthz``,
then stops the host with SIGTERM and records what happened (:class:`CaseResult`). What the documentation
promises for each case is :func:`expected`; :func:`problems` compares the two.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zmq

from openmodule_host.config import HostConfig
from openmodule_host.host import stop_bound as host_stop_bound
from openmodule_host.testing import PrivateBroker, TestClient, free_tcp_address
from tests.support import HostProcess

PLUGINS = Path(__file__).with_name("plugins")
FAULTS = ("raise", "hang", "exit", "segfault", "memory", "spin", "nogil", "flood")
PLACES = ("import", "register_handlers", "handler", "rpc", "health", "check_access", "migration", "shutdown")
MODES = ("thread", "process")

#: the host's timeouts in every case: short, so that a hang costs seconds, not minutes.
HOST_SETTINGS = {
    "start_timeout": 3.0, "drain_timeout": 1.0, "shutdown_timeout": 1.0, "health_timeout": 0.5,
    "stall_after": 1.0, "migration_timeout": 10.0, "connect_timeout": 5.0, "restart_backoff": 0.5,
}
#: how long the healthy plugin is called (and both pinged) after the fault was provoked.
WINDOW = 3.0
#: a healthy plugin's RPC that gets no answer within this long counts as a failed call.
CALL_TIMEOUT = 1.0


def stop_bound(mode: str) -> float:
    """The documented stop bound (docs/operations.md "Stopping", the sum of the stop's stages) for two plugins
    with HOST_SETTINGS, with a child process in process mode, plus a second for the interpreter's own exit."""
    config = HostConfig(**HOST_SETTINGS)
    return host_stop_bound(config, 2, children=mode == "process", sentry_on=True) + 1


#: the longest a start may take: the child's start-up allowance (start + migration + connect) and margin.
START_BOUND = HOST_SETTINGS["start_timeout"] + HOST_SETTINGS["migration_timeout"] + HOST_SETTINGS[
    "connect_timeout"] + 10


# -- what the documentation promises ---------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The documented outcome of a case. ``states``: what /healthz may say of the faulty plugin after the
    fault; ``alert``: a ``plugin_state`` error alert must come (True), must not (False), or either (None)."""

    states: frozenset[str]
    alert: bool | None
    #: the case does not apply (why), e.g. an exit in thread mode ends the whole host by nature.
    not_applicable: str | None = None


_STARTING = ("import", "register_handlers", "migration")
_CALLS = ("handler", "rpc", "check_access")
_CRASHES = ("exit", "segfault")


def expected(fault: str, place: str, mode: str) -> Expected:
    def outcome(states: tuple[str, ...], alert: bool | None) -> Expected:
        return Expected(frozenset(states), alert)

    if fault in _CRASHES and mode == "thread" and place != "migration":
        return Expected(frozenset(), None, not_applicable="ends the whole process by nature: use process isolation")
    if fault == "flood" and place in ("import", "migration"):
        return Expected(frozenset(), None, not_applicable="no core to publish with there")
    if place == "shutdown" or fault == "memory":
        # the fault comes at stop, or costs only memory: the plugin runs on as if nothing happened
        return outcome(("running",), False)
    if place in _STARTING:
        if fault == "flood":  # floods for a while during register_handlers, then returns in time
            return outcome(("running",), False)
        return outcome(("failed",), True)
    if fault in _CRASHES:  # process mode: the child dies; degraded while it restarts, running again after
        return outcome(("degraded", "running"), True)
    if fault == "raise":
        if place == "health":  # the hook reports an error: degraded, with an alert
            return outcome(("degraded",), True)
        return outcome(("running",), False)  # the error is answered (RPC) or logged and counted (message)
    if fault == "flood":
        if place == "health":  # the hook does not return within health_timeout while it floods
            return outcome(("degraded", "running"), True)
        # (the healthy plugin's RPCs are answered; its p99 is in the table: issue 10 item 15 is about messages)
        return outcome(("running", "degraded"), None)
    # hang, spin (with or without the GIL) in a handler, an RPC, check_access or the health hook: degraded, with
    # an alert
    return outcome(("degraded",), True)


def cases() -> list[tuple[str, str, str]]:
    return [(fault, place, mode) for fault in FAULTS for place in PLACES for mode in MODES]


def representative() -> list[tuple[str, str, str]]:
    """Every fault once and every place once (the CI subset), each in the mode where it says most."""
    return [
        ("raise", "register_handlers", "thread"),
        ("raise", "health", "thread"),
        ("hang", "handler", "thread"),
        ("exit", "rpc", "process"),
        ("segfault", "check_access", "process"),
        ("segfault", "migration", "thread"),
        ("memory", "import", "thread"),
        ("spin", "shutdown", "thread"),
        ("nogil", "handler", "thread"),
        ("flood", "handler", "process"),
    ]


# -- running a case --------------------------------------------------------------------------------


@dataclass
class CaseResult:
    fault: str
    place: str
    mode: str
    ready: bool = False
    calls_sent: int = 0
    calls_answered: int = 0
    latencies: list[float] = field(default_factory=list)
    #: the faulty plugin's state in /healthz after the fault (None: no answer)
    state: str | None = None
    healthz_status: int | None = None
    #: its pongs during the window: "ok", "error", or "none" when it did not answer a ping
    pongs: list[str] = field(default_factory=list)
    alert: bool = False
    stop_seconds: float | None = None
    exit_code: int | None = None
    log_tail: str = ""

    @property
    def failed_calls(self) -> int:
        return self.calls_sent - self.calls_answered

    @property
    def p99_ms(self) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("latencies")
        data.pop("log_tail")
        return {**data, "failed_calls": self.failed_calls, "p99_ms": self.p99_ms}


def install_plugins(target: Path) -> dict[str, str]:
    """pip-install the fault plugins into ``target``; the env that puts them on a subprocess's path."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--target", str(target), *sorted(str(path) for path in PLUGINS.iterdir())],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not install the fault plugins: {result.stderr}")
    return {"PYTHONPATH": str(target)}


def _write_config(folder: Path, mode: str) -> Path:
    lines = ["[host]", *(f"{key} = {value}" for key, value in HOST_SETTINGS.items()),
             "", "[plugins.faulty]", f'ISOLATION = "{mode}"']
    path = folder / "host.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _lost_port_race(host: HostProcess) -> bool:
    """The HTTP port we picked was taken by another process before the host bound it (exit status 2)."""
    try:
        host.proc.wait(0.5)
    except subprocess.TimeoutExpired:
        return False
    host.stop()
    return host.proc.returncode == 2 and any("cannot serve HTTP" in line for line in host.stderr)


def _healthz(address: str) -> tuple[int | None, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=2) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())
    except OSError:
        return None, {}


def _provoke(client: TestClient, place: str) -> None:
    if place == "handler":
        client.publish("faulty", {"type": "poke"})
    elif place == "rpc":
        client.rpc_send("faulty", "poke", {})
    elif place == "check_access":
        client.rpc_send("access_service", "auth", {"name": "faulty", "vehicle": {"lpr": {"id": "G ARIVO 1"}}})
    # health: the pings during the window; shutdown: the stop; the others happened at start


def _pong_of(client: TestClient) -> str:
    try:
        pong = client.get_health("faulty", timeout=0.5)
    except AssertionError:
        return "none"
    return str(pong.get("pong", {}).get("status"))


def run_case(fault: str, place: str, mode: str, plugins_env: dict[str, str]) -> CaseResult:
    result = CaseResult(fault, place, mode)
    broker = PrivateBroker()
    context = zmq.Context()
    client = TestClient(context, broker.sub_address, broker.pub_address)
    client.subscribe("alert")
    http = free_tcp_address().removeprefix("tcp://")
    try:
        with tempfile.TemporaryDirectory(prefix="omh-fault-") as folder:
            config = _write_config(Path(folder), mode)
            env = {**broker.env, **plugins_env, "OMH_FAULT": f"{fault}@{place}"}
            for _attempt in range(3):
                host = HostProcess(["--plugins", "faulty,steady", "--broker", "external", "--config", str(config),
                                    "--http", http], env)
                if not _lost_port_race(host):
                    break
                http = free_tcp_address().removeprefix("tcp://")
            try:
                _exercise(host, client, result, place, http)
            finally:
                started = time.monotonic()
                try:
                    result.exit_code = host.stop(signal.SIGTERM, timeout=stop_bound(mode) + 10)
                    result.stop_seconds = time.monotonic() - started
                except subprocess.TimeoutExpired:
                    result.exit_code = None  # killed after the timeout: did not stop
                result.log_tail = "\n".join(host.stderr[-30:])
            result.alert = any(alert.get("source") == "faulty" and alert.get("status") == "error"
                               for alert in client.received("alert"))
    finally:
        client.close()
        context.destroy(linger=0)
        broker.close()
    return result


def _exercise(host: HostProcess, client: TestClient, result: CaseResult, place: str, http: str) -> None:
    try:
        host.wait_ready(START_BOUND)
    except AssertionError:
        return
    result.ready = True
    client.sync()
    _provoke(client, place)
    end = time.monotonic() + WINDOW
    next_ping = time.monotonic()
    n = 0
    while time.monotonic() < end:
        if time.monotonic() >= next_ping:
            result.pongs.append(_pong_of(client))
            next_ping = time.monotonic() + 0.5
        n += 1
        result.calls_sent += 1
        started = time.monotonic()
        try:
            reply = client.rpc("steady", "echo", {"n": n}, timeout=CALL_TIMEOUT)
        except AssertionError:
            continue
        response = reply.get("response") or {}
        if response.get("n") == n and response.get("status") == "ok":
            result.calls_answered += 1
            result.latencies.append(time.monotonic() - started)
        time.sleep(0.01)
    result.pongs.append(_pong_of(client))  # the alert of a degraded plugin goes out with the host's pong
    result.healthz_status, document = _healthz(http)
    result.state = document.get("plugins", {}).get("faulty", {}).get("state")


def problems(result: CaseResult, expectation: Expected) -> list[str]:
    """How the case departs from the documented behaviour (empty: as documented)."""
    found = []
    if not result.ready:
        found.append("the host never became ready")
    if result.failed_calls:
        found.append(f"the healthy plugin missed {result.failed_calls} of {result.calls_sent} calls")
    if result.ready and result.state not in expectation.states:
        found.append(f"the faulty plugin is {result.state!r}, documented: {sorted(expectation.states)}")
    if expectation.alert is not None and result.alert != expectation.alert:
        found.append("no plugin_state alert came" if expectation.alert else "an unexpected plugin_state alert came")
    if result.exit_code != 0:
        found.append(f"exit code {result.exit_code}")
    if result.stop_seconds is None or result.stop_seconds > stop_bound(result.mode):
        found.append(f"stop took {result.stop_seconds} s, bound {stop_bound(result.mode):.1f} s")
    return found
