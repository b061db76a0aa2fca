"""Window counts and burn rates agree with a brute-force computation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import polars as pl
import pytest

from aggregator.conditions import window_name
from aggregator.loading import EVENT_SCHEMA
from aggregator.rules import Evaluator
from aggregator.slo_config import BurnRateRule, LatencyObjective, SloConfig

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _events(seed: int, count: int) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        age_s = rng.uniform(0, 4 * 86400)
        stamp = NOW - timedelta(seconds=age_s)
        if index % 13 == 0:
            stamp = stamp.replace(second=0, microsecond=0)
        action = rng.choice(["config.update", "api.request", "verification.submit"])
        rows.append(
            {
                "timestamp": stamp,
                "action": action,
                "action_type": action.split(".")[0],
                "duration_ms": rng.choice(
                    [rng.uniform(1, 499), rng.uniform(501, 3000)]
                ),
                "outcome": rng.choice(["success", "success", "failure"]),
                "error_type": None,
                "entrypoint": "bot",
                "tenant": str(rng.randint(1, 5)),
                "event_id": f"{index:032x}",
                "service": "s",
                "route": rng.choice(["/a/{x}", "/b"])
                if action == "api.request"
                else None,
                "method": None,
                "status_code": None,
                "ack_ms": None,
            }
        )
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


def _brute_force(
    events: pl.DataFrame,
    action: str,
    route: str | None,
    instant: datetime,
    length: timedelta,
    threshold_ms: float,
) -> tuple[int, int]:
    total = bad = 0
    for row in events.iter_rows(named=True):
        row_route = row["route"] if row["action"] == "api.request" else None
        if row["action"] != action or row_route != route:
            continue
        if instant - length < row["timestamp"] <= instant:
            total += 1
            bad += row["duration_ms"] > threshold_ms
    return total, bad


@pytest.mark.parametrize("seed", [1, 2])
def test_every_window_matches_brute_force(seed: int) -> None:
    events = _events(seed, 3000)
    config = SloConfig()
    evaluator = Evaluator(events, config)
    instants = [NOW - timedelta(minutes=37), NOW]

    evaluator.evaluate(instants)

    counts = evaluator.last_counts["action"]
    budget = 1 - config.latency.target
    assert counts.height == 4
    for row in counts.iter_rows(named=True):
        for length in evaluator.windows.values():
            name = window_name(length)
            total, bad = _brute_force(
                events, row["action"], row["route"], NOW, length, 500.0
            )
            assert (row[f"total_{name}"], row[f"bad_{name}"]) == (total, bad), name
            if total:
                burn = Fraction(bad, total) / budget
                assert row[f"burn_{name}"] == pytest.approx(float(burn)), name
            else:
                assert row[f"burn_{name}"] is None


@pytest.mark.parametrize(("target", "bad"), [("0.9", 2), ("0.8", 4), ("0.95", 1)])
def test_spending_exactly_the_budget_is_not_faster_than_factor_1(
    target: str, bad: int
) -> None:
    """20 events with exactly the budgeted number bad: burn rate 1, not above."""
    rows = [
        {
            **dict.fromkeys(EVENT_SCHEMA),
            "timestamp": NOW - timedelta(seconds=10 + i),
            "action": "x.op",
            "action_type": "x",
            "outcome": "success",
            "entrypoint": "bot",
            "service": "s",
            "event_id": f"{i:032x}",
            "duration_ms": 600.0 if i < bad else 100.0,
        }
        for i in range(20)
    ]
    events = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    rule = BurnRateRule("one", "page", timedelta(minutes=5), timedelta(minutes=5), 1.0)
    latency = LatencyObjective(target=Fraction(target))
    config = SloConfig(latency=latency, burn_rate=(rule,))

    found = Evaluator(events, config).evaluate([NOW])

    assert [c.rule for c in found[NOW] if c.rule == "one"] == []
