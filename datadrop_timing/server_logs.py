"""Keep user data out of the log records of uvicorn and discord.py.

`configure()` and `install_timing()` add `LibraryRecordFilter` to the loggers
of both libraries. The filter changes records before any handler sees them:

- uvicorn's websocket lines (`'%s - "WebSocket %s" [accepted]'`) and access
  lines lose the client address and the raw path with its query string; only
  the method, HTTP version and status stay.
- uvicorn's `color_message` extra, a copy of the message with ANSI escapes,
  is dropped.
- The websockets library's debug lines are dropped: through `uvicorn.error`
  and its own loggers it logs each handshake line (`< GET /ws?token=...`, every
  header with cookies and credentials) and each frame with its payload, all
  prefixed `< ` or `> `. So is its `websocket` extra, the connection object.
- A discord.py record with an exception loses the exception's message, which
  often quotes what a user typed (`Failed to convert <text> to Upper`) or a
  user id. The record keeps `error_type` (the root exception) and
  `traceback` (the stack frames only). This holds in every exception text
  mode, `keep` included, and with `drop` the frames also lose their source
  lines. discord.py's autocomplete error line also loses the user id it names.
- A record whose exception passed through a timed command, listener, loop
  iteration or request gets that operation's `request_id`, `tenant` and
  `action` when the logging code runs outside the operation's context, as
  discord.py's "Ignoring exception in ..." handlers and uvicorn's
  "Exception in ASGI application" line do.

A logger's filters do not apply to records of its child loggers, so the
filter is added to each logger by name. Checked against uvicorn 0.55 and
discord.py 2.7.1.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from datadrop_timing.context import current_context
from datadrop_timing.exception_text import format_stack_frames

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

# The websockets library's own loggers, used when it is not given uvicorn's.
WEBSOCKETS_LOGGERS = ("websockets", "websockets.server", "websockets.client")

_SERVER_LIBRARIES = ("uvicorn", "websockets")

# The prefixes of the websockets library's lines for data received and sent.
_WIRE_PREFIXES = ("< ", "> ")

# discord.py loggers that log exceptions. The loggers of discord.py modules
# imported before the filter is installed get it too.
DISCORD_LOGGERS = (
    "discord",
    "discord.client",
    "discord.state",
    "discord.app_commands.tree",
    "discord.ext.commands.bot",
    "discord.ext.commands.cog",
    "discord.ext.tasks",
    "discord.ui.view",
    "discord.ui.modal",
)

_WEBSOCKET_PREFIX = '%s - "WebSocket %s"'
_ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %d'
_AUTOCOMPLETE_MESSAGE = (
    "Ignoring exception in autocomplete for %r (Guild: %s, User: %s)"
)

# Attribute set on an exception that escaped a timed operation.
_CONTEXT_ATTRIBUTE = "__datadrop_timing_context__"

_CONTEXT_FIELDS = ("request_id", "tenant", "action")

# The most `original` links followed from a discord.py wrapper exception,
# which keeps the real error in `original`.
_MAX_CHAIN = 8


def remember_error_context(error: BaseException, values: Mapping[str, Any]) -> None:
    """Attach an operation's `request_id`, `tenant` and `action` to `error`.

    `LibraryRecordFilter` copies them onto a record that logs this error
    outside the operation's context. An exception that rejects attribute
    assignment is left as it is.
    """
    fields = {key: values[key] for key in _CONTEXT_FIELDS if key in values}
    for link in _exception_chain(error):
        try:
            setattr(link, _CONTEXT_ATTRIBUTE, fields)
        except (AttributeError, TypeError):
            continue


class LibraryRecordFilter(logging.Filter):
    """Rewrite uvicorn and discord.py records so that no user data is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Change `record` in place; False drops a line of wire traffic."""
        try:
            return _filter_record(record)
        except Exception:  # noqa: BLE001 - a log call must not raise
            # Whatever the record held is not written: only that it failed.
            record.msg = "library log record could not be filtered"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            return True


def _filter_record(record: logging.LogRecord) -> bool:
    record.__dict__.pop("color_message", None)
    message = record.msg if isinstance(record.msg, str) else None
    if record.name.startswith(_SERVER_LIBRARIES):
        record.__dict__.pop("websocket", None)
        if message is not None and message.startswith(_WIRE_PREFIXES):
            return False
    if record.name.startswith("uvicorn"):
        _rewrite_uvicorn_message(record)
    if record.exc_info and record.exc_info[1] is not None:
        _add_error_context(record, record.exc_info[1])
        if record.name.startswith("discord"):
            _replace_exception_message(record, record.exc_info[1])
    if record.name.startswith("discord") and message == _AUTOCOMPLETE_MESSAGE:
        record.msg = "Ignoring exception in autocomplete for %r (Guild: %s)"
        record.args = tuple(record.args or ())[:2]
    return True


_FILTER = LibraryRecordFilter()


def install_library_log_filters() -> None:
    """Add the shared `LibraryRecordFilter` to the server and discord.py loggers.

    Calling it again adds loggers created since, and never adds the filter
    twice to one logger.
    """
    imported = [
        name
        for name in logging.Logger.manager.loggerDict
        if name.startswith(("discord.", "uvicorn.", "websockets."))
    ]
    loggers = {*UVICORN_LOGGERS, *WEBSOCKETS_LOGGERS, *DISCORD_LOGGERS, *imported}
    for name in loggers:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _rewrite_uvicorn_message(record: logging.LogRecord) -> None:
    message = record.msg
    args = tuple(record.args or ()) if isinstance(record.args, tuple) else ()
    if isinstance(message, str) and message.startswith(_WEBSOCKET_PREFIX):
        # Arguments: client address, path with query string, then the status.
        record.msg = "WebSocket" + message[len(_WEBSOCKET_PREFIX) :]
        record.args = args[2:]
    elif isinstance(message, str) and message == _ACCESS_MESSAGE and len(args) == 5:
        # Arguments: client address, method, path, HTTP version, status.
        record.msg = '"%s HTTP/%s" %d'
        record.args = (args[1], args[3], args[4])


def _add_error_context(record: logging.LogRecord, error: BaseException) -> None:
    if current_context().get("request_id") is not None:
        return
    fields = getattr(error, _CONTEXT_ATTRIBUTE, None)
    if not isinstance(fields, dict):
        return
    for key, value in fields.items():
        if key not in record.__dict__:
            record.__dict__[key] = value


def _replace_exception_message(record: logging.LogRecord, error: BaseException) -> None:
    chain = list(_exception_chain(error))
    record.error_type = type(chain[-1]).__name__
    record.traceback = "".join(
        f"{type(link).__name__} at:\n" + format_stack_frames(link.__traceback__)
        for link in chain
    )
    record.exc_info = None
    record.exc_text = None


def _exception_chain(error: BaseException) -> Iterator[BaseException]:
    """Yield `error`, then each `original` it wraps, ending at the root."""
    link: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if link is None:
            return
        yield link
        original = getattr(link, "original", None)
        link = original if isinstance(original, BaseException) else None
