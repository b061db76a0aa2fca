"""De-duplication by hashed event id marks the rows exact comparison marks."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from aggregator.loading import _first_of_each_id

IDS = st.lists(st.sampled_from(["a", "b", "c", "0" * 32, "f" * 32, ""]), max_size=60)


@given(IDS)
def test_first_of_each_id_exact(ids: list[str]) -> None:
    """The hash-first mask equals `is_first_distinct` on the strings."""
    series = pl.Series("event_id", ids, dtype=pl.String())

    assert _first_of_each_id(series).to_list() == series.is_first_distinct().to_list()
