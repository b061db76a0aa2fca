"""Option types shared by the commands: group keys, objectives, times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from aggregator.errors import InvalidOptionError
from aggregator.summary import parse_group_keys
from aggregator.timerange import parse_duration, parse_instant

_MAX_OBJECTIVE_MS = 7 * 86400 * 1000.0


class _AggregatorParam(click.ParamType):  # type: ignore[type-arg]
    """A parameter whose parser raises `InvalidOptionError` with the fix."""

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except InvalidOptionError as error:
            self.fail(str(error), param, ctx)


class GroupKeys(_AggregatorParam):
    """`action,tenant`: the columns to group by."""

    name = "keys"

    def parse(self, text: str) -> tuple[str, ...]:
        return parse_group_keys(text)


class Objective(_AggregatorParam):
    """A latency threshold in milliseconds: `500ms`, `0.5s`, or a bare `500`."""

    name = "duration"

    def parse(self, text: str) -> float:
        cleaned = text.strip()
        try:
            threshold_ms = float(cleaned)
        except ValueError:
            threshold_ms = parse_duration(cleaned).total_seconds() * 1000

        if not 0 < threshold_ms < _MAX_OBJECTIVE_MS:
            msg = (
                f"objective {text!r} is not a positive finite duration: use e.g. 500ms"
            )
            raise InvalidOptionError(msg)
        return threshold_ms


class Instant(_AggregatorParam):
    """An RFC 3339 timestamp with an offset."""

    name = "timestamp"

    def parse(self, text: str) -> datetime:
        return parse_instant(text)
