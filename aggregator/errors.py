"""Exceptions raised by the aggregator.

Hierarchy::

    AggregatorError
    ├── InputError          a path is missing, unreadable or holds no log files
    │   └── UnreadableInputError  a log file exists but cannot be read
    ├── NoEventsError       the inputs hold no timing events
    ├── InvalidOptionError  an option value such as `--since` or `--by` is invalid
    │   (also a ValueError)
    ├── ConfigError         `slo.toml` is missing, not TOML, or has an invalid setting
    └── ShipError           raised by `ship`
        ├── StateFileError      the state file cannot be read, parsed or written
        ├── LockHeldError       another shipper holds the lock on the state file
        └── OutputWriteError    a line could not be appended to the output folder

The CLI maps every one of them to exit status 2, with these exceptions: `check`
exits with 4 when logs cannot be read, and `ship` exits with 4 on
`LockHeldError` and with 1 on `OutputWriteError`.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class of every error raised by `aggregator`."""


class InputError(AggregatorError):
    """A path given as input is missing, unreadable or holds no log files."""


class UnreadableInputError(InputError):
    """A log file exists but cannot be read (permissions, I/O error)."""


class NoEventsError(AggregatorError):
    """The inputs were read but hold no timing events."""


class InvalidOptionError(AggregatorError, ValueError):
    """An option value cannot be used."""


class ConfigError(AggregatorError):
    """The SLO config file cannot be used."""


class ShipError(AggregatorError):
    """Base class of every error raised by the shipper."""


class StateFileError(ShipError):
    """The state file with the checkpoints cannot be read, parsed or written."""


class LockHeldError(ShipError):
    """Another shipper is running with the same state file."""


class OutputWriteError(ShipError):
    """Appending to a file in the output folder failed."""
