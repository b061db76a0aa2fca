"""De-duplication by hashed event id marks the rows exact comparison marks."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from aggregator.event_columns import ID_HASH_COLUMNS, id_hashes
from aggregator.loading import _first_of_each_id

IDS = st.lists(st.sampled_from(["a", "b", "c", "0" * 32, "f" * 32, ""]), max_size=60)


@given(IDS)
def test_first_of_each_id_exact(ids: list[str]) -> None:
    """The hash-first mask equals `is_first_distinct` on the strings."""
    series = pl.Series("event_id", ids, dtype=pl.String())
    events = series.to_frame().select(id_hashes())

    assert _first_of_each_id(events).to_list() == series.is_first_distinct().to_list()


@given(st.lists(st.integers(0, 3), max_size=40))
def test_first_hash_collision_decided_by_second(second: list[int]) -> None:
    """Rows sharing the first hash only are all kept: the second hash decides."""
    events = pl.DataFrame(
        {ID_HASH_COLUMNS[0]: [7] * len(second), ID_HASH_COLUMNS[1]: second},
        schema={name: pl.UInt64() for name in ID_HASH_COLUMNS},
    )
    expected = [index == second.index(value) for index, value in enumerate(second)]

    assert _first_of_each_id(events).to_list() == expected
