"""Write lines on a thread of their own, so a slow disk never blocks the caller.

`BackgroundWriter` hands each line to one daemon thread through a bounded
queue. One thread writes every line of a process, so lines stay in the order
they were submitted. A log call waits only when the queue is full, and at
most `FULL_QUEUE_WAIT_S`; after that the line is dropped and counted in
`dropped`, and the first drop is reported once on stderr. Every writer still
running is drained at interpreter exit by an `atexit` hook.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import weakref
from collections.abc import Callable

QUEUE_LINES = 10_000

# How long a log call waits for room in a full queue before dropping its line.
FULL_QUEUE_WAIT_S = 1.0

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
        """Queue one line; when the queue is full, wait briefly, then drop it.

        A burst longer than the queue waits for the writer instead of losing
        lines; only a disk stalled for `FULL_QUEUE_WAIT_S` drops (and counts)
        lines, so a stuck disk cannot stop the bot.
        """
        if self._closed:
            self._count_drop()
            return
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            try:
                self._queue.put(data, timeout=FULL_QUEUE_WAIT_S)
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


def _restart_in_child() -> None:
    """Give each writer a fresh queue and thread in a forked child.

    A fork copies the queue but not the writer thread, so without this a
    pre-forking server's workers would queue lines that nothing writes. The
    lines queued before the fork belong to the parent, which writes them.
    """
    for writer in list(_running):
        writer._queue = queue.Queue(writer._queue.maxsize)
        writer._thread = threading.Thread(
            target=writer._run, name=writer._thread.name, daemon=True
        )
        writer._thread.start()


atexit.register(_close_running_writers)
os.register_at_fork(after_in_child=_restart_in_child)
