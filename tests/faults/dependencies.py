"""The toolkit's dependencies failing: a plugin that reads settings, follows signals and keeps a KV store in
sync with the cloud, beside a healthy plugin, on a private broker with real SQLite files.

Each case breaks one dependency (the settings service down, slow or erroring; the cloud's ``server_rpc``
hanging or erroring during a KV sync; the database failing during a KV ``set``; the signal service not
answering ``get_value``), makes the dependent plugin use it, calls the healthy plugin's RPC meanwhile, then
brings the dependency back and checks that the dependent plugin works again. :func:`run_case` records what
happened (:class:`DependencyResult`); :data:`EXPECTED` is what docs/operations.md promises for each case.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from openmodule_hookspecs import OpenModuleModel, PluginCore, RPCRequest, hookimpl, response_topic
from sqlalchemy import select

from openmodule_host import Host
from openmodule_host.testing import KVSyncCloud, PrivateBroker, SettingsMock, TestClient, start_host
from openmodule_host.utils import KVStoreHandler, SettingsProvider, SignalListener
from tests.support.kv_plugins import MIGRATIONS, Whitelist, WhitelistStore

DEPENDENT, STEADY = "dependent", "steady"
GATES = {"entry": {"gate": "entry", "name": "Entry", "type": "entry"}}
#: the dependent plugin's timeouts: short, so that a case costs seconds.
SETTINGS_TIMEOUT = 1.0
SYNC_TIMEOUT = 4.0
CALL_TIMEOUT = 5.0


class Ask(OpenModuleModel):
    name: str = ""


class Answer(OpenModuleModel):
    value: Any = None


class Dependent:
    """Reads ``common/gates`` (``dependent``/``setting``), a signal's value (``dependent``/``signal``), and keeps
    a KV store synced with the cloud (the handler started, ``sync_timeout`` :data:`SYNC_TIMEOUT`)."""

    def __init__(self) -> None:
        self.core: PluginCore | None = None
        self.settings: SettingsProvider | None = None
        self.signals: SignalListener | None = None
        self.kv: KVStoreHandler | None = None

    @hookimpl
    def database_migrations(self) -> Path:
        return MIGRATIONS

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        self.core = core
        self.settings = SettingsProvider(expire_time=0.0, rpc_timeout=SETTINGS_TIMEOUT, core=core)
        self.signals = SignalListener(core.messages, core.rpc_client)
        self.kv = KVStoreHandler(core.database, core.rpc_client, WhitelistStore, sync_timeout=SYNC_TIMEOUT)
        self.kv.register_rpcs(core.rpc_server)
        self.kv.start()
        core.rpc_server.register_handler(DEPENDENT, "setting", Ask, Answer, self._setting)
        core.rpc_server.register_handler(DEPENDENT, "signal", Ask, Answer, self._signal)

    @hookimpl
    def shutdown(self, core: PluginCore) -> None:
        assert self.kv is not None
        self.kv.shutdown()

    def _setting(self, _request: Ask, _message: RPCRequest) -> Answer:
        assert self.settings is not None
        gates = self.settings.get("common/gates")
        return Answer(value=sorted(gates) if gates is not None else None)

    def _signal(self, request: Ask, _message: RPCRequest) -> Answer:
        assert self.signals is not None
        return Answer(value=self.signals.get_value(request.name))

    def plates(self) -> dict[str, str]:
        assert self.core is not None
        with self.core.database() as session:
            return {row.key: row.plate for row in session.scalars(select(Whitelist))}

    def database_file(self) -> str:
        assert self.core is not None
        return str(self.core.database.engine.url.database)


class Echo(OpenModuleModel):
    n: int


class Steady:
    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        core.rpc_server.register_handler(STEADY, "echo", Echo, Echo, lambda request, _message: Echo(n=request.n))


# -- what a case records ----------------------------------------------------------------------------


@dataclass
class DependencyResult:
    case: str
    #: what the dependent plugin's caller got while the dependency was broken, and after it came back
    during: str = "-"
    after: str = "-"
    recovered: bool = False
    #: the KV rows were never other than a complete sync left them (no half-applied set, nothing lost)
    data_intact: bool = True
    #: the dependent plugin's ERROR/WARNING lines while broken (first one, and how many)
    log_first: str = "-"
    log_lines: int = 0
    state: str = "-"
    steady_sent: int = 0
    steady_answered: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def steady_failed(self) -> int:
        return self.steady_sent - self.steady_answered


@dataclass(frozen=True)
class Expected:
    """The documented outcome: ``during`` (a prefix of what the caller got) and the log line's prefix."""

    during: str
    log: str


