"""The dashboard's numbers against independent computations on the same events."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dashboard_support import START, steady_traffic, timing_line, write_lines

from aggregator.dashboard_data import (
    BREACHED,
    FEW_EVENTS,
    MAX_WINDOWS,
    OK,
    DashboardData,
    DashboardOptions,
    build_dashboard_data,
    choose_window,
    percentile_label,
)
from aggregator.loading import read_events
from aggregator.slo_config import LatencyObjective, LatencyOverride, SloConfig

WINDOW = timedelta(minutes=5)


def compute(
    tmp_path: Path,
    lines: list[dict[str, object]],
    config: SloConfig | None = None,
    **options: object,
) -> DashboardData:
    path = write_lines(tmp_path / "events.jsonl", lines)
    events, _ = read_events([path])
    chosen = DashboardOptions(window=WINDOW, **options)  # type: ignore[arg-type]
    return build_dashboard_data(events, config or SloConfig(), chosen)


@pytest.fixture
def random_lines() -> list[dict[str, object]]:
    """An hour of two actions with random durations, some failures."""
    rng = random.Random(11)
    lines = []
    for second in range(0, 3600, 7):
        for action in ("api.auth", "reset.execute"):
            duration_ms = rng.lognormvariate(5.5, 0.8)
            outcome = "failure" if rng.random() < 0.05 else "success"
            at = START + timedelta(seconds=second, microseconds=rng.randrange(10**6))
            lines.append(timing_line(action, duration_ms, at, outcome=outcome))
    return lines


def window_of(line: dict[str, object]) -> str:
    """Return the end of the `(end - 5 min, end]` window holding the line."""
    stamp = str(line["timestamp"])
    moment = START.fromisoformat(stamp.replace("Z", "+00:00"))
    offset = moment - START
    count = -(-offset // WINDOW)  # ceiling division of timedeltas
    return (START + count * WINDOW).isoformat()


class TestWindows:
    def test_p95_matches_numpy(
        self, tmp_path: Path, random_lines: list[dict[str, object]]
    ) -> None:
        """Each window's p95 is numpy's `inverted_cdf` of that window's events."""
        data = compute(tmp_path, random_lines)
        for row in data.windows.filter(pl.col("count") > 0).iter_rows(named=True):
            durations = [
                float(line["duration_ms"])  # type: ignore[arg-type]
                for line in random_lines
                if line["action"] == row["action"]
                and window_of(line) == row["window_end"].isoformat()
            ]
            expected = np.percentile(durations, 95, method="inverted_cdf")
            assert row["count"] == len(durations)
            assert row["objective_ms"] == pytest.approx(expected, abs=1e-9)

    def test_breach_agrees_with_p95(
        self, tmp_path: Path, random_lines: list[dict[str, object]]
    ) -> None:
        """With nearest-rank, a window is breached exactly when p95 > threshold."""
        data = compute(tmp_path, random_lines)
        judged = data.windows.filter(~pl.col("has_few_events"))
        assert judged.height > 0
        for row in judged.iter_rows(named=True):
            assert row["is_breached"] == (row["objective_ms"] > row["threshold_ms"])

    def test_few_events_never_breach(self, tmp_path: Path) -> None:
        """Ten slow events in a window are too few to judge."""
        lines = [
            timing_line("api.auth", 5000.0, START + timedelta(seconds=index))
            for index in range(1, 11)
        ]
        data = compute(tmp_path, lines)
        assert data.windows["has_few_events"].to_list() == [True]
        assert data.windows["is_breached"].to_list() == [False]
        assert data.actions["status"].to_list() == [FEW_EVENTS]

    def test_empty_windows_kept(self, tmp_path: Path) -> None:
        """A gap in traffic is a window with count 0, so the line breaks."""
        lines = [
            timing_line("api.auth", 10.0, START + timedelta(minutes=1)),
            timing_line("api.auth", 10.0, START + timedelta(minutes=21)),
        ]
        data = compute(tmp_path, lines)
        assert data.windows["count"].to_list() == [1, 0, 0, 0, 1]
        assert data.windows["objective_ms"].to_list()[1:4] == [None] * 3

    def test_boundary_event_ends_window(self, tmp_path: Path) -> None:
        """An event exactly at 00:05 belongs to the window `(00:00, 00:05]`."""
        lines = [timing_line("api.auth", 10.0, START + WINDOW)]
        data = compute(tmp_path, lines)
        assert data.windows["window_end"].to_list() == [START + WINDOW]


