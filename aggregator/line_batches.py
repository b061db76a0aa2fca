"""Cut a file's byte stream into batches of whole lines for vectorised parsing.

A batch holds many complete lines (each ending in a newline) and the number
of its first line. The last line of a file without a newline, and any line
longer than `KEPT_BYTES`, come out alone as a `RawLine`, so that they reach
`parse_line` exactly as `LineSource` would hand them over.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aggregator.files import KEPT_BYTES, RawLine

BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LineBatch:
    """Complete lines: `data` ends with a newline; `first_number` is 1-based."""

    first_number: int
    data: bytes
    line_count: int


def iter_line_batches(
    chunks: Iterator[bytes], batch_bytes: int | None = None
) -> Iterator[LineBatch | RawLine]:
    """Group `chunks` into line batches of about `batch_bytes` each.

    `batch_bytes` defaults to `BATCH_BYTES`, read at each call.

    Memory stays near `batch_bytes` plus one chunk: the bytes of a line past
    `KEPT_BYTES` are dropped as they arrive, as `LineSource` drops them.
    """
    batch_bytes = batch_bytes or BATCH_BYTES
    buffer = bytearray()
    number = 0
    long_line: bytes | None = None
    has_newline = False

    for chunk in chunks:
        if long_line is not None:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            number += 1
            yield RawLine(number, long_line, True)
            long_line, chunk = None, chunk[end + 1 :]

        buffer += chunk
        has_newline = has_newline or b"\n" in chunk
        if len(buffer) >= batch_bytes and has_newline:
            batch = _take_complete_lines(buffer, number)
            if batch is not None:
                number += batch.line_count
                yield batch
            has_newline = False

        if len(buffer) > KEPT_BYTES and not has_newline:
            long_line = bytes(buffer[:KEPT_BYTES])
            buffer.clear()

    yield from _finish(buffer, number, long_line)


def _take_complete_lines(buffer: bytearray, number: int) -> LineBatch | None:
    """Remove the complete lines from the front of `buffer` as one batch."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return None

    data = bytes(buffer[: end + 1])
    del buffer[: end + 1]
    return LineBatch(number + 1, data, data.count(b"\n"))


def _finish(
    buffer: bytearray, number: int, long_line: bytes | None
) -> Iterator[LineBatch | RawLine]:
    if long_line is not None:
        # The file ended inside an over-long line, with no newline after it.
        yield RawLine(number + 1, long_line, False)
        return

    batch = _take_complete_lines(buffer, number)
    if batch is not None:
        number += batch.line_count
        yield batch

    if buffer:
        yield RawLine(number + 1, bytes(buffer), False)
