"""Drive discord.py 2.7's real dispatch offline, with its send paths faked.

Nothing here opens a connection: `HTTPClient` creates its session only in
`static_login()`, which is never called, and both send paths are replaced.
Messages and component interactions go through `HTTPClient.request`;
interaction responses and followups go through the webhook adapter.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord.webhook.async_ import async_context

APP_ID = 910_000_000_000_000_001
BOT_ID = APP_ID
USER_ID = 424_242_424_242_424_242
GUILD_ID = 733_000_000_000_000_001
CHANNEL_ID = 733_000_000_000_000_002
USER_NAME = "alice_private_name"
JOINED_AT = "2025-06-01T07:00:00+00:00"

_sequence = itertools.count()


def next_snowflake() -> int:
    """Return a unique snowflake dated now, by the clock discord.py reads.

    discord.py treats an interaction older than 15 minutes, by the time in its
    snowflake id, as expired: a hybrid command used as slash then sends a
    channel message instead of an interaction response. The low 22 bits
    (worker, process and increment) keep ids made in one millisecond apart.
    """
    now_id = discord.utils.time_snowflake(discord.utils.utcnow())
    return now_id + next(_sequence) % (1 << 22)


BOT_USER = {
    "id": str(BOT_ID),
    "username": "TimerBot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
HUMAN = {
    "id": str(USER_ID),
    "username": USER_NAME,
    "discriminator": "0",
    "global_name": "Alice Private",
    "avatar": None,
}
ALL_PERMISSIONS = str(discord.Permissions.all().value)


def _member(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": user,
        "roles": [],
        "joined_at": JOINED_AT,
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def guild_payload(guild_id: int = GUILD_ID) -> dict[str, Any]:
    """Return a GUILD_CREATE payload whose member list is complete."""
    return {
        "id": str(guild_id),
        "name": "Test Guild",
        "owner_id": str(USER_ID),
        "icon": None,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "position": 0,
                "permissions": ALL_PERMISSIONS,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [
            {
                "id": str(CHANNEL_ID),
                "type": 0,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
        ],
        "members": [_member(HUMAN), _member(BOT_USER)],
        # Equal to len(members), so the guild counts as chunked and no member
        # request is sent over the (absent) gateway.
        "member_count": 2,
        "threads": [],
        "voice_states": [],
        "presences": [],
        "large": False,
    }


def message_payload(
    content: str, *, author: dict[str, Any] = HUMAN, guild_id: int | None = GUILD_ID
) -> dict[str, Any]:
    """Return a MESSAGE_CREATE payload; `guild_id=None` makes it a DM."""
    payload: dict[str, Any] = {
        "id": str(next_snowflake()),
        "channel_id": str(CHANNEL_ID),
        "author": author,
        "content": content,
        "timestamp": JOINED_AT,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["member"] = {
            key: value for key, value in _member(author).items() if key != "user"
        }
    return payload


def _interaction_payload(
    kind: int, data: dict[str, Any], guild_id: int = GUILD_ID
) -> dict[str, Any]:
    return {
        "id": str(next_snowflake()),
        "application_id": str(APP_ID),
        "type": kind,
        "token": "fake-interaction-token",
        "version": 1,
        "guild_id": str(guild_id),
        "channel_id": str(CHANNEL_ID),
        "channel": {
            "id": str(CHANNEL_ID),
            "type": 0,
            "name": "general",
            "guild_id": str(guild_id),
            "position": 0,
            "permission_overwrites": [],
        },
        "member": {**_member(HUMAN), "permissions": ALL_PERMISSIONS},
        "data": data,
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": ALL_PERMISSIONS,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
        # Required by discord.py 2.6 and later.
        "attachment_size_limit": 8 * 1024 * 1024,
    }


def slash_payload(
    name: str, options: list[dict[str, Any]] | None = None, guild_id: int = GUILD_ID
) -> dict[str, Any]:
    """Return an INTERACTION_CREATE payload for a chat-input command."""
    data = {
        "id": str(next_snowflake()),
        "name": name,
        "type": 1,
        "options": options or [],
    }
    return _interaction_payload(2, data, guild_id)


def user_menu_payload(name: str, target: dict[str, Any]) -> dict[str, Any]:
    """Return an INTERACTION_CREATE payload for a user context menu."""
    data = {
        "id": str(next_snowflake()),
        "name": name,
        "type": 2,
        "target_id": target["id"],
        "resolved": {"users": {target["id"]: target}},
    }
    return _interaction_payload(2, data)


def button_payload(custom_id: str, guild_id: int = GUILD_ID) -> dict[str, Any]:
    """Return an INTERACTION_CREATE payload for a button press."""
    return _interaction_payload(
        3, {"custom_id": custom_id, "component_type": 2}, guild_id
    )


def modal_payload(
    custom_id: str, values: dict[str, str], guild_id: int = GUILD_ID
) -> dict[str, Any]:
    """Return an INTERACTION_CREATE payload for a submitted modal."""
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
        for key, value in values.items()
    ]
    return _interaction_payload(
        5, {"custom_id": custom_id, "components": rows}, guild_id
    )


@dataclass
class Transport:
    """Fake send paths that record calls and return what Discord would."""

    rest: list[tuple[str, str]] = field(default_factory=list)
    webhook: list[tuple[str, str]] = field(default_factory=list)
    reject_next_callback: bool = False

    async def http_request(self, route: Any, **kwargs: Any) -> Any:
        """Stand in for `HTTPClient.request`."""
        self.rest.append((route.method, route.path))
        if (route.method, route.path) == ("POST", "/channels/{channel_id}/messages"):
            body = kwargs.get("json") or {}
            return message_payload(body.get("content") or "", author=BOT_USER)
        if route.method in ("PUT", "DELETE", "PATCH"):
            return None
        msg = f"unexpected REST call in a test: {route.method} {route.path}"
        raise AssertionError(msg)

    async def webhook_request(
        self, route: Any, session: Any = None, **kwargs: Any
    ) -> Any:
        """Stand in for `AsyncWebhookAdapter.request`."""
        self.webhook.append((route.method, route.path))
        if route.path.endswith("/callback"):
            if self.reject_next_callback:
                self.reject_next_callback = False
                raise unknown_interaction_error()
            return {"interaction": {"id": str(route.webhook_id), "type": 2}}
        # GET is `original_response()`, which a hybrid command's `ctx.send` calls.
        if route.method in ("GET", "POST", "PATCH"):
            content = (kwargs.get("payload") or {}).get("content") or ""
            return message_payload(content, author=BOT_USER)
        return None


def unknown_interaction_error() -> discord.NotFound:
    """Return the error Discord gives for a response after the 3 s deadline."""
    response = SimpleNamespace(status=404, reason="Not Found")
    message = {"code": 10062, "message": "Unknown interaction"}
    return discord.NotFound(response, message)  # type: ignore[arg-type]


async def boot(bot: discord.Client, monkeypatch: pytest.MonkeyPatch) -> Transport:
    """Prepare `bot` as `login()` would, with faked transport and a cached guild."""
    await bot._async_setup_hook()
    transport = Transport()
    monkeypatch.setattr(bot.http, "request", transport.http_request)
    monkeypatch.setattr(async_context.get(), "request", transport.webhook_request)

    state = bot._connection
    state.application_id = APP_ID
    state.user = discord.ClientUser(state=state, data=BOT_USER)  # type: ignore[arg-type]
    state.parse_guild_create(guild_payload())  # type: ignore[arg-type]
    await bot.setup_hook()
    return transport


_TASK_PREFIXES = ("discord.py:", "CommandTree-invoker", "discord-ui-")


async def settle(timeout_s: float = 5.0) -> None:
    """Wait for the tasks discord.py started for events, commands and views.

    Tasks they start in turn are waited for too. An exception that escaped
    one of them is re-raised here, so a test cannot miss it.
    """
    me = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        await asyncio.sleep(0)
        pending = [
            task
            for task in asyncio.all_tasks()
            if task is not me
            and not task.done()
            and task.get_name().startswith(_TASK_PREFIXES)
        ]
        if not pending:
            return

        done, _ = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
        if not done:
            names = [task.get_name() for task in pending]
            msg = f"discord.py tasks still running after {timeout_s} s: {names}"
            raise TimeoutError(msg)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
