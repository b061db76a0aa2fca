"""uvicorn's websocket handshake at `configure(level="debug")`.

The websockets library logs each handshake line through `uvicorn.error` at
debug level: the request line with its query string, and every header.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import uvicorn
from fastapi import FastAPI, WebSocket
from websockets.sync.client import connect

from datadrop_timing import configure, flush
from datadrop_timing.asgi import TimingMiddleware


def _build_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(TimingMiddleware)

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    return app


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "api.jsonl"
    configure(service="test-api", entrypoint="api", output=path, level="debug")
    yield path
    logging.getLogger().handlers.clear()
    logging.getLogger().setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()


@pytest.mark.parametrize("ws_implementation", ["auto", "websockets-sansio"])
def test_handshake_debug_lines_private(debug_log: Path, ws_implementation: str) -> None:
    config = uvicorn.Config(
        _build_app(),
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        log_level="debug",
        ws=ws_implementation,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    url = f"ws://127.0.0.1:{port}/ws?token=planted-secret-1"
    headers = {
        "Authorization": "Basic planted-secret-1",
        "Cookie": "s=planted-secret-1",
    }
    with connect(url, additional_headers=headers):
        pass
    server.should_exit = True
    thread.join(10)
    flush()

    # The test's own client logs through `websockets.client`: its lines are
    # filtered the same way.
    lines = [json.loads(line) for line in debug_log.read_text().splitlines()]
    leaking = [line for line in lines if "planted-secret-1" in json.dumps(line)]
    assert any(line.get("logger") == "uvicorn.error" for line in lines)
    assert leaking == []
