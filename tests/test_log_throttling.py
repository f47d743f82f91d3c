"""Floods of bad input or failing handlers log a few lines with counts; the counters still count every event."""

import logging
import time
import tracemalloc

from openmodule_hookspecs import ACCESS_CHANNEL, ACCESS_TYPE, hookimpl

from openmodule_host.testing import SentryTestTransport
from openmodule_host.throttle import KeyedLogThrottle
from tests.support import eventually
from tests.support.plugins import Ping, Recorder
from tests.support.rpc_plugins import Lookup

FLOOD = 1000


def lines_with(caplog, text):
    return [record for record in caplog.records if text in record.getMessage()]


def publish_flood(client, topic, body, count=FLOOD):
    for seq in range(count):
        client.publish(topic, {**body, "seq_note": seq})
        if seq % 200 == 199:
            time.sleep(0.01)  # stay below the sockets' high-water marks: every message must arrive


class Raising(Recorder):
    """Every handler call raises."""

    def on_message(self, message):
        raise ValueError(f"cannot handle {message.seq}")


class RaisingAccess:
    """An access service whose check_access always raises."""

    @hookimpl
    def check_access(self, core, request):
        raise RuntimeError("whitelist database locked")


# -- the throttle itself -------------------------------------------------------------------------------------


def test_one_line_per_key_per_interval_and_the_next_line_counts_the_quiet_ones(caplog):
    throttle, log = KeyedLogThrottle(interval=0.2), logging.getLogger("omh-test-throttle")
    caplog.set_level(logging.INFO, "omh-test-throttle")
    logged = [throttle.log(log, logging.ERROR, ("p", "t", "invalid"), "bad %d", n) for n in range(FLOOD)]
    assert logged[0] and not any(logged[1:])
    time.sleep(0.25)
    assert throttle.log(log, logging.ERROR, ("p", "t", "invalid"), "bad %d", FLOOD)
    assert [record.getMessage() for record in caplog.records] == [
        "bad 0", f"bad {FLOOD} ({FLOOD - 1} more like it not logged since the last such line)",
    ]


def test_each_key_has_its_own_interval():
    throttle = KeyedLogThrottle(interval=60)
    assert throttle.allow(("a", "t", "invalid")) == 0
    assert throttle.allow(("a", "t", "invalid")) is None
    assert throttle.allow(("a", "t", "handler raised")) == 0
    assert throttle.allow(("b", "t", "invalid")) == 0


def test_the_key_set_stays_bounded_under_100000_distinct_keys():
    throttle = KeyedLogThrottle(interval=60, max_keys=64)
    tracemalloc.start()
    try:
        for n in range(1000):
            throttle.allow(("p", f"topic-{n}", "invalid"))
        baseline = tracemalloc.get_traced_memory()[0]
        allowed = sum(throttle.allow(("p", f"topic-{n}", "invalid")) is not None for n in range(1000, 100_000))
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert len(throttle) == 65  # 64 keys and the shared overflow key
    assert allowed == 0  # the first 1,000 filled the set; every later key shares the (quiet) overflow key
    assert grown < 50_000, grown


def test_a_new_key_over_the_limit_is_logged_once_as_overflow_and_says_so(caplog):
    throttle, log = KeyedLogThrottle(interval=60, max_keys=2), logging.getLogger("omh-test-throttle")
    caplog.set_level(logging.INFO, "omh-test-throttle")
    for n in range(10):
        throttle.log(log, logging.ERROR, ("p", f"t{n}"), "bad on %s", f"t{n}")
    assert [record.getMessage() for record in caplog.records] == [
        "bad on t0", "bad on t1", "bad on t2 (too many kinds of error at once: counted together with the others)",
    ]


def test_a_stale_key_makes_room_for_a_new_one():
    throttle = KeyedLogThrottle(interval=0.1, max_keys=2)
    throttle.allow("a"), throttle.allow("b")
    assert throttle.allow("c") == 0  # a and b are fresh: c is counted under the overflow key ...
    assert throttle.allow("e") is None  # ... and so is e, now quiet
    time.sleep(0.15)
    assert throttle.allow("d") == 0  # a is stale: forgotten, d takes its place
    assert len(throttle) == 3


# -- every per-message error path, through a real host and broker ---------------------------------------------


