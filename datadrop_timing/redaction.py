"""Keep personal data and secrets off log lines, by key name and by value.

A field is dropped, whatever its value, when its name is a known personal or
secret name (`user_id`, `content`, `token`, ...), or when one of the words of
its name, split at `_`, `-` and camelCase humps, is a secret word (`token`,
`secret`, `password`, `webhook`, `authorization`, `cookie`). So `auth_token`,
`webhookUrl` and `discord-token` are dropped too. Keys are checked the same way
at any depth: in mappings of any kind (`dict`, `MappingProxyType`, Starlette
`Headers`), in dataclasses, and in mappings inside lists, tuples and sets.
Bytes keys are checked as their UTF-8 text.

Every string, at any depth and in string or bytes keys too, has these replaced
by `scrub_text`:

- Discord webhook URLs;
- `Bearer` credentials, the scheme in any case and followed by any whitespace;
- `Bot` credentials the same way, when the credential contains a digit or
  punctuation, as Discord bot tokens do, so that prose such as
  "bot reconnected" is kept;
- the user and password of a URL, as in `https://user:pass@host`;
- the value of `name=value` pairs whose name is a secret name or contains the
  word `key`, `sig`, `signature` or `auth`, as in `?token=...` or
  `Settings(password='...')`.

Text that the renderer makes with `repr()` or decodes from bytes also has
`'name': value` pairs with a secret name replaced (`scrub_rendered_text`).

Names that merely contain a secret word inside another word, such as
`tokenizer`, are kept. False drops are preferred to leaks: `tokens_used` is
dropped.

Containers nested more than `MAX_DEPTH` levels deep are replaced by
`NESTED_TOO_DEEP` instead of being written unchecked. The caller's containers
are never changed: `redact` replaces a nested container with a redacted copy.
An `orjson.Fragment` is raw JSON and is written as given.

Exception messages and tracebacks are handled in
`datadrop_timing.exception_text`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
from collections.abc import Iterable, Mapping, MutableMapping
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

# Words that make a `name=value` pair secret in text, besides the secret
# names of fields: `?key=` carries API keys and `sig=` or `X-Amz-Signature=`
# signs pre-authorised URLs. As field names they are too common to drop.
_SECRET_PARAMETER_WORDS = frozenset({"key", "sig", "signature", "auth"})

REDACTED_URL = "[redacted webhook URL]"

REDACTED = "[redacted]"

NESTED_TOO_DEEP = "<nested too deep>"

# Containers deeper than this are replaced by `NESTED_TOO_DEEP`. The event
# itself is level 0 and its values level 1.
MAX_DEPTH = 16

_HUMP_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_WORD_SPLIT_RE = re.compile(r"[^a-z0-9]+")

_WEBHOOK_URL_RE = re.compile(
    r"https?://[^\s\"'/]*discord(?:app)?\.com/api(?:/v\d+)?/webhooks/[^\s\"']*",
    re.IGNORECASE,
)

_TOKEN_CHAR = r"[A-Za-z0-9._~+/=-]"

# A `Bot` credential must contain a character that is not a letter, so that
# "bot reconnected" is kept. The lookahead requires 8 characters in all.
_CREDENTIAL_RE = re.compile(
    rf"\b(?:(?P<bearer>(?i:bearer))\s+{_TOKEN_CHAR}{{8,}}"
    rf"|(?P<bot>(?i:bot))\s+(?={_TOKEN_CHAR}{{8}})[A-Za-z]*+[0-9._~+/=-]{_TOKEN_CHAR}*)"
)

# The user and password of a URL: everything between `scheme://` and `@`
# in the authority part. The scheme's length is bounded, because a regex
# tried at every word boundary of a long `a.a.a...` run would otherwise take
# quadratic time (7 s on 60 KB, measured on a 2-core VM).
_USERINFO_RE = re.compile(
    r"\b([a-z][a-z0-9+.-]{0,31}://)[^/\s@?#\"'<>]+@", re.IGNORECASE
)

# A quoted value may hold backslash escapes. One left open runs to the end of
# the text, so that no later start scans the same text again, and a pair
# after it is not found. A bare value ends at whitespace, a quote or the
# separators of query strings and reprs.
_QUOTED_VALUE = r"'(?:[^'\\]|\\(?s:.)?)*+(?:'|\Z)|\"(?:[^\"\\]|\\(?s:.)?)*+(?:\"|\Z)"

_PARAMETER_RE = re.compile(
    rf"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]*)=(?P<value>{_QUOTED_VALUE}"
    r"|[^\s&#;,)'\"]+)"
)

# `'name': value` as a dict repr or JSON writes it. A value may also be a
# list without nested brackets.
_QUOTED_PAIR_RE = re.compile(
    r"(?P<quote>['\"])(?P<name>[A-Za-z_][\w.-]*)(?P=quote)\s*:\s*"
    rf"(?P<value>{_QUOTED_VALUE}|\[[^\[\]]*+(?:\]|\Z)|[^\s,}}\]\[{{]+)"
)

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


def redact(event: MutableMapping[Any, Any]) -> list[str]:
    """Drop sensitive keys and scrub secret values of `event` in place.

    Nested containers are replaced by redacted copies. A value whose
    redaction raises, such as a mapping whose `items()` raises, is replaced
    by `"<unrenderable TYPE>"`.

    Returns:
        The dotted paths of the dropped keys, such as `headers.authorization`
        or `members[].token` for a key inside a list or set.
    """
    keys = tuple(event)
    if len(keys) <= _MAX_CACHED_KEYS:
        plan = _plan_keys(keys)
    else:
        plan = _plan_keys.__wrapped__(keys)

    dropped: list[str] = []
    if plan is not None:
        drops, renames = plan
        for key, name in drops:
            del event[key]
            dropped.append(name)
        for key, new_key in renames:
            event[new_key] = event.pop(key)

    # A dict's values can be replaced while iterating over it, since no key
    # is added or removed; other mappings get a copy of their items.
    items = event.items() if type(event) is dict else list(event.items())
    for key, value in items:
        if isinstance(value, str):
            # `_may_hold_secret`, inlined: most values of a line are short
            # words and ids that skip `scrub_text`.
            if "/" in value or "=" in value or " " in value or not value.isprintable():
                event[key] = scrub_text(value)
        elif value is None or type(value) in _PLAIN_SCALARS:
            # The common values of a line, decided without the slower
            # isinstance checks of `_redact_value`.
            continue
        else:
            event[key] = _redact_or_placeholder(value, key, dropped)
    return dropped


def redact_value(value: Any) -> Any:
    """Return a copy of `value` without sensitive keys and with scrubbed text.

    Mappings and dataclasses become dicts, lists, tuples and sets become lists
    (sets in sorted order), and an enum member becomes its redacted value.
    Other objects are returned as they are.
    """
    return _redact_value(value, "", [], 1)


# Lines of one process repeat a few key sets, so the plan of each set is
# cached: one lookup replaces one `is_sensitive_key` call per key.
@functools.lru_cache(maxsize=1024)
def _plan_keys(
    keys: tuple[Any, ...],
) -> tuple[tuple[tuple[Any, str], ...], tuple[tuple[Any, str], ...]] | None:
    """Return the keys to drop with their names, and the keys to rename.

    A key is renamed to its scrubbed text, such as a webhook URL used as a
    key, and a bytes key to the text the renderer writes for it. Returns
    None when no key needs either.
    """
    drops: list[tuple[Any, str]] = []
    renames: list[tuple[Any, str]] = []
    for key in keys:
        name = _key_name(key)
        if name is None:
            continue
        if is_sensitive_key(name):
            drops.append((key, _scrubbed_name(name)))
            continue
        new_key = _scrubbed_key(key)
        if new_key is not None:
            renames.append((key, new_key))
    if not drops and not renames:
        return None
    return tuple(drops), tuple(renames)


def _key_name(key: object) -> str | None:
    """Return the text of a string or bytes key, or None for other keys."""
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return None


def _scrubbed_name(name: str) -> str:
    """Return a dropped key's name as `redacted_keys` may show it."""
    return scrub_text(name) if _may_hold_secret(name) else name


