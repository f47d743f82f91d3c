"""SIGTERM and SIGINT stop a host (the ``openmodule-host`` command, a plugin's child process) from a thread of
their own, never inside a signal handler, which can interrupt the main thread while it holds a lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def storm(signals: int, *args: str) -> tuple[int, str]:
    """Run ``tests.support.signal_storm`` with ``args``, send it ``signals`` SIGTERMs, and return how many
    stops it counted and its stderr."""
    with subprocess.Popen([sys.executable, "-m", "tests.support.signal_storm", *args], cwd=ROOT, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            for _ in range(signals):
                process.send_signal(signal.SIGTERM)
                time.sleep(0.0002)
            # its stdin closes: it ends, unless its main thread hangs in a handler
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, stderr
    assert stdout.startswith("stopped "), stdout
    return int(stdout.split()[1]), stderr


def test_a_storm_of_sigterms_never_hangs_the_main_thread_that_waits_for_its_stop():
    stops, _ = storm(5000)
    assert stops > 0


def test_a_stop_that_raises_is_logged_and_the_next_signal_stops_again():
    stops, stderr = storm(200, "--first-stop-raises")
    assert "stopping on a signal failed" in stderr and "the first stop fails" in stderr
    assert stops > 1
