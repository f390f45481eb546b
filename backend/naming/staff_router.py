"""Town staff: parks and their lots (naming rights), created on chain once.

    GET   /api/v1/staff/towns/{slug}/parks                      the town's parks, paged
    POST  /api/v1/staff/towns/{slug}/parks                      a park (201)
    GET   /api/v1/staff/towns/{slug}/parks/{park_id}            with its lots
    PATCH /api/v1/staff/towns/{slug}/parks/{park_id}            only the fields sent change
    POST  /api/v1/staff/towns/{slug}/parks/{park_id}/lots       201 on chain ("ready"), 202 "creating"
    GET   /api/v1/staff/towns/{slug}/lots/{lot_id}              bidders, bids, offers, chain state
    POST  /api/v1/staff/towns/{slug}/lots/{lot_id}/relist       an unsold lot (no bid): a new window

Owner and editor write; owner, editor, analyst and moderator read (`backend.staff.policy`).
Each write appends one audit row in the transaction that makes it; the chain's part
(`backend.naming.lots.LotChain`) follows the commit, waited for up to `SYNC_WAIT_SECONDS`,
and the settle loop finishes what a slow node or a crash left.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select

from backend.core import audit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.naming import lots as lot_rules
from backend.naming import parks as park_rules
from backend.naming.chain import naming_chain
from backend.naming.lots import CREATING, LotChain, LotRefused, lot_summary, lots_of_parks, staff_lot
from backend.naming.models import Lot, Park
from backend.naming.staff_schemas import (
    LotCreate,
    LotRelist,
    ParkCreate,
    ParkUpdate,
    StaffLot,
    StaffPark,
    StaffParkListItem,
    StaffParksPage,
)
from backend.runtime import Runtime
from backend.staff.deps import STAFF_RESPONSES, NowDep, StaffContext, TownStaff
from backend.towns.contracts import rights_contract_of

router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: naming"])

_PARK_404 = {404: "park_not_found"}
_LOT_404 = {404: "lot_not_found"}
_READ_PARK = {**STAFF_RESPONSES, **error_responses(404, 422, codes=_PARK_404)}
_READ_LOT = {**STAFF_RESPONSES, **error_responses(404, 422, codes=_LOT_404)}


def town_park(park_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Park:
    """The park `{park_id}` of the caller's town (after `TownStaff` let the caller in); another
    town's park answers exactly like a missing one."""
    park = park_rules.town_park(session, ctx.town.id, park_id)
    if park is None:
        raise ApiError(404, "park_not_found", "この町にその公園はありません。 (No park with this id in this town.)")
    return park


def town_lot(lot_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None or lot.municipality_id != ctx.town.id:
        raise ApiError(404, "lot_not_found", "この町にその命名権はありません。 (No lot with this id in this town.)")
    return lot


TownPark = Annotated[Park, Depends(town_park)]
TownLot = Annotated[Lot, Depends(town_lot)]


def _refused(refused: LotRefused | park_rules.ParkChangeRefused) -> Exception:
    if isinstance(refused, park_rules.ParkChangeRefused) or refused.errors:
        return RequestValidationError(refused.errors)
    return ApiError(refused.status, refused.code, str(refused))


def _audit(
    ctx: StaffContext, session: SessionDep, action: str, kind: str, target: int, before: object, after: object
) -> None:
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action=action,
        target_type=kind,
        target_id=str(target),
        before=before,
        after=after,
    )


def _staff_park(session: SessionDep, park: Park, ctx: StaffContext, now: NowDep) -> StaffPark:
    lots = lots_of_parks(session, [park.id])[park.id]
    return StaffPark(
        id=park.id,
        municipality=ctx.town.slug,
        name_ja=park.name_ja,
        name_en=park.name_en,
        description_ja=park.description_ja,
        description_en=park.description_en,
        photo_data_url=park.photo_data_url,
        location_ja=park.location_ja,
        latitude=park.latitude,
        longitude=park.longitude,
        created_at=park.created_at,
        lots=[lot_summary(lot, now) for lot in lots],
    )


def lot_chain(runtime: Runtime) -> LotChain | None:
    """The lots' sender in this process, or None without the admin key (the settle loop of a
    process that has it finishes the chain's part)."""
    naming = naming_chain(runtime)
    return LotChain(runtime.sessions, naming) if naming is not None else None


# ── parks ───────────────────────────────────────────────────────────────────


