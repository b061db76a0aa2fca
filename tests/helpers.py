"""Constants and small functions the tests share."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Copies of the log inputs of the shared failure cases, kept in the repository
# so that a fresh clone runs them.
CASES_DIR = REPO_ROOT / "tests" / "data" / "cases"

CLOCK_START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def case_path(prefix: str) -> Path:
    """Return the log input of a failure case, such as `C14`."""
    matches = sorted(CASES_DIR.glob(f"{prefix}-*"))
    assert matches, f"case {prefix} not found in {CASES_DIR}"
    return matches[0]
