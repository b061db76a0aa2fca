"""The reference DataDrop API: token auth and protected config, verification
and reset operations, timed by `TimingMiddleware` and `timed_auth`."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from datadrop_timing import Clock, set_tenant
from datadrop_timing.asgi import TimingMiddleware
from datadrop_timing.fastapi_auth import timed_auth

from .domain import ConfigValidationError, DataDrop
from .slo_page import install_slo_page

_log = logging.getLogger("datadrop.api")


class ConfigUpdate(BaseModel):
    """The body of `PUT /guilds/{guild_id}/config`."""

    key: str
    value: str


def check_token(
    guild_id: int,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> int:
    """Return the guild the bearer token grants, or raise 401/403."""
    set_tenant(guild_id)
    token = (authorization or "").removeprefix("Bearer ").strip()
    datadrop: DataDrop = request.app.state.datadrop
    granted = datadrop.check_token(token, request.app.state.tokens)
    if granted is None:
        raise HTTPException(status_code=401, detail="missing or invalid token")
    if granted != guild_id:
        raise HTTPException(status_code=403, detail="token not valid for this guild")
    return guild_id


def build_api(
    datadrop: DataDrop,
    tokens: dict[str, int],
    *,
    clock: Clock,
    slo_logs: Path | None = None,
    admin_tokens: Collection[str] = (),
) -> FastAPI:
    """Build the API; `tokens` maps each bearer token to the guild it grants.

    With `slo_logs`, `GET /internal/slo` serves the SLO dashboard of that
    logs folder to holders of one of `admin_tokens`.
    """
    app = FastAPI()
    app.state.tokens = tokens
    app.state.datadrop = datadrop
    app.add_middleware(TimingMiddleware, clock=clock)
    # A default value, not an annotation, so that it can use `clock`.
    authorized: Any = Depends(timed_auth(check_token, clock=clock))

    @app.exception_handler(sqlite3.OperationalError)
    async def storage_unavailable(
        request: Request, error: sqlite3.OperationalError
    ) -> JSONResponse:
        _log.error("storage_error", extra={"error_type": type(error).__name__})
        return JSONResponse({"detail": "storage unavailable"}, status_code=503)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/guilds/{guild_id}/config")
    def get_config(guild_id: int = authorized) -> dict[str, str]:
        return datadrop.get_config(guild_id)

    @app.put("/guilds/{guild_id}/config")
    def update_config(
        update: ConfigUpdate, guild_id: int = authorized
    ) -> dict[str, str]:
        try:
            datadrop.update_config(guild_id, update.key, update.value)
        except ConfigValidationError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return datadrop.get_config(guild_id)

    @app.get("/guilds/{guild_id}/verification/{member_key}")
    def verification_status(
        member_key: str, guild_id: int = authorized
    ) -> dict[str, Any]:
        state = datadrop.member_state(guild_id, member_key)
        if state is None:
            raise HTTPException(status_code=404, detail="member not found")
        return {"state": state}

    @app.post("/guilds/{guild_id}/reset/plan")
    def reset_plan(guild_id: int = authorized) -> dict[str, int]:
        return {"member_count": len(datadrop.plan_reset(guild_id))}

    @app.post("/guilds/{guild_id}/reset/execute")
    def reset_execute(guild_id: int = authorized) -> dict[str, int]:
        return {"member_count": datadrop.execute_reset(guild_id)}

    if slo_logs is not None:
        install_slo_page(app, logs=slo_logs, admin_tokens=admin_tokens, clock=clock)
    return app
