"""Keep user input out of exception messages and tracebacks on log lines.

Exception messages and tracebacks are free text written by any library, and
often quote what a user typed. How much of them reaches a line is set by
`configure(exception_text=...)`, one of `EXCEPTION_TEXT_MODES`:

- `scrub` (the default): quoted literals in messages and notes become
  `'[redacted]'`, and e-mail addresses, runs of 15 or more digits (Discord
  user, guild and message ids), webhook URLs and credentials are replaced.
  Traceback frame lines and their source lines are kept, since they are the
  program's code. Three kinds of text that carry input unquoted are removed:
  the name in `unknown encoding: <name>`, the source text line of a
  SyntaxError, and the message of discord.py's user-input errors (see
  `_USER_INPUT_ERROR_CLASSES`). The last needs the exception itself, so
  `scrub_exception_text`, which gets only the text, keeps that message.
- `drop`: messages become `[dropped]`, and tracebacks keep only the frame
  locations and the exception type names.
- `keep`: messages and tracebacks as Python prints them, with ids, webhook
  URLs and credentials replaced, for local debugging.

Any other unquoted value in a message, as in `f"no user {name}"`, is kept by
`scrub`. Only `drop` removes it.
"""

from __future__ import annotations

import itertools
import re
import traceback
from collections.abc import Iterator, Sequence
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

# The line that replaces a SyntaxError's source text in "scrub" mode, because
# that text is often what a user typed, as with `ast.literal_eval(text)`.
REDACTED_SOURCE_TEXT = "[source text redacted]"

# discord.py exception classes whose messages are built from what a user
# typed, as `module.qualname`, so that discord.py need not be imported. An
# exception matches when its class or any base is listed. In discord.py 2.7.1
# (discord/ext/commands/errors.py and discord/app_commands/errors.py) the
# messages of BadBoolArgument, BadTimestampArgument, RangeError (the number
# received) and TransformerError put the input in unquoted. Most others quote
# it, but input that itself contains a quote then escapes the quoting in part.
_USER_INPUT_ERROR_CLASSES = frozenset(
    {
        "discord.ext.commands.errors.UserInputError",
        "discord.ext.commands.errors.CommandNotFound",
        "discord.ext.commands.errors.ConversionError",
        "discord.app_commands.errors.TransformerError",
        "discord.app_commands.errors.CommandNotFound",
    }
)

# CPython 3.11's codec registry raises `LookupError("unknown encoding: <name>")`
# with the name unquoted, from `codecs.lookup`, `str.encode`, `bytes.decode`
# and `open`. The name can come from user input, such as a request's charset.
# The match runs to the end of the text, so text after the name goes too.
_UNKNOWN_ENCODING_RE = re.compile(r"(unknown encoding: ).*", re.DOTALL)

# How many exceptions deep a message is followed into the message it wraps.
# A deeper one is dropped.
_MAX_WRAPPED_DEPTH = 10

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
    # The text alone cannot show that it belongs to a discord.py user-input
    # error: callers holding the exception use `format_exception_message`.
    return _scrub_message_text(text)


def format_exception_message(error: BaseException) -> str:
    """Return the message of `error` as the exception text mode allows.

    In "scrub" mode this also applies the rules that need the exception
    itself, which `scrub_exception_text` cannot. The message of a discord.py
    user-input error becomes `DROPPED_MESSAGE`. The text of a wrapped
    exception inside a message is scrubbed by the rules of its own type. A
    failing `__str__` gives `<unprintable TypeName>`.
    """
    mode = _EXCEPTION_TEXT.mode
    if mode == "drop":
        return DROPPED_MESSAGE
    if mode == "keep":
        return _scrub_ids(_safe_str(error))
    return _scrub_message(error, depth=0)


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


def _scrub_message_text(text: str) -> str:
    """Scrub one message or note by the text rules of "scrub" mode."""
    text = _UNKNOWN_ENCODING_RE.sub(rf"\g<1>{REDACTED_LITERAL}", _scrub_ids(text))
    return _scrub_literals(text)


def _scrub_message(error: BaseException, depth: int) -> str:
    """Return the message of `error` as "scrub" mode writes it.

    A message that contains the message of the exception it wraps, as those
    of discord.py's `CommandInvokeError` and `HybridCommandError` do, has
    that part scrubbed by the rules of the wrapped exception.
    """
    if depth > _MAX_WRAPPED_DEPTH or _is_user_input_error(type(error)):
        return DROPPED_MESSAGE

    text = _safe_str(error)
    older = _older_link(error)
    if older is not None:
        older_text = _safe_str(older)
        if older_text and older_text in text:
            text = text.replace(older_text, _scrub_message(older, depth + 1))
    return _scrub_message_text(text)


def _is_user_input_error(error_type: type[BaseException]) -> bool:
    return any(
        f"{cls.__module__}.{cls.__qualname__}" in _USER_INPUT_ERROR_CLASSES
        for cls in error_type.__mro__
    )


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a failing __str__ must not lose the line
        return f"<unprintable {type(value).__name__}>"


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
        older = _older_link(link)
        if older is None:
            separator = ""
        elif older is link.__cause__:
            separator = _CAUSE_SEPARATOR
        else:
            separator = _CONTEXT_SEPARATOR
        chain.append((separator, link, tb if link is error else link.__traceback__))
        link = older

    return chain[::-1]


def _older_link(error: BaseException) -> BaseException | None:
    """Return the exception a traceback shows before `error`, if any."""
    if error.__cause__ is not None:
        return error.__cause__
    if error.__suppress_context__:
        return None
    return error.__context__


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
        # The message, notes and a SyntaxError's source text are all that
        # scrubbing changes, because the frame lines above are the program's
        # code.
        yield from _format_scrubbed_exception_only(error)


def _format_scrubbed_exception_only(error: BaseException) -> Iterator[str]:
    """Yield the `Type: message` and note lines of `error`, scrubbed.

    The layout is that of Python 3.11's `traceback.format_exception_only`,
    which cannot be given a scrubbed message to print.
    """
    type_name = _type_name(type(error))
    if isinstance(error, SyntaxError):
        yield from _format_syntax_error(error, type_name)
    else:
        message = _scrub_message(error, depth=0)
        yield f"{type_name}: {message}\n" if message else f"{type_name}\n"

    notes = getattr(error, "__notes__", None)
    if notes is None:
        return
    if isinstance(notes, str) or not isinstance(notes, Sequence):
        notes = [notes]
    for note in notes:
        # A whole note is scrubbed at once, since a literal may span lines.
        for line in _scrub_message_text(_safe_str(note)).split("\n"):
            yield line + "\n"


def _format_syntax_error(error: SyntaxError, type_name: str) -> list[str]:
    """Return a SyntaxError's location and message lines, its source text hidden."""
    lines = []
    filename_suffix = ""
    if error.lineno is not None:
        filename = error.filename or "<string>"
        lines.append(f'  File "{filename}", line {error.lineno}\n')
    elif error.filename is not None:
        filename_suffix = f" ({error.filename})"
    if error.text is not None:
        lines.append(f"    {REDACTED_SOURCE_TEXT}\n")

    message = _scrub_message_text(_safe_str(error.msg or "<no detail available>"))
    lines.append(f"{type_name}: {message}{filename_suffix}\n")
    return lines


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
