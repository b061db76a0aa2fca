"""The dashboard page as HTML text: self-contained, escaped, and complete."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import plotly.graph_objects as go
import pytest
from dashboard_support import (
    HOSTILE_ACTION,
    HOSTILE_ERROR,
    HOSTILE_TENANT,
    INCIDENT_MINUTES,
    START,
    distinct_actions,
    figure_specs,
    incident_traffic,
    parse_page,
    steady_traffic,
    timing_line,
    write_lines,
)
from helpers import REPO_ROOT

from aggregator.checking import MTIME_SLACK
from aggregator.dashboard import (
    CONTENT_SECURITY_POLICY,
    build_dashboard,
    read_events_since,
)
from aggregator.dashboard_data import DashboardOptions
from aggregator.errors import InputError
from aggregator.slo_config import SloConfig
from aggregator.timerange import TimeRange

SAMPLE_LOGS = REPO_ROOT / "sample_logs"


def render(path: Path, time_range: TimeRange | None = None) -> str:
    return build_dashboard(
        [path], SloConfig(), DashboardOptions(), time_range or TimeRange()
    )


@pytest.fixture
def hostile_page(tmp_path: Path) -> str:
    lines = [
        timing_line(
            HOSTILE_ACTION,
            900.0,
            START + timedelta(seconds=index),
            tenant=HOSTILE_TENANT,
            error_type=HOSTILE_ERROR,
            outcome="failure" if index % 5 == 0 else "success",
        )
        for index in range(1, 41)
    ]
    return render(write_lines(tmp_path / "hostile.jsonl", lines))


class TestHostileStrings:
    def test_script_elements_only_ours(self, hostile_page: str) -> None:
        """An action holding `</script>` adds no script element to the page."""
        tags = parse_page(hostile_page).tags
        scripts = [attrs for tag, attrs in tags if tag == "script"]
        assert len(scripts) == 3
        assert scripts[0] == {"type": "application/json", "id": "slo-figures"}

    def test_no_injected_elements(self, hostile_page: str) -> None:
        """A tenant that tries to open an `<img>` tag stays text."""
        tags = [tag for tag, _ in parse_page(hostile_page).tags]
        assert "img" not in tags
        assert "b" not in tags

    def test_table_shows_raw_text(self, hostile_page: str) -> None:
        """The table cells show action, tenant and error type as logged."""
        cells = parse_page(hostile_page).cells
        assert HOSTILE_ACTION in cells
        assert HOSTILE_TENANT in cells
        assert f"{HOSTILE_ERROR} (40)" in cells

    def test_heading_shows_raw_text(self, hostile_page: str) -> None:
        headings = parse_page(hostile_page).headings
        assert any(heading.startswith(HOSTILE_ACTION) for heading in headings)

    def test_embedded_json_has_no_markup(self, hostile_page: str) -> None:
        """No `<` or `>` inside the JSON, so nothing can end its element."""
        match = re.search(r'id="slo-figures">(.*?)</script>', hostile_page, re.S)
        assert match is not None
        assert "<" not in match.group(1)
        assert ">" not in match.group(1)

    def test_plotly_labels_are_entities(self, hostile_page: str) -> None:
        """plotly.js reads labels as HTML, so they carry entities, not tags."""
        specs = figure_specs(hostile_page)
        names = [trace["name"] for trace in specs["failure-rate"]["data"]]
        assert names == ["&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;"]
        assert specs["budget"]["data"][0]["y"] == names


class TestSelfContained:
    def test_no_external_references(self) -> None:
        """No element loads a file, style or script from elsewhere."""
        page = render(SAMPLE_LOGS)
        for tag, attrs in parse_page(page).tags:
            assert "src" not in attrs, tag
            assert tag not in ("link", "iframe", "img", "object", "embed")

    def test_policy_forbids_network(self) -> None:
        page = render(SAMPLE_LOGS)
        metas = [attrs for tag, attrs in parse_page(page).tags if tag == "meta"]
        policies = [
            meta
            for meta in metas
            if meta.get("http-equiv") == "Content-Security-Policy"
        ]
        assert policies[0]["content"] == CONTENT_SECURITY_POLICY
        assert "default-src 'none'" in CONTENT_SECURITY_POLICY
        assert "connect-src" not in CONTENT_SECURITY_POLICY

    def test_plotly_embedded(self) -> None:
        page = render(SAMPLE_LOGS)
        assert "plotly.js v" in page
        assert len(page.encode()) > 4_000_000


@pytest.fixture
def incident_page(tmp_path: Path) -> str:
    return render(write_lines(tmp_path / "incident.jsonl", incident_traffic()))


class TestFigures:
    def test_every_figure_valid_for_plotly(self) -> None:
        """plotly's own validators accept every figure spec."""
        specs = figure_specs(render(SAMPLE_LOGS))
        for key, spec in specs.items():
            go.Figure(spec)  # raises ValueError on an unknown property
            assert spec["data"], key

    def test_one_latency_chart_per_action(self) -> None:
        specs = figure_specs(render(SAMPLE_LOGS))
        latency = [key for key in specs if key.startswith("latency-")]
        assert len(latency) == distinct_actions(SAMPLE_LOGS)
        assert {"budget", "burn-down", "failure-rate"} <= set(specs)

    def test_objective_line_drawn(self, incident_page: str) -> None:
        objective = figure_specs(incident_page)["latency-0"]["data"][1]
        assert objective["name"] == "objective 500 ms"
        assert objective["y"] == [500.0, 500.0]

    def test_breached_windows_marked(self, incident_page: str) -> None:
        """The 40 slow minutes of config.update carry red crosses, first."""
        headings = parse_page(incident_page).headings
        assert headings[0].startswith("config.update")
        marks = figure_specs(incident_page)["latency-0"]["data"][2]
        assert marks["name"] == "breached window"
        assert len(marks["x"]) == len(INCIDENT_MINUTES)
        assert marks["y"] == [900.0] * len(INCIDENT_MINUTES)

    def test_rare_action_not_judged(self, incident_page: str) -> None:
        """reset.execute, 12 events in two hours, is listed as too few events."""
        assert '<tr data-status="few events"><td class="text">reset.execute' in (
            incident_page
        )


