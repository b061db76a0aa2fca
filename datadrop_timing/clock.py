"""Clocks the timer reads: a monotonic one for durations, a wall one for stamps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic nanoseconds and of the current UTC time."""

    def monotonic_ns(self) -> int:
        """Return nanoseconds from an arbitrary start that never goes back."""
        ...

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The process's clocks: `time.perf_counter_ns` and the UTC wall clock."""

    def monotonic_ns(self) -> int:
        """Return `time.perf_counter_ns()`."""
        return time.perf_counter_ns()

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to, for tests and generated workloads.

    Both readings advance together, so a timed block that calls `advance(ms=120)`
    records `duration_ms == 120.0` and a timestamp 120 ms after its start.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            msg = f"start time {start!r} has no time zone: pass an aware UTC datetime"
            raise ValueError(msg)

        self._start = start.astimezone(UTC)
        self._elapsed_ns = 0

    def monotonic_ns(self) -> int:
        """Return the nanoseconds advanced so far."""
        return self._elapsed_ns

    def now(self) -> datetime:
        """Return the start time plus the time advanced so far."""
        return self._start + timedelta(microseconds=self._elapsed_ns // 1000)

    def advance(self, *, ms: float = 0.0, ns: int = 0) -> None:
        """Move both readings forward by `ms` milliseconds plus `ns` nanoseconds."""
        step_ns = round(ms * 1_000_000) + ns
        if step_ns < 0:
            msg = f"cannot move a clock backwards (step {step_ns!r} ns)"
            raise ValueError(msg)

        self._elapsed_ns += step_ns

    def set(self, moment: datetime) -> None:
        """Jump forward to `moment`, an aware datetime not before `now()`."""
        step = moment.astimezone(UTC) - self.now()
        self.advance(ns=(step // timedelta(microseconds=1)) * 1000)


SYSTEM_CLOCK = SystemClock()
