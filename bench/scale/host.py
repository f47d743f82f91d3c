"""The host of ``python -m bench scale``: N counting plugins, plugin ``i`` on topic ``scale_<i>``.

Control lines (see :mod:`bench.protocol`): ``ready`` once the host started; ``subscribed`` once every
plugin saw a probe; ``result`` (delivered, wall from the first counted message to the last, process CPU
in that window, drops) once every plugin saw the end marker.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from openmodule_hookspecs import PluginCore, ZMQMessage, hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate

from ..protocol import END, PROBE, TYPE, emit
from . import TOPIC_PREFIX


class BenchMessage(ZMQMessage):
    type: str = TYPE
    seq: int
    data: str


class Shared:
    """What all plugins' counters share: the first message's wall and CPU time, and the events."""

    def __init__(self, plugins: int) -> None:
        self.first_wall = 0.0
        self.first_cpu = 0.0
        self.lock = threading.Lock()
        self.probed = threading.Semaphore(0)
        self.ended = threading.Semaphore(0)
        self.plugins = plugins


class CountingPlugin:
    """Counts the messages of its own topic; each plugin's handler runs on its own worker."""

    def __init__(self, index: int, shared: Shared) -> None:
        self.topic = f"{TOPIC_PREFIX}{index}"
        self.shared = shared
        self.count = 0
        self.last_wall = 0.0
        self.probed = self.ended = False

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        core.messages.register_handler(self.topic, BenchMessage, self.on_message)

    def on_message(self, message: BenchMessage) -> None:
        if message.seq >= 0:
            now = time.perf_counter()
            if not self.count:
                with self.shared.lock:
                    if not self.shared.first_wall:
                        self.shared.first_wall, self.shared.first_cpu = now, time.process_time()
            self.count += 1
            self.last_wall = now
        elif message.seq == PROBE and not self.probed:
            self.probed = True
            self.shared.probed.release()
        elif message.seq == END and not self.ended:
            self.ended = True
            self.shared.ended.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--pub", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shared = Shared(args.count)
    plugins = [CountingPlugin(index, shared) for index in range(args.count)]
    config = HostConfig.model_validate({"name": "om_scale_host", "broker": "external", "broker_sub": args.sub,
                                        "broker_pub": args.pub, "log_level": "WARNING", "dsgvo": False,
                                        "data_dir": args.data_dir})
    candidates = [PluginCandidate.from_object(f"counter_{index}", plugin) for index, plugin in enumerate(plugins)]
    with Host(config, candidates, strict=True, report=lambda _: None) as host:
        emit("ready")
        for _ in plugins:
            shared.probed.acquire()
        emit("subscribed")
        for _ in plugins:
            shared.ended.acquire()
        cpu = time.process_time() - shared.first_cpu if shared.first_wall else 0.0
        last = max(plugin.last_wall for plugin in plugins)
        dropped = sum(plugin.worker.mailbox.dropped for plugin in host.plugins.values() if plugin.worker is not None)
        emit("result", delivered=sum(plugin.count for plugin in plugins), wall=last - shared.first_wall, cpu=cpu,
             dropped=dropped)
        sys.stdin.read()


if __name__ == "__main__":
    main()
