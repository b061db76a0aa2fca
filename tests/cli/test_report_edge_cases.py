"""`report` on odd options, outputs and inputs that once misbehaved."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import pytest
from test_report_command import SAMPLE_LOGS, run_report

from aggregator.errors import UnreadableInputError
from aggregator.lines import Malformed, TimingEvent, parse_line
from aggregator.loading import read_files


def _line(action: str = "config.get", outcome: str = "success", **extra: object) -> str:
    event = {
        "level": "info",
        "event": "timing",
        "action": action,
        "duration_ms": 5.0,
        "outcome": outcome,
        "tenant": None,
        "action_type": "config",
        "entrypoint": "bot",
        "service": "s",
        "event_id": os.urandom(16).hex(),
        "schema": 1,
        "timestamp": "2026-12-01T07:00:00.000000Z",
        **extra,
    }
    return json.dumps(event) + "\n"


class TestOutcomeFilter:
    def test_header_counts_only_the_selected_outcome(self) -> None:
        result = run_report(SAMPLE_LOGS, "--outcome", "failure", "--format", "json")

        total = sum(row["count"] for row in json.loads(result.stdout))
        files = len(list(SAMPLE_LOGS.iterdir()))
        assert f": {total:,} events, failure only from {files} files" in result.stderr

    def test_no_event_with_that_outcome_exits_2(self, tmp_path: Path) -> None:
        path = tmp_path / "ok.jsonl"
        path.write_text(_line() + _line())

        result = run_report(path, "--outcome", "failure")

        assert result.returncode == 2
        assert "no failure events among 2 events" in result.stderr


class TestOutputFile:
    def test_symlink_target_is_written_and_the_link_kept(self, tmp_path: Path) -> None:
        target = tmp_path / "target.csv"
        target.write_text("old")
        link = tmp_path / "link.csv"
        link.symlink_to(target)

        result = run_report(SAMPLE_LOGS, "--format", "csv", "-o", link)

        assert result.returncode == 0, result.stderr
        assert link.is_symlink()
        assert target.read_text().startswith("action,count,")

    def test_new_file_is_private_and_old_file_keeps_its_mode(
        self, tmp_path: Path
    ) -> None:
        new = tmp_path / "new.txt"
        old = tmp_path / "old.txt"
        old.write_text("x")
        old.chmod(0o644)

        run_report(SAMPLE_LOGS, "-o", new)
        run_report(SAMPLE_LOGS, "-o", old)

        assert new.stat().st_mode & 0o777 == 0o600
        assert old.stat().st_mode & 0o777 == 0o644
        assert old.read_text().startswith("2025-06-01")

    def test_missing_folder_exits_2_naming_it(self, tmp_path: Path) -> None:
        result = run_report(SAMPLE_LOGS, "-o", tmp_path / "nope" / "r.txt")

        assert result.returncode == 2
        assert "nope" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "99999999d"],
        ["--until", "0001-01-01T00:00:00+01:00"],
        ["--objective", "999999999999999999999999999999w"],
        ["--objective", "inf"],
        ["--objective", "nan"],
    ],
)
def test_out_of_range_values_exit_2(args: list[str]) -> None:
    result = run_report(SAMPLE_LOGS, *args)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr


class TestHostileText:
    def _report(self, tmp_path: Path, action: str, *args: str) -> str:
        path = tmp_path / "hostile.jsonl"
        path.write_text(_line(action=action), encoding="utf-8")
        result = run_report(path, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def test_c1_and_bidi_controls_are_escaped_in_the_table(
        self, tmp_path: Path
    ) -> None:
        output = self._report(tmp_path, "a\u009b2Jb\u202ec")

        assert "\u009b" not in output
        assert "\u202e" not in output
        assert "a\\x9b2Jb\\u202ec" in output

    def test_markdown_escapes_html(self, tmp_path: Path) -> None:
        output = self._report(
            tmp_path, "<script>alert(1)</script>", "--format", "markdown"
        )

        assert "<script>" not in output
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in output

    def test_csv_formula_cells_are_quoted(self, tmp_path: Path) -> None:
        output = self._report(tmp_path, "=cmd|'/c calc'!A1", "--format", "csv")

        (row,) = list(csv.DictReader(io.StringIO(output)))
        assert row["action"] == "'=cmd|'/c calc'!A1"


class TestReader:
    def test_vanished_file_raises_unreadable(self, tmp_path: Path) -> None:
        with pytest.raises(UnreadableInputError, match=r"gone\.jsonl"):
            read_files([tmp_path / "gone.jsonl"])

    def test_huge_line_without_newline_is_too_long(self, tmp_path: Path) -> None:
        path = tmp_path / "huge.jsonl"
        path.write_bytes(_line().encode() + b"x" * 20_000_000)

        events, stats = read_files([path])

        assert events.height == 1
        assert stats.files[0].skipped["line_too_long"].count == 1

    def test_zero_padding_after_gzip_is_accepted(self, tmp_path: Path) -> None:
        path = tmp_path / "padded.jsonl.gz"
        path.write_bytes(gzip.compress(_line().encode()) + b"\x00" * 512)

        events, stats = read_files([path])

        assert events.height == 1
        assert stats.files[0].error is None

    @pytest.mark.parametrize(
        "timestamp",
        [
            "2026-12-01T00:00:00+99:99",
            "\uff12\uff10\uff12\uff16-12-01T00:00:00Z",
            "2026-12-01T00:00:00+24:00",
        ],
    )
    def test_invalid_offsets_and_digits_are_rejected(self, timestamp: str) -> None:
        result = parse_line(_line(timestamp=timestamp).encode())

        assert isinstance(result, Malformed)
        assert result.code == "invalid_timestamp"

    def test_leap_second_is_the_last_microsecond_of_the_minute(self) -> None:
        leap = parse_line(_line(timestamp="2016-12-31T23:59:60Z").encode())
        before = parse_line(_line(timestamp="2016-12-31T23:59:59.999999Z").encode())

        assert isinstance(leap, TimingEvent)
        assert isinstance(before, TimingEvent)
        assert leap.timestamp_us == before.timestamp_us


class TestObjectivesFromConfig:
    def test_slo_toml_sets_per_action_objectives(self, tmp_path: Path) -> None:
        (tmp_path / "slo.toml").write_text(
            '[[latency.overrides]]\nmatch = "reset.*"\nthreshold = "2s"\n'
        )

        result = run_report(SAMPLE_LOGS, cwd=tmp_path)

        rows = {
            line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]
        }
        assert result.returncode == 0, result.stderr
        assert rows["reset.execute"][-2:] == ["2,000.0", "ok"]
        assert rows["verification.submit"][-2] == "500.0"
        assert rows["config.update"][-2:] == ["500.0", "ABOVE"]
        assert "(some actions differ)" in result.stdout.splitlines()[0]

    def test_explicit_objective_replaces_the_default_only(self, tmp_path: Path) -> None:
        (tmp_path / "slo.toml").write_text(
            '[[latency.overrides]]\nmatch = "reset.*"\nthreshold = "2s"\n'
        )

        result = run_report(SAMPLE_LOGS, "--objective", "100ms", cwd=tmp_path)

        rows = {
            line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]
        }
        assert rows["reset.execute"][-2] == "2,000.0"
        assert rows["config.get"][-2:] == ["100.0", "ok"]
        assert rows["config.update"][-2:] == ["100.0", "ABOVE"]


def test_future_events_are_reported_and_not_used(tmp_path: Path) -> None:
    path = tmp_path / "skew.jsonl"
    path.write_text(_line() + _line(timestamp="2999-01-01T00:00:00Z"))

    result = run_report(path, "--format", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["count"] == 1
    assert "1 event dated after" in result.stderr


def test_outcome_can_be_a_group_key() -> None:
    result = run_report(SAMPLE_LOGS, "--by", "action,outcome", "--format", "json")

    rows = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert {row["outcome"] for row in rows} == {"success", "failure"}
    assert all(row["failure_rate"] in (0.0, 1.0) for row in rows)


class TestOddFilesFromTheCommandLine:
    def test_empty_gzip_oneline_blank_and_crlf_files(self, tmp_path: Path) -> None:
        (tmp_path / "a.jsonl").write_bytes(b"")
        (tmp_path / "b.jsonl").write_text(_line())
        (tmp_path / "c.jsonl").write_text(_line().rstrip("\n"))
        three = (_line() + _line() + _line()).encode()
        (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(three))
        (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(b""))
        (tmp_path / "f.jsonl").write_bytes(b"\n\n\n")
        (tmp_path / "g.jsonl").write_bytes(
            (_line() + _line()).replace("\n", "\r\n").encode()
        )

        plain = run_report(*sorted(tmp_path.glob("*.jsonl")), "--format", "json")
        every = run_report(*sorted(tmp_path.glob("*.jsonl*")), "--format", "json")

        assert (plain.returncode, every.returncode) == (0, 0)
        assert json.loads(plain.stdout)[0]["count"] == 4
        assert json.loads(every.stdout)[0]["count"] == 7
        assert "malformed" not in every.stderr


def test_no_events_message_counts_in_words(tmp_path: Path) -> None:
    """One file of one ordinary line reads '1 line: 1 other log line'."""
    path = tmp_path / "other.jsonl"
    path.write_bytes(b'{"event":"gateway ready","level":"info"}\n')

    result = run_report("--no-cache", path)

    assert result.returncode == 2
    assert "read 1 file with 1 line: 1 other log line, 0 malformed" in result.stderr
