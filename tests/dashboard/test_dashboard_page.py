"""The dashboard page as HTML text: self-contained, escaped, and complete."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from aggregator.dashboard_charts import (
    MAX_LABEL_CHARS,
    TOOLBAR_MARGIN_PX,
    short_label,
    time_label,
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


QUOTED_ACTION = "say \"hi\" & 'bye' <now>"
LONG_ACTION = "long." + "x" * 145


def multi_action_page(tmp_path: Path, actions: list[str]) -> dict[str, Any]:
    lines = steady_traffic(actions, minutes=30, per_minute=1)
    return figure_specs(render(write_lines(tmp_path / "a.jsonl", lines)))


class TestChartLabels:
    def test_quotes_stay_plain(self, tmp_path: Path) -> None:
        """plotly shows `&quot;` literally, so quotes are not escaped."""
        specs = multi_action_page(tmp_path, [QUOTED_ACTION])
        expected = "say \"hi\" &amp; 'bye' &lt;now&gt;"
        line = specs["failure-rate"]["data"][0]
        assert line["name"] == expected
        assert line["customdata"][0][1] == expected
        assert specs["budget"]["data"][0]["y"] == [expected]
        assert specs["budget"]["layout"]["yaxis"]["ticktext"] == [expected]
        assert "&quot;" not in json.dumps(specs)
        assert "&#x27;" not in json.dumps(specs)

    def test_long_name_cut_in_legend(self, tmp_path: Path) -> None:
        """Legends and ticks end in an ellipsis; hover keeps the whole name."""
        specs = multi_action_page(tmp_path, [LONG_ACTION])
        cut = LONG_ACTION[: MAX_LABEL_CHARS - 1] + "\u2026"
        for key in ("burn-down", "failure-rate"):
            line = specs[key]["data"][0]
            assert line["name"] == cut
            assert line["customdata"][0][1] == LONG_ACTION
            assert "%{customdata[1]}" in line["hovertemplate"]
        budget = specs["budget"]
        assert budget["data"][0]["y"] == [LONG_ACTION]
        assert budget["layout"]["yaxis"]["ticktext"] == [cut]

    def test_cut_never_splits_entity(self) -> None:
        text = "a" * (MAX_LABEL_CHARS - 2) + "&<>" + "b" * 10
        assert short_label(text) == "a" * (MAX_LABEL_CHARS - 2) + "&amp;\u2026"

    def test_alike_names_stay_apart(self, tmp_path: Path) -> None:
        """Two names alike in their first characters keep two budget bars."""
        actions = [LONG_ACTION + ".one", LONG_ACTION + ".two"]
        specs = multi_action_page(tmp_path, actions)
        assert sorted(specs["budget"]["data"][0]["y"]) == sorted(actions)

    def test_toolbar_margin(self, tmp_path: Path) -> None:
        """The multi-action charts leave room above the plot for the toolbar."""
        specs = multi_action_page(tmp_path, ["a.one", "a.two"])
        for key in ("budget", "burn-down", "failure-rate"):
            assert specs[key]["layout"]["margin"]["t"] >= TOOLBAR_MARGIN_PX, key

    @pytest.mark.parametrize(
        ("moment", "text"),
        [
            (datetime(1, 1, 4, tzinfo=UTC), "0001-01-04 00:00:00"),
            (datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "0999-12-31 23:59:59"),
            (datetime(2026, 12, 1, 7, 5, tzinfo=UTC), "2026-12-01 07:05:00"),
        ],
    )
    def test_time_label_four_digit_year(self, moment: datetime, text: str) -> None:
        assert time_label(moment) == text


class TestSingleWindow:
    @pytest.fixture
    def specs(self, tmp_path: Path) -> dict[str, Any]:
        path = write_lines(tmp_path / "a.jsonl", [timing_line("api.auth", 12.5, START)])
        return figure_specs(render(path))

    def test_objective_line_two_points(self, specs: dict[str, Any]) -> None:
        """One window still gets an objective line, from its start to its end."""
        objective = specs["latency-0"]["data"][1]
        assert objective["x"] == ["2026-11-30 23:59:00", "2026-12-01 00:00:00"]
        assert objective["y"] == [500.0, 500.0]

    @pytest.mark.parametrize("key", ["latency-0", "burn-down", "failure-rate"])
    def test_time_axis_spans_windows(self, specs: dict[str, Any], key: str) -> None:
        """The time axis spans a window each side, not plotly's 1 ms."""
        xaxis = specs[key]["layout"]["xaxis"]
        assert xaxis["range"] == ["2026-11-30 23:59:00", "2026-12-01 00:01:00"]

    def test_wide_range_axis_automatic(self, incident_page: str) -> None:
        """With many windows plotly picks the range itself."""
        assert (
            "range" not in figure_specs(incident_page)["latency-0"]["layout"]["xaxis"]
        )
