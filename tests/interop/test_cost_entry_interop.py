"""Our ``CostEntryData`` accepts, refuses and dumps cost entries as arivo-settings-models 2.7.2's does (the model
openmodule 18.5.0 puts into ``ValidateResponse.cost_entries``), case by case: settings-models runs in the
openmodule interpreter (``peers/openmodule_cost_entry.py``), ours here.

Each case is a JSON body: every entry type with many value forms and every group form, account ids in and out
of range and in odd spellings, free time ranges, unknown entry types, extra and typed optional fields, and
bodies that are not objects. For each one both models must agree on accepting it, and an accepted entry must
dump the same (``model_dump(mode="json")`` and ``model_dump_json()``) and go out in a ``ValidateResponse`` as the
same bytes; the same holds for the body read as part of a ``ValidateResponse``. Where settings-models lets a
plain exception escape (``AttributeError``/``TypeError``), ours refuses with a ``ValidationError``.
"""

from __future__ import annotations

import functools
import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from openmodule_host.utils import CommandCostEntryTypes, CostEntryData, ValidateResponse

from .peer import openmodule_python

pytestmark = pytest.mark.interop

PEER = Path(__file__).with_name("peers") / "openmodule_cost_entry.py"

MISSING = object()  # the key is left out of the body

ENTRY_TYPES = [entry_type.value for entry_type in CommandCostEntryTypes]

VALUES: list[Any] = [
    MISSING, None, 0, 1, 7, -1, 3600, 10**30, True, False, 2.0, 1.5, 1e20, "", "12", "abc", "Grüße", [], [1],
    {}, {"a": None}, {"a": 1}, {"a": "x"}, {"1": "2024-06-01T10:00:00Z"},
    {"entry_start": "2024-06-01T10:00:00", "entry_end": "2024-06-01T12:00:00"},
    {"entry_start": "2024-06-01T10:00:00Z", "other": 5},
]

GROUPS: list[Any] = [MISSING, None, "", "g1", "Zone Ä"]

TIMES: list[Any] = [
    MISSING, None, "2024-06-01T10:00:00", "2024-06-01T10:00:00.123456", "2024-06-01T10:00:00Z",
    "2024-06-01T10:00:00+02:00", "2024-06-01", 0, 1717236014.5, "bad", "", [1], {"a": 1}, True,
]

ACCOUNT_IDS: list[Any] = [
    MISSING, "0", "1", "2000", "3999", "4000", "-1", "-0", "01", "0000", " 7", "7\n", "+7", "1_000", "4_000",
    "1.0", "1e3", "0x10", "abc", "", "\u0663\u0669", "99999999999999999999", 0, 7, 4000, -1, True, 1.5, None,
    [1], {},
]


def present(**fields: Any) -> dict[str, Any]:
    return {key: field for key, field in fields.items() if field is not MISSING}


def body(entry_type: Any = "payment", value: Any = 5, group: Any = MISSING, account_id: Any = "1",
         **extra: Any) -> str:
    return json.dumps(present(entry_type=entry_type, value=value, group=group, account_id=account_id, **extra))


