"""The stop's bound: the grace period the docs tell a supervisor to give is the sum of the bounded waits in
``Host.stop``, computed from the code's own constants (``stop_bound``), and a host with every stage slow
stops within it."""

import re
import threading
import time
from pathlib import Path

from openmodule_hookspecs import hookimpl

from openmodule_host.config import HostConfig
from openmodule_host.host import stop_bound
from tests.support.plugins import Blocker, Ping

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _text(name: str) -> str:
    return " ".join((DOCS / name).read_text().split())  # (the figures may be wrapped across lines)


def _linear(figure: str) -> tuple[float, float]:
    """``19 + 5.2n`` -> (19.0, 5.2)."""
    match = re.fullmatch(r"([\d.]+) \+ ([\d.]+)n", figure)
    assert match, figure
    return float(match[1]), float(match[2])


def test_the_documented_grace_period_is_the_sum_of_the_stop_stages_bounds_in_the_code():
    defaults = HostConfig()
    per_plugin = stop_bound(defaults, 1, sentry_on=True) - stop_bound(defaults, 0, sentry_on=True)
    base = stop_bound(defaults, 0, sentry_on=True)

    operations = _text("operations.md")
    documented = re.search(r"no child processes and n plugins, [\d.+ n]+ = \*\*([\d.]+ \+ [\d.]+n) s\*\*", operations)
    assert documented, "operations.md 'Stopping' gives the sum for the defaults as '= **A + Bn s**'"
    assert _linear(documented[1]) == (base, round(per_plugin, 6))
    terms = re.search(r"no child processes and n plugins, ([\d.+ n]+) =", operations)
    assert terms is not None
    assert sum(float(term.rstrip("n")) for term in terms[1].split(" + ") if not term.endswith("n")) == base

    children = re.search(r"with child processes add ([\d.]+) s \(`drain_timeout \+ shutdown_timeout \+ ([\d.]+)`\)",
                         operations)
    assert children, "operations.md 'Stopping' says what child processes add"
    added = stop_bound(defaults, 0, children=True) - stop_bound(defaults, 0)
    assert float(children[1]) == added
    assert float(children[2]) == added - defaults.drain_timeout - defaults.shutdown_timeout

    cli = re.search(r"n plugins on threads that is at most ([\d.]+ \+ [\d.]+n) s", _text("cli.md"))
    assert cli, "cli.md gives the same figure"
    assert _linear(cli[1]) == (base, round(per_plugin, 6))


class Slow(Blocker):
    """A handler that holds the worker past the drain, and a shutdown hook that hangs past its timeout."""

    @hookimpl
    def shutdown(self, core):
        threading.Event().wait(60)


def test_a_host_slow_at_every_plugin_stage_stops_within_the_bound(om_host, om_client):
    plugin = Slow(hold=60)
    host = om_host(("slow", plugin), drain_timeout=0.5, shutdown_timeout=0.5)
    om_client.publish("t", Ping(seq=1))
    om_client.publish("t", Ping(seq=2))  # queued behind the stuck one: dropped at the drain deadline
    assert plugin.entered.wait(5)

    started = time.monotonic()
    host.stop()
    took = time.monotonic() - started
    assert took < stop_bound(host.config, 1), took
