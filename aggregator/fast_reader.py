"""Classify a batch of log lines with polars, as `parse_line` would, but faster.

The fast path accepts only lines it can prove valid: the flat JSON object a
writer of schema 1 emits, keys in writer order, strings of printable ASCII
without escapes, numbers in plain form and a `...Z` timestamp with 6 fraction
digits. Such a line has exactly one value per key and no text that JSON
decoders could read differently, so polars' JSON reader and `parse_line`
agree on it. Every other line, and every line whose values fail a range check
here, goes to `parse_line`: the fast path never decides that a line is
malformed.

Flat objects whose `event` is not `timing` are proven to be other log lines
the same way.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from aggregator.event_columns import EVENT_SCHEMA
from aggregator.line_batches import LineBatch
from aggregator.lines import MAX_LINE_BYTES, ParseResult, parse_line

# Printable ASCII but the quote and backslash. Other text (escapes, non-ASCII
# letters) goes to `parse_line`: with the full Unicode class the match took
# 55 ms per 16 MiB batch, with this one 36 ms.
_CHAR = r"[\x20\x21\x23-\x5b\x5d-\x7e]"
_STRING = rf'"{_CHAR}*"'
_NON_EMPTY = rf'"{_CHAR}+"'

# Plain JSON numbers: the digit limits keep every integer inside 64 bits, so
# orjson returns an int, never a float or an error.
_NUMBER = r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,40})?(?:[eE][+-]?[0-9]{1,2})?"
_UNSIGNED = r"(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,40})?(?:[eE][+-]?[0-9]{1,2})?"
_VALUE = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"
_PAIR = rf"{_STRING}:{_VALUE}"
_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"

_HEAD = (
    rf'^\{{"timestamp":"{_TIMESTAMP}","level":{_NON_EMPTY},"event":"timing",'
    rf'"action":{_NON_EMPTY},"duration_ms":{_UNSIGNED},'
    r'"outcome":"(?:success|failure)",'
    rf'"tenant":(?:{_NON_EMPTY}|null|0|[1-9][0-9]{{0,18}})'
    rf'(?:,"error_type":(?:{_STRING}|null))?,"action_type":{_NON_EMPTY},'
    rf'"entrypoint":{_NON_EMPTY},"service":{_NON_EMPTY}'
    rf'(?:,"request_id":(?:{_STRING}|null))?'
)
_TAIL = rf',"event_id":{_NON_EMPTY},"schema":1\}}\r*$'

# A timing line as the writer emits it, with no extra keys.
PLAIN_TIMING = _HEAD + _TAIL

# The same with extra keys before `event_id`, captured as group 1.
EXTENDED_TIMING = rf"{_HEAD}((?:,{_PAIR})+){_TAIL}"

FLAT_OBJECT = rf"^\{{(?:{_PAIR}(?:,{_PAIR})*)?\}}\r*$"

# Keys that `parse_line` reads. In extra keys they would be a second value
# for a key already matched, and JSON decoders keep the last one.
_CORE_KEY = (
    r'"(?:timestamp|level|event|action|duration_ms|outcome|tenant|error_type|'
    r'action_type|entrypoint|service|request_id|event_id|schema)":'
)

_OPTIONAL_KEYS = ("route", "method", "status_code", "ack_ms")

_OPTIONAL_VALUE = {
    "route": rf"(?:{_STRING}|null)",
    "method": rf"(?:{_STRING}|null)",
    "status_code": r"(?:[1-5][0-9]{2}|null)",
    "ack_ms": rf"(?:{_UNSIGNED}|null)",
}

# Timestamps are read as text, to be checked and converted here.
_JSON_SCHEMA: dict[str, pl.DataType] = {**EVENT_SCHEMA, "timestamp": pl.String()}

_FLOAT_KEYS = ("duration_ms", "ack_ms")

# A batch that polars cannot split goes to `parse_line` whole only when it
# has at most this many lines; a larger one is halved first.
_SLOW_BATCH_LINES = 512

_US_PER_DAY = 86_400_000_000

_BOM = "\ufeff".encode()

_SEPARATORS = bytes(range(1, 32)).replace(b"\n", b"").replace(b"\r", b"")


@dataclass(slots=True)
class BatchResult:
    """What the fast path found in one batch.

    `events` holds the proven timing events with a `line_number` column;
    `fallback` the lines left to `parse_line`, with their results, in order.
    """

    events: pl.DataFrame
    other: int
    fallback: list[tuple[int, ParseResult]]


def classify_batch(
    batch: LineBatch, columns: Collection[str] | None = None
) -> BatchResult:
    """Classify every line of `batch`; lines not proven here go to `parse_line`.

    `columns` names the event columns to decode (default: all); `timestamp`
    is always decoded. Validation does not depend on it: every key of a
    proven line was proven by the line's shape.
    """
    schema = _decoded_schema(columns)
    lines = _split_lines(batch)
    if lines is None and batch.line_count > _SLOW_BATCH_LINES:
        # One bad line (invalid UTF-8) would send every line of the batch
        # to `parse_line`: halve the batch until the bad part is small.
        first, second = _halves(batch)
        return _merge(classify_batch(first, columns), classify_batch(second, columns))
    if lines is None:
        return _classify_slowly(batch, schema)

    frame = pl.DataFrame({"line": lines}).with_row_index("offset")
    fits = frame["line"].str.len_bytes() <= MAX_LINE_BYTES
    plain = (fits & frame["line"].str.contains(PLAIN_TIMING)).fill_null(False)
    proven = frame.filter(plain)
    rest = frame.filter(~plain & fits.fill_null(True))
    too_long = frame.filter(~fits.fill_null(True))["offset"].to_list()

    extended, rest = _prove_extended(rest)
    other, rest = _prove_other(rest)
    events = None
    if extended.height == 0 and rest.height == 0 and not too_long:
        events = _events_from_batch(batch, plain, schema)
    if events is None:
        proven = pl.concat([proven, extended], how="diagonal")
        events = _events_from_lines(proven, schema)
    events, unproven = _check_values(events)

    fallback_offsets = sorted([*rest["offset"].to_list(), *unproven, *too_long])
    fallback = [
        (batch.first_number + offset, _parse_offset(lines, offset))
        for offset in fallback_offsets
    ]
    events = events.with_columns(
        line_number=pl.col("offset").cast(pl.Int64) + batch.first_number
    ).drop("offset")
    return BatchResult(events, other, fallback)


def _split_lines(batch: LineBatch) -> pl.Series | None:
    """Return the batch's lines as strings, or None if the CSV trick fails.

    The CSV reader with a separator byte absent from the batch and no quote
    character splits lines fast. It drops one `\\r` before each newline and
    a byte order mark at the very start, which `parse_line` strips anyway;
    the leading newline added here keeps the first line's own mark.
    """
    separator = _absent_byte(batch.data)
    if separator is None:
        return None

    # A leading newline keeps polars from reading a BOM, or bytes that look
    # like gzip or zstd magic, as part of the data format; its row is dropped.
    data = b"\n" + batch.data
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            separator=separator,
            quote_char=None,
            new_columns=["line"],
            schema={"line": pl.String()},
            raise_if_empty=False,
        )
    except pl.exceptions.ComputeError:
        # Invalid UTF-8 somewhere in the batch: `parse_line` names the line.
        return None

    lines = frame["line"].slice(1)
    if lines.len() != batch.line_count:
        return None
    return lines


def _absent_byte(data: bytes) -> str | None:
    for code in _SEPARATORS:
        if bytes((code,)) not in data:
            return chr(code)
    return None


def _halves(batch: LineBatch) -> tuple[LineBatch, LineBatch]:
    """Split a batch of several lines at the newline nearest its middle."""
    data = batch.data
    cut = data.rfind(b"\n", 0, len(data) // 2) + 1
    if cut == 0:
        cut = data.find(b"\n") + 1
    count = data.count(b"\n", 0, cut)
    first = LineBatch(batch.first_number, data[:cut], count)
    rest = LineBatch(batch.first_number + count, data[cut:], batch.line_count - count)
    return first, rest


def _merge(first: BatchResult, second: BatchResult) -> BatchResult:
    events = pl.concat([first.events, second.events], how="vertical")
    return BatchResult(
        events, first.other + second.other, first.fallback + second.fallback
    )


def _classify_slowly(batch: LineBatch, schema: dict[str, pl.DataType]) -> BatchResult:
    lines = batch.data.split(b"\n")[:-1]
    fallback = [
        (batch.first_number + offset, parse_line(line))
        for offset, line in enumerate(lines)
    ]
    return BatchResult(empty_events(schema), 0, fallback)


def _parse_offset(lines: pl.Series, offset: int) -> ParseResult:
    line = lines[offset]
    return parse_line(b"" if line is None else line.encode("utf-8"))


def _prove_extended(rest: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Prove timing lines with extra keys, reading the optional ones from them."""
    is_extended = rest["line"].str.contains(EXTENDED_TIMING).fill_null(False)
    candidates = rest.filter(is_extended)
    rest = rest.filter(~is_extended)
    if candidates.height == 0:
        return candidates, rest

    extras = pl.col("line").str.extract(EXTENDED_TIMING, 1)
    checks = [~extras.str.contains(_CORE_KEY)]
    for key, value in _OPTIONAL_VALUE.items():
        named = extras.str.count_matches(f'"{key}":', literal=True)
        typed = extras.str.contains(f'"{key}":{value}[,]|"{key}":{value}$')
        checks.append((named == 0) | ((named == 1) & typed))
    is_proven = pl.all_horizontal(checks)

    marked = candidates.with_columns(is_proven=is_proven)
    proven = marked.filter("is_proven").drop("is_proven")
    unproven = marked.filter(~pl.col("is_proven")).drop("is_proven")
    return proven, pl.concat([rest, unproven])


