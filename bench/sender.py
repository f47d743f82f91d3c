"""``python -m bench sender``: the sender's CPU per message when a service publishes its messages.

The pub/sub flood (``python -m bench``) sends with raw pyzmq for every receiver, so it cannot show what the
host's own send path costs. Here the *sender* is the variant: a fresh broker and a fresh sender process
per measurement (``bench/senders/``), this process the subscriber. Every sender publishes the same ~100-byte
message ``--messages`` times as fast as it can; the figure is the sender process's CPU time during the
flood (every thread: the publishing one, libzmq's I/O thread, the host's own idle threads) per message.

- raw pyzmq: a dict -> ``orjson.dumps`` -> two ``send`` calls;
- raw pyzmq + model: a plain pydantic model -> its ``to_json`` -> two ``send`` calls (what a model costs
  without a framework);
- openmodule-host: a plugin builds its ``ZMQMessage`` model and calls ``core.publish(message, topic)``;
- openmodule 18.5.0: a service builds its ``ZMQMessage`` model and calls ``core().publish(message, topic)``.

This process counts what arrives (delivered / sent), so nothing is lost on the way unnoticed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import zmq

from .processes import OPENMODULE_PYTHON, Child, chosen_variants
from .protocol import END, PROBE, TOPIC

__all__ = ["SENDERS", "SenderMeasurement", "main", "run_sender"]

_TIMEOUT = 120.0


@dataclass(frozen=True)
class Sender:
    name: str
    label: str
    module: str
    python: Path


SENDERS = {
    sender.name: sender
    for sender in (
        Sender("raw", "raw pyzmq", "bench.senders.raw", Path(sys.executable)),
        Sender("raw-model", "raw pyzmq + model", "bench.senders.raw_model", Path(sys.executable)),
        Sender("host", "openmodule-host", "bench.senders.host", Path(sys.executable)),
        Sender("openmodule", "openmodule 18.5.0", "bench.senders.openmodule_service", OPENMODULE_PYTHON),
    )
}


@dataclass(frozen=True)
class SenderMeasurement:
    variant: str
    sent: int
    delivered: int
    #: the sender process's CPU seconds (all threads) and wall seconds during the flood.
    cpu: float
    wall: float
    #: of ``cpu``: the publishing thread's (the rest: libzmq's I/O thread, the host's idle threads).
    thread: float

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.sent * 1e6 if self.sent else 0.0

    @property
    def thread_us(self) -> float:
        return self.thread / self.sent * 1e6 if self.sent else 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.wall > 0 else 0.0


def _seq(body: bytes) -> int:
    seq = orjson.loads(body).get("seq")
    return seq if isinstance(seq, int) else PROBE


def run_sender(variant: str, messages: int) -> SenderMeasurement:
    """One measurement of ``variant``'s sender: fresh broker and sender processes."""
    sender_spec = SENDERS[variant]
    broker = Child("broker", [sys.executable, "-m", "bench.broker"])
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sender: Child | None = None
    try:
        addresses = broker.require("ready", _TIMEOUT)
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(addresses["pub"])
        sub.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
        sender = Child(f"sender-{variant}", [str(sender_spec.python), "-m", sender_spec.module, "--sub",
                                             addresses["sub"], "--pub", addresses["pub"], "--messages",
                                             str(messages)], stdin=True)
        sender.require("ready", _TIMEOUT)
        deadline_ms = int(_TIMEOUT * 1000)
        while True:  # the first probe: the subscription reached the sender
            if not sub.poll(deadline_ms):
                raise RuntimeError(f"{variant}: no probe arrived\n{sender.stderr_tail()}")
            if _seq(sub.recv_multipart()[1]) == PROBE:
                break
        sender.tell("go")
        delivered = 0
        while True:
            if not sub.poll(deadline_ms):
                raise RuntimeError(f"{variant}: the flood stopped after {delivered:,}\n{sender.stderr_tail()}")
            seq = _seq(sub.recv_multipart()[1])
            if seq >= 0:
                delivered += 1
            elif seq == END:
                break
        sender.tell("done")
        result = sender.require("result", _TIMEOUT)
        return SenderMeasurement(variant, int(result["sent"]), delivered, float(result["cpu"]), float(result["wall"]),
                                 float(result["thread"]))
    finally:
        if sender is not None:
            sender.stop()
        broker.kill()
        context.destroy(linger=0)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench sender", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000, help="messages per round, raw and host")
    parser.add_argument("--om-messages", type=int, default=20_000, help="messages per round, openmodule")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the order rotates)")
    parser.add_argument("--variants", default=",".join(SENDERS), help=f"subset of {', '.join(SENDERS)}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Prints one line per measurement (stderr) and a table of medians (stdout); writes no report."""
    args = _parse(argv)
    names = chosen_variants(args.variants, SENDERS)
    if names is None:
        return 2
    if not names or args.rounds < 1 or args.messages < 1 or args.om_messages < 1:
        print("nothing to measure: need a variant, rounds and messages", file=sys.stderr)
        return 2
    results: dict[str, list[SenderMeasurement]] = {name: [] for name in names}
    for round_ in range(1, args.rounds + 1):
        shift = (round_ - 1) % len(names)
        for name in names[shift:] + names[:shift]:
            measurement = run_sender(name, args.om_messages if name == "openmodule" else args.messages)
            results[name].append(measurement)
            print(f"round {round_}/{args.rounds} {SENDERS[name].label:>17}: {measurement.cpu_us:6.2f} us CPU/msg "
                  f"(publishing thread {measurement.thread_us:.2f}), "
                  f"{measurement.rate:>9,.0f} msg/s, delivered {measurement.delivered:,}/{measurement.sent:,}",
                  file=sys.stderr, flush=True)
    medians = {name: statistics.median(m.cpu_us for m in results[name]) for name in names}
    print("| sender | CPU us/msg (median) | min - max | publishing thread, us/msg | msg/s (median) | delivered / sent "
          "| / raw pyzmq |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        values = [m.cpu_us for m in results[name]]
        ratio = f"{medians[name] / medians['raw']:.2f}x" if "raw" in medians else "-"
        print(f"| {SENDERS[name].label} | {medians[name]:.2f} | {min(values):.2f} - {max(values):.2f} | "
              f"{statistics.median(m.thread_us for m in results[name]):.2f} | "
              f"{statistics.median(m.rate for m in results[name]):,.0f} | "
              f"{sum(m.delivered for m in results[name]):,} / {sum(m.sent for m in results[name]):,} | {ratio} |")
    return 0
