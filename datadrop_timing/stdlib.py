"""Route stdlib `logging` records (discord, uvicorn, the app's own) to JSON lines.

Records are formatted by python-json-logger with the same keys as structlog
events: `timestamp`, lowercase `level` and `event` (the message), then
`logger`, the bound context and the record's extra fields. So one grep
pattern finds both kinds of line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter

from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.context import current_context
from datadrop_timing.processors import RECORD_TIMESTAMP_KEY, finish_event
from datadrop_timing.render import render_line
from datadrop_timing.schema import EXTRA_PREFIX, format_timestamp
from datadrop_timing.sink import LineSink

# Record attributes that are not user data; `taskName` is new in Python 3.12.
_RECORD_ATTRS = frozenset((*RESERVED_ATTRS, "taskName"))

_BASE_KEYS = frozenset(("timestamp", "level", "event", "logger"))


# Names `Logger.makeRecord` refuses in `extra`, raising KeyError into the caller.
# `taskName` is listed for Python 3.11, where records lack it but the formatter
# still treats it as a record attribute and would drop it.
_CLASHING_EXTRA_KEYS = frozenset(
    (
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
    )
)

_original_make_record = logging.Logger.makeRecord


def _make_record_renaming_clashes(
    self: logging.Logger,
    name: str,
    level: int,
    fn: str,
    lno: int,
    msg: object,
    args: Any,
    exc_info: Any,
    func: str | None = None,
    extra: Mapping[str, object] | None = None,
    sinfo: str | None = None,
) -> logging.LogRecord:
    """Build a record, keeping an extra such as `filename` as `extra_filename`."""
    if extra and not _CLASHING_EXTRA_KEYS.isdisjoint(extra):
        extra = {
            (EXTRA_PREFIX + key if key in _CLASHING_EXTRA_KEYS else key): value
            for key, value in extra.items()
        }
    return _original_make_record(
        self, name, level, fn, lno, msg, args, exc_info, func, extra, sinfo
    )


def rename_clashing_extras() -> None:
    """Make every stdlib logger keep clashing `extra` keys instead of raising.

    The standard library raises KeyError when `extra` names a `LogRecord`
    attribute such as `filename` or `name`. This replaces
    `logging.Logger.makeRecord` for all loggers of the process, including those
    created before the call; a subclass that overrides `makeRecord` is left as
    it is.
    """
    logging.Logger.makeRecord = _make_record_renaming_clashes  # type: ignore[method-assign]


class JsonLineFormatter(JsonFormatter):
    """Format a `LogRecord` as one JSON line in the event schema's key order."""

    def __init__(
        self,
        *,
        service: str | None = None,
        entrypoint: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__()
        self.service = service
        self.entrypoint = entrypoint
        self.clock = clock

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        """Fill `log_data` with the schema's keys, the context and the extras.

        An extra field named like a base key (`level`, `event`, `logger`,
        `timestamp`) is kept under `extra_<name>` instead of replacing it.
        """
        extras: dict[str, Any] = dict(message_dict)
        merge_record_extra(record, extras, reserved=_RECORD_ATTRS)

        record_time = _record_time(record, self.clock)
        log_data[RECORD_TIMESTAMP_KEY] = format_timestamp(record_time)
        log_data["level"] = record.levelname.lower()
        log_data["event"] = record.message
        log_data["logger"] = record.name
        log_data.update(current_context())

        for key, value in extras.items():
            if key in _BASE_KEYS:
                key = EXTRA_PREFIX + key
            log_data[key] = value

        if record.exc_info:
            log_data["exc_info"] = record.exc_info

    def serialize_log_record(self, log_data: dict[str, Any]) -> str:
        """Finish the event as structlog events are finished, and render it."""
        event = finish_event(
            log_data,
            service=self.service,
            entrypoint=self.entrypoint,
            clock=self.clock,
        )
        return render_line(event).decode("utf-8")


def _record_time(record: logging.LogRecord, clock: Clock) -> datetime:
    """Return when `record` was created, or `clock.now()` for any other clock."""
    if clock is SYSTEM_CLOCK:
        return datetime.fromtimestamp(record.created, tz=UTC)
    return clock.now()


class LineSinkHandler(logging.Handler):
    """A logging handler that writes each formatted record to a `LineSink`."""

    def __init__(self, sink: LineSink, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        """Format and write one record; failures are counted by the sink."""
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - never print "--- Logging error ---"
            line = _fallback_line(record, self.formatter)

        self.sink.write_line(line.encode("utf-8"))


def _fallback_line(
    record: logging.LogRecord, formatter: logging.Formatter | None
) -> str:
    """Build a minimal line for a record the formatter could not handle."""
    if isinstance(formatter, JsonLineFormatter):
        clock = formatter.clock
    else:
        clock = SYSTEM_CLOCK

    try:
        record_time = _record_time(record, clock)
    except (TypeError, ValueError, OverflowError, OSError):
        # A record whose `created` was replaced by a value that is not a time.
        record_time = SYSTEM_CLOCK.now()

    fallback = {
        "timestamp": format_timestamp(record_time),
        "level": "error",
        "event": "unformattable log record",
        "logger": str(record.name),
    }
    return render_line(fallback).decode("utf-8")
