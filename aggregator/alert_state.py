"""Alert episodes across cron runs: fire once, remind, resolve, and the state file.

An alert fires once when its rule starts to hold, sends a reminder every
`renotify_after` while it keeps holding, and resolves only after the rule has
not held for `resolve_after` consecutive evaluations, so a value flapping
around its threshold does not page and resolve on every run. The state file
also keeps notifications a sink failed to deliver, so the next run retries
them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator.atomic_files import replace_file
from aggregator.conditions import Condition
from aggregator.errors import AggregatorError
from aggregator.notifications import (
    FIRING,
    REMINDER,
    Notification,
    build_notification,
    resolved_notification,
)
from aggregator.timerange import format_instant, parse_instant

STATE_VERSION = 1

STATE_MODE = 0o600


class StateLockError(AggregatorError):
    """Another run holds the state lock for longer than the timeout."""


@dataclass(slots=True)
class OpenAlert:
    """An alert that fired and has not resolved yet."""

    notification: Notification
    fired_at: datetime
    last_notified_at: datetime
    clear_evaluations: int = 0


@dataclass(slots=True)
class PendingDelivery:
    """A notification that a sink failed to deliver; retried on the next run."""

    sink: str
    notification: Notification


@dataclass(slots=True)
class AlertState:
    """The alert state kept between runs."""

    last_evaluated: datetime | None = None
    alerts: dict[str, OpenAlert] = field(default_factory=dict)
    pending: list[PendingDelivery] = field(default_factory=list)


class AlertTracker:
    """Turns the conditions of successive instants into notifications."""

    def __init__(
        self, state: AlertState, *, resolve_after: int, renotify_after: timedelta
    ) -> None:
        self.state = state
        self.resolve_after = resolve_after
        self.renotify_after = renotify_after

    def step(
        self,
        instant: datetime,
        conditions: list[Condition],
        measure: Callable[[Condition], float | None],
    ) -> list[Notification]:
        """Advance to `instant`, where exactly `conditions` hold.

        Args:
            instant: the evaluation instant; later than the previous step's.
            conditions: the rules that hold at `instant`.
            measure: returns the p95 shown in a message, called only for
                conditions that produce a notification.
        """
        notifications = []
        holding = {condition.key: condition for condition in conditions}
        alerts = self.state.alerts

        for key, condition in holding.items():
            alert = alerts.get(key)
            if alert is None:
                notification = build_notification(
                    FIRING, condition, measure(condition), since=instant
                )
                alerts[key] = OpenAlert(notification, instant, instant)
                notifications.append(notification)
                continue

            alert.clear_evaluations = 0
            if instant - alert.last_notified_at >= self.renotify_after:
                alert.notification = build_notification(
                    REMINDER, condition, measure(condition), since=alert.fired_at
                )
                alert.last_notified_at = instant
                notifications.append(alert.notification)

        for key in [key for key in alerts if key not in holding]:
            alert = alerts[key]
            alert.clear_evaluations += 1
            if alert.clear_evaluations >= self.resolve_after:
                notifications.append(resolved_notification(alert.notification, instant))
                del alerts[key]

        self.state.last_evaluated = instant
        return notifications


def load_state(path: Path) -> tuple[AlertState, str | None]:
    """Read the state file; a missing one gives an empty state.

    Returns:
        The state, and a warning when the file was corrupt: it is then moved
        aside to `<name>.corrupt` and an empty state is used.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AlertState(), None

    try:
        return _state_from_data(json.loads(text)), None
    except (ValueError, KeyError, TypeError, AttributeError, AggregatorError) as error:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        warning = (
            f"state file {str(path)!r} is corrupt ({type(error).__name__}: {error}); "
            f"moved it to {str(aside)!r} and started with no open alerts"
        )
        return AlertState(), warning


def _state_from_data(data: Any) -> AlertState:
    if not isinstance(data, dict):
        msg = f"the state is a JSON {type(data).__name__}, not an object"
        raise TypeError(msg)
    if data.get("version") != STATE_VERSION:
        msg = f"unknown state version {data.get('version')!r}"
        raise ValueError(msg)

    last = data.get("last_evaluated")
    alerts = {
        key: OpenAlert(
            notification=Notification.from_dict(item["notification"]),
            fired_at=parse_instant(item["fired_at"]),
            last_notified_at=parse_instant(item["last_notified_at"]),
            clear_evaluations=int(item["clear_evaluations"]),
        )
        for key, item in data["alerts"].items()
    }
    pending = [
        PendingDelivery(item["sink"], Notification.from_dict(item["notification"]))
        for item in data["pending"]
    ]
    return AlertState(parse_instant(last) if last else None, alerts, pending)


def _state_to_data(state: AlertState) -> dict[str, Any]:
    last = state.last_evaluated
    return {
        "version": STATE_VERSION,
        "last_evaluated": format_instant(last) if last else None,
        "alerts": {
            key: {
                "notification": alert.notification.to_dict(),
                "fired_at": format_instant(alert.fired_at),
                "last_notified_at": format_instant(alert.last_notified_at),
                "clear_evaluations": alert.clear_evaluations,
            }
            for key, alert in state.alerts.items()
        },
        "pending": [
            {"sink": item.sink, "notification": item.notification.to_dict()}
            for item in state.pending
        ],
    }


def save_state(path: Path, state: AlertState) -> None:
    """Write the state atomically (temporary file, fsync, rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_state_to_data(state), indent=2) + "\n"
    replace_file(path, text.encode("utf-8"), STATE_MODE)


@contextlib.contextmanager
def state_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive lock beside the state file for the whole run.

    A second run waits up to `timeout_s` for the first to finish, then sees
    the state the first one saved, so it does not send the same alert again.

    Raises:
        StateLockError: the lock is still held after `timeout_s`.
    """
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, STATE_MODE)
    try:
        _acquire(descriptor, lock_path, timeout_s)
        yield
    finally:
        os.close(descriptor)


def _acquire(descriptor: int, lock_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                msg = (
                    f"another check run holds {str(lock_path)!r} after waiting "
                    f"{timeout_s:g} s: let it finish, or raise --lock-timeout"
                )
                raise StateLockError(msg) from None
            time.sleep(0.1)
