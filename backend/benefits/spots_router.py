"""Holders check in at spots: the poster's short URL and the spot page's API.

    GET  /s/{code}                           302 to /spot.html?code={code} (keeps a kiosk's `k=`)
    GET  /api/v1/spots/{code}                the spot's public facts
    POST /api/v1/spots/{code}/check-ins      a card holder's check-in (201); see `check_ins`

`/s/{code}` is registered before the pages' mount at "/", so it is matched first. It does not
look the code up: the page says when a spot is unknown, in the visitor's language, and a
redirect that answers the same for every code tells a prober nothing.

Check-ins are rate-limited per holder (shared database counters): a script trying kiosk
codes, or hammering a spot, is stopped long before it could guess one.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import RedirectResponse

from backend.benefits import spots as spot_rules
from backend.benefits.check_ins import CheckInRefused, check_in, japan_day
from backend.benefits.kiosk import kiosk_key
from backend.benefits.models import Spot
from backend.benefits.spot_schemas import KIOSK_CODE_PATTERN, CheckInCreate, CheckInDone, PublicSpot
from backend.core import ratelimit
from backend.core.deps import RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.holders.identity import CurrentCardHolder
from backend.staff.deps import NowDep
from backend.towns.models import Municipality

router = APIRouter(tags=["benefits"])

#: Check-in attempts a holder may make per window (a day's real visits are a handful).
CHECK_IN_LIMIT = (20, 600)

SpotCode = Annotated[str, Path(pattern=spot_rules.SPOT_CODE_PATTERN, description="The code on the spot's poster")]


def public_spot(code: SpotCode, session: SessionDep) -> Spot:
    spot = spot_rules.spot_by_code(session, code)
    if spot is None:
        raise ApiError(404, "spot_not_found", "このスポットは見つかりません。 (No spot has this code.)")
    return spot


SpotDep = Annotated[Spot, Depends(public_spot)]


def _public(spot: Spot, town: Municipality) -> PublicSpot:
    return PublicSpot(
        code=spot.code,
        name_ja=spot.name_ja,
        name_en=spot.name_en,
        place_ja=spot.place_ja,
        town=town.slug,
        town_ja=town.name_ja,
        town_en=town.name_en,
        requires_location=spot.require_location,
        radius_m=spot.radius_m if spot.require_location else None,
        kiosk=spot.kiosk,
    )


def _town(session: SessionDep, spot: Spot) -> Municipality:
    town = session.get(Municipality, spot.municipality_id)
    assert town is not None
    return town


_SCAN_ROUTE: dict[str, Any] = {
    "status_code": 302,
    "response_class": RedirectResponse,
    "responses": {302: {"description": "`Location` is the spot's page, `/spot.html?code={code}` (and `&k=`)"}},
}


@router.get("/s/{code}", operation_id="scan_spot", **_SCAN_ROUTE)
@router.head("/s/{code}", operation_id="scan_spot_head", **_SCAN_ROUTE)
def scan(
    code: SpotCode,
    k: Annotated[str | None, Query(max_length=64, description="a kiosk's rotating code")] = None,
) -> RedirectResponse:
    """A spot poster's (or kiosk's) short URL: on to the spot's page, carrying the codes (a
    `k` that is no kiosk code is left behind: the page then asks to scan the kiosk again)."""
    kiosk_code = k if k is not None and re.fullmatch(KIOSK_CODE_PATTERN, k) else None
    return RedirectResponse(
        spot_rules.spot_page(code.upper(), kiosk_code),
        status_code=302,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


@router.get(
    "/api/v1/spots/{code}",
    response_model=PublicSpot,
    responses=error_responses(404, 422, codes={404: "spot_not_found"}),
)
def get_spot(spot: SpotDep, session: SessionDep) -> PublicSpot:
    """What the spot's page shows: its name, place and town, and what a check-in needs."""
    return _public(spot, _town(session, spot))


@router.post(
    "/api/v1/spots/{code}/check-ins",
    status_code=201,
    response_model=CheckInDone,
    responses=error_responses(
        401,
        404,
        409,
        422,
        429,
        codes={
            401: "unauthorized",
            404: "spot_not_found",
            409: "no_card, already_checked_in (today, Japan time), kiosk_code_invalid, out_of_range (the message "
            "says the distance)",
            422: "location_required (the spot checks the phone's location), invalid_request",
            429: "rate_limited (see Retry-After)",
        },
    ),
)
def create_check_in(
    body: CheckInCreate,
    spot: SpotDep,
    holder: CurrentCardHolder,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> CheckInDone:
    """Check in at the spot: once per spot per day (Japan time), for holders of a valid card
    of its town; the location (only the distance is kept) and the kiosk code when the spot
    asks for them."""
    session.commit()  # the spot's read ends: its connection goes back before the counter takes one
    limit = (f"check-in:{holder.visitor}", *CHECK_IN_LIMIT)
    if ratelimit.first_spent(runtime.sessions, limit, now=now.timestamp()) is not None:
        wait = ratelimit.retry_after(CHECK_IN_LIMIT[1], now.timestamp())
        raise ApiError(
            429,
            "rate_limited",
            "操作が多すぎます。しばらくしてからお試しください。 (Too many check-ins; wait a moment.)",
            headers={"Retry-After": str(wait)},
        )
    key = kiosk_key(runtime.settings.secret_key.get_secret_value())
    try:
        made = check_in(session, spot, holder, body, chain_id=runtime.manifest.chain_id, kiosk_key=key, now=now)
    except CheckInRefused as refused:
        raise ApiError(refused.status, refused.code, str(refused)) from None
    row = made.check_in
    return CheckInDone(
        check_in_id=row.id,
        spot=_public(spot, made.town),
        day=japan_day(now),
        method=row.method,  # type: ignore[arg-type]
        distance_m=row.distance_m,
        checked_in_at=row.checked_in_at,
    )
