"""The shared line validator: what counts, what is skipped, and why."""

from __future__ import annotations

import json

import pytest
from helpers import case_path

from aggregator.lines import (
    BLANK,
    OTHER,
    Malformed,
    TimingEvent,
    parse_line,
    parse_timestamp_us,
)

VALID = {
    "timestamp": "2026-12-01T07:00:00.250000Z",
    "level": "info",
    "event": "timing",
    "action": "config.update",
    "duration_ms": 12.5,
    "outcome": "success",
    "tenant": "700000000000000001",
    "action_type": "config",
    "entrypoint": "bot",
    "service": "datadrop-bot",
    "event_id": "0" * 32,
    "schema": 1,
}

# 2026-12-01T07:00:00.25Z in microseconds since the epoch, computed by hand:
# 56 years of 365 days plus 14 leap days to 2026-01-01, plus 334 days of
# January to November, then 7 hours and 0.25 s.
VALID_TIMESTAMP_US = ((56 * 365 + 14 + 334) * 86400 + 7 * 3600) * 1_000_000 + 250_000


def _line(**changes: object) -> bytes:
    data = {**VALID, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not _DROP}).encode()


_DROP = object()


class TestAccepted:
    def test_valid_line_is_normalised(self) -> None:
        event = parse_line(_line())

        assert isinstance(event, TimingEvent)
        assert event.timestamp_us == VALID_TIMESTAMP_US
        assert (event.action, event.duration_ms, event.tenant) == (
            "config.update",
            12.5,
            "700000000000000001",
        )

    @pytest.mark.parametrize(
        ("timestamp", "offset_us"),
        [
            ("2026-12-01T07:00:00.25Z", 0),
            ("2026-12-01T07:00:00.250000000Z", 0),
            ("2026-12-01T08:00:00.25+01:00", 0),
            ("2026-12-01T01:30:00.25-05:30", 0),
            ("2026-12-01T07:00:00,25Z", 0),
            ("2026-12-01t07:00:00.25z", 0),
            ("2026-12-01T07:00:00Z", -250_000),
        ],
    )
    def test_any_rfc3339_fraction_and_offset_is_converted_to_utc(
        self, timestamp: str, offset_us: int
    ) -> None:
        assert parse_timestamp_us(timestamp) == VALID_TIMESTAMP_US + offset_us

    def test_integer_duration_and_numeric_tenant_are_exact(self) -> None:
        raw = _line(duration_ms=40).replace(
            b'"700000000000000001"', b"987654321098765432"
        )
        event = parse_line(raw)

        assert isinstance(event, TimingEvent)
        assert (event.duration_ms, event.tenant) == (40.0, "987654321098765432")

    def test_crlf_and_byte_order_mark_are_normalised(self) -> None:
        event = parse_line(b"\xef\xbb\xbf" + _line() + b"\r\n")

        assert isinstance(event, TimingEvent)

    def test_other_log_lines_and_blank_lines_are_not_errors(self) -> None:
        assert parse_line(b'{"event": "heartbeat", "level": "info"}') == OTHER
        assert parse_line(b"   \r\n") == BLANK

    def test_older_schema_and_extra_keys_are_accepted(self) -> None:
        assert isinstance(parse_line(_line(members=3, route=None)), TimingEvent)


class TestRejected:
    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            (b'{"event": "timing", "action": ', "invalid_json"),
            (b'{"event":"timing","duration_ms":NaN}', "invalid_json"),
            (b'{"event":"timing","duration_ms":Infinity}', "invalid_json"),
            (b"\xff\xfe not utf-8", "invalid_utf8"),
            (b"[1, 2, 3]", "not_an_object"),
            (_line(duration_ms=_DROP), "missing_key"),
            (_line(event_id=_DROP), "missing_key"),
            (_line(schema=_DROP), "missing_key"),
            (_line(duration_ms="fast"), "wrong_type"),
            (_line(duration_ms=True), "wrong_type"),
            (_line(tenant=12.5), "wrong_type"),
            (_line(tenant=""), "wrong_type"),
            (_line(status_code=999), "wrong_type"),
            (_line(action=""), "wrong_type"),
            (_line(duration_ms=-1), "invalid_value"),
            (_line(outcome="ok"), "invalid_value"),
            (_line(timestamp="2026-12-01 09:00:03,120"), "timestamp_without_offset"),
            (_line(timestamp="2026-02-30T07:00:00Z"), "invalid_timestamp"),
            (_line(timestamp="yesterday"), "invalid_timestamp"),
            (_line(schema=2), "unsupported_schema"),
            (b'{"event":"timing","pad":"' + b"x" * 1_100_000 + b'"}', "line_too_long"),
        ],
    )
    def test_malformed_line_gets_its_reason(self, raw: bytes, code: str) -> None:
        result = parse_line(raw)

        assert isinstance(result, Malformed)
        assert result.code == code

    def test_cut_off_last_line_is_truncated_not_invalid(self) -> None:
        result = parse_line(_line()[:40], is_complete=False)

        assert isinstance(result, Malformed)
        assert result.code == "truncated_line"

    def test_message_names_the_key_and_value(self) -> None:
        result = parse_line(_line(duration_ms="fast"))

        assert isinstance(result, Malformed)
        assert "'duration_ms'" in result.message
        assert "'fast'" in result.message


class TestCases:
    def test_naive_timestamps_are_rejected_never_misread(self) -> None:
        lines = case_path("C06").read_bytes().splitlines()
        results = [parse_line(line) for line in lines]

        naive = [r for r in results if isinstance(r, Malformed)]
        events = [r for r in results if isinstance(r, TimingEvent)]
        assert [r.code for r in naive] == ["timestamp_without_offset"] * 3
        assert len(events) == 3

    def test_escaped_and_raw_unicode_are_one_action(self) -> None:
        lines = case_path("C07").read_bytes().splitlines()
        results = [parse_line(line) for line in lines]

        durations: dict[str, list[float]] = {}
        for result in results:
            if isinstance(result, TimingEvent):
                durations.setdefault(result.action, []).append(result.duration_ms)
        assert durations["bot.app_command.привет"] == [50.0, 70.0, 60.0]
        assert durations["bot.app_command.🚀launch"] == [300.0, 500.0]
        lone = [r for r in results if isinstance(r, Malformed)]
        assert [r.code for r in lone] == ["invalid_json"]
