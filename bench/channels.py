"""``python -m bench channels``: what the RPC channels a host has called cost, in memory and at stop.

A host calls N different RPC channels (each subscribes ``rpc-rep-<channel>`` after a connection check).
Each count runs in a fresh process with its own embedded broker (IPC, in a temporary folder) and reports:
the time to open the N channels (200 at a time), the resident memory they added, the intake's topic
count, and how long ``Host.stop()`` takes with the channels still open. With ``--idle S`` (hosts that
have the ``rpc_channel_idle`` setting) it also waits for the idle channels to expire and reports the
topic count and the memory then (resident size: Python keeps much of what it freed, for reuse).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from .processes import ROOT

_MIB = 2**20
_OPENERS = 200


def _open(calls: Any, count: int) -> None:
    """Open ``count`` channels, 200 at a time: each first call waits for its connection check (0.1 s)."""
    with ThreadPoolExecutor(_OPENERS) as pool:
        for _ in pool.map(calls.open_channel, (f"bench_channel_{index}" for index in range(count))):
            pass


def _measure(count: int, idle: float | None) -> dict[str, Any]:
    """One count, in this process."""
    from openmodule_host import Host, HostConfig

    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        settings: dict[str, Any] = {"rpc_channel_idle": idle} if idle is not None else {}
        config = HostConfig(name="bench_channels", broker_sub=f"ipc://{folder}/sub", broker_pub=f"ipc://{folder}/pub",
                            log_level="WARNING", dsgvo=False, data_dir=folder, **settings)
        host = Host(config, [], report=lambda _: None)
        host.start()
        assert host.intake is not None and host.rpc_calls is not None
        base_topics = len(host.intake.topics)
        rss_before = process.memory_info().rss
        started = time.monotonic()
        _open(host.rpc_calls, count)
        opened = time.monotonic() - started
        rss_after = process.memory_info().rss
        topics = len(host.intake.topics) - base_topics
        result: dict[str, Any] = {
            "channels": count, "open_s": opened, "rss_added_mib": (rss_after - rss_before) / _MIB,
            "topics": topics,
        }
        if idle is not None:
            deadline = time.monotonic() + 2 * idle + 30
            while len(host.intake.topics) > base_topics and time.monotonic() < deadline:
                time.sleep(0.1)
            result["topics_after_idle"] = len(host.intake.topics) - base_topics
            result["rss_after_idle_mib"] = (process.memory_info().rss - rss_before) / _MIB
            _open(host.rpc_calls, count)  # open them again, for the stop below
        started = time.monotonic()
        host.stop()
        result["stop_s"] = time.monotonic() - started
    return result


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench channels", description=__doc__)
    parser.add_argument("--channels", default="10000,20000", help="comma-separated channel counts")
    parser.add_argument("--idle", type=float, help="rpc_channel_idle for the host; also measure the expiry")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: measure one count
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.one is not None:
        print(json.dumps(_measure(args.one, args.idle)))
        return 0
    print("| channels | open (s) | memory added (MiB) | topics | after idle: topics, memory (MiB) | stop (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for count in (int(text) for text in args.channels.split(",") if text.strip()):
        command = [sys.executable, "-m", "bench", "channels", "--one", str(count)]
        if args.idle is not None:
            command += ["--idle", str(args.idle)]
        output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        idle = (f"{result['topics_after_idle']:,}, {result['rss_after_idle_mib']:.1f}"
                if "topics_after_idle" in result else "-")
        print(f"| {count:,} | {result['open_s']:.1f} | {result['rss_added_mib']:.1f} | {result['topics']:,} | "
              f"{idle} | {result['stop_s']:.2f} |")
    return 0
