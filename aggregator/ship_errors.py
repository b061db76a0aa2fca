"""Exceptions raised by the shipper.

Hierarchy::

    AggregatorError          (aggregator.errors)
    └── ShipError
        ├── StateFileError      the state file cannot be read, parsed or written
        ├── LockHeldError       another shipper holds the lock on the state file
        └── OutputWriteError    a line could not be appended to the output folder

The CLI maps `LockHeldError` to exit status 4, `OutputWriteError` to 1, and
the others, as every `AggregatorError`, to 2.
"""

from __future__ import annotations

from aggregator.errors import AggregatorError


class ShipError(AggregatorError):
    """Base class of every error raised by the shipper."""


class StateFileError(ShipError):
    """The state file with the checkpoints cannot be read, parsed or written."""


class LockHeldError(ShipError):
    """Another shipper is running with the same state file."""


class OutputWriteError(ShipError):
    """Appending to a file in the output folder failed."""
