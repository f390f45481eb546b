"""The town's home page: today's sales in Japan time, the drops on sale, and the work waiting
for someone (orders stuck before minting, failed orders, refunds Stripe has not confirmed,
drafts and drops being published). A few aggregate queries, each bounded by the town."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.payments.models import Payment
from backend.sales.models import Drop, Order, Refund
from backend.sales.order_schemas import LiveDrop, PendingOrders, PendingWork, StaffHome, TodaySales
from backend.sales.order_search import JST, jst_day_bounds
from backend.sales.orders import aware, aware_or_none

#: How long a paid order may wait for its cards before the home page lists it.
STUCK_AFTER: Final = timedelta(minutes=10)
#: Order ids listed per kind of pending work (the count says how many in all).
LISTED: Final = 5
#: Paid orders that still hold their money (refunded and failed ones do not count as sales).
SOLD: Final = ("paid", "minting", "minted")


def _pending(session: Session, town_id: int, *where: Any) -> PendingOrders:
    base = select(Order.id).join(Drop, Drop.id == Order.drop_id).where(Drop.municipality_id == town_id, *where)
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    ids = session.scalars(base.order_by(Order.created_at).limit(LISTED)).all()
    return PendingOrders(count=count, order_ids=list(ids))


def _today(session: Session, town_id: int, now: datetime) -> TodaySales:
    today = now.astimezone(JST).date()
    start, end = jst_day_bounds(today)
    assert start is not None
    assert end is not None
    of_town = (Drop.municipality_id == town_id,)
    made = session.scalar(
        select(func.count())
        .select_from(Order)
        .join(Drop, Drop.id == Order.drop_id)
        .where(*of_town, Order.created_at >= start, Order.created_at < end)
    )
    paid, revenue = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.amount_jpy), 0))
        .select_from(Order)
        .join(Drop, Drop.id == Order.drop_id)
        .where(*of_town, Order.status.in_(SOLD), Order.paid_at >= start, Order.paid_at < end)
    ).one()
    refunded = session.scalar(
        select(func.count())
        .select_from(Refund)
        .join(Order, Order.id == Refund.order_id)
        .join(Drop, Drop.id == Order.drop_id)
        .where(*of_town, Refund.completed_at >= start, Refund.completed_at < end)
    )
    return TodaySales(
        date=date.isoformat(today),
        orders=made or 0,
        paid=int(paid),
        revenue_jpy=int(revenue),
        refunded=refunded or 0,
    )


def home(session: Session, town_id: int, now: datetime) -> StaffHome:
    """The home page's figures for the town at `now`."""
    drops = session.scalars(
        select(Drop).where(Drop.municipality_id == town_id, Drop.status.in_(("live", "paused"))).order_by(Drop.id)
    ).all()
    live = [
        LiveDrop(
            id=drop.id,
            title_ja=drop.title_ja,
            title_en=drop.title_en,
            status=drop.status,
            supply=drop.supply,
            sold=drop.reserved,
            remaining=drop.supply - drop.reserved,
            starts_at=aware(drop.starts_at),
            ends_at=aware_or_none(drop.ends_at),
        )
        for drop in drops
    ]
    states: dict[str, int] = {
        status: int(count)
        for status, count in session.execute(
            select(Drop.status, func.count())
            .where(Drop.municipality_id == town_id, Drop.status.in_(("draft", "publishing")))
            .group_by(Drop.status)
        )
    }
    publish_failed = session.scalar(
        select(func.count()).where(
            Drop.municipality_id == town_id, Drop.status == "draft", Drop.publish_error.is_not(None)
        )
    )
    unconfirmed = select(Refund.order_id).where(
        or_(Refund.status == "failed", (Refund.status == "requested") & (Refund.created_at < now - STUCK_AFTER))
    )
    pending = PendingWork(
        paid_not_minted=_pending(
            session,
            town_id,
            Order.status.in_(("paid", "minting")),
            Order.payment_method != "wallet",
            Order.paid_at < now - STUCK_AFTER,
        ),
        # Failed with money taken (a failed mint, or a payment after the cards were gone);
        # a checkout that never started failed without any.
        failed=_pending(
            session,
            town_id,
            Order.status == "failed",
            Order.id.in_(select(Payment.order_id).where(Payment.status == "succeeded")),
        ),
        refunds_unconfirmed=_pending(session, town_id, Order.id.in_(unconfirmed)),
        drafts=states.get("draft", 0),
        publishing=states.get("publishing", 0),
        publish_failed=publish_failed or 0,
    )
    return StaffHome(today=_today(session, town_id, now), live_drops=live, pending=pending)
