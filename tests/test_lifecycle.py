"""Start-up and the bounded, ordered stop."""

import threading
import time

from openmodule_hookspecs import hookimpl

from openmodule_host.wire import Route, wait_for_connection
from tests.support import eventually
from tests.support.plugins import Blocker, Ping, Recorder


class Tracking(Recorder):
    """Records its shutdown in a shared journal; may raise or hang there."""

    def __init__(self, name, journal, *, raise_at_shutdown=False, hang_at_shutdown=0.0):
        super().__init__()
        self.name, self.journal = name, journal
        self.raise_at_shutdown, self.hang_at_shutdown = raise_at_shutdown, hang_at_shutdown

    @hookimpl
    def shutdown(self, core):
        self.journal.append((self.name, threading.current_thread().name))
        if self.hang_at_shutdown:
            time.sleep(self.hang_at_shutdown)
        if self.raise_at_shutdown:
            raise RuntimeError("cannot close the camera")


def test_shutdown_is_called_in_reverse_load_order_on_each_plugins_own_worker(om_host):
    journal = []
    host = om_host(*[(name, Tracking(name, journal)) for name in ("b", "a", "c")])
    host.stop()
    assert journal == [("c", "omh-plugin-c"), ("b", "omh-plugin-b"), ("a", "omh-plugin-a")]
    assert {plugin.state for plugin in host.plugins.values()} == {"stopped"}


def test_queued_messages_are_still_handled_before_shutdown(om_host, om_client):
    slow = Blocker(hold=0.01)
    slow.release.clear()
    host = om_host(("slow", slow))
    before = host.intake.stats.received
    for seq in range(20):
        om_client.publish("t", Ping(seq=seq))
    eventually(lambda: host.intake.stats.received == before + 20)
    host.stop()
    assert slow.received.qsize() == 20


def test_every_stop_stage_is_bounded_even_with_hanging_and_raising_plugins(om_host, om_client, caplog):
    journal = []
    stuck = Blocker(hold=30)
    host = om_host(
        ("ok", Tracking("ok", journal)),
        ("raises", Tracking("raises", journal, raise_at_shutdown=True)),
        ("hangs", Tracking("hangs", journal, hang_at_shutdown=30)),
        ("stuck", stuck),
        drain_timeout=0.5,
        shutdown_timeout=0.5,
    )
    om_client.publish("t", Ping(seq=1))
    om_client.publish("t", Ping(seq=2))
    assert stuck.entered.wait(5)
    eventually(lambda: len(host.plugins["stuck"].worker.mailbox) == 1)

    started = time.monotonic()
    host.stop()
    took = time.monotonic() - started
    stuck.release.set()

    # intake <= 2 s, drain <= 0.5 s, 4 shutdown hooks <= 0.5 s each, joins <= 0.2 s each, sockets ~0
    bound = 2 + 0.5 + 4 * 0.5 + 4 * 0.2 + 1
    assert took < bound, f"stop took {took:.2f} s"
    assert [name for name, _ in journal] == ["raises", "ok", "hangs"]  # reverse order: stuck, raises, ok, hangs
    assert "plugin raises: shutdown raised" in caplog.text
    assert "plugin hangs: shutdown did not return within 0.5 s" in caplog.text
    assert "plugin stuck: drain deadline passed, 1 queued message(s) dropped" in caplog.text


def test_unregistering_the_last_handler_of_a_topic_unsubscribes_it(om_host, om_client):
    recorder = Recorder()
    host = om_host(("recorder", recorder))
    listener = recorder.core.messages.register_handler("other", Ping, recorder.on_message)
    assert {"other", "t"} <= set(host.intake.topics)

    recorder.core.messages.unregister_handler(listener)

    assert "other" not in host.intake.topics and "t" in host.intake.topics
    om_client.publish("other", Ping(seq=1))
    om_client.publish("t", Ping(seq=2))
    assert [message.seq for message, _ in recorder.take(1)] == [2]


def test_the_host_reports_one_line_per_plugin_then_ready(om_broker):
    from openmodule_host.testing import start_host

    lines = []
    host = start_host(om_broker, [("rec", Recorder())], lines=lines)
    host.stop()
    assert lines == ["plugin rec 0.0.0 running topics=t", "ready: 1 running, 0 failed"]


class WithStartHooks(Recorder):
    """Answers config_model and database_migrations, noting the thread each ran on."""

    def __init__(self, journal):
        super().__init__()
        self.journal = journal

    @hookimpl
    def config_model(self):
        self.journal.append(("config_model", threading.current_thread().name))

    @hookimpl
    def database_migrations(self):
        self.journal.append(("database_migrations", threading.current_thread().name))


def test_the_start_hooks_a_plugin_implements_run_on_a_bounded_start_thread_a_plugin_without_them_starts(om_host):
    journal = []
    host = om_host(("hooked", WithStartHooks(journal)), ("plain", Recorder()))
    assert journal == [("config_model", "omh-start"), ("database_migrations", "omh-start")]
    assert {plugin.state for plugin in host.plugins.values()} == {"running"}


def test_a_stop_leaves_the_zeromq_context_open_while_the_intake_thread_still_runs(om_host, om_client, caplog):
    """libzmq's sockets are not thread-safe: destroying the context closes every socket from the stopping thread,
    and closing the intake's socket while its thread reads it can crash the whole process. An intake thread
    that did not end in time keeps its context; the host says so, and stops all the same."""
    host = om_host(("hello", Recorder()))
    entered, release = threading.Event(), threading.Event()

    def stuck(_body):
        entered.set()
        release.wait(30)

    host.intake.add("stuck_topic", Route(type=None, post=stuck))
    wait_for_connection(host.intake, host.publisher, "test", 30)
    om_client.publish("stuck_topic", Ping(seq=1))
    assert entered.wait(10)
    try:
        host.stop()
        assert "ZeroMQ context left open: the intake thread still uses its sockets" in caplog.text
        assert not host.context.closed
    finally:
        release.set()
    host.intake.thread.join(10)  # it reads its queued stop command and closes its own sockets
    assert not host.intake.thread.is_alive()
    host.context.destroy(linger=0)
