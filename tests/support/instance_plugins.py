"""Plugins for the instance tests, written as ported openmodule code would be: ``core()`` and ``settings``.

``GateService`` is a class: each instance gets an object of its own. ``tests.support.instance_plugins:GateService``
is importable, so a child process (``ISOLATION = "process"``) can load it too.
"""

from __future__ import annotations

import threading
from typing import Any

from openmodule_hookspecs import HealthMetricType, ZMQMessage, hookimpl
from pydantic import BaseModel

from openmodule_host.compat import core, settings


class GateSettings(BaseModel):
    gate: str
    #: register_handlers raises: a failing instance.
    fail: bool = False


class GateQuery(ZMQMessage):
    type: str = "query"


class GateAnswer(ZMQMessage):
    type: str = "answer"
    gate: str
    plugin: str
    service: str
    objects: int


class GateService:
    """Answers every ``gate_query`` on ``gate_answer`` with what ``core()`` and ``settings`` say on its worker."""

    #: objects made of this class, in this process.
    made = 0

    def __init__(self) -> None:
        GateService.made += 1
        self.queries = 0

    @hookimpl
    def config_model(self) -> type[BaseModel]:
        return GateSettings

    @hookimpl
    def register_handlers(self) -> None:  # (a hookimpl may take fewer arguments than its spec)
        if settings.fail:
            raise RuntimeError(f"gate {settings.gate} is broken")
        core().health.add_metric("queries", HealthMetricType.count, "Queries", "gate queries answered")
        core().messages.register_handler("gate_query", GateQuery, self.on_query)

    def on_query(self, _message: GateQuery) -> None:
        self.queries += 1
        core().health.metric_inc("queries")
        core().publish(GateAnswer(gate=settings.gate, plugin=core().plugin, service=settings.NAME,
                                  objects=GateService.made), "gate_answer")

    @hookimpl
    def health(self) -> tuple[str, str]:
        # an error: only an error's message reaches the pong, and the test reads it there
        return "error", f"{settings.NAME}: the camera of gate {settings.gate} is offline"


class ThreadStarter:
    """Starts a thread of its own in register_handlers: bound with plugin_context, it sees its core."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.done = threading.Event()

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        from openmodule_host.compat import plugin_context

        def unbound() -> None:
            try:
                self.seen["unbound"] = settings.NAME
            except RuntimeError as error:
                self.seen["unbound"] = str(error)
            with plugin_context(core):
                self.seen["bound"] = settings.NAME
            self.done.set()

        threading.Thread(target=unbound, name="plugin-own-thread").start()
