"""Percentiles agree with numpy, per group, from lines the timer wrote."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from helpers import EmittedLog, case_path

from aggregator.errors import InvalidOptionError
from aggregator.loading import read_events
from aggregator.quantiles import (
    FLOAT_EXACT_QUANTILES,
    QuantileMethod,
    nearest_rank,
    quantile,
    quantile_fraction,
)
from aggregator.summary import PERCENTILES, SummaryOptions, summarise
from datadrop_timing import flush, timed

SIZES = (1, 2, 19, 20, 21, 100, 10_001)


def _emit_durations(
    emitted: EmittedLog, durations_by_action: dict[str, list[float]]
) -> None:
    for action, durations in durations_by_action.items():
        for duration_ms in durations:
            with timed(action, clock=emitted.clock):
                emitted.clock.advance(ms=duration_ms)


def _durations(rng: np.random.Generator, size: int) -> list[float]:
    """Log-normal durations rounded to whole microseconds, with some ties."""
    values = rng.lognormal(mean=5.0, sigma=1.0, size=size).round(3)
    values[: size // 10] = values[0]
    return [float(value) for value in rng.permutation(values)]


class TestNearestRank:
    def test_p95_path_matches_numpy_inverted_cdf_per_group(
        self, emitted: EmittedLog
    ) -> None:
        """Emit known durations, read the file back, compare every group."""
        rng = np.random.default_rng(20261204)
        durations = {f"core.size_{size}": _durations(rng, size) for size in SIZES}
        _emit_durations(emitted, durations)
        flush()

        events, stats = read_events([emitted.path])
        summary = summarise(events, SummaryOptions(by=("action",)))

        assert stats.skipped_total == 0
        rows = {row["action"]: row for row in summary.iter_rows(named=True)}
        for action, values in durations.items():
            row = rows[action]
            assert row["count"] == len(values)
            for column, q in PERCENTILES.items():
                expected = np.percentile(values, float(q) * 100, method="inverted_cdf")
                assert row[column] == pytest.approx(expected, abs=1e-6), (
                    action,
                    column,
                )
            assert row["max_ms"] == pytest.approx(max(values), abs=1e-6)

    def test_rank_is_exact_where_floating_point_is_not(self) -> None:
        """0.07 * 100 is 7.000000000000001 in floats; the 7th value is right."""
        frame = pl.DataFrame({"d": [float(i) for i in range(1, 101)]})

        assert frame.select(nearest_rank("d", "0.07")).item() == 7.0
        assert frame.select(nearest_rank("d", "0.95")).item() == 95.0
        assert frame.select(nearest_rank("d", "1")).item() == 100.0

    @pytest.mark.parametrize("q", sorted(FLOAT_EXACT_QUANTILES))
    def test_equiprobable_equals_rank_for_every_size(self, q: Fraction) -> None:
        """polars' selection equals the integer rank ceil(q * n) for n up to 2,500."""
        rng = np.random.default_rng(int(q * 100))
        sizes = np.arange(1, 2501)
        groups = np.repeat(sizes, sizes)
        values = rng.random(groups.size)
        frame = pl.DataFrame({"n": groups, "d": values})

        selected = (
            frame.group_by("n")
            .agg(quantile("d", q, QuantileMethod.NEAREST_RANK))
            .sort("n")["d"]
            .to_numpy()
        )

        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        ranks = -(-sizes * q.numerator // q.denominator)
        expected = [
            np.sort(values[start : start + size])[rank - 1]
            for start, size, rank in zip(starts, sizes, ranks, strict=True)
        ]
        assert selected.tolist() == expected

    def test_empty_group_is_null(self) -> None:
        frame = pl.DataFrame({"d": []}, schema={"d": pl.Float64})

        assert frame.select(nearest_rank("d", "0.95")).item() is None

    @pytest.mark.parametrize("q", ["0", "1.5", "-0.1", "p95", "nan"])
    def test_quantile_outside_the_unit_interval_is_refused(self, q: str) -> None:
        with pytest.raises(InvalidOptionError, match=repr(q)):
            quantile_fraction(q)


class TestMethods:
    def test_reference_durations_give_the_documented_values(self) -> None:
        """Twenty durations 10..190 and 5000 ms, values worked out by hand."""
        events, _ = read_events([case_path("C14")])

        nearest = summarise(events, SummaryOptions()).row(0, named=True)
        linear = summarise(events, SummaryOptions(method=QuantileMethod.LINEAR)).row(
            0, named=True
        )

        assert (nearest["p50_ms"], nearest["p95_ms"], nearest["p99_ms"]) == (
            100.0,
            190.0,
            5000.0,
        )
        assert linear["p50_ms"] == pytest.approx(105.0)
        assert linear["p95_ms"] == pytest.approx(430.5)
        assert linear["p99_ms"] == pytest.approx(4086.1)
        for row in (nearest, linear):
            assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]

    def test_linear_matches_numpy_linear(self) -> None:
        rng = np.random.default_rng(7)
        values = _durations(rng, 1001)
        frame = pl.DataFrame(
            {
                "action": ["a"] * len(values),
                "duration_ms": values,
                "outcome": ["success"] * len(values),
                "ack_ms": [None] * len(values),
            },
            schema_overrides={"ack_ms": pl.Float64},
        )

        row = summarise(frame, SummaryOptions(method=QuantileMethod.LINEAR)).row(
            0, named=True
        )

        for column, q in PERCENTILES.items():
            expected = np.percentile(values, float(q) * 100, method="linear")
            assert row[column] == pytest.approx(expected)


class TestSummary:
    def _frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "action": ["a", "a", "a", "a", "b"],
                "tenant": ["1", "1", "2", None, None],
                "duration_ms": [10.0, 20.0, 900.0, 30.0, 5.0],
                "outcome": ["success", "failure", "failure", "success", "success"],
                "ack_ms": [None, None, 3.0, None, None],
            },
            schema_overrides={"ack_ms": pl.Float64},
        )

    def test_failure_rate_and_counts_per_group(self) -> None:
        summary = summarise(self._frame(), SummaryOptions(by=("action", "tenant")))

        rows = {(r["action"], r["tenant"]): r for r in summary.iter_rows(named=True)}
        assert rows[("a", "1")]["failure_rate"] == 0.5
        assert rows[("a", "2")]["failures"] == 1
        assert rows[("a", None)]["count"] == 1
        assert next(iter(rows)) == ("a", "2")

    def test_outcome_filter_narrows_every_column(self) -> None:
        summary = summarise(self._frame(), SummaryOptions(outcome="success"))

        row = summary.filter(pl.col("action") == "a").row(0, named=True)
        assert (row["count"], row["failures"], row["max_ms"]) == (2, 0, 30.0)

    def test_ack_column_appears_only_with_ack_lines(self) -> None:
        with_ack = summarise(self._frame(), SummaryOptions())
        without = summarise(self._frame().with_columns(ack_ms=None), SummaryOptions())

        assert "ack_p95_ms" in with_ack.columns
        assert "ack_p95_ms" not in without.columns
        assert with_ack.filter(pl.col("action") == "b")["ack_p95_ms"].item() is None
