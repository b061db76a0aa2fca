"""Pure ASGI middleware that writes one `api.request` timing line per request.

    app = FastAPI()
    app.add_middleware(TimingMiddleware)

The duration runs from the moment the request reaches the middleware until the
last byte of the response body has been handed to the server. So a streamed
response is timed to its end, and a background task that runs after the body
is not part of it. The line carries `method`, `route` (the route template,
never the raw path), `status_code`, `ttfb_ms` (time until the response headers
were sent) and `request_id`.

Outcome rules:

- 5xx responses and unhandled exceptions are failures; the exception is
  re-raised to the server unchanged, so its traceback still reaches the
  server's error log, with the request's `request_id` and `tenant` added by
  `datadrop_timing.server_logs.LibraryRecordFilter`.
- For an unhandled exception before the response started, the middleware
  sends the 500 response itself, with the `X-Request-ID` header, using the
  app's handler for 500 or `Exception` if it has one. Starlette's debug page
  (`debug=True`) is left to Starlette and has no such header.
- 4xx responses are client errors: outcome `success`, `error_type` such as
  `HTTP404`, and their `status_code`.
- A client that disconnects before the last byte gets `status_code` 499 and
  `error_type` `ClientDisconnect` with outcome `success`.

Lifespan and websocket scopes pass through untouched, and so do requests to
the excluded paths (health and metrics routes by default).

The tenant of every line of the request is the request's `OperationHolder`:
the value given to `set_tenant()` last, else the `guild_id` path parameter
once routing has matched, else null.

Importing this module imports neither Starlette nor FastAPI.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import Any

from datadrop_timing._holder import OperationHolder, close_holder, open_holder
from datadrop_timing._routes import route_template
from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.context import bind_context, new_request_id, normalise_tenant
from datadrop_timing.server_logs import remember_error_context
from datadrop_timing.timer import Span, timed

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "x-request-id"

DEFAULT_EXCLUDED_PATHS = ("/health", "/healthz", "/metrics")

# Status written when the client went away before the response ended; nginx
# uses the same code for "client closed request".
CLIENT_CLOSED_STATUS = 499

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# A guild id is a Discord snowflake: digits only, at most 20 of them.
_GUILD_ID = re.compile(r"[0-9]{1,20}")

# The response Starlette's `ServerErrorMiddleware` sends for an unhandled error.
_SERVER_ERROR_BODY = b"Internal Server Error"


def accept_request_id(value: str | None) -> str:
    """Return an incoming request id if it is safe to reuse, else a new one.

    An id is reused only when it is 1 to 64 characters of `[A-Za-z0-9._-]`,
    so a client cannot inject long or control-character values into logs.
    """
    if value is not None and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def tenant_from_path_params(path_params: Mapping[str, Any]) -> str | None:
    """Return the `guild_id` path parameter as a tenant if it is a snowflake."""
    guild_id = normalise_tenant(path_params.get("guild_id"))
    if guild_id is not None and _GUILD_ID.fullmatch(guild_id):
        return guild_id
    return None


class TimingMiddleware:
    """Time every HTTP request to the last byte of its response.

    Args:
        app: the ASGI application to wrap.
        excluded_paths: raw paths that are not timed, such as health checks.
        clock: the clock spans read; tests pass a `ManualClock`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_paths: Collection[str] = DEFAULT_EXCLUDED_PATHS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.app = app
        self.excluded_paths = frozenset(excluded_paths)
        self._timer = timed("api.request", entrypoint="api", clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the wrapped app, timing HTTP requests and passing the rest through."""
        if scope["type"] != "http" or scope.get("path") in self.excluded_paths:
            await self.app(scope, receive, send)
            return

        exchange = _Exchange(scope, self._timer.start())
        holder, token = open_holder(exchange.tenant_from_route)
        try:
            with bind_context(**exchange.context_values(), tenant=holder):
                await self._run(exchange, holder, scope, receive, send)
        finally:
            close_holder(token)

    async def _run(
        self,
        exchange: _Exchange,
        holder: OperationHolder,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        timed_send = exchange.wrap_send(send, holder)
        try:
            await self.app(scope, exchange.wrap_receive(receive), timed_send)
        except Exception as error:
            has_response = exchange.status_code is not None
            exchange.finish(holder, error)
            if not has_response:
                await _send_server_error(
                    exchange.entry_app, scope, receive, timed_send, error
                )
            raise
        except BaseException as error:
            exchange.finish(holder, error)
            raise

        exchange.finish(holder, None)


class _Exchange:
    """The state of one timed request: its span and what was sent so far."""

    def __init__(self, scope: Scope, span: Span) -> None:
        self.scope = scope
        self.span = span
        self.entry_root_path = str(scope.get("root_path", ""))
        self.entry_app = scope.get("app")
        self.request_id = accept_request_id(_header(scope, REQUEST_ID_HEADER))
        self.status_code: int | None = None
        self.is_complete = False
        self.is_disconnected = False
        self.is_finished = False

    def context_values(self) -> dict[str, Any]:
        """Return the values to bind for the request's other log lines."""
        return {"entrypoint": "api", "request_id": self.request_id}

    def tenant_from_route(self) -> str | None:
        """Return the `guild_id` path parameter, present once routing matched."""
        return tenant_from_path_params(self.scope.get("path_params") or {})

    def wrap_receive(self, receive: Receive) -> Receive:
        async def receive_noting_disconnect() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not self.is_complete:
                self.is_disconnected = True
            return message

        return receive_noting_disconnect

    def wrap_send(self, send: Send, holder: OperationHolder) -> Send:
        async def send_timing_end(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                message = self._with_request_id(message)
            if kind == "http.response.start" and not self.is_finished:
                self.status_code = int(message["status"])
                self.span.set(ttfb_ms=self.span.elapsed_ms())

            await send(message)

            if _is_last_body_message(message):
                self.is_complete = True
                self.finish(holder, None)

        return send_timing_end

    def finish(self, holder: OperationHolder, error: BaseException | None) -> None:
        """Write the request's timing line once; later calls do nothing."""
        if self.is_finished:
            return
        self.is_finished = True

        self._record_outcome(error)
        self.span.set(
            method=self.scope.get("method"),
            route=route_template(self.scope, self.entry_root_path, self.entry_app),
            status_code=self.status_code,
        )
        self.span.fields["request_id"] = self.request_id
        self.span.fields["entrypoint"] = "api"
        self.span.set_tenant(holder.resolved_tenant())
        if error is not None:
            # The server logs the traceback after this request's context ended.
            remember_error_context(
                error,
                {
                    "request_id": self.request_id,
                    "tenant": self.span.fields.get("tenant"),
                    "action": "api.request",
                },
            )
        # The outcome is already recorded, so the error is not passed again.
        timed.finish(self.span)

    def _record_outcome(self, error: BaseException | None) -> None:
        if self.is_disconnected and not self.is_complete and _is_disconnect(error):
            self.status_code = CLIENT_CLOSED_STATUS
            self.span.reject("ClientDisconnect")
        elif error is not None:
            if self.status_code is None:
                self.status_code = 500
            self.span.fail(type(error).__name__)
        elif not self.is_complete:
            self.span.fail("IncompleteResponse")
        elif self.status_code is not None and self.status_code >= 500:
            self.span.fail(f"HTTP{self.status_code}")
        elif self.status_code is not None and self.status_code >= 400:
            self.span.reject(f"HTTP{self.status_code}")

    def _with_request_id(self, message: Message) -> Message:
        headers = list(message.get("headers", []))
        name = REQUEST_ID_HEADER.encode("latin-1")
        if any(key.lower() == name for key, _ in headers):
            return message

        headers.append((name, self.request_id.encode("latin-1")))
        return {**message, "headers": headers}


async def _send_server_error(
    app: object, scope: Scope, receive: Receive, send: Send, error: Exception
) -> None:
    """Send the 500 response an unhandled error gets, as Starlette would.

    Sending it here, through `send` that adds `X-Request-ID`, stops Starlette's
    `ServerErrorMiddleware` from sending its own response without the header.
    """
    if getattr(app, "debug", False):
        return

    handler = _server_error_handler(app)
    if handler is None:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_SERVER_ERROR_BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _SERVER_ERROR_BODY})
        return

    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request

    request = Request(scope)
    try:
        if inspect.iscoroutinefunction(handler):
            response = await handler(request, error)
        else:
            response = await run_in_threadpool(handler, request, error)
    except Exception:  # noqa: BLE001 - Starlette runs the handler again and logs it
        return
    await response(scope, receive, send)


def _server_error_handler(app: object) -> Any:
    """Return the handler Starlette would use for an unhandled error, or None."""
    handlers = getattr(app, "exception_handlers", None) or {}
    handler = None
    # Starlette takes the last of the keys 500 and `Exception` in dict order.
    for key, value in handlers.items():
        if key in (500, Exception):
            handler = value
    return handler


def _is_last_body_message(message: Message) -> bool:
    if message["type"] == "http.response.pathsend":
        return True
    return message["type"] == "http.response.body" and not message.get(
        "more_body", False
    )


def _is_disconnect(error: BaseException | None) -> bool:
    """Tell whether an error is how a server or framework reports a gone client."""
    if error is None or isinstance(error, (OSError, asyncio.CancelledError)):
        return True
    # Starlette's `ClientDisconnect`, matched by name to avoid importing it.
    return type(error).__name__ == "ClientDisconnect"


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None
