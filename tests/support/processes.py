"""Run the real ``openmodule-host`` CLI in a subprocess and watch its output."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CLI = str(Path(sys.executable).with_name("openmodule-host"))


def _environment(env: Mapping[str, str] | None, data_dir: str) -> dict[str, str]:
    """The test's environment; SQLite files go to a private folder, never into the working tree."""
    return {**os.environ, "DATABASE_FOLDER": data_dir, **(env or {})}


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``openmodule-host ARGS`` to completion."""
    with tempfile.TemporaryDirectory(prefix="omh-data-") as data_dir:
        return subprocess.run(
            [CLI, *args], capture_output=True, text=True, timeout=timeout, env=_environment(env, data_dir)
        )


class HostProcess:
    """``openmodule-host ARGS`` running in the background; stdout and stderr are collected line by line."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.args = list(args)
        self._data_dir = tempfile.TemporaryDirectory(prefix="omh-data-")
        self.proc = subprocess.Popen(
            [CLI, *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(env, self._data_dir.name),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream, sink, forward), daemon=True)
            for stream, sink, forward in ((self.proc.stdout, self.stdout, True), (self.proc.stderr, self.stderr, False))
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream, sink: list[str], forward: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if forward:
                self._lines.put(line.rstrip("\n"))

    def wait_for_line(self, prefix: str, timeout: float = 30) -> str:
        """The next stdout line starting with ``prefix``; fails with the output so far on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and self._lines.empty():
                    break
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(
            f"no line starting with {prefix!r}; exit code {self.proc.poll()}\n"
            f"stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)
        )

    def wait_ready(self, timeout: float = 30) -> str:
        return self.wait_for_line("ready", timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for pump in self._pumps:
                pump.join(5)
            for stream in (self.proc.stdout, self.proc.stderr):
                stream.close()
            self._data_dir.cleanup()

    def __enter__(self) -> HostProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.proc.stdout.closed:
            self.stop()
