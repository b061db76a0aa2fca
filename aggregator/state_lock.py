"""The lock that keeps a second shipper off the same state file.

The lock is an advisory `flock` on `STATE.lock`, a file beside the state file
that is never replaced, because the state file itself is replaced on every
save and a lock on the old inode would not exclude anybody. The kernel
releases the lock when the process ends, also after `kill -9`.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from aggregator.errors import LockHeldError, StateFileError


class StateLock:
    """An exclusive, non-blocking lock tied to one state file."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write this process id into the lock file.

        Raises:
            LockHeldError: another process holds the lock.
            StateFileError: the lock file cannot be created.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            msg = f"cannot create lock file {str(self.path)!r}: {error}"
            raise StateFileError(msg) from error

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise LockHeldError(self._held_message(holder)) from None

        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock; the lock file stays for the next shipper."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _held_message(self, holder: str) -> str:
        state = self.path.with_name(self.path.name.removesuffix(".lock"))
        holder_text = f"process {holder}" if holder else "another process"
        return (
            f"state file {str(state)!r} is in use by {holder_text} "
            f"(lock {str(self.path)!r}): stop that shipper first, or give "
            "this one sources of its own and its own --state file"
        )
