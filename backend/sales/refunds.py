"""Refunds by town staff: exactly once under double clicks and concurrent requests.

    claim (own transaction) ──demo, or money already back──▶ settle (same transaction)
      │
      └── card ──▶ Stripe refund, key "refund-<order id>" ──accepted──▶ settle
                                                          └─refused──▶ failed

* **Claim.** With the order row locked, a `refunds` row is inserted: unique per order, so of
  twenty requests at once one inserts it and the others find it (or fail on the unique key)
  and answer that refund, 200, changing nothing. Only the request whose claim committed
  calls Stripe, after committing, with no lock held while it waits.
* **Stripe.** The idempotency key is derived from the order, so a retry (a timeout, a crash
  between the claim and Stripe's answer) returns Stripe's first refund, never a second. A
  repeat request retries only a claim older than `STALE_AFTER` that never got an answer, or
  one Stripe refused; a fresh claim is in flight and is left alone.
* **Settle.** One conditional UPDATE (`completed_at IS NULL`) decides which request applies
  the refund, so it is applied once: the order becomes `refunded` (an UPDATE conditional on
  its status), mint jobs still queued are deleted (a job the worker has taken is not
  `queued` any more: its card is treated as minted) and their numbers come back
  (`drop_free_serials`, the next buyer gets them), with the stock and per-buyer counts of
  those cards; cards minted (or on their way) stay on chain and are marked revoked. One
  audit row, in the same transaction. The holder is mailed after the commit.
* **Webhooks stay the source of truth for the money.** `charge.refunded` marks the payment
  refunded (`backend.payments.card_events`, `record_refund`) and may move the order to
  `refunded` before Stripe's answer to our call arrives, or after: settling accepts an order
  already refunded (it still cancels or revokes the cards), and the webhook changes nothing
  once we have. A refund Stripe answered "pending" settles the order at once (the town has
  decided) and stays `requested` until the payment is seen refunded (`reconcile`).
  A refund made in Stripe's dashboard arrives by webhook alone; a staff refund of such an
  order then only settles the cards, without calling Stripe again.
* **Wallet orders** were paid in ETH to the contract from the buyer's own wallet; nothing
  here can pay that back honestly (no yen, no custody of the treasury's key), so they are
  refused (409 `refund_unsupported`) with the steps to repay from the treasury by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics.changes import mark_email
from backend.core import audit
from backend.core.config import Settings
from backend.payments.base import HostedCheckout, RefundRefused, RefundStarted, RefundUnavailable
from backend.payments.models import Payment
from backend.sales.models import Drop, Order, OrderCard, Refund
from backend.sales.orders import aware, card_ids, job_ref
from backend.sales.refund_mail import send_refund_mail
from backend.sales.stock import buyer_keys, free_serials, return_stock, uncount_buyer
from backend.staff.models import StaffMember
from backend.towns.models import Municipality
from minting.store import MintJobRow

log = logging.getLogger("furusato.refunds")

#: Statuses whose money was taken and can be given back.
REFUNDABLE: Final = ("paid", "minting", "minted", "failed")
#: A claim this old without Stripe's answer was abandoned (a crash): a repeat retries it.
STALE_AFTER: Final = timedelta(seconds=60)
#: Stripe's refund statuses that mean "accepted, the money is on its way back".
ACCEPTED: Final = frozenset({"succeeded", "pending", "requires_action"})


class RefundRefusal(Exception):
    """The refund cannot be made; `code` and `status` are the API's."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def idempotency_key(order_id: str) -> str:
    """Stripe's idempotency key for the order's refund: one per order, whoever asks, however often."""
    return f"refund-{order_id}"


@dataclass(frozen=True)
class Settled:
    """What settling did to the order's cards."""

    #: Never minted: their jobs deleted, numbers back to the drop.
    cancelled: list[int] = field(default_factory=list)
    #: Minted or on their way: left on chain, marked revoked.
    revoked: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class RefundResult:
    """The order's refund after this request, and whether this request created it."""

    refund: Refund
    order_status: str
    created: bool


