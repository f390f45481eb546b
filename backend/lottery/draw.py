"""The lottery job: close, anchor, draw, the winners' orders, lapses and promotions, settling,
and the mail outbox. A loop thread of `furusato run` (beside the order sweeper) and of
`furusato worker`; every step is safe to run in several processes at once and to kill at
any instant, because each one moves a lottery (or an application) by a conditional UPDATE
on where it stands, in the same transaction as everything that step writes:

    close     announced → closed once `applications_close_at` has passed: the lottery row is
              taken FOR UPDATE (waiting for applications in flight: `applications`), the
              drop's terms are copied (fixed from now on) and the list hashed.
    anchor    a 0-value transaction from the minter to itself whose calldata is the 32 bytes
              of `list_hash`, through the exactly-once sender (purpose
              `lottery:drop:{id}:anchor`): stored before it is broadcast, the same bytes sent
              again after a crash, never a second one. Once it has the configured confirmation
              depth (`FURUSATO_MINT_CONFIRMATIONS`, the mint sender's; re-read from the node,
              so a reorg moves the block before it counts) chain id, from, tx hash, block
              number and block hash are recorded, once.
    rank      at `draw_at`, with the anchor recorded: `algorithm.draw` over the stored list,
              then ranks, outcomes and the winners' deadlines (draw + pay-within hours) in one
              transaction with closed → ranked. The draw is a pure function of stored values,
              so a rerun after a kill computes the same result.
    orders    each place without an order gets one (pending payment, the deadline as its
              expiry, stock taken from the drop as any order takes it), in batches; the
              application's `order_id` is set by `… WHERE order_id IS NULL` in the order's
              transaction, so one place never gets two. When every place has its order:
              ranked → drawn, and the server seed is revealed.
    promote   at each check after a deadline, every place whose order is unpaid past it
              lapses (all together; their orders expire and can no longer be paid), and the
              waitlist is walked once (`algorithm.promotion_round`); the round is appended.
    settle    drawn → settled once every place holding cards is paid: nothing can move.
    mail      the outbox: applications whose `mail_due` is set get the mail for where they
              stand now (receipt, won, promoted, waitlisted, expired, lost).

Failpoints (`minting.failpoints`, or `checkpoint` in tests): `lottery_after_close`,
`lottery_before_anchor`, `lottery_after_anchor` (mined, not recorded), `lottery_after_ranking`
(ranked, no order yet), `lottery_between_orders` (some orders made).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3.exceptions import TransactionNotFound

from backend.core.config import Settings
from backend.core.db import utcnow
from backend.holders.custody import Vault, ensure_holder
from backend.lottery import algorithm
from backend.lottery.announce import announce_published, server_seed
from backend.lottery.applications import PAID_STATES, order_token_aad
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
    LotteryRound,
)
from backend.lottery.outbox import Outbox
from backend.payments.wallet import vouchers_for
from backend.sales.models import Drop, Order
from backend.sales.orders import LOTTERY_LAPSED, NewOrder, OrderRefused, assign_cards, aware, expire, reserve
from backend.towns.models import Municipality
from minting import failpoints
from minting.chains import Chain
from minting.errors import first_line
from minting.once import OnceSender
from minting.worker import LoopThread, start_loop

if TYPE_CHECKING:
    from backend.payments.base import HostedCheckout

log = logging.getLogger("furusato.lottery")

#: Places given an order per transaction.
ORDER_BATCH = 100
#: How long one anchor attempt waits for its receipt before the next round resumes it.
ANCHOR_RECEIPT_SECONDS = 30.0
#: A bound on reverted anchors before the job stops trying new purposes (a bug, not bad luck).
MAX_ANCHOR_ATTEMPTS = 5


def anchor_purpose(drop_id: int, attempt: int = 1) -> str:
    """The exactly-once purpose of a lottery's anchor (attempt n after n-1 reverted)."""
    return f"lottery:drop:{drop_id}:anchor" if attempt == 1 else f"lottery:drop:{drop_id}:anchor:{attempt}"


