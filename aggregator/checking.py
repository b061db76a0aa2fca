"""One `check` run: read the recent logs, evaluate the rules, notify, save state.

Evaluation instants are whole minutes. A cron run evaluates every minute since
the previous run (at most `MAX_CATCH_UP` of them), so "resolves after 5
evaluations" means 5 minutes whatever the cron interval. `--dry-run` and
`--replay` never send or touch the state file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from aggregator.alert_state import (
    AlertState,
    AlertTracker,
    PendingDelivery,
    load_state,
    save_state,
    state_lock,
)
from aggregator.conditions import Condition
from aggregator.files import find_log_files
from aggregator.loading import ReadStats, read_files
from aggregator.notifications import Notification
from aggregator.rules import Evaluator
from aggregator.sinks import DeliveryFailure, Sinks
from aggregator.slo_config import SloConfig
from aggregator.timerange import format_instant
from aggregator.windows import minute_instants

EXIT_OK = 0
EXIT_BREACH = 1
EXIT_DELIVERY_FAILED = 3

MAX_CATCH_UP = 60

# Events dated this far after `now` are reported as clock skew.
FUTURE_TOLERANCE = timedelta(minutes=5)

# A file last modified this long before the oldest window start is not read.
MTIME_SLACK = timedelta(hours=1)


@dataclass(slots=True)
class CheckRun:
    """The outcome of one run, for the CLI to print and map to an exit code."""

    conditions: list[Condition] = field(default_factory=list)
    notifications: list[tuple[datetime, Notification]] = field(default_factory=list)
    failures: list[DeliveryFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: ReadStats | None = None
    evaluator: Evaluator | None = None
    instants: list[datetime] = field(default_factory=list)

    open_alerts: int = 0

    @property
    def exit_code(self) -> int:
        """Return 3 on a failed delivery, 1 while an alert is true or open, else 0."""
        if self.failures:
            return EXIT_DELIVERY_FAILED
        return EXIT_BREACH if self.conditions or self.open_alerts else EXIT_OK


def load_recent_events(
    paths: Sequence[Path], start: datetime, now: datetime, *, is_live: bool = True
) -> tuple[pl.DataFrame, ReadStats, list[str]]:
    """Read the events in `(start, now]` from files that can hold them.

    Files last modified before `start - MTIME_SLACK` are skipped unread, so
    the cost of a run does not grow with the history kept in the folder.
    Events dated more than `FUTURE_TOLERANCE` after `now` are counted in a
    note and not used.
    """
    files = find_log_files(paths, allow_empty_folders=True)
    oldest_mtime = (start - MTIME_SLACK).timestamp()
    recent = [path for path in files if os.stat(path).st_mtime >= oldest_mtime]
    events, stats = read_files(recent)

    notes = []
    future = events.filter(pl.col("timestamp") > now + FUTURE_TOLERANCE).height
    if future:
        cause = (
            "a writer's clock may be skewed"
            if is_live
            else "--now is in the past, or a writer's clock is skewed"
        )
        notes.append(
            f"{future:,} events dated after {format_instant(now + FUTURE_TOLERANCE)} "
            f"(now + 5 min) were not used: {cause}"
        )
    in_range = events.filter(
        (pl.col("timestamp") > start) & (pl.col("timestamp") <= now)
    )
    return in_range, stats, notes


def evaluation_start(config: SloConfig, first_instant: datetime) -> datetime:
    """Return the oldest moment any rule looks at for these instants."""
    lookback = config.sustained.duration + config.sustained.window
    return first_instant - max(config.longest_window, lookback)


def evaluate_instants(
    config: SloConfig,
    paths: Sequence[Path],
    instants: list[datetime],
    now: datetime,
    *,
    is_live: bool,
) -> tuple[CheckRun, dict[datetime, list[Condition]]]:
    """Read what the instants need and evaluate every rule at each of them."""
    run = CheckRun(instants=instants)
    start = evaluation_start(config, instants[0])
    events, run.stats, run.notes = load_recent_events(
        paths, start, now, is_live=is_live
    )
    run.evaluator = Evaluator(events, config, since=start)
    found = run.evaluator.evaluate(instants)
    run.conditions = found[instants[-1]]
    return run, found


def dry_run(
    config: SloConfig, paths: Sequence[Path], now: datetime, *, is_live: bool = True
) -> CheckRun:
    """Evaluate at `now` only; send nothing, touch no state."""
    instants = [now.replace(second=0, microsecond=0)]
    run, _ = evaluate_instants(config, paths, instants, now, is_live=is_live)
    return run


def replay(
    config: SloConfig,
    paths: Sequence[Path],
    since: timedelta,
    now: datetime,
    *,
    is_live: bool = True,
) -> CheckRun:
    """Evaluate every minute of `(now - since, now]` from an empty state."""
    instants = minute_instants(now - since, now)
    run, found = evaluate_instants(config, paths, instants, now, is_live=is_live)
    tracker = AlertTracker(
        AlertState(),
        resolve_after=config.resolve_after,
        renotify_after=config.renotify_after,
    )
    assert run.evaluator is not None
    for instant in instants:
        for notification in tracker.step(
            instant, found[instant], run.evaluator.window_quantile
        ):
            run.notifications.append((instant, notification))
    return run


def check(
    config: SloConfig,
    paths: Sequence[Path],
    now: datetime,
    sinks: Sinks,
    *,
    lock_timeout_s: float,
    is_live: bool = True,
) -> CheckRun:
    """Run as cron does: evaluate new minutes, notify, save state under a lock."""
    with state_lock(config.state, lock_timeout_s):
        state, warning = load_state(config.state)
        instants = _new_instants(state, now)
        run, found = evaluate_instants(config, paths, instants, now, is_live=is_live)
        if warning:
            run.notes.append(warning)

        retry = state.pending
        state.pending = []
        for item in retry:
            _deliver(sinks, item.sink, item.notification, state, run)

        if state.last_evaluated is None or instants[-1] > state.last_evaluated:
            _step(config, state, run, found, sinks)
        run.open_alerts = len(state.alerts)
        save_state(config.state, state)
    return run


def _new_instants(state: AlertState, now: datetime) -> list[datetime]:
    current = now.replace(second=0, microsecond=0)
    last = state.last_evaluated
    if last is None or current <= last:
        return [current]
    return minute_instants(last, now)[-MAX_CATCH_UP:]


def _step(
    config: SloConfig,
    state: AlertState,
    run: CheckRun,
    found: dict[datetime, list[Condition]],
    sinks: Sinks,
) -> None:
    tracker = AlertTracker(
        state, resolve_after=config.resolve_after, renotify_after=config.renotify_after
    )
    assert run.evaluator is not None
    latest: dict[str, tuple[datetime, Notification]] = {}
    for instant in run.instants:
        if state.last_evaluated is not None and instant <= state.last_evaluated:
            continue
        for notification in tracker.step(
            instant, found[instant], run.evaluator.window_quantile
        ):
            # After a gap, one alert may fire, repeat and resolve within one
            # run; only its latest news is sent, which says since when.
            latest[notification.key] = (instant, notification)

    for instant, notification in sorted(latest.values(), key=lambda item: item[0]):
        run.notifications.append((instant, notification))
        for sink in sinks.routes(notification):
            _deliver(sinks, sink, notification, state, run)


def _deliver(
    sinks: Sinks,
    sink: str,
    notification: Notification,
    state: AlertState,
    run: CheckRun,
) -> None:
    failure = sinks.deliver(sink, notification)
    if failure is None:
        return
    run.failures.append(failure)
    if failure.reason.endswith("dropped"):
        return
    state.pending.append(PendingDelivery(sink, notification))
