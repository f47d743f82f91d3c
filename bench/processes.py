"""Child processes that report through ``@@bench`` control lines on stdout."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .protocol import parse_line

ROOT = Path(__file__).resolve().parent.parent
#: the interpreter of the reference peer's environment (``make openmodule-env``).
OPENMODULE_PYTHON = ROOT / ".venv-openmodule" / "bin" / "python"
#: what the bench's children import from this source tree (editable installs), see :func:`compile_bytecode`.
_SOURCE_PACKAGES = ("openmodule_host", "hookspecs/openmodule_hookspecs", "plugins_example", "bench")


def compile_bytecode() -> None:
    """Write the bytecode of this tree's packages, as installing a wheel does, before start-up is measured.

    The host runs here from an editable install. Where ``PYTHONDONTWRITEBYTECODE`` is set (as on the machines
    these benchmarks ran on), nothing writes it, and every child would compile the host's hundred modules from
    source at each start: about 40 ms of CPU that a host installed by pip never spends, and openmodule's
    environment, installed by pip, does not either.
    """
    import compileall  # only here: the children never need it

    for package in _SOURCE_PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)


class ChildFailed(RuntimeError):
    """A child exited or did not answer in time; the message carries its stderr tail."""


class Child:
    """A process started in the project root whose control lines are collected by a reader thread.

    With ``stdin=True`` the orchestrator can also write lines to it (:meth:`tell`).
    """

    def __init__(self, name: str, argv: Sequence[str], *, stdin: bool = False) -> None:
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            list(argv), cwd=ROOT, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, env=env,
        )
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"bench-read-{name}", daemon=True)
        self._reader.start()
        self._closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = parse_line(line.rstrip("\n"))
            if message is not None:
                self._lines.put(message)

    def expect(self, kind: str, timeout: float) -> dict[str, Any] | None:
        """The next control message of ``kind`` within ``timeout`` s; None on timeout; raises if the child died."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = self._lines.get(timeout=max(0.0, min(remaining, 0.05)))
            except queue.Empty:
                if self.proc.poll() is not None and self._lines.empty():
                    raise ChildFailed(
                        f"{self.name} exited with code {self.proc.returncode}\n{self.stderr_tail()}"
                    ) from None
                if remaining <= 0:
                    return None
                continue
            if message.get("kind") == kind:
                return message

    def tell(self, line: str) -> None:
        """Write one line to the child's stdin (it must have been started with ``stdin=True``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def require(self, kind: str, timeout: float) -> dict[str, Any]:
        message = self.expect(kind, timeout)
        if message is None:
            raise ChildFailed(f"{self.name}: no {kind!r} within {timeout:g} s\n{self.stderr_tail()}")
        return message

    def stderr_tail(self, lines: int = 30) -> str:
        self._stderr.seek(0)
        return "".join(self._stderr.readlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Wait briefly for a voluntary exit, then terminate, then kill."""
        if self._closed:
            return
        self._closed = True
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # BrokenPipeError if the child is gone already
                self.proc.stdin.close()  # a child that waits for more lines reads EOF and may exit
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()

    def kill(self) -> None:
        """Terminate at once (if still running) and clean up."""
        if not self._closed and self.proc.poll() is None:
            self.proc.terminate()
        self.stop(timeout=5)


def add_report_options(parser: Any, variants: Iterable[str], default_output: Path, py_spy_help: str) -> None:
    """The options both benchmarks share: which variants, where the report goes, profiling, added load."""
    names = list(variants)
    parser.add_argument("--variants", default=",".join(names), help=f"comma-separated subset of {', '.join(names)}")
    parser.add_argument("--output", type=Path, default=default_output, help="markdown report (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help=py_spy_help)
    parser.add_argument("--busy-neighbours", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes alongside, to see how the ratios depend on load")


def publish_report(report: str, output: Path, no_write: bool) -> None:
    """Print the report, and write it to ``output`` unless ``no_write``."""
    print(report)
    if not no_write:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
        print(f"written to {output}", file=sys.stderr)


def chosen_variants(spec: str, known: Iterable[str]) -> list[str] | None:
    """The variants a ``--variants`` list names, in its order; None (after saying why) when it names an unknown
    one. ``openmodule`` is left out, with a line saying so, where its environment is missing."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if unknown := [name for name in names if name not in set(known)]:
        print(f"unknown variant(s): {', '.join(unknown)}", file=sys.stderr)
        return None
    if "openmodule" in names and not OPENMODULE_PYTHON.exists():
        print(f"skipping openmodule: {OPENMODULE_PYTHON} is missing (run `make openmodule-env`)", file=sys.stderr)
        names.remove("openmodule")
    return names
