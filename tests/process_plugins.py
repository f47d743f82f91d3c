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


class BrokenAtStart:
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        raise RuntimeError("no licence file")


crasher = Crasher()
slow_to_stop = SlowToStop()
broken_at_start = BrokenAtStart()
