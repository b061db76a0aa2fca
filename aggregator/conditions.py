"""Conditions: a rule that holds for one series at one evaluation instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

NO_DATA_RULE = "no-data"

SUSTAINED_RULE = "sustained-p95"


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """What one window held at an instant."""

    name: str
    start: datetime
    end: datetime
    events: int
    bad: int
    burn_rate: float | None


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule that holds for one series at one instant."""

    rule: str
    severity: str
    objective: str
    instant: datetime
    action: str | None = None
    route: str | None = None
    tenant: str | None = None
    threshold_ms: float | None = None
    target: float | None = None
    factor: float | None = None
    windows: tuple[WindowFigures, ...] = ()
    newest_event: datetime | None = None
    sustained_for: timedelta | None = None
    expected_interval: timedelta | None = None
    searched_since: datetime | None = None
    series_scope: str = "action"
    series_id: int | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """Identify the alert across runs: rule, objective and series."""
        parts = (self.rule, self.objective, self.action, self.route, self.tenant)
        return "|".join("" if part is None else part for part in parts)


def window_name(length: timedelta) -> str:
    """Name a window by its length: `5m`, `6h`, `3d`."""
    minutes = int(length.total_seconds() // 60)
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"
