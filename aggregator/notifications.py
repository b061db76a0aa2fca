"""Alert notifications: what is sent when an alert fires, repeats or resolves.

Each notification carries one line a person can read in a cron mail: the rule,
the action (route and tenant when set), the measured p95 and burn rates, the
objective, the window, the event count and the time range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from aggregator.conditions import (
    NO_DATA_RULE,
    SUSTAINED_RULE,
    Condition,
    window_name,
)
from aggregator.sli import ACK, AVAILABILITY
from aggregator.staleness import STALE_RULE
from aggregator.timerange import format_instant

FIRING = "firing"
REMINDER = "reminder"
RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about one alert, ready for any sink."""

    status: str
    key: str
    rule: str
    severity: str
    objective: str
    at: str
    summary: str
    action: str | None = None
    route: str | None = None
    tenant: str | None = None
    since: str | None = None
    p95_ms: float | None = None
    threshold_ms: float | None = None
    target: float | None = None
    windows: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["windows"] = list(self.windows)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["windows"] = tuple(known.get("windows", ()))
        return cls(**known)

    @property
    def line(self) -> str:
        """Return the notification as one line: status, severity and summary."""
        return f"[{self.status.upper()}] {self.severity}: {self.summary}"


def describe_series(series: Condition | Notification) -> str:
    """Name the action of a condition or notification, with route and tenant."""
    name = series.action or "all actions"
    if series.route:
        name += f" {series.route}"
    if series.tenant:
        name += f" (tenant {series.tenant})"
    return name


def summarise_condition(condition: Condition, p95_ms: float | None) -> str:
    """Describe a holding condition in one line."""
    if condition.rule == NO_DATA_RULE:
        return _no_data_summary(condition)
    if condition.rule == STALE_RULE:
        return _stale_summary(condition)

    series = describe_series(condition)
    objective = _objective_text(condition)
    windows = "; ".join(_window_text(condition, window) for window in condition.windows)
    measured = _measured_text(condition, p95_ms)

    if condition.rule == SUSTAINED_RULE:
        window = condition.windows[0]
        return (
            f"{condition.rule}: {series} {measured} in every {window.name} window "
            f"for the last {_streak_text(condition)} ({objective}); "
            f"last window {windows}"
        )
    return (
        f"{condition.rule}: {series} burning the {condition.objective} error budget "
        f"faster than {condition.factor:g}x in both windows ({objective}); {measured}; "
        f"{windows}"
    )


def _streak_text(condition: Condition) -> str:
    assert condition.sustained_for is not None
    return window_name(condition.sustained_for)


def _objective_text(condition: Condition) -> str:
    target_pct = f"{(condition.target or 0) * 100:g}"
    if condition.objective == AVAILABILITY:
        return f"objective {target_pct}% successful"
    measure = "ack" if condition.objective == ACK else "latency"
    threshold = f"{condition.threshold_ms:g} ms" if condition.threshold_ms else "?"
    return f"objective p{target_pct} {measure} <= {threshold}"


def _measured_text(condition: Condition, p95_ms: float | None) -> str:
    if condition.objective == AVAILABILITY or p95_ms is None:
        return "failure ratio too high" if condition.objective == AVAILABILITY else ""
    measure = "ack p95" if condition.objective == ACK else "p95"
    return f"{measure} {p95_ms:,.1f} ms"


def _window_text(condition: Condition, window: Any) -> str:
    burn = "" if window.burn_rate is None else f"burn rate {window.burn_rate:.1f} "
    return (
        f"{window.name}: {burn}{window.bad:,}/{window.events:,} events bad, "
        f"{format_instant(window.start)} .. {format_instant(window.end)}"
    )


def _stale_summary(condition: Condition) -> str:
    assert condition.newest_event is not None
    assert condition.expected_interval is not None
    age = condition.instant - condition.newest_event
    return (
        f"{condition.rule}: {condition.action} wrote no line for "
        f"{_minutes(age)} (expected every {_minutes(condition.expected_interval)}, "
        f"newest {format_instant(condition.newest_event)}): has the loop stopped?"
    )


def _minutes(length: timedelta) -> str:
    minutes = length.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes >= 1 else f"{length.total_seconds():.0f} s"


def _no_data_summary(condition: Condition) -> str:
    if condition.newest_event is None and condition.searched_since is not None:
        return (
            f"no timing events since {format_instant(condition.searched_since)}, "
            "as far back as check reads: is the shipper or the app down?"
        )
    if condition.newest_event is None:
        return "no timing events in the logs at all: is the shipper or the app down?"
    age_min = (condition.instant - condition.newest_event).total_seconds() / 60
    return (
        f"newest timing event is {age_min:.0f} min old "
        f"({format_instant(condition.newest_event)}): is the shipper or the app down?"
    )


def build_notification(
    status: str,
    condition: Condition,
    p95_ms: float | None,
    since: datetime | None = None,
) -> Notification:
    """Make a notification from a condition that holds (or just stopped holding)."""
    return Notification(
        status=status,
        key=condition.key,
        rule=condition.rule,
        severity=condition.severity,
        objective=condition.objective,
        at=format_instant(condition.instant),
        summary=summarise_condition(condition, p95_ms),
        action=condition.action,
        route=condition.route,
        tenant=condition.tenant,
        since=format_instant(since) if since else None,
        p95_ms=p95_ms,
        threshold_ms=condition.threshold_ms,
        target=condition.target,
        windows=tuple(
            {
                "name": window.name,
                "start": format_instant(window.start),
                "end": format_instant(window.end),
                "events": window.events,
                "bad": window.bad,
                "burn_rate": window.burn_rate,
            }
            for window in condition.windows
        ),
    )


def resolved_notification(previous: Notification, at: datetime) -> Notification:
    """Make the `resolved` message for an alert that stopped holding."""
    return Notification(
        **{
            **previous.to_dict(),
            "status": RESOLVED,
            "at": format_instant(at),
            "windows": previous.windows,
            "summary": f"{previous.rule}: {_resolved_text(previous)} "
            f"(firing since {previous.since})",
        }
    )


def _resolved_text(previous: Notification) -> str:
    if previous.rule == NO_DATA_RULE:
        return "timing lines are arriving again"
    if previous.rule == STALE_RULE:
        return f"{previous.action} is writing lines again"
    return f"{describe_series(previous)} is back within its objective"
