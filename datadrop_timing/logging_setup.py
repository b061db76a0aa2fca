"""`configure()`: one call that makes every line a process writes JSON."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO

import structlog

from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.errors import ConfigurationError
from datadrop_timing.exception_text import ExceptionTextMode, set_exception_text_mode
from datadrop_timing.processors import EventFinisher
from datadrop_timing.pseudonym import set_tenant_key
from datadrop_timing.render import render_line
from datadrop_timing.schema import ENTRYPOINTS
from datadrop_timing.server_logs import install_library_log_filters
from datadrop_timing.sink import LineSink
from datadrop_timing.stdlib import (
    JsonLineFormatter,
    LineSinkHandler,
    rename_clashing_extras,
)
from datadrop_timing.timer import _timing_logger

# Loggers that print full URLs, and so could print a webhook token.
QUIET_LOGGERS = ("httpx", "httpcore")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class _ActivePipeline:
    """The sink and finisher of the latest `configure()` call.

    structlog caches each logger on first use, together with its processors
    and logger. Cached loggers reach the sink and the finisher through this
    object, so a second `configure()` call redirects them too.
    """

    def __init__(self) -> None:
        self.sink: LineSink | None = None
        self.finisher: EventFinisher | None = None

    def finish(
        self, logger: object, method_name: str, event: dict[str, Any]
    ) -> dict[str, Any]:
        assert self.finisher is not None
        return self.finisher(logger, method_name, event)


_ACTIVE = _ActivePipeline()


class SinkLogger:
    """The structlog logger at the end of the chain: hands bytes to the sink."""

    def msg(self, message: bytes | str) -> None:
        """Write one rendered event."""
        if isinstance(message, str):
            message = message.encode("utf-8", "replace")
        if _ACTIVE.sink is not None:
            _ACTIVE.sink.write_line(message)

    debug = info = warning = warn = error = critical = exception = fatal = msg


def _sink_logger_factory(*args: Any) -> SinkLogger:
    return SinkLogger()


def _render_bytes(logger: object, method_name: str, event: dict[str, Any]) -> bytes:
    return render_line(event)


class TimingLineWriter:
    """The JSON pipeline for timing lines, without structlog's bound logger.

    It runs the steps of the JSON processor chain in `_processors` on the
    timer's fields: merge the bound context (`merge_contextvars`), add the
    level (`add_log_level`), finish, render and write to the active sink.
    The lines are byte for byte what the chain writes, without the bound
    logger's event copies and processor dispatch. The timer calls only
    `info` and `warning`, and writes at every level, so no level filter is
    needed.
    """

    def info(self, event: str, **fields: Any) -> None:
        """Write a successful operation's line."""
        self._write("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Write a failed operation's line."""
        self._write("warning", event, fields)

    @staticmethod
    def _write(level: str, event: str, fields: dict[str, Any]) -> None:
        fields["event"] = event
        structlog.contextvars.merge_contextvars(None, level, fields)
        fields["level"] = level
        finisher = _ACTIVE.finisher
        if finisher is None:
            return
        # `fields` is this call's own keyword dict, so it is finished in place.
        finished = finisher.finish_owned(level, fields)
        if _ACTIVE.sink is not None:
            _ACTIVE.sink.write_line(render_line(finished))


def configure(
    *,
    service: str,
    entrypoint: str = "bot",
    output: str | os.PathLike[str] | BinaryIO | None = None,
    level: str = "info",
    console: bool = False,
    route_stdlib: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    tenant_key: str | bytes | None = None,
    background: bool = True,
    exception_text: ExceptionTextMode = "scrub",
) -> LineSink:
    """Set up structlog and stdlib logging to write one JSON object per line.

    Call it once at start-up, before the bot or the API starts logging.
    Importing `datadrop_timing` configures nothing by itself. A second call
    sends every logger, cached ones included, to the new output and service
    and closes the previous file; its level applies to loggers first used
    after it.

    Args:
        service: name written as `service` on every line, e.g. `datadrop-bot`.
        entrypoint: default `entrypoint`: `bot`, `api` or `worker`. Context
            bound with `bind_context(entrypoint=...)` overrides it per operation.
        output: a file path to append to (created with mode 0640), a binary
            stream, or None for standard output.
        level: the lowest level of ordinary lines written: debug, info,
            warning, error, critical. Timing lines are written at any level.
        console: render human-readable lines instead of JSON, for local
            development only; `report` cannot read them.
        route_stdlib: also route the root stdlib logger (discord, uvicorn,
            the app's own loggers) through python-json-logger to `output`,
            and make `extra` keys that clash with `LogRecord` attributes
            (`filename`, `name`, ...) appear as `extra_<name>` instead of
            raising KeyError; see `rename_clashing_extras`.
        clock: where timestamps of non-timing lines come from; tests and
            generated workloads pass a `ManualClock`.
        tenant_key: a secret of at least 16 bytes; when given (or set in
            `DATADROP_SLO_TENANT_KEY`), tenants are written as keyed-hash
            pseudonyms instead of guild ids. See `datadrop_timing.pseudonym`.
        background: with a file `output` (the default), write on a thread
            of its own through a queue of 10,000 lines, so a slow disk does
            not block the event loop. Lines keep their order; a log call waits
            only while the queue is full, for at most 1 s, after which lines
            are dropped and counted in `sink.dropped`. Queued
            lines are written at exit and by the next `configure()` call;
            call `datadrop_timing.flush()` to wait for them earlier. Pass
            False to write each line before the log call returns.
        exception_text: how much of exception messages and tracebacks is
            written. `scrub` replaces quoted literals in messages with
            `'[redacted]'`, and e-mail addresses with `[email]`, but keeps
            unquoted text. `drop` writes `[dropped]` as the message and only
            frame locations and type names as the traceback. `keep` writes
            both as Python prints them, for local debugging. Every mode
            replaces Discord ids, webhook URLs and credentials. See
            `datadrop_timing.redaction`.

    Returns:
        The sink every line goes to; `sink.failures` counts lines that
        could not be written.

    Raises:
        ConfigurationError: `entrypoint`, `level` or `exception_text` is not
            one of the values listed above, or `tenant_key` is too short.
    """
    level_number = _level_number(level)
    set_tenant_key(tenant_key)
    if entrypoint not in ENTRYPOINTS:
        msg = f"invalid entrypoint {entrypoint!r}: use one of {', '.join(ENTRYPOINTS)}"
        raise ConfigurationError(msg)
    set_exception_text_mode(exception_text)

    previous, sink = _ACTIVE.sink, LineSink(output, background=background)
    _ACTIVE.sink = sink
    _ACTIVE.finisher = EventFinisher(
        service=service, entrypoint=entrypoint, clock=clock
    )
    processors = _processors(console=console)
    wrapper_class = structlog.make_filtering_bound_logger(level_number)
    structlog.configure(
        processors=processors,
        wrapper_class=wrapper_class,
        logger_factory=_sink_logger_factory,
        cache_logger_on_first_use=True,
    )
    # Timing lines are written at every level: a level above `info` must
    # not drop the successes and leave only failures, which would fake a
    # 100% failure rate.
    _timing_logger.set(_timing_line_logger(processors, console=console))

    install_library_log_filters()
    if route_stdlib:
        formatter = (
            logging.Formatter("%(asctime)s %(levelname)-8s %(name)s %(message)s")
            if console
            else JsonLineFormatter(service=service, entrypoint=entrypoint, clock=clock)
        )
        _route_root_logger(sink, formatter, level_number)
        rename_clashing_extras()

    if previous is not None and previous is not sink:
        previous.close()
    return sink


def _processors(*, console: bool) -> list[Any]:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _ACTIVE.finish,
    ]
    if console:
        return [*shared, structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]

    return [*shared, _render_bytes]


