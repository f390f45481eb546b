"""The event indexer: ResidentCard `Transfer` logs → `token_transfers`, `token_owners`.

The database holds what the chain said, as of a cursor: `indexer_cursors[name]` is the last
block applied, with its hash. One `Indexer.step()` reads the logs of the next blocks and
writes them together with the new cursor in one transaction, so a crash between the two is
impossible and a restart resumes exactly where the last commit left off.

Why a window is re-read every step: a block the indexer applied can be replaced by a reorg.
Blocks are hash-chained, so if any applied block changed, the block at the cursor changed too;
comparing the stored cursor hash with the chain's detects every reorg of applied blocks with
one call. The logs of the last `reorg_depth` blocks below the cursor are read again with the
new blocks anyway (one `eth_getLogs`), which also catches a stored transfer whose block hash
no longer matches. On a reorg the whole window is replaced: its stored transfers are deleted,
the re-read logs inserted, and `token_owners` rebuilt, for the tokens touched, from every
transfer that remains. A reorg deeper than the window is refused (`ReorgTooDeep`), not
guessed at.

Example: cursor (name="cards", block 120, hash 0xab…); with `reorg_depth=12` the next step
reads blocks 109…(120 + max_blocks_per_step) and stores transfer rows such as
`(chain_id=31337, contract=0x5FbD…, token_id=1042, from=0x0000…, to=0x7099…, block 121,
tx 0x3c…, log_index 4)`, and the owner row `(31337, 0x5FbD…, 1042) → 0x7099…`.

Purchases are Transfers from the zero address too, so the tables above already hold them;
`purchases()` reads the `CardPurchased` details (order ref, price) straight from the logs.

Run one indexer per (chain, contracts): two indexers under different names over the same
contracts would share the transfer rows but not a cursor.

`IndexerSet` follows a set of contract groups that grows while it runs (each town added with
`furusato town add` brings its own contracts): it asks its `groups()` callable every step
(the backend reads the towns from its database; this module imports no backend) and steps
one `Indexer` per group, each with its own cursor starting at the group's deployment block,
so a group added later is read from its beginning, not from where the others are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from eth_typing import ABI, ChecksumAddress
from hexbytes import HexBytes
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract.contract import ContractEvent
from web3.exceptions import BlockNotFound
from web3.types import BlockIdentifier, FilterParams

from minting.errors import ReorgTooDeep
from minting.store import IndexerCursorRow, TokenOwnerRow, TokenTransferRow

log = logging.getLogger("furusato.minting.indexer")

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: Rows per `IN (…)` list: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500

T = TypeVar("T")


@dataclass(frozen=True)
class IndexerStep:
    """What one `Indexer.step()` did.

    `from_block`…`to_block` is the range whose logs were read (the re-read window included);
    `to_block` is the cursor afterwards. `transfers` counts rows newly stored.
    """

    from_block: int
    to_block: int
    transfers: int
    reorg: bool
    head: int

    @property
    def caught_up(self) -> bool:
        return self.to_block >= self.head


@dataclass(frozen=True)
class Purchase:
    """One `CardPurchased` log: a buyer paid on chain with a voucher."""

    buyer: str
    token_id: int
    series_id: int
    order_ref: str  # the voucher's bytes32, 0x-hex
    price: int
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class _Transfer:
    contract: str
    token_id: int
    from_address: str
    to_address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.tx_hash, self.log_index)


@dataclass(frozen=True)
class _Cursor:
    block_number: int
    block_hash: str


def _hex(value: Any) -> str:
    return HexBytes(value).to_0x_hex()


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _catch_up(step: Callable[[], IndexerStep], max_steps: int) -> list[IndexerStep]:
    """`step()` until a step is caught up with the head it saw, at most `max_steps` times."""
    steps: list[IndexerStep] = []
    for _ in range(max_steps):
        steps.append(step())
        if steps[-1].caught_up:
            break
    return steps


class Indexer:
    """Follows the Transfer logs of `contracts` into the database, one `step()` at a time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        contracts: Sequence[str],
        abi: ABI | list[dict[str, Any]],
        *,
        name: str,
        reorg_depth: int = 12,
        start_block: int = 0,
        max_blocks_per_step: int = 2_000,
    ) -> None:
        if reorg_depth < 1 or max_blocks_per_step < 1 or start_block < 0:
            raise ValueError("reorg_depth and max_blocks_per_step must be ≥ 1, start_block ≥ 0")
        if not contracts:
            raise ValueError("an indexer needs at least one contract address")
        self.sessions = sessions
        self.w3 = w3
        self.contracts: list[ChecksumAddress] = [Web3.to_checksum_address(address) for address in contracts]
        self.name = name
        self.reorg_depth = reorg_depth
        self.start_block = start_block
        self.max_blocks_per_step = max_blocks_per_step
        self._transfer_event: ContractEvent = w3.eth.contract(abi=abi).events.Transfer()
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    # ── chain reads (never inside a database transaction) ───────────────────

    def _block_hash(self, number: int) -> str | None:
        """The chain's hash of block `number`, or None if the chain is shorter now."""
        try:
            return _hex(self.w3.eth.get_block(number)["hash"])
        except BlockNotFound:
            return None

    def _transfers(self, from_block: int, to_block: int) -> list[_Transfer]:
        params: FilterParams = {
            "address": self.contracts,
            "topics": [self._transfer_event.topic],
            "fromBlock": from_block,
            "toBlock": to_block,
        }
        transfers = []
        for log in self.w3.eth.get_logs(params):
            if log.get("removed"):
                continue
            args = self._transfer_event.process_log(log)["args"]
            transfers.append(
                _Transfer(
                    contract=Web3.to_checksum_address(log["address"]),
                    token_id=int(args["tokenId"]),
                    from_address=Web3.to_checksum_address(args["from"]),
                    to_address=Web3.to_checksum_address(args["to"]),
                    block_number=int(log["blockNumber"]),
                    block_hash=_hex(log["blockHash"]),
                    tx_hash=_hex(log["transactionHash"]),
                    log_index=int(log["logIndex"]),
                )
            )
        transfers.sort(key=lambda transfer: (transfer.block_number, transfer.log_index))
        return transfers

    # ── database reads ──────────────────────────────────────────────────────

    def _cursor(self, session: Session, *, lock: bool = False) -> _Cursor | None:
        row = session.get(IndexerCursorRow, self.name, with_for_update=lock)
        return None if row is None else _Cursor(int(row.block_number), row.block_hash)

    def _stored_in(self, session: Session, from_block: int, to_block: int) -> dict[tuple[str, int], str]:
        """Stored transfers in `from_block`…`to_block`: (tx hash, log index) → block hash."""
        rows = session.execute(
            select(TokenTransferRow.tx_hash, TokenTransferRow.log_index, TokenTransferRow.block_hash).where(
                TokenTransferRow.chain_id == self.chain_id,
                TokenTransferRow.contract.in_(self.contracts),
                TokenTransferRow.block_number.between(from_block, to_block),
            )
        )
        return {(tx_hash, log_index): block_hash for tx_hash, log_index, block_hash in rows}

    def _last_stored_below(self, session: Session, block: int) -> _Cursor | None:
        row = session.execute(
            select(TokenTransferRow.block_number, TokenTransferRow.block_hash)
            .where(
                TokenTransferRow.chain_id == self.chain_id,
                TokenTransferRow.contract.in_(self.contracts),
                TokenTransferRow.block_number < block,
            )
            .order_by(TokenTransferRow.block_number.desc())
            .limit(1)
        ).first()
        return None if row is None else _Cursor(int(row[0]), row[1])

    # ── the step ────────────────────────────────────────────────────────────

    def step(self) -> IndexerStep:
        """Read the next blocks (and re-read the window below the cursor), apply, move the cursor.

        Returns without writing if the chain or the cursor moved while the logs were read;
        the next step simply tries again.
        """
        with self.sessions() as session:
            cursor = self._cursor(session)
        head = int(self.w3.eth.block_number)
        applied_to = self.start_block - 1 if cursor is None else cursor.block_number
        window_start = self.start_block if cursor is None else max(self.start_block, applied_to - self.reorg_depth + 1)
        to_block = min(head, applied_to + self.max_blocks_per_step)
        if to_block < window_start:
            if cursor is not None:  # the chain is shorter than our window: it lost applied blocks
                raise ReorgTooDeep(self.name, head + 1, self.reorg_depth)
            return IndexerStep(window_start, applied_to, 0, False, head)

        to_hash = self._block_hash(to_block)
        cursor_replaced = cursor is not None and self._block_hash(cursor.block_number) != cursor.block_hash
        transfers = self._transfers(window_start, to_block)
        if to_hash is None or self._block_hash(to_block) != to_hash:
            return IndexerStep(window_start, applied_to, 0, False, head)  # a reorg while reading: retry

        with self.sessions() as session:
            stored = self._stored_in(session, window_start, to_block)
            below = self._last_stored_below(session, window_start)
        fresh = {transfer.key: transfer.block_hash for transfer in transfers}
        reorg = (
            cursor_replaced
            or any(fresh.get(key) != block_hash for key, block_hash in stored.items())
            or any(t.key not in stored for t in transfers if t.block_number <= applied_to)
        )
        if reorg and below is not None and self._block_hash(below.block_number) != below.block_hash:
            raise ReorgTooDeep(self.name, below.block_number, self.reorg_depth)

        with self.sessions.begin() as session:
            if self._cursor(session, lock=True) != cursor:
                return IndexerStep(window_start, applied_to, 0, False, head)  # another indexer moved it
            if reorg:
                touched = self._delete_from(session, window_start)
                new = transfers
            else:
                touched, new = set(), self._not_yet_stored(session, transfers)
            touched |= {(transfer.contract, transfer.token_id) for transfer in new}
            session.add_all(self._row(transfer) for transfer in new)
            session.flush()
            self._rebuild_owners(session, touched)
            self._save_cursor(session, to_block, to_hash)
        return IndexerStep(window_start, to_block, len(new), reorg, head)

    def catch_up(self, max_steps: int = 1_000) -> list[IndexerStep]:
        """Step until the cursor reaches the head seen by the last step (or `max_steps`)."""
        return _catch_up(self.step, max_steps)

    # ── writes (inside the step's transaction) ──────────────────────────────

    def _row(self, transfer: _Transfer) -> TokenTransferRow:
        return TokenTransferRow(
            chain_id=self.chain_id,
            contract=transfer.contract,
            token_id=transfer.token_id,
            from_address=transfer.from_address,
            to_address=transfer.to_address,
            block_number=transfer.block_number,
            block_hash=transfer.block_hash,
            tx_hash=transfer.tx_hash,
            log_index=transfer.log_index,
        )

    def _delete_from(self, session: Session, from_block: int) -> set[tuple[str, int]]:
        """Delete the stored transfers at or above `from_block`; return the tokens they touched."""
        where = (
            TokenTransferRow.chain_id == self.chain_id,
            TokenTransferRow.contract.in_(self.contracts),
            TokenTransferRow.block_number >= from_block,
        )
        touched = {
            (c, int(t))
            for c, t in session.execute(select(TokenTransferRow.contract, TokenTransferRow.token_id).where(*where))
        }
        session.execute(delete(TokenTransferRow).where(*where))
        return touched

    def _not_yet_stored(self, session: Session, transfers: Sequence[_Transfer]) -> list[_Transfer]:
        """The transfers whose (tx hash, log index) has no row yet: re-applying never duplicates."""
        existing: set[tuple[str, int]] = set()
        hashes = sorted({transfer.tx_hash for transfer in transfers})
        for chunk in _chunks(hashes):
            rows = session.execute(
                select(TokenTransferRow.tx_hash, TokenTransferRow.log_index).where(
                    TokenTransferRow.chain_id == self.chain_id, TokenTransferRow.tx_hash.in_(chunk)
                )
            )
            existing |= {(tx_hash, int(log_index)) for tx_hash, log_index in rows}
        return [transfer for transfer in transfers if transfer.key not in existing]

    def _rebuild_owners(self, session: Session, tokens: set[tuple[str, int]]) -> None:
        """Set each token's owner to the recipient of its latest stored transfer (none: no row).

        Rebuilt from the table rather than patched, so the same code serves new blocks and reorgs.
        """
        by_contract: dict[str, list[int]] = {}
        for contract, token_id in tokens:
            by_contract.setdefault(contract, []).append(token_id)
        for contract, token_ids in by_contract.items():
            for chunk in _chunks(sorted(token_ids)):
                latest: dict[int, tuple[str, int]] = {}
                rows = session.execute(
                    select(TokenTransferRow.token_id, TokenTransferRow.to_address, TokenTransferRow.block_number)
                    .where(
                        TokenTransferRow.chain_id == self.chain_id,
                        TokenTransferRow.contract == contract,
                        TokenTransferRow.token_id.in_(chunk),
                    )
                    .order_by(TokenTransferRow.block_number, TokenTransferRow.log_index)
                )
                for token_id, to_address, block_number in rows:
                    latest[int(token_id)] = (to_address, int(block_number))
                for token_id in chunk:
                    self._set_owner(session, contract, token_id, latest.get(token_id))

    def _set_owner(self, session: Session, contract: str, token_id: int, latest: tuple[str, int] | None) -> None:
        row = session.get(TokenOwnerRow, (self.chain_id, contract, token_id))
        if latest is None or latest[0] == ZERO_ADDRESS:  # never issued on this chain, or burnt
            if row is not None:
                session.delete(row)
            return
        owner, block_number = latest
        if row is None:
            session.add(
                TokenOwnerRow(
                    chain_id=self.chain_id, contract=contract, token_id=token_id, owner=owner, block_number=block_number
                )
            )
        else:
            row.owner, row.block_number = owner, block_number

    def _save_cursor(self, session: Session, block_number: int, block_hash: str) -> None:
        row = session.get(IndexerCursorRow, self.name)
        if row is None:
            session.add(IndexerCursorRow(name=self.name, block_number=block_number, block_hash=block_hash))
        else:
            row.block_number, row.block_hash = block_number, block_hash


