"""The lottery as staff see it: applications by day (Japan time) and prefecture, where the
places stand, what the lottery waits for, and the public record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from backend.lottery.applications import PAID_STATES
from backend.lottery.draw import anchor_purpose
from backend.lottery.models import ANNOUNCED, CLOSED, DRAWN, RANKED, SETTLED, WON, Lottery, LotteryApplication
from backend.lottery.record import public_state, record
from backend.lottery.schemas import DayCount, PlacesSummary, PrefectureCount, StaffLottery
from backend.sales.models import Drop, Order
from backend.sales.orders import aware
from minting.store import OnceTxRow


def _jst_day(session: Session) -> Any:
    column = LotteryApplication.created_at
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column, "+9 hours")
    return func.to_char(func.timezone("Asia/Tokyo", column), "YYYY-MM-DD")


def _places(session: Session, drop_id: int) -> PlacesSummary:
    placed = (LotteryApplication.outcome == WON) | LotteryApplication.promoted_round.is_not(None)
    holding = placed & LotteryApplication.lapsed_round.is_(None)
    row = session.execute(
        select(
            func.sum(case((holding, 1), else_=0)),
            func.sum(case((holding & Order.status.in_(tuple(PAID_STATES)), 1), else_=0)),
            func.sum(case((placed & LotteryApplication.lapsed_round.is_not(None), 1), else_=0)),
            func.sum(case((LotteryApplication.promoted_round.is_not(None), 1), else_=0)),
            func.sum(case((holding, LotteryApplication.quantity), else_=0)),
        )
        .select_from(LotteryApplication)
        .outerjoin(Order, Order.id == LotteryApplication.order_id)
        .where(LotteryApplication.drop_id == drop_id)
    ).one()
    holding_n, paid, lapsed, promoted, cards = (int(value or 0) for value in row)
    return PlacesSummary(holding=holding_n, paid=paid, lapsed=lapsed, promoted=promoted, cards_held=cards)


def _waiting(session: Session, drop: Drop, lottery: Lottery, chain_id: int, now: datetime) -> str | None:
    """What the lottery waits for, in Japanese and English, for the console."""
    if lottery.stage == ANNOUNCED:
        return None
    if lottery.stage == CLOSED and lottery.anchor_block_hash is None:
        sent = session.scalar(
            select(OnceTxRow.status).where(
                OnceTxRow.chain_id == chain_id, OnceTxRow.purpose == anchor_purpose(drop.id, lottery.anchor_attempt)
            )
        )
        if sent is None:
            return "申込一覧のハッシュをチェーンに記録する準備中です。 (The list's hash is about to be anchored.)"
        return (
            "申込一覧のハッシュの取引が承認されるのを待っています。 "
            f"(Waiting for the anchor transaction: {sent}, and its confirmations.)"
        )
    if lottery.stage == CLOSED and lottery.draw_at is not None and now < aware(lottery.draw_at):
        return "抽選日時を待っています。 (Waiting for the draw time.)"
    if lottery.stage in (CLOSED, RANKED):
        return "抽選と当選者の注文の作成を行っています。 (Drawing, and making the winners' orders.)"
    if lottery.stage == DRAWN:
        return "当選者のお支払いを待っています。 (Waiting for the places to be paid.)"
    return None


def staff_view(session: Session, drop: Drop, lottery: Lottery, chain_id: int, now: datetime) -> StaffLottery:
    base = select(LotteryApplication).where(LotteryApplication.drop_id == drop.id).subquery()
    total, cards = session.execute(
        select(func.count(), func.coalesce(func.sum(base.c.quantity), 0)).select_from(base)
    ).one()
    day = _jst_day(session).label("day")
    by_day = session.execute(
        select(day, func.count())
        .select_from(LotteryApplication)
        .where(LotteryApplication.drop_id == drop.id)
        .group_by(day)
        .order_by(day)
    ).all()
    by_prefecture = session.execute(
        select(LotteryApplication.prefecture, func.count())
        .where(LotteryApplication.drop_id == drop.id)
        .group_by(LotteryApplication.prefecture)
        .order_by(LotteryApplication.prefecture)
    ).all()
    return StaffLottery(
        drop_id=drop.id,
        state=public_state(lottery, drop, now),  # type: ignore[arg-type]
        applications=int(total),
        cards_asked=int(cards),
        by_day=[DayCount(date=str(date), count=int(count)) for date, count in by_day],
        by_prefecture=[PrefectureCount(code=code, count=int(count)) for code, count in by_prefecture],
        places=_places(session, drop.id) if lottery.stage in (DRAWN, SETTLED) else None,
        waiting=_waiting(session, drop, lottery, chain_id, now),
        record=record(session, drop, lottery, now),
    )
