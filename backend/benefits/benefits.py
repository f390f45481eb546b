"""Benefits staff define: what a card gives at one shop, how often, for which series.

A benefit's shop, period and series are fixed once made: redemptions are keyed by the
benefit and its period, so changing the period under them would reopen or close periods
already used. Texts, the term and `active` (pause) may change.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.sales.models import Drop

from .models import Benefit, BenefitSeries, Redemption, Shop
from .periods import in_japan
from .schemas import BenefitCreate, SeriesRef, StaffBenefit
from .shops import shop_ref


class BenefitRefused(Exception):
    """A create or change the town's data does not allow; `status` and `code` for the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def town_benefit(session: Session, town_id: int, benefit_id: int) -> Benefit | None:
    benefit = session.get(Benefit, benefit_id)
    return benefit if benefit is not None and benefit.municipality_id == town_id else None


def benefits_of(town_id: int, shop_id: int | None = None) -> Select[Benefit]:
    query = select(Benefit).where(Benefit.municipality_id == town_id).order_by(Benefit.id)
    return query if shop_id is None else query.where(Benefit.shop_id == shop_id)


def _town_series(session: Session, town_id: int, drop_ids: list[int]) -> list[int]:
    """The drop ids, each checked to be a resident-card series of this town (404 otherwise,
    the same as a missing one)."""
    if not drop_ids:
        return []
    found = set(
        session.scalars(
            select(Drop.id).where(Drop.id.in_(drop_ids), Drop.municipality_id == town_id, Drop.kind == "resident_card")
        )
    )
    missing = [drop_id for drop_id in drop_ids if drop_id not in found]
    if missing:
        raise BenefitRefused(404, "drop_not_found", f"No series (drop) {missing[0]} in this town.")
    return drop_ids


def new_benefit(session: Session, town_id: int, body: BenefitCreate, now: datetime) -> Benefit:
    """A benefit of one of the town's open shops for the named series (flushed, not committed)."""
    shop = session.get(Shop, body.shop_id)
    if shop is None or shop.municipality_id != town_id:
        raise BenefitRefused(404, "shop_not_found", "この町にその店舗はありません。 (No such shop in this town.)")
    if shop.archived_at is not None:
        raise BenefitRefused(409, "shop_closed", "This shop is closed; reopen it first.")
    series = _town_series(session, town_id, body.series)
    benefit = Benefit(
        municipality_id=town_id,
        shop_id=shop.id,
        title_ja=body.title_ja.strip(),
        title_en=body.title_en.strip(),
        description_ja=body.description_ja,
        description_en=body.description_en,
        period=body.period,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        active=True,
        created_at=now,
    )
    session.add(benefit)
    session.flush()
    session.add_all(BenefitSeries(benefit_id=benefit.id, drop_id=drop_id) for drop_id in series)
    session.flush()
    return benefit


def update_benefit(benefit: Benefit, changes: dict[str, Any]) -> None:
    """Apply the fields sent; the term as a whole must still end after it starts."""
    starts_at = changes.get("starts_at", benefit.starts_at)
    ends_at = changes.get("ends_at", benefit.ends_at)
    if starts_at is not None and ends_at is not None and in_japan(ends_at) <= in_japan(starts_at):
        raise BenefitRefused(409, "term_invalid", "The term would end before it starts (send both ends).")
    for name, value in changes.items():
        setattr(benefit, name, value.strip() if name.startswith("title_") else value)


def audit_view(benefit: Benefit, series: list[int]) -> dict[str, Any]:
    return {
        "shop_id": benefit.shop_id,
        "title_ja": benefit.title_ja,
        "title_en": benefit.title_en,
        "period": benefit.period,
        "series": series,
        "starts_at": benefit.starts_at,
        "ends_at": benefit.ends_at,
        "active": benefit.active,
    }


def series_of(session: Session, benefit_ids: list[int]) -> dict[int, list[SeriesRef]]:
    """Each benefit's series (empty: every series)."""
    found: dict[int, list[SeriesRef]] = defaultdict(list)
    rows = session.execute(
        select(BenefitSeries.benefit_id, Drop.id, Drop.title_ja, Drop.title_en)
        .join(Drop, Drop.id == BenefitSeries.drop_id)
        .where(BenefitSeries.benefit_id.in_(benefit_ids))
        .order_by(BenefitSeries.benefit_id, Drop.id)
    ).all()
    for benefit_id, drop_id, title_ja, title_en in rows:
        found[benefit_id].append(SeriesRef(drop_id=drop_id, title_ja=title_ja, title_en=title_en))
    return found


def staff_benefits(session: Session, benefits: list[Benefit]) -> list[StaffBenefit]:
    """The benefits as the console shows them, with their series and redemption counts."""
    ids = [benefit.id for benefit in benefits]
    series = series_of(session, ids)
    counts = dict(
        session.execute(
            select(Redemption.benefit_id, func.count())
            .where(Redemption.benefit_id.in_(ids))
            .group_by(Redemption.benefit_id)
        ).all()
    )
    shops = {shop.id: shop for shop in session.scalars(select(Shop).where(Shop.id.in_({b.shop_id for b in benefits})))}
    return [
        StaffBenefit(
            id=benefit.id,
            shop=shop_ref(shops[benefit.shop_id]),
            title_ja=benefit.title_ja,
            title_en=benefit.title_en,
            description_ja=benefit.description_ja,
            description_en=benefit.description_en,
            period=benefit.period,  # type: ignore[arg-type]
            series=series.get(benefit.id, []),
            starts_at=benefit.starts_at,
            ends_at=benefit.ends_at,
            active=benefit.active,
            created_at=benefit.created_at,
            redemptions=counts.get(benefit.id, 0),
        )
        for benefit in benefits
    ]
