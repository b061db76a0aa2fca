"""Fixtures shared by the integration tests: log files, clocks, real servers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import datadrop_timing
from datadrop_timing import ManualClock

from .case_app import build_case_app
from .logs import LogFile
from .servers import ServerThread

CLOCK_START = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def log_file(tmp_path: Path) -> LogFile:
    """Send every line of the process to a fresh file for this test."""
    path = tmp_path / "lines.jsonl"
    # The sink stays open: a server thread may still write a late line, and
    # the next test's configure() call closes it.
    datadrop_timing.configure(service="datadrop-test", output=path)
    return LogFile(path)


@pytest.fixture(scope="session")
def case_clock() -> ManualClock:
    """The clock the staged-case app's middleware reads."""
    return ManualClock(CLOCK_START)


@pytest.fixture(scope="session")
def case_server(case_clock: ManualClock) -> Iterator[ServerThread]:
    """The staged-case app under uvicorn on 127.0.0.1, once per test run."""
    server = ServerThread(build_case_app(case_clock))
    server.start()
    yield server
    server.stop()
