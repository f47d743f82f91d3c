"""CSV exports the way openmodule writes them (``utils/csv_export.py``), for spreadsheet programs in the garage.

:func:`render` writes UTF-16-LE with a BOM, tab-separated, every field quoted, a header row of the column
names, then one row per item (a dict, or an object whose attributes are read). Each :class:`ColumnDefinition`
names the item's field and how to format it (:class:`CsvFormatType`): numbers with a decimal comma,
datetimes in the garage's time zone as ``DD.MM.YYYY HH:MM:SS``, durations as ``H:MM:SS``, cent amounts as
``x,yy``, strings checked against formula injection (no leading ``=`` or ``@``; a leading ``+`` only for phone
numbers, a leading ``-`` only for numbers). A value of the wrong type, or a string that could run as a
formula, raises :class:`ValueError` naming the column.

:func:`export_iterator` yields the whole local days not exported yet, with their UTC bounds, for daily
exports; :func:`schedule_export` picks the export time of day (spread over an hour by the RESOURCE).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from time import gmtime, strftime
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter

__all__ = [
    "ColumnDefinition",
    "CsvFormatType",
    "ExportIterator",
    "export_iterator",
    "render",
    "schedule_export",
]

_NUMBER = re.compile(r"^\s*-[*\s.,\d]*$")
_PHONE = re.compile(r"^\s*\+[*\s\d\(\)]*$")
_DATETIME_FORMAT = "%d.%m.%Y %H:%M:%S"
_DATETIME = TypeAdapter(datetime)


class CsvFormatType(StrEnum):
    static_text = "static_text"  # the column's default value, whatever the item holds
    string = "string"  # str, str enums and int, as they are
    number = "number"  # int, float, Decimal, bool, with a decimal comma
    percentage = "percentage"  # int, float, Decimal with a decimal comma and "%" (not divided by 100)
    datetime = "datetime"  # a datetime (naive: UTC) or an ISO string, in the export's time zone
    duration = "duration"  # a timedelta or seconds, as H:MM:SS
    currency_amount = "currency_amount"  # cents (int) as x,yy, without a currency symbol


@dataclass
class ColumnDefinition:
    name: str  # the header
    field_name: str  # the item's key or attribute
    format_type: CsvFormatType
    default_value: Any = None  # used when the item has no value (and the text of static_text columns)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _string(value: Any) -> str:
    _require(isinstance(value, str | int), "String columns allow only str and string enum")
    if not isinstance(value, str):
        return str(value)
    _require("\r" not in value and "\t" not in value, 'Forbidden chars "\\x0d" or "\\x09" in string')
    _require(not value or value[0] not in "=@", 'String must not start with "=" or "@"')
    _require(not value.startswith("+") or bool(_PHONE.match(value)), 'Strings starting with "+" must be phone numbers')
    _require(not value.startswith("-") or bool(_NUMBER.match(value)), 'Strings starting with "-" must be numbers')
    return value


def _static_text(value: Any) -> str:
    _require(isinstance(value, str), "Static text columns allow only str or enum")
    return _string(value)


def _number(value: Any) -> str:
    _require(isinstance(value, int | float | Decimal), "Number columns allow only int, float, bool, Decimal")
    return str(int(value) if isinstance(value, bool) else value).replace(".", ",")


def _percentage(value: Any) -> str:
    _require(isinstance(value, int | float | Decimal), "Percentage columns allow only int, float, Decimal")
    return str(value).replace(".", ",") + "%"


def _datetime(value: Any, timezone: tzinfo) -> str:
    _require(isinstance(value, datetime | str), "Datetime columns allow only datetime and str")
    moment = _DATETIME.validate_strings(value) if isinstance(value, str) else value
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(timezone).strftime(_DATETIME_FORMAT)


def _duration(value: Any) -> str:
    _require(isinstance(value, timedelta | int | float), "Duration columns allow only timedelta, int and float")
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else int(value)
    return f"{seconds // 3600:d}:{(seconds % 3600) // 60:02d}:{seconds % 60:02d}"


def _currency_amount(value: Any) -> str:
    _require(isinstance(value, int), "Currency amount columns allow only int")
    return f"{Decimal(value) / Decimal(100):.2f}".replace(".", ",")


_FORMATTERS: dict[CsvFormatType, Callable[[Any], str]] = {
    CsvFormatType.string: _string,
    CsvFormatType.number: _number,
    CsvFormatType.percentage: _percentage,
    CsvFormatType.duration: _duration,
    CsvFormatType.currency_amount: _currency_amount,
}


def _cell(column: ColumnDefinition, item: dict[str, Any], timezone: tzinfo) -> str | None:
    value = None if column.format_type == CsvFormatType.static_text else item.get(column.field_name)
    if value is None:
        value = column.default_value
    if value is None:
        return None
    try:
        if column.format_type == CsvFormatType.static_text:
            return _static_text(value)
        if column.format_type == CsvFormatType.datetime:
            return _datetime(value, timezone)
        return _FORMATTERS[CsvFormatType(column.format_type)](value)
    except ValueError as error:
        raise ValueError(f"column {column.name!r}: {error}") from None


def _timezone(timezone: str | tzinfo) -> tzinfo:
    if not isinstance(timezone, str):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{timezone} is no valid timezone") from None


def render(file_object: BinaryIO, data: Iterable[dict[str, Any] | object], column_definitions: list[ColumnDefinition],
           timezone: str | tzinfo) -> None:
    """Write the CSV of ``data`` to ``file_object`` (opened for binary writing); datetimes in ``timezone`` (the
    plugin's ``core.config.TIMEZONE``)."""
    zone = _timezone(timezone)
    file_object.write(codecs.BOM_UTF16_LE)
    writer = csv.writer(codecs.getwriter("utf-16-le")(file_object), quoting=csv.QUOTE_ALL, delimiter="\t")
    writer.writerow([column.name for column in column_definitions])
    for row in data:
        item = row if isinstance(row, dict) else vars(row)
        writer.writerow([_cell(column, item, zone) for column in column_definitions])


@dataclass
class ExportIterator:
    """One local day to export; filter with ``utc_start <= created < utc_end``. All datetimes are naive."""

    csv_date_string: str  # e.g. 2023-12-30
    local_start: datetime  # local midnight starting the day
    local_end: datetime  # local midnight ending it (not included)
    utc_start: datetime  # the same in UTC: store it as the last export's start
    utc_end: datetime


def export_iterator(timezone: str | tzinfo, utc_last_export_start: datetime | None, utc_min_event_time: datetime | None,
                    *, utc_now: datetime | None = None) -> Iterator[ExportIterator]:
    """The whole local days since the last export (``utc_last_export_start``: the ``utc_start`` of the last one
    exported, a local midnight) up to now. Without a last export, from the day of ``utc_min_event_time`` (the
    first event recorded), or else from yesterday. Every datetime is naive UTC; ``utc_now`` is for tests."""
    zone = _timezone(timezone)
    if (utc_last_export_start and utc_last_export_start.tzinfo) or (utc_min_event_time and utc_min_event_time.tzinfo):
        raise ValueError("utc_last_export_start and utc_min_event_time must be naive and in UTC")
    local_now = (utc_now.replace(tzinfo=UTC) if utc_now else datetime.now(UTC)).astimezone(zone)
    if utc_last_export_start is not None:
        last_start = utc_last_export_start.replace(tzinfo=UTC).astimezone(zone)
        if (last_start.hour, last_start.minute, last_start.second, last_start.microsecond) != (0, 0, 0, 0):
            raise ValueError("the last export did not start at local midnight: was its utc_start saved?")
        local_start = last_start + timedelta(days=1)
    else:
        first = utc_min_event_time or (local_now - timedelta(days=1)).astimezone(UTC).replace(tzinfo=None)
        local_start = first.replace(tzinfo=UTC).astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while (local_end := local_start + timedelta(days=1)) <= local_now:
        yield ExportIterator(
            csv_date_string=local_start.strftime("%Y-%m-%d"),
            local_start=local_start.replace(tzinfo=None),
            local_end=local_end.replace(tzinfo=None),
            utc_start=local_start.astimezone(UTC).replace(tzinfo=None),
            utc_end=local_end.astimezone(UTC).replace(tzinfo=None),
        )
        local_start = local_end


def schedule_export(core: Any, offset_minutes: int, callback: Callable[[], Any] | None = None) -> int:
    """The minutes after midnight the plugin's daily export runs at: ``offset_minutes`` (< 60) plus 0-59 from
    the RESOURCE (the same every day, different between garages). With ``callback``, schedule it daily at that
    time in the plugin's TIMEZONE, on its worker."""
    if not 0 <= offset_minutes < 60:
        raise ValueError("offset_minutes must be between 0 and 59")
    offset = offset_minutes + int(hashlib.sha256(core.config.RESOURCE.encode("utf-8")).hexdigest(), 16) % 60
    if callback is not None:
        core.scheduler.every().day.at(strftime("%H:%M", gmtime(offset * 60))).do(callback)
    return offset