#: what docs/operations.md ("Dependencies of the toolkit") promises for each case.
_RAISED = "plugin dependent: RPC handler dependent:setting raised"
EXPECTED: dict[str, Expected] = {
    "settings-down": Expected("handler_error: no reply to RPC settings/get within 1 s", _RAISED),
    "settings-slow": Expected("handler_error: no reply to RPC settings/get within 1 s", _RAISED),
    "settings-erroring": Expected("handler_error: KeyError: 'gates'", _RAISED),
    "settings-no-value": Expected("ok: None", "settings RPC for common/gates/ failed: database offline"),
    "cloud-hanging": Expected("ok: set and sync served while the sync waits", "timeout syncing kvs"),
    "cloud-erroring": Expected("ok: set and sync served while the sync waits", "error on the server side in sync"),
    "database-failing": Expected("handler_error: IntegrityError", "plugin dependent: RPC handler kv_sync:set raised"),
    "signal-silent": Expected("ok: False", "Error while getting signal value. Assuming False."),
}


class _Lines(logging.Handler):
    """The WARNING and ERROR lines of the dependent plugin's loggers (and of its toolkit objects)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in (DEPENDENT, "SignalListener") or record.name.startswith(f"{DEPENDENT}."):
            self.lines.append(record.getMessage().splitlines()[0])


@dataclass
class _Env:
    broker: PrivateBroker
    host: Host
    client: TestClient
    settings: SettingsMock
    cloud: KVSyncCloud
    dependent: Dependent
    lines: _Lines

    def call(self, rpc_type: str, request: dict[str, Any], timeout: float = CALL_TIMEOUT) -> str:
        """The dependent plugin's answer, as ``status: value`` (``handler_error: <the exception's first words>``)."""
        try:
            response = self.client.rpc(DEPENDENT, rpc_type, request, timeout=timeout)["response"]
        except AssertionError:
            return "no reply"
        return _summary(response)

    def state(self) -> str:
        return str(self.host.plugins[DEPENDENT].state)


def _summary(response: dict[str, Any]) -> str:
    status = response.get("status")
    if status == "ok":
        return f"ok: {response.get('value')}"
    exception = str(response.get("exception") or response.get("error") or "").strip()
    return f"{status}: {exception.splitlines()[0][:80]}" if exception else str(status)


@contextmanager
def _environment() -> Iterator[_Env]:
    broker = PrivateBroker()
    context = zmq.Context()
    client = TestClient(context, broker.sub_address, broker.pub_address)
    settings = SettingsMock(broker.sub_address, broker.pub_address, {"common/gates": GATES})
    lines = _Lines()
    logging.getLogger().addHandler(lines)
    dependent = Dependent()
    folder = tempfile.TemporaryDirectory(prefix="omh-dependency-")
    host = start_host(broker, [(DEPENDENT, dependent), (STEADY, Steady())],
                      config={DEPENDENT: {"TESTING": True}}, data_dir=folder.name, dsgvo=False)
    try:
        client.sync()
        env = _Env(broker, host, client, settings, KVSyncCloud(client), dependent, lines)
        # the KV handler's first look at the connection asks connection/status, which nobody answers here:
        # the worker waits for that once (3 s); a first call through it waits until that is over
        if env.call("setting", {}, timeout=30) != "ok: ['entry']":
            raise RuntimeError("the dependent plugin does not answer with its dependencies up")
        yield env
    finally:
        host.stop()
        logging.getLogger().removeHandler(lines)
        settings.close()
        client.close()
        context.destroy(linger=0)
        broker.close()
        folder.cleanup()


class _SteadyCaller:
    """Calls the healthy plugin's RPC on a thread of its own (its own client) while a case runs."""

    def __init__(self, broker_env: _Env) -> None:
        self._env = broker_env
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.sent = 0
        self.answered = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(15)

    def _run(self) -> None:
        context = zmq.Context()
        client = TestClient(context, self._env.broker.sub_address, self._env.broker.pub_address)
        try:
            client.sync()
            self._ready.set()
            n = 0
            while not self._stop.is_set():
                n += 1
                self.sent += 1
                try:
                    if client.rpc(STEADY, "echo", {"n": n}, timeout=1.0)["response"].get("n") == n:
                        self.answered += 1
                except AssertionError:
                    pass
                time.sleep(0.02)
        finally:
            client.close()
            context.destroy(linger=0)

    def stop(self) -> tuple[int, int]:
        deadline = time.monotonic() + 10
        while self.sent < 10 and time.monotonic() < deadline:  # a quick case still sees a few calls
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(10)
        return self.sent, self.answered


