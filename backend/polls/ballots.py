"""The close of a poll, its ballot file and its results (format `furusato-ballots-1`).

The ballot file (`GET /api/v1/polls/{id}/ballots.txt`, docs/polls.md) is UTF-8 text, one
LF per line, in three blocks separated by one empty line:

    furusato-ballots-1                       the header: what was asked, of whom, when
    poll: 7
    …
                                             (empty line)
    card=0xAbC…:12 choice=2 receipt=<hex> hash=<hex>
    …                                        one line per counted vote, by (contract, token id)
                                             (empty line)
    votes: 57                                the footer: tallies and the head
    …
    head: <hex>

Chain: `prev(1) = sha256_hex(header)` (the header block's bytes, each line with its LF),
`hash(n) = sha256_hex(prev(n) + "\\n" + line(n))` where `line(n)` is the vote line without its
` hash=` field, `prev(n+1) = hash(n)`; the head is the last hash (the header's hash when no
vote was cast). Changing, dropping, adding or reordering a vote, or any header line, changes
the head, which the results answer and the poll keeps (`Poll.ballots_head`, fixed once at the
close, in the transaction that closes it).

A card revoked (refunded) by the close does not vote: the close marks its elector `excluded`
once, so its vote is in neither the file nor the tally, whatever is refunded later
(`revoked_excluded` counts them).

A vote's receipt is `sha256_hex("furusato-vote-1 poll=<id> card=<contract>:<token id>
choice=<position> nonce=<32 hex>")` with a fresh random nonce per vote (and per change): the
voter gets both, the file publishes the receipt only, so the voter finds their line by the
receipt, and with the nonce can show themself the receipt binds that card and choice; nobody
else can tell anything from it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from backend.polls.models import Poll, PollElector, PollOption, PollSeries, PollVote
from backend.polls.poll_schemas import ALGORITHM, OptionCount, PollResults
from backend.sales.models import OrderCard
from backend.towns.models import Municipality

log = logging.getLogger("furusato.polls.ballots")

#: The receipt's canonical line's first word.
RECEIPT_FORMAT = "furusato-vote-1"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(prev: str, line: str) -> str:
    return sha256_hex(f"{prev}\n{line}")


def new_nonce() -> str:
    return secrets.token_hex(16)


def receipt_of(poll_id: int, contract: str, token_id: int, position: int, nonce: str) -> str:
    return sha256_hex(f"{RECEIPT_FORMAT} poll={poll_id} card={contract}:{token_id} choice={position} nonce={nonce}")


def vote_line(contract: str, token_id: int, position: int, receipt: str) -> str:
    return f"card={contract}:{token_id} choice={position} receipt={receipt}"


def stamp(moment: datetime) -> str:
    """UTC, whole seconds, `Z`: SQLite hands datetimes back naive (every one stored is UTC)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class Counted:
    """One counted vote, as its ballot line states it."""

    contract: str
    token_id: int
    position: int
    receipt: str


def options_of(session: Session, poll_id: int) -> list[PollOption]:
    return list(session.scalars(select(PollOption).where(PollOption.poll_id == poll_id).order_by(PollOption.position)))


def series_ids(session: Session, poll_id: int) -> list[int]:
    return list(session.scalars(select(PollSeries.drop_id).where(PollSeries.poll_id == poll_id).order_by("drop_id")))


def counted_votes(session: Session, poll_id: int) -> list[Counted]:
    """The votes of electors not excluded, in the file's order: contract (lower case), token id."""
    rows = session.execute(
        select(PollVote.contract, PollVote.token_id, PollOption.position, PollVote.receipt)
        .join(PollOption, PollOption.id == PollVote.option_id)
        .join(
            PollElector,
            (PollElector.poll_id == PollVote.poll_id)
            & (PollElector.chain_id == PollVote.chain_id)
            & (PollElector.contract == PollVote.contract)
            & (PollElector.token_id == PollVote.token_id),
        )
        .where(PollVote.poll_id == poll_id, ~PollElector.excluded)
    ).all()
    votes = [Counted(contract, int(token_id), int(position), receipt) for contract, token_id, position, receipt in rows]
    return sorted(votes, key=lambda vote: (vote.contract.lower(), vote.token_id))


def excluded_count(session: Session, poll_id: int) -> int:
    count = session.scalar(
        select(func.count()).select_from(PollElector).where(PollElector.poll_id == poll_id, PollElector.excluded)
    )
    return int(count or 0)


def header_lines(session: Session, poll: Poll) -> list[str]:
    """The header block, from fields fixed by the close."""
    assert poll.frozen_at is not None
    assert poll.closed_at is not None
    town = session.get(Municipality, poll.municipality_id)
    assert town is not None
    chain_ids = sorted(
        set(session.scalars(select(PollElector.chain_id).where(PollElector.poll_id == poll.id).distinct()))
    )
    series = series_ids(session, poll.id)
    lines = [
        ALGORITHM,
        f"poll: {poll.id}",
        f"town: {town.slug}",
        f"chain_id: {','.join(str(c) for c in chain_ids) or 'none'}",
        f"question_ja: {poll.question_ja}",
        f"question_en: {poll.question_en}",
    ]
    for option in options_of(session, poll.id):
        lines.append(f"option {option.position} ja: {option.label_ja}")
        lines.append(f"option {option.position} en: {option.label_en}")
    lines += [
        f"series: {','.join(str(s) for s in series) or 'all'}",
        f"electorate: {poll.electorate or 0}",
        f"opened_at: {stamp(poll.frozen_at)}",
        f"frozen_block: {poll.frozen_block if poll.frozen_block is not None else 'none'}",
        f"closes_at: {stamp(poll.closes_at)}",
        f"closed_at: {stamp(poll.closed_at)}",
        f"quorum_percent: {poll.quorum_percent}",
        f"allow_change: {'yes' if poll.allow_change else 'no'}",
    ]
    return lines


