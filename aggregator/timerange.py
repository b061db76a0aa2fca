"""Time ranges: durations such as `24h` and instants such as `2026-12-01T00:00:00Z`.

A range holds the events with `since < timestamp <= until`, the convention of
sliding windows that end at the moment of evaluation. Relative values are
measured back from `now`, so a fixed `--now` makes every run reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from aggregator.errors import InvalidOptionError

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

_UNIT_S = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}

# About 100 years: longer durations overflow datetime arithmetic.
_MAX_DURATION_S = 100 * 366 * 86400

_DURATION_HINT = "use a number and a unit such as 90s, 30m, 24h, 7d or 1h30m"

_INSTANT_HINT = "use an RFC 3339 timestamp with an offset, e.g. 2026-12-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The events with `since < timestamp <= until`; None leaves a side open."""

    since: datetime | None = None
    until: datetime | None = None

    def filter(self, events: pl.DataFrame) -> pl.DataFrame:
        """Keep the events inside the range."""
        condition = pl.lit(value=True)
        if self.since is not None:
            condition &= pl.col("timestamp") > self.since
        if self.until is not None:
            condition &= pl.col("timestamp") <= self.until
        return events.filter(condition)

    def describe(self) -> str:
        start = format_instant(self.since) if self.since else "start"
        end = format_instant(self.until) if self.until else "end"
        return f"{start} .. {end}"


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `500ms`, `30m`, `24h` or `1h30m`.

    Raises:
        InvalidOptionError: the text is not a positive duration.
    """
    cleaned = text.strip().lower()
    position = 0
    total_s = 0.0
    for match in _DURATION_RE.finditer(cleaned):
        if match.start() != position:
            break
        total_s += float(match.group(1)) * _UNIT_S[match.group(2)]
        position = match.end()

    if not cleaned or position != len(cleaned) or not 0 < total_s <= _MAX_DURATION_S:
        msg = f"duration {text!r} is not valid: {_DURATION_HINT}"
        raise InvalidOptionError(msg)
    return timedelta(seconds=total_s)


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset into an aware UTC datetime.

    Raises:
        InvalidOptionError: the text is not a timestamp, or has no offset.
    """
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError:
        msg = f"timestamp {text!r} is not valid: {_INSTANT_HINT}"
        raise InvalidOptionError(msg) from None

    if moment.tzinfo is None:
        msg = f"timestamp {text!r} has no UTC offset: {_INSTANT_HINT}"
        raise InvalidOptionError(msg)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        msg = f"timestamp {text!r} is out of range: {_INSTANT_HINT}"
        raise InvalidOptionError(msg) from None


def parse_bound(text: str, now: datetime) -> datetime:
    """Parse `--since`/`--until`: a duration back from `now`, or a timestamp."""
    try:
        return now - parse_duration(text)
    except InvalidOptionError:
        pass
    except OverflowError:
        msg = f"time {text!r} reaches before year 1: use a shorter duration"
        raise InvalidOptionError(msg) from None

    if _DATE_RE.match(text.strip()):
        return parse_instant(text)

    try:
        return parse_instant(text)
    except InvalidOptionError:
        msg = (
            f"time {text!r} is neither a duration nor a timestamp: "
            f"{_DURATION_HINT}, or {_INSTANT_HINT}"
        )
        raise InvalidOptionError(msg) from None


def build_range(
    since: str | None, until: str | None, now: datetime | None = None
) -> TimeRange:
    """Build the range for `--since` and `--until`, relative to `now`.

    Raises:
        InvalidOptionError: a bound is invalid, or `since` is not before `until`.
    """
    reference = now or datetime.now(UTC)
    start = parse_bound(since, reference) if since else None
    end = parse_bound(until, reference) if until else None

    if start is not None and end is not None and start >= end:
        msg = (
            f"--since {format_instant(start)} is not before --until "
            f"{format_instant(end)}: swap them or widen the range"
        )
        raise InvalidOptionError(msg)
    return TimeRange(start, end)


def format_instant(moment: datetime) -> str:
    """Format as RFC 3339 UTC with seconds, or microseconds when present."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
