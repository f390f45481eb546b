"""The bid log: every accepted bid of a lot, hash-chained, published with pseudonyms after the close.

Entry n is one canonical line of ASCII text,

    furusato-bid/1 lot=<lot id> seq=<n> bidder=<number> amount_jpy=<yen> at=<unix s> ends_at=<unix s>

(`bidder` is the number in the pseudonym "入札者 <number>", `at` the second the server accepted
the bid, `ends_at` the auction's end after it, both whole unix seconds UTC), and

    entry_hash(n) = sha256_hex(prev_hash(n) + "\\n" + line(n))
    prev_hash(1) = GENESIS = "0" * 64,   prev_hash(n) = entry_hash(n - 1)

The lot keeps the last entry hash (`Lot.log_head`), written in the transaction that inserts the
bid, under the lot's row lock; the published `head` is that value. Changing, dropping,
inserting or reordering any entry changes every later hash and the head. docs/naming.md
("Checking the bid log") shows how to check a published log by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.schemas import UtcDateTime
from backend.naming import rules
from backend.naming.lot_view import pseudonym
from backend.naming.models import Bid, LotBidder

#: The line format's name and version, the first word of every line.
FORMAT = "furusato-bid/1"
#: `prev_hash` of the first entry.
GENESIS = "0" * 64


def canonical_line(lot_id: int, seq: int, bidder_number: int, amount_jpy: int, at: int, ends_at: int) -> str:
    return f"{FORMAT} lot={lot_id} seq={seq} bidder={bidder_number} amount_jpy={amount_jpy} at={at} ends_at={ends_at}"


def entry_hash(prev_hash: str, line: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{line}".encode("ascii")).hexdigest()


class LogEntry(BaseModel):
    seq: int
    bidder: str = Field(description='The pseudonym, e.g. "入札者 3"')
    bidder_number: int
    amount_jpy: int
    at: UtcDateTime
    ends_at: UtcDateTime = Field(description="The auction's end after this bid")
    line: str = Field(description="The canonical line this entry hashes (see docs/naming.md)")
    prev_hash: str
    entry_hash: str


class BidLog(BaseModel):
    lot_id: int
    format: str = Field(default=FORMAT, description="The line format")
    genesis: str = Field(default=GENESIS, description="`prev_hash` of the first entry")
    head: str = Field(description='The last entry\'s hash ("" with no bids)')
    entries: list[LogEntry] = Field(description="Every accepted bid, in order (seq 1, 2, 3…)")


def read_log(session: Session, lot_id: int, head: str) -> BidLog:
    rows = session.execute(
        select(Bid, LotBidder.number)
        .join(LotBidder, LotBidder.id == Bid.bidder_id)
        .where(Bid.lot_id == lot_id)
        .order_by(Bid.seq)
    ).all()
    entries = []
    for bid, number in rows:
        line = canonical_line(
            lot_id, bid.seq, number, bid.amount_jpy, rules.seconds(bid.placed_at), rules.seconds(bid.ends_at)
        )
        entries.append(
            LogEntry(
                seq=bid.seq,
                bidder=pseudonym(number),
                bidder_number=number,
                amount_jpy=bid.amount_jpy,
                at=bid.placed_at,
                ends_at=bid.ends_at,
                line=line,
                prev_hash=bid.prev_hash,
                entry_hash=bid.entry_hash,
            )
        )
    return BidLog(lot_id=lot_id, head=head, entries=entries)


@dataclass(frozen=True)
class Problem:
    """Where a log does not check out, and why."""

    seq: int
    reason: str


def verify(lot_id: int, head: str, entries: Iterable[LogEntry]) -> list[Problem]:
    """Recompute the chain from the entries' own fields; [] when the log is intact: seq runs
    1, 2, 3…, each line is the one its fields give, each hash links to the one before, amounts
    rise, and the last hash is the head."""
    problems: list[Problem] = []
    previous, last_amount, count = GENESIS, 0, 0
    for expected_seq, entry in enumerate(entries, start=1):
        count = expected_seq
        line = canonical_line(
            lot_id,
            entry.seq,
            entry.bidder_number,
            entry.amount_jpy,
            rules.seconds(entry.at),
            rules.seconds(entry.ends_at),
        )
        if entry.seq != expected_seq:
            problems.append(Problem(entry.seq, f"expected seq {expected_seq}"))
        if entry.line != line:
            problems.append(Problem(entry.seq, "the line does not match the entry's fields"))
        if entry.prev_hash != previous:
            problems.append(Problem(entry.seq, "prev_hash is not the previous entry's hash"))
        if entry.entry_hash != entry_hash(entry.prev_hash, line):
            problems.append(Problem(entry.seq, "entry_hash is not sha256(prev_hash + newline + line)"))
        if entry.amount_jpy <= last_amount:
            problems.append(Problem(entry.seq, "the amount does not rise"))
        previous, last_amount = entry.entry_hash, entry.amount_jpy
    if head != (previous if count else ""):
        problems.append(Problem(count, "the head is not the last entry's hash"))
    return problems
