"""Variant (b) server: an openmodule-host ``Host`` whose one plugin serves the echo RPC.

The plugin registers through ``core.rpc_server.register_handler`` with pydantic request and response
models; each request takes the host's real path: intake (recv, decode, envelope validation, route) ->
the plugin's mailbox -> its worker (request validation, handler, response dump, publish).
"""

from __future__ import annotations

import threading

from openmodule_hookspecs import PluginCore, RPCRequest, hookimpl

from ...protocol import emit
from ...threads import thread_names
from ..protocol import CHANNEL, SERVER_NAME, TYPE, parse_server_args
from .host_common import EchoRequest, EchoResponse, make_host


class EchoPlugin:
    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        core.rpc_server.register_handler(CHANNEL, TYPE, EchoRequest, EchoResponse, self.echo)

    def echo(self, request: EchoRequest, message: RPCRequest) -> EchoResponse:
        return EchoResponse(seq=request.seq, text=request.text)


def main() -> None:
    args = parse_server_args(__doc__ or "")
    with make_host(SERVER_NAME + "_host", args.sub, args.pub, "echo", EchoPlugin(), args.cpu_placement):
        emit("ready", threads=thread_names())
        threading.Event().wait()  # until the orchestrator terminates the process


if __name__ == "__main__":
    main()
