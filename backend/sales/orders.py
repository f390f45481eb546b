"""Orders: reserve stock, take payment once, number the cards, hand them to the mint pipeline.

An order's life:

    pending_payment ──paid──▶ paid ──(mint jobs sent)──▶ minting ──(all confirmed)──▶ minted
          │                     └──────────────(a job failed)──────────────────────▶ failed
          └──(not paid in time)──▶ expired          (refund recorded) ──▶ refunded

Every change is one conditional UPDATE on the order's current status, so two requests racing
on the same order (a webhook delivered twice, a double click) change it once. Payment,
serial numbers and mint jobs commit in one transaction (an outbox): a paid order always has
its jobs, and a job always belongs to a paid order.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.analytics.changes import mark_email
from backend.core.bearer import hash_secret, new_secret
from backend.payments.models import Payment
from backend.sales.models import Drop, Order, OrderCard
from backend.sales.stock import (
    buyer_keys,
    count_buyer,
    free_serials,
    return_stock,
    take_serials,
    take_stock,
    uncount_buyer,
)
from minting.jobs import NewJob, enqueue
from minting.store import ChainTxRow, MintJobRow, TokenOwnerRow, TokenTransferRow, insert_for

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: `failure` of a lottery place's order that lapsed unpaid (`backend.lottery.draw`): its place
#: went back to the waitlist, so money arriving later is not honoured (a refund is due).
LOTTERY_LAPSED = "lottery_lapsed"


class OrderRefused(Exception):
    """The order cannot be created or changed; `code` is the API's error code."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; every one we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def aware_or_none(moment: datetime | None) -> datetime | None:
    """`aware`, for a time that may be unset."""
    return None if moment is None else aware(moment)


