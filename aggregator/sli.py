"""Service level indicators: each timing event marked good or bad per objective.

A latency objective "p95 <= 500 ms" is evaluated as a good-events ratio: an
event is good when `duration_ms <= 500`, and the objective holds over a window
when at least 95% of its events are good. With nearest-rank percentiles this is
exactly "the window's p95 is at most 500 ms", so `report` and `check` agree.
The availability objective marks failures bad; the ack objective marks an
interaction bad when its first response took longer than its threshold.
"""

from __future__ import annotations

import polars as pl

from aggregator.slo_config import SloConfig

LATENCY = "latency"
AVAILABILITY = "availability"
ACK = "ack"

SERIES_KEYS = ("objective", "action", "route")

# `api.request` is evaluated per route template; other actions have no route.
PER_ROUTE_ACTION = "api.request"


def build_sli(
    events: pl.DataFrame, config: SloConfig, *, by_tenant: bool
) -> pl.DataFrame:
    """Mark each event good or bad for every objective that covers its action.

    Returns:
        One row per event and objective: the series keys (plus `tenant` when
        `by_tenant`), `timestamp`, `value_ms` (the measured value), `is_bad`,
        `threshold_ms`, `target_num`, `target_den` and `min_events`.
    """
    alerted = _alerted_actions(events, config)
    frames = [_latency(alerted, config)]
    if config.availability.is_enabled:
        frames.append(_availability(alerted, config))
    if config.ack.is_enabled:
        frames.append(_ack(alerted, config))

    keys = [*SERIES_KEYS, *(["tenant"] if by_tenant else [])]
    columns = [
        *keys,
        "timestamp",
        "value_ms",
        "is_bad",
        "threshold_ms",
        "target_num",
        "target_den",
        "min_events",
    ]
    sli = pl.concat([frame.select(columns) for frame in frames], how="vertical_relaxed")
    if by_tenant:
        assert config.tenant_min_events is not None
        sli = sli.with_columns(min_events=pl.lit(config.tenant_min_events))
    return sli


def _alerted_actions(events: pl.DataFrame, config: SloConfig) -> pl.DataFrame:
    pairs = events.select("action", "action_type").unique()
    rows = []
    for action, action_type in pairs.iter_rows():
        if not config.is_alerted(action, action_type):
            continue
        threshold_ms, target = config.latency.for_action(action, action_type)
        rows.append((action, threshold_ms, target.numerator, target.denominator))

    objectives = pl.DataFrame(
        rows,
        schema={
            "action": pl.String,
            "threshold_ms": pl.Float64,
            "target_num": pl.Int64,
            "target_den": pl.Int64,
        },
        orient="row",
    )
    route = pl.when(pl.col("action") == PER_ROUTE_ACTION).then(pl.col("route"))
    return events.join(objectives, on="action", how="inner").with_columns(
        route=route.otherwise(None)
    )


def _latency(events: pl.DataFrame, config: SloConfig) -> pl.DataFrame:
    counted = events.filter(pl.col("outcome").is_in(list(config.latency.outcomes)))
    return counted.with_columns(
        objective=pl.lit(LATENCY),
        value_ms=pl.col("duration_ms"),
        is_bad=pl.col("duration_ms") > pl.col("threshold_ms"),
        min_events=pl.lit(config.latency.min_events),
    )


def _availability(events: pl.DataFrame, config: SloConfig) -> pl.DataFrame:
    target = config.availability.target
    return events.with_columns(
        objective=pl.lit(AVAILABILITY),
        value_ms=pl.col("duration_ms"),
        is_bad=pl.col("outcome") == "failure",
        threshold_ms=pl.lit(None, dtype=pl.Float64),
        target_num=pl.lit(target.numerator),
        target_den=pl.lit(target.denominator),
        min_events=pl.lit(config.availability.min_events),
    )


def _ack(events: pl.DataFrame, config: SloConfig) -> pl.DataFrame:
    target = config.ack.target
    threshold_ms = config.ack.threshold_ms
    return events.filter(pl.col("ack_ms").is_not_null()).with_columns(
        objective=pl.lit(ACK),
        value_ms=pl.col("ack_ms"),
        is_bad=pl.col("ack_ms") > threshold_ms,
        threshold_ms=pl.lit(threshold_ms, dtype=pl.Float64),
        target_num=pl.lit(target.numerator),
        target_den=pl.lit(target.denominator),
        min_events=pl.lit(config.ack.min_events),
    )
