"""The soak: a host (the real CLI, in its own process) under steady mixed traffic for minutes.

Plugins: ``hello``, ``backend_x`` (a database and an access service), and the fault suite's ``steady`` (an
RPC) and ``faulty`` (without a fault: an RPC, a handler, ``check_access``, ``health`` and ``shutdown``
hooks). Traffic, every tick: an RPC to ``steady`` (timed), a ``hello`` message and a ``present_vehicle``
enter for ``backend_x``; every few ticks an access check, a health ping, a message and an RPC for
``faulty``, and a bad frame (garbage, a schema-invalid message or an RPC request of the wrong shape).
Every ``interval`` seconds it samples the host's RSS, thread count and open file descriptors and the RPC
latency since the last sample. At the end it prints the series and compares the first and the last
quarter; :func:`verdict` names what grew beyond the tolerance.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psutil
import zmq

from openmodule_host.testing import PrivateBroker, TestClient
from tests.faults.matrix import install_plugins
from tests.support import HostProcess

TICK = 0.02
#: growth (last quarter against the first) that fails the soak.
RSS_TOLERANCE_MIB = 16.0
RSS_TOLERANCE_SHARE = 0.10
THREADS_TOLERANCE = 2
FDS_TOLERANCE = 4
P99_TOLERANCE_MS = 50.0

BAD_FRAMES: tuple[tuple[bytes, ...], ...] = (
    (b"hello", b"\xff\xfe not json"),
    (b"hello", orjson.dumps({"type": "hello", "text": {"not": "a string"}})),
    (b"present_vehicle", orjson.dumps({"type": "enter", "vehicle_id": ["x"], "gate": 1})),
    (b"rpc-req-steady", orjson.dumps({"type": "echo", "rpc_id": "not-a-uuid", "request": "x"})),
    (b"rpc-req-steady", orjson.dumps({"type": "echo", "request": {"n": "many"}, "rpc_id": "0" * 32})),
    (b"healthz",),
    (b"connection_internal", orjson.dumps({"type": "connection_status", "connected": 42})),
)


@dataclass
class Sample:
    at: float
    rss: int
    threads: int
    fds: int
    calls: int
    answered: int
    p50_ms: float
    p99_ms: float


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    messages: int = 0
    bad_frames: int = 0
    pings: int = 0
    replies: int = 0

    @property
    def missed(self) -> int:
        return sum(sample.calls - sample.answered for sample in self.samples)

    def quarters(self) -> tuple[list[Sample], list[Sample]]:
        count = max(1, len(self.samples) // 4)
        return self.samples[:count], self.samples[-count:]

    def lines(self) -> list[str]:
        rows = [HEADER, *(row(sample) for sample in self.samples)]
        first, last = self.quarters()
        rows.append(f"traffic: {sum(s.calls for s in self.samples)} RPCs ({self.missed} unanswered), "
                    f"{self.messages} messages ({self.replies} hello replies), {self.pings} pings, "
                    f"{self.bad_frames} bad frames")
        for name, value in (("RSS (MiB)", lambda s: s.rss / 2**20), ("threads", lambda s: s.threads),
                            ("fds", lambda s: s.fds), ("p99 (ms)", lambda s: s.p99_ms)):
            before, after = _mean(first, value), _mean(last, value)
            rows.append(f"{name}: first quarter {before:.1f}, last quarter {after:.1f} ({after - before:+.1f})")
        return rows


HEADER = "   t (s)   RSS (MiB)  threads  fds   calls  missed  p50 (ms)  p99 (ms)"


def row(sample: Sample) -> str:
    return (f"{sample.at:8.0f}  {sample.rss / 2**20:10.1f}  {sample.threads:7d}  {sample.fds:3d}  "
            f"{sample.calls:6d}  {sample.calls - sample.answered:6d}  {sample.p50_ms:8.2f}  {sample.p99_ms:8.2f}")


def _mean(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    return statistics.fmean(value(sample) for sample in samples)


def verdict(soak: Soak) -> list[str]:
    """What grew beyond the tolerance, or was lost (empty: flat)."""
    if len(soak.samples) < 4:
        return ["too few samples to compare (run longer or sample more often)"]
    first, last = soak.quarters()
    found = []
    rss_before, rss_after = _mean(first, lambda s: s.rss / 2**20), _mean(last, lambda s: s.rss / 2**20)
    if rss_after - rss_before > max(RSS_TOLERANCE_MIB, RSS_TOLERANCE_SHARE * rss_before):
        found.append(f"RSS grew from {rss_before:.1f} to {rss_after:.1f} MiB")
    for name, tolerance, value in (("threads", THREADS_TOLERANCE, lambda s: s.threads),
                                   ("open fds", FDS_TOLERANCE, lambda s: s.fds)):
        before, after = max(value(s) for s in first), max(value(s) for s in last)
        if after - before > tolerance:
            found.append(f"{name} grew from {before} to {after}")
    p99_before, p99_after = _mean(first, lambda s: s.p99_ms), _mean(last, lambda s: s.p99_ms)
    if p99_after - p99_before > P99_TOLERANCE_MS:
        found.append(f"RPC p99 grew from {p99_before:.1f} to {p99_after:.1f} ms")
    if soak.missed:
        found.append(f"{soak.missed} RPCs got no answer")
    return found


def run(seconds: float, interval: float, report: Callable[[str], None] = print) -> Soak:
    soak = Soak()
    broker = PrivateBroker()
    context = zmq.Context()
    client = TestClient(context, broker.sub_address, broker.pub_address)
    try:
        with tempfile.TemporaryDirectory(prefix="omh-soak-") as folder:
            env = {**broker.env, **install_plugins(Path(folder) / "site")}
            with HostProcess(["--plugins", "hello,backend_x,steady,faulty", "--broker", "external",
                              "--log-level", "WARNING"], env) as host:
                host.wait_ready(60)
                client.sync()
                _traffic(soak, client, psutil.Process(host.proc.pid), seconds, interval, report)
    finally:
        client.close()
        context.destroy(linger=0)
        broker.close()
    return soak


def _traffic(soak: Soak, client: TestClient, process: psutil.Process, seconds: float, interval: float,
             report: Callable[[str], None]) -> None:
    client.subscribe("hello_reply")
    report(HEADER)
    started = time.monotonic()
    end, next_sample = started + seconds, started + interval
    latencies: list[float] = []
    calls = answered = tick = 0
    while time.monotonic() < end:
        tick += 1
        calls += 1
        sent = time.monotonic()
        try:
            reply = client.rpc("steady", "echo", {"n": tick}, timeout=2.0)
            if (reply.get("response") or {}).get("n") == tick:
                answered += 1
                latencies.append(time.monotonic() - sent)
        except AssertionError:
            pass
        client.publish("hello", {"type": "hello", "text": f"soak {tick}"})
        client.publish("present_vehicle", {"type": "enter", "vehicle_id": str(tick), "gate": "entry",
                                           "lpr_front": {"plate": f"G SOAK {tick % 50}"}})
        soak.messages += 2
        if tick % 10 == 0:
            client.rpc_send("access_service", "auth", {"name": "backend_x", "vehicle": {"lpr": {"id": "G1"}}})
            client.rpc_send("faulty", "poke", {})
            client.publish("faulty", {"type": "poke"})
            soak.messages += 1
        if tick % 25 == 0:
            client.publish("healthz", {"type": "ping", "ping": "ping"})
            soak.pings += 1
        if tick % 5 == 0:
            client.send_frames(*BAD_FRAMES[(tick // 5) % len(BAD_FRAMES)])
            soak.bad_frames += 1
        if tick % 50 == 0:  # take what we do not wait for, so the client's inbox stays small
            soak.replies += _drain(client, "hello_reply")
            _drain(client, "rpc-rep-access_service", "rpc-rep-faulty")
        if time.monotonic() >= next_sample:
            soak.samples.append(_sample(process, time.monotonic() - started, calls, answered, latencies))
            report(row(soak.samples[-1]))
            latencies, calls, answered = [], 0, 0
            next_sample += interval
        time.sleep(TICK)


def _drain(client: TestClient, *topics: str) -> int:
    taken = 0
    for topic in topics:
        while True:
            try:
                client.wait_for_message(topic, timeout=0)
            except (AssertionError, ValueError):  # none left, or not subscribed yet
                break
            taken += 1
    return taken


def _sample(process: psutil.Process, at: float, calls: int, answered: int, latencies: list[float]) -> Sample:
    ordered = sorted(latencies) or [0.0]
    return Sample(
        at=at, rss=process.memory_info().rss, threads=process.num_threads(), fds=process.num_fds(), calls=calls,
        answered=answered, p50_ms=1000 * ordered[len(ordered) // 2],
        p99_ms=1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    )
