"""Variants (b2, b3) server: an openmodule-host ``Host`` whose ten plugins all serve the echo RPC.

As ten per-gate (or per-service) openmodule services share one (channel, type), each plugin answers only
the requests meant for it; the benchmark's requests are meant for the last of them (``shared_9``, its
``text`` is the benchmark's ``TEXT``):

- ``--routing fanout``: every plugin registers the RPC plainly and adds a filter on ``request.text``; each
  request goes to all ten workers, each validates it and runs its filter, one answers.
- ``--routing gateway``: every plugin registers the RPC (its request carries a ``gateway``) and adds
  openmodule's ``gateway_filter`` for its own gate (``shared_9``: the benchmark's ``GATE``), direction ``in``;
  the intake applies those filters itself and brings each request to ``shared_9`` only. With ``--plugins 1``
  only that plugin runs (the ``host-gateway-alone`` variant: one plugin serving the same requests).
- ``--routing keyed``: every plugin registers the RPC with ``key="text"`` and its own value; the intake
  routes each request by its ``text`` to the one plugin, the nine others never see it.
"""

from __future__ import annotations

import argparse
import logging
import threading

from openmodule_hookspecs import PluginCore, RPCRequest, gateway_filter, hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate

from ...protocol import emit
from ...threads import thread_names
from ..protocol import CHANNEL, GATE, SERVER_NAME, TEXT, TYPE
from .host_common import EchoRequest, EchoResponse, GatewayEchoRequest

PLUGINS = 10
ROUTINGS = ("fanout", "gateway", "keyed")


class SharedEchoPlugin:
    def __init__(self, text: str, gate: str, routing: str) -> None:
        self.text, self.gate, self.routing = text, gate, routing

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        if self.routing == "keyed":
            core.rpc_server.register_handler(CHANNEL, TYPE, EchoRequest, EchoResponse, self.echo, key="text",
                                             value=self.text)
        elif self.routing == "gateway":
            core.rpc_server.register_handler(CHANNEL, TYPE, GatewayEchoRequest, EchoResponse, self.echo)
            core.rpc_server.add_filter(gateway_filter(self.gate, "in"), channel=CHANNEL, type=TYPE)
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
    parser.add_argument("--plugins", type=int, choices=range(1, PLUGINS + 1), default=PLUGINS,
                        help="run only the last this many plugins (the one the requests are for among them)")
    args = parser.parse_args()
    names = [f"shared_{index}" for index in range(PLUGINS)]
    texts = [f"{TEXT} (gate {index})" for index in range(PLUGINS - 1)] + [TEXT]
    gates = [f"{GATE} (other {index})" for index in range(PLUGINS - 1)] + [GATE]
    names, texts, gates = names[-args.plugins:], texts[-args.plugins:], gates[-args.plugins:]
    candidates = [PluginCandidate.from_object(name, SharedEchoPlugin(text, gate, args.routing))
                  for name, text, gate in zip(names, texts, gates, strict=True)]
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