def _prove_other(rest: pl.DataFrame) -> tuple[int, pl.DataFrame]:
    """Count flat objects whose single `event` value is not `timing`."""
    events = pl.col("line").str.count_matches('"event":', literal=True)
    timing = pl.col("line").str.contains('"event":"timing"[,}]')
    is_other = pl.col("line").str.contains(FLAT_OBJECT).fill_null(False) & (
        (events == 0) | ((events == 1) & ~timing)
    )
    marked = rest.with_columns(is_other=is_other)
    other = int(marked["is_other"].sum())
    return other, marked.filter(~pl.col("is_other")).drop("is_other")


def _events_from_lines(
    proven: pl.DataFrame, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Decode proven lines with polars' JSON reader, keeping their offsets."""
    if proven.height == 0:
        return pl.DataFrame(schema={**schema, "offset": pl.UInt32()})

    text = proven["line"].str.strip_chars_end("\r").str.join("\n").item()
    decoded = pl.read_ndjson(
        io.BytesIO(text.encode("utf-8")), schema=_string_numbers(schema)
    )
    return decoded.with_columns(_numbers(schema), offset=proven["offset"])


def _events_from_batch(
    batch: LineBatch, plain: pl.Series, schema: dict[str, pl.DataType]
) -> pl.DataFrame | None:
    """Decode a batch whose every line is a proven timing line, in one read.

    This skips joining the proven lines into new text. It returns None when
    the batch starts with a byte order mark or polars' row count differs
    from the line count, so that rows could not be matched to lines.
    """
    if batch.data.startswith(_BOM):
        return None

    try:
        decoded = pl.read_ndjson(io.BytesIO(batch.data), schema=_string_numbers(schema))
    except pl.exceptions.PolarsError:
        return None
    if decoded.height != batch.line_count:
        return None

    # Numbers are converted after the filter: other log lines may hold any
    # text under those keys.
    offsets = pl.int_range(decoded.height, dtype=pl.UInt32())
    proven = decoded.with_columns(offset=offsets).filter(plain)
    return proven.with_columns(_numbers(schema))


def _decoded_schema(columns: Collection[str] | None) -> dict[str, pl.DataType]:
    if columns is None:
        return dict(_JSON_SCHEMA)
    return {
        name: dtype
        for name, dtype in _JSON_SCHEMA.items()
        if name in columns or name == "timestamp"
    }


def _string_numbers(schema: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    # Numbers are read as their text and converted by polars' own parser,
    # which rounds correctly like orjson, whatever the JSON reader does.
    return {
        name: pl.String() if name in _FLOAT_KEYS else dtype
        for name, dtype in schema.items()
    }


def _numbers(schema: dict[str, pl.DataType]) -> list[pl.Expr]:
    return [pl.col(name).cast(pl.Float64()) for name in _FLOAT_KEYS if name in schema]


def _check_values(events: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """Convert timestamps to UTC microseconds; return out-of-range offsets apart."""
    text = pl.col("timestamp")
    date = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    hour = text.str.slice(11, 2).cast(pl.Int64())
    minute = text.str.slice(14, 2).cast(pl.Int64())
    second = text.str.slice(17, 2).cast(pl.Int64())
    micros = text.str.slice(20, 6).cast(pl.Int64())
    year = text.str.slice(0, 4).cast(pl.Int64())

    is_valid = (
        date.is_not_null()
        & (year >= 1)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
    )
    timestamp_us = (
        date.cast(pl.Int64()) * _US_PER_DAY
        + ((hour * 60 + minute) * 60 + second) * 1_000_000
        + micros
    )
    checked = events.with_columns(is_valid=is_valid, timestamp_us=timestamp_us)
    unproven = checked.filter(~pl.col("is_valid"))["offset"].to_list()
    valid = checked.filter("is_valid").drop("is_valid")
    return _to_event_columns(valid), unproven


def _to_event_columns(events: pl.DataFrame) -> pl.DataFrame:
    return events.with_columns(
        timestamp=pl.col("timestamp_us").cast(pl.Datetime("us", "UTC"))
    ).drop("timestamp_us")


def empty_events(schema: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """Return a batch's event frame with no rows, of all or some columns."""
    schema = {**(schema or _JSON_SCHEMA), "line_number": pl.Int64()}
    schema["timestamp"] = pl.Datetime("us", "UTC")
    return pl.DataFrame(schema=schema)
