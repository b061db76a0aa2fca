"""The dashboard page in real headless Chromium, with the network cut."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from chromium_driver import Chromium, Page, open_page
from dashboard_support import (
    HOSTILE_ACTION,
    HOSTILE_ERROR,
    HOSTILE_TENANT,
    INCIDENT_MINUTES,
    START,
    distinct_actions,
    incident_traffic,
    steady_traffic,
    timing_line,
    write_lines,
)
from helpers import REPO_ROOT

from aggregator.dashboard import build_dashboard
from aggregator.dashboard_data import DashboardOptions
from aggregator.slo_config import SloConfig
from aggregator.timerange import TimeRange

SAMPLE_LOGS = REPO_ROOT / "sample_logs"

# Per chart: whether plotly drew its SVG, and how many marks it drew.
CHART_STATE = """
Array.from(document.querySelectorAll("[data-figure]")).map((chart) => ({
  figure: chart.getAttribute("data-figure"),
  drawn: chart.getAttribute("data-drawn") === "true",
  svg: chart.querySelectorAll("svg.main-svg").length,
  traces: chart.querySelectorAll(".scatterlayer .trace, .barlayer .trace").length,
  points: chart.querySelectorAll(".scatterlayer .point, .barlayer .point").length,
  lines: chart.querySelectorAll(".scatterlayer .js-line").length,
}))
"""

# Per multi-action chart: the plot area's width and the chart's width, in px.
PLOT_WIDTHS = """
Object.fromEntries(["burn-down", "failure-rate"].map((key) => {
  const chart = document.querySelector(`[data-figure="${key}"]`);
  const plot = chart.querySelector(".nsewdrag");
  return [key, [plot.getBoundingClientRect().width,
                chart.getBoundingClientRect().width]];
}))
"""

DRAWN = (
    "document.body.getAttribute('data-charts-drawn') || "
    "document.body.getAttribute('data-chart-error') && "
    "'error: ' + document.body.getAttribute('data-chart-error')"
)


def page_file(tmp_path: Path, logs: Path, time_range: TimeRange | None = None) -> str:
    page = build_dashboard(
        [logs], SloConfig(), DashboardOptions(), time_range or TimeRange()
    )
    target = tmp_path / "slo.html"
    target.write_text(page, encoding="utf-8")
    return target.as_uri()


def wait_drawn(page: Page) -> str:
    state = str(page.wait_until(DRAWN))
    assert not state.startswith("error"), state
    return state


def charts(page: Page) -> list[dict[str, Any]]:
    state: list[dict[str, Any]] = page.evaluate(CHART_STATE)
    return state


def assert_quiet(page: Page, url: str) -> None:
    """No console error or warning, and no request but the page itself."""
    log = page.log()
    assert log.errors == []
    assert log.requests == [url]


class TestSamplePage:
    def test_charts_drawn(
        self, browser: Chromium, tmp_path: Path, artifacts: Path
    ) -> None:
        """Every chart draws from the sample logs, with a screenshot kept."""
        url = page_file(tmp_path, SAMPLE_LOGS)
        chart_count = distinct_actions(SAMPLE_LOGS) + 3
        started = time.monotonic()
        with open_page(browser, url) as page:
            assert wait_drawn(page) == str(chart_count)
            render_s = time.monotonic() - started
            state = charts(page)
            page.screenshot(artifacts / "dashboard-sample.png")
            assert_quiet(page, url)

        assert len(state) == chart_count
        for chart in state:
            assert chart["drawn"], chart
            assert chart["svg"] >= 1, chart
            assert chart["traces"] >= 1, chart
        latency = [c for c in state if c["figure"].startswith("latency-")]
        assert all(chart["points"] >= 1 for chart in latency)
        assert render_s < 30
        assert (artifacts / "dashboard-sample.png").stat().st_size > 50_000

    def test_summary_table_rows(self, browser: Chromium, tmp_path: Path) -> None:
        """The breached action comes first, the unjudged one last."""
        logs = write_lines(tmp_path / "incident.jsonl", incident_traffic())
        with open_page(browser, page_file(tmp_path, logs)) as page:
            wait_drawn(page)
            statuses = page.evaluate(
                "Array.from(document.querySelectorAll('#summary-table tbody tr'))"
                ".map((row) => row.children[1].textContent)"
            )
            crosses = page.evaluate(
                "document.querySelectorAll("
                '\'[data-figure="latency-0"] .scatterlayer .trace:nth-child(3) '
                ".point').length"
            )
        assert statuses == ["breached", "ok", "few events"]
        assert crosses == len(INCIDENT_MINUTES)


class TestHostilePage:
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        lines = []
        for action in (HOSTILE_ACTION, HOSTILE_ERROR):
            lines += [
                timing_line(
                    action,
                    900.0,
                    START + timedelta(seconds=index),
                    tenant=HOSTILE_TENANT,
                    error_type=HOSTILE_ERROR,
                )
                for index in range(1, 41)
            ]
        return page_file(tmp_path, write_lines(tmp_path / "h.jsonl", lines))

    def test_no_script_runs(self, browser: Chromium, url: str) -> None:
        """Hostile names run no script and add no element; charts still draw."""
        with open_page(browser, url) as page:
            assert wait_drawn(page) == "5"
            assert page.evaluate("window.__pwned === undefined") is True
            assert page.evaluate("document.querySelectorAll('img').length") == 0
            assert page.evaluate("document.querySelectorAll('body b').length") == 0
            assert_quiet(page, url)

    def test_names_shown_as_text(self, browser: Chromium, url: str) -> None:
        """Table, headings and chart legends show the names as logged."""
        with open_page(browser, url) as page:
            wait_drawn(page)
            cells = page.evaluate(
                "Array.from(document.querySelectorAll('td')).map((c) => c.textContent)"
            )
            legend = page.evaluate(
                "Array.from(document.querySelectorAll("
                "'[data-figure=\"failure-rate\"] .legendtext'))"
                ".map((t) => t.textContent)"
            )
            ticks = page.evaluate(
                "Array.from(document.querySelectorAll("
                "'[data-figure=\"budget\"] .ytick text')).map((t) => t.textContent)"
            )
        assert HOSTILE_ACTION in cells
        assert HOSTILE_ERROR in cells
        assert f"{HOSTILE_ERROR} (40)" in cells
        assert HOSTILE_TENANT in cells
        assert sorted(legend) == sorted([HOSTILE_ACTION, HOSTILE_ERROR])
        assert sorted(ticks) == sorted([HOSTILE_ACTION, HOSTILE_ERROR])


class TestEdgePages:
    def test_empty_range(self, browser: Chromium, tmp_path: Path) -> None:
        """A range without events shows the notice and no chart, quietly."""
        logs = write_lines(tmp_path / "a.jsonl", steady_traffic(["config.get"]))
        empty = TimeRange(START + timedelta(days=1), START + timedelta(days=2))
        url = page_file(tmp_path, logs, empty)
        with open_page(browser, url) as page:
            assert wait_drawn(page) == "0"
            notice = page.evaluate("document.getElementById('no-events').textContent")
            assert_quiet(page, url)
        assert notice.startswith("No timing events between")

    def test_single_event(self, browser: Chromium, tmp_path: Path) -> None:
        logs = write_lines(tmp_path / "a.jsonl", [timing_line("api.auth", 12.5, START)])
        url = page_file(tmp_path, logs)
        with open_page(browser, url) as page:
            assert wait_drawn(page) == "4"
            state = charts(page)
            assert_quiet(page, url)
        latency = state[0]
        assert latency["figure"] == "latency-0"
        assert latency["points"] >= 1

    def test_single_event_objective_drawn(
        self, browser: Chromium, tmp_path: Path
    ) -> None:
        """One event: the dashed objective line is drawn and 500 ms is on the axis."""
        logs = write_lines(tmp_path / "a.jsonl", [timing_line("api.auth", 12.5, START)])
        url = page_file(tmp_path, logs)
        with open_page(browser, url) as page:
            wait_drawn(page)
            state = charts(page)
            y_range = page.evaluate(
                "document.querySelector('[data-figure=\"latency-0\"]')"
                "._fullLayout.yaxis.range"
            )
        assert state[0]["lines"] >= 1
        assert y_range[1] > 500

    def test_quotes_and_long_names(
        self, browser: Chromium, tmp_path: Path, artifacts: Path
    ) -> None:
        """Quotes show as typed, and a 150-character name leaves the plot wide."""
        quoted = "say \"hi\" & 'bye'"
        long_name = "long." + "x" * 145
        lines = steady_traffic([quoted, long_name], minutes=30, per_minute=1)
        url = page_file(tmp_path, write_lines(tmp_path / "a.jsonl", lines))
        with open_page(browser, url) as page:
            wait_drawn(page)
            legend = page.evaluate(
                "Array.from(document.querySelectorAll("
                "'[data-figure=\"failure-rate\"] .legendtext'))"
                ".map((t) => t.textContent)"
            )
            widths = page.evaluate(PLOT_WIDTHS)
            page.screenshot(artifacts / "dashboard-long-names.png")
            assert_quiet(page, url)
        assert quoted in legend
        cut = [text for text in legend if text.startswith("long.")]
        assert cut == [long_name[:47] + "\u2026"]
        for key, (plot_px, chart_px) in widths.items():
            assert plot_px > chart_px / 2, key

    def test_hundred_actions_readable(
        self, browser: Chromium, tmp_path: Path, artifacts: Path
    ) -> None:
        """100 actions: every chart draws and every budget bar keeps its label."""
        actions = [f"action.number_{index:03d}" for index in range(100)]
        lines = steady_traffic(actions, minutes=60, per_minute=1)
        url = page_file(tmp_path, write_lines(tmp_path / "a.jsonl", lines))
        started = time.monotonic()
        with open_page(browser, url) as page:
            assert wait_drawn(page) == "103"
            render_s = time.monotonic() - started
            state = charts(page)
            ticks = page.evaluate(
                "document.querySelectorAll('[data-figure=\"budget\"] .ytick').length"
            )
            visible = page.evaluate(
                "document.querySelectorAll("
                "'[data-figure=\"failure-rate\"] .scatterlayer .trace').length"
            )
            rows = page.evaluate(
                "document.querySelectorAll('#summary-table tbody tr').length"
            )
            page.screenshot(artifacts / "dashboard-100-actions.png")
            assert_quiet(page, url)

        assert all(chart["drawn"] and chart["svg"] for chart in state)
        assert ticks == 100
        assert visible == 10
        assert rows == 100
        assert render_s < 60
