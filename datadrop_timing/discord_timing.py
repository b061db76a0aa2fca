"""Timing for a discord.py bot: one call installs every hook.

    bot = commands.Bot(command_prefix="!", intents=intents)
    install_timing(bot, events=("member_join",))

Each prefix command, hybrid command, slash command, context menu, button and
modal writes one timing line, and so does each run of an opted-in listener
and each iteration of a `tasks.loop` decorated with `timed_task`. Actions:

- `bot.command.<qualified name>`: prefix and hybrid commands, with
  `invocation` `text` or `slash`; `bot.command.unknown` for an unknown
  prefix command, never the typed text;
- `bot.app_command.<qualified name>`: slash commands and context menus;
- `bot.autocomplete.<qualified name>`: autocomplete requests;
- `bot.component.<custom_id up to its first ':'>`: buttons, selects, modals;
- `bot.event.<name>` and `bot.task.<name>`.

Spaces in a qualified name (`config set`) become dots (`config.set`), but
spaces in a context menu's name (`Report User`) become `_`, because such a
name has no subcommands.
Interaction lines carry `ack_ms`, the time from our hook receiving the
interaction to the first response or defer that Discord accepted.

Hooks used, all checked against discord.py 2.7.1 (pinned to 2.7 because
`CommandTree._call`, `Client._schedule_event`, `BaseView._scheduled_task`,
`Modal._scheduled_task` and `AsyncWebhookAdapter.create_interaction_response`
are private): `Bot.invoke` and `Bot.dispatch` for prefix commands and their
errors, `CommandTree._call` and `CommandTree.on_error` for app commands,
`Client._schedule_event` for listeners. `before_invoke`/`after_invoke` and
the `on_command` event are not used because they skip check and conversion
failures.

discord.py's own error handlers log the exception's message, which can quote
what a user typed or a user id. `install_timing` adds
`datadrop_timing.server_logs.LibraryRecordFilter` to discord.py's loggers, so
those lines keep only the error type, the stack frames and the operation's
`request_id`, `tenant` and `action`.
"""

from __future__ import annotations

import contextvars
import functools
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import discord
from discord import app_commands
from discord.ext import commands

from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.context import (
    bind_context,
    current_context,
    new_request_id,
    normalise_tenant,
)
from datadrop_timing.schema import normalise_action
from datadrop_timing.server_logs import (
    install_library_log_filters,
    remember_error_context,
)
from datadrop_timing.timer import Span, timed

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

# Key in `Interaction.extras` and attribute on `Context` for a captured error.
_ERROR_KEY = "_datadrop_timing_error"

# Errors caused by the user: recorded with their type, outcome `success`.
USER_ERROR_TYPES: tuple[type[BaseException], ...] = (
    commands.UserInputError,
    commands.CheckFailure,
    commands.CommandNotFound,
    commands.DisabledCommand,
    commands.CommandOnCooldown,
    commands.MaxConcurrencyReached,
    app_commands.CheckFailure,
    app_commands.TransformerError,
)

# Wrappers whose `original` is the error that really happened.
_WRAPPER_TYPES: tuple[type[BaseException], ...] = (
    commands.CommandInvokeError,
    commands.HybridCommandError,
    commands.ConversionError,
    app_commands.CommandInvokeError,
)

_RANDOM_CUSTOM_ID = re.compile(r"[0-9a-f]{32}")

# `error_type` of an interaction that the tree's `interaction_check` rejected.
INTERACTION_CHECK_REJECTED = "InteractionCheckFailed"


@dataclass
class _Settings:
    clock: Clock
    events: frozenset[str]


@dataclass
class _ComponentRun:
    span: Span
    error: BaseException | None = None
    is_rejected: bool = False


_settings: weakref.WeakKeyDictionary[discord.Client, _Settings] = (
    weakref.WeakKeyDictionary()
)

# Spans of interactions still running, by interaction id, for `ack_ms`.
_open_interactions: dict[int, Span] = {}

