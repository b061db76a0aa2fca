"""Timing lines written without structlog's bound logger match the chain's bytes.

The end timestamp's fast path gives `format_timestamp`'s text too.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from datadrop_timing import bind_context, configure, timer
from datadrop_timing.clock import SYSTEM_CLOCK, ManualClock
from datadrop_timing.logging_setup import SinkLogger, TimingLineWriter, _processors
from datadrop_timing.processors import END_TIMESTAMP_KEY
from datadrop_timing.schema import format_timestamp


def _fields() -> dict[str, Any]:
    return {
        "action": "config.update",
        "action_type": "config",
        "route": "/guilds/{id}",
        "details": {"webhook_url": "https://example.test/x", "size": 3},
        "note": "Authorization: Bearer abcdefghijkl",
        "auth_token": "never written",
        END_TIMESTAMP_KEY: "2026-12-04T10:00:00.000001Z",
        "duration_ms": 12.5,
        "outcome": "failure",
        "error_type": "TimeoutError",
        "event_id": "0" * 32,
        "schema": 1,
    }


def _write_both(level: str) -> list[bytes]:
    stream = io.BytesIO()
    configure(service="datadrop-bot", output=stream, route_stdlib=False)
    chain = structlog.wrap_logger(
        SinkLogger(),
        processors=_processors(console=False),
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    with bind_context(tenant=1444299331546478261, request_id="r-1"):
        getattr(TimingLineWriter(), level)("timing", **_fields())
        getattr(chain, level)("timing", **_fields())
    return stream.getvalue().splitlines()


class TestTimingLineWriter:
    def test_info_line_matches_chain(self) -> None:
        """An `info` line has the same bytes as through the processor chain."""
        direct, chained = _write_both("info")

        assert direct == chained

    def test_warning_line_matches_chain(self) -> None:
        """A `warning` line has the same bytes, level included."""
        direct, chained = _write_both("warning")

        assert direct == chained
        assert b'"level":"warning"' in direct

    def test_sensitive_keys_dropped(self) -> None:
        """Redaction still applies to lines written directly."""
        direct, _ = _write_both("info")

        assert b"never written" not in direct
        assert b"example.test" not in direct
        assert b"abcdefghijkl" not in direct


class TestEndTimestamp:
    @pytest.mark.parametrize(
        "now_ns",
        [
            1_764_806_400_000_000_000,
            1_764_806_400_999_999_999,
            1_764_806_401_000_000_999,
            1_764_806_400_000_123_456,
        ],
    )
    def test_matches_format_timestamp(
        self, monkeypatch: pytest.MonkeyPatch, now_ns: int
    ) -> None:
        """The cached-second text equals `format_timestamp`, across seconds."""
        monkeypatch.setattr(timer.time, "time_ns", lambda: now_ns)
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=now_ns // 1000
        )

        assert timer._end_timestamp(SYSTEM_CLOCK) == format_timestamp(moment)

    def test_manual_clock_used(self) -> None:
        """A clock other than the system clock is read through `now()`."""
        clock = ManualClock(datetime(2026, 12, 4, 10, 0, 0, 5, tzinfo=UTC))

        assert timer._end_timestamp(clock) == "2026-12-04T10:00:00.000005Z"
