"""Plotly figure specifications for the SLO dashboard, as plain dicts.

The page hands these dicts to plotly.js `Plotly.newPlot`, so building them
needs no plotly import. plotly.js reads labels, legend names and hover text
as a small subset of HTML, so every string that came from the logs passes
through `label()`: its `<`, `>` and `&` become entities, and plotly shows
them as text. Quotes stay as they are, because plotly.js 4.1 decodes only a
few entities and would show `&quot;` literally.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

import polars as pl

Figure = dict[str, Any]

OK_COLOR = "#1f77b4"
BREACH_COLOR = "#d62728"
OBJECTIVE_COLOR = "#ff7f0e"
FEW_EVENTS_COLOR = "#9a9a9a"

# Multi-action charts draw this many actions at first and list the rest in
# the legend, hidden until clicked, so 100 actions do not become one tangle.
VISIBLE_SERIES = 10

# The budget charts stop at -100%: a budget overspent ten times would
# otherwise squash every other bar. Hover and bar labels give the real value.
BUDGET_FLOOR_PERCENT = -100.0

# Legend entries and axis labels are cut to this many characters, so that a
# long action name does not squeeze the plot. Hover text and the tables show
# the whole name.
MAX_LABEL_CHARS = 48

# The top margin of the multi-action charts keeps plotly's toolbar, drawn in
# the figure's top right corner, off the legend and the plot.
TOOLBAR_MARGIN_PX = 36

_MULTI_ACTION_MARGIN = {"l": 60, "r": 20, "t": TOOLBAR_MARGIN_PX, "b": 40}

TIME_AXIS_TITLE = "window end (UTC)"

_FONT = {"family": "system-ui, sans-serif", "size": 12}


def label(text: object) -> str:
    """Escape a string from the logs for a plotly label or legend entry.

    `$` becomes an entity too, because plotly.js hands a label wrapped in `$`
    to MathJax.
    """
    return html.escape(str(text), quote=False).replace("$", "&#36;")


def short_label(text: object) -> str:
    """Escape and cut a string to `MAX_LABEL_CHARS`, ending it with an ellipsis.

    The cut comes before escaping, so that it never splits an entity.
    """
    raw = str(text)
    if len(raw) > MAX_LABEL_CHARS:
        raw = raw[: MAX_LABEL_CHARS - 1] + "\u2026"
    return label(raw)


def time_label(moment: datetime) -> str:
    """Format a UTC instant as plotly's date axis reads it, without offset.

    The year is padded to four digits, because `strftime("%Y")` writes the
    year 1 as `1` on glibc and plotly would not read that as a date.
    """
    return f"{moment.year:04d}-{moment:%m-%d %H:%M:%S}"


def _time_axis(
    windows: pl.DataFrame, window: timedelta, *, title: str | None
) -> dict[str, Any]:
    """Return a date axis that spans at least the window before the first end.

    With one window, plotly's automatic range would span a millisecond.
    """
    axis: dict[str, Any] = {"type": "date"}
    if title is not None:
        axis["title"] = {"text": title}
    ends = _first_and_last_end(windows)
    if ends is not None and ends[0] == ends[1]:
        axis["range"] = [time_label(ends[0] - window), time_label(ends[1] + window)]
    return axis


def _first_and_last_end(windows: pl.DataFrame) -> tuple[datetime, datetime] | None:
    first, last = windows["window_end"].min(), windows["window_end"].max()
    if isinstance(first, datetime) and isinstance(last, datetime):
        return first, last
    return None


def _layout(height_px: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": height_px,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "font": _FONT,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        "xaxis": {"type": "date", "title": {"text": TIME_AXIS_TITLE}},
    }
    layout.update(extra)
    return layout


def latency_figure(
    action: dict[str, Any], windows: pl.DataFrame, window: timedelta
) -> Figure:
    """Draw one action's objective percentile per window, with the objective.

    Args:
        action: a row of `DashboardData.actions`.
        windows: that action's rows of `DashboardData.windows`, oldest first.
        window: the window length; the time axis spans at least one window.
    """
    percentile = action["objective_percentile"]
    threshold_ms = action["threshold_ms"]
    ends = [time_label(moment) for moment in windows["window_end"]]
    values = [
        value if count else None
        for value, count in zip(windows["objective_ms"], windows["count"], strict=True)
    ]
    customdata = [[count] for count in windows["count"]]

    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"{percentile} ms",
            "x": ends,
            "y": values,
            "customdata": customdata,
            "connectgaps": False,
            "line": {"color": OK_COLOR, "width": 1.5},
            "marker": {"size": 4},
            "hovertemplate": f"{percentile} %{{y:,.1f}} ms<br>"
            "%{customdata[0]:,} events<br>window ending %{x}<extra></extra>",
        },
        _objective_line(windows, window, threshold_ms),
        _window_marks(windows, "is_breached", "breached window", BREACH_COLOR),
        _window_marks(windows, "has_few_events", "too few events", FEW_EVENTS_COLOR),
    ]
    layout = _layout(
        240,
        xaxis=_time_axis(windows, window, title=None),
        yaxis={"title": {"text": f"{percentile} ms"}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 10, "b": 60},
    )
    return {"data": traces, "layout": layout}


def _objective_line(
    windows: pl.DataFrame, window: timedelta, threshold_ms: float
) -> dict[str, Any]:
    """Draw the threshold from the first window's start to the last one's end.

    Starting at the first window's start, and not at its end, gives the line
    two distinct points even when there is one window, so plotly draws it
    and puts the threshold inside the y range.
    """
    ends = _first_and_last_end(windows)
    span = [] if ends is None else [time_label(ends[0] - window), time_label(ends[1])]
    return {
        "type": "scatter",
        "mode": "lines",
        "name": f"objective {threshold_ms:g} ms",
        "x": span,
        "y": [threshold_ms] * len(span),
        "line": {"color": OBJECTIVE_COLOR, "dash": "dash", "width": 1.5},
        "hoverinfo": "skip",
    }


def _window_marks(
    windows: pl.DataFrame, flag: str, name: str, color: str
) -> dict[str, Any]:
    marked = windows.filter(pl.col(flag) & (pl.col("count") > 0))
    is_breach = flag == "is_breached"
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [time_label(moment) for moment in marked["window_end"]],
        "y": marked["objective_ms"].to_list(),
        "customdata": [[count] for count in marked["count"]],
        "marker": {
            "color": color,
            "size": 10 if is_breach else 6,
            "symbol": "x" if is_breach else "circle-open",
        },
        "hovertemplate": f"{name}<br>%{{y:,.1f}} ms, "
        "%{customdata[0]:,} events<extra></extra>",
    }


def budget_figure(actions: pl.DataFrame) -> Figure:
    """Draw the error budget remaining over the whole range, one bar per action."""
    rows = actions.filter(pl.col("budget_remaining").is_not_null())
    percents = [value * 100 for value in rows["budget_remaining"]]
    clipped = [max(value, BUDGET_FLOOR_PERCENT) for value in percents]
    colors = [BREACH_COLOR if value < 0 else OK_COLOR for value in percents]

    names = rows["action"].to_list()
    trace = {
        "type": "bar",
        "orientation": "h",
        "name": "budget remaining",
        "y": [label(name) for name in names],
        "x": clipped,
        "text": [f"{value:,.1f}%" for value in percents],
        "textposition": "auto",
        "marker": {"color": colors},
        "hovertemplate": "%{y}: %{text} of the error budget left<extra></extra>",
    }
    layout = _layout(
        80 + 24 * rows.height,
        xaxis={
            "title": {"text": "error budget remaining (%)"},
            "range": [BUDGET_FLOOR_PERCENT - 5, 105],
            "zeroline": True,
        },
        # The categories are the whole names, so two names alike in their
        # first characters stay two bars; only the tick text is cut.
        yaxis={
            "autorange": "reversed",
            "automargin": True,
            "type": "category",
            "tickvals": [label(name) for name in names],
            "ticktext": [short_label(name) for name in names],
        },
        margin={"l": 20, "r": 20, "t": TOOLBAR_MARGIN_PX, "b": 50},
        showlegend=False,
    )
    return {"data": [trace], "layout": layout}


def burn_down_figure(
    actions: pl.DataFrame, windows: pl.DataFrame, window: timedelta
) -> Figure:
    """Draw the error budget left at the end of each window, per action."""
    order = actions.sort("budget_remaining", nulls_last=True)["action"]
    traces = _action_lines(order.to_list(), windows, "budget_remaining")
    lowest = min(
        (value for value in windows["budget_remaining"].drop_nulls()), default=0.0
    )
    layout = _layout(
        360,
        xaxis=_time_axis(windows, window, title=TIME_AXIS_TITLE),
        yaxis={
            "title": {"text": "error budget remaining (%)"},
            "range": [max(lowest * 100, BUDGET_FLOOR_PERCENT) - 5, 105],
        },
        margin=_MULTI_ACTION_MARGIN,
    )
    return {"data": traces, "layout": layout}


def failure_rate_figure(
    actions: pl.DataFrame, windows: pl.DataFrame, window: timedelta
) -> Figure:
    """Draw the failure rate per window, per action; the worst shown first."""
    order = actions.sort(["failure_rate", "action"], descending=[True, False])
    traces = _action_lines(order["action"].to_list(), windows, "failure_rate")
    layout = _layout(
        360,
        xaxis=_time_axis(windows, window, title=TIME_AXIS_TITLE),
        yaxis={"title": {"text": "failure rate (%)"}, "rangemode": "tozero"},
        margin=_MULTI_ACTION_MARGIN,
    )
    return {"data": traces, "layout": layout}


def _action_lines(
    order: list[str], windows: pl.DataFrame, column: str
) -> list[dict[str, Any]]:
    """Draw a ratio column as percent, one line per action in `order`."""
    return [
        _action_line(
            action,
            windows.filter(pl.col("action") == action),
            column,
            is_visible=index < VISIBLE_SERIES,
        )
        for index, action in enumerate(order)
    ]


def _action_line(
    action: str, windows: pl.DataFrame, column: str, *, is_visible: bool
) -> dict[str, Any]:
    values = [None if value is None else value * 100 for value in windows[column]]
    # Markers too, because a window between two empty ones has no line.
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "marker": {"size": 3},
        "name": short_label(action),
        "x": [time_label(moment) for moment in windows["window_end"]],
        "y": values,
        "customdata": [[count, label(action)] for count in windows["count"]],
        "connectgaps": False,
        "visible": True if is_visible else "legendonly",
        "hovertemplate": "%{customdata[1]}<br>%{y:,.2f}%, "
        "%{customdata[0]:,} events<extra></extra>",
    }
