"""Exceptions raised by the aggregator.

Hierarchy::

    AggregatorError
    ├── InputError          a path is missing, unreadable or holds no log files
    ├── NoEventsError       the inputs hold no timing events
    └── InvalidOptionError  an option value such as `--since` or `--by` is invalid
        (also a ValueError)

The CLI maps every one of them to exit status 2.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class of every error raised by `aggregator`."""


class InputError(AggregatorError):
    """A path given as input is missing, unreadable or holds no log files."""


class NoEventsError(AggregatorError):
    """The inputs were read but hold no timing events."""


class InvalidOptionError(AggregatorError, ValueError):
    """An option value cannot be used."""
