"""The timer: one timing line per operation, as a context manager or decorator.

    with timed("config.update", tenant=guild_id) as span:
        ...

    @timed("verification.submit")
    async def submit(...): ...

An exception marks the operation as a failure, records `error_type` and is
re-raised unchanged; `asyncio.CancelledError` is recorded the same way. A
rejection caused by the user (invalid input, a failed check) is recorded with
`span.reject(...)`: outcome `success`, with `error_type` set, so it counts in
latency but not in the failure rate.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.context import normalise_tenant
from datadrop_timing.errors import ConfigurationError
from datadrop_timing.processors import END_TIMESTAMP_KEY
from datadrop_timing.schema import (
    ENTRYPOINTS,
    EXTRA_PREFIX,
    RESERVED_KEYS,
    SCHEMA_VERSION,
    TIMING_EVENT,
    action_type_of,
    format_timestamp,
    normalise_action,
    validate_action,
)

P = ParamSpec("P")
R = TypeVar("R")

_UNSET: Any = object()


class _LoggerHolder:
    """The logger timing lines go to; `configure()` replaces it."""

    def __init__(self) -> None:
        self.logger: Any = None

    def set(self, logger: Any) -> None:
        self.logger = logger

    def get(self) -> Any:
        if self.logger is None:
            # Without configure(), timing lines are still JSON lines, on stdout.
            from datadrop_timing.logging_setup import default_timing_logger

            self.logger = default_timing_logger()
        return self.logger


_timing_logger = _LoggerHolder()


class Span:
    """One running timed operation; what `with timed(...) as span` binds.

    Not thread-safe: use a span from the task or thread that opened it.
    """

    __slots__ = (
        "_ack_ns",
        "_clock",
        "_rejects",
        "_start_ns",
        "error_type",
        "fields",
        "is_failure",
    )

    def __init__(
        self,
        clock: Clock,
        fields: dict[str, Any],
        rejects: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._clock = clock
        self._rejects = rejects
        self._start_ns = clock.monotonic_ns()
        self._ack_ns: int | None = None
        self.fields = fields
        self.error_type: str | None = None
        self.is_failure = False

    def fail(self, error_type: str) -> None:
        """Mark the operation as a failure on our side without raising."""
        self.is_failure = True
        self.error_type = error_type

    def reject(self, error_type: str) -> None:
        """Record a rejection caused by the user: outcome stays `success`."""
        self.is_failure = False
        self.error_type = error_type

    def set(self, **fields: Any) -> None:
        """Add fields to the timing line, such as `status_code=404`."""
        self.fields.update(_safe_fields(fields))

    def set_tenant(self, tenant: object) -> None:
        """Set the tenant once it is known, such as after a lookup."""
        self.fields["tenant"] = normalise_tenant(tenant)

    def rename(self, action: str, *, normalise: bool = True) -> None:
        """Change the action once it is known, such as a subcommand's name.

        The action type follows the new first segment unless it was given
        explicitly. A run-time name is normalised; pass `normalise=False` to
        check it instead (raises `InvalidActionError`).
        """
        old_type = action_type_of(self.fields["action"])
        action = normalise_action(action) if normalise else validate_action(action)
        self.fields["action"] = action
        if self.fields.get("action_type") == old_type:
            self.fields["action_type"] = action_type_of(action)

    def mark_ack(self) -> None:
        """Record now as the first acknowledgement; later calls are ignored."""
        if self._ack_ns is None:
            self._ack_ns = self._clock.monotonic_ns()

    def elapsed_ms(self) -> float:
        """Return the milliseconds since the span started."""
        return (self._clock.monotonic_ns() - self._start_ns) / 1_000_000

    def _finish(self, error: BaseException | None) -> None:
        """Write the timing line; never raises."""
        try:
            duration_ms = self.elapsed_ms()
            end = _end_timestamp(self._clock)
            if isinstance(error, self._rejects):
                self.reject(type(error).__name__)
            elif error is not None:
                self.fail(type(error).__name__)
            if self._ack_ns is not None:
                self.fields["ack_ms"] = (self._ack_ns - self._start_ns) / 1_000_000

            _emit(self, duration_ms, end)
        except Exception:  # noqa: BLE001 - timing must not break the operation
            pass


def _end_timestamp(clock: Clock) -> str:
    """Return the clock's current time formatted as `format_timestamp` does."""
    if clock is not SYSTEM_CLOCK:
        return format_timestamp(clock.now())

    # The system clock's time is formatted from `time.time_ns()` with the
    # text up to the second cached: 0.46 us, where `datetime.now` and
    # `format_timestamp` took 2.4 us (`timeit`, 2-core VM). Like
    # `datetime.now`, it truncates to whole microseconds.
    global _second_text
    now_us = time.time_ns() // 1000
    second, micros = divmod(now_us, 1_000_000)
    cached_second, text = _second_text
    if second != cached_second:
        moment = datetime.fromtimestamp(second, UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        _second_text = (second, text)
    return f"{text}.{micros:06d}Z"


# The last whole second formatted by `_end_timestamp`, and its text. One
# tuple is read and replaced at once, so threads never see a torn pair.
_second_text: tuple[int, str] = (-1, "")


def _emit(span: Span, duration_ms: float, timestamp: str) -> None:
    fields = span.fields
    fields[END_TIMESTAMP_KEY] = timestamp
    fields["duration_ms"] = duration_ms
    fields["outcome"] = "failure" if span.is_failure else "success"
    if span.error_type is not None:
        fields["error_type"] = span.error_type
    fields["event_id"] = os.urandom(16).hex()
    fields["schema"] = SCHEMA_VERSION

    logger = _timing_logger.get()
    if span.is_failure:
        logger.warning(TIMING_EVENT, **fields)
    else:
        logger.info(TIMING_EVENT, **fields)


class timed:  # noqa: N801 - used like a function: `with timed(...)`, `@timed(...)`
    """Time an operation as a context manager, async context manager or decorator.

    Args:
        action: dotted lowercase name such as `config.update`; checked here.
        action_type: the group of related actions; the first segment of
            `action` when omitted.
        tenant: the Discord guild id (an int is kept exact as a string), or
            None for no guild; taken from the bound context when omitted.
        entrypoint: `bot`, `api` or `worker`; from the context or `configure()`
            when omitted.
        clock: the clock to read; tests pass a `ManualClock`.
        normalise: set for names computed at run time, such as a command
            name: the name is normalised instead of checked, and never raises.
        rejects: exception types caused by the user (invalid input, a wrong
            code): when one propagates, the line records a rejection (outcome
            `success` with `error_type`) and the exception is re-raised.
        **fields: extra fields written on the line. A field named like a
            schema key is written as `extra_<name>`.

    Raises:
        InvalidActionError: `action` is not a valid action name.
        TypeError: `action_type` is not a non-empty string.
        ConfigurationError: `entrypoint` is not `bot`, `api` or `worker`.

    Each `with` block or decorated call gets its own `Span`, so one `timed`
    object may decorate a function that runs concurrently. As a context
    manager, enter each `timed` object once at a time.
    """

    __slots__ = ("_clock", "_fields", "_rejects", "_span")

    def __init__(
        self,
        action: str,
        *,
        action_type: str | None = None,
        tenant: object = _UNSET,
        entrypoint: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        normalise: bool = False,
        rejects: tuple[type[BaseException], ...] = (),
        **fields: Any,
    ) -> None:
        action = normalise_action(action) if normalise else validate_action(action)
        _check_parameters(action_type, entrypoint)
        base = _safe_fields(fields)
        base["action"] = action
        base["action_type"] = action_type or action_type_of(action)
        if tenant is not _UNSET:
            base["tenant"] = normalise_tenant(tenant)
        if entrypoint is not None:
            base["entrypoint"] = entrypoint

        self._fields = base
        self._clock = clock
        self._rejects = rejects
        self._span: Span | None = None

    def start(self) -> Span:
        """Start a new span; the caller must end it with `finish()`."""
        return Span(self._clock, dict(self._fields), self._rejects)

    @staticmethod
    def finish(span: Span, error: BaseException | None = None) -> None:
        """End a span from `start()` and write its line; never raises."""
        span._finish(error)

    def __enter__(self) -> Span:
        if self._span is not None:
            msg = "this timed() object is already active: create one per block"
            raise RuntimeError(msg)
        self._span = self.start()
        return self._span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, self._span = self._span, None
        if span is not None:
            span._finish(exc)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function so that each call is timed."""
        if inspect.iscoroutinefunction(function):
            return cast(Callable[P, R], self._wrap_async(function))
        return self._wrap_sync(function)

    def _wrap_sync(self, function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            span = self.start()
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                span._finish(error)
                raise
            span._finish(None)
            return result

        return wrapper

    def _wrap_async(self, function: Callable[P, Any]) -> Callable[P, Any]:
        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            span = self.start()
            try:
                result = await function(*args, **kwargs)
            except BaseException as error:
                span._finish(error)
                raise
            span._finish(None)
            return result

        return wrapper


def _check_parameters(action_type: object, entrypoint: object) -> None:
    if action_type is not None and not (isinstance(action_type, str) and action_type):
        msg = f"action_type {action_type!r} is invalid: use a non-empty string"
        raise TypeError(msg)
    if entrypoint is not None and entrypoint not in ENTRYPOINTS:
        msg = (
            f"entrypoint {entrypoint!r} is invalid: use one of {', '.join(ENTRYPOINTS)}"
        )
        raise ConfigurationError(msg)


def _safe_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Rename fields that would replace a schema key to `extra_<name>`."""
    return {
        (EXTRA_PREFIX + key if key in RESERVED_KEYS else key): value
        for key, value in fields.items()
    }
