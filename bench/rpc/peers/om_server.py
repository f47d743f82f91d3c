"""Variant (c) server, openmodule 18.5.0: ``RPCServer(context=core().context)`` serving the echo RPC.

Its own thread (``run_as_thread``) receives each request, validates the envelope and the request model,
calls the handler and publishes the reply through the core's PUB socket, as a standalone service does.
"""

from __future__ import annotations

import threading
from typing import Any

from ...protocol import emit
from ...threads import thread_names
from ..protocol import CHANNEL, SERVER_NAME, TYPE, parse_server_args
from .om_common import echo_models, start_openmodule


def main() -> None:
    args = parse_server_args(__doc__ or "")
    core = start_openmodule(SERVER_NAME, args.sub, args.pub)
    from openmodule.rpc import RPCServer

    request_class, response_class = echo_models()

    def echo(request: Any, _message: Any) -> Any:
        """Echoes the request."""
        return response_class(seq=request.seq, text=request.text)

    server = RPCServer(context=core.context)
    server.register_handler(CHANNEL, TYPE, request_class, response_class, echo)
    server.run_as_thread()
    emit("ready", threads=thread_names())
    threading.Event().wait()  # until the orchestrator terminates the process


if __name__ == "__main__":
    main()
