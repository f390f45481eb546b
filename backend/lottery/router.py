"""The lottery over HTTP.

    POST /api/v1/drops/{drop_id}/applications          apply (Idempotency-Key; rate-limited)
    GET  /api/v1/applications/{application_id}         Bearer application_token
    GET  /api/v1/drops/{drop_id}/lottery               the draw's public record
    GET  /api/v1/drops/{drop_id}/lottery/entries       the fixed list, from the close
    GET  /api/v1/staff/towns/{slug}/drops/{drop_id}/lottery   the console's lottery page

An application is read with its bearer token; a wrong or missing token answers 404 exactly
like an unknown id, so ids cannot be probed.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from backend.core import ratelimit
from backend.core.bearer import hash_secret
from backend.core.deps import RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.ratelimit import is_loopback
from backend.core.schemas import MAX_ROW_ID
from backend.lottery import record as records
from backend.lottery.announce import announce
from backend.lottery.applications import (
    APPLICATION_ID_PATTERN,
    ApplicationRefused,
    application_public,
    apply,
    lottery_drop,
)
from backend.lottery.models import ANNOUNCED, Lottery, LotteryApplication
from backend.lottery.schemas import (
    ApplicationCreate,
    ApplicationCreated,
    ApplicationPublic,
    LotteryEntries,
    LotteryRecord,
    StaffLottery,
)
from backend.lottery.staff import staff_view
from backend.runtime import Runtime
from backend.sales import idempotency
from backend.sales.models import Drop
from backend.staff.deps import STAFF_RESPONSES, TownStaff

router = APIRouter(tags=["lottery"])

DropId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Authorization = Annotated[str | None, Header()]

_WITH_APPLICATION_TOKEN = {
    "application_id": "$response.body#/application_id",
    "header.authorization": "Bearer {$response.body#/application_token}",
}
APPLICATION_LINKS = {
    "ReadApplication": {
        "operationRef": "#/paths/~1api~1v1~1applications~1{application_id}/get",
        "parameters": _WITH_APPLICATION_TOKEN,
        "description": "The application's status, with its application token",
    }
}


def _refused(refused: ApplicationRefused) -> ApiError:
    return ApiError(refused.status, refused.code, str(refused))


def _check_rate(request: Request, runtime: Runtime) -> None:
    """As for orders: at most `order_rate_per_minute` a minute from one client address (this
    machine exempt), counted in the shared database counters."""
    per_minute = runtime.settings.order_rate_per_minute
    host = request.client.host if request.client else None
    if (
        per_minute
        and not is_loopback(host)
        and not ratelimit.allow(runtime.sessions, (f"applications:ip:{host}", per_minute, 60))
    ):
        raise ApiError(429, "rate_limited", "Too many applications from this address; please try again in a minute.")


@router.post(
    "/api/v1/drops/{drop_id}/applications",
    status_code=201,
    response_model=ApplicationCreated,
    responses={
        201: {"links": APPLICATION_LINKS},
        **error_responses(
            404,
            409,
            429,
            codes={
                404: "drop_not_found (no public lottery drop with this id)",
                409: (
                    "applications_closed (before the window or after its close), already_applied (this email "
                    "or wallet applied), limit_exceeded (more than the per-person limit), drop_paused, "
                    "idempotency_key_reused, request_in_progress"
                ),
            },
        ),
    },
)
def create_application(
    drop_id: DropId,
    body: ApplicationCreate,
    request: Request,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Apply to a lottery drop: one application per email and per wallet address. Costs
    nothing, reserves nothing; the receipt mail carries the entry id."""
    _check_rate(request, runtime)
    body_hash = idempotency.request_hash({"drop_id": drop_id, **body.model_dump(mode="json")})
    try:
        answer = apply(
            runtime.sessions,
            runtime.vault,
            runtime.manifest.chain_id,
            drop_id,
            body,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            now=datetime.now(UTC),
        )
    except ApplicationRefused as refused:
        raise _refused(refused) from None
    except idempotency.KeyReuse as reuse:
        raise ApiError(409, reuse.code, str(reuse)) from None
    if isinstance(answer, idempotency.Replay):
        return JSONResponse(answer.body, status_code=answer.status_code, headers={"Idempotent-Replayed": "true"})
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


