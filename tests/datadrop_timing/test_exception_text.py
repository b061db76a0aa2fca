"""Exception messages and tracebacks under the three `exception_text` modes.

The user input in these tests is listed in `PLANTED_SECRETS`, so the session
also fails if any file a test wrote contains it.
"""

from __future__ import annotations

import ast
import codecs
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import orjson
import pytest
import structlog
from discord import app_commands
from discord.ext import commands
from helpers import CLOCK_START, PLANTED_SECRETS, EmittedLog
from integrations.discord_harness import boot, message_payload, settle, slash_payload

from datadrop_timing import ConfigurationError, ManualClock, configure, flush, timed
from datadrop_timing.discord_timing import install_timing
from datadrop_timing.exception_text import (
    ExceptionTextMode,
    format_exception_message,
    format_exception_text,
    scrub_exception_text,
    set_exception_text_mode,
)

USER_NAME = "planted-user-name"
COMMAND_NAME = "planted-command-name"
COUNT_TEXT = "planted-count-text"
KEY_NAME = "planted-key-name"
EMAIL = "planted.person@example.org"


def _reset_logging() -> None:
    logging.getLogger().handlers.clear()
    structlog.contextvars.clear_contextvars()
    set_exception_text_mode("scrub")


@pytest.fixture
def dropped(tmp_path: Path) -> Iterator[EmittedLog]:
    """Configure a fresh log file with `exception_text="drop"`."""
    clock = ManualClock(CLOCK_START)
    path = tmp_path / "dropped.jsonl"
    configure(service="test-service", output=path, clock=clock, exception_text="drop")
    yield EmittedLog(path, clock)
    _reset_logging()


@pytest.fixture
def kept() -> Iterator[io.BytesIO]:
    """Configure `exception_text="keep"` with an in-memory output.

    Kept text never reaches a file, so tests may check that it is kept.
    """
    stream = io.BytesIO()
    configure(service="test-service", output=stream, exception_text="keep")
    yield stream
    _reset_logging()


@pytest.fixture
def scrubbed_in_memory() -> Iterator[io.BytesIO]:
    """Configure `exception_text="scrub"` with an in-memory output.

    For lines that still carry planted input, which no file may contain.
    """
    stream = io.BytesIO()
    configure(service="test-service", output=stream, exception_text="scrub")
    yield stream
    _reset_logging()


def _memory_lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    flush()
    return [orjson.loads(raw) for raw in stream.getvalue().splitlines()]


def _int_from_user(text: str) -> int:
    return int(text)


def _raise_chained() -> None:
    """Raise a KeyError caused by a ValueError, both quoting user input."""
    try:
        _int_from_user(COUNT_TEXT)
    except ValueError as error:
        raise KeyError(KEY_NAME) from error


def _raise_with_context() -> None:
    """Raise a LookupError while handling a MemberNotFound."""
    try:
        raise commands.MemberNotFound(USER_NAME)
    except commands.MemberNotFound:
        raise LookupError(f"no profile for {EMAIL!r}") from None


def _caught(raiser: Any) -> BaseException:
    try:
        raiser()
    except Exception as error:  # noqa: BLE001 - the test inspects any error
        return error
    msg = f"{raiser.__name__} did not raise"
    raise AssertionError(msg)


def _log_exception(error: BaseException) -> None:
    """Log `error` through structlog and a stdlib logger of the app."""
    structlog.get_logger().error("operation failed", exc_info=error)
    logging.getLogger("app.errors").error("operation failed", exc_info=error)


def _assert_no_planted_text(text: str) -> None:
    for planted in PLANTED_SECRETS:
        assert planted not in text, planted


