"""Keep personal data and secrets off log lines, by key name and by value.

A field is dropped, whatever its value, when its name is a known personal or
secret name (`user_id`, `content`, `token`, ...), or when one of the words of
its name, split at `_`, `-` and camelCase humps, is a secret word (`token`,
`secret`, `password`, `webhook`, `authorization`, `cookie`). So `auth_token`,
`webhookUrl` and `discord-token` are dropped too. Nested mappings are checked
the same way. String values anywhere on a line have Discord webhook URLs and
`Bearer` credentials replaced.

Names that merely contain a secret word inside another word, such as
`tokenizer`, are kept. False drops are preferred to leaks: `tokens_used` is
dropped.

Exception messages and tracebacks are handled in
`datadrop_timing.exception_text`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping
from typing import Any

from datadrop_timing.schema import SENSITIVE_KEYS

SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwd",
        "webhook",
        "webhooks",
        "authorization",
        "cookie",
        "cookies",
        "apikey",
    }
)

_HUMP_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_WEBHOOK_URL_RE = re.compile(
    r"https?://[^\s\"'/]*discord(?:app)?\.com/api(?:/v\d+)?/webhooks/[^\s\"']*",
    re.IGNORECASE,
)

_BEARER_RE = re.compile(r"\b(Bearer|Bot)\s+[A-Za-z0-9._~+/=-]{8,}")

REDACTED_URL = "[redacted webhook URL]"

_MAX_DEPTH = 16

_PLAIN_SCALARS = frozenset((int, float, bool))

# Key sets larger than this are checked without caching, so that the cache
# stays small.
_MAX_CACHED_KEYS = 64


# The answer depends on the name alone, and a process uses few names, so it
# is cached: the check runs for every key of every line.
@functools.lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """Tell whether a field name is one the emit side must never write."""
    snake = _HUMP_RE.sub("_", key).lower().replace("-", "_")
    if snake in SENSITIVE_KEYS or snake.replace("_", "") in SENSITIVE_KEYS:
        return True
    words = [word for word in snake.split("_") if word]
    if "api" in words and "key" in words:
        return True
    return any(word in SECRET_WORDS for word in words)


def redact(event: MutableMapping[Any, Any], depth: int = 0) -> list[str]:
    """Drop sensitive keys and scrub secret values in place.

    Returns:
        The dotted paths of the dropped keys, such as `headers.authorization`,
        top-level keys first.
    """
    keys = tuple(event)
    if len(keys) <= _MAX_CACHED_KEYS:
        dropped = list(_sensitive_keys(keys))
    else:
        dropped = list(_sensitive_keys.__wrapped__(keys))
    for key in dropped:
        del event[key]

    # A dict's values can be replaced while iterating over it, since no key
    # is added or removed; other mappings get a copy of their items.
    items = event.items() if type(event) is dict else list(event.items())
    for key, value in items:
        if isinstance(value, str):
            # `scrub_text` changes only strings with a `/` (webhook URLs) or
            # a `B` (`Bearer`, `Bot`), so most values skip the call.
            if "/" in value or "B" in value:
                event[key] = scrub_text(value)
        elif value is None or type(value) in _PLAIN_SCALARS:
            # The common values of a line, decided without the slower
            # abstract-base-class check below.
            continue
        elif isinstance(value, MutableMapping) and depth < _MAX_DEPTH:
            dropped += [f"{key}.{inner}" for inner in redact(value, depth + 1)]
        else:
            event[key] = scrub_value(value, depth)
    return dropped


# Lines of one process repeat a few key sets, so the sensitive keys of each
# set are cached: one lookup replaces one `is_sensitive_key` call per key.
@functools.lru_cache(maxsize=1024)
def _sensitive_keys(keys: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(key for key in keys if isinstance(key, str) and is_sensitive_key(key))


def scrub_value(value: Any, depth: int = 0) -> Any:
    """Replace webhook URLs and bearer credentials inside strings and lists."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, (list, tuple)) and depth < _MAX_DEPTH:
        return [scrub_value(item, depth + 1) for item in value]
    return value


def scrub_text(text: str) -> str:
    """Replace webhook URLs and `Bearer`/`Bot` credentials in one string."""
    # Both checks look for "webhooks/"; the cheap `/` test spares most
    # strings the uppercase copy.
    if "/" in text and ("webhooks/" in text or "WEBHOOKS/" in text.upper()):
        text = _WEBHOOK_URL_RE.sub(REDACTED_URL, text)
    if "Bearer" in text or "Bot " in text:
        text = _BEARER_RE.sub(r"\1 [redacted]", text)
    return text
