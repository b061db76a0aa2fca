"""`install_timing` on a real discord.py 2.7 bot fed gateway payloads offline."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from datadrop_timing import ManualClock

from .conftest import CLOCK_START
from .discord_harness import (
    GUILD_ID,
    HUMAN,
    USER_ID,
    USER_NAME,
    Transport,
    boot,
    button_payload,
    message_payload,
    modal_payload,
    settle,
    slash_payload,
    user_menu_payload,
)
from .logs import Line, LogFile
from .timing_bot import CodeModal, Jobs, VerifyView, build_bot


@dataclass
class BotRun:
    bot: Any
    clock: ManualClock
    transport: Transport
    log: LogFile

    async def message(self, content: str, **kwargs: Any) -> None:
        self.bot._connection.parse_message_create(message_payload(content, **kwargs))
        await settle()

    async def interaction(self, payload: dict[str, Any]) -> None:
        self.bot._connection.parse_interaction_create(payload)
        await settle()

    def only_line(self, **expected: Any) -> Line:
        lines = self.log.timing(**expected)
        assert len(lines) == 1, lines
        return lines[0]


@pytest.fixture
async def run(
    monkeypatch: pytest.MonkeyPatch, log_file: LogFile
) -> AsyncIterator[BotRun]:
    clock = ManualClock(CLOCK_START)
    bot = build_bot(clock)
    transport = await boot(bot, monkeypatch)
    bot.transport = transport
    bot.add_view(VerifyView(clock))
    yield BotRun(bot=bot, clock=clock, transport=transport, log=log_file)
    await settle()
    await bot.close()


class TestPrefixCommands:
    async def test_prefix_command_one_line(self, run: BotRun) -> None:
        """A prefix command writes one success line with its tenant and duration."""
        await run.message("!ping secretword")

        (line,) = run.log.timing()
        assert line["action"] == "bot.command.ping"
        assert line["invocation"] == "text"
        assert line["outcome"] == "success"
        assert line["duration_ms"] == 80.0
        assert line["tenant"] == str(GUILD_ID)
        assert line["entrypoint"] == "bot"
        assert "ack_ms" not in line
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])

    async def test_command_log_lines_share_request_id(self, run: BotRun) -> None:
        """Ordinary log lines written during a command carry its request id."""
        await run.message("!ping")

        (timing,) = run.log.timing()
        (handled,) = [
            line for line in run.log.lines() if line["event"] == "ping_handled"
        ]
        assert handled["request_id"] == timing["request_id"]
        assert handled["tenant"] == str(GUILD_ID)

    async def test_failing_command_is_failure(self, run: BotRun) -> None:
        """A command that raises is a failure with the root exception type."""
        await run.message("!boom")

        line = run.only_line(action="bot.command.boom")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "ValueError"
        assert line["duration_ms"] == 5.0
        assert line["level"] == "warning"

    async def test_failing_check_is_rejection(self, run: BotRun) -> None:
        """A failed check is recorded with its type but is not a failure."""
        await run.message("!admin")

        line = run.only_line(action="bot.command.admin")
        assert line["outcome"] == "success"
        assert line["error_type"] == "CheckFailure"

    async def test_missing_argument_is_rejection(self, run: BotRun) -> None:
        """Invalid user input is recorded as a rejection, not a failure."""
        await run.message("!config set")

        line = run.only_line(action="bot.command.config.set")
        assert line["outcome"] == "success"
        assert line["error_type"] == "MissingRequiredArgument"

    async def test_unknown_command_never_written(self, run: BotRun) -> None:
        """An unknown command is `bot.command.unknown`; the typed name is not logged."""
        await run.message("!xyzzy_typed_name")

        line = run.only_line(action="bot.command.unknown")
        assert line["error_type"] == "CommandNotFound"
        assert line["outcome"] == "success"
        assert "xyzzy_typed_name" not in run.log.path.read_text(encoding="utf-8")

    async def test_ordinary_message_not_timed(self, run: BotRun) -> None:
        """A chat message that is not a command writes no timing line."""
        await run.message("just chatting")

        assert run.log.timing() == []

    async def test_direct_message_has_null_tenant(self, run: BotRun) -> None:
        """A command in a DM has tenant null."""
        await run.message("!ping", guild_id=None)

        (line,) = run.log.timing()
        assert line["tenant"] is None


class TestAppCommands:
    async def test_slash_command_records_ack(self, run: BotRun) -> None:
        """A slash command writes one line with `ack_ms` at its first response."""
        await run.interaction(
            slash_payload("hello", [{"name": "who", "type": 3, "value": "bob"}])
        )

        line = run.only_line(action="bot.app_command.hello")
        assert line["outcome"] == "success"
        assert line["ack_ms"] == 120.0
        assert line["duration_ms"] == 150.0
        assert line["tenant"] == str(GUILD_ID)
        assert len(run.transport.webhook) == 1

    async def test_failing_slash_is_failure(self, run: BotRun) -> None:
        """A slash command that raises is a failure with the root type."""
        await run.interaction(slash_payload("explode"))

        line = run.only_line(action="bot.app_command.explode")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "KeyError"

    async def test_failing_app_check_is_rejection(self, run: BotRun) -> None:
        """A failed app command check is recorded with its type."""
        await run.interaction(slash_payload("guarded"))

        line = run.only_line(action="bot.app_command.guarded")
        assert line["outcome"] == "success"
        assert line["error_type"] == "CheckFailure"

    async def test_rejected_interaction_check(self, run: BotRun) -> None:
        """A tree `interaction_check` that returns False gives one rejection line."""
        await run.interaction(slash_payload("forbidden"))

        line = run.only_line(action="bot.app_command.forbidden")
        assert line["outcome"] == "success"
        assert line["error_type"] == "InteractionCheckFailed"
        assert "ack_ms" not in line
        assert run.transport.webhook == []

    async def test_tree_error_decorator_keeps_capture(self, run: BotRun) -> None:
        """A handler set with `@tree.error` after install does not hide errors."""
        handled: list[str] = []

        @run.bot.tree.error
        async def on_tree_error(interaction: Any, error: Exception) -> None:
            handled.append(type(error).__name__)

        await run.interaction(slash_payload("explode"))

        line = run.only_line(action="bot.app_command.explode")
        assert line["error_type"] == "KeyError"
        assert handled == ["CommandInvokeError"]

    async def test_assigned_tree_handler_keeps_capture(self, run: BotRun) -> None:
        """A handler assigned to `tree.on_error` after install does not hide errors."""
        handled: list[str] = []

        async def on_tree_error(interaction: Any, error: Exception) -> None:
            handled.append(type(error).__name__)

        run.bot.tree.on_error = on_tree_error
        await run.interaction(slash_payload("explode"))

        line = run.only_line(action="bot.app_command.explode")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "KeyError"
        assert handled == ["CommandInvokeError"]

    async def test_hybrid_as_slash_one_action(self, run: BotRun) -> None:
        """A hybrid command used as slash has the same action as its text form."""
        await run.interaction(slash_payload("stats"))
        await run.message("!stats")

        slash = run.only_line(action="bot.command.stats", invocation="slash")
        text = run.only_line(action="bot.command.stats", invocation="text")
        assert slash["outcome"] == text["outcome"] == "success"
        assert slash["duration_ms"] == text["duration_ms"] == 60.0

    async def test_hybrid_as_slash_answers_interaction(self, run: BotRun) -> None:
        """A hybrid used as slash answers the interaction, so `ack_ms` is set."""
        await run.interaction(slash_payload("stats"))

        line = run.only_line(action="bot.command.stats", invocation="slash")
        assert line["ack_ms"] == 60.0
        assert run.transport.rest == []
        assert run.transport.webhook[0][1].endswith("/callback")

    async def test_context_menu_name_not_dotted(self, run: BotRun) -> None:
        """A context menu named `Report User` is one name, not a subcommand."""
        await run.interaction(user_menu_payload("Report User", HUMAN))

        line = run.only_line(action="bot.app_command.report_user")
        assert line["outcome"] == "success"
        assert "ack_ms" in line

    async def test_unknown_slash_is_failure(self, run: BotRun) -> None:
        """An unknown slash command means a stale command sync: a failure."""
        await run.interaction(slash_payload("removed_long_ago"))

        line = run.only_line(action="bot.app_command.unknown")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "CommandNotFound"


HOOK_CASES = [
    ("hook_command_error", "failure", "StatsHookError", "!stats"),
    ("hook_runtime_error", "failure", "RuntimeError", "!stats"),
    ("bad_argument", "success", "BadArgument", "!stats notanumber"),
    ("body", "failure", "ValueError", "!stats"),
]


class TestHookErrors:
    @pytest.mark.parametrize(("case", "outcome", "error_type", "text"), HOOK_CASES)
    async def test_text_and_slash_agree(
        self, run: BotRun, case: str, outcome: str, error_type: str, text: str
    ) -> None:
        """Each staged failure gives one line per run, the same on both paths."""
        run.bot.hook_cases["stats"] = case
        try:
            await run.message(text)
        except RuntimeError:
            # A plain exception from a before-invoke hook escapes Bot.invoke and
            # reaches Client.on_error, as discord.py does without timing too.
            assert case == "hook_runtime_error"

        slash_options = (
            [{"name": "count", "type": 3, "value": "notanumber"}]
            if case == "bad_argument"
            else []
        )
        try:
            await run.interaction(slash_payload("stats", slash_options))
        except RuntimeError:
            assert case == "hook_runtime_error"

        text_line = run.only_line(action="bot.command.stats", invocation="text")
        slash_line = run.only_line(action="bot.command.stats", invocation="slash")
        for line in (text_line, slash_line):
            assert line["outcome"] == outcome
            assert line["error_type"] == error_type


class TestAckDeadline:
    async def test_late_response_is_failure(self, run: BotRun) -> None:
        """A response after the deadline fails with code 10062 and has no `ack_ms`."""
        await run.interaction(
            slash_payload("report", [{"name": "mode", "type": 3, "value": "late"}])
        )

        line = run.only_line(action="bot.app_command.report")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "NotFound"
        assert line["discord_error_code"] == 10062
        assert line["duration_ms"] == 3200.0
        assert "ack_ms" not in line

    async def test_deferred_response_acks_early(self, run: BotRun) -> None:
        """A defer acknowledges at once although the work takes 5 s."""
        await run.interaction(
            slash_payload("report", [{"name": "mode", "type": 3, "value": "deferred"}])
        )

        line = run.only_line(action="bot.app_command.report")
        assert line["outcome"] == "success"
        assert line["ack_ms"] == 0.0
        assert line["duration_ms"] == 5000.0

    async def test_near_deadline_ack_visible(self, run: BotRun) -> None:
        """A defer at 2.9 s succeeds but shows its late `ack_ms`."""
        await run.interaction(
            slash_payload("report", [{"name": "mode", "type": 3, "value": "busy"}])
        )

        line = run.only_line(action="bot.app_command.report")
        assert line["outcome"] == "success"
        assert line["ack_ms"] == 2900.0
        assert line["duration_ms"] == 3000.0


class TestComponents:
    async def test_button_press_one_line(self, run: BotRun) -> None:
        """A button is timed under its custom_id prefix, with `ack_ms`."""
        await run.interaction(button_payload("verify_submit:733"))

        line = run.only_line(action="bot.component.verify_submit")
        assert line["outcome"] == "success"
        assert line["ack_ms"] == 40.0
        assert line["duration_ms"] == 50.0
        assert "verify_submit:733" not in run.log.path.read_text(encoding="utf-8")

    async def test_failing_button_is_failure(self, run: BotRun) -> None:
        """A button callback that raises is a failure although the view handles it."""
        await run.interaction(button_payload("verify_broken:733"))

        line = run.only_line(action="bot.component.verify_broken")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "LookupError"

    async def test_modal_submit_one_line(self, run: BotRun) -> None:
        """A submitted modal is timed under its custom_id prefix."""
        run.bot._connection.store_view(CodeModal(run.clock))
        await run.interaction(modal_payload("verify_modal:733", {"code": "123456"}))

        line = run.only_line(action="bot.component.verify_modal")
        assert line["outcome"] == "success"
        assert line["ack_ms"] == 15.0
        assert "123456" not in run.log.path.read_text(encoding="utf-8")


class TestListenersAndLoops:
    async def test_opted_in_listener_timed(self, run: BotRun) -> None:
        """Only listeners of opted-in events write lines."""
        run.bot.dispatch("order_placed", 42)
        run.bot.dispatch("untimed_event", 7)
        await settle()

        (line,) = run.log.timing()
        assert line["action"] == "bot.event.order_placed"
        assert line["outcome"] == "success"
        assert run.bot.seen_events == [42, 7]

    async def test_failing_listener_logged_and_survived(self, run: BotRun) -> None:
        """A failing listener writes a failure and an error line; the bot goes on."""
        run.bot.dispatch("order_placed", -1)
        await settle()
        run.bot.dispatch("order_placed", 43)
        await settle()

        lines = run.log.timing(action="bot.event.order_placed")
        assert [line["outcome"] for line in lines] == ["failure", "success"]
        assert lines[0]["error_type"] == "KeyError"
        errors = [line for line in run.log.lines() if line["level"] == "error"]
        assert len(errors) == 1
        assert errors[0]["logger"] == "discord.client"
        assert errors[0]["error_type"] == "KeyError"
        assert "exception" not in errors[0]
        assert errors[0]["request_id"] == lines[0]["request_id"]
        assert errors[0]["action"] == "bot.event.order_placed"
        assert run.bot.seen_events == [43]

    async def test_loop_iteration_timed(self, run: BotRun) -> None:
        """A real `tasks.loop` iteration writes one line."""
        jobs = Jobs(run.clock)
        await run.bot.add_cog(jobs)
        await asyncio.wait_for(jobs.refresh_cache.start(), 5)

        line = run.only_line(action="bot.task.refresh_cache")
        assert line["outcome"] == "success"
        assert line["duration_ms"] == 70.0
        assert line["tenant"] is None

    async def test_failing_iteration_is_failure(self, run: BotRun) -> None:
        """An iteration that raises writes a failure line before the loop stops."""
        jobs = Jobs(run.clock)
        jobs.should_fail = True
        await run.bot.add_cog(jobs)
        with pytest.raises(ZeroDivisionError):
            await asyncio.wait_for(jobs.refresh_cache.start(), 5)

        line = run.only_line(action="bot.task.refresh_cache")
        assert line["outcome"] == "failure"
        assert line["error_type"] == "ZeroDivisionError"


class TestPrivacy:
    async def test_no_user_data_written(self, run: BotRun) -> None:
        """No line carries the user's id, name or message content."""
        await run.message("!ping secretword")
        await run.interaction(
            slash_payload("hello", [{"name": "who", "type": 3, "value": "secretbob"}])
        )

        text = "\n".join(run.log.raw_lines())
        assert len(run.log.timing()) == 2
        for private in (str(USER_ID), USER_NAME, "secretword", "secretbob"):
            assert private not in text

    async def test_default_error_handlers_drop_messages(self, run: BotRun) -> None:
        """discord.py's own error lines keep the type and ids, never the message."""
        # Restore discord.py's default `on_command_error`, which logs the message.
        del run.bot.on_command_error
        planted_id = "616161616161616161"
        await run.interaction(
            slash_payload("shout", [{"name": "text", "type": 3, "value": "PLANTEDqq"}])
        )
        await run.interaction(
            slash_payload("whois", [{"name": "member", "type": 6, "value": planted_id}])
        )
        await run.interaction(slash_payload("PLANTEDcommand"))
        await run.message("!PLANTEDprefix")
        run.bot.dispatch("order_placed", -int(planted_id))
        await settle()
        jobs = Jobs(run.clock)
        jobs.should_fail = True
        await run.bot.add_cog(jobs)
        with pytest.raises(ZeroDivisionError):
            await asyncio.wait_for(jobs.refresh_cache.start(), 5)

        for raw in run.log.raw_lines():
            for planted in ("PLANTED", planted_id):
                assert planted not in raw, raw
        timing = {line["request_id"]: line for line in run.log.timing()}
        errors = [line for line in run.log.lines() if line["level"] == "error"]
        assert len(errors) == 6
        for error in errors:
            assert error["logger"].startswith("discord."), error
            assert "exception" not in error
            assert "Traceback" not in error["traceback"]
            span = timing[error["request_id"]]
            assert error["tenant"] == span["tenant"]
            assert error["error_type"] in (span["error_type"], "TransformerError")


async def test_install_twice_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installing timing twice on one bot raises instead of doubling lines."""
    from datadrop_timing.discord_timing import install_timing

    bot = build_bot(ManualClock(CLOCK_START))
    with pytest.raises(RuntimeError, match="already installed"):
        install_timing(bot)


@pytest.mark.parametrize(
    ("custom_id", "action"),
    [
        ("verify_submit:733:abc", "bot.component.verify_submit"),
        ("Reset-Confirm", "bot.component.reset_confirm"),
        ("0123456789abcdef0123456789abcdef", "bot.component.unnamed"),
        ("", "bot.component"),
    ],
)
def test_component_action_bounded(custom_id: str, action: str) -> None:
    """Component actions keep only the custom_id prefix and never a random id."""
    from datadrop_timing.discord_timing import component_action

    assert component_action(custom_id) == action
