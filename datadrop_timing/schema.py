"""Event schema version 1: key names, key order, action names and timestamps.

This module is the emit side's copy of the contract described in
`docs/event-schema.md`; `event.schema.json` beside it is the machine-readable
form that the tests validate emitted lines against.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from datadrop_timing.errors import InvalidActionError

SCHEMA_VERSION = 1

TIMING_EVENT = "timing"

OUTCOMES = ("success", "failure")

ENTRYPOINTS = ("bot", "api", "worker")

# The first keys of every timing line, in this order, so that a grep hit reads
# at a glance. Other keys follow in `LEADING_KEYS` order, then extras.
GLANCE_KEYS = (
    "timestamp",
    "level",
    "event",
    "action",
    "duration_ms",
    "outcome",
    "tenant",
)

LEADING_KEYS = (
    *GLANCE_KEYS,
    "error_type",
    "action_type",
    "entrypoint",
    "service",
    "request_id",
)

TRAILING_KEYS = ("event_id", "schema")

# Keys the timer and the context own. A caller's extra field with one of these
# names is renamed with `EXTRA_PREFIX` so that it cannot change their meaning.
RESERVED_KEYS = frozenset(
    (*LEADING_KEYS, *TRAILING_KEYS, "logger", "exception", "redacted_keys")
)

EXTRA_PREFIX = "extra_"

# Keys that may carry personal data or secrets. The emit side drops them,
# whatever their value, and names the dropped keys in `redacted_keys`;
# `datadrop_timing.redaction` also drops names built from secret words.
SENSITIVE_KEYS = frozenset(
    {
        "user",
        "user_id",
        "userid",
        "user_name",
        "username",
        "member",
        "member_id",
        "author",
        "author_id",
        "display_name",
        "global_name",
        "nick",
        "nickname",
        "email",
        "content",
        "message_content",
        "token",
        "access_token",
        "refresh_token",
        "bot_token",
        "api_key",
        "apikey",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "authorization",
        "cookie",
        "set_cookie",
        "webhook",
        "webhook_url",
        "code",
        "verification_code",
    }
)

_SEGMENT_RE = re.compile(r"\w+")
_NORMALISE_RE = re.compile(r"[\s\-]+")


def validate_action(action: str) -> str:
    """Check a hand-written action name and return it unchanged.

    A valid name is one or more dot-separated segments of lowercase letters
    (any script), digits and `_`, such as `verification.submit`.

    Raises:
        InvalidActionError: the name is empty, has an empty segment, or holds
            an uppercase letter, a space or punctuation other than `.` and `_`.
    """
    if not isinstance(action, str) or not _is_valid_action(action):
        msg = (
            f"invalid action name {action!r}: use dot-separated lowercase "
            "segments of letters, digits and '_', such as 'config.update'"
        )
        raise InvalidActionError(msg)

    return action


def _is_valid_action(action: str) -> bool:
    return all(
        _SEGMENT_RE.fullmatch(segment) and segment == segment.lower()
        for segment in action.split(".")
    )


def normalise_action(action: str) -> str:
    """Turn a name computed at run time into a valid action name.

    Lowercases, maps spaces and `-` to `_`, drops other punctuation and empty
    segments, and never raises: an empty result becomes `unknown`.
    """
    lowered = _NORMALISE_RE.sub("_", str(action).strip().lower())
    segments = []
    for segment in lowered.split("."):
        cleaned = "".join(ch for ch in segment if ch.isalnum() or ch == "_")
        if cleaned:
            segments.append(cleaned)

    return ".".join(segments) or "unknown"


def action_type_of(action: str) -> str:
    """Return the first segment of an action name."""
    return action.split(".", 1)[0]


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with 6 fraction digits and `Z`.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)

    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
