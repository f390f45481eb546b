"""Orders for town staff over HTTP: search, an order's page, the CSV export, refunds, home.

    GET  /api/v1/staff/towns/{slug}/orders                     paged; drop_id, status, campaign, email, dates
    GET  /api/v1/staff/towns/{slug}/orders.csv                 the same filters, ?encoding=utf-8|shift_jis, streamed
    GET  /api/v1/staff/towns/{slug}/orders/{order_id}          payments, cards, chain, refund, history
    POST /api/v1/staff/towns/{slug}/orders/{order_id}/refund   {reason}: 201 refunded now, 200 a refund made before
    GET  /api/v1/staff/towns/{slug}/home                       today's sales (Japan time), live drops, pending work

Owners, editors and analysts read (`backend.staff.policy`); refunds are the owner's, and an
editor's while the town allows it (`editors_may_refund`). `TownStaff` authenticates and
authorises; `TownOrder` answers 404 for an order of another town. The search is in
`order_search`, refunds in `refunds`, the CSV encoding in `backend.core.csv_export`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BeforeValidator
from sqlalchemy import func, select

from backend.core.csv_download import CSV_OK, csv_download
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.sales.dashboard import home
from backend.sales.deps import TownOrder
from backend.sales.models import Refund
from backend.sales.order_details import order_detail, refund_public, staff_order
from backend.sales.order_schemas import (
    NO_NUL,
    RefundCreate,
    RefundPublic,
    StaffHome,
    StaffOrderDetail,
    StaffOrdersPage,
)
from backend.sales.order_search import (
    CSV_HEADER,
    OrderFilters,
    OrderStatus,
    cards_of,
    export_rows,
    town_orders,
)
from backend.sales.orders import refresh
from backend.sales.refunds import RefundRefusal, reconcile, request_refund
from backend.staff.deps import STAFF_RESPONSES, TownStaff

router = APIRouter(prefix="/api/v1/staff/towns/{slug}", tags=["staff: orders"])

_READ = {**STAFF_RESPONSES, **error_responses(422)}
_ONE = {**STAFF_RESPONSES, **error_responses(404, 422, codes={404: "order_not_found"})}
_REFUND = {
    **STAFF_RESPONSES,
    **error_responses(
        404,
        409,
        422,
        502,
        codes={
            404: "order_not_found",
            409: "not_refundable (unpaid or expired), refund_unsupported (paid from a wallet in ETH)",
            502: "payment_provider_unavailable (try again: never refunds twice), refund_refused (Stripe said no)",
        },
    ),
    200: {"description": "The order's refund, made before (a double click, a concurrent request)"},
}


def calendar_day(value: object) -> object:
    """Only `YYYY-MM-DD`, as the schema's `format: date` says: pydantic alone would also take a
    number ("0") as a Unix time, which the document does not allow."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date as YYYY-MM-DD")
    return value


def order_filters(
    drop_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    status: Annotated[OrderStatus | None, Query()] = None,
    campaign: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = None,
    email: Annotated[
        str | None,
        Query(max_length=254, pattern=NO_NUL, description="the start of the address, case-insensitive"),
    ] = None,
    created_from: Annotated[
        date | None, Query(description="first day, Japan time (YYYY-MM-DD)"), BeforeValidator(calendar_day)
    ] = None,
    created_to: Annotated[
        date | None, Query(description="last day, inclusive, Japan time (YYYY-MM-DD)"), BeforeValidator(calendar_day)
    ] = None,
) -> OrderFilters:
    return OrderFilters(drop_id, status, campaign, email, created_from, created_to)


FiltersDep = Annotated[OrderFilters, Depends(order_filters)]


@router.get("/orders", response_model=StaffOrdersPage, responses=_READ)
def list_orders(ctx: TownStaff, session: SessionDep, page: PageDep, filters: FiltersDep) -> StaffOrdersPage:
    """The town's orders, newest first, filtered (see `backend.sales.order_search`)."""
    query = town_orders(ctx.town.id, filters)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.execute(query.limit(page.limit).offset(page.offset)).all()
    cards = cards_of(session, [order.id for order, _drop in rows])
    items = [staff_order(order, drop, cards[order.id]) for order, drop in rows]
    return StaffOrdersPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/orders.csv", response_class=StreamingResponse, responses={**_READ, **CSV_OK})
def export_orders(
    ctx: TownStaff,
    runtime: RuntimeDep,
    filters: FiltersDep,
    encoding: Annotated[Literal["utf-8", "shift_jis"], Query()] = "utf-8",
) -> StreamingResponse:
    """The town's orders as CSV, oldest first, streamed (a million rows in constant memory)."""
    return csv_download(
        runtime.sessions,
        CSV_HEADER,
        lambda session: export_rows(session, ctx.town.id, filters),
        name="orders",
        slug=ctx.town.slug,
        now=datetime.now(UTC),
        encoding=encoding,
    )


@router.get("/orders/{order_id}", response_model=StaffOrderDetail, responses=_ONE)
def get_order(ctx: TownStaff, order: TownOrder, session: SessionDep) -> StaffOrderDetail:
    """One order with its payments, cards, chain transactions, refund and history."""
    refresh(session, order, datetime.now(UTC))  # as the buyer's own page does: minted yet?
    refund = session.scalar(select(Refund).where(Refund.order_id == order.id))
    if refund is not None:
        reconcile(session, refund, order)  # a pending refund the webhook has since confirmed
    session.commit()
    return order_detail(session, order, ctx.town.id)


@router.post("/orders/{order_id}/refund", status_code=201, response_model=RefundPublic, responses=_REFUND)
def refund_order(ctx: TownStaff, order: TownOrder, body: RefundCreate, session: SessionDep, runtime: RuntimeDep) -> Any:
    """Refund the order, exactly once (see `backend.sales.refunds`): card orders at Stripe,
    demo orders at once; cards not minted yet are cancelled and their numbers come back,
    minted ones are revoked; the buyer is mailed. A repeat answers the same refund (200)."""
    order_id = order.id
    session.close()  # its connection back to the pool: the refund runs its own transactions
    try:
        result = request_refund(
            runtime.sessions,
            runtime.card_checkout,
            runtime.settings,
            town=ctx.town,
            member=ctx.member,
            order_id=order_id,
            reason=body.reason,
            now=datetime.now(UTC),
        )
    except RefundRefusal as refusal:
        raise ApiError(refusal.status, refusal.code, str(refusal)) from None
    with runtime.sessions() as reader:
        answer = refund_public(reader, result.refund, result.order_status)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if result.created else 200)


@router.get("/home", response_model=StaffHome, responses=_READ)
def town_home(ctx: TownStaff, session: SessionDep) -> StaffHome:
    """The town's home page: today's sales in Japan time, drops on sale, pending work."""
    return home(session, ctx.town.id, datetime.now(UTC))
