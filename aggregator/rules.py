"""Alert rules evaluated at whole-minute instants: burn rates, sustained p95, no data.

- Burn rate: the bad-event ratio of a window divided by the error budget
  (1 - target). A rule holds when both its long and its short window burn
  faster than its factor, and each window has at least the minimum number of
  events. With a 95% target the budget is 5%, so the burn rate cannot exceed
  20 (every event bad).
- Sustained: the window (default 5 min) breaches when it has the minimum
  number of events and its p95 is above the threshold, which for nearest-rank
  percentiles is "fewer than 95% of its events are good". The rule holds when
  every instant of the last `duration` (default 15 instants, one per minute)
  breaches. A window under the minimum breaks the streak.
- No data: the newest event at or before the instant is older than
  `no_data_after`, or there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import polars as pl

from aggregator.conditions import (
    NO_DATA_RULE,
    SUSTAINED_RULE,
    Condition,
    WindowFigures,
    window_name,
)
from aggregator.quantiles import nearest_rank
from aggregator.sli import ACK, LATENCY, SERIES_KEYS, build_sli
from aggregator.slo_config import BurnRateRule, SloConfig
from aggregator.staleness import stale_conditions
from aggregator.windows import (
    INSTANT,
    SERIES_ID,
    minute_instants,
    number_series,
    window_counts,
)


class Evaluator:
    """Evaluates every rule of a config over one set of events."""

    def __init__(
        self, events: pl.DataFrame, config: SloConfig, since: datetime | None = None
    ) -> None:
        self.events = events
        self.config = config
        self.since = since
        self.windows = self._windows()
        self.scopes = [("action", False)]
        if config.tenant_min_events is not None:
            self.scopes.append(("tenant", True))
        self._numbered: dict[str, pl.DataFrame] = {}
        self._series: dict[str, pl.DataFrame] = {}
        self.last_counts: dict[str, pl.DataFrame] = {}

    def _windows(self) -> dict[str, timedelta]:
        lengths = {self.config.sustained.window}
        for rule in self.config.burn_rate:
            lengths.update((rule.long_window, rule.short_window))
        return {window_name(length): length for length in sorted(lengths)}

    def evaluate(self, instants: Sequence[datetime]) -> dict[datetime, list[Condition]]:
        """Return the conditions that hold at each instant (ascending minutes)."""
        found: dict[datetime, list[Condition]] = {instant: [] for instant in instants}
        if not instants:
            return found

        for condition in self._no_data(instants):
            found[condition.instant].append(condition)
        for condition in stale_conditions(self.events, self.config.stale, instants):
            found[condition.instant].append(condition)
        for scope, by_tenant in self.scopes:
            for condition in self._series_conditions(
                instants, scope, by_tenant=by_tenant
            ):
                found[condition.instant].append(condition)
        return found

    def _series_conditions(
        self, instants: Sequence[datetime], scope: str, *, by_tenant: bool
    ) -> list[Condition]:
        keys = [*SERIES_KEYS, *(["tenant"] if by_tenant else [])]
        sli = build_sli(self.events, self.config, by_tenant=by_tenant)
        series, numbered = number_series(sli, keys)
        self._series[scope], self._numbered[scope] = series, numbered
        if series.height == 0:
            return []

        streak = int(self.config.sustained.duration.total_seconds() // 60)
        lookback_start = instants[0] - timedelta(minutes=streak)
        grid_instants = minute_instants(lookback_start, instants[-1])
        counts = window_counts(numbered, series[SERIES_ID], grid_instants, self.windows)
        counts = self._with_rules(counts.join(series, on=SERIES_ID), streak)

        requested = pl.Series(list(instants), dtype=pl.Datetime("us", "UTC"))
        wanted = counts.filter(pl.col(INSTANT).is_in(requested.implode()))
        self.last_counts[scope] = wanted.filter(pl.col(INSTANT) == instants[-1])
        return self._conditions(wanted, scope)

    def _with_rules(self, counts: pl.DataFrame, streak: int) -> pl.DataFrame:
        budget = 1 - pl.col("target_num") / pl.col("target_den")
        burn = {
            name: pl.when(pl.col(f"total_{name}") > 0).then(
                pl.col(f"bad_{name}") / pl.col(f"total_{name}") / budget
            )
            for name in self.windows
        }
        counts = counts.with_columns(
            [expr.alias(f"burn_{name}") for name, expr in burn.items()]
        )

        for rule in self.config.burn_rate:
            long, short = window_name(rule.long_window), window_name(rule.short_window)
            holds = (
                (pl.col(f"total_{long}") >= pl.col("min_events"))
                & (pl.col(f"total_{short}") >= pl.col("min_events"))
                & _burns_faster(long, rule.factor)
                & _burns_faster(short, rule.factor)
            )
            counts = counts.with_columns(
                holds.fill_null(False).alias(f"rule_{rule.name}")
            )

        return counts.with_columns(
            self._sustained(streak).alias(f"rule_{SUSTAINED_RULE}")
        )

    def _sustained(self, streak: int) -> pl.Expr:
        name = window_name(self.config.sustained.window)
        total, bad = pl.col(f"total_{name}"), pl.col(f"bad_{name}")
        den, num = pl.col("target_den"), pl.col("target_num")
        breach = (total >= pl.col("min_events")) & (bad * den > (den - num) * total)
        run = breach.cast(pl.Int8).rolling_min(streak).over(SERIES_ID) == 1
        is_percentile = pl.col("objective").is_in([LATENCY, ACK])
        enabled = pl.lit(self.config.sustained.is_enabled)
        return (run & is_percentile & enabled).fill_null(False)

    def _conditions(self, counts: pl.DataFrame, scope: str) -> list[Condition]:
        rules: list[tuple[str, str, BurnRateRule | None]] = [
            (rule.name, rule.severity, rule) for rule in self.config.burn_rate
        ]
        rules.append((SUSTAINED_RULE, self.config.sustained.severity, None))
        conditions = []
        for name, severity, rule in rules:
            for row in counts.filter(pl.col(f"rule_{name}")).iter_rows(named=True):
                conditions.append(self._condition(row, name, severity, rule, scope))
        return conditions

    def _condition(
        self,
        row: dict[str, Any],
        name: str,
        severity: str,
        rule: BurnRateRule | None,
        scope: str,
    ) -> Condition:
        instant = row[INSTANT]
        assert isinstance(instant, datetime)
        if rule is None:
            lengths = [self.config.sustained.window]
        else:
            lengths = [rule.long_window, rule.short_window]

        windows = tuple(
            WindowFigures(
                name=window_name(length),
                start=instant - length,
                end=instant,
                events=int(row[f"total_{window_name(length)}"]),
                bad=int(row[f"bad_{window_name(length)}"]),
                burn_rate=row[f"burn_{window_name(length)}"],
            )
            for length in lengths
        )
        target = int(row["target_num"]) / int(row["target_den"])
        return Condition(
            rule=name,
            severity=severity,
            objective=str(row["objective"]),
            instant=instant,
            action=row["action"],
            route=row["route"],
            tenant=row.get("tenant"),
            threshold_ms=row["threshold_ms"],
            target=target,
            factor=getattr(rule, "factor", None),
            windows=windows,
            sustained_for=self.config.sustained.duration if rule is None else None,
            series_scope=scope,
            series_id=int(row[SERIES_ID]),
        )

    def _no_data(self, instants: Sequence[datetime]) -> list[Condition]:
        stamps = self.events.select("timestamp").unique().sort("timestamp")
        probes = pl.DataFrame(
            {INSTANT: list(instants)}, schema={INSTANT: pl.Datetime("us", "UTC")}
        )
        newest = probes.join_asof(
            stamps.with_columns(newest=pl.col("timestamp")),
            left_on=INSTANT,
            right_on="timestamp",
            strategy="backward",
        )
        limit = self.config.no_data_after
        conditions = []
        for instant, newest_event in newest.select(INSTANT, "newest").iter_rows():
            if newest_event is None or instant - newest_event > limit:
                conditions.append(
                    Condition(
                        rule=NO_DATA_RULE,
                        severity="no-data",
                        objective="data",
                        instant=instant,
                        newest_event=newest_event,
                        searched_since=self.since,
                    )
                )
        return conditions

    def window_quantile(self, condition: Condition, q: str = "0.95") -> float | None:
        """Return the nearest-rank quantile of the condition's shortest window."""
        numbered = self._numbered.get(condition.series_scope)
        if numbered is None or condition.series_id is None or not condition.windows:
            return None

        window = min(condition.windows, key=lambda figures: figures.end - figures.start)
        values = numbered.filter(
            (pl.col(SERIES_ID) == condition.series_id)
            & (pl.col("timestamp") > window.start)
            & (pl.col("timestamp") <= window.end)
        )
        result = values.select(nearest_rank("value_ms", q)).item()
        return None if result is None else float(result)


def _burns_faster(window: str, factor: float) -> pl.Expr:
    """Tell exactly whether a window's burn rate is above `factor`.

    The burn rate is (bad / total) / (1 - num / den); in floating point a
    window that spends exactly its budget can come out a hair above 1.0, so
    the comparison is done in integers: bad * den > factor * (den - num) * total.
    """
    exact = Fraction(str(factor))
    bad, total = pl.col(f"bad_{window}"), pl.col(f"total_{window}")
    den, num = pl.col("target_den"), pl.col("target_num")
    left = bad * den * exact.denominator
    right = exact.numerator * (den - num) * total
    return (total > 0) & (left > right)
