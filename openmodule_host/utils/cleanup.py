"""Deleting old files daily (openmodule's ``utils/cleanup.py``), as a job on the plugin's scheduler."""

from __future__ import annotations

import glob
import hashlib
import os
import re
import time
from datetime import timedelta
from typing import Any

__all__ = ["cleanup_files", "schedule_file_cleanup"]


def cleanup_files(file_pattern: str, retention_time: timedelta, exclude_regex: re.Pattern[str] | None = None) -> None:
    """Delete the files matching ``file_pattern`` (glob, ``**`` recursive) last modified longer than
    ``retention_time`` ago, except those whose path ``exclude_regex`` matches (at its start)."""
    keep_since = time.time() - retention_time.total_seconds()
    for path in glob.glob(file_pattern, recursive=True):
        if exclude_regex is not None and exclude_regex.match(path):
            continue
        try:
            if os.path.isfile(path) and os.path.getmtime(path) < keep_since:
                os.remove(path)
        except FileNotFoundError:  # deleted meanwhile by someone else: what we wanted
            continue


def _cleanup_minute(name: str) -> int:
    """The minute past 02:00 a service's cleanup runs at: spread over the hour by its NAME, always the same."""
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % 60


def schedule_file_cleanup(core: Any, file_pattern: str, retention_time: timedelta,
                          exclude_regex: re.Pattern[str] | None = None) -> Any:
    """Run :func:`cleanup_files` every day at 02:xx in the plugin's TIMEZONE (xx from its NAME, as openmodule
    does), on the plugin's worker; returns the job."""
    return core.scheduler.every().day.at(f"02:{_cleanup_minute(core.name):02}").do(
        cleanup_files, file_pattern, retention_time, exclude_regex)