def test_a_flood_of_invalid_messages_logs_one_line_and_counts_every_one(om_host, om_client, caplog):
    host = om_host(("recorder", Recorder()))
    publish_flood(om_client, "t", {"type": "ping", "seq": "not a number"})
    eventually(lambda: host.plugins["recorder"].stats.invalid == FLOOD)
    assert len(lines_with(caplog, "plugin recorder: invalid message on topic 't'")) == 1


def test_a_handler_that_always_raises_logs_one_full_traceback_and_counts_every_call(om_host, om_client, caplog):
    host = om_host(("raising", Raising()))
    publish_flood(om_client, "t", {"type": "ping", "seq": 1})
    eventually(lambda: host.plugins["raising"].stats.handler_errors == FLOOD)
    lines = lines_with(caplog, "raised on topic 't'")
    assert len(lines) == 1
    assert lines[0].exc_info is not None and "cannot handle 1" in caplog.text


def test_the_next_line_after_the_interval_says_how_many_were_not_logged(om_host, om_client, caplog):
    host = om_host(("recorder", Recorder()))
    host.plugins["recorder"].log_throttle.interval = 0.3
    publish_flood(om_client, "t", {"type": "ping", "seq": "x"}, count=100)
    eventually(lambda: host.plugins["recorder"].stats.invalid == 100)
    time.sleep(0.35)
    om_client.publish("t", {"type": "ping", "seq": "x"})
    eventually(lambda: len(lines_with(caplog, "invalid message on topic")) == 2)
    assert "(99 more like it not logged since the last such line)" in lines_with(caplog, "invalid message")[1].message


def test_a_flood_of_invalid_rpc_requests_logs_one_line_and_answers_every_one(om_host, om_client, caplog):
    host = om_host(("lookup", Lookup()))
    om_client.subscribe("rpc-rep-plates")
    ids = {om_client.rpc_send("plates", "lookup", {"wrong": n}) for n in range(FLOOD)}
    eventually(lambda: host.plugins["lookup"].stats.rpcs_failed == FLOOD)
    replies = [om_client.wait_for_message("rpc-rep-plates") for _ in range(FLOOD)]
    assert {reply["rpc_id"] for reply in replies} == ids
    assert {reply["response"]["status"] for reply in replies} == {"validation_error"}
    assert len(lines_with(caplog, "plugin lookup: invalid request for RPC plates:lookup")) == 1


def test_a_raising_handlers_next_traceback_after_the_interval_says_how_many_were_not_logged(om_host, om_client,
                                                                                              caplog):
    host = om_host(("raising", Raising()))
    host.plugins["raising"].log_throttle.interval = 0.3
    publish_flood(om_client, "t", {"type": "ping", "seq": 1}, count=100)
    eventually(lambda: host.plugins["raising"].stats.handler_errors == 100)
    time.sleep(0.35)
    om_client.publish("t", {"type": "ping", "seq": 2})
    eventually(lambda: len(lines_with(caplog, "raised on topic 't'")) == 2)
    second = lines_with(caplog, "raised on topic 't'")[1]
    assert "(99 more like it not logged since the last such line)" in second.message
    assert second.exc_info is not None  # in full again


class TwoRaisingHandlers:
    """Two handlers on one topic, each raising on every message."""

    @hookimpl
    def register_handlers(self, core):
        core.messages.register_handler("t", Ping, self.first)
        core.messages.register_handler("t", Ping, self.second)

    def first(self, message):
        raise ValueError("first cannot")

    def second(self, message):
        raise ValueError("second cannot")


def test_each_raising_handler_of_a_topic_logs_its_own_traceback(om_host, om_client, caplog):
    host = om_host(("pair", TwoRaisingHandlers()))
    publish_flood(om_client, "t", {"type": "ping", "seq": 1}, count=100)
    eventually(lambda: host.plugins["pair"].stats.handler_errors == 200)
    lines = lines_with(caplog, "plugin pair: handler")
    assert len(lines) == 2
    assert {str(line.exc_info[1]) for line in lines} == {"first cannot", "second cannot"}