def _route_root_logger(
    sink: LineSink, formatter: logging.Formatter, level_number: int
) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, LineSinkHandler):
            root.removeHandler(handler)

    handler = LineSinkHandler(sink)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level_number)
    _quiet(QUIET_LOGGERS)


def _quiet(names: Iterable[str]) -> None:
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)


def _level_number(level: str) -> int:
    try:
        return _LEVELS[level.lower()]
    except (KeyError, AttributeError):
        msg = f"invalid level {level!r}: use one of {', '.join(_LEVELS)}"
        raise ConfigurationError(msg) from None


def default_timing_logger() -> Any:
    """Return the logger timing lines use before `configure()` is called.

    It writes JSON lines to standard output, like `configure()` with no
    arguments, without changing structlog's or the stdlib's configuration.
    """
    if _ACTIVE.sink is None:
        _ACTIVE.sink = LineSink(None)
    if _ACTIVE.finisher is None:
        _ACTIVE.finisher = EventFinisher()
    return TimingLineWriter()


def _timing_line_logger(processors: list[Any], *, console: bool) -> Any:
    """Return the logger for timing lines, which writes at every level."""
    if not console:
        return TimingLineWriter()
    return structlog.wrap_logger(
        SinkLogger(),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )


def flush() -> None:
    """Wait until every line logged so far is written to the output."""
    if _ACTIVE.sink is not None:
        _ACTIVE.sink.flush()
