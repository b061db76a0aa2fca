"""Helpers for the shipper tests: timing lines, output folders, a running shipper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ENTRY_POINT = Path(sys.executable).parent / "datadrop-slo"

# Generous, because a loaded CI machine can be slow; polls end as soon as the
# condition holds.
DEADLINE_S = 60.0

BASE_TIME = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def timing_line(seq: int, *, at: datetime | None = None, service: str = "bot") -> bytes:
    """Return one valid timing line, with a new event_id, ending in a newline."""
    moment = at or BASE_TIME + timedelta(milliseconds=seq)
    line = {
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": "info",
        "event": "timing",
        "action": "verification.submit",
        "duration_ms": 10.0 + seq % 700,
        "outcome": "success",
        "tenant": "1444299331546478261",
        "action_type": "verification",
        "entrypoint": "bot",
        "service": f"datadrop-{service}",
        "seq": seq,
        "event_id": uuid.uuid4().hex,
        "schema": 1,
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def other_line(seq: int) -> bytes:
    """Return an ordinary log line that is not a timing line."""
    moment = BASE_TIME + timedelta(milliseconds=seq)
    line = {
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": "info",
        "event": f"gateway heartbeat {seq}",
    }
    return json.dumps(line).encode() + b"\n"


def event_ids_in(data: bytes) -> list[str]:
    """Return the event_ids of the timing lines in `data`, in order."""
    ids = []
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") == "timing":
            ids.append(line["event_id"])
    return ids


class LogFile:
    """A source log file that the test appends to, remembering what it wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written_ids: list[str] = []
        self._seq = 0

    def append(self, count: int, *, with_other: bool = True) -> list[bytes]:
        """Append `count` timing lines (and ordinary lines between them)."""
        lines = []
        for _ in range(count):
            self._seq += 1
            line = timing_line(self._seq)
            lines.append(line)
            if with_other and self._seq % 3 == 0:
                lines.append(other_line(self._seq))
        with self.path.open("ab") as stream:
            stream.write(b"".join(lines))
        self.written_ids.extend(event_ids_in(b"".join(lines)))
        return lines


class Output:
    """The shipper's output folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def timing_files(self) -> list[Path]:
        return sorted(self.folder.glob("timing-*.jsonl"))

    def shipped_bytes(self) -> bytes:
        return b"".join(path.read_bytes() for path in self.timing_files())

    def shipped_ids(self) -> list[str]:
        return event_ids_in(self.shipped_bytes())

    def id_counts(self) -> Counter[str]:
        return Counter(self.shipped_ids())

    def rejected(self) -> list[dict[str, object]]:
        records = []
        for path in sorted((self.folder / "rejected").glob("*.jsonl")):
            records.extend(json.loads(raw) for raw in path.read_bytes().splitlines())
        return records

    def has_all(self, ids: list[str]) -> bool:
        return set(ids) <= set(self.shipped_ids())


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE_S:.0f} s waiting for {what}")
        time.sleep(0.02)


def run_ship(
    *args: str | Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `datadrop-slo ship ARGS` to completion."""
    assert ENTRY_POINT.exists(), f"install the project first: {ENTRY_POINT} is missing"
    return subprocess.run(
        [str(ENTRY_POINT), "ship", *map(str, args)],
        input=stdin,
        capture_output=True,
        timeout=DEADLINE_S,
        check=False,
    )


def stderr_events(stderr: bytes) -> list[dict[str, object]]:
    """Return the shipper's JSON log lines from its stderr."""
    events = []
    for raw in stderr.splitlines():
        if raw.startswith(b"{"):
            events.append(json.loads(raw))
    return events


class RunningShipper:
    """A following `datadrop-slo ship` process, its stderr kept in a file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(ENTRY_POINT), "ship", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def events(self) -> list[dict[str, object]]:
        return stderr_events(self.log_path.read_bytes())

    def event_names(self) -> list[object]:
        return [event["event"] for event in self.events()]

    def wait_started(self) -> None:
        wait_until(lambda: "ship_started" in self.event_names(), "the shipper to start")

    def stop(self, signal_number: int = signal.SIGTERM) -> int:
        """Send a signal and return the exit status."""
        self.process.send_signal(signal_number)
        return self.wait()

    def wait(self) -> int:
        try:
            status = self.process.wait(timeout=DEADLINE_S)
        finally:
            self._log.close()
        return status

    def kill_hard(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.wait()
