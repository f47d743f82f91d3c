"""``python -m bench.fake_core``: what a unit test through the fake core costs.

Times, in this process, the pieces a unit test through :class:`~openmodule_host.testing.FakeCore` is made
of: starting a plugin (a test plugin; the example plugin om_welcome, an instance with settings) and closing
it, delivering one message to a typed handler (which publishes), one RPC round trip, one health ping, one
RPC of the plugin's own answered by a ``MockRPCClient`` script. Prints the median and the 90th percentile of
``--repeat`` runs of each, in microseconds (writes no report).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

from openmodule_hookspecs import OpenModuleModel, PluginCore, RPCRequest, ZMQMessage, hookimpl

from openmodule_host.testing import FakeCore, MockRPCClient


class Tick(ZMQMessage):
    type: str = "tick"
    n: int


class Echo(OpenModuleModel):
    n: int


class Ticker:
    """Publishes every tick on ``tock``; serves ``tick``/``echo``."""

    def __init__(self) -> None:
        self.core: PluginCore | None = None

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        self.core = core
        core.messages.register_handler("tick", Tick, self.on_tick)
        core.rpc_server.register_handler("tick", "echo", Echo, Echo, self.echo)

    def on_tick(self, message: Tick) -> None:
        assert self.core is not None
        self.core.publish(Tick(n=message.n + 1), "tock")

    def echo(self, request: Echo, _message: RPCRequest) -> Echo:
        return request


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and 90th percentile of ``repeat`` runs, in microseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1000, help="runs of each operation (starts: a tenth)")
    options = parser.parse_args()
    logging.disable(logging.WARNING)  # the welcome plugin logs each failed lookup
    starts = max(10, options.repeat // 10)
    welcome = {"plugin": "om_welcome", "gate": "in-1"}
    rows = [
        ("start + close a test plugin", timed(lambda: FakeCore(Ticker(), name="ticker").close(), starts)),
        ("start + close om_welcome (instance)", timed(lambda: FakeCore("gate_in", config=welcome).close(), starts)),
    ]
    with FakeCore(Ticker(), name="ticker") as fake:
        rows.append(("send one message (handler publishes)", timed(lambda: fake.send("tick", Tick(n=1)),
                                                                  options.repeat)))
        rows.append(("rpc round trip", timed(lambda: fake.rpc("tick", "echo", {"n": 1}), options.repeat)))
        rows.append(("health ping", timed(fake.get_health, options.repeat)))
    mock = MockRPCClient(responses={("plates", "lookup"): {"known": True}})
    with FakeCore("gate_in", config=welcome, rpc_client=mock) as fake:
        rows.append(("rpc whose handler calls a scripted rpc",
                     timed(lambda: fake.rpc("welcome", "greet", {"gate": "in-1", "plate": "G 1"}), options.repeat)))
    print(f"{'operation':<42} {'median us':>10} {'p90 us':>10}")
    for name, (median, p90) in rows:
        print(f"{name:<42} {median:>10.0f} {p90:>10.0f}")


if __name__ == "__main__":
    main()
