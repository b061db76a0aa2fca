"""The reference DataDrop bot: verification, config and yearly reset commands."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from datadrop_timing import Clock
from datadrop_timing.discord_timing import install_timing

from .domain import ConfigValidationError, DataDrop

_log = logging.getLogger("datadrop.bot")


def member_key(user_id: int) -> str:
    """Return the opaque key stored for a member instead of the user id."""
    return hashlib.sha256(str(user_id).encode()).hexdigest()[:16]


class VerifyButton(discord.ui.View):
    """The persistent "Verify me" button posted in each guild."""

    def __init__(self, datadrop: DataDrop) -> None:
        super().__init__(timeout=None)
        self.datadrop = datadrop

    @discord.ui.button(label="Verify me", custom_id="verify_start:button")
    async def start(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        guild_id = interaction.guild_id or 0
        self.datadrop.start_verification(guild_id, member_key(interaction.user.id))
        await interaction.response.send_message("Check your DMs", ephemeral=True)


def build_bot(datadrop: DataDrop, *, clock: Clock) -> commands.Bot:
    """Build the bot with timing installed on every command and `member_join`."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    bot = commands.Bot(command_prefix="!", intents=intents)

    _add_verification(bot, datadrop)
    _add_config(bot, datadrop)
    _add_reset(bot, datadrop)

    @bot.event
    async def on_command_error(ctx: commands.Context[Any], error: Exception) -> None:
        # Replaces discord.py's default handler, whose message can contain
        # the text a user typed.
        _log.info("command_error", extra={"error_type": type(error).__name__})

    install_timing(bot, events=("member_join",), clock=clock)
    return bot


def _add_verification(bot: commands.Bot, datadrop: DataDrop) -> None:
    @bot.tree.command(name="verify_start")
    async def verify_start(interaction: discord.Interaction[Any]) -> None:
        guild_id = interaction.guild_id or 0
        code = datadrop.start_verification(guild_id, member_key(interaction.user.id))
        await interaction.response.send_message(f"Your code: {code}", ephemeral=True)

    @bot.tree.command(name="verify_submit")
    async def verify_submit(interaction: discord.Interaction[Any], code: str) -> None:
        await interaction.response.defer(ephemeral=True)
        guild_id = interaction.guild_id or 0
        key = member_key(interaction.user.id)
        is_valid = datadrop.submit_verification(guild_id, key, code)
        await interaction.followup.send("Verified" if is_valid else "Wrong code")

    @bot.listen("on_member_join")
    async def greet(member: discord.Member) -> None:
        datadrop.start_verification(member.guild.id, member_key(member.id))


def _add_config(bot: commands.Bot, datadrop: DataDrop) -> None:
    @bot.hybrid_command(name="config_get")
    async def config_get(ctx: commands.Context[Any]) -> None:
        config = datadrop.get_config(ctx.guild.id if ctx.guild else 0)
        await ctx.send(", ".join(f"{key}={value}" for key, value in config.items()))

    @bot.tree.command(name="config_set")
    @app_commands.default_permissions(manage_guild=True)
    async def config_set(
        interaction: discord.Interaction[Any], key: str, value: str
    ) -> None:
        try:
            datadrop.update_config(interaction.guild_id or 0, key, value)
        except ConfigValidationError as error:
            await interaction.response.send_message(str(error), ephemeral=True)
            return
        await interaction.response.send_message("Saved", ephemeral=True)


def _add_reset(bot: commands.Bot, datadrop: DataDrop) -> None:
    @bot.command(name="reset_plan")
    @commands.guild_only()
    async def reset_plan(ctx: commands.Context[Any]) -> None:
        if ctx.guild is None:
            return
        planned = datadrop.plan_reset(ctx.guild.id)
        await ctx.send(f"{len(planned)} members would be reset")

    @bot.command(name="reset_execute")
    @commands.guild_only()
    async def reset_execute(ctx: commands.Context[Any]) -> None:
        if ctx.guild is None:
            return
        count = datadrop.execute_reset(ctx.guild.id)
        await ctx.send(f"{count} members reset")
