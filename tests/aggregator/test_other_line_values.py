"""Other log lines with text where a timing line has a number must not stop a read.

A batch whose lines are all writer-shaped timing lines or flat non-timing
lines is decoded in one `read_ndjson` call, other lines included. Those other
lines may carry `duration_ms` or `ack_ms` as any JSON value, because only
timing lines follow the timing schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import timing_line

from aggregator.loading import read_files
from cli.main import main

OTHER_LINES = [
    b'{"event":"cache stats","duration_ms":"n/a"}',
    b'{"event":"cache stats","duration_ms":""}',
    b'{"event":"cache stats","duration_ms":true}',
    b'{"event":"gateway resumed","ack_ms":"slow"}',
]


def _write_log(path: Path, other_line: bytes) -> Path:
    lines = [timing_line(index) for index in range(10)]
    lines.insert(3, other_line)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("other_line", OTHER_LINES)
def test_other_line_text_number_read(tmp_path: Path, other_line: bytes) -> None:
    """A non-timing line with a non-numeric `duration_ms` or `ack_ms` is other."""
    path = _write_log(tmp_path / "app.jsonl", other_line)

    events, stats = read_files([path])

    assert events.height == 10
    assert stats.files[0].other == 1
    assert stats.skipped_total == 0


def test_other_line_text_number_report(tmp_path: Path) -> None:
    """`report` prints the table instead of a polars traceback."""
    path = _write_log(tmp_path / "app.jsonl", OTHER_LINES[0])

    result = CliRunner().invoke(
        main, ["report", str(path), "--no-cache", "--now", "2027-01-01T00:00:00Z"]
    )

    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0
    assert "config.update" in result.stdout