class TestScrubMode:
    @pytest.mark.parametrize(
        ("error", "expected_message"),
        [
            (KeyError(KEY_NAME), "'[redacted]'"),
            (
                _caught(lambda: _int_from_user(COUNT_TEXT)),
                "invalid literal for int() with base 10: '[redacted]'",
            ),
            (
                ValueError(f'Member "{USER_NAME}" not found.'),
                "Member '[redacted]' not found.",
            ),
            (
                ValueError(f'Command "{COMMAND_NAME}" is not found'),
                "Command '[redacted]' is not found",
            ),
            (
                ValueError(repr(f'{USER_NAME}\'s "nick"')),
                "'[redacted]'",
            ),
            (ValueError(f"mail {EMAIL} bounced"), "mail [email] bounced"),
            (
                ValueError(f"can't parse '{KEY_NAME} at all"),
                "can't parse '[redacted]'",
            ),
            (
                ValueError(f'Member "{USER_NAME}"s" not found.'),
                "Member '[redacted]' not found.",
            ),
            (
                _caught(lambda: codecs.lookup(KEY_NAME)),
                "unknown encoding: '[redacted]'",
            ),
        ],
        ids=[
            "key-error",
            "int-literal",
            "double-quoted",
            "double-quoted-command",
            "escaped-quotes",
            "email",
            "unclosed-quote",
            "quote-inside-value",
            "unknown-encoding",
        ],
    )
    def test_message_loses_quoted_input(
        self, emitted: EmittedLog, error: BaseException, expected_message: str
    ) -> None:
        _log_exception(error)

        structlog_line, stdlib_line = emitted.lines()
        assert structlog_line["exception"]["message"] == expected_message
        assert stdlib_line["exception"]["message"] == expected_message
        assert structlog_line["exception"]["type"] == type(error).__name__
        _assert_no_planted_text(emitted.text())

    def test_chained_message_lines_are_scrubbed(self, emitted: EmittedLog) -> None:
        """Every `Type: message` line of a chain is scrubbed, frames are kept."""
        _log_exception(_caught(_raise_chained))
        _log_exception(_caught(_raise_with_context))

        lines = emitted.lines()
        assert len(lines) == 4
        cause_text = lines[0]["exception"]["traceback"]
        assert "ValueError: invalid literal for int() with base 10: '[redacted]'" in (
            cause_text
        )
        assert "direct cause of the following exception" in cause_text
        assert cause_text.endswith("\nKeyError: '[redacted]'\n")
        assert f'File "{__file__}", line ' in cause_text
        assert ", in _int_from_user\n" in cause_text
        assert "    return int(text)\n" in cause_text

        context_text = lines[2]["exception"]["traceback"]
        assert "MemberNotFound" not in context_text
        assert context_text.endswith("\nLookupError: no profile for '[redacted]'\n")
        assert lines[1]["exception"] == lines[0]["exception"]
        _assert_no_planted_text(emitted.text())

    def test_context_line_is_scrubbed(self, emitted: EmittedLog) -> None:
        """An exception raised while handling another shows both, scrubbed."""
        try:
            try:
                raise ValueError(f'Member "{USER_NAME}" not found.')
            except ValueError:
                raise KeyError(KEY_NAME)  # noqa: B904 - the context is the case
        except KeyError as error:
            _log_exception(error)

        text = emitted.lines()[0]["exception"]["traceback"]
        assert "\nValueError: Member '[redacted]' not found.\n" in text
        assert "During handling of the above exception" in text
        assert text.endswith("\nKeyError: '[redacted]'\n")
        _assert_no_planted_text(emitted.text())

    def test_notes_are_scrubbed(self, emitted: EmittedLog) -> None:
        error = ValueError("lookup failed")
        error.add_note(f"while reading {KEY_NAME!r}")
        try:
            raise error
        except ValueError:
            structlog.get_logger().exception("failed")

        text = emitted.lines()[0]["exception"]["traceback"]
        assert text.endswith("ValueError: lookup failed\nwhile reading '[redacted]'\n")
        _assert_no_planted_text(emitted.text())

    def test_notes_get_every_message_rule(self, emitted: EmittedLog) -> None:
        """Notes lose e-mails, ids, encoding names and literals across lines."""
        error = ValueError("lookup failed")
        error.add_note(f"sent by {EMAIL} in 1234567890123456789")
        error.add_note(f"while reading '{KEY_NAME}\n{USER_NAME}' from the form")
        error.add_note(f"unknown encoding: {COUNT_TEXT}")
        structlog.get_logger().error("failed", exc_info=error)

        text = emitted.lines()[0]["exception"]["traceback"]
        assert text.endswith(
            "ValueError: lookup failed\n"
            "sent by [email] in [id]\n"
            "while reading '[redacted]' from the form\n"
            "unknown encoding: '[redacted]'\n"
        )
        _assert_no_planted_text(emitted.text())

    def test_explicit_exception_keeps_type_and_message(
        self, emitted: EmittedLog
    ) -> None:
        """An exception passed as `exc_info` is written as type and message."""
        structlog.get_logger().error("failed", exc_info=LookupError("role gone"))

        (line,) = emitted.lines()
        assert line["exception"]["type"] == "LookupError"
        assert line["exception"]["message"] == "role gone"

    def test_unquoted_input_is_kept(self, emitted: EmittedLog) -> None:
        """Scrubbing replaces quoted text only, so unquoted input needs `drop`."""
        structlog.get_logger().error(
            "failed", exc_info=ValueError("bad user visible-name")
        )

        (line,) = emitted.lines()
        assert line["exception"]["message"] == "bad user visible-name"

    def test_long_digit_runs_become_ids(self, emitted: EmittedLog) -> None:
        structlog.get_logger().error(
            "failed", exc_info=ValueError("ids 1234567890123456789012345 and 99")
        )

        (line,) = emitted.lines()
        assert line["exception"]["message"] == "ids [id] and 99"

    def test_exception_value_of_a_field_is_scrubbed(self, emitted: EmittedLog) -> None:
        """An exception passed as an ordinary field is scrubbed the same way."""
        structlog.get_logger().warning("retrying", last_error=KeyError(KEY_NAME))

        (line,) = emitted.lines()
        assert line["last_error"] == {"type": "KeyError", "message": "'[redacted]'"}