def _payment(session: Session, order: Order) -> Payment | None:
    """The money taken for the order (its provider's payment row), if any."""
    return session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.provider == order.payment_method)
        .order_by(Payment.id)
        .limit(1)
    )


def check_refundable(order: Order, payment: Payment | None) -> None:
    """Raise `RefundRefusal` unless the order's money can be given back here."""
    if order.payment_method == "wallet":
        raise RefundRefusal(
            "refund_unsupported",
            "ウォレット（ETH）で支払われた注文は、ここでは返金できません。町の財務アドレスから購入者のウォレットへ"
            "手作業で返金してください。 (Wallet orders were paid in ETH on chain: repay the buyer's wallet from "
            "the town's treasury by hand.)",
        )
    if order.status in ("pending_payment", "expired") or payment is None:
        raise RefundRefusal(
            "not_refundable",
            f"この注文（{order.status}）は支払われていないため、返金できません。 "
            f"(This order is {order.status}: nothing was paid, so there is nothing to refund.)",
        )
    if order.status not in REFUNDABLE and not (order.status == "refunded" and payment.status == "refunded"):
        raise RefundRefusal(
            "not_refundable", f"この注文（{order.status}）は返金できません。 (This order is {order.status}.)"
        )


def request_refund(
    sessions: sessionmaker[Session],
    provider: HostedCheckout | None,
    settings: Settings,
    *,
    town: Municipality,
    member: StaffMember,
    order_id: str,
    reason: str,
    now: datetime,
) -> RefundResult:
    """Refund the order (see module docstring). Raises `RefundRefusal` (409 or 502)."""
    created, step = _claim(
        sessions, provider, settings, town=town, member=member, order_id=order_id, reason=reason, now=now
    )
    if step == "provider":
        _refund_at_provider(sessions, provider, settings, town=town, member=member, order_id=order_id, now=now)
    elif step == "settle":
        _settle_in_own_transaction(
            sessions,
            settings,
            town=town,
            member=member,
            order_id=order_id,
            status="succeeded",
            provider_ref=None,
            now=now,
        )
    with sessions() as session:
        refund = session.scalars(select(Refund).where(Refund.order_id == order_id)).one()
        order = session.get(Order, order_id)
        assert order is not None
        reconcile(session, refund, order)
        session.commit()
        return RefundResult(refund, order.status, created)


def _claim(
    sessions: sessionmaker[Session],
    provider: HostedCheckout | None,
    settings: Settings,
    *,
    town: Municipality,
    member: StaffMember,
    order_id: str,
    reason: str,
    now: datetime,
) -> tuple[bool, str | None]:
    """Insert the refund's row, or find it; returns (created here, what to do next:
    "provider", "settle" or None). Demo refunds and money already back settle right here."""
    with sessions() as session:
        try:
            order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
            assert order is not None  # `TownOrder` found it; orders are never deleted
            existing = session.scalar(select(Refund).where(Refund.order_id == order_id))
            if existing is not None:
                step = _repeat_step(session, existing, order, now)
                session.commit()
                return False, step
            payment = _payment(session, order)
            check_refundable(order, payment)
            assert payment is not None
            refund = Refund(
                order_id=order.id,
                reason=reason,
                staff_id=member.id,
                status="requested",
                amount_jpy=payment.amount_jpy,
                created_at=now,
            )
            session.add(refund)
            session.flush()  # the unique order id: a concurrent claim fails here
            if order.payment_method == "demo" or payment.status == "refunded":
                # The demo provider refunds at once; money Stripe already returned needs no call.
                settled = settle(session, town, member, refund, order, status="succeeded", provider_ref=None, now=now)
                session.commit()
                _mail(session, settings, order, settled)
                return True, None
            if provider is None:
                raise _no_provider()
            session.commit()
            return True, "provider"
        except IntegrityError:
            session.rollback()  # another request claimed it first: answer theirs
            return False, None


def _no_provider() -> RefundRefusal:
    return RefundRefusal(
        "payment_provider_unavailable",
        "カード決済が設定されていないため、返金できません。 (Card payments are not configured here.)",
        502,
    )


