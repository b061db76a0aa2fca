"""Stale periodic actions: a background loop that stopped writing lines.

A `tasks.loop` that raises stops for good, and its percentiles then come
from the iterations before it died. For actions matching the stale patterns
(default `bot.task.*`), the expected interval is the (lower) median gap between
its recent lines; the action is stale when its newest line is older than
`factor` times that interval.
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from aggregator.conditions import Condition
from aggregator.slo_config import StaleRule

STALE_RULE = "stale-action"

# Gaps used to estimate an action's interval: the most recent ones only, so
# a loop whose interval was changed is judged by its new interval.
RECENT_GAPS = 10


def stale_conditions(
    events: pl.DataFrame, rule: StaleRule, instants: Sequence[datetime]
) -> list[Condition]:
    """Return a condition per instant and action whose lines stopped."""
    if not rule.is_enabled or events.height == 0:
        return []

    conditions = []
    for action, stamps in _timestamps_by_action(events, rule.match).items():
        for instant in instants:
            condition = _stale_at(action, stamps, instant, rule)
            if condition is not None:
                conditions.append(condition)
    return conditions


def _timestamps_by_action(
    events: pl.DataFrame, patterns: Sequence[str]
) -> dict[str, list[datetime]]:
    actions = [
        action
        for action in events["action"].unique().to_list()
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in patterns)
    ]
    selected = events.filter(pl.col("action").is_in(actions)).sort("timestamp")
    grouped = selected.group_by("action").agg(pl.col("timestamp"))
    return dict(
        zip(grouped["action"].to_list(), grouped["timestamp"].to_list(), strict=True)
    )


def _stale_at(
    action: str, stamps: list[datetime], instant: datetime, rule: StaleRule
) -> Condition | None:
    seen = bisect.bisect_right(stamps, instant)
    if seen < rule.min_lines:
        return None

    recent = stamps[max(0, seen - RECENT_GAPS - 1) : seen]
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(recent))
    interval = gaps[(len(gaps) - 1) // 2]
    if interval <= timedelta(0):
        return None

    newest = stamps[seen - 1]
    if instant - newest <= interval * rule.factor:
        return None
    return Condition(
        rule=STALE_RULE,
        severity=rule.severity,
        objective="freshness",
        instant=instant,
        action=action,
        newest_event=newest,
        expected_interval=interval,
    )