class TestSyntaxError:
    def test_literal_eval_text_is_hidden(self, emitted: EmittedLog) -> None:
        """`ast.literal_eval` of typed text puts that text in the traceback."""
        try:
            ast.literal_eval(f"{USER_NAME} (")
        except SyntaxError:
            structlog.get_logger().exception("option parse failed")

        (line,) = emitted.lines()
        text = line["exception"]["traceback"]
        assert text.endswith(
            '  File "<unknown>", line 1\n'
            "    [source text redacted]\n"
            "SyntaxError: '[redacted]' was never closed\n"
        )
        assert line["exception"]["type"] == "SyntaxError"
        assert line["exception"]["message"] == (
            "'[redacted]' was never closed (<unknown>, line 1)"
        )
        _assert_no_planted_text(emitted.text())

    @pytest.mark.parametrize(
        ("source", "expected_type", "expected_line_number"),
        [
            (f"{USER_NAME} = (", "SyntaxError", 1),
            (f"if True:\n{USER_NAME} = 1\n", "IndentationError", 2),
            (f"if True:\n\tx = 1\n        {USER_NAME} = 2\n", "TabError", 3),
        ],
        ids=["syntax-error", "indentation-error", "tab-error"],
    )
    def test_subclasses_keep_location_only(
        self,
        emitted: EmittedLog,
        source: str,
        expected_type: str,
        expected_line_number: int,
    ) -> None:
        error = _caught(lambda: compile(source, "<form>", "exec"))
        structlog.get_logger().error("compile failed", exc_info=error)

        (line,) = emitted.lines()
        text = line["exception"]["traceback"]
        location = f'  File "<form>", line {expected_line_number}\n'
        assert f"{location}    [source text redacted]\n{expected_type}: " in text
        assert "^" not in text.split(location)[1]
        assert line["exception"]["type"] == expected_type
        _assert_no_planted_text(emitted.text())

    def test_error_without_text_has_no_marker(self) -> None:
        error = SyntaxError("bad option")

        assert format_exception_text(error, None) == "SyntaxError: bad option\n"


class _Upper(app_commands.Transformer[Any]):
    """Accept upper-case text only, as a transformer of the app would."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        if not str(value).isupper():
            raise ValueError("not upper case")
        return str(value)


class _ColourArgumentError(commands.BadArgument):
    """A subclass an app defines, with the input unquoted in its message."""


class UserInputError(Exception):
    """An app's class with the name of a discord.py family in another module."""