class TestEdgeRanges:
    def test_empty_range_says_so(self, tmp_path: Path) -> None:
        """A range with no events renders a page with a notice and no charts."""
        path = write_lines(tmp_path / "a.jsonl", steady_traffic(["config.get"]))
        empty = TimeRange(START + timedelta(days=2), START + timedelta(days=3))
        page = render(path, empty)
        assert 'id="no-events"' in page
        assert figure_specs(page) == {}
        assert "data-figure=" not in page

    def test_single_event_page(self, tmp_path: Path) -> None:
        """One event gives one action, judged as too few events."""
        path = write_lines(tmp_path / "a.jsonl", [timing_line("api.auth", 12.5, START)])
        page = render(path)
        specs = figure_specs(page)
        assert [k for k in specs if k.startswith("latency-")] == ["latency-0"]
        assert specs["latency-0"]["data"][0]["y"] == [12.5]
        assert '<tr data-status="few events">' in page


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


class TestReadingRecent:
    def test_old_files_skipped(self, tmp_path: Path) -> None:
        """A file last modified before since - MTIME_SLACK is not read."""
        since = START + timedelta(hours=2)
        old = write_lines(tmp_path / "old.jsonl", steady_traffic(["old.action"]))
        set_mtime(old, since - MTIME_SLACK - timedelta(seconds=1))
        recent_lines = steady_traffic(["new.action"], start=since)
        recent = write_lines(tmp_path / "recent.jsonl", recent_lines)
        set_mtime(recent, since + timedelta(hours=1))

        events, stats = read_events_since([tmp_path], since)
        assert [file.path for file in stats.files] == [recent]
        assert set(events["action"]) == {"new.action"}

    def test_file_within_slack_read(self, tmp_path: Path) -> None:
        """A file modified within the slack before `since` may hold later events."""
        since = START + timedelta(hours=2)
        path = write_lines(tmp_path / "a.jsonl", steady_traffic(["config.get"]))
        set_mtime(path, since - MTIME_SLACK + timedelta(seconds=1))
        events, stats = read_events_since([tmp_path], since)
        assert len(stats.files) == 1
        assert events.height == 120

    def test_no_since_reads_all(self, tmp_path: Path) -> None:
        path = write_lines(tmp_path / "a.jsonl", steady_traffic(["config.get"]))
        set_mtime(path, datetime(2000, 1, 1, tzinfo=UTC))
        _, stats = read_events_since([tmp_path], None)
        assert len(stats.files) == 1

    def test_page_counts_recent_files(self, tmp_path: Path) -> None:
        """The live page's range skips the old file, and its header says so."""
        since = START + timedelta(minutes=30)
        old = write_lines(tmp_path / "old.jsonl", steady_traffic(["old.action"]))
        set_mtime(old, since - timedelta(days=2))
        recent = write_lines(tmp_path / "recent.jsonl", steady_traffic(["config.get"]))
        set_mtime(recent, START + timedelta(hours=1))

        page = render(tmp_path, TimeRange(since, START + timedelta(hours=1)))
        assert "from 1 file;" in page
        assert "old.action" not in page

    def test_missing_folder_still_raises(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="missing"):
            read_events_since([tmp_path / "missing"], START)