class TestBudget:
    def test_remaining_matches_definition(
        self, tmp_path: Path, random_lines: list[dict[str, object]]
    ) -> None:
        """Remaining = 1 - bad / (5% of events), per action, over the range."""
        data = compute(tmp_path, random_lines)
        for row in data.actions.iter_rows(named=True):
            own = [line for line in random_lines if line["action"] == row["action"]]
            bad = sum(float(line["duration_ms"]) > 500 for line in own)  # type: ignore[arg-type]
            expected = 1 - bad / (0.05 * len(own))
            assert row["budget_remaining"] == pytest.approx(expected)
            assert row["status"] == (BREACHED if expected < 0 else OK)

    def test_burn_down_ends_at_total(
        self, tmp_path: Path, random_lines: list[dict[str, object]]
    ) -> None:
        """The last window's remaining budget is the whole range's."""
        data = compute(tmp_path, random_lines)
        last = data.windows.group_by("action").agg(pl.col("budget_remaining").last())
        joined = last.join(data.actions, on="action", suffix="_total")
        for row in joined.iter_rows(named=True):
            assert row["budget_remaining"] == pytest.approx(
                row["budget_remaining_total"]
            )

    def test_override_objective_used(self, tmp_path: Path) -> None:
        """A p99 <= 2 s override for reset.* is the one charted and judged."""
        lines = [
            timing_line("reset.execute", 1500.0, START + timedelta(seconds=s))
            for s in range(1, 31)
        ]
        override = LatencyOverride("reset.*", 2000.0, Fraction(99, 100))
        config = SloConfig(latency=LatencyObjective(overrides=(override,)))
        data = compute(tmp_path, lines, config)
        row = data.actions.row(0, named=True)
        assert row["threshold_ms"] == 2000.0
        assert row["objective_percentile"] == "p99"
        assert row["status"] == OK


# Targets whose `1 - target` is not exact in binary floating point, and some
# that are. For each, `spent_exactly` makes a window that spends its budget.
EXACT_TARGETS = ["0.9", "0.8", "0.7", "0.6", "0.95", "0.99", "0.999", "0.75", "0.5"]


def spent_exactly(target: Fraction, extra_bad: int = 0) -> list[dict[str, object]]:
    """Return one window of events whose bad share is exactly `1 - target`.

    The window holds 20 * `den` events, so 20 * (den - num) of them are bad,
    plus `extra_bad` more bad events taken from the good ones.
    """
    total = 20 * target.denominator
    bad = 20 * (target.denominator - target.numerator) + extra_bad
    return [
        timing_line(
            "api.auth",
            600.0 if index < bad else 100.0,
            START + timedelta(seconds=1, microseconds=index),
        )
        for index in range(total)
    ]


def with_target(target: Fraction) -> SloConfig:
    return SloConfig(latency=LatencyObjective(target=target))


class TestExactBudget:
    @pytest.mark.parametrize("text", EXACT_TARGETS)
    def test_spent_budget_not_breached(self, tmp_path: Path, text: str) -> None:
        """Spending exactly the budget is ok, in the window and the whole range."""
        target = Fraction(text)
        data = compute(tmp_path, spent_exactly(target), with_target(target))
        assert data.windows["is_breached"].to_list() == [False]
        assert data.actions["status"].to_list() == [OK]
        assert data.actions["breached_windows"].to_list() == [0]

    @pytest.mark.parametrize("text", EXACT_TARGETS)
    def test_spent_budget_is_zero(self, tmp_path: Path, text: str) -> None:
        """The budget left is +0.0 exactly, so the page shows 0.0, not -0.0."""
        target = Fraction(text)
        data = compute(tmp_path, spent_exactly(target), with_target(target))
        for remaining in [
            *data.actions["budget_remaining"],
            *data.windows["budget_remaining"],
        ]:
            assert remaining == 0.0
            assert math.copysign(1.0, remaining) == 1.0

    @pytest.mark.parametrize("text", EXACT_TARGETS)
    def test_one_more_bad_breaches(self, tmp_path: Path, text: str) -> None:
        """One bad event past the budget breaches the window and the range."""
        target = Fraction(text)
        data = compute(tmp_path, spent_exactly(target, 1), with_target(target))
        assert data.windows["is_breached"].to_list() == [True]
        assert data.actions["status"].to_list() == [BREACHED]
        assert data.actions["budget_remaining"][0] < 0


