"""Generate timing log files and run peers side by side for the benchmarks."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ACTIONS = (
    "verification.submit",
    "verification.start",
    "config.update",
    "config.get",
    "state.transition",
    "reset.execute",
    "api.request",
    "api.auth",
)

OTHER_SHARE = 0.05


def write_log(path: Path, lines: int, start: datetime, seed: int = 1) -> None:
    """Write `lines` lines as writers emit them: 5% ordinary log lines."""
    rng = random.Random(seed)
    tenants = [str(rng.randrange(10**17, 10**19)) for _ in range(50)]
    step = timedelta(days=1) / max(lines, 1)
    with path.open("wb") as stream:
        block: list[bytes] = []
        for index in range(lines):
            stamp = (start + index * step).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            block.append(orjson.dumps(_line(rng, stamp, tenants)))
            if len(block) == 10_000:
                stream.write(b"\n".join(block) + b"\n")
                block = []
        if block:
            stream.write(b"\n".join(block) + b"\n")


def _line(rng: random.Random, stamp: str, tenants: list[str]) -> dict[str, object]:
    if rng.random() < OTHER_SHARE:
        return {
            "timestamp": stamp,
            "level": "info",
            "event": "gateway heartbeat",
            "logger": "discord.gateway",
            "service": "datadrop-bot",
        }

    action = rng.choice(ACTIONS)
    is_failure = rng.random() < 0.02
    line: dict[str, object] = {
        "timestamp": stamp,
        "level": "warning" if is_failure else "info",
        "event": "timing",
        "action": action,
        "duration_ms": rng.lognormvariate(4, 1),
        "outcome": "failure" if is_failure else "success",
        "tenant": rng.choice(tenants),
    }
    if is_failure:
        line["error_type"] = "TimeoutError"
    line.update(
        action_type=action.split(".")[0],
        entrypoint="bot",
        service="datadrop-bot",
        request_id=os.urandom(16).hex(),
        event_id=os.urandom(16).hex(),
        schema=1,
    )
    return line


def run_child(arguments: Sequence[str]) -> tuple[float, float]:
    """Run a Python child; return its wall seconds and peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed_s = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        msg = f"benchmark child {arguments!r} failed with status {status}"
        raise RuntimeError(msg)
    return elapsed_s, usage.ru_maxrss / 1024


def alternate(
    peers: dict[str, Callable[[], tuple[float, float]]], rounds: int
) -> dict[str, tuple[float, float]]:
    """Run every peer once per round, A B A B; return median seconds, max MB."""
    times: dict[str, list[float]] = {name: [] for name in peers}
    memory: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(rounds):
        for name, run in peers.items():
            elapsed_s, rss_mb = run()
            times[name].append(elapsed_s)
            memory[name].append(rss_mb)
    return {name: (statistics.median(times[name]), max(memory[name])) for name in peers}


def print_table(
    title: str, results: dict[str, tuple[float, float]], baseline: str, unit: str
) -> None:
    """Print a Markdown table of medians and their ratio to `baseline`."""
    base = results[baseline][0]
    print(f"\n{title}\n")
    print(f"| peer | median {unit} | ratio to {baseline} | peak RSS MB |")
    print("|---|---|---|---|")
    for name, (value, rss_mb) in results.items():
        rss = f"{rss_mb:,.0f}" if rss_mb else "-"
        print(f"| {name} | {value:,.3f} | {value / base:.2f} | {rss} |")


def utc_day(days_ago: int) -> datetime:
    """Return midnight UTC `days_ago` days before today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)
