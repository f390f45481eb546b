"""The mint sender: queued jobs → batched `mintBatch` transactions, exactly once.

One `MintSender` sends for one signer key on one chain (the worker holding that key's
lease). Each `step()` runs three stages, in this order:

1. **track** — every transaction not yet mined: look for a receipt of any hash ever sent
   for it; none and the node does not know it → broadcast the *stored* bytes again; pending
   longer than `bump_after_seconds` → re-sign the same nonce with fees ≥ 10 % higher, store,
   broadcast (every hash is kept; whichever mines is recorded). "Nonce too low" is settled
   from the chain: a receipt of ours means mined; otherwise the nonce went to another
   transaction, and each job is checked with `ownerOf` — minted → done, not → queued again.
2. **confirm** — a mined transaction at least `confirmations` blocks deep whose receipt is
   still in the same block is confirmed with its jobs; one that a reorg removed is tracked
   again.
3. **send** — while fewer than `max_in_flight` transactions are pending: claim up to
   `batch_size` queued jobs of one contract, allocate the next nonce under a row lock, sign,
   and store the raw bytes and hash *in the same database transaction*; only after that
   commit are the bytes broadcast. A crash at any instant therefore leaves either nothing
   (rolled back) or stored bytes that stage 1 rebroadcasts — never a second signature for
   jobs already signed, never a nonce used twice.

The contract skips ids that exist, so even a replay after the worst crash mints nothing twice.

A worker broadcasts from a second thread (`start_broadcaster`), in the order batches were
stored: while the node executes one batch, the next is claimed, signed and stored. Nothing
changes for safety — a batch is broadcast only after its commit, and one still in the queue
when the process dies is stored, so stage 1 rebroadcasts it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract

from minting import failpoints
from minting.node_errors import NodeRefusal, broadcast
from minting.nonces import allocate_nonce
from minting.resident_card import mint_batch_gas, series_jumps
from minting.reverts import translate
from minting.store import ChainTxRow, MintJobRow, TxAttemptRow
from minting.transactions import market_fees

log = logging.getLogger("furusato.minting.sender")

#: Re-sent fees are at least this many percent of the last attempt's (nodes demand ≥ 110).
MIN_BUMP_PERCENT = 110
#: topic0 of ERC-721 `Transfer(address,address,uint256)`.
TRANSFER_TOPIC = Web3.keccak(text="Transfer(address,address,uint256)").to_0x_hex()


MINT_BATCH_SELECTOR = function_signature_to_4byte_selector("mintBatch(address[],uint256[])")


def encode_mint_batch(recipients: Sequence[str], ids: Sequence[int]) -> bytes:
    """Calldata of `mintBatch(address[] to, uint256[] ids)`, written out directly.

    The layout is fixed (two dynamic arrays of 32-byte words), and this is the hot path:
    web3's contract encoder takes ~120 ms and eth-abi ~8 ms for 100 cards, this ~0.2 ms.
    `tests/minting/test_sender.py` checks it byte for byte against eth-abi.
    """
    count = len(ids)
    if len(recipients) != count:
        raise ValueError("recipients and ids differ in length")
    word = 32
    head = (2 * word).to_bytes(word, "big") + ((3 + count) * word).to_bytes(word, "big")
    addresses = b"".join(bytes(12) + bytes.fromhex(address[2:]) for address in recipients)
    numbers = b"".join(token_id.to_bytes(word, "big") for token_id in ids)
    length = count.to_bytes(word, "big")
    return MINT_BATCH_SELECTOR + head + length + addresses + length + numbers


@dataclass(frozen=True)
class Receipt:
    """The four fields of a receipt the sender needs."""

    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    gas_used: int
    #: Token ids this transaction created (its Transfer events from the zero address).
    minted_ids: frozenset[int] = frozenset()

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> Receipt:
        """From a raw JSON-RPC receipt: hex quantities and camelCase keys (any node), or
        ints and snake_case keys (web3's in-process eth-tester provider)."""

        def field(camel: str, snake: str) -> Any:
            return raw[camel] if camel in raw else raw[snake]

        def quantity(value: Any) -> int:
            return int(value, 16) if isinstance(value, str) else int(value)

        return cls(
            tx_hash=field("transactionHash", "transaction_hash"),
            status=quantity(raw["status"]),
            block_number=quantity(field("blockNumber", "block_number")),
            block_hash=field("blockHash", "block_hash"),
            gas_used=quantity(field("gasUsed", "gas_used")),
            minted_ids=frozenset(
                int(log["topics"][3], 16)
                for log in raw.get("logs", ())
                if len(log["topics"]) == 4 and log["topics"][0] == TRANSFER_TOPIC and int(log["topics"][1], 16) == 0
            ),
        )


@dataclass(frozen=True)
class SenderConfig:
    """How the sender batches, paces and confirms."""

    batch_size: int = 100
    #: A batch leaves when `batch_size` jobs wait, or when the oldest has waited this long.
    batch_wait_seconds: float = 0.05
    max_in_flight: int = 16
    confirmations: int = 0
    bump_after_seconds: float = 30.0
    bump_percent: int = 125
    rebroadcast_after_seconds: float = 5.0
    #: Ceiling on maxFeePerGas in wei (None: none). Bumps stop there: a fee spike then makes
    #: the batch wait, visibly, instead of paying without limit.
    max_fee_per_gas: int | None = None

    def __post_init__(self) -> None:
        if self.bump_percent < MIN_BUMP_PERCENT:
            raise ValueError(f"bump_percent must be at least {MIN_BUMP_PERCENT}")


@dataclass
class StepResult:
    """What one `step()` did, for progress lines and tests."""

    sent_txs: int = 0
    sent_jobs: int = 0
    mined_txs: int = 0
    confirmed_jobs: int = 0
    requeued_jobs: int = 0
    rebroadcasts: int = 0
    bumps: int = 0
    waiting_reason: str | None = None

    @property
    def busy(self) -> bool:
        return bool(self.sent_txs or self.mined_txs or self.confirmed_jobs or self.requeued_jobs or self.bumps)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class MintSender:
    """Sends `mintBatch` transactions for one signer; see the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        account: LocalAccount,
        card_abi: Sequence[Any],
        config: SenderConfig | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.sessions = sessions
        self.w3 = w3
        self.account = account
        self.config = config or SenderConfig()
        self.chain_id = int(w3.eth.chain_id)
        self._card_abi = list(card_abi)
        self._contracts: dict[str, Contract] = {}
        self._paused: set[str] = set()
        self._clock = clock
        self._outbox: queue.Queue[tuple[int, bytes] | None] | None = None
        self._broadcaster: threading.Thread | None = None

    # ── broadcasting from a second thread ────────────────────────────────────

    def start_broadcaster(self) -> None:
        """Broadcast stored batches from a thread of their own, in order (see module docstring)."""
        if self._broadcaster is None:
            self._outbox = queue.Queue()
            self._broadcaster = threading.Thread(target=self._broadcast_loop, name="mint-broadcaster", daemon=True)
            self._broadcaster.start()

    def stop_broadcaster(self, timeout: float = 30.0) -> None:
        """Send what is queued, then stop the thread (what is left is stored and rebroadcast)."""
        if self._broadcaster is not None and self._outbox is not None:
            self._outbox.put(None)
            self._broadcaster.join(timeout)
        self._broadcaster, self._outbox = None, None

    def _broadcast_loop(self) -> None:
        outbox = self._outbox
        assert outbox is not None
        while (item := outbox.get()) is not None:
            self._broadcast_stored(*item)

    def _broadcast_stored(self, tx_id: int, raw: bytes) -> None:
        refusal = self._broadcast(raw)
        failpoints.hit("after_broadcast")
        if refusal is not None:
            log.info("broadcast of chain_tx %s refused (%s); tracking will settle it", tx_id, refusal.value)

    # ── helpers ──────────────────────────────────────────────────────────────

    def _card(self, address: str) -> Contract:
        if address not in self._contracts:
            self._contracts[address] = self.w3.eth.contract(
                address=Web3.to_checksum_address(address), abi=self._card_abi
            )
        return self._contracts[address]

    def _fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) for a new transaction."""
        return self._capped(*market_fees(self.w3))

    def _capped(self, fee: int, tip: int) -> tuple[int, int]:
        """(fee, tip) within `max_fee_per_gas`; the tip never above the fee."""
        if self.config.max_fee_per_gas is not None:
            fee = min(fee, self.config.max_fee_per_gas)
        return fee, min(tip, fee)

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call. The hot path skips web3's result formatters, which cost ~90 ms
        for a receipt of 100 Transfer logs; we read four fields of it."""
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def _receipt(self, tx_hash: str) -> Receipt | None:
        raw = self._rpc("eth_getTransactionReceipt", [tx_hash])
        if raw is None:
            return None
        return Receipt.from_rpc(raw)

    def _known_to_node(self, tx_hash: str) -> bool:
        return self._rpc("eth_getTransactionByHash", [tx_hash]) is not None

    def _broadcast(self, raw: bytes) -> NodeRefusal | None:
        """Send stored bytes; None when the node took them (or already had them)."""
        return broadcast(self.w3, raw, log)

    def _allocate_nonce(self, session: Session) -> int:
        """acquire: the next nonce of this signer, under the `signer_nonces` row lock that every
        sender of the key shares (`minting.nonces`: the exactly-once sender takes its nonces there too)."""
        return allocate_nonce(session, self.w3, self.chain_id, self.account.address)

    def _sign(self, contract: str, recipients: list[str], ids: list[int], nonce: int, fees: tuple[int, int]) -> Any:
        """Sign `mintBatch(recipients, ids)`, with calldata from `encode_mint_batch`."""
        data = encode_mint_batch(recipients, ids)
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": Web3.to_checksum_address(contract),
            "value": 0,
            "data": data,
            "gas": mint_batch_gas(len(ids), series_jumps(ids)),
            "maxFeePerGas": fees[0],
            "maxPriorityFeePerGas": fees[1],
        }
        return self.account.sign_transaction(tx)

    # ── stage 3: send ────────────────────────────────────────────────────────

    def _in_flight(self, session: Session) -> int:
        return len(
            session.scalars(
                select(ChainTxRow.id).where(
                    ChainTxRow.chain_id == self.chain_id,
                    ChainTxRow.signer == self.account.address,
                    ChainTxRow.status == "sent",
                )
            ).all()
        )

    def send_batch(self, fees: tuple[int, int] | None = None) -> tuple[int, int] | None:
        """Claim, sign, store, commit, then broadcast one batch; (chain_tx id, jobs) or None."""
        fees = fees or self._fees()
        with self.sessions.begin() as session:
            oldest = session.scalar(
                select(MintJobRow.contract)
                .where(MintJobRow.status == "queued", MintJobRow.chain_id == self.chain_id)
                .order_by(MintJobRow.id)
                .limit(1)
            )
            if oldest is None:
                return None
            jobs = session.execute(
                select(MintJobRow.id, MintJobRow.recipient, MintJobRow.token_id, MintJobRow.created_at)
                .where(
                    MintJobRow.status == "queued",
                    MintJobRow.chain_id == self.chain_id,
                    MintJobRow.contract == oldest,
                )
                .order_by(MintJobRow.id)
                .limit(self.config.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not jobs:
                return None
            oldest_wait = (self._clock() - (_aware(jobs[0].created_at) or self._clock())).total_seconds()
            if len(jobs) < self.config.batch_size and oldest_wait < self.config.batch_wait_seconds:
                return None  # a fuller batch is likely in a moment
            # By token id: `mintBatch` looks a series up only when an id leaves the current one.
            jobs = sorted(jobs, key=lambda job: job.token_id)
            failpoints.hit("before_sign")
            nonce = self._allocate_nonce(session)
            signed = self._sign(oldest, [job.recipient for job in jobs], [job.token_id for job in jobs], nonce, fees)
            # Stamped now, broadcast right after commit: after a crash in between, tracking
            # finds the node without it and rebroadcasts once `rebroadcast_after_seconds` pass.
            tx = ChainTxRow(
                chain_id=self.chain_id,
                signer=self.account.address,
                nonce=nonce,
                status="sent",
                last_broadcast_at=self._clock(),
            )
            session.add(tx)
            session.flush()
            session.add(
                TxAttemptRow(
                    chain_tx_id=tx.id,
                    tx_hash=signed.hash.to_0x_hex(),
                    raw_tx=bytes(signed.raw_transaction),
                    max_fee_per_gas=fees[0],
                    max_priority_fee_per_gas=fees[1],
                )
            )
            # One statement for the whole batch (row-by-row ORM updates cost ~50 ms per 100).
            claimed = session.execute(
                update(MintJobRow)
                .where(MintJobRow.id.in_([job.id for job in jobs]), MintJobRow.status == "queued")
                .values(status="sent", chain_tx_id=tx.id, last_error=None)
                .execution_options(preserve_rowcount=True)
            )
            if claimed.rowcount != len(jobs):  # type: ignore[attr-defined]
                # Another worker claimed some first (SQLite reads outside the transaction, so
                # FOR UPDATE cannot stop it): store nothing, send nothing, try again next round.
                session.rollback()
                return None
            tx_id, count, raw = tx.id, len(jobs), bytes(signed.raw_transaction)
        # Stored and committed: only now may the bytes leave this process.
        failpoints.hit("after_store")
        if self._outbox is not None:
            self._outbox.put((tx_id, raw))
        else:
            self._broadcast_stored(tx_id, raw)
        return tx_id, count

    # ── stage 1: track ───────────────────────────────────────────────────────

    def _attempts(self, session: Session, tx_id: int) -> list[TxAttemptRow]:
        return list(
            session.scalars(select(TxAttemptRow).where(TxAttemptRow.chain_tx_id == tx_id).order_by(TxAttemptRow.id))
        )

    def _record_mined(self, session: Session, tx: ChainTxRow, receipt: Receipt, result: StepResult) -> None:
        tx.mined_hash = receipt.tx_hash
        tx.block_number = receipt.block_number
        tx.block_hash = receipt.block_hash
        tx.gas_used = receipt.gas_used
        if receipt.status == 1:
            tx.status = "mined"
            marked = session.execute(
                update(MintJobRow).where(MintJobRow.chain_tx_id == tx.id).values(status="mined", last_error=None)
            )
            result.mined_txs += 1
            if marked.rowcount == len(receipt.minted_ids):  # type: ignore[attr-defined]
                return  # every job's card was created by this transaction
            # An id the batch skipped existed already: done only if its owner is the job's
            # recipient (a replay of an earlier batch), never because someone else holds it.
            skipped = session.scalars(
                select(MintJobRow).where(
                    MintJobRow.chain_tx_id == tx.id, MintJobRow.token_id.not_in(receipt.minted_ids)
                )
            ).all()
            for job in skipped:
                owner = self._owner_of(job.contract, job.token_id)
                if owner is None or owner != Web3.to_checksum_address(job.recipient):
                    job.status = "failed"
                    job.last_error = f"token {job.token_id} is owned by {owner}, not by the job's recipient"
            return
        # Reverted: the nonce is spent. Replaying the call on the block before says why.
        # Paused → the jobs wait (queued again; no batch is sent while the contract is
        # paused). Anything else (an id outside every series, a revoked role) would revert
        # again: those jobs fail with the contract's error instead of burning gas forever.
        jobs = session.scalars(
            select(MintJobRow).where(MintJobRow.chain_tx_id == tx.id).order_by(MintJobRow.token_id)
        ).all()
        tx.status = "reverted"
        result.mined_txs += 1
        if not jobs:  # its jobs went to another transaction: nothing to diagnose
            return
        replay_at = receipt.block_number - 1
        error, description = self._revert_reason(jobs, replay_at)
        if error == "Unknown":
            # Fine at the block's start: something earlier in the same block changed the state
            # (a pause, a revoked role). The state after the block says what.
            replay_at = receipt.block_number
            error, description = self._revert_reason(jobs, replay_at)
        if error == "EnforcedPause":
            self._paused.add(jobs[0].contract)
            result.requeued_jobs += self._settle_from_contract(jobs, "waiting: the card contract is paused")
            return
        failing = self._jobs_that_revert_alone(jobs, replay_at) if len(jobs) > 1 else {}
        if not failing:  # no single job is to blame (or there is only one): the batch's error is theirs
            failing = {job.id: description for job in jobs}
        for job in jobs:
            if job.id in failing:
                job.status = "failed"
                job.last_error = f"mintBatch reverted: {failing[job.id]}"
        innocent = [job for job in jobs if job.id not in failing]
        result.requeued_jobs += self._settle_from_contract(innocent, "queued again: another job in its batch reverted")

    def _jobs_that_revert_alone(self, jobs: Sequence[MintJobRow], block_number: int) -> dict[int, str]:
        """{job id: error} of the jobs that revert when replayed one by one.

        One bad job (an id outside every series) must not fail the other buyers' cards that
        happened to share its batch; a rare path, so one call per job is affordable."""
        failing = {}
        for job in jobs:
            error, description = self._revert_reason([job], block_number)
            if error != "Unknown":
                failing[job.id] = description
        return failing

    def _revert_reason(self, jobs: Sequence[MintJobRow], block_number: int) -> tuple[str, str]:
        """(error name, error with arguments) a reverted batch raises when replayed."""
        function = self._card(jobs[0].contract).functions.mintBatch(
            [job.recipient for job in jobs], [job.token_id for job in jobs]
        )
        try:
            function.call({"from": self.account.address}, block_identifier=block_number)
        except Exception as exc:
            reverted = translate(self._card_abi, exc)
            if reverted is not None:
                return reverted.error, str(reverted).removeprefix("reverted with ")
            raise
        return "Unknown", "unknown (the replay succeeded)"

    def _settle_from_contract(self, jobs: Sequence[MintJobRow], reason: str) -> int:
        """Jobs whose token exists with their recipient are done; the others are queued again."""
        requeued = 0
        for job in jobs:
            owner = self._owner_of(job.contract, job.token_id)
            if owner is not None and owner == Web3.to_checksum_address(job.recipient):
                job.status = "confirmed"
            elif owner is not None:
                job.status = "failed"
                job.last_error = f"token {job.token_id} is owned by {owner}, not by the job's recipient"
            else:
                job.status = "queued"
                job.chain_tx_id = None
                job.last_error = reason
                requeued += 1
        return requeued

    def _owner_of(self, contract: str, token_id: int) -> str | None:
        """The token's holder, or None if it was never minted (decoded in `minting.reverts`)."""
        try:
            return str(self._card(contract).functions.ownerOf(token_id).call())
        except Exception as exc:
            reverted = translate(self._card_abi, exc)
            if reverted is not None and reverted.error == "ERC721NonexistentToken":
                return None
            raise

    def _bump(self, session: Session, tx: ChainTxRow, last: TxAttemptRow) -> bool:
        """reprice: the same nonce and call, fees raised by `bump_percent` (≥ 10 %), stored.
        False when the ceiling leaves no room for a 10 % raise (nodes refuse less)."""
        market_fee, market_tip = self._fees()
        percent = self.config.bump_percent
        fee, tip = self._capped(
            max(market_fee, raised(last.max_fee_per_gas, percent)),
            max(market_tip, raised(last.max_priority_fee_per_gas, percent)),
        )
        least_fee = raised(last.max_fee_per_gas, MIN_BUMP_PERCENT)
        if fee < least_fee or tip < raised(last.max_priority_fee_per_gas, MIN_BUMP_PERCENT):
            return False
        jobs = session.scalars(
            select(MintJobRow).where(MintJobRow.chain_tx_id == tx.id).order_by(MintJobRow.token_id)
        ).all()
        if not jobs:  # its jobs went to another transaction: nothing left to reprice
            return False
        signed = self._sign(
            jobs[0].contract, [job.recipient for job in jobs], [job.token_id for job in jobs], tx.nonce, (fee, tip)
        )
        session.add(
            TxAttemptRow(
                chain_tx_id=tx.id,
                tx_hash=signed.hash.to_0x_hex(),
                raw_tx=bytes(signed.raw_transaction),
                max_fee_per_gas=fee,
                max_priority_fee_per_gas=tip,
            )
        )
        return True

    def track(self, result: StepResult) -> None:
        """Stage 1 (module docstring): receipts, rebroadcasts, fee bumps, nonce-too-low."""
        with self.sessions.begin() as session:
            pending = session.scalars(
                select(ChainTxRow)
                .where(
                    ChainTxRow.chain_id == self.chain_id,
                    ChainTxRow.signer == self.account.address,
                    ChainTxRow.status == "sent",
                )
                .order_by(ChainTxRow.nonce)
            ).all()
            now = self._clock()
            for tx in pending:
                attempts = self._attempts(session, tx.id)
                receipt = next((r for a in attempts if (r := self._receipt(a.tx_hash)) is not None), None)
                if receipt is not None:
                    failpoints.hit("before_receipt")
                    self._record_mined(session, tx, receipt, result)
                    continue
                last = attempts[-1]
                age = now - (_aware(last.created_at) or now)
                broadcast_age = now - (_aware(tx.last_broadcast_at) or datetime.min.replace(tzinfo=UTC))
                raw: bytes | None = None
                if tx.last_broadcast_at is None or (
                    broadcast_age.total_seconds() >= self.config.rebroadcast_after_seconds
                    and age.total_seconds() < self.config.bump_after_seconds
                    and not self._known_to_node(last.tx_hash)
                ):
                    raw = last.raw_tx  # never sent (a bump stored last round), or lost by the node
                    result.rebroadcasts += 1
                elif age.total_seconds() >= self.config.bump_after_seconds:
                    # Stored now and sent next round, once committed: a hash we never
                    # recorded must never reach the node (it could mine untracked).
                    if self._bump(session, tx, last):
                        tx.last_broadcast_at = None
                        result.bumps += 1
                    else:
                        result.waiting_reason = (
                            f"nonce {tx.nonce} waits: fees are at the ceiling of {self.config.max_fee_per_gas} wei"
                        )
                    continue
                if raw is None:
                    continue
                refusal = self._broadcast(raw)
                tx.last_broadcast_at = now
                if refusal is NodeRefusal.NONCE_TOO_LOW:
                    self._settle_nonce_too_low(session, tx, attempts, result)
                elif refusal in (NodeRefusal.INSUFFICIENT_FUNDS, NodeRefusal.UNREACHABLE):
                    result.waiting_reason = (
                        f"minter {self.account.address} has too little ETH for gas"
                        if refusal is NodeRefusal.INSUFFICIENT_FUNDS
                        else "node unreachable"
                    )
                    # Visible on each job (and so to the order's API) until it is mined.
                    session.execute(
                        update(MintJobRow)
                        .where(MintJobRow.chain_tx_id == tx.id)
                        .values(last_error=f"waiting: {result.waiting_reason}")
                    )

    def _settle_nonce_too_low(
        self, session: Session, tx: ChainTxRow, attempts: Sequence[TxAttemptRow], result: StepResult
    ) -> None:
        """The nonce is used. Ours mined (a receipt exists) → record it; else another tx took
        it → drop ours and settle each job from the contract (minted → done, not → queued)."""
        receipt = next((r for a in attempts if (r := self._receipt(a.tx_hash)) is not None), None)
        if receipt is not None:
            self._record_mined(session, tx, receipt, result)
            return
        tx.status = "dropped"
        jobs = session.scalars(select(MintJobRow).where(MintJobRow.chain_tx_id == tx.id)).all()
        result.requeued_jobs += self._settle_from_contract(jobs, f"nonce {tx.nonce} was used by another transaction")

    # ── stage 2: confirm ─────────────────────────────────────────────────────

    def confirm(self, result: StepResult) -> None:
        """Stage 2: mined and deep enough → confirmed; receipt gone or moved (reorg) → sent again."""
        head = int(self.w3.eth.block_number)
        with self.sessions.begin() as session:
            mined = session.scalars(
                select(ChainTxRow).where(
                    ChainTxRow.chain_id == self.chain_id,
                    ChainTxRow.signer == self.account.address,
                    ChainTxRow.status == "mined",
                )
            ).all()
            for tx in mined:
                assert tx.block_number is not None
                assert tx.mined_hash is not None
                if head - tx.block_number < self.config.confirmations:
                    continue
                if self.config.confirmations > 0:
                    receipt = self._receipt(tx.mined_hash)
                    if receipt is None or receipt.block_hash != tx.block_hash:
                        tx.status, tx.mined_hash, tx.block_number, tx.block_hash = "sent", None, None, None
                        session.execute(update(MintJobRow).where(MintJobRow.chain_tx_id == tx.id).values(status="sent"))
                        continue
                tx.status = "confirmed"
                confirmed = session.execute(
                    update(MintJobRow)
                    .where(MintJobRow.chain_tx_id == tx.id, MintJobRow.status == "mined")
                    .values(status="confirmed")
                )
                result.confirmed_jobs += int(getattr(confirmed, "rowcount", 0) or 0)

    # ── one round ────────────────────────────────────────────────────────────

    def step(self) -> StepResult:
        """Track, confirm, then send while there is room (see the module docstring)."""
        result = StepResult()
        self.track(result)
        self.confirm(result)
        if result.waiting_reason is not None:
            return result
        with self.sessions() as session:
            room = self.config.max_in_flight - self._in_flight(session)
        for contract in list(self._paused):  # a paused contract gets no batch until unpaused
            if self._card(contract).functions.paused().call():
                result.waiting_reason = f"the card contract {contract} is paused"
                return result
            self._paused.discard(contract)
        fees = self._fees() if room > 0 else None  # one price for this round's batches
        for _ in range(max(room, 0)):
            sent = self.send_batch(fees)
            if sent is None:
                break
            result.sent_txs += 1
            result.sent_jobs += sent[1]
        return result

    def drain(self, timeout: float = 60.0, poll: float = 0.02) -> None:
        """Step until no job is queued, sent or mined (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step()
            with self.sessions() as session:
                open_jobs = session.scalar(
                    select(MintJobRow.id).where(MintJobRow.status.in_(("queued", "sent", "mined"))).limit(1)
                )
            if open_jobs is None:
                return
            time.sleep(poll)
        raise TimeoutError(f"mint jobs still open after {timeout} s")


def raised(value: int, percent: int) -> int:
    """`value` raised to `percent` %, rounded up (a node compares the exact 110 %)."""
    return -(-value * percent // 100)
