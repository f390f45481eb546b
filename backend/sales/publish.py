"""Publishing a drop: its series goes on chain exactly once, then — only then — the drop is public.

    claim      draft → publishing, in the staff request's transaction (with its audit row):
               one conditional UPDATE, so ten clicks publish once. The drop's first token id
               is chosen here, under the town's row lock, from the chain and from every drop
               of the contract that has one (publishing ones included), so two drops
               published at once never ask for overlapping id ranges.
    finish     `addSeries` through the exactly-once sender (`minting.once`, purpose
               `drop:{id}:series`): stored and committed before it is broadcast, the same
               bytes sent again after a crash, never a second series. From the receipt's
               `SeriesAdded` event: series id and first id, then status "live", series
               fields and the drop's serial counter in one transaction.
    fail       the call reverts (checked by the gas estimate before anything is stored, or
               mined reverted): `publish_error` says why and the drop is a draft again. A
               reverted transaction used up its purpose, so the next try is
               `drop:{id}:series:2`, and so on.

A process that dies anywhere in between leaves the drop "publishing"; the order sweeper
(`backend.sales.sweeper`) finishes it with the same purpose, so the stored transaction is
the one that counts. A node that is slow or unreachable leaves it "publishing" with the
reason in `publish_error`, tried again each sweep.

The series' on-chain sale terms follow the drop's when staff change price, limit or window
of a published drop with nothing sold (`sync_sale_terms`, purposes `drop:{id}:sale:{n}`):
the database is the truth, and the chain is brought to it until they agree.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import session_scope
from backend.holders.custody import Vault
from backend.lottery.announce import announce, is_lottery
from backend.sales.drops import (
    DRAFT,
    LIVE,
    PUBLIC_STATUSES,
    PUBLISHING,
    card_client,
    nothing_sold,
    sale_terms,
)
from backend.sales.models import Drop, DropSerial
from backend.towns.models import Municipality
from minting import failpoints
from minting.chains import Chain
from minting.errors import ContractReverted, first_line
from minting.keys import load_signer
from minting.once import OnceReceipt, OnceSender, call_tx
from minting.resident_card import ResidentCardClient
from minting.reverts import translate
from minting.store import insert_for

if TYPE_CHECKING:
    from backend.runtime import Runtime

log = logging.getLogger("furusato.sales.publish")

#: How long a staff request waits for the series before answering 202 "publishing".
PUBLISH_WAIT_SECONDS = 10.0
#: How long one finishing attempt waits for a receipt before leaving it to the next sweep.
RECEIPT_WAIT_SECONDS = 120.0
#: Reverted attempts after which publishing stops trying new purposes (a bug, not bad luck).
MAX_ATTEMPTS = 20
#: Rounds of "send, read back" before `sync_sale_terms` gives up until the next sweep.
MAX_SYNC_ROUNDS = 5
#: The sweeper resumes a drop still "publishing" at most this often (a node that is down, a
#: signer without gas money): at once after a start, then every this many seconds.
RESUME_EVERY_SECONDS = 15.0

#: Messages for staff, by the contract's error (anything else: its name and arguments).
_REVERT_MESSAGES = {
    "ResidentCardBadRange": (
        "番号の範囲が他のシリーズと重なりました。もう一度公開してください。 (The id range overlaps another series.)"
    ),
    "ResidentCardBadSaleWindow": "販売期間が正しくありません。 (The sale window ends before it starts.)",
    "AccessControlUnauthorizedAccount": (
        "サーバーの鍵にこのコントラクトの管理権限がありません。運用担当者に連絡してください。 "
        "(The server's key is not an admin of this card contract.)"
    ),
}


class ChainUnavailable(Exception):
    """The node did not answer a read that publishing needs before it can claim the drop."""


def series_purpose(drop_id: int, attempt: int = 1) -> str:
    """The exactly-once purpose of a drop's series transaction (attempt n after n-1 reverted)."""
    return f"drop:{drop_id}:series" if attempt == 1 else f"drop:{drop_id}:series:{attempt}"


def sale_purpose(drop_id: int, round_: int) -> str:
    return f"drop:{drop_id}:sale:{round_}"


def _now() -> datetime:
    return datetime.now(UTC)


def first_free_id(session: Session, card: ResidentCardClient, chain_id: int, chain_next: int) -> int:
    """The first token id after every series on chain (`chain_next`, read before any lock)
    and every id range a drop of this contract holds — published, or being published."""
    ends = session.scalar(
        select(func.max(Drop.first_token_id + Drop.supply)).where(
            Drop.chain_id == chain_id, Drop.contract == card.address, Drop.first_token_id.is_not(None)
        )
    )
    return max(chain_next, int(ends or 1))


