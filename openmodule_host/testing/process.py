"""The real ``openmodule-host`` command in a child process (openmodule-test's ``MainTestMixin``): started with
chosen plugins and config on a private broker, waited for until ready, stopped with SIGTERM, and checked for a
clean exit within a bound; everything it printed is kept and shown when a check fails."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import tomli_w

from .harness import PrivateBroker

__all__ = ["HostProcess", "start_host_process"]


def cli_path() -> str:
    """The ``openmodule-host`` script of this environment (beside the running interpreter), else on PATH."""
    beside = Path(sys.executable).with_name("openmodule-host")
    if beside.is_file():
        return str(beside)
    found = shutil.which("openmodule-host")
    if found is None:
        raise FileNotFoundError("no openmodule-host command beside this Python or on PATH: install openmodule-host")
    return found


class HostProcess:
    """``openmodule-host ARGS`` running in the background; its stdout and stderr are collected line by line.

    SQLite files go to a private temporary folder (``DATABASE_FOLDER``) unless ``env`` names one; ``config``
    (a TOML document) is written there too and passed as ``--config``. The folder is removed by :meth:`stop`.
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str] | None = None, *,
                 config: str | None = None) -> None:
        self.args = list(args)
        self._data_dir = tempfile.TemporaryDirectory(prefix="omh-data-")
        if config is not None:
            path = Path(self._data_dir.name) / "host.toml"
            path.write_text(config, encoding="utf-8")
            self.args += ["--config", str(path)]
        self.proc = subprocess.Popen(
            [cli_path(), *self.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # faulthandler on: a host that hangs at stop prints every thread's stack on SIGABRT (see stop)
            env={**os.environ, "PYTHONFAULTHANDLER": "1", "DATABASE_FOLDER": self._data_dir.name, **(env or {})},
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

    def _pump(self, stream: IO[str], sink: list[str], forward: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if forward:
                self._lines.put(line.rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything it printed so far, for a failure message."""
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)

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
        raise AssertionError(f"no line starting with {prefix!r} within {timeout} s; exit code {self.proc.poll()}\n"
                             f"{self.output}")

    def wait_ready(self, timeout: float = 30) -> str:
        """Wait for the ``ready: N running, M failed`` line."""
        return self.wait_for_line("ready", timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit code (``subprocess.TimeoutExpired`` after ``timeout``: the
        process first gets SIGABRT, which prints its threads' stacks to its stderr, then it is killed); the
        streams are closed and the data folder removed afterwards."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Before it is killed, SIGABRT makes Python print every thread's stack to stderr (faulthandler):
            # the output then shows where the host hung.
            self.proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            raise
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for pump in self._pumps:
                pump.join(5)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self._data_dir.cleanup()

    def assert_clean_shutdown(self, timeout: float = 30, sig: int = signal.SIGTERM) -> float:
        """Send ``sig`` (SIGTERM) and assert the host exits with status 0 within ``timeout`` seconds
        (openmodule-test's ``assertCleanShutdown``); returns how long it took. Fails with the output."""
        if self.proc.poll() is not None:
            raise AssertionError(f"the host had already exited with {self.proc.returncode} before the signal\n"
                                 f"{self.output}")
        started = time.monotonic()
        try:
            code = self.stop(sig, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the host did not exit within {timeout} s of {signal.Signals(sig).name} (killed)\n"
                                 f"{self.output}") from None
        took = time.monotonic() - started
        if code != 0:
            raise AssertionError(f"the host exited with {code} after {signal.Signals(sig).name}, not 0\n{self.output}")
        return took

    def close(self, timeout: float = 10) -> None:
        """Stop it unless stopped already: SIGTERM, killed after ``timeout``."""
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            with contextlib.suppress(subprocess.TimeoutExpired):  # killed by stop() then
                self.stop(timeout=timeout)

    def __enter__(self) -> HostProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(30)


def start_host_process(
    broker: PrivateBroker,
    plugins: Sequence[str],
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    **host_settings: Any,
) -> HostProcess:
    """Start ``openmodule-host --plugins ...`` (installed plugins, or instances named in ``config``) on
    ``broker`` (as an external broker), with ``config`` as its ``[plugins.<name>]`` tables and
    ``host_settings`` as its ``[host]`` table (written to a temporary TOML file); ``args`` are further
    command-line flags (``--strict``, ``--http``...). Returns at once: call :meth:`HostProcess.wait_ready`."""
    document: dict[str, Any] = {"host": dict(host_settings)}
    if config:
        document["plugins"] = {name: dict(table) for name, table in config.items()}
    return HostProcess(["--plugins", ",".join(plugins), "--broker", "external", *args],
                       {**broker.env, **(env or {})}, config=tomli_w.dumps(document))
