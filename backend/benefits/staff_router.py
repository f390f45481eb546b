"""Town staff: shops, their verifier devices, benefits, redemptions (list and CSV).

    GET    /api/v1/staff/towns/{slug}/shops                         paged
    POST   /api/v1/staff/towns/{slug}/shops                         201
    PATCH  /api/v1/staff/towns/{slug}/shops/{shop_id}               only the fields sent; archived closes it
    GET    /api/v1/staff/towns/{slug}/shops/{shop_id}/devices       paged, never a secret
    POST   /api/v1/staff/towns/{slug}/shops/{shop_id}/devices       201 {device_id, link_url, expires_at}
    DELETE /api/v1/staff/towns/{slug}/devices/{device_id}           revokes: the phone's next request is a 401
    GET    /api/v1/staff/towns/{slug}/benefits                      paged, ?shop_id
    POST   /api/v1/staff/towns/{slug}/benefits                      201
    PATCH  /api/v1/staff/towns/{slug}/benefits/{benefit_id}         active, texts, term
    GET    /api/v1/staff/towns/{slug}/redemptions                   paged; ?shop_id&day&from&to (Japan days)
    GET    /api/v1/staff/towns/{slug}/redemptions.csv               the same filters; UTF-8 BOM or ?encoding=shift_jis

Who may is `backend.staff.policy` (editors write; analysts read redemptions). Each write
appends one audit row in its own transaction; an id of another town answers 404 like a
missing one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core import audit
from backend.core.csv_download import CSV_OK, csv_download
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.sales.qr import SCREEN, qr_svg
from backend.sales.staff_orders import calendar_day
from backend.staff.deps import STAFF_RESPONSES, NowDep, StaffContext, TownStaff

from . import benefits as benefit_rules
from . import devices as device_rules
from . import shops as shop_rules
from .models import Benefit, BenefitSeries, Shop, VerifierDevice
from .periods import JST
from .redemptions import CSV_HEADER, RedemptionFilters, export_rows, page_of
from .schemas import (
    BenefitCreate,
    BenefitUpdate,
    DeviceCreate,
    DeviceCreated,
    ShopCreate,
    ShopUpdate,
    StaffBenefit,
    StaffBenefitsPage,
    StaffDevice,
    StaffDevicesPage,
    StaffRedemptionsPage,
    StaffShop,
    StaffShopsPage,
)

router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: benefits"])

_SHOP_404 = {404: "shop_not_found"}
_READ = {**STAFF_RESPONSES, **error_responses(422)}
_WRITE_SHOP = {**STAFF_RESPONSES, **error_responses(404, 422, codes={**_SHOP_404, 422: "invalid_request"})}


def town_shop(shop_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Shop:
    shop = shop_rules.town_shop(session, ctx.town.id, shop_id)
    if shop is None:
        raise ApiError(404, "shop_not_found", "この町にその店舗はありません。 (No such shop in this town.)")
    return shop


def town_benefit(benefit_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Benefit:
    benefit = benefit_rules.town_benefit(session, ctx.town.id, benefit_id)
    if benefit is None:
        raise ApiError(404, "benefit_not_found", "この町にその特典はありません。 (No such benefit in this town.)")
    return benefit


def town_device(
    device_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep
) -> VerifierDevice:
    device = session.get(VerifierDevice, device_id)
    if device is None or device.municipality_id != ctx.town.id:
        raise ApiError(404, "device_not_found", "この町にその端末はありません。 (No such device in this town.)")
    return device


TownShop = Annotated[Shop, Depends(town_shop)]
TownBenefit = Annotated[Benefit, Depends(town_benefit)]
TownDevice = Annotated[VerifierDevice, Depends(town_device)]


def _audit(
    ctx: StaffContext, session: Session, action: str, kind: str, target: int, before: object, after: object
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


# ── shops ───────────────────────────────────────────────────────────────────


@router.get("/shops", response_model=StaffShopsPage, responses=_READ)
def list_shops(ctx: TownStaff, session: SessionDep, page: PageDep) -> StaffShopsPage:
    """The town's shops and facilities, oldest first, closed ones too."""
    query = shop_rules.shops_of(ctx.town.id)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    shops = list(session.scalars(query.limit(page.limit).offset(page.offset)))
    return StaffShopsPage(
        items=shop_rules.staff_shops(session, shops), total=total, limit=page.limit, offset=page.offset
    )


