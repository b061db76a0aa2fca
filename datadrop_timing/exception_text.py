"""Keep user input out of exception messages and tracebacks on log lines.

Exception messages and tracebacks are free text written by any library, and
often quote what a user typed. How much of them reaches a line is set by
`configure(exception_text=...)`, one of `EXCEPTION_TEXT_MODES`:

- `scrub` (the default): quoted literals in messages become `'[redacted]'`,
  and e-mail addresses, runs of 15 or more digits (Discord user, guild and
  message ids), webhook URLs and credentials are replaced. Traceback frame
  lines and their source lines are kept, since they are the program's code.
- `drop`: messages become `[dropped]`, and tracebacks keep only the frame
  locations and the exception type names.
- `keep`: messages and tracebacks as Python prints them, with ids, webhook
  URLs and credentials replaced, for local debugging.

An unquoted value in a message, as in `f"no user {name}"`, is kept by
`scrub`. Only `drop` removes it.
"""

from __future__ import annotations

import itertools
import re
import traceback
from collections.abc import Iterator
from types import TracebackType
from typing import Literal

from datadrop_timing.errors import ConfigurationError
from datadrop_timing.redaction import scrub_text

# Discord snowflakes (user, guild, message ids) have 17 to 20 digits; 15 or
# more consecutive digits in exception text are taken to be one.
_SNOWFLAKE_RE = re.compile(r"(?<![0-9])[0-9]{15,}")

REDACTED_ID = "[id]"

ExceptionTextMode = Literal["scrub", "drop", "keep"]

EXCEPTION_TEXT_MODES: tuple[ExceptionTextMode, ...] = ("scrub", "drop", "keep")

# The whole message of an exception in "drop" mode.
DROPPED_MESSAGE = "[dropped]"

# The replacement of each quoted literal in exception text in "scrub" mode.
REDACTED_LITERAL = "'[redacted]'"

REDACTED_EMAIL = "[email]"

# A quoted literal: single- or double-quoted, with an optional string prefix
# (`b'...'`, `rb"..."`) and backslash escapes inside. A quote right after a
# letter or digit, like the apostrophe of `can't`, does not open a literal. A
# quote right before one does not close it, so `"ab"cd"` is one literal. A
# literal left open runs to the end of the text. Every character inside is
# taken by exactly one alternative, and the possessive `*+` keeps the scan
# linear in the length of the text.
_QUOTED_LITERAL_RE = re.compile(
    r"""(?<!\w)(?:[bB][rR]?|[rR][bB]?|[uUfF])?"""
    r"""(?:"(?:[^"\\]|\\.?|"(?=\w))*+(?:"|\Z)"""
    r"""|'(?:[^'\\]|\\.?|'(?=\w))*+(?:'|\Z))""",
    re.DOTALL,
)

# The lookbehind starts a match only at the start of a run of address
# characters, so a long run without `@` is scanned once.
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+")

_CAUSE_SEPARATOR = (
    "\nThe above exception was the direct cause of the following exception:\n\n"
)
_CONTEXT_SEPARATOR = (
    "\nDuring handling of the above exception, another exception occurred:\n\n"
)

# Bounds on what one traceback shows, as `traceback.TracebackException` has:
# a frame line is written at most 3 times in a row, then a count of the
# further repeats, and exception groups show 15 members and 10 nested levels.
_MAX_FRAME_REPEATS = 3
_MAX_GROUP_WIDTH = 15
_MAX_GROUP_DEPTH = 10


class _ExceptionTextSetting:
    """The exception text mode of the latest `configure()` call."""

    def __init__(self) -> None:
        self.mode: ExceptionTextMode = "scrub"


_EXCEPTION_TEXT = _ExceptionTextSetting()


def set_exception_text_mode(mode: str) -> None:
    """Set how much exception text reaches log lines: scrub, drop or keep.

    Raises:
        ConfigurationError: `mode` is not one of `EXCEPTION_TEXT_MODES`.
    """
    if mode not in EXCEPTION_TEXT_MODES:
        modes = ", ".join(EXCEPTION_TEXT_MODES)
        msg = f"invalid exception_text {mode!r}: use one of {modes}"
        raise ConfigurationError(msg)
    _EXCEPTION_TEXT.mode = mode


def scrub_exception_text(text: str) -> str:
    """Scrub or drop an exception message, as the exception text mode sets.

    Schema fields such as `tenant` are not exception text and keep their ids.
    """
    mode = _EXCEPTION_TEXT.mode
    if mode == "drop":
        return DROPPED_MESSAGE
    if mode == "keep":
        return _scrub_ids(text)
    return _scrub_literals(_scrub_ids(text))


