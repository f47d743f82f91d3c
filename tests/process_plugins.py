"""Plugins for the process isolation tests, importable by a child process (``tests.process_plugins:<name>``)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from openmodule_hookspecs import OpenModuleModel, ZMQMessage, hookimpl


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


crasher = Crasher()
slow_to_stop = SlowToStop()
troubled = Troubled()
broken_at_start = BrokenAtStart()
