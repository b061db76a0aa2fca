"""Per-operation context: tenant, entrypoint, request id and service.

Values are stored in `contextvars` through structlog, so every line written
while they are bound carries them, and an asyncio task sees only the values of
the context it was created in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from datadrop_timing._holder import OperationHolder, current_holder

CONTEXT_KEYS = ("tenant", "entrypoint", "request_id", "service")


def normalise_tenant(tenant: object) -> str | None:
    """Return a tenant id as an exact string, or None when there is none.

    Discord guild ids exceed 2**53, so they are kept as strings: an `int` is
    converted digit for digit and never goes through a float. An empty string
    means no tenant, because readers reject an empty tenant. A request's
    `OperationHolder` gives the tenant it contains when this is called.
    """
    if isinstance(tenant, OperationHolder):
        tenant = tenant.resolved_tenant()
    if tenant is None:
        return None

    if isinstance(tenant, str):
        return tenant.strip() or None

    if isinstance(tenant, int) and not isinstance(tenant, bool):
        return str(tenant)

    if isinstance(tenant, float) and tenant.is_integer():
        # NOTE: a float guild id has already lost digits above 2**53; this
        # keeps the line readable, but only an int or str id is exact.
        return str(int(tenant))

    guild_id = getattr(tenant, "id", None)
    if isinstance(guild_id, int):
        return str(guild_id)

    return str(tenant)


def new_request_id() -> str:
    """Return a fresh correlation id: 32 lowercase hex characters."""
    return os.urandom(16).hex()


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind context values for the duration of a `with` block.

    Use it once per command or request::

        with bind_context(tenant=guild_id, request_id=new_request_id()):
            ...

    Values bound before the block are restored on exit, also when it raises.
    An `OperationHolder` given as `tenant` is bound as it is, so lines
    written later read the tenant it contains at that time.
    """
    if "tenant" in values and not isinstance(values["tenant"], OperationHolder):
        values["tenant"] = normalise_tenant(values["tenant"])

    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def set_tenant(tenant: object) -> None:
    """Bind the tenant for the rest of the current context.

    Unlike `bind_context`, this does not restore an earlier value: call it
    inside a context that ends with the operation, such as a request's task.
    Inside a request timed by `datadrop_timing.asgi.TimingMiddleware`, the
    tenant is stored in the request's holder, so it reaches the request's
    timing line and every later line of the request, also when this is
    called from a sync dependency running in a worker thread.
    """
    tenant = normalise_tenant(tenant)
    holder = current_holder()
    if holder is None:
        structlog.contextvars.bind_contextvars(tenant=tenant)
        return

    holder.tenant = tenant
    structlog.contextvars.bind_contextvars(tenant=holder)


def current_context() -> dict[str, Any]:
    """Return a copy of the values bound in the current context."""
    values = structlog.contextvars.get_contextvars()
    if isinstance(values.get("tenant"), OperationHolder):
        values["tenant"] = normalise_tenant(values["tenant"])
    return values
