"""The test side of a real openmodule 18.5.0 service (``peers/openmodule_service.py``).

The service runs under the interpreter of ``.venv-openmodule`` (env ``OPENMODULE_PYTHON``), never in the
test process: openmodule is GPLv2 and is not imported here. :class:`OpenModulePeer` starts it, sends it
commands as JSON lines and waits for the events it prints; see the script's docstring for the protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "SERVICE10_SCRIPT",
    "SERVICE_SCRIPT",
    "Event",
    "OpenModuleEnvMissing",
    "OpenModulePeer",
    "openmodule10_python",
    "openmodule_python",
]

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OPENMODULE_PYTHON = _ROOT / ".venv-openmodule" / "bin" / "python"
SERVICE_SCRIPT = Path(__file__).resolve().with_name("peers") / "openmodule_service.py"
DEFAULT_OPENMODULE10_PYTHON = _ROOT / ".venv-openmodule10" / "bin" / "python"
#: the V2-era peer (openmodule 10.0.7), see its docstring for its commands.
SERVICE10_SCRIPT = Path(__file__).resolve().with_name("peers") / "openmodule10_service.py"

_STDERR_TAIL = 60


class OpenModuleEnvMissing(AssertionError):
    """The openmodule interpreter is not there: a failure, never a skip."""


def openmodule_python() -> Path:
    """The interpreter that has ``openmodule==18.5.0``; raises :class:`OpenModuleEnvMissing` without one."""
    python = Path(os.environ.get("OPENMODULE_PYTHON") or DEFAULT_OPENMODULE_PYTHON)
    if not (python.is_file() and os.access(python, os.X_OK)):
        raise OpenModuleEnvMissing(
            f"the openmodule 18.5.0 interpreter {python} does not exist: run `make openmodule-env` in {_ROOT} "
            f"(or point OPENMODULE_PYTHON at a python with openmodule==18.5.0)"
        )
    return python


def openmodule10_python() -> Path:
    """The interpreter that has ``openmodule==10.0.7``; raises :class:`OpenModuleEnvMissing` without one."""
    python = Path(os.environ.get("OPENMODULE10_PYTHON") or DEFAULT_OPENMODULE10_PYTHON)
    if not (python.is_file() and os.access(python, os.X_OK)):
        raise OpenModuleEnvMissing(
            f"the openmodule 10.0.7 interpreter {python} does not exist: run `make openmodule10-env` in {_ROOT} "
            f"(or point OPENMODULE10_PYTHON at a python with openmodule==10.0.7)"
        )
    return python


class OpenModulePeer:
    """A standalone openmodule service named ``name`` on the broker at ``broker_sub``/``broker_pub``: by
    default ``peers/openmodule_service.py`` under openmodule 18.5.0; ``legacy=True`` runs
    ``peers/openmodule10_service.py`` under openmodule 10.0.7 instead (its own commands, same events); ``script``
    runs another 18.5.0 script that extends the service with commands of its own (e.g.
    ``peers/openmodule_settings.py``, ``peers/openmodule_kvstore.py``)."""

    def __init__(
        self, name: str, broker_sub: str, broker_pub: str, *, env: Mapping[str, str] | None = None,
        legacy: bool = False, script: Path | None = None,
    ) -> None:
        self.name = name
        self.events: list[Event] = []  # everything received, for failure messages
        self.stderr: list[str] = []
        self.noise: list[str] = []  # stdout lines that are not events (there should be none)
        self._pending: list[Event] = []  # received and not yet taken by a wait
        self._changed = threading.Condition()
        self._stdout_done = False
        self._rpc_calls = 0
        self.proc = subprocess.Popen(
            [str(openmodule10_python()), str(SERVICE10_SCRIPT)] if legacy
            else [str(openmodule_python()), str(script or SERVICE_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env={**os.environ, **(env or {}), "NAME": name, "BROKER_SUB": broker_sub, "BROKER_PUB": broker_pub},
        )
        self._pumps = [
            threading.Thread(target=self._pump_events, name=f"peer-{name}-stdout", daemon=True),
            threading.Thread(target=self._pump_stderr, name=f"peer-{name}-stderr", daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    # -- output pumps ----------------------------------------------------------------------------------

    def _pump_events(self) -> None:
        try:
            for line in self.proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
                with self._changed:
                    if isinstance(event, dict) and "event" in event:
                        self.events.append(event)
                        self._pending.append(event)
                    else:
                        self.noise.append(line.rstrip("\n"))
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._stdout_done = True
                self._changed.notify_all()

    def _pump_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    # -- waiting ---------------------------------------------------------------------------------------

    def wait_for_event(self, predicate: Predicate, timeout: float = 3.0, what: str = "a matching event") -> Event:
        """The first not yet taken event that matches ``predicate`` (received already or within ``timeout``
        seconds); it is taken. Fails with the service's events and stderr on timeout or exit."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, event in enumerate(self._pending):
                    if predicate(event):
                        del self._pending[index]
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stdout_done:
                    break
                self._changed.wait(remaining)
        raise AssertionError(self._report(f"openmodule service {self.name}: no {what} within {timeout:g} s"))

    def _report(self, headline: str) -> str:
        return "\n".join([
            headline,
            f"exit code: {self.proc.poll()}",
            "events:", *(f"  {event}" for event in self.events),
            *(["other stdout:", *self.noise] if self.noise else []),
            f"stderr (last {_STDERR_TAIL} lines):", *self.stderr[-_STDERR_TAIL:],
        ])

    def wait_ready(self, timeout: float = 30.0) -> Event:
        """Wait until ``init_openmodule`` returned (it checks the broker connection itself)."""
        return self.wait_for_event(lambda event: event["event"] == "ready", timeout, "'ready' event")

    def wait_for_message(
        self, topic: str, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 3.0
    ) -> Event:
        """The next ``message`` event on ``topic`` whose message matches ``predicate``. The event carries
        ``message`` (the handler's model, dumped), ``model`` (its class) and ``types`` (field types)."""
        return self.wait_for_event(
            lambda event: event["event"] == "message" and event["topic"] == topic
            and (predicate is None or predicate(event["message"])),
            timeout,
            f"message on {topic!r}",
        )

    def assert_no_message(self, topic: str, timeout: float = 0.5) -> None:
        try:
            event = self.wait_for_message(topic, timeout=timeout)
        except AssertionError:
            return
        raise AssertionError(f"openmodule service {self.name}: unexpected message on {topic!r}: {event}")

    # -- commands --------------------------------------------------------------------------------------

    def send(self, command: Mapping[str, Any]) -> None:
        """Send one command line (ASCII JSON, so no encoding can get in the way)."""
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise AssertionError(self._report(f"openmodule service {self.name} is gone; cannot send {command}")) \
                from None

    def command(self, cmd: str, answer: str, timeout: float = 5.0, **fields: Any) -> Event:
        """Send ``cmd`` and wait for its ``answer`` event; an ``error`` event for it fails the test."""
        self.send({"cmd": cmd, **fields})
        event = self.wait_for_event(
            lambda event: event["event"] == answer or (event["event"] == "error" and event.get("cmd") == cmd),
            timeout,
            f"{answer!r} answer to {cmd!r}",
        )
        if event["event"] == "error":
            raise AssertionError(self._report(f"openmodule service {self.name}: {cmd} failed: {event['error']}"))
        return event

    def subscribe(self, topic: str, type: str | None = None, model: str | None = None) -> Event:
        """Register a handler on ``topic`` (only ``type`` when given; all types otherwise), validating into
        the service's ``model`` (a generic ZMQMessage keeping every field by default). Returns once the
        subscription is through the broker."""
        return self.command("subscribe", "subscribed", topic=topic, type=type, model=model)

    def publish(self, topic: str, message: Mapping[str, Any], model: str | None = None) -> Event:
        """Publish ``message`` through ``core().publish``; the answer's ``body`` is the JSON openmodule sent."""
        return self.command("publish", "published", topic=topic, message=dict(message), model=model)

    # -- RPC -------------------------------------------------------------------------------------------

    def rpc(
        self,
        channel: str,
        type: str,
        request: Mapping[str, Any],
        *,
        response_model: str = "AnyResponse",
        request_model: str = "AnyRequest",
        timeout: float | None = None,
        blocking: bool = True,
    ) -> Event:
        """Call an RPC with openmodule's ``core().rpc_client`` (``rpc`` or, unless ``blocking``,
        ``rpc_non_blocking(...).result(...)``) and return the ``rpc_result`` event: ``ok`` with ``response``
        (the ``response_model`` dumped; ``raw`` is the reply's ``response`` when not ``blocking``), or
        ``error`` (openmodule's exception class, e.g. ``RPCClient.TimeoutError``) with ``message``.
        ``timeout`` None is openmodule's default (3 s)."""
        self._rpc_calls += 1
        tag = f"rpc-{self._rpc_calls}"
        self.send({"cmd": "rpc", "tag": tag, "channel": channel, "type": type, "request": dict(request),
                   "request_model": request_model, "response_model": response_model, "timeout": timeout,
                   "blocking": blocking})
        event = self.wait_for_event(
            lambda event: (event["event"] == "rpc_result" and event["tag"] == tag)
            or (event["event"] == "error" and event.get("cmd") == "rpc"),
            (timeout or 3.0) + 5.0,  # openmodule's first call on a channel runs its connection check first
            f"result of RPC {channel}/{type}",
        )
        if event["event"] == "error":
            raise AssertionError(self._report(f"openmodule service {self.name}: rpc failed: {event['error']}"))
        return event

    def serve_rpc(self, channel: str, type: str = "lookup", *, filter_resource: bool = True) -> Event:
        """Start an openmodule ``RPCServer`` serving ``type`` on ``channel`` like the ``Lookup`` test plugin
        with ``plate_filter`` (see the service's docstring); returns ``rpc_server_ready``, which comes once
        the server answered a probe RPC through the broker."""
        return self.command("rpc_server", "rpc_server_ready", channel=channel, type=type,
                            filter_resource=filter_resource)

    def serve_access(self) -> Event:
        """Start openmodule's ``AccessService`` template as this service's access service (see the service's
        docstring); returns ``rpc_server_ready``."""
        return self.command("access_service", "rpc_server_ready")

    def wait_for_access_check(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 3.0
                              ) -> dict[str, Any]:
        """The first ``AccessCheckRequest`` the access service got (dumped as JSON data) that matches."""
        return self.wait_for_event(lambda event: event["event"] == "access_check" and predicate(event["request"]),
                                   timeout, "access check")["request"]

    def wait_for_rpc_request(self, rpc_id: str, timeout: float = 3.0) -> dict[str, Any]:
        """The request ``rpc_id`` as the service's RPC server handler got it: the ``RPCRequest`` envelope as
        openmodule validated it (``name``, ``type``, ``resource``, ``rpc_id``, ``request``, ...)."""
        return self.wait_for_event(
            lambda event: event["event"] == "rpc_request" and event["message"]["rpc_id"] == rpc_id,
            timeout,
            f"RPC request {rpc_id}",
        )["message"]

    # -- stop ------------------------------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> int:
        """Ask the service to exit (it shuts openmodule down), kill it if it does not; close every pipe."""
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, ValueError):  # it exited meanwhile / stdin closed
                self.proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                self.proc.stdin.flush()
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pump in self._pumps:
            pump.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def __enter__(self) -> OpenModulePeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
