"""Variant (c) client, openmodule 18.5.0: ``core().rpc_client``, as a service calls RPCs.

``rpc`` for sequential calls, ``rpc_non_blocking`` + ``result`` for calls in flight. This client keeps every
call of the last 3 s in ``results`` and every id of the last 300 s in ``sent_ids`` and walks both on each
call and each reply, so its calls/s decays during a long run.
"""

from __future__ import annotations

from typing import Any

from ..driver import run_client
from ..protocol import CHANNEL, CLIENT_NAME, TEXT, TYPE, parse_client_args
from .om_common import echo_models, start_openmodule


class OpenModuleCalls:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.request_class, self.response_class = echo_models()

    def _check(self, response: Any, seq: int) -> None:
        if response.seq != seq:
            raise RuntimeError(f"reply for call {response.seq} instead of {seq}")

    def probe(self, seq: int, timeout: float) -> bool:
        try:
            self.client.rpc(CHANNEL, TYPE, self.request_class(seq=seq, text=TEXT), self.response_class,
                            timeout=timeout)
        except self.client.TimeoutError:
            return False
        return True

    def call(self, seq: int) -> None:
        request = self.request_class(seq=seq, text=TEXT)
        self._check(self.client.rpc(CHANNEL, TYPE, request, self.response_class), seq)

    def send(self, seq: int) -> tuple[int, Any]:
        return seq, self.client.rpc_non_blocking(CHANNEL, TYPE, self.request_class(seq=seq, text=TEXT))

    def wait(self, handle: tuple[int, Any]) -> None:
        seq, entry = handle
        self._check(entry.result(self.response_class), seq)


def main() -> None:
    args = parse_client_args(__doc__ or "")
    core = start_openmodule(CLIENT_NAME, args.sub, args.pub)
    run_client(OpenModuleCalls(core.rpc_client), args)
    from openmodule.core import shutdown_openmodule

    shutdown_openmodule()


if __name__ == "__main__":
    main()
