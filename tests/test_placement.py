"""The host keeps its threads together on one CPU (``cpu_placement``), each host on a CPU of its own, and off a CPU
others keep busy.

Real threads, real affinity masks (``sched_getaffinity`` of each thread), a real busy process: the tests that
need two CPUs are skipped on a machine (or in a cpuset) with one.
"""

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from openmodule_hookspecs import PluginCore, hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate
from openmodule_host import placement as placement_module
from openmodule_host.config import load_host_config
from openmodule_host.errors import ConfigError
from openmodule_host.placement import ThreadPlacement, format_cpus, parse_cpu_setting, parse_cpus
from openmodule_host.testing import free_tcp_address
from tests.support import eventually, run_cli
from tests.support.children import child_pid
from tests.support.plugins import Recorder

ALLOWED = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="needs a process that may use two CPUs or more")


def mask(native_id: int) -> frozenset[int]:
    return frozenset(os.sched_getaffinity(native_id))


@pytest.fixture
def earlier() -> set[int | None]:
    """The threads alive before the test: an earlier test's host may have left one (a hung plugin's worker)."""
    return {thread.ident for thread in threading.enumerate()}


def host_threads(earlier: set[int | None]) -> dict[str, frozenset[int]]:
    """The host threads (``omh-...``) started since ``earlier``, by name, with the CPUs each may run on."""
    return {thread.name: mask(thread.native_id) for thread in threading.enumerate()
            if thread.name.startswith("omh-") and thread.native_id is not None and thread.is_alive()
            and thread.ident not in earlier}


_TASKS = Path("/proc/self/task")


