"""The mint worker: one loop per signer key, in a thread of `furusato run` or its own process.

A worker sends only while it holds the (chain, signer) lease, renewed every round and
valid for `lease_seconds`; a worker that dies stops renewing, and another takes over once
the lease has expired. Nonces are allocated under a row lock besides, and a unique
(chain, signer, nonce) constraint refuses a second transaction for a nonce in any case.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from minting.errors import first_line
from minting.indexer import Steps
from minting.jobs import status_counts
from minting.once import OnceSender
from minting.sender import MintSender, SenderConfig
from minting.store import WorkerLeaseRow

log = logging.getLogger("furusato.minting.worker")


class Lease:
    """The right to send for one (chain, signer), held by `holder` until `expires_at`."""

    def __init__(
        self, sessions: sessionmaker[Session], chain_id: int, signer: str, holder: str, seconds: float = 10.0
    ) -> None:
        self.sessions = sessions
        self.key = {"chain_id": chain_id, "signer": signer}
        self.holder = holder
        self.seconds = seconds

    def acquire(self) -> bool:
        """Take the lease if free or expired, renew it if ours; False if another holds it."""
        now = datetime.now(UTC)
        try:
            with self.sessions.begin() as session:
                row = session.scalar(select(WorkerLeaseRow).filter_by(**self.key).with_for_update())
                if row is None:
                    session.add(WorkerLeaseRow(**self.key, holder=self.holder, expires_at=now + self._ttl))
                    return True
                expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
                if row.holder != self.holder and expires > now:
                    return False
                row.holder, row.expires_at = self.holder, now + self._ttl
                return True
        except IntegrityError:  # another worker inserted the row first
            return False

    def release(self) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(WorkerLeaseRow).filter_by(**self.key, holder=self.holder))

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.seconds)


#: A loop running in a daemon thread, and the event that stops it.
LoopThread = tuple[threading.Thread, threading.Event]


def start_loop(run: Callable[[threading.Event], None], name: str) -> LoopThread:
    """Start `run(stop)` in a daemon thread; setting the returned event ends it."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), name=name, daemon=True)
    thread.start()
    return thread, stop


def stop_loops(loops: Iterable[LoopThread], timeout: float = 30.0) -> None:
    """Ask every loop to stop, then wait for each (they finish their round first)."""
    loops = list(loops)
    for _thread, stop in loops:
        stop.set()
    for thread, _stop in loops:
        thread.join(timeout)


@dataclass(frozen=True)
class Progress:
    """A progress snapshot for the live line."""

    counts: dict[str, int]
    tokens_per_second: float
    waiting_reason: str | None

    def line(self) -> str:
        c = self.counts
        text = (
            f"queued {c['queued']:,} · sent {c['sent'] + c['mined']:,} · confirmed {c['confirmed']:,}"
            f" · failed {c['failed']:,} · {self.tokens_per_second:,.0f} tokens/s"
        )
        return text + (f" · waiting: {self.waiting_reason}" if self.waiting_reason else "")


class MintWorker:
    """Runs `MintSender.step()` in a loop while holding the signer's lease."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        account: LocalAccount,
        card_abi: Sequence[Any],
        config: SenderConfig | None = None,
        *,
        idle_seconds: float = 0.05,
        lease_seconds: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.sender = MintSender(sessions, w3, account, card_abi, config)
        self.lease = Lease(
            sessions, self.sender.chain_id, account.address, f"worker-{uuid.uuid4().hex[:12]}", lease_seconds
        )
        self.idle_seconds = idle_seconds

    def run(
        self,
        stop: threading.Event,
        on_progress: Callable[[Progress], None] | None = None,
        progress_every: float = 1.0,
    ) -> None:
        """Loop until `stop` is set; errors (node down, database busy) are logged and retried."""
        confirmed_before, since = None, time.monotonic()
        waiting: str | None = None
        self.sender.start_broadcaster()
        try:
            while not stop.is_set():
                # Everything in the round, the lease and the progress line included, may meet a
                # database that restarts or stays locked: log it and try again, never stop.
                try:
                    if not self.lease.acquire():
                        stop.wait(self.lease.seconds / 4)
                        continue
                    result = self.sender.step()
                    waiting = result.waiting_reason
                    if on_progress is not None and time.monotonic() - since >= progress_every:
                        with self.sessions() as session:
                            counts = status_counts(session)
                        elapsed = time.monotonic() - since
                        rate = 0.0 if confirmed_before is None else (counts["confirmed"] - confirmed_before) / elapsed
                        on_progress(Progress(counts, rate, waiting))
                        confirmed_before, since = counts["confirmed"], time.monotonic()
                except Exception as exc:  # retried next round; the state is in the database
                    waiting = f"{type(exc).__name__}: {first_line(exc, 120)}"
                    log.warning("mint worker round failed: %s", waiting)
                    stop.wait(1.0)
                    continue
                if not result.busy:
                    stop.wait(self.idle_seconds)
        finally:
            self.sender.stop_broadcaster()
            try:
                self.lease.release()
            except Exception:  # the lease expires by itself
                log.warning("could not release the worker lease; it expires in %.0f s", self.lease.seconds)

    def start_thread(self) -> LoopThread:
        """Run in a daemon thread (the in-process default of `furusato run`)."""
        return start_loop(self.run, "mint-worker")


class IndexerWorker:
    """Runs `Indexer.step()` (or an `IndexerSet`'s) in a loop: quickly while behind the head,
    then every `idle_seconds`."""

    def __init__(self, indexer: Steps, *, idle_seconds: float = 0.5) -> None:
        self.indexer = indexer
        self.idle_seconds = idle_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                step = self.indexer.step()
            except Exception as exc:  # node down, database busy: the cursor is in the database
                log.warning("indexer round failed: %s", first_line(exc))
                stop.wait(1.0)
                continue
            if step.caught_up:
                stop.wait(self.idle_seconds)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "indexer")


class OnceResumer:
    """Looks at the exactly-once sender's unfinished purposes every `every_seconds` and
    finishes what it can without waiting (`OnceSender.resume_unfinished`): a purpose whose
    process died would otherwise hold its nonce, and every later transaction of the key."""

    def __init__(self, sender: OnceSender, *, every_seconds: float = 2.0) -> None:
        self.sender = sender
        self.every_seconds = every_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every_seconds):
            try:
                self.sender.resume_unfinished()
            except Exception as exc:  # node down, database busy: the purposes are stored
                log.warning("resuming unfinished transactions failed: %s", first_line(exc))

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "once-resumer")
