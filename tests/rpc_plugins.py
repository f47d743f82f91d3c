"""RPC-serving plugins for the tests."""

from __future__ import annotations

import threading
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

    def __init__(self, channel: str = "plates", type: str = "lookup", filters: list[tuple[Any, dict]] = ()) -> None:
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
