"""The announcement sender: scheduled announcements go out when due, once per holder.

Each round (`Sender.run_once`, about once a second in `furusato run` and every API process):

    start     an announcement "scheduled" whose `send_at` has come (or has none) moves to
              "sending" by one conditional UPDATE (`WHERE status = 'scheduled'`): of several
              processes exactly one wins, and a cancel that came first leaves it cancelled.
              In that same transaction its recipients are fixed: one `AnnouncementDelivery`
              per distinct address (`backend.polls.announcements.recipient_emails`), those
              that unsubscribed from the town's mail "skipped", the others "pending". The
              unique (announcement, email) makes a second insert impossible.
    deliver   the "pending" deliveries of every announcement "sending" (also one that a
              process which died left), in batches of `BATCH` in id order; each is claimed
              alone (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so two processes never
              mail the same one at once), checked against the opt-outs again (an unsubscribe
              after the start is honoured), mailed, then marked "sent" in its own commit.
    finish    an announcement "sending" with nothing pending → "sent", `sent_at` now.

Exactly once. The message of a delivery is fixed by the delivery (`announcement_mail`): its
Message-ID is made from the delivery id, its Date is the start of sending, and without SMTP
it is written to `data_dir/mail/announcement-{announcement id}-{delivery id}.eml` (replaced
atomically). A sender killed after mailing and before marking mails that delivery again on
the next round, with the SAME file name and the SAME Message-ID: in files that is exactly one
message per holder, whatever the crashes; over SMTP the window is one message per crash, and
it is the same message (a receiving server or mail client that deduplicates by Message-ID
shows it once). A delivery marked "sent" is never mailed again.

A mail server that refuses: the delivery stays pending (`attempts` + 1) and this process waits
(`backoff`, doubling up to `MAX_BACKOFF`) before trying that announcement again; after
`MAX_ATTEMPTS` refusals of the same delivery it is given up as "skipped" (its `attempts` tell
it apart from an unsubscribe), so one dead address never holds the announcement in "sending".
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core import mail
from backend.core.config import Settings
from backend.core.db import session_scope, utcnow
from backend.polls.announcement_mail import AnnouncementText, announcement_message, file_name
from backend.polls.announcements import SCHEDULED, SENDING, SENT, recipient_emails, series_of
from backend.polls.models import Announcement, AnnouncementDelivery
from backend.polls.unsubscribe import is_opted_out, opted_out
from backend.towns.models import Municipality
from minting import failpoints
from minting.errors import first_line
from minting.store import insert_for
from minting.worker import LoopThread, start_loop

if TYPE_CHECKING:  # backend.runtime starts this loop (and imports this module lazily)
    from backend.runtime import Runtime

log = logging.getLogger("furusato.polls.sender")

#: Rounds of the loop.
EVERY_SECONDS = 1.0
#: Deliveries read at a time (each is still claimed, mailed and marked on its own).
BATCH = 100
#: Announcements started per round.
START_PER_ROUND = 20
#: A delivery refused this many times is given up ("skipped").
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=5)
#: The failpoint between handing a mail over and marking it sent (crash tests).
MAILED_FAILPOINT = "announcement_mailed"


@dataclass
class RoundResult:
    """What one round did (for tests and the log)."""

    started: list[int] = field(default_factory=list)
    mailed: int = 0
    skipped: int = 0
    finished: list[int] = field(default_factory=list)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Sender:
    """The rounds of the module docstring, for one database and mail configuration."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, chain_id: int, *, batch: int = BATCH):
        self.sessions = sessions
        self.settings = settings
        self.chain_id = chain_id
        self.batch = batch
        #: Announcement id → when this process may try its mail again (after a refusal).
        self._retry_at: dict[int, datetime] = {}
        self._failures: dict[int, int] = {}

    def run_once(self, now: datetime | None = None, stop: threading.Event | None = None) -> RoundResult:
        moment = now or utcnow()
        result = RoundResult(started=self.start_due(moment))
        with self.sessions() as session:
            sending = list(
                session.scalars(select(Announcement.id).where(Announcement.status == SENDING).order_by(Announcement.id))
            )
        for announcement_id in sending:
            if stop is not None and stop.is_set():
                break
            retry_at = self._retry_at.get(announcement_id)
            if retry_at is not None and moment < retry_at:
                continue
            if self.deliver(announcement_id, moment, result, stop):
                result.finished.append(announcement_id)
        return result

    # ── start ───────────────────────────────────────────────────────────────

    def start_due(self, now: datetime) -> list[int]:
        """Start every due announcement this process wins; their ids."""
        due = or_(Announcement.send_at.is_(None), Announcement.send_at <= now)
        with self.sessions() as session:
            ids = list(
                session.scalars(
                    select(Announcement.id)
                    .where(Announcement.status == SCHEDULED, due)
                    .order_by(Announcement.send_at, Announcement.id)
                    .limit(START_PER_ROUND)
                )
            )
        return [announcement_id for announcement_id in ids if self.start(announcement_id, now)]

    def start(self, announcement_id: int, now: datetime) -> bool:
        """Fix the recipients and move to "sending", in one transaction; False if another
        process (or a cancel) got there first."""
        with session_scope(self.sessions) as session:
            announcement = session.get(Announcement, announcement_id)
            if announcement is None or announcement.status != SCHEDULED:
                return False
            town_id = announcement.municipality_id
            # Read before the UPDATE: on SQLite the write lock is taken at the first write.
            emails = recipient_emails(
                session, town_id, series_of(session, [announcement_id])[announcement_id], self.chain_id
            )
            out = opted_out(session, town_id, emails)
            won = session.execute(
                update(Announcement)
                .where(
                    Announcement.id == announcement_id,
                    Announcement.status == SCHEDULED,
                    or_(Announcement.send_at.is_(None), Announcement.send_at <= now),
                )
                .values(status=SENDING, started_at=now, updated_at=now, recipients=len(emails))
                .execution_options(synchronize_session=False)
            )
            if getattr(won, "rowcount", 0) != 1:
                return False
            if emails:
                session.execute(
                    insert_for(session)(AnnouncementDelivery).on_conflict_do_nothing(),
                    [
                        {
                            "announcement_id": announcement_id,
                            "email": email,
                            "status": "skipped" if email in out else "pending",
                            "attempts": 0,
                            "created_at": now,
                        }
                        for email in emails
                    ],
                )
        log.info("announcement %s: sending to %d addresses (%d unsubscribed)", announcement_id, len(emails), len(out))
        return True

    # ── deliver ─────────────────────────────────────────────────────────────

    def deliver(
        self, announcement_id: int, now: datetime, result: RoundResult, stop: threading.Event | None = None
    ) -> bool:
        """Mail the pending deliveries; True when none is left and it is now "sent"."""
        with self.sessions() as session:
            announcement = session.get(Announcement, announcement_id)
            if announcement is None or announcement.status != SENDING:
                return False
            town = session.get(Municipality, announcement.municipality_id)
            assert town is not None
            text = AnnouncementText(
                id=announcement.id,
                title_ja=announcement.title_ja,
                title_en=announcement.title_en,
                body_ja=announcement.body_ja,
                body_en=announcement.body_en,
                started_at=_aware(announcement.started_at or now),
            )
        after = 0
        while True:
            with self.sessions() as session:
                batch = list(
                    session.execute(
                        select(AnnouncementDelivery.id, AnnouncementDelivery.email)
                        .where(
                            AnnouncementDelivery.announcement_id == announcement_id,
                            AnnouncementDelivery.status == "pending",
                            AnnouncementDelivery.id > after,
                        )
                        .order_by(AnnouncementDelivery.id)
                        .limit(self.batch)
                    )
                )
            if not batch:
                return self.finish(announcement_id, now)
            for delivery_id, email in batch:
                if stop is not None and stop.is_set():
                    return False
                outcome = self.deliver_one(town, text, delivery_id, email, now)
                if outcome == "refused":
                    return False
                if outcome == "sent":
                    result.mailed += 1
                elif outcome == "skipped":
                    result.skipped += 1
            after = batch[-1][0]

    def deliver_one(
        self, town: Municipality, text: AnnouncementText, delivery_id: int, email: str, now: datetime
    ) -> str:
        """Claim, check, mail, mark one delivery: "sent", "skipped", "gone" (another process
        has it, or had it) or "refused" (the mail server; retried later)."""
        with self.sessions() as session:
            delivery = session.scalar(
                select(AnnouncementDelivery)
                .where(AnnouncementDelivery.id == delivery_id, AnnouncementDelivery.status == "pending")
                .with_for_update(skip_locked=True)
            )
            if delivery is None:
                session.rollback()
                return "gone"
            if is_opted_out(session, town.id, email):
                delivery.status = "skipped"
                session.commit()
                return "skipped"
            message = announcement_message(self.settings, town, text, delivery_id, email)
            try:
                mail.send(self.settings, message, file_name=file_name(text.id, delivery_id))
            except mail.MailError as exc:
                self._refused(session, delivery, text.id, now, exc)
                return "refused"
            failpoints.hit(MAILED_FAILPOINT)
            self.mark_sent(session, delivery_id, now)
            session.commit()
        self._failures.pop(text.id, None)
        self._retry_at.pop(text.id, None)
        return "sent"

    def mark_sent(self, session: Session, delivery_id: int, now: datetime) -> None:
        """The step after the mail is handed over (a crash just before it re-sends the same
        message: module docstring)."""
        session.execute(
            update(AnnouncementDelivery)
            .where(AnnouncementDelivery.id == delivery_id, AnnouncementDelivery.status == "pending")
            .values(status="sent", sent_at=now, attempts=AnnouncementDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )

    def _refused(
        self, session: Session, delivery: AnnouncementDelivery, announcement_id: int, now: datetime, exc: Exception
    ) -> None:
        delivery.attempts += 1
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = "skipped"
            log.warning(
                "announcement %s: delivery %s given up after %d refusals",
                announcement_id,
                delivery.id,
                delivery.attempts,
            )
        session.commit()
        failures = self._failures.get(announcement_id, 0) + 1
        self._failures[announcement_id] = failures
        wait = min(FIRST_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
        self._retry_at[announcement_id] = now + wait
        log.warning("announcement %s: mail refused, next try in %s: %s", announcement_id, wait, first_line(exc))

    # ── finish ──────────────────────────────────────────────────────────────

    def finish(self, announcement_id: int, now: datetime) -> bool:
        pending = exists().where(
            AnnouncementDelivery.announcement_id == announcement_id, AnnouncementDelivery.status == "pending"
        )
        with session_scope(self.sessions) as session:
            done = session.execute(
                update(Announcement)
                .where(Announcement.id == announcement_id, Announcement.status == SENDING, ~pending)
                .values(status=SENT, sent_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            finished = getattr(done, "rowcount", 0) == 1
        if finished:
            log.info("announcement %s sent", announcement_id)
        return finished


class AnnouncementSender:
    """`Sender.run_once` every `every` seconds in a thread of a backend process."""

    def __init__(self, runtime: Runtime, *, every: float = EVERY_SECONDS) -> None:
        self.runtime = runtime
        self.every = every
        self._sender: Sender | None = None

    def sender(self) -> Sender:
        if self._sender is None:
            runtime = self.runtime
            self._sender = Sender(runtime.sessions, runtime.settings, runtime.manifest.chain_id)
        return self._sender

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.sender().run_once(stop=stop)
            except Exception as exc:  # the database busy or away: next round
                log.warning("announcement round failed: %s", first_line(exc))
            stop.wait(self.every)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "announcement-sender")
