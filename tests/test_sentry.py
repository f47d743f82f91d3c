"""Sentry: one real sentry-sdk client per host whose transport keeps envelopes in memory (no network)."""

import logging
from typing import Any

import pytest
import sentry_sdk
from openmodule_hookspecs import hookimpl

from openmodule_host import HostConfig, __version__, load_host_config
from openmodule_host.errors import ConfigError
from openmodule_host.observability.sentry import default_environment
from openmodule_host.testing import SentryTestTransport
from tests.support import eventually
from tests.support.plugins import Ping, Raiser, Recorder
from tests.support.rpc_plugins import Lookup, LookupRequest, LookupResponse

DSN = SentryTestTransport().host_settings()["sentry_dsn"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
SENTRY_TRACE = f"{TRACE_ID}-{PARENT_SPAN_ID}-1"
BAGGAGE = f"sentry-trace_id={TRACE_ID},sentry-sample_rate=1.0,sentry-sampled=true"


@pytest.fixture(autouse=True)
def no_sentry_client_outlives_the_test():
    """Autouse, so it is torn down after om_host: the host closes its client when it stops."""
    yield
    client_left = sentry_sdk.is_initialized()
    sentry_sdk.get_global_scope().set_client(None)
    assert not client_left, "a sentry client outlived its test"


@pytest.fixture
def transport() -> SentryTestTransport:
    return SentryTestTransport()


def sentry_on(transport: SentryTestTransport) -> dict[str, Any]:
    """om_host arguments that turn sentry on with every transaction sampled."""
    return transport.host_settings()


def trace_id_of(sentry_trace: str) -> str:
    return sentry_trace.split("-")[0]


def span_id_of(sentry_trace: str) -> str:
    return sentry_trace.split("-")[1]


class Relay(Recorder):
    """On each message: publishes on ``out`` and calls ``plates``/``lookup`` (served by another plugin)."""

    def on_message(self, message: Ping) -> None:
        self.core.publish(Ping(seq=message.seq), "out")
        self.core.rpc_client.rpc("plates", "lookup", LookupRequest(plate="G1"), LookupResponse)
        super().on_message(message)


class Hooks:
    """Reports from its hooks: an error log in register_handlers, an exception from shutdown."""

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        core.log.error("could not read the whitelist")

    @hookimpl
    def shutdown(self, core: Any) -> None:
        raise RuntimeError("could not close the whitelist")


# -- events are tagged with the plugin they came from -----------------------------------------------


def test_an_exception_in_a_handler_is_an_event_tagged_with_its_plugin(om_host, om_client, transport):
    om_host(("a", Raiser()), ("b", Raiser()), config={"a": {"VERSION": "1.2.3"}, "b": {"NAME": "om_b_1"}},
            **sentry_on(transport))

    om_client.publish("t", Ping(seq=1))

    eventually(lambda: len(transport.errors()) == 2)
    events = {event["tags"]["plugin"]: event for event in transport.errors()}
    assert events["a"]["tags"] == {"plugin": "a", "plugin_version": "1.2.3", "name": "a"}
    assert events["b"]["tags"] == {"plugin": "b", "plugin_version": "0.0.0", "name": "om_b_1"}
    for plugin, event in events.items():
        assert event["logger"] == plugin
        assert event["level"] == "error"
        exception = event["exception"]["values"][-1]
        assert (exception["type"], exception["value"]) == ("ValueError", "odd sequence number 1")
        assert event["release"] == f"openmodule-host@{__version__}"
        assert event["environment"] == "test"


def test_hooks_report_with_their_plugins_tags_too(om_host, transport):
    host = om_host(("hooks", Hooks()), ("other", Recorder()), **sentry_on(transport))
    host.stop()  # shutdown raises: the host logs that from its own thread, still tagged as the plugin's

    messages = {event["logentry"]["message"] if "logentry" in event else event.get("message"): event
                for event in transport.errors()}
    assert set(messages) == {"could not read the whitelist", "plugin %s: shutdown raised"}
    for event in messages.values():
        assert event["tags"] == {"plugin": "hooks", "plugin_version": "0.0.0", "name": "hooks"}


# -- traces: continued from the envelope, propagated into it ----------------------------------------


def test_a_message_with_sentry_trace_continues_that_trace(om_host, om_client, transport):
    om_host(("a", Raiser()), **sentry_on(transport))

    om_client.publish("t", {"type": "ping", "seq": 1, "sentry-trace": SENTRY_TRACE, "baggage": BAGGAGE})

    eventually(lambda: transport.errors() and transport.transactions())
    [error], [transaction] = transport.errors(), transport.transactions()
    assert error["contexts"]["trace"]["trace_id"] == TRACE_ID
    trace = transaction["contexts"]["trace"]
    assert (trace["trace_id"], trace["parent_span_id"], trace["op"]) == (TRACE_ID, PARENT_SPAN_ID, "topic.process")
    assert transaction["transaction"] == "t/ping"
    assert transaction["tags"]["plugin"] == "a"


def test_a_message_without_sentry_trace_starts_a_new_trace_per_message(om_host, om_client, transport):
    om_host(("a", Recorder()), **sentry_on(transport))

    om_client.publish("t", Ping(seq=0))
    om_client.publish("t", Ping(seq=2))

    eventually(lambda: len(transport.transactions()) == 2)
    trace_ids = {transaction["contexts"]["trace"]["trace_id"] for transaction in transport.transactions()}
    assert len(trace_ids) == 2 and TRACE_ID not in trace_ids


def test_what_a_handler_sends_carries_the_trace_it_continues(om_host, om_client, transport):
    relay = Relay()
    om_host(("lookup", Lookup()), ("relay", relay), **sentry_on(transport))
    om_client.subscribe("out", "rpc-req-plates", "rpc-rep-plates")

    om_client.publish("t", {"type": "ping", "seq": 1, "sentry-trace": SENTRY_TRACE, "baggage": BAGGAGE})
    relay.take(1)

    published = om_client.wait_for_message("out")
    request = om_client.wait_for_message("rpc-req-plates")
    reply = om_client.wait_for_message("rpc-rep-plates")
    for body in (published, request, reply):
        assert trace_id_of(body["sentry-trace"]) == TRACE_ID, body
        assert body["sentry-trace"].endswith("-1")  # sampled, so baggage goes along (as openmodule)
        assert f"sentry-trace_id={TRACE_ID}" in body["baggage"]
    assert published["name"] == "relay" and request["name"] == "relay" and reply["name"] == "lookup"

    eventually(lambda: len(transport.transactions()) == 2)
    by_plugin = {event["tags"]["plugin"]: event["contexts"]["trace"] for event in transport.transactions()}
    assert by_plugin["relay"]["trace_id"] == by_plugin["lookup"]["trace_id"] == TRACE_ID
    assert by_plugin["relay"]["parent_span_id"] == PARENT_SPAN_ID
    # the RPC's transaction continues from the span the request was sent in
    assert by_plugin["lookup"]["parent_span_id"] == span_id_of(request["sentry-trace"])
    assert span_id_of(published["sentry-trace"]) == by_plugin["relay"]["span_id"]


def test_an_unsampled_trace_is_continued_without_baggage(om_host, om_client, transport):
    relay = Relay()
    host = om_host(("lookup", Lookup()), ("relay", relay), **sentry_on(transport))
    om_client.subscribe("out")

    om_client.publish("t", {"type": "ping", "seq": 1, "sentry-trace": f"{TRACE_ID}-{PARENT_SPAN_ID}-0"})

    published = om_client.wait_for_message("out")
    assert published["sentry-trace"].startswith(TRACE_ID) and published["sentry-trace"].endswith("-0")
    assert "baggage" not in published
    relay.take(1)
    host.stop()  # every transaction finished, and what sentry had queued sent
    assert transport.transactions() == []  # not sampled: nothing sent, neither the message's nor the RPC's


def test_with_sentry_off_no_trace_fields_are_added(om_host, om_client):
    relay = Relay()
    host = om_host(("lookup", Lookup()), ("relay", relay))
    om_client.subscribe("out", "rpc-req-plates", "rpc-rep-plates")

    om_client.publish("t", {"type": "ping", "seq": 1, "sentry-trace": SENTRY_TRACE, "baggage": BAGGAGE})
    relay.take(1)

    for body in (om_client.wait_for_message(topic) for topic in ("out", "rpc-req-plates", "rpc-rep-plates")):
        assert "sentry-trace" not in body and "baggage" not in body, body
    assert not host.sentry_enabled and not sentry_sdk.is_initialized()


def test_a_client_already_initialised_in_the_process_is_used_and_left_open(om_host, om_client, transport):
    sentry_sdk.init(dsn=DSN, transport=transport, traces_sample_rate=1.0)
    try:
        host = om_host(("a", Raiser()), sentry_dsn=DSN)
        om_client.publish("t", Ping(seq=1))
        eventually(lambda: transport.errors())
        assert transport.errors()[0]["tags"]["plugin"] == "a"
        host.stop()
        assert sentry_sdk.is_initialized()
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


# -- configuration ----------------------------------------------------------------------------------


def test_sentry_is_configured_from_the_environment_and_off_by_default():
    assert load_host_config(env={}).sentry_dsn is None
    config = load_host_config(env={"SENTRY_DSN": DSN, "SENTRY_ENVIRONMENT": "lab",
                                   "SENTRY_TRACES_SAMPLE_RATE": "0.5"})
    assert config.sentry_dsn.get_secret_value() == DSN
    assert (config.sentry_environment, config.sentry_traces_sample_rate) == ("lab", 0.5)
    assert HostConfig().sentry_traces_sample_rate == 0.0001
    assert load_host_config(env={"SENTRY_DSN": "  "}).sentry_dsn is None


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "production"),
    ({"TESTING": "1"}, "staging"),
    ({"DEBUG": "true"}, "staging"),
    ({"DEVICE_HOST": "test-device-1", "DEBUG": "false"}, "staging"),
    ({"DEVICE_HOST": "garage-7", "TESTING": "1"}, "production"),
])
def test_the_default_environment_follows_openmodule(env, expected):
    assert default_environment(env) == expected


def test_the_dsn_is_never_printed(om_host, transport, caplog):
    config = load_host_config(env={"SENTRY_DSN": DSN})
    assert "0123456789abcdef" not in repr(config) and "0123456789abcdef" not in str(config.model_dump())
    with pytest.raises(ConfigError) as error:
        load_host_config(env={"SENTRY_DSN": "ftp://0123456789abcdef@o1.ingest.sentry.invalid/42"})
    assert "not a valid sentry DSN" in str(error.value) and "0123456789abcdef" not in str(error.value)

    caplog.set_level(logging.INFO, logger="openmodule_host.sentry")
    om_host(("a", Recorder()), **sentry_on(transport))
    assert "sentry on: https://***@o1.ingest.sentry.invalid/42" in caplog.text
    assert "0123456789abcdef" not in caplog.text