@router.get("/parks", response_model=StaffParksPage, responses={**STAFF_RESPONSES, **error_responses(422)})
def list_parks(ctx: TownStaff, session: SessionDep, page: PageDep, now: NowDep) -> StaffParksPage:
    """The town's parks, newest first, each with its lots (no photo: see the park)."""
    query = park_rules.parks_of(ctx.town.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    parks = session.scalars(query.limit(page.limit).offset(page.offset)).all()
    lots = lots_of_parks(session, [park.id for park in parks])
    items = [
        StaffParkListItem(
            id=park.id,
            municipality=ctx.town.slug,
            name_ja=park.name_ja,
            name_en=park.name_en,
            location_ja=park.location_ja,
            has_photo=bool(park.photo_data_url),
            created_at=park.created_at,
            lots=[lot_summary(lot, now) for lot in lots[park.id]],
        )
        for park in parks
    ]
    return StaffParksPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/parks",
    status_code=201,
    response_model=StaffPark,
    responses={**STAFF_RESPONSES, **error_responses(422, codes={422: "invalid_request"})},
)
def create_park(body: ParkCreate, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffPark:
    """A park; `name_ja` is its default name (on chain with each of its lots)."""
    park = park_rules.new_park(session, ctx.town, body)
    _audit(ctx, session, "park.create", "park", park.id, None, park_rules.audit_view(park))
    session.commit()
    return _staff_park(session, park, ctx, now)


@router.get("/parks/{park_id}", response_model=StaffPark, responses=_READ_PARK)
def get_park(park: TownPark, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffPark:
    return _staff_park(session, park, ctx, now)


@router.patch(
    "/parks/{park_id}",
    response_model=StaffPark,
    responses={**STAFF_RESPONSES, **error_responses(404, 422, codes={**_PARK_404, 422: "invalid_request"})},
)
def edit_park(body: ParkUpdate, park: TownPark, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffPark:
    """Only the fields sent change. A new `name_ja` is the default name of lots created from now."""
    before = park_rules.audit_view(park)
    try:
        park_rules.update_park(session, park, body.changes())
    except park_rules.ParkChangeRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, "park.update", "park", park.id, before, park_rules.audit_view(park))
    session.commit()
    return _staff_park(session, park, ctx, now)


# ── lots ────────────────────────────────────────────────────────────────────


@router.post(
    "/parks/{park_id}/lots",
    status_code=201,
    response_model=StaffLot,
    responses={
        **STAFF_RESPONSES,
        202: {"model": StaffLot, "description": 'Accepted: `createLot` is sent, chain state "creating"'},
        **error_responses(
            404,
            409,
            422,
            codes={
                **_PARK_404,
                409: "term_overlaps (another lot of the park), town_not_ready",
                422: "invalid_request (a field, or a rule between fields: term, window, the end in the future)",
            },
        ),
    },
)
def create_lot(
    body: LotCreate,
    park: TownPark,
    ctx: TownStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    response: Response,
) -> StaffLot:
    """A naming right for the term and its auction; created on chain through the exactly-once
    sender: 201 once on chain (chain.state "ready", or "failed" with chain.error), 202 while
    "creating" (the settle loop finishes it)."""
    contract = rights_contract_of(ctx.town, runtime.manifest)  # 409 town_not_ready while deploying
    try:
        lot = lot_rules.new_lot(
            session,
            park,
            body,
            chain_id=runtime.manifest.chain_id,
            contract=contract,
            created_by=ctx.member.id,
            now=now,
        )
    except LotRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, "lot.create", "lot", lot.id, None, lot_rules.audit_view(lot))
    session.commit()
    chain = lot_chain(runtime)
    if chain is not None:
        chain.create(lot.id)
    session.refresh(lot)
    response.status_code = 202 if lot.chain_state == CREATING else 201
    return staff_lot(session, lot, ctx.town, now)


@router.get("/lots/{lot_id}", response_model=StaffLot, responses=_READ_LOT)
def get_lot(lot: TownLot, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffLot:
    """The lot with its bidders (pseudonym and prefecture), every bid, the offers and the chain."""
    return staff_lot(session, lot, ctx.town, now)


@router.post(
    "/lots/{lot_id}/relist",
    response_model=StaffLot,
    responses={
        **STAFF_RESPONSES,
        **error_responses(
            404,
            409,
            422,
            codes={
                **_LOT_404,
                409: "lot_not_unsold, lot_has_bids (make a new lot), lot_state_changed",
                422: "invalid_request (the window: after its start, in the future, before the term ends)",
            },
        ),
    },
)
def relist_lot(
    body: LotRelist, lot: TownLot, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> StaffLot:
    """An unsold lot without bids (reserve not met) opens again with the new window (and
    reserve); `relist` on chain follows (purpose `naming:lot:{id}:relist:{n}`)."""
    before = lot_rules.audit_view(lot)
    try:
        lot_rules.relist(session, lot, body, now)
    except LotRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    _audit(ctx, session, "lot.relist", "lot", lot.id, before, lot_rules.audit_view(lot))
    session.commit()
    chain = lot_chain(runtime)
    if chain is not None:
        chain.relist(lot.id)
    session.refresh(lot)
    return staff_lot(session, lot, ctx.town, now)
