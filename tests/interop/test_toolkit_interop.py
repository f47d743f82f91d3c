"""The toolkit decides as openmodule 18.5.0 does, case by case (openmodule's own code runs in its interpreter,
``peers/openmodule_toolkit.py``):

- hundreds of random ``io`` and ``signal`` message scripts through openmodule's ``IoListener`` /
  ``SignalListener`` and ours: the same callbacks with the same states and change types (the edge
  classification), the same final states, the same ``trigger_signals`` requests;
- the wire models both ways: what we send, openmodule reads and sends back byte for byte, and what we refuse,
  it refuses;
- ``clean_service_name``, CSV rendering (the bytes), cursor pagination (the pages and the cursor tokens), the
  export days, and the daily times of file cleanup (from NAME) and exports (from RESOURCE).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import random
import subprocess
import types
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import schedule
from pydantic import BaseModel, ValidationError
from sqlalchemy import DateTime, Integer, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from openmodule_host.utils import (
    ColumnDefinition,
    CsvFormatType,
    EventInfo,
    EventlogMessage,
    GetSignalValueRequest,
    GetSignalValueResponse,
    IoListener,
    IoMessage,
    IoState,
    MessageKwarg,
    RequestCursor,
    SignalListener,
    SignalMessage,
    TriggerSignalsRequest,
    TriggerSignalsResponse,
    ValidateRequest,
    ValidateResponse,
    clean_service_name,
    do_cursor_pagination,
    export_iterator,
    render,
    schedule_export,
    schedule_file_cleanup,
    utcnow,
)

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_toolkit.py"


class LocalDispatcher:
    """openmodule's single-threaded ``MessageDispatcher`` for one topic's ``match_type=False`` handlers: each
    message validated into the handler's class (invalid ones dropped), in order."""

    def __init__(self) -> None:
        self.handlers: list[tuple[str, type[BaseModel], Any]] = []

    def register_handler(self, topic: str, message_class: type[BaseModel], handler: Any, **_kwargs: Any) -> None:
        self.handlers.append((topic, message_class, handler))

    def dispatch(self, topic: str, message: dict[str, Any]) -> None:
        for registered, message_class, handler in self.handlers:
            if registered != topic:
                continue
            try:
                model = message_class.model_validate(message)
            except ValidationError:
                continue
            handler(model)


