"""A discord.py bot with one command per case the timing hooks must handle.

Commands advance a `ManualClock`, so tests can check exact durations and
`ack_ms` values without sleeping.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from datadrop_timing import ManualClock
from datadrop_timing.discord_timing import install_timing, timed_task

_log = logging.getLogger("timing_bot")


class StatsHookError(commands.CommandError):
    """Raised by the stats command's before-invoke hook in one staged case."""


class Count(commands.Converter[int]):
    """A count typed by the user; raises BadArgument on both text and slash."""

    async def convert(self, ctx: commands.Context[Any], argument: str) -> int:
        if not argument.isdigit():
            raise commands.BadArgument("count must be a whole number")
        return int(argument)


class Upper(app_commands.Transformer[Any]):
    """A transformer that rejects lowercase text, so discord.py quotes the text."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        if not str(value).isupper():
            raise ValueError("not upper case")
        return str(value)


class RejectingTree(app_commands.CommandTree[Any]):
    """A tree whose `interaction_check` rejects the `/forbidden` command."""

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        data = interaction.data or {}
        return data.get("name") != "forbidden"


class VerifyView(discord.ui.View):
    """A persistent view with a working and a failing button."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(timeout=None)
        self.clock = clock

    @discord.ui.button(label="Submit", custom_id="verify_submit:733")
    async def submit(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        self.clock.advance(ms=40)
        await interaction.response.send_message("verified", ephemeral=True)
        self.clock.advance(ms=10)

    @discord.ui.button(label="Broken", custom_id="verify_broken:733")
    async def broken(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        raise LookupError("staged button failure")


class CodeModal(discord.ui.Modal, title="Enter your code"):
    """A modal that accepts any code."""

    code = discord.ui.TextInput(label="Code", custom_id="code")

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(timeout=None, custom_id="verify_modal:733")
        self.clock = clock

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        self.clock.advance(ms=15)
        await interaction.response.defer()


class Jobs(commands.Cog):
    """Background loops, each iteration timed."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.should_fail = False

    @tasks.loop(seconds=60)
    @timed_task
    async def refresh_cache(self) -> None:
        self.clock.advance(ms=70)
        if self.should_fail:
            raise ZeroDivisionError("staged loop failure")
        self.refresh_cache.stop()


def build_bot(clock: ManualClock, events: tuple[str, ...] = ("order_placed",)) -> Any:
    """Build the bot with timing installed; `events` are the timed listeners."""
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(command_prefix="!", intents=intents, tree_cls=RejectingTree)
    bot.hook_cases = {"stats": None}
    bot.seen_events = []

    _add_prefix_commands(bot, clock)
    _add_slash_commands(bot, clock)
    _add_hybrid_commands(bot, clock)
    _add_listeners(bot)
    install_timing(bot, events=events, clock=clock)
    return bot


def _add_prefix_commands(bot: commands.Bot, clock: ManualClock) -> None:
    @bot.command()
    async def ping(ctx: commands.Context[Any], word: str = "") -> None:
        clock.advance(ms=80)
        _log.info("ping_handled")
        await ctx.send("pong")

    @bot.command()
    async def boom(ctx: commands.Context[Any]) -> None:
        clock.advance(ms=5)
        raise ValueError("staged command failure")

    @bot.command()
    @commands.check(lambda ctx: False)
    async def admin(ctx: commands.Context[Any]) -> None:
        await ctx.send("never sent")

    @bot.group()
    async def config(ctx: commands.Context[Any]) -> None:
        pass

    @config.command(name="set")
    async def config_set(ctx: commands.Context[Any], key: str) -> None:
        clock.advance(ms=12)


def _add_slash_commands(bot: commands.Bot, clock: ManualClock) -> None:
    @bot.tree.command()
    async def hello(interaction: discord.Interaction[Any], who: str) -> None:
        clock.advance(ms=120)
        await interaction.response.send_message(f"hi {who}")
        clock.advance(ms=30)

    @bot.tree.command()
    async def explode(interaction: discord.Interaction[Any]) -> None:
        raise KeyError("staged slash failure")

    @bot.tree.command()
    async def forbidden(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("never sent")

    @bot.tree.command()
    @app_commands.check(lambda interaction: False)
    async def guarded(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("never sent")

    @bot.tree.command()
    async def report(interaction: discord.Interaction[Any], mode: str) -> None:
        await _run_report(interaction, clock, mode)

    @bot.tree.command()
    async def verify(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_modal(CodeModal(clock))

    @bot.tree.command()
    async def shout(
        interaction: discord.Interaction[Any],
        text: app_commands.Transform[str, Upper],
    ) -> None:
        await interaction.response.send_message(text)

    @bot.tree.command()
    async def whois(
        interaction: discord.Interaction[Any], member: discord.Member
    ) -> None:
        await interaction.response.send_message("found")

    @bot.tree.context_menu(name="Report User")
    async def report_user(
        interaction: discord.Interaction[Any], user: discord.User
    ) -> None:
        await interaction.response.send_message("reported", ephemeral=True)


async def _run_report(
    interaction: discord.Interaction[Any], clock: ManualClock, mode: str
) -> None:
    """Stage the three ways to meet or miss the 3 s acknowledgement deadline."""
    if mode == "late":
        clock.advance(ms=3200)
        interaction.client.transport.reject_next_callback = True
        await interaction.response.send_message("too late")
    elif mode == "deferred":
        await interaction.response.defer()
        clock.advance(ms=5000)
        await interaction.followup.send("done")
    elif mode == "busy":
        clock.advance(ms=2900)
        await interaction.response.defer()
        clock.advance(ms=100)
        await interaction.followup.send("done")


def _add_hybrid_commands(bot: commands.Bot, clock: ManualClock) -> None:
    @bot.hybrid_command()
    async def stats(ctx: commands.Context[Any], count: Count = 1) -> None:
        clock.advance(ms=60)
        if bot.hook_cases["stats"] == "body":
            raise ValueError("staged body failure")
        await ctx.send(f"stats {count}")

    @stats.before_invoke
    async def before_stats(ctx: commands.Context[Any]) -> None:
        case = bot.hook_cases["stats"]
        if case == "hook_command_error":
            raise StatsHookError("staged hook failure")
        if case == "hook_runtime_error":
            raise RuntimeError("staged hook crash")


def _add_listeners(bot: commands.Bot) -> None:
    @bot.event
    async def on_command_error(ctx: commands.Context[Any], error: Exception) -> None:
        # Replaces discord.py's default handler, which logs the error message
        # and so, for an unknown command, the text the user typed.
        _log.info("command_error_handled", extra={"error_type": type(error).__name__})

    @bot.listen("on_order_placed")
    async def record_order(order_id: int) -> None:
        if order_id < 0:
            raise KeyError(f"staged listener failure for order {order_id}")
        bot.seen_events.append(order_id)

    @bot.listen("on_untimed_event")
    async def untimed(value: int) -> None:
        bot.seen_events.append(value)
