"""The cost entry model is the project's own: the host and the contract package never import the GPL-3
arivo-settings-models (``settings_models``), and ``CostEntryData`` keeps its rules (the full comparison with
settings-models is ``tests/interop/test_cost_entry_interop.py``)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import CommandCostEntryTypes, CostEntryData
from pydantic import ValidationError

import openmodule_host.utils

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "openmodule_host", ROOT / "hookspecs" / "openmodule_hookspecs", ROOT / "plugins_example"]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_module_of_the_host_the_contract_or_the_examples_imports_settings_models():
    files = [path for source in SOURCES for path in source.rglob("*.py")]
    assert len(files) > 100
    offenders = [str(path.relative_to(ROOT)) for path in files
                 if any(name.split(".")[0] == "settings_models" for name in imported_modules(path))]
    assert offenders == []


def test_settings_models_is_no_dependency():
    for pyproject in (ROOT / "pyproject.toml", ROOT / "hookspecs" / "pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {}).values()
        requirements = [*project["dependencies"], *(item for extra in extras for item in extra)]
        assert not [item for item in requirements if "settings-models" in item or "settings_models" in item]


def test_the_validation_toolkit_imports_and_validates_with_settings_models_blocked():
    script = ("import sys; sys.modules['settings_models'] = None\n"  # any import of it raises ImportError
              "from openmodule_host.utils import CostEntryData, ValidateResponse\n"
              "ValidateResponse(state='ok', cost_entries=[CostEntryData(entry_type='payment', value=1, "
              "account_id='1')])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_openmodule_host_utils_re_exports_the_contract_models():
    assert openmodule_host.utils.CostEntryData is CostEntryData
    assert openmodule_host.utils.CommandCostEntryTypes is CommandCostEntryTypes


def entry(**fields: Any) -> dict[str, Any]:
    return {"entry_type": "payment", "value": 5, "account_id": "1", **fields}


@pytest.mark.parametrize("data", [
    entry(),
    entry(group="g"),
    entry(entry_type="static_cost", value=True, group=""),
    entry(entry_type="cost_validation", value={"until": "2024-06-01T10:00:00"}, group="g"),
    entry(entry_type="payoff_costs", value=None),
    entry(account_id="3999"),
    entry(account_id="0042"),
    entry(unknown="ignored"),
], ids=repr)
def test_accepted(data):
    CostEntryData.model_validate(data)


@pytest.mark.parametrize("data", [
    entry(value=0),
    entry(value="5"),
    entry(value=5.0),
    entry(entry_type="time_validation"),  # no group
    entry(entry_type="cancel_remaining_costs", group=""),
    entry(entry_type="unknown", group="g"),
    entry(account_id="4000"),
    entry(account_id="-1"),
    entry(account_id="1.0"),
    entry(account_id=7),
    entry(source=1),
    # settings-models raises a bare AttributeError/TypeError for these
    entry(entry_type="free_timerange", value=None, group="g"),
    entry(entry_type="free_timerange", value="2024-06-01", group="g"),
    entry(account_id=None),
    entry(account_id=[1]),
    ["payment"],
    None,
], ids=repr)
def test_refused_with_a_validation_error(data):
    with pytest.raises(ValidationError):
        CostEntryData.model_validate(data)


def test_rate_values_become_text_and_a_free_timerange_keeps_its_two_times():
    rate = CostEntryData.model_validate(entry(entry_type="rate_change", value=12, group="g"))
    assert rate.value == "12"
    assert CostEntryData.model_validate(entry(entry_type="rate_change", value=None, group="g")).value == "None"
    timerange = CostEntryData.model_validate(entry(entry_type="free_timerange", group="g", value={
        "entry_start": "2024-06-01T10:00:00", "other": 1}))
    assert timerange.model_dump(mode="json")["value"] == {"entry_start": "2024-06-01T10:00:00", "entry_end": None}


def test_the_callers_dict_is_left_as_it_was():
    data = entry(entry_type="free_timerange", group="g", value={"entry_start": None, "other": 1})
    copy = {**data, "value": dict(data["value"])}
    CostEntryData.model_validate(data)
    assert data == copy


def test_a_plain_model_dump_keeps_the_none_fields_and_the_wire_leaves_them_out():
    model = CostEntryData(entry_type=CommandCostEntryTypes.payment, value=5, account_id="1")
    assert model.model_dump(mode="json") == {"entry_type": "payment", "value": 5, "group": None, "account_id": "1",
                                             "source": None, "source_id": None, "idempotency_key": None}
    response = openmodule_host.utils.ValidateResponse(state="ok", cost_entries=[model])
    assert response.json_bytes() == (b'{"state":"ok","cost_entries":[{"entry_type":"payment","value":5,'
                                     b'"account_id":"1"}]}')
