"""The auction's rules in one place: the next minimum bid, the soft close, the public status.

The soft close is the contract's (`NamingRights.bid`): a bid that comes when the end is at
most `soft_close_seconds` away sets the end to `now + extension_seconds`, if that is later.
Times are whole unix seconds, as `block.timestamp` is, so the yen auction and the contract
give the same end for the same inputs (`tests/naming/test_soft_close_matches_contract.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime

#: The default step: the larger of ¥1,000 and 5 % of the highest bid (rounded up to the yen).
DEFAULT_MIN_STEP_JPY = 1_000
DEFAULT_STEP_PERCENT = 5
#: How long a winner (or a second-chance bidder) has to pay through the pay link.
PAY_WITHIN_HOURS = 72
#: Offers after the winner's: the next distinct bidders, at their own highest bid.
MAX_SECOND_CHANCE_OFFERS = 2
#: Staff are told this many days before a term ends (open the next lot, change the sign).
TERM_NOTICE_DAYS = 90


def seconds(moment: datetime) -> int:
    """`moment` as whole unix seconds (naive datetimes from SQLite are UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(aware.timestamp())


def at_second(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def increment(highest_jpy: int, fixed_jpy: int | None) -> int:
    """The step above the highest bid: the lot's fixed step, else max(¥1,000, ⌈5 %⌉)."""
    if fixed_jpy is not None:
        return fixed_jpy
    return max(DEFAULT_MIN_STEP_JPY, -(-highest_jpy * DEFAULT_STEP_PERCENT // 100))


def minimum_bid(reserve_jpy: int, highest_jpy: int | None, fixed_step_jpy: int | None) -> int:
    """The smallest bid accepted now: the reserve first, then the highest bid plus the step."""
    if highest_jpy is None:
        return reserve_jpy
    return highest_jpy + increment(highest_jpy, fixed_step_jpy)


def is_open(auction_start: int, ends_at: int, now: int) -> bool:
    """Bids are taken from the start (inclusive) to the end (exclusive), as on chain."""
    return auction_start <= now < ends_at


def extended_end(ends_at: int, now: int, soft_close_seconds: int, extension_seconds: int) -> int:
    """The end after a bid at `now` (< `ends_at`): the contract's soft-close rule."""
    if ends_at - now <= soft_close_seconds:
        return max(ends_at, now + extension_seconds)
    return ends_at


def public_status(phase: str, chain_ready: bool, auction_start: int, ends_at: int, now: int) -> str:
    """What the lot page says: scheduled, open, ended (waiting for the settle job),
    awaiting_payment, awarded or unsold."""
    if phase != "auction":
        return phase
    if not chain_ready or now < auction_start:
        return "scheduled"
    return "open" if now < ends_at else "ended"


def default_increment_for_chain(fixed_jpy: int | None) -> int:
    """The contract needs a non-zero fixed step; the yen auction's own rule governs the bids."""
    return fixed_jpy if fixed_jpy is not None else DEFAULT_MIN_STEP_JPY
