"""The reference API's live SLO dashboard: `GET /internal/slo?since=24h`.

The page is the one `datadrop-slo report --format html` writes, computed from
the API's logs folder on request. It shows every tenant, so it needs an admin
token: a guild token gets 403. A rendered page is kept for `cache_s` seconds
per range, so reloading the page does not re-read all logs. Each range renders
once at a time, so a burst of reloads reads the logs once, and a few ranges
render at once at most, so the route answers 503 before it takes every worker
thread of the API.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import Response

from aggregator.dashboard import CONTENT_SECURITY_POLICY, build_dashboard
from aggregator.dashboard_data import DashboardOptions
from aggregator.errors import AggregatorError, InvalidOptionError
from aggregator.slo_config import SloConfig
from aggregator.timerange import (
    build_range,
    format_instant,
    parse_bound,
    parse_duration,
)
from datadrop_timing import Clock
from datadrop_timing.fastapi_auth import timed_auth

ROUTE = "/internal/slo"

DEFAULT_CACHE_S = 30.0

# Each distinct range keeps a page of about 5 MB; the oldest goes first.
MAX_CACHED_PAGES = 8

# A render reads the logs and holds them in memory, so only this many ranges
# render at once. Up to `MAX_WAITING` requests for a range already rendering
# wait for its page. Past either limit the route answers 503, so the page
# holds at most MAX_RENDERS * (1 + MAX_WAITING) of the API's worker threads.
MAX_RENDERS = 2
MAX_WAITING = 4
RETRY_AFTER_S = 5

_log = logging.getLogger("datadrop.api.slo_page")


class DashboardBusyError(Exception):
    """Raised when a page would need a render and none may start now."""


@dataclass(frozen=True, slots=True)
class _CachedPage:
    body: bytes
    rendered_ns: int


@dataclass(slots=True)
class _Render:
    """One range's render: its lock and the requests that hold or await it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0


