"""Bidders: holders registered for a lot, what each sees of their own standing, the award
offers (the public award log) and paying for one.

    register     one row per (lot, holder), numbered 1, 2, 3… in the order of registration
                 (the pseudonym "入札者 N"); `demo` is ready at once, `card` is "pending" until
                 Stripe's `checkout.session.completed` of the setup session (the card saved,
                 3-D Secure done) marks it "ready" (`apply_card_event`).
    offers       made by the settle job (`backend.naming.settle`): round 1 to the winner,
                 rounds 2 and 3 to the next distinct bidders at their own highest bid.
    paying       an offer "awaiting_payment" is paid by the demo button (demo bidders, demo
                 mode) or through its pay link's Checkout Session (card): one conditional
                 UPDATE awaiting_payment → paid, and the lot → awarded in the same transaction,
                 so a payment counts once however often its event arrives.

The pay link's secret is derived from the deployment's secret key and the offer id
(`pay_token`), and only its hash is stored: it can be mailed again, and the winner's own
`GET /lots/{id}/me` shows it to them (they are signed in), so a lost mail loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.analytics.changes import mark_email
from backend.core.bearer import hash_secret
from backend.core.config import Settings
from backend.holders.models import Holder
from backend.naming import rules
from backend.naming.lots import AUCTION, AWAITING_PAYMENT, AWARDED, FAILED, bidder_pseudonym
from backend.naming.models import Bid, Lot, LotBidder, LotOffer, NameProposal
from backend.naming.names import proposal_public

log = logging.getLogger("furusato.naming")

DEMO, CARD = "demo", "card"
READY, PENDING = "ready", "pending"
CHARGING, OFFERED, PAID, LAPSED = "charging", "awaiting_payment", "paid", "lapsed"
#: A pay link's Checkout Session may outlive the deadline by Stripe's minimum life (30 min):
#: an offer lapses only this long after its deadline, so no open checkout pays a lapsed offer.
PAY_GRACE = timedelta(minutes=35)
#: Registration attempts when two holders take the same number at once (SQLite).
REGISTER_ATTEMPTS = 5
_ID = re.compile(r"[1-9][0-9]{0,9}")

APPLIED, IGNORED = "applied", "ignored"


class BidderRefused(Exception):
    """A bidder action the state does not allow: `status` and the API's `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def auction_closed() -> BidderRefused:
    return BidderRefused(409, "auction_closed", "この入札は終了しています。 (The auction has ended.)")


# ── registering ─────────────────────────────────────────────────────────────


def bidder_of(session: Session, lot_id: int, holder_id: int) -> LotBidder | None:
    return session.scalar(select(LotBidder).where(LotBidder.lot_id == lot_id, LotBidder.holder_id == holder_id))


def registrable(lot: Lot, now: datetime) -> bool:
    """Bidders register while the auction is scheduled or open."""
    return lot.phase == AUCTION and lot.chain_state != FAILED and rules.seconds(now) < rules.seconds(lot.ends_at)


def register(
    session: Session, lot_id: int, holder_id: int, prefecture: str, method: str, now: datetime
) -> tuple[LotBidder, bool]:
    """The holder's registration for the lot, made now if new: (bidder, created). Commits.

    The number is the lot's next (under the lot's row lock on PostgreSQL; on SQLite two
    registrations may read the same highest number, and the unique key sends the loser round
    again)."""
    for _attempt in range(REGISTER_ATTEMPTS):
        lot = session.scalar(select(Lot).where(Lot.id == lot_id).with_for_update())
        assert lot is not None
        existing = bidder_of(session, lot_id, holder_id)
        if existing is not None:
            session.commit()
            return existing, False
        if not registrable(lot, now):
            session.rollback()
            raise auction_closed()
        number = (session.scalar(select(func.max(LotBidder.number)).where(LotBidder.lot_id == lot_id)) or 0) + 1
        bidder = LotBidder(
            lot_id=lot_id,
            holder_id=holder_id,
            number=number,
            prefecture=prefecture,
            payment_method=method,
            payment_state=READY if method == DEMO else PENDING,
        )
        session.add(bidder)
        try:
            holder = session.get(Holder, holder_id)  # flushes the bidder: inside the try
            if holder is not None:
                mark_email(session, holder.email, lot.municipality_id)
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return bidder, True
    raise RuntimeError(f"lot {lot_id}: no bidder number after {REGISTER_ATTEMPTS} attempts")


def note_card_setup(session: Session, bidder_id: int, customer: str, setup_session: str) -> None:
    session.execute(
        update(LotBidder)
        .where(LotBidder.id == bidder_id)
        .values(card_customer=customer, card_setup_session=setup_session)
        .execution_options(synchronize_session=False)
    )


# ── the holder's own view and the public log ───────────────────────────────


