"""Placing a bid: one transaction per bid, serialised per lot, judged by the server's clock.

Serialised per lot: the lot's row is locked before anything about it is read, so two bids on
a lot are judged one after the other and the second sees the first. PostgreSQL: `SELECT …
FOR UPDATE` on the lot. SQLite: the transaction's first statement is a write (the holder's
rate counter, else an UPDATE of the lot's row that changes nothing), which takes the
database's write lock before anything is read (and, in this process, queues the writer on
`backend.core.sqlite_writes`'s lock).

In order, under the lock:
1. the lot exists (else 404 `lot_not_found`); the holder's rate limit is not spent (429
   `rate_limited`, counted in this same transaction); the holder is a registered bidder of
   the lot (409 `not_registered`);
2. the bidder already placed a bid with this Idempotency-Key: the same amount is a replay (the
   same bid is answered again, even after the close), another amount 409 `idempotency_key_reused`;
3. the bidder's payment method is ready (409 `payment_pending`: a card still being saved);
4. the auction takes bids now: the lot is created on chain and `auction_start <= now <
   ends_at` (409 `auction_not_started` before, `auction_closed` from the end on);
5. the amount is at least `rules.minimum_bid` (409 `bid_too_low`, with the minimum).

An accepted bid becomes entry `bid_count + 1` of the hash-chained log (`bid_log`), and the
lot's highest bid, count, log head and end (the contract's soft close, `rules.extended_end`)
change in the same transaction. Raising one's own highest bid is allowed, as on chain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core import ratelimit
from backend.holders.models import Holder
from backend.naming import bid_log, rules
from backend.naming.models import Bid, Lot, LotBidder

#: The largest bid the API takes (the amount columns are 32-bit integers on PostgreSQL).
MAX_BID_JPY = 1_000_000_000


class BidRefused(Exception):
    """A bid the auction does not take: HTTP status, stable code, message (Japanese first)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        minimum_bid_jpy: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.minimum_bid_jpy = minimum_bid_jpy
        #: With 429: seconds until the holder's window ends.
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outbid:
    """Who an accepted bid displaced from the top (to be told by mail after the commit)."""

    email: str
    lot_id: int
    amount_jpy: int


@dataclass(frozen=True)
class Placed:
    """An accepted bid (or the replay of one): its entry in the log, and who it outbid."""

    lot_id: int
    seq: int
    amount_jpy: int
    at: int
    ends_at: int
    replayed: bool
    extended: bool
    outbid: Outbid | None


def _lock_lot(session: Session, lot_id: int, *, locked: bool = False) -> Lot | None:
    """The lot, its row locked for this transaction. On SQLite a write statement already run
    in it (`locked`: the rate counter's upsert) holds the database's write lock: that does."""
    if session.get_bind().dialect.name == "sqlite":
        if not locked:
            session.execute(
                update(Lot)
                .where(Lot.id == lot_id)
                .values(bid_count=Lot.bid_count)
                .execution_options(synchronize_session=False)
            )
        return session.scalar(select(Lot).where(Lot.id == lot_id).execution_options(populate_existing=True))
    return session.scalar(
        select(Lot).where(Lot.id == lot_id).with_for_update().execution_options(populate_existing=True)
    )


def _check_open(lot: Lot, now: int) -> None:
    if lot.phase != "auction" or now >= rules.seconds(lot.ends_at):
        raise BidRefused(409, "auction_closed", "この入札は締め切られました。 / This auction has closed.")
    if lot.chain_state != "ready" or now < rules.seconds(lot.auction_start):
        raise BidRefused(409, "auction_not_started", "入札はまだ始まっていません。 / Bidding has not started yet.")


