"""Event counts over sliding windows `(t - w, t]` at many evaluation instants.

Counts come from cumulative sums: the events of a series in `(t - w, t]` are
the cumulative count at `t` minus the cumulative count at `t - w`, both found
with a backward as-of join. The cost is one sort plus one join per window,
whatever the number of instants, so replaying a week minute by minute stays
cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl

INSTANT = "instant"

SERIES_ID = "series_id"


def minute_instants(start: datetime, end: datetime) -> list[datetime]:
    """Return the whole minutes `t` with `start < t <= end`, oldest first."""
    first = _floor_minute(start) + timedelta(minutes=1)
    last = _floor_minute(end)
    count = int((last - first).total_seconds() // 60) + 1
    return [first + timedelta(minutes=index) for index in range(max(count, 0))]


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def number_series(
    sli: pl.DataFrame, keys: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every distinct combination of `keys` an integer `series_id`.

    Returns:
        The series table (`series_id` plus `keys`, and the per-series objective
        columns) and the events with a `series_id` column added.
    """
    per_series = ["threshold_ms", "target_num", "target_den", "min_events"]
    series = (
        sli.select([*keys, *per_series])
        .unique(subset=list(keys), keep="first", maintain_order=True)
        .with_row_index(SERIES_ID)
    )
    numbered = sli.join(
        series.select([SERIES_ID, *keys]), on=list(keys), how="left", nulls_equal=True
    )
    return series, numbered


def window_counts(
    numbered: pl.DataFrame,
    series_ids: pl.Series,
    instants: Sequence[datetime],
    windows: Mapping[str, timedelta],
) -> pl.DataFrame:
    """Count all and bad events in `(t - w, t]` for every series, instant and window.

    Args:
        numbered: events with `series_id`, `timestamp` and `is_bad`.
        series_ids: every series to report, including those with no events.
        instants: the evaluation instants `t`, aware UTC datetimes.
        windows: window name to length, e.g. `{"5m": timedelta(minutes=5)}`.

    Returns:
        `series_id`, `instant`, and `total_<name>` and `bad_<name>` (Int64) for
        each window.
    """
    cumulative = _cumulative(numbered)
    grid = (
        pl.DataFrame({SERIES_ID: series_ids})
        .join(_instant_frame(instants), how="cross")
        .sort(INSTANT)
    )

    at_end = _cumulative_at(grid, cumulative, pl.col(INSTANT))
    for name, length in windows.items():
        at_start = _cumulative_at(grid, cumulative, pl.col(INSTANT) - length)
        grid = grid.with_columns(
            (at_end["_total"] - at_start["_total"]).alias(f"total_{name}"),
            (at_end["_bad"] - at_start["_bad"]).alias(f"bad_{name}"),
        )
    return grid.sort([SERIES_ID, INSTANT])


def _instant_frame(instants: Sequence[datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {INSTANT: list(instants)}, schema={INSTANT: pl.Datetime("us", "UTC")}
    )


def _cumulative(numbered: pl.DataFrame) -> pl.DataFrame:
    """Running totals per series, one row per distinct timestamp."""
    running = numbered.sort("timestamp").with_columns(
        _total=pl.col("is_bad").cum_count().over(SERIES_ID).cast(pl.Int64),
        _bad=pl.col("is_bad").cast(pl.Int64).cum_sum().over(SERIES_ID),
    )
    return (
        running.group_by([SERIES_ID, "timestamp"])
        .agg(pl.col("_total").max(), pl.col("_bad").max())
        .sort("timestamp")
    )


def _cumulative_at(
    grid: pl.DataFrame, cumulative: pl.DataFrame, probe: pl.Expr
) -> pl.DataFrame:
    """Return the running totals at `probe` for every grid row, in grid order."""
    probes = grid.with_row_index("_row").with_columns(_probe=probe).sort("_probe")
    joined = probes.join_asof(
        cumulative,
        left_on="_probe",
        right_on="timestamp",
        by=SERIES_ID,
        strategy="backward",
        # Sorted by `_probe` above; polars cannot check sortedness within groups.
        check_sortedness=False,
    )
    return joined.sort("_row").select(
        pl.col("_total").fill_null(0), pl.col("_bad").fill_null(0)
    )
