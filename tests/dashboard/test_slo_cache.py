"""The live page's cache: page lifetime, shared ranges and concurrent renders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import CLOCK_START

from aggregator.errors import InputError, InvalidOptionError
from aggregator.slo_config import SloConfig
from datadrop_timing import ManualClock
from examples.reference_app.slo_page import (
    DashboardBusyError,
    DashboardCache,
    range_key,
)

CACHE_S = 30.0


class GatedCache(DashboardCache):
    """A cache whose render returns a stub page when `gate` is set.

    Each render advances the manual clock by `render_s`, as a slow read of
    the logs would.
    """

    def __init__(self, clock: ManualClock, **limits: int) -> None:
        super().__init__(Path("unused"), SloConfig(), clock, CACHE_S, **limits)
        self.manual_clock = clock
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.render_s = 0.0
        self.error: Exception | None = None

    def _render(self, since: str) -> str:
        self.started.set()
        if self.error is not None:
            raise self.error
        if not self.gate.wait(10):
            msg = "the test never opened the gate"
            raise TimeoutError(msg)
        self.manual_clock.advance(ms=self.render_s * 1000)
        return f"page for {since}"


@pytest.fixture
def cache() -> GatedCache:
    return GatedCache(ManualClock(CLOCK_START))


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=16)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def start_blocked_render(
    cache: GatedCache, pool: ThreadPoolExecutor, since: str
) -> Future[bytes]:
    """Start a render of `since` that waits until the test sets `cache.gate`."""
    cache.gate.clear()
    cache.started.clear()
    future = pool.submit(cache.page, since)
    assert cache.started.wait(5), "the render did not start"
    return future


class TestLifetime:
    def test_age_starts_after_render(self, cache: GatedCache) -> None:
        """A render longer than the cache time still serves the next reload."""
        cache.render_s = CACHE_S + 10
        first = cache.page("1h")
        cache.manual_clock.advance(ms=(CACHE_S - 1) * 1000)
        assert cache.page("1h") == first
        assert cache.renders == 1

    def test_expires_after_cache_time(self, cache: GatedCache) -> None:
        cache.render_s = CACHE_S + 10
        cache.page("1h")
        cache.manual_clock.advance(ms=CACHE_S * 1000)
        cache.page("1h")
        assert cache.renders == 2


class TestRangeKey:
    @pytest.mark.parametrize("since", ["24h", "1d", "86400s", "24H", "1440m", " 1D "])
    def test_equal_durations_one_key(self, since: str) -> None:
        assert range_key(since, CLOCK_START) == range_key("24h", CLOCK_START)

    def test_equal_instants_one_key(self) -> None:
        utc = range_key("2026-12-01T00:00:00Z", CLOCK_START)
        offset = range_key("2026-12-01T01:00:00+01:00", CLOCK_START)
        assert utc == offset

    def test_duration_differs_from_instant(self) -> None:
        """A duration stays relative to the clock, so it is not an instant."""
        instant = range_key("2026-11-30T07:00:00Z", CLOCK_START)
        assert range_key("24h", CLOCK_START) != instant

    def test_equal_ranges_render_once(self, cache: GatedCache) -> None:
        for since in ("24h", "1d", "86400s", "24H"):
            cache.page(since)
        assert cache.renders == 1


class TestConcurrency:
    def test_cached_page_not_blocked(
        self, cache: GatedCache, pool: ThreadPoolExecutor
    ) -> None:
        """A cached page is returned while another range is rendering."""
        cached = cache.page("1h")
        rendering = start_blocked_render(cache, pool, "2h")
        assert pool.submit(cache.page, "1h").result(timeout=2) == cached
        cache.gate.set()
        assert rendering.result(timeout=5) == b"page for 2h"

    def test_ranges_render_side_by_side(
        self, cache: GatedCache, pool: ThreadPoolExecutor
    ) -> None:
        """Two ranges render at once; neither waits for the other."""
        cache.gate.clear()
        futures = [pool.submit(cache.page, since) for since in ("1h", "2h")]
        wait_until(lambda: len(cache._rendering) == 2)
        cache.gate.set()
        assert [future.result(timeout=5) for future in futures] == [
            b"page for 1h",
            b"page for 2h",
        ]

    def test_one_render_per_range(
        self, cache: GatedCache, pool: ThreadPoolExecutor
    ) -> None:
        """Requests for a range that is rendering wait for that render's page."""
        first = start_blocked_render(cache, pool, "24h")
        waiting = [pool.submit(cache.page, since) for since in ("1d", "24h", "24H")]
        wait_until(lambda: cache._rendering[range_key("1d", CLOCK_START)].requests == 4)
        cache.gate.set()
        pages = {future.result(timeout=5) for future in [first, *waiting]}
        assert pages == {b"page for 24h"}
        assert cache.renders == 1

    def test_busy_past_max_renders(
        self, cache: GatedCache, pool: ThreadPoolExecutor
    ) -> None:
        """A third range while two render is rejected at once, not queued."""
        cache.gate.clear()
        futures = [pool.submit(cache.page, since) for since in ("1h", "2h")]
        wait_until(lambda: len(cache._rendering) == 2)
        with pytest.raises(DashboardBusyError, match="2 dashboard renders"):
            cache.page("3h")
        cache.gate.set()
        for future in futures:
            future.result(timeout=5)
        assert cache.page("3h") == b"page for 3h"

    def test_busy_past_max_waiting(self, pool: ThreadPoolExecutor) -> None:
        """More waiters for one render than `max_waiting` are rejected."""
        cache = GatedCache(ManualClock(CLOCK_START), max_waiting=2)
        first = start_blocked_render(cache, pool, "1h")
        waiting = [pool.submit(cache.page, "1h") for _ in range(2)]
        key = range_key("1h", CLOCK_START)
        wait_until(lambda: cache._rendering[key].requests == 3)
        with pytest.raises(DashboardBusyError, match="2 requests wait"):
            cache.page("1h")
        cache.gate.set()
        for future in [first, *waiting]:
            assert future.result(timeout=5) == b"page for 1h"
        assert cache._rendering == {}

    def test_failed_render_frees_slot(self, cache: GatedCache) -> None:
        """A render that raises leaves no slot taken and no page stored."""
        cache.error = InputError("logs folder '/missing' does not exist")
        for _ in range(3):
            with pytest.raises(InputError, match="/missing"):
                cache.page("1h")
        assert cache._rendering == {}
        assert cache.renders == 0

    def test_invalid_since_takes_no_slot(self, cache: GatedCache) -> None:
        with pytest.raises(InvalidOptionError, match="'90x'"):
            cache.page("90x")
        assert cache._rendering == {}
