"""One measurement: a fresh broker and receiver process, this process as the sender.

Sequence: start the broker, start the receiver, publish probes until the receiver's handler has seen one
(so its subscription has reached the sender), flood the pre-built bodies as fast as possible, then
publish end markers until the receiver reports its count and its CPU time.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import zmq

from .processes import OPENMODULE_PYTHON, Child, ChildFailed
from .profiling import py_spy
from .protocol import END, PROBE, TOPIC, make_body

__all__ = ["VARIANTS", "Measurement", "Variant", "run_one"]

_PROBE_INTERVAL = 0.02
_END_INTERVAL = 0.05
_READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    module: str
    python: Path
    #: further arguments of the receiver process
    args: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.python.exists()


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("raw", "raw pyzmq", "bench.receivers.raw", Path(sys.executable)),
        Variant("host", "openmodule-host", "bench.receivers.host", Path(sys.executable)),
        Variant("host-unplaced", "host, cpu_placement off", "bench.receivers.host", Path(sys.executable),
                ("--cpu-placement", "off")),
        Variant(
            "openmodule",
            "openmodule 18.5.0",
            "bench.receivers.openmodule_service",
            OPENMODULE_PYTHON,
        ),
    )
}


@dataclass
class Measurement:
    variant: str
    round: int
    sent: int
    delivered: int
    #: receiver: seconds from the first to the last counted message, and process CPU in that window.
    receiver_wall: float
    receiver_cpu: float
    #: sender: seconds and CPU the flood took; broker: CPU from the flood's start to the result.
    sender_wall: float
    sender_cpu: float
    broker_cpu: float
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages per second delivered to the handler."""
        return self.delivered / self.receiver_wall if self.receiver_wall > 0 else 0.0

    @property
    def receiver_us(self) -> float:
        return self.receiver_cpu / self.delivered * 1e6 if self.delivered else 0.0

    @property
    def sender_us(self) -> float:
        return self.sender_cpu / self.sent * 1e6 if self.sent else 0.0

    @property
    def broker_us(self) -> float:
        return self.broker_cpu / self.sent * 1e6 if self.sent else 0.0

    @property
    def send_rate(self) -> float:
        return self.sent / self.sender_wall if self.sender_wall > 0 else 0.0


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _send(pub: zmq.Socket, topic: bytes, body: bytes) -> None:
    pub.send(topic, zmq.SNDMORE)
    pub.send(body)


def _await(receiver: Child, kind: str, pub: zmq.Socket, body: bytes, interval: float, timeout: float) -> dict[str, Any]:
    """Publish ``body`` every ``interval`` s until the receiver answers with ``kind``."""
    topic = TOPIC.encode()
    deadline = time.monotonic() + timeout
    while True:
        _send(pub, topic, body)
        if (answer := receiver.expect(kind, interval)) is not None:
            return answer
        if time.monotonic() > deadline:
            raise ChildFailed(f"{receiver.name}: no {kind!r} within {timeout:g} s\n{receiver.stderr_tail()}")


def _flood(pub: zmq.Socket, bodies: list[bytes]) -> tuple[float, float]:
    """Send every body as fast as possible; returns the wall and CPU seconds it took."""
    # Two plain sends per message: send_multipart costs about 2.5x more in pyzmq, and a slow sender
    # would cap the fast receivers.
    send, topic, more = pub.send, TOPIC.encode(), zmq.SNDMORE
    started, started_cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        send(topic, more)
        send(body)
    return time.perf_counter() - started, time.process_time() - started_cpu


def run_one(
    variant: Variant, bodies: list[bytes], round_: int, mailbox_size: int, profile_to: Path | None = None
) -> Measurement:
    """Measure ``variant`` once with a flood of ``bodies`` (recording the receiver with py-spy if asked)."""
    broker = Child("broker", [sys.executable, "-m", "bench.broker"])
    receiver: Child | None = None
    context = zmq.Context()
    try:
        addresses = broker.require("ready", 30)
        receiver = Child(
            variant.name,
            [str(variant.python), "-m", variant.module, "--sub", addresses["sub"], "--pub", addresses["pub"],
             "--mailbox-size", str(mailbox_size), *variant.args],
        )
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.SNDHWM, 0)  # no limit: the flood queues instead of being dropped
        pub.connect(addresses["sub"])
        _await(receiver, "ready", pub, make_body(PROBE), _PROBE_INTERVAL, _READY_TIMEOUT)

        broker_process = psutil.Process(broker.pid)
        with py_spy(receiver.pid, profile_to):
            broker_cpu = _cpu(broker_process)
            sender_wall, sender_cpu = _flood(pub, bodies)
            result = _await(receiver, "result", pub, make_body(END), _END_INTERVAL, 120.0 + len(bodies) / 500)
            broker_cpu = _cpu(broker_process) - broker_cpu
        pub.close()
        receiver.stop()
        return Measurement(
            variant=variant.name,
            round=round_,
            sent=len(bodies),
            delivered=int(result["delivered"]),
            receiver_wall=float(result["wall"]),
            receiver_cpu=float(result["cpu"]),
            sender_wall=sender_wall,
            sender_cpu=sender_cpu,
            broker_cpu=broker_cpu,
            extras=dict(result.get("extras") or {}),
        )
    finally:
        if receiver is not None:
            receiver.kill()
        broker.kill()
        context.destroy(linger=0)
