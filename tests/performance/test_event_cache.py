"""The cache of parsed closed files gives the same events and notes as a cold read."""

from __future__ import annotations

import gzip
import os
import stat
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from helpers import timing_line
from polars.testing import assert_frame_equal

from aggregator.cache import EventCache, FileIdentity
from aggregator.event_columns import EVENT_SCHEMA, STORED_SCHEMA
from aggregator.loading import read_files
from cli.main import main
from cli.notes import read_notes

HOUR_S = 3600


def _log_lines(first: int, count: int) -> list[bytes]:
    lines = [timing_line(index) for index in range(first, first + count)]
    lines[3] = b'{"timestamp": "2026-11-30T14:00:00Z", "event": "timing"'
    lines[5] = b'{"timestamp":"2026-11-30T14:00:00.000000Z","event":"ready"}'
    lines[7] = timing_line(first + 7, duration_ms="fast")
    return lines


def _age(path: Path, seconds: float = 2 * HOUR_S) -> None:
    """Set the modification time `seconds` in the past, as a closed file has."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _write_closed(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    _age(path)
    return path


@pytest.fixture
def logs(tmp_path: Path) -> list[Path]:
    """Two closed files, one gzip, sharing some event ids and holding bad lines."""
    first = _write_closed(tmp_path / "a.jsonl", _log_lines(0, 200))
    second = tmp_path / "b.jsonl.gz"
    second.write_bytes(gzip.compress(b"\n".join(_log_lines(150, 200)) + b"\n"))
    _age(second)
    return [first, second]


@pytest.fixture
def cache(tmp_path: Path) -> EventCache:
    return EventCache(tmp_path / "cache" / "datadrop-slo", STORED_SCHEMA)


def _entries(cache: EventCache) -> list[Path]:
    if not cache.folder.exists():
        return []
    return sorted(cache.folder.glob("*.parquet"))


class TestEventCache:
    def test_warm_read_equals_cold(self, logs: list[Path], cache: EventCache) -> None:
        """A read served from the cache returns the cold read's frame and notes."""
        cold_events, cold_stats = read_files(logs)

        first_events, first_stats = read_files(logs, cache=cache)
        warm_events, warm_stats = read_files(logs, cache=cache)

        assert len(_entries(cache)) == 2
        assert_frame_equal(first_events, cold_events)
        assert_frame_equal(warm_events, cold_events)
        assert read_notes(first_stats) == read_notes(cold_stats)
        assert read_notes(warm_stats) == read_notes(cold_stats)
        assert warm_stats.duplicates == cold_stats.duplicates == 47
        assert warm_stats.lines == cold_stats.lines

    def test_entry_modes(self, logs: list[Path], cache: EventCache) -> None:
        """Entries are private: mode 0600 in a folder of mode 0700."""
        read_files(logs, cache=cache)

        assert stat.S_IMODE(cache.folder.stat().st_mode) == 0o700
        for entry in _entries(cache):
            assert stat.S_IMODE(entry.stat().st_mode) == 0o600
        assert not list(cache.folder.glob(".entry-*"))

    def test_appended_file_reread(self, logs: list[Path], cache: EventCache) -> None:
        """Lines appended to a cached file appear in the next read."""
        read_files(logs, cache=cache)
        with logs[0].open("ab") as stream:
            stream.write(timing_line(5000) + b"\n")
        _age(logs[0])

        events, _ = read_files(logs, cache=cache)
        cold_events, _ = read_files(logs)

        assert f"{5000:032x}" in events["event_id"].to_list()
        assert_frame_equal(events, cold_events)

    def test_same_size_rewrite_reread(
        self, logs: list[Path], cache: EventCache
    ) -> None:
        """A file rewritten with the same size but a new mtime is read again."""
        read_files(logs, cache=cache)
        data = logs[0].read_bytes().replace(b'"config.update"', b'"config.delete"')
        logs[0].write_bytes(data)
        _age(logs[0], HOUR_S)

        events, _ = read_files(logs, cache=cache)

        assert "config.delete" in events["action"].to_list()

    def test_recent_file_not_cached(self, tmp_path: Path, cache: EventCache) -> None:
        """A file modified within the last minute may still grow: no entry."""
        path = tmp_path / "live.jsonl"
        path.write_bytes(b"\n".join(_log_lines(0, 20)) + b"\n")

        read_files([path], cache=cache)

        assert _entries(cache) == []

    def test_cut_off_file_not_cached(self, tmp_path: Path, cache: EventCache) -> None:
        """A file whose last line has no newline is being written: no entry."""
        path = tmp_path / "cut.jsonl"
        path.write_bytes(b"\n".join(_log_lines(0, 20)))
        _age(path)

        _, stats = read_files([path], cache=cache)

        assert stats.files[0].is_cut_off
        assert _entries(cache) == []

    def test_corrupt_entry_rebuilt(self, logs: list[Path], cache: EventCache) -> None:
        """An entry that is not Parquet is ignored, and replaced by a good one."""
        cold_events, _ = read_files(logs)
        read_files(logs, cache=cache)
        for entry in _entries(cache):
            entry.write_bytes(b"not parquet")

        events, _ = read_files(logs, cache=cache)
        warm_events, _ = read_files(logs, cache=cache)

        assert_frame_equal(events, cold_events)
        assert_frame_equal(warm_events, cold_events)
        for entry in _entries(cache):
            assert pl.read_parquet(entry).height > 0

    def test_unwritable_folder_recorded(self, logs: list[Path], tmp_path: Path) -> None:
        """A cache that cannot be written leaves the read whole and records why."""
        blocker = tmp_path / "blocker"
        blocker.write_bytes(b"")
        cache = EventCache(blocker / "datadrop-slo", STORED_SCHEMA)

        events, _ = read_files(logs, cache=cache)

        assert events.height == 347
        assert cache.error is not None


