"""``python -m tests.support.signal_storm``: a main thread that waits on an event in a tight loop, as the
host's main thread waits for its stop, with :func:`stop_on_signals` setting that event on each SIGTERM. It
prints ``ready``, counts the stops until its stdin closes, then prints ``stopped N times`` and exits 0. With
``--first-stop-raises`` the first stop raises (the signal thread must live on and take the next ones).

A handler that set the event itself would sooner or later run while the main thread holds the event's lock
(inside ``Event.wait``), and hang there for ever: a storm of SIGTERMs finds that moment."""

from __future__ import annotations

import sys
import threading

from openmodule_host.stop_signals import stop_on_signals


def main() -> int:
    stop = threading.Event()
    stdin_closed = threading.Event()
    stops = 0

    raise_first = "--first-stop-raises" in sys.argv

    def count() -> None:
        nonlocal stops
        stops += 1
        if raise_first and stops == 1:
            raise RuntimeError("the first stop fails")
        stop.set()

    def watch_stdin() -> None:
        sys.stdin.read()
        stdin_closed.set()

    stop_on_signals(count, None)
    threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready", flush=True)
    while not stdin_closed.is_set():
        stop.wait(0)  # (no sleep: the main thread holds the event's lock as often as it can)
        stop.clear()
    print(f"stopped {stops} times", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
