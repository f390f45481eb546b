"""Who is verifying: a shop's device, or a staff member allowed to verify in a town.

    verifier: CurrentVerifier    POST /api/v1/verify, redemptions, GET /api/v1/verify/me, …
    now: VerifyNow               the request's time for passes and periods (tests override
                                 `verify_time` to move the clock to the next day or month)

Two kinds of caller, told apart by the Bearer token's prefix (so a request costs one lookup):
- a device: `Authorization: Bearer fdv_…`, the token POST /api/v1/verify/devices/session gave
  for a device link. It may verify and redeem for its one shop, nothing else. A revoked device,
  or one of a closed shop, → 401 at once (every request reads the row: no cache to outlive it).
- a staff member: a staff session (Bearer, or the console's cookie with the CSRF header on
  writes — `backend.staff.deps.authenticated`) of a member whose role in the town is owner,
  editor or verifier. A member of several such towns names one with `?town=`; else the only one.

Writes (redemptions) are counted per caller in the shared rate counters
(`FURUSATO_STAFF_WRITES_PER_MINUTE` a minute): a device is a staff tool, held to the same limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import Depends, Query, Request
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.core import ratelimit
from backend.core.bearer import hash_secret
from backend.core.db import utcnow
from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError, error_responses
from backend.runtime import Runtime
from backend.staff.deps import NowDep, authenticated
from backend.staff.models import StaffRole
from backend.staff.sessions import aware_like
from backend.towns.models import Municipality

from .models import Shop, VerifierDevice

#: Device session tokens start with this, so the dependency knows which table to read.
DEVICE_TOKEN_PREFIX: Final = "fdv_"  # noqa: S105 - a prefix, not a secret
#: Staff roles that may verify passes and redeem benefits in their town.
VERIFIER_ROLES: Final = frozenset({"owner", "editor", "verifier"})
#: `last_seen_at` of a device moves at most this often (reads stay reads).
DEVICE_TOUCH_EVERY: Final = timedelta(minutes=1)
#: The window of the per-caller write limit.
WRITE_WINDOW_SECONDS: Final = 60

Kind = Literal["device", "staff"]

#: `responses=` of every route that takes `CurrentVerifier`.
VERIFIER_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(
    401,
    403,
    codes={
        401: "unauthorized (no session, an unknown or revoked device, a closed shop)",
        403: "forbidden (not a verifier in that town), csrf_failed",
    },
)


async def verify_time() -> datetime:
    """The time passes, periods and device links are judged by. Tests override it."""
    return utcnow()


async def _verify_now(now: Annotated[datetime, Depends(verify_time)]) -> datetime:
    """`verify_time` in UTC: SQLite stores a datetime's wall time without its zone, so every
    moment written or compared in SQL must be UTC (an overridden clock may be in Japan time)."""
    return now.astimezone(UTC)


VerifyNow = Annotated[datetime, Depends(_verify_now)]


@dataclass(frozen=True)
class VerifierCaller:
    """The caller of a shop-side route: a device of one shop, or a staff member of a town."""

    kind: Kind
    town_id: int
    town_slug: str
    #: The device's shop; None for staff (they verify for every shop of the town).
    shop_id: int | None
    device_id: int | None
    staff_id: int | None
    #: The audit log's actor: `device:{id}` or the staff member's e-mail.
    actor: str
    #: The staff member's role in the town (None for a device).
    role: str | None = None


def unauthorised(message: str = "Sign in first: a device link, or a staff session.") -> ApiError:
    return ApiError(401, "unauthorized", message)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


#: A device by its session's hash, with its shop's state and its town (built once and read as
#: columns, not an ORM object: it runs at every scan).
_DEVICE = (
    select(
        VerifierDevice.id,
        VerifierDevice.municipality_id,
        VerifierDevice.shop_id,
        VerifierDevice.revoked_at,
        VerifierDevice.last_seen_at,
        Shop.archived_at.label("shop_closed"),
        Municipality.slug,
    )
    .join(Shop, Shop.id == VerifierDevice.shop_id)
    .join(Municipality, Municipality.id == VerifierDevice.municipality_id)
    .where(VerifierDevice.session_hash == bindparam("session_hash"))
)


def _device_caller(runtime: Runtime, token: str, now: datetime) -> VerifierCaller:
    """A Core read (no ORM session): it runs at every scan."""
    with runtime.engine.connect() as connection:
        row = connection.execute(_DEVICE, {"session_hash": hash_secret(token)}).first()
    if row is None:
        raise unauthorised("This device is not signed in (open a new device link).")
    device, slug = row, row.slug
    if device.revoked_at is not None:
        raise unauthorised("This device was signed out by the town (ask for a new device link).")
    if row.shop_closed is not None:
        raise unauthorised("This device's shop is closed.")
    if device.last_seen_at is None or now - aware_like(device.last_seen_at, now) >= DEVICE_TOUCH_EVERY:
        # Its own short transaction, after the read's connection went back to the pool.
        with runtime.sessions() as writer:
            writer.execute(update(VerifierDevice).where(VerifierDevice.id == device.id).values(last_seen_at=now))
            writer.commit()
    return VerifierCaller(
        kind="device",
        town_id=device.municipality_id,
        town_slug=slug,
        shop_id=device.shop_id,
        device_id=device.id,
        staff_id=None,
        actor=f"device:{device.id}",
    )


def _staff_caller(
    request: Request, runtime: Runtime, session: Session, staff_now: datetime, town: str | None
) -> VerifierCaller:
    auth = authenticated(request, runtime, session, staff_now)
    query = (
        select(StaffRole.role, Municipality.id, Municipality.slug)
        .join(Municipality, Municipality.id == StaffRole.municipality_id)
        .where(StaffRole.staff_id == auth.member.id, StaffRole.role.in_(VERIFIER_ROLES))
        .order_by(Municipality.slug)
    )
    if town is not None:
        query = query.where(Municipality.slug == town)
    towns = session.execute(query).all()
    if not towns:
        raise ApiError(403, "forbidden", "You may not verify passes in this town.")
    if len(towns) > 1:
        names = ", ".join(slug for _role, _id, slug in towns)
        raise ApiError(422, "town_required", f"You verify for several towns ({names}): name one with ?town=.")
    role, town_id, slug = towns[0]
    return VerifierCaller(
        kind="staff",
        town_id=town_id,
        town_slug=slug,
        shop_id=None,
        device_id=None,
        staff_id=auth.member.id,
        actor=auth.member.email,
        role=role,
    )


async def current_verifier(
    request: Request,
    runtime: RuntimeDep,
    now: VerifyNow,
    staff_now: NowDep,
    town: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[a-z0-9-]+$",
            description="a staff verifier of several towns: which one (a device ignores it)",
        ),
    ] = None,
) -> VerifierCaller:
    """The caller, authenticated (module docstring).

    One hop to the thread pool, in a short session of its own, rather than the request's
    session (a plain `def` dependency and a `SessionDep` are three hops: at every scan, with
    64 phones at once, each hop waits for the interpreter's lock behind the others)."""
    return await run_in_threadpool(_authenticate, request, runtime, now, staff_now, town)


def _authenticate(
    request: Request, runtime: Runtime, now: datetime, staff_now: datetime, town: str | None
) -> VerifierCaller:
    token = _bearer(request)
    if token is not None and token.startswith(DEVICE_TOKEN_PREFIX):
        return _device_caller(runtime, token, now)
    with runtime.sessions() as session:
        return _staff_caller(request, runtime, session, staff_now, town)


CurrentVerifier = Annotated[VerifierCaller, Depends(current_verifier)]


def rate_limit_write(runtime: Runtime, verifier: VerifierCaller, now: datetime) -> None:
    """Count one write of the caller; 429 `rate_limited` with `Retry-After` once the minute's
    limit is spent (the counter is in its own transaction: a refusal never undoes it)."""
    limit = runtime.settings.staff_writes_per_minute
    key = f"verify-write:{verifier.actor}"
    if ratelimit.first_spent(runtime.sessions, (key, limit, WRITE_WINDOW_SECONDS), now=now.timestamp()) is not None:
        wait = ratelimit.retry_after(WRITE_WINDOW_SECONDS, now.timestamp())
        raise ApiError(
            429, "rate_limited", "Too many redemptions in a minute; wait a moment.", headers={"Retry-After": str(wait)}
        )
