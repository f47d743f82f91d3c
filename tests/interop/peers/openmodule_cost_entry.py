"""arivo-settings-models' ``CostEntryData`` (as openmodule 18.5.0 uses it) run on cases from stdin, answers on
stdout. Run ONLY with the interpreter of ``.venv-openmodule``: openmodule is GPLv2 and settings_models GPL-3;
nothing in the project or the test process imports them.

Input: ``{"cases": ["<JSON text of a cost entry>", ...]}``. Output: ``{"cases": [answer, ...]}`` in order, each
answer ``{"entry": outcome, "response": outcome}``: ``entry`` is ``CostEntryData.model_validate`` of the body,
``response`` is openmodule's ``ValidateResponse`` validating ``{"state": "ok", "cost_entries": [body]}``. An
outcome is ``{"error": "ValidationError"}``, ``{"crash": "<exception class>"}`` (any other exception), or for an
accepted entry ``{"dump": model_dump(mode="json"), "json": model_dump_json(), "wire": ...}`` and for an accepted
response ``{"wire": ...}``, ``wire`` being the ``ValidateResponse`` body openmodule sends (``json_bytes``), or
``{"wire_crash": "<exception class>"}`` when it cannot write it (an integer beyond 64 bits).
"""

from __future__ import annotations

import json
import logging
import sys
import types

from openmodule.config import settings

settings.configure(types.SimpleNamespace(NAME="om_cost_entry_1", VERSION="test", RESOURCE="test", DEBUG=False,
                                         TESTING=False, LOG_LEVEL=logging.CRITICAL, TIMEZONE="Europe/Vienna"))

from openmodule.models.validation import ValidateResponse  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from settings_models.settings.common import CostEntryData  # noqa: E402


def outcome(validate):
    try:
        return validate()
    except ValidationError:
        return {"error": "ValidationError"}
    except Exception as error:  # what the model lets escape: reported, not raised
        return {"crash": type(error).__name__}


def sent(response):
    try:
        return {"wire": response.json_bytes().decode()}
    except Exception as error:  # e.g. an integer beyond 64 bits, which orjson does not write
        return {"wire_crash": type(error).__name__}


def run_entry(body):
    entry = CostEntryData.model_validate(json.loads(body))
    return {"dump": entry.model_dump(mode="json"), "json": entry.model_dump_json(),
            **sent(ValidateResponse(state="ok", cost_entries=[entry]))}


def run_response(body):
    response = ValidateResponse.model_validate({"state": "ok", "cost_entries": [json.loads(body)]})
    return sent(response)


def main():
    cases = json.load(sys.stdin)["cases"]
    answers = [{"entry": outcome(lambda body=body: run_entry(body)),
                "response": outcome(lambda body=body: run_response(body))} for body in cases]
    json.dump({"cases": answers}, sys.stdout)


if __name__ == "__main__":
    main()
