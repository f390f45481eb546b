"""Shop side: verify a pass, redeem a benefit, sign a shop's phone in, its own redemptions.

    POST /api/v1/verify                               {proof} → {valid, reason?, town, series, number, benefits}
    POST /api/v1/benefits/{benefit_id}/redemptions    {proof} → 201; 409 already_redeemed / pass_invalid / …
    POST /api/v1/verify/devices/session               {link} → {device_token, shop, town} (a device link, once)
    GET  /api/v1/verify/me                            who this verifier is (device and shop, or staff and town)
    GET  /api/v1/verify/redemptions                   a device: its shop's; staff: the town's (?shop_id), paged

The caller is `CurrentVerifier` (`backend.benefits.deps`): a shop's device token or a staff
session of an owner, editor or verifier of the town. A device acts for its one shop and can
reach nothing else: every staff console route refuses its token (401), as does any other
area's session check. Verification answers 200 with `valid: false` and the reason for any
well-formed proof, so the clerk's screen always has something to show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.runtime import Runtime
from backend.towns.models import Municipality

from . import devices
from .deps import VERIFIER_RESPONSES, CurrentVerifier, VerifierCaller, VerifyNow, rate_limit_write
from .models import Shop, VerifierDevice
from .redemptions import RedeemRefused, RedemptionFilters, page_of, redeem
from .schemas import (
    DeviceLink,
    DeviceSession,
    ProofBody,
    RedemptionCreated,
    RedemptionItem,
    RedemptionsPage,
    TownRef,
    VerifierMe,
    VerifyResult,
)
from .shops import shop_ref
from .verification import check_pass

router = APIRouter(tags=["benefits: shop side"])


def _town_ref(town: Municipality) -> TownRef:
    return TownRef(slug=town.slug, name_ja=town.name_ja, name_en=town.name_en)


@router.post(
    "/api/v1/verify",
    response_model=VerifyResult,
    responses={**VERIFIER_RESPONSES, **error_responses(422, codes={422: "invalid_request, town_required"})},
)
async def verify(body: ProofBody, verifier: CurrentVerifier, runtime: RuntimeDep, now: VerifyNow) -> Response:
    """Check a scanned pass: signature, expiry, town, card, refund, current holder; and the
    benefits the card may use now (a device: its shop's; staff: the town's).

    The checks run in one hop to the thread pool, in a session of their own, and the answer
    is the model's JSON as built (FastAPI's dump, re-validation and encoding of it cost a third
    of a verification): the benchmark's p99 at 64 phones at once."""
    result = await run_in_threadpool(_check, runtime, body.proof, verifier, now)
    return Response(result.model_dump_json(), media_type="application/json")


def _check(runtime: Runtime, proof: str, verifier: VerifierCaller, now: datetime) -> VerifyResult:
    with runtime.engine.connect() as connection:
        return check_pass(connection, runtime.sessions, proof, verifier, now)


@router.post(
    "/api/v1/benefits/{benefit_id}/redemptions",
    status_code=201,
    response_model=RedemptionCreated,
    responses={
        **VERIFIER_RESPONSES,
        **error_responses(
            403,
            404,
            409,
            422,
            429,
            codes={
                403: "forbidden (a device: another shop's benefit; not a verifier of the town), csrf_failed",
                404: "benefit_not_found",
                409: "already_redeemed (when and where in the message), pass_invalid (the reason), "
                "benefit_unavailable (paused, out of its term, shop closed), not_eligible (another series)",
                422: "invalid_request, town_required",
                429: "rate_limited (see Retry-After)",
            },
        ),
    },
)
def create_redemption(
    benefit_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    body: ProofBody,
    verifier: CurrentVerifier,
    session: SessionDep,
    runtime: RuntimeDep,
    now: VerifyNow,
) -> RedemptionCreated:
    """Use the benefit for the card the proof shows: at most once per card per period (day,
    ISO week, month in Japan time, or the term), whoever holds the card."""
    session.commit()  # the request's connection back to the pool while the counter is written
    rate_limit_write(runtime, verifier, now)
    try:
        done = redeem(session, runtime.sessions, benefit_id, body.proof, verifier, now)
    except RedeemRefused as refused:
        session.rollback()
        raise ApiError(refused.status, refused.code, str(refused)) from None
    return RedemptionCreated(
        redemption_id=done.redemption.id,
        benefit_id=done.benefit.id,
        period_key=done.redemption.period_key,
        redeemed_at=done.redemption.redeemed_at,
        shop=shop_ref(done.shop),
        number=done.card.number,
        series=done.card.series,
        available_again_at=done.available_again_at,
    )


@router.post(
    "/api/v1/verify/devices/session",
    response_model=DeviceSession,
    responses=error_responses(
        401, 422, codes={401: "link_invalid (unknown, used, expired or revoked: the message says which)"}
    ),
)
def device_session(body: DeviceLink, session: SessionDep, now: VerifyNow) -> DeviceSession:
    """Exchange a device link (single use, 24 h) for the phone's device token. The token
    verifies and redeems for the link's shop only, until staff revoke the device."""
    try:
        device, token = devices.exchange(session, body.link, now)
    except devices.LinkRefused as refused:
        raise ApiError(401, "link_invalid", str(refused)) from None
    shop = session.get(Shop, device.shop_id)
    town = session.get(Municipality, device.municipality_id)
    assert shop is not None  # foreign keys
    assert town is not None
    answer = DeviceSession(
        device_token=token, device_id=device.id, label=device.label, shop=shop_ref(shop), town=_town_ref(town)
    )
    session.commit()
    return answer


@router.get("/api/v1/verify/me", response_model=VerifierMe, responses={**VERIFIER_RESPONSES, **error_responses(422)})
def verifier_me(verifier: CurrentVerifier, session: SessionDep) -> VerifierMe:
    """Who this verifier is: the `/verify/` page shows the shop (a device) or the town (staff)."""
    town = session.get(Municipality, verifier.town_id)
    assert town is not None
    shop = session.get(Shop, verifier.shop_id) if verifier.shop_id is not None else None
    device = session.get(VerifierDevice, verifier.device_id) if verifier.device_id is not None else None
    return VerifierMe(
        kind=verifier.kind,
        town=_town_ref(town),
        shop=None if shop is None else shop_ref(shop),
        device_id=verifier.device_id,
        label=None if device is None else device.label,
        email=verifier.actor if verifier.kind == "staff" else None,
        role=verifier.role,
    )


@router.get(
    "/api/v1/verify/redemptions",
    response_model=RedemptionsPage,
    responses={**VERIFIER_RESPONSES, **error_responses(422)},
)
def my_redemptions(
    verifier: CurrentVerifier,
    session: SessionDep,
    page: PageDep,
    shop_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="staff: only this shop (a device sees its own shop only)")
    ] = None,
) -> RedemptionsPage:
    """Redemptions, newest first: a device sees its own shop's, staff the town's."""
    shop = verifier.shop_id if verifier.shop_id is not None else shop_id
    items, total = page_of(session, verifier.town_id, RedemptionFilters(shop_id=shop), page.limit, page.offset)
    shown = [RedemptionItem(**item.model_dump(exclude={"holder_address"})) for item in items]
    return RedemptionsPage(items=shown, total=total, limit=page.limit, offset=page.offset)
