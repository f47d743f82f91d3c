"""SIGTERM and SIGINT stop a host (the ``openmodule-host`` command, a plugin's child process) from a thread of
their own, never inside a signal handler, which can interrupt the main thread while it holds a lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_storm_of_sigterms_never_hangs_the_main_thread_that_waits_for_its_stop():
    with subprocess.Popen([sys.executable, "-m", "tests.support.signal_storm"], cwd=ROOT, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as storm:
        try:
            assert storm.stdout is not None
            assert storm.stdout.readline() == "ready\n"
            for _ in range(5000):
                storm.send_signal(signal.SIGTERM)
                time.sleep(0.0002)
            # its stdin closes: it ends, unless its main thread hangs in a handler
            stdout, stderr = storm.communicate(timeout=60)
        finally:
            if storm.poll() is None:
                storm.kill()
    assert storm.returncode == 0, stderr
    assert stdout.startswith("stopped ") and int(stdout.split()[1]) > 0, stdout
