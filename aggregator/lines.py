"""Validate and normalise one log line: the rule shared by report, check and ship.

`parse_line` decides, for one line of bytes, whether it is a timing event of
schema version 1, another log line, a blank line, or a malformed line with a
reason. It does not import polars, so the shipper can use it line by line.

What readers accept is wider than what writers emit: any RFC 3339 fraction and
offset (converted to UTC), integer durations, a tenant written as a JSON
number (kept digit for digit), CRLF endings and a UTF-8 byte order mark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

SCHEMA_VERSION = 1

TIMING_EVENT = "timing"

MAX_LINE_BYTES = 1024 * 1024

OUTCOMES = frozenset(("success", "failure"))

_BOM = b"\xef\xbb\xbf"

_REQUIRED_STRINGS = (
    "level",
    "action",
    "action_type",
    "entrypoint",
    "event_id",
    "service",
)

_OPTIONAL_STRINGS = ("error_type", "route", "method", "request_id")

_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,]([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_day_cache: dict[tuple[int, int, int], int] = {}


@dataclass(frozen=True, slots=True)
class TimingEvent:
    """A validated timing line, normalised: UTC microseconds, string tenant."""

    timestamp_us: int
    action: str
    action_type: str
    duration_ms: float
    outcome: str
    error_type: str | None
    entrypoint: str
    tenant: str | None
    event_id: str
    service: str
    route: str | None
    method: str | None
    status_code: int | None
    ack_ms: float | None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that cannot be used, with a short reason code and a message.

    Codes: `invalid_utf8`, `invalid_json`, `truncated_line`, `line_too_long`,
    `not_an_object`, `missing_key`, `wrong_type`, `invalid_value`,
    `timestamp_without_offset`, `invalid_timestamp`, `unsupported_schema`.
    """

    code: str
    message: str


OTHER = "other"
BLANK = "blank"

ParseResult = TimingEvent | Malformed | str


def parse_line(raw: bytes, *, is_complete: bool = True) -> ParseResult:
    """Classify one line of a log file.

    Args:
        raw: the line's bytes, with or without its line ending.
        is_complete: False for a last line with no newline after it; if it
            does not parse, it is reported as `truncated_line`.

    Returns:
        A `TimingEvent`, a `Malformed` with its reason, `OTHER` for a valid
        JSON line that is not a timing event, or `BLANK` for an empty line.
    """
    line = raw.rstrip(b"\r\n")
    if line.startswith(_BOM):
        line = line[len(_BOM) :]

    if len(line) > MAX_LINE_BYTES:
        return Malformed("line_too_long", f"line is longer than {MAX_LINE_BYTES} bytes")

    if not line.strip():
        return BLANK

    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return _undecodable(line, error, is_complete)

    if not isinstance(data, dict):
        return Malformed(
            "not_an_object", f"JSON {type(data).__name__} is not an object"
        )

    if data.get("event") != TIMING_EVENT:
        return OTHER

    return validate_timing(data)


def _undecodable(line: bytes, error: Exception, is_complete: bool) -> Malformed:
    if not is_complete:
        return Malformed(
            "truncated_line", "last line is cut off (no newline, not JSON)"
        )

    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return Malformed("invalid_utf8", "line is not valid UTF-8")

    return Malformed("invalid_json", f"invalid JSON: {error}")


def validate_timing(data: dict[str, Any]) -> TimingEvent | Malformed:
    """Check a decoded timing line against schema version 1 and normalise it."""
    schema = _schema_problem(data)
    if schema is not None:
        return schema

    for key in (*_REQUIRED_STRINGS, "timestamp", "duration_ms", "outcome", "tenant"):
        if key not in data:
            return Malformed("missing_key", f"missing key {key!r}")

    for key in _REQUIRED_STRINGS:
        if not isinstance(data[key], str) or not data[key]:
            return _wrong_type(key, data[key], "a non-empty string")

    for key in _OPTIONAL_STRINGS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            return _wrong_type(key, value, "a string or null")

    timestamp_us = parse_timestamp_us(data["timestamp"])
    if isinstance(timestamp_us, Malformed):
        return timestamp_us

    duration_ms = _number(data, "duration_ms", required=True)
    ack_ms = _number(data, "ack_ms", required=False)
    status_code = _status_code(data)
    tenant = _tenant(data["tenant"])
    for checked in (duration_ms, ack_ms, status_code, tenant):
        if isinstance(checked, Malformed):
            return checked

    outcome = data["outcome"]
    if outcome not in OUTCOMES:
        return Malformed(
            "invalid_value", f"outcome {outcome!r} is not 'success' or 'failure'"
        )

    return TimingEvent(
        timestamp_us=timestamp_us,
        action=data["action"],
        action_type=data["action_type"],
        duration_ms=duration_ms,  # type: ignore[arg-type]
        outcome=outcome,
        error_type=data.get("error_type"),
        entrypoint=data["entrypoint"],
        tenant=tenant,  # type: ignore[arg-type]
        event_id=data["event_id"],
        service=data["service"],
        route=data.get("route"),
        method=data.get("method"),
        status_code=status_code,  # type: ignore[arg-type]
        ack_ms=ack_ms,  # type: ignore[arg-type]
    )


