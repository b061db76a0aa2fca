"""Fixtures shared by every test folder: a configured log file and case files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from helpers import CLOCK_START, PLANTED_SECRETS, EmittedLog

from datadrop_timing import ManualClock, configure


@pytest.fixture
def emitted(tmp_path: Path) -> Iterator[EmittedLog]:
    """Configure datadrop_timing to write to a fresh file on a manual clock."""
    clock = ManualClock(CLOCK_START)
    path = tmp_path / "emitted.jsonl"
    configure(service="test-service", entrypoint="bot", output=path, clock=clock)
    yield EmittedLog(path, clock)
    _reset_logging()


@pytest.fixture(autouse=True)
def _private_cache_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep report's event cache out of the user's home folder during tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def _reset_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    structlog.contextvars.clear_contextvars()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any file written under the test temp folder holds a secret.

    Tests plant the values of `PLANTED_SECRETS` as fields, exception messages
    and headers; this scans every line every test wrote for them.
    """
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    leaks = _find_planted_secrets(factory.getbasetemp())
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for path, secret in leaks:
            line = f"PRIVACY: {path} contains the planted secret {secret!r}"
            if reporter is not None:
                reporter.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _find_planted_secrets(root: Path) -> list[tuple[Path, str]]:
    leaks = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for secret in PLANTED_SECRETS:
            if secret.encode() in data:
                leaks.append((path, secret))
    return leaks
