"""Variants (b2, b3) server: an openmodule-host ``Host`` whose ten plugins all serve the echo RPC.

As ten per-gate (or per-service) openmodule services share one (channel, type), each plugin answers only
the requests meant for it; the benchmark's requests are meant for the last of them (``shared_9``, its
``text`` is the benchmark's ``TEXT``):

- ``--routing fanout``: every plugin registers the RPC plainly and adds a filter on ``request.text``; each
  request goes to all ten workers, each validates it and runs its filter, one answers.
- ``--routing keyed``: every plugin registers the RPC with ``key="text"`` and its own value; the intake
  routes each request by its ``text`` to the one plugin, the nine others never see it.
"""

from __future__ import annotations

import argparse
import logging
import threading

from openmodule_hookspecs import PluginCore, RPCRequest, hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate

from ...protocol import emit
from ...threads import thread_names
from ..protocol import CHANNEL, SERVER_NAME, TEXT, TYPE
from .host_common import EchoRequest, EchoResponse

PLUGINS = 10
ROUTINGS = ("fanout", "keyed")


class SharedEchoPlugin:
    def __init__(self, text: str, keyed: bool) -> None:
        self.text, self.keyed = text, keyed

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        if self.keyed:
            core.rpc_server.register_handler(CHANNEL, TYPE, EchoRequest, EchoResponse, self.echo, key="text",
                                             value=self.text)
        else:
            core.rpc_server.register_handler(CHANNEL, TYPE, EchoRequest, EchoResponse, self.echo)
            core.rpc_server.add_filter(self.mine, channel=CHANNEL, type=TYPE)

    def mine(self, request: EchoRequest, message: RPCRequest, handler: object) -> bool:
        return request.text == self.text

    def echo(self, request: EchoRequest, message: RPCRequest) -> EchoResponse:
        return EchoResponse(seq=request.seq, text=request.text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True, help="the broker's XSUB address (publishers connect here)")
    parser.add_argument("--pub", required=True, help="the broker's XPUB address (subscribers connect here)")
    parser.add_argument("--routing", choices=ROUTINGS, required=True)
    args = parser.parse_args()
    names = [f"shared_{index}" for index in range(PLUGINS)]
    texts = [f"{TEXT} (gate {index})" for index in range(PLUGINS - 1)] + [TEXT]
    candidates = [PluginCandidate.from_object(name, SharedEchoPlugin(text, args.routing == "keyed"))
                  for name, text in zip(names, texts, strict=True)]
    config = HostConfig(
        name=SERVER_NAME + "_host", broker="external", broker_sub=args.sub, broker_pub=args.pub, log_level="WARNING",
        dsgvo=False, plugins={name: {"PUBLISH_RATE": 0} for name in names},
    )
    logging.basicConfig(level=logging.WARNING)
    with Host(config, candidates, strict=True, report=lambda _: None):
        emit("ready", threads=thread_names())
        threading.Event().wait()  # until the orchestrator terminates the process


if __name__ == "__main__":
    main()
