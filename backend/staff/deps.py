"""Who is calling a staff route, and may they: the dependencies every staff route declares.

    ctx: TownStaff          a route under /api/v1/staff/towns/{slug}/ (member, town, role, via)
    member: CurrentStaff    a staff route not under a town (/api/v1/staff/me, sign-out)
    now: NowDep             the request's time (tests override `request_time` to move the clock)

Checks, in this order, so a refusal never depends on data the caller may not see:
1. A session: `Authorization: Bearer <token>` (API clients), else the console's cookie
   `furusato_staff`. None, unknown, revoked, idle too long or past its end → 401
   `unauthorized`. A Bearer header that is wrong is not rescued by a cookie.
2. CSRF: a write (POST, PUT, PATCH, DELETE) authenticated by the cookie must carry header
   `X-CSRF-Token` equal to the session's CSRF token → else 403 `csrf_failed`. Bearer requests
   need none: a browser never adds an Authorization header to a cross-site request on its own.
3. Town and role: the `{slug}` town must exist and the member must have a role there that
   `backend.staff.policy` allows on this (method, route path) → else 403 `forbidden`. An
   unknown slug is 403 too, so staff cannot probe which towns exist.
4. Writes are rate-limited per member through the shared database counters
   (`FURUSATO_STAFF_WRITES_PER_MINUTE`) → 429 `rate_limited` with `Retry-After`.

`ctx.member` and `ctx.town` are loaded in the request's `SessionDep` session: declare
`session: SessionDep` in the handler to write in that same transaction (and call
`backend.core.audit.record(...)` once before committing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core import ratelimit
from backend.core.db import utcnow
from backend.core.deps import RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.staff import policy
from backend.staff.members import role_in
from backend.staff.models import StaffMember, StaffSession
from backend.staff.sessions import csrf_matches, live_session, needs_touch, touch
from backend.towns.models import Municipality

#: The console's session cookie (HttpOnly) and the CSRF cookie the page reads and echoes back.
SESSION_COOKIE = "furusato_staff"
CSRF_COOKIE = "furusato_csrf"
CSRF_HEADER = "X-CSRF-Token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The window of the per-member write limit.
WRITE_WINDOW_SECONDS = 60

Via = Literal["cookie", "bearer"]

#: OpenAPI `responses=` of every staff route: `responses={**STAFF_RESPONSES, **error_responses(404)}`.
STAFF_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(
    401,
    403,
    429,
    codes={401: "unauthorized", 403: "forbidden, csrf_failed", 429: "rate_limited (writes; see Retry-After)"},
)


async def request_time() -> datetime:
    """The time a request is judged by (sessions, codes, invites). Tests override it.
    `async`: a plain `def` dependency costs a hop to the thread pool and back."""
    return utcnow()


NowDep = Annotated[datetime, Depends(request_time)]


@dataclass(frozen=True)
class Authenticated:
    """A live session and its member."""

    member: StaffMember
    session: StaffSession
    via: Via


@dataclass(frozen=True)
class StaffContext:
    """The caller of a town route: who, in which town, with which role, signed in how."""

    member: StaffMember
    town: Municipality
    role: str
    via: Via

    @property
    def actor(self) -> str:
        """The audit log's `actor` for this caller."""
        return self.member.email


def unauthorised() -> ApiError:
    return ApiError(401, "unauthorized", "Sign in first (Authorization: Bearer <token>, or the console's cookie).")


def forbidden() -> ApiError:
    return ApiError(403, "forbidden", "You may not do this in this town.")


def _credentials(request: Request) -> tuple[str, Via] | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return (token.strip(), "bearer") if scheme.lower() == "bearer" and token.strip() else ("", "bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else None


def _release(session: Session) -> None:
    """End the request session's read-only transaction, handing its connection back to the
    pool, before this dependency opens a short session of its own. A request that holds one
    connection while it waits for a second deadlocks the pool under a burst: 20 refunds at
    once held 20 and waited for 20 more of a pool of 30. Nothing was written yet, and loaded
    objects stay loaded (`expire_on_commit=False`); the handler's next query takes a
    connection again."""
    session.commit()


def authenticated(request: Request, runtime: RuntimeDep, session: SessionDep, now: NowDep) -> Authenticated:
    """Steps 1 and 2 of the module docstring; moves the session's `last_seen_at` forward."""
    credentials = _credentials(request)
    if credentials is None or not credentials[0]:
        raise unauthorised()
    token, via = credentials
    idle = timedelta(minutes=runtime.settings.staff_session_idle_minutes)
    row = live_session(session, token, now, idle)
    member = session.get(StaffMember, row.staff_id) if row is not None else None
    if row is None or member is None:
        raise unauthorised()
    if via == "cookie" and request.method in WRITE_METHODS and not csrf_matches(row, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf_failed", f"Reload the page and try again (the {CSRF_HEADER} header is missing).")
    if needs_touch(row, now):
        # Its own short transaction: the handler may roll back or only read. The request's
        # connection goes back to the pool first (see `_release`).
        _release(session)
        with runtime.sessions() as writer:
            touch(writer, row.token_hash, now)
            writer.commit()
    return Authenticated(member, row, via)


AuthenticatedDep = Annotated[Authenticated, Depends(authenticated)]


def current_staff(auth: AuthenticatedDep) -> StaffMember:
    return auth.member


CurrentStaff = Annotated[StaffMember, Depends(current_staff)]


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    path: str = getattr(route, "path", request.url.path)
    return path


def rate_limit_write(runtime: RuntimeDep, key: str, now: datetime) -> None:
    """Count one write of `key` in the shared counters; 429 once the minute's limit is spent."""
    limit = runtime.settings.staff_writes_per_minute
    if ratelimit.first_spent(runtime.sessions, (key, limit, WRITE_WINDOW_SECONDS), now=now.timestamp()) is not None:
        wait = ratelimit.retry_after(WRITE_WINDOW_SECONDS, now.timestamp())
        raise ApiError(
            429, "rate_limited", "Too many changes in a minute; wait a moment.", headers={"Retry-After": str(wait)}
        )


def town_staff(
    slug: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    auth: AuthenticatedDep,
    now: NowDep,
) -> StaffContext:
    """Steps 3 and 4 of the module docstring, after `authenticated`."""
    town = session.scalar(select(Municipality).where(Municipality.slug == slug))
    held = role_in(session, town.id, auth.member.id) if town is not None else None
    if town is None or held is None:
        raise forbidden()
    if not policy.allowed(request.method, _route_path(request), held.role, town):
        raise forbidden()
    if request.method in WRITE_METHODS:
        _release(session)
        rate_limit_write(runtime, f"staff-write:{auth.member.id}", now)
    return StaffContext(auth.member, town, held.role, auth.via)


TownStaff = Annotated[StaffContext, Depends(town_staff)]
