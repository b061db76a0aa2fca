"""Cache entries of another file, or of a crashed read, are not used.

An entry whose stored identity differs from the file's is ignored and
replaced; an entry whose reader died while reading it is removed.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import timing_line

from aggregator.cache import EventCache, FileIdentity
from aggregator.event_columns import STORED_SCHEMA
from aggregator.loading import read_files

HOUR_NS = 3600 * 10**9


def _write_closed(path: Path, durations: list[float], mtime_ns: int) -> Path:
    lines = [
        timing_line(index, duration_ms=value) for index, value in enumerate(durations)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


@pytest.fixture
def cache(tmp_path: Path) -> EventCache:
    return EventCache(tmp_path / "cache" / "datadrop-slo", STORED_SCHEMA)


def _entry(cache: EventCache, path: Path) -> Path:
    identity = FileIdentity.of(path)
    assert identity is not None
    return cache.folder / identity.entry_name()


def test_swapped_entry_ignored(tmp_path: Path, cache: EventCache) -> None:
    """An entry built for another file of equal size and mtime is not used.

    Files unpacked from ustar or zip archives have mtimes without a fraction
    of a second, so equal values are plausible. A new file on a reused inode
    gets the old file's entry name.
    """
    mtime_ns = (time.time_ns() - 2 * HOUR_NS) // 10**9 * 10**9
    fast = _write_closed(tmp_path / "fast.jsonl", [10.0] * 50, mtime_ns)
    slow = _write_closed(tmp_path / "slow.jsonl", [90.0] * 50, mtime_ns)
    assert fast.stat().st_size == slow.stat().st_size
    read_files([fast], cache=cache)
    read_files([slow], cache=cache)
    fast_entry, slow_entry = _entry(cache, fast), _entry(cache, slow)
    swap = cache.folder / "swap"
    fast_entry.rename(swap)
    slow_entry.rename(fast_entry)
    swap.rename(slow_entry)

    events, _ = read_files([fast], cache=cache)

    assert events["duration_ms"].unique().to_list() == [10.0]


def test_read_only_folder_not_widened(tmp_path: Path, cache: EventCache) -> None:
    """A cache folder made read-only (0500) by its owner is not made writable."""
    mtime_ns = time.time_ns() - 2 * HOUR_NS
    log = _write_closed(tmp_path / "app.jsonl", [1.0] * 5, mtime_ns)
    cache.folder.mkdir(parents=True, mode=0o500)
    os.chmod(cache.folder, 0o500)

    events, _ = read_files([log], cache=cache)

    assert events.height == 5
    assert stat.S_IMODE(cache.folder.stat().st_mode) & 0o200 == 0


_CRASHING_READ = """
import os, sys
from pathlib import Path

import polars as pl

from aggregator.cache import EventCache
from aggregator.event_columns import STORED_SCHEMA
from aggregator.loading import read_files


def abort(*arguments, **options):
    # What a corrupt length in an entry does inside polars: no exception.
    os.abort()


pl.read_parquet = abort
read_files([Path(sys.argv[1])], cache=EventCache(Path(sys.argv[2]), STORED_SCHEMA))
"""


def test_entry_that_aborted_reader_rebuilt(tmp_path: Path, cache: EventCache) -> None:
    """A read that aborts on an entry leaves a marker; the next run drops the entry."""
    mtime_ns = time.time_ns() - 2 * HOUR_NS
    log = _write_closed(tmp_path / "app.jsonl", [5.0] * 20, mtime_ns)
    read_files([log], cache=cache)
    entry = _entry(cache, log)
    first_written_ns = entry.stat().st_mtime_ns

    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_CRASHING_READ),
            str(log),
            str(cache.folder),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    markers = list(cache.folder.glob(".loading-*"))
    # Coarse file times could not tell a rewrite at once from the first write.
    time.sleep(0.05)
    events, _ = read_files([log], cache=EventCache(cache.folder, STORED_SCHEMA))

    assert crashed.returncode < 0
    assert [marker.name.split(".parquet")[0] for marker in markers] == [
        ".loading-" + entry.stem
    ]
    assert events["duration_ms"].to_list() == [5.0] * 20
    assert not list(cache.folder.glob(".loading-*"))
    # Removed and written again.
    assert entry.stat().st_mtime_ns != first_written_ns


def test_entry_of_running_reader_kept(tmp_path: Path, cache: EventCache) -> None:
    """A marker of a process still running does not remove its entry."""
    mtime_ns = time.time_ns() - 2 * HOUR_NS
    log = _write_closed(tmp_path / "app.jsonl", [5.0] * 20, mtime_ns)
    read_files([log], cache=cache)
    entry = _entry(cache, log)
    # The parent of this process is running, and is not this reader.
    marker = cache.folder / f".loading-{entry.name}.{os.getppid()}"
    marker.touch()

    read_files([log], cache=EventCache(cache.folder, STORED_SCHEMA))

    assert entry.exists()
    assert marker.exists()