def libzmq_threads(pid: int | str = "self") -> dict[str, frozenset[int]]:
    """libzmq's own threads of a process (``ZMQbg/IO/0``, ``ZMQbg/Reaper``) by task id, with their CPUs."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().startswith("ZMQbg"):
                threads[task.name] = mask(int(task.name))
        except OSError:
            continue
    return threads


def zmq_policies(io_only: bool = False) -> dict[int, int]:
    """libzmq's threads of this process (``ZMQbg/IO/0``, ``ZMQbg/Reaper``; ``io_only``: its I/O threads) by task id,
    with their scheduling policy (an earlier test's may be ending meanwhile)."""
    threads = {}
    for task in _TASKS.iterdir():
        try:
            if (task / "comm").read_text().startswith("ZMQbg/IO/" if io_only else "ZMQbg/"):
                threads[int(task.name)] = os.sched_getscheduler(int(task.name))
        except OSError:
            continue
    return threads


class ThreadStarter(Recorder):
    """Starts a thread of its own in ``register_handlers`` (on its worker), as a plugin with a poller does."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        super().register_handlers(core)
        self.thread = threading.Thread(target=self.stop.wait, name="plugin-poller", daemon=True)
        self.thread.start()

    @hookimpl
    def shutdown(self, core: PluginCore) -> None:
        self.stop.set()


# -- the setting -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "cpus"), [("0", {0}), ("0-2,5", {0, 1, 2, 5}), (" 3 , 1-2 ", {1, 2, 3}),
                                            ("4-4", {4})])
def test_a_cpu_list_is_read_as_linux_writes_it(text, cpus):
    assert parse_cpus(text) == cpus


@pytest.mark.parametrize("text", ["", "x", "1-", "-1", "3-1", "1,,2", "0x1", "1.5"])
def test_a_wrong_cpu_list_is_refused_with_what_is_wrong(text):
    with pytest.raises(ValueError, match="not a CPU list"):
        parse_cpus(text)


def test_cpu_lists_are_written_back_in_ranges():
    assert format_cpus({5, 0, 1, 2}) == "0-2,5"
    assert format_cpus({3}) == "3"
    assert format_cpus({1, 3, 4}) == "1,3-4"


def test_the_setting_is_auto_by_default_and_normalised():
    assert HostConfig().cpu_placement == "auto"
    assert parse_cpu_setting(" Auto ") == "auto"
    assert parse_cpu_setting("OFF") == "off"
    assert HostConfig(cpu_placement="1,0").cpu_placement == "0-1"


def test_a_wrong_setting_is_a_configuration_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"--cpu-placement: Value error, not a CPU list: 'fast'"):
        load_host_config(overrides={"cpu_placement": "fast"}, env={})


def test_a_cpu_the_process_may_not_use_stops_the_host_before_it_starts(om_host):
    with pytest.raises(ConfigError, match=r"\[host\] cpu_placement '4095' names CPU\(s\) 4095, which this process "
                                          r"may not use"):
        om_host(("rec", Recorder()), cpu_placement="4095")


@pytest.mark.parametrize(("value", "message"), [
    ("4095", "[host] cpu_placement '4095' names CPU(s) 4095, which this process may not use"),
    ("fast", "--cpu-placement: Value error, not a CPU list: 'fast'"),
])
def test_the_command_exits_2_naming_a_wrong_cpu_placement(broker_env, value, message):
    result = run_cli("--plugins", "hello", "--cpu-placement", value, env=broker_env)
    assert result.returncode == 2
    assert message in result.stderr and "ready" not in result.stdout


# -- the host's threads ------------------------------------------------------------------------------


@two_cpus
def test_the_hosts_threads_run_together_on_one_cpu_and_nothing_else_moves(om_host, earlier):
    main_before = mask(threading.main_thread().native_id)
    zmq_before = libzmq_threads()
    host = om_host(("rec", Recorder()))
    cpu = host.placement.cpu
    assert cpu in ALLOWED and host.placement.cpus == ALLOWED
    threads = host_threads(earlier)
    assert {"omh-intake", "omh-plugin-rec", "omh-health", "omh-scheduler", "omh-watchdog"} <= set(threads)
    assert {name: cpus for name, cpus in threads.items() if name != "omh-broker" and cpus != {cpu}} == {}
    # libzmq's threads of the host's context (its I/O thread, its reaper) are on the CPU too; the embedding
    # program's thread, and the test's broker with its context's threads, stay free.
    assert sorted(cpus for task, cpus in libzmq_threads().items() if task not in zmq_before) == [{cpu}, {cpu}]
    assert all(cpus == ALLOWED for task, cpus in libzmq_threads().items() if task in zmq_before)
    brokers = [thread for thread in threading.enumerate() if thread.name == "omh-broker"]  # (the test broker's)
    assert brokers and all(mask(thread.native_id) == ALLOWED for thread in brokers)
    assert mask(threading.main_thread().native_id) == main_before


@two_cpus
def test_the_embedded_broker_and_its_zeromq_threads_stay_where_the_kernel_puts_them(tmp_path):
    """It forwards every service's traffic in C: on a context of its own, made before the host's threads are placed."""
    zmq_before = libzmq_threads()
    config = HostConfig(broker="embedded", broker_sub=free_tcp_address(), broker_pub=free_tcp_address(), dsgvo=False,
                        data_dir=str(tmp_path))
    with Host(config, [PluginCandidate.from_object("rec", Recorder())], strict=True, report=lambda _: None) as host:
        cpu = host.placement.cpu
        new = [cpus for task, cpus in libzmq_threads().items() if task not in zmq_before]
        assert sorted(new, key=len) == [{cpu}, {cpu}, ALLOWED, ALLOWED]  # the host's context's, the broker's
        assert sorted(policy for task, policy in zmq_policies().items() if str(task) not in zmq_before) == sorted(
            [os.SCHED_OTHER] * 2 + [os.SCHED_BATCH] * 2)  # the broker's context's, the host's
        brokers = [thread for thread in threading.enumerate() if thread.name == "omh-broker"]
        assert host.broker is not None and host.broker.running
        assert brokers and all(mask(thread.native_id) == ALLOWED for thread in brokers)
    assert host.broker is not None and not host.broker.running  # stopped, its context ended


@two_cpus
def test_the_hosts_libzmq_threads_alone_run_under_sched_batch_while_the_threads_are_together(om_host):
    """Woken by a send, its I/O thread then does not preempt the sender (which holds the GIL and is about to send
    more): it writes what is queued when that thread sleeps, at once."""
    before = zmq_policies()
    host = om_host(("rec", Recorder()))
    new = {task: policy for task, policy in zmq_policies().items() if task not in before}
    assert list(new.values()) == [os.SCHED_BATCH, os.SCHED_BATCH]  # its I/O thread and its reaper
    assert len(set(zmq_policies(io_only=True)) - set(before)) == 1
    assert set(before.values()) == {os.SCHED_OTHER}  # the test broker's context's, the test's own
    assert all(os.sched_getscheduler(thread.native_id) == os.SCHED_OTHER
               for thread in threading.enumerate() if thread.native_id is not None)  # no Python thread
    assert host.placement.cpu is not None


@two_cpus
def test_the_io_thread_is_under_the_default_policy_while_spread_and_batch_again_together(om_host, monkeypatch):
    """Spread, it could wake on a CPU another process's thread keeps busy: it must preempt that one, as any thread."""
    before = zmq_policies(io_only=True)
    placement = om_host(("rec", Recorder())).placement
    (task,) = (task for task in zmq_policies(io_only=True) if task not in before)
    cpu = placement.cpu
    monkeypatch.setattr(placement, "_choose", lambda *_: (cpu, True, False))
    placement.review(force=True)  # the first look only measures
    placement.review(force=True)
    assert placement.spread and os.sched_getscheduler(task) == os.SCHED_OTHER
    monkeypatch.setattr(placement, "_choose", lambda *_: (cpu, False, False))
    placement.review(force=True)
    assert not placement.spread and os.sched_getscheduler(task) == os.SCHED_BATCH


class Sending:
    """Messages through the host's publisher, one every 0.5 ms from a thread of the test's, while in the block: each
    wakes the host's I/O thread."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        assert self.host.publisher is not None
        while not self.stop.wait(0.0005):
            self.host.publisher.send("healthz", b'{"type":"tick"}')  # a topic the host subscribes: it is sent

    def __enter__(self) -> "Sending":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def watch_rounds(condition, rounds: int = 6) -> bool:
    """Up to ``rounds`` of the host's watchdog (a second each: between two looks, a round only watches), until
    ``condition()``; whether it came."""
    deadline = time.monotonic() + rounds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@two_cpus
def test_a_round_finds_a_busy_process_the_io_thread_waits_behind_and_the_default_policy_holds_until_a_quiet_look(
        om_host, monkeypatch, caplog):
    """Woken beside another process's running thread, a ``SCHED_BATCH`` thread waits for the scheduler's tick (up to
    4 ms) for every message. A look comes every 4-6 s; each watchdog round (every second) between two looks watches
    the host's CPU and the I/O thread's waits, and puts it under the default policy at once, for at least
    HOLD_DEFAULT_POLICY; a look that finds the CPU quiet after that ends it."""
    before = zmq_policies(io_only=True)
    host = om_host(("rec", Recorder()))
    placement = host.placement
    (task,) = (task for task in zmq_policies(io_only=True) if task not in before)
    cpu = placement.cpu
    assert cpu is not None and placement.io_batched
    monkeypatch.setattr(placement, "_next_review", time.monotonic() + 3600)  # no look: the watchdog's rounds only watch
    monkeypatch.setattr(placement, "_place_by", lambda *_: (cpu, False))  # and a look would not move them
    caplog.set_level(logging.INFO, logger="openmodule_host")
    busy = busy_process(cpu)
    try:
        with Sending(host):
            assert watch_rounds(lambda: not placement.io_batched)
        assert os.sched_getscheduler(task) == os.SCHED_OTHER and placement.shared
        assert f"libzmq's I/O thread under the default scheduling policy: other processes keep CPU {cpu} busy" \
            in caplog.text
    finally:
        busy.kill()
        busy.wait()
    placement.review(force=True)  # a look, the first since the start: it only measures
    time.sleep(0.5)
    placement.review(force=True)  # the CPU is quiet now, but the policy is held
    assert os.sched_getscheduler(task) == os.SCHED_OTHER and placement.shared
    monkeypatch.setattr(placement, "_held_until", 0.0)  # the hold is over
    if not reviewed_until(placement, lambda: os.sched_getscheduler(task) == os.SCHED_BATCH) and cpu not in quiet_cpus():
        pytest.skip(f"the machine keeps CPU {cpu} busy")
    assert placement.io_batched and not placement.shared
    assert f"libzmq's I/O thread under SCHED_BATCH again: CPU {cpu} is quiet" in caplog.text


@two_cpus
def test_a_busy_process_beside_a_host_that_sends_nothing_changes_nothing(om_host, monkeypatch):
    """Its I/O thread does not run, so it waits for nothing: no reason to give up SCHED_BATCH."""
    placement = om_host(("rec", Recorder())).placement
    cpu = placement.cpu
    assert cpu is not None and placement.io_batched
    monkeypatch.setattr(placement, "_next_review", time.monotonic() + 3600)
    busy = busy_process(cpu)
    try:
        assert not watch_rounds(lambda: not placement.io_batched, rounds=3)
    finally:
        busy.kill()
        busy.wait()
    assert not placement.shared


def test_a_round_watches_nothing_while_the_io_thread_is_not_batched(monkeypatch):
    placement = ThreadPlacement("auto", logging.getLogger("test"))
    placement.cpu = next(iter(ALLOWED))
    placement._next_review = time.monotonic() + 3600  # rounds between two looks
    monkeypatch.setattr(placement_module, "_busy_by_cpu", lambda: pytest.fail("looked at /proc/stat"))
    placement.review()  # not batched (no I/O thread adopted): nothing read
    assert placement._watched is None


@two_cpus
def test_a_host_starting_where_every_cpu_runs_another_process_keeps_its_io_thread_under_the_default_policy(
        om_host, monkeypatch, tmp_path):
    monkeypatch.setenv("OMH_CPU_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setattr(placement_module, "_running_by_cpu", lambda: Counter(ALLOWED))  # one running thread each
    before = zmq_policies(io_only=True)
    placement = om_host(("rec", Recorder())).placement
    (task,) = (task for task in zmq_policies(io_only=True) if task not in before)
    assert placement.cpu is not None and placement.shared and not placement.io_batched
    assert os.sched_getscheduler(task) == os.SCHED_OTHER


@two_cpus
def test_a_refused_scheduling_policy_leaves_the_host_placed_and_is_said_once(om_host, monkeypatch, caplog):
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(placement_module.os, "sched_setscheduler", refuse)
    caplog.set_level(logging.INFO, logger="openmodule_host")
    before = zmq_policies()
    placement = om_host(("rec", Recorder())).placement
    cpu = placement.cpu
    for spread in (True, False):  # each change of the policy refused again
        monkeypatch.setattr(placement, "_choose", lambda *_, spread=spread: (cpu, spread, False))
        placement.review(force=True)
        placement.review(force=True)
        assert placement.spread is spread
    assert [policy for task, policy in zmq_policies().items() if task not in before] == [os.SCHED_OTHER] * 2
    assert placement.cpu == cpu
    assert caplog.text.count("libzmq's I/O thread stays under the default scheduling policy: [Errno 1]") == 1


def test_an_io_thread_under_a_policy_the_program_chose_is_left_as_it_is(monkeypatch):
    """A real-time policy (or SCHED_IDLE) set by the program or its supervisor is not the host's to change."""
    placement = ThreadPlacement("off", logging.getLogger("test"))
    placement._io_threads = [12345]
    changed = []
    monkeypatch.setattr(placement_module.os, "sched_getscheduler", lambda _: os.SCHED_FIFO)
    monkeypatch.setattr(placement_module.os, "sched_setscheduler", lambda *args: changed.append(args))
    placement._apply_io_policy()
    assert changed == []


@two_cpus
def test_a_thread_a_plugin_starts_is_on_the_hosts_cpu_and_moves_with_it(om_host):
    plugin = ThreadStarter()
    host = om_host(("starter", plugin))
    assert plugin.thread is not None
    assert mask(plugin.thread.native_id) == {host.placement.cpu}


@two_cpus
def test_off_leaves_every_thread_where_the_kernel_puts_it(om_host, earlier):
    zmq_before = zmq_policies()
    host = om_host(("rec", Recorder()), cpu_placement="off")
    assert host.placement.cpu is None and not host.placement.cpus
    assert set(zmq_policies().values()) == {os.SCHED_OTHER} and len(zmq_policies()) == len(zmq_before) + 2
    assert {name: cpus for name, cpus in host_threads(earlier).items() if cpus != ALLOWED} == {}
    host.placement.review(force=True)  # nothing to do
    assert {name: cpus for name, cpus in host_threads(earlier).items() if cpus != ALLOWED} == {}


@two_cpus
def test_a_cpu_list_confines_the_host_to_one_of_those_cpus():
    chosen = max(ALLOWED)
    log = logging.getLogger("test")
    before = mask(threading.get_native_id())
    try:
        placement = ThreadPlacement(str(chosen), log)
        # one CPU: nothing left to choose, but the calling thread (and what it starts) is there
        assert mask(threading.get_native_id()) == {chosen} and not placement.cpus
        placement = ThreadPlacement(format_cpus(ALLOWED), log)
        assert placement.cpus == ALLOWED and placement.child_setting == format_cpus(ALLOWED)
    finally:
        os.sched_setaffinity(0, before)


@two_cpus
def test_a_second_host_takes_a_cpu_no_other_host_is_on_and_a_stopped_host_leaves_its_cpu(om_host, tmp_path,
                                                                                         monkeypatch, caplog):
    """Two busy hosts on one CPU take turns on it while another idles: the RPC benchmark's client and server made a
    third fewer calls in flight so (docs/benchmarks.md, round six). Load cannot tell at start: a new host is idle."""
    monkeypatch.setenv("OMH_CPU_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setattr(placement_module, "_running_by_cpu", Counter)  # whatever else the machine runs at this moment
    caplog.set_level(logging.INFO, logger="openmodule_host")
    first = om_host(("rec", Recorder()))
    second = om_host(("rec", Recorder()), name="second")
    assert None not in (first.placement.cpu, second.placement.cpu)
    assert first.placement.cpu != second.placement.cpu
    assert (f"host threads on CPU {second.placement.cpu} (of {format_cpus(ALLOWED)}; cpu_placement; 1 other host(s) "
            f"on {first.placement.cpu})") in caplog.text
    assert sorted(path.read_text() for path in tmp_path.iterdir()) == sorted(
        [str(first.placement.cpu), str(second.placement.cpu)])
    first.stop()
    assert [path.read_text() for path in tmp_path.iterdir()] == [str(second.placement.cpu)]
    third = om_host(("rec", Recorder()), name="third")
    assert third.placement.cpu != second.placement.cpu  # the first one's CPU is free again


@two_cpus
def test_a_host_starting_takes_a_cpu_no_other_process_keeps_running(om_host, tmp_path, monkeypatch, caplog):
    """Its threads would take turns with a CPU-bound process there, and wait for it at every wake-up."""
    monkeypatch.setenv("OMH_CPU_CLAIMS_DIR", str(tmp_path))
    caplog.set_level(logging.INFO, logger="openmodule_host")
    for busy_cpu in sorted(ALLOWED)[:2]:
        busy = busy_process(busy_cpu)
        try:
            eventually(lambda: placement_module._running_by_cpu()[busy_cpu] > 0, timeout=5)  # noqa: B023 (it runs)
            host = om_host(("rec", Recorder()), name=f"beside_{busy_cpu}")
            assert host.placement.cpu != busy_cpu
            assert f"thread(s) of other processes running on {busy_cpu})" in caplog.text
            host.stop()
        finally:
            busy.kill()
            busy.wait()


@two_cpus
def test_the_look_for_running_threads_is_bounded_in_time(monkeypatch):
    """A hint at start, not worth a slow start on a machine with thousands of threads: it ends with what it found."""
    busy = busy_process(min(ALLOWED))
    try:
        eventually(lambda: placement_module._running_by_cpu()[min(ALLOWED)] > 0, timeout=5)
        monkeypatch.setattr(placement_module, "_RUNNING_LOOK_SECONDS", 0.0)
        started = time.monotonic()
        assert placement_module._running_by_cpu() == Counter()  # it ended before it found the busy process
        assert time.monotonic() - started < 0.05
    finally:
        busy.kill()
        busy.wait()


@two_cpus
def test_the_embedding_programs_thread_may_join_the_hosts_cpu(om_host):
    host = om_host(("rec", Recorder()))
    done: list[frozenset[int]] = []

    def caller() -> None:
        host.placement.join()
        done.append(mask(threading.get_native_id()))

    thread = threading.Thread(target=caller)
    thread.start()
    thread.join()
    assert done == [{host.placement.cpu}]


# -- moving --------------------------------------------------------------------------------------------


def reviewed_until(placement: ThreadPlacement, condition, tries: int = 5) -> bool:
    """Look again every 1.5 s (the first look measures from now) until ``condition()``; whether it came."""
    placement.review(force=True)
    for _ in range(tries):
        time.sleep(1.5)
        placement.review(force=True)
        if condition():
            return True
    return False


def quiet_cpus(busy_below: float = 0.5, seconds: float = 1.0) -> set[int]:
    """The CPUs of the process that were busy less than ``busy_below`` of the next ``seconds`` (all processes)."""
    from openmodule_host.placement import _busy_by_cpu

    before = _busy_by_cpu()
    time.sleep(seconds)
    after = _busy_by_cpu()
    return {cpu for cpu in ALLOWED if (after[cpu] - before[cpu]) / seconds < busy_below}


def busy_process(cpu: int) -> subprocess.Popen[bytes]:
    """A process that keeps ``cpu`` busy until killed."""
    return subprocess.Popen([sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])


@two_cpus
def test_the_threads_move_off_a_cpu_another_process_keeps_busy(om_host, earlier, caplog):
    plugin = ThreadStarter()
    host = om_host(("starter", plugin))
    placement, first = host.placement, host.placement.cpu
    busy = busy_process(first)
    try:
        time.sleep(0.3)  # it runs
        caplog.set_level(logging.INFO, logger="openmodule_host")
        if not reviewed_until(placement, lambda: placement.moves > 0) and not quiet_cpus() - {first}:
            pytest.skip("the machine is busy: no CPU was quiet enough to move to")
        assert placement.cpu != first and placement.moves == 1
        second = placement.cpu
        threads = host_threads(earlier)
        assert {name: cpus for name, cpus in threads.items() if name != "omh-broker" and cpus != {second}} == {}
        assert plugin.thread is not None and mask(plugin.thread.native_id) == {second}
        assert f"host threads moved from CPU {first} to CPU {second}" in caplog.text
    finally:
        busy.kill()
        busy.wait()


@two_cpus
def test_the_threads_stay_when_the_load_on_their_cpu_is_their_own(om_host):
    host = om_host(("rec", Recorder()))
    placement = host.placement
    stop = threading.Event()

    def spin() -> None:  # a plugin's busy thread: it inherited the host's CPU
        placement.join()
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin, name="plugin-spinner")
    spinner.start()
    try:
        reviewed_until(placement, lambda: False, tries=1)
        assert placement.moves == 0
    finally:
        stop.set()
        spinner.join()


@two_cpus
def test_the_watchdogs_round_pins_host_threads_started_later_by_the_embedding_program(om_host):
    host = om_host(("rec", Recorder()), watchdog_timeout=0.4)  # a round every 0.1 s
    late = threading.Thread(target=threading.Event().wait, args=(5,), name="omh-late", daemon=True)
    late.start()
    assert mask(late.native_id) == ALLOWED
    host.placement._next_review = 0.0  # due at the next round
    eventually(lambda: mask(late.native_id) == {host.placement.cpu}, timeout=5)


# -- child processes -------------------------------------------------------------------------------------


@two_cpus
def test_a_plugins_child_process_takes_a_cpu_its_host_is_not_on_with_all_its_threads(om_host, om_client, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv("OMH_CPU_CLAIMS_DIR", str(tmp_path))  # no other host's claim: only the parent's counts
    host = om_host(("crasher", "tests.support.process_plugins:crasher"),
                   config={"crasher": {"ISOLATION": "process", "NAME": "om_crasher_1"}})
    pid = child_pid(om_client)
    parent = host.placement.cpu
    assert parent is not None
    # It chose among all the CPUs the parent may use (not only the one of the supervisor thread that started it),
    # and took one the parent is not on: its libzmq threads are there with its host threads.
    zmq = libzmq_threads(pid)
    assert len(zmq) == 2 and len(set(zmq.values())) == 1
    child = next(iter(zmq.values()))
    assert len(child) == 1 and child <= ALLOWED and parent not in child
    assert sorted(path.name.split("-")[0] for path in tmp_path.iterdir()) == sorted([str(os.getpid()), str(pid)])


@two_cpus
@pytest.mark.parametrize(("here", "there", "used", "waited", "spread_before", "expected"), [
    (0.9, 0.1, 0.3, 0.0, False, ("there", False, False)),  # others keep the host's CPU busy, the other CPU is idle
    (0.45, 0.3, 0.3, 0.0, False, ("here", False, False)),  # a difference within the margin is not worth cold caches
    (0.5, 0.3, 0.3, 0.0, False, ("here", False, True)),    # nor here, but a busy process beside them: no SCHED_BATCH
    (0.8, 0.7, 0.3, 0.0, False, ("here", True, True)),     # every CPU busy with others: nothing idle to wake, spread
    (0.7, 0.7, 0.3, 0.0, True, ("here", True, True)),
    (0.7, 0.2, 0.3, 0.0, True, ("there", False, False)),   # a CPU is quiet again: together there
    (0.2, 0.7, 0.3, 0.0, True, ("here", False, False)),
    (0.0, 0.0, 1.0, 0.9, False, ("here", True, False)),    # the threads need more than one CPU (work without the GIL)
    (0.0, 0.0, 0.95, 0.2, False, ("here", False, False)),  # saturated, but hardly waiting: the GIL is the limit
    (0.0, 0.0, 1.1, 0.0, True, ("here", True, False)),     # spread and still using more than one CPU's worth
    (0.0, 0.0, 0.5, 0.0, True, ("here", False, False)),
])
def test_the_rule_keeps_the_threads_together_unless_every_cpu_or_their_own_is_crowded(
        here, there, used, waited, spread_before, expected):
    placement = ThreadPlacement("auto", logging.getLogger("test"))
    placement.cpu, other = sorted(ALLOWED)[:2]
    placement.spread = spread_before
    others = {cpu: 1.0 for cpu in ALLOWED}  # any further CPU: busy all the time, never chosen
    others.update({placement.cpu: here, other: there})
    cpu, spread, shared = placement._choose(others, used, waited)
    assert (("here" if cpu == placement.cpu else "there"), spread, shared) == expected


@two_cpus
def test_what_the_host_s_own_threads_use_is_not_counted_as_others_load():
    placement = ThreadPlacement("auto", logging.getLogger("test"))
    placement.cpu, other = sorted(ALLOWED)[:2]
    before = {cpu: 0.0 for cpu in ALLOWED}
    after = {**before, placement.cpu: 2.0, other: 0.4}  # 2 s: the host's CPU busy all the time, the other 20 %
    assert placement._others(2.0, after, before, used=1.8)[placement.cpu] == pytest.approx(0.1)
    assert placement._others(2.0, after, before, used=1.8)[other] == pytest.approx(0.2)
    placement.spread = True  # spread: what they used counts evenly on every CPU
    assert placement._others(2.0, after, before, used=0.4 * len(ALLOWED))[other] == pytest.approx(0.0)


@two_cpus
def test_the_threads_spread_while_other_processes_keep_every_cpu_busy_and_come_together_after(om_host, earlier, caplog):
    plugin = ThreadStarter()
    host = om_host(("starter", plugin))
    placement = host.placement
    caplog.set_level(logging.INFO, logger="openmodule_host")
    busy = [busy_process(cpu) for cpu in sorted(ALLOWED)]
    try:
        time.sleep(0.3)
        assert reviewed_until(placement, lambda: placement.spread)
        assert {name: cpus for name, cpus in host_threads(earlier).items() if cpus != ALLOWED} == {}
        assert plugin.thread is not None and mask(plugin.thread.native_id) == ALLOWED
        assert "host threads spread over CPUs" in caplog.text and "other processes keep every CPU busy" in caplog.text
    finally:
        for process in busy:
            process.kill()
            process.wait()
    if not reviewed_until(placement, lambda: not placement.spread) and not quiet_cpus():
        pytest.skip("the machine is busy: no CPU was quiet enough to come together on")
    cpu = placement.cpu
    assert {name: cpus for name, cpus in host_threads(earlier).items() if name != "omh-broker" and cpus != {cpu}} == {}
    assert mask(plugin.thread.native_id) == {cpu}  # remembered as the host's while spread
    assert f"host threads together on CPU {cpu} again" in caplog.text


class GilFreeSpinners(Recorder):
    """Starts two threads that hash a large buffer without end: work without the GIL (hashlib releases it for
    big data), more than one CPU's worth."""

    def __init__(self) -> None:
        super().__init__()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        super().register_handlers(core)
        data = os.urandom(8 << 20)

        def spin() -> None:
            while not self.stop.is_set():
                hashlib.sha256(data).digest()

        self.threads = [threading.Thread(target=spin, name=f"plugin-hasher-{n}", daemon=True) for n in range(2)]
        for thread in self.threads:
            thread.start()

    @hookimpl
    def shutdown(self, core: PluginCore) -> None:
        self.stop.set()


@two_cpus
def test_the_threads_spread_when_a_plugin_needs_more_than_their_one_cpu(om_host, caplog):
    plugin = GilFreeSpinners()
    host = om_host(("hasher", plugin))
    placement = host.placement
    assert all(mask(thread.native_id) == {placement.cpu} for thread in plugin.threads)  # they inherited it
    caplog.set_level(logging.INFO, logger="openmodule_host")
    assert reviewed_until(placement, lambda: placement.spread)
    assert all(mask(thread.native_id) == ALLOWED for thread in plugin.threads)
    assert "host threads spread over CPUs" in caplog.text
    plugin.stop.set()
    for thread in plugin.threads:
        thread.join()
    if not reviewed_until(placement, lambda: not placement.spread) and not quiet_cpus():
        pytest.skip("the machine is busy: no CPU was quiet enough to come together on")
