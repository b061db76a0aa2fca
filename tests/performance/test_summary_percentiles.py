"""Percentiles selected by polars per group equal the sort-based nearest rank."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from aggregator.quantiles import QuantileMethod, nearest_rank
from aggregator.summary import ACK_METRIC, PERCENTILES, SummaryOptions, summarise


def _events(size: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ack_ms = rng.lognormal(3.0, 1.0, size).round(3)
    return pl.DataFrame(
        {
            "action": rng.choice(["a.one", "a.two", "b.three"], size),
            "tenant": rng.choice(["1", "2", "3", "4"], size),
            "duration_ms": rng.lognormal(5.0, 1.0, size).round(3),
            "outcome": rng.choice(["success", "failure"], size, p=[0.9, 0.1]),
            # Most events, but never the first, carry no acknowledgement time.
            "ack_ms": pl.Series(ack_ms).scatter(
                np.flatnonzero(rng.random(size)[1:] < 0.7) + 1, None
            ),
        }
    )


def _expected(events: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    exprs = [
        nearest_rank("duration_ms", q).alias(name) for name, q in PERCENTILES.items()
    ]
    exprs.append(nearest_rank("ack_ms", "0.95").alias(ACK_METRIC))
    return events.group_by(by).agg(exprs).sort(by)


class TestSelectedPercentiles:
    @pytest.mark.parametrize("by", [["action"], ["action", "tenant"]])
    @pytest.mark.parametrize("size", [1, 7, 1000])
    def test_equal_to_nearest_rank(self, by: list[str], size: int) -> None:
        """Every percentile and the ack p95 equal `nearest_rank` exactly."""
        events = _events(size, seed=size)

        summary = summarise(events, SummaryOptions(tuple(by))).sort(by)
        expected = _expected(events, by)

        for column in [*PERCENTILES, ACK_METRIC]:
            assert summary[column].to_list() == expected[column].to_list(), column

    def test_group_without_ack_is_null(self) -> None:
        """A group whose events carry no `ack_ms` gets a null ack p95."""
        events = pl.DataFrame(
            {
                "action": ["a.one", "a.one", "b.two"],
                "duration_ms": [1.0, 2.0, 3.0],
                "outcome": ["success"] * 3,
                "ack_ms": [None, None, 0.5],
            }
        )

        summary = summarise(events, SummaryOptions(("action",))).sort("action")

        assert summary[ACK_METRIC].to_list() == [None, 0.5]

    def test_linear_method_unchanged(self) -> None:
        """The linear method still interpolates as polars' `quantile` does."""
        events = _events(101, seed=3)
        options = SummaryOptions(("action",), method=QuantileMethod.LINEAR)

        summary = summarise(events, options).sort("action")
        expected = (
            events.group_by("action")
            .agg(pl.col("duration_ms").quantile(0.95, interpolation="linear"))
            .sort("action")
        )

        assert summary["p95_ms"].to_list() == expected["duration_ms"].to_list()
