"""`GET /api/v1/drops`: what is on sale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from backend.api.deps import PageDep, RuntimeDep, SessionDep
from backend.errors import ApiError
from backend.models import Drop, Municipality
from backend.sales.drops import drops_of
from backend.sales.orders import aware
from backend.schemas import MAX_ROW_ID, DropPublic, DropsPage

router = APIRouter(prefix="/api/v1/drops", tags=["sales"])


def drop_status(drop: Drop, now: datetime) -> str:
    if now < aware(drop.starts_at):
        return "upcoming"
    if drop.ends_at is not None and now >= aware(drop.ends_at):
        return "ended"
    return "sold_out" if drop.reserved >= drop.supply else "on_sale"


def drop_public(drop: Drop, town: str, now: datetime, payment_methods: list[str]) -> DropPublic:
    return DropPublic(
        id=drop.id,
        kind=drop.kind,
        municipality=town,
        title_ja=drop.title_ja,
        title_en=drop.title_en,
        description_ja=drop.description_ja,
        description_en=drop.description_en,
        price_jpy=drop.price_jpy,
        supply=drop.supply,
        sold=drop.reserved,
        remaining=drop.supply - drop.reserved,
        per_buyer_limit=drop.per_buyer_limit,
        payment_methods=payment_methods,
        starts_at=aware(drop.starts_at),
        ends_at=aware(drop.ends_at) if drop.ends_at else None,
        status=drop_status(drop, now),
        chain_id=drop.chain_id,
        contract=drop.contract,
    )


@router.get("", response_model=DropsPage)
def list_drops(
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    municipality: Annotated[str | None, Query(max_length=64, description="a town's slug")] = None,
) -> DropsPage:
    query = drops_of(runtime.manifest.chain_id, municipality)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.limit(page.limit).offset(page.offset)).all()
    now = datetime.now(UTC)
    items = [drop_public(drop, slug, now, runtime.payment_methods(drop.payment_methods)) for drop, slug in rows]
    return DropsPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{drop_id}", response_model=DropPublic)
def get_drop(drop_id: Annotated[int, Path(le=MAX_ROW_ID)], session: SessionDep, runtime: RuntimeDep) -> DropPublic:
    row = session.execute(select(Drop, Municipality.slug).join(Municipality).where(Drop.id == drop_id)).first()
    if row is None:
        raise ApiError(404, "drop_not_found", "No drop with this id.")
    return drop_public(row[0], row[1], datetime.now(UTC), runtime.payment_methods(row[0].payment_methods))
