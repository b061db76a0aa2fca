"""Optional keyed-hash pseudonyms for tenant ids.

Teams that must not store Discord guild ids can set a secret key: every line
then carries `t-` and 20 hex digits of HMAC-SHA256(key, guild id) instead of
the id. The same key gives the same pseudonym in every process, so reports
still group by tenant. Without the key, a pseudonym cannot be turned back into
a guild id by hashing every possible id. Changing the key changes every
pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from datadrop_timing.errors import ConfigurationError

KEY_ENVIRONMENT_VARIABLE = "DATADROP_SLO_TENANT_KEY"

PREFIX = "t-"

DIGEST_CHARS = 20

MIN_KEY_BYTES = 16


class _TenantKey:
    """The key of the latest `configure()` call, or None for plain ids."""

    def __init__(self) -> None:
        self.key: bytes | None = None


_CURRENT = _TenantKey()


def set_tenant_key(key: str | bytes | None) -> None:
    """Set the pseudonym key; None reads `DATADROP_SLO_TENANT_KEY`, if set.

    Raises:
        ConfigurationError: the key is shorter than 16 bytes.
    """
    if key is None:
        key = os.environ.get(KEY_ENVIRONMENT_VARIABLE) or None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if key is not None and len(key) < MIN_KEY_BYTES:
        msg = (
            f"tenant key of {len(key)} bytes is too short: use at least "
            f"{MIN_KEY_BYTES} random bytes, e.g. from `openssl rand -hex 32`"
        )
        raise ConfigurationError(msg)
    _CURRENT.key = key


def pseudonymise(tenant: str | None) -> str | None:
    """Return the tenant's pseudonym when a key is set, else the tenant."""
    key = _CURRENT.key
    if key is None or tenant is None or tenant.startswith(PREFIX):
        return tenant
    digest = hmac.new(key, tenant.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGEST_CHARS]
