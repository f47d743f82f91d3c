"""The healthy neighbour: answers RPC ``steady``/``echo`` with the number it was sent, right away."""

from typing import Any

from openmodule_hookspecs import OpenModuleModel, hookimpl


class Echo(OpenModuleModel):
    n: int = 0


@hookimpl
def register_handlers(core: Any) -> None:
    core.rpc_server.register_handler("steady", "echo", Echo, Echo, lambda request, message: Echo(n=request.n))