def _hybrid_error(value: str) -> commands.HybridCommandError:
    """Wrap a TransformerError as a hybrid command does, with the cause set."""
    transformer_error = app_commands.TransformerError(
        value, discord.AppCommandOptionType.string, _Upper()
    )
    error = commands.HybridCommandError(transformer_error)
    error.__cause__ = transformer_error
    return error


USER_INPUT_ERRORS = [
    commands.BadBoolArgument(USER_NAME),
    commands.BadTimestampArgument(USER_NAME),
    app_commands.TransformerError(
        COUNT_TEXT, discord.AppCommandOptionType.string, _Upper()
    ),
    commands.MemberNotFound(USER_NAME),
    commands.CommandNotFound(f'Command "{COMMAND_NAME}" is not found'),
    app_commands.CommandNotFound(COMMAND_NAME, []),
    commands.ConversionError(commands.MemberConverter(), ValueError(COUNT_TEXT)),
    commands.RangeError(COUNT_TEXT, minimum=1, maximum=8),
    _ColourArgumentError(f"{USER_NAME} is no colour"),
]
USER_INPUT_ERROR_IDS = [
    "bad-bool",
    "bad-timestamp",
    "transformer",
    "member-not-found",
    "command-not-found",
    "app-command-not-found",
    "conversion",
    "range",
    "app-subclass",
]


class TestUserInputErrors:
    """discord.py's user-input errors lose the whole message in "scrub" mode."""

    @pytest.mark.parametrize("error", USER_INPUT_ERRORS, ids=USER_INPUT_ERROR_IDS)
    def test_message_is_dropped(self, error: BaseException) -> None:
        assert format_exception_message(error) == "[dropped]"

    @pytest.mark.parametrize("error", USER_INPUT_ERRORS, ids=USER_INPUT_ERROR_IDS)
    def test_traceback_line_is_dropped(self, error: BaseException) -> None:
        error_type = type(error)
        expected = f"{error_type.__module__}.{error_type.__qualname__}: [dropped]\n"

        assert format_exception_text(error, None) == expected

    def test_notes_are_kept_and_scrubbed(self) -> None:
        error = commands.BadBoolArgument(USER_NAME)
        error.add_note(f"while reading {KEY_NAME!r}")

        text = format_exception_text(error, None)
        assert text == (
            "discord.ext.commands.errors.BadBoolArgument: [dropped]\n"
            "while reading '[redacted]'\n"
        )

    def test_wrapped_message_is_dropped(self) -> None:
        """HybridCommandError repeats its TransformerError's message."""
        error = _hybrid_error(COUNT_TEXT)

        text = format_exception_text(error, None)
        assert format_exception_message(error) == (
            "Hybrid command raised an error: [dropped]"
        )
        assert "TransformerError: [dropped]\n\nThe above exception" in text
        assert text.endswith(
            "HybridCommandError: Hybrid command raised an error: [dropped]\n"
        )
        _assert_no_planted_text(text)

    def test_wrapped_message_keeps_its_own_rules(self) -> None:
        """A wrapped message is scrubbed as text when its class is not a family."""
        lookup_error = _caught(lambda: codecs.lookup(KEY_NAME))
        error = commands.CommandInvokeError(lookup_error)  # type: ignore[arg-type]
        error.__cause__ = lookup_error

        assert format_exception_message(error) == (
            "Command raised an exception: LookupError: unknown encoding: '[redacted]'"
        )

    def test_wrapping_cycle_is_dropped(self) -> None:
        """Messages that contain each other in a cycle end as the marker."""
        first, second = ValueError("same text"), ValueError("same text")
        first.__cause__, second.__cause__ = second, first

        assert format_exception_message(first) == "[dropped]"

    @pytest.mark.parametrize(
        "error",
        [
            commands.CheckFailure(f"{USER_NAME} may not"),
            UserInputError(f"{USER_NAME} may not"),
        ],
        ids=["discord-check-failure", "same-name-other-module"],
    )
    def test_other_classes_keep_message(self, error: BaseException) -> None:
        """The rule matches listed classes by module and name, nothing else."""
        assert format_exception_message(error) == f"{USER_NAME} may not"

    def test_keep_mode_keeps_message(self) -> None:
        set_exception_text_mode("keep")
        try:
            message = format_exception_message(commands.BadBoolArgument("yes-ish"))
        finally:
            set_exception_text_mode("scrub")

        assert message == "yes-ish is not a recognised boolean option"

    def test_message_field_is_dropped(self, scrubbed_in_memory: io.BytesIO) -> None:
        _log_exception(commands.BadBoolArgument(USER_NAME))

        for line in _memory_lines(scrubbed_in_memory):
            assert line["exception"]["message"] == "[dropped]"

    def test_field_value_message_is_dropped(
        self, scrubbed_in_memory: io.BytesIO
    ) -> None:
        """An error passed as an ordinary field loses its message too."""
        error = commands.BadBoolArgument(USER_NAME)
        structlog.get_logger().warning("retrying", last_error=error)

        (line,) = _memory_lines(scrubbed_in_memory)
        assert line["last_error"]["message"] == "[dropped]"


