"""Durations, instants and the (since, until] range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from aggregator.errors import InvalidOptionError
from aggregator.timerange import build_range, parse_duration, parse_instant

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(minutes=90)),
        ("1.5h", timedelta(minutes=90)),
        ("2w", timedelta(days=14)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0s", "5x", "1h 30m", "-1h"])
def test_invalid_durations_name_the_value(text: str) -> None:
    with pytest.raises(InvalidOptionError, match=repr(text)):
        parse_duration(text)


def test_instants_with_offsets_become_utc() -> None:
    moment = parse_instant("2026-12-04T13:30:00+01:30")

    assert moment == datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_instant_without_offset_is_refused_with_the_fix() -> None:
    with pytest.raises(
        InvalidOptionError, match=r"no UTC offset.*2026-12-01T00:00:00Z"
    ):
        parse_instant("2026-12-04T12:00:00")


def test_relative_bounds_count_back_from_now() -> None:
    time_range = build_range("24h", "1h", NOW)

    assert time_range.since == NOW - timedelta(hours=24)
    assert time_range.until == NOW - timedelta(hours=1)


def test_since_after_until_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="is not before --until"):
        build_range("1h", "2h", NOW)


def test_range_excludes_since_and_includes_until() -> None:
    stamps = [NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW]
    events = pl.DataFrame({"timestamp": stamps}).with_columns(
        pl.col("timestamp").dt.cast_time_unit("us")
    )

    kept = build_range("2h", "1h", NOW).filter(events)

    assert kept["timestamp"].to_list() == [NOW - timedelta(hours=1)]
