"""The draw's public record and the fixed list, as `GET /api/v1/drops/{id}/lottery` and
`…/lottery/entries` answer them (algorithm `furusato-lottery-1`, docs/lottery.md).

Each field appears from its stage on and never changes afterwards: what a verifier fetched
once stays true. `server_seed` appears only with the draw, after the anchor block is fixed.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.lottery.models import (
    ANNOUNCED,
    CLOSED,
    DRAWN,
    RANKED,
    SETTLED,
    WAITLISTED,
    WON,
    Lottery,
    LotteryApplication,
)
from backend.lottery.models import LotteryRound as RoundRow
from backend.lottery.schemas import Anchor, EntryPublic, LotteryRecord, PromotionRound
from backend.sales.models import Drop
from backend.sales.orders import aware


def public_state(lottery: Lottery, drop: Drop, now: datetime) -> str:
    """`announced` (before the window), `open`, `closed` (list fixed), `drawn`, `settled`."""
    if lottery.stage == ANNOUNCED:
        return "announced" if now < aware(drop.starts_at) else "open"
    if lottery.stage in (CLOSED, RANKED):
        return "closed"
    return lottery.stage


def entries(session: Session, drop_id: int) -> list[EntryPublic]:
    """The list: every application's (entry_id, quantity), sorted by entry_id."""
    rows = session.execute(
        select(LotteryApplication.entry_id, LotteryApplication.quantity)
        .where(LotteryApplication.drop_id == drop_id)
        .order_by(LotteryApplication.entry_id)
    ).all()
    return [EntryPublic(entry_id=entry_id, quantity=quantity) for entry_id, quantity in rows]


def anchor_of(lottery: Lottery) -> Anchor | None:
    if lottery.anchor_block_hash is None:
        return None
    assert lottery.anchor_chain_id is not None
    assert lottery.anchor_from is not None
    assert lottery.anchor_tx_hash is not None
    assert lottery.anchor_block_number is not None
    return Anchor.model_validate(
        {
            "chain_id": int(lottery.anchor_chain_id),
            "from": lottery.anchor_from,
            "tx_hash": lottery.anchor_tx_hash,
            "block_number": int(lottery.anchor_block_number),
            "block_hash": lottery.anchor_block_hash,
        }
    )


def promotions(session: Session, drop_id: int) -> list[PromotionRound]:
    rows = session.scalars(select(RoundRow).where(RoundRow.drop_id == drop_id).order_by(RoundRow.round)).all()
    return [
        PromotionRound(
            at=row.at,
            lapsed=json.loads(row.lapsed),
            promoted=[EntryPublic(**entry) for entry in json.loads(row.promoted)],
        )
        for row in rows
    ]


def record(session: Session, drop: Drop, lottery: Lottery, now: datetime) -> LotteryRecord:
    """The public record of `drop`'s lottery as it stands."""
    fixed = lottery.stage != ANNOUNCED
    close_at = lottery.applications_close_at if fixed else drop.applications_close_at
    draw_at = lottery.draw_at if fixed else drop.draw_at
    assert close_at is not None
    assert draw_at is not None
    count: int | None = lottery.entries_count if fixed else None
    if count is None:
        count = session.scalar(
            select(func.count()).select_from(LotteryApplication).where(LotteryApplication.drop_id == drop.id)
        )
    answer = LotteryRecord(
        algorithm=lottery.algorithm,
        state=public_state(lottery, drop, now),  # type: ignore[arg-type]
        seed_commitment=lottery.seed_commitment,
        applications_close_at=close_at,
        draw_at=draw_at,
        supply=lottery.supply if fixed and lottery.supply is not None else drop.supply,
        entries_count=int(count or 0),
    )
    if not fixed or lottery.list_hash is None:
        return answer
    answer.list_hash = lottery.list_hash
    answer.anchor = anchor_of(lottery)
    if lottery.stage not in (DRAWN, SETTLED):
        return answer
    answer.server_seed = lottery.server_seed
    answer.final_seed = lottery.final_seed
    ranked = session.execute(
        select(LotteryApplication.entry_id, LotteryApplication.quantity, LotteryApplication.outcome)
        .where(LotteryApplication.drop_id == drop.id, LotteryApplication.outcome.is_not(None))
        .order_by(LotteryApplication.rank)
    ).all()
    answer.winners = [EntryPublic(entry_id=e, quantity=q) for e, q, outcome in ranked if outcome == WON]
    answer.waitlist = [e for e, _q, outcome in ranked if outcome == WAITLISTED]
    answer.promotions = promotions(session, drop.id)
    return answer
