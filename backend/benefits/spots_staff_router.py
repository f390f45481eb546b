"""Town staff: spots, their posters and kiosks, and the check-ins made there.

    GET   /api/v1/staff/towns/{slug}/spots                       the town's spots, paged
    POST  /api/v1/staff/towns/{slug}/spots                       a spot (201), its code generated
    PATCH /api/v1/staff/towns/{slug}/spots/{spot_id}             only the fields sent change
    GET   /api/v1/staff/towns/{slug}/spots/{spot_id}/poster.pdf  ?size=A4|A3, QR to /s/{code}
    GET   /api/v1/staff/towns/{slug}/spots/{spot_id}/kiosk       the kiosk's current code and QR
    GET   /api/v1/staff/towns/{slug}/check-ins                   ?spot_id&day&from&to, paged
    GET   /api/v1/staff/towns/{slug}/check-ins.csv               the same, streamed CSV

Editors write, everyone in the console but the verifier reads spots and posters, the kiosk
runs on an editor's or a shop verifier's phone, and check-ins are read by those who read
orders (`backend.staff.policy`). Each write appends one audit row in its transaction.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BeforeValidator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.benefits import check_ins as visits
from backend.benefits import spots as spot_rules
from backend.benefits.kiosk import WINDOW_SECONDS, current_code, kiosk_key
from backend.benefits.models import Spot
from backend.benefits.spot_poster import render_spot_poster
from backend.benefits.spot_schemas import (
    KioskCode,
    SpotCreate,
    SpotDayCount,
    SpotUpdate,
    StaffCheckIn,
    StaffCheckInsPage,
    StaffSpot,
    StaffSpotsPage,
)
from backend.core import audit
from backend.core.csv_download import CSV_OK, csv_download
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.runtime import Runtime
from backend.sales.poster import PosterUnavailable
from backend.sales.qr import qr_svg
from backend.sales.staff_orders import calendar_day
from backend.staff.deps import STAFF_RESPONSES, NowDep, StaffContext, TownStaff

log = logging.getLogger("furusato.spots")
router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: benefits"])

_SPOT_404 = {404: "spot_not_found"}
_READ = {**STAFF_RESPONSES, **error_responses(422)}
_WRITE_ONE = {**STAFF_RESPONSES, **error_responses(404, 422, codes={**_SPOT_404, 422: "invalid_request"})}


def town_spot(spot_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Spot:
    """The spot `{spot_id}` of the caller's town; another town's answers like a missing one."""
    spot = spot_rules.town_spot(session, ctx.town.id, spot_id)
    if spot is None:
        raise ApiError(404, "spot_not_found", "この町にそのスポットはありません。 (No spot with this id in this town.)")
    return spot


TownSpot = Annotated[Spot, Depends(town_spot)]


def _staff_spot(runtime: Runtime, ctx: StaffContext, spot: Spot, today: int) -> StaffSpot:
    return StaffSpot(
        id=spot.id,
        municipality=ctx.town.slug,
        code=spot.code,
        url=spot_rules.spot_url(runtime.settings.public_url, spot.code),
        name_ja=spot.name_ja,
        name_en=spot.name_en,
        place_ja=spot.place_ja,
        latitude=spot.latitude,
        longitude=spot.longitude,
        radius_m=spot.radius_m,
        require_location=spot.require_location,
        kiosk=spot.kiosk,
        activity=spot.activity,  # type: ignore[arg-type]
        created_at=spot.created_at,
        archived_at=spot.archived_at,
        check_ins_today=today,
    )


def _audit(ctx: StaffContext, session: Session, action: str, spot: Spot, before: object) -> None:
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action=action,
        target_type="spot",
        target_id=str(spot.id),
        before=before,
        after=spot_rules.audit_view(spot),
    )


# ── spots ───────────────────────────────────────────────────────────────────


@router.get("/spots", response_model=StaffSpotsPage, responses=_READ)
def list_spots(
    ctx: TownStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    now: NowDep,
    archived: Annotated[bool | None, Query(description="only archived (true) or live (false) spots")] = None,
) -> StaffSpotsPage:
    """The town's spots, newest first, each with its poster URL and today's check-ins."""
    query = spot_rules.spots_of(ctx.town.id, archived=archived)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    spots = session.scalars(query.limit(page.limit).offset(page.offset)).all()
    today = visits.today_counts(session, [spot.id for spot in spots], now)
    items = [_staff_spot(runtime, ctx, spot, today.get(spot.id, 0)) for spot in spots]
    return StaffSpotsPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/spots",
    status_code=201,
    response_model=StaffSpot,
    responses={**STAFF_RESPONSES, **error_responses(422, codes={422: "invalid_request"})},
)
def create_spot(body: SpotCreate, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep) -> StaffSpot:
    """A spot; its code (the poster's `/s/{code}`) is generated: short, URL-safe, unique."""
    spot = spot_rules.create_spot(session, ctx.town.id, body)
    _audit(ctx, session, "spot.create", spot, None)
    session.commit()
    return _staff_spot(runtime, ctx, spot, 0)


@router.patch("/spots/{spot_id}", response_model=StaffSpot, responses=_WRITE_ONE)
def edit_spot(
    body: SpotUpdate, spot: TownSpot, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> StaffSpot:
    """Only the fields sent change; `archived` retires or restores the spot. The code stays."""
    before = spot_rules.audit_view(spot)
    try:
        spot_rules.update_spot(session, spot, body.changes(), now)
    except spot_rules.SpotChangeRefused as refused:
        session.rollback()
        raise RequestValidationError(refused.errors) from None
    _audit(ctx, session, "spot.update", spot, before)
    session.commit()
    return _staff_spot(runtime, ctx, spot, visits.today_counts(session, [spot.id], now).get(spot.id, 0))


@router.get(
    "/spots/{spot_id}/poster.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The printable check-in poster, one page",
        },
        **STAFF_RESPONSES,
        **error_responses(404, 422, 503, codes={**_SPOT_404, 503: "poster_unavailable"}),
    },
)
def poster(
    spot: TownSpot,
    ctx: TownStaff,
    runtime: RuntimeDep,
    size: Annotated[Literal["A4", "A3"], Query(description="Paper size")] = "A4",
) -> Response:
    """The spot's poster as PDF: the town, "デジタル住民票をお持ちの方は、ここでチェックイン", the
    spot's name and place, the QR of `{public_url}/s/{code}` and that URL printed under it."""
    try:
        pdf = render_spot_poster(
            spot, ctx.town.name_ja, runtime.settings.public_url, size, accent=ctx.town.brand_colour
        )
    except PosterUnavailable as exc:
        log.error("poster of spot %s not rendered: %s", spot.id, exc)
        raise ApiError(503, "poster_unavailable", "Posters cannot be made on this server right now.") from None
    headers = {
        "Content-Disposition": f'attachment; filename="spot-{spot.code}-{size}.pdf"',
        "Cache-Control": "private, no-store",
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get(
    "/spots/{spot_id}/kiosk",
    response_model=KioskCode,
    responses={
        **STAFF_RESPONSES,
        **error_responses(404, 409, 422, codes={**_SPOT_404, 409: "not_a_kiosk (not a kiosk spot, or archived)"}),
    },
)
def kiosk(spot: TownSpot, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep, now: NowDep) -> KioskCode:
    """What the kiosk screen shows now: a QR of `/s/{code}?k={kiosk code}`, to be fetched
    again at `expires_at` (codes change every 30 seconds; a code is taken one window more)."""
    if not spot.kiosk or spot.archived_at is not None:
        raise ApiError(
            409,
            "not_a_kiosk",
            "このスポットは受付（キオスク）のスポットではありません。"
            " (This spot is not a kiosk spot, or it is archived.)",
        )
    shown = current_code(kiosk_key(runtime.settings.secret_key.get_secret_value()), spot.id, now)
    url = f"{spot_rules.spot_url(runtime.settings.public_url, spot.code)}?k={shown.code}"
    today = visits.today_counts(session, [spot.id], now).get(spot.id, 0)
    return KioskCode(
        url=url,
        code=shown.code,
        expires_at=shown.expires_at,
        window_seconds=WINDOW_SECONDS,
        qr_svg=qr_svg(url),
        spot=_staff_spot(runtime, ctx, spot, today),
    )


# ── check-ins ───────────────────────────────────────────────────────────────

Day = Annotated[date | None, BeforeValidator(calendar_day)]


def check_in_filters(
    spot_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="only this spot")] = None,
    day: Annotated[Day, Query(description="only this day, Japan time (YYYY-MM-DD)")] = None,
    day_from: Annotated[Day, Query(alias="from", description="first day, Japan time (YYYY-MM-DD)")] = None,
    day_to: Annotated[Day, Query(alias="to", description="last day, inclusive, Japan time (YYYY-MM-DD)")] = None,
) -> visits.CheckInFilters:
    return visits.CheckInFilters(spot_id, day, day_from, day_to)


