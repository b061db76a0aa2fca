"""Exception messages and tracebacks under the three `exception_text` modes.

The user input in these tests is listed in `PLANTED_SECRETS`, so the session
also fails if any file a test wrote contains it.
"""

from __future__ import annotations

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
from discord.ext import commands
from helpers import CLOCK_START, PLANTED_SECRETS, EmittedLog
from integrations.discord_harness import boot, message_payload, settle

from datadrop_timing import ConfigurationError, ManualClock, configure, flush, timed
from datadrop_timing.discord_timing import install_timing
from datadrop_timing.exception_text import ExceptionTextMode, set_exception_text_mode

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
            (commands.MemberNotFound(USER_NAME), "Member '[redacted]' not found."),
            (
                commands.CommandNotFound(f'Command "{COMMAND_NAME}" is not found'),
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
                commands.MemberNotFound(f'{USER_NAME}"s'),
                "Member '[redacted]' not found.",
            ),
        ],
        ids=[
            "key-error",
            "int-literal",
            "member-not-found",
            "command-not-found",
            "escaped-quotes",
            "email",
            "unclosed-quote",
            "quote-inside-value",
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
                raise commands.MemberNotFound(USER_NAME)
            except commands.MemberNotFound:
                raise KeyError(KEY_NAME)  # noqa: B904 - the context is the case
        except KeyError as error:
            _log_exception(error)

        text = emitted.lines()[0]["exception"]["traceback"]
        assert (
            "discord.ext.commands.errors.MemberNotFound: Member '[redacted]' not found."
            in text
        )
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
            span.set(last_error=commands.MemberNotFound(USER_NAME))

        line = emitted.only_timing()
        assert line["last_error"] == {
            "type": "MemberNotFound",
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

    install_timing(bot, clock=clock)
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
        (
            "scrub",
            [
                "Command '[redacted]' is not found",
                "Member '[redacted]' not found.",
                "Converting to '[redacted]' failed for parameter '[redacted]'.",
            ],
        ),
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
