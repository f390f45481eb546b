"""Stripe events applied to orders: each event once, in the transaction that changes the order.

Why it is shaped this way:

* The event's row in `webhook_events` (primary key provider + event id) is inserted first, as
  a claim. A redelivery, or the same event racing in on five connections, finds the claim and
  changes nothing; the claim commits or rolls back together with the order change.
* Stripe does not promise order. A refund can arrive before the payment it refunds: it is
  stored "parked" and applied in the same transaction that later applies the payment, so it
  is neither lost nor applied to nothing.
* The order row is locked before deciding, so a refund that names its order and the payment
  arriving at the same moment serialise (PostgreSQL; SQLite has one writer anyway).
* A refund that names no order is matched through its payment, read before any lock: if the
  payment's transaction has not committed yet, the refund is parked, and the payment may have
  looked for parked events before the refund committed. `apply_parked_refunds` (the order
  sweeper, every second) applies such refunds once their payment is there.
* Order ids are taken only if they look like ours (`ORDER_ID_PATTERN`): anything else is not
  our order, rather than a database error (too long for the column, a NUL byte) that would
  answer 500 and have Stripe deliver the same event forever.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.payments.models import Payment, WebhookEvent
from backend.sales.models import Order
from backend.sales.orders import (
    ORDER_ID_PATTERN,
    OrderRefused,
    PaymentResult,
    apply_payment,
    expire,
    record_refund,
)
from minting.store import insert_for

log = logging.getLogger("furusato.payments")

PROVIDER = "card"
APPLIED, PARKED, IGNORED, DUPLICATE = "applied", "parked", "ignored", "duplicate"

Event = dict[str, Any]
#: Stripe's ids: a prefix, an underscore and letters or digits; 200 is the columns' width.
STRIPE_ID_PATTERN = re.compile(r"[A-Za-z0-9_]{1,200}")


class InvalidEvent(ValueError):
    """A verified body that is not a Stripe event we can read (no id, type or object)."""


def _object(event: Event) -> dict[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str) or not isinstance(obj, dict):
        raise InvalidEvent("not a Stripe event: id, type and data.object are required")
    if not _stripe_id(event["id"]) or not _stripe_id(obj.get("id")):
        raise InvalidEvent("not a Stripe event: its ids are not Stripe ids")
    return obj


def _stripe_id(value: object) -> str | None:
    """`value` if it is shaped like a Stripe id (`pi_…`, `evt_…`), else None: anything longer
    than its column, or holding a NUL, would make the database refuse the event forever."""
    return value if isinstance(value, str) and STRIPE_ID_PATTERN.fullmatch(value) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _payment_ref(obj: dict[str, Any]) -> str:
    """The payment's id at Stripe: its PaymentIntent, else the checkout session itself."""
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):  # expanded
        intent = intent.get("id")
    return _stripe_id(intent) or str(obj["id"])


def _our_order_id(value: object) -> str | None:
    """`value` if it is shaped like one of our order ids, else None (as if absent)."""
    return value if isinstance(value, str) and ORDER_ID_PATTERN.fullmatch(value) else None


def _order_id(session: Session, event_type: str, obj: dict[str, Any]) -> str | None:
    """Which order the event is about: the checkout's client_reference_id or metadata, or for a
    charge the metadata or the payment already recorded for its PaymentIntent. A value that is
    not shaped like our order ids counts as absent, so it never reaches a query."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    if event_type.startswith("checkout.session."):
        return _our_order_id(obj.get("client_reference_id")) or _our_order_id(metadata.get("order_id"))
    if event_type.startswith("charge."):
        if order_id := _our_order_id(metadata.get("order_id")):
            return order_id
        intent = _stripe_id(obj.get("payment_intent"))
        if intent:
            return session.scalar(
                select(Payment.order_id).where(Payment.provider == PROVIDER, Payment.provider_ref == intent)
            )
    return None


def _claim(session: Session, event: Event, order_id: str | None, payload: str, now: datetime) -> bool:
    """Insert the event's row; False if it is there already (a duplicate delivery)."""
    insert = insert_for(session)
    result = session.execute(
        insert(WebhookEvent)
        .values(
            provider=PROVIDER,
            event_id=event["id"],
            type=event["type"][:100],
            order_id=order_id,
            state=IGNORED,  # replaced below, in the same transaction
            payload=payload,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        # SQLAlchemy keeps an INSERT's rowcount only when asked (PostgreSQL reports -1 otherwise).
        .execution_options(preserve_rowcount=True)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _set_state(session: Session, event_id: str, state: str, order_id: str | None) -> None:
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.provider == PROVIDER, WebhookEvent.event_id == event_id)
        .values(state=state, order_id=order_id)
        .execution_options(synchronize_session=False)
    )


