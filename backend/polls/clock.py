"""The polls' clock: open polls whose opening has come (freezing their electorate) and close
polls whose close has come (fixing their ballot file's head), about once a second.

Safe in every process at once: each step is the idempotent conditional UPDATE of
`backend.polls.electorate.freeze` / `backend.polls.ballots.close`, one transaction per
poll, so a poll opens and closes once whoever gets there first. Requests do the same lazily
(`backend.polls.polls.catch_up`), so a result never waits for this loop; the loop makes the
opening's snapshot happen on time when nobody is asking.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import utcnow
from backend.polls import ballots, electorate
from backend.polls.models import Poll
from backend.polls.polls import due
from minting.errors import first_line
from minting.worker import LoopThread, start_loop

if TYPE_CHECKING:
    from backend.runtime import Runtime

log = logging.getLogger("furusato.polls.clock")

#: Rounds of the loop.
EVERY_SECONDS = 1.0


def run_once(sessions: sessionmaker[Session], now: datetime, chain_head: int | None = None) -> tuple[int, int]:
    """Open and close what is due at `now`; (opened, closed) by this call."""
    opened = closed = 0
    with sessions() as session:
        ids = session.scalars(due(None, now).order_by(Poll.id)).all()
    for poll_id in ids:
        with sessions() as session:
            if electorate.freeze(session, poll_id, now, chain_head=chain_head):
                opened += 1
            session.commit()
        with sessions() as session:
            if ballots.close(session, poll_id, now):
                closed += 1
            session.commit()
    return opened, closed


class PollClock:
    """`run_once` every `every` seconds in a thread of `furusato run` (and of every API process)."""

    def __init__(self, runtime: Runtime, *, every: float = EVERY_SECONDS) -> None:
        self.runtime = runtime
        self.every = every

    def chain_head(self) -> int | None:
        """The node's latest block, for a snapshot the indexer has no cursor for; None if the
        node does not answer (the snapshot then names no block)."""
        try:
            return int(self.runtime.chain.w3.eth.block_number)
        except Exception as exc:
            log.info("no chain head for a poll snapshot: %s", first_line(exc))
            return None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                now = utcnow()
                with self.runtime.sessions() as session:
                    pending = session.scalars(due(None, now).limit(1)).first() is not None
                if pending:
                    opened, closed = run_once(self.runtime.sessions, now, self.chain_head())
                    if opened or closed:
                        log.info("polls: %d opened, %d closed", opened, closed)
            except Exception as exc:  # the database busy or away: next round
                log.warning("poll clock round failed: %s", first_line(exc))
            stop.wait(self.every)

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "poll-clock")
