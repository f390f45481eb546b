"""Staff drops over HTTP: a town's officer creates, edits, publishes, pauses and resumes drops.

    GET   /api/v1/staff/towns/{slug}/drops                     every state, paged (?status=)
    POST  /api/v1/staff/towns/{slug}/drops                     a draft (201)
    GET   /api/v1/staff/towns/{slug}/drops/{drop_id}
    PATCH /api/v1/staff/towns/{slug}/drops/{drop_id}           see `backend.sales.drops.update_drop`
    POST  /api/v1/staff/towns/{slug}/drops/{drop_id}/publish   200 "live", 202 "publishing"
    POST  /api/v1/staff/towns/{slug}/drops/{drop_id}/pause     live → paused (orders refused)
    POST  /api/v1/staff/towns/{slug}/drops/{drop_id}/resume    paused → live

Owner and editor write; owner, editor, analyst and moderator read (`backend.staff.policy`).
`TownStaff` authenticates and authorises, `TownDrop` answers 404 for another town's drop;
each write appends one audit row in its own transaction.

Pausing is the database's alone: `ResidentCard.pause()` would stop every drop of the
contract (the whole town's cards, transfers included), so it is never used for one drop. A
paused drop takes no order, and so issues no new wallet voucher; vouchers issued before the
pause stay valid until their deadline (the order's reservation time), like card payments
already under way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select

from backend.core import audit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.sales.deps import TownDrop
from backend.sales.drop_schemas import DropCreate, DropUpdate, StaffDrop, StaffDropsPage
from backend.sales.drops import (
    DRAFT,
    LIVE,
    PAUSED,
    PUBLISHING,
    DropChangeRefused,
    audit_view,
    drop_fields,
    new_draft,
    set_status,
    staff_drops_of,
    update_drop,
)
from backend.sales.models import Drop
from backend.sales.orders import aware, aware_or_none
from backend.sales.publish import (
    PUBLISH_WAIT_SECONDS,
    ChainUnavailable,
    publish_drop,
    publisher_of,
    run_once_per_drop,
)
from backend.staff.deps import STAFF_RESPONSES, StaffContext, TownStaff
from backend.towns.contracts import card_contract_of

router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: drops"])

DropState = Literal["draft", "publishing", "live", "paused"]

_READ = {**STAFF_RESPONSES, **error_responses(404, 422, codes={404: "drop_not_found"})}
_EDIT_CODES = {
    404: "drop_not_found",
    409: "drop_terms_locked (sold, or fixed in the series on chain), drop_publishing, drop_state_changed",
    422: "invalid_request (a field, or a rule between fields: window, limit, lottery dates)",
}
_PUBLISH_CODES = {
    404: "drop_not_found",
    409: "publish_failed (publish_error says why; the drop is a draft again), drop_ended, town_not_ready",
    502: "chain_unavailable",
}


def staff_drop(drop: Drop, town: str) -> StaffDrop:
    fields = drop_fields(drop)
    return StaffDrop(
        id=drop.id,
        municipality=town,
        kind=drop.kind,
        status=drop.status,  # type: ignore[arg-type]
        sold=drop.reserved,
        remaining=drop.supply - drop.reserved,
        publish_error=drop.publish_error,
        chain_id=drop.chain_id,
        contract=drop.contract,
        series_id=drop.series_id,
        first_token_id=int(drop.first_token_id) if drop.first_token_id is not None else None,
        created_at=aware(drop.created_at),
        published_at=aware_or_none(drop.published_at),
        **fields,
    )


def _refused(refused: DropChangeRefused) -> Exception:
    """The API's answer: a 422 like any validation error (each rule in `detail`), else the code."""
    if refused.errors:
        return RequestValidationError(refused.errors)
    return ApiError(refused.status, refused.code, str(refused))


def _audit(ctx: StaffContext, session: SessionDep, action: str, drop: Drop, before: object) -> None:
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action=action,
        target_type="drop",
        target_id=str(drop.id),
        before=before,
        after=audit_view(drop),
    )


