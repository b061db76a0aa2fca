"""Classify a file's line batches on worker threads while the next are read.

polars releases the GIL while it splits, matches and decodes a batch, so two
batches classify at once on two cores, and reading the file overlaps both.
Results come back in file order, and at most `workers + 1` batches are held
at a time, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from aggregator.fast_reader import BatchResult
from aggregator.files import RawLine
from aggregator.line_batches import LineBatch

_pool: ThreadPoolExecutor | None = None


def worker_count() -> int:
    """Return how many batches classify at once: the usable cores, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def classify_ahead(
    items: Iterable[LineBatch | RawLine],
    classify: Callable[[LineBatch], BatchResult],
) -> Iterator[tuple[LineBatch | RawLine, BatchResult | None]]:
    """Yield each item with `classify`'s result for it, in order.

    A `RawLine` comes with None: the caller parses it alone.
    """
    workers = worker_count()
    pending: deque[tuple[LineBatch | RawLine, Future[BatchResult] | None]] = deque()

    for item in items:
        future = None
        if isinstance(item, LineBatch):
            future = _executor(workers).submit(classify, item)
        pending.append((item, future))
        if len(pending) > workers:
            yield _finish(*pending.popleft())

    while pending:
        yield _finish(*pending.popleft())


def _finish(
    item: LineBatch | RawLine, future: Future[BatchResult] | None
) -> tuple[LineBatch | RawLine, BatchResult | None]:
    return item, None if future is None else future.result()


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(workers, thread_name_prefix="datadrop-read")
    return _pool
