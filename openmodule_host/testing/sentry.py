"""Sentry in plugin tests (openmodule-test's ``SentryTestTransport``): keep what sentry-sdk would send."""

from __future__ import annotations

import threading
from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event

__all__ = ["SentryTestTransport"]

#: a DSN that parses but points nowhere; nothing leaves the test with this transport anyway
TEST_DSN = "https://0123456789abcdef@o1.ingest.sentry.invalid/42"


class SentryTestTransport(Transport):
    """Keeps every envelope sentry-sdk would send. ``om_host(..., **transport.host_settings())`` turns
    sentry on for the host with it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.envelopes: list[Envelope] = []

    def host_settings(self, traces_sample_rate: float = 1.0) -> dict[str, Any]:
        """The host settings (``om_host`` keywords) for sentry through this transport."""
        return {"sentry_dsn": TEST_DSN, "sentry_environment": "test",
                "sentry_traces_sample_rate": traces_sample_rate, "sentry_options": {"transport": self}}

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    def get_envelopes(self, clear: bool = True) -> list[Envelope]:
        """The envelopes so far (and forget them, unless ``clear`` is false)."""
        with self._lock:
            envelopes = self.envelopes
            if clear:
                self.envelopes = []
            return envelopes

    def errors(self) -> list[Event]:
        """The error events so far."""
        with self._lock:
            return [event for envelope in self.envelopes if (event := envelope.get_event()) is not None]

    def transactions(self) -> list[Event]:
        """The transactions so far."""
        with self._lock:
            return [event for envelope in self.envelopes if (event := envelope.get_transaction_event()) is not None]
