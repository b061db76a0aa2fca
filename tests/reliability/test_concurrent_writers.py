"""Several processes appending to one log file never tear a line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aggregator.loading import read_events

WRITER = """
import sys
from datadrop_timing import configure, timed

configure(service="writer", output=sys.argv[1])
for index in range(int(sys.argv[2])):
    blob = "x" * 5000 if index % 10 == 0 else ""
    with timed("config.get", tenant=index, blob=blob):
        pass
"""

PROCESSES = 4
LINES_EACH = 1500


def test_concurrent_writers_lose_and_tear_nothing(tmp_path: Path) -> None:
    shared = tmp_path / "bot.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(shared), str(LINES_EACH)])
        for _ in range(PROCESSES)
    ]
    codes = [writer.wait(timeout=120) for writer in writers]

    events, stats = read_events([tmp_path])
    own_files = sorted(path.name for path in tmp_path.glob("bot.*.jsonl"))

    assert codes == [0] * PROCESSES
    assert stats.skipped_total == 0
    assert events.height == PROCESSES * LINES_EACH
    assert len(own_files) == PROCESSES
    assert all(len(line) <= 4096 for line in shared.read_bytes().splitlines())


FORKING_WRITER = """
import os, sys
from datadrop_timing import configure, flush, timed

configure(service="writer", output=sys.argv[1])
with timed("config.get"):
    pass
child = os.fork()
if child == 0:
    for _ in range(50):
        with timed("config.get"):
            pass
    flush()
    os._exit(0)
os.waitpid(child, 0)
"""


def test_forked_worker_lines_are_written(tmp_path: Path) -> None:
    """A pre-forking server configures logging before its workers fork."""
    shared = tmp_path / "api.jsonl"

    subprocess.run([sys.executable, "-c", FORKING_WRITER, str(shared)], check=True)

    events, stats = read_events([shared])
    assert stats.skipped_total == 0
    assert events.height == 51
