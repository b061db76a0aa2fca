"""Fixtures shared by every test folder: a configured log file and case files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from helpers import CLOCK_START, EmittedLog

from datadrop_timing import ManualClock, configure


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
