"""Timing lines written without structlog's bound logger match the chain's bytes."""

from __future__ import annotations

import io
import logging
from typing import Any

import structlog

from datadrop_timing import bind_context, configure
from datadrop_timing.logging_setup import SinkLogger, TimingLineWriter, _processors
from datadrop_timing.processors import END_TIMESTAMP_KEY


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