class TestErrors:
    def test_top_error_type(self, tmp_path: Path) -> None:
        """The most frequent error type is named with its count; ties by name."""
        lines = [
            timing_line("api.auth", 5.0, START + timedelta(seconds=index + 1),
                        outcome="failure", error_type=error)
            for index, error in enumerate(["Timeout", "HTTP401", "HTTP401", "Bug"])
        ]  # fmt: skip
        lines.append(timing_line("config.get", 5.0, START + timedelta(seconds=9)))
        data = compute(tmp_path, lines)
        errors = dict(
            zip(data.actions["action"], data.actions["top_error"], strict=True)
        )
        assert errors == {"api.auth": "HTTP401", "config.get": None}
        assert data.actions.filter(pl.col("action") == "api.auth")[
            "top_error_count"
        ].to_list() == [2]


class TestTenants:
    def test_slowest_first_with_minimum(self, tmp_path: Path) -> None:
        """Top tenants by p95; a tenant under the minimum is left out."""
        lines = []
        for tenant, duration_ms, count in (
            ("1", 100.0, 30),
            ("2", 300.0, 30),
            ("3", 200.0, 30),
            ("4", 9000.0, 5),
        ):
            lines += [
                timing_line(
                    "api.auth",
                    duration_ms,
                    START + timedelta(seconds=i),
                    tenant=tenant,
                )
                for i in range(1, count + 1)
            ]
        data = compute(tmp_path, lines, top_tenants=2, tenant_min_events=20)
        assert data.tenants["tenant"].to_list() == ["2", "3"]
        assert data.tenants["rank"].to_list() == [1, 2]


class TestChoices:
    @pytest.mark.parametrize(
        ("span", "expected"),
        [
            (timedelta(minutes=30), timedelta(minutes=1)),
            (timedelta(hours=12), timedelta(minutes=5)),
            (timedelta(days=2), timedelta(minutes=30)),
            (timedelta(days=7), timedelta(hours=2)),
            (timedelta(days=400), timedelta(days=7)),
        ],
    )
    def test_window_for_span(self, span: timedelta, expected: timedelta) -> None:
        assert choose_window(span) == expected

    @pytest.mark.parametrize(
        "span",
        [
            timedelta(minutes=149),
            timedelta(minutes=150),
            timedelta(days=7 * 149),
            timedelta(days=7 * 150),
            timedelta(days=365 * 56),
            timedelta(days=365 * 2025),
        ],
    )
    def test_window_count_capped(self, span: timedelta) -> None:
        """However wide the span, its windows number at most MAX_WINDOWS."""
        window = choose_window(span)
        assert span / window + 1 <= MAX_WINDOWS
        assert window.total_seconds() % 60 == 0


class TestWindowGrid:
    def build(
        self, lines: list[dict[str, object]], since: datetime, tmp_path: Path
    ) -> DashboardData:
        path = write_lines(tmp_path / "events.jsonl", lines)
        events, _ = read_events([path])
        end = START + timedelta(hours=6)
        return build_dashboard_data(
            events, SloConfig(), DashboardOptions(), start=since, end=end
        )

    @pytest.mark.parametrize(
        "since",
        [
            datetime(1970, 1, 1, tzinfo=UTC),
            datetime(1, 1, 2, tzinfo=UTC),
            START - timedelta(days=30),
        ],
    )
    def test_grid_starts_at_first_event(self, tmp_path: Path, since: datetime) -> None:
        """Six hours of events get 5-minute windows, however early `since` is."""
        lines = steady_traffic(["api.auth"], minutes=360, per_minute=1)
        data = self.build(lines, since, tmp_path)
        ends = data.windows["window_end"]
        assert data.window == timedelta(minutes=5)
        assert data.start == since
        assert ends.min() == START + timedelta(minutes=5)
        assert ends.max() == START + timedelta(hours=6)
        assert data.windows.height == 72

    def test_sparse_decades_capped(self, tmp_path: Path) -> None:
        """Events 50 years apart get at most MAX_WINDOWS windows of whole weeks."""
        lines = [
            timing_line("api.auth", 10.0, START - timedelta(days=365 * 50)),
            timing_line("api.auth", 10.0, START),
        ]
        data = self.build(lines, datetime(1970, 1, 1, tzinfo=UTC), tmp_path)
        assert data.windows.height <= MAX_WINDOWS
        assert data.window % timedelta(days=7) == timedelta(0)
        assert data.windows["count"].sum() == 2

    @pytest.mark.parametrize(
        ("target", "label"),
        [(Fraction(95, 100), "p95"), (Fraction(999, 1000), "p99.9")],
    )
    def test_percentile_label(self, target: Fraction, label: str) -> None:
        assert percentile_label(target) == label
