"""One training process per run folder: ``train.lock``, held while it trains.

The lock is an exclusive ``flock`` on ``<run folder>/train.lock``, a file that
names the process holding it (pid, host, start time). The kernel releases the
``flock`` when that process ends, however it ends (SIGKILL included): a lock file
whose ``flock`` is free was left by a dead process, is stale, and is taken over
by the next process, which logs whose it was and resumes. On a file system
without ``flock`` the pid is checked instead (a live process on this host holds
the lock; one on another host is trusted to).

A finished or stopped run removes its lock file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ctgans.exceptions import ConfigError

log = logging.getLogger(__name__)

LOCK_NAME = "train.lock"
# A checker's brief shared lock, or a holder that is just starting, can make a
# try fail: retry this long before refusing.
RETRY_S = 2.0
RETRY_STEP_S = 0.05


class RunLock:
    """A held lock; :meth:`release` it when the run ends."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd

    def moved_to(self, folder: Path) -> None:
        """The folder holding the lock file was renamed to ``folder``."""
        self.path = folder / LOCK_NAME

    def release(self) -> None:
        """Remove the lock file (if it is still this one) and release the lock."""
        if self.fd < 0:
            return
        try:
            if _same_file(self.path, self.fd):
                self.path.unlink()
        finally:
            os.close(self.fd)
            self.fd = -1


def acquire(folder: Path) -> RunLock:
    """Lock ``folder`` for this process, taking over a stale lock.

    Raises
    ------
    ConfigError
        Another live process holds the lock; the message names it.
    """
    path = folder / LOCK_NAME
    deadline = time.monotonic() + RETRY_S
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            held = _try_lock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        if held is None:  # no flock on this file system
            holder = _holder(path)
            held = not _alive_elsewhere(holder)
        if not held:
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(RETRY_STEP_S)
                continue
            raise ConfigError(busy_message(folder, _holder(path)))
        if not _same_file(path, fd):  # its holder removed it as we opened it
            os.close(fd)
            continue
        previous = _holder(path)
        if previous.get("pid") is not None:
            log.warning(
                "run folder %s: took over the stale lock of process %s on %s "
                "(started %s), which no longer runs",
                folder,
                previous.get("pid"),
                previous.get("host", "?"),
                previous.get("started", "?"),
            )
        _write_holder(fd)
        return RunLock(path, fd)


def check_free(folder: Path) -> None:
    """Refuse, writing nothing, when a live process holds ``folder``'s lock."""
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        held = _try_lock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)  # releases the shared lock taken to look
    holder = _holder(path)
    if held is False or (held is None and _alive_elsewhere(holder)):
        raise ConfigError(busy_message(folder, holder))


def busy_message(folder: Path, holder: dict) -> str:
    """One line: which process trains ``folder`` and what to do."""
    who = (
        f"process {holder['pid']} on host {holder.get('host', '?')}, started "
        f"{holder.get('started', '?')}"
        if holder.get("pid") is not None
        else "another process"
    )
    return (
        f"run folder {folder} is being trained by {who} (lock {folder / LOCK_NAME}); "
        "wait for it to end, or pass --fresh to start a new run folder"
    )


def _try_lock(fd: int, kind: int) -> bool | None:
    """True: locked; False: held by another; None: no flock here."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            return None
        raise
    return True


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _holder(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _alive_elsewhere(holder: dict) -> bool:
    """Whether the holder named in a lock file is a live process other than us."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False
    if holder.get("host") != socket.gethostname():
        return True  # cannot be checked from here
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    # A reused pid is another process: compare the start times.
    return holder.get("boot_ticks") in (None, _start_ticks(pid))


def _start_ticks(pid: int) -> int | None:
    """The process' start time in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _write_holder(fd: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "boot_ticks": _start_ticks(os.getpid()),
        "command": " ".join(sys.argv),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
    os.fsync(fd)