_component_run: contextvars.ContextVar[_ComponentRun | None] = contextvars.ContextVar(
    "datadrop_timing_component_run", default=None
)

_class_hooks_installed = False

# The clock of the most recent `install_timing` call; `timed_task` reads it
# when given none, because loops are usually defined before the bot exists.
_latest_clock: list[Clock] = [SYSTEM_CLOCK]


def install_timing(
    client: discord.Client,
    *,
    events: Iterable[str] = (),
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Install timing on a bot or a client with a command tree.

    Args:
        client: a `commands.Bot`, or a `discord.Client` whose `tree` attribute
            is its `app_commands.CommandTree`.
        events: names of the events whose listeners are timed, with or without
            the `on_` prefix, such as `member_join`.
        clock: the clock spans read; tests pass a `ManualClock`.

    Raises:
        RuntimeError: timing is already installed on `client`.
    """
    if client in _settings:
        msg = f"timing is already installed on {client!r}: call install_timing once"
        raise RuntimeError(msg)

    names = frozenset(name.removeprefix("on_") for name in events)
    _settings[client] = _Settings(clock=clock, events=names)
    _latest_clock[0] = clock
    _install_class_hooks()
    install_library_log_filters()

    if isinstance(client, commands.Bot):
        _hook_invoke(client)
        _hook_dispatch(client)
    tree = getattr(client, "tree", None)
    if isinstance(tree, app_commands.CommandTree):
        _hook_tree(tree, client)
    _hook_schedule_event(client)


def timed_task(
    function: F | None = None, *, action: str | None = None, clock: Clock | None = None
) -> Any:
    """Time each iteration of a `tasks.loop`; place it under `@tasks.loop(...)`.

    The action is `bot.task.<function name>` unless `action` names it. Use
    bare (`@timed_task`) or with arguments (`@timed_task(action=...)`).
    Without `clock`, each iteration reads the clock of the most recent
    `install_timing` call, or the system clock before any.
    """

    def decorate(loop_body: F) -> F:
        name = action or normalise_action(f"bot.task.{loop_body.__name__}")

        @functools.wraps(loop_body)
        async def timed_iteration(*args: Any, **kwargs: Any) -> Any:
            context = {"tenant": None, "entrypoint": "bot"}
            with bind_context(**context, request_id=new_request_id()):
                span = timed(
                    name,
                    normalise=True,
                    clock=clock or _latest_clock[0],
                    entrypoint="bot",
                ).start()
                span.set_tenant(None)
                return await _run_span(span, loop_body(*args, **kwargs))

        return cast(F, timed_iteration)

    if function is not None:
        return decorate(function)
    return decorate


async def _run_span(span: Span, awaitable: Awaitable[Any]) -> Any:
    """Await `awaitable` and write `span`'s line, recording any exception."""
    try:
        result = await awaitable
    except BaseException as error:
        _finish(span, error)
        raise

    _finish(span, None)
    return result


def classify_error(error: BaseException) -> tuple[BaseException, bool]:
    """Return the root error and whether it is a failure on our side.

    Wrappers (`CommandInvokeError`, `HybridCommandError`, `ConversionError`)
    are unwrapped to the exception the command raised. Check failures, user
    input errors, cooldowns and unknown prefix commands are the user's doing.
    """
    root = error
    for _ in range(8):
        if not isinstance(root, _WRAPPER_TYPES):
            break
        root = getattr(root, "original", root)

    return root, not isinstance(root, USER_ERROR_TYPES)


def _finish(span: Span, error: BaseException | None) -> None:
    if error is not None:
        # discord.py logs some errors after the operation's context is gone.
        remember_error_context(
            error, {**current_context(), "action": span.fields.get("action")}
        )
        root, is_failure = classify_error(error)
        if is_failure:
            span.fail(type(root).__name__)
        else:
            span.reject(type(root).__name__)
        if isinstance(root, discord.HTTPException):
            span.set(discord_error_code=root.code)

    timed.finish(span)


def _start_span(
    client: discord.Client, action: str, guild_id: int | None, **fields: Any
) -> Span:
    clock = _settings[client].clock
    span = timed(action, normalise=True, clock=clock, entrypoint="bot", **fields)
    started = span.start()
    started.set_tenant(guild_id)
    return started


def _operation_context(guild_id: int | None) -> dict[str, Any]:
    return {
        "tenant": normalise_tenant(guild_id),
        "entrypoint": "bot",
        "request_id": new_request_id(),
    }


def _command_action(command: object) -> str:
    if command is None:
        return "bot.command.unknown"
    qualified_name = str(getattr(command, "qualified_name", "unknown"))
    return normalise_action("bot.command." + qualified_name.replace(" ", "."))


def _hook_invoke(bot: commands.Bot) -> None:
    original = bot.invoke

    async def timed_invoke(ctx: commands.Context[Any], /) -> None:
        if ctx.command is None and not ctx.invoked_with:
            await original(ctx)
            return

        guild_id = ctx.guild.id if ctx.guild is not None else None
        with bind_context(**_operation_context(guild_id)):
            span = _start_span(bot, "bot.command", guild_id, invocation="text")
            setattr(ctx, _ERROR_KEY, None)
            try:
                await original(ctx)
            except BaseException as error:
                _name_command_span(span, ctx)
                _finish(span, error)
                raise
            _name_command_span(span, ctx)
            _finish(span, getattr(ctx, _ERROR_KEY, None))

    bot.invoke = timed_invoke  # type: ignore[method-assign]


def _name_command_span(span: Span, ctx: commands.Context[Any]) -> None:
    """Name the span after the deepest command reached, known only at the end.

    A group resolves its subcommand inside `invoke`, and `Command.prepare`
    then sets `ctx.command` to it, so `!config set` is `bot.command.config.set`.
    """
    span.fields["action"] = _command_action(ctx.command)


def _hook_dispatch(bot: commands.Bot) -> None:
    original = bot.dispatch

    def dispatch_capturing_errors(
        event_name: str, /, *args: Any, **kwargs: Any
    ) -> None:
        if event_name == "command_error" and len(args) >= 2:
            ctx, error = args[0], args[1]
            setattr(ctx, _ERROR_KEY, error)
            interaction = getattr(ctx, "interaction", None)
            if interaction is not None:
                interaction.extras[_ERROR_KEY] = error
        original(event_name, *args, **kwargs)

    bot.dispatch = dispatch_capturing_errors  # type: ignore[method-assign]


def _hook_schedule_event(client: discord.Client) -> None:
    original = client._schedule_event
    events = _settings[client].events

    def schedule_timed_event(
        coro: Callable[..., Any], event_name: str, /, *args: Any, **kwargs: Any
    ) -> Any:
        name = event_name.removeprefix("on_")
        if name in events:
            coro = _timed_listener(client, coro, name)
        return original(coro, event_name, *args, **kwargs)

    client._schedule_event = schedule_timed_event  # type: ignore[method-assign,assignment]


def _timed_listener(
    client: discord.Client, coro: Callable[..., Any], name: str
) -> Callable[..., Any]:
    @functools.wraps(coro)
    async def timed_listener(*args: Any, **kwargs: Any) -> Any:
        guild_id = _guild_id_of(args)
        with bind_context(**_operation_context(guild_id)):
            span = _start_span(client, f"bot.event.{name}", guild_id)
            return await _run_span(span, coro(*args, **kwargs))

    return timed_listener


def _guild_id_of(args: Iterable[object]) -> int | None:
    """Return the guild id of the first event argument that has one."""
    for arg in args:
        if isinstance(arg, discord.Guild):
            return arg.id
        guild = getattr(arg, "guild", None)
        if isinstance(guild, discord.Guild):
            return guild.id
        guild_id = getattr(arg, "guild_id", None)
        if isinstance(guild_id, int):
            return guild_id
    return None


# Key in a timed tree's `__dict__` for the error handler set last.
_TREE_HANDLER_KEY = "_datadrop_timing_error_handler"


class _RecordingErrorHandler:
    """`on_error` of a timed tree: records the error, then calls the handler.

    A data descriptor, so both `@tree.error` and `tree.on_error = handler`
    replace the handler behind the recorder instead of the recorder itself.
    """

    def __get__(self, tree: Any, owner: type | None = None) -> Any:
        if tree is None:
            return self

        async def on_error_recording(
            interaction: discord.Interaction[Any],
            error: app_commands.AppCommandError,
            /,
        ) -> None:
            interaction.extras[_ERROR_KEY] = error
            await tree.__dict__[_TREE_HANDLER_KEY](interaction, error)

        return on_error_recording

    def __set__(self, tree: Any, handler: Callable[..., Awaitable[None]]) -> None:
        tree.__dict__[_TREE_HANDLER_KEY] = handler


_timed_tree_classes: dict[type, type] = {}


def _timed_tree_class(base: type) -> type:
    """Return a subclass of `base` whose `on_error` is `_RecordingErrorHandler`."""
    if base not in _timed_tree_classes:
        namespace = {"on_error": _RecordingErrorHandler(), "__module__": __name__}
        _timed_tree_classes[base] = type(f"Timed{base.__name__}", (base,), namespace)
    return _timed_tree_classes[base]


def _hook_tree(tree: app_commands.CommandTree[Any], client: discord.Client) -> None:
    original_call = tree._call
    handler = tree.on_error
    tree.__dict__.pop("on_error", None)
    tree.__class__ = _timed_tree_class(type(tree))
    tree.__dict__[_TREE_HANDLER_KEY] = handler

    async def timed_call(interaction: discord.Interaction[Any]) -> None:
        action, fields = _interaction_action(interaction)
        with bind_context(**_operation_context(interaction.guild_id)):
            span = _start_span(client, action, interaction.guild_id, **fields)
            _open_interactions[interaction.id] = span
            try:
                await original_call(interaction)
            except BaseException as error:
                _finish(span, error)
                raise
            finally:
                _open_interactions.pop(interaction.id, None)

            _finish_interaction(span, interaction)

    tree._call = timed_call  # type: ignore[method-assign]


def _finish_interaction(span: Span, interaction: discord.Interaction[Any]) -> None:
    error = interaction.extras.pop(_ERROR_KEY, None)
    if error is None and interaction.command_failed:
        span.reject(INTERACTION_CHECK_REJECTED)
    _finish(span, error)


def _interaction_action(
    interaction: discord.Interaction[Any],
) -> tuple[str, dict[str, Any]]:
    """Return the action and extra fields of an app command interaction."""
    try:
        command = interaction.command
    except Exception:  # noqa: BLE001 - a lookup failure must not stop the command
        command = None

    if getattr(command, "__commands_is_hybrid_app_command__", False):
        wrapped = getattr(command, "wrapped", None)
        return _command_action(wrapped), {"invocation": "slash"}

    qualified_name = str(getattr(command, "qualified_name", "unknown"))
    # A context menu's name is free text such as `Report User`, not a path.
    separator = "_" if isinstance(command, app_commands.ContextMenu) else "."
    dotted = qualified_name.replace(" ", separator)
    if interaction.type is discord.InteractionType.autocomplete:
        return normalise_action(f"bot.autocomplete.{dotted}"), {}
    return normalise_action(f"bot.app_command.{dotted}"), {}


def _install_class_hooks() -> None:
    """Patch the classes shared by all clients, once per process.

    The patched methods act only for interactions of clients passed to
    `install_timing`, so other clients in the process are not affected.
    """
    global _class_hooks_installed
    if _class_hooks_installed:
        return

    from discord.ui.modal import Modal
    from discord.ui.view import BaseView
    from discord.webhook.async_ import AsyncWebhookAdapter

    adapter_method = AsyncWebhookAdapter.create_interaction_response
    AsyncWebhookAdapter.create_interaction_response = _acking(adapter_method)  # type: ignore[method-assign]
    BaseView._scheduled_task = _timed_component(BaseView._scheduled_task)  # type: ignore[method-assign]
    Modal._scheduled_task = _timed_component(Modal._scheduled_task)  # type: ignore[method-assign]
    _class_hooks_installed = True


def _acking(create_response: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the call that sends an interaction's first response or defer."""

    @functools.wraps(create_response)
    def create_response_marking_ack(
        adapter: Any, interaction_id: int, *args: Any, **kwargs: Any
    ) -> Any:
        pending = create_response(adapter, interaction_id, *args, **kwargs)
        span = _open_interactions.get(int(interaction_id))
        if span is None:
            return pending
        return _mark_ack_when_sent(pending, span)

    return create_response_marking_ack


async def _mark_ack_when_sent(pending: Awaitable[Any], span: Span) -> Any:
    # A response Discord rejects (10062 after the 3 s deadline) is no ack.
    result = await pending
    span.mark_ack()
    return result


def component_action(custom_id: str) -> str:
    """Return `bot.component.<custom_id up to its first ':'>`.

    discord.py gives an item without a `custom_id` a random 32-hex one, which
    would make a new action per view, so such ids become `unnamed`.
    """
    prefix = custom_id.split(":", 1)[0]
    if _RANDOM_CUSTOM_ID.fullmatch(prefix):
        prefix = "unnamed"
    return normalise_action("bot.component." + prefix)


def _timed_component(scheduled_task: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view's or modal's per-interaction task with a span."""

    @functools.wraps(scheduled_task)
    async def timed_scheduled_task(view: Any, *args: Any) -> Any:
        interaction = next(
            (arg for arg in args if isinstance(arg, discord.Interaction)), None
        )
        if interaction is None or interaction.client not in _settings:
            return await scheduled_task(view, *args)

        _record_view_errors(view)
        data = cast(dict[str, Any], interaction.data or {})
        action = component_action(str(data.get("custom_id", "")))
        with bind_context(**_operation_context(interaction.guild_id)):
            span = _start_span(interaction.client, action, interaction.guild_id)
            return await _run_component(span, interaction, scheduled_task(view, *args))

    return timed_scheduled_task


async def _run_component(
    span: Span, interaction: discord.Interaction[Any], task: Awaitable[Any]
) -> Any:
    run = _ComponentRun(span=span)
    token = _component_run.set(run)
    _open_interactions[interaction.id] = span
    try:
        result = await task
    except BaseException as error:
        _finish(span, error)
        raise
    finally:
        _open_interactions.pop(interaction.id, None)
        _component_run.reset(token)

    if run.error is None and run.is_rejected:
        span.reject(INTERACTION_CHECK_REJECTED)
    _finish(span, run.error)
    return result


def _record_view_errors(view: Any) -> None:
    """Make a view report its callback errors and rejected checks to the span.

    The view's own `on_error` and `interaction_check` still run. The wrappers
    are set on the instance once and find the running span through a context
    variable, so concurrent interactions on one view do not mix.
    """
    if getattr(view, "_datadrop_timing_wrapped", False):
        return

    handle_error = view.on_error
    check = view.interaction_check

    async def on_error_recording(interaction: Any, error: Exception, *rest: Any) -> Any:
        run = _component_run.get()
        if run is not None:
            run.error = error
        return await handle_error(interaction, error, *rest)

    async def interaction_check_recording(interaction: Any) -> bool:
        is_allowed = bool(await check(interaction))
        run = _component_run.get()
        if run is not None and not is_allowed:
            run.is_rejected = True
        return is_allowed

    view.on_error = on_error_recording
    view.interaction_check = interaction_check_recording
    view._datadrop_timing_wrapped = True
