"""Render an event dict as one JSON line, whatever values it holds.

Rendering never raises. Values orjson cannot encode are converted:

- an aware `datetime` keeps its offset, a naive one is taken as UTC;
- `set` and `frozenset` become sorted lists;
- `bytes` become lowercase hex strings;
- an exception becomes `{"type": ..., "message": ...}`;
- a key that is not a string becomes its `str()`;
- a string with a lone surrogate gets U+FFFD in its place;
- any other object becomes its `repr()`, or `"<unrenderable TYPE>"` when that
  raises.

A line longer than `MAX_LINE_BYTES` has its longest strings cut, each ending
with `TRUNCATION_MARK`, so that concurrent writers can append whole lines.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

import orjson

from datadrop_timing.redaction import scrub_exception_text

MAX_LINE_BYTES = 64 * 1024

TRUNCATION_MARK = "...[truncated]"

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC

# Types orjson encodes itself: kept as they are when a line is sanitised.
_NATIVE_TYPES = (datetime.date, datetime.time, uuid.UUID, enum.Enum)

_MAX_DEPTH = 32

_STRING_LIMITS = (4096, 1024, 256, 64)

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
    """Return `event` as JSON bytes without a trailing newline."""
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
    essentials: dict[str, Any] = {}
    for key in _ESSENTIAL_KEYS:
        if key in event:
            essentials[key] = _sanitise(event[key], _MAX_DEPTH - 1)

    essentials["render_error"] = True
    return orjson.dumps(essentials, default=_placeholder, option=_OPTIONS)


def _encode_default(value: object) -> Any:
    """Convert a value orjson has no encoding for; never raises."""
    try:
        if isinstance(value, (set, frozenset)):
            return _sorted_items(value)

        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).hex()

        if isinstance(value, BaseException):
            return {
                "type": type(value).__name__,
                "message": scrub_exception_text(str(value)),
            }

        return repr(value)
    except Exception:  # noqa: BLE001 - a failing __str__ or __repr__
        return _placeholder(value)


def _placeholder(value: object) -> str:
    return f"<unrenderable {type(value).__name__}>"


def _sorted_items(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _sanitise(value: Any, depth: int) -> Any:
    """Return a copy of `value` that orjson can encode with `_encode_default`."""
    if isinstance(value, str):
        return _clean_text(value)

    if depth >= _MAX_DEPTH:
        return "<nested too deep>"

    if isinstance(value, dict):
        return {
            _clean_text(_key_text(key)): _sanitise(item, depth + 1)
            for key, item in value.items()
        }

    if isinstance(value, (list, tuple)):
        return [_sanitise(item, depth + 1) for item in value]

    if isinstance(value, (set, frozenset)):
        return [_sanitise(item, depth + 1) for item in _sorted_items(value)]

    if value is None or isinstance(value, (bool, int, float, *_NATIVE_TYPES)):
        return value

    converted = _encode_default(value)
    if isinstance(converted, str):
        return _clean_text(converted)

    return _sanitise(converted, depth + 1)


def _key_text(key: object) -> str:
    if isinstance(key, str):
        return key

    try:
        return str(key)
    except Exception:  # noqa: BLE001 - a failing __str__
        return _placeholder(key)


def _clean_text(text: str) -> str:
    """Replace lone surrogates, which UTF-8 cannot encode, with U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    return text


def _shrink(event: dict[str, Any]) -> bytes:
    """Cut long strings until the line fits, keeping the essential keys."""
    for limit in _STRING_LIMITS:
        cut = _cut_strings(_sanitise(event, 0), limit)
        line = orjson.dumps(cut, default=_placeholder, option=_OPTIONS)
        if len(line) <= MAX_LINE_BYTES:
            return line

    return _render_essentials(event)


def _cut_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + TRUNCATION_MARK

    if isinstance(value, dict):
        return {key: _cut_strings(item, limit) for key, item in value.items()}

    if isinstance(value, list):
        return [_cut_strings(item, limit) for item in value]

    return value