class TestMixedFrames:
    def test_cached_and_read_frames_keep_schema(
        self, logs: list[Path], tmp_path: Path, cache: EventCache
    ) -> None:
        """Cached entries and files read now concatenate into string columns."""
        read_files(logs, cache=cache)
        open_file = tmp_path / "open.jsonl"
        open_file.write_bytes(b"\n".join(_log_lines(400, 50)) + b"\n")
        paths = [*logs, open_file]

        mixed_events, _ = read_files(paths, cache=cache)
        cold_events, _ = read_files(paths)

        assert dict(mixed_events.schema) == EVENT_SCHEMA
        assert dict(cold_events.schema) == EVENT_SCHEMA
        assert_frame_equal(mixed_events, cold_events)


class TestReportCacheOption:
    def test_report_uses_xdg_cache(
        self, logs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`report` keeps entries under $XDG_CACHE_HOME/datadrop-slo."""
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

        result = CliRunner().invoke(main, ["report", *map(str, logs)])

        assert result.exit_code == 0, result.output
        assert len(list((tmp_path / "xdg" / "datadrop-slo").glob("*.parquet"))) == 2

    def test_no_cache_writes_nothing(
        self, logs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`report --no-cache` neither reads nor writes the cache folder."""
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))

        result = CliRunner().invoke(main, ["report", "--no-cache", *map(str, logs)])

        assert result.exit_code == 0, result.output
        assert not (tmp_path / "xdg").exists()


REPORT_COLUMNS = ("timestamp", "action", "duration_ms", "outcome", "tenant")