def chain_next_id(card: ResidentCardClient) -> int:
    """The first id after every series on chain (ids start at 1: the number on the card)."""
    count = card.series_count()
    return 1 if count == 0 else card.series(count - 1).last_id + 1


def revert_message(reverted: ContractReverted) -> str:
    return _REVERT_MESSAGES.get(reverted.error, f"チェーンが拒否しました: {reverted}")


@dataclass
class Publisher:
    """Publishes drops on one chain with the card contracts' admin key."""

    sessions: sessionmaker[Session]
    chain: Chain
    admin: LocalAccount
    receipt_wait: float = RECEIPT_WAIT_SECONDS
    #: The deployment's vault: a lottery drop's committed seed is drawn as it goes live
    #: (without it, the lottery job announces the drop on its next round).
    vault: Vault | None = None

    def sender(self) -> OnceSender:
        return OnceSender(self.sessions, self.chain.w3, self.admin, timeout=self.receipt_wait)

    # ── claim ────────────────────────────────────────────────────────────────

    def claim(self, session: Session, drop: Drop, contract: str) -> bool:
        """draft → publishing with its first id, in the caller's transaction; False (and
        `drop` refreshed) if it was not a draft any more. See the module docstring."""
        card = card_client(self.chain, contract)
        try:
            chain_next = chain_next_id(card)  # the chain before any lock: see first_free_id
        except Exception as exc:
            raise ChainUnavailable(first_line(exc)) from exc
        claimed = session.execute(
            update(Drop)
            .where(Drop.id == drop.id, Drop.status == DRAFT)
            .values(status=PUBLISHING, publish_error=None)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            session.refresh(drop)
            return False
        # Publishes of one town queue here (PostgreSQL row lock; SQLite has one writer and
        # the UPDATE above took it), so each reads the id ranges the previous one chose.
        # FOR NO KEY UPDATE: claims wait for each other, inserts that reference the town don't.
        town = select(Municipality.id).where(Municipality.id == drop.municipality_id)
        session.execute(town.with_for_update(key_share=True))
        first = first_free_id(session, card, self.chain.chain_id, chain_next)
        session.execute(
            update(Drop)
            .where(Drop.id == drop.id)
            .values(first_token_id=first, contract=card.address, chain_id=self.chain.chain_id)
            .execution_options(synchronize_session=False)
        )
        session.refresh(drop)
        return True

    # ── finish ───────────────────────────────────────────────────────────────

    def finish(self, drop_id: int) -> Drop:
        """Bring a "publishing" drop to "live" (or back to "draft" if its series reverts);
        any other drop is returned as it is. Safe to call from several threads or processes
        at once: the sender sends one transaction per purpose and the status moves once."""
        with self.sessions() as session:
            drop = session.get(Drop, drop_id)
            assert drop is not None
        if drop.status != PUBLISHING:
            return drop
        card = card_client(self.chain, drop.contract, self.admin)
        try:
            receipt = self._send_series(card, drop)
        except ContractReverted as reverted:
            return self._fail(drop_id, revert_message(reverted))
        except Exception as exc:  # node down, no gas money, no receipt yet: the next sweep resumes
            log.warning("publishing drop %s: %s; will try again", drop_id, first_line(exc))
            return self._note(drop_id, f"公開処理を待っています: {first_line(exc)}")
        if not receipt.ok:
            return self._fail(drop_id, self._why_reverted(card, drop, receipt))
        failpoints.hit("publish_after_series")
        return self._go_live(drop_id, card, receipt)

    def _series_tx(self, card: ResidentCardClient, drop: Drop) -> dict[str, Any]:
        assert drop.first_token_id is not None
        first = int(drop.first_token_id)
        price_wei, start, end, cap = sale_terms(drop)
        args = (first, first + drop.supply - 1, price_wei, start, end, cap, drop.soulbound)
        return call_tx(card.contract, "addSeries", *args)

    def _send_series(self, card: ResidentCardClient, drop: Drop) -> OnceReceipt:
        """The series transaction's receipt: the first purpose not used up by a revert."""
        sender = self.sender()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            purpose = series_purpose(drop.id, attempt)
            found = sender.find(purpose)
            if found is not None and not found.ok:
                continue
            if found is not None:
                return found
            try:
                return sender.send(purpose, self._series_tx(card, drop))
            except Exception as exc:
                reverted = translate(card.contract.abi, exc)  # the gas estimate: nothing was stored
                if reverted is None:
                    raise
                raise reverted from exc
        raise RuntimeError(f"drop {drop.id}: {MAX_ATTEMPTS} series transactions reverted")

    def _why_reverted(self, card: ResidentCardClient, drop: Drop, receipt: OnceReceipt) -> str:
        """Replay the reverted call on the state before its block, to name the error."""
        tx = self._series_tx(card, drop)
        try:
            self.chain.w3.eth.call(
                {"from": self.admin.address, "to": tx["to"], "data": tx["data"]},
                block_identifier=max(receipt.block_number - 1, 0),
            )
        except Exception as exc:
            reverted = translate(card.contract.abi, exc)
            if reverted is not None:
                return revert_message(reverted)
        return f"シリーズの取引が取り消されました (tx {receipt.tx_hash} reverted)"

    def _go_live(self, drop_id: int, card: ResidentCardClient, receipt: OnceReceipt) -> Drop:
        added = receipt.events(card.contract.events.SeriesAdded(), card.address)
        assert len(added) == 1, f"{receipt.tx_hash}: {len(added)} SeriesAdded events"
        series_id, first, last = (int(added[0]["args"][key]) for key in ("seriesId", "firstId", "lastId"))
        with session_scope(self.sessions) as session:
            moved = session.execute(
                update(Drop)
                .where(Drop.id == drop_id, Drop.status == PUBLISHING)
                .values(status=LIVE, series_id=series_id, first_token_id=first, publish_error=None, published_at=_now())
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount:  # type: ignore[attr-defined]
                # One past the series' last id: the drop's supply (it cannot change while publishing).
                serial = insert_for(session)(DropSerial).values(drop_id=drop_id, next_serial=first, end_serial=last + 1)
                session.execute(serial.on_conflict_do_nothing(index_elements=["drop_id"]))
                live = session.get(Drop, drop_id)
                if self.vault is not None and live is not None and is_lottery(live):
                    announce(session, self.vault, drop_id)
                log.info(
                    "drop %s is live: series %s, ids %s-%s (tx %s)", drop_id, series_id, first, last, receipt.tx_hash
                )
            drop = session.get(Drop, drop_id)
            assert drop is not None
        return drop

    def _fail(self, drop_id: int, message: str) -> Drop:
        log.warning("publishing drop %s failed: %s", drop_id, message)
        with session_scope(self.sessions) as session:
            session.execute(
                update(Drop)
                .where(Drop.id == drop_id, Drop.status == PUBLISHING)
                .values(status=DRAFT, first_token_id=None, publish_error=message)
                .execution_options(synchronize_session=False)
            )
            drop = session.get(Drop, drop_id)
            assert drop is not None
        return drop

    def _note(self, drop_id: int, message: str) -> Drop:
        """Why a drop still waits, for staff (it stays "publishing")."""
        with session_scope(self.sessions) as session:
            session.execute(
                update(Drop)
                .where(Drop.id == drop_id, Drop.status == PUBLISHING)
                .values(publish_error=message[:1000])
                .execution_options(synchronize_session=False)
            )
            drop = session.get(Drop, drop_id)
            assert drop is not None
        return drop

    # ── sale terms of a published drop ──────────────────────────────────────

    def sync_sale_terms(self, drop_id: int) -> bool:
        """Bring the series' on-chain price, window and per-buyer cap to the drop's; True when
        they agree. Each round reads the drop afresh, so concurrent edits converge on the last."""
        sender = self.sender()
        for _ in range(MAX_SYNC_ROUNDS):
            with self.sessions() as session:
                drop = session.get(Drop, drop_id)
                assert drop is not None
            if drop.status not in PUBLIC_STATUSES or drop.series_id is None:
                return True
            card = card_client(self.chain, drop.contract, self.admin)
            wanted = sale_terms(drop)
            if _on_chain_terms(card, drop.series_id) == wanted:
                return True
            round_ = 1
            while sender.find(sale_purpose(drop_id, round_)) is not None:
                round_ += 1
            sender.send(sale_purpose(drop_id, round_), call_tx(card.contract, "setSale", drop.series_id, *wanted))
            log.info("drop %s: series %s sale terms now %s wei, %s-%s, cap %s", drop_id, drop.series_id, *wanted)
        return False


def _on_chain_terms(card: ResidentCardClient, series_id: int) -> tuple[int, int, int, int]:
    series = card.series(series_id)
    return series.price_wei, series.sale_start, series.sale_end, series.per_buyer_cap


# ── running in the background ────────────────────────────────────────────────

_running: set[int] = set()
_running_guard = threading.Lock()


def run_once_per_drop(drop_id: int, work: Callable[[], object], *, wait: float) -> None:
    """Run `work` in a thread unless this process already runs one for `drop_id`; wait up to
    `wait` seconds for it. The thread is a daemon: a shutdown mid-way leaves the drop to the
    sweeper, as a crash would."""
    with _running_guard:
        if drop_id in _running:
            thread = None
        else:
            _running.add(drop_id)
            thread = threading.Thread(target=_run, args=(drop_id, work), name=f"publish-{drop_id}", daemon=True)
    if thread is not None:
        thread.start()
        thread.join(wait)


def _run(drop_id: int, work: Callable[[], object]) -> None:
    try:
        work()
    except Exception:
        log.exception("publishing work for drop %s failed; the sweeper tries again", drop_id)
    finally:
        with _running_guard:
            _running.discard(drop_id)


def is_running(drop_id: int) -> bool:
    with _running_guard:
        return drop_id in _running


def publisher_of(runtime: Runtime) -> Publisher:
    """The publisher of a running backend: its database, chain and deployer (admin) key."""
    key = runtime.settings.deployer_key.get_secret_value() if runtime.settings.deployer_key else None
    admin = load_signer(runtime.chain, env_prefix="FURUSATO_DEPLOYER", key=key)
    return Publisher(runtime.sessions, runtime.chain, admin, vault=runtime.vault)


def publish_drop(runtime: Runtime, drop_id: int, *, wait: float = PUBLISH_WAIT_SECONDS) -> Drop:
    """Finish publishing `drop_id` (already claimed) in the background, waiting up to `wait`
    seconds; returns the drop as it then is ("live", still "publishing", or a "draft" again)."""
    publisher = publisher_of(runtime)
    run_once_per_drop(drop_id, partial(publisher.finish, drop_id), wait=wait)
    with runtime.sessions() as session:
        drop = session.get(Drop, drop_id)
        assert drop is not None
        return drop


def finish_pending(
    sessions: sessionmaker[Session],
    chain: Chain,
    admin: Callable[[], LocalAccount],
    resumed_at: dict[int, float],
) -> int:
    """Resume every drop left "publishing" (by a crash, a slow node) that no thread of this
    process is finishing, at most every `RESUME_EVERY_SECONDS` each (`resumed_at`, the
    caller's: drop id → monotonic time); returns how many were started. For the sweeper."""
    with sessions() as session:
        pending = list(
            session.scalars(select(Drop.id).where(Drop.status == PUBLISHING, Drop.chain_id == chain.chain_id))
        )
    now = time.monotonic()
    pending = [
        drop_id
        for drop_id in pending
        if not is_running(drop_id) and now - resumed_at.get(drop_id, -RESUME_EVERY_SECONDS) >= RESUME_EVERY_SECONDS
    ]
    if not pending:
        return 0
    resumed_at.update(dict.fromkeys(pending, now))
    publisher = Publisher(sessions, chain, admin())
    for drop_id in pending:
        run_once_per_drop(drop_id, partial(publisher.finish, drop_id), wait=0)
    return len(pending)


def sync_unsold_terms(sessions: sessionmaker[Session], chain: Chain, admin: Callable[[], LocalAccount]) -> int:
    """Bring the on-chain sale terms of every published drop with nothing sold to the drop's
    (after a crash between an edit and its `setSale`); returns how many were out of step."""
    with sessions() as session:
        rows = session.execute(
            select(Drop.id, Drop.contract, Drop.series_id).where(
                Drop.status.in_(PUBLIC_STATUSES),
                Drop.chain_id == chain.chain_id,
                Drop.series_id.is_not(None),
                nothing_sold(),
            )
        ).all()
        drops = {drop_id: session.get(Drop, drop_id) for drop_id, _contract, _series in rows}
    stale = []
    for drop_id, contract, series_id in rows:
        drop = drops[drop_id]
        assert drop is not None
        assert series_id is not None
        if _on_chain_terms(card_client(chain, contract), series_id) != sale_terms(drop):
            stale.append(drop_id)
    if stale:
        publisher = Publisher(sessions, chain, admin())
        for drop_id in stale:
            if not is_running(drop_id):
                run_once_per_drop(drop_id, partial(publisher.sync_sale_terms, drop_id), wait=0)
    return len(stale)
