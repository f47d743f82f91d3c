"""The plugin every host variant runs N times: one message handler and one RPC, as a small service has."""

from __future__ import annotations

from typing import Any

from openmodule_hookspecs import OpenModuleModel, ZMQMessage, hookimpl

from . import TOPIC


class Note(ZMQMessage):
    type: str = "note"
    text: str = ""


class Empty(OpenModuleModel):
    pass


class IdlePlugin:
    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.messages.register_handler(TOPIC, Note, lambda message: None)
        core.rpc_server.register_handler(f"footprint_{core.name}", "ping", Empty, Empty, lambda request, message: None)


plugin = IdlePlugin()
