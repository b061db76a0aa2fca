"""Render an event dict as one JSON line, whatever values it holds.

Rendering never raises. Values orjson cannot encode are converted:

- an aware `datetime` keeps its offset, a naive one is taken as UTC;
- `set` and `frozenset` become sorted lists;
- a mapping that is not a dict, and a dataclass, become dicts;
- `bytes`, `bytearray` and `memoryview` become lowercase hex strings, of the
  bytes after scrubbing: they are decoded as UTF-8 (bytes that are not UTF-8
  kept as they are), scrubbed like `repr()` text and encoded again. So a
  webhook URL sent as bytes is written as the hex of `[redacted webhook URL]`,
  but hex hides nothing else;
- an exception becomes `{"type": ..., "message": ...}`;
- an integer outside the 64-bit range orjson encodes becomes a string;
- a key that is not a string becomes its `str()`, scrubbed;
- a string with a lone surrogate gets U+FFFD in its place;
- any other object becomes its `repr()`, or `"<unrenderable TYPE>"` when that
  raises.

Sets, mappings and dataclasses go through `redact_value`, and the text of a
`repr()` through `scrub_rendered_text`, so values that `redact` did not see
lose their secrets too. orjson passes dataclasses to this conversion instead
of encoding them itself.

A line longer than `MAX_LINE_BYTES` has its longest strings cut, each ending
with `TRUNCATION_MARK`, so that concurrent writers can append whole lines.
When that is not enough, the line keeps only its essential keys, cut the same
way, and `render_error: true`. Every line is at most `MAX_LINE_BYTES`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from datadrop_timing.exception_text import format_exception_message
from datadrop_timing.redaction import (
    NESTED_TOO_DEEP,
    placeholder,
    redact_value,
    scrub_rendered_text,
    scrub_text,
)

MAX_LINE_BYTES = 64 * 1024

TRUNCATION_MARK = "...[truncated]"

# Dates and times pass through to `_encode_default`, which formats them as
# OPT_UTC_Z and OPT_NAIVE_UTC would. orjson 3.13.0 formatting them itself
# crashed the process (SIGSEGV) on a tzinfo whose utcoffset() raises.
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)

# Types orjson encodes itself: kept as they are when a line is sanitised.
_NATIVE_TYPES = (datetime.date, datetime.time, uuid.UUID, enum.Enum)

_MAX_DEPTH = 32

_STRING_LIMITS = (4096, 1024, 256, 64)

# The integers orjson encodes: signed and unsigned 64-bit.
_MIN_INT = -(2**63)
_MAX_INT = 2**64 - 1

# Keys kept when a line is still too long after its strings were cut.
_ESSENTIAL_KEYS = (
    "timestamp",
    "level",
    "event",
    "action",
    "duration_ms",
    "outcome",
    "tenant",
    "error_type",
    "action_type",
    "entrypoint",
    "service",
    "request_id",
    "event_id",
    "schema",
)


def render_line(event: dict[str, Any]) -> bytes:
    """Return `event` as JSON of at most `MAX_LINE_BYTES`, without a newline."""
    try:
        line = orjson.dumps(event, default=_encode_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        line = _render_sanitised(event)

    if len(line) > MAX_LINE_BYTES:
        line = _shrink(event)

    return line


def _render_sanitised(event: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(
            _sanitise(event, 0), default=_encode_default, option=_OPTIONS
        )
    except Exception:  # noqa: BLE001 - the last resort must not raise
        return _render_essentials(event)


def _render_essentials(event: dict[str, Any]) -> bytes:
    """Render the essential keys of `event`, cut to fit. Never raises."""
    essentials: dict[str, Any] = {}
    for key in _ESSENTIAL_KEYS:
        if key in event:
            essentials[key] = _sanitise_or_placeholder(event[key], _MAX_DEPTH - 1)
    essentials["render_error"] = True

    try:
        line = orjson.dumps(essentials, default=placeholder, option=_OPTIONS)
        if len(line) <= MAX_LINE_BYTES:
            return line
        cut_line = _cut_until_it_fits(essentials)
        if cut_line is not None:
            return cut_line
    except (TypeError, orjson.JSONEncodeError):
        pass

    # Only values with many items, or values orjson rejects, get here. Each
    # value becomes a short scalar, so the line is a few KiB at most.
    flat = {key: _short_scalar(value) for key, value in essentials.items()}
    return orjson.dumps(flat, option=_OPTIONS)


def _short_scalar(value: Any) -> Any:
    """Return `value` as a JSON scalar, with text cut to the smallest limit."""
    if value is None or isinstance(value, (bool, int, float)):
        return value

    if isinstance(value, str):
        return _cut_text(value, _STRING_LIMITS[-1])

    try:
        text = orjson.dumps(value, default=placeholder, option=_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = placeholder(value)

    return _cut_text(text, _STRING_LIMITS[-1])


def _encode_default(value: object) -> Any:
    """Convert a value orjson has no encoding for; never raises."""
    try:
        if isinstance(value, (datetime.date, datetime.time)):
            return _iso_text(value)

        if isinstance(value, (bytes, bytearray, memoryview)):
            return _scrubbed_hex(value)

        if isinstance(value, BaseException):
            return {
                "type": type(value).__name__,
                "message": format_exception_message(value),
            }

        if isinstance(value, (set, frozenset, Mapping)) or _is_dataclass(value):
            return redact_value(value)

        return scrub_rendered_text(repr(value))
    except Exception:  # noqa: BLE001 - a failing __str__ or __repr__
        return placeholder(value)


def _is_dataclass(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _scrubbed_hex(value: bytes | bytearray | memoryview) -> str:
    # surrogateescape keeps bytes that are not UTF-8 through the round trip.
    text = bytes(value).decode("utf-8", "surrogateescape")
    return scrub_rendered_text(text).encode("utf-8", "surrogateescape").hex()


def _iso_text(value: datetime.date | datetime.time) -> str:
    """Format a date or time in ISO 8601, naive times as UTC, UTC as `Z`."""
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)

    text = value.isoformat()
    if text.endswith("+00:00"):
        return text[: -len("+00:00")] + "Z"
    return text


def _sanitise(value: Any, depth: int) -> Any:
    """Return a copy of `value` that orjson can encode with `_encode_default`."""
    if isinstance(value, str):
        return _clean_text(value)

    if depth >= _MAX_DEPTH:
        return NESTED_TOO_DEEP

    if isinstance(value, dict):
        return {
            _clean_text(_key_text(key)): _sanitise(item, depth + 1)
            for key, item in value.items()
        }

    if isinstance(value, (list, tuple)):
        return [_sanitise(item, depth + 1) for item in value]

    if _is_native(value):
        return value

    converted = _encode_default(value)
    if isinstance(converted, str):
        return _clean_text(converted)

    return _sanitise(converted, depth + 1)


def _is_native(value: Any) -> bool:
    """Return whether orjson encodes `value` itself, without `default`."""
    if isinstance(value, int):
        return _MIN_INT <= value <= _MAX_INT

    return value is None or isinstance(value, (float, *_NATIVE_TYPES))


def _sanitise_or_placeholder(value: Any, depth: int) -> Any:
    """Sanitise `value`, or return its placeholder when one of its methods raises.

    orjson reads a dict subclass directly, but `_sanitise` calls its `items()`.
    """
    try:
        return _sanitise(value, depth)
    except Exception:  # noqa: BLE001 - the last resort must not raise
        return placeholder(value)


def _key_text(key: object) -> str:
    if isinstance(key, str):
        return key

    try:
        return scrub_text(str(key))
    except Exception:  # noqa: BLE001 - a failing __str__
        return placeholder(key)


def _clean_text(text: str) -> str:
    """Replace lone surrogates, which UTF-8 cannot encode, with U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    return text


def _shrink(event: dict[str, Any]) -> bytes:
    """Cut long strings until the line fits, else keep only the essential keys."""
    try:
        line = _cut_until_it_fits(_sanitise(event, 0))
    except Exception:  # noqa: BLE001 - such as a dict subclass whose items() raises
        line = None

    if line is not None:
        return line

    return _render_essentials(event)


def _cut_until_it_fits(event: dict[str, Any]) -> bytes | None:
    """Render `event` with strings cut to each limit in turn, or return None."""
    for limit in _STRING_LIMITS:
        cut = _cut_strings(event, limit)
        line = orjson.dumps(cut, default=placeholder, option=_OPTIONS)
        if len(line) <= MAX_LINE_BYTES:
            return line

    return None


def _cut_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return _cut_text(value, limit)

    if isinstance(value, dict):
        return {key: _cut_strings(item, limit) for key, item in value.items()}

    if isinstance(value, list):
        return [_cut_strings(item, limit) for item in value]

    return value


def _cut_text(text: str, limit: int) -> str:
    if len(text) > limit:
        return text[:limit] + TRUNCATION_MARK

    return text
