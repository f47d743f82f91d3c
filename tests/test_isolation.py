"""One plugin's slow, failing or flooded handler never affects another plugin."""

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openmodule_hookspecs import hookimpl

from tests.support import eventually
from tests.support.plugins import Blocker, Ping, Raiser, Recorder

ROOT = Path(__file__).resolve().parent.parent


def test_a_handler_blocked_for_30_s_does_not_delay_another_plugin_on_the_same_topic(om_host, om_client):
    blocker, recorder = Blocker(hold=30.0), Recorder()
    om_host(("blocker", blocker), ("recorder", recorder))

    om_client.publish("t", Ping(seq=0, sent_at=time.time()))
    assert blocker.entered.wait(5), "the blocker's handler never started"
    count = 100
    for seq in range(1, count + 1):
        om_client.publish("t", Ping(seq=seq, sent_at=time.time()))
        time.sleep(0.005)
    try:
        delivered = recorder.take(count + 1)
    finally:
        blocker.release.set()

    delays = sorted(delay for _, delay in delivered)
    assert [message.seq for message, _ in delivered] == list(range(count + 1))
    assert delays[-1] < 0.100, f"max delay {delays[-1] * 1000:.1f} ms, median {statistics.median(delays) * 1000:.1f} ms"


def test_a_full_mailbox_drops_and_counts_only_that_plugins_messages(om_host, om_client, caplog):
    blocker, recorder = Blocker(), Recorder()
    host = om_host(("blocker", blocker), ("recorder", recorder), mailbox_size=10)

    om_client.publish("t", Ping(seq=0))
    assert blocker.entered.wait(5)
    for seq in range(1, 51):
        om_client.publish("t", Ping(seq=seq))
        time.sleep(0.002)  # the recorder keeps up with this pace even with a mailbox of 10
    assert len(recorder.take(51)) == 51
    blocker.release.set()

    assert host.plugins["blocker"].worker.mailbox.dropped == 40
    assert host.plugins["recorder"].worker.mailbox.dropped == 0
    assert "mailbox of plugin blocker is full (capacity 10)" in caplog.text


def test_a_raising_handler_is_logged_and_counted_and_its_plugin_keeps_running(om_host, om_client, caplog):
    raiser, recorder = Raiser(), Recorder()
    host = om_host(("raiser", raiser), ("recorder", recorder))

    for seq in range(6):
        om_client.publish("t", Ping(seq=seq))

    assert [message.seq for message, _ in raiser.take(3)] == [0, 2, 4]
    assert len(recorder.take(6)) == 6
    eventually(lambda: host.plugins["raiser"].stats.handled == 6)
    assert host.plugins["raiser"].stats.handler_errors == 3
    assert "plugin raiser: handler" in caplog.text and "ValueError: odd sequence number 1" in caplog.text


def test_a_register_handlers_that_hangs_fails_that_plugin_after_the_start_timeout(om_host, om_client):
    class Hanging:
        from openmodule_hookspecs import hookimpl

        @hookimpl
        def register_handlers(self, core):
            time.sleep(3)

    recorder = Recorder()
    host = om_host(("hanging", Hanging()), ("recorder", recorder), start_timeout=0.5, strict=False)

    assert host.plugins["hanging"].state == "failed"
    assert host.plugins["hanging"].reason == "register_handlers did not return within 0.5 s"
    om_client.publish("t", Ping(seq=1))
    assert recorder.take(1)[0][0].seq == 1


@pytest.mark.parametrize("filter_result", [True, False])
def test_a_filter_decides_on_the_raw_message(om_host, om_client, filter_result):
    seen = []
    recorder = Recorder(filter_=lambda body: seen.append(body) or filter_result)
    om_host(("recorder", recorder))

    om_client.publish("t", Ping(seq=7))
    om_client.publish("t", {"type": "ping", "seq": 8})

    if filter_result:
        assert [message.seq for message, _ in recorder.take(2)] == [7, 8]
    else:
        eventually(lambda: len(seen) >= 2)  # the filter had both
        assert recorder.received.empty()
    assert [body["seq"] for body in seen][:2] == [7, 8]


def test_a_raising_filter_is_counted_and_the_message_skipped(om_host, om_client):
    recorder = Recorder(filter_=lambda body: 1 / body["seq"] > 0)
    host = om_host(("recorder", recorder))

    om_client.publish("t", Ping(seq=0))
    om_client.publish("t", Ping(seq=1))

    assert [message.seq for message, _ in recorder.take(1)] == [1]
    assert host.plugins["recorder"].stats.filter_errors == 1


def test_match_type_false_or_an_empty_type_default_takes_every_type(om_host, om_client):
    from openmodule_hookspecs import ZMQMessage

    class AnyType(ZMQMessage):
        type: str = ""

    every, empty_default = Recorder(match_type=False), Recorder(message_class=AnyType)
    om_host(("every", every), ("empty", empty_default))
    om_client.publish("t", {"type": "input", "seq": 1})
    om_client.publish("t", {"type": "output", "seq": 2})
    assert [message.type for message, _ in every.take(2)] == ["input", "output"]
    assert [message.type for message, _ in empty_default.take(2)] == ["input", "output"]


def test_a_burst_into_a_full_mailbox_keeps_the_oldest_and_counts_every_drop(om_host, om_client):
    blocker = Blocker()
    host = om_host(("blocker", blocker), mailbox_size=10)
    om_client.publish("t", Ping(seq=0))
    assert blocker.entered.wait(5)
    for seq in range(1, 101):
        om_client.publish("t", Ping(seq=seq))
    mailbox = host.plugins["blocker"].worker.mailbox
    eventually(lambda: mailbox.dropped == 90)
    blocker.release.set()
    assert [message.seq for message, _ in blocker.take(11)] == list(range(11))



class Counter:
    """Counts the ``Ping`` messages on ``t`` after the first (``seq`` above 0) and keeps the last ``seq``; each
    costs it some CPU time under the GIL (a handler that does some work), several times the intake's share."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0

    @hookimpl
    def register_handlers(self, core):
        core.messages.register_handler("t", Ping, self.on_message)

    def on_message(self, message: Ping) -> None:
        if message.seq:
            sum(range(500))
            self.count += 1
            self.last = message.seq


def test_a_flood_reaches_a_plugin_beside_a_stuck_one_in_full_with_the_default_mailbox(om_broker, om_host):
    # The intake reads faster than a worker handles a message (with the compiled reader, at half the cost):
    # it yields to the workers after a batch that left a mailbox more than half full, and so the counter's
    # mailbox (10,000) takes the whole flood, while the stuck plugin's full mailbox drops and counts its share.
    blocker, counter = Blocker(), Counter()
    host = om_host(("blocker", blocker), ("counter", counter))
    flood = 100_000
    publisher = subprocess.Popen(
        [sys.executable, "-m", "tests.support.flood_publisher", om_broker.sub_address, "t", str(flood)],
        stdin=subprocess.PIPE, text=True, cwd=ROOT,
    )
    counted, stuck = host.plugins["counter"].worker.mailbox, host.plugins["blocker"].worker.mailbox
    try:
        assert blocker.entered.wait(10), "no message arrived"
        publisher.communicate("go\n", timeout=60)
        eventually(lambda: counter.count + counted.dropped >= flood, timeout=60)
    finally:
        publisher.kill()
        blocker.release.set()

    assert counted.dropped == 0
    assert (counter.count, counter.last) == (flood, flood)
    assert stuck.dropped >= flood - stuck.capacity
