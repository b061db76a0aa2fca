"""The columns and types of the events frame that every reader returns."""

from __future__ import annotations

import polars as pl

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    "action": pl.String(),
    "action_type": pl.String(),
    "duration_ms": pl.Float64(),
    "outcome": pl.String(),
    "error_type": pl.String(),
    "entrypoint": pl.String(),
    "tenant": pl.String(),
    "event_id": pl.String(),
    "service": pl.String(),
    "route": pl.String(),
    "method": pl.String(),
    "status_code": pl.Int32(),
    "ack_ms": pl.Float64(),
}
