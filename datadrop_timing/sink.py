"""Where finished lines go: a file opened for appending, or a binary stream.

Each line is written with one `write` call to a file opened with `O_APPEND`.
Several processes may share one file only through such writes of whole lines
of at most `SHARED_LINE_BYTES` (4 KiB, PIPE_BUF), the size POSIX guarantees
not to interleave for pipes. A longer line (a long traceback) goes to a file of
this process alone, `<name>.<pid>.jsonl` beside the shared one, which readers
and the shipper pick up like any log file. A write that fails is counted,
reported once on stderr, and never raised into the code that logged.

With `background=True`, a file sink writes on a thread of its own (see
`datadrop_timing.background`), so the caller never waits for the disk. That
thread joins lines of at most 4 KiB into one write, up to 64 KiB for a
regular file, where Linux's `O_APPEND` writes are not interleaved with other
appends on local filesystems, and up to 4 KiB for anything else.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from datadrop_timing.background import BackgroundWriter

FILE_MODE = 0o640

SHARED_LINE_BYTES = 4096

# The maximum size of one joined write to a regular file by the writer thread.
JOINED_FILE_BYTES = 64 * 1024


class LineSink:
    """Append whole lines to a file or a binary stream, counting failures."""

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO | None = None,
        *,
        background: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._own_fd: int | None = None
        self._stream: BinaryIO | None = None
        self.failures = 0
        self.name = "<stdout>"

        if target is None:
            self._stream = sys.stdout.buffer
        elif isinstance(target, (str, os.PathLike)):
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = _open_append(path)
            self._path = path
            self.name = str(path)
        else:
            self._stream = target
            self.name = getattr(target, "name", repr(target))

        self._background: BackgroundWriter | None = None
        if background and self._fd is not None:
            self._background = BackgroundWriter(
                self._write_now,
                self.name,
                batch_bytes=_joined_write_bytes(self._fd),
                line_bytes=SHARED_LINE_BYTES,
                write_joined=self._write_joined,
            )

    @property
    def dropped(self) -> int:
        """Lines dropped because the background write queue was full."""
        return 0 if self._background is None else self._background.dropped

    def write_line(self, line: bytes) -> None:
        """Write `line` and a newline in one call, or queue it; never raises."""
        data = line + b"\n"
        if self._background is not None:
            self._background.submit(data)
        else:
            self._write_now(data)

    def flush(self) -> None:
        """Wait until queued lines are written; a sink without a queue has none."""
        if self._background is not None:
            self._background.flush()

    def _write_now(self, data: bytes) -> None:
        try:
            if self._fd is not None and len(data) > SHARED_LINE_BYTES:
                self._write_own_file(data)
            elif self._fd is not None:
                self._write_fd(data)
            else:
                self._write_stream(data)
        except Exception as error:  # noqa: BLE001 - logging must not break the caller
            # A background write may hold several lines: count each one.
            self._record_failure(error, data.count(b"\n"))

    def _write_joined(self, data: bytes) -> None:
        """Write whole lines of at most 4 KiB each, joined, to the shared file."""
        try:
            self._write_fd(data)
        except Exception as error:  # noqa: BLE001 - logging must not break the caller
            self._record_failure(error, data.count(b"\n"))

    def close(self) -> None:
        """Write queued lines, then close the files this sink opened.

        Streams stay open.
        """
        if self._background is not None:
            self._background.close()
        fd, self._fd = self._fd, None
        own_fd, self._own_fd = self._own_fd, None
        for descriptor in (fd, own_fd):
            if descriptor is not None:
                os.close(descriptor)

    def own_file_path(self) -> Path | None:
        """Return where this process writes lines over 4 KiB, for a file sink."""
        if self._path is None:
            return None
        stem = self._path.name.removesuffix(".jsonl")
        return self._path.with_name(f"{stem}.{os.getpid()}.jsonl")

    def _write_own_file(self, data: bytes) -> None:
        with self._lock:
            if self._own_fd is None:
                path = self.own_file_path()
                assert path is not None
                self._own_fd = _open_append(path)
            descriptor = self._own_fd
        _write_all(descriptor, data)

    def _write_fd(self, data: bytes) -> None:
        if self._fd is None:
            msg = "the sink was closed by a later configure() call or close()"
            raise OSError(msg)
        _write_all(self._fd, data)

    def _write_stream(self, data: bytes) -> None:
        if self._stream is None:
            msg = "the sink has no stream"
            raise OSError(msg)
        with self._lock:
            if isinstance(self._stream, io.RawIOBase):
                _write_raw(self._stream, data)
            else:
                self._stream.write(data)
            self._stream.flush()

    def _record_failure(self, error: Exception, lines: int) -> None:
        self.failures += lines
        if self.failures > lines:
            return

        notice = (
            f"datadrop_timing: cannot write log lines to {self.name}: "
            f"{type(error).__name__}: {error}; further failures are counted "
            "in LineSink.failures and not reported again\n"
        )
        try:
            sys.__stderr__.write(notice)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - stderr itself may be gone
            pass


def _write_raw(stream: io.RawIOBase, data: bytes) -> None:
    """Write all of `data` to an unbuffered stream, which may take only part.

    Raises:
        OSError: the stream took no bytes: a full non-blocking pipe returns
            None instead of raising.
    """
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if not written:
            msg = "the stream took no bytes (a full non-blocking pipe?)"
            raise BlockingIOError(msg)
        view = view[written:]


def _joined_write_bytes(fd: int) -> int:
    """Return how many bytes of whole lines one write may join for `fd`.

    On Linux, a write to a regular file opened with O_APPEND holds the file's
    lock for the whole write, so a write of several lines is not interleaved
    with other processes' appends on local filesystems. A pipe guarantees
    that only up to PIPE_BUF.
    """
    try:
        is_regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        is_regular = False
    return JOINED_FILE_BYTES if is_regular else SHARED_LINE_BYTES


def _open_append(path: Path) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags, FILE_MODE)


def _write_all(descriptor: int, data: bytes) -> None:
    written = os.write(descriptor, data)
    # A short write happens only on a full disk or a signal; finish the line
    # rather than leave half of it for the next writer to continue.
    while written < len(data):
        written += os.write(descriptor, data[written:])
