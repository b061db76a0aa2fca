"""Read, validate and print `slo.toml`.

A minimal file::

    logs = "/var/log/datadrop/central"

    [latency]
    threshold = "500ms"
    target = 0.95

    [[latency.overrides]]
    match = "reset.*"
    threshold = "2s"

    [[sinks]]
    type = "discord"
    url_env = "DATADROP_SLO_DISCORD_WEBHOOK"
    severities = ["page", "no-data"]

Unknown keys are errors, so a typo never leaves a default silently in force.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from aggregator.errors import ConfigError, InvalidOptionError
from aggregator.slo_config import (
    OUTCOMES,
    SEVERITIES,
    SINK_TYPES,
    BurnRateRule,
    LatencyObjective,
    LatencyOverride,
    RatioObjective,
    SinkConfig,
    SloConfig,
    StaleRule,
    SustainedRule,
)
from aggregator.timerange import parse_duration

CONFIG_NAME = "slo.toml"

_TOP_KEYS = {
    "logs",
    "state",
    "no_data_after",
    "resolve_after",
    "renotify_after",
    "exclude",
    "latency",
    "availability",
    "ack",
    "tenants",
    "sustained",
    "stale",
    "burn_rate",
    "sinks",
}


def find_config(explicit: str | Path | None, folder: Path | None = None) -> Path | None:
    """Return the config file to use: `explicit`, else `slo.toml` in `folder`.

    Raises:
        ConfigError: `explicit` names a file that does not exist.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            msg = f"config file {str(path)!r} not found: check the --config path"
            raise ConfigError(msg)
        return path

    candidate = (folder or Path.cwd()) / CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path | None) -> SloConfig:
    """Read and validate a config file; None gives the defaults.

    Raises:
        ConfigError: the file is not TOML, or a setting is unknown or invalid.
    """
    if path is None:
        return SloConfig()

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        msg = f"cannot read config file {str(path)!r}: {error}"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as error:
        msg = f"config file {str(path)!r} is not valid TOML: {error}"
        raise ConfigError(msg) from None

    return _Parser(path).parse(data)