@router.post("/shops", status_code=201, response_model=StaffShop, responses=_READ)
def create_shop(body: ShopCreate, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffShop:
    """A shop or facility where holders use benefits (e.g. a hot spring)."""
    shop = shop_rules.new_shop(session, ctx.town.id, body, now)
    _audit(ctx, session, "shop.create", "shop", shop.id, None, shop_rules.audit_view(shop))
    session.commit()
    return shop_rules.staff_shops(session, [shop])[0]


@router.patch("/shops/{shop_id}", response_model=StaffShop, responses=_WRITE_SHOP)
def edit_shop(body: ShopUpdate, shop: TownShop, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffShop:
    """Only the fields sent change; `archived: true` closes the shop (its devices and benefits
    stop working, its history stays), `false` reopens it."""
    before = shop_rules.audit_view(shop)
    shop_rules.update_shop(shop, body.changes(), now)
    _audit(ctx, session, "shop.update", "shop", shop.id, before, shop_rules.audit_view(shop))
    session.commit()
    return shop_rules.staff_shops(session, [shop])[0]


# ── devices ─────────────────────────────────────────────────────────────────


def _staff_device(device: VerifierDevice, now: datetime) -> StaffDevice:
    return StaffDevice(
        id=device.id,
        shop_id=device.shop_id,
        label=device.label,
        status=device_rules.device_status(device, now),  # type: ignore[arg-type]
        link_expires_at=device.link_expires_at,
        paired_at=device.paired_at,
        last_seen_at=device.last_seen_at,
        revoked_at=device.revoked_at,
        created_at=device.created_at,
    )


@router.get(
    "/shops/{shop_id}/devices",
    response_model=StaffDevicesPage,
    responses={**STAFF_RESPONSES, **error_responses(404, 422, codes=_SHOP_404)},
)
def list_devices(shop: TownShop, session: SessionDep, page: PageDep, now: NowDep) -> StaffDevicesPage:
    """The shop's devices, newest first: status, when paired and last seen; never a secret."""
    rows, total = device_rules.shop_devices(session, shop.id, page.limit, page.offset)
    return StaffDevicesPage(
        items=[_staff_device(device, now) for device in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/shops/{shop_id}/devices",
    status_code=201,
    response_model=DeviceCreated,
    responses={
        **STAFF_RESPONSES,
        **error_responses(404, 409, 422, codes={**_SHOP_404, 409: "shop_closed", 422: "invalid_request"}),
    },
)
def create_device(
    body: DeviceCreate, shop: TownShop, ctx: TownStaff, session: SessionDep, runtime: RuntimeDep, now: NowDep
) -> DeviceCreated:
    """A device link for the shop's phone: single use, 24 h, shown once. Opened on the phone,
    `/verify/` signs it in for this shop only."""
    if shop.archived_at is not None:
        raise ApiError(409, "shop_closed", "This shop is closed; reopen it first.")
    made = device_rules.new_device(session, shop, body.label.strip(), ctx.member.id, now)
    device = made.device
    _audit(ctx, session, "device.create", "verifier_device", device.id, None, device_rules.audit_view(device, now))
    session.commit()
    link = device_rules.link_url(runtime.settings.public_url, made.secret)
    return DeviceCreated(
        device_id=device.id,
        link_url=link,
        qr_svg=qr_svg(link, level=SCREEN),
        expires_at=device.link_expires_at,
        device=_staff_device(device, now),
    )


@router.delete(
    "/devices/{device_id}",
    response_model=StaffDevice,
    responses={**STAFF_RESPONSES, **error_responses(404, 422, codes={404: "device_not_found"})},
)
def revoke_device(device: TownDevice, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffDevice:
    """Revoke the device: its link and its session stop at once (the phone's next request is a
    401). A device revoked before answers as it is (no second audit row)."""
    before = device_rules.audit_view(device, now)
    if device_rules.revoke(device, now):
        _audit(
            ctx, session, "device.revoke", "verifier_device", device.id, before, device_rules.audit_view(device, now)
        )
        session.commit()
    return _staff_device(device, now)


# ── benefits ────────────────────────────────────────────────────────────────


def _benefit_refused(refused: benefit_rules.BenefitRefused) -> ApiError:
    return ApiError(refused.status, refused.code, str(refused))


def _series_ids(session: Session, benefit_id: int) -> list[int]:
    return list(
        session.scalars(
            select(BenefitSeries.drop_id).where(BenefitSeries.benefit_id == benefit_id).order_by(BenefitSeries.drop_id)
        )
    )


@router.get("/benefits", response_model=StaffBenefitsPage, responses=_READ)
def list_benefits(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    shop_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="only this shop's")] = None,
) -> StaffBenefitsPage:
    """The town's benefits, oldest first, with their series and how often each was used."""
    query = benefit_rules.benefits_of(ctx.town.id, shop_id)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.limit(page.limit).offset(page.offset)))
    return StaffBenefitsPage(
        items=benefit_rules.staff_benefits(session, rows), total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/benefits",
    status_code=201,
    response_model=StaffBenefit,
    responses={
        **STAFF_RESPONSES,
        **error_responses(
            404,
            409,
            422,
            codes={
                404: "shop_not_found, drop_not_found (a series not of this town)",
                409: "shop_closed",
                422: "invalid_request",
            },
        ),
    },
)
def create_benefit(body: BenefitCreate, ctx: TownStaff, session: SessionDep, now: NowDep) -> StaffBenefit:
    """A benefit at one shop, once per day, ISO week, month (Japan time) or term, for the
    series named (none: every series of the town, later ones too)."""
    try:
        benefit = benefit_rules.new_benefit(session, ctx.town.id, body, now)
    except benefit_rules.BenefitRefused as refused:
        session.rollback()
        raise _benefit_refused(refused) from None
    _audit(ctx, session, "benefit.create", "benefit", benefit.id, None, benefit_rules.audit_view(benefit, body.series))
    session.commit()
    return benefit_rules.staff_benefits(session, [benefit])[0]


