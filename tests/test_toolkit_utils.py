"""File cleanup, CSV export and cursor pagination (openmodule 18.5.0's small utilities).

(tests/interop/test_toolkit_interop.py compares CSV rendering, pagination and the export days with
openmodule's own functions, case by case.)
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import hookimpl
from sqlalchemy import DateTime, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from openmodule_host.utils import (
    ColumnDefinition,
    CsvFormatType,
    RequestCursor,
    ResponseCursor,
    cleanup_files,
    do_cursor_pagination,
    export_iterator,
    render,
    schedule_export,
    schedule_file_cleanup,
)

# -- file cleanup ---------------------------------------------------------------------------------------


def make_file(path: Path, age: timedelta) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    stamp = time.time() - age.total_seconds()
    os.utime(path, (stamp, stamp))
    return path


def test_cleanup_deletes_the_old_matching_files_only(tmp_path):
    old = make_file(tmp_path / "logs" / "a.log", timedelta(days=10))
    nested = make_file(tmp_path / "logs" / "2024" / "b.log", timedelta(days=10))
    fresh = make_file(tmp_path / "logs" / "c.log", timedelta(hours=1))
    kept = make_file(tmp_path / "logs" / "keep.log", timedelta(days=10))
    other = make_file(tmp_path / "logs" / "d.txt", timedelta(days=10))
    cleanup_files(str(tmp_path / "logs" / "**" / "*.log"), timedelta(days=7), re.compile(r".*/keep\.log$"))
    assert not old.exists() and not nested.exists()
    assert fresh.exists() and kept.exists() and other.exists()
    assert (tmp_path / "logs" / "2024").is_dir()  # directories are never deleted


class Housekeeping:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.job: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.job = schedule_file_cleanup(core, self.pattern, timedelta(days=7))


def test_the_cleanup_runs_daily_at_two_past_a_minute_taken_from_the_plugins_name(om_host, tmp_path):
    keeper = Housekeeping(str(tmp_path / "*.log"))
    om_host(("keeper", keeper), config={"keeper": {"NAME": "om_keeper_1", "TIMEZONE": "Europe/Vienna"}})
    minute = int(hashlib.sha256(b"om_keeper_1").hexdigest(), 16) % 60
    assert (keeper.job.unit, keeper.job.at_time.hour, keeper.job.at_time.minute) == ("days", 2, minute)
    assert str(keeper.job.at_time_zone) == "Europe/Vienna"


# -- CSV export -----------------------------------------------------------------------------------------

COLUMNS = [
    ColumnDefinition("Kind", "", CsvFormatType.static_text, "session"),
    ColumnDefinition("Plate", "plate", CsvFormatType.string),
    ColumnDefinition("Count", "count", CsvFormatType.number),
    ColumnDefinition("Share", "share", CsvFormatType.percentage),
    ColumnDefinition("Entry", "entry", CsvFormatType.datetime),
    ColumnDefinition("Stay", "stay", CsvFormatType.duration),
    ColumnDefinition("Paid", "paid", CsvFormatType.currency_amount, 0),
]


def csv_text(rows: list[Any], columns: list[ColumnDefinition] = COLUMNS) -> str:
    buffer = io.BytesIO()
    render(buffer, rows, columns, "Europe/Vienna")
    data = buffer.getvalue()
    assert data.startswith(b"\xff\xfe")  # UTF-16-LE with its BOM
    return data[2:].decode("utf-16-le")


def test_render_writes_quoted_tab_separated_utf16_with_local_formats():
    class Row:
        def __init__(self) -> None:
            self.plate, self.count, self.share = "W 1234 Ä", 2.5, Decimal("12.5")
            self.entry, self.stay, self.paid = datetime(2024, 6, 1, 22, 30), timedelta(hours=26, seconds=5), 1250

    text = csv_text([Row(), {"plate": "+43 (1) 234", "count": True, "entry": "2024-01-01T00:00:00Z", "stay": 59.9}])
    assert text.split("\r\n") == [
        '"Kind"\t"Plate"\t"Count"\t"Share"\t"Entry"\t"Stay"\t"Paid"',
        '"session"\t"W 1234 Ä"\t"2,5"\t"12,5%"\t"02.06.2024 00:30:00"\t"26:00:05"\t"12,50"',
        '"session"\t"+43 (1) 234"\t"1"\t""\t"01.01.2024 01:00:00"\t"0:00:59"\t"0,00"',
        "",
    ]


@pytest.mark.parametrize(("column", "value", "error"), [
    (CsvFormatType.string, "=SUM(A1)", 'must not start with "="'),
    (CsvFormatType.string, "@cmd", 'must not start with "="'),
    (CsvFormatType.string, "+rm", "phone numbers"),
    (CsvFormatType.string, "-x", "must be numbers"),
    (CsvFormatType.string, "a\tb", "Forbidden chars"),
    (CsvFormatType.number, "1", "Number columns"),
    (CsvFormatType.currency_amount, 1.5, "Currency amount"),
    (CsvFormatType.datetime, 5, "Datetime columns"),
    (CsvFormatType.duration, "1h", "Duration columns"),
])
def test_render_refuses_values_a_spreadsheet_would_misread_naming_the_column(column, value, error):
    with pytest.raises(ValueError, match=error) as raised:
        csv_text([{"x": value}], [ColumnDefinition("X", "x", column)])
    assert "column 'X'" in str(raised.value)


def test_render_refuses_an_unknown_time_zone():
    with pytest.raises(ValueError, match="Mars/Olympus is no valid timezone"):
        render(io.BytesIO(), [], COLUMNS, "Mars/Olympus")


def test_export_iterator_yields_the_whole_local_days_not_exported_yet():
    now = datetime(2024, 3, 31, 12, 0)  # the day clocks go forward in Vienna
    days = list(export_iterator("Europe/Vienna", datetime(2024, 3, 28, 23, 0), None, utc_now=now))
    assert [(day.csv_date_string, day.utc_start, day.utc_end) for day in days] == [
        ("2024-03-30", datetime(2024, 3, 29, 23, 0), datetime(2024, 3, 30, 23, 0)),
    ]
    first = list(export_iterator("Europe/Vienna", None, datetime(2024, 3, 29, 5, 0), utc_now=datetime(2024, 4, 1, 1)))
    assert [day.csv_date_string for day in first] == ["2024-03-29", "2024-03-30", "2024-03-31"]
    assert first[2].utc_end - first[2].utc_start == timedelta(hours=23)
    with pytest.raises(ValueError, match="midnight"):
        list(export_iterator("Europe/Vienna", datetime(2024, 3, 28, 12, 0), None, utc_now=now))


class Exporter:
    def __init__(self) -> None:
        self.offset = -1

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.offset = schedule_export(core, 30, lambda: None)
        self.job = core.scheduler.get_jobs()[0]


def test_schedule_export_spreads_the_export_time_by_resource(om_host):
    exporter = Exporter()
    om_host(("exporter", exporter), config={"exporter": {"RESOURCE": "garage-7"}})
    assert exporter.offset == 30 + int(hashlib.sha256(b"garage-7").hexdigest(), 16) % 60
    assert exporter.job.at_time.hour * 60 + exporter.job.at_time.minute == exporter.offset


# -- cursor pagination ----------------------------------------------------------------------------------

class Base(DeclarativeBase):
    pass


class Visit(Base):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime | None] = mapped_column(DateTime)
    plate: Mapped[str] = mapped_column(String)


class VisitCursor(RequestCursor):
    starting_after: tuple[datetime, int] | None = None
    ending_before: tuple[datetime, int] | None = None


@pytest.fixture
def visits(tmp_path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'visits.sqlite3'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        start = datetime(2024, 1, 1)
        session.add_all([Visit(id=index, created=start + timedelta(hours=index // 2), plate=f"P{index}")
                         for index in range(1, 8)])  # two visits per hour: the key decides between them
        session.add(Visit(id=99, created=None, plate="none"))  # no sort value: never listed
        session.commit()
        yield session
    engine.dispose()


def page(session: Session, token: str | None, descending: bool = False, limit: int = 3) -> tuple[list[int],
                                                                                                ResponseCursor]:
    cursor = VisitCursor.from_urlsafe_base64(token) if token else None
    rows, response = do_cursor_pagination(cursor, session.query(Visit), Visit, "created", descending, limit)
    return [row.id for row in rows], response


def test_pages_go_forward_and_back_by_sort_value_then_key(visits):
    ids, first = page(visits, None)
    assert ids == [1, 2, 3] and (first.has_previous, first.has_next) == (False, True)
    ids, second = page(visits, first.next_page)
    assert ids == [4, 5, 6] and (second.has_previous, second.has_next) == (True, True)
    ids, third = page(visits, second.next_page)
    assert ids == [7] and (third.has_previous, third.has_next) == (True, False)
    ids, back = page(visits, third.previous_page)
    assert ids == [4, 5, 6] and (back.has_previous, back.has_next) == (True, True)
    ids, empty = page(visits, third.next_page)
    assert ids == [] and (empty.has_previous, empty.has_next) == (True, False)
    assert page(visits, empty.previous_page)[0] == [5, 6, 7]  # back from an empty page: the last row included


def test_descending_pages(visits):
    ids, first = page(visits, None, descending=True, limit=4)
    assert ids == [7, 6, 5, 4]
    assert page(visits, first.next_page, descending=True, limit=4)[0] == [3, 2, 1]


def test_a_bad_cursor_is_a_clear_error(visits):
    with pytest.raises(ValueError, match="not a cursor"):
        VisitCursor.from_urlsafe_base64("garbage!")
    with pytest.raises(ValueError, match="only one of"):
        VisitCursor(starting_after=(datetime(2024, 1, 1), 1), ending_before=(datetime(2024, 1, 1), 1))
    with pytest.raises(TypeError, match="subclass of RequestCursor"):
        do_cursor_pagination(RequestCursor(starting_after=("2024", 1)), visits.query(Visit), Visit, "created",
                             False, 3)