# -- the cases --------------------------------------------------------------------------------------


def _settings_down(env: _Env, result: DependencyResult) -> None:
    env.settings.answering = False
    result.during = env.call("setting", {})
    env.settings.answering = True
    result.after = env.call("setting", {})


def _settings_slow(env: _Env, result: DependencyResult) -> None:
    """The settings service answers, but only after the provider's ``rpc_timeout``: the late answer is dropped."""
    env.settings.answering = False
    client = env.client
    client.subscribe("rpc-req-settings")
    rpc_id = client.rpc_send(DEPENDENT, "setting", {})
    request = client.wait_for_message("rpc-req-settings", lambda body: body.get("type") == "get", CALL_TIMEOUT)
    time.sleep(SETTINGS_TIMEOUT + 0.5)
    client.publish(response_topic("settings"), {"type": "get", "rpc_id": request["rpc_id"],
                                                "response": {"status": "ok", "success": True, "value": GATES}})
    reply = client.wait_for_message(f"rpc-rep-{DEPENDENT}", lambda body: body.get("rpc_id") == rpc_id, CALL_TIMEOUT)
    result.during = _summary(reply["response"])
    env.settings.answering = True
    result.after = env.call("setting", {})


def _settings_erroring(env: _Env, result: DependencyResult) -> None:
    env.settings.handler_error = "KeyError: 'gates'"
    result.during = env.call("setting", {})
    env.settings.handler_error = None
    result.after = env.call("setting", {})


def _settings_no_value(env: _Env, result: DependencyResult) -> None:
    env.settings.error = "database offline"
    result.during = env.call("setting", {})
    env.settings.error = None
    result.after = env.call("setting", {})


SERVICE = DEPENDENT


def _first_sync(env: _Env) -> None:
    env.cloud.put(SERVICE, "acc-1", {"plate": "GARIVO1"})
    env.client.set_connection_status("online")
    env.cloud.serve_sync_request(timeout=15)


def _cloud_broken(env: _Env, result: DependencyResult, answer: Callable[[dict[str, Any]], None]) -> None:
    """A reconnect asks for a sync; the cloud breaks it (``answer``). Meanwhile the cloud's own ``kv_sync`` calls
    are served (the worker does not wait for the sync). The handler asks again ``sync_timeout`` after it sent."""
    _first_sync(env)
    env.client.set_connection_status("offline")
    env.cloud.put(SERVICE, "acc-2", {"plate": "GARIVO2"})
    env.client.set_connection_status("online")
    request = env.cloud.wait_for_sync_request(timeout=15)
    try:
        env.cloud.sync(SERVICE)  # served while the device waits for server_rpc's answer
        result.during = "ok: set and sync served while the sync waits"
    except AssertionError as error:
        result.during = f"not served: {error}"
    answer(request)
    env.cloud.put(SERVICE, "acc-3", {"plate": "GARIVO3"})
    started = time.monotonic()
    env.cloud.serve_sync_request(timeout=SYNC_TIMEOUT * 3)  # the retry
    result.notes.append(f"asked again after {time.monotonic() - started:.1f} s")
    plates = env.dependent.plates()
    result.recovered = plates == {"acc-1": "GARIVO1", "acc-2": "GARIVO2", "acc-3": "GARIVO3"}
    result.after = f"ok: synced {sorted(plates)}" if result.recovered else f"rows {plates}"


def _cloud_hanging(env: _Env, result: DependencyResult) -> None:
    _cloud_broken(env, result, lambda request: None)


def _cloud_erroring(env: _Env, result: DependencyResult) -> None:
    _cloud_broken(env, result, lambda request: env.cloud.answer(
        request, {"status": "error", "error": "internal server error"}))