def _repeat_step(session: Session, refund: Refund, order: Order, now: datetime) -> str | None:
    """What a repeated request does about an existing refund: usually nothing (it answers it)."""
    if refund.completed_at is not None:
        return None
    payment = _payment(session, order)
    if payment is not None and payment.status == "refunded":
        return "settle"  # the webhook says the money is back: apply it now
    if refund.status == "failed":
        # Retry what Stripe refused; one of several repeats wins the flip.
        flipped = session.execute(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == "failed")
            .values(status="requested", failure=None)
            .execution_options(synchronize_session=False)
        )
        return "provider" if flipped.rowcount else None  # type: ignore[attr-defined]
    if refund.provider_ref is None and aware(refund.created_at) < now - STALE_AFTER:
        return "provider"  # abandoned before Stripe answered; the key makes a retry safe
    return None


def _refund_at_provider(
    sessions: sessionmaker[Session],
    provider: HostedCheckout | None,
    settings: Settings,
    *,
    town: Municipality,
    member: StaffMember,
    order_id: str,
    now: datetime,
) -> None:
    """Ask Stripe (no lock held), then settle or record the refusal."""
    if provider is None:
        raise _no_provider()
    with sessions() as session:
        payment = session.scalar(
            select(Payment)
            .where(Payment.order_id == order_id, Payment.provider == "card")
            .order_by(Payment.id)
            .limit(1)
        )
        refund = session.scalars(select(Refund).where(Refund.order_id == order_id)).one()
        assert payment is not None
        intent, amount = payment.provider_ref, refund.amount_jpy
    try:
        started: RefundStarted | None = provider.refund(intent, amount, idempotency_key(order_id))
    except RefundUnavailable as exc:
        raise RefundRefusal(
            "payment_provider_unavailable",
            f"Stripe に接続できませんでした。1分ほどしてからもう一度お試しください。 "
            f"(Stripe did not answer: {exc}. Try again in a minute; it will not refund twice.)",
            502,
        ) from None
    except RefundRefused as refused:
        if refused.code != "charge_already_refunded":
            _record_failure(sessions, town, member, order_id, str(refused), now)
            raise RefundRefusal(
                "refund_refused",
                f"Stripe が返金を受け付けませんでした（{refused.code}）。Stripe のダッシュボードをご確認ください。 "
                f"({refused}. Check the payment in Stripe's dashboard.)",
                502,
            ) from None
        started = None  # refunded at Stripe already (its dashboard): the money is back
    if started is not None and started.status not in ACCEPTED:
        _record_failure(sessions, town, member, order_id, f"Stripe refund {started.refund_id} is {started.status}", now)
        raise RefundRefusal(
            "refund_refused",
            f"Stripe の返金が {started.status} になりました。 (Stripe's refund is {started.status}.)",
            502,
        )
    _settle_in_own_transaction(
        sessions,
        settings,
        town=town,
        member=member,
        order_id=order_id,
        status="succeeded" if started is None or started.status == "succeeded" else "requested",
        provider_ref=started.refund_id if started is not None else None,
        now=now,
    )


