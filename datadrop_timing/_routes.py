"""Find the route template of a Starlette or FastAPI request.

The template (`/guilds/{guild_id}/config`) is written instead of the raw path,
so the number of distinct `route` values is bounded by the number of routes.
Starlette records only the innermost matched route in the scope, which loses
the prefix of a mounted sub-application, so the template is found by matching
the request against the application's routes again, through every `Mount`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

UNMATCHED_ROUTE = "<unmatched>"

# Mount nesting deeper than this is treated as unmatched rather than recursed.
_MAX_MOUNT_DEPTH = 8


def resolve_route(scope: Mapping[str, Any], app: object) -> tuple[str, dict[str, Any]]:
    """Return the route template and path parameters of a request scope.

    Args:
        scope: the request's scope as the server passed it, before routing
            changed `root_path` and `path_params`.
        app: the Starlette or FastAPI application (`scope["app"]`).

    Returns:
        The template, or `UNMATCHED_ROUTE` when no route matches. A path that
        matches a route only partially, such as a wrong method (405), gets the
        template of that route.
    """
    routes = getattr(app, "routes", None)
    if routes is None:
        return UNMATCHED_ROUTE, {}

    match = _match_routes(routes, dict(scope), prefix="", depth=0)
    return match or (UNMATCHED_ROUTE, {})


def _match_routes(
    routes: Iterable[Any], scope: dict[str, Any], *, prefix: str, depth: int
) -> tuple[str, dict[str, Any]] | None:
    from starlette.routing import Match, Mount

    partial: tuple[str, dict[str, Any]] | None = None
    for route in routes:
        try:
            match, child_scope = route.matches(scope)
        except Exception:  # noqa: BLE001 - a custom route must not break timing
            continue

        if match is Match.NONE:
            continue

        template = prefix + getattr(route, "path_format", "")
        params = dict(child_scope.get("path_params", {}))
        if isinstance(route, Mount):
            if depth >= _MAX_MOUNT_DEPTH:
                return None
            if not route.routes:
                # An opaque ASGI app (static files, another framework).
                return template + "/{path}", params
            inner = _match_routes(
                route.routes,
                {**scope, **child_scope},
                prefix=template,
                depth=depth + 1,
            )
            if inner is not None:
                return inner
            continue

        if match is Match.FULL:
            return template, params
        if partial is None:
            partial = (template, params)

    return partial
