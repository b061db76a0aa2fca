"""Readers take lines up to 1 MiB and count a longer one with its line number."""

from __future__ import annotations

import json
from pathlib import Path

from test_properties import _valid_line as valid_line

from aggregator.lines import MAX_LINE_BYTES
from aggregator.loading import read_files


def _line_of_size(size_bytes: int, index: int) -> bytes:
    """Return a valid timing line of exactly `size_bytes`, without newline."""
    fields = json.loads(valid_line(index, 12.5, "config.get"))
    fields["pad"] = ""
    base = len(json.dumps(fields).encode())
    fields["pad"] = "x" * (size_bytes - base)
    line = json.dumps(fields).encode()
    assert len(line) == size_bytes
    return line


def test_line_limit_is_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    lines = [
        _line_of_size(400, 1),
        _line_of_size(MAX_LINE_BYTES, 2),
        _line_of_size(MAX_LINE_BYTES + 1, 3),
        _line_of_size(400, 4),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")

    events, stats = read_files([path])

    (file_stats,) = stats.files
    assert MAX_LINE_BYTES == 1024 * 1024
    assert events.height == 3
    assert file_stats.skipped["line_too_long"].count == 1
    assert file_stats.skipped["line_too_long"].first_line == 3
    assert stats.skipped_total == 1
