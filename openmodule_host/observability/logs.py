"""Log output: a human format (default) or JSON lines, with secrets masked in either.

Every plugin logs through its own logger, named after the plugin, at its own ``LOG_LEVEL``. Whatever a
line contains, the credentials of URLs (``postgresql://user:secret@host`` becomes
``postgresql://user:***@host``), the key of a sentry DSN (``https://***@o1.ingest.sentry.io/2``) and the
secrets the host knows (see :mod:`openmodule_host.masking`) are masked when the line is formatted, so neither
the host nor a plugin can print them by accident.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Literal

import orjson

from ..masking import mask_secrets

__all__ = ["HumanFormatter", "JsonFormatter", "configure_logging", "mask_secrets"]

HUMAN_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(HUMAN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
            "thread": record.threadName,
        }
        if record.exc_info:
            document["exception"] = mask_secrets(self.formatException(record.exc_info))
        return orjson.dumps(document).decode()


def configure_logging(level: str, log_format: Literal["human", "json"] = "human",
                      stream: IO[str] | None = None) -> None:
    """Send all logging to ``stream`` (stderr) in the chosen format; replaces earlier handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
