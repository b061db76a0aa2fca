"""Emit side of datadrop-slo: one JSON timing line per timed operation.

The bot and the API import only this package at run time. It never imports
polars, click or the report code, and importing it configures nothing: call
`configure()` once at start-up.
"""

from __future__ import annotations

from datadrop_timing.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from datadrop_timing.context import (
    bind_context,
    current_context,
    new_request_id,
    normalise_tenant,
    set_tenant,
)
from datadrop_timing.errors import (
    ConfigurationError,
    InvalidActionError,
    TimingError,
)
from datadrop_timing.logging_setup import configure, flush
from datadrop_timing.schema import (
    SCHEMA_VERSION,
    normalise_action,
    validate_action,
)
from datadrop_timing.timer import Span, timed

__all__ = [
    "SCHEMA_VERSION",
    "SYSTEM_CLOCK",
    "Clock",
    "ConfigurationError",
    "InvalidActionError",
    "ManualClock",
    "Span",
    "SystemClock",
    "TimingError",
    "bind_context",
    "configure",
    "current_context",
    "flush",
    "new_request_id",
    "normalise_action",
    "normalise_tenant",
    "set_tenant",
    "timed",
    "validate_action",
]