def anchor_tx(account: str, list_hash: str) -> dict[str, Any]:
    """0 value, from the signer to itself, calldata the 32 bytes of the list hash."""
    return {"to": account, "data": bytes.fromhex(algorithm.anchor_calldata(list_hash)[2:]), "value": 0}


class _Raced(Exception):
    """Another process did this step first: roll back what this one wrote."""


@dataclass
class LotteryJob:
    """Runs every lottery of one chain (module docstring)."""

    sessions: sessionmaker[Session]
    chain: Chain
    vault: Vault
    settings: Settings
    #: Signs the anchor (the minter: a key every deployment that mints has).
    account: LocalAccount
    card_checkout: HostedCheckout | None = None
    voucher_signer: LocalAccount | None = None
    every: float = 1.0
    receipt_timeout: float = ANCHOR_RECEIPT_SECONDS
    #: Called at each failpoint name; tests replace it to stop the job there.
    checkpoint: Callable[[str], None] = failpoints.hit
    clock: Callable[[], datetime] = utcnow
    #: Run only these drops' lotteries (None: every lottery of the chain).
    only: frozenset[int] | None = None

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    def sender(self) -> OnceSender:
        return OnceSender(self.sessions, self.chain.w3, self.account, timeout=self.receipt_timeout)

    # ── the loop ────────────────────────────────────────────────────────────

    def sweep(self) -> None:
        """One round of every step. A step's failure (node down, database busy) is logged
        and tried again next round; it does not stop the other steps."""
        now = self.clock()
        steps = (
            self.announce_missing,
            self.close_due,
            self.anchor_closed,
            self.draw_due,
            self.make_orders,
            self.start_checkouts,
            self.promote_due,
            self.settle_done,
            self.send_mail,
        )
        for step in steps:
            try:
                step(now)
            except Exception as exc:
                log.warning("lottery job: %s failed: %s", step.__name__, first_line(exc))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.sweep()
            stop.wait(self.every)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "lottery-job")

    def _lotteries(self, *conditions: Any) -> list[int]:
        if self.only is not None:
            conditions = (*conditions, Lottery.drop_id.in_(self.only))
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Lottery.drop_id)
                    .join(Drop, Drop.id == Lottery.drop_id)
                    .where(Drop.chain_id == self.chain_id, *conditions)
                    .order_by(Lottery.drop_id)
                )
            )

    # ── announce ────────────────────────────────────────────────────────────

    def announce_missing(self, _now: datetime) -> None:
        with self.sessions.begin() as session:
            announce_published(session, self.vault, self.chain_id)

    # ── close ───────────────────────────────────────────────────────────────

    def close_due(self, now: datetime) -> None:
        for drop_id in self._lotteries(Lottery.stage == ANNOUNCED, Drop.applications_close_at <= now):
            self.close(drop_id, now)

    def close(self, drop_id: int, now: datetime) -> bool:
        """announced → closed with the list fixed; False if it was not due (or done)."""
        with self.sessions.begin() as session:
            # FOR UPDATE: waits for every application holding the row's key-share lock.
            locked = session.scalar(
                select(Lottery.stage).where(Lottery.drop_id == drop_id, Lottery.stage == ANNOUNCED).with_for_update()
            )
            if locked is None:
                return False
            drop = session.get(Drop, drop_id)
            assert drop is not None
            if drop.applications_close_at is None or aware(drop.applications_close_at) > now:
                return False
            moved = session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id, Lottery.stage == ANNOUNCED)
                .values(
                    stage=CLOSED,
                    closed_at=now,
                    applications_close_at=drop.applications_close_at,
                    draw_at=drop.draw_at,
                    pay_within_hours=drop.pay_within_hours,
                    supply=drop.supply,
                )
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return False
            # Read after the write: on SQLite this transaction now holds the one write lock,
            # on PostgreSQL the row lock; no application can commit past this list.
            entries = self._entries(session, drop_id)
            session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id)
                .values(list_hash=algorithm.list_hash(entries), entries_count=len(entries))
                .execution_options(synchronize_session=False)
            )
        log.info("lottery of drop %s closed with %s entries", drop_id, len(entries))
        self.checkpoint("lottery_after_close")
        return True

    @staticmethod
    def _entries(session: Session, drop_id: int) -> list[tuple[str, int]]:
        rows = session.execute(
            select(LotteryApplication.entry_id, LotteryApplication.quantity).where(
                LotteryApplication.drop_id == drop_id
            )
        ).all()
        return [(entry_id, int(quantity)) for entry_id, quantity in rows]

    # ── anchor ──────────────────────────────────────────────────────────────

    def anchor_closed(self, _now: datetime) -> None:
        for drop_id in self._lotteries(Lottery.stage == CLOSED, Lottery.anchor_block_hash.is_(None)):
            self.anchor(drop_id)

    def anchor(self, drop_id: int) -> bool:
        """Send (or resume) the anchor and record it once it is deep enough; True if recorded."""
        with self.sessions() as session:
            lottery = session.get(Lottery, drop_id)
            assert lottery is not None
        if lottery.stage != CLOSED or lottery.anchor_block_hash is not None or lottery.list_hash is None:
            return False
        attempt = int(lottery.anchor_attempt)
        if attempt > MAX_ANCHOR_ATTEMPTS:
            return False
        sender = self.sender()
        purpose = anchor_purpose(drop_id, attempt)
        receipt = sender.find(purpose)
        if receipt is None:
            self.checkpoint("lottery_before_anchor")
            receipt = sender.send(purpose, anchor_tx(self.account.address, lottery.list_hash))
        self.checkpoint("lottery_after_anchor")
        if not receipt.ok:
            log.warning("lottery of drop %s: anchor %s reverted; sending a new one", drop_id, receipt.tx_hash)
            with self.sessions.begin() as session:
                session.execute(
                    update(Lottery)
                    .where(Lottery.drop_id == drop_id, Lottery.anchor_attempt == attempt)
                    .values(anchor_attempt=attempt + 1)
                    .execution_options(synchronize_session=False)
                )
            return False
        found = self._confirmed(drop_id, receipt.tx_hash, lottery.list_hash)
        if found is None:
            return False
        sender_address, block_number, block_hash = found
        with self.sessions.begin() as session:
            recorded = session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id, Lottery.stage == CLOSED, Lottery.anchor_block_hash.is_(None))
                .values(
                    anchor_chain_id=self.chain_id,
                    anchor_from=sender_address,
                    anchor_tx_hash=receipt.tx_hash.lower(),
                    anchor_block_number=block_number,
                    anchor_block_hash=block_hash,
                )
                .execution_options(synchronize_session=False)
            )
        if recorded.rowcount:  # type: ignore[attr-defined]
            log.info("lottery of drop %s anchored in block %s (tx %s)", drop_id, block_number, receipt.tx_hash)
        return bool(recorded.rowcount)  # type: ignore[attr-defined]

    def _confirmed(self, drop_id: int, tx_hash: str, list_hash: str) -> tuple[str, int, str] | None:
        """(from, block number, block hash) of the anchor as the node has it now, once it has
        the confirmation depth; None before (the next round looks again)."""
        w3 = self.chain.w3
        depth = self.settings.mint_confirmations
        try:
            node_receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        block_number = int(node_receipt["blockNumber"])
        head = int(w3.eth.block_number)
        if head - block_number < depth:
            return None
        tx = w3.eth.get_transaction(HexBytes(tx_hash))
        sender_address = str(tx["from"]).lower()
        data = HexBytes(tx["input"]).to_0x_hex()
        to = str(tx["to"]).lower() if tx.get("to") else None
        if to != sender_address or data != algorithm.anchor_calldata(list_hash) or int(tx["value"]) != 0:
            raise RuntimeError(f"drop {drop_id}: transaction {tx_hash} is not the anchor of list {list_hash}")
        return sender_address, block_number, HexBytes(node_receipt["blockHash"]).to_0x_hex().lower()

    # ── draw: rank ──────────────────────────────────────────────────────────

    def draw_due(self, now: datetime) -> None:
        for drop_id in self._lotteries(
            Lottery.stage == CLOSED, Lottery.anchor_block_hash.is_not(None), Lottery.draw_at <= now
        ):
            self.rank(drop_id, now)

    def rank(self, drop_id: int, now: datetime) -> bool:
        """closed → ranked: the draw's result stored; True if this call did it."""
        with self.sessions() as session:
            lottery = session.get(Lottery, drop_id)
            assert lottery is not None
            rows = session.execute(
                select(LotteryApplication.id, LotteryApplication.entry_id, LotteryApplication.quantity).where(
                    LotteryApplication.drop_id == drop_id
                )
            ).all()
        if lottery.stage != CLOSED or lottery.anchor_block_hash is None:
            return False
        assert lottery.supply is not None
        assert lottery.pay_within_hours is not None
        result = algorithm.draw(
            server_seed(self.vault, lottery),
            lottery.anchor_block_hash,
            [(entry_id, int(quantity)) for _id, entry_id, quantity in rows],
            int(lottery.supply),
        )
        if result.list_hash != lottery.list_hash:
            raise RuntimeError(f"drop {drop_id}: the entries no longer hash to the list fixed at the close")
        ids = {entry_id: application_id for application_id, entry_id, _q in rows}
        winners = {entry.entry_id for entry in result.winners}
        deadline = now + timedelta(hours=int(lottery.pay_within_hours))
        changes = [
            {
                "id": ids[entry.entry_id],
                "rank": position,
                "outcome": WON if entry.entry_id in winners else WAITLISTED,
                "deadline": deadline if entry.entry_id in winners else None,
            }
            for position, entry in enumerate(result.ranking, start=1)
        ]
        with self.sessions.begin() as session:
            moved = session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id, Lottery.stage == CLOSED, Lottery.anchor_block_hash.is_not(None))
                .values(stage=RANKED, final_seed=result.final_seed, drawn_at=now)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return False
            if changes:
                session.execute(update(LotteryApplication), changes)
            _mail_due(session, LotteryApplication.drop_id == drop_id, LotteryApplication.outcome == WAITLISTED)
        log.info("lottery of drop %s drawn: %s winners, %s waitlisted", drop_id, len(winners), len(result.waitlist))
        self.checkpoint("lottery_after_ranking")
        return True

    # ── draw: the places' orders ────────────────────────────────────────────

    def make_orders(self, now: datetime) -> None:
        for drop_id in self._lotteries(Lottery.stage.in_((RANKED, DRAWN))):
            while self.order_batch(drop_id, now):
                self.checkpoint("lottery_between_orders")
            self.reveal(drop_id)

    def _methods(self) -> dict[str, bool]:
        return {
            "demo": self.settings.demo_mode,
            "card": self.card_checkout is not None,
            "wallet": self.voucher_signer is not None,
        }

    def payment_method(self, drop: Drop, application: LotteryApplication) -> str:
        """The drop's first method this deployment takes (wallet only for an applicant who
        gave an address): demo on a demo deployment, else card, else wallet."""
        offered = [method for method in drop.payment_methods.split(",") if method]
        available = self._methods()
        for method in offered:
            if available.get(method) and (method != "wallet" or application.wallet_address):
                return method
        return offered[0] if offered else "demo"

    def order_batch(self, drop_id: int, now: datetime) -> int:
        """Orders for up to `ORDER_BATCH` places that have none, in one transaction; how many."""
        lacking = and_(
            LotteryApplication.drop_id == drop_id,
            or_(LotteryApplication.outcome == WON, LotteryApplication.promoted_round.is_not(None)),
            LotteryApplication.lapsed_round.is_(None),
            LotteryApplication.order_id.is_(None),
        )
        try:
            with self.sessions.begin() as session:
                applications = session.scalars(
                    select(LotteryApplication).where(lacking).order_by(LotteryApplication.rank).limit(ORDER_BATCH)
                ).all()
                if not applications:
                    return 0
                drop = session.get(Drop, drop_id)
                assert drop is not None
                for application in applications:
                    self._order_for(session, drop, application, now)
                return len(applications)
        except _Raced:
            return 0
        except OrderRefused as refused:
            raise RuntimeError(
                f"drop {drop_id}: a lottery place's order was refused ({refused.code}): {refused}"
            ) from None

    def _order_for(self, session: Session, drop: Drop, application: LotteryApplication, now: datetime) -> None:
        assert application.deadline is not None
        method = self.payment_method(drop, application)
        holder = None if application.wallet_address else ensure_holder(session, self.vault, application.email)
        deadline = aware(application.deadline)
        order, token = reserve(
            session,
            drop,
            NewOrder(
                drop.id,
                application.quantity,
                application.email,
                application.prefecture,
                method,
                application.wallet_address,
                application.campaign_code,
            ),
            recipient=application.wallet_address or (holder.address if holder else None),
            holder_id=holder.id if holder else None,
            ttl=deadline - now,
            now=now,
        )
        if method == "wallet":
            assert self.voucher_signer is not None
            assert order.wallet_address is not None
            vouchers = vouchers_for(
                self.chain.w3,
                self.voucher_signer,
                contract=drop.contract,
                buyer=order.wallet_address,
                token_ids=assign_cards(session, order),
                price_wei=int(drop.price_wei),
                deadline=order.expires_at,
                order_id=order.id,
            )
            order.payment_data = json.dumps({"vouchers": vouchers})
        taken = session.execute(
            update(LotteryApplication)
            .where(LotteryApplication.id == application.id, LotteryApplication.order_id.is_(None))
            .values(
                order_id=order.id,
                order_token_enc=self.vault.encrypt(token.encode(), order_token_aad(application.id)),
                mail_due=True,
                mail_seq=LotteryApplication.mail_seq + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if not taken.rowcount:  # type: ignore[attr-defined]
            raise _Raced(application.id)

    def reveal(self, drop_id: int) -> bool:
        """ranked → drawn once every place has its order: the server seed goes public."""
        with self.sessions() as session:
            lottery = session.get(Lottery, drop_id)
            assert lottery is not None
            if lottery.stage != RANKED:
                return False
            lacking = session.scalar(
                select(func.count())
                .select_from(LotteryApplication)
                .where(
                    LotteryApplication.drop_id == drop_id,
                    LotteryApplication.outcome == WON,
                    LotteryApplication.order_id.is_(None),
                )
            )
        if lacking:
            return False
        seed = server_seed(self.vault, lottery)
        with self.sessions.begin() as session:
            moved = session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id, Lottery.stage == RANKED)
                .values(stage=DRAWN, server_seed=seed)
                .execution_options(synchronize_session=False)
            )
        return bool(moved.rowcount)  # type: ignore[attr-defined]

    # ── card checkouts of the places' orders ────────────────────────────────

    def start_checkouts(self, _now: datetime) -> None:
        """A place paid by card needs its Stripe Checkout: started after its order committed
        (no lock held while the provider answers), tried again each round until it exists."""
        if self.card_checkout is None:
            return
        with self.sessions() as session:
            pending = session.scalars(
                select(Order.id)
                .join(LotteryApplication, LotteryApplication.order_id == Order.id)
                .where(Order.payment_method == "card", Order.status == "pending_payment", Order.payment_data == "{}")
                .limit(20)
            ).all()
        for order_id in pending:
            with self.sessions() as session:
                order = session.get(Order, order_id)
                assert order is not None
                drop = session.get(Drop, order.drop_id)
                assert drop is not None
                town = session.get(Municipality, drop.municipality_id)
                assert town is not None
                return_url = f"{self.settings.public_url}/order.html?id={order.id}"
                started = self.card_checkout.start(order, drop, town, return_url=return_url)
                session.execute(
                    update(Order)
                    .where(Order.id == order.id, Order.payment_data == "{}")
                    .values(
                        payment_data=json.dumps({"checkout_session": started.session_id, "checkout_url": started.url})
                    )
                    .execution_options(synchronize_session=False)
                )
                session.commit()

    # ── lapses and promotions ───────────────────────────────────────────────

    def promote_due(self, now: datetime) -> None:
        for drop_id in self._lotteries(Lottery.stage == DRAWN):
            self.promote(drop_id, now)

    def _due(self, session: Session, drop_id: int, now: datetime) -> list[str]:
        return list(
            session.scalars(
                select(LotteryApplication.id)
                .join(Order, Order.id == LotteryApplication.order_id)
                .where(
                    LotteryApplication.drop_id == drop_id,
                    LotteryApplication.lapsed_round.is_(None),
                    LotteryApplication.deadline < now,
                    Order.status.in_(("pending_payment", "expired")),
                )
            )
        )

    def promote(self, drop_id: int, now: datetime) -> bool:
        """One round if any place is unpaid past its deadline; True if a round was appended."""
        with self.sessions() as session:
            if not self._due(session, drop_id, now):
                return False
        with self.sessions.begin() as session:
            lottery = session.scalar(
                select(Lottery).where(Lottery.drop_id == drop_id, Lottery.stage == DRAWN).with_for_update()
            )
            if lottery is None:
                return False
            assert lottery.supply is not None
            assert lottery.pay_within_hours is not None
            lapsing = self._lapse(session, self._due(session, drop_id, now))
            if not lapsing:
                return False
            round_ = int(lottery.rounds) + 1
            promoted = self._walk(session, drop_id, int(lottery.supply), [a.entry_id for a in lapsing])
            deadline = now + timedelta(hours=int(lottery.pay_within_hours))
            _mail_due(session, LotteryApplication.id.in_([a.id for a in lapsing]))
            session.execute(
                update(LotteryApplication)
                .where(LotteryApplication.id.in_([a.id for a in lapsing]))
                .values(lapsed_round=round_)
                .execution_options(synchronize_session=False)
            )
            if promoted:
                session.execute(
                    update(LotteryApplication)
                    .where(
                        LotteryApplication.drop_id == drop_id,
                        LotteryApplication.entry_id.in_([entry.entry_id for entry in promoted]),
                    )
                    .values(promoted_round=round_, deadline=deadline)
                    .execution_options(synchronize_session=False)
                )
            session.add(
                LotteryRound(
                    drop_id=drop_id,
                    round=round_,
                    at=now,
                    lapsed=json.dumps([a.entry_id for a in lapsing]),
                    promoted=json.dumps([{"entry_id": e.entry_id, "quantity": e.quantity} for e in promoted]),
                )
            )
            counted = session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id, Lottery.rounds == round_ - 1)
                .values(rounds=round_)
                .execution_options(synchronize_session=False)
            )
            if not counted.rowcount:  # type: ignore[attr-defined]
                raise RuntimeError(f"drop {drop_id}: promotion round {round_} raced")
        log.info("lottery of drop %s, round %s: %s lapsed, %s promoted", drop_id, round_, len(lapsing), len(promoted))
        return True

    def _lapse(self, session: Session, due: list[str]) -> list[LotteryApplication]:
        """The places in `due` still unpaid, their orders expired (stock back) and marked so
        that a payment arriving later is refused; in rank order."""
        if not due:
            return []
        rows = session.execute(
            select(LotteryApplication, Order)
            .join(Order, Order.id == LotteryApplication.order_id)
            .where(LotteryApplication.id.in_(due))
            .order_by(LotteryApplication.rank)
            .with_for_update(of=Order)
        ).all()
        lapsing = []
        for application, order in rows:
            if order.status == "pending_payment" and order.payment_method != "wallet":
                expire(session, order)
            if order.status != "expired":
                continue  # paid meanwhile (or a wallet order the chain may still settle)
            session.execute(
                update(Order)
                .where(Order.id == order.id, Order.status == "expired")
                .values(failure=LOTTERY_LAPSED)
                .execution_options(synchronize_session=False)
            )
            lapsing.append(application)
        return lapsing

    @staticmethod
    def _walk(session: Session, drop_id: int, supply: int, lapsed: list[str]) -> list[algorithm.Entry]:
        """The round's walk of the waitlist (`algorithm.promotion_round`) from the stored places."""
        places = session.execute(
            select(
                LotteryApplication.entry_id,
                LotteryApplication.quantity,
                LotteryApplication.outcome,
                LotteryApplication.promoted_round,
                LotteryApplication.lapsed_round,
            )
            .where(LotteryApplication.drop_id == drop_id, LotteryApplication.outcome.is_not(None))
            .order_by(LotteryApplication.rank)
        ).all()
        quantities = {entry_id: int(quantity) for entry_id, quantity, *_rest in places}
        held = sum(
            int(quantity)
            for _e, quantity, outcome, promoted, lapsed_round in places
            if (outcome == WON or promoted is not None) and lapsed_round is None
        )
        waitlist = [entry_id for entry_id, _q, outcome, *_rest in places if outcome == WAITLISTED]
        skip = {entry_id for entry_id, _q, outcome, promoted, _l in places if outcome == WAITLISTED and promoted}
        promoted, _remaining = algorithm.promotion_round(supply - held, waitlist, quantities, set(lapsed), skip)
        return promoted

    # ── settle ──────────────────────────────────────────────────────────────

    def settle_done(self, now: datetime) -> None:
        for drop_id in self._lotteries(Lottery.stage == DRAWN):
            self.settle(drop_id, now)

    def settle(self, drop_id: int, now: datetime) -> bool:
        """drawn → settled once every place holding cards is paid; True if this call did it."""
        with self.sessions.begin() as session:
            unpaid = session.scalar(
                select(func.count())
                .select_from(LotteryApplication)
                .outerjoin(Order, Order.id == LotteryApplication.order_id)
                .where(
                    LotteryApplication.drop_id == drop_id,
                    or_(LotteryApplication.outcome == WON, LotteryApplication.promoted_round.is_not(None)),
                    LotteryApplication.lapsed_round.is_(None),
                    or_(Order.id.is_(None), Order.status.not_in(tuple(PAID_STATES))),
                )
            )
            if unpaid:
                return False
            moved = session.execute(
                update(Lottery)
                .where(Lottery.drop_id == drop_id, Lottery.stage == DRAWN)
                .values(stage=SETTLED, settled_at=now)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return False
            _mail_due(
                session,
                LotteryApplication.drop_id == drop_id,
                LotteryApplication.outcome == WAITLISTED,
                LotteryApplication.promoted_round.is_(None),
            )
        log.info("lottery of drop %s settled", drop_id)
        return True

    # ── mail ────────────────────────────────────────────────────────────────

    def send_mail(self, _now: datetime) -> int:
        """The outbox: send the mails due (at most `outbox.MAIL_BATCH`); how many were sent."""
        return Outbox(self.sessions, self.vault, self.settings, self.chain_id).send_due()


def _mail_due(session: Session, *conditions: Any) -> None:
    """Mark applications as having news for their applicant (the outbox)."""
    session.execute(
        update(LotteryApplication)
        .where(*conditions)
        .values(mail_due=True, mail_seq=LotteryApplication.mail_seq + 1)
        .execution_options(synchronize_session=False)
    )


def lottery_job(
    sessions: sessionmaker[Session],
    chain: Chain,
    settings: Settings,
    *,
    vault: Vault | None = None,
    account: LocalAccount | None = None,
    card_checkout: HostedCheckout | None = None,
    voucher_signer: LocalAccount | None = None,
) -> LotteryJob:
    """The job of a process: the minter signs the anchor (dev chains: the first account)."""
    from minting.keys import load_signer

    return LotteryJob(
        sessions,
        chain,
        vault or Vault.from_secret(settings.secret_key.get_secret_value()),
        settings,
        account or load_signer(chain),
        card_checkout=card_checkout,
        voucher_signer=voucher_signer,
    )
