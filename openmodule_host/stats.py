"""Counters the host keeps about its traffic.

Each counter has a single writer thread (the intake thread, or one plugin's worker), so plain integer
fields are enough; readers (health, logs, tests) may see a value one step old.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .limits import LimitHits

__all__ = ["IntakeStats", "PluginStats"]


@dataclass
class IntakeStats:
    """Written by the intake thread."""

    received: int = 0
    #: messages that were no openmodule message at all, by reason (see ``wire.codec``).
    malformed: Counter[str] = field(default_factory=Counter)
    #: well-formed messages that no listener wanted (unknown type, prefix-only topic match).
    unrouted: int = 0


@dataclass
class PluginStats:
    """Written by the plugin's worker (mailbox drops are counted by the mailbox itself)."""

    handled: int = 0
    handler_errors: int = 0
    filter_errors: int = 0
    invalid: int = 0
    rpcs_served: int = 0
    rpcs_failed: int = 0
    #: scheduled job runs (the failed ones included) and runs that raised (``core.scheduler``).
    jobs_run: int = 0
    jobs_failed: int = 0
    #: due runs of a job not queued because its last run was still queued or running (written by the host's
    #: scheduler thread).
    jobs_skipped: int = 0
    #: what the limits cut or refused of this plugin, by limit (any thread counts here: it has a lock).
    limits: LimitHits = field(default_factory=LimitHits)