def _database_failing(env: _Env, result: DependencyResult) -> None:
    """The database refuses the writes of a ``set`` (a trigger of its own: what a full disk or a failing
    device does to an INSERT), after the set deleted the key's old row: the old row must survive."""
    _first_sync(env)
    path = env.dependent.database_file()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TRIGGER fault BEFORE INSERT ON whitelist "
                           "BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END")
    env.cloud.put(SERVICE, "acc-1", {"plate": "GNEW1"})
    env.cloud.put(SERVICE, "acc-2", {"plate": "GARIVO2"})
    try:
        env.cloud.sync(SERVICE)
        result.during = "ok"
    except AssertionError as error:
        text = str(error)
        result.during = "handler_error: IntegrityError" if "IntegrityError" in text and "injected" in text else text
    result.data_intact = env.dependent.plates() == {"acc-1": "GARIVO1"}
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TRIGGER fault")
    env.cloud.sync(SERVICE)
    plates = env.dependent.plates()
    result.recovered = plates == {"acc-1": "GNEW1", "acc-2": "GARIVO2"}
    result.after = f"ok: {plates}"


def _signal_silent(env: _Env, result: DependencyResult) -> None:
    """Nobody serves ``signal``/``get_value``: false, kept until the signal's next message (openmodule's)."""
    result.during = env.call("signal", {"name": "gate_open"})
    env.client.publish("signal", {"type": "open", "signal": "gate_open", "value": True})
    deadline = time.monotonic() + CALL_TIMEOUT  # (until the message reached the listener, however loaded the machine)
    while (after := env.call("signal", {"name": "gate_open"})) != _AFTER["signal-silent"] \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    result.after = after


CASES: dict[str, Callable[[_Env, DependencyResult], None]] = {
    "settings-down": _settings_down,
    "settings-slow": _settings_slow,
    "settings-erroring": _settings_erroring,
    "settings-no-value": _settings_no_value,
    "cloud-hanging": _cloud_hanging,
    "cloud-erroring": _cloud_erroring,
    "database-failing": _database_failing,
    "signal-silent": _signal_silent,
}
#: what the dependent plugin answers once the dependency is back.
_AFTER = {"signal-silent": "ok: True"}


def run_case(case: str) -> DependencyResult:
    result = DependencyResult(case)
    with _environment() as env:
        caller = _SteadyCaller(env)
        try:
            before = len(env.lines.lines)
            CASES[case](env, result)
            broken_lines = env.lines.lines[before:]
            result.log_lines = len(broken_lines)
            result.log_first = broken_lines[0] if broken_lines else "-"
            result.state = env.state()
            if case.startswith("settings"):
                result.recovered = result.after == "ok: ['entry']"
            elif case in _AFTER:
                result.recovered = result.after == _AFTER[case]
        finally:
            result.steady_sent, result.steady_answered = caller.stop()
    return result


def problems(result: DependencyResult) -> list[str]:
    """How the case departs from the documentation (empty: as documented)."""
    expected = EXPECTED[result.case]
    found = []
    if not result.during.startswith(expected.during):
        found.append(f"while broken the caller got {result.during!r}, documented {expected.during!r}")
    if not any(line.startswith(expected.log) for line in [result.log_first]):
        found.append(f"logged {result.log_first!r}, documented {expected.log!r}")
    if not result.recovered:
        found.append(f"did not recover: {result.after!r}")
    if not result.data_intact:
        found.append("KV rows were lost or half-written")
    if result.state != "running":
        found.append(f"the dependent plugin is {result.state}")
    if result.steady_failed or not result.steady_sent:
        found.append(f"the healthy plugin missed {result.steady_failed} of {result.steady_sent} calls")
    return found


HEADER = ("| dependency fault | dependent's caller, while broken | first log line (count) | dependent plugin "
          "| after it is back | KV rows intact | healthy: failed calls / sent | as documented |")


def row(result: DependencyResult) -> str:
    found = problems(result)
    log = f"`{result.log_first[:70]}` ({result.log_lines})"
    return (f"| {result.case} | {result.during} | {log} | {result.state} | {result.after} "
            f"| {'yes' if result.data_intact else 'no'} | {result.steady_failed} / {result.steady_sent} "
            f"| {'yes' if not found else '; '.join(found)} |")