def _schema_problem(data: dict[str, Any]) -> Malformed | None:
    if "schema" not in data:
        return Malformed("missing_key", "missing key 'schema'")

    schema = data["schema"]
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        return _wrong_type("schema", schema, "a positive integer")

    if schema > SCHEMA_VERSION:
        return Malformed(
            "unsupported_schema",
            f"schema {schema} is newer than {SCHEMA_VERSION}: upgrade datadrop-slo",
        )

    return None


def _wrong_type(key: str, value: object, expected: str) -> Malformed:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:40] + "..."
    return Malformed("wrong_type", f"{key!r} is {shown}, expected {expected}")


def _number(
    data: dict[str, Any], key: str, *, required: bool
) -> float | Malformed | None:
    value = data.get(key)
    if value is None and not required:
        return None

    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return _wrong_type(key, value, "a number")

    if value < 0:
        return Malformed("invalid_value", f"{key!r} is negative: {value!r}")

    return float(value)


def _status_code(data: dict[str, Any]) -> int | Malformed | None:
    value = data.get("status_code")
    if value is None:
        return None

    if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 599:
        return _wrong_type("status_code", value, "an HTTP status from 100 to 599")

    return value


def _tenant(value: object) -> str | Malformed | None:
    if value is None:
        return None

    if isinstance(value, str) and value:
        return value

    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)

    return _wrong_type(
        "tenant", value, "a guild id string, a non-negative integer or null"
    )


def parse_timestamp_us(value: object) -> int | Malformed:
    """Convert an RFC 3339 timestamp to integer microseconds since the epoch, UTC.

    Any fraction length is accepted and cut to microseconds; any offset is
    applied. A timestamp without an offset is rejected, because its time zone
    is unknown.
    """
    if not isinstance(value, str):
        return _wrong_type("timestamp", value, "an RFC 3339 string")

    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        return Malformed("invalid_timestamp", f"timestamp {value!r} is not RFC 3339")

    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset is None:
        return Malformed(
            "timestamp_without_offset",
            f"timestamp {value!r} has no UTC offset, so its time zone is unknown",
        )

    day_us = _day_start_us(int(year), int(month), int(day))
    offset_s = _offset_s(offset)
    if (
        day_us is None
        or offset_s is None
        or _is_clock_out_of_range(hour, minute, second)
    ):
        return Malformed("invalid_timestamp", f"timestamp {value!r} is out of range")

    micros = int((fraction or "").ljust(6, "0")[:6])
    if int(second) == 60:
        # A leap second is read as the last microsecond of the minute.
        second, micros = "59", 999_999
    seconds = int(hour) * 3600 + int(minute) * 60 + int(second) - offset_s
    return day_us + seconds * 1_000_000 + micros


def _is_clock_out_of_range(hour: str, minute: str, second: str) -> bool:
    return int(hour) > 23 or int(minute) > 59 or int(second) > 60


def _day_start_us(year: int, month: int, day: int) -> int | None:
    key = (year, month, day)
    cached = _day_cache.get(key)
    if cached is not None:
        return cached

    try:
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None

    cached = int((start - _EPOCH).total_seconds()) * 1_000_000
    if len(_day_cache) < 100_000:
        _day_cache[key] = cached
    return cached


def _offset_s(offset: str) -> int | None:
    """Return the UTC offset in seconds, or None when it is out of range."""
    if offset in ("Z", "z"):
        return 0

    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 23 or minutes > 59:
        return None
    sign = -1 if offset[0] == "-" else 1
    return sign * (hours * 3600 + minutes * 60)