def token_matches(order: Order, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(order.token_hash, hash_secret(token))


def job_ref(order_id: str, token_id: int) -> str:
    """The mint job's unique key: one job per card of an order."""
    return f"{order_id}:{token_id}"


@dataclass(frozen=True)
class NewOrder:
    """A validated order request (the API's body, already checked)."""

    drop_id: int
    quantity: int
    email: str
    prefecture: str
    payment_method: str
    wallet_address: str | None = None
    campaign_code: str | None = None


def on_sale(drop: Drop, now: datetime) -> bool:
    return aware(drop.starts_at) <= now and (drop.ends_at is None or now < aware(drop.ends_at))


#: What `reserve` makes ("ord_" + 20 URL-safe characters), with room up to the 40 characters
#: the order id columns hold. Ids from outside (a webhook, a URL) that do not match are not
#: ours: checked before they reach a query, where an over-long id or a NUL byte is a
#: database error rather than "no such order". Use `fullmatch`.
ORDER_ID_PATTERN = re.compile(r"ord_[A-Za-z0-9_-]{1,36}")


def reserve(
    session: Session,
    drop: Drop,
    request: NewOrder,
    *,
    recipient: str | None,
    holder_id: int | None,
    ttl: timedelta,
    now: datetime,
) -> tuple[Order, str]:
    """Create the order and take its stock and per-buyer counts; returns it with its token.

    Raises `OrderRefused` (`limit_exceeded`, `sold_out`); the caller's transaction must then
    be rolled back, which undoes the counts already taken.
    """
    # Locks are taken buyers → drop here and everywhere else (expiry, late payment), so two
    # transactions never wait on each other in a cycle on PostgreSQL; the drop's row, which
    # every order of the drop needs, is taken last and so held for the shortest time.
    for buyer in buyer_keys(request.email, request.wallet_address):
        if not count_buyer(session, drop.id, buyer, request.quantity, drop.per_buyer_limit):
            raise OrderRefused(
                "limit_exceeded", f"At most {drop.per_buyer_limit} cards of this drop per person (email or wallet)."
            )
    token = new_secret()
    order = Order(
        id="ord_" + secrets.token_urlsafe(15),
        drop_id=drop.id,
        quantity=request.quantity,
        email=request.email.strip().lower(),
        prefecture=request.prefecture,
        wallet_address=request.wallet_address,
        campaign_code=request.campaign_code,
        payment_method=request.payment_method,
        status="pending_payment",
        token_hash=hash_secret(token),
        amount_jpy=drop.price_jpy * request.quantity,
        recipient=recipient,
        holder_id=holder_id,
        payment_data="{}",
        expires_at=now + ttl,
        created_at=now,
    )
    session.add(order)
    session.flush()
    mark_email(session, order.email, drop.municipality_id)
    if not take_stock(session, drop.id, request.quantity):
        raise OrderRefused("sold_out", "Sold out: no cards are left in this drop.")
    return order, token


def assign_cards(session: Session, order: Order) -> list[int]:
    """Give the order the next serial numbers of its drop (idempotent per order)."""
    return card_ids(session, order.id) or _number_cards(session, order)


def _number_cards(session: Session, order: Order) -> list[int]:
    ids = take_serials(session, order.drop_id, order.quantity)
    session.add_all(OrderCard(order_id=order.id, token_id=token_id, drop_id=order.drop_id) for token_id in ids)
    session.flush()
    return ids


def card_ids(session: Session, order_id: str) -> list[int]:
    return [
        int(token_id)
        for token_id in session.scalars(
            select(OrderCard.token_id).where(OrderCard.order_id == order_id).order_by(OrderCard.token_id)
        )
    ]


def _release(session: Session, orders: Sequence[tuple[Order, int]]) -> None:
    """Give back the stock and per-buyer counts of (order, quantity) pairs.

    All buyer rows first, in one sorted order, then the drop rows: the order in which `reserve`
    takes them. Releasing order by order would hold a drop row while asking for the next
    order's buyer row, and deadlock (PostgreSQL) against a new order holding that buyer row.
    """
    buyers: dict[tuple[int, str], int] = {}
    drops: dict[int, int] = {}
    for order, quantity in orders:
        for buyer in buyer_keys(order.email, order.wallet_address):
            buyers[order.drop_id, buyer] = buyers.get((order.drop_id, buyer), 0) + quantity
        drops[order.drop_id] = drops.get(order.drop_id, 0) + quantity
    for (drop_id, buyer), quantity in sorted(buyers.items()):
        uncount_buyer(session, drop_id, buyer, quantity)
    for drop_id, quantity in sorted(drops.items()):
        return_stock(session, drop_id, quantity)


def _move(session: Session, order: Order, from_status: str, to_status: str, **values: object) -> bool:
    """Change the order's status if it still is `from_status`; True if this call did it."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == from_status)
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    mark_email(session, order.email)
    order.status = to_status
    for name, value in values.items():
        setattr(order, name, value)
    return True


def expire(session: Session, order: Order) -> bool:
    """Expire an unpaid order and give its cards back; False if it was no longer pending."""
    if not _move(session, order, "pending_payment", "expired"):
        return False
    _release(session, [(order, order.quantity)])
    return True


def expire_due(session: Session, now: datetime, *, drop_id: int | None = None, limit: int = 200) -> int:
    """Expire unpaid orders past their time (wallet orders excepted: see `settle_wallet_orders`)."""
    query = (
        select(Order)
        .where(Order.status == "pending_payment", Order.expires_at < now, Order.payment_method != "wallet")
        .order_by(Order.expires_at)
        .limit(limit)
    )
    if drop_id is not None:
        query = query.where(Order.drop_id == drop_id)
    expired = [order for order in session.scalars(query).all() if _move(session, order, "pending_payment", "expired")]
    _release(session, [(order, order.quantity) for order in expired])
    return len(expired)


def wallet_orders_due(session: Session, chain_time: int) -> dict[str, list[int]]:
    """{order id: its card ids} of the wallet orders whose vouchers the chain can no longer
    accept: the chain's own clock is past their deadline, so no block can redeem them now."""
    deadline = datetime.fromtimestamp(chain_time, UTC)
    rows = session.execute(
        select(Order.id, OrderCard.token_id)
        .join(OrderCard, OrderCard.order_id == Order.id)
        .where(Order.status == "pending_payment", Order.payment_method == "wallet", Order.expires_at < deadline)
        .order_by(Order.id, OrderCard.token_id)
    ).all()
    due: dict[str, list[int]] = {}
    for order_id, token_id in rows:
        due.setdefault(order_id, []).append(int(token_id))
    return due


def settle_wallet_orders(session: Session, bought: dict[str, set[int]]) -> int:
    """Close wallet orders past their deadline, given which of their cards were bought on chain
    (asked before this transaction, so no lock waits on the node).

    Cards not bought go back: stock, per-buyer counts and their numbers (for the next orders).
    An order with none bought expires; one with some keeps those, at their price, and is
    marked minted once the indexer has seen them. Returns how many orders changed.
    """
    releases: list[tuple[Order, int]] = []
    for order_id, bought_ids in sorted(bought.items()):
        order = session.get(Order, order_id)
        if order is None or order.status != "pending_payment":
            continue
        ids = card_ids(session, order_id)
        unbought = [token_id for token_id in ids if token_id not in bought_ids]
        if not unbought:
            continue  # every card bought: the indexer marks the order minted
        if len(unbought) == len(ids):
            if not _move(session, order, "pending_payment", "expired"):
                continue
        else:
            kept = len(ids) - len(unbought)
            unit_price = order.amount_jpy // order.quantity
            if not _move(
                session, order, "pending_payment", "pending_payment", quantity=kept, amount_jpy=unit_price * kept
            ):
                continue
        session.execute(delete(OrderCard).where(OrderCard.order_id == order.id, OrderCard.token_id.in_(unbought)))
        free_serials(session, order.drop_id, unbought)
        releases.append((order, len(unbought)))
    _release(session, releases)
    return len(releases)


class PaymentResult(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this payment was recorded before
    LATE = "late"  # paid after it expired and the cards were sold meanwhile: refund due


def apply_payment(
    session: Session, order: Order, *, provider: str, provider_ref: str, amount_jpy: int, now: datetime
) -> PaymentResult:
    """Record a payment once and, in the same transaction, number the cards and queue their mint.

    `provider_ref` is the provider's id for the payment: recording it twice is impossible
    (unique), so a webhook delivered five times pays once.
    """
    if amount_jpy != order.amount_jpy:
        raise OrderRefused("amount_mismatch", f"Paid {amount_jpy} yen for an order of {order.amount_jpy} yen.")
    insert = insert_for(session)
    recorded = session.execute(
        insert(Payment)
        .values(
            order_id=order.id,
            provider=provider,
            provider_ref=provider_ref,
            status="succeeded",
            amount_jpy=amount_jpy,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider", "provider_ref"])
        .execution_options(preserve_rowcount=True)  # else PostgreSQL reports -1: every payment "new"
    )
    if recorded.rowcount != 1:  # type: ignore[attr-defined]
        return PaymentResult.DUPLICATE
    session.refresh(order, with_for_update=True)
    if order.status == "expired" and order.failure == LOTTERY_LAPSED:
        _move(session, order, "expired", "failed", failure="paid_after_lottery_lapse")
        return PaymentResult.LATE
    if order.status == "expired":
        # Money arrived after the reservation ran out: honour it if the cards are still there
        # and the buyer is still within the drop's limit (they may have ordered again since).
        drop = session.get(Drop, order.drop_id)
        assert drop is not None
        savepoint = session.begin_nested()
        counted = all(
            count_buyer(session, order.drop_id, buyer, order.quantity, drop.per_buyer_limit)
            for buyer in buyer_keys(order.email, order.wallet_address)
        )
        if not counted or not take_stock(session, order.drop_id, order.quantity):
            savepoint.rollback()
            failure = "paid_after_expiry_sold_out" if counted else "paid_after_expiry_limit_exceeded"
            _move(session, order, "expired", "failed", failure=failure)
            return PaymentResult.LATE
        savepoint.commit()
        _move(session, order, "expired", "pending_payment")
    if not _move(session, order, "pending_payment", "paid", paid_at=now):
        raise OrderRefused("not_payable", f"The order is {order.status}; it cannot be paid.")
    drop = session.get(Drop, order.drop_id)
    assert drop is not None
    assert order.recipient is not None
    # Numbering comes last: the drop's serial row stays locked until commit, and every payment
    # of the drop waits for it, so only the two inserts that need the numbers follow.
    ids = _number_cards(session, order)
    enqueue(
        session,
        drop.chain_id,
        [NewJob(job_ref(order.id, token_id), drop.contract, token_id, order.recipient) for token_id in ids],
    )
    return PaymentResult.APPLIED


def record_refund(session: Session, order: Order, *, provider: str, provider_ref: str, now: datetime) -> bool:
    """Mark a payment refunded. Cards already queued or minted stay issued (a refund after
    the card exists is the town's call); an unpaid order is simply closed. True if changed."""
    session.execute(
        update(Payment)
        .where(Payment.provider == provider, Payment.provider_ref == provider_ref)
        .values(status="refunded")
        .execution_options(synchronize_session=False)
    )
    return any(_move(session, order, status, "refunded") for status in ("paid", "minting", "minted", "failed"))


@dataclass(frozen=True)
class MintOutcome:
    """Where an order's cards are, once known."""

    token_ids: list[int]
    tx_hash: str | None
    owner: str | None


def refresh(session: Session, order: Order, now: datetime) -> MintOutcome:
    """Bring the order's status up to date with the clock and the mint pipeline (or the
    indexer, for wallet purchases), and say where its cards are."""
    if order.status == "pending_payment" and order.payment_method != "wallet" and aware(order.expires_at) < now:
        expire(session, order)
    ids = card_ids(session, order.id)
    if not ids:
        return MintOutcome([], None, None)
    drop = session.get(Drop, order.drop_id)
    assert drop is not None
    if order.payment_method == "wallet" and order.status in ("pending_payment", "paid", "minting"):
        return _refresh_from_indexer(session, order, drop, ids, now)
    if order.status in ("paid", "minting"):
        _refresh_from_jobs(session, order, ids, now)
    if order.status not in ("minted", "refunded"):
        return MintOutcome(ids, None, None)
    return MintOutcome(ids, order.tx_hash, _owner(session, drop, ids[0]) or order.recipient)


def _owner(session: Session, drop: Drop, token_id: int) -> str | None:
    row = session.get(TokenOwnerRow, (drop.chain_id, drop.contract, token_id))
    return None if row is None else row.owner


def _refresh_from_jobs(session: Session, order: Order, ids: Sequence[int], now: datetime) -> None:
    refs = [job_ref(order.id, token_id) for token_id in ids]
    jobs = session.execute(
        select(MintJobRow.status, ChainTxRow.mined_hash, ChainTxRow.block_number)
        .outerjoin(ChainTxRow, ChainTxRow.id == MintJobRow.chain_tx_id)
        .where(MintJobRow.order_ref.in_(refs))
    ).all()
    statuses = {status for status, _hash, _block in jobs}
    if "failed" in statuses:
        _move(session, order, order.status, "failed", failure="mint_failed")
    elif len(jobs) == len(refs) and statuses == {"confirmed"}:
        last = max(jobs, key=lambda job: job[2] or 0)
        _move(session, order, order.status, "minted", minted_at=now, tx_hash=last[1])
    elif statuses & {"sent", "mined", "confirmed"} and order.status == "paid":
        _move(session, order, "paid", "minting")


def _refresh_from_indexer(session: Session, order: Order, drop: Drop, ids: Sequence[int], now: datetime) -> MintOutcome:
    """A wallet order is done when the indexer has seen every card it paid for on chain."""
    owners = [_owner(session, drop, token_id) for token_id in ids]
    if all(owners):
        mint = session.scalar(
            select(TokenTransferRow.tx_hash)
            .where(
                TokenTransferRow.chain_id == drop.chain_id,
                TokenTransferRow.contract == drop.contract,
                TokenTransferRow.token_id.in_(ids),
                TokenTransferRow.from_address == ZERO_ADDRESS,
            )
            .order_by(TokenTransferRow.block_number.desc())
            .limit(1)
        )
        _move(session, order, order.status, "minted", paid_at=now, minted_at=now, tx_hash=mint)
        return MintOutcome(list(ids), mint, owners[0])
    return MintOutcome(list(ids), None, None)
