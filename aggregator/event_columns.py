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

# Event keys with few distinct values, kept categorical while files are read.
CATEGORICAL_KEYS = (
    "action",
    "action_type",
    "outcome",
    "error_type",
    "entrypoint",
    "service",
    "route",
    "method",
)

# The same columns with those keys categorical: the form read batches and
# cache entries take. A categorical value takes 4 bytes, where a string
# takes a 16-byte view plus its text when longer than 12 bytes.
COMPACT_SCHEMA: dict[str, pl.DataType] = {
    **EVENT_SCHEMA,
    **{name: pl.Categorical() for name in CATEGORICAL_KEYS},
}

# Two 64-bit hashes of `event_id`, with independent seeds, that readers keep
# in place of the id itself to find repeated events. polars documents its
# hashes as stable within one version only, so cache entries record it.
ID_HASH_COLUMNS = ("id_hash", "id_hash_2")

_ID_HASH_SEEDS = (0x2545F4914F6CDD1D, 0x9E3779B97F4A7C15)

# `COMPACT_SCHEMA` plus the id hashes: the form cache entries store.
STORED_SCHEMA: dict[str, pl.DataType] = {
    **COMPACT_SCHEMA,
    **{name: pl.UInt64() for name in ID_HASH_COLUMNS},
}


def id_hashes() -> list[pl.Expr]:
    """Build the `ID_HASH_COLUMNS` from a frame's `event_id` column."""
    return [
        pl.col("event_id").hash(seed).alias(name)
        for name, seed in zip(ID_HASH_COLUMNS, _ID_HASH_SEEDS, strict=True)
    ]
