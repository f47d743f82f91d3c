"""The event log and ticket validation providers in plugins, over a real broker."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import pytest
from openmodule_hookspecs import hookimpl
from pydantic import ValidationError

from openmodule_host.utils import (
    EventInfo,
    EventlogMessage,
    MessageKwarg,
    ValidateRequest,
    ValidateResponse,
    ValidateResponseError,
    ValidateResponseState,
    Validation,
    clean_service_name,
    send_event,
)


class Sessions:
    def __init__(self) -> None:
        self.core: Any = None

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core


def test_send_event_publishes_a_create_event_on_the_eventlog_topic_with_the_plugins_name(om_host, om_client):
    sessions = Sessions()
    om_host(("sessions", sessions), config={"sessions": {"NAME": "om_sessions_1"}})
    om_client.subscribe("eventlog")
    send_event(sessions.core, EventInfo.create("session_start", timestamp=datetime(2024, 6, 1, 10, 0, 11),
                                               gate="entry1", license_plate="G ARIVO1", session_id="s-42"),
               "Session with plate {lpr} started at {gate}, {price} paid",
               lpr=MessageKwarg.lpr("G ARIVO1", "A"), gate=MessageKwarg.gate("entry1"), price=MessageKwarg.price(250))
    body = om_client.wait_for_message("eventlog", timeout=10)
    assert body["name"] == "om_sessions_1" and body["type"] == "create_event"
    assert body["event"] == {
        "message": "Session with plate {lpr} started at {gate}, {price} paid",
        "message_kwargs": {
            "lpr": {"value": {"plate": "G ARIVO1", "country": "A"}, "anonymization_type": "lpr", "format_type": "lpr"},
            "gate": {"value": "entry1", "anonymization_type": "no", "format_type": "gate"},
            "price": {"value": 250, "anonymization_type": "no", "format_type": "price"},
        },
        "infos": {"type": "session_start", "timestamp": "2024-06-01T10:00:11", "gate": "entry1",
                  "license_plate": "G ARIVO1", "session_id": "s-42"},
    }
    assert EventlogMessage.model_validate(body).event.infos.session_id == "s-42"


def test_events_are_checked_before_anything_is_sent():
    with pytest.raises(ValidationError, match="underscore"):
        EventInfo.create("start")
    with pytest.raises(ValidationError, match="price has to be int"):
        MessageKwarg(value="2,50", format_type="price")
    with pytest.raises(ValidationError, match="lpr has to be PlateFormatData"):
        MessageKwarg(value="G ARIVO1", format_type="lpr")
    assert MessageKwarg.lpr("G ARIVO1").value.country == "-"  # an unknown country
    with pytest.raises(KeyError, match="gate"):  # a text that does not format with its arguments
        send_event(None, EventInfo.create("session_start"), "at {gate}")


def test_clean_service_name_strips_the_prefix_and_the_instance_number():
    assert clean_service_name("om_service_shop_1") == "service_shop"
    assert clean_service_name("om_shop") == "shop"
    assert clean_service_name("shop_12") == "shop"
    assert clean_service_name("shop_x") == "shop_x"


def payload(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Shop(Validation):
    """Validates vouchers ``<shop>-<n>``: a free hour for its own shop's vouchers, not applicable otherwise."""

    def __init__(self, core: Any, shop: str) -> None:
        super().__init__(core)
        self.shop = shop

    def validate_ticket(self, request: ValidateRequest) -> ValidateResponse:
        code = base64.b64decode(request.payload).decode()
        if not code.startswith(self.shop):
            return ValidateResponse(state=ValidateResponseState.not_applicable, error=ValidateResponseError.invalid)
        return ValidateResponse(state=ValidateResponseState.ok, message=f"{self.shop} voucher", cost_entries=[
            {"entry_type": "time_validation", "value": 3600, "group": "default", "account_id": "2000"},
            {"entry_type": "time_validation", "value": 60, "group": "default", "account_id": "2000",
             "source": "cashier"}])


class ShopPlugin:
    def __init__(self, shop: str) -> None:
        self.shop = shop

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        Shop(core, self.shop).register_rpcs(core.rpc_server)


def validate(om_client: Any, name: str, code: str, **fields: Any) -> dict[str, Any]:
    request = {"name": name, "session_id": "s-42", "type": "qr", "payload": payload(code), "gate": "exit1", **fields}
    return om_client.rpc("validation_provider", "validate", request, timeout=10)


def test_several_validation_providers_share_the_channel_each_answering_for_its_name(om_host, om_client):
    om_host(("spar", ShopPlugin("SPAR")), ("hofer", ShopPlugin("HOFER")),
            config={"spar": {"NAME": "om_validation_spar_1"}, "hofer": {"NAME": "om_validation_hofer_1"}})
    reply = validate(om_client, "om_validation_spar_1", "SPAR-1")
    assert reply["name"] == "om_validation_spar_1"
    response = reply["response"]
    assert response["status"] == "ok" and response["state"] == "ok" and response["message"] == "SPAR voucher"
    # a cost entry without a source gets the provider's service name; one with a source keeps it
    assert [entry["source"] for entry in response["cost_entries"]] == ["validation_spar", "cashier"]
    assert validate(om_client, "om_validation_hofer_1", "SPAR-1")["response"] == {
        "status": "ok", "state": "not_applicable", "error": "invalid"}
    om_client.rpc_no_response("validation_provider", "validate",
                              {"name": "om_validation_billa_1", "session_id": "s", "type": "qr", "payload": "QQ=="})
    assert validate(om_client, "om_validation_hofer_1", "x", type="barcode")["response"]["status"] == "validation_error"
    bad = om_client.rpc("validation_provider", "validate",
                        {"name": "om_validation_spar_1", "session_id": "s", "type": "qr", "payload": "not base64!"},
                        timeout=10)
    assert bad["response"]["status"] == "validation_error"
