"""RPC-serving plugins for the tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from openmodule_hookspecs import OpenModuleModel, hookimpl


class LookupRequest(OpenModuleModel):
    plate: str


class LookupResponse(OpenModuleModel):
    known: bool = False
    owner: str | None = None


class BadResponse(OpenModuleModel):
    status: str = "mine"


class Empty(OpenModuleModel):
    pass


class Lookup:
    """Serves ``lookup`` on ``channel``; behaviours picked by the plate."""

    def __init__(self, channel: str = "plates", type: str = "lookup",
                 filters: Sequence[tuple[Any, dict[str, Any]]] = ()) -> None:
        self.channel, self.type, self.filters = channel, type, list(filters)
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.rpc_server.register_handler(self.channel, self.type, LookupRequest, LookupResponse, self.lookup)
        core.rpc_server.register_handler(self.channel, f"{self.type}_bad", Empty, BadResponse, lambda r, m: None)
        for check, where in self.filters:
            core.rpc_server.add_filter(check, **where)

    def lookup(self, request: LookupRequest, message: Any) -> Any:
        plate = request.plate
        if plate == "RAISE":
            raise RuntimeError("plate database locked")
        if plate == "HANG":
            self.entered.set()
            self.hold.wait(30)
        if plate == "DICT":
            return {"known": True, "owner": message.name, "status": "ignored"}
        if plate == "NONE":
            return None
        if plate == "WRONG":
            return {"known": "not a bool"}
        return LookupResponse(known=plate.startswith("G"), owner=self.core.name)


class Caller:
    """A plugin that only calls RPCs (the test drives its client)."""

    core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core


#: what GateService serves
CHANNEL, TYPE = "gates", "open"


class GateRequest(OpenModuleModel):
    gate: str
    service: str = ""
    plate: str = "G ARIVO1"


class GateResponse(OpenModuleModel):
    gate: str
    by: str


class GateService:
    """Serves gates/open (or another ``type``) for one gate: filtered on ``request.gate`` (as openmodule's
    per-gate services do), keyed (``key``/``value`` of ``register_handler``), or with neither. Plate
    ``HANG <its gate>`` holds its handler."""

    def __init__(self, gate: str, *, filtered: bool = True, key: str | None = None, value: str | None = None,
                 also: str | None = None, type: str = TYPE) -> None:
        self.gate, self.filtered, self.key, self.value, self.type = gate, filtered, key, value, type
        #: a second gate this plugin's filter lets through
        self.also = also
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.served: list[GateRequest] = []
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        register: dict[str, Any] = {} if self.key is None else {"key": self.key, "value": self.value}
        core.rpc_server.register_handler(CHANNEL, self.type, GateRequest, GateResponse, self.open, **register)
        if self.filtered:
            core.rpc_server.add_filter(lambda request, message, handler: request.gate in (self.gate, self.also),
                                       channel=CHANNEL, type=self.type)

    def open(self, request: GateRequest, message: Any) -> GateResponse:
        if request.plate == f"HANG {self.gate}":
            self.entered.set()
            self.hold.wait(30)
        self.served.append(request)
        return GateResponse(gate=request.gate, by=self.core.name)
