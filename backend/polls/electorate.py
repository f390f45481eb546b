"""The electorate, frozen once at a poll's opening: one card, one vote, by its holder then.

`freeze()` is the opening. In one transaction:

1. a conditional UPDATE `scheduled → open` where `opens_at <= now`: whichever caller gets
   there first (the clock loop of any process, or a request that arrives after the moment)
   opens it, every other finds nothing to update and does nothing;
2. one `PollElector` per card of the eligible series (the poll's, or every resident-card
   series of the town) that is minted — the indexer has seen it (`token_owners`): a card the
   indexer has not seen yet is not a card yet — and not revoked, with its owner on chain
   then (lower case): only that address may cast the card's vote, so a card bought or moved
   after the opening changes nothing;
3. the snapshot's facts: `frozen_at` (now), `frozen_block` (the block the indexer had
   applied for these contracts, else the chain head the caller knows), `electorate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from backend.polls.models import Poll, PollElector, PollSeries
from backend.sales.models import Drop, OrderCard
from minting.store import IndexerCursorRow, TokenOwnerRow

ZERO_ADDRESS = "0x" + "0" * 40
#: Electors inserted per statement (executemany), so a big town's opening stays one transaction
#: of bounded statements.
INSERT_BATCH = 5_000


def eligible_cards(session: Session, poll: Poll) -> list[tuple[int, str, int, int, str]]:
    """(chain id, contract, token id, drop id, owner) of every card that may vote in `poll` now."""
    series = select(PollSeries.drop_id).where(PollSeries.poll_id == poll.id)
    chosen = session.scalar(select(func.count()).select_from(series.subquery())) or 0
    query = (
        select(Drop.chain_id, Drop.contract, OrderCard.token_id, Drop.id, TokenOwnerRow.owner)
        .join(OrderCard, OrderCard.drop_id == Drop.id)
        .join(
            TokenOwnerRow,
            (TokenOwnerRow.chain_id == Drop.chain_id)
            & (TokenOwnerRow.contract == Drop.contract)
            & (TokenOwnerRow.token_id == OrderCard.token_id),
        )
        .where(
            Drop.municipality_id == poll.municipality_id,
            Drop.kind == "resident_card",
            OrderCard.revoked_at.is_(None),
        )
    )
    if chosen:
        query = query.where(Drop.id.in_(series))
    rows = session.execute(query).all()
    return [
        (int(chain_id), contract, int(token_id), int(drop_id), owner)
        for chain_id, contract, token_id, drop_id, owner in rows
        if owner.lower() != ZERO_ADDRESS
    ]


def indexed_block(session: Session, town_id: int, chain_ids: Iterable[int]) -> int | None:
    """The block the indexer has applied for the town's contracts: the lowest cursor among the
    deployment's group and the town's own group on each chain (`backend.runtime.build_indexer`
    names them), or None if the indexer has not run."""
    names = [
        name for chain_id in chain_ids for name in (f"transfers-{chain_id}", f"transfers-{chain_id}-town-{town_id}")
    ]
    if not names:
        return None
    blocks = session.scalars(select(IndexerCursorRow.block_number).where(IndexerCursorRow.name.in_(names))).all()
    return min((int(block) for block in blocks), default=None)


def freeze(session: Session, poll_id: int, now: datetime, *, chain_head: int | None = None) -> bool:
    """Open `poll_id` and freeze its electorate if it is scheduled and its opening has come
    (module docstring); False if there was nothing to do. In the caller's transaction, which
    must commit: the status and the electorate change together."""
    opened = session.execute(
        update(Poll)
        .where(Poll.id == poll_id, Poll.status == "scheduled", Poll.opens_at <= now)
        .values(status="open", frozen_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not opened.rowcount:  # type: ignore[attr-defined]
        return False
    poll = session.get(Poll, poll_id, populate_existing=True)
    assert poll is not None
    cards = eligible_cards(session, poll)
    rows = [
        {
            "poll_id": poll_id,
            "chain_id": chain_id,
            "contract": Web3.to_checksum_address(contract),
            "token_id": token_id,
            "drop_id": drop_id,
            "address": owner.lower(),
            "excluded": False,
        }
        for chain_id, contract, token_id, drop_id, owner in cards
    ]
    for first in range(0, len(rows), INSERT_BATCH):
        session.execute(insert(PollElector), rows[first : first + INSERT_BATCH])
    chain_ids = session.scalars(
        select(Drop.chain_id).where(Drop.municipality_id == poll.municipality_id).distinct()
    ).all()
    block = indexed_block(session, poll.municipality_id, chain_ids)
    if block is None:
        block = chain_head
    session.execute(
        update(Poll)
        .where(Poll.id == poll_id)
        .values(electorate=len(rows), frozen_block=block)
        .execution_options(synchronize_session=False)
    )
    poll.electorate, poll.frozen_block = len(rows), block
    return True
