"""Fixtures shared by every test folder: a configured log file and case files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog
from helpers import CLOCK_START

from datadrop_timing import ManualClock, configure


class EmittedLog:
    """A log file written by `configure()`, with a manual clock driving it."""

    def __init__(self, path: Path, clock: ManualClock) -> None:
        self.path = path
        self.clock = clock

    def raw_lines(self) -> list[bytes]:
        if not self.path.exists():
            return []
        return self.path.read_bytes().splitlines()

    def lines(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.raw_lines()]

    def timing(self) -> list[dict[str, object]]:
        return [line for line in self.lines() if line.get("event") == "timing"]

    def only_timing(self) -> dict[str, object]:
        lines = self.timing()
        assert len(lines) == 1, lines
        return lines[0]


@pytest.fixture
def emitted(tmp_path: Path) -> Iterator[EmittedLog]:
    """Configure datadrop_timing to write to a fresh file on a manual clock."""
    clock = ManualClock(CLOCK_START)
    path = tmp_path / "emitted.jsonl"
    configure(service="test-service", entrypoint="bot", output=path, clock=clock)
    yield EmittedLog(path, clock)
    _reset_logging()


def _reset_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    structlog.contextvars.clear_contextvars()
