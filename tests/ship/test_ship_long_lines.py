"""`datadrop-slo ship` on long and unterminated lines: bounded reads and rejects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from ship_helpers import Output, RunningShipper, run_ship, timing_line, wait_until

from aggregator.lines import MAX_LINE_BYTES
from aggregator.output_folder import REJECTED_DATA_BYTES

StartShipper = Callable[..., RunningShipper]

LONG_BYTES = 3 * MAX_LINE_BYTES

# The reader keeps the first MAX_LINE_BYTES of a line and may read them again.
# Bytes past this offset in the line must be searched for a newline only once.
SCANNED_ONLY_AT = MAX_LINE_BYTES + 4096


def checkpoint_sizes(output: Output) -> list[int]:
    state_path = output.folder / ".ship-state.json"
    if not state_path.exists():
        return []
    state = json.loads(state_path.read_text())
    return [item["size"] for item in state["checkpoints"]]


def overwrite_with_newlines(path: Path, offset: int) -> None:
    """Put newlines where the shipper already searched, to see if it reads again."""
    with path.open("r+b") as stream:
        stream.seek(offset)
        stream.write(b"\n\n\n")


def assert_one_long_reject(output: Output, length: int) -> None:
    (record,) = output.rejected()
    assert record["code"] == "line_too_long"
    assert record["length"] == length
    assert str(length) in record["reason"]
    assert len(record["data"]) == REJECTED_DATA_BYTES
    assert record["line"] == 2


class TestLongPartialLine:
    def test_once_runs_resume_scan(self, source_folder: Path, output: Output) -> None:
        """Across `--once` runs a long partial line is searched once: the state
        records how far, newlines put behind that point do not split it, and
        only its first bytes reach rejected/ once it ends."""
        path = source_folder / "bot.jsonl"
        first, last = timing_line(1), timing_line(2)
        path.write_bytes(first + b"x" * LONG_BYTES)

        partial_run = run_ship("--once", "--to", output.folder, path)

        assert partial_run.returncode == 0, partial_run.stderr
        assert checkpoint_sizes(output) == [path.stat().st_size]
        assert output.rejected() == []

        overwrite_with_newlines(path, len(first) + SCANNED_ONLY_AT)
        with path.open("ab") as stream:
            stream.write(b"y" * 100 + b"\n" + last)
        done = run_ship("--once", "--to", output.folder, path)

        assert done.returncode == 1
        assert_one_long_reject(output, LONG_BYTES + 100)
        assert output.shipped_bytes() == first + last
        rejected_file = next((output.folder / "rejected").iterdir())
        assert rejected_file.stat().st_size < 2 * REJECTED_DATA_BYTES

    def test_follow_resumes_scan(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """A following shipper does not search a partial line's bytes again."""
        path = source_folder / "bot.jsonl"
        first, last = timing_line(1), timing_line(2)
        path.write_bytes(first + b"x" * LONG_BYTES)
        shipper = start_shipper(path)
        size = path.stat().st_size
        wait_until(lambda: checkpoint_sizes(output) == [size], "the partial line")

        overwrite_with_newlines(path, len(first) + SCANNED_ONLY_AT)
        with path.open("ab") as stream:
            stream.write(b"\n" + last)
        wait_until(lambda: output.shipped_bytes() == first + last, "the last line")

        assert shipper.stop() == 0
        assert_one_long_reject(output, LONG_BYTES)

    def test_stdin_long_line_bounded(self, output: Output) -> None:
        """Standard input rejects an over-long line with its prefix and length."""
        first, last = timing_line(1), timing_line(2)
        stdin = first + b"x" * LONG_BYTES + b"\n" + last

        result = run_ship("--to", output.folder, "-", stdin=stdin)

        assert result.returncode == 1
        assert_one_long_reject(output, LONG_BYTES)
        assert output.shipped_bytes() == first + last


class TestRejectedData:
    @pytest.mark.parametrize(
        ("line_bytes", "is_cut"),
        [(1000, False), (REJECTED_DATA_BYTES, False), (200_000, True)],
    )
    def test_data_cut_to_prefix(
        self, source_folder: Path, output: Output, line_bytes: int, is_cut: bool
    ) -> None:
        """An invalid line is written whole up to REJECTED_DATA_BYTES, and cut
        to them beyond; `length` is always its real length."""
        path = source_folder / "bot.jsonl"
        bad = b"{" + b"z" * (line_bytes - 1)
        path.write_bytes(bad + b"\n")

        result = run_ship("--once", "--to", output.folder, path)

        assert result.returncode == 1
        (record,) = output.rejected()
        assert record["code"] == "invalid_json"
        assert record["length"] == line_bytes
        expected = bad[:REJECTED_DATA_BYTES] if is_cut else bad
        assert record["data"].encode() == expected
