"""`TimingMiddleware` under a real uvicorn server on 127.0.0.1, called with httpx."""

from __future__ import annotations

import itertools
import re
import time

import httpx
import pytest

from datadrop_timing import ManualClock

from .case_app import (
    BACKGROUND_MS,
    CHUNK_COUNT,
    CHUNK_INTERVAL_MS,
    CRASH_MS,
    build_case_app,
)
from .conftest import CLOCK_START
from .logs import LogFile
from .servers import ServerThread

# Each test uses its own guild ids, so lines of other tests never match.
_guild_ids = itertools.count(700_000_000_000_000_100)


def _guild_id() -> str:
    return str(next(_guild_ids))


@pytest.fixture
def client(case_server: ServerThread) -> httpx.Client:
    with httpx.Client(base_url=case_server.base_url, timeout=10.0) as http:
        yield http


class TestRouteTemplates:
    def test_distinct_ids_share_template(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """Fifty raw paths with different ids give one route template."""
        for guild_id in range(1000, 1050):
            assert client.get(f"/tenants/{guild_id}/stats").status_code == 200

        lines = log_file.wait_for(50)
        routes = {line["route"] for line in lines}
        assert len(lines) == 50
        assert routes == {"/tenants/{guild_id}/stats"}
        assert {line["method"] for line in lines} == {"GET"}
        assert {line["action"] for line in lines} == {"api.request"}
        assert sorted(line["tenant"] for line in lines) == [
            str(guild_id) for guild_id in range(1000, 1050)
        ]

    def test_unmatched_paths_share_bucket(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """Scanner paths are counted under `<unmatched>` and never written raw."""
        scanner_paths = [
            "/wp-login.php",
            "/.env",
            "/admin/config.php",
            "/tenants/111/stats/extra",
        ]
        for path in scanner_paths:
            assert client.get(path).status_code == 404

        lines = log_file.wait_for(4)
        raw_text = log_file.path.read_text(encoding="utf-8")
        assert [line["route"] for line in lines] == ["<unmatched>"] * 4
        assert [line["status_code"] for line in lines] == [404] * 4
        assert [line["outcome"] for line in lines] == ["success"] * 4
        assert [line["error_type"] for line in lines] == ["HTTP404"] * 4
        for path in scanner_paths:
            assert path not in raw_text

    def test_wrong_method_keeps_template(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """A 405 is written under the template of the route that matched the path."""
        assert client.post("/tenants/111/stats").status_code == 405

        (line,) = log_file.wait_for(1)
        assert line["route"] == "/tenants/{guild_id}/stats"
        assert line["method"] == "POST"
        assert line["status_code"] == 405
        assert line["error_type"] == "HTTP405"

    def test_mounted_route_has_full_template(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """A route of a mounted sub-app keeps the mount prefix in its template."""
        for item_id in range(10):
            assert client.get(f"/api/v1/items/{item_id}").status_code == 200

        lines = log_file.wait_for(10)
        assert [line["route"] for line in lines] == ["/api/v1/items/{item_id}"] * 10

    @pytest.mark.parametrize(
        ("path", "route"),
        [
            ("/m/007/leaf", "/m/{n}/leaf"),
            ("/m/7/leaf", "/m/{n}/leaf"),
            (
                "/u/6F9619FF-8B86-D011-B42D-00C04FC964FF/leaf",
                "/u/{id}/leaf",
            ),
            ("/docs", "/docs"),
            ("/openapi.json", "/openapi.json"),
        ],
    )
    def test_convertor_and_plain_routes(
        self, client: httpx.Client, log_file: LogFile, path: str, route: str
    ) -> None:
        """Mount convertors and FastAPI's own plain routes give their template."""
        assert client.get(path).status_code == 200

        (line,) = log_file.wait_for(1)
        assert line["route"] == route

    def test_health_route_excluded(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """Requests to the health route write no timing line."""
        assert client.get("/health").status_code == 200
        assert client.get(f"/tenants/{_guild_id()}/ok").status_code == 200

        lines = log_file.wait_for(2, timeout_s=1.0)
        assert [line["route"] for line in lines] == ["/tenants/{guild_id}/ok"]


class TestOutcomes:
    def test_unhandled_exception_is_failure(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """A route that raises gives a 500 failure line and still logs the traceback."""
        guild_id = _guild_id()
        response = client.get(f"/tenants/{guild_id}/crash")
        assert response.status_code == 500
        assert response.text == "Internal Server Error"

        (line,) = log_file.wait_for(1)
        assert response.headers["x-request-id"] == line["request_id"]
        assert line["outcome"] == "failure"
        assert line["error_type"] == "RuntimeError"
        assert line["status_code"] == 500
        assert line["duration_ms"] == CRASH_MS
        assert line["route"] == "/tenants/{guild_id}/crash"
        assert line["tenant"] == guild_id
        assert line["level"] == "warning"

        server_errors = log_file.wait_for(
            1,
            where=lambda entry: (
                entry.get("logger") == "uvicorn.error" and entry["level"] == "error"
            ),
            timing_only=False,
        )
        assert len(server_errors) == 1
        assert "staged crash" in server_errors[0]["exception"]["traceback"]
        assert server_errors[0]["request_id"] == line["request_id"]
        assert server_errors[0]["tenant"] == guild_id

    @pytest.mark.parametrize(
        ("path", "status_code", "outcome", "error_type"),
        [
            ("missing", 404, "success", "HTTP404"),
            ("fail", 500, "failure", "HTTP500"),
            ("ok", 200, "success", None),
        ],
    )
    def test_status_sets_outcome(
        self,
        client: httpx.Client,
        log_file: LogFile,
        path: str,
        status_code: int,
        outcome: str,
        error_type: str | None,
    ) -> None:
        """5xx responses are failures and 4xx responses are client errors."""
        guild_id = _guild_id()
        assert client.get(f"/tenants/{guild_id}/{path}").status_code == status_code

        (line,) = log_file.wait_for(1)
        assert line["status_code"] == status_code
        assert line["outcome"] == outcome
        assert line.get("error_type") == error_type
        assert line["route"] == f"/tenants/{{guild_id}}/{path}"
        assert line["tenant"] == guild_id
        assert line["entrypoint"] == "api"


class TestStreaming:
    def test_stream_timed_to_last_byte(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """A streamed body is timed until its last chunk, not its headers."""
        response = client.get("/export")
        assert response.text.count("chunk") == CHUNK_COUNT

        (line,) = log_file.wait_for(1)
        assert line["duration_ms"] == CHUNK_COUNT * CHUNK_INTERVAL_MS
        assert line["ttfb_ms"] == 0.0
        assert line["outcome"] == "success"

    def test_background_task_excluded(
        self, client: httpx.Client, log_file: LogFile, case_clock: ManualClock
    ) -> None:
        """A background task that runs after the body is not part of the duration."""
        before = case_clock.now()
        assert client.post("/notify").status_code == 202

        (line,) = log_file.wait_for(1)
        deadline = time.monotonic() + 5
        while (case_clock.now() - before).total_seconds() * 1000 < BACKGROUND_MS:
            assert time.monotonic() < deadline, "the background task never ran"
            time.sleep(0.01)
        assert line["duration_ms"] == 0.0
        assert line["status_code"] == 202

    def test_client_disconnect_recorded(
        self, case_server: ServerThread, log_file: LogFile
    ) -> None:
        """A client that leaves mid-stream gives one 499 line, not a 200."""
        with httpx.Client(base_url=case_server.base_url) as http:
            with http.stream("GET", "/export/slow") as response:
                chunks = response.iter_raw()
                next(chunks)
                next(chunks)

        (line,) = log_file.wait_for(1)
        assert line["status_code"] == 499
        assert line["error_type"] == "ClientDisconnect"
        assert line["outcome"] == "success"

    def test_error_mid_stream_is_failure(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """A body that raises after a 200 status line is still a failure."""
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/export/broken")

        (line,) = log_file.wait_for(1)
        assert line["outcome"] == "failure"
        assert line["error_type"] == "ValueError"
        assert line["status_code"] == 200


class TestRequestId:
    def test_valid_request_id_honoured(
        self, client: httpx.Client, log_file: LogFile
    ) -> None:
        """A well-formed X-Request-ID is used on the line, in the app and returned."""
        response = client.get(
            f"/tenants/{_guild_id()}/ok", headers={"X-Request-ID": "req-42.A_b"}
        )

        (line,) = log_file.wait_for(1)
        assert response.headers["x-request-id"] == "req-42.A_b"
        assert response.json()["request_id"] == "req-42.A_b"
        assert line["request_id"] == "req-42.A_b"

    @pytest.mark.parametrize(
        "incoming",
        ["x" * 65, "bad id", "semi;colon", "", "caf\u00e9"],
    )
    def test_invalid_request_id_replaced(
        self, client: httpx.Client, log_file: LogFile, incoming: str
    ) -> None:
        """An unsafe X-Request-ID is replaced by a new 32-hex id."""
        response = client.get(
            f"/tenants/{_guild_id()}/ok",
            headers={"X-Request-ID": incoming.encode("utf-8")},
        )

        (line,) = log_file.wait_for(1)
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
        assert response.headers["x-request-id"] == line["request_id"]
        assert response.json()["request_id"] == line["request_id"]


class TestTenantFromThreads:
    @pytest.mark.parametrize(
        "variant",
        [
            "async-dep-async-route",
            "sync-dep-async-route",
            "async-dep-sync-route",
            "sync-dep-sync-route",
            "sync-route-sets-tenant",
        ],
    )
    def test_tenant_reaches_request_line(
        self, client: httpx.Client, log_file: LogFile, variant: str
    ) -> None:
        """`set_tenant()` in sync or async code reaches the request's line."""
        tenant = "700000000000000004"
        response = client.get(
            f"/variants/{variant}/stats", headers={"X-Tenant-Id": tenant}
        )
        assert response.status_code == 200

        (line,) = log_file.wait_for(1)
        assert line["tenant"] == tenant
        (handled,) = [
            entry
            for entry in log_file.lines()
            if entry.get("event") == "variant_handled"
        ]
        assert handled["tenant"] == tenant
        assert handled["request_id"] == line["request_id"]


class TestTenantFromPath:
    @pytest.mark.parametrize(("token", "status"), [("ok", 200), ("wrong", 401)])
    def test_every_line_has_path_tenant(
        self, client: httpx.Client, log_file: LogFile, token: str, status: int
    ) -> None:
        """The `guild_id` tenant reaches auth, domain and ordinary lines."""
        guild_id = _guild_id()
        response = client.get(
            f"/guilds/{guild_id}/config", headers={"Authorization": token}
        )
        assert response.status_code == status

        (request,) = log_file.wait_for(
            1, where=lambda line: line["action"] == "api.request"
        )
        lines = [
            line
            for line in log_file.lines()
            if line.get("request_id") == request["request_id"]
        ]
        events = sorted(line.get("action", line["event"]) for line in lines)
        expected = ["api.auth", "api.request", "auth_checked"]
        if status == 200:
            expected = sorted([*expected, "config.get", "config_read"])
        assert events == expected
        for line in lines:
            assert line["tenant"] == guild_id, line


class TestOtherScopes:
    def test_websocket_and_lifespan_pass_through(self, log_file: LogFile) -> None:
        """Lifespan and websockets work under the middleware and write no lines."""
        # uvicorn serves websockets only with the `websockets` package installed.
        pytest.importorskip("websockets")
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        app = build_case_app(ManualClock(CLOCK_START))
        server = ServerThread(app)
        server.start()
        assert app.state.lifecycle == {"started": True, "stopped": False}

        ws_url = f"ws://127.0.0.1:{server.port}"
        with connect(f"{ws_url}/ws") as websocket:
            replies = []
            for text in ("a", "b", "c"):
                websocket.send(text)
                replies.append(websocket.recv())
        with pytest.raises(InvalidStatus):
            connect(f"{ws_url}/ws/rejected")
        with httpx.Client(base_url=server.base_url) as http:
            assert http.get("/tenants/5/ok").status_code == 200

        lines = log_file.wait_for(1)
        server.stop()
        assert replies == ["echo a", "echo b", "echo c"]
        assert app.state.lifecycle == {"started": True, "stopped": True}
        assert [line["route"] for line in lines] == ["/tenants/{guild_id}/ok"]
        errors = [line for line in log_file.lines() if line["level"] == "error"]
        assert errors == []


class TestServerLogPrivacy:
    def test_websocket_lines_drop_path_and_client(self, log_file: LogFile) -> None:
        """uvicorn's websocket lines keep the status but no path, query or address."""
        pytest.importorskip("websockets")
        from websockets.sync.client import connect

        server = ServerThread(build_case_app(ManualClock(CLOCK_START)))
        server.start()
        query = "token=PLANTED-WS-SECRET&user_id=424242424242"
        with connect(f"ws://127.0.0.1:{server.port}/ws?{query}") as websocket:
            for text in ("a", "b", "c"):
                websocket.send(text)
                assert websocket.recv() == f"echo {text}"
        server.stop()

        # The server's own listening address is no client data.
        raw_lines = [
            line for line in log_file.raw_lines() if "Uvicorn running on" not in line
        ]
        for planted in ("PLANTED-WS-SECRET", "424242424242", "127.0.0.1", "/ws"):
            leaking = [line for line in raw_lines if planted in line]
            assert leaking == [], planted
        assert not [line for line in raw_lines if "color_message" in line]
        assert not [line for line in raw_lines if "\\u001b" in line]
        events = [line["event"] for line in log_file.lines()]
        assert "WebSocket [accepted]" in events