def test_text_alone_scrubs_unknown_encoding() -> None:
    message = scrub_exception_text(f"unknown encoding: {KEY_NAME} at {EMAIL}")

    assert message == "unknown encoding: '[redacted]'"


class TestTimerFailure:
    def test_failure_line_has_only_the_type(self, emitted: EmittedLog) -> None:
        with pytest.raises(KeyError):
            with timed("config.get", clock=emitted.clock):
                _raise_chained()

        line = emitted.only_timing()
        assert line["outcome"] == "failure"
        assert line["error_type"] == "KeyError"
        _assert_no_planted_text(emitted.text())

    def test_error_set_on_the_span_is_scrubbed(self, emitted: EmittedLog) -> None:
        with timed("config.get", clock=emitted.clock) as span:
            span.set(last_error=ValueError(f'Member "{USER_NAME}" not found.'))

        line = emitted.only_timing()
        assert line["last_error"] == {
            "type": "ValueError",
            "message": "Member '[redacted]' not found.",
        }
        _assert_no_planted_text(emitted.text())


class TestDiscordLogger:
    def test_discord_record_keeps_type_and_frames(self, emitted: EmittedLog) -> None:
        """A discord.py record loses the message but keeps type and frames."""
        try:
            raise commands.MemberNotFound(USER_NAME)
        except commands.MemberNotFound:
            logging.getLogger("discord").exception(
                "Ignoring exception in command %s", "whois"
            )

        (line,) = emitted.lines()
        assert line["event"] == "Ignoring exception in command whois"
        assert line["error_type"] == "MemberNotFound"
        assert "exception" not in line
        assert line["traceback"].startswith("MemberNotFound at:\n")
        assert f'File "{__file__}", line ' in line["traceback"]
        assert "raise commands.MemberNotFound(USER_NAME)" in line["traceback"]
        _assert_no_planted_text(emitted.text())

    def test_drop_mode_leaves_out_source_lines(self, dropped: EmittedLog) -> None:
        try:
            raise commands.MemberNotFound(USER_NAME)
        except commands.MemberNotFound:
            logging.getLogger("discord.client").exception("Ignoring exception")

        (line,) = dropped.lines()
        assert f'File "{__file__}", line ' in line["traceback"]
        assert "raise commands" not in line["traceback"]
        _assert_no_planted_text(dropped.text())


