"""A plugin's worker with a backlog gives its CPU up after every few messages the host sent, so that libzmq's I/O
thread (under ``SCHED_BATCH``) writes them while the worker goes on; never when it sends nothing, never while the
I/O thread is not batched, and not for a while after a yield that went to another process."""

import logging
import threading
import time

import pytest
from openmodule_hookspecs import OpenModuleModel, PluginCore, RPCRequest, hookimpl, response_topic

from openmodule_host.isolation import CPUTurns, Mailbox, Worker
from openmodule_host.isolation import turns as turns_module

LOG = logging.getLogger("test")


class Sends:
    """The host's count of messages sent (the publisher's ``sent_count``), advanced by the items below."""

    def __init__(self) -> None:
        self.sent_count = 0


@pytest.fixture
def never_slow(monkeypatch):
    """No yield counts as slow: whether one goes to another process (a busy machine) is the kernel's choice, and a
    slow one pauses the turns (tested on its own below)."""
    monkeypatch.setattr(turns_module, "SLOW_TURN", 3600.0)


def run_backlog(turns: CPUTurns, items: int, sends_per_item: int) -> None:
    """Queue ``items`` before the worker starts (a backlog), each sending ``sends_per_item`` messages; wait for all."""
    mailbox = Mailbox("p", items, LOG)
    worker = Worker(mailbox, LOG, turns=turns)
    done = threading.Event()
    ran = []

    def item(number: int) -> None:
        turns.sends.sent_count += sends_per_item  # type: ignore[misc]
        ran.append(number)
        if len(ran) == items:
            done.set()

    assert mailbox.offer_many([(item, number) for number in range(items)]) == items
    worker.start()
    assert done.wait(10)
    mailbox.close()
    assert worker.join(5)
    assert ran == list(range(items))


def test_a_worker_with_a_backlog_yields_after_every_four_messages_sent_while_items_are_left(never_slow):
    turns = CPUTurns(Sends(), lambda: True)
    run_backlog(turns, 40, sends_per_item=1)
    # after items 4, 8, ..., 36; not after the 40th: the mailbox is empty, the worker sleeps anyway
    assert turns.taken == 9 and turns.slow == 0


def test_an_item_that_sends_many_messages_is_followed_by_one_yield(never_slow):
    turns = CPUTurns(Sends(), lambda: True)
    run_backlog(turns, 10, sends_per_item=100)
    assert turns.taken == 9


def test_a_worker_that_sends_nothing_never_yields(never_slow):
    """A plugin that only receives: a yield would only hand the GIL to the intake more often."""
    turns = CPUTurns(Sends(), lambda: True)
    run_backlog(turns, 1000, sends_per_item=0)
    assert turns.taken == 0


def test_no_worker_yields_while_the_io_thread_is_not_batched(never_slow):
    """Spread, off, or beside a busy process: the I/O thread preempts the sender anyway."""
    turns = CPUTurns(Sends(), lambda: False)
    run_backlog(turns, 40, sends_per_item=1)
    assert turns.taken == 0


def test_a_slow_yield_pauses_the_turns_and_they_resume_after_the_pause(monkeypatch):
    """A yield that took longer than SLOW_TURN went to another process's thread, for its time slice: no worker
    yields again for PAUSE seconds. (The slow yield is simulated: whether another process gets the CPU, and for how
    long, is the kernel's choice.)"""
    monkeypatch.setattr(turns_module, "sched_yield", lambda: time.sleep(turns_module.SLOW_TURN * 3))
    monkeypatch.setattr(turns_module, "PAUSE", 0.5)
    turns = CPUTurns(Sends(), lambda: True)
    run_backlog(turns, 40, sends_per_item=1)
    assert (turns.taken, turns.slow) == (1, 1)
    time.sleep(0.6)
    monkeypatch.setattr(turns_module, "sched_yield", lambda: None)
    monkeypatch.setattr(turns_module, "SLOW_TURN", 3600.0)  # (a busy machine may preempt the worker meanwhile)
    run_backlog(turns, 40, sends_per_item=1)
    assert (turns.taken, turns.slow) == (10, 1)


class Echo(OpenModuleModel):
    seq: int


class EchoServer:
    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        core.rpc_server.register_handler("bench", "echo", Echo, Echo, self.echo)

    def echo(self, request: Echo, message: RPCRequest) -> Echo:
        return request


def test_a_hosts_plugin_answering_calls_in_flight_takes_turns_while_the_io_thread_is_batched(om_host, om_client):
    host = om_host(("echo", EchoServer()))
    assert host.turns is not None and host.publisher is not None
    if not host.placement.io_batched:
        pytest.skip("the host's threads are not together on one CPU here (one CPU, or every CPU busy)")
    answered: set[str] = set()
    for _ in range(20):  # until a batch of requests reached the worker as a backlog
        sent = {om_client.rpc_send("bench", "echo", {"seq": seq}) for seq in range(64)}
        for _ in sent:
            reply = om_client.wait_for_message(response_topic("bench"),
                                               lambda body, sent=sent: body["rpc_id"] in sent - answered)
            assert reply["response"]["status"] == "ok"
            answered.add(reply["rpc_id"])
        if host.turns.taken:
            break
    assert host.turns.taken > 0 and host.publisher.sent_count >= len(answered)


def test_a_turn_that_fails_is_logged_and_the_worker_goes_on(caplog):
    def broken() -> bool:
        raise RuntimeError("no placement")

    turns = CPUTurns(Sends(), broken)
    run_backlog(turns, 40, sends_per_item=1)  # every item still ran
    assert "plugin p: its worker's turn failed" in caplog.text and "RuntimeError: no placement" in caplog.text