class _Parser:
    """Turns TOML data into an `SloConfig`, naming the file and key on errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key} {problem}")

    def parse(self, data: dict[str, Any]) -> SloConfig:
        self.check_keys("the top level", data, _TOP_KEYS)
        defaults = SloConfig()

        config = replace(
            defaults,
            source=self.path,
            logs=self.paths("logs", data.get("logs"), defaults.logs),
            state=self.paths("state", data.get("state"), (defaults.state,))[0],
            no_data_after=self.duration("no_data_after", data, defaults.no_data_after),
            resolve_after=self.count("resolve_after", data, defaults.resolve_after),
            renotify_after=self.duration(
                "renotify_after", data, defaults.renotify_after
            ),
            exclude=self.strings("exclude", data, defaults.exclude),
            latency=self.latency(data.get("latency", {})),
            availability=self.ratio("availability", data, defaults.availability),
            ack=self.ratio("ack", data, defaults.ack),
            tenant_min_events=self.tenants(data.get("tenants", {})),
            sustained=self.sustained(data.get("sustained", {})),
            stale=self.stale(data.get("stale", {})),
            burn_rate=self.burn_rates(data.get("burn_rate")),
            sinks=self.sinks(data.get("sinks")),
        )
        self.check_factors(config)
        return config

    def check_keys(self, where: str, table: object, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            raise self.fail(where, f"must be a table, not {table!r}")
        unknown = sorted(set(table) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed))
            msg = f"has unknown key {unknown[0]!r}: use one of {known}"
            raise self.fail(where, msg)

    def paths(
        self, key: str, value: object, default: tuple[Path, ...]
    ) -> tuple[Path, ...]:
        if value is None:
            return tuple(self.base / path for path in default)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise self.fail(key, f"must be a path or a list of paths, not {value!r}")
        if not items:
            raise self.fail(key, "is an empty list: name at least one path")
        return tuple(self.base / Path(item).expanduser() for item in items)

    def duration(
        self, key: str, table: dict[str, Any], default: timedelta
    ) -> timedelta:
        value = table.get(key)
        if value is None:
            return default
        try:
            return parse_duration(str(value))
        except InvalidOptionError as error:
            raise self.fail(key, f"is invalid: {error}") from None

    def window(self, key: str, table: dict[str, Any], default: timedelta) -> timedelta:
        value = self.duration(key, table, default)
        if value.total_seconds() % 60:
            raise self.fail(key, f"must be a whole number of minutes, not {value}")
        return value

    def threshold_ms(self, key: str, table: dict[str, Any], default: float) -> float:
        if key not in table:
            return default
        return self.duration(key, table, timedelta()).total_seconds() * 1000

    def count(self, key: str, table: dict[str, Any], default: int) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(key, f"must be a positive integer, not {value!r}")
        return value

    def target(self, key: str, table: dict[str, Any], default: Fraction) -> Fraction:
        value = table.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a ratio such as 0.95, not {value!r}")
        target = Fraction(str(value))
        if not 0 < target < 1:
            raise self.fail(key, f"must be between 0 and 1 (exclusive), not {value!r}")
        return target

    def strings(
        self, key: str, table: dict[str, Any], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = table.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a list of strings, not {value!r}")
        return tuple(value)

    def flag(self, key: str, table: dict[str, Any], default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def latency(self, table: object) -> LatencyObjective:
        allowed = {"threshold", "target", "outcomes", "min_events", "overrides"}
        self.check_keys("[latency]", table, allowed)
        assert isinstance(table, dict)
        default = LatencyObjective()

        outcomes = self.strings("outcomes", table, default.outcomes)
        if not outcomes or any(outcome not in OUTCOMES for outcome in outcomes):
            msg = f"must list 'success' and/or 'failure', not {list(outcomes)!r}"
            raise self.fail("latency.outcomes", msg)

        threshold_ms = self.threshold_ms("threshold", table, default.threshold_ms)
        target = self.target("target", table, default.target)
        overrides = [
            self.override(item, threshold_ms, target)
            for item in self.tables("latency.overrides", table.get("overrides"))
        ]
        return LatencyObjective(
            threshold_ms=threshold_ms,
            target=target,
            outcomes=outcomes,
            min_events=self.count("min_events", table, default.min_events),
            overrides=tuple(overrides),
        )

    def override(
        self, table: dict[str, Any], threshold_ms: float, target: Fraction
    ) -> LatencyOverride:
        self.check_keys(
            "[[latency.overrides]]", table, {"match", "threshold", "target"}
        )
        match = table.get("match")
        if not isinstance(match, str) or not match:
            msg = "needs match = an action glob such as 'reset.*' or 'type:reset'"
            raise self.fail("[[latency.overrides]]", msg)
        return LatencyOverride(
            match=match,
            threshold_ms=self.threshold_ms("threshold", table, threshold_ms),
            target=self.target("target", table, target),
        )

    def tables(self, key: str, value: object) -> list[dict[str, Any]]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, "must be an array of tables ([[...]])")
        return value

    def ratio(
        self, key: str, data: dict[str, Any], default: RatioObjective
    ) -> RatioObjective:
        table = data.get(key, {})
        allowed = {"enabled", "target", "min_events"}
        if default.threshold_ms is not None:
            allowed.add("threshold")
        self.check_keys(f"[{key}]", table, allowed)
        threshold_ms = default.threshold_ms
        if threshold_ms is not None:
            threshold_ms = self.threshold_ms("threshold", table, threshold_ms)
        return RatioObjective(
            is_enabled=self.flag("enabled", table, default.is_enabled),
            target=self.target("target", table, default.target),
            min_events=self.count("min_events", table, default.min_events),
            threshold_ms=threshold_ms,
        )

    def tenants(self, table: object) -> int | None:
        self.check_keys("[tenants]", table, {"enabled", "min_events"})
        assert isinstance(table, dict)
        if not self.flag("enabled", table, default=False):
            return None
        return self.count("min_events", table, 50)

    def sustained(self, table: object) -> SustainedRule:
        allowed = {"enabled", "window", "duration", "severity"}
        self.check_keys("[sustained]", table, allowed)
        assert isinstance(table, dict)
        default = SustainedRule()
        return SustainedRule(
            is_enabled=self.flag("enabled", table, default.is_enabled),
            window=self.window("window", table, default.window),
            duration=self.window("duration", table, default.duration),
            severity=self.severity("sustained.severity", table, default.severity),
        )

    def stale(self, table: object) -> StaleRule:
        allowed = {"enabled", "match", "factor", "min_lines", "severity"}
        self.check_keys("[stale]", table, allowed)
        assert isinstance(table, dict)
        default = StaleRule()
        factor = table.get("factor", default.factor)
        if (
            isinstance(factor, bool)
            or not isinstance(factor, (int, float))
            or factor <= 1
        ):
            raise self.fail("stale.factor", f"must be a number above 1, not {factor!r}")
        return StaleRule(
            is_enabled=self.flag("enabled", table, default.is_enabled),
            match=self.strings("match", table, default.match),
            factor=float(factor),
            min_lines=self.min_lines(table, default.min_lines),
            severity=self.severity("stale.severity", table, default.severity),
        )

    def min_lines(self, table: dict[str, Any], default: int) -> int:
        value = self.count("min_lines", table, default)
        if value < 2:
            msg = f"must be at least 2 (two lines give one interval), not {value}"
            raise self.fail("stale.min_lines", msg)
        return value

    def severity(self, key: str, table: dict[str, Any], default: str) -> str:
        value = table.get("severity", default)
        if value not in SEVERITIES:
            raise self.fail(
                key, f"must be one of {', '.join(SEVERITIES)}, not {value!r}"
            )
        return str(value)

    def burn_rates(self, value: object) -> tuple[BurnRateRule, ...]:
        if value is None:
            return SloConfig().burn_rate
        rules: list[BurnRateRule] = []
        allowed = {"name", "severity", "long_window", "short_window", "factor"}
        for table in self.tables("burn_rate", value):
            self.check_keys("[[burn_rate]]", table, allowed)
            factor = table.get("factor")
            if isinstance(factor, bool) or not isinstance(factor, (int, float)):
                raise self.fail("burn_rate.factor", f"must be a number, not {factor!r}")
            long_window = self.window("long_window", table, timedelta(hours=1))
            short_window = self.window("short_window", table, timedelta(minutes=5))
            if short_window > long_window:
                msg = (
                    f"short_window {short_window} is longer than long_window "
                    f"{long_window}: swap them"
                )
                raise self.fail("[[burn_rate]]", msg)
            if factor <= 0:
                raise self.fail("burn_rate.factor", f"must be above 0, not {factor!r}")
            rules.append(
                BurnRateRule(
                    name=str(table.get("name", f"burn-rate-{len(rules) + 1}")),
                    severity=self.severity("burn_rate.severity", table, "page"),
                    long_window=long_window,
                    short_window=short_window,
                    factor=float(factor),
                )
            )
        self.check_unique("burn_rate", [rule.name for rule in rules])
        return tuple(rules)

    def check_unique(self, key: str, names: list[str]) -> None:
        """Reject two entries with one name: alerts and state are keyed by it."""
        seen: set[str] = set()
        for name in names:
            if name in seen:
                msg = f"has two entries named {name!r}: give each a unique name"
                raise self.fail(key, msg)
            seen.add(name)

    def sinks(self, value: object) -> tuple[SinkConfig, ...]:
        if value is None:
            return SloConfig().sinks
        sinks = tuple(
            self.sink(table, index)
            for index, table in enumerate(self.tables("sinks", value), start=1)
        )
        if not sinks:
            msg = "is empty, so alerts would go nowhere: add a sink such as stdout"
            raise self.fail("sinks", msg)
        self.check_unique("sinks", [sink.name for sink in sinks])
        return sinks

    def sink(self, table: dict[str, Any], index: int) -> SinkConfig:
        allowed = {"name", "type", "severities", "path", "url_env", "timeout"}
        self.check_keys("[[sinks]]", table, allowed)
        kind = table.get("type")
        if kind not in SINK_TYPES:
            msg = f"must be one of {', '.join(SINK_TYPES)}, not {kind!r}"
            raise self.fail("sinks.type", msg)

        severities = self.strings("severities", table, SEVERITIES)
        if not severities:
            raise self.fail("sinks.severities", f"is empty: use some of {SEVERITIES}")
        unknown = [s for s in severities if s not in SEVERITIES]
        if unknown:
            msg = f"has {unknown[0]!r}: use {', '.join(SEVERITIES)}"
            raise self.fail("sinks.severities", msg)

        sink = SinkConfig(
            name=str(table.get("name", f"{kind}-{index}")),
            type=str(kind),
            severities=severities,
            path=self.paths("path", table["path"], ())[0] if "path" in table else None,
            url_env=table.get("url_env"),
            timeout_s=self.timeout(table),
        )
        self.check_sink(sink)
        return sink

    def timeout(self, table: dict[str, Any]) -> float:
        timeout = self.duration("timeout", table, timedelta(seconds=5))
        if timeout > timedelta(seconds=60):
            msg = f"{timeout} is too long for a cron run: use at most 60s"
            raise self.fail("sinks.timeout", msg)
        return timeout.total_seconds()

    def check_sink(self, sink: SinkConfig) -> None:
        if sink.type == "jsonl" and sink.path is None:
            raise self.fail(f"sink {sink.name!r}", "needs path = the alert log file")
        if sink.type in ("webhook", "discord") and not (
            isinstance(sink.url_env, str) and sink.url_env
        ):
            msg = (
                "needs url_env = the name of the environment variable holding "
                "the URL (URLs are secrets and never go in this file)"
            )
            raise self.fail(f"sink {sink.name!r}", msg)

    def check_factors(self, config: SloConfig) -> None:
        """Reject burn-rate factors that no bad ratio can reach."""
        targets = [config.latency.target]
        targets += [override.target for override in config.latency.overrides]
        lowest_budget = 1 - max(targets)
        for rule in config.burn_rate:
            ceiling = float(1 / lowest_budget)
            if rule.factor >= ceiling:
                msg = (
                    f"factor {rule.factor:g} can never fire: with a target of "
                    f"{float(max(targets)):g} the burn rate is at most {ceiling:g} "
                    "(every event bad). Lower the factor."
                )
                raise self.fail(f"burn_rate {rule.name!r}", msg)


def report_config(objective_ms: float | None, folder: Path | None = None) -> SloConfig:
    """Return the objectives `report` uses: `slo.toml` in `folder`, or defaults.

    Args:
        objective_ms: a threshold the user gave explicitly; it replaces the
            default threshold, and per-action overrides keep theirs.
        folder: where to look for `slo.toml`; default the working folder.

    Raises:
        ConfigError: `slo.toml` is not valid.
    """
    config = load_config(find_config(None, folder))
    if objective_ms is None:
        return config
    latency = replace(config.latency, threshold_ms=objective_ms)
    return replace(config, latency=latency)


def config_to_data(config: SloConfig) -> dict[str, Any]:
    """Return the config as TOML data, as `check --show-config` prints it."""
    latency = config.latency
    return {
        "logs": [str(path) for path in config.logs],
        "state": str(config.state),
        "no_data_after": _format_duration(config.no_data_after),
        "resolve_after": config.resolve_after,
        "renotify_after": _format_duration(config.renotify_after),
        "exclude": list(config.exclude),
        "latency": {
            "threshold": _format_ms(latency.threshold_ms),
            "target": float(latency.target),
            "outcomes": list(latency.outcomes),
            "min_events": latency.min_events,
            "overrides": [
                {
                    "match": o.match,
                    "threshold": _format_ms(o.threshold_ms),
                    "target": float(o.target),
                }
                for o in latency.overrides
            ],
        },
        "availability": _ratio_data(config.availability),
        "ack": _ratio_data(config.ack),
        "tenants": {
            "enabled": config.tenant_min_events is not None,
            "min_events": config.tenant_min_events or 50,
        },
        "sustained": {
            "enabled": config.sustained.is_enabled,
            "window": _format_duration(config.sustained.window),
            "duration": _format_duration(config.sustained.duration),
            "severity": config.sustained.severity,
        },
        "stale": {
            "enabled": config.stale.is_enabled,
            "match": list(config.stale.match),
            "factor": config.stale.factor,
            "min_lines": config.stale.min_lines,
            "severity": config.stale.severity,
        },
        "burn_rate": [
            {
                "name": rule.name,
                "severity": rule.severity,
                "long_window": _format_duration(rule.long_window),
                "short_window": _format_duration(rule.short_window),
                "factor": rule.factor,
            }
            for rule in config.burn_rate
        ],
        "sinks": [_sink_data(sink) for sink in config.sinks],
    }


def _ratio_data(objective: RatioObjective) -> dict[str, Any]:
    data: dict[str, Any] = {
        "enabled": objective.is_enabled,
        "target": float(objective.target),
        "min_events": objective.min_events,
    }
    if objective.threshold_ms is not None:
        data["threshold"] = _format_ms(objective.threshold_ms)
    return data


def _sink_data(sink: SinkConfig) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": sink.name,
        "type": sink.type,
        "severities": list(sink.severities),
    }
    if sink.path is not None:
        data["path"] = str(sink.path)
    if sink.url_env is not None:
        data["url_env"] = sink.url_env
    if sink.type in ("webhook", "discord"):
        data["timeout"] = f"{sink.timeout_s:g}s"
    return data


def _format_ms(value_ms: float) -> str:
    return f"{value_ms:g}ms"


def _format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{value.total_seconds():g}s"
