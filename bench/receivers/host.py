"""Variant (b), openmodule-host: a :class:`~openmodule_host.Host` on the external broker running one plugin.

The plugin registers one handler for :class:`BenchMessage`; every message takes the host's real path:
intake (recv, decode, route) -> the plugin's mailbox -> its worker -> pydantic validation -> handler.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psutil
from openmodule_hookspecs import PluginCore, ZMQMessage, hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate

from ..protocol import TOPIC, TYPE
from ..tally import Tally
from . import parse_args

PLUGIN = "bench"


class BenchMessage(ZMQMessage):
    type: str = TYPE
    seq: int
    data: str


class BenchPlugin:
    """A plugin whose only handler counts messages."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        core.messages.register_handler(TOPIC, BenchMessage, self.on_message)

    def on_message(self, message: BenchMessage) -> None:
        self.tally(message.seq)


class ThreadCpu:
    """CPU seconds per thread name between :meth:`start` and :meth:`since_start` (via psutil)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        names = {thread.native_id: thread.name for thread in threading.enumerate()}
        times: dict[str, float] = {}
        for thread in self._process.threads():
            name = names.get(thread.id, "other")
            times[name] = times.get(name, 0.0) + thread.user_time + thread.system_time
        return times

    def start(self) -> None:
        self._start = self._now()

    def since_start(self) -> dict[str, float]:
        return {name: round(cpu - self._start.get(name, 0.0), 4) for name, cpu in self._now().items()}


def main() -> None:
    args = parse_args(__doc__ or "")
    thread_cpu = ThreadCpu()
    tally = Tally(on_ready=thread_cpu.start)
    config = HostConfig(
        name="om_bench_host_1",
        broker="external",
        broker_sub=args.sub,
        broker_pub=args.pub,
        mailbox_size=args.mailbox_size,
        log_level="WARNING",
        cpu_placement=args.cpu_placement,
    )
    logging.basicConfig(level=logging.WARNING)
    host = Host(config, [PluginCandidate.from_object(PLUGIN, BenchPlugin(tally))], strict=True, report=lambda _: None)

    def extras() -> dict[str, Any]:
        plugin = host.plugins[PLUGIN]
        assert host.intake is not None and plugin.worker is not None
        return {
            "intake_received": host.intake.stats.received,
            "mailbox_dropped": plugin.worker.mailbox.dropped,
            "invalid": plugin.stats.invalid,
            "thread_cpu": thread_cpu.since_start(),
        }

    tally.extras = extras
    with host:
        tally.finished.wait()


if __name__ == "__main__":
    main()
