"""Percentile expressions: nearest-rank by default, linear on request.

Nearest-rank (numpy's `method="inverted_cdf"`): the q-quantile of n sorted
durations is the k-th smallest, with k = ceil(q * n). The p95 is therefore the
smallest observed duration d such that at least 95% of durations are <= d, and
"p95 <= 500 ms" holds exactly when at least 95% of operations finished within
500 ms: the same statement as a good-events ratio of at least 0.95.

The rank is computed in exact integer arithmetic from q as a fraction, because
in floating point `0.07 * 100` is `7.000000000000001`, whose ceiling is 8.

Linear interpolation (what Prometheus `quantile_over_time` and Loki compute
from raw samples) can report a value no operation took. polars' own default,
`interpolation="nearest"`, is neither definition.
"""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction

import polars as pl

from aggregator.errors import InvalidOptionError

# Quantiles whose nearest rank polars' "equiprobable" method selects exactly.
# Its results match rank ceil(q * n) computed in floating point. For these q
# the rounding error of q * n is below half a unit in the last place for any
# n below 2^53, so an integral q * n is never rounded up past the integer.
# tests/aggregator/test_percentiles.py checks every n up to 2,500.
FLOAT_EXACT_QUANTILES = frozenset(
    Fraction(numerator, 100) for numerator in (50, 90, 95, 99)
)


class QuantileMethod(StrEnum):
    """How a percentile is taken from a group of durations."""

    NEAREST_RANK = "nearest-rank"
    LINEAR = "linear"


def quantile_fraction(q: float | str | Fraction) -> Fraction:
    """Return q as an exact fraction in (0, 1], as written in decimal.

    Raises:
        InvalidOptionError: q is not a number in (0, 1].
    """
    try:
        exact = Fraction(str(q)) if not isinstance(q, Fraction) else q
    except (ValueError, ZeroDivisionError):
        msg = f"quantile {q!r} is not a number: use a value such as 0.95"
        raise InvalidOptionError(msg) from None

    if not 0 < exact <= 1:
        msg = f"quantile {q!r} is outside (0, 1]: use a value such as 0.95"
        raise InvalidOptionError(msg)
    return exact


def nearest_rank(column: str, q: float | str | Fraction) -> pl.Expr:
    """Build the nearest-rank q-quantile of `column`; null for an empty group."""
    values = pl.col(column).drop_nulls()
    index = _rank_index(values.len(), quantile_fraction(q))
    return values.sort().get(index, null_on_oob=True)


def _rank_index(count: pl.Expr, exact: Fraction) -> pl.Expr:
    """Return the 0-based index of rank ceil(q * count), in integer arithmetic."""
    count = count.cast(pl.Int64)
    rank = (count * exact.numerator + exact.denominator - 1) // exact.denominator
    return (rank - 1).clip(lower_bound=0)


def linear(column: str, q: float | str | Fraction) -> pl.Expr:
    """Build the linearly interpolated q-quantile of `column`."""
    exact = quantile_fraction(q)
    return pl.col(column).quantile(float(exact), interpolation="linear")


def quantile(column: str, q: float | str | Fraction, method: QuantileMethod) -> pl.Expr:
    """Build the q-quantile of `column` by the given method."""
    if method is QuantileMethod.LINEAR:
        return linear(column, q)

    exact = quantile_fraction(q)
    if exact in FLOAT_EXACT_QUANTILES:
        # polars selects the value without sorting the group: 0.09 s for 4
        # percentiles of 8 groups of 590,000 events, against 0.26 s sorted.
        return pl.col(column).quantile(float(exact), interpolation="equiprobable")
    return nearest_rank(column, exact)