@functools.cache
def cases() -> list[str]:
    found = [body(entry_type, value, group) for entry_type in ENTRY_TYPES for value in VALUES for group in GROUPS]
    found += [body("free_timerange", present(entry_start=start, entry_end=end), "g1")
              for start in TIMES for end in TIMES[:6]]
    found += [body("free_timerange", present(entry_start=start, extra="x"), group)
              for start in TIMES for group in (None, "g1")]
    found += [body(entry_type, 5, group, account_id) for account_id in ACCOUNT_IDS
              for entry_type, group in (("payment", MISSING), ("static_cost", "g1"), ("payoff_costs", MISSING))]
    found += [body(entry_type, 5, group) for entry_type in (MISSING, None, "nope", "", 1, "PAYMENT", " payment")
              for group in (MISSING, None, "g1")]
    optional = [MISSING, None, "", "shop", 1, ["shop"]]
    found += [body(**{name: field}) for name in ("source", "source_id", "idempotency_key") for field in optional]
    found += [body(source="shop", source_id="v-1", idempotency_key="k-1", extra=1, unknown={"nested": [1, 2]}),
              body("rate_change", "r-1", "g1", "12", source="shop"), body(group=0), body(group=False),
              body("payoff_costs", group=0), body("cancel_remaining_costs", group=[])]
    found += ['"payment"', "1", "null", "[]", '[["entry_type", "payment"]]', "{}"]
    rng = random.Random(515)
    for _ in range(600):  # random mixtures of the forms above
        found.append(body(rng.choice([*ENTRY_TYPES, "nope"]), rng.choice(VALUES), rng.choice(GROUPS),
                          rng.choice(ACCOUNT_IDS[:12]), **rng.choice([{}, {"source": "cashier"}, {"x": 1}])))
    return found


def outcome(validate: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return validate()
    except ValidationError:
        return {"error": "ValidationError"}


def sent(response: ValidateResponse) -> dict[str, str]:
    try:
        return {"wire": response.json_bytes().decode()}
    except TypeError as error:  # an integer beyond 64 bits, which orjson does not write (nor does openmodule)
        return {"wire_crash": type(error).__name__}


def run_entry(text: str) -> dict[str, Any]:
    entry = CostEntryData.model_validate(json.loads(text))
    return {"dump": entry.model_dump(mode="json"), "json": entry.model_dump_json(),
            **sent(ValidateResponse(state="ok", cost_entries=[entry]))}


def run_response(text: str) -> dict[str, Any]:
    response = ValidateResponse.model_validate({"state": "ok", "cost_entries": [json.loads(text)]})
    return sent(response)


@pytest.fixture(scope="module")
def answers() -> list[dict[str, Any]]:
    result = subprocess.run([str(openmodule_python()), str(PEER)], input=json.dumps({"cases": cases()}),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    found: list[dict[str, Any]] = json.loads(result.stdout)["cases"]
    assert len(found) == len(cases())
    return found


def agree(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """The same answer, where settings-models' escaping exception counts as a refusal."""
    if "crash" in theirs:
        return ours == {"error": "ValidationError"}
    return ours == theirs


def test_the_cases_cover_acceptance_refusal_and_every_entry_type(answers):
    accepted = [json.loads(text) for text, answer in zip(cases(), answers, strict=True) if "dump" in answer["entry"]]
    refused = [text for text, answer in zip(cases(), answers, strict=True) if "error" in answer["entry"]]
    assert len(cases()) > 1500
    assert len(accepted) > 400 and len(refused) > 400
    assert {entry["entry_type"] for entry in accepted} == set(ENTRY_TYPES)


def test_each_cost_entry_is_accepted_refused_and_dumped_as_settings_models_does(answers):
    for text, answer in zip(cases(), answers, strict=True):
        assert agree(outcome(lambda text=text: run_entry(text)), answer["entry"]), (text, answer["entry"])


def test_a_validate_response_reads_and_sends_the_cost_entries_as_openmodules_does(answers):
    for text, answer in zip(cases(), answers, strict=True):
        assert agree(outcome(lambda text=text: run_response(text)), answer["response"]), (text, answer["response"])


def test_where_settings_models_crashes_ours_refuses_cleanly(answers):
    crashes = [(json.loads(text), answer["entry"]["crash"]) for text, answer in zip(cases(), answers, strict=True)
               if "crash" in answer["entry"]]
    assert {kind for _body, kind in crashes} == {"AttributeError", "TypeError"}
    for entry, _kind in crashes:  # only the documented three kinds of input
        assert (not isinstance(entry, dict)
                or (entry.get("entry_type") == "free_timerange" and not isinstance(entry.get("value", {}), dict))
                or isinstance(entry.get("account_id"), list | dict | type(None))), entry
        with pytest.raises(ValidationError):
            CostEntryData.model_validate(entry)
