"""Write lines on a thread of their own, so a slow disk never blocks the caller.

`BackgroundWriter` hands lines to one daemon thread through a bounded
queue, and the thread writes them in batches. One thread writes every line
of a process, so lines stay in the order they were submitted. A log call
waits only when the queue is full, and at most `FULL_QUEUE_WAIT_S`; after
that the line is dropped and counted in `dropped`, and the first drop is
reported once on stderr. Every writer still running is drained at
interpreter exit by an `atexit` hook.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

QUEUE_LINES = 10_000

# How long a log call waits for room in a full queue before dropping its line.
FULL_QUEUE_WAIT_S = 1.0

# How long `close()` and the exit hook wait for queued lines to be written.
DRAIN_TIMEOUT_S = 5.0

# How long the thread lets lines gather after the first one wakes it.
GATHER_S = 0.002

_STOP = b""

_running: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """Pass lines to `write` on a daemon thread, in submission order.

    A log call appends to a deque and wakes the thread only when it sleeps.
    The thread lets lines gather for `GATHER_S`, then writes every waiting
    line, joined into writes of at most `batch_bytes`, before it sleeps
    again. Waking for every line, the thread made a timed operation cost
    2.1x structlog's fastest setup; docs/benchmarks.md has the figures.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        name: str,
        max_lines: int = QUEUE_LINES,
        batch_bytes: int = 0,
        line_bytes: int | None = None,
        write_joined: Callable[[bytes], None] | None = None,
    ) -> None:
        """Start the thread that writes the queued lines.

        Lines of at most `line_bytes` (default `batch_bytes`) are joined into
        writes of at most `batch_bytes` and passed to `write_joined` (default
        `write`). A longer line is passed to `write` alone.
        """
        self._write = write
        self._write_joined = write_joined or write
        self._name = name
        self._max_lines = max_lines
        self._batch_bytes = batch_bytes
        self._line_bytes = batch_bytes if line_bytes is None else line_bytes
        self._closed = False
        self.dropped = 0
        self._start_thread()
        _running.add(self)

    def _start_thread(self) -> None:
        # Items are lines, the stop marker, or an Event that `flush` waits on.
        self._items: deque[bytes | threading.Event] = deque()
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"datadrop-writer {self._name}", daemon=True
        )
        self._thread.start()

    def submit(self, data: bytes) -> None:
        """Queue one line; when the queue is full, wait briefly, then drop it.

        A burst longer than the queue waits for the writer instead of losing
        lines; only a disk stalled for `FULL_QUEUE_WAIT_S` drops (and counts)
        lines, so a stuck disk cannot stop the bot.
        """
        if self._closed:
            self._count_drop()
            return

        if len(self._items) >= self._max_lines and not self._wait_for_room():
            self._count_drop()
            return

        self._items.append(data)
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until every queued line is written; False if `timeout_s` passed."""
        if self._closed:
            # Nothing runs a marker queued after the stop marker.
            self._thread.join(timeout_s)
            return not self._thread.is_alive()

        done = threading.Event()
        self._items.append(done)
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Write the queued lines, then stop the thread; later lines are dropped."""
        if self._closed:
            return
        self._closed = True
        _running.discard(self)

        # The stop marker comes after every queued line, so no line is lost.
        self._items.append(_STOP)
        self._wake.set()
        self._thread.join(timeout_s)

    def _wait_for_room(self) -> bool:
        deadline = time.monotonic() + FULL_QUEUE_WAIT_S
        with self._room:
            while len(self._items) >= self._max_lines:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    return False
                self._room.wait(remaining_s)
        return True

    def _run(self) -> None:
        while True:
            self._wake.wait()
            # Let a burst gather first: waking for every line would cost a
            # thread switch per line.
            time.sleep(GATHER_S)
            self._wake.clear()
            while self._items:
                item = self._items.popleft()
                if isinstance(item, threading.Event):
                    item.set()
                elif item is _STOP:
                    return
                elif len(item) > self._line_bytes:
                    self._write(item)
                else:
                    self._write_joined(self._join_following(item))
                self._notify_room()

    def _join_following(self, data: bytes) -> bytes:
        """Append the lines queued after `data` while they fit in `batch_bytes`.

        One write per batch, not per line, saves a system call per line, and
        with it a release and re-acquisition of the GIL per line.
        """
        parts = [data]
        size = len(data)
        while self._items:
            following = self._items[0]
            if not isinstance(following, bytes) or following is _STOP:
                break
            if len(following) > self._line_bytes:
                break
            if size + len(following) > self._batch_bytes:
                break
            self._items.popleft()
            parts.append(following)
            size += len(following)
        return b"".join(parts)

    def _notify_room(self) -> None:
        if len(self._items) < self._max_lines:
            with self._room:
                self._room.notify_all()

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
        writer._start_thread()


atexit.register(_close_running_writers)
os.register_at_fork(after_in_child=_restart_in_child)
