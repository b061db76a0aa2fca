"""`datadrop-slo report --format html`, run as the installed entry point."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from dashboard_support import (
    START,
    distinct_actions,
    figure_specs,
    steady_traffic,
    write_lines,
)
from helpers import REPO_ROOT, run_command

SAMPLE_LOGS = REPO_ROOT / "sample_logs"


def run_report(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_command("report", *args, cwd=cwd)


class TestReportHtml:
    def test_writes_page(self, tmp_path: Path) -> None:
        """The sample logs give a page with one latency chart per action."""
        target = tmp_path / "slo.html"
        result = run_report("--format", "html", "-o", target, SAMPLE_LOGS, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"wrote {target}" in result.stderr
        assert result.stdout == ""
        specs = figure_specs(target.read_text(encoding="utf-8"))
        latency = [key for key in specs if key.startswith("latency-")]
        assert len(latency) == distinct_actions(SAMPLE_LOGS)

    def test_new_page_private(self, tmp_path: Path) -> None:
        """The page lists tenant ids, so a new file is readable by its owner only."""
        target = tmp_path / "slo.html"
        result = run_report("--format", "html", "-o", target, SAMPLE_LOGS, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert target.stat().st_mode & 0o777 == 0o600

    def test_replaces_page_whole(self, tmp_path: Path) -> None:
        """An existing page is replaced atomically and keeps its mode."""
        target = tmp_path / "slo.html"
        target.write_text("old page", encoding="utf-8")
        target.chmod(0o644)
        result = run_report("--format", "html", "-o", target, SAMPLE_LOGS, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert target.stat().st_mode & 0o777 == 0o644
        assert sorted(path.name for path in tmp_path.iterdir()) == ["slo.html"]

    def test_needs_output_file(self, tmp_path: Path) -> None:
        """Without -o the command stops before reading, with the fix named."""
        result = run_report("--format", "html", SAMPLE_LOGS, cwd=tmp_path)
        assert result.returncode == 2
        assert "give -o FILE" in result.stderr
        assert result.stdout == ""

    def test_empty_range_exits_2(self, tmp_path: Path) -> None:
        """No events in the range: exit 2 as for every format, no file."""
        target = tmp_path / "slo.html"
        result = run_report(
            "--format", "html", "-o", target, "--since", "2001-01-01T00:00:00Z",
            "--until", "2001-01-02T00:00:00Z", SAMPLE_LOGS, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 2
        assert "no timing events in" in result.stderr
        assert not target.exists()

    def test_slo_toml_objectives(self, tmp_path: Path) -> None:
        """An override in slo.toml in the working folder sets the objective."""
        (tmp_path / "slo.toml").write_text(
            '[[latency.overrides]]\nmatch = "config.*"\nthreshold = "50ms"\n',
            encoding="utf-8",
        )
        logs = write_lines(tmp_path / "a.jsonl", steady_traffic(["config.get"]))
        target = tmp_path / "slo.html"
        result = run_report("--format", "html", "-o", target, logs, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        page = target.read_text(encoding="utf-8")
        assert figure_specs(page)["latency-0"]["data"][1]["y"][0] == 50.0
        assert '<tr data-status="breached">' in page

    def test_explicit_objective_wins(self, tmp_path: Path) -> None:
        logs = write_lines(tmp_path / "a.jsonl", steady_traffic(["config.get"]))
        target = tmp_path / "slo.html"
        result = run_report(
            "--format", "html", "-o", target, "--objective", "80ms", logs,
            cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        specs = figure_specs(target.read_text(encoding="utf-8"))
        assert specs["latency-0"]["data"][1]["name"] == "objective 80 ms"

    def test_since_limits_range(self, tmp_path: Path) -> None:
        lines = steady_traffic(["config.get"], minutes=120)
        logs = write_lines(tmp_path / "a.jsonl", lines)
        target = tmp_path / "slo.html"
        since = (START + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
        result = run_report(
            "--format", "html", "-o", target, "--since", since, logs, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert "wrote" in result.stderr
        assert "(120 events)" in result.stderr


FORMATS = ["table", "json", "csv", "html"]


class TestUnwritableOutput:
    """An -o value that cannot be written exits 2 with a message, for every format."""

    @pytest.mark.parametrize("output_format", FORMATS)
    def test_dangling_symlink_exits_2(self, tmp_path: Path, output_format: str) -> None:
        link = tmp_path / "dangling.out"
        link.symlink_to(tmp_path / "missing" / "report.out")
        result = run_report(
            "--format", output_format, "-o", link.name, SAMPLE_LOGS, cwd=tmp_path
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "-o 'dangling.out'" in result.stderr
        assert "missing/report.out" in result.stderr

    @pytest.mark.parametrize("output_format", FORMATS)
    def test_empty_name_exits_2(self, tmp_path: Path, output_format: str) -> None:
        result = run_report(
            "--format", output_format, "-o", "", SAMPLE_LOGS, cwd=tmp_path
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "-o ''" in result.stderr

    @pytest.mark.parametrize("output_format", FORMATS)
    def test_symlink_to_folder_exits_2(
        self, tmp_path: Path, output_format: str
    ) -> None:
        """A symlink that resolves to a folder cannot take the report either."""
        link = tmp_path / "folder.out"
        link.symlink_to(tmp_path)
        result = run_report(
            "--format", output_format, "-o", link.name, SAMPLE_LOGS, cwd=tmp_path
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "'folder.out'" in result.stderr

    def test_symlink_written_through(self, tmp_path: Path) -> None:
        """A symlink to a file in an existing folder still gets the report."""
        real = tmp_path / "real.json"
        link = tmp_path / "link.json"
        link.symlink_to(real)
        result = run_report(
            "--format", "json", "-o", link.name, SAMPLE_LOGS, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert link.is_symlink()
        assert real.read_text(encoding="utf-8").startswith("[")


def test_one_event_singular(tmp_path: Path) -> None:
    """The stderr line after writing counts in the singular for one event."""
    path = write_lines(tmp_path / "one.jsonl", steady_traffic(["a.b"])[:1])
    result = run_report("--format", "html", "-o", "one.html", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote one.html (1 event)\n" in result.stderr