class TestProjection:
    def test_projected_read_equals_full_read(
        self, logs: list[Path], cache: EventCache
    ) -> None:
        """Named columns hold the full read's values, cold, cached and warm."""
        full, full_stats = read_files(logs)
        expected = full.select(REPORT_COLUMNS)

        cold, cold_stats = read_files(logs, columns=REPORT_COLUMNS)
        first, _ = read_files(logs, cache=cache, columns=REPORT_COLUMNS)
        warm, warm_stats = read_files(logs, cache=cache, columns=REPORT_COLUMNS)

        for events in (cold, first, warm):
            assert events.columns == list(REPORT_COLUMNS)
            assert events.schema["action"] == pl.Categorical()
            as_text = events.with_columns(pl.col("action", "outcome").cast(pl.String))
            assert_frame_equal(as_text, expected)
        assert read_notes(cold_stats) == read_notes(full_stats)
        assert read_notes(warm_stats) == read_notes(full_stats)
        assert warm_stats.duplicates == full_stats.duplicates == 47

    def test_unknown_column_named(self, logs: list[Path]) -> None:
        """A column the events do not have is refused, with its name."""
        with pytest.raises(ValueError, match="'latency'"):
            read_files(logs, columns=("action", "latency"))

    def test_conflicting_duplicates_counted_when_projected(
        self, tmp_path: Path
    ) -> None:
        """A repeated id with other values counts as conflicting in any projection."""
        path = tmp_path / "repeated.jsonl"
        lines = [timing_line(1), timing_line(1), timing_line(1, duration_ms=9.5)]
        path.write_bytes(b"\n".join(lines) + b"\n")

        events, stats = read_files([path], columns=("duration_ms",))

        assert events["duration_ms"].to_list() == [1 / 7]
        assert (stats.duplicates, stats.conflicting_duplicates) == (2, 1)


class TestEntryParts:
    @pytest.fixture(autouse=True)
    def small_parts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Write a part file every 40 events, so entries take several parts."""
        monkeypatch.setattr("aggregator.cache.PART_ROWS", 40)

    def test_entry_from_parts_equals_cold(
        self, logs: list[Path], cache: EventCache
    ) -> None:
        """An entry built from parts serves the cold read's events, in order."""
        cold_events, _ = read_files(logs)

        read_files(logs, cache=cache)
        warm_events, _ = read_files(logs, cache=cache)

        assert len(_entries(cache)) == 2
        assert sum(pl.read_parquet(entry).height for entry in _entries(cache)) == 394
        assert_frame_equal(warm_events, cold_events)
        assert not list(cache.folder.glob(".part-*"))
        for entry in _entries(cache):
            assert stat.S_IMODE(entry.stat().st_mode) == 0o600

    def test_parts_removed_when_file_changes(
        self, tmp_path: Path, cache: EventCache
    ) -> None:
        """A file that is still written to leaves neither an entry nor parts."""
        path = _write_closed(tmp_path / "live.jsonl", _log_lines(0, 200))
        original = FileIdentity.of(path)
        calls: list[Path] = []

        def identity_of(target: Path) -> FileIdentity | None:
            # The first call returns the file as it was, and the check after
            # reading returns a changed identity.
            calls.append(target)
            return original if len(calls) == 1 else FileIdentity(0, 0, 0, 0, "")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(FileIdentity, "of", staticmethod(identity_of))
            events, _ = read_files([path], cache=cache)

        assert events.height == 197
        assert _entries(cache) == []
        assert not list(cache.folder.glob(".part-*"))

    def test_stale_temporaries_removed(
        self, logs: list[Path], cache: EventCache
    ) -> None:
        """Parts a killed run left an hour ago go; a running build's stay."""
        cache.folder.mkdir(parents=True)
        stale = [cache.folder / ".part-killed", cache.folder / ".entry-killed"]
        for path in stale:
            path.write_bytes(b"PAR1")
            _age(path)
        fresh = cache.folder / ".part-running"
        fresh.write_bytes(b"PAR1")

        read_files(logs, cache=cache)

        assert [path.exists() for path in stale] == [False, False]
        assert fresh.exists()

    def test_stale_temporaries_removed_by_cached_read(
        self, logs: list[Path], cache: EventCache
    ) -> None:
        """A run that only reads entries also removes what a killed run left."""
        read_files(logs, cache=cache)
        stale = cache.folder / ".part-killed"
        stale.write_bytes(b"PAR1")
        _age(stale)

        read_files(logs, cache=EventCache(cache.folder, STORED_SCHEMA))

        assert not stale.exists()
