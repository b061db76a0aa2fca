"""Fixtures for `check`: log writers, a webhook receiver on loopback, the CLI."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import run_command


def timing_line(
    timestamp: datetime,
    duration_ms: float,
    *,
    action: str = "verification.submit",
    outcome: str = "success",
    event_id: str,
    **extra: Any,
) -> str:
    """Build one schema-v1 timing line by hand."""
    line = {
        "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": "info" if outcome == "success" else "warning",
        "event": "timing",
        "action": action,
        "duration_ms": duration_ms,
        "outcome": outcome,
        "tenant": "700000000000000001",
        "action_type": action.split(".", 1)[0],
        "entrypoint": "bot",
        "service": "datadrop-bot",
        "event_id": event_id,
        "schema": 1,
        **extra,
    }
    return json.dumps(line)


class TrafficLog:
    """A logs folder that tests fill with steady traffic of chosen durations."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(
        self,
        start: datetime,
        end: datetime,
        *,
        per_minute: int,
        duration_ms: float,
        action: str = "verification.submit",
        name: str = "bot.jsonl",
        **extra: Any,
    ) -> list[tuple[datetime, float]]:
        """Append `per_minute` events per minute in `(start, end]`; return them."""
        step = timedelta(minutes=1) / per_minute
        moment = start + step
        written = []
        lines = []
        while moment <= end:
            self.count += 1
            lines.append(
                timing_line(
                    moment,
                    duration_ms,
                    action=action,
                    event_id=f"{self.count:032x}",
                    **extra,
                )
            )
            written.append((moment, duration_ms))
            moment += step
        with (self.folder / name).open("a", encoding="utf-8") as stream:
            stream.write("".join(line + "\n" for line in lines))
        return written


@pytest.fixture
def traffic(tmp_path: Path) -> TrafficLog:
    return TrafficLog(tmp_path / "logs")


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records webhook POSTs."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Each reply: a status, or a status and a JSON body such as Discord's 429.
    statuses: list[int | tuple[int, dict[str, Any]]] = field(default_factory=list)
    delay_s: float = 0.0

    def bodies(self) -> list[dict[str, Any]]:
        return [request["body"] for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            status = state.statuses.pop(0) if state.statuses else 204
            reply = b""
            if isinstance(status, tuple):
                status, payload = status
                reply = json.dumps(payload).encode()
            if state.delay_s:
                threading.Event().wait(state.delay_s)
            state.requests.append({"path": self.path, "body": body, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook/secret-token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def run_check(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `datadrop-slo check` with extra environment variables."""
    return run_command("check", *args, env=env, cwd=cwd)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