class DashboardCache:
    """Render the dashboard from a logs folder, keeping each page `cache_s` seconds.

    Thread-safe: FastAPI runs the sync route in a thread pool. A cached page is
    returned without waiting for any render. One render runs per range, and
    the requests for that range that arrive meanwhile wait for its page.
    Equal ranges share one page: `24h`, `1d` and `86400s` are one range.
    """

    def __init__(
        self,
        logs: Path,
        config: SloConfig,
        clock: Clock,
        cache_s: float,
        *,
        max_renders: int = MAX_RENDERS,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.logs = logs
        self.config = config
        self.clock = clock
        self.cache_ns = int(cache_s * 1e9)
        self.max_renders = max_renders
        self.max_waiting = max_waiting
        self.renders = 0
        self._pages: OrderedDict[str, _CachedPage] = OrderedDict()
        # Guards `_pages`, `_rendering` and `renders`, never held during a render.
        self._lock = threading.Lock()
        self._rendering: dict[str, _Render] = {}

    def page(self, since: str) -> bytes:
        """Return the page for events in `(now - since, now]`, cached or new.

        Raises:
            InvalidOptionError: `since` is not a duration or timestamp.
            InputError: the logs folder is missing or unreadable.
            DashboardBusyError: `max_renders` other ranges are rendering, or
                `max_waiting` requests already wait for this range's render.
        """
        key = range_key(since, self.clock.now())
        cached = self._cached(key)
        if cached is not None:
            return cached

        render = self._claim_render(key)
        try:
            with render.lock:
                # A request that waited finds the page the render stored.
                cached = self._cached(key)
                if cached is not None:
                    return cached
                return self._render_and_store(key, since)
        finally:
            self._release_render(key, render)

    def _cached(self, key: str) -> bytes | None:
        with self._lock:
            cached = self._pages.get(key)
            now_ns = self.clock.monotonic_ns()
            if cached is not None and now_ns - cached.rendered_ns < self.cache_ns:
                return cached.body
            return None

    def _claim_render(self, key: str) -> _Render:
        """Join the render of this range, or start one; raise if too busy."""
        with self._lock:
            render = self._rendering.get(key)
            if render is None:
                if len(self._rendering) >= self.max_renders:
                    msg = f"{len(self._rendering)} dashboard renders are running"
                    raise DashboardBusyError(msg)
                render = self._rendering[key] = _Render()
            elif render.requests > self.max_waiting:
                msg = f"{render.requests - 1} requests wait for the same render"
                raise DashboardBusyError(msg)
            render.requests += 1
            return render

    def _release_render(self, key: str, render: _Render) -> None:
        with self._lock:
            render.requests -= 1
            if render.requests == 0:
                del self._rendering[key]

    def _render_and_store(self, key: str, since: str) -> bytes:
        body = self._render(since).encode("utf-8")
        # The page's age starts when its render ends, so a render longer than
        # `cache_s` still serves the reloads that follow it.
        page = _CachedPage(body, self.clock.monotonic_ns())
        with self._lock:
            self.renders += 1
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > MAX_CACHED_PAGES:
                self._pages.popitem(last=False)
        return body

    def _render(self, since: str) -> str:
        now = self.clock.now()
        time_range = build_range(since, format_instant(now), now)
        return build_dashboard(
            [self.logs],
            self.config,
            DashboardOptions(),
            time_range,
            title="DataDrop SLO dashboard (live)",
        )


def range_key(since: str, now: datetime) -> str:
    """Name the range `since` selects, equal for equal durations or instants.

    Raises:
        InvalidOptionError: `since` is neither a duration nor a timestamp.
    """
    try:
        return f"last {parse_duration(since)}"
    except InvalidOptionError:
        return f"since {format_instant(parse_bound(since, now))}"


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header, or None.

    The scheme name is case-insensitive, as for every HTTP authentication
    scheme; a header without a scheme, or with another one, gives None.
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def check_admin_token(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Accept an admin bearer token; raise 401 for none, 403 for a guild token."""
    token = bearer_token(authorization)
    if token is None:
        raise HTTPException(status_code=401, detail=MISSING_TOKEN)

    # compare_digest takes str only when it is ASCII, so compare UTF-8 bytes.
    given = token.encode("utf-8", errors="surrogatepass")
    admin_tokens: Collection[bytes] = request.app.state.admin_tokens
    if any(secrets.compare_digest(given, admin) for admin in admin_tokens):
        return

    if token in request.app.state.tokens:
        detail = "this page shows every tenant: use an admin token, not a guild token"
        raise HTTPException(status_code=403, detail=detail)
    raise HTTPException(status_code=401, detail=MISSING_TOKEN)


MISSING_TOKEN = (
    "missing or invalid admin token: send the header Authorization: Bearer <token>"
)


def install_slo_page(
    app: FastAPI,
    *,
    logs: Path,
    admin_tokens: Collection[str],
    clock: Clock,
    config: SloConfig | None = None,
    cache_s: float = DEFAULT_CACHE_S,
) -> DashboardCache:
    """Add `GET /internal/slo` to the app, reading the logs in `logs`.

    The returned cache is also `app.state.slo_dashboard`.

    Raises:
        ValueError: no admin token is given, or one is empty.
    """
    if not admin_tokens or not all(admin_tokens):
        # The tokens are secrets, so the message does not show them.
        msg = "admin_tokens must contain one or more non-empty bearer tokens"
        raise ValueError(msg)

    app.state.admin_tokens = frozenset(token.encode("utf-8") for token in admin_tokens)
    cache = DashboardCache(logs, config or SloConfig(), clock, cache_s)
    app.state.slo_dashboard = cache
    admin: Any = Depends(timed_auth(check_admin_token, clock=clock))

    @app.get(ROUTE, dependencies=[admin])
    def slo_page(since: str = "24h") -> Response:
        try:
            body = cache.page(since)
        except InvalidOptionError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        except DashboardBusyError as error:
            _log.warning("slo_page_busy", extra={"error": str(error)})
            detail = f"{error}: retry in {RETRY_AFTER_S} s"
            retry = {"Retry-After": str(RETRY_AFTER_S)}
            raise HTTPException(503, detail=detail, headers=retry) from None
        except AggregatorError as error:
            _log.error("slo_page_failed", extra={"error": str(error)})
            raise HTTPException(status_code=503, detail=str(error)) from None

        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        }
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    return cache
