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

from starlette.routing import BaseRoute, Match, Mount
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


#: The methods a 405's `Allow` header may name, in the order it names them.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _api_routes(scope: Scope) -> list[BaseRoute]:
    """The app's routes but the pages (FastAPI nests each included router as one route)."""
    routes: list[BaseRoute] = getattr(scope.get("router"), "routes", [])
    return [route for route in routes if not isinstance(route, PagesMount)]


def _matches(route: BaseRoute, scope: Scope, method: str | None = None) -> Match:
    """How `route` matches the request (asked with `method` instead, if given), using only
    its public `matches` on a copy of the scope, so nested routers answer for their routes."""
    probe = dict(scope)
    if method is not None:
        probe["method"] = method
    match, _child = route.matches(probe)
    return match


class PagesMount(Mount):
    """The static pages' mount, which leaves the API's paths to the API (module docstring)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path = get_route_path(scope)
            owned = path == API_PREFIX.rstrip("/") or path.startswith(API_PREFIX)
            if owned or any(_matches(route, scope) is not Match.NONE for route in _api_routes(scope)):
                return Match.NONE, {}
        return super().matches(scope)


def allowed_methods(scope: Scope) -> list[str]:
    """The methods some route takes on this request's path, for a 405's `Allow` header."""
    routes = _api_routes(scope)
    return [method for method in HTTP_METHODS if any(_matches(route, scope, method) is Match.FULL for route in routes)]
