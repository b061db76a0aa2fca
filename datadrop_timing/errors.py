"""Exceptions raised by the emit side.

Hierarchy::

    TimingError
    ├── InvalidActionError  (also a ValueError)
    └── ConfigurationError  (also a ValueError)

Logging itself never raises into the code being timed; these errors come only
from definitions made at import or start-up time, such as a bad action name.
"""

from __future__ import annotations


class TimingError(Exception):
    """Base class of every error raised by `datadrop_timing`."""


class InvalidActionError(TimingError, ValueError):
    """An action name does not follow the dotted lowercase form."""


class ConfigurationError(TimingError, ValueError):
    """`configure()` was given an invalid option."""
