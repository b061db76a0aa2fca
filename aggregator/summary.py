"""Latency summaries per group: count, failure rate and percentiles.

Percentiles are taken over every outcome unless the caller narrows the events
first: a request that fails after a 5 s timeout was slow for its user too.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from aggregator.errors import InvalidOptionError
from aggregator.quantiles import QuantileMethod, quantile

GROUP_KEYS = (
    "action",
    "action_type",
    "tenant",
    "entrypoint",
    "outcome",
    "route",
    "method",
    "service",
)

OUTCOME_FILTERS = ("success", "failure")

PERCENTILES = {"p50_ms": "0.5", "p90_ms": "0.9", "p95_ms": "0.95", "p99_ms": "0.99"}

METRICS = ("count", "failures", "failure_rate", *PERCENTILES, "max_ms")

ACK_METRIC = "ack_p95_ms"


@dataclass(frozen=True, slots=True)
class SummaryOptions:
    """How to group and measure: group keys, outcome filter, percentile method."""

    by: tuple[str, ...] = ("action",)
    outcome: str | None = None
    method: QuantileMethod = QuantileMethod.NEAREST_RANK


def parse_group_keys(text: str) -> tuple[str, ...]:
    """Split `action,tenant` into group keys, checking each one.

    Raises:
        InvalidOptionError: a key is unknown or repeated, or none is given.
    """
    keys = tuple(part.strip() for part in text.split(",") if part.strip())
    if not keys:
        msg = f"--by {text!r} names no group key: use one or more of {_known_keys()}"
        raise InvalidOptionError(msg)

    for key in keys:
        if key not in GROUP_KEYS:
            msg = f"--by key {key!r} is unknown: use one or more of {_known_keys()}"
            raise InvalidOptionError(msg)

    if len(set(keys)) != len(keys):
        msg = f"--by {text!r} repeats a key: name each key once"
        raise InvalidOptionError(msg)
    return keys


def summarise(
    events: pl.DataFrame | pl.LazyFrame, options: SummaryOptions
) -> pl.DataFrame:
    """Compute one row of metrics per group, sorted by p95 descending.

    The work runs as one polars lazy query, projected to the columns it needs.

    Args:
        events: rows with the columns of `aggregator.loading.EVENT_SCHEMA`.
        options: group keys, outcome filter and percentile method.

    Returns:
        The group columns, then `METRICS`, then `ack_p95_ms` when any event
        in the input carries `ack_ms`. Percentiles of an empty group are null.
    """
    query = events.lazy()
    if options.outcome is not None:
        query = query.filter(pl.col("outcome") == options.outcome)

    has_ack = _has_ack(query)
    by = list(options.by)
    summary = (
        query.select(list(dict.fromkeys([*by, "duration_ms", "outcome", "ack_ms"])))
        .group_by(by)
        .agg(_metric_exprs(options.method, has_ack=has_ack))
        # Readers may return group keys as categoricals, and the summary
        # shows them as text.
        .with_columns(pl.col(by).cast(pl.String()))
        .sort(["p95_ms", *by], descending=[True] + [False] * len(by), nulls_last=True)
        .select([*by, *METRICS, *([ACK_METRIC] if has_ack else [])])
    )
    return summary.collect()


def _has_ack(query: pl.LazyFrame) -> bool:
    """Tell whether any selected event carries `ack_ms`."""
    count = query.select(pl.col("ack_ms").count()).collect().item()
    return bool(count)


def _metric_exprs(method: QuantileMethod, *, has_ack: bool) -> list[pl.Expr]:
    """Build the per-group aggregations."""
    failures = (pl.col("outcome") == "failure").sum()
    exprs = [
        pl.len().alias("count"),
        failures.alias("failures"),
        (failures / pl.len()).alias("failure_rate"),
        pl.col("duration_ms").max().alias("max_ms"),
    ]
    exprs += [
        quantile("duration_ms", q, method).alias(name)
        for name, q in PERCENTILES.items()
    ]
    if has_ack:
        exprs.append(quantile("ack_ms", "0.95", method).alias(ACK_METRIC))
    return exprs


def check_outcome(outcome: str | None) -> str | None:
    """Return the outcome filter if valid.

    Raises:
        InvalidOptionError: it is neither `success` nor `failure`.
    """
    if outcome is not None and outcome not in OUTCOME_FILTERS:
        msg = f"outcome {outcome!r} is unknown: use 'success' or 'failure'"
        raise InvalidOptionError(msg)
    return outcome


def _known_keys() -> str:
    return ", ".join(GROUP_KEYS)
