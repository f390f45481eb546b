"""The order sweeper: gives back the stock of unpaid orders that ran out, and brings paid
orders up to date with the mint pipeline and the indexer, so figures are right even when
nobody is looking at an order. Runs beside the mint worker (a thread of `furusato run`)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db import session_scope
from backend.models import Drop, Order
from backend.sales.drops import card_client
from backend.sales.orders import expire_due, expire_wallet_due, refresh
from minting.chains import Chain

log = logging.getLogger("furusato.sweeper")


class OrderSweeper:
    def __init__(self, sessions: sessionmaker[Session], chain: Chain, *, every: float = 1.0) -> None:
        self.sessions = sessions
        self.chain = chain
        self.every = every

    def _minted_on_chain(self, session: Session, order: Order, token_ids: list[int]) -> bool:
        drop = session.get(Drop, order.drop_id)
        assert drop is not None
        card = card_client(self.chain, drop.contract)
        return any(card.exists(token_id) for token_id in token_ids)

    def sweep(self) -> None:
        """One round: expire what ran out, refresh what is in flight."""
        now = datetime.now(UTC)
        with session_scope(self.sessions) as session:
            expire_due(session, now)
        chain_time = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        with session_scope(self.sessions) as session:
            expire_wallet_due(session, chain_time, lambda order, ids: self._minted_on_chain(session, order, ids))
        with session_scope(self.sessions) as session:
            in_flight = session.scalars(
                select(Order)
                .where(
                    or_(
                        Order.status.in_(("paid", "minting")),
                        (Order.status == "pending_payment") & (Order.payment_method == "wallet"),
                    )
                )
                .order_by(Order.created_at)
                .limit(500)
            ).all()
            for order in in_flight:
                refresh(session, order, now)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sweep()
            except Exception as exc:  # database busy, node down: next round
                log.warning("order sweep failed: %s", str(exc).splitlines()[0][:160] if str(exc) else exc)
            stop.wait(self.every)

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="order-sweeper", daemon=True)
        thread.start()
        return thread, stop