def is_stored(session: Session, event_id: str) -> bool:
    """Whether the event's row exists (committed by another transaction, when asked after a
    rollback): how a lost race to a concurrent delivery is told from any other failure."""
    return session.get(WebhookEvent, (PROVIDER, event_id)) is not None


def receive(session: Session, event: Event, payload: str, now: datetime) -> str:
    """Record and apply one verified event; returns its state, or "duplicate" (nothing changed).
    The caller commits (or rolls back on an exception)."""
    obj = _object(event)
    # Imported here: backend.naming reaches backend.runtime, which imports this module.
    from backend.naming.bidders import apply_card_event, naming_kind

    if naming_kind(obj) is not None:  # a bidder's saved card or an award offer (backend.naming)
        if not _claim(session, event, None, payload, now):
            return DUPLICATE
        state = apply_card_event(session, event["type"], obj, now)
        _set_state(session, event["id"], state, None)
        return state
    order_id = _order_id(session, event["type"], obj)
    if not _claim(session, event, order_id, payload, now):
        return DUPLICATE
    order = session.get(Order, order_id, with_for_update=True) if order_id else None
    if order is not None and order.payment_method != "card":
        order = None
    state = _dispatch(session, event, obj, order, now)
    _set_state(session, event["id"], state, order.id if order else order_id)
    return state


def _dispatch(session: Session, event: Event, obj: dict[str, Any], order: Order | None, now: datetime) -> str:
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return IGNORED
    if order is None:
        # A refund may name no order until its payment is recorded; anything else is not ours.
        return PARKED if event["type"] == "charge.refunded" else IGNORED
    return handler(session, event, obj, order, now)


def _pay(session: Session, event: Event, obj: dict[str, Any], order: Order, now: datetime) -> str:
    if event["type"] == "checkout.session.completed" and obj.get("payment_status") not in (
        "paid",
        "no_payment_required",
    ):
        return IGNORED  # konbini / bank transfer: `async_payment_succeeded` follows
    if _text(obj.get("currency")) not in (None, "jpy"):
        log.warning("card event %s for %s is not in yen; left for a person", event["id"], order.id)
        return IGNORED
    provider_ref = _payment_ref(obj)
    amount = obj.get("amount_total")
    savepoint = session.begin_nested()
    try:
        result = apply_payment(
            session,
            order,
            provider=PROVIDER,
            provider_ref=provider_ref,
            amount_jpy=amount if isinstance(amount, int) else -1,
            now=now,
        )
    except OrderRefused as refused:
        savepoint.rollback()
        # Money was taken for an order that cannot take it: keep the event, tell a person.
        log.warning("card payment %s for %s refused: %s", provider_ref, order.id, refused.code)
        return IGNORED
    savepoint.commit()
    if result is PaymentResult.DUPLICATE:
        return IGNORED
    if result is PaymentResult.LATE:
        log.warning("card payment %s for %s came after its cards were sold: refund due", provider_ref, order.id)
    _replay_parked(session, order, provider_ref, now)
    return APPLIED


def _replay_parked(session: Session, order: Order, provider_ref: str, now: datetime) -> None:
    """Apply the events that waited for this payment, oldest first, in this transaction."""
    parked = session.scalars(
        select(WebhookEvent)
        .where(
            WebhookEvent.provider == PROVIDER,
            WebhookEvent.state == PARKED,
            (WebhookEvent.order_id == order.id) | (WebhookEvent.order_id.is_(None)),
        )
        .order_by(WebhookEvent.received_at, WebhookEvent.event_id)
        .with_for_update()
    ).all()
    for row in parked:
        event: Event = json.loads(row.payload)
        obj = _object(event)
        if row.order_id is None and _stripe_id(obj.get("payment_intent")) != provider_ref:
            continue  # parked without an order id, and about another payment
        row.state = _dispatch(session, event, obj, order, now)
        row.order_id = order.id
    session.flush()


