"""A FastAPI app that stages the HTTP failure cases the middleware must handle.

Durations that tests check exactly come from a `ManualClock` that the routes
advance, so no test depends on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    WebSocket,
)
from fastapi.responses import JSONResponse, StreamingResponse

from datadrop_timing import ManualClock, current_context, set_tenant, timed
from datadrop_timing.asgi import TimingMiddleware
from datadrop_timing.fastapi_auth import timed_auth

_log = logging.getLogger("case_app")

CHUNK_COUNT = 5
CHUNK_INTERVAL_MS = 400.0
BACKGROUND_MS = 3000.0
CRASH_MS = 25.0


def build_case_app(clock: ManualClock, *, with_timing: bool = True) -> FastAPI:
    """Build the app; `with_timing=False` leaves the middleware out."""
    lifecycle: dict[str, bool] = {"started": False, "stopped": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        lifecycle["started"] = True
        yield
        lifecycle["stopped"] = True

    app = FastAPI(lifespan=lifespan)
    app.state.lifecycle = lifecycle
    if with_timing:
        app.add_middleware(TimingMiddleware, clock=clock)

    _add_outcome_routes(app, clock)
    _add_template_routes(app)
    _add_streaming_routes(app, clock)
    _add_websocket_routes(app)
    _add_tenant_variant_routes(app)
    _add_guild_routes(app, clock)
    return app


def _add_outcome_routes(app: FastAPI, clock: ManualClock) -> None:
    @app.get("/tenants/{guild_id}/crash")
    async def crash(guild_id: int) -> None:
        clock.advance(ms=CRASH_MS)
        raise RuntimeError("staged crash")

    @app.get("/tenants/{guild_id}/missing")
    async def missing(guild_id: int) -> None:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/tenants/{guild_id}/fail")
    async def fail(guild_id: int) -> JSONResponse:
        return JSONResponse({"detail": "storage down"}, status_code=500)

    @app.get("/tenants/{guild_id}/ok")
    async def ok(guild_id: int) -> dict[str, Any]:
        return {"request_id": current_context().get("request_id")}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}


def _add_template_routes(app: FastAPI) -> None:
    @app.get("/tenants/{guild_id}/stats")
    async def stats(guild_id: int) -> dict[str, int]:
        return {"guild_id": guild_id}

    items = APIRouter()

    @items.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    sub_app = FastAPI()
    sub_app.include_router(items)
    app.mount("/api/v1", sub_app)

    # Mount parameters with convertors: the raw segment (`007`, an upper-case
    # UUID) differs from the text of the converted value.
    leaf_app = FastAPI()

    @leaf_app.get("/leaf")
    async def leaf() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/m/{n:int}", leaf_app)
    app.mount("/u/{id:uuid}", leaf_app)


def _add_streaming_routes(app: FastAPI, clock: ManualClock) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(CHUNK_COUNT):
            clock.advance(ms=CHUNK_INTERVAL_MS)
            await asyncio.sleep(0)
            yield f"chunk {index}\n".encode()

    async def slow_chunks() -> AsyncIterator[bytes]:
        for index in range(50):
            await asyncio.sleep(0.05)
            yield f"chunk {index}\n".encode() * 100

    async def broken_chunks() -> AsyncIterator[bytes]:
        for index in range(3):
            yield f"chunk {index}\n".encode()
        raise ValueError("staged failure mid-stream")

    @app.get("/export")
    async def export() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/export/slow")
    async def export_slow() -> StreamingResponse:
        return StreamingResponse(slow_chunks(), media_type="text/plain")

    @app.get("/export/broken")
    async def export_broken() -> StreamingResponse:
        return StreamingResponse(broken_chunks(), media_type="text/plain")

    def advance_clock_in_background() -> None:
        clock.advance(ms=BACKGROUND_MS)

    @app.post("/notify", status_code=202)
    async def notify(background: BackgroundTasks) -> dict[str, str]:
        background.add_task(advance_clock_in_background)
        return {"status": "queued"}


def _add_websocket_routes(app: FastAPI) -> None:
    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        for _ in range(3):
            text = await websocket.receive_text()
            await websocket.send_text(f"echo {text}")
        await websocket.close()

    @app.websocket("/ws/rejected")
    async def rejected(websocket: WebSocket) -> None:
        await websocket.close(code=1008)


def _tenant_header_sync(x_tenant_id: Annotated[str, Header()]) -> str:
    set_tenant(x_tenant_id)
    return x_tenant_id


async def _tenant_header_async(x_tenant_id: Annotated[str, Header()]) -> str:
    set_tenant(x_tenant_id)
    return x_tenant_id


# Module-level aliases: FastAPI resolves these string annotations from the
# module's globals, so they cannot be local to the function below.
SyncTenant = Annotated[str, Depends(_tenant_header_sync)]
AsyncTenant = Annotated[str, Depends(_tenant_header_async)]


def _add_tenant_variant_routes(app: FastAPI) -> None:
    @app.get("/variants/async-dep-async-route/stats")
    async def async_async(tenant: AsyncTenant) -> dict[str, str]:
        _log.info("variant_handled")
        return {"tenant": tenant}

    @app.get("/variants/sync-dep-async-route/stats")
    async def sync_async(tenant: SyncTenant) -> dict[str, str]:
        _log.info("variant_handled")
        return {"tenant": tenant}

    @app.get("/variants/async-dep-sync-route/stats")
    def async_sync(tenant: AsyncTenant) -> dict[str, str]:
        _log.info("variant_handled")
        return {"tenant": tenant}

    @app.get("/variants/sync-dep-sync-route/stats")
    def sync_sync(tenant: SyncTenant) -> dict[str, str]:
        _log.info("variant_handled")
        return {"tenant": tenant}

    @app.get("/variants/sync-route-sets-tenant/stats")
    def route_sets_tenant(x_tenant_id: Annotated[str, Header()]) -> dict[str, str]:
        set_tenant(x_tenant_id)
        _log.info("variant_handled")
        return {"tenant": x_tenant_id}


def _check_guild_token(guild_id: int, authorization: Annotated[str, Header()]) -> int:
    """Accept the token `ok`; never calls `set_tenant()`."""
    _log.info("auth_checked")
    if authorization != "ok":
        raise HTTPException(status_code=401, detail="invalid token")
    return guild_id


def _add_guild_routes(app: FastAPI, clock: ManualClock) -> None:
    authorized: Any = Depends(timed_auth(_check_guild_token, clock=clock))

    @app.get("/guilds/{guild_id}/config")
    def guild_config(guild_id: int = authorized) -> dict[str, int]:
        _log.info("config_read")
        with timed("config.get", clock=clock):
            return {"guild_id": guild_id}