def _scrubbed_key(key: str | bytes) -> str | None:
    """Return the text to write for `key`, or None when `key` is kept as it is."""
    if isinstance(key, bytes):
        return scrub_text(str(key))
    if _may_hold_secret(key):
        scrubbed = scrub_text(key)
        if scrubbed != key:
            return scrubbed
    return None


def _redact_or_placeholder(value: Any, key: object, dropped: list[str]) -> Any:
    try:
        return _redact_value(value, str(key), dropped, 1)
    except Exception:  # noqa: BLE001 - such as a mapping whose items() raises
        return placeholder(value)


def _redact_value(value: Any, path: str, dropped: list[str], depth: int) -> Any:
    """Return `value` redacted, as `redact_value` describes.

    `path` names `value` in the paths added to `dropped`, and `depth` is its
    nesting level.
    """
    if isinstance(value, str):
        return scrub_text(value) if _may_hold_secret(value) else value
    if value is None or isinstance(value, (int, float)):
        return value
    if depth > MAX_DEPTH:
        return NESTED_TOO_DEEP

    if isinstance(value, Mapping):
        return _redact_items(value.items(), path, dropped, depth)
    if isinstance(value, (list, tuple)):
        inner = f"{path}[]"
        return [_redact_value(item, inner, dropped, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        inner = f"{path}[]"
        items = _sorted_items(value)
        return [_redact_value(item, inner, dropped, depth + 1) for item in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _redact_items(_dataclass_items(value), path, dropped, depth)
    if isinstance(value, enum.Enum):
        # orjson writes an enum member as its value.
        return _redact_value(value.value, path, dropped, depth)

    return value


def _redact_items(
    items: Iterable[tuple[Any, Any]], path: str, dropped: list[str], depth: int
) -> dict[Any, Any]:
    """Copy a mapping's items into a dict without its sensitive keys."""
    copy: dict[Any, Any] = {}
    for key, value in items:
        name = _key_name(key)
        if name is not None:
            if is_sensitive_key(name):
                dropped.append(f"{path}.{_scrubbed_name(name)}")
                continue
            key = _scrubbed_key(key) or key
        if isinstance(value, str) or value is None or type(value) in _PLAIN_SCALARS:
            copy[key] = _redact_value(value, path, dropped, depth + 1)
        else:
            # The path is built only for values that may hold dropped keys.
            copy[key] = _redact_value(value, f"{path}.{key}", dropped, depth + 1)
    return copy


def _dataclass_items(value: Any) -> list[tuple[str, Any]]:
    # Fields named with a leading `_` are left out, as orjson 3.13 leaves
    # them out when it encodes a dataclass.
    return [
        (field.name, getattr(value, field.name))
        for field in dataclasses.fields(value)
        if not field.name.startswith("_")
    ]


def _sorted_items(items: set[Any] | frozenset[Any]) -> list[Any]:
    """Return a set's items sorted, or sorted by `repr` if they do not compare."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def placeholder(value: object) -> str:
    """Return the text written in place of a value that cannot be read."""
    return f"<unrenderable {type(value).__name__}>"


def _may_hold_secret(text: str) -> bool:
    """Tell whether `scrub_text` could change `text`.

    Each pattern needs a `/` (URLs), a `=` (pairs) or whitespace (credentials),
    and `isprintable()` is false for every whitespace character but the space.
    """
    return "/" in text or "=" in text or " " in text or not text.isprintable()


def scrub_text(text: str) -> str:
    """Replace webhook URLs, credentials, URL passwords and secret pairs in a string."""
    if "/" in text:
        # The cheap `webhooks/` tests spare most URLs the regex.
        if "webhooks/" in text or "WEBHOOKS/" in text.upper():
            text = _WEBHOOK_URL_RE.sub(REDACTED_URL, text)
        if "@" in text:
            text = _USERINFO_RE.sub(rf"\1{REDACTED}@", text)
    # Credentials go before pairs, because a bare pair value ends at the
    # whitespace inside `authorization=Bearer <credential>`. The regex is
    # slow (2 us on 90 characters, timeit on a 2-core VM), so it runs only
    # where a scheme occurs.
    lowered = text.lower()
    if "bearer" in lowered or "bot" in lowered:
        text = _CREDENTIAL_RE.sub(_replace_credential, text)
    if "=" in text:
        text = _PARAMETER_RE.sub(_replace_secret_parameter, text)
    return text


def scrub_rendered_text(text: str) -> str:
    """Scrub text made by `repr()` or decoded from bytes.

    Besides what `scrub_text` replaces, the values of `'name': value` pairs
    with a secret name are replaced, as in the repr of a dict inside an object.
    """
    text = scrub_text(text)
    if ":" in text:
        text = _QUOTED_PAIR_RE.sub(_replace_secret_pair, text)
    return text


def _replace_credential(match: re.Match[str]) -> str:
    scheme = match.group("bearer") or match.group("bot")
    return f"{scheme} {REDACTED}"


def _replace_secret_parameter(match: re.Match[str]) -> str:
    name = match.group("name")
    if _is_secret_parameter(name):
        return f"{name}={REDACTED}"
    return match.group(0)


def _replace_secret_pair(match: re.Match[str]) -> str:
    if _is_secret_parameter(match.group("name")):
        quote = match.group("quote")
        return f"{quote}{match.group('name')}{quote}: {quote}{REDACTED}{quote}"
    return match.group(0)


@functools.lru_cache(maxsize=1024)
def _is_secret_parameter(name: str) -> bool:
    """Tell whether a `name=value` pair in text carries a secret."""
    if is_sensitive_key(name):
        return True
    snake = _HUMP_RE.sub("_", name).lower()
    words = _WORD_SPLIT_RE.split(snake)
    return any(
        word in SECRET_WORDS or word in _SECRET_PARAMETER_WORDS for word in words
    )
