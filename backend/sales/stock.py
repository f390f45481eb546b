"""Stock and per-buyer counts, each changed by one conditional statement.

`take_stock` is `UPDATE drops SET reserved = reserved + q WHERE reserved + q <= supply`: the
database checks and writes in one step, so concurrent orders can never oversell, on SQLite
(one writer at a time) or PostgreSQL (the row is locked by the first UPDATE until commit).
Per-buyer counts are an upsert guarded the same way.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from backend.sales.models import BuyerCount, Drop, DropSerial, FreeSerial
from minting.store import insert_for


def take_stock(session: Session, drop_id: int, quantity: int) -> bool:
    """Reserve `quantity` cards of the drop; False when fewer are left."""
    result = session.execute(
        update(Drop)
        .where(Drop.id == drop_id, Drop.reserved + quantity <= Drop.supply)
        .values(reserved=Drop.reserved + quantity)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def return_stock(session: Session, drop_id: int, quantity: int) -> None:
    session.execute(
        update(Drop)
        .where(Drop.id == drop_id)
        .values(reserved=Drop.reserved - quantity)
        .execution_options(synchronize_session=False)
    )


class SerialsExhausted(Exception):
    """Every serial of the drop is taken: stock accounting and numbering disagree (a bug)."""


def take_serials(session: Session, drop_id: int, quantity: int) -> list[int]:
    """`quantity` serial numbers (token ids) of the drop: numbers that came back first, then new
    ones by one UPDATE … RETURNING that never passes the drop's last serial.

    Raises `SerialsExhausted` rather than number a card outside the drop's series."""
    reused = _take_free_serials(session, drop_id, quantity)
    needed = quantity - len(reused)
    if not needed:
        return reused
    start = session.execute(
        update(DropSerial)
        .where(DropSerial.drop_id == drop_id, DropSerial.next_serial + needed <= DropSerial.end_serial)
        .values(next_serial=DropSerial.next_serial + needed)
        .returning(DropSerial.next_serial)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if start is None:
        raise SerialsExhausted(f"drop {drop_id} has fewer than {needed} serial numbers left")
    return reused + list(range(int(start) - needed, int(start)))


def _take_free_serials(session: Session, drop_id: int, quantity: int) -> list[int]:
    """Up to `quantity` returned numbers, lowest first. SKIP LOCKED (PostgreSQL): two payments
    at once take different numbers instead of waiting; SQLite has one writer anyway."""
    lowest = (
        select(FreeSerial.token_id)
        .where(FreeSerial.drop_id == drop_id)
        .order_by(FreeSerial.token_id)
        .limit(quantity)
        .with_for_update(skip_locked=True)
    )
    taken = session.scalars(
        delete(FreeSerial)
        .where(FreeSerial.drop_id == drop_id, FreeSerial.token_id.in_(lowest.scalar_subquery()))
        .returning(FreeSerial.token_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(int(token_id) for token_id in taken)


def free_serials(session: Session, drop_id: int, token_ids: list[int]) -> None:
    """Give numbers back to the drop: their cards can never be issued under the old order."""
    if token_ids:
        session.execute(insert(FreeSerial), [{"drop_id": drop_id, "token_id": token_id} for token_id in token_ids])


def buyer_keys(email: str, wallet: str | None) -> list[str]:
    """Who a per-buyer limit counts: the email, and the wallet address when there is one."""
    keys = [f"email:{email.strip().lower()}"]
    if wallet:
        keys.append(f"wallet:{wallet.lower()}")
    return keys


def count_buyer(session: Session, drop_id: int, buyer: str, quantity: int, limit: int) -> bool:
    """Add `quantity` to the buyer's count unless that would pass `limit`; False if it would."""
    if quantity > limit:
        return False
    statement = insert_for(session)(BuyerCount).values(drop_id=drop_id, buyer=buyer, count=quantity)
    statement = statement.on_conflict_do_update(
        index_elements=["drop_id", "buyer"],
        set_={"count": BuyerCount.count + statement.excluded.count},
        where=BuyerCount.count + statement.excluded.count <= limit,
    )
    # preserve_rowcount: else PostgreSQL reports -1 for an upsert, and -1 would read as "counted".
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def uncount_buyer(session: Session, drop_id: int, buyer: str, quantity: int) -> None:
    session.execute(
        update(BuyerCount)
        .where(BuyerCount.drop_id == drop_id, BuyerCount.buyer == buyer)
        .values(count=BuyerCount.count - quantity)
        .execution_options(synchronize_session=False)
    )