def test_a_raising_rpc_handler_logs_one_traceback_per_interval(om_host, om_client, caplog):
    host = om_host(("lookup", Lookup()))
    om_client.subscribe("rpc-rep-plates")
    for _ in range(200):
        om_client.rpc_send("plates", "lookup", {"plate": "RAISE"})
    eventually(lambda: host.plugins["lookup"].stats.rpcs_failed == 200)
    assert len(lines_with(caplog, "plugin lookup: RPC handler plates:lookup raised")) == 1


def test_unknown_rpc_types_log_one_line_per_channel_whatever_the_types(om_host, om_client, caplog):
    host = om_host(("lookup", Lookup()))
    for n in range(FLOOD):
        om_client.rpc_send("plates", f"no_such_type_{n}", {"plate": "G1"})
    eventually(lambda: host.rpc_router.unknown == FLOOD)
    assert len(lines_with(caplog, "no handler found for plates:")) == 1


def test_a_raising_check_access_logs_one_traceback_and_counts_every_call(om_host, om_client, caplog):
    host = om_host(("gatekeeper", RaisingAccess()))
    name = host.plugins["gatekeeper"].core.name
    om_client.subscribe(f"rpc-rep-{ACCESS_CHANNEL}")
    for n in range(200):
        om_client.rpc_send(ACCESS_CHANNEL, ACCESS_TYPE, {"name": name, "gate": "entry1",
                                                         "vehicle": {"lpr": {"id": f"GARIVO{n}", "type": "lpr"}}})
    eventually(lambda: host.plugins["gatekeeper"].stats.handler_errors == 200)
    assert len(lines_with(caplog, "check_access raised")) == 1


def test_two_plugins_floods_are_throttled_independently(om_host, om_client, caplog):
    host = om_host(("first", Recorder()), ("second", Recorder()))
    publish_flood(om_client, "t", {"type": "ping", "seq": "x"})
    eventually(lambda: host.plugins["first"].stats.invalid == FLOOD and host.plugins["second"].stats.invalid == FLOOD)
    assert len(lines_with(caplog, "plugin first: invalid message")) == 1
    assert len(lines_with(caplog, "plugin second: invalid message")) == 1


def test_one_plugins_flood_does_not_hide_another_plugins_first_error_of_another_kind(om_host, om_client, caplog):
    host = om_host(("recorder", Recorder()), ("raising", Raising(topic="u")))
    publish_flood(om_client, "t", {"type": "ping", "seq": "x"})
    eventually(lambda: host.plugins["recorder"].stats.invalid == FLOOD)
    om_client.publish("u", {"type": "ping", "seq": 3})
    eventually(lambda: host.plugins["raising"].stats.handler_errors == 1)
    eventually(lambda: len(lines_with(caplog, "plugin raising: handler")) == 1)  # (counted just before it is logged)


class TwoTopics:
    """Takes pings on ``t`` quietly and raises on every ping on ``u``."""

    @hookimpl
    def register_handlers(self, core):
        core.messages.register_handler("t", Ping, lambda message: None)
        core.messages.register_handler("u", Ping, self.on_u)

    def on_u(self, message):
        raise ValueError("cannot handle u")


def test_a_plugins_flood_on_one_topic_does_not_hide_its_own_first_error_on_another(om_host, om_client, caplog):
    host = om_host(("both", TwoTopics()))
    publish_flood(om_client, "t", {"type": "ping", "seq": "x"})
    eventually(lambda: host.plugins["both"].stats.invalid == FLOOD)
    om_client.publish("u", {"type": "ping", "seq": 3})
    eventually(lambda: len(lines_with(caplog, "plugin both: handler")) == 1)
    assert len(lines_with(caplog, "plugin both: invalid message on topic 't'")) == 1


def test_every_raising_handler_call_still_reaches_sentry_tagged_with_its_plugin(om_host, om_client, caplog):
    transport = SentryTestTransport()
    host = om_host(("raising", Raising()), **transport.host_settings())
    for seq in range(20):
        om_client.publish("t", Ping(seq=seq))
    eventually(lambda: host.plugins["raising"].stats.handler_errors == 20)
    eventually(lambda: len(transport.errors()) == 20)
    assert len(lines_with(caplog, "plugin raising: handler")) == 1
    assert {event["tags"]["plugin"] for event in transport.errors()} == {"raising"}
    assert sorted(event["exception"]["values"][-1]["value"] for event in transport.errors()) == sorted(
        f"cannot handle {seq}" for seq in range(20))