FiltersDep = Annotated[visits.CheckInFilters, Depends(check_in_filters)]


@router.get("/check-ins", response_model=StaffCheckInsPage, responses=_READ)
def list_check_ins(ctx: TownStaff, session: SessionDep, page: PageDep, filters: FiltersDep) -> StaffCheckInsPage:
    """The town's check-ins, newest first, and their counts per spot and day; nothing
    personal: `visitor` is a pseudonym, coordinates are never stored."""
    query = visits.town_check_ins(ctx.town.id, filters)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.execute(query.limit(page.limit).offset(page.offset)).all()
    items = [
        StaffCheckIn(
            id=row.id,
            spot_id=spot.id,
            spot_name_ja=spot.name_ja,
            day=row.day,
            visitor=row.visitor,
            method=row.method,  # type: ignore[arg-type]
            distance_m=row.distance_m,
            checked_in_at=row.checked_in_at,
        )
        for row, spot in rows
    ]
    counts = [
        SpotDayCount(spot_id=spot_id, day=day, check_ins=count)
        for spot_id, day, count in visits.counts_by_spot_and_day(session, ctx.town.id, filters)
    ]
    return StaffCheckInsPage(items=items, total=total, limit=page.limit, offset=page.offset, by_spot_and_day=counts)


@router.get("/check-ins.csv", response_class=StreamingResponse, responses={**_READ, **CSV_OK})
def export_check_ins(
    ctx: TownStaff,
    runtime: RuntimeDep,
    filters: FiltersDep,
    now: NowDep,
    encoding: Annotated[Literal["utf-8", "shift_jis"], Query()] = "utf-8",
) -> StreamingResponse:
    """The town's check-ins as CSV, oldest first, streamed: day, time (JST), spot, visitor's
    pseudonym, method, distance."""
    return csv_download(
        runtime.sessions,
        visits.CSV_HEADER,
        lambda session: visits.export_rows(session, ctx.town.id, filters),
        name="check-ins",
        slug=ctx.town.slug,
        now=now,
        encoding=encoding,
    )
