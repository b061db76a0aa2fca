"""Relative cost of `TimingMiddleware` against the same app without it."""

from __future__ import annotations

import time

import httpx

from datadrop_timing import ManualClock

from .case_app import build_case_app
from .conftest import CLOCK_START
from .logs import LogFile
from .servers import ServerThread

REQUESTS_PER_ROUND = 100
ROUNDS = 3

# Generous on purpose: the check catches an accidental slow path (a per-request
# regex compile, a blocking write), not a few percent of noise on a shared host.
MAX_SLOWDOWN_RATIO = 2.0


def _time_requests(http: httpx.Client) -> float:
    start = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        http.get("/tenants/700000000000000001/stats")
    return time.perf_counter() - start


def test_middleware_overhead_small(log_file: LogFile) -> None:
    """The timed app serves requests at least half as fast as the bare one."""
    servers = {
        name: ServerThread(build_case_app(ManualClock(CLOCK_START), with_timing=timed))
        for name, timed in (("timed", True), ("bare", False))
    }
    for server in servers.values():
        server.start()

    best_s = {"timed": float("inf"), "bare": float("inf")}
    try:
        clients = {
            name: httpx.Client(base_url=server.base_url)
            for name, server in servers.items()
        }
        for _ in range(ROUNDS):
            for name, http in clients.items():
                best_s[name] = min(best_s[name], _time_requests(http))
        for http in clients.values():
            http.close()
    finally:
        for server in servers.values():
            server.stop()

    timed_lines = log_file.wait_for(REQUESTS_PER_ROUND * ROUNDS)
    assert len(timed_lines) == REQUESTS_PER_ROUND * ROUNDS
    assert best_s["timed"] <= best_s["bare"] * MAX_SLOWDOWN_RATIO
