"""A test suite for om_welcome written the openmodule-test 18.5.0 way: unittest classes on the mixins, the
service's RPC called with ``self.rpc``, messages sent with ``self.zmq_client.send`` and read with
``wait_for_message_on_topic``, a ``MockRPCClient`` for the plate lookup, ``get_health``/``assertHealthOk``,
``assertAlert``/``assertNoAlert``. Ported from openmodule-test by changing the imports and naming the plugin
(``plugin``, ``init_kwargs``) where the openmodule suite built the service in ``setUp``: the bodies are as
openmodule-test has them. Runs without a broker, through the fake core."""

from __future__ import annotations

import time
from typing import Any
from unittest import TestCase

from openmodule_hookspecs import PresentVehicleEnterMessage
from welcome_plugin import DisplayMessage, GreetRequest, GreetResponse, LookupResponse

from openmodule_host.testing import (
    AlertTestMixin,
    HealthTestMixin,
    MockRPCClient,
    OpenModuleCoreTestMixin,
    RPCServerTestMixin,
)
from tests.support.fake_plugins import Order, Shop


def enter(gate: str, plate: str) -> PresentVehicleEnterMessage:
    return PresentVehicleEnterMessage.model_validate({
        "name": "om_presence_1", "vehicle_id": "1", "gate": gate, "lpr_front": {"plate": plate, "country": "A"},
        "enter_direction": "forward", "enter_time": time.time()})


def lookup_fails(request: Any, _: None) -> LookupResponse:
    raise RuntimeError("the plate database is locked")


class WelcomeTest(OpenModuleCoreTestMixin, RPCServerTestMixin):
    plugin = "gate_in"
    init_kwargs = {
        "config": {"plugin": "om_welcome", "gate": "in-1", "welcome_text": "Hello", "lookup_timeout": 0.2},
        "rpc_client": MockRPCClient(responses={("plates", "lookup"): LookupResponse(known=True, owner="Ann")}),
    }
    topics = ["display"]
    rpc_channels = ["welcome"]

    def setUp(self) -> None:
        super().setUp()
        self.wait_for_rpc_response("welcome", "greet", GreetRequest(gate="in-1"), GreetResponse)

    def test_greets_a_known_plate_by_its_plate(self) -> None:
        response = self.rpc("welcome", "greet", GreetRequest(gate="in-1", plate="G ARIVO1"), GreetResponse)
        self.assertEqual("Hello, G ARIVO1!", response.text)
        self.assertTrue(response.known)
        self.assertEqual({"plate": "G ARIVO1"}, self.core.mock_rpc.last_request[("plates", "lookup")])

    def test_another_gates_request_gets_no_answer(self) -> None:
        with self.assertRaises(TimeoutError):
            self.rpc("welcome", "greet", GreetRequest(gate="in-2"), GreetResponse, timeout=0.5)

    def test_an_invalid_request_is_a_validation_error(self) -> None:
        with self.assertRaises(self.core.rpc_client.ServerValidationError):
            self.rpc("welcome", "greet", {"plate": "G ARIVO1"}, GreetResponse)

    def test_a_vehicle_entering_its_gate_is_greeted_on_the_display(self) -> None:
        self.zmq_client.send("present_vehicle", enter("in-1", "G ARIVO1"))
        message = DisplayMessage.model_validate(self.zmq_client.wait_for_message_on_topic("display"))
        self.assertEqual(("in-1", "Hello, G ARIVO1!"), (message.gate, message.text))

    def test_a_vehicle_at_another_gate_is_not_greeted(self) -> None:
        self.zmq_client.send("present_vehicle", enter("in-2", "G ARIVO1"))
        with self.assertRaises(TimeoutError):
            self.zmq_client.wait_for_message_on_topic("display", timeout=0.5)

    def test_health_is_ok_while_the_lookup_answers_and_an_error_when_it_fails(self) -> None:
        self.rpc("welcome", "greet", GreetRequest(gate="in-1", plate="G ARIVO1"), GreetResponse)
        self.assertHealthOk(self.get_health())

        self.core.mock_rpc = MockRPCClient(callbacks={("plates", "lookup"): lookup_fails})
        response = self.rpc("welcome", "greet", GreetRequest(gate="in-1", plate="G ARIVO1"), GreetResponse)
        self.assertEqual("Hello!", response.text)
        health = self.get_health()
        self.assertHealthError(health)
        self.assertEqual("lookup failed: ServerHandlerError", health["pong"]["message"])

    def test_a_lookup_that_does_not_answer_in_time_is_a_plain_welcome(self) -> None:
        self.core.mock_rpc = MockRPCClient()  # nothing scripted: the lookup times out
        response = self.rpc("welcome", "greet", GreetRequest(gate="in-1", plate="G ARIVO1"), GreetResponse)
        self.assertFalse(response.known)
        self.assertHealthError(self.get_health())

    def test_the_display_gets_the_idle_text_again_every_refresh(self) -> None:
        self.core.run_jobs(after=60)
        message = self.zmq_client.wait_for_message_on_topic("display")
        self.assertEqual("Welcome to the garage", message["text"])


class ShopAlertTest(AlertTestMixin, HealthTestMixin, TestCase):
    plugin = Shop  # a class: one object per test, as an entry point to a class gets
    # openmodule's init_openmodule keywords may stay: the host decides them for a plugin
    init_kwargs = {"name": "shop", "config": {"limit": 10}, "database": True, "sentry": False, "dsgvo": False}
    topics = ["alert"]

    def test_a_big_order_raises_an_alert_and_fails_the_health_hook(self) -> None:
        self.zmq_client.send("orders", Order(amount=50))
        alert = self.assertAlert(alert_type="big_order", status="error")
        self.assertEqual(50.0, alert["value"])
        self.assertHealthError(self.get_health("shop"))

    def test_a_small_order_raises_none(self) -> None:
        self.zmq_client.send("orders", {"type": "order", "amount": 5})
        self.assertNoAlert(alert_type="big_order")
        self.assertHealthOk(self.get_health())
