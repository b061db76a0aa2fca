"""Write lines on a thread of their own, so a slow disk never blocks the caller.

`BackgroundWriter` hands each line to one daemon thread through a bounded
queue. One thread writes every line of a process, so lines stay in the order
they were submitted. When the queue is full, the line is dropped and counted
in `dropped`, and the first drop is reported once on stderr: the operation
being timed never waits for the disk. Every writer still running is drained
at interpreter exit by an `atexit` hook.
"""

from __future__ import annotations

import atexit
import queue
import sys
import threading
import weakref
from collections.abc import Callable

QUEUE_LINES = 10_000

# How long `close()` and the exit hook wait for queued lines to be written.
DRAIN_TIMEOUT_S = 5.0

_STOP = b""

_running: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """Pass lines to `write` on a daemon thread, in submission order."""

    def __init__(
        self, write: Callable[[bytes], None], name: str, max_lines: int = QUEUE_LINES
    ) -> None:
        self._write = write
        self._name = name
        self._queue: queue.Queue[bytes] = queue.Queue(max_lines)
        self._closed = False
        self.dropped = 0
        self._thread = threading.Thread(
            target=self._run, name=f"datadrop-writer {name}", daemon=True
        )
        self._thread.start()
        _running.add(self)

    def submit(self, data: bytes) -> None:
        """Queue one line; drop and count it when the queue is full or closed."""
        if self._closed:
            self._count_drop()
            return
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            self._count_drop()

    def flush(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until every queued line is written; False if `timeout_s` passed."""
        done = threading.Event()

        def wait_for_queue() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait_for_queue, daemon=True).start()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Write the queued lines, then stop the thread; later lines are dropped."""
        if self._closed:
            return
        self._closed = True
        _running.discard(self)

        # The stop marker waits for room like any line, so no line is lost.
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            try:
                if data is _STOP:
                    return
                self._write(data)
            finally:
                self._queue.task_done()

    def _count_drop(self) -> None:
        self.dropped += 1
        if self.dropped > 1:
            return

        notice = (
            f"datadrop_timing: the write queue for {self._name} is full or "
            "closed, so log lines are dropped; further drops are counted in "
            "LineSink.dropped and not reported again\n"
        )
        try:
            sys.__stderr__.write(notice)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - stderr itself may be gone
            pass


def _close_running_writers() -> None:
    for writer in list(_running):
        writer.close()


atexit.register(_close_running_writers)
