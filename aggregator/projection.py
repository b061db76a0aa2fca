"""Which event columns a read keeps, and the compact form they take meanwhile.

A caller that needs few columns, such as a table report, names them. Reading
then decodes, caches and returns only those, which saves memory and time.
Each `event_id` is replaced early by two 64-bit hashes (`ID_HASH_COLUMNS`),
because de-duplication compares nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from aggregator.event_columns import (
    COMPACT_SCHEMA,
    EVENT_SCHEMA,
    ID_HASH_COLUMNS,
    id_hashes,
)


@dataclass(frozen=True, slots=True)
class Projection:
    """The event columns a caller requests, and the columns read for them.

    `requested` None means every column, returned in `EVENT_SCHEMA` types;
    otherwise the requested columns come back in `COMPACT_SCHEMA` types.
    `read` adds `timestamp`, which reading needs, in schema order.
    """

    requested: tuple[str, ...] | None
    read: tuple[str, ...]

    @classmethod
    def of(cls, columns: Iterable[str] | None) -> Projection:
        """Return the projection for `columns`; None means every column.

        Raises:
            ValueError: a name is not a column of `EVENT_SCHEMA`.
        """
        if columns is None:
            return ALL_COLUMNS

        requested = tuple(dict.fromkeys(columns))
        unknown = [name for name in requested if name not in EVENT_SCHEMA]
        if unknown:
            msg = f"unknown event columns {unknown!r}: use names from EVENT_SCHEMA"
            raise ValueError(msg)

        needed = {*requested, "timestamp"}
        return cls(requested, tuple(name for name in EVENT_SCHEMA if name in needed))

    @property
    def decoded(self) -> tuple[str, ...]:
        """Name the columns to decode from lines: `read` plus `event_id`."""
        if "event_id" in self.read:
            return self.read
        return (*self.read, "event_id")

    @property
    def stored(self) -> tuple[str, ...]:
        """Name the columns to load from a cache entry: `read` plus the hashes."""
        return (*self.read, *ID_HASH_COLUMNS)

    def compact(
        self, frame: pl.DataFrame, *, line_numbers: bool = False
    ) -> pl.DataFrame:
        """Select the read columns in compact types, then the id hashes.

        The hashes are computed from `event_id` unless the frame has them.
        With `line_numbers`, the frame's `line_number` column comes first.
        """
        columns = [pl.col(name).cast(COMPACT_SCHEMA[name]) for name in self.read]
        if ID_HASH_COLUMNS[0] in frame.columns:
            columns += [pl.col(name) for name in ID_HASH_COLUMNS]
        else:
            columns += id_hashes()
        if line_numbers:
            columns.insert(0, pl.col("line_number"))
        return frame.select(columns)

    def finish(self, events: pl.DataFrame) -> pl.DataFrame:
        """Return de-duplicated compact events in the requested columns and types."""
        if self.requested is None:
            return events.select(
                [pl.col(name).cast(dtype) for name, dtype in EVENT_SCHEMA.items()]
            )
        return events.select(self.requested)


ALL_COLUMNS = Projection(None, tuple(EVENT_SCHEMA))


def with_text_keys(events: pl.DataFrame) -> pl.DataFrame:
    """Cast categorical columns to strings, for code that joins on text keys."""
    return events.with_columns(
        pl.col(name).cast(pl.String())
        for name, dtype in events.schema.items()
        if dtype == pl.Categorical()
    )
