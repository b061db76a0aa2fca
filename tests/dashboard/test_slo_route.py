"""The reference API's live dashboard route under a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from chromium_driver import Chromium, Page
from dashboard_support import figure_specs
from helpers import EmittedLog
from integrations.logs import LogFile
from integrations.servers import ServerThread

from aggregator.dashboard import CONTENT_SECURITY_POLICY
from datadrop_timing import ManualClock
from examples.reference_app.api import build_api
from examples.reference_app.domain import DataDrop
from examples.reference_app.slo_page import (
    DEFAULT_CACHE_S,
    MAX_RENDERS,
    DashboardCache,
    bearer_token,
)

GUILD_ID = 733_000_000_000_000_042
GUILD_TOKEN = "guild-token"
ADMIN_TOKEN = "admin-token"


@contextmanager
def serving(tmp_path: Path, clock: ManualClock, logs: Path) -> Iterator[ServerThread]:
    """Serve the API with the dashboard of the `logs` folder."""
    datadrop = DataDrop(tmp_path / "state.sqlite3", clock=clock)
    app = build_api(
        datadrop,
        {GUILD_TOKEN: GUILD_ID},
        clock=clock,
        slo_logs=logs,
        admin_tokens=[ADMIN_TOKEN],
    )
    server = ServerThread(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(tmp_path: Path, emitted: EmittedLog) -> Iterator[ServerThread]:
    """The API logging to `emitted.jsonl`, with the dashboard of that folder."""
    with serving(tmp_path, emitted.clock, tmp_path) as server:
        yield server


def dashboard_cache(api: ServerThread) -> DashboardCache:
    cache: DashboardCache = api.server.config.app.state.slo_dashboard
    return cache


def get_page(api: ServerThread, token: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(
        f"{api.base_url}/internal/slo", headers=headers, params=params, timeout=60
    )


def get_with_header(api: ServerThread, authorization: bytes) -> httpx.Response:
    """Send the Authorization header as raw bytes, so any byte gets through."""
    headers = {"Authorization": authorization}
    return httpx.get(f"{api.base_url}/internal/slo", headers=headers, timeout=60)


def call_guild(api: ServerThread, path: str, *, method: str = "GET") -> None:
    headers = {"Authorization": f"Bearer {GUILD_TOKEN}"}
    url = f"{api.base_url}/guilds/{GUILD_ID}{path}"
    response = httpx.request(method, url, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


class TestAuth:
    def test_no_token_401(self, api: ServerThread) -> None:
        response = get_page(api, None)
        assert response.status_code == 401
        assert "admin token" in response.json()["detail"]

    def test_unknown_token_401(self, api: ServerThread) -> None:
        assert get_page(api, "nope").status_code == 401

    def test_guild_token_403(self, api: ServerThread) -> None:
        """A guild token grants one guild, so it may not read every tenant."""
        response = get_page(api, GUILD_TOKEN)
        assert response.status_code == 403
        assert "not a guild token" in response.json()["detail"]

    def test_admin_token_gets_page(self, api: ServerThread) -> None:
        call_guild(api, "/config")
        response = get_page(api, ADMIN_TOKEN)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["cache-control"] == "no-store"
        assert "DataDrop SLO dashboard (live)" in response.text
        assert "plotly.js v" in response.text

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer admin-tokené".encode(),
            "Bearer é".encode(),
            "Bearer \u2603".encode(),
            b"Bearer admin-token\xff",
            b"Bearer \xc3",
        ],
    )
    def test_non_ascii_token_401(
        self, api: ServerThread, emitted: EmittedLog, authorization: bytes
    ) -> None:
        """A token with any non-ASCII byte is rejected, not a server failure."""
        response = get_with_header(api, authorization)
        assert response.status_code == 401
        timing = LogFile(emitted.path).wait_for(2)
        assert sorted(line["action"] for line in timing) == ["api.auth", "api.request"]
        assert [line["outcome"] for line in timing] == ["success", "success"]
        assert [line["error_type"] for line in timing] == ["HTTP401", "HTTP401"]

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
    def test_scheme_any_case(self, api: ServerThread, scheme: str) -> None:
        """The scheme name is case-insensitive, as for any HTTP auth scheme."""
        response = get_with_header(api, f"{scheme} {ADMIN_TOKEN}".encode())
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "authorization",
        [
            ADMIN_TOKEN,
            f"Basic {ADMIN_TOKEN}",
            f"Bearer{ADMIN_TOKEN}",
            "Bearer",
            f"Token {ADMIN_TOKEN}",
        ],
    )
    def test_other_scheme_401(self, api: ServerThread, authorization: str) -> None:
        """The admin token without the Bearer scheme is not accepted."""
        response = get_with_header(api, authorization.encode())
        assert response.status_code == 401
        assert "Authorization: Bearer" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("authorization", "token"),
        [
            ("Bearer abc", "abc"),
            ("bearer  abc ", "abc"),
            (" BEARER abc", "abc"),
            ("Bearer ", None),
            ("Bearer", None),
            ("abc", None),
            ("Basic abc", None),
            ("", None),
            (None, None),
        ],
    )
    def test_bearer_token_parsed(
        self, authorization: str | None, token: str | None
    ) -> None:
        assert bearer_token(authorization) == token

    def test_auth_attempts_timed(self, api: ServerThread, emitted: EmittedLog) -> None:
        """The admin check writes `api.auth` lines like the guild check."""
        get_page(api, GUILD_TOKEN)
        auth = [line for line in emitted.timing() if line["action"] == "api.auth"]
        assert len(auth) == 1
        assert auth[0]["error_type"] == "HTTP403"


class TestContent:
    def test_page_shows_api_traffic(self, api: ServerThread) -> None:
        """The API's own timing lines show up as actions on the page."""
        for _ in range(3):
            call_guild(api, "/config")
        page = get_page(api, ADMIN_TOKEN).text
        assert 'data-status="few events"' in page
        assert '<td class="text">config.get</td>' in page
        assert '<td class="text">api.auth</td>' in page
        assert len(figure_specs(page)) > 3

    def test_invalid_since_422(self, api: ServerThread) -> None:
        response = get_page(api, ADMIN_TOKEN, since="90x")
        assert response.status_code == 422
        assert "'90x'" in response.json()["detail"]

    def test_empty_logs_page(self, tmp_path: Path, emitted: EmittedLog) -> None:
        """A log file without timing lines yet gives a notice page, not an error."""
        quiet = tmp_path / "quiet"
        quiet.mkdir()
        (quiet / "api.jsonl").write_text("", encoding="utf-8")
        with serving(tmp_path, emitted.clock, quiet) as server:
            response = get_page(server, ADMIN_TOKEN)
        assert response.status_code == 200
        assert 'id="no-events"' in response.text

    def test_missing_logs_503(self, tmp_path: Path, emitted: EmittedLog) -> None:
        """A logs folder that does not exist is a server fault, named in the reply."""
        missing = tmp_path / "missing"
        with serving(tmp_path, emitted.clock, missing) as server:
            response = get_page(server, ADMIN_TOKEN)
        assert response.status_code == 503
        assert str(missing) in response.json()["detail"]


