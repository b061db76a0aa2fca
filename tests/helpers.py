"""Constants and small functions the tests share."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from datadrop_timing import ManualClock, flush

REPO_ROOT = Path(__file__).resolve().parents[1]

# Copies of the log inputs of the shared failure cases, kept in the repository
# so that a fresh clone runs them.
CASES_DIR = REPO_ROOT / "tests" / "data" / "cases"

CLOCK_START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)

# The installed console script, beside the interpreter of the test venv.
ENTRY_POINT = Path(sys.executable).parent / "datadrop-slo"

# Secret values that tests pass to the emit side. After the session, no file
# any test wrote may contain one (see `pytest_sessionfinish` in conftest.py).
PLANTED_SECRETS = (
    "planted-secret-1",
    "planted-bearer-value",
    "planted-webhook-secret",
    "mfa.planted-token-value",
    "abcdefgh12345678",
    # User input that exception messages quote: a member name, a command
    # name, an argument, a dictionary key and an e-mail address.
    "planted-user-name",
    "planted-command-name",
    "planted-count-text",
    "planted-key-name",
    "planted.person@example.org",
)


def timing_line(index: int, **changes: object) -> bytes:
    """Return the JSON of timing line `index` as a writer emits it, with `changes`.

    Lines differ in minute, duration, tenant (one of 40) and event id.
    """
    line: dict[str, object] = {
        "timestamp": f"2026-11-30T14:{index % 60:02d}:09.231840Z",
        "level": "info",
        "event": "timing",
        "action": "config.update",
        "duration_ms": index / 7,
        "outcome": "success",
        "tenant": str(10**18 + index % 40),
        "action_type": "config",
        "entrypoint": "bot",
        "service": "datadrop-bot",
        "event_id": f"{index:032x}",
        "schema": 1,
    }
    line.update(changes)
    return orjson.dumps(line)


def case_path(prefix: str) -> Path:
    """Return the log input of a failure case, such as `C14`."""
    matches = sorted(CASES_DIR.glob(f"{prefix}-*"))
    assert matches, f"case {prefix} not found in {CASES_DIR}"
    return matches[0]


class EmittedLog:
    """A log file written by `configure()`, with a manual clock driving it."""

    def __init__(self, path: Path, clock: ManualClock) -> None:
        self.path = path
        self.clock = clock

    def raw_lines(self) -> list[bytes]:
        """Return the shared file's lines, then this process's long lines.

        The sink writes lines over 4 KiB to `<name>.<pid>.jsonl` instead.
        """
        flush()
        own = self.path.with_name(f"{self.path.stem}.{os.getpid()}.jsonl")
        lines: list[bytes] = []
        for path in (self.path, own):
            if path.exists():
                lines += path.read_bytes().splitlines()
        return lines

    def text(self) -> str:
        """Return everything written, from both files."""
        return b"\n".join(self.raw_lines()).decode("utf-8")

    def lines(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.raw_lines()]

    def timing(self) -> list[dict[str, object]]:
        return [line for line in self.lines() if line.get("event") == "timing"]

    def only_timing(self) -> dict[str, object]:
        lines = self.timing()
        assert len(lines) == 1, lines
        return lines[0]


def run_command(
    command: str,
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `datadrop-slo COMMAND ARGS` with extra environment variables."""
    assert ENTRY_POINT.exists(), f"install the project first: {ENTRY_POINT} is missing"
    return subprocess.run(
        [str(ENTRY_POINT), command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
