"""Find the route template of a Starlette or FastAPI request after routing.

The template (`/guilds/{guild_id}/config`) is written instead of the raw path,
so the number of distinct `route` values is bounded by the number of routes.

Routing leaves three keys in the scope. `route` is the innermost matched route
object, `path_params` contains the parameters of every level, and `root_path`
has grown by the raw prefix of each `Mount`. The innermost route's
`path_format` is the end of the template. Its prefix contains the mount paths
and `include_router` prefixes, which FastAPI does not fold into the route
object, and is rebuilt from the raw path by writing `{name}` for each segment
that converts to a path parameter's value (`007` for `{n:int}` = 7). A prefix
parameter that no segment converts to would leave a raw segment in the
template, so such a request gets the fixed `UNRESOLVED_ROUTE` instead.

FastAPI 0.165 sets `route` in the scope only for its own routes. For a plain
Starlette route, such as FastAPI's `/docs` and `/openapi.json`, the route is
found among the app's routes by the `endpoint` routing left in the scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

UNMATCHED_ROUTE = "<unmatched>"

# A matched request whose mount prefix could not be turned into a template.
UNRESOLVED_ROUTE = "<unresolved>"

# Maximum depth of nested mounts searched for a route found by its endpoint.
_MAX_MOUNT_DEPTH = 8


def route_template(
    scope: Mapping[str, Any], entry_root_path: str, entry_app: object = None
) -> str:
    """Return the route template of a routed request, or a fixed value.

    Args:
        scope: the request's scope after the app handled it.
        entry_root_path: `root_path` as it was before routing changed it.
        entry_app: `scope["app"]` as it was before routing, searched for a
            route that routing did not record in `scope["route"]`.

    A path that matched a route only partially, such as a wrong method (405),
    gets that route's template. In a Starlette app, a request that reached a
    mounted app without routes of its own (static files) gets the mount prefix
    and `/{path}`. FastAPI 0.165 does not record such a mount in the scope, so
    there the request is unmatched.
    """
    route = scope.get("route")
    if route is None and scope.get("endpoint") is not None:
        route = _find_route(_routes_of(entry_app), scope["endpoint"], 0)
    path_format = getattr(route, "path_format", None)
    if not isinstance(path_format, str):
        return UNMATCHED_ROUTE

    params = dict(scope.get("path_params") or {})
    raw_segments = _segments(_relative_path(scope.get("path", ""), entry_root_path))
    if _is_mount(route):
        # A mount's `path_format` ends in `/{path}`, which stands for the rest.
        root_path = _relative_path(str(scope.get("root_path", "")), entry_root_path)
        raw_segments = [*_segments(root_path), "{path}"]
    own_segments = _segments(path_format)
    own_names = set(getattr(route, "param_convertors", {}) or {})

    if (_has_path_convertor(route) and not _is_mount(route)) or len(raw_segments) < len(
        own_segments
    ):
        # NOTE: a route whose parameter spans several segments (`{p:path}`)
        # cannot be aligned with the raw path, so any include prefix is lost.
        prefix_segments = _segments(
            _relative_path(str(scope.get("root_path", "")), entry_root_path)
        )
    else:
        prefix_segments = raw_segments[: len(raw_segments) - len(own_segments)]

    unused = {name: value for name, value in params.items() if name not in own_names}
    prefix = [_template_segment(segment, unused) for segment in prefix_segments]
    if unused:
        return UNRESOLVED_ROUTE
    return "/" + "/".join([*prefix, *own_segments])


def _relative_path(path: str, root_path: str) -> str:
    if root_path and path.startswith(root_path):
        return path[len(root_path) :]
    return path


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def _template_segment(segment: str, unused: dict[str, Any]) -> str:
    """Return `{name}` for the first unused parameter `segment` converts to."""
    for name, value in unused.items():
        if _converts_to(segment, value):
            del unused[name]
            return "{" + name + "}"
    return segment


def _converts_to(segment: str, value: object) -> bool:
    """Tell whether a raw segment is the text of a converted path parameter.

    Starlette's convertors give `int`, `float`, `uuid.UUID` or `str`, and each
    of these types parses its own text back, so `int("007") == 7` matches.
    """
    if str(value) == segment:
        return True
    if isinstance(value, (str, bool)):
        return False
    parse: Any = type(value)
    try:
        return bool(parse(segment) == value)
    except (TypeError, ValueError, ArithmeticError):
        return False


def _routes_of(app: object) -> list[Any]:
    routes = getattr(app, "routes", None)
    return list(routes) if isinstance(routes, Iterable) else []


def _find_route(routes: list[Any], endpoint: object, depth: int) -> object:
    """Return the route, here or in a mounted app, whose endpoint is `endpoint`."""
    for route in routes:
        if getattr(route, "endpoint", None) is endpoint and not _is_mount(route):
            return route
    if depth >= _MAX_MOUNT_DEPTH:
        return None
    for route in routes:
        if _is_mount(route):
            found = _find_route(_routes_of(route), endpoint, depth + 1)
            if found is not None:
                return found
    return None


def _has_path_convertor(route: object) -> bool:
    convertors = getattr(route, "param_convertors", None) or {}
    return any(
        type(convertor).__name__ == "PathConvertor" for convertor in convertors.values()
    )


def _is_mount(route: object) -> bool:
    from starlette.routing import Mount

    return isinstance(route, Mount)
