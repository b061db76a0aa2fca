"""Run the bot offline: feed gateway payloads and fake Discord's send paths.

Nothing connects to Discord. `HTTPClient` opens its session only in
`static_login()`, which is never called, and both send paths (REST and the
webhook adapter used for interaction responses) are replaced by `Transport`.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import discord
from discord.webhook.async_ import async_context

APP_ID = 910_000_000_000_000_001
CHANNEL_ID = 910_000_000_000_000_002
JOINED_AT = "2025-06-01T07:00:00+00:00"
BOT_USER = {
    "id": str(APP_ID),
    "username": "DataDrop",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
_ALL = str(discord.Permissions.all().value)

_sequence = itertools.count()


def next_snowflake() -> int:
    """Return a unique snowflake dated now, by the clock discord.py reads.

    discord.py treats an interaction older than 15 minutes, by the time in its
    snowflake id, as expired, and a hybrid command used as slash then answers
    with a channel message, which has no `ack_ms`. The low 22 bits (worker,
    process and increment) keep ids made in one millisecond apart.
    """
    now_id = discord.utils.time_snowflake(discord.utils.utcnow())
    return now_id + next(_sequence) % (1 << 22)


def user_payload(user_id: int) -> dict[str, Any]:
    """Return a user object; the name is a placeholder, never logged."""
    return {
        "id": str(user_id),
        "username": f"user{user_id % 1000}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
    }


def _member(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": user,
        "roles": [],
        "joined_at": JOINED_AT,
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def member_join_payload(guild_id: int, user_id: int) -> dict[str, Any]:
    """Return a GUILD_MEMBER_ADD payload."""
    return {"guild_id": str(guild_id), **_member(user_payload(user_id))}


def guild_payload(guild_id: int) -> dict[str, Any]:
    """Return a GUILD_CREATE payload with a complete member list."""
    role = {
        "id": str(guild_id), "name": "@everyone", "position": 0, "permissions": _ALL,
        "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0,
    }  # fmt: skip
    channel = {
        "id": str(CHANNEL_ID), "type": 0, "name": "general", "position": 0,
        "permission_overwrites": [], "nsfw": False, "parent_id": None,
    }  # fmt: skip
    return {
        "id": str(guild_id), "name": "Guild", "owner_id": "1", "roles": [role],
        "channels": [channel], "members": [_member(BOT_USER)], "member_count": 1,
        "emojis": [], "stickers": [], "features": [], "threads": [],
        "voice_states": [], "presences": [], "large": False,
    }  # fmt: skip


def message_payload(guild_id: int, user_id: int, content: str) -> dict[str, Any]:
    """Return a MESSAGE_CREATE payload in the guild's channel."""
    user = user_payload(user_id)
    return {
        "id": str(next_snowflake()), "channel_id": str(CHANNEL_ID),
        "guild_id": str(guild_id), "author": user,
        "member": {"roles": [], "joined_at": JOINED_AT, "deaf": False, "mute": False},
        "content": content, "timestamp": JOINED_AT, "edited_timestamp": None,
        "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
    }  # fmt: skip


def interaction_payload(
    guild_id: int, user_id: int, kind: int, data: dict[str, Any]
) -> dict[str, Any]:
    """Return an INTERACTION_CREATE payload: kind 2 command, 3 component."""
    return {
        "id": str(next_snowflake()), "application_id": str(APP_ID), "type": kind,
        "token": "offline", "version": 1, "guild_id": str(guild_id),
        "channel_id": str(CHANNEL_ID),
        "channel": {
            "id": str(CHANNEL_ID), "type": 0, "guild_id": str(guild_id),
            "name": "general", "position": 0, "permission_overwrites": [],
        },
        "member": {**_member(user_payload(user_id)), "permissions": _ALL},
        "data": data, "locale": "en-US", "guild_locale": "en-US",
        "app_permissions": _ALL,
        "entitlements": [], "context": 0, "attachment_size_limit": 8 * 1024 * 1024,
        "authorizing_integration_owners": {"0": str(guild_id)},
    }  # fmt: skip


def slash(guild_id: int, user_id: int, name: str, **options: str) -> dict[str, Any]:
    """Return a chat-input command interaction with string options."""
    data = {
        "id": str(next_snowflake()),
        "name": name,
        "type": 1,
        "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
    }
    return interaction_payload(guild_id, user_id, 2, data)


def button(guild_id: int, user_id: int, custom_id: str) -> dict[str, Any]:
    """Return a button-press interaction."""
    data = {"custom_id": custom_id, "component_type": 2}
    return interaction_payload(guild_id, user_id, 3, data)


class Transport:
    """Fake REST and webhook send paths that return what Discord would."""

    def __init__(self) -> None:
        self.last_response_content = ""

    async def http_request(self, route: Any, **kwargs: Any) -> Any:
        """Stand in for `HTTPClient.request`."""
        if route.method == "POST" and route.path.endswith("/messages"):
            content = (kwargs.get("json") or {}).get("content") or ""
            return {**message_payload(0, APP_ID, content), "author": BOT_USER}
        return None

    async def webhook_request(
        self, route: Any, session: Any = None, **kwargs: Any
    ) -> Any:
        """Stand in for `AsyncWebhookAdapter.request`."""
        if route.path.endswith("/callback"):
            data = (kwargs.get("payload") or {}).get("data") or {}
            self.last_response_content = data.get("content") or ""
            return {"interaction": {"id": str(route.webhook_id), "type": 2}}
        content = (kwargs.get("payload") or {}).get("content") or ""
        return {**message_payload(0, APP_ID, content), "author": BOT_USER}


async def boot_offline(bot: discord.Client, guild_ids: list[int]) -> Transport:
    """Prepare `bot` as `login()` would, with fake transport and cached guilds."""
    await bot._async_setup_hook()
    transport = Transport()
    bot.http.request = transport.http_request  # type: ignore[method-assign]
    async_context.get().request = transport.webhook_request  # type: ignore[method-assign]
    state = bot._connection
    state.application_id = APP_ID
    state.user = discord.ClientUser(state=state, data=BOT_USER)  # type: ignore[arg-type]
    for guild_id in guild_ids:
        state.parse_guild_create(guild_payload(guild_id))
    await bot.setup_hook()
    return transport


async def settle(timeout_s: float = 10.0) -> None:
    """Wait until the tasks discord.py started for events and commands end."""
    me = asyncio.current_task()
    prefixes = ("discord.py:", "CommandTree-invoker", "discord-ui-")
    while True:
        await asyncio.sleep(0)
        pending = [
            task
            for task in asyncio.all_tasks()
            if task is not me
            and not task.done()
            and task.get_name().startswith(prefixes)
        ]
        if not pending:
            return
        await asyncio.wait(pending, timeout=timeout_s)
