"""The settle job: from an auction's end to the right awarded on chain, each step exactly once.

Every round (`Settler.run_once`, the `LotSettler` loop of `furusato run`, about once a
second) does, each step on its own so one failing leaves the others:

    create    lots still "creating" on chain (a slow node, a crash after the staff request)
              are finished under their purpose (`backend.naming.lots.LotChain.create`);
              relists whose transaction is not mined are sent again.
    close     an auction whose end has passed: no bid → "unsold" (reserve not met: staff may
              relist); else → "awaiting_payment" with offer round 1 to the highest bidder at
              the winning bid. One conditional UPDATE on the lot (`phase = 'auction' AND
              ends_at <= now`: a bid that extended the end in the meantime keeps it open) and
              the unique (lot, round) make it once, whichever process gets there first.
    charge    a card offer "charging": the saved card is charged off-session, idempotency key
              `naming-offer-{id}` (`backend.naming.charge`), so a process that died after
              Stripe charged and before it committed gets the same PaymentIntent again, never
              a second charge. Paid → the offer "paid" and the lot "awarded" in one
              transaction; refused → "awaiting_payment" with a pay link valid
              `rules.PAY_WITHIN_HOURS`, mailed. Demo offers wait for the demo pay button.
    lapse     an offer not paid by its deadline (plus `PAY_GRACE`) → "lapsed", and the next
              *distinct* bidder — by their own highest bid, highest first, never one offered
              before — gets the next round at that bid (a pay link, or the demo button), at
              most `rules.MAX_SECOND_CHANCE_OFFERS` times; none left → "unsold".
    award     an "awarded" lot without its award transaction: `awardOffchain(chain lot id,
              winner's address)` under purpose `naming:lot:{id}:award` (the exactly-once
              sender: a crash between the charge and the award resumes the award, and the
              stored transaction is the only one); then `awarded_to` and `award_tx_hash` are
              set once and the winner gets a mail (Japanese first).

All offers together are the lot's public award log (`GET /api/v1/lots/{id}/offers`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core import mail
from backend.core.bearer import hash_secret
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.holders.models import Holder
from backend.naming import bidders, rules
from backend.naming.bidders import CARD, CHARGING, LAPSED, OFFERED, PAID, PAY_GRACE, mark_paid, pay_token, pay_url
from backend.naming.chain import NamingChain
from backend.naming.charge import CardUnavailable, NamingCard
from backend.naming.lots import AUCTION, AWAITING_PAYMENT, AWARDED, CREATING, READY, UNSOLD, LotChain
from backend.naming.models import Lot, LotBidder, LotOffer, Park
from backend.sales.order_search import JST
from minting import failpoints
from minting.errors import first_line
from minting.worker import LoopThread, start_loop

log = logging.getLogger("furusato.naming.settle")

#: A lot "creating" is left to the staff request that made it for this long first.
CREATE_RESUME_AFTER = timedelta(seconds=10)
#: Rounds of the loop.
EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    what: str


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _yen(amount: int) -> str:
    return f"¥{amount:,}"


def offer_mail(settings: Settings, lot: Lot, park: Park, offer: LotOffer, holder: Holder, method: str) -> Mail:
    """The mail of an offer awaiting payment: a failed charge's pay link, a second chance, a
    demo winner's pay button."""
    deadline = _aware(offer.pay_deadline or datetime.now(UTC)).astimezone(JST).strftime("%Y-%m-%d %H:%M")
    where = (
        pay_url(settings, lot.id, offer.id) if method == CARD else f"{settings.public_url.rstrip('/')}/lots/{lot.id}"
    )
    if offer.round == 1:
        why_ja = "落札おめでとうございます。" + (
            "登録されたカードでのお支払いができませんでした。" if method == CARD else ""
        )
        why_en = "Congratulations, you won." + (" Your saved card could not be charged." if method == CARD else "")
    else:
        why_ja = "上位の入札者のお支払いがなかったため、あなたの最高入札額でこの命名権をお譲りできます。"
        why_en = "The higher bidder did not pay, so the right is offered to you at your own highest bid."
    subject = f"{park.name_ja} 命名権のお支払い / Pay for the naming right"
    body = (
        f"{why_ja}\n"
        f"{park.name_ja} の命名権（{_yen(offer.amount_jpy)}）を、{deadline}（日本時間）までに"
        "次のページでお支払いください。\n\n"
        f"{where}\n\n"
        "期限を過ぎると、次の入札者にお譲りします。\n\n"
        "----\n\n"
        f"{why_en}\n"
        f"Pay {_yen(offer.amount_jpy)} for the naming right of {park.name_en} by {deadline} (Japan time) here:\n\n"
        f"{where}\n\n"
        "After that, the right is offered to the next bidder.\n"
    )
    return Mail(holder.email, subject, body, "naming offer mail")