def format_exception_text(error: BaseException, tb: TracebackType | None) -> str:
    """Format `error` with its traceback and chain as the mode allows.

    `tb` is the traceback of `error` itself; the exceptions of its chain
    (`__cause__`, `__context__`, exception group members) bring their own.
    """
    mode = _EXCEPTION_TEXT.mode
    if mode == "keep":
        return _scrub_ids("".join(traceback.format_exception(type(error), error, tb)))

    is_dropped = mode == "drop"
    text = "".join(_format_chain(error, tb, is_dropped=is_dropped, depth=0))
    return _scrub_ids(text)


def format_stack_frames(tb: TracebackType | None) -> str:
    """Format the frames of `tb`, without their source lines in "drop" mode."""
    if _EXCEPTION_TEXT.mode == "drop":
        return "".join(_frame_locations(tb))
    return "".join(traceback.format_tb(tb))


def _scrub_ids(text: str) -> str:
    """Replace webhook URLs, credentials, Discord ids and, except in "keep", e-mails."""
    text = _SNOWFLAKE_RE.sub(REDACTED_ID, scrub_text(text))
    if _EXCEPTION_TEXT.mode == "keep" or "@" not in text:
        return text
    return _EMAIL_RE.sub(REDACTED_EMAIL, text)


def _scrub_literals(text: str) -> str:
    if "'" not in text and '"' not in text:
        return text
    return _QUOTED_LITERAL_RE.sub(REDACTED_LITERAL, text)


def _format_chain(
    error: BaseException, tb: TracebackType | None, *, is_dropped: bool, depth: int
) -> Iterator[str]:
    """Yield the text of `error` and its chain, oldest first, like Python."""
    for separator, link, link_tb in _chain_oldest_first(error, tb):
        yield separator
        yield from _format_link(link, link_tb, is_dropped=is_dropped)
        if not isinstance(link, BaseExceptionGroup) or depth >= _MAX_GROUP_DEPTH:
            continue

        members = link.exceptions
        for number, member in enumerate(members[:_MAX_GROUP_WIDTH], 1):
            yield f"\nSub-exception {number} of {len(members)}:\n"
            yield from _format_chain(
                member, member.__traceback__, is_dropped=is_dropped, depth=depth + 1
            )


def _chain_oldest_first(
    error: BaseException, tb: TracebackType | None
) -> list[tuple[str, BaseException, TracebackType | None]]:
    """List `error` and the exceptions it chains to, oldest first.

    Each comes with the separator line printed before it: the one naming its
    own cause or context, or "" for the oldest.
    """
    chain: list[tuple[str, BaseException, TracebackType | None]] = []
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if link.__cause__ is not None:
            older, separator = link.__cause__, _CAUSE_SEPARATOR
        elif link.__context__ is not None and not link.__suppress_context__:
            older, separator = link.__context__, _CONTEXT_SEPARATOR
        else:
            older, separator = None, ""
        chain.append((separator, link, tb if link is error else link.__traceback__))
        link = older

    return chain[::-1]


def _format_link(
    error: BaseException, tb: TracebackType | None, *, is_dropped: bool
) -> Iterator[str]:
    """Yield one exception's frames and its `Type: message` lines."""
    if is_dropped:
        frames = _frame_locations(tb)
    else:
        frames = traceback.extract_tb(tb).format()
    if frames:
        yield "Traceback (most recent call last):\n"
        yield from frames

    if is_dropped:
        yield _type_name(type(error)) + "\n"
    else:
        # The message lines, with notes and a SyntaxError's text, are all that
        # scrubbing changes; the frame lines above are the program's code.
        message = "".join(traceback.format_exception_only(type(error), error))
        yield _scrub_literals(message)


def _frame_locations(tb: TracebackType | None) -> list[str]:
    """Return one `File "...", line N, in name` line per frame, no source."""
    lines = []
    for frame, line_number in traceback.walk_tb(tb):
        code = frame.f_code
        lines.append(
            f'  File "{code.co_filename}", line {line_number}, in {code.co_name}\n'
        )

    collapsed = []
    for line, repeats in itertools.groupby(lines):
        count = sum(1 for _ in repeats)
        collapsed += [line] * min(count, _MAX_FRAME_REPEATS)
        if count > _MAX_FRAME_REPEATS:
            more = count - _MAX_FRAME_REPEATS
            collapsed.append(f"  [Previous line repeated {more} more times]\n")
    return collapsed


def _type_name(error_type: type[BaseException]) -> str:
    """Return the type name as tracebacks print it, module first."""
    module = error_type.__module__
    if module in ("builtins", "__main__"):
        return error_type.__qualname__
    return f"{module}.{error_type.__qualname__}"
