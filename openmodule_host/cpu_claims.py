"""Which CPU each host of this machine keeps its threads on, so that a host starting (or a plugin's child process)
takes a CPU no other host is on, while there is one (see :mod:`.placement`).

Two hosts on one CPU take turns on it, while another CPU may be idle: the RPC benchmark's client and server hosts,
both started on the CPU their shell ran on, made 22,000-23,000 calls/s with 16 in flight where they made
31,000-33,000 on two CPUs (docs/benchmarks.md, round six). Load alone cannot tell at start: a host that has just
started, or is idle, leaves its CPU quiet until its traffic comes.

Each placed host holds a file in a directory its user's hosts share, named by its process and a number, with the CPU
it is on (empty while its threads are spread over all CPUs), and an exclusive ``flock`` on it for as long as it
runs: the kernel drops the lock when the process ends, however it ends (SIGKILL, a segfault), and a file whose lock
can be taken is a dead host's, removed by whoever finds it. The directory is ``OMH_CPU_CLAIMS_DIR`` if set (hosts
in containers that mount one directory see each other), else ``openmodule-host-cpus-<uid>`` in ``/dev/shm`` (a
RAM filesystem: nothing is written to a disk), or in ``$TMPDIR`` (``/tmp``) where there is no ``/dev/shm``; it is
used only while it is the user's own and no one else may write to it (another user could have made it first in a
shared ``/dev/shm`` and planted links or FIFOs). A claim is a hint: where the directory cannot be used, or a file
cannot be read, a host places itself as if it were alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import stat
import weakref
from collections import Counter
from pathlib import Path

__all__ = ["CPUClaims", "claims_directory"]

#: where the hosts' claims are, when ``OMH_CPU_CLAIMS_DIR`` is not set (see the module).
_SHARED_MEMORY = Path("/dev/shm")
#: numbers the claims of one process's hosts (a test runs many hosts in one process).
_numbers = itertools.count(1)
#: this process's claims: a child made by fork (a plugin's own) would hold their locks too, and keep a dead host's
#: claim alive; it closes its copies.
_claims: weakref.WeakSet[CPUClaims] = weakref.WeakSet()


def _forget_in_child() -> None:
    for claims in list(_claims):
        claims._forget()


os.register_at_fork(after_in_child=_forget_in_child)


def claims_directory() -> Path:
    """The directory the hosts of this user leave their claims in (see the module)."""
    if configured := os.environ.get("OMH_CPU_CLAIMS_DIR"):
        return Path(configured)
    # (not tempfile.gettempdir(): importing tempfile would cost every host's start 1.7 ms)
    base = _SHARED_MEMORY if _SHARED_MEMORY.is_dir() and os.access(_SHARED_MEMORY, os.W_OK) else Path(
        os.environ.get("TMPDIR") or "/tmp")
    return base / f"openmodule-host-cpus-{os.getuid()}"


def _private(directory: Path) -> bool:
    """Whether ``directory`` is a directory (not a link to one) of this user that no one else may write to: in a
    shared ``/dev/shm`` or ``/tmp``, another user could have made it first and planted links or FIFOs in it."""
    try:
        status = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid() and not status.st_mode & 0o022


class CPUClaims:
    """This host's claim on a CPU, and what the other hosts claim (see the module)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = claims_directory() if directory is None else directory
        self._name = f"{os.getpid()}-{next(_numbers)}"
        self._fd: int | None = None
        self._released = False
        _claims.add(self)

    def others(self) -> Counter[int]:
        """How many other live hosts are on each CPU (spread hosts not counted). Removes dead hosts' files."""
        counts: Counter[int] = Counter()
        if not _private(self.directory):
            return counts
        try:
            names = os.listdir(self.directory)
        except OSError:
            return counts
        for name in names:
            if name != self._name and not name.startswith("."):  # (".<name>": a claim being made)
                cpu = self._read(self.directory / name)
                if cpu is not None:
                    counts[cpu] += 1
        return counts

    def claim(self, cpu: int | None) -> None:
        """Say that this host is on ``cpu`` (None: spread over all CPUs, on none of them); nothing once released."""
        if self._released:
            return
        try:
            data = b"" if cpu is None else str(cpu).encode()
            if self._fd is not None:
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, data, 0)
                return
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _private(self.directory):
                raise PermissionError(f"{self.directory} is not a directory of this user alone")
            # Made under another name, locked, then renamed: no other host ever finds it unlocked (a dead host's).
            making = self.directory / f".{self._name}"
            with contextlib.suppress(FileNotFoundError):  # a leftover of a crash at this step, under a reused pid
                os.unlink(making)
            fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.pwrite(fd, data, 0)
                os.rename(making, self.directory / self._name)
            except OSError:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(making)
                raise
            self._fd = fd
        except OSError:  # a hint only: this host places itself as if it were alone
            self._withdraw()

    def release(self) -> None:
        """Withdraw the claim for good (the host stopped)."""
        self._released = True
        self._withdraw()

    def _withdraw(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / self._name)
            os.close(fd)

    def _forget(self) -> None:
        """In a forked child: the parent's claim is the parent's."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    @staticmethod
    def _read(path: Path) -> int | None:
        """The CPU of a live host's claim; None for a spread host, an unreadable file, or a dead host's (removed)."""
        try:
            # (no link followed, no wait for a FIFO's writer)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return None
                text = os.pread(fd, 16, 0).decode("ascii", "replace")  # locked: its host runs
                return int(text) if text.isdigit() else None
            # Unlocked: its host ended. (The same file still at the path: not one a new host just made there.)
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    os.unlink(path)
            return None
        except OSError:
            return None
        finally:
            os.close(fd)
