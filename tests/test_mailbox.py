"""A plugin's mailbox and worker: bounded, ordered, one item at a time, woken by offers, stopped by close."""

import logging
import threading
import time

from openmodule_host.isolation import Mailbox, Worker

LOG = logging.getLogger("test")


def test_items_from_many_threads_all_run_once_in_each_senders_order_one_at_a_time():
    mailbox = Mailbox("p", 1_000_000, LOG)
    worker = Worker(mailbox, LOG)
    seen: dict[int, list[int]] = {sender: [] for sender in range(4)}
    running = threading.Lock()
    overlaps = []

    def run(item):
        if not running.acquire(blocking=False):
            overlaps.append(item)
            return
        try:
            sender, number = item
            seen[sender].append(number)
        finally:
            running.release()

    def send(sender):
        for start in range(0, 5000, 10):
            if start % 20:
                mailbox.offer_many([(run, (sender, number)) for number in range(start, start + 10)])
            else:
                for number in range(start, start + 10):
                    assert mailbox.offer((run, (sender, number)))
            if start % 500 == 0:
                time.sleep(0.001)  # let the worker run dry and wait now and then

    worker.start()
    senders = [threading.Thread(target=send, args=(sender,)) for sender in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    mailbox.close()
    assert worker.join(10)
    assert overlaps == []
    assert all(numbers == list(range(5000)) for numbers in seen.values())
    assert mailbox.dropped == 0 and len(mailbox) == 0


def test_close_wakes_a_waiting_worker_and_it_stops_after_what_is_queued():
    mailbox = Mailbox("p", 10, LOG)
    worker = Worker(mailbox, LOG)
    done = []
    worker.start()
    time.sleep(0.05)  # the worker is waiting now
    mailbox.offer((done.append, 1))
    mailbox.close()
    assert worker.join(5)
    assert done == [1]
    assert not mailbox.offer((done.append, 2)) and mailbox.dropped == 1


def test_a_full_mailbox_drops_and_counts_but_the_hosts_own_calls_get_in():
    mailbox = Mailbox("p", 2, LOG)
    assert mailbox.offer((print, 1)) and mailbox.offer((print, 2))
    assert not mailbox.offer((print, 3))
    assert mailbox.offer_many([(print, 4), (print, 5)]) == 0
    assert mailbox.offer((print, 6), force=True)
    assert (len(mailbox), mailbox.dropped) == (3, 3)


def test_a_mailbox_more_than_half_full_is_crowded_while_its_worker_gets_on_and_not_once_it_is_stuck():
    """Crowded: the intake lets the worker catch up (at most 2 ms a batch). A worker busy with one item for
    more than 0.1 s is taken for stuck, and nobody waits for it."""
    mailbox = Mailbox("p", 10, LOG)
    worker = Worker(mailbox, LOG)
    entered, release = threading.Event(), threading.Event()

    def hold(_):
        entered.set()
        release.wait(10)

    worker.start()
    try:
        assert mailbox.offer((hold, None))
        assert entered.wait(5)
        mailbox.offer_many([(print, number) for number in range(5)])
        assert not mailbox.crowded()  # half full
        assert mailbox.offer((print, 5))
        assert mailbox.crowded()  # more than half, its worker busy for less than 0.1 s
        time.sleep(0.15)
        assert not mailbox.crowded()  # the same backlog, its worker stuck in one item
    finally:
        release.set()
        mailbox.close()
        worker.join(5)


def test_a_mailbox_without_a_running_worker_is_never_crowded():
    mailbox = Mailbox("p", 10, LOG)
    worker = Worker(mailbox, LOG)  # not started
    mailbox.offer_many([(print, number) for number in range(10)])
    assert len(mailbox) == 10
    assert not mailbox.crowded()
    assert mailbox.worker is worker


def test_discard_drops_everything_not_started_and_counts_it():
    mailbox = Mailbox("p", 100, LOG)
    worker = Worker(mailbox, LOG)
    started, release = threading.Event(), threading.Event()
    ran = []

    def first(_):
        started.set()
        release.wait(5)

    mailbox.offer((first, None))
    mailbox.offer_many([(ran.append, number) for number in range(10)])
    worker.start()
    assert started.wait(5)
    assert mailbox.discard() == 10
    release.set()
    mailbox.close()
    assert worker.join(5)
    assert ran == [] and mailbox.dropped == 10


def test_the_worker_counts_its_busy_time_and_shows_what_runs():
    mailbox = Mailbox("p", 10, LOG)
    worker = Worker(mailbox, LOG)
    inside = threading.Event()
    leave = threading.Event()

    def slow(_):
        inside.set()
        leave.wait(5)

    worker.start()
    mailbox.offer((slow, None))
    assert inside.wait(5)
    assert worker.busy_since is not None
    time.sleep(0.05)
    leave.set()
    mailbox.close()
    assert worker.join(5)
    assert worker.busy_since is None
    assert worker.busy_seconds >= 0.05