def place_in(
    session: Session,
    lot_id: int,
    holder_id: int,
    amount_jpy: int,
    key: str,
    now: int,
    limit: tuple[str, int, int] | None = None,
) -> Placed:
    """Judge and (if accepted) record one bid in `session`'s transaction; the caller commits.

    Raises `BidRefused` for every refusal, before it writes anything but the rate counter: so
    the caller commits then too, and the refused bid still counts. `limit` (key, count,
    window seconds) is counted in this transaction, after the lock (429 `rate_limited` once
    spent): one write transaction per bid, not two (on SQLite both would queue on the same
    database lock, and each commit is a sync to disk)."""
    # The rate counter first: on SQLite its upsert takes the write lock, which then serialises
    # the bids (one statement fewer under the lock); a refusal below commits it all the same.
    spent = limit is not None and not ratelimit.hit(session, *limit, now=time.time())
    lot = _lock_lot(session, lot_id, locked=limit is not None)
    if lot is None:
        raise BidRefused(404, "lot_not_found", "この入札はありません。 / No such auction.")
    if spent and limit is not None:
        raise BidRefused(
            429,
            "rate_limited",
            "入札が続いています。数秒待ってからもう一度どうぞ。 / Many bids in a row: wait a few seconds.",
            retry_after=ratelimit.retry_after(limit[2]),
        )
    bidder = session.scalar(select(LotBidder).where(LotBidder.lot_id == lot_id, LotBidder.holder_id == holder_id))
    if bidder is None:
        raise BidRefused(
            409,
            "not_registered",
            "入札するには、先に参加登録をしてください。 / Register for this auction before bidding.",
        )
    earlier = session.scalar(select(Bid).where(Bid.bidder_id == bidder.id, Bid.idempotency_key == key))
    if earlier is not None:
        if earlier.amount_jpy != amount_jpy:
            raise BidRefused(
                409,
                "idempotency_key_reused",
                "この Idempotency-Key は別の金額の入札に使われました。 / "
                "This Idempotency-Key was used for a bid of another amount.",
            )
        return Placed(
            lot_id,
            earlier.seq,
            earlier.amount_jpy,
            rules.seconds(earlier.placed_at),
            rules.seconds(earlier.ends_at),
            replayed=True,
            extended=False,
            outbid=None,
        )
    if bidder.payment_state != "ready":
        raise BidRefused(
            409,
            "payment_pending",
            "お支払い方法の登録が終わっていません。 / Your payment method is not ready yet.",
        )
    _check_open(lot, now)
    minimum = rules.minimum_bid(lot.reserve_jpy, lot.highest_bid_jpy, lot.min_increment_jpy)
    if amount_jpy < minimum:
        raise BidRefused(
            409,
            "bid_too_low",
            f"入札額が低すぎます。最低入札額は {minimum:,} 円です。 / The minimum bid is ¥{minimum:,}.",
            minimum_bid_jpy=minimum,
        )

    ends_before = rules.seconds(lot.ends_at)
    ends_at = rules.extended_end(ends_before, now, lot.soft_close_seconds, lot.extension_seconds)
    seq = lot.bid_count + 1
    prev_hash = lot.log_head or bid_log.GENESIS
    line = bid_log.canonical_line(lot_id, seq, bidder.number, amount_jpy, now, ends_at)
    digest = bid_log.entry_hash(prev_hash, line)
    displaced = lot.highest_bidder_id
    session.add(
        Bid(
            lot_id=lot_id,
            bidder_id=bidder.id,
            seq=seq,
            amount_jpy=amount_jpy,
            placed_at=rules.at_second(now),
            ends_at=rules.at_second(ends_at),
            idempotency_key=key,
            prev_hash=prev_hash,
            entry_hash=digest,
        )
    )
    lot.highest_bid_jpy = amount_jpy
    lot.highest_bidder_id = bidder.id
    lot.bid_count = seq
    lot.log_head = digest
    lot.ends_at = rules.at_second(ends_at)
    outbid = None
    if displaced is not None and displaced != bidder.id:
        email = session.scalar(
            select(Holder.email).join(LotBidder, LotBidder.holder_id == Holder.id).where(LotBidder.id == displaced)
        )
        if email is not None:
            outbid = Outbid(email, lot_id, amount_jpy)
    session.flush()
    return Placed(lot_id, seq, amount_jpy, now, ends_at, replayed=False, extended=ends_at != ends_before, outbid=outbid)


def place_bid(
    sessions: sessionmaker[Session], lot_id: int, holder_id: int, amount_jpy: int, key: str, now: int
) -> Placed:
    """`place_in` in a transaction of its own, committed."""
    with sessions() as session:
        try:
            placed = place_in(session, lot_id, holder_id, amount_jpy, key, now)
        except BidRefused:
            session.commit()
            raise
        session.commit()
        return placed
