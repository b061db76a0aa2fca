"""Benchmark `check`'s read of recent logs with 3 and with 30 days of history.

    python benchmarks/check.py --lines 20000 --rounds 5

Writes one file per day, `timing-YYYY-MM-DD.jsonl` with `--lines` lines and
its modification time at the end of its day, then times
`load_recent_events` over the last 3 days (the longest default window) with
a folder of 3 days and a folder of 30 days.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _workload import alternate, print_table, utc_day, write_log

from aggregator.checking import load_recent_events


def write_days(folder: Path, days: int, lines: int) -> None:
    """Write `days` daily files ending today, each dated by its mtime."""
    folder.mkdir()
    for days_ago in range(days):
        start = utc_day(days_ago)
        path = folder / f"timing-{start:%Y-%m-%d}.jsonl"
        write_log(path, lines, start, seed=days_ago)
        end = min(start + timedelta(days=1), datetime.now(UTC)).timestamp()
        os.utime(path, (end, end))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()

    now = datetime.now(UTC)
    start = now - timedelta(days=3)
    with tempfile.TemporaryDirectory(prefix="datadrop-check-") as folder:
        runs = {}
        for days in (3, 30):
            logs = Path(folder) / f"{days}-days"
            write_days(logs, days, arguments.lines)
            runs[f"{days} days present"] = _run(logs, start, now)
        results = alternate(runs, arguments.rounds)
        title = f"check read of the last 3 days, {arguments.lines:,} lines a day"
        print_table(title, results, "3 days present", "s")


def _run(logs: Path, start: datetime, now: datetime):  # type: ignore[no-untyped-def]
    def run() -> tuple[float, float]:
        started = time.perf_counter()
        load_recent_events([logs], start, now)
        return time.perf_counter() - started, 0.0

    return run


if __name__ == "__main__":
    main()
