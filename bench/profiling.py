"""Optional: record a receiver with py-spy while it handles the flood (``python -m bench --py-spy DIR``).

py-spy is not a dependency (``.venv/bin/pip install py-spy``). It samples only the thread holding the GIL
(``--gil``), which in these receivers is where the CPU goes, and writes collapsed stacks (``-f raw``,
one line per stack with its sample count, readable with ``sort -k2`` or any flame-graph tool).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["py_spy"]

_ATTACH_SECONDS = 1.0


def _executable() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[None]:
    """Record ``pid`` into ``output`` for the duration of the block; does nothing when ``output`` is None."""
    if output is None:
        yield
        return
    executable = _executable()
    if executable is None:
        raise RuntimeError("--py-spy needs py-spy: .venv/bin/pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(
        [executable, "record", "--gil", "--threads", "--rate", "500", "--format", "raw", "--output", str(output),
         "--pid", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(_ATTACH_SECONDS)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            recorder.wait(30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()
