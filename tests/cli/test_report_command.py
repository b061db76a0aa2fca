"""`datadrop-slo report`, run as the installed entry point in a subprocess."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, run_command

SAMPLE_LOGS = REPO_ROOT / "sample_logs"


def run_report(
    *args: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_command("report", *args, cwd=cwd)


def _independent_events(folder: Path) -> list[dict[str, object]]:
    """Read timing events with the json module, apart from the product's reader."""
    events: dict[str, dict[str, object]] = {}
    for path in sorted(folder.iterdir()):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as stream:
            for text in stream:
                try:
                    line = json.loads(text)
                except json.JSONDecodeError:
                    continue
                if line.get("event") == "timing":
                    events.setdefault(line["event_id"], line)
    return list(events.values())


def _expected_by_action(events: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    durations: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    for event in events:
        action = str(event["action"])
        durations.setdefault(action, []).append(float(event["duration_ms"]))  # type: ignore[arg-type]
        failures[action] = failures.get(action, 0) + (event["outcome"] == "failure")

    return {
        action: {
            "count": len(values),
            "failures": failures[action],
            "p50_ms": np.percentile(values, 50, method="inverted_cdf"),
            "p95_ms": np.percentile(values, 95, method="inverted_cdf"),
            "p99_ms": np.percentile(values, 99, method="inverted_cdf"),
            "max_ms": max(values),
        }
        for action, values in durations.items()
    }


class TestSampleLogs:
    def test_table_lists_every_action_with_marks(self) -> None:
        result = run_report(SAMPLE_LOGS)

        assert result.returncode == 0, result.stderr
        expected = _expected_by_action(_independent_events(SAMPLE_LOGS))
        lines = result.stdout.splitlines()
        total = sum(int(row["count"]) for row in expected.values())
        files = len(list(SAMPLE_LOGS.iterdir()))
        assert f"{total:,} events from {files} files" in lines[0]
        for action, row in expected.items():
            (table_row,) = [line for line in lines if line.startswith(action + " ")]
            mark = "ABOVE" if row["p95_ms"] > 500 else "ok"
            assert table_row.split()[-1] == mark, table_row

    def test_json_numbers_match_an_independent_computation(self) -> None:
        result = run_report(SAMPLE_LOGS, "--format", "json")

        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        expected = _expected_by_action(_independent_events(SAMPLE_LOGS))
        assert {row["action"] for row in rows} == set(expected)
        for row in rows:
            want = expected[row["action"]]
            for key, value in want.items():
                assert row[key] == pytest.approx(value), (row["action"], key)
            assert row["failure_rate"] == pytest.approx(
                want["failures"] / want["count"]
            )
        p95s = [row["p95_ms"] for row in rows]
        assert p95s == sorted(p95s, reverse=True)

    def test_skipped_line_is_reported_with_file_and_line(self) -> None:
        result = run_report(SAMPLE_LOGS, "--format", "json")

        last_line = len((SAMPLE_LOGS / "datadrop.jsonl").read_bytes().split(b"\n"))
        assert "skipped 1 malformed line in" in result.stderr
        assert "datadrop.jsonl: 1 truncated_line" in result.stderr
        assert f"first at line {last_line}" in result.stderr

    def test_core_actions_and_enough_tenants_are_present(self) -> None:
        events = _independent_events(SAMPLE_LOGS)

        actions = {event["action"] for event in events}
        tenants = {event["tenant"] for event in events if event["tenant"]}
        assert {
            "verification.start",
            "verification.submit",
            "state.transition",
            "config.get",
            "config.update",
            "reset.plan",
            "reset.execute",
            "api.auth",
            "api.request",
        } <= actions
        assert len(tenants) >= 20
        assert {event["outcome"] for event in events} == {"success", "failure"}


class TestOptions:
    def test_time_range_counts_back_from_now(self) -> None:
        now = "2025-06-01T07:50:00Z"
        result = run_report(
            SAMPLE_LOGS,
            "--format",
            "json",
            "--now",
            now,
            "--since",
            "30m",
            "--until",
            "10m",
        )

        assert result.returncode == 0, result.stderr
        start = datetime(2025, 6, 1, 7, 20, tzinfo=UTC)
        end = datetime(2025, 6, 1, 7, 40, tzinfo=UTC)
        kept = [
            event
            for event in _independent_events(SAMPLE_LOGS)
            if start < datetime.fromisoformat(str(event["timestamp"])) <= end
        ]
        assert sum(row["count"] for row in json.loads(result.stdout)) == len(kept)
        assert "2025-06-01T07:20:00Z .. 2025-06-01T07:40:00Z" in result.stderr

    def test_now_is_the_default_until(self) -> None:
        result = run_report(
            SAMPLE_LOGS,
            "--format",
            "json",
            "--now",
            "2025-06-01T07:30:00Z",
            "--since",
            "20m",
        )

        start = datetime(2025, 6, 1, 7, 10, tzinfo=UTC)
        end = datetime(2025, 6, 1, 7, 30, tzinfo=UTC)
        kept = [
            event
            for event in _independent_events(SAMPLE_LOGS)
            if start < datetime.fromisoformat(str(event["timestamp"])) <= end
        ]
        assert sum(row["count"] for row in json.loads(result.stdout)) == len(kept)

    def test_by_action_and_tenant_as_csv(self) -> None:
        result = run_report(SAMPLE_LOGS, "--by", "action,tenant", "--format", "csv")

        assert result.returncode == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(rows[0])[:3] == ["action", "tenant", "count"]
        dm_rows = [row for row in rows if row["tenant"] == ""]
        assert dm_rows, "DM traffic has a null tenant, written as an empty field"
        assert all(row["tenant"].isdigit() for row in rows if row["tenant"])

    def test_outcome_failure_narrows_every_column(self) -> None:
        result = run_report(SAMPLE_LOGS, "--format", "json", "--outcome", "failure")

        rows = json.loads(result.stdout)
        assert rows
        assert all(row["failure_rate"] == 1.0 for row in rows)
        assert all(row["count"] == row["failures"] for row in rows)

    def test_objective_moves_the_marks(self) -> None:
        result = run_report(SAMPLE_LOGS, "--objective", "2s")

        assert result.returncode == 0, result.stderr
        assert "ABOVE" not in result.stdout
        assert "p95 vs 2000 ms" in result.stdout

    def test_markdown_is_a_pipe_table(self) -> None:
        result = run_report(SAMPLE_LOGS, "--format", "markdown")

        lines = result.stdout.splitlines()
        assert lines[2].startswith("| action | count |")
        assert lines[3].startswith("|---|")

    def test_output_file_is_written_and_stdout_stays_empty(
        self, tmp_path: Path
    ) -> None:
        target = tmp_path / "report.json"
        result = run_report(SAMPLE_LOGS, "--format", "json", "-o", target)

        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert json.loads(target.read_text())[0]["action"]

    def test_linear_method_is_available(self) -> None:
        nearest = json.loads(run_report(SAMPLE_LOGS, "--format", "json").stdout)
        linear = json.loads(
            run_report(
                SAMPLE_LOGS, "--format", "json", "--quantile-method", "linear"
            ).stdout
        )

        assert {r["action"]: r["count"] for r in nearest} == {
            r["action"]: r["count"] for r in linear
        }
        assert [r["p95_ms"] for r in nearest] != [r["p95_ms"] for r in linear]

    def test_help_documents_every_option(self) -> None:
        result = run_report("--help")

        for option in (
            "--by",
            "--format",
            "--objective",
            "--outcome",
            "--quantile-method",
            "--since",
            "--until",
            "--now",
            "--output",
            "Exit status",
        ):
            assert option in result.stdout


class TestErrors:
    def test_missing_file_exits_2_naming_it(self, tmp_path: Path) -> None:
        result = run_report(tmp_path / "gone.jsonl")

        assert result.returncode == 2
        assert "gone.jsonl" in result.stderr
        assert "Traceback" not in result.stderr

    def test_no_timing_events_exits_2_saying_what_was_read(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "app.jsonl"
        path.write_text('{"event": "started", "level": "info"}\n\n')

        result = run_report(path)

        assert result.returncode == 2
        assert "no timing events found: read 1 file with 2 lines" in result.stderr

    def test_only_empty_files_give_a_clear_no_events_message(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "a.jsonl").write_bytes(b"")
        (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b""))

        result = run_report(tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz")

        assert result.returncode == 2
        assert "no timing events found" in result.stderr

    def test_empty_range_exits_2_with_the_data_range(self) -> None:
        result = run_report(SAMPLE_LOGS, "--since", "2027-01-01T00:00:00Z")

        assert result.returncode == 2
        assert "no timing events in 2027-01-01T00:00:00Z .. end" in result.stderr
        assert "the logs hold" in result.stderr

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--by", "action,user"], "'user' is unknown"),
            (["--objective", "fast"], "'fast'"),
            (["--since", "yesterday"], "'yesterday'"),
            (["--now", "2026-12-01T00:00:00"], "no UTC offset"),
            (["--format", "xml"], "'xml'"),
        ],
    )
    def test_bad_option_exits_2_naming_the_value(
        self, args: list[str], message: str
    ) -> None:
        result = run_report(SAMPLE_LOGS, *args)

        assert result.returncode == 2
        assert message in result.stderr

    def test_control_characters_from_logs_are_escaped_in_the_table(
        self, tmp_path: Path
    ) -> None:
        line = {
            "timestamp": "2026-12-01T07:00:00.000000Z",
            "level": "info",
            "event": "timing",
            "action": "evil\x1b[2Jaction",
            "duration_ms": 1.0,
            "outcome": "success",
            "tenant": None,
            "action_type": "evil",
            "entrypoint": "bot",
            "service": "s",
            "event_id": "e1",
            "schema": 1,
        }
        path = tmp_path / "evil.jsonl"
        path.write_text(json.dumps(line) + "\n")

        result = run_report(path)

        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        assert "evil\\x1b[2Jaction" in result.stdout
