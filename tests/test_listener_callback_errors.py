"""Errors around the IO and signal listeners cost a few log lines, not one traceback each: a buggy callback on a
busy topic (every callback still runs; the message counts as a handler error of the plugin, logged throttled by
the host), and a signal service that answers ``get_value`` with malformed replies (false, logged throttled)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import pytest
from openmodule_hookspecs import OpenModuleModel, PluginCore, hookimpl, response_topic

from openmodule_host.host import Host
from openmodule_host.testing import TestClient
from openmodule_host.utils import IoListener, SignalFilterType, SignalListener
from tests.support import eventually

MESSAGES = 200


class Buggy:
    """An IO and a signal listener, each with a callback that always raises and one that records."""

    def __init__(self) -> None:
        self.pins: list[int] = []
        self.signals: list[bool] = []

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        io = IoListener(core.messages)
        io.add_listener_edge_any("loop", self._raise)
        io.add_listener_edge_any("loop", lambda state: self.pins.append(state.value))
        signals = SignalListener(core.messages, core.rpc_client)
        signals.add_listener("open", SignalFilterType.any, self._raise)
        signals.add_listener("open", SignalFilterType.any, lambda signal: self.signals.append(signal.value))

    @staticmethod
    def _raise(_state: Any) -> None:
        raise RuntimeError("a bug in the callback")


def test_a_raising_callback_on_a_flood_is_counted_and_logged_a_few_times(
        om_host: Callable[..., Host], om_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    plugin = Buggy()
    host = om_host(("buggy", plugin))
    caplog.set_level(logging.ERROR)
    for n in range(MESSAGES):
        om_client.publish("io", {"type": "input", "gateway": {"gate": "g", "direction": "in"}, "pin": "loop",
                                 "value": n % 2, "edge": 1})
        om_client.publish("signal", {"type": "open", "signal": "open", "value": n % 2 == 0})

    eventually(lambda: len(plugin.pins) == MESSAGES and len(plugin.signals) == MESSAGES, timeout=30)
    # every callback ran: the raising one did not keep the recording one from its messages
    assert plugin.pins == [n % 2 for n in range(MESSAGES)]
    stats = host.plugins["buggy"].stats
    eventually(lambda: stats.handler_errors == 2 * MESSAGES, timeout=10)
    lines = [record for record in caplog.records
             if record.exc_info is not None and "a bug in the callback" in str(record.exc_info[1])]
    assert 1 <= len(lines) <= 4, [record.getMessage() for record in lines]


def test_a_callback_error_reaches_the_dispatcher_after_the_other_callbacks_ran() -> None:
    handlers: dict[str, Any] = {}

    class Dispatcher:
        def register_handler(self, topic: str, message_class: Any, handler: Any, **_kwargs: Any) -> None:
            handlers[topic] = (message_class, handler)

    calls: list[str] = []
    listener = SignalListener(Dispatcher(), rpc_client=None)
    listener.add_listener("open", SignalFilterType.any, lambda signal: 1 / 0)
    listener.add_listener("open", SignalFilterType.any, lambda signal: calls.append(signal.signal))
    message_class, handler = handlers["signal"]
    with pytest.raises(ZeroDivisionError):
        handler(message_class.model_validate({"type": "open", "signal": "open", "value": True}))
    assert calls == ["open"]
    assert listener.get_value("open") is True  # the state was kept all the same


class Ask(OpenModuleModel):
    signal: str


class Value(OpenModuleModel):
    value: bool


class Asking:
    """Serves ``asking``/``value``: a signal's value from its SignalListener (asked for when not seen yet)."""

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        signals = SignalListener(core.messages, core.rpc_client)
        core.rpc_server.register_handler("asking", "value", Ask, Value,
                                         lambda request, _message: Value(value=signals.get_value(request.signal)))


def test_malformed_signal_value_replies_count_as_false_and_log_a_few_lines(
        om_host: Callable[..., Host], om_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    om_host(("asking", Asking()))
    om_client.subscribe("rpc-req-signal")
    caplog.set_level(logging.ERROR)
    for n in range(30):
        rpc_id = om_client.rpc_send("asking", "value", {"signal": f"s{n}"})
        request = om_client.wait_for_message("rpc-req-signal", lambda body: body.get("type") == "get_value", 10)
        om_client.publish(response_topic("signal"), {"type": "get_value", "rpc_id": request["rpc_id"],
                                                     "response": {"status": "ok", "value": {"not": "a bool"}}})
        reply = om_client.wait_for_message("rpc-rep-asking", functools.partial(_is_reply_to, rpc_id), 10)
        assert reply["response"] == {"status": "ok", "value": False}
    lines = [record for record in caplog.records if "Error while getting signal value" in record.getMessage()]
    assert 1 <= len(lines) <= 2, len(lines)


def _is_reply_to(rpc_id: str, body: dict[str, Any]) -> bool:
    return body.get("rpc_id") == rpc_id
