"""The NCCI index's import lock (one import at a time) and the removal of files that killed imports left."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from terminology.dates import timestamp_now
from terminology.errors import ImportFailure

_POLL_SECONDS = 0.2


def lock_path(target: Path) -> Path:
    """Return the lock file of an index: ``ncci.sqlite.lock`` beside ``ncci.sqlite``."""
    return target.with_name(f"{target.name}.lock")


def temporary_path(target: Path) -> Path:
    """Return the file this process builds a new index in: ``ncci.sqlite.import-<pid>``."""
    return target.with_name(f"{target.name}.import-{os.getpid()}")


def leftover_files(target: Path) -> list[Path]:
    """Return the ``ncci.sqlite.import-*`` files beside the index (a running import's, or a killed one's)."""
    return sorted(target.parent.glob(f"{target.name}.import-*"))


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size / 1e6:,.1f} MB"
    except FileNotFoundError:
        return "gone"


class ImportLock:
    """An exclusive ``flock`` on ``ncci.sqlite.lock``, held for the whole of one import.

    The lock belongs to the open file, so the kernel lets go of it when its process ends however
    it ends (kill -9 included): no stale lock is ever left to clear by hand. While it is held no other
    import can run (every import takes it before it reads the index), so any ``ncci.sqlite.import-*``
    file found then was left by an import that is gone; ``remove_leftovers`` deletes them.
    The file holds the holder's pid, host and start time, which a waiting import prints.
    """

    def __init__(
        self, target: Path, timeout: float, notify: Callable[[str], None], poll: float = _POLL_SECONDS
    ) -> None:
        self.target = target
        self.path = lock_path(target)
        self.timeout = timeout
        self.notify = notify
        self.poll = poll
        self._fd: int | None = None

    def __enter__(self) -> ImportLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                self._wait(fd)
            os.ftruncate(fd, 0)
            since = timestamp_now()
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _wait(self, fd: int) -> None:
        holder = _holder(fd)
        self.notify(
            f"waiting for another import of {self.target} to finish ({holder}); "
            f"giving up after {self.timeout:g} s"
        )
        deadline = time.monotonic() + self.timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise ImportFailure(
                    self.path,
                    None,
                    f"another import still holds the lock ({_holder(fd)}) after {self.timeout:g} s; "
                    "try again when it has finished, or wait longer with --lock-timeout SECONDS",
                )
            time.sleep(self.poll)

    def remove_leftovers(self) -> list[str]:
        """Delete the temporary files of imports that are gone; return a note for each."""
        notes = []
        for path in leftover_files(self.target):
            size = _size(path)
            path.unlink(missing_ok=True)
            notes.append(f"removed {path.name} ({size}), left by an import that was killed")
        return notes

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return text or "holder unknown"


def import_running(target: Path) -> str | None:
    """Say who holds the import lock of an index (None when no import is running); takes no lock itself."""
    path = lock_path(target)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe_leftovers(target: Path) -> list[str]:
    """Describe the temporary files beside an index for ``ncci list``: in use, or left by a killed import."""
    running = import_running(target)
    state = (
        f"in use by the running import ({running})"
        if running
        else "left by an import that was killed; the next import removes it"
    )
    return [f"{path.name} ({_size(path)}): {state}" for path in leftover_files(target)]