class TestDropMode:
    def test_message_is_a_fixed_marker(self, dropped: EmittedLog) -> None:
        _log_exception(_caught(_raise_chained))

        for line in dropped.lines():
            assert line["exception"]["type"] == "KeyError"
            assert line["exception"]["message"] == "[dropped]"

    def test_traceback_has_locations_and_types_only(self, dropped: EmittedLog) -> None:
        _log_exception(_caught(_raise_chained))

        text = dropped.lines()[0]["exception"]["traceback"]
        expected_start = (
            f'Traceback (most recent call last):\n  File "{__file__}", line '
        )
        assert text.startswith(expected_start)
        assert ", in _int_from_user\nValueError\n" in text
        assert text.endswith(", in _raise_chained\nKeyError\n")
        assert "int(text)" not in text
        assert "invalid literal" not in text

    def test_no_planted_text_in_any_path(self, dropped: EmittedLog) -> None:
        """Quoted, unquoted, chained and noted user input all stay out."""
        error = ValueError(f"{USER_NAME} sent {COUNT_TEXT} to {EMAIL}")
        error.add_note(KEY_NAME)
        try:
            try:
                raise commands.CommandNotFound(f"Command {COMMAND_NAME} is not found")
            except commands.CommandNotFound as inner:
                raise error from inner
        except ValueError:
            _log_exception(error)
            logging.getLogger("discord").exception("Ignoring exception")
        with pytest.raises(ValueError):
            with timed("config.get", clock=dropped.clock) as span:
                span.set(last_error=error)
                raise error

        assert len(dropped.lines()) == 4
        _assert_no_planted_text(dropped.text())

    def test_recursion_frames_are_collapsed(self, dropped: EmittedLog) -> None:
        def recurse(depth: int) -> None:
            if depth == 0:
                raise KeyError(KEY_NAME)
            recurse(depth - 1)

        structlog.get_logger().error("failed", exc_info=_caught(lambda: recurse(10)))

        text = dropped.lines()[0]["exception"]["traceback"]
        assert text.count(", in recurse\n") == 4
        assert "  [Previous line repeated 7 more times]\n" in text


class TestKeepMode:
    def test_messages_are_kept_with_ids_scrubbed(self, kept: io.BytesIO) -> None:
        error = KeyError("kept-name 616161616161616161")
        _log_exception(error)
        flush()

        lines = [orjson.loads(raw) for raw in kept.getvalue().splitlines()]
        assert len(lines) == 2
        for line in lines:
            assert line["exception"]["message"] == "'kept-name [id]'"
            assert line["exception"]["traceback"].endswith(
                "KeyError: 'kept-name [id]'\n"
            )


def test_invalid_mode_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    with pytest.raises(ConfigurationError, match="invalid exception_text 'hide'"):
        configure(service="s", output=path, exception_text="hide")  # type: ignore[arg-type]


class _Bot(commands.Bot):
    """A bot whose error handler logs each command error with its exception."""

    async def on_command_error(
        self, context: commands.Context[Any], exception: commands.CommandError
    ) -> None:
        _log_exception(exception)


def _build_bot(clock: ManualClock) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = _Bot(command_prefix="!", intents=intents)

    @bot.command()
    async def whois(ctx: commands.Context[Any], member: discord.Member) -> None:
        await ctx.send("found")

    @bot.command()
    async def count(ctx: commands.Context[Any], amount: int) -> None:
        await ctx.send("counted")

    @bot.command()
    async def notify(ctx: commands.Context[Any], enabled: bool) -> None:
        await ctx.send("ok")

    @bot.command()
    async def remind(ctx: commands.Context[Any], when: commands.Timestamp) -> None:
        await ctx.send("ok")

    @bot.command()
    async def encode(ctx: commands.Context[Any], encoding: str) -> None:
        await ctx.send(repr("ok".encode(encoding)))

    @bot.tree.command()
    async def shout(
        interaction: discord.Interaction[Any],
        text: app_commands.Transform[str, _Upper],
    ) -> None:
        await interaction.response.send_message(text)

    install_timing(bot, clock=clock)

    @bot.tree.error
    async def on_app_command_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        _log_exception(error)

    return bot