def pay_token(settings: Settings, offer_id: int) -> str:
    """The pay link's secret for an offer (HMAC of the deployment's secret key): the same
    every time, so it can be mailed again; only its hash is stored."""
    key = settings.secret_key.get_secret_value().encode()
    digest = hmac.new(key, f"furusato naming pay link v1:{offer_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pay_url(settings: Settings, lot_id: int, offer_id: int) -> str:
    """The pay link: the lot page, the offer, and its secret (the page posts both to
    `POST /api/v1/lots/{lot_id}/offers/{offer}/checkout` with `{"token": pay}`)."""
    return f"{settings.public_url.rstrip('/')}/lots/{lot_id}?offer={offer_id}&pay={pay_token(settings, offer_id)}"


def offer_for_token(session: Session, lot_id: int, offer_id: int, token: str) -> LotOffer | None:
    offer = session.scalar(select(LotOffer).where(LotOffer.pay_token_hash == hash_secret(token)))
    return offer if offer is not None and offer.id == offer_id and offer.lot_id == lot_id else None


def highest_bids(session: Session, lot_id: int) -> list[tuple[int, int]]:
    """(bidder id, their own highest bid) of every bidder who bid, highest first."""
    rows = session.execute(
        select(Bid.bidder_id, func.max(Bid.amount_jpy).label("top"))
        .where(Bid.lot_id == lot_id)
        .group_by(Bid.bidder_id)
        .order_by(func.max(Bid.amount_jpy).desc(), Bid.bidder_id)
    ).all()
    return [(int(bidder_id), int(top)) for bidder_id, top in rows]


def my_view(session: Session, settings: Settings, lot: Lot, holder: Holder) -> dict[str, Any]:
    """`GET /lots/{id}/me`: the holder's registration, standing, offer and proposals."""
    bidder = bidder_of(session, lot.id, holder.id)
    proposals = session.scalars(
        select(NameProposal)
        .where(NameProposal.lot_id == lot.id, NameProposal.proposer == holder.address)
        .order_by(NameProposal.id.desc())
    ).all()
    view: dict[str, Any] = {
        "lot_id": lot.id,
        "registered": bidder is not None,
        "bidder": None,
        "number": None,
        "payment_method": None,
        "payment_state": None,
        "my_highest_bid_jpy": None,
        "is_highest": False,
        "offer": None,
        "is_primary_winner": lot.awarded_to is not None and lot.awarded_to == holder.address,
        "awarded": lot.phase == AWARDED and lot.awarded_to is not None,
        "proposals": [proposal_public(session, proposal) for proposal in proposals],
    }
    if bidder is None:
        return view
    mine = session.scalar(select(func.max(Bid.amount_jpy)).where(Bid.lot_id == lot.id, Bid.bidder_id == bidder.id))
    offer = session.scalar(
        select(LotOffer)
        .where(LotOffer.lot_id == lot.id, LotOffer.bidder_id == bidder.id)
        .order_by(LotOffer.round.desc())
    )
    view.update(
        bidder=bidder_pseudonym(bidder.number),
        number=bidder.number,
        payment_method=bidder.payment_method,
        payment_state=bidder.payment_state,
        my_highest_bid_jpy=mine,
        is_highest=lot.highest_bidder_id == bidder.id,
    )
    if offer is not None:
        payable = offer.state == OFFERED
        view["offer"] = {
            "id": offer.id,
            "round": offer.round,
            "amount_jpy": offer.amount_jpy,
            "state": offer.state,
            "pay_deadline": offer.pay_deadline,
            "pay_with": (DEMO if bidder.payment_method == DEMO else "checkout") if payable else None,
            "pay_url": pay_url(settings, lot.id, offer.id) if payable and bidder.payment_method == CARD else None,
        }
    return view


def public_offers(session: Session, lot_id: int) -> list[dict[str, Any]]:
    """The award log: every offer with its round, bidder pseudonym, amount and state."""
    rows = session.execute(
        select(LotOffer, LotBidder.number)
        .join(LotBidder, LotBidder.id == LotOffer.bidder_id)
        .where(LotOffer.lot_id == lot_id)
        .order_by(LotOffer.round)
    ).all()
    return [
        {
            "round": offer.round,
            "bidder": bidder_pseudonym(number),
            "bidder_en": bidder_pseudonym(number, "en"),
            "amount_jpy": offer.amount_jpy,
            "state": offer.state,
            "at": offer.created_at,
            "settled_at": offer.settled_at,
        }
        for offer, number in rows
    ]


# ── paying ──────────────────────────────────────────────────────────────────


def mark_paid(session: Session, offer: LotOffer, *, from_state: str, payment_ref: str | None, now: datetime) -> bool:
    """`from_state` → paid, and the lot → awarded, in the caller's transaction; False (nothing
    changed) if the offer was not in `from_state` any more."""
    moved = session.execute(
        update(LotOffer)
        .where(LotOffer.id == offer.id, LotOffer.state == from_state)
        .values(state=PAID, payment_ref=payment_ref or offer.payment_ref, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(Lot)
        .where(Lot.id == offer.lot_id, Lot.phase == AWAITING_PAYMENT)
        .values(phase=AWARDED)
        .execution_options(synchronize_session=False)
    )
    return True


def payable(offer: LotOffer, now: datetime) -> None:
    """Refuse paying an offer that is not awaiting payment, or whose deadline passed."""
    if offer.state == PAID:
        raise BidderRefused(409, "offer_paid", "お支払い済みです。 (This offer is paid.)")
    if offer.state != OFFERED or offer.pay_deadline is None:
        raise BidderRefused(409, "offer_not_payable", "このオファーはお支払いできません。 (This offer cannot be paid.)")
    if rules.seconds(now) > rules.seconds(offer.pay_deadline):
        raise BidderRefused(409, "offer_expired", "お支払い期限を過ぎました。 (The time to pay has passed.)")


def demo_pay(session: Session, lot_id: int, offer_id: int, holder_id: int, now: datetime) -> LotOffer:
    """The demo pay button of the holder's own offer. Commits."""
    offer = session.get(LotOffer, offer_id)
    bidder = session.get(LotBidder, offer.bidder_id) if offer is not None else None
    if offer is None or bidder is None or offer.lot_id != lot_id or bidder.holder_id != holder_id:
        raise BidderRefused(404, "offer_not_found", "そのオファーはありません。 (No such offer of yours.)")
    if bidder.payment_method != DEMO:
        raise BidderRefused(
            409, "offer_not_payable", "カードのオファーはお支払いリンクからどうぞ。 (Pay card offers by their link.)"
        )
    payable(offer, now)
    if not mark_paid(session, offer, from_state=OFFERED, payment_ref=f"demo-offer-{offer.id}", now=now):
        session.rollback()
        raise BidderRefused(409, "offer_not_payable", "このオファーはお支払いできません。 (This offer cannot be paid.)")
    session.commit()
    session.refresh(offer)
    return offer


# ── Stripe's events (called from backend.payments.card_events) ─────────────


def naming_kind(obj: dict[str, Any]) -> str | None:
    """ "setup" or "offer" for a Stripe object this area made (its metadata says so), else None."""
    metadata = obj.get("metadata")
    kind = metadata.get("naming") if isinstance(metadata, dict) else None
    return kind if isinstance(kind, str) else None


def _metadata_id(obj: dict[str, Any], name: str) -> int | None:
    metadata = obj.get("metadata")
    value = metadata.get(name) if isinstance(metadata, dict) else None
    return int(value) if isinstance(value, str) and _ID.fullmatch(value) else None


def _completed(event_type: str, obj: dict[str, Any]) -> bool:
    if event_type == "checkout.session.async_payment_succeeded":
        return True
    return event_type == "checkout.session.completed" and obj.get("status") == "complete"


def apply_card_event(session: Session, event_type: str, obj: dict[str, Any], now: datetime) -> str:
    """A verified Stripe event about a bidder's card setup or an offer's payment, applied in
    the caller's transaction (the event's row is claimed there first): "applied" or "ignored"."""
    kind = naming_kind(obj)
    if kind == "setup" and event_type == "checkout.session.completed" and obj.get("status") == "complete":
        return _card_saved(session, obj)
    if kind == "offer" and _completed(event_type, obj):
        return _offer_paid(session, obj, now)
    return IGNORED


def _card_saved(session: Session, obj: dict[str, Any]) -> str:
    bidder_id = _metadata_id(obj, "bidder_id")
    bidder = session.get(LotBidder, bidder_id) if bidder_id is not None else None
    if bidder is None or bidder.payment_method != CARD or bidder.lot_id != _metadata_id(obj, "lot_id"):
        return IGNORED
    values: dict[str, Any] = {"payment_state": READY, "card_setup_session": str(obj["id"])}
    customer = obj.get("customer")
    if isinstance(customer, str) and customer:
        values["card_customer"] = customer[:100]
    intent = obj.get("setup_intent")
    method = intent.get("payment_method") if isinstance(intent, dict) else None
    if isinstance(method, str) and method:
        values["card_payment_method"] = method[:100]
    moved = session.execute(
        update(LotBidder)
        .where(LotBidder.id == bidder.id, LotBidder.payment_state == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return APPLIED if moved.rowcount else IGNORED  # type: ignore[attr-defined]


def _offer_paid(session: Session, obj: dict[str, Any], now: datetime) -> str:
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return IGNORED  # an asynchronous method: `async_payment_succeeded` follows
    offer_id = _metadata_id(obj, "offer_id")
    offer = session.get(LotOffer, offer_id, with_for_update=True) if offer_id is not None else None
    if offer is None or offer.lot_id != _metadata_id(obj, "lot_id"):
        return IGNORED
    if obj.get("currency") not in (None, "jpy") or obj.get("amount_total") != offer.amount_jpy:
        log.warning("payment of offer %s is not its amount in yen; left for a person", offer.id)
        return IGNORED
    intent = obj.get("payment_intent")
    ref = intent if isinstance(intent, str) and intent else str(obj["id"])
    if mark_paid(session, offer, from_state=OFFERED, payment_ref=ref[:100], now=now):
        log.info("offer %s of lot %s paid by checkout %s", offer.id, offer.lot_id, obj["id"])
        return APPLIED
    if offer.state != PAID or offer.payment_ref != ref:
        log.warning("offer %s (%s) paid by %s after it closed: refund due", offer.id, offer.state, ref)
    return IGNORED
