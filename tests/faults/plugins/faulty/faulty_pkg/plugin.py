"""A plugin with one injected fault (see :mod:`faulty_pkg.fault`) and every hook the host calls.

It serves RPC ``faulty``/``poke``, handles ``poke`` messages on topic ``faulty``, is an access service
(``check_access``), has a ``health`` hook and a ``shutdown`` hook. It has database migrations only when the
fault's place is ``migration`` (a migration costs a child process at every start).
"""

from pathlib import Path
from typing import Any

from openmodule_hookspecs import OpenModuleModel, ZMQMessage, hookimpl

from .fault import PLACE, inject

inject("import")


class Poke(ZMQMessage):
    type: str = "poke"


class Empty(OpenModuleModel):
    pass


@hookimpl
def database_migrations() -> Path | None:
    return Path(__file__).with_name("migrations") if PLACE == "migration" else None


@hookimpl
def register_handlers(core: Any) -> None:
    inject("register_handlers", core)
    core.messages.register_handler("faulty", Poke, lambda message: inject("handler", core))

    def poke(request: Empty, message: Any) -> Empty:
        inject("rpc", core)
        return Empty()

    core.rpc_server.register_handler("faulty", "poke", Empty, Empty, poke)


@hookimpl
def health(core: Any) -> None:
    inject("health", core)


@hookimpl
def check_access(core: Any, request: Any) -> list[Any]:
    inject("check_access", core)
    return []


@hookimpl
def shutdown(core: Any) -> None:
    inject("shutdown", core)
