"""A per-operation holder for values set from anywhere during the operation.

A context variable rebound inside a worker thread (a sync FastAPI dependency)
or a child task is lost when that thread or task ends, because each runs in a
copy of the context. The copy still points at the same holder object, so a
value written into the holder reaches the code that opened it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token

_UNSET: object = object()


class OperationHolder:
    """Mutable values of one operation, shared by every copy of its context.

    `TimingMiddleware` binds the holder itself as the `tenant` context value,
    and `normalise_tenant` resolves it when a line is written. So a tenant set
    in a worker thread, or found by routing after the request started,
    reaches every later line of the request.
    """

    __slots__ = ("default_tenant", "tenant")

    def __init__(self, default_tenant: Callable[[], object] | None = None) -> None:
        self.tenant: object = _UNSET
        self.default_tenant = default_tenant

    def has_tenant(self) -> bool:
        """Tell whether a tenant was set during the operation."""
        return self.tenant is not _UNSET

    def resolved_tenant(self) -> object:
        """Return the tenant set last, else `default_tenant()`, else None."""
        if self.tenant is not _UNSET:
            return self.tenant
        if self.default_tenant is not None:
            return self.default_tenant()
        return None

    def __repr__(self) -> str:
        return repr(self.resolved_tenant())


_current_holder: ContextVar[OperationHolder | None] = ContextVar(
    "datadrop_timing_holder", default=None
)


def open_holder(
    default_tenant: Callable[[], object] | None = None,
) -> tuple[OperationHolder, Token[OperationHolder | None]]:
    """Make a new holder current; pass the token to `close_holder`."""
    holder = OperationHolder(default_tenant)
    return holder, _current_holder.set(holder)


def close_holder(token: Token[OperationHolder | None]) -> None:
    """Restore the holder that was current before `open_holder`."""
    _current_holder.reset(token)


def current_holder() -> OperationHolder | None:
    """Return the holder of the running operation, or None outside one."""
    return _current_holder.get()
