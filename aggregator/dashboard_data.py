"""The numbers behind the SLO dashboard: per action, per window and per tenant.

Windows are half-open `(end - window, end]` with `end` a whole multiple of the
window length since the Unix epoch, the convention `check` uses. A window is
breached when it contains at least the objective's `min_events` counted events
and fewer than `target` of them are good (`duration_ms <= threshold`). With
nearest-rank percentiles that is the same as "the window's p95 is above the
threshold" for a 95% target, so the marks agree with the plotted line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import polars as pl

from aggregator.quantiles import QuantileMethod, quantile
from aggregator.slo_config import SloConfig
from aggregator.summary import SummaryOptions, summarise

# Window lengths the dashboard picks from: the shortest one that gives at most
# `MAX_WINDOWS` points from the first event to the range's end.
WINDOW_CHOICES = tuple(
    timedelta(minutes=minutes)
    for minutes in (1, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 10080)
)

MAX_WINDOWS = 150

OK = "ok"
BREACHED = "breached"
FEW_EVENTS = "few events"

# The event columns the page reads; a report reads only these for it.
DASHBOARD_COLUMNS = (
    "timestamp",
    "action",
    "action_type",
    "duration_ms",
    "outcome",
    "error_type",
    "tenant",
    "route",
    "ack_ms",
)


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """Dashboard settings besides the events: ranking, windows, percentiles.

    `window` None picks a length from `WINDOW_CHOICES` for the range.
    """

    # NOTE: no command-line option or query parameter sets these two yet.
    top_tenants: int = 5
    tenant_min_events: int = 20
    window: timedelta | None = None
    outcome: str | None = None
    method: QuantileMethod = QuantileMethod.NEAREST_RANK


@dataclass(frozen=True, slots=True)
class DashboardData:
    """Every table the page draws, as polars frames.

    `actions`: one row per action, worst first, with the summary metrics, the
    objective (`threshold_ms`, `target`, `objective_percentile`), the good and
    bad event counts, `budget_remaining` (1 is untouched, 0 spent, below 0
    overspent), `breached_windows`, `status`, `is_alerted`, and the most
    frequent `error_type` as `top_error` with `top_error_count`.

    `windows`: one row per action and window end, empty windows included with
    `count` 0: `count`, `failures`, `failure_rate`, `objective_ms` (the
    percentile the objective names), `is_breached`, `has_few_events` and
    `budget_remaining` (the budget left at the window's end).

    `tenants`: the slowest tenants per action by p95, at most `top_tenants`
    each, only tenants with at least `tenant_min_events` events.
    """

    start: datetime
    end: datetime
    window: timedelta
    actions: pl.DataFrame
    windows: pl.DataFrame
    tenants: pl.DataFrame
    options: DashboardOptions


def build_dashboard_data(
    events: pl.DataFrame,
    config: SloConfig,
    options: DashboardOptions,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> DashboardData:
    """Compute the dashboard's tables from events already cut to the range.

    Args:
        events: rows with the columns of `aggregator.loading.EVENT_SCHEMA`.
        config: objectives per action, their outcomes and minimum events.
        options: window length, tenant ranking and percentile options.
        start: the range's open start; default the first event.
        end: the range's end; default the last event.
    """
    if options.outcome is not None:
        events = events.filter(pl.col("outcome") == options.outcome)

    start, end = _range_bounds(events, start, end)
    grid_start = _grid_start(events, start)
    window = options.window or choose_window(end - grid_start)
    objectives = objective_table(events, config)
    marked = _mark_events(events, objectives, config, window)

    windows = _window_table(marked, objectives, grid_start, end, window, options)
    actions = _action_table(events, marked, objectives, windows, options)
    tenants = slowest_tenants(events, options)
    return DashboardData(start, end, window, actions, windows, tenants, options)


def choose_window(span: timedelta) -> timedelta:
    """Return the shortest window that gives at most `MAX_WINDOWS` windows.

    The windows are aligned to the epoch, so a span of n windows can touch
    n + 1 of them. Past `WINDOW_CHOICES`, the window is a whole number of
    weeks.
    """
    most_spans = MAX_WINDOWS - 1
    for window in WINDOW_CHOICES:
        if span / window <= most_spans:
            return window

    week = WINDOW_CHOICES[-1]
    return week * math.ceil(span / (week * most_spans))


def percentile_label(target: Fraction) -> str:
    """Name the percentile a target stands for: 0.95 is `p95`, 0.999 `p99.9`."""
    return f"p{float(target * 100):g}"


def objective_table(events: pl.DataFrame, config: SloConfig) -> pl.DataFrame:
    """Return each action's latency objective, as `check` applies it."""
    rows = []
    pairs = events.group_by("action").agg(pl.col("action_type").mode().first())
    for action, action_type in pairs.sort("action").iter_rows():
        threshold_ms, target = config.latency.for_action(action, action_type or "")
        rows.append(
            {
                "action": action,
                "threshold_ms": threshold_ms,
                "target": float(target),
                "target_num": target.numerator,
                "target_den": target.denominator,
                "objective_percentile": percentile_label(target),
                "min_events": config.latency.min_events,
                "is_alerted": config.is_alerted(action, action_type or ""),
            }
        )
    return pl.DataFrame(rows, schema=_OBJECTIVE_SCHEMA)


_OBJECTIVE_SCHEMA = {
    "action": pl.String(),
    "threshold_ms": pl.Float64(),
    "target": pl.Float64(),
    "target_num": pl.Int64(),
    "target_den": pl.Int64(),
    "objective_percentile": pl.String(),
    "min_events": pl.Int64(),
    "is_alerted": pl.Boolean(),
}


def _range_bounds(
    events: pl.DataFrame, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """Fill an open side of the range from the events, or from the clock."""
    if events.height:
        first, last = events["timestamp"].min(), events["timestamp"].max()
    else:
        first = last = None

    end = end or _as_datetime(last) or datetime.now(UTC)
    start = start or _as_datetime(first) or end
    return start, end


def _as_datetime(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _grid_start(events: pl.DataFrame, start: datetime) -> datetime:
    """Return where the windows start: at the first event, if there is one.

    A range far wider than the data (`--since 1970-01-01T00:00:00Z`) would
    otherwise spread the windows over decades without events. The events are
    cut to `(start, end]`, so the first event is after `start`; the grid
    starts a microsecond before it so that the event is inside the grid.
    """
    first = _as_datetime(events["timestamp"].min()) if events.height else None
    if first is None:
        return start
    return first - _MICROSECOND


_MICROSECOND = timedelta(microseconds=1)


def _window_end(window: timedelta) -> pl.Expr:
    """Compute the end of the window `(end - window, end]` of each timestamp."""
    every = _polars_duration(window)
    shifted = pl.col("timestamp") - pl.duration(microseconds=1)
    return shifted.dt.truncate(every) + pl.duration(seconds=window.total_seconds())


def _polars_duration(window: timedelta) -> str:
    return f"{int(window.total_seconds())}s"


def _mark_events(
    events: pl.DataFrame,
    objectives: pl.DataFrame,
    config: SloConfig,
    window: timedelta,
) -> pl.DataFrame:
    """Add the window end, the objective and whether each event counts or is bad."""
    counted = pl.col("outcome").is_in(list(config.latency.outcomes))
    return events.join(objectives, on="action", how="left").with_columns(
        window_end=_window_end(window),
        is_counted=counted,
        is_bad=counted & (pl.col("duration_ms") > pl.col("threshold_ms")),
    )


def _target_quantile(marked: pl.DataFrame, method: QuantileMethod) -> pl.Expr:
    """Compute the percentile each action's objective names, for the group."""
    targets = sorted(set(marked["target"].drop_nulls().to_list()))
    if not targets:
        return pl.lit(None, dtype=pl.Float64)

    choices = [
        pl.when(pl.col("target").first() == target).then(
            quantile("duration_ms", str(target), method)
        )
        for target in targets
    ]
    return pl.coalesce(choices)


def _window_metrics(marked: pl.DataFrame, method: QuantileMethod) -> list[pl.Expr]:
    failures = (pl.col("outcome") == "failure").sum()
    return [
        pl.len().alias("count"),
        failures.alias("failures"),
        pl.col("is_counted").sum().alias("counted"),
        pl.col("is_bad").sum().alias("bad"),
        quantile("duration_ms", "0.95", method).alias("p95_ms"),
        _target_quantile(marked, method).alias("objective_ms"),
    ]


def _window_table(
    marked: pl.DataFrame,
    objectives: pl.DataFrame,
    start: datetime,
    end: datetime,
    window: timedelta,
    options: DashboardOptions,
) -> pl.DataFrame:
    per_window = marked.group_by(["action", "window_end"]).agg(
        _window_metrics(marked, options.method)
    )
    grid = objectives.join(_window_ends(start, end, window), how="cross")
    table = grid.join(per_window, on=["action", "window_end"], how="left")
    table = table.with_columns(
        pl.col("count", "failures", "counted", "bad").fill_null(0)
    ).sort(["action", "window_end"])

    has_few_events = pl.col("counted") < pl.col("min_events")
    is_breached = ~has_few_events & _is_over_budget(pl.col("bad"), pl.col("counted"))
    return table.with_columns(
        failure_rate=_ratio(pl.col("failures"), pl.col("count")),
        has_few_events=has_few_events,
        is_breached=is_breached,
        budget_remaining=_budget_remaining(
            pl.col("bad").cum_sum().over("action"),
            pl.col("counted").sum().over("action"),
        ),
    )


def _window_ends(start: datetime, end: datetime, window: timedelta) -> pl.DataFrame:
    """Return every window end whose window overlaps `(start, end]`."""
    bounds = pl.DataFrame(
        {"timestamp": [start + _MICROSECOND, end]},
        schema={"timestamp": pl.Datetime("us", "UTC")},
    ).select(_window_end(window).alias("window_end"))
    first, last = bounds["window_end"]
    ends = pl.datetime_range(
        first, last, interval=_polars_duration(window), eager=True, time_zone="UTC"
    )
    return pl.DataFrame({"window_end": ends.cast(pl.Datetime("us", "UTC"))})


def _ratio(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then(part / whole).otherwise(None)


def _is_over_budget(bad: pl.Expr, counted: pl.Expr) -> pl.Expr:
    """Tell exactly whether more than `1 - target` of the counted events are bad.

    The target is the fraction num / den, so the test is done in integers:
    bad * den > (den - num) * counted. In floating point `1 - 0.9` is a hair
    below 0.1, and 2 bad events of 20 would come out over a 90% budget.
    """
    den, num = pl.col("target_den"), pl.col("target_num")
    return bad * den > (den - num) * counted


def _budget_remaining(bad: pl.Expr, counted: pl.Expr) -> pl.Expr:
    """Compute 1 - bad / allowed bad, where allowed bad is (1 - target) * counted.

    The difference is taken in integers before the one division, so a budget
    spent exactly is 0.0, not -0.0 or a rounding error away from it.
    """
    den, num = pl.col("target_den"), pl.col("target_num")
    allowed = (den - num) * counted
    left = allowed - bad * den
    return pl.when(allowed > 0).then(left / allowed).otherwise(None)


def _action_table(
    events: pl.DataFrame,
    marked: pl.DataFrame,
    objectives: pl.DataFrame,
    windows: pl.DataFrame,
    options: DashboardOptions,
) -> pl.DataFrame:
    summary = summarise(events, SummaryOptions(("action",), None, options.method))
    totals = marked.group_by("action").agg(
        pl.col("is_counted").sum().alias("counted"),
        pl.col("is_bad").sum().alias("bad"),
        _target_quantile(marked, options.method).alias("objective_ms"),
    )
    breached = windows.group_by("action").agg(
        pl.col("is_breached").sum().alias("breached_windows"),
        pl.len().alias("windows"),
    )
    table = (
        summary.join(objectives, on="action", how="left")
        .join(totals, on="action", how="left")
        .join(breached, on="action", how="left")
        .join(_top_errors(events), on="action", how="left")
    )
    return _rank_actions(_add_status(table))


def _top_errors(events: pl.DataFrame) -> pl.DataFrame:
    """Return each action's most frequent `error_type` and its count."""
    counts = (
        events.filter(pl.col("error_type").is_not_null())
        .group_by("action", "error_type")
        .len("top_error_count")
        .sort(
            ["action", "top_error_count", "error_type"],
            descending=[False, True, False],
        )
    )
    return (
        counts.group_by("action", maintain_order=True)
        .first()
        .rename({"error_type": "top_error"})
    )


def _add_status(table: pl.DataFrame) -> pl.DataFrame:
    has_few_events = pl.col("counted") < pl.col("min_events")
    is_breached = _is_over_budget(pl.col("bad"), pl.col("counted"))
    status = (
        pl.when(has_few_events)
        .then(pl.lit(FEW_EVENTS))
        .when(is_breached)
        .then(pl.lit(BREACHED))
        .otherwise(pl.lit(OK))
    )
    return table.with_columns(
        status=status,
        budget_remaining=_budget_remaining(pl.col("bad"), pl.col("counted")),
    )


def _rank_actions(table: pl.DataFrame) -> pl.DataFrame:
    """Sort breached actions first, then by how far p95 is from the objective."""
    order = (
        pl.when(pl.col("status") == BREACHED)
        .then(0)
        .when(pl.col("status") == OK)
        .then(1)
        .otherwise(2)
    )
    closeness = pl.col("objective_ms") / pl.col("threshold_ms")
    return (
        table.with_columns(_order=order, _closeness=closeness)
        .sort(
            ["_order", "_closeness", "action"],
            descending=[False, True, False],
            nulls_last=True,
        )
        .drop("_order", "_closeness")
    )


def slowest_tenants(events: pl.DataFrame, options: DashboardOptions) -> pl.DataFrame:
    """Return the slowest tenants of each action by p95, with enough events.

    Tenants with fewer than `options.tenant_min_events` events are left out,
    because the p95 of a handful of events is noise. Ties go to the tenant
    with more events, then to the lower tenant id.
    """
    with_tenant = events.filter(pl.col("tenant").is_not_null())
    summary = summarise(
        with_tenant, SummaryOptions(("action", "tenant"), None, options.method)
    )
    ranked = summary.filter(pl.col("count") >= options.tenant_min_events).sort(
        ["action", "p95_ms", "count", "tenant"],
        descending=[False, True, True, False],
        nulls_last=True,
    )
    ranked = ranked.with_columns(rank=pl.int_range(1, pl.len() + 1).over("action"))
    return ranked.filter(pl.col("rank") <= options.top_tenants).select(
        "action", "rank", "tenant", "count", "failure_rate", "p95_ms", "p99_ms"
    )
