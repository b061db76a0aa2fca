"""Library records and raw streams: log calls never raise, lost lines are counted."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator

import numpy as np
import pytest
import structlog

from datadrop_timing import configure, timed


@pytest.fixture
def memory_output() -> Iterator[io.BytesIO]:
    stream = io.BytesIO()
    configure(service="test-service", output=stream)
    yield stream
    logging.getLogger().handlers.clear()
    structlog.contextvars.clear_contextvars()


@pytest.mark.parametrize("logger_name", ["uvicorn.error", "discord"])
def test_library_logger_array_message(
    memory_output: io.BytesIO, logger_name: str
) -> None:
    """A message object whose `==` returns an array neither raises nor splits."""
    logging.getLogger(logger_name).info(np.array([1, 2, 3]))

    assert memory_output.getvalue().count(b"\n") == 1


def test_raw_stream_short_write_counted() -> None:
    """A full non-blocking pipe takes no bytes: the lost line is counted."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    while True:
        try:
            os.write(write_end, b"x" * 65536)
        except BlockingIOError:
            break
    stream = os.fdopen(write_end, "wb", buffering=0)
    try:
        sink = configure(service="test-service", output=stream)
        with timed("config.get"):
            pass
        assert sink.failures == 1
    finally:
        logging.getLogger().handlers.clear()
        stream.close()
        os.close(read_end)


class _SevenBytesAtATime(io.RawIOBase):
    """An unbuffered stream that takes at most 7 bytes per write."""

    def __init__(self) -> None:
        self.received = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(memoryview(data))[:7]  # type: ignore[arg-type]
        self.received += chunk
        return len(chunk)


def test_raw_stream_partial_writes_completed() -> None:
    """A stream that takes part of a line at a time still gets the whole line."""
    stream = _SevenBytesAtATime()
    try:
        sink = configure(service="test-service", output=stream)
        with timed("config.get"):
            pass
    finally:
        logging.getLogger().handlers.clear()

    assert sink.failures == 0
    assert stream.received.count(b"\n") == 1
    assert json.loads(stream.received)["action"] == "config.get"