@router.get("/drops", response_model=StaffDropsPage, responses=_READ)
def list_drops(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    status: Annotated[DropState | None, Query(description="only drops in this state")] = None,
) -> StaffDropsPage:
    query = staff_drops_of(ctx.town.id)
    if status is not None:
        query = query.where(Drop.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    drops = session.scalars(query.limit(page.limit).offset(page.offset)).all()
    return StaffDropsPage(
        items=[staff_drop(drop, ctx.town.slug) for drop in drops], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/drops",
    status_code=201,
    response_model=StaffDrop,
    responses={
        **STAFF_RESPONSES,
        **error_responses(
            409, 422, codes={409: "town_not_ready (its contracts are being deployed)", 422: _EDIT_CODES[422]}
        ),
    },
)
def create_drop(body: DropCreate, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> StaffDrop:
    """A draft: nothing is public and nothing is on chain until it is published."""
    contract = card_contract_of(ctx.town, runtime.manifest)  # 409 town_not_ready while deploying
    drop = new_draft(session, ctx.town, body, chain_id=runtime.manifest.chain_id, contract=contract)
    _audit(ctx, session, "drop.create", drop, None)
    session.commit()
    return staff_drop(drop, ctx.town.slug)


@router.get("/drops/{drop_id}", response_model=StaffDrop, responses=_READ)
def get_drop(drop: TownDrop, ctx: TownStaff) -> StaffDrop:
    return staff_drop(drop, ctx.town.slug)


@router.patch(
    "/drops/{drop_id}",
    response_model=StaffDrop,
    responses={**STAFF_RESPONSES, **error_responses(404, 409, 422, codes=_EDIT_CODES)},
)
def edit_drop(body: DropUpdate, drop: TownDrop, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> StaffDrop:
    """Only the fields sent change. A published drop's new price, limit or window is set on its
    series on chain too (waited for up to a few seconds; the sweeper finishes it otherwise)."""
    before = audit_view(drop)
    try:
        chain_follows = update_drop(session, drop, body.changes())
    except DropChangeRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, "drop.update", drop, before)
    session.commit()
    if chain_follows:
        publisher = publisher_of(runtime)
        run_once_per_drop(drop.id, partial(publisher.sync_sale_terms, drop.id), wait=PUBLISH_WAIT_SECONDS)
    return staff_drop(drop, ctx.town.slug)


@router.post(
    "/drops/{drop_id}/publish",
    response_model=StaffDrop,
    responses={
        **STAFF_RESPONSES,
        202: {"model": StaffDrop, "description": 'Accepted: the series transaction is sent, status "publishing"'},
        **error_responses(404, 409, 422, 502, codes=_PUBLISH_CODES),
    },
)
def publish(drop: TownDrop, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep, response: Response) -> StaffDrop:
    """Put the drop's series on chain (exactly once, however often this is called) and make the
    drop public once the chain confirms it: 200 "live", or 202 "publishing" while the
    transaction waits for its block (read the drop again; the sweeper finishes it)."""
    before = audit_view(drop)
    if drop.status == DRAFT:
        if drop.ends_at is not None and aware(drop.ends_at) <= datetime.now(UTC):
            raise ApiError(
                409,
                "drop_ended",
                "販売終了日時を過ぎています。期間を直してから公開してください。 (ends_at has passed.)",
            )
        try:
            # The town's contract now: a town may have got its own since the draft was made.
            publisher_of(runtime).claim(session, drop, card_contract_of(ctx.town, runtime.manifest))
        except ChainUnavailable as exc:
            session.rollback()
            message = (
                "ブロックチェーンに接続できません。しばらくしてからもう一度お試しください。 (The chain did not answer.)"
            )
            raise ApiError(502, "chain_unavailable", message) from exc
    _audit(ctx, session, "drop.publish", drop, before)
    session.commit()
    if drop.status == PUBLISHING:
        drop = publish_drop(runtime, drop.id)
    if drop.status == DRAFT:
        raise ApiError(409, "publish_failed", drop.publish_error or "公開できませんでした。 (Publishing failed.)")
    response.status_code = 202 if drop.status == PUBLISHING else 200
    return staff_drop(drop, ctx.town.slug)


@router.post(
    "/drops/{drop_id}/pause",
    response_model=StaffDrop,
    responses={
        **STAFF_RESPONSES,
        **error_responses(404, 409, 422, codes={404: "drop_not_found", 409: "drop_not_live"}),
    },
)
def pause(drop: TownDrop, ctx: TownStaff, session: SessionDep) -> StaffDrop:
    """Stop new orders (409 `drop_paused` to buyers); the drop stays on its public page."""
    return _move(drop, ctx, session, to=PAUSED, action="drop.pause")


@router.post(
    "/drops/{drop_id}/resume",
    response_model=StaffDrop,
    responses={
        **STAFF_RESPONSES,
        **error_responses(404, 409, 422, codes={404: "drop_not_found", 409: "drop_not_paused"}),
    },
)
def resume(drop: TownDrop, ctx: TownStaff, session: SessionDep) -> StaffDrop:
    return _move(drop, ctx, session, to=LIVE, action="drop.resume")


def _move(drop: Drop, ctx: StaffContext, session: SessionDep, *, to: str, action: str) -> StaffDrop:
    before = audit_view(drop)
    try:
        set_status(session, drop, to=to)
    except DropChangeRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, action, drop, before)
    session.commit()
    return staff_drop(drop, ctx.town.slug)
