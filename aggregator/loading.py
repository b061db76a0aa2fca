"""Read timing events from log files into a polars DataFrame.

Every line is classified as the shared validator in `aggregator.lines`
classifies it: lines in the exact form writers emit are proven valid in
batches with polars (`aggregator.fast_reader`), and every other line goes
through `parse_line` itself.
Nothing is dropped silently: malformed lines are counted per file and per
reason, with the first line number of each reason, and events that repeat an
`event_id` (a re-shipped file) are counted as duplicates, keeping the first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from aggregator.cache import EventCache, FileIdentity
from aggregator.errors import UnreadableInputError
from aggregator.event_columns import EVENT_SCHEMA, ID_HASH_COLUMNS
from aggregator.fast_reader import BatchResult, classify_batch, empty_events
from aggregator.files import LineSource, RawLine, find_log_files
from aggregator.line_batches import LineBatch, iter_line_batches
from aggregator.lines import (
    BLANK,
    OTHER,
    Malformed,
    ParseResult,
    TimingEvent,
    parse_line,
)
from aggregator.projection import ALL_COLUMNS, Projection
from aggregator.read_ahead import classify_ahead

__all__ = [
    "EVENT_SCHEMA",
    "FileStats",
    "ProgressCallback",
    "ReadStats",
    "SkipTally",
    "read_events",
    "read_files",
]

_FIELDS = (
    "action",
    "action_type",
    "duration_ms",
    "outcome",
    "error_type",
    "entrypoint",
    "tenant",
    "event_id",
    "service",
    "route",
    "method",
    "status_code",
    "ack_ms",
)


@dataclass(slots=True)
class SkipTally:
    """How many lines of a file were skipped for one reason, and where first."""

    count: int
    first_line: int
    message: str


@dataclass(slots=True)
class FileStats:
    """Counts from reading one file."""

    path: Path
    lines: int = 0
    events: int = 0
    other: int = 0
    blank: int = 0
    skipped: dict[str, SkipTally] = field(default_factory=dict)
    error: str | None = None
    # True when the last line has no newline: a writer may still append to it.
    is_cut_off: bool = False

    @property
    def skipped_total(self) -> int:
        return sum(tally.count for tally in self.skipped.values())

    def count_malformed(self, line_number: int, malformed: Malformed) -> None:
        tally = self.skipped.get(malformed.code)
        if tally is None:
            self.skipped[malformed.code] = SkipTally(1, line_number, malformed.message)
        else:
            tally.count += 1


@dataclass(slots=True)
class ReadStats:
    """Counts from reading all inputs: per file, and of dropped duplicates."""

    files: list[FileStats] = field(default_factory=list)
    duplicates: int = 0
    conflicting_duplicates: int = 0

    @property
    def lines(self) -> int:
        return sum(stats.lines for stats in self.files)

    @property
    def events(self) -> int:
        """Timing events kept after de-duplication."""
        return sum(stats.events for stats in self.files) - self.duplicates

    @property
    def other(self) -> int:
        return sum(stats.other for stats in self.files)

    @property
    def skipped_total(self) -> int:
        return sum(stats.skipped_total for stats in self.files)

    @property
    def file_errors(self) -> list[FileStats]:
        return [stats for stats in self.files if stats.error is not None]


ProgressCallback = Callable[[int, int, Path], None]


class _Columns:
    """Column lists filled one event at a time."""

    def __init__(self) -> None:
        self.line_numbers: list[int] = []
        self.timestamp_us: list[int] = []
        self.values: dict[str, list[object]] = {name: [] for name in _FIELDS}

    def append(self, line_number: int, event: TimingEvent) -> None:
        self.line_numbers.append(line_number)
        self.timestamp_us.append(event.timestamp_us)
        for name, column in self.values.items():
            column.append(getattr(event, name))

    def to_frame(self) -> pl.DataFrame:
        """Return the events with a `line_number` column, then `EVENT_SCHEMA`."""
        columns: dict[str, pl.Series] = {
            "line_number": pl.Series(
                "line_number", self.line_numbers, dtype=pl.Int64()
            ),
            "timestamp": pl.Series(
                "timestamp", self.timestamp_us, dtype=pl.Int64()
            ).cast(EVENT_SCHEMA["timestamp"]),
        }
        for name, values in self.values.items():
            columns[name] = pl.Series(name, values, dtype=EVENT_SCHEMA[name])
        return pl.DataFrame(columns)


def read_events(
    paths: Iterable[str | os.PathLike[str]],
    *,
    on_file: ProgressCallback | None = None,
    cache: EventCache | None = None,
    columns: Iterable[str] | None = None,
) -> tuple[pl.DataFrame, ReadStats]:
    """Read, validate and de-duplicate the timing events of files and folders.

    Args:
        paths: files or folders; folders contribute their log files.
        on_file: called after each file as `on_file(done, total, path)`.
        cache: where to keep and find the parsed events of closed files;
            None reads every file in full.
        columns: the event columns to return; None returns every column.
            Fewer columns take less memory and time.

    Returns:
        The events, one row each, in first-seen order: with None for
        `columns`, every column of `EVENT_SCHEMA` in its types; otherwise
        the named columns in `COMPACT_SCHEMA` types (low-cardinality keys
        categorical). Also the counts of what was read and skipped.

    Raises:
        InputError: a path is missing or unreadable, or a folder contains no logs.
        ValueError: `columns` names a column that `EVENT_SCHEMA` lacks.
    """
    files = find_log_files(paths)
    return read_files(files, on_file=on_file, cache=cache, columns=columns)


def read_files(
    files: list[Path],
    *,
    on_file: ProgressCallback | None = None,
    cache: EventCache | None = None,
    columns: Iterable[str] | None = None,
) -> tuple[pl.DataFrame, ReadStats]:
    """Read, validate and de-duplicate the timing events of these files.

    With a `cache`, a closed file is read from its entry when the entry is
    current, and stored in the cache otherwise. The result is the same.
    `columns` is as for `read_events`.
    """
    projection = Projection.of(columns)
    stats = ReadStats()
    frames: list[pl.DataFrame] = []

    for index, path in enumerate(files, start=1):
        if cache is None:
            stats.files.append(_read_file(path, frames.append, projection))
        else:
            stats.files.append(_read_file_cached(path, frames, cache, projection))
        if on_file is not None:
            on_file(index, len(files), path)

    events = _drop_duplicates(_concat_events(frames, projection), stats)
    return projection.finish(events), stats


def _concat_events(frames: list[pl.DataFrame], projection: Projection) -> pl.DataFrame:
    """Concatenate compact frames of the projection's columns.

    Chunks are kept as read, because rechunking would copy every event again.
    """
    empty = projection.compact(empty_events())
    return pl.concat([empty, *frames], how="vertical", rechunk=False)


def _read_file_cached(
    path: Path, frames: list[pl.DataFrame], cache: EventCache, projection: Projection
) -> FileStats:
    """Read one file from `cache` if its entry is current; else read and store it."""
    identity = FileIdentity.of(path)
    is_closed = identity is not None and identity.is_closed(time.time())
    if identity is None or not is_closed:
        return _read_file(path, frames.append, projection)

    cached = cache.load(identity, projection.stored)
    if cached is not None:
        stats = _stats_from_counts(path, cached.counts)
        if stats is not None and stats.events == cached.events.height:
            frames.append(cached.events)
            return stats

    # Entries hold every column, so that any later projection can use them.
    writer = cache.writer(identity)

    def keep(events: pl.DataFrame) -> None:
        writer.add(events)
        frames.append(projection.compact(events))

    try:
        stats = _read_file(path, keep, ALL_COLUMNS)
    except BaseException:
        writer.discard()
        raise

    is_unchanged = FileIdentity.of(path) == identity
    if is_unchanged and stats.error is None and not stats.is_cut_off:
        writer.commit(_counts_of(stats))
    else:
        writer.discard()
    return stats


def _counts_of(stats: FileStats) -> dict[str, object]:
    return {
        "lines": stats.lines,
        "events": stats.events,
        "other": stats.other,
        "blank": stats.blank,
        "skipped": {
            code: [tally.count, tally.first_line, tally.message]
            for code, tally in stats.skipped.items()
        },
    }


def _stats_from_counts(path: Path, counts: dict[str, Any]) -> FileStats | None:
    """Rebuild a file's counts from a cache entry; None if they are not valid."""
    try:
        skipped = {
            str(code): SkipTally(int(count), int(first_line), str(message))
            for code, (count, first_line, message) in counts["skipped"].items()
        }
        return FileStats(
            path,
            lines=int(counts["lines"]),
            events=int(counts["events"]),
            other=int(counts["other"]),
            blank=int(counts["blank"]),
            skipped=skipped,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _read_file(
    path: Path,
    keep: Callable[[pl.DataFrame], None],
    projection: Projection,
) -> FileStats:
    """Read one file, handing each batch's events to `keep` in file order."""
    stats = FileStats(path)
    source = LineSource(path)

    def classify(batch: LineBatch) -> BatchResult:
        result = classify_batch(batch, projection.decoded)
        result.events = projection.compact(result.events, line_numbers=True)
        return result

    items = iter_line_batches(source.chunks())
    try:
        for item, batch in classify_ahead(items, classify):
            if isinstance(item, RawLine) and not item.is_complete:
                stats.is_cut_off = True
            keep(_read_item(item, batch, stats, projection))
    except OSError as error:
        msg = (
            f"input {str(path)!r} could not be read: {error.strerror or error}; "
            "check that it still exists and is readable"
        )
        raise UnreadableInputError(msg) from error

    if source.error is not None:
        stats.error = source.error.message
    return stats


def _read_item(
    item: LineBatch | RawLine,
    batch: BatchResult | None,
    stats: FileStats,
    projection: Projection,
) -> pl.DataFrame:
    """Count one classified batch, or parse one line read alone.

    Returns the item's events in line order, compacted by `projection`.
    """
    columns = _Columns()
    if isinstance(item, RawLine):
        stats.lines += 1
        result = parse_line(item.data, is_complete=item.is_complete)
        _classify(result, item.number, stats, columns)
        return projection.compact(columns.to_frame())

    assert batch is not None, "a line batch comes with its classification"
    stats.lines += item.line_count
    stats.events += batch.events.height
    stats.other += batch.other
    for line_number, result in batch.fallback:
        _classify(result, line_number, stats, columns)

    if not columns.line_numbers:
        return batch.events.drop("line_number")

    fallback = projection.compact(columns.to_frame(), line_numbers=True)
    merged = pl.concat([batch.events, fallback], how="vertical")
    return merged.sort("line_number").drop("line_number")


def _classify(
    result: ParseResult, line_number: int, stats: FileStats, columns: _Columns
) -> None:
    if isinstance(result, TimingEvent):
        stats.events += 1
        columns.append(line_number, result)
    elif isinstance(result, Malformed):
        stats.count_malformed(line_number, result)
    elif result == OTHER:
        stats.other += 1
    elif result == BLANK:
        stats.blank += 1


def _drop_duplicates(events: pl.DataFrame, stats: ReadStats) -> pl.DataFrame:
    """Keep the first event of each `event_id`; count the rest.

    Events are the same when both id hashes are equal. Among those, the ones
    that differ in another column read are counted as conflicting.
    """
    # A mask rather than `unique`: without duplicates, no column is copied.
    is_first = _first_of_each_id(events)
    stats.duplicates = events.height - int(is_first.sum())
    if stats.duplicates == 0:
        return events
    unique = events.filter(is_first)

    # Only the rows of repeated ids are compared, so one repeat does not
    # copy every event.
    repeated_ids = events.filter(~is_first).select(ID_HASH_COLUMNS).unique()
    repeated = events.join(repeated_ids, on=ID_HASH_COLUMNS, how="semi")
    variants = (
        repeated.unique(maintain_order=False)
        .group_by(ID_HASH_COLUMNS)
        .len()
        .filter(pl.col("len") > 1)
    )
    stats.conflicting_duplicates = int(variants["len"].sum() - variants.height)
    return unique


def _first_of_each_id(events: pl.DataFrame) -> pl.Series:
    """Mark the first row of each event id, comparing the first hash first.

    Rows whose first hash was seen before (repeated ids, or a collision of
    that hash) are decided again by both hashes together. Two different ids
    share both 64-bit hashes with a chance near n^2 / 2^129: below 1e-22
    for 100 million events.
    """
    hashes = events[ID_HASH_COLUMNS[0]]
    # Counting distinct hashes is about twice as fast as marking first ones.
    if hashes.n_unique() == hashes.len():
        return pl.repeat(True, hashes.len(), dtype=pl.Boolean, eager=True)

    is_first = hashes.is_first_distinct()
    if is_first.all():
        return is_first

    repeated_hashes = hashes.filter(~is_first).unique()
    suspects = hashes.is_in(repeated_hashes.implode()).arg_true()
    both = events.select(ID_HASH_COLUMNS).select(pl.struct(ID_HASH_COLUMNS))
    exact = both.to_series().gather(suspects).is_first_distinct()
    return is_first.scatter(suspects, exact)
