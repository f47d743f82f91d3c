"""Plugins for the process isolation tests, importable by a child process (``tests.support.process_plugins:<name>``)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from openmodule_hookspecs import (
    Access,
    AccessRequest,
    Backend,
    LegacyAccessCategory,
    OpenModuleModel,
    ZMQMessage,
    hookimpl,
)
from pydantic import BaseModel
from sqlalchemy import text


class CrashMessage(ZMQMessage):
    type: str = "crash"
    how: str = "segfault"  # segfault | exit | hang


class Empty(OpenModuleModel):
    pass


class PidResponse(OpenModuleModel):
    pid: int


class StuckMessage(ZMQMessage):
    type: str = "stuck"
    seconds: float = 1.0


class FailMessage(ZMQMessage):
    type: str = "fail"


class HealthRequest(OpenModuleModel):
    ok: bool


class Crasher:
    """Answers RPC ``crasher``/``pid`` with its process id; a ``crash`` message ends its process."""

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.rpc_server.register_handler("crasher", "pid", Empty, PidResponse,
                                         lambda request, message: PidResponse(pid=os.getpid()))
        core.messages.register_handler("crash", CrashMessage, self.crash)

    @staticmethod
    def crash(message: CrashMessage) -> None:
        if message.how == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif message.how == "exit":
            os._exit(3)


class SlowToStop(Crasher):
    """Its shutdown hook never returns in time."""

    @hookimpl
    def shutdown(self, core: Any) -> None:
        time.sleep(60)


class Troubled(Crasher):
    """Crasher, and trouble on request: a ``stuck`` message holds its worker for ``seconds``; a ``fail``
    message and RPC ``crasher``/``fail`` raise; RPC ``crasher``/``health`` (``ok``) makes its health hook
    raise (``ok = false``) or answer ok again."""

    def __init__(self) -> None:
        self.healthy = True

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        super().register_handlers(core)
        core.messages.register_handler("stuck", StuckMessage, lambda message: time.sleep(message.seconds))
        core.messages.register_handler("fail", FailMessage, self.fail)
        core.rpc_server.register_handler("crasher", "fail", Empty, Empty, lambda request, message: self.fail(request))
        core.rpc_server.register_handler("crasher", "health", HealthRequest, Empty, self.set_health)

    @staticmethod
    def fail(_message: object) -> None:
        raise RuntimeError("the till is jammed")

    def set_health(self, request: HealthRequest, _message: object) -> Empty:
        self.healthy = request.ok
        return Empty()

    @hookimpl
    def health(self, core: Any) -> None:
        if not self.healthy:
            raise RuntimeError("the barrier's sensor is gone")


class BrokenAtStart:
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        raise RuntimeError("no licence file")


class SnoopRequest(OpenModuleModel):
    backwards: str  # the text to look for, reversed: so that the request itself does not hold it


class SnoopResponse(OpenModuleModel):
    found: list[str]


class DatabaseResponse(OpenModuleModel):
    user: str
    logins: list[list[str]]
    password: str | None


def _holds(value: object, backwards: str) -> bool:
    """``value`` (a text, or one of the texts a container holds directly) contains the text whose reverse is
    ``backwards``; nested containers are not entered (each is an object of its own in ``gc``)."""
    if isinstance(value, str):
        return backwards in value[::-1]
    if isinstance(value, bytes | bytearray):
        return backwards.encode() in value[::-1]
    if isinstance(value, dict):
        items: list[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        return False
    return any(isinstance(item, str | bytes | bytearray) and _holds(item, backwards) for item in items)


def _attributes(thing: object) -> dict[str, Any] | None:
    """The object's ``__dict__``, past any ``__getattr__`` of its own."""
    try:
        attributes = object.__getattribute__(thing, "__dict__")
    except (AttributeError, TypeError):
        return None
    return attributes if isinstance(attributes, dict) else None


class Snoop(Crasher):
    """A plugin that looks for a secret wherever its code can read it in its process (RPC ``snoop``/``look``)
    and uses its database (``snoop``/``database``; migrations ``whoami``)."""

    def __init__(self) -> None:
        self.core: Any = None

    @hookimpl
    def database_migrations(self) -> Path:
        return Path(__file__).parent / "fixtures" / "migrations" / "whoami"

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        super().register_handlers(core)
        self.core = core
        core.rpc_server.register_handler("snoop", "look", SnoopRequest, SnoopResponse, self.look)
        core.rpc_server.register_handler("snoop", "database", Empty, DatabaseResponse, self.database)

    @staticmethod
    def look(request: SnoopRequest, _message: object) -> SnoopResponse:
        backwards, found = request.backwards, []
        for where, value in (("os.environ", dict(os.environ)), ("sys.argv", sys.argv),
                             ("sys.orig_argv", sys.orig_argv)):
            if _holds(value, backwards):
                found.append(where)
        for path in ("/proc/self/environ", "/proc/self/cmdline"):
            if _holds(Path(path).read_bytes(), backwards):
                found.append(path)
        for top in sys._current_frames().values():
            frame: FrameType | None = top
            while frame is not None:
                if _holds(dict(frame.f_locals), backwards):
                    found.append(f"a local of {frame.f_code.co_qualname}")
                frame = frame.f_back
        for thing in gc.get_objects():  # every container in the process: the host's objects and config too
            held = _holds(thing, backwards) or _holds(_attributes(thing), backwards)
            if not held and isinstance(thing, BaseModel):  # e.g. the child host's HostConfig
                held = _holds(repr(thing), backwards)
            if held:
                found.append(f"a {type(thing).__qualname__}")
        return SnoopResponse(found=found)

    def database(self, _request: Empty, _message: object) -> DatabaseResponse:
        with self.core.database() as session:
            user = session.execute(text("SELECT session_user")).scalar_one()
            logins = [list(row) for row in session.execute(text("SELECT * FROM logins")).all()]
        return DatabaseResponse(user=user, logins=logins, password=self.core.database.engine.url.password)


class TickMessage(ZMQMessage):
    type: str = "tick"
    pid: int
    thread: str


class Ticker:
    """Publishes a ``tick`` (its process id and thread name) from a job that runs every second."""

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.scheduler.every(1).seconds.do(
            lambda: core.publish(TickMessage(pid=os.getpid(), thread=threading.current_thread().name), "tick"))


crasher = Crasher()
slow_to_stop = SlowToStop()
troubled = Troubled()
broken_at_start = BrokenAtStart()
snoop = Snoop()
ticker = Ticker()


class _PlateBackend(Backend):
    """A legacy backend: plates starting with G have one access; for a backend in a child process."""

    def check_access(self, request: AccessRequest) -> list[Access]:
        if not request.medium_id.startswith("G"):
            return []
        user = f"{self.core.name}-pid-{os.getpid()}"  # the answer says which process gave it
        return [Access(category=LegacyAccessCategory.permanent_employee, start=0, user=user)]


plate_backend = _PlateBackend()
