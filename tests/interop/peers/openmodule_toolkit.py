"""openmodule 18.5.0's IO and signal listeners, wire models and small utilities, run on cases from stdin (one JSON
document), answers on stdout (one JSON document). Run ONLY with the interpreter of ``.venv-openmodule``
(openmodule is GPLv2: nothing in the project or the test process imports it).

Input (every key optional)::

    {"io": [{"listen": [[edge, pin | {"gate", "direction"}, io_type | null], ...], "messages": [{...}, ...]}],
     "signal": [{"listen": [[signal, filter_type, tag | null], ...], "messages": [...], "trigger": [tag | null]}],
     "models": [{"model": "IoMessage", "body": "<JSON text>"}, ...],
     "clean": ["om_service_1", ...],
     "csv": [{"rows": [{field: value}], "columns": [[name, field, format_type, default]], "timezone": "..."}],
     "pagination": {"rows": [[id, created | null], ...], "walks": [{"descending", "limit", "steps": [...]}]},
     "export": [{"timezone": "...", "last": iso | null, "min": iso | null}],
     "schedules": [{"name": NAME, "resource": RESOURCE, "offset": minutes}, ...],
     "translation": {"locale_dir": "...", "languages": [LANGUAGE, ...], "texts": [...], "plurals": [[s, p, n]],
                     "translate": [[text, language], ...]}}

Typed values in CSV rows and defaults are ``{"$dt": iso}``, ``{"$td": seconds}``, ``{"$dec": "1.5"}``.
Output: the same keys, see ``tests/interop/test_toolkit_interop.py`` for each answer's shape.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import types
from datetime import datetime, timedelta
from decimal import Decimal

from openmodule.config import settings

settings.configure(types.SimpleNamespace(NAME="om_toolkit_1", VERSION="test", RESOURCE="test", DEBUG=False,
                                         TESTING=True, LOG_LEVEL=logging.CRITICAL, TIMEZONE="Europe/Vienna"))

from dateutil.tz import gettz  # noqa: E402
from openmodule.dispatcher import MessageDispatcher  # noqa: E402
from openmodule.models.base import Gateway  # noqa: E402
from openmodule.models.io import IoMessage  # noqa: E402
from openmodule.models.pagination import RequestCursor  # noqa: E402
from openmodule.models.signals import (  # noqa: E402
    GetSignalValueRequest,
    GetSignalValueResponse,
    SignalMessage,
    TriggerSignalsRequest,
    TriggerSignalsResponse,
)
from openmodule.models.validation import ValidateRequest, ValidateResponse  # noqa: E402
from openmodule.utils.csv_export import ColumnDefinition, export_iterator, render  # noqa: E402
from openmodule.utils.eventlog import EventInfo, EventlogMessage, MessageKwarg  # noqa: E402
from openmodule.utils.io import IoListener  # noqa: E402
from openmodule.utils.misc_functions import clean_service_name  # noqa: E402
from openmodule.utils.pagination import do_cursor_pagination  # noqa: E402
from openmodule.utils.signal_listener import FilterType, SignalListener  # noqa: E402
from sqlalchemy import Column, DateTime, Integer, create_engine  # noqa: E402
from sqlalchemy.orm import Session, declarative_base  # noqa: E402

logging.disable(logging.CRITICAL)

MODELS = {model.__name__: model for model in (
    IoMessage, SignalMessage, GetSignalValueRequest, GetSignalValueResponse, TriggerSignalsRequest,
    TriggerSignalsResponse, EventlogMessage, EventInfo, MessageKwarg, ValidateRequest, ValidateResponse)}


def describe_state(state):
    return [state.pin, state.gateway.gate, str(state.gateway.direction), state.type, state.value, state.inverted,
            state.physical, state.last_timestamp.isoformat()]


def run_io(script):
    dispatcher = MessageDispatcher(name="io")
    listener = IoListener(dispatcher)
    calls = []
    for index, (edge, listen_to, io_type) in enumerate(script["listen"]):
        target = Gateway(**listen_to) if isinstance(listen_to, dict) else listen_to
        getattr(listener, f"add_listener_edge_{edge}")(
            target, lambda state, index=index: calls.append([index, describe_state(state)]), io_type=io_type)
    for message in script["messages"]:
        dispatcher.dispatch("io", dict(message))
    return {"calls": calls, "states": {pin: describe_state(state) for pin, state in listener.current_states.items()},
            "valid": {pin: listener.is_pin_valid(pin) for pin in listener.current_states}}


class Recorder:
    def __init__(self):
        self.requests = []

    def rpc(self, channel, type_, request, response_class, *args, **kwargs):
        self.requests.append([channel, type_, sorted(request.signals)])
        return TriggerSignalsResponse(success=True)


def run_signal(script):
    dispatcher = MessageDispatcher(name="signal")
    recorder = Recorder()
    listener = SignalListener(dispatcher, recorder)
    calls = []
    for index, (name, filter_type, tag) in enumerate(script["listen"]):
        listener.add_listener(name, FilterType(filter_type), lambda signal, index=index: calls.append(
            [index, signal.signal, str(signal.type), signal.value, signal.additional_data, signal.gate,
             signal.parking_area_id, str(signal.change_type)]), tag)
    for message in script["messages"]:
        dispatcher.dispatch("signal", dict(message))
    for tag in script.get("trigger", []):
        listener.trigger_signals(tag)
    return {"calls": calls, "states": {name: list(value) for name, value in listener.current_states.items()},
            "triggers": recorder.requests}


def run_model(case):
    try:
        model = MODELS[case["model"]].model_validate_json(case["body"])
    except Exception as error:
        return {"error": type(error).__name__}
    return {"body": json.loads(model.json_bytes())}


def typed(value):
    if isinstance(value, dict) and len(value) == 1:
        [(kind, data)] = value.items()
        if kind == "$dt":
            return datetime.fromisoformat(data)
        if kind == "$td":
            return timedelta(seconds=data)
        if kind == "$dec":
            return Decimal(data)
    return value


def run_csv(case):
    columns = [ColumnDefinition(name, field, format_type, typed(default))
               for name, field, format_type, default in case["columns"]]
    rows = [{key: typed(value) for key, value in row.items()} for row in case["rows"]]
    buffer = io.BytesIO()
    try:
        render(buffer, rows, columns, case["timezone"])
    except (AssertionError, ValueError, TypeError) as error:
        return {"error": type(error).__name__}
    return {"csv": base64.b64encode(buffer.getvalue()).decode()}


Base = declarative_base()


class Visit(Base):
    __tablename__ = "visits"
    id = Column(Integer, primary_key=True)
    created = Column(DateTime)


class VisitCursor(RequestCursor):
    starting_after: tuple[datetime, int] | None = None
    ending_before: tuple[datetime, int] | None = None


def run_pagination(case):
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    answers = []
    with Session(engine) as session:
        session.add_all([Visit(id=id_, created=datetime.fromisoformat(created) if created else None)
                         for id_, created in case["rows"]])
        session.commit()
        for walk in case["walks"]:
            pages, response = [], None
            for step in walk["steps"]:
                try:
                    cursor = None if step == "first" else VisitCursor.from_urlsafe_base64(
                        response.next_page if step == "next" else response.previous_page)
                    rows, response = do_cursor_pagination(cursor, session.query(Visit), Visit, "created",
                                                          walk["descending"], walk["limit"])
                except Exception as error:
                    pages.append({"error": type(error).__name__})
                    break
                pages.append({"ids": [row.id for row in rows], "next": response.next_page,
                              "previous": response.previous_page, "has_next": response.has_next,
                              "has_previous": response.has_previous})
            answers.append(pages)
    return answers


def run_export(case):
    last = datetime.fromisoformat(case["last"]) if case["last"] else None
    first = datetime.fromisoformat(case["min"]) if case["min"] else None
    return [[day.csv_date_string, day.local_start.isoformat(), day.local_end.isoformat(), day.utc_start.isoformat(),
             day.utc_end.isoformat()] for day in export_iterator(gettz(case["timezone"]), last, first)]


def run_schedule(case):
    """The daily time of openmodule's file cleanup (from NAME) and its export offset (from RESOURCE)."""
    from openmodule.utils.cleanup import schedule_file_cleanup
    from openmodule.utils.csv_export import schedule_export
    from openmodule.utils.schedule import Scheduler

    settings.override(NAME=case["name"], RESOURCE=case["resource"])
    scheduler = Scheduler()
    schedule_file_cleanup(scheduler, "/nonexistent/*.log", timedelta(days=1))
    cleanup = scheduler.jobs[0].at_time.strftime("%H:%M")
    export_scheduler = Scheduler()
    offset = schedule_export(case["offset"], export_scheduler, lambda: None)
    return {"cleanup": cleanup, "offset": offset, "export": export_scheduler.jobs[0].at_time.strftime("%H:%M")}