def header_hash(lines: Iterable[str]) -> str:
    return sha256_hex("".join(f"{line}\n" for line in lines))


def chain(header: list[str], votes: list[Counted]) -> tuple[list[str], str]:
    """The vote lines with their hashes, and the head."""
    previous = header_hash(header)
    lines = []
    for vote in votes:
        line = vote_line(vote.contract, vote.token_id, vote.position, vote.receipt)
        previous = entry_hash(previous, line)
        lines.append(f"{line} hash={previous}")
    return lines, previous


def close(session: Session, poll_id: int, now: datetime) -> bool:
    """Close `poll_id` if it is open and its close has come; False if not (already closed,
    not due, another process first). In the caller's transaction, which must commit: the
    status, the excluded electors and the head change together.

    On PostgreSQL the UPDATE waits for the votes in flight (each holds the poll row FOR
    SHARE until it commits, `backend.polls.votes`), and votes after it find the poll closed;
    on SQLite writes are serialised. So the head covers exactly the votes that count."""
    closed = session.execute(
        update(Poll)
        .where(Poll.id == poll_id, Poll.status == "open", Poll.closes_at <= now)
        .values(status="closed", closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not closed.rowcount:  # type: ignore[attr-defined]
        return False
    revoked = exists().where(
        OrderCard.drop_id == PollElector.drop_id,
        OrderCard.token_id == PollElector.token_id,
        OrderCard.revoked_at.is_not(None),
    )
    session.execute(
        update(PollElector)
        .where(PollElector.poll_id == poll_id, revoked)
        .values(excluded=True)
        .execution_options(synchronize_session=False)
    )
    poll = session.get(Poll, poll_id, populate_existing=True)
    assert poll is not None
    _lines, head = chain(header_lines(session, poll), counted_votes(session, poll_id))
    session.execute(
        update(Poll).where(Poll.id == poll_id).values(ballots_head=head).execution_options(synchronize_session=False)
    )
    poll.ballots_head = head
    return True


@dataclass(frozen=True)
class Tally:
    counts: dict[int, int]  # position → votes
    votes_cast: int
    electorate: int
    revoked_excluded: int

    @property
    def eligible(self) -> int:
        return max(self.electorate - self.revoked_excluded, 0)

    @property
    def turnout_percent(self) -> float:
        return round(100 * self.votes_cast / self.eligible, 2) if self.eligible else 0.0

    def quorum_met(self, quorum_percent: int) -> bool:
        """100 × votes ≥ quorum × eligible, in whole numbers (no rounding), and a vote cast
        when a quorum is asked for."""
        if quorum_percent > 0 and self.votes_cast == 0:
            return False
        return 100 * self.votes_cast >= quorum_percent * self.eligible


def tally(session: Session, poll: Poll, votes: list[Counted]) -> Tally:
    counts = {option.position: 0 for option in options_of(session, poll.id)}
    for vote in votes:
        counts[vote.position] = counts.get(vote.position, 0) + 1
    return Tally(counts, len(votes), poll.electorate or 0, excluded_count(session, poll.id))


def ballot_file(session: Session, poll: Poll) -> str:
    """The closed poll's ballot file (module docstring)."""
    header = header_lines(session, poll)
    votes = counted_votes(session, poll.id)
    lines, head = chain(header, votes)
    if head != poll.ballots_head:  # the database changed after the close: the recount will say so
        log.error("poll %s: ballots recompute to head %s, the close fixed %s", poll.id, head, poll.ballots_head)
    counted = tally(session, poll, votes)
    footer = [f"votes: {counted.votes_cast}", f"revoked_excluded: {counted.revoked_excluded}"]
    footer += [f"count {position}: {count}" for position, count in sorted(counted.counts.items())]
    footer.append(f"head: {poll.ballots_head}")
    return "\n".join([*header, "", *lines, "", *footer]) + "\n"


def results(session: Session, poll: Poll, town_slug: str, ballots_url: str) -> PollResults:
    assert poll.frozen_at is not None
    assert poll.closed_at is not None
    assert poll.ballots_head is not None
    counted = tally(session, poll, counted_votes(session, poll.id))
    return PollResults(
        poll_id=poll.id,
        algorithm=ALGORITHM,
        municipality=town_slug,
        question_ja=poll.question_ja,
        question_en=poll.question_en,
        options=[
            OptionCount(
                option_id=option.id,
                position=option.position,
                label_ja=option.label_ja,
                label_en=option.label_en,
                votes=counted.counts.get(option.position, 0),
            )
            for option in options_of(session, poll.id)
        ],
        votes_cast=counted.votes_cast,
        electorate=counted.electorate,
        revoked_excluded=counted.revoked_excluded,
        eligible=counted.eligible,
        turnout_percent=counted.turnout_percent,
        quorum_percent=poll.quorum_percent,
        quorum_met=counted.quorum_met(poll.quorum_percent),
        opened_at=aware(poll.frozen_at),
        closed_at=aware(poll.closed_at),
        frozen_block=poll.frozen_block,
        ballots_head=poll.ballots_head,
        ballots_url=ballots_url,
    )
