"""Hosts on one machine say which CPU each keeps its threads on, so that a host starting takes a CPU no other is on.

Real files in a real directory, real ``flock`` locks, real processes killed with SIGKILL.
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from openmodule_host.cpu_claims import CPUClaims, claims_directory


def claiming_process(directory: Path, cpu: int, *, fork: bool = False) -> subprocess.Popen[str]:
    """Another process that claims ``cpu`` in ``directory`` and waits; with ``fork``, it forks a child first that
    lives on (a plugin's own child, made by ``os.fork``). It prints its child's pid (or 0), once the claim is made."""
    code = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from openmodule_host.cpu_claims import CPUClaims
        claims = CPUClaims(Path({str(directory)!r}))
        claims.claim({cpu})
        child = 0
        if {fork!r}:
            child = os.fork()
            if child == 0:
                time.sleep(60)
                os._exit(0)
        print(child, flush=True)
        time.sleep(60)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_hosts_claim_is_seen_by_the_other_hosts_not_by_itself(tmp_path):
    first, second = CPUClaims(tmp_path), CPUClaims(tmp_path)
    first.claim(1)
    assert second.others() == {1: 1}
    assert first.others() == {}
    second.claim(1)
    assert first.others() == {1: 1} and CPUClaims(tmp_path).others() == {1: 2}


def test_a_host_that_moves_or_spreads_says_so_and_a_stopped_host_claims_nothing(tmp_path):
    host, other = CPUClaims(tmp_path), CPUClaims(tmp_path)
    host.claim(0)
    host.claim(1)  # moved
    assert other.others() == {1: 1}
    host.claim(None)  # spread over all the CPUs: on none of them
    assert other.others() == {}
    host.claim(0)  # together again
    assert other.others() == {0: 1}
    host.release()
    assert other.others() == {} and list(tmp_path.iterdir()) == []
    host.claim(1)  # a look of the stopped host's placement after its stop claims nothing
    assert other.others() == {}


def test_the_claim_of_a_host_killed_with_sigkill_is_not_counted_and_its_file_goes(tmp_path):
    process = claiming_process(tmp_path, 1)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "0"
        assert CPUClaims(tmp_path).others() == {1: 1}
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert CPUClaims(tmp_path).others() == {}
    assert list(tmp_path.iterdir()) == []


def test_a_child_the_host_forked_does_not_keep_its_claim_alive(tmp_path):
    process = claiming_process(tmp_path, 0, fork=True)
    assert process.stdout is not None
    child = int(process.stdout.readline())
    try:
        assert child > 0 and CPUClaims(tmp_path).others() == {0: 1}
        process.kill()
        process.wait()
        os.kill(child, 0)  # the child still runs, with its copy of the host's file descriptors closed
        assert CPUClaims(tmp_path).others() == {}
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        if child > 0:
            os.kill(child, signal.SIGKILL)


def test_a_claim_being_made_and_files_that_are_no_claim_are_not_counted(tmp_path):
    (tmp_path / ".123-1").write_text("0")  # a claim being made (renamed once locked)
    (tmp_path / "456-1").write_text("not a cpu")  # unlocked: a dead host's, removed
    host = CPUClaims(tmp_path)
    assert host.others() == {}
    assert [path.name for path in tmp_path.iterdir()] == [".123-1"]


def test_where_the_directory_cannot_be_written_a_host_places_itself_as_if_alone(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    host = CPUClaims(not_a_directory / "claims")
    host.claim(0)  # no error: a claim is a hint
    assert host.others() == {} and CPUClaims(not_a_directory / "claims").others() == {}
    host.release()


def test_the_claims_are_in_shared_memory_per_user_unless_a_directory_is_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("OMH_CPU_CLAIMS_DIR", raising=False)
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        assert claims_directory() == Path(f"/dev/shm/openmodule-host-cpus-{os.getuid()}")
    else:  # pragma: no cover - a machine without /dev/shm
        assert claims_directory().name == f"openmodule-host-cpus-{os.getuid()}"
    monkeypatch.setenv("OMH_CPU_CLAIMS_DIR", str(tmp_path))
    assert claims_directory() == tmp_path
    assert CPUClaims().directory == tmp_path


def test_claims_of_one_process_are_told_apart(tmp_path):
    """Many hosts may run in one process (a test suite's): each holds its own claim."""
    hosts = [CPUClaims(tmp_path) for _ in range(3)]
    for cpu, host in enumerate(hosts):
        host.claim(cpu)
    assert len(list(tmp_path.iterdir())) == 3
    assert hosts[0].others() == {1: 1, 2: 1}


def test_a_directory_others_may_write_to_or_a_link_to_one_is_not_used(tmp_path):
    """In a shared /dev/shm another user could make the directory first and plant links or FIFOs in it."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    host = CPUClaims(shared)
    host.claim(0)
    assert list(shared.iterdir()) == [] and CPUClaims(shared).others() == {}
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    CPUClaims(real).claim(1)
    (tmp_path / "link").symlink_to(real)
    assert CPUClaims(tmp_path / "link").others() == {} and CPUClaims(real).others() == {1: 1}


def test_links_and_fifos_in_the_directory_are_neither_followed_nor_waited_for(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    claims = tmp_path / "claims"
    host = CPUClaims(claims)
    host.claim(0)
    os.mkfifo(claims / "123-1")  # opening it for reading would wait for a writer
    (claims / "456-1").symlink_to(victim)
    other = CPUClaims(claims)
    (claims / f".{other._name}").symlink_to(victim)  # where the next claim is made: not truncated through it
    other.claim(1)
    assert CPUClaims(claims).others() == {0: 1, 1: 1}
    assert victim.read_text() == "keep me"