def award_mail(settings: Settings, lot: Lot, park: Park, holder: Holder) -> Mail:
    page = f"{settings.public_url.rstrip('/')}/lots/{lot.id}"
    start = _aware(lot.term_start).astimezone(JST).strftime("%Y-%m-%d")
    end = _aware(lot.term_end).astimezone(JST).strftime("%Y-%m-%d")
    subject = f"{park.name_ja} の命名権があなたに授与されました / The naming right is yours"
    body = (
        f"お支払いを確認し、{park.name_ja} の命名権（{start}〜{end}）をあなたに授与しました。\n"
        "次のページから、公園の名前をご提案ください（町の審査のあと、期間中の名前になります）。\n\n"
        f"{page}\n\n"
        "----\n\n"
        f"Your payment is confirmed: the naming right of {park.name_en} ({start} to {end}) is yours, on chain.\n"
        "Propose the park's name on this page (once the town approves it, it is the park's name for the term):\n\n"
        f"{page}\n"
    )
    return Mail(holder.email, subject, body, "naming award mail")


@dataclass
class Settler:
    """One settle round's work; several processes may run it at once (module docstring)."""

    sessions: sessionmaker[Session]
    settings: Settings
    #: None where this process has no admin key: creating and awarding wait for one that has.
    naming: NamingChain | None
    card: NamingCard | None
    #: Transactions the chain refused (staff see why in `chain_error`): not tried again here.
    _relists_refused: set[tuple[int, int]] = field(default_factory=set)
    _awards_refused: set[int] = field(default_factory=set)

    @property
    def lot_chain(self) -> LotChain | None:
        return LotChain(self.sessions, self.naming) if self.naming is not None else None

    def run_once(self, now: datetime | None = None) -> None:
        moment = now or datetime.now(UTC)
        steps: tuple[Callable[[datetime], object], ...] = (
            self.finish_creating,
            self.close_ended,
            self.charge_offers,
            self.lapse_offers,
            self.award_paid,
        )
        for step in steps:
            try:
                step(moment)
            except Exception as exc:  # database busy, node down, Stripe down: next round
                log.warning("naming settle: %s failed: %s", getattr(step, "__name__", step), first_line(exc))

    # ── create ──────────────────────────────────────────────────────────────

    def finish_creating(self, now: datetime) -> int:
        chain = self.lot_chain
        if chain is None:
            return 0
        with self.sessions() as session:
            creating = session.scalars(
                select(Lot.id).where(Lot.chain_state == CREATING, Lot.created_at <= now - CREATE_RESUME_AFTER)
            ).all()
            relisted = session.execute(
                select(Lot.id, Lot.relist_count).where(
                    Lot.phase == AUCTION, Lot.chain_state == READY, Lot.relist_count > 0
                )
            ).all()
        for lot_id in creating:
            chain.create(lot_id)
        for lot_id, count in relisted:
            if (lot_id, count) in self._relists_refused or not chain.relist_pending(lot_id, count):
                continue
            if chain.relist(lot_id) and chain.relist_pending(lot_id, count):
                self._relists_refused.add((lot_id, count))  # refused by the chain: staff see why
        return len(creating)

    # ── close ───────────────────────────────────────────────────────────────

    def close_ended(self, now: datetime) -> int:
        with self.sessions() as session:
            due = session.scalars(
                select(Lot.id).where(Lot.phase == AUCTION, Lot.chain_state == READY, Lot.ends_at <= now)
            ).all()
        for lot_id in due:
            self.close(lot_id, now)
        return len(due)

    def close(self, lot_id: int, now: datetime) -> str | None:
        """End one auction (once): "unsold", or round 1 offered; None if it was not due."""
        mails: list[Mail] = []
        with session_scope(self.sessions) as session:
            unsold = session.execute(
                update(Lot)
                .where(Lot.id == lot_id, Lot.phase == AUCTION, Lot.ends_at <= now, Lot.highest_bidder_id.is_(None))
                .values(phase=UNSOLD)
                .execution_options(synchronize_session=False)
            )
            if unsold.rowcount:  # type: ignore[attr-defined]
                log.info("lot %s ended without a bid: unsold", lot_id)
                return UNSOLD
            closed = session.execute(
                update(Lot)
                .where(Lot.id == lot_id, Lot.phase == AUCTION, Lot.ends_at <= now)
                .values(phase=AWAITING_PAYMENT)
                .execution_options(synchronize_session=False)
            )
            if not closed.rowcount:  # type: ignore[attr-defined]
                return None
            lot = session.get(Lot, lot_id, populate_existing=True)
            assert lot is not None
            assert lot.highest_bidder_id is not None
            assert lot.highest_bid_jpy is not None
            bidder = session.get(LotBidder, lot.highest_bidder_id)
            assert bidder is not None
            mails += self._offer(session, lot, bidder, 1, lot.highest_bid_jpy, now)
            log.info("lot %s ended at %s: offered to bidder %s", lot_id, lot.highest_bid_jpy, bidder.number)
        self._send(mails)
        return AWAITING_PAYMENT

    def _offer(
        self, session: Session, lot: Lot, bidder: LotBidder, round_: int, amount: int, now: datetime
    ) -> list[Mail]:
        """Offer round `round_` (in the caller's transaction); the mail to send after commit."""
        charge = bidder.payment_method == CARD and round_ == 1
        offer = LotOffer(
            lot_id=lot.id,
            round=round_,
            bidder_id=bidder.id,
            amount_jpy=amount,
            state=CHARGING if charge else OFFERED,
        )
        session.add(offer)
        session.flush()
        if charge:
            return []
        return self._await_payment(session, lot, offer, bidder, now)

    def _await_payment(
        self, session: Session, lot: Lot, offer: LotOffer, bidder: LotBidder, now: datetime
    ) -> list[Mail]:
        offer.state = OFFERED
        offer.pay_deadline = now + timedelta(hours=rules.PAY_WITHIN_HOURS)
        offer.pay_token_hash = hash_secret(pay_token(self.settings, offer.id))
        session.flush()
        holder = session.get(Holder, bidder.holder_id)
        park = session.get(Park, lot.park_id)
        assert holder is not None
        assert park is not None
        return [offer_mail(self.settings, lot, park, offer, holder, bidder.payment_method)]

    # ── charge ──────────────────────────────────────────────────────────────

    def charge_offers(self, now: datetime) -> int:
        with self.sessions() as session:
            due = session.scalars(select(LotOffer.id).where(LotOffer.state == CHARGING).order_by(LotOffer.id)).all()
        for offer_id in due:
            self.charge(offer_id, now)
        return len(due)

    def charge(self, offer_id: int, now: datetime) -> str:
        """Charge one "charging" offer off-session; returns the offer's state afterwards."""
        with self.sessions() as session:
            offer = session.get(LotOffer, offer_id)
            assert offer is not None
            if offer.state != CHARGING:
                return offer.state
            bidder = session.get(LotBidder, offer.bidder_id)
            lot = session.get(Lot, offer.lot_id)
            assert bidder is not None
            assert lot is not None
            park = session.get(Park, lot.park_id)
            assert park is not None
        if self.card is None:
            log.warning("offer %s waits for a charge, but card payments are not configured here", offer_id)
            return CHARGING
        method = bidder.card_payment_method
        try:
            if method is None and bidder.card_setup_session:
                method = self.card.saved_payment_method(bidder.card_setup_session)
                if method is not None:
                    with session_scope(self.sessions) as session:
                        session.execute(
                            update(LotBidder)
                            .where(LotBidder.id == bidder.id)
                            .values(card_payment_method=method)
                            .execution_options(synchronize_session=False)
                        )
            if method is None or bidder.card_customer is None:
                result = None
            else:
                result = self.card.charge(
                    offer_id=offer_id,
                    lot_id=lot.id,
                    amount_jpy=offer.amount_jpy,
                    customer=bidder.card_customer,
                    payment_method=method,
                    description=f"{park.name_ja} 命名権 (lot {lot.id}, offer {offer_id})",
                )
        except CardUnavailable as exc:
            log.warning("offer %s: %s; will try again", offer_id, exc)
            return CHARGING
        failpoints.hit("naming_after_charge")
        mails: list[Mail] = []
        with session_scope(self.sessions) as session:
            offer = session.get(LotOffer, offer_id, populate_existing=True)
            assert offer is not None
            if result is not None and result.succeeded:
                if mark_paid(session, offer, from_state=CHARGING, payment_ref=result.payment_intent, now=now):
                    log.info("offer %s of lot %s charged off-session: %s", offer_id, lot.id, result.payment_intent)
            else:
                code = result.code if result is not None else "no_saved_card"
                moved = session.execute(
                    update(LotOffer)
                    .where(LotOffer.id == offer_id, LotOffer.state == CHARGING)
                    .values(charge_error=code, payment_ref=result.payment_intent if result else None)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount:  # type: ignore[attr-defined]
                    session.refresh(offer)
                    mails += self._await_payment(session, lot, offer, bidder, now)
                    log.info("offer %s: off-session charge refused (%s): pay link mailed", offer_id, code)
            session.refresh(offer)
            state = offer.state
        failpoints.hit("naming_after_paid")
        self._send(mails)
        return state

    # ── lapse ───────────────────────────────────────────────────────────────

    def lapse_offers(self, now: datetime) -> int:
        with self.sessions() as session:
            due = session.scalars(
                select(LotOffer.id).where(LotOffer.state == OFFERED, LotOffer.pay_deadline <= now - PAY_GRACE)
            ).all()
        for offer_id in due:
            self.lapse(offer_id, now)
        return len(due)

    def lapse(self, offer_id: int, now: datetime) -> str | None:
        """Lapse one unpaid offer (once) and offer the next round, or make the lot unsold."""
        mails: list[Mail] = []
        outcome = None
        with session_scope(self.sessions) as session:
            moved = session.execute(
                update(LotOffer)
                .where(LotOffer.id == offer_id, LotOffer.state == OFFERED, LotOffer.pay_deadline <= now - PAY_GRACE)
                .values(state=LAPSED, settled_at=now)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return None
            offer = session.get(LotOffer, offer_id, populate_existing=True)
            assert offer is not None
            lot = session.get(Lot, offer.lot_id, populate_existing=True)
            assert lot is not None
            offers = session.scalars(select(LotOffer).where(LotOffer.lot_id == lot.id)).all()
            offered = {row.bidder_id for row in offers}
            following = next(
                (
                    (bidder_id, top)
                    for bidder_id, top in bidders.highest_bids(session, lot.id)
                    if bidder_id not in offered
                ),
                None,
            )
            if following is None or len(offers) >= 1 + rules.MAX_SECOND_CHANCE_OFFERS:
                session.execute(
                    update(Lot)
                    .where(Lot.id == lot.id, Lot.phase == AWAITING_PAYMENT)
                    .values(phase=UNSOLD)
                    .execution_options(synchronize_session=False)
                )
                log.info("lot %s: offer %s lapsed, none left: unsold", lot.id, offer_id)
                outcome = UNSOLD
            else:
                bidder = session.get(LotBidder, following[0])
                assert bidder is not None
                mails += self._offer(session, lot, bidder, len(offers) + 1, following[1], now)
                log.info(
                    "lot %s: offer %s lapsed; round %s to bidder %s", lot.id, offer_id, len(offers) + 1, bidder.number
                )
                outcome = OFFERED
        self._send(mails)
        return outcome

    # ── award ───────────────────────────────────────────────────────────────

    def award_paid(self, now: datetime) -> int:
        chain = self.lot_chain
        if chain is None:
            return 0
        with self.sessions() as session:
            due = session.scalars(
                select(Lot.id).where(Lot.phase == AWARDED, Lot.award_tx_hash.is_(None), Lot.chain_lot_id.is_not(None))
            ).all()
        for lot_id in due:
            if lot_id not in self._awards_refused:
                self.award(chain, lot_id)
        return len(due)

    def award(self, chain: LotChain, lot_id: int) -> str | None:
        """Award one paid lot on chain to the paid offer's bidder; the award's tx hash."""
        with self.sessions() as session:
            row = session.execute(
                select(Holder, Lot, Park)
                .join(LotBidder, LotBidder.holder_id == Holder.id)
                .join(LotOffer, LotOffer.bidder_id == LotBidder.id)
                .join(Lot, Lot.id == LotOffer.lot_id)
                .join(Park, Park.id == Lot.park_id)
                .where(LotOffer.lot_id == lot_id, LotOffer.state == PAID)
            ).first()
        if row is None:
            log.error("lot %s is awarded but has no paid offer", lot_id)
            return None
        holder, lot, park = row
        award = chain.award(lot_id, holder.address)
        if award.refused:
            self._awards_refused.add(lot_id)
        if award.recorded:
            log.info("lot %s awarded on chain to %s (tx %s)", lot_id, holder.address, award.tx_hash)
            self._send([award_mail(self.settings, lot, park, holder)])
        return award.tx_hash

    # ── mail ────────────────────────────────────────────────────────────────

    def _send(self, mails: list[Mail]) -> None:
        for message in mails:
            mail.deliver(self.settings, message.to, message.subject, message.body, message.what, logger=log)


def settler_of(runtime: object) -> Settler:
    """The settle job of a running backend: its database, settings, admin sender and Stripe."""
    from backend.naming.chain import naming_chain
    from backend.naming.charge import naming_card
    from backend.runtime import Runtime

    assert isinstance(runtime, Runtime)
    return Settler(runtime.sessions, runtime.settings, naming_chain(runtime), naming_card(runtime.settings))


class LotSettler:
    """`Settler.run_once` every `every` seconds in a thread of `furusato run` (beside the
    order sweeper). The admin sender is made on first use (a process without the admin key
    still closes auctions, charges and lapses; another process creates and awards)."""

    def __init__(self, runtime: object, *, every: float = EVERY_SECONDS) -> None:
        self.runtime = runtime
        self.every = every
        self._settler: Settler | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self._settler is None:
                    self._settler = settler_of(self.runtime)
                self._settler.run_once()
            except Exception as exc:  # the node not up yet: next round
                log.warning("naming settle round failed: %s", first_line(exc))
            stop.wait(self.every)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "lot-settler")
