"""The order sweeper: gives back the stock of unpaid orders that ran out, and brings paid
orders up to date with the mint pipeline and the indexer, so figures are right even when
nobody is looking at an order. It also finishes drops a crash (or a slow node) left
"publishing", and brings a series' on-chain sale terms back to its drop's after an edit was
interrupted (`backend.sales.publish`). Runs beside the mint worker (a thread of `furusato run`)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import session_scope
from backend.payments.card_events import apply_parked_refunds
from backend.sales.drops import card_client
from backend.sales.models import Drop, Order, OrderCard
from backend.sales.orders import expire_due, refresh, settle_wallet_orders, wallet_orders_due
from backend.sales.publish import finish_pending, sync_unsold_terms
from minting.chains import Chain
from minting.errors import first_line
from minting.keys import load_signer
from minting.store import MintJobRow, TokenOwnerRow
from minting.worker import LoopThread, start_loop

log = logging.getLogger("furusato.sweeper")

#: Rounds between two checks that unsold published drops' series terms match (one node call
#: per such drop): the first round after start, then about once a minute.
SALE_TERMS_EVERY = 60


def orders_to_settle(session: Session, limit: int = 1_000) -> list[str]:
    """Orders whose status the pipeline (or, for wallet orders, the indexer) has moved on.

    Two grouped queries instead of refreshing every order in flight: during a busy launch
    hundreds are in flight and most have not changed since the last round. The queries are
    not limited (grouping reads every row in flight anyway), only the answer: limiting the
    rows read let orders stuck for good crowd out the ones that moved.
    """
    job = MintJobRow
    cards = (
        select(
            Order.id,
            Order.status,
            func.count(job.id),
            func.sum(case((job.status == "confirmed", 1), else_=0)),
            func.sum(case((job.status == "failed", 1), else_=0)),
            func.sum(case((job.status.in_(("sent", "mined")), 1), else_=0)),
        )
        .join(OrderCard, OrderCard.order_id == Order.id)
        .join(Drop, Drop.id == Order.drop_id)
        .outerjoin(
            job,
            (job.chain_id == Drop.chain_id) & (job.contract == Drop.contract) & (job.token_id == OrderCard.token_id),
        )
        .where(Order.status.in_(("paid", "minting")), Order.payment_method != "wallet")
        .group_by(Order.id, Order.status)
    )
    changed = [
        order_id
        for order_id, status, jobs, confirmed, failed, started in session.execute(cards)
        if failed or (jobs and confirmed == jobs) or (status == "paid" and (started or confirmed))
    ]
    owned = (
        select(Order.id, func.count(OrderCard.token_id), func.count(TokenOwnerRow.owner))
        .join(OrderCard, OrderCard.order_id == Order.id)
        .join(Drop, Drop.id == Order.drop_id)
        .outerjoin(
            TokenOwnerRow,
            (TokenOwnerRow.chain_id == Drop.chain_id)
            & (TokenOwnerRow.contract == Drop.contract)
            & (TokenOwnerRow.token_id == OrderCard.token_id),
        )
        .where(Order.status == "pending_payment", Order.payment_method == "wallet")
        .group_by(Order.id)
    )
    changed += [order_id for order_id, cards_count, owned_count in session.execute(owned) if cards_count == owned_count]
    return changed[:limit]


class OrderSweeper:
    def __init__(
        self, sessions: sessionmaker[Session], chain: Chain, *, every: float = 1.0, admin: LocalAccount | None = None
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.every = every
        #: The card contracts' admin (the deployer), loaded when a drop first needs it.
        self._admin = admin
        self._rounds = 0
        self._resumed_at: dict[int, float] = {}

    def _bought_on_chain(self, session: Session, due: dict[str, list[int]]) -> dict[str, set[int]]:
        """Which cards of each due wallet order exist on chain (read before any row is locked)."""
        rows = session.execute(select(Order.id, Drop.contract).join(Drop).where(Order.id.in_(list(due)))).all()
        contracts = {order_id: contract for order_id, contract in rows}
        clients = {contract: card_client(self.chain, contract) for contract in set(contracts.values())}
        return {
            order_id: {token_id for token_id in ids if clients[contracts[order_id]].exists(token_id)}
            for order_id, ids in due.items()
        }

    def sweep(self) -> None:
        """One round: expire what ran out, settle what the pipeline or the chain finished.

        Each step is on its own: a node that is down stops the wallet step, not expiry; one
        step's failure is logged and tried again next round."""
        now = datetime.now(UTC)
        steps = (
            self._expire,
            self._apply_parked_refunds,
            self._settle_wallet_orders,
            self._settle_paid_orders,
            self._finish_publishing,
        )
        for step in steps:
            try:
                step(now)
            except Exception as exc:  # database busy, node down: next round
                log.warning("order sweep: %s failed: %s", step.__name__.lstrip("_"), first_line(exc))

    def _expire(self, now: datetime) -> None:
        with session_scope(self.sessions) as session:
            expire_due(session, now)

    def _apply_parked_refunds(self, now: datetime) -> None:
        """Refunds parked while their payment's transaction was still open (card_events)."""
        with session_scope(self.sessions) as session:
            apply_parked_refunds(session, now)

    def _settle_wallet_orders(self, _now: datetime) -> None:
        chain_time = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        with self.sessions() as session:
            due = wallet_orders_due(session, chain_time)
            bought = self._bought_on_chain(session, due) if due else {}
        if bought:
            with session_scope(self.sessions) as session:
                settle_wallet_orders(session, bought)

    def _settle_paid_orders(self, now: datetime) -> None:
        with session_scope(self.sessions) as session:
            for order in session.scalars(select(Order).where(Order.id.in_(orders_to_settle(session)))).all():
                refresh(session, order, now)

    def _admin_account(self) -> LocalAccount:
        if self._admin is None:
            self._admin = load_signer(self.chain, env_prefix="FURUSATO_DEPLOYER")
        return self._admin

    def _finish_publishing(self, _now: datetime) -> None:
        """Drops left "publishing" resume in threads of their own (a receipt may take a
        while); unsold published drops get their series' sale terms checked now and then."""
        check_terms = self._rounds % SALE_TERMS_EVERY == 0
        self._rounds += 1
        if check_terms:  # its node reads first, before this round starts any sending thread
            sync_unsold_terms(self.sessions, self.chain, self._admin_account)
        finish_pending(self.sessions, self.chain, self._admin_account, self._resumed_at)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.sweep()
            stop.wait(self.every)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "order-sweeper")