def run_openmodule(cases: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps(cases), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


# -- IO -------------------------------------------------------------------------------------------------

PINS = {"p1": ("g1", "in"), "p2": ("g1", "in"), "p3": ("g2", "out")}


def io_script(rng: random.Random) -> dict[str, Any]:
    now = utcnow()
    listen = []
    for _ in range(rng.randint(1, 5)):
        target: Any = rng.choice([*PINS, {"gate": "g1", "direction": "in"}, {"gate": "g2", "direction": "in"}])
        listen.append([rng.choice(["rising", "falling", "any", "none"]), target,
                       rng.choice([None, None, "input", "output"])])
    messages = []
    for _ in range(rng.randint(1, 25)):
        pin = rng.choice(list(PINS))
        gate, direction = PINS[pin]
        stamp = now + rng.choice([timedelta(seconds=-60), timedelta(hours=1)])  # far from the 5 s validity edge
        message: dict[str, Any] = {
            "timestamp": (stamp - datetime(1970, 1, 1)).total_seconds(), "name": "om_io_1",
            "type": rng.choice(["input", "output"]), "gateway": {"gate": gate, "direction": direction}, "pin": pin,
            "value": rng.choice([0, 1, 1, 0, 2]), "edge": rng.choice([0, 1, 0]), "inverted": rng.random() < 0.3}
        if rng.random() < 0.5:
            message["physical"] = rng.choice([0, 1])
        if rng.random() < 0.05:
            del message["pin"]  # invalid: dropped by both
        messages.append(message)
    return {"listen": listen, "messages": messages}


def describe_state(state: IoState) -> list[Any]:
    return [state.pin, state.gateway.gate, str(state.gateway.direction), state.type, state.value, state.inverted,
            state.physical, state.last_timestamp.isoformat()]


def run_io(script: dict[str, Any]) -> dict[str, Any]:
    from openmodule_hookspecs import Gateway

    dispatcher = LocalDispatcher()
    listener = IoListener(dispatcher)
    calls: list[Any] = []
    for index, (edge, listen_to, io_type) in enumerate(script["listen"]):
        target = Gateway(**listen_to) if isinstance(listen_to, dict) else listen_to
        getattr(listener, f"add_listener_edge_{edge}")(
            target, lambda state, index=index: calls.append([index, describe_state(state)]), io_type=io_type)
    for message in script["messages"]:
        dispatcher.dispatch("io", message)
    return {"calls": calls, "states": {pin: describe_state(state) for pin, state in listener.current_states.items()},
            "valid": {pin: listener.is_pin_valid(pin) for pin in listener.current_states}}


# -- signals ----------------------------------------------------------------------------------------------

def signal_script(rng: random.Random) -> dict[str, Any]:
    names = ["entry1-open", "pa1-area_full", "parkinglot_full"]
    listen = [[rng.choice(names), rng.choice(["rising_edge", "falling_edge", "any_edge", "data_change", "any_change",
                                              "any"]), rng.choice([None, "a", "b"])] for _ in range(rng.randint(1, 6))]
    messages = []
    for _ in range(rng.randint(1, 20)):
        message: dict[str, Any] = {"timestamp": 1717236009.0, "name": "om_signals_1",
                                   "type": rng.choice(["open", "area_full", "custom", "something_new"]),
                                   "signal": rng.choice(names), "value": rng.choice([True, False])}
        if rng.random() < 0.4:
            message["additional_data"] = rng.choice([{}, {"cars": rng.randint(0, 3)}, None])
        if rng.random() < 0.3:
            message["gate"] = "entry1"
        if rng.random() < 0.05:
            message["value"] = "maybe"  # invalid: dropped by both
        messages.append(message)
    return {"listen": listen, "messages": messages, "trigger": rng.sample([None, "a", "b"], rng.randint(0, 2))}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def rpc(self, channel: str, type: str, request: Any, response_class: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests.append([channel, type, sorted(request.signals)])
        return response_class(success=True)


def run_signal(script: dict[str, Any]) -> dict[str, Any]:
    dispatcher, recorder = LocalDispatcher(), Recorder()
    listener = SignalListener(dispatcher, recorder)
    calls: list[Any] = []
    for index, (name, filter_type, tag) in enumerate(script["listen"]):
        listener.add_listener(name, filter_type, lambda signal, index=index: calls.append(
            [index, signal.signal, str(signal.type), signal.value, signal.additional_data, signal.gate,
             signal.parking_area_id, str(signal.change_type)]), tag)
    for message in script["messages"]:
        dispatcher.dispatch("signal", message)
    for tag in script["trigger"]:
        listener.trigger_signals(tag)
    return {"calls": calls, "states": {name: list(value) for name, value in listener.current_states.items()},
            "triggers": recorder.requests}


# -- models -----------------------------------------------------------------------------------------------

@functools.cache
def model_cases() -> list[tuple[BaseModel | None, str, str]]:
    """(our model or None for a body we refuse, openmodule's model name, the JSON body)."""
    ours: list[BaseModel] = [
        IoMessage(type="input", gateway={"gate": "entry1", "direction": "in"}, pin="entry1_loop", value=1, edge=1,
                  physical=1, pin_number=4, pin_label="Loop", meta={"board": 2}),
        IoMessage(type="output", gateway={"gate": "exit1", "direction": "out"}, pin="barrier", value=0, edge=0,
                  inverted=True),
        SignalMessage(type="area_full", signal="pa1-area_full", parking_area_id="pa1", value=True,
                      additional_data={"free": 0}),
        SignalMessage(type="brand_new_type", signal="x", value=False),
        GetSignalValueRequest(signal="entry1-open"), GetSignalValueResponse(value=True, additional_data={"a": 1}),
        TriggerSignalsRequest(signals=["a", "b"]), TriggerSignalsResponse(success=False),
        EventlogMessage.create(EventInfo.create("session_start", timestamp=datetime(2024, 6, 1, 10, 0, 11),
                                                gate="entry1", license_plate="G ARIVO1", session_id="s-42", price=250),
                               "Plate {lpr} at {gate}: {paid} for {rate}, {group}, medium {medium}, {note}",
                               lpr=MessageKwarg.lpr("G ARIVO1", "A"), gate=MessageKwarg.gate("entry1"),
                               paid=MessageKwarg.price(250), rate=MessageKwarg.rate("r-1"),
                               group=MessageKwarg.cost_group("cg"), medium=MessageKwarg.medium("1234"),
                               note=MessageKwarg.string("Grüße"), flag=MessageKwarg(value=True, format_type="flag")),
        ValidateRequest(name="om_validation_shop_1", session_id="s-42", type="qr", payload="U0hPUC0xMjM0",
                        gate="exit1"),
        ValidateResponse(state="not_applicable", error="expired", message="voucher expired"),
        ValidateResponse(state="ok", cost_entries=[{"entry_type": "time_validation", "value": 3600, "group": "g",
                                                    "account_id": "2000", "source": "shop"}]),
    ]
    cases: list[tuple[BaseModel | None, str, str]] = [
        (model, "EventlogMessage" if isinstance(model, EventlogMessage) else type(model).__name__,
         model.json_bytes().decode()) for model in ours]
    refused = [
        ("EventInfo", {"type": "nounderscore", "timestamp": "2024-06-01T10:00:00"}),
        ("MessageKwarg", {"value": "2,50", "format_type": "price"}),
        ("MessageKwarg", {"value": "G1", "format_type": "lpr"}),
        ("MessageKwarg", {"value": 5, "format_type": "gate"}),
        ("ValidateRequest", {"name": "n", "session_id": "s", "type": "qr", "payload": "not base64!"}),
        ("ValidateRequest", {"name": "n", "session_id": "s", "type": "barcode", "payload": "QQ=="}),
        ("ValidateResponse", {"state": "ok", "cost_entries": [{"entry_type": "time_validation", "value": 0,
                                                               "group": "g", "account_id": "2000"}]}),
        ("IoMessage", {"type": "input", "gateway": {"gate": "g"}, "pin": "p", "value": 1}),  # no edge
        ("SignalMessage", {"type": "open", "signal": "s"}),  # no value
    ]
    cases += [(None, name, json.dumps(body)) for name, body in refused]
    return cases


OUR_MODELS: dict[str, type[BaseModel]] = {model.__name__: model for model in (
    IoMessage, SignalMessage, GetSignalValueRequest, GetSignalValueResponse, TriggerSignalsRequest,
    TriggerSignalsResponse, EventlogMessage, EventInfo, MessageKwarg, ValidateRequest, ValidateResponse)}


# -- CSV ----------------------------------------------------------------------------------------------------

def typed(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        [(kind, data)] = value.items()
        if kind == "$dt":
            return datetime.fromisoformat(data)
        if kind == "$td":
            return timedelta(seconds=data)
        if kind == "$dec":
            return Decimal(data)
    return value


CSV_VALUES: dict[str, list[Any]] = {
    "string": ["plain", "Grüße", "", "=1+1", "@x", "+43 660 1234", "+abc", "-12,5", "-x", "a\tb", "a\rb", 42, "a\"b",
               "line\nbreak", None],
    "number": [1, 2.5, -0.25, {"$dec": "3.10"}, True, False, 10**20, "1", None],
    "percentage": [12.5, 100, {"$dec": "0.5"}, True, "5", None],
    "datetime": [{"$dt": "2024-06-01T22:30:00"}, {"$dt": "2024-01-01T00:00:00+05:00"}, "2024-03-31T01:30:00",
                 "2024-10-27T00:30:00Z", 5, None],
    "duration": [{"$td": 93605}, {"$td": 0.9}, 59.9, 3600, -1, "1h", None],
    "currency_amount": [1250, 0, -5, 7, 1.5, None],
    "static_text": ["fixed", "=bad", 5, None],
}


def csv_cases(rng: random.Random) -> list[dict[str, Any]]:
    cases = []
    for format_type, values in CSV_VALUES.items():
        for value in values:
            if format_type == "static_text":
                columns = [["Kind", "", "static_text", value]]
                rows: list[dict[str, Any]] = [{}]
            else:
                columns = [["Value", "v", format_type, None]]
                rows = [{"v": value}]
            cases.append({"rows": rows, "columns": columns, "timezone": rng.choice(["Europe/Vienna", "UTC"])})
    for _ in range(30):  # several columns and rows, with defaults
        kinds = rng.sample([kind for kind in CSV_VALUES if kind != "static_text"], 3)
        columns = [[kind.title(), kind, kind, rng.choice([None, CSV_VALUES[kind][0]])] for kind in kinds]
        rows = [{kind: rng.choice([*CSV_VALUES[kind][:3], None]) for kind in kinds if rng.random() < 0.8}
                for _ in range(rng.randint(0, 4))]
        cases.append({"rows": rows, "columns": columns, "timezone": "Europe/Vienna"})
    cases.append({"rows": [], "columns": [["A", "a", "string", None]], "timezone": "Not/AZone"})
    return cases


def run_csv(case: dict[str, Any]) -> dict[str, Any]:
    columns = [ColumnDefinition(name, field, CsvFormatType(format_type), typed(default))
               for name, field, format_type, default in case["columns"]]
    rows = [{key: typed(value) for key, value in row.items()} for row in case["rows"]]
    buffer = io.BytesIO()
    try:
        render(buffer, rows, columns, case["timezone"])
    except ValueError as error:
        return {"error": str(error)}
    return {"csv": base64.b64encode(buffer.getvalue()).decode()}


# -- pagination ---------------------------------------------------------------------------------------------

class Base(DeclarativeBase):
    pass


class Visit(Base):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime | None] = mapped_column(DateTime)


class VisitCursor(RequestCursor):
    starting_after: tuple[datetime, int] | None = None
    ending_before: tuple[datetime, int] | None = None


def pagination_case(rng: random.Random) -> dict[str, Any]:
    start = datetime(2024, 1, 1)
    rows = [[id_, None if rng.random() < 0.1 else (start + timedelta(minutes=rng.randint(0, 20))).isoformat()]
            for id_ in rng.sample(range(1, 200), 25)]
    walks = [{"descending": rng.random() < 0.5, "limit": rng.choice([1, 2, 3, 5, 10, 30]),
              "steps": ["first", *rng.choices(["next", "next", "previous"], k=rng.randint(1, 12))]}
             for _ in range(40)]
    return {"rows": rows, "walks": walks}


def run_pagination(case: dict[str, Any]) -> list[list[dict[str, Any]]]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    answers = []
    with Session(engine) as session:
        session.add_all([Visit(id=id_, created=datetime.fromisoformat(created) if created else None)
                         for id_, created in case["rows"]])
        session.commit()
        for walk in case["walks"]:
            pages: list[dict[str, Any]] = []
            response: Any = None
            for step in walk["steps"]:
                try:
                    cursor = None if step == "first" else VisitCursor.from_urlsafe_base64(
                        response.next_page if step == "next" else response.previous_page)
                    rows, response = do_cursor_pagination(cursor, session.query(Visit), Visit, "created",
                                                          walk["descending"], walk["limit"])
                except ValueError:
                    pages.append({"error": "ValidationError"})
                    break
                pages.append({"ids": [row.id for row in rows], "next": response.next_page,
                              "previous": response.previous_page, "has_next": response.has_next,
                              "has_previous": response.has_previous})
            answers.append(pages)
    engine.dispose()
    return answers


def export_cases() -> list[dict[str, Any]]:
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        {"timezone": "UTC", "last": (today - timedelta(days=4)).isoformat(), "min": None},
        {"timezone": "UTC", "last": None, "min": (today - timedelta(days=3, hours=-5)).isoformat()},
        {"timezone": "UTC", "last": None, "min": None},
        {"timezone": "Europe/Vienna", "last": None, "min": "2024-03-29T05:00:00"},
        {"timezone": "America/New_York", "last": None, "min": (today - timedelta(days=40)).isoformat()},
    ]


def run_export(case: dict[str, Any]) -> list[list[str]]:
    last = datetime.fromisoformat(case["last"]) if case["last"] else None
    first = datetime.fromisoformat(case["min"]) if case["min"] else None
    return [[day.csv_date_string, day.local_start.isoformat(), day.local_end.isoformat(), day.utc_start.isoformat(),
             day.utc_end.isoformat()] for day in export_iterator(case["timezone"], last, first)]


# -- the comparison -------------------------------------------------------------------------------------------

SCHEDULES = [{"name": f"om_service_{index}_1", "resource": f"garage-{index * 7}", "offset": index % 60}
             for index in range(40)]


def run_schedule(case: dict[str, Any]) -> dict[str, Any]:
    core = types.SimpleNamespace(name=case["name"], config=types.SimpleNamespace(RESOURCE=case["resource"]),
                                 scheduler=schedule.Scheduler())
    cleanup = schedule_file_cleanup(core, "/nonexistent/*.log", timedelta(days=1)).at_time.strftime("%H:%M")
    core.scheduler = schedule.Scheduler()
    offset = schedule_export(core, case["offset"], lambda: None)
    return {"cleanup": cleanup, "offset": offset, "export": core.scheduler.jobs[0].at_time.strftime("%H:%M")}


CLEAN = ["om_service_shop_1", "om_shop", "shop_12", "shop_x", "om_", "om_om_a_1_2", "x_1a", "", "OM_a_1", "om_a__3"]


@pytest.fixture(scope="module")
def cases_and_answers() -> tuple[dict[str, Any], dict[str, Any]]:
    rng = random.Random(15)
    cases = {
        "io": [io_script(rng) for _ in range(300)],
        "signal": [signal_script(rng) for _ in range(300)],
        "models": [{"model": name, "body": body} for _model, name, body in model_cases()],
        "clean": CLEAN,
        "csv": csv_cases(rng),
        "pagination": pagination_case(rng),
        "export": export_cases(),
        "schedules": SCHEDULES,
    }
    return cases, run_openmodule(cases)


def test_the_io_listener_calls_back_and_keeps_the_states_as_openmodules_does(cases_and_answers):
    cases, answers = cases_and_answers
    assert sum(len(answer["calls"]) for answer in answers["io"]) > 300  # the scripts do call back
    for script, expected in zip(cases["io"], answers["io"], strict=True):
        assert run_io(script) == expected, script


def test_the_signal_listener_classifies_and_calls_back_as_openmodules_does(cases_and_answers):
    cases, answers = cases_and_answers
    kinds = {call[-1] for answer in answers["signal"] for call in answer["calls"]}
    assert kinds == {"rising_edge", "falling_edge", "data_change", "none"}
    for script, expected in zip(cases["signal"], answers["signal"], strict=True):
        assert run_signal(script) == expected, script


def test_openmodule_reads_what_we_send_and_refuses_what_we_refuse(cases_and_answers):
    _cases, answers = cases_and_answers
    for (model, name, body), answer in zip(model_cases(), answers["models"], strict=True):
        if model is None:
            assert "error" in answer, (name, body)
            with pytest.raises(ValidationError):
                OUR_MODELS[name].model_validate_json(body)
            continue
        assert answer.get("body") == json.loads(body), (name, answer)  # openmodule re-sends it unchanged
        # and what openmodule sends, we read back into the same model
        assert OUR_MODELS[name].model_validate(answer["body"]) == model


def test_clean_service_name_matches(cases_and_answers):
    _cases, answers = cases_and_answers
    assert [clean_service_name(name) for name in CLEAN] == answers["clean"]


def test_csv_rendering_matches_byte_for_byte(cases_and_answers):
    cases, answers = cases_and_answers
    assert sum("error" in answer for answer in answers["csv"]) > 10  # refusals are compared too
    for case, expected in zip(cases["csv"], answers["csv"], strict=True):
        ours = run_csv(case)
        if "error" in expected:
            assert "error" in ours, (case, expected)
        else:
            assert ours == expected, case


def test_cursor_pagination_gives_the_same_pages_and_cursors(cases_and_answers):
    cases, answers = cases_and_answers
    assert run_pagination(cases["pagination"]) == answers["pagination"]


def test_cleanup_and_export_times_match(cases_and_answers):
    _cases, answers = cases_and_answers
    assert [run_schedule(case) for case in SCHEDULES] == answers["schedules"]
    assert len({answer["cleanup"] for answer in answers["schedules"]}) > 10  # spread over the hour


def test_the_export_days_match(cases_and_answers):
    cases, answers = cases_and_answers
    assert [run_export(case) for case in cases["export"]] == answers["export"]
    assert answers["export"][0]  # days to export, not only empty lists