class Steps(Protocol):
    """Anything the indexer loop can step: an `Indexer` or an `IndexerSet`."""

    def step(self) -> IndexerStep: ...

    def catch_up(self, max_steps: int = 1_000) -> list[IndexerStep]: ...


@dataclass(frozen=True)
class Followed:
    """Contracts followed under one cursor `name`, from `start_block` (their deployment)."""

    name: str
    contracts: tuple[str, ...]
    start_block: int


class IndexerSet:
    """One `Indexer` per group that `groups()` names, re-asked every step (module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        abi: ABI | list[dict[str, Any]],
        groups: Callable[[], Sequence[Followed]],
        **options: Any,
    ) -> None:
        self.sessions = sessions
        self.w3 = w3
        self.abi = abi
        self.groups = groups
        self.options = options
        self._indexers: dict[str, tuple[Followed, Indexer]] = {}

    def indexers(self) -> list[Indexer]:
        """The current groups' indexers (built once per group; rebuilt if a group changes)."""
        current = []
        for group in self.groups():
            known = self._indexers.get(group.name)
            if known is None or known[0] != group:
                indexer = Indexer(
                    self.sessions,
                    self.w3,
                    group.contracts,
                    self.abi,
                    name=group.name,
                    start_block=group.start_block,
                    **self.options,
                )
                known = (group, indexer)
                self._indexers[group.name] = known
            current.append(known[1])
        return current

    def step(self) -> IndexerStep:
        """Step every group; one group's failure does not hold the others back (it is raised
        after they ran). Caught up when every group is."""
        steps: list[IndexerStep] = []
        failure: Exception | None = None
        for indexer in self.indexers():
            try:
                steps.append(indexer.step())
            except Exception as exc:  # raised below, once the other groups had their turn
                log.warning("indexer %s failed: %s", indexer.name, exc)
                failure = failure or exc
        if failure is not None:
            raise failure
        if not steps:
            head = int(self.w3.eth.block_number)
            return IndexerStep(head, head, 0, False, head)
        return IndexerStep(
            from_block=min(step.from_block for step in steps),
            to_block=min(step.to_block for step in steps),
            transfers=sum(step.transfers for step in steps),
            reorg=any(step.reorg for step in steps),
            head=min(step.head for step in steps),
        )

    def catch_up(self, max_steps: int = 1_000) -> list[IndexerStep]:
        return _catch_up(self.step, max_steps)