def run_translation(case):
    """openmodule's ``_``/``__``/``translate`` over the catalogues in ``locale_dir``, for each LANGUAGE."""
    settings.override(LOCALE_DIR=case["locale_dir"])
    from openmodule.utils import translation

    answers = {}
    for language in case["languages"]:
        settings.override(LANGUAGE=language)
        answers[language] = {"texts": [translation._(text) for text in case["texts"]],
                             "plurals": [translation.__(*plural) for plural in case["plurals"]]}
    answers["translate"] = [translation.translate(text, language) for text, language in case["translate"]]
    return answers


def main():
    cases = json.load(sys.stdin)
    answers = {
        "io": [run_io(script) for script in cases.get("io", [])],
        "signal": [run_signal(script) for script in cases.get("signal", [])],
        "models": [run_model(case) for case in cases.get("models", [])],
        "clean": [clean_service_name(name) for name in cases.get("clean", [])],
        "csv": [run_csv(case) for case in cases.get("csv", [])],
        "pagination": run_pagination(cases["pagination"]) if "pagination" in cases else [],
        "export": [run_export(case) for case in cases.get("export", [])],
        "schedules": [run_schedule(case) for case in cases.get("schedules", [])],
        "translation": run_translation(cases["translation"]) if "translation" in cases else {},
    }
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