class TestCache:
    def test_reload_reads_logs_once(
        self, api: ServerThread, emitted: EmittedLog
    ) -> None:
        """Within the cache time a reload is served without reading the logs."""
        call_guild(api, "/config")
        first = get_page(api, ADMIN_TOKEN).text
        call_guild(api, "/reset/plan", method="POST")
        second = get_page(api, ADMIN_TOKEN).text
        assert second == first
        assert "reset.plan" not in second
        assert dashboard_cache(api).renders == 1

        emitted.clock.advance(ms=DEFAULT_CACHE_S * 1000 + 1)
        third = get_page(api, ADMIN_TOKEN).text
        assert '<td class="text">reset.plan</td>' in third
        assert dashboard_cache(api).renders == 2

    def test_cached_per_range(self, api: ServerThread) -> None:
        call_guild(api, "/config")
        get_page(api, ADMIN_TOKEN, since="1h")
        get_page(api, ADMIN_TOKEN, since="2h")
        get_page(api, ADMIN_TOKEN, since="1h")
        assert dashboard_cache(api).renders == 2


class TestBusy:
    def test_many_ranges_leave_api_free(
        self, api: ServerThread, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """45 ranges at once: two render, the rest get 503, /health still answers."""
        cache = dashboard_cache(api)
        gate = threading.Event()

        def slow_render(since: str) -> str:
            gate.wait(20)
            return f"page for {since}"

        monkeypatch.setattr(cache, "_render", slow_render)
        with ThreadPoolExecutor(max_workers=45) as pool:
            futures = [
                pool.submit(get_page, api, ADMIN_TOKEN, since=f"{minutes}m")
                for minutes in range(1, 46)
            ]
            busy = [
                future.result(timeout=20)
                for future in futures
                if not _is_rendering(future)
            ]
            health = httpx.get(f"{api.base_url}/health", timeout=10)
            rendering_after_health = sum(not future.done() for future in futures)
            gate.set()
            statuses = sorted(
                future.result(timeout=20).status_code for future in futures
            )

        assert health.status_code == 200
        # /health answered while both renders were still held at the gate.
        assert rendering_after_health == MAX_RENDERS
        assert statuses == [200] * MAX_RENDERS + [503] * (45 - MAX_RENDERS)
        assert all(
            response.headers["retry-after"] == "5"
            for response in busy
            if response.status_code == 503
        )
        assert "renders are running" in busy[0].json()["detail"]


def _is_rendering(future: Future[httpx.Response]) -> bool:
    """Wait briefly: a request rejected as busy is answered at once."""
    try:
        future.result(timeout=2)
    except TimeoutError:
        return True
    return False


def test_live_page_in_chromium(
    api: ServerThread, browser: Chromium, artifacts: Path
) -> None:
    """Chromium with the admin header draws the served page, network cut."""
    for _ in range(3):
        call_guild(api, "/config")
    url = f"{api.base_url}/internal/slo"
    page = Page(browser)
    try:
        page.send(
            "Network.setExtraHTTPHeaders",
            {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}},
        )
        page.open(url)
        drawn = page.wait_until("document.body.getAttribute('data-charts-drawn')")
        page.screenshot(artifacts / "dashboard-live.png")
        log = page.log()
    finally:
        page.close()
    assert int(drawn) >= 4
    assert log.errors == []
    assert log.requests == [url]
