"""A signer's nonces, allocated under one row lock for every sender of that key.

The mint sender (`minting.sender`) and the exactly-once sender (`minting.once`) may sign
with the same key (on dev chains the deployer is the minter). Both take nonces here, from
the `signer_nonces` row of (chain, signer), in the caller's database transaction, so a nonce
is handed out once whatever mix of senders and processes runs. The row is taken by an
`UPDATE … RETURNING` first: a row lock on PostgreSQL, and SQLite's write lock at once (a
read first and a write later can meet another process's commit in between).

The row is created, the first time, at the first nonce neither the chain nor any stored
transaction of ours used. `at_least` lets a sender that learnt the chain is further on
("nonce too low" for a transaction nobody of ours sent) skip ahead; it never goes back.
"""

from __future__ import annotations

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from minting.store import ChainTxRow, OnceAttemptRow, SignerNonceRow, insert_for


def first_unused_nonce(session: Session, w3: Web3, chain_id: int, signer: str) -> int:
    """The first nonce neither the chain (pending included) nor our stored transactions used."""
    on_chain = int(w3.eth.get_transaction_count(Web3.to_checksum_address(signer), "pending"))
    stored = [
        session.scalar(
            select(func.max(ChainTxRow.nonce)).where(ChainTxRow.chain_id == chain_id, ChainTxRow.signer == signer)
        ),
        session.scalar(
            select(func.max(OnceAttemptRow.nonce)).where(
                OnceAttemptRow.chain_id == chain_id, OnceAttemptRow.signer == signer
            )
        ),
    ]
    return max([on_chain, *(int(nonce) + 1 for nonce in stored if nonce is not None)])


def _take(session: Session, chain_id: int, signer: str, at_least: int) -> int | None:
    taken = session.scalar(
        update(SignerNonceRow)
        .where(SignerNonceRow.chain_id == chain_id, SignerNonceRow.signer == signer)
        .values(next_nonce=case((SignerNonceRow.next_nonce >= at_least, SignerNonceRow.next_nonce), else_=at_least) + 1)
        .returning(SignerNonceRow.next_nonce)
        .execution_options(synchronize_session=False)
    )
    return None if taken is None else int(taken) - 1


def allocate_nonce(session: Session, w3: Web3, chain_id: int, signer: str, *, at_least: int = 0) -> int:
    """The next nonce of `signer` on `chain_id`, taken in `session`'s transaction (module
    docstring). The caller stores the transaction signed with it in the same transaction."""
    nonce = _take(session, chain_id, signer, at_least)
    if nonce is not None:
        return nonce
    start = first_unused_nonce(session, w3, chain_id, signer)
    session.execute(
        insert_for(session)(SignerNonceRow)
        .values(chain_id=chain_id, signer=signer, next_nonce=start)
        .on_conflict_do_nothing()
    )
    nonce = _take(session, chain_id, signer, at_least)
    assert nonce is not None
    return nonce
