"""Notes for stderr: what reading skipped, dropped or could not finish.

Skipped lines are reported per file, per reason, with the first line number,
and in total, so that nothing leaves the numbers without a trace.
"""

from __future__ import annotations

from aggregator.loading import FileStats, ReadStats


def read_notes(stats: ReadStats) -> list[str]:
    """Describe skipped lines, unfinished files and dropped duplicates."""
    notes: list[str] = []
    for file_stats in stats.files:
        notes += _file_notes(file_stats)

    skipped_files = [file for file in stats.files if file.skipped_total]
    if len(skipped_files) > 1:
        notes.append(
            f"skipped {_lines(stats.skipped_total)} in total "
            f"across {len(skipped_files)} files"
        )

    if stats.duplicates:
        notes.append(_duplicates_note(stats))
    return notes


def _file_notes(stats: FileStats) -> list[str]:
    notes = []
    if stats.skipped_total:
        reasons = ", ".join(
            f"{tally.count} {code} (first at line {tally.first_line}: {tally.message})"
            for code, tally in sorted(stats.skipped.items())
        )
        notes.append(
            f"skipped {_lines(stats.skipped_total)} in {stats.path}: {reasons}"
        )

    if stats.error is not None:
        notes.append(
            f"stopped reading {stats.path} after line {stats.lines}: {stats.error}; "
            "the lines before it are counted"
        )
    return notes


def _duplicates_note(stats: ReadStats) -> str:
    note = (
        f"dropped {stats.duplicates:,} duplicate "
        f"{'event' if stats.duplicates == 1 else 'events'} by event_id, "
        "keeping the first of each"
    )
    if stats.conflicting_duplicates:
        note += (
            f"; {stats.conflicting_duplicates:,} of them differed from the kept "
            "line (two writers reusing an event_id?)"
        )
    return note


def _lines(count: int) -> str:
    return f"{count:,} malformed {'line' if count == 1 else 'lines'}"


def describe_reading(stats: ReadStats) -> str:
    """Summarise what was read, for a message about finding no events."""
    files = _count(len(stats.files), "file", "files")
    lines = _count(stats.lines, "line", "lines")
    other = _count(stats.other, "other log line", "other log lines")
    return f"read {files} with {lines}: {other}, {stats.skipped_total:,} malformed"


def _count(number: int, one: str, many: str) -> str:
    return f"{number:,} {one if number == 1 else many}"
