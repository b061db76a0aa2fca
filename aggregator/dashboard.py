"""Render the SLO dashboard: one self-contained HTML page that opens offline.

The page embeds plotly.js (from the `plotly` Python package), its CSS and
script, and the figure specs as JSON, so it makes no network request. A
Content-Security-Policy in the page forbids any anyway: a browser blocks every
fetch, image or font from outside the file.

Strings from the logs are escaped three ways: `html.escape` in the tables and
headings, `dashboard_charts.label` in plotly labels, and every `<`, `>` and
`&` of the embedded JSON written as a `\\u` escape, so that a `</script>` in
an action name cannot end the script element that holds the specs.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
import polars as pl

from aggregator import dashboard_charts as charts
from aggregator.checking import MTIME_SLACK
from aggregator.dashboard_data import (
    BREACHED,
    FEW_EVENTS,
    DashboardData,
    DashboardOptions,
    build_dashboard_data,
)
from aggregator.files import find_log_files
from aggregator.loading import ReadStats, read_files
from aggregator.slo_config import SloConfig
from aggregator.timerange import TimeRange, format_instant

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)

DEFAULT_TITLE = "DataDrop SLO dashboard"

_JSON_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


@dataclass(frozen=True, slots=True)
class PageFacts:
    """Facts the page states about its input besides the numbers."""

    title: str = DEFAULT_TITLE
    events: int = 0
    files: int = 0
    notes: tuple[str, ...] = ()
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def build_dashboard(
    paths: Iterable[str | os.PathLike[str]],
    config: SloConfig,
    options: DashboardOptions,
    time_range: TimeRange,
    *,
    title: str = DEFAULT_TITLE,
) -> str:
    """Read log files and render the dashboard page for events in `time_range`.

    An empty range gives a page that states so, not an error, so that a live
    page keeps working while no traffic arrives. With `time_range.since` set,
    files last modified more than `MTIME_SLACK` before it are skipped unread,
    as `check` does, so the cost does not grow with the history kept.

    Raises:
        InputError: a path is missing or unreadable, or a folder holds no logs.
    """
    events, stats = read_events_since(paths, time_range.since)
    return dashboard_page(
        time_range.filter(events), stats, config, options, time_range, title=title
    )


def dashboard_page(
    events: pl.DataFrame,
    stats: ReadStats,
    config: SloConfig,
    options: DashboardOptions,
    time_range: TimeRange,
    *,
    title: str = DEFAULT_TITLE,
) -> str:
    """Render the dashboard page for events already cut to `time_range`."""
    data = build_dashboard_data(
        events, config, options, start=time_range.since, end=time_range.until
    )
    facts = PageFacts(
        title=title,
        events=events.height,
        files=len(stats.files),
        notes=tuple(reading_notes(stats)),
    )
    return render_dashboard(data, facts)


def read_events_since(
    paths: Iterable[str | os.PathLike[str]], since: datetime | None
) -> tuple[pl.DataFrame, ReadStats]:
    """Read the events of the log files that can hold events after `since`.

    A file last modified before `since - MTIME_SLACK` holds only older
    events, unless its writer's clock was skewed by more than the slack.

    Raises:
        InputError: a path is missing or unreadable, or a folder holds no logs.
    """
    files = find_log_files(paths)
    if since is not None:
        oldest_mtime = (since - MTIME_SLACK).timestamp()
        files = [path for path in files if path.stat().st_mtime >= oldest_mtime]
    return read_files(files)


def reading_notes(stats: ReadStats) -> list[str]:
    """Describe skipped lines, unfinished files and dropped duplicates briefly."""
    notes = []
    for file in stats.files:
        if file.skipped_total:
            first = min(tally.first_line for tally in file.skipped.values())
            notes.append(
                f"{file.path}: skipped {file.skipped_total:,} malformed "
                f"{_plural(file.skipped_total, 'line')} (first at line {first})"
            )
        if file.error is not None:
            notes.append(f"{file.path}: stopped after line {file.lines}: {file.error}")
    if stats.duplicates:
        notes.append(
            f"dropped {stats.duplicates:,} duplicate "
            f"{_plural(stats.duplicates, 'event')} by event_id"
        )
    return notes


def render_dashboard(data: DashboardData, facts: PageFacts) -> str:
    """Render the complete page as one HTML string."""
    figures: dict[str, charts.Figure] = {}
    if data.actions.height:
        body = _sections(data, figures)
    else:
        body = _empty_notice(data)

    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            _head(facts.title),
            "<body>",
            _header(data, facts),
            body,
            _script_data("slo-figures", figures),
            f"<script>{_plotly_js()}</script>",
            f"<script>{_asset('dashboard.js')}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _head(title: str) -> str:
    return (
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" '
        f'content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n"
        f"<style>\n{_asset('dashboard.css')}</style>\n"
        "</head>"
    )


def _header(data: DashboardData, facts: PageFacts) -> str:
    window_min = data.window.total_seconds() / 60
    lines = [
        "<header>",
        f"<h1>{_text(facts.title)}</h1>",
        f'<p class="facts">{_text(format_instant(data.start))} .. '
        f"{_text(format_instant(data.end))}: {facts.events:,} "
        f"{_plural(facts.events, 'event')} from {facts.files:,} "
        f"{_plural(facts.files, 'file')}; windows of {window_min:g} min; "
        f"percentiles {_text(data.options.method.value)}; generated "
        f"{_text(format_instant(facts.generated_at.replace(microsecond=0)))}</p>",
    ]
    if facts.notes:
        items = "".join(f"<li>{_text(note)}</li>" for note in facts.notes)
        lines.append(f'<ul class="notes">{items}</ul>')
    lines.append(
        '<nav><a href="#summary">Summary</a><a href="#latency">Latency</a>'
        '<a href="#budget">Error budget</a><a href="#failures">Failures</a>'
        '<a href="#tenants">Tenants</a></nav>'
    )
    lines.append("</header>")
    return "\n".join(lines)


def _empty_notice(data: DashboardData) -> str:
    return (
        '<p class="empty" id="no-events">No timing events between '
        f"{_text(format_instant(data.start))} and "
        f"{_text(format_instant(data.end))}.</p>"
    )


def _sections(data: DashboardData, figures: dict[str, charts.Figure]) -> str:
    figures["budget"] = charts.budget_figure(data.actions)
    figures["burn-down"] = charts.burn_down_figure(
        data.actions, data.windows, data.window
    )
    figures["failure-rate"] = charts.failure_rate_figure(
        data.actions, data.windows, data.window
    )
    return "\n".join(
        [
            _summary_section(data.actions),
            _latency_section(data, figures),
            _budget_section(),
            _failure_section(),
            _tenant_section(data),
        ]
    )


_SUMMARY_COLUMNS = (
    ("action", "action"),
    ("status", "status"),
    ("count", "events"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"),
    ("failure_rate", "fail %"),
    ("objective", "objective"),
    ("budget_remaining", "budget left %"),
    ("breached_windows", "breached windows"),
    ("top_error", "top error type"),
)


def _summary_section(actions: pl.DataFrame) -> str:
    headings = "".join(
        f'<th class="{_align(key)}">{_text(name)}</th>'
        for key, name in _SUMMARY_COLUMNS
    )
    rows = "\n".join(_summary_row(row) for row in actions.iter_rows(named=True))
    return (
        '<section id="summary"><h2>Objectives per action</h2>\n'
        '<p class="hint">Status compares the good-events ratio over the whole '
        "range with the objective's target; actions with fewer events than the "
        "objective's minimum are not judged.</p>\n"
        f'<table id="summary-table"><thead><tr>{headings}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody></table></section>"
    )


def _summary_row(row: dict[str, Any]) -> str:
    cells = {
        "action": _text(row["action"]),
        "status": _status_badge(row["status"]),
        "count": f"{row['count']:,}",
        "p50_ms": _ms(row["p50_ms"]),
        "p95_ms": _ms(row["p95_ms"]),
        "p99_ms": _ms(row["p99_ms"]),
        "failure_rate": _percent(row["failure_rate"]),
        "objective": _objective(row),
        "budget_remaining": _percent(row["budget_remaining"]),
        "breached_windows": f"{row['breached_windows']:,} of {row['windows']:,}",
        "top_error": _top_error(row),
    }
    tds = "".join(
        f'<td class="{_align(key)}">{cells[key]}</td>' for key, _ in _SUMMARY_COLUMNS
    )
    return f'<tr data-status="{_text(row["status"])}">{tds}</tr>'


def _top_error(row: dict[str, Any]) -> str:
    if row["top_error"] is None:
        return "-"
    return f"{_text(row['top_error'])} ({row['top_error_count']:,})"


def _objective(row: dict[str, Any]) -> str:
    text = f"{row['objective_percentile']} &le; {row['threshold_ms']:,g} ms"
    if not row["is_alerted"]:
        text += " (not alerted)"
    return text


def _latency_section(data: DashboardData, figures: dict[str, charts.Figure]) -> str:
    panels = []
    for index, action in enumerate(data.actions.iter_rows(named=True)):
        key = f"latency-{index}"
        own = data.windows.filter(pl.col("action") == action["action"])
        figures[key] = charts.latency_figure(action, own, data.window)
        panels.append(
            '<article class="panel">'
            f"<h3>{_text(action['action'])} {_status_badge(action['status'])}</h3>"
            f"<p>objective {_objective(action)}; "
            f"{action['breached_windows']:,} of {action['windows']:,} windows "
            "breached</p>"
            f'<div class="chart" data-figure="{key}"></div></article>'
        )
    panel_html = "\n".join(panels)
    return (
        '<section id="latency"><h2>Latency per window</h2>\n'
        '<p class="hint">The percentile each objective names, per window, '
        "plotted at the window's end (UTC). A red cross marks a breached "
        "window, a grey ring a window with too few events to judge. Hover "
        "for values; click a legend entry to hide it.</p>\n"
        f'<div class="panels">\n{panel_html}\n</div></section>'
    )


def _budget_section() -> str:
    return (
        '<section id="budget"><h2>Error budget remaining</h2>\n'
        '<p class="hint">100% is untouched, 0% spent; bars and lines stop at '
        "-100%, and the labels give the real value.</p>\n"
        '<div class="chart" data-figure="budget"></div>\n'
        '<div class="chart" data-figure="burn-down"></div></section>'
    )


def _failure_section() -> str:
    return (
        '<section id="failures"><h2>Failure rate over time</h2>\n'
        f'<p class="hint">The {charts.VISIBLE_SERIES} actions with the highest '
        "failure rate are drawn; click the others in the legend.</p>\n"
        '<div class="chart" data-figure="failure-rate"></div></section>'
    )


def _tenant_section(data: DashboardData) -> str:
    options = data.options
    rows = "\n".join(
        "<tr>"
        f'<td class="text">{_text(row["action"])}</td><td>{row["rank"]}</td>'
        f'<td class="text">{_text(row["tenant"])}</td><td>{row["count"]:,}</td>'
        f"<td>{_ms(row['p95_ms'])}</td><td>{_ms(row['p99_ms'])}</td>"
        f"<td>{_percent(row['failure_rate'])}</td></tr>"
        for row in data.tenants.iter_rows(named=True)
    )
    if not rows:
        rows = '<tr><td class="text" colspan="7">no tenant has enough events</td></tr>'
    return (
        '<section id="tenants"><h2>Slowest tenants per action</h2>\n'
        f'<p class="hint">Top {options.top_tenants} tenants of each action by '
        f"p95, among tenants with at least {options.tenant_min_events} "
        "events.</p>\n"
        '<table id="tenant-table"><thead><tr><th class="text">action</th>'
        '<th>rank</th><th class="text">tenant</th><th>events</th><th>p95 ms</th>'
        "<th>p99 ms</th><th>fail %</th></tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody></table></section>"
    )


def _status_badge(status: str) -> str:
    css = {BREACHED: "breached", FEW_EVENTS: "few-events"}.get(status, "ok")
    return f'<span class="status {css}">{_text(status)}</span>'


def _script_data(element_id: str, value: object) -> str:
    """Embed JSON in a script element that no string inside can end early."""
    text = orjson.dumps(value).decode().translate(_JSON_ESCAPES)
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _plotly_js() -> str:
    # Imported here because plotly's import takes a while and only the HTML
    # format needs it.
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    script = get_plotlyjs()
    if "</script" in script.lower():
        msg = "plotly.js contains '</script' and cannot be inlined: pin plotly"
        raise RuntimeError(msg)
    return str(script)


def _asset(name: str) -> str:
    return (resources.files("aggregator") / "_html" / name).read_text("utf-8")


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _align(key: str) -> str:
    is_text = key in ("action", "status", "objective", "top_error")
    return "text" if is_text else "number"


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.1f}"


def _percent(ratio: float | None) -> str:
    if ratio is None or math.isnan(ratio):
        return "-"
    return f"{ratio * 100:,.1f}"


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"
