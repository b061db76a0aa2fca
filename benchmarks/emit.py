"""Benchmark the cost of one timed operation written to a file, against peers.

    python benchmarks/emit.py --lines 100000 --rounds 5

Every peer records one operation with the schema's fields and writes or
stores it; the table gives microseconds per operation. The structlog peer is
its fastest JSON setup: orjson, BytesLogger, a cached filtering bound logger,
the contextvars merge and a random id from `os.urandom`.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _workload import alternate, print_table

Operation = Callable[[], None]


def ours(folder: Path, *, background: bool = False) -> Operation:
    """Return one `timed` block with every schema field, written to a file.

    With `background`, lines are written by the sink's writer thread, as
    `configure()` sets up by default. Each round then ends with `flush()`,
    so that the writes count in its time.
    """
    from datadrop_timing import bind_context, configure, flush, timed

    output = folder / f"ours-{'background' if background else 'caller'}.jsonl"
    timer = timed("verification.submit")

    def operation() -> None:
        with timer:
            pass

    def prepare() -> None:
        # Peers share one process and `configure` is global, so each round
        # sets its own writer up again, outside the timed loop.
        configure(service="datadrop-bot", output=output, background=background)
        # Entered and never left: the context stays bound for every
        # operation, as structlog's peer binds its context once. The
        # reference matters, because a `bind_context` generator that is
        # garbage-collected runs its `finally` and unbinds the values.
        context = bind_context(
            tenant=1444299331546478261, request_id=os.urandom(16).hex()
        )
        context.__enter__()
        operation.context = context  # type: ignore[attr-defined]

    operation.prepare = prepare  # type: ignore[attr-defined]
    operation.finish = flush  # type: ignore[attr-defined]
    return operation


def ours_background(folder: Path) -> Operation:
    """Return `ours` with the default background writer thread."""
    return ours(folder, background=True)


def structlog_fastest(folder: Path) -> Operation:
    """Return the same fields through structlog's fastest JSON configuration."""
    import orjson
    import structlog

    stream = (folder / "structlog.jsonl").open("wb")
    logger = structlog.wrap_logger(
        structlog.BytesLogger(stream),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(
        tenant="1444299331546478261", request_id=os.urandom(16).hex()
    )

    def operation() -> None:
        start = time.perf_counter_ns()
        duration_ms = (time.perf_counter_ns() - start) / 1e6
        logger.info(
            "timing",
            action="verification.submit",
            duration_ms=duration_ms,
            outcome="success",
            action_type="verification",
            entrypoint="bot",
            service="datadrop-bot",
            event_id=os.urandom(16).hex(),
            schema=1,
        )

    return operation


def json_logger(folder: Path) -> Operation:
    """Return the same fields through stdlib logging and python-json-logger."""
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.FileHandler(folder / "stdlib.jsonl")
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("benchmark.stdlib")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def operation() -> None:
        start = time.perf_counter_ns()
        duration_ms = (time.perf_counter_ns() - start) / 1e6
        logger.info(
            "timing",
            extra={
                "action": "verification.submit",
                "duration_ms": duration_ms,
                "outcome": "success",
                "tenant": "1444299331546478261",
                "event_id": os.urandom(16).hex(),
            },
        )

    return operation


def prometheus(folder: Path) -> Operation:
    """Return one labelled histogram observation (kept in memory, not written)."""
    from prometheus_client import CollectorRegistry, Histogram

    histogram = Histogram(
        "datadrop_action_duration_seconds",
        "Duration of timed actions",
        ["action", "outcome"],
        registry=CollectorRegistry(),
    )

    def operation() -> None:
        start = time.perf_counter()
        histogram.labels("verification.submit", "success").observe(
            time.perf_counter() - start
        )

    return operation


def opentelemetry(folder: Path) -> Operation:
    """Return one OpenTelemetry SDK histogram record (kept in memory)."""
    from opentelemetry.sdk.metrics import MeterProvider

    meter = MeterProvider().get_meter("datadrop")
    histogram = meter.create_histogram("action.duration", unit="ms")
    attributes = {"action": "verification.submit", "outcome": "success"}

    def operation() -> None:
        start = time.perf_counter_ns()
        histogram.record((time.perf_counter_ns() - start) / 1e6, attributes)

    return operation


def bare(folder: Path) -> Operation:
    """Return a bare `perf_counter_ns` pair, the floor of any timer."""

    def operation() -> None:
        start = time.perf_counter_ns()
        _ = time.perf_counter_ns() - start

    return operation


PEERS = {
    "structlog fastest": structlog_fastest,
    "ours (caller thread)": ours,
    "ours (writer thread)": ours_background,
    "python-json-logger": json_logger,
    "prometheus_client": prometheus,
    "OpenTelemetry SDK": opentelemetry,
    "bare perf_counter_ns": bare,
}


def measure(operation: Operation, count: int) -> Callable[[], tuple[float, float]]:
    """Return a run that times `count` operations; microseconds per operation."""

    prepare = getattr(operation, "prepare", None)
    finish = getattr(operation, "finish", None)

    def run() -> tuple[float, float]:
        if prepare is not None:
            prepare()
        started = time.perf_counter()
        for _ in range(count):
            operation()
        if finish is not None:
            finish()
        return (time.perf_counter() - started) / count * 1e6, 0.0

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="datadrop-emit-") as folder:
        operations: dict[str, Any] = {
            name: build(Path(folder)) for name, build in PEERS.items()
        }
        runs = {name: measure(op, arguments.lines) for name, op in operations.items()}
        results = alternate(runs, arguments.rounds)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        title = f"emit, {arguments.lines:,} operations per round ({stamp})"
        print_table(title, results, "structlog fastest", "us/op")


if __name__ == "__main__":
    main()
