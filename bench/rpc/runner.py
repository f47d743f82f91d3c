"""One round: every variant's broker and server, its sequential calls, then its calls in flight, interleaved.

- **Peers.** Each variant gets a fresh broker process and server process for the round; all of them stay up
  for the whole round (an idle one costs next to nothing).
- **Sequential.** One client process per variant connects and warms up, then the orchestrator runs the
  calls part by part (``--chunks``), alternating the variants (the order rotates every part), so a noisy
  machine's quiet and busy moments fall on all variants alike. Round-trip latency depends a lot on such
  moments (how quickly an idle CPU wakes up).
- **In flight.** Then a fresh client process per variant keeps 16 calls outstanding, in parts alternated
  the same way (each part drained before the next variant's starts). A variant's calls/s thus comes from
  the same minutes of the machine as the others'. The client keeps an *active* clock that stops between
  parts, so its tenths of the run read as one run; a decay (openmodule's grows with the calls of the
  last 300 s) shows across the parts as it would in one go.

For each measured stretch the orchestrator reads the server's and the broker's CPU time before writing
``go`` and after the client's answer; the client measures its own wall and CPU time.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from ..processes import OPENMODULE_PYTHON, Child
from ..profiling import py_spy
from ..threads import by_role, sample
from .protocol import IN_FLIGHT, SEQUENTIAL

__all__ = ["VARIANTS", "Counts", "Phase", "Variant", "run_round"]

_PEERS = "bench.rpc.peers."
_START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    server: str
    client: str
    python: Path
    #: further arguments of the server process
    server_args: tuple[str, ...] = ()
    #: further arguments of the client process
    client_args: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.python.exists()


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("raw", "raw pyzmq", _PEERS + "raw_server", _PEERS + "raw_client", Path(sys.executable)),
        Variant("host", "openmodule-host", _PEERS + "host_server", _PEERS + "host_client", Path(sys.executable)),
        Variant("host-unplaced", "host, cpu_placement off", _PEERS + "host_server", _PEERS + "host_client",
                Path(sys.executable), ("--cpu-placement", "off"), ("--cpu-placement", "off")),
        Variant("host-fanout", "host, 10 plugins, filters", _PEERS + "host_shared_server", _PEERS + "host_client",
                Path(sys.executable), ("--routing", "fanout")),
        Variant("host-gateway", "host, 10 plugins, gateway_filter", _PEERS + "host_shared_server",
                _PEERS + "host_client", Path(sys.executable), ("--routing", "gateway"), ("--gateway",)),
        Variant("host-gateway-alone", "host, 1 plugin, gateway_filter", _PEERS + "host_shared_server",
                _PEERS + "host_client", Path(sys.executable), ("--routing", "gateway", "--plugins", "1"),
                ("--gateway",)),
        Variant("host-keyed", "host, 10 plugins, keyed", _PEERS + "host_shared_server", _PEERS + "host_client",
                Path(sys.executable), ("--routing", "keyed")),
        Variant(
            "openmodule",
            "openmodule 18.5.0",
            _PEERS + "om_server",
            _PEERS + "om_client",
            OPENMODULE_PYTHON,
        ),
    )
}


@dataclass(frozen=True)
class Counts:
    """Measured calls per mode, the calls kept in flight, warm-up calls, and the parts of the sequential calls."""

    sequential: int
    in_flight: int
    window: int = 16
    warmup: int = 200
    chunks: int = 10

    def of(self, mode: str) -> int:
        return self.sequential if mode == SEQUENTIAL else self.in_flight


@dataclass
class Phase:
    """One client process's measured calls."""

    variant: str
    mode: str
    round: int
    calls: int
    wall: float
    client_cpu: float
    server_cpu: float
    broker_cpu: float
    latency_us: dict[str, float]
    #: how much the client's resident memory grew during the phase
    rss_growth_mib: float
    #: in flight only: calls/s, and the client's CPU us per call, in each tenth of the calls.
    tenths: list[float] = field(default_factory=list)
    cpu_tenths: list[float] = field(default_factory=list)
    #: CPU seconds and context switches by thread role (bench.threads), of the server and of the client.
    server_threads: dict[str, tuple[float, int]] = field(default_factory=dict)
    client_threads: dict[str, tuple[float, int]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.calls / self.wall if self.wall > 0 else 0.0

    def cpu_us(self, side: str) -> float:
        """CPU per call in us of ``client``, ``server`` or ``broker``."""
        seconds = {"client": self.client_cpu, "server": self.server_cpu, "broker": self.broker_cpu}[side]
        return seconds / self.calls * 1e6 if self.calls else 0.0


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _add(total: dict[str, tuple[float, int]], more: dict[str, tuple[float, int]]) -> None:
    for role, (cpu, switches) in more.items():
        old_cpu, old_switches = total.get(role, (0.0, 0))
        total[role] = (old_cpu + cpu, old_switches + switches)


class _Peers:
    """One variant's broker and server for a round, and the CPU they spend while a client is measured."""

    def __init__(self, variant: Variant, counts: Counts) -> None:
        self.variant = variant
        self.counts = counts
        self.broker = Child(f"{variant.name}-broker", [sys.executable, "-m", "bench.broker"])
        self.server: Child | None = None
        self.server_cpu = self.broker_cpu = 0.0
        self.server_threads: dict[str, tuple[float, int]] = {}
        self.client_threads: dict[str, tuple[float, int]] = {}
        self.addresses = self.broker.require("ready", 30)
        self.server = Child(
            f"{variant.name}-server",
            [str(variant.python), "-m", variant.server, "--sub", self.addresses["sub"], "--pub", self.addresses["pub"],
             *variant.server_args],
        )
        self._server_names: dict[str, str] = self.server.require("ready", _START_TIMEOUT).get("threads", {})
        self._client_names: dict[Child, dict[str, str]] = {}
        self._processes = (psutil.Process(self.server.pid), psutil.Process(self.broker.pid))

    def client(self, mode: str) -> Child:
        """A client process for ``mode``, connected and warmed up (it has said ``begin``)."""
        counts = self.counts
        client = Child(
            f"{self.variant.name}-client",
            [str(self.variant.python), "-m", self.variant.client, "--sub", self.addresses["sub"], "--pub",
             self.addresses["pub"], "--mode", mode, "--calls", str(counts.of(mode)), "--window", str(counts.window),
             "--warmup", str(counts.warmup), "--chunks", str(counts.chunks), *self.variant.client_args],
            stdin=True,
        )
        try:
            self._client_names[client] = client.require("begin", _START_TIMEOUT).get("threads", {})
        except BaseException:
            client.kill()
            raise
        return client

    def measure(self, client: Child, answer: str, timeout: float) -> dict[str, Any]:
        """Write ``go`` and wait for ``answer``, adding the server's and broker's CPU meanwhile."""
        server, broker = self._processes
        server_threads, client_threads = sample(server.pid), sample(client.pid)
        server_cpu, broker_cpu = _cpu(server), _cpu(broker)
        client.tell("go")
        message = client.require(answer, timeout)
        self.server_cpu += _cpu(server) - server_cpu
        self.broker_cpu += _cpu(broker) - broker_cpu
        _add(self.server_threads, by_role(server_threads, sample(server.pid), self._server_names))
        _add(self.client_threads, by_role(client_threads, sample(client.pid), self._client_names.get(client, {})))
        return message

    def phase(self, result: dict[str, Any], mode: str, round_: int) -> Phase:
        """A client's ``result`` as a :class:`Phase`, with the server and broker CPU added up since the last one."""
        server_cpu, broker_cpu, self.server_cpu, self.broker_cpu = self.server_cpu, self.broker_cpu, 0.0, 0.0
        server_threads, client_threads, self.server_threads, self.client_threads = (
            self.server_threads, self.client_threads, {}, {}
        )
        return Phase(
            variant=self.variant.name,
            mode=mode,
            round=round_,
            calls=int(result["calls"]),
            wall=float(result["wall"]),
            client_cpu=float(result["cpu"]),
            server_cpu=server_cpu,
            broker_cpu=broker_cpu,
            latency_us={key: float(value) for key, value in result["latency_us"].items()},
            rss_growth_mib=float(result["rss_growth_mib"]),
            tenths=[float(rate) for rate in result.get("tenths", [])],
            cpu_tenths=[float(us) for us in result.get("cpu_tenths_us", [])],
            server_threads=server_threads,
            client_threads=client_threads,
        )

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()
        self.broker.kill()


def _phase(peers: list[_Peers], mode: str, round_: int, profile_to: Path | None = None) -> list[Phase]:
    """Every variant's calls of ``mode`` in parts, the variants alternating part by part (the order rotates)."""
    clients: list[Child] = []
    try:
        for peer in peers:
            clients.append(peer.client(mode))
        with contextlib.ExitStack() as recordings:
            if profile_to is not None:
                for peer, client in zip(peers, clients, strict=True):
                    assert peer.server is not None
                    stem = f"{peer.variant.name}-{mode}"
                    recordings.enter_context(py_spy(peer.server.pid, profile_to / f"{stem}-server-r{round_}.txt"))
                    recordings.enter_context(py_spy(client.pid, profile_to / f"{stem}-client-r{round_}.txt"))
            chunks = max(peer.counts.chunks for peer in peers)
            for part in range(chunks):
                shift = part % len(peers)
                for index in list(range(shift, len(peers))) + list(range(shift)):
                    if part < peers[index].counts.chunks:
                        timeout = _START_TIMEOUT + peers[index].counts.of(mode) / 50
                        peers[index].measure(clients[index], "chunk", timeout)
        phases = [
            peer.phase(client.require("result", _START_TIMEOUT), mode, round_)
            for peer, client in zip(peers, clients, strict=True)
        ]
        for client in clients:
            client.stop()
        return phases
    finally:
        for client in clients:
            client.kill()


def run_round(
    variants: list[Variant], counts: dict[str, Counts], round_: int, profile_to: Path | None = None
) -> list[Phase]:
    """One round over ``variants`` in the given order (py-spy recordings of the in-flight runs into ``profile_to``)."""
    peers: list[_Peers] = []
    try:
        for variant in variants:
            peers.append(_Peers(variant, counts[variant.name]))
        return _phase(peers, SEQUENTIAL, round_) + _phase(peers, IN_FLIGHT, round_, profile_to)
    finally:
        for peer in peers:
            peer.close()