def apply_parked_refunds(session: Session, now: datetime, limit: int = 100) -> int:
    """Apply parked refunds whose payment is recorded now; returns how many left "parked".

    The slow path for a refund that raced its payment (see the module docstring): the
    payment's `_replay_parked` ran before the refund was committed, so only a later look
    finds it. The newest `limit` parked refunds are examined: refunds of payments that are
    not ours stay parked for good, and oldest first they would crowd out the one that just
    lost the race. Each refund is committed on its own (see `_apply_parked_refund`): this
    session holds at most one order's lock at a time.
    """
    rows = session.execute(
        select(WebhookEvent.event_id, WebhookEvent.payload)
        .where(
            WebhookEvent.provider == PROVIDER,
            WebhookEvent.state == PARKED,
            WebhookEvent.type == "charge.refunded",
        )
        .order_by(WebhookEvent.received_at.desc(), WebhookEvent.event_id.desc())
        .limit(limit)
    ).all()
    parked: list[tuple[str, Event, str]] = []
    for event_id, payload in reversed(rows):  # applied oldest first, like `_replay_parked`
        event: Event = json.loads(payload)
        try:
            intent = _stripe_id(_object(event).get("payment_intent"))
        except InvalidEvent:  # stored before ids were checked: it can never be applied
            continue
        if intent:
            parked.append((event_id, event, intent))
    if not parked:
        return 0
    # One query for all: most parked refunds are still waiting, and are left alone (no lock).
    paid = set(
        session.scalars(
            select(Payment.provider_ref).where(
                Payment.provider == PROVIDER, Payment.provider_ref.in_({intent for _, _, intent in parked})
            )
        )
    )
    changed = 0
    for event_id, event, intent in parked:
        if intent in paid:
            changed += _apply_parked_refund(session, event_id, event, now)
            session.commit()
    return changed


def _apply_parked_refund(session: Session, event_id: str, event: Event, now: datetime) -> bool:
    """Dispatch one parked refund to its order, if it has one now; True if it left "parked".

    Locks are taken as in `receive` and `_replay_parked`: the order, then the event row, read
    again under its lock, so a payment replaying the same refund at the same moment applies
    it once. The caller commits before the next refund: holding this order while waiting
    for another could deadlock with a payment's `_replay_parked`, which holds its order and
    waits for every parked row without an order id.
    """
    obj = _object(event)
    order_id = _order_id(session, event["type"], obj)
    order = session.get(Order, order_id, with_for_update=True, populate_existing=True) if order_id else None
    if order is None or order.payment_method != "card":
        return False
    row = session.scalar(
        select(WebhookEvent)
        .where(WebhookEvent.provider == PROVIDER, WebhookEvent.event_id == event_id, WebhookEvent.state == PARKED)
        .with_for_update()
    )
    if row is None:
        return False  # applied meanwhile, by its payment's `_replay_parked`
    row.state = _dispatch(session, event, obj, order, now)
    row.order_id = order.id
    session.flush()
    return row.state != PARKED


def _refund(session: Session, event: Event, obj: dict[str, Any], order: Order, now: datetime) -> str:
    if obj.get("refunded") is False:
        return IGNORED  # a partial refund: the cards stay; the town decides
    provider_ref = _stripe_id(obj.get("payment_intent")) or str(obj["id"])
    recorded = session.scalar(
        select(Payment.id).where(
            Payment.provider == PROVIDER, Payment.provider_ref == provider_ref, Payment.order_id == order.id
        )
    )
    if recorded is None:
        return PARKED  # its payment has not arrived yet
    record_refund(session, order, provider=PROVIDER, provider_ref=provider_ref, now=now)
    return APPLIED


def _close(session: Session, event: Event, obj: dict[str, Any], order: Order, now: datetime) -> str:
    """The checkout ended without money: give the cards back now, not at the sweeper's next turn."""
    return APPLIED if expire(session, order) else IGNORED


Handler = Callable[[Session, Event, dict[str, Any], Order, datetime], str]
HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _pay,
    "checkout.session.async_payment_succeeded": _pay,
    "checkout.session.async_payment_failed": _close,
    "checkout.session.expired": _close,
    "charge.refunded": _refund,
}
