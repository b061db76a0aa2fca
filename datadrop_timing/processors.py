"""Processing shared by structlog events and stdlib log records.

Both paths end in `finish_event`, so a line has the same keys, key order,
redaction and value encoding whichever logger wrote it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.context import normalise_tenant
from datadrop_timing.exception_text import (
    format_exception_message,
    format_exception_text,
)
from datadrop_timing.pseudonym import pseudonymise
from datadrop_timing.redaction import redact
from datadrop_timing.schema import (
    EXTRA_PREFIX,
    LEADING_KEYS,
    TIMING_EVENT,
    TRAILING_KEYS,
    format_timestamp,
)

# The timer passes its end time under this key, so that a caller's own
# `timestamp` field can be distinguished from it and renamed.
END_TIMESTAMP_KEY = "_end_timestamp"

# The stdlib formatter passes the record's creation time under this key.
RECORD_TIMESTAMP_KEY = "_record_timestamp"

MAX_TRACEBACK_CHARS = 8192

# Key sets larger than this are ordered without caching, so that the cache
# stays small.
_MAX_CACHED_KEYS = 64

# The event text written for an ordinary log message "timing".
UNTIMED_TIMING_MESSAGE = "timing (log message)"

# Optional timing-line keys that readers require to be non-empty strings.
TYPED_STRING_KEYS = ("error_type", "route", "method", "request_id")

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class EventFinisher:
    """A structlog processor that completes, redacts and orders an event."""

    def __init__(
        self,
        *,
        service: str | None = None,
        entrypoint: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.service = service
        self.entrypoint = entrypoint
        self.clock = clock

    def __call__(
        self, logger: object, method_name: str, event: MutableMapping[str, Any]
    ) -> dict[str, Any]:
        """Return the finished event; the structlog processor signature.

        Never raises: an event that cannot be finished is reduced to its
        message and a `render_error` flag, so the log call still returns.
        """
        try:
            owned = dict(event)
        except Exception:  # noqa: BLE001 - logging must not break the caller
            return _render_error_event(method_name, event)
        return self.finish_owned(method_name, owned)

    def finish_owned(self, method_name: str, event: dict[str, Any]) -> dict[str, Any]:
        """Finish `event` in place, for a caller that owns it; never raises."""
        try:
            return finish_event(
                event,
                service=self.service,
                entrypoint=self.entrypoint,
                clock=self.clock,
            )
        except Exception:  # noqa: BLE001 - logging must not break the caller
            return _render_error_event(method_name, event)


def _render_error_event(
    method_name: str, event: MutableMapping[str, Any]
) -> dict[str, Any]:
    """Reduce an event that could not be finished to its message and a flag."""
    return {
        "timestamp": format_timestamp(SYSTEM_CLOCK.now()),
        "level": method_name,
        "event": _safe_str(event.get("event")),
        "render_error": True,
    }


def finish_event(
    event: dict[str, Any],
    *,
    service: str | None,
    entrypoint: str | None,
    clock: Clock,
) -> dict[str, Any]:
    """Complete `event` in place and return it with its keys in schema order."""
    is_timed = END_TIMESTAMP_KEY in event
    end_timestamp = _pop_timestamps(event)

    if "exc_info" in event:
        _structure_exception(event)
    _redact(event)
    # Added after redaction, which has nothing to find in the writer's own
    # timestamp.
    event["timestamp"] = end_timestamp or format_timestamp(clock.now())

    is_timing_line = event.get("event") == TIMING_EVENT
    if is_timing_line:
        if is_timed:
            _coerce_schema_types(event)
        else:
            # Only the timer writes `"event": "timing"`; readers would take
            # an ordinary message "timing" for a broken timing line.
            event["event"] = UNTIMED_TIMING_MESSAGE
            is_timing_line = False

    if is_timing_line or "tenant" in event:
        event["tenant"] = pseudonymise(normalise_tenant(event.get("tenant")))

    if service is not None:
        event.setdefault("service", service)
    if entrypoint is not None:
        event.setdefault("entrypoint", entrypoint)

    return _ordered(event)


def _pop_timestamps(event: dict[str, Any]) -> object:
    """Remove and return the writer's timestamp, and rename a caller's `timestamp`."""
    end_timestamp = event.pop(END_TIMESTAMP_KEY, None)
    end_timestamp = event.pop(RECORD_TIMESTAMP_KEY, None) or end_timestamp
    if "timestamp" in event:
        event[EXTRA_PREFIX + "timestamp"] = event.pop("timestamp")
    return end_timestamp


def _redact(event: dict[str, Any]) -> None:
    redacted = redact(event)
    if redacted:
        # A key dropped from every item of a list has one path for all.
        event["redacted_keys"] = sorted(set(redacted))


def _coerce_schema_types(event: dict[str, Any]) -> None:
    """Keep a timing line readable when a caller passed a key of the wrong type.

    `status_code` given as a digit string becomes an integer. Any other value
    of the wrong type moves to `extra_<key>`, so readers keep the line.
    """
    status = event.get("status_code")
    if isinstance(status, str) and status.isascii() and status.isdigit():
        event["status_code"] = status = int(status)
    if status is not None and not _is_status_code(status):
        event[EXTRA_PREFIX + "status_code"] = event.pop("status_code")

    for key in TYPED_STRING_KEYS:
        value = event.get(key)
        if value is not None and not (isinstance(value, str) and value):
            event[EXTRA_PREFIX + key] = event.pop(key)

    ack_ms = event.get("ack_ms")
    if ack_ms is not None and not _is_duration(ack_ms):
        event[EXTRA_PREFIX + "ack_ms"] = event.pop("ack_ms")


def _is_status_code(value: object) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599
    )


def _is_duration(value: object) -> bool:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return is_number and value >= 0 and value != float("inf")  # type: ignore[operator]


def _ordered(event: dict[str, Any]) -> dict[str, Any]:
    keys = tuple(event)
    if len(keys) > _MAX_CACHED_KEYS:
        return {key: event[key] for key in _key_order.__wrapped__(keys)}
    return {key: event[key] for key in _key_order(keys)}


# Lines of one process repeat a few key sets in a few orders, so the schema
# order of each is computed once.
@functools.lru_cache(maxsize=1024)
def _key_order(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Return `keys` in line order: `LEADING_KEYS`, then others, then trailing."""
    present = set(keys)
    leading = [key for key in LEADING_KEYS if key in present]
    trailing = [key for key in TRAILING_KEYS if key in present]
    placed = set(leading) | set(trailing)
    others = [key for key in keys if key not in placed]
    return (*leading, *others, *trailing)


def _structure_exception(event: dict[str, Any]) -> None:
    """Replace `exc_info` with an `exception` object, or drop it if none is active."""
    exc_info = _exc_info_tuple(event.pop("exc_info"))
    if exc_info is None:
        return

    exc_type, exc, tb = exc_info
    # Scrubbed before it is cut, so that a cut cannot split a quoted literal.
    text = format_exception_text(exc, tb)
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "...[truncated]" + text[-MAX_TRACEBACK_CHARS:]

    event["exception"] = {
        "type": exc_type.__name__,
        "message": format_exception_message(exc),
        "traceback": text,
    }


def _exc_info_tuple(value: object) -> _ExcInfo | None:
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__

    if value is True:
        active = sys.exc_info()
        if active[1] is None:
            return None
        return active

    if isinstance(value, tuple) and len(value) == 3:
        _, exc, tb = value
        if isinstance(exc, BaseException):
            return type(exc), exc, tb if isinstance(tb, TracebackType) else None

    return None


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a failing __str__ must not lose the line
        return f"<unprintable {type(value).__name__}>"
