"""Variant (b) client: an openmodule-host ``Host`` with one plugin; its ``core.rpc_client`` makes the calls.

The calls run on this process's main thread through the plugin's core (the same client a plugin's handler
or thread uses): ``rpc`` for sequential calls, ``rpc_non_blocking`` + ``result`` for calls in flight. Replies
arrive on the host's intake thread, which hands each to its waiting call. The main thread joins the host's
threads on their CPU (``host.placement.join()``), as a plugin's worker or a thread it starts is there.
"""

from __future__ import annotations

from collections.abc import Callable

from openmodule_hookspecs import Direction, Gateway, PluginCore, RPCTimeoutError, hookimpl

from openmodule_host.rpc import PluginRPCClient, RPCCall

from ..driver import run_client
from ..protocol import CHANNEL, CLIENT_NAME, GATE, TEXT, TYPE, parse_client_args
from .host_common import EchoRequest, EchoResponse, GatewayEchoRequest, make_host

PLUGIN = "caller"


class CallerPlugin:
    """Registers nothing: the bench calls through its core."""

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        pass


def echo_request(seq: int) -> EchoRequest:
    return EchoRequest(seq=seq, text=TEXT)


def gateway_echo_request(seq: int) -> EchoRequest:
    return GatewayEchoRequest(seq=seq, text=TEXT, gateway=Gateway(gate=GATE, direction=Direction.IN))


class HostCalls:
    def __init__(self, client: PluginRPCClient, request: Callable[[int], EchoRequest] = echo_request) -> None:
        self.client = client
        self.request = request

    @staticmethod
    def _check(response: EchoResponse, seq: int) -> None:
        if response.seq != seq:
            raise RuntimeError(f"reply for call {response.seq} instead of {seq}")

    def probe(self, seq: int, timeout: float) -> bool:
        try:
            self.client.rpc(CHANNEL, TYPE, self.request(seq), EchoResponse, timeout=timeout)
        except RPCTimeoutError:
            return False
        return True

    def call(self, seq: int) -> None:
        self._check(self.client.rpc(CHANNEL, TYPE, self.request(seq), EchoResponse), seq)

    def send(self, seq: int) -> tuple[int, RPCCall]:
        return seq, self.client.rpc_non_blocking(CHANNEL, TYPE, self.request(seq))

    def wait(self, handle: tuple[int, RPCCall]) -> None:
        seq, call = handle
        self._check(call.result(EchoResponse), seq)


def main() -> None:
    args = parse_client_args(__doc__ or "")
    host = make_host(CLIENT_NAME + "_host", args.sub, args.pub, PLUGIN, CallerPlugin(), args.cpu_placement)
    with host:
        host.placement.join()
        core = host.plugins[PLUGIN].core
        assert core is not None
        run_client(HostCalls(core.rpc_client, gateway_echo_request if args.gateway else echo_request), args)


if __name__ == "__main__":
    main()
