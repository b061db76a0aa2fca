"""Benchmark `report`'s read path against DuckDB, pandas and an orjson loop.

    python benchmarks/report.py --lines 1000000 --rounds 3

Each peer computes p50/p95/p99 and the failure rate by action over the same
generated file, in its own process, so peak RSS is per peer. Ours includes
validation of every line and de-duplication; DuckDB runs the plain query.
`ours` runs `datadrop-slo report --no-cache`; `first` runs `datadrop-slo
report` with an empty cache, which it fills, as a user's first run does;
`cached` runs it again over the same closed file, its parsed events read from
the cache entry that a run before the first round wrote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from _workload import alternate, print_table, run_child, write_log

QUERY_PEERS = ("ours", "first", "cached", "duckdb", "polars", "pandas", "orjson")


def run_peer(peer: str, paths: list[Path], cache_folder: Path | None) -> None:
    """Compute the by-action summary with one peer and print its row count."""
    if peer in ("ours", "cached", "first"):
        _run_ours(paths, None if peer == "ours" else cache_folder)
    elif peer == "duckdb":
        import duckdb

        files = [str(path) for path in paths]
        rows = duckdb.sql(
            "select action, count(*), avg((outcome = 'failure')::int), "
            "quantile_disc(duration_ms, [0.5, 0.95, 0.99]) "
            "from read_ndjson($files, columns={'event': 'VARCHAR', "
            "'action': 'VARCHAR', 'duration_ms': 'DOUBLE', 'outcome': 'VARCHAR'}) "
            "where event = 'timing' group by action",
            params={"files": files},
        ).fetchall()
        print(len(rows))
    elif peer == "polars":
        _run_polars(paths)
    elif peer == "pandas":
        import pandas as pd

        frames = [pd.read_json(path, lines=True, engine="pyarrow") for path in paths]
        frame = pd.concat(frames)
        frame = frame[frame["event"] == "timing"]
        grouped = frame.groupby("action")["duration_ms"]
        print(len(grouped.quantile([0.5, 0.95, 0.99])))
    else:
        _run_orjson_loop(paths)


def _run_ours(paths: list[Path], cache_folder: Path | None) -> None:
    """Run `datadrop-slo report` in this process, as a user would run it."""
    from cli.main import main

    arguments = ["report", "--now", "2030-01-01T00:00:00Z"]
    if cache_folder is None:
        arguments.append("--no-cache")
    else:
        os.environ["XDG_CACHE_HOME"] = str(cache_folder)
    main([*arguments, *map(str, paths)], standalone_mode=False)


def _run_polars(paths: list[Path]) -> None:
    """Run the query with polars' own reader as plainly used: no validation."""
    import polars as pl

    schema = {
        "event": pl.String(),
        "action": pl.String(),
        "duration_ms": pl.Float64(),
        "outcome": pl.String(),
    }
    durations = pl.col("duration_ms")
    rows = (
        pl.scan_ndjson(paths, schema=schema)
        .filter(pl.col("event") == "timing")
        .group_by("action")
        .agg(
            pl.len(),
            (pl.col("outcome") == "failure").mean(),
            *[
                durations.quantile(q, interpolation="equiprobable").alias(f"p{q}")
                for q in (0.5, 0.95, 0.99)
            ],
        )
        .collect()
    )
    print(rows.height)


def _run_orjson_loop(paths: list[Path]) -> None:
    import orjson

    durations: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    for path in paths:
        with path.open("rb") as stream:
            for line in stream:
                event = orjson.loads(line)
                if event.get("event") != "timing":
                    continue
                action = event["action"]
                durations.setdefault(action, []).append(event["duration_ms"])
                failures[action] = failures.get(action, 0) + (
                    event["outcome"] == "failure"
                )
    for values in durations.values():
        values.sort()
        [values[int(q * (len(values) - 1))] for q in (0.5, 0.95, 0.99)]
    print(len(durations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers", default=",".join(QUERY_PEERS))
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the generated file here and reuse it when it exists "
        "(generating 5M lines takes minutes)",
    )
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--file", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.peer:
        paths = [Path(name) for name in arguments.file]
        run_peer(arguments.peer, paths, arguments.cache)
        return

    with tempfile.TemporaryDirectory(prefix="datadrop-bench-") as folder:
        path = arguments.data or Path(folder) / "timing.jsonl"
        if not path.exists():
            write_log(path, arguments.lines, datetime(2026, 6, 1, tzinfo=UTC))
        # The cache takes only files last modified over a minute ago.
        closed_s = time.time() - 3600
        os.utime(path, (closed_s, closed_s))
        size_mb = path.stat().st_size / 1e6
        with path.open("rb") as stream:
            lines = sum(
                block.count(b"\n") for block in iter(lambda: stream.read(1 << 24), b"")
            )

        cache = Path(folder) / "cache"
        peers = {peer: _child(peer, path, cache) for peer in arguments.peers.split(",")}
        if "cached" in peers:
            peers["cached"]()
        results = alternate(peers, arguments.rounds)
        title = f"report over {lines:,} lines ({size_mb:,.0f} MB)"
        print_table(title, results, "duckdb", "s")


def _child(peer: str, path: Path, cache: Path):  # type: ignore[no-untyped-def]
    script = str(Path(__file__).resolve())
    if peer == "first":
        # A first run with the cache on, as `report` runs by default.
        cache = cache.with_name(f"first-{uuid.uuid4().hex}")
    arguments = [script, "--peer", peer, "--file", str(path), "--cache", str(cache)]

    def run() -> tuple[float, float]:
        result = run_child(arguments)
        if peer == "first":
            shutil.rmtree(cache, ignore_errors=True)
        return result

    return run


if __name__ == "__main__":
    main()
