"""A per-operation holder for values set from anywhere during the operation.

A context variable rebound inside a worker thread (a sync FastAPI dependency)
or a child task is lost when that thread or task ends, because each runs in a
copy of the context. The copy still points at the same holder object, so a
value written into the holder reaches the code that opened it.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

_UNSET: object = object()


class OperationHolder:
    """Mutable values of one operation, shared by every copy of its context."""

    __slots__ = ("tenant",)

    def __init__(self) -> None:
        self.tenant: object = _UNSET

    def has_tenant(self) -> bool:
        """Tell whether a tenant was set during the operation."""
        return self.tenant is not _UNSET


_current_holder: ContextVar[OperationHolder | None] = ContextVar(
    "datadrop_timing_holder", default=None
)


def open_holder() -> tuple[OperationHolder, Token[OperationHolder | None]]:
    """Make a new holder current; pass the token to `close_holder`."""
    holder = OperationHolder()
    return holder, _current_holder.set(holder)


def close_holder(token: Token[OperationHolder | None]) -> None:
    """Restore the holder that was current before `open_holder`."""
    _current_holder.reset(token)


def current_holder() -> OperationHolder | None:
    """Return the holder of the running operation, or None outside one."""
    return _current_holder.get()
