"""The reference API's live SLO dashboard: `GET /internal/slo?since=24h`.

The page is the one `datadrop-slo report --format html` writes, computed from
the API's logs folder on request. It shows every tenant, so it needs an admin
token: a guild token gets 403. A rendered page is kept for `cache_s` seconds
per `since` value, so reloading the page does not re-read all logs, and one
render runs at a time, so a burst of reloads reads the logs once.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import Response

from aggregator.dashboard import CONTENT_SECURITY_POLICY, build_dashboard
from aggregator.dashboard_data import DashboardOptions
from aggregator.errors import AggregatorError, InvalidOptionError
from aggregator.slo_config import SloConfig
from aggregator.timerange import build_range, format_instant
from datadrop_timing import Clock
from datadrop_timing.fastapi_auth import timed_auth

ROUTE = "/internal/slo"

DEFAULT_CACHE_S = 30.0

# Each distinct `since` value keeps a page of about 5 MB; the oldest goes first.
MAX_CACHED_PAGES = 8

_log = logging.getLogger("datadrop.api.slo_page")


@dataclass(frozen=True, slots=True)
class _CachedPage:
    body: bytes
    rendered_ns: int


class DashboardCache:
    """Render the dashboard from a logs folder, keeping each page `cache_s` seconds.

    Thread-safe: FastAPI runs the sync route in a thread pool, and a lock makes
    concurrent requests wait for one render instead of each reading the logs.
    """

    def __init__(
        self, logs: Path, config: SloConfig, clock: Clock, cache_s: float
    ) -> None:
        self.logs = logs
        self.config = config
        self.clock = clock
        self.cache_ns = int(cache_s * 1e9)
        self.renders = 0
        self._pages: OrderedDict[str, _CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, since: str) -> bytes:
        """Return the page for events in `(now - since, now]`, cached or new.

        Raises:
            InvalidOptionError: `since` is not a duration or timestamp.
            InputError: the logs folder is missing or unreadable.
        """
        with self._lock:
            now_ns = self.clock.monotonic_ns()
            cached = self._pages.get(since)
            if cached is not None and now_ns - cached.rendered_ns < self.cache_ns:
                return cached.body

            body = self._render(since).encode("utf-8")
            self._pages[since] = _CachedPage(body, now_ns)
            self._pages.move_to_end(since)
            while len(self._pages) > MAX_CACHED_PAGES:
                self._pages.popitem(last=False)
            return body

    def _render(self, since: str) -> str:
        now = self.clock.now()
        time_range = build_range(since, format_instant(now), now)
        self.renders += 1
        return build_dashboard(
            [self.logs],
            self.config,
            DashboardOptions(),
            time_range,
            title="DataDrop SLO dashboard (live)",
        )


def check_admin_token(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Accept an admin bearer token; raise 401 for none, 403 for a guild token."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    admin_tokens: Collection[str] = request.app.state.admin_tokens
    if token and any(secrets.compare_digest(token, admin) for admin in admin_tokens):
        return

    if token in request.app.state.tokens:
        detail = "this page shows every tenant: use an admin token, not a guild token"
        raise HTTPException(status_code=403, detail=detail)
    raise HTTPException(status_code=401, detail="missing or invalid admin token")


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

    app.state.admin_tokens = frozenset(admin_tokens)
    cache = DashboardCache(logs, config or SloConfig(), clock, cache_s)
    app.state.slo_dashboard = cache
    admin: Any = Depends(timed_auth(check_admin_token, clock=clock))

    @app.get(ROUTE, dependencies=[admin])
    def slo_page(since: str = "24h") -> Response:
        try:
            body = cache.page(since)
        except InvalidOptionError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        except AggregatorError as error:
            _log.error("slo_page_failed", extra={"error": str(error)})
            raise HTTPException(status_code=503, detail=str(error)) from None

        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        }
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)

    return cache