# ── queries ─────────────────────────────────────────────────────────────────


def owner_of(session: Session, chain_id: int, contract: str, token_id: int) -> str | None:
    """The holder of `token_id` as far as the indexer has seen, or None if not issued (yet)."""
    row = session.get(TokenOwnerRow, (chain_id, Web3.to_checksum_address(contract), token_id))
    return None if row is None else row.owner


def tokens_of(session: Session, chain_id: int, contract: str, owner: str) -> list[int]:
    """The ids `owner` holds in `contract`, ascending, as far as the indexer has seen."""
    rows = session.scalars(
        select(TokenOwnerRow.token_id)
        .where(
            TokenOwnerRow.chain_id == chain_id,
            TokenOwnerRow.contract == Web3.to_checksum_address(contract),
            TokenOwnerRow.owner == Web3.to_checksum_address(owner),
        )
        .order_by(TokenOwnerRow.token_id)
    )
    return [int(token_id) for token_id in rows]


def purchases(
    w3: Web3, contract: str, abi: ABI | list[dict[str, Any]], from_block: int, to_block: BlockIdentifier = "latest"
) -> list[Purchase]:
    """The `CardPurchased` logs of `contract` in a block range, read from the node.

    Not stored: the purchase's card is already a Transfer from the zero address in
    `token_transfers`; these are the sale details (order ref, price) to reconcile orders with.
    """
    event = w3.eth.contract(abi=abi).events.CardPurchased()
    params: FilterParams = {
        "address": Web3.to_checksum_address(contract),
        "topics": [event.topic],
        "fromBlock": from_block,
        "toBlock": to_block,
    }
    found = []
    for log in w3.eth.get_logs(params):
        args = event.process_log(log)["args"]
        found.append(
            Purchase(
                buyer=Web3.to_checksum_address(args["buyer"]),
                token_id=int(args["tokenId"]),
                series_id=int(args["seriesId"]),
                order_ref=_hex(args["orderRef"]),
                price=int(args["price"]),
                block_number=int(log["blockNumber"]),
                tx_hash=_hex(log["transactionHash"]),
                log_index=int(log["logIndex"]),
            )
        )
    return found