def _record_failure(
    sessions: sessionmaker[Session], town: Municipality, member: StaffMember, order_id: str, failure: str, now: datetime
) -> None:
    """The refused refund, with its reason and one audit row (the attempt is a staff write)."""
    with sessions() as session:
        changed = session.execute(
            update(Refund)
            .where(Refund.order_id == order_id, Refund.completed_at.is_(None))
            .values(status="failed", failure=failure[:500])
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            audit.record(
                session,
                town_id=town.id,
                actor=member.email,
                action="order.refund_failed",
                target_type="order",
                target_id=order_id,
                after={"failure": failure[:500]},
                at=now,
            )
        session.commit()


def _settle_in_own_transaction(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    town: Municipality,
    member: StaffMember,
    order_id: str,
    status: str,
    provider_ref: str | None,
    now: datetime,
) -> None:
    with sessions() as session:
        order = session.get(Order, order_id, with_for_update=True, populate_existing=True)
        refund = session.scalars(select(Refund).where(Refund.order_id == order_id)).one()
        assert order is not None
        settled = settle(session, town, member, refund, order, status=status, provider_ref=provider_ref, now=now)
        session.commit()
        _mail(session, settings, order, settled)


def settle(
    session: Session,
    town: Municipality,
    member: StaffMember,
    refund: Refund,
    order: Order,
    *,
    status: str,
    provider_ref: str | None,
    now: datetime,
) -> Settled | None:
    """Apply the refund to the order, once (see module docstring); None if it was applied
    already. The caller holds the order's row lock and commits."""
    values: dict[str, object] = {"completed_at": now, "status": status, "failure": None}
    if provider_ref is not None:
        values["provider_ref"] = provider_ref
    won = session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.completed_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        return None
    before = {"status": order.status, "token_ids": card_ids(session, order.id)}
    if status == "succeeded":
        session.execute(
            update(Payment)
            .where(Payment.order_id == order.id, Payment.provider == order.payment_method)
            .values(status="refunded")
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_(REFUNDABLE))
        .values(status="refunded")
        .execution_options(synchronize_session=False)
    )
    order.status = "refunded"
    mark_email(session, order.email, town.id)
    settled = _unissue(session, order, now)
    session.refresh(refund)
    audit.record(
        session,
        town_id=town.id,
        actor=member.email,
        action="order.refund",
        target_type="order",
        target_id=order.id,
        before=before,
        after={
            "status": "refunded",
            "refund": {"reason": refund.reason, "amount_jpy": refund.amount_jpy, "status": refund.status},
            "cancelled_token_ids": settled.cancelled,
            "revoked_token_ids": settled.revoked,
        },
        at=now,
    )
    return settled


def _unissue(session: Session, order: Order, now: datetime) -> Settled:
    """Cancel the order's cards not yet minted (their numbers, stock and counts come back) and
    revoke the others. Each step is a conditional statement, so a job the worker took a
    moment ago is left to be minted, and revoked with the rest."""
    ids = card_ids(session, order.id)
    if not ids:
        return Settled()
    cancelled = sorted(
        int(token_id)
        for token_id in session.scalars(
            delete(MintJobRow)
            .where(MintJobRow.order_ref.in_([job_ref(order.id, token_id) for token_id in ids]))
            .where(MintJobRow.status == "queued")
            .returning(MintJobRow.token_id)
            .execution_options(synchronize_session=False)
        )
    )
    if cancelled:
        session.execute(
            delete(OrderCard)
            .where(OrderCard.order_id == order.id, OrderCard.token_id.in_(cancelled))
            .execution_options(synchronize_session=False)
        )
        free_serials(session, order.drop_id, cancelled)
        # Buyers, then the drop: the order `reserve` takes them in (no deadlock on PostgreSQL).
        for buyer in sorted(buyer_keys(order.email, order.wallet_address)):
            uncount_buyer(session, order.drop_id, buyer, len(cancelled))
        return_stock(session, order.drop_id, len(cancelled))
    revoked = sorted(
        int(token_id)
        for token_id in session.scalars(
            update(OrderCard)
            .where(OrderCard.order_id == order.id, OrderCard.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(OrderCard.token_id)
            .execution_options(synchronize_session=False)
        )
    )
    return Settled(cancelled=cancelled, revoked=revoked)


def reconcile(session: Session, refund: Refund, order: Order) -> None:
    """A refund Stripe answered "pending" is `succeeded` once the webhook marked the payment
    refunded (the webhook is the source of truth for the money)."""
    if refund.status != "requested" or refund.completed_at is None:
        return
    payment = _payment(session, order)
    if payment is not None and payment.status == "refunded":
        session.execute(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == "requested")
            .values(status="succeeded")
            .execution_options(synchronize_session=False)
        )
        refund.status = "succeeded"


def _mail(session: Session, settings: Settings, order: Order, settled: Settled | None) -> None:
    """Tell the buyer, after the commit (a mail server that is down never undoes a refund)."""
    if settled is None:
        return
    drop = session.get(Drop, order.drop_id)
    assert drop is not None
    town = session.get(Municipality, drop.municipality_id)
    assert town is not None
    refund = session.scalars(select(Refund).where(Refund.order_id == order.id)).one()
    send_refund_mail(settings, order, drop, town, refund.amount_jpy, settled.cancelled, settled.revoked)
