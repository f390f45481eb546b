"""A lottery drop's lottery row: its server seed, drawn and committed once, when it is published.

`announce` inserts the row unless it exists (`ON CONFLICT DO NOTHING` on the drop id), so
the publish path, the job and the first application may all call it: the first insert wins,
and a seed nobody stored was never seen by anyone. The seed is kept encrypted with the
deployment's vault until the draw reveals it; `seed_commitment` is public from the start.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import utcnow
from backend.holders.custody import Vault
from backend.lottery import algorithm
from backend.lottery.models import ANNOUNCED, Lottery
from backend.sales.drops import PUBLIC_STATUSES
from backend.sales.models import Drop
from minting.store import insert_for


class SeedUnavailable(Exception):
    """The server seed was encrypted under a secret this process does not have."""


def _aad(drop_id: int) -> bytes:
    return f"lottery:{drop_id}:server_seed".encode()


def is_lottery(drop: Drop) -> bool:
    """A lottery drop with its dates (a drop switched to lottery without them is not run)."""
    return (
        drop.sale_mode == "lottery"
        and drop.applications_close_at is not None
        and drop.draw_at is not None
        and drop.pay_within_hours is not None
    )


def announce(session: Session, vault: Vault, drop_id: int) -> Lottery:
    """The drop's lottery, created with a fresh committed seed if it has none (in the caller's
    transaction; safe under concurrency)."""
    lottery = session.get(Lottery, drop_id)
    if lottery is not None:
        return lottery
    seed = algorithm.new_server_seed()
    values = {
        "drop_id": drop_id,
        "algorithm": algorithm.ALGORITHM,
        "stage": ANNOUNCED,
        "server_seed_enc": vault.encrypt(bytes.fromhex(seed), _aad(drop_id)),
        "key_id": vault.key_id,
        "seed_commitment": algorithm.seed_commitment(seed),
        "anchor_attempt": 1,
        "rounds": 0,
        "created_at": utcnow(),
    }
    session.execute(insert_for(session)(Lottery).values(**values).on_conflict_do_nothing(index_elements=["drop_id"]))
    lottery = session.get(Lottery, drop_id, populate_existing=True)
    assert lottery is not None  # inserted now, or by a transaction that committed first
    return lottery


def announce_published(session: Session, vault: Vault, chain_id: int) -> int:
    """Announce every public lottery drop of this chain that has no lottery yet (a drop
    published by a process without the vault, or before this area existed); how many."""
    missing = session.scalars(
        select(Drop)
        .outerjoin(Lottery, Lottery.drop_id == Drop.id)
        .where(
            Drop.chain_id == chain_id,
            Drop.status.in_(PUBLIC_STATUSES),
            Drop.sale_mode == "lottery",
            Lottery.drop_id.is_(None),
        )
    ).all()
    announced = 0
    for drop in missing:
        if is_lottery(drop):
            announce(session, vault, drop.id)
            announced += 1
    return announced


def server_seed(vault: Vault, lottery: Lottery) -> str:
    """The lottery's seed in the clear (for the draw), checked against its commitment."""
    if lottery.key_id != vault.key_id:
        raise SeedUnavailable(f"lottery {lottery.drop_id}'s seed was encrypted under key id {lottery.key_id}")
    seed = vault.decrypt(lottery.server_seed_enc, _aad(lottery.drop_id)).hex()
    if algorithm.seed_commitment(seed) != lottery.seed_commitment:
        raise SeedUnavailable(f"lottery {lottery.drop_id}'s seed does not match its commitment")
    return seed
