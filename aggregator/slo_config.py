"""What `check` evaluates: objectives, alert rules, sinks and file locations.

Every setting has a built-in default, so `check` runs with no `slo.toml` at
all. `aggregator.config_file` reads and validates the file.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

SEVERITIES = ("page", "ticket", "no-data")

# How far back `check` reads to find a periodic action's recent lines.
STALE_LOOKBACK = timedelta(hours=6)

SINK_TYPES = ("stdout", "jsonl", "webhook", "discord")

OUTCOMES = ("success", "failure")


@dataclass(frozen=True, slots=True)
class LatencyOverride:
    """A latency objective for the actions matching `match` (a glob)."""

    match: str
    threshold_ms: float
    target: Fraction


@dataclass(frozen=True, slots=True)
class LatencyObjective:
    """p-th percentile latency at or under a threshold, per action."""

    threshold_ms: float = 500.0
    target: Fraction = Fraction(95, 100)
    outcomes: tuple[str, ...] = OUTCOMES
    min_events: int = 20
    overrides: tuple[LatencyOverride, ...] = ()

    def for_action(self, action: str, action_type: str) -> tuple[float, Fraction]:
        """Return the threshold and target that apply to one action."""
        for override in self.overrides:
            if _matches(override.match, action, action_type):
                return override.threshold_ms, override.target
        return self.threshold_ms, self.target


@dataclass(frozen=True, slots=True)
class RatioObjective:
    """An objective measured as a good-events ratio: availability or ack time."""

    is_enabled: bool
    target: Fraction
    min_events: int
    threshold_ms: float | None = None


@dataclass(frozen=True, slots=True)
class BurnRateRule:
    """Fire when both windows burn the error budget faster than `factor`."""

    name: str
    severity: str
    long_window: timedelta
    short_window: timedelta
    factor: float


@dataclass(frozen=True, slots=True)
class SustainedRule:
    """Fire when every evaluation over `duration` has the window's p95 too high."""

    is_enabled: bool = True
    window: timedelta = timedelta(minutes=5)
    duration: timedelta = timedelta(minutes=15)
    severity: str = "page"


@dataclass(frozen=True, slots=True)
class StaleRule:
    """Fire when a periodic action's newest line is `factor` intervals old."""

    is_enabled: bool = True
    match: tuple[str, ...] = ("bot.task.*",)
    factor: float = 2.0
    min_lines: int = 3
    severity: str = "ticket"


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """An alert destination; a webhook URL comes from the variable `url_env`."""

    name: str
    type: str
    severities: tuple[str, ...] = SEVERITIES
    path: Path | None = None
    url_env: str | None = None
    timeout_s: float = 5.0


DEFAULT_BURN_RATE_RULES = (
    BurnRateRule(
        "page-fast-burn", "page", timedelta(hours=1), timedelta(minutes=5), 14.4
    ),
    BurnRateRule(
        "page-slow-burn", "page", timedelta(hours=6), timedelta(minutes=30), 6.0
    ),
    BurnRateRule("ticket-burn", "ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)


@dataclass(frozen=True, slots=True)
class SloConfig:
    """Everything `check` needs; built from `slo.toml` or the defaults."""

    source: Path | None = None
    logs: tuple[Path, ...] = (Path("logs"),)
    state: Path = Path("slo-state.json")
    no_data_after: timedelta = timedelta(minutes=15)
    resolve_after: int = 5
    renotify_after: timedelta = timedelta(hours=4)
    exclude: tuple[str, ...] = ("bot.event.*", "bot.task.*")
    latency: LatencyObjective = field(default_factory=LatencyObjective)
    availability: RatioObjective = RatioObjective(False, Fraction(99, 100), 20)
    ack: RatioObjective = RatioObjective(True, Fraction(95, 100), 20, 2500.0)
    tenant_min_events: int | None = None
    sustained: SustainedRule = field(default_factory=SustainedRule)
    stale: StaleRule = field(default_factory=StaleRule)
    burn_rate: tuple[BurnRateRule, ...] = DEFAULT_BURN_RATE_RULES
    sinks: tuple[SinkConfig, ...] = (SinkConfig("stdout", "stdout"),)

    def is_alerted(self, action: str, action_type: str) -> bool:
        """Tell whether an action's objectives raise alerts.

        Actions matching `exclude` are reported but not alerted, unless a
        latency override names them.
        """
        if any(_matches(o.match, action, action_type) for o in self.latency.overrides):
            return True
        return not any(
            _matches(pattern, action, action_type) for pattern in self.exclude
        )

    @property
    def longest_window(self) -> timedelta:
        """The maximum look-back of any rule."""
        windows = [rule.long_window for rule in self.burn_rate]
        windows.append(self.sustained.window + self.sustained.duration)
        windows.append(self.no_data_after)
        # NOTE: a periodic action slower than this look-back (a daily job)
        # cannot be judged stale: its earlier lines are not read.
        windows.append(STALE_LOOKBACK)
        return max(windows)


def _matches(pattern: str, action: str, action_type: str) -> bool:
    if pattern.startswith("type:"):
        return fnmatch.fnmatchcase(action_type, pattern[len("type:") :])
    return fnmatch.fnmatchcase(action, pattern)
