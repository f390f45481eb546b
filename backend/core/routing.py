"""Who answers a path: the API's routes, or the pages' static files.

The pages are mounted at `/` (after every API router), and a mount at `/` matches every
path. Starlette takes the first route that matches both path and method, so an API path asked
with a method it does not take (`GET /api/v1/orders`, `OPTIONS /healthz`), or an API path
that does not exist, used to fall through to the static files: a 405 saying `Allow: GET, HEAD`
(the files' methods, not the API's) or the pages' 404. `PagesMount` refuses such paths, so
Starlette's router answers them itself — 405 from the route owning the path, or 404 — and the
error handlers give both the API's JSON body; `allowed_methods` lists every method the
path's routes take, since one path often has several routes (GET and POST registered apart).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

#: Every path under it belongs to the API, even one no route serves (yet): never a page.
API_PREFIX = "/api/"


def get_route_path(scope: Scope) -> str:
    """The path the routes match, below any `root_path` (as Starlette's own, private, helper)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path) and path[len(root_path) : len(root_path) + 1] in ("", "/"):
        return path[len(root_path) :]
    return path


def _routes(scope: Scope) -> list[BaseRoute]:
    router = scope.get("router")
    routes: list[BaseRoute] = getattr(router, "routes", [])
    return routes


def _owned_by_a_route(scope: Scope, path: str, mount: BaseRoute) -> bool:
    return any(
        isinstance(route, Route) and route.path_regex.match(path)
        for route in _routes(scope)
        if route is not mount and not isinstance(route, Mount)
    )


class PagesMount(Mount):
    """The static pages' mount, which leaves the API's paths to the API (module docstring)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if path == API_PREFIX.rstrip("/") or path.startswith(API_PREFIX) or _owned_by_a_route(scope, path, self):
                return Match.NONE, {}
        return super().matches(scope)


def allowed_methods(scope: Scope) -> list[str]:
    """The methods some route takes on this request's path, for a 405's `Allow` header."""
    path = get_route_path(scope)
    methods: set[str] = set()
    for route in _routes(scope):
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)