@router.patch(
    "/benefits/{benefit_id}",
    response_model=StaffBenefit,
    responses={
        **STAFF_RESPONSES,
        **error_responses(
            404,
            409,
            422,
            codes={404: "benefit_not_found", 409: "term_invalid (with the term kept)", 422: "invalid_request"},
        ),
    },
)
def edit_benefit(body: BenefitUpdate, benefit: TownBenefit, ctx: TownStaff, session: SessionDep) -> StaffBenefit:
    """Only the fields sent change: `active` pauses or resumes it, the texts, the term."""
    series = _series_ids(session, benefit.id)
    before = benefit_rules.audit_view(benefit, series)
    try:
        benefit_rules.update_benefit(benefit, body.changes())
    except benefit_rules.BenefitRefused as refused:
        session.rollback()
        raise _benefit_refused(refused) from None
    _audit(ctx, session, "benefit.update", "benefit", benefit.id, before, benefit_rules.audit_view(benefit, series))
    session.commit()
    return benefit_rules.staff_benefits(session, [benefit])[0]


# ── redemptions ─────────────────────────────────────────────────────────────

Day = Annotated[date | None, BeforeValidator(calendar_day)]


def _japan_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=JST).astimezone(UTC)


def redemption_filters(
    shop_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="only this shop's")] = None,
    day: Annotated[Day, Query(description="one day, Japan time (YYYY-MM-DD)")] = None,
    from_day: Annotated[Day, Query(alias="from", description="first day, Japan time (YYYY-MM-DD)")] = None,
    to_day: Annotated[Day, Query(alias="to", description="last day, inclusive, Japan time (YYYY-MM-DD)")] = None,
) -> RedemptionFilters:
    """Days are Japan days (a clerk's Monday is Monday in Japan); `day` is `from` = `to`."""
    first = day if day is not None else from_day
    last = day if day is not None else to_day
    if day is not None and (from_day is not None or to_day is not None):
        first = max(day, from_day or day)
        last = min(day, to_day or day)
    return RedemptionFilters(
        shop_id=shop_id,
        start=None if first is None else _japan_midnight(first),
        end=None if last is None else _japan_midnight(last + timedelta(days=1)),
    )


RedemptionFiltersDep = Annotated[RedemptionFilters, Depends(redemption_filters)]


@router.get("/redemptions", response_model=StaffRedemptionsPage, responses=_READ)
def list_redemptions(
    ctx: TownStaff, session: SessionDep, page: PageDep, filters: RedemptionFiltersDep
) -> StaffRedemptionsPage:
    """The town's redemptions, newest first, by shop and day: the visit evidence."""
    items, total = page_of(session, ctx.town.id, filters, page.limit, page.offset)
    return StaffRedemptionsPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/redemptions.csv", response_class=StreamingResponse, responses={**_READ, **CSV_OK})
def export_redemptions(
    ctx: TownStaff,
    runtime: RuntimeDep,
    filters: RedemptionFiltersDep,
    encoding: Annotated[Literal["utf-8", "shift_jis"], Query()] = "utf-8",
) -> StreamingResponse:
    """The town's redemptions as CSV, oldest first, streamed; times in Japan time."""
    return csv_download(
        runtime.sessions,
        CSV_HEADER,
        lambda session: export_rows(session, ctx.town.id, filters),
        name="redemptions",
        slug=ctx.town.slug,
        now=datetime.now(UTC),
        encoding=encoding,
    )
