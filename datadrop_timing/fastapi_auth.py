"""Time a FastAPI authentication dependency as its own `api.auth` action.

    require_token = timed_auth(check_token)

    @app.put("/guilds/{guild_id}/config")
    async def update_config(guild_id: int, grant: Grant = Depends(require_token)):
        ...

The protected operation then times its own action (`config.update`), so the
request's line, the auth line and the operation's line each show where the
time went. An `HTTPException` with a 4xx status (401, 403) is a rejection
caused by the client: outcome `success`, `error_type` such as `HTTP401` and
`status_code`. Any other exception, and a 5xx `HTTPException`, is a failure.
Each line carries the request id and tenant bound by `TimingMiddleware`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from datadrop_timing.clock import SYSTEM_CLOCK, Clock
from datadrop_timing.timer import Span, timed

P = ParamSpec("P")
R = TypeVar("R")


def timed_auth(
    dependency: Callable[P, R],
    *,
    action: str = "api.auth",
    clock: Clock = SYSTEM_CLOCK,
) -> Callable[P, R]:
    """Wrap a sync or async dependency so that each call writes a timing line.

    The wrapper keeps the dependency's signature, so FastAPI still injects
    its headers and sub-dependencies, and a sync dependency still runs in
    FastAPI's thread pool.

    Raises:
        TypeError: `dependency` is a generator (a dependency with `yield`).
    """
    if inspect.isgeneratorfunction(dependency) or inspect.isasyncgenfunction(
        dependency
    ):
        msg = (
            f"cannot time the generator dependency {dependency!r}: "
            "wrap a dependency that returns its value instead of yielding it"
        )
        raise TypeError(msg)

    timer = timed(action, entrypoint="api", clock=clock)
    if inspect.iscoroutinefunction(dependency):
        return cast(Callable[P, R], _wrap_async(dependency, timer))
    return _wrap_sync(dependency, timer)


def _wrap_sync(dependency: Callable[P, R], timer: timed) -> Callable[P, R]:
    @functools.wraps(dependency)
    def timed_dependency(*args: P.args, **kwargs: P.kwargs) -> R:
        span = timer.start()
        try:
            result = dependency(*args, **kwargs)
        except BaseException as error:
            _finish_with_error(span, error)
            raise

        timed.finish(span)
        return result

    return timed_dependency


def _wrap_async(dependency: Callable[P, Any], timer: timed) -> Callable[P, Any]:
    @functools.wraps(dependency)
    async def timed_dependency(*args: P.args, **kwargs: P.kwargs) -> Any:
        span = timer.start()
        try:
            result = await dependency(*args, **kwargs)
        except BaseException as error:
            _finish_with_error(span, error)
            raise

        timed.finish(span)
        return result

    return timed_dependency


def _finish_with_error(span: Span, error: BaseException) -> None:
    status_code = _client_error_status(error)
    if status_code is None:
        timed.finish(span, error)
        return

    span.reject(f"HTTP{status_code}")
    span.set(status_code=status_code)
    timed.finish(span)


def _client_error_status(error: BaseException) -> int | None:
    """Return the status of a 4xx `HTTPException`, or None for anything else."""
    from starlette.exceptions import HTTPException

    if isinstance(error, HTTPException) and 400 <= error.status_code < 500:
        return error.status_code
    return None
