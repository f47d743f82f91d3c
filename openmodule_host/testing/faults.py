"""Fault injection for plugin tests: a neighbour plugin that misbehaves on command, a dependency that answers
with an error or too late, a database that goes away. With them a plugin's tests show that it keeps working
beside a bad neighbour, and what its health and alerts say when one of its own dependencies fails.

The faults themselves (:func:`perform`) are the ones the project's fault matrix (``tests/faults``) puts in
every place of a plugin.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openmodule_hookspecs import OpenModuleModel, PluginCore, RPCTimeoutError, ZMQMessage, hookimpl
from pydantic import ConfigDict
from sqlalchemy import create_engine, text

from ..database import PluginDatabase, normalise_url
from .client import TestClient
from .mock_rpc import MockRPCClient

__all__ = [
    "FAULTS",
    "FAULT_TOPIC",
    "BadNeighbour",
    "FailingService",
    "NeighbourControl",
    "database_outage",
    "perform",
    "release_hangs",
]

#: raise; hang (until :func:`release_hangs`, or its process ends); slow (``seconds``); exit (``os._exit(7)``);
#: segfault; memory (grows by 200 MB, once); spin (a busy loop, until released); nogil (a busy loop in C that
#: releases the GIL, hashing 16 MB over and over, until released: what compression or hashing in a plugin does
#: to the CPU the host's threads are on); flood (publishes as fast as it can for ``seconds``).
FAULTS = ("raise", "hang", "slow", "exit", "segfault", "memory", "spin", "nogil", "flood")
#: the faults that end their process: a neighbour needs process isolation for them.
CRASHES = ("exit", "segfault")
#: where a :class:`BadNeighbour` does its fault: at once in its message handler, in each call of its RPC
#: (``<NAME>``/``poke``), or in its health hook at each ping.
PLACES = ("handler", "rpc", "health")
FAULT_TOPIC = "fault_injection"
MEMORY_BYTES = 200 * 1024 * 1024
NOGIL_BYTES = 16 * 1024 * 1024

_hoard: list[bytes] = []
_release = threading.Event()
_release_lock = threading.Lock()


def release_hangs() -> None:
    """End every ``hang``, ``spin``, ``nogil`` and ``slow`` fault of this process (a new one waits again)."""
    global _release
    with _release_lock:
        _release.set()
        _release = threading.Event()


class Flood(ZMQMessage):
    type: str = "flood"
    seq: int = 0


def perform(fault: str, where: str, core: PluginCore | None = None, *, seconds: float = 1.5) -> None:
    """Do ``fault`` now (``where`` names the place in the error of ``raise``); ``ValueError`` for an unknown one."""
    release = _release
    if fault == "raise":
        raise RuntimeError(f"injected fault in {where}")
    if fault == "hang":
        release.wait()
    elif fault == "slow":
        release.wait(seconds)
    elif fault == "exit":
        os._exit(7)
    elif fault == "segfault":
        ctypes.string_at(0)
    elif fault == "memory":
        if not _hoard:
            for _ in range(MEMORY_BYTES // 2**20):  # a leak grows in steps; written, so really resident
                _hoard.append(b"\x01" * 2**20)
    elif fault == "spin":
        while not release.is_set():
            pass
    elif fault == "nogil":
        data = os.urandom(NOGIL_BYTES)
        while not release.is_set():
            hashlib.sha256(data).digest()  # (hashlib lets go of the GIL for more than 2 KiB)
    elif fault == "flood":
        if core is not None:
            until, seq = time.monotonic() + seconds, 0
            while time.monotonic() < until:
                for _ in range(100):
                    seq += 1
                    core.publish(Flood(seq=seq), f"{core.config.NAME}_flood")
    else:
        raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")


# -- a bad neighbour -------------------------------------------------------------------------------


class FaultCommand(ZMQMessage):
    """Tells the neighbour ``target`` to do ``fault`` in ``place`` (``none`` clears the place)."""

    type: str = "inject"
    target: str
    fault: str
    place: str = "handler"
    seconds: float = 1.5


class Anything(OpenModuleModel):
    """Any request or response: every field is kept."""

    model_config = ConfigDict(extra="allow")


class BadNeighbour:
    """A plugin that misbehaves on command (:class:`NeighbourControl`); start it beside yours, in a thread or
    in its own process (``ISOLATION = "process"``, needed for ``exit`` and ``segfault``). It serves RPC
    ``<NAME>``/``poke`` and has a health hook, the places where an armed fault happens."""

    def __init__(self) -> None:
        self._armed: dict[str, FaultCommand] = {}
        self._core: PluginCore | None = None

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        self._core = core
        core.messages.register_handler(FAULT_TOPIC, FaultCommand, self._command)
        core.rpc_server.register_handler(core.config.NAME, "poke", Anything, Anything, self._poke)

    def _command(self, command: FaultCommand) -> None:
        if self._core is None or command.target != self._core.config.NAME:
            return
        self._core.log.warning("injected fault: %s in %s", command.fault, command.place)
        if command.place == "handler":
            perform(command.fault, "handler", self._core, seconds=command.seconds)
        elif command.fault == "none":
            self._armed.pop(command.place, None)
        else:
            self._armed[command.place] = command

    def _do_armed(self, place: str) -> None:
        command = self._armed.get(place)
        if command is not None:
            perform(command.fault, place, self._core, seconds=command.seconds)

    def _poke(self, request: Anything, _message: Any) -> Anything:
        self._do_armed("rpc")
        return Anything()

    @hookimpl
    def health(self, core: PluginCore) -> None:
        self._do_armed("health")


class NeighbourControl:
    """The test's side of a :class:`BadNeighbour` called ``name``: ``spec`` and ``config`` to start it with
    ``om_host``, then :meth:`inject` a fault over the broker (it reaches a neighbour in a child process too)."""

    def __init__(self, client: TestClient, name: str = "bad_neighbour", isolation: str = "thread") -> None:
        if isolation not in ("thread", "process"):
            raise ValueError(f"isolation {isolation!r}: 'thread' or 'process'")
        self.client, self.name, self.isolation = client, name, isolation

    @property
    def spec(self) -> tuple[str, str]:
        """``(name, import path)`` for ``om_host``."""
        return self.name, f"{__name__}:BadNeighbour"

    @property
    def config(self) -> dict[str, dict[str, Any]]:
        """Its settings table for ``om_host(config=...)``."""
        return {self.name: {"ISOLATION": self.isolation}}

    def inject(self, fault: str, place: str = "handler", *, seconds: float = 1.5) -> None:
        """Do ``fault`` at once (``place="handler"``) or arm it for every RPC call (``"rpc"``) or health ping
        (``"health"``) from now on; ``fault="none"`` disarms a place."""
        if fault not in (*FAULTS, "none"):
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if place not in PLACES:
            raise ValueError(f"unknown place {place!r}; one of {', '.join(PLACES)}")
        if fault in CRASHES and self.isolation != "process":
            raise ValueError(f"{fault!r} ends the process it runs in: start the neighbour with isolation='process'")
        self.client.publish(FAULT_TOPIC, FaultCommand(target=self.name, fault=fault, place=place, seconds=seconds))

    def poke(self, timeout: float = 3.0) -> dict[str, Any]:
        """Call its RPC (where an armed ``rpc`` fault happens); the reply envelope."""
        return self.client.rpc(self.name, "poke", {}, timeout=timeout)


# -- a failing dependency --------------------------------------------------------------------------


class FailingService:
    """A plugin that serves one RPC the way a broken dependency does: ``answer="error"`` raises (the caller
    gets an error status and ``message``), ``answer="timeout"`` answers only after ``seconds`` (or
    :func:`release_hangs`), later than the caller waits."""

    def __init__(self, channel: str, type: str, *, answer: str = "error", message: str = "dependency failed",
                 seconds: float = 30.0) -> None:
        if answer not in ("error", "timeout"):
            raise ValueError(f"answer {answer!r}: 'error' or 'timeout'")
        self.channel, self.type, self.answer, self.message, self.seconds = channel, type, answer, message, seconds
        self.calls = 0

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        core.rpc_server.register_handler(self.channel, self.type, Anything, Anything, self._serve)

    def _serve(self, request: Anything, _message: Any) -> Anything:
        self.calls += 1
        if self.answer == "error":
            raise RuntimeError(self.message)
        perform("slow", "rpc", seconds=self.seconds)
        return Anything()

    def script(self, mock_rpc: MockRPCClient) -> None:
        """The same failure without a plugin, for a :class:`~.fake_core.FakeCore` (``fake.mock_rpc``): the
        caller sees the same ``handler_error`` with ``message``, or, for ``"timeout"``, no answer at all (the
        caller's own timeout ends its wait); ``calls`` counts these calls too."""
        mock_rpc.immediate_callbacks[(self.channel, self.type)] = self._scripted

    def _scripted(self, _request: Any, _message: None) -> BaseException:
        self.calls += 1
        return RuntimeError(self.message) if self.answer == "error" else RPCTimeoutError()


@contextlib.contextmanager
def database_outage(database: PluginDatabase, admin_url: str | None = None) -> Iterator[None]:
    """A plugin's database (``core.database``) is unusable inside the block, and back after it.

    SQLite: the file is moved aside and a file that is not a database takes its place (every new query
    fails with ``file is not a database``). PostgreSQL: the plugin's role may not log in and its sessions
    are ended; ``admin_url`` is the ``DATABASE_URL`` (a user that may alter the role). Connections the plugin
    holds are closed at the start and the end, as a real outage would drop them.
    """
    target = database.target
    if target.schema is None:
        path = Path(str(target.url.database))
        aside = path.with_name(path.name + ".outage")
        shutil.move(path, aside)
        path.write_bytes(b"this is not a database\n" * 100)
        database.engine.dispose()
        try:
            yield
        finally:
            database.engine.dispose()
            shutil.move(aside, path)
        return
    if admin_url is None or target.role is None:
        raise ValueError("a PostgreSQL outage needs the admin_url (the DATABASE_URL) and a plugin with its own role")
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    role = target.role.replace('"', '""')
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER ROLE "{role}" NOLOGIN'))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
                               {"role": target.role})
        database.engine.dispose()
        try:
            yield
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'ALTER ROLE "{role}" LOGIN'))
            database.engine.dispose()
    finally:
        admin.dispose()