@router.get(
    "/api/v1/applications/{application_id}",
    response_model=ApplicationPublic,
    responses=error_responses(404, codes={404: "application_not_found (also for a token that does not match)"}),
)
def get_application(
    application_id: Annotated[str, Path(max_length=40)], runtime: RuntimeDep, authorization: Authorization = None
) -> ApplicationPublic:
    """The applicant's status; a place's order id and token (pay with them)."""
    not_found = ApiError(404, "application_not_found", "No application with this id (or the token does not match).")
    if not APPLICATION_ID_PATTERN.fullmatch(application_id):
        raise not_found
    token = _bearer(authorization)
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        application = session.get(LotteryApplication, application_id)
        if application is None or token is None or not hmac.compare_digest(application.token_hash, hash_secret(token)):
            raise not_found
        lottery = session.get(Lottery, application.drop_id)
        drop = session.get(Drop, application.drop_id)
        assert lottery is not None
        assert drop is not None
        return application_public(session, runtime.vault, application, records.public_state(lottery, drop, now), now)


def _public_lottery(session: Session, runtime: Runtime, drop_id: int) -> tuple[Drop, Lottery]:
    try:
        drop = lottery_drop(session, drop_id, runtime.manifest.chain_id)
    except ApplicationRefused as refused:
        raise _refused(refused) from None
    lottery = session.get(Lottery, drop_id)
    if lottery is None:  # published by a process without the vault: the seed is drawn now
        lottery = announce(session, runtime.vault, drop_id)
        session.commit()
    return drop, lottery


@router.get(
    "/api/v1/drops/{drop_id}/lottery",
    response_model=LotteryRecord,
    response_model_exclude_none=True,
    responses=error_responses(404, codes={404: "drop_not_found (no public lottery drop with this id)"}),
)
def get_lottery(drop_id: DropId, session: SessionDep, runtime: RuntimeDep) -> LotteryRecord:
    """The draw's public record (algorithm `furusato-lottery-1`, docs/lottery.md): every input
    of the draw, each published from its stage on; a field not reached yet is absent."""
    drop, lottery = _public_lottery(session, runtime, drop_id)
    return records.record(session, drop, lottery, datetime.now(UTC))


@router.get(
    "/api/v1/drops/{drop_id}/lottery/entries",
    response_model=LotteryEntries,
    responses=error_responses(
        404,
        409,
        codes={404: "drop_not_found", 409: "entries_not_fixed (the applications have not closed yet)"},
    ),
)
def get_entries(drop_id: DropId, session: SessionDep, runtime: RuntimeDep) -> LotteryEntries:
    """The fixed list, sorted by entry id; its lines hash to the record's `list_hash`."""
    _drop, lottery = _public_lottery(session, runtime, drop_id)
    if lottery.stage == ANNOUNCED or lottery.list_hash is None:
        raise ApiError(409, "entries_not_fixed", "The list is fixed when the applications close.")
    return LotteryEntries(list_hash=lottery.list_hash, entries=records.entries(session, drop_id))


@router.get(
    "/api/v1/staff/towns/{slug}/drops/{drop_id}/lottery",
    tags=["staff"],
    response_model=StaffLottery,
    response_model_exclude_none=True,
    responses={**STAFF_RESPONSES, **error_responses(404, codes={404: "drop_not_found (no lottery drop of this town)"})},
)
def staff_lottery(drop_id: DropId, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> StaffLottery:
    """A lottery drop's page: applications by day (Japan time) and prefecture, its state, what
    it waits for, where the places stand and the public record (with its promotions)."""
    drop = session.get(Drop, drop_id)
    if drop is None or drop.municipality_id != ctx.town.id or drop.sale_mode != "lottery":
        raise ApiError(404, "drop_not_found", "No lottery drop of this town with this id.")
    lottery = session.get(Lottery, drop_id)
    if lottery is None:
        raise ApiError(404, "drop_not_found", "This lottery drop is not published yet.")
    return staff_view(session, drop, lottery, runtime.manifest.chain_id, datetime.now(UTC))
