"""Fixtures for the `check` tests; the code lives in `check_support`."""

from check_support import receiver, traffic

__all__ = ["receiver", "traffic"]
