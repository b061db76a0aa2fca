"""Fixtures for the dashboard tests: one headless Chromium per test run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium_driver import CHROMIUM, Chromium, chromium_available
from helpers import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """Start Chromium once; fail under CI if it is missing, else skip."""
    if not chromium_available():
        msg = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {msg}")
        pytest.skip(msg)

    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture
def artifacts() -> Path:
    """The git-ignored folder where screenshots are kept after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