@pytest.fixture
async def bot(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[commands.Bot]:
    bot = _build_bot(ManualClock(CLOCK_START))
    await boot(bot, monkeypatch)
    yield bot
    await settle()
    await bot.close()


async def _send_user_input(bot: commands.Bot) -> None:
    """Send three commands whose errors quote what the user typed.

    In a direct message the member converter raises `MemberNotFound` without
    asking the gateway for members.
    """
    for content in (f"!{COMMAND_NAME}", f"!whois {USER_NAME}", f"!count {COUNT_TEXT}"):
        bot._connection.parse_message_create(message_payload(content, guild_id=None))
        await settle()


@pytest.mark.parametrize(
    ("mode", "expected_messages"),
    [
        pytest.param("scrub", ["[dropped]"] * 3),
        ("drop", ["[dropped]"] * 3),
    ],
)
async def test_bot_error_handler_lines(
    bot: commands.Bot,
    tmp_path: Path,
    mode: ExceptionTextMode,
    expected_messages: list[str],
) -> None:
    """Real discord.py errors for user input reach the lines without it."""
    path = tmp_path / "bot.jsonl"
    configure(service="test-bot", output=path, exception_text=mode)
    try:
        await _send_user_input(bot)
        flush()
    finally:
        _reset_logging()

    text = path.read_text()
    lines = [json.loads(raw) for raw in text.splitlines()]
    errors = [line for line in lines if "exception" in line]
    structlog_errors = [line for line in errors if "logger" not in line]
    assert [line["exception"]["type"] for line in structlog_errors] == [
        "CommandNotFound",
        "MemberNotFound",
        "BadArgument",
    ]
    assert [line["exception"]["message"] for line in structlog_errors] == (
        expected_messages
    )
    assert len(errors) == 6
    assert len([line for line in lines if line["event"] == "timing"]) == 3
    _assert_no_planted_text(text)


async def _send_typed_input(bot: commands.Bot, command: str, typed: str) -> None:
    """Run `command` with `typed` as its one argument, slash or prefix."""
    if command == "shout":
        option = {"name": "text", "type": 3, "value": typed}
        bot._connection.parse_interaction_create(slash_payload("shout", [option]))
    else:
        content = f"!{command} {typed}"
        bot._connection.parse_message_create(message_payload(content, guild_id=None))
    await settle()


@pytest.fixture(
    params=[
        ("notify", USER_NAME, "BadBoolArgument"),
        ("remind", USER_NAME, "BadTimestampArgument"),
        ("shout", COUNT_TEXT, "TransformerError"),
    ],
    ids=["bad-bool", "bad-timestamp", "transformer"],
)
def typed_input(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    """A command, the argument typed for it and the error type it raises."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def typed_input_lines(
    bot: commands.Bot,
    scrubbed_in_memory: io.BytesIO,
    typed_input: tuple[str, str, str],
) -> list[dict[str, Any]]:
    """Run the command of `typed_input` and return the lines it wrote."""
    command, typed, _ = typed_input
    await _send_typed_input(bot, command, typed)
    return _memory_lines(scrubbed_in_memory)


class TestBotTypedInput:
    """discord.py messages that put the typed argument in without quotes."""

    def test_traceback_drops_message(
        self,
        typed_input: tuple[str, str, str],
        typed_input_lines: list[dict[str, Any]],
    ) -> None:
        _, typed, expected_type = typed_input

        errors = [line for line in typed_input_lines if "exception" in line]
        assert len(errors) == 2
        for line in errors:
            text = line["exception"]["traceback"]
            assert line["exception"]["type"] == expected_type
            assert text.endswith(f".{expected_type}: [dropped]\n")
            assert typed not in text

    def test_lines_have_no_typed_input(
        self,
        scrubbed_in_memory: io.BytesIO,
        typed_input: tuple[str, str, str],
        typed_input_lines: list[dict[str, Any]],
    ) -> None:
        _, typed, expected_type = typed_input

        error_types = [line.get("error_type") for line in typed_input_lines]
        assert expected_type in error_types
        assert typed not in scrubbed_in_memory.getvalue().decode()

    async def test_unknown_encoding_is_scrubbed(
        self, bot: commands.Bot, emitted: EmittedLog
    ) -> None:
        """A LookupError from the command body reaches the handler wrapped."""
        await _send_typed_input(bot, "encode", KEY_NAME)

        errors = [line for line in emitted.lines() if "exception" in line]
        assert len(errors) == 2
        for line in errors:
            assert line["exception"]["type"] == "CommandInvokeError"
            assert line["exception"]["message"] == (
                "Command raised an exception: LookupError: "
                "unknown encoding: '[redacted]'"
            )
            text = line["exception"]["traceback"]
            assert "\nLookupError: unknown encoding: '[redacted]'\n" in text
        _assert_no_planted_text(emitted.text())
