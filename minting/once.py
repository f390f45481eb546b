"""The exactly-once sender: one transaction per purpose string, crash-safe at any instant.

Administrative transactions — deploying a town's contracts, pointing their metadata at the
backend, adding a drop's series — must happen once even if the process dies halfway and
the command is run again. `OnceSender.send(purpose, tx)`:

1. `purpose` already mined → its stored receipt, at once (nothing is sent).
2. Not stored → fill chain id, fees and gas; in ONE database transaction take the nonce
   from the signer's `signer_nonces` row (`minting.nonces`, the mint sender's row lock),
   sign, store the call, the raw bytes and the hash; commit. Only then broadcast.
3. Stored (now, or by a run that died: `resume`, `resume_unfinished`) → wait for a receipt
   of any hash ever stored for it:
   - the node does not know the last attempt → broadcast the *stored* bytes again;
   - "nonce too low" and no receipt of ours, with the chain past every nonce we used → the
     nonce went to another transaction, so ours can never mine: re-sign the same call at a
     fresh nonce, store, commit, broadcast (every hash is kept; whichever mines counts);
   - "underpriced" (the base fee rose past our cap while we were away) → re-sign the same
     nonce with fees ≥ 10 % higher (only one of the two can mine).
   A re-signing first bumps `attempt_count` from the value it read, so two processes
   resuming the same purpose never both re-sign.
4. Receipt → stored with its logs (`find(purpose)` answers without the node) and returned.
   A reverted receipt comes back with `status == 0`: the nonce is spent and the caller
   decides; it is never sent again under the same purpose.

Two failpoints cover the windows: `once_after_store` (stored, not broadcast) and
`once_after_broadcast` (broadcast, receipt not read). `tests/minting/test_once_crash.py`
SIGKILLs a process at each on anvil and checks one transaction on chain per purpose.

Not done here: confirmation depth and reorgs (a deployment counts once mined; anvil and
PoS finality make a reorged deployment a concern for a later issue), and fee bumps of a
transaction merely slow to mine (fees are 2 × base fee + tip, ample for admin calls).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.abi import get_abi_input_types
from hexbytes import HexBytes
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractEvent
from web3.datastructures import AttributeDict
from web3.exceptions import TransactionNotFound
from web3.types import EventData

from minting import failpoints
from minting.compiler import Artifact
from minting.errors import TransactionFailed
from minting.node_errors import NodeRefusal, broadcast
from minting.nonces import allocate_nonce
from minting.sender import MIN_BUMP_PERCENT, raised
from minting.store import OnceAttemptRow, OnceTxRow
from minting.transactions import GAS_HEADROOM, RECEIPT_POLL_SECONDS, RECEIPT_TIMEOUT_SECONDS, market_fees

log = logging.getLogger("furusato.minting.once")

#: How often a stored attempt the node may have lost is looked up (and sent again).
RECHECK_SECONDS = 2.0
MAX_PURPOSE_LENGTH = 200


class OnceSendFailed(TransactionFailed):
    """The transaction is stored but could not be sent now (no funds for gas, a node that
    refuses it, no receipt in time). Calling `send` again with the same purpose resumes it."""


@dataclass(frozen=True)
class OnceReceipt:
    """The receipt of a purpose's transaction, as stored when it was mined."""

    purpose: str
    tx_hash: str
    block_number: int
    #: 1 success, 0 reverted (the caller decides what a revert means).
    status: int
    #: The new contract's checksummed address, for a deployment; else None.
    contract_address: str | None
    #: The receipt's logs, shaped like web3's (HexBytes topics and data), for `events`.
    logs: tuple[AttributeDict[str, Any], ...]

    @property
    def ok(self) -> bool:
        return self.status == 1

    def events(self, event: ContractEvent, address: str | None = None) -> list[EventData]:
        """The logs that are `event` (of contract `address`, if given), decoded."""
        topic = HexBytes(event.topic)
        wanted = Web3.to_checksum_address(address) if address else None
        decoded = []
        for entry in self.logs:
            if entry["topics"] and HexBytes(entry["topics"][0]) == topic and wanted in (None, entry["address"]):
                decoded.append(event.process_log(entry))
        return decoded


def deploy_tx(w3: Web3, artifact: Artifact, *constructor_args: Any, gas: int | None = None) -> dict[str, Any]:
    """The transaction that deploys `artifact` with `constructor_args` (no `to`), for `send`."""
    constructor = next((item for item in artifact.abi if item.get("type") == "constructor"), None)
    types = get_abi_input_types(constructor) if constructor is not None else []  # type: ignore[arg-type]
    data = bytes(HexBytes(artifact.bytecode)) + w3.codec.encode(types, list(constructor_args))
    return {"data": data, "value": 0, **({"gas": gas} if gas is not None else {})}


def call_tx(contract: Contract, function: str, *args: Any, gas: int | None = None, value: int = 0) -> dict[str, Any]:
    """The transaction that calls `function(*args)` on `contract`, for `send`."""
    data = bytes(HexBytes(contract.encode_abi(function, args=list(args))))
    return {"to": contract.address, "data": data, "value": value, **({"gas": gas} if gas is not None else {})}


def _logs_to_json(logs: Sequence[Any]) -> str:
    return json.dumps(
        [
            {
                "address": Web3.to_checksum_address(entry["address"]),
                "topics": [HexBytes(topic).to_0x_hex() for topic in entry["topics"]],
                "data": HexBytes(entry["data"]).to_0x_hex(),
                "logIndex": int(entry["logIndex"]),
                "transactionIndex": int(entry["transactionIndex"]),
                "transactionHash": HexBytes(entry["transactionHash"]).to_0x_hex(),
                "blockHash": HexBytes(entry["blockHash"]).to_0x_hex(),
                "blockNumber": int(entry["blockNumber"]),
            }
            for entry in logs
        ]
    )


def _logs_from_json(raw: str | None) -> tuple[AttributeDict[str, Any], ...]:
    entries = json.loads(raw or "[]")
    return tuple(
        AttributeDict(
            {
                **entry,
                "topics": [HexBytes(topic) for topic in entry["topics"]],
                "data": HexBytes(entry["data"]),
                "transactionHash": HexBytes(entry["transactionHash"]),
                "blockHash": HexBytes(entry["blockHash"]),
            }
        )
        for entry in entries
    )


def _receipt_of(row: OnceTxRow) -> OnceReceipt:
    assert row.tx_hash is not None
    assert row.block_number is not None
    assert row.receipt_status is not None
    return OnceReceipt(
        purpose=row.purpose,
        tx_hash=row.tx_hash,
        block_number=int(row.block_number),
        status=int(row.receipt_status),
        contract_address=row.contract_address,
        logs=_logs_from_json(row.logs_json),
    )


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class OnceSender:
    """Sends each purpose's transaction exactly once for `account` on `w3`'s chain."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        w3: Web3,
        account: LocalAccount,
        *,
        timeout: float = RECEIPT_TIMEOUT_SECONDS,
        poll_seconds: float = RECEIPT_POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.w3 = w3
        self.account = account
        self.chain_id = int(w3.eth.chain_id)
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self._clock = clock

    # ── public ──────────────────────────────────────────────────────────────

    def find(self, purpose: str) -> OnceReceipt | None:
        """The stored receipt of `purpose`, or None if it is not mined (or never sent)."""
        with self.sessions() as session:
            row = self._row(session, purpose)
            return _receipt_of(row) if row is not None and row.status == "mined" else None

    def send(self, purpose: str, tx: dict[str, Any]) -> OnceReceipt:
        """Send `tx` (`to`, `data`, `value`, `gas`; no `to` deploys) once for `purpose`, and
        return its receipt — the stored one if it was mined before (see module docstring).

        Raises `OnceSendFailed` when it cannot finish now; calling again resumes it.
        """
        if not purpose or len(purpose) > MAX_PURPOSE_LENGTH:
            raise ValueError(f"a purpose is 1 to {MAX_PURPOSE_LENGTH} characters")
        with self.sessions() as session:
            row = self._row(session, purpose)
            if row is not None and row.status == "mined":
                return _receipt_of(row)
            stored = row is not None
        if not stored:
            raw = self._sign_and_store(purpose, tx)
            if raw is not None:  # we stored it: only now may the bytes leave this process
                failpoints.hit("once_after_store")
                refusal = self._broadcast(raw)
                failpoints.hit("once_after_broadcast")
                if refusal is not None:
                    log.info("broadcast for %s refused (%s); settling it", purpose, refusal.value)
        return self._wait(purpose)

    # ── storing ─────────────────────────────────────────────────────────────

    def _row(self, session: Session, purpose: str) -> OnceTxRow | None:
        query = select(OnceTxRow).where(OnceTxRow.chain_id == self.chain_id, OnceTxRow.purpose == purpose)
        return session.scalar(query)

    def _attempts(self, session: Session, row_id: int) -> list[OnceAttemptRow]:
        query = select(OnceAttemptRow).where(OnceAttemptRow.once_tx_id == row_id).order_by(OnceAttemptRow.id)
        return list(session.scalars(query))

    def _call(self, tx: dict[str, Any]) -> tuple[str | None, bytes, int, int]:
        """(to, data, value, gas) of the caller's transaction; gas estimated when missing."""
        to = Web3.to_checksum_address(tx["to"]) if tx.get("to") else None
        data = bytes(HexBytes(tx.get("data", b"")))
        value = int(tx.get("value", 0))
        gas = tx.get("gas")
        if gas is None:
            estimate: dict[str, Any] = {"from": self.account.address, "data": data, "value": value}
            if to is not None:
                estimate["to"] = to
            gas = int(self.w3.eth.estimate_gas(estimate) * GAS_HEADROOM)  # type: ignore[arg-type]
        return to, data, value, int(gas)

    def _sign(self, row: OnceTxRow, nonce: int, fees: tuple[int, int]) -> Any:
        params: dict[str, Any] = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "value": int(row.value),
            "data": row.data,
            "gas": int(row.gas),
            "maxFeePerGas": fees[0],
            "maxPriorityFeePerGas": fees[1],
        }
        if row.to_address is not None:
            params["to"] = row.to_address
        return self.account.sign_transaction(params)

    def _add_attempt(self, session: Session, row: OnceTxRow, nonce: int, fees: tuple[int, int]) -> bytes:
        signed = self._sign(row, nonce, fees)
        session.add(
            OnceAttemptRow(
                once_tx_id=row.id,
                chain_id=self.chain_id,
                signer=self.account.address,
                nonce=nonce,
                tx_hash=signed.hash.to_0x_hex(),
                raw_tx=bytes(signed.raw_transaction),
                max_fee_per_gas=fees[0],
                max_priority_fee_per_gas=fees[1],
            )
        )
        return bytes(signed.raw_transaction)

    def _sign_and_store(self, purpose: str, tx: dict[str, Any]) -> bytes | None:
        """Nonce, signature and row in one transaction, committed; None if another process
        stored this purpose first (its attempt is then the one we wait for)."""
        to, data, value, gas = self._call(tx)  # chain reads before the row lock is taken
        fees = market_fees(self.w3)
        try:
            with self.sessions.begin() as session:
                nonce = allocate_nonce(session, self.w3, self.chain_id, self.account.address)
                row = OnceTxRow(
                    chain_id=self.chain_id,
                    purpose=purpose,
                    signer=self.account.address,
                    to_address=to,
                    data=data,
                    value=str(value),
                    gas=gas,
                    attempt_count=1,
                    status="sent",
                )
                session.add(row)
                session.flush()
                return self._add_attempt(session, row, nonce, fees)
        except IntegrityError:
            return None  # rolled back, nonce included

    def _resign(self, purpose: str, seen_attempts: int, *, same_nonce: int | None) -> bytes | None:
        """A new attempt of the stored call: at a fresh nonce, or (`same_nonce`) a fee bump.
        None if another process re-signed first (the count moved on)."""
        fees = market_fees(self.w3)
        chain_next = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        with self.sessions.begin() as session:
            row = self._row(session, purpose)
            assert row is not None
            claimed = session.execute(
                update(OnceTxRow)
                .where(OnceTxRow.id == row.id, OnceTxRow.attempt_count == seen_attempts, OnceTxRow.status == "sent")
                .values(attempt_count=seen_attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            if same_nonce is None:
                nonce = allocate_nonce(session, self.w3, self.chain_id, self.account.address, at_least=chain_next)
            else:
                nonce = same_nonce
                last = self._attempts(session, row.id)[-1]
                fees = (
                    max(fees[0], raised(last.max_fee_per_gas, MIN_BUMP_PERCENT)),
                    max(fees[1], raised(last.max_priority_fee_per_gas, MIN_BUMP_PERCENT)),
                )
            return self._add_attempt(session, row, nonce, fees)

    # ── the node ────────────────────────────────────────────────────────────

    def _broadcast(self, raw: bytes) -> NodeRefusal | None:
        """Send stored bytes; None when the node took them (or already had them)."""
        return broadcast(self.w3, raw, log)

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _known_to_node(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return True

    # ── waiting ─────────────────────────────────────────────────────────────

    def _record(self, purpose: str, receipt: Any) -> OnceReceipt:
        address = receipt.get("contractAddress")
        with self.sessions.begin() as session:
            row = self._row(session, purpose)
            assert row is not None
            if row.status != "mined":
                row.status = "mined"
                row.tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
                row.block_number = int(receipt["blockNumber"])
                row.receipt_status = int(receipt["status"])
                row.contract_address = Web3.to_checksum_address(address) if address else None
                row.logs_json = _logs_to_json(receipt["logs"])
                row.mined_at = datetime.now(UTC)
            return _receipt_of(row)

    def _check(self, purpose: str, *, ask_node: bool) -> tuple[OnceReceipt | None, str]:
        """One look: a receipt of any stored attempt (recorded and returned), else — when
        `ask_node` — what the node says of the last attempt, settled (module docstring)."""
        with self.sessions() as session:
            row = self._row(session, purpose)
            if row is None:
                raise KeyError(f"purpose {purpose!r} is not stored")
            if row.status == "mined":
                return _receipt_of(row), "mined"
            attempts = self._attempts(session, row.id)
            seen = int(row.attempt_count)
        for attempt in attempts:
            receipt = self._receipt(attempt.tx_hash)
            if receipt is not None:
                return self._record(purpose, receipt), "mined"
        if ask_node and not self._known_to_node(attempts[-1].tx_hash):
            return None, self._settle_unknown(purpose, attempts, seen)
        return None, "no receipt yet"

    def _wait(self, purpose: str) -> OnceReceipt:
        """Poll for a receipt of any stored attempt; settle what the node says (module docstring)."""
        deadline = self._clock() + self.timeout
        next_check = self._clock()  # a resumed purpose is looked up on the node at once
        waiting_reason = "no receipt yet"
        while True:
            now = self._clock()
            ask_node = now >= next_check
            if ask_node:
                next_check = now + RECHECK_SECONDS
            receipt, reason = self._check(purpose, ask_node=ask_node)
            if receipt is not None:
                return receipt
            if ask_node:
                waiting_reason = reason
            if self._clock() >= deadline:
                raise OnceSendFailed(f"{purpose}: not mined within {self.timeout:.0f} s ({waiting_reason}); send again")
            time.sleep(self.poll_seconds)

    # ── unfinished purposes ─────────────────────────────────────────────────

    def unfinished(self, prefix: str = "", *, older_than: float = 0.0) -> list[str]:
        """Purposes of this signer stored but not mined (oldest first), optionally only those
        starting with `prefix` and stored at least `older_than` seconds ago."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        with self.sessions() as session:
            rows = session.execute(
                select(OnceTxRow.purpose, OnceTxRow.created_at)
                .where(
                    OnceTxRow.chain_id == self.chain_id,
                    OnceTxRow.signer == self.account.address,
                    OnceTxRow.status == "sent",
                    OnceTxRow.purpose.startswith(prefix, autoescape=True),
                )
                .order_by(OnceTxRow.id)
            ).all()
        return [purpose for purpose, created in rows if _aware(created) <= cutoff]

    def resume(self, purpose: str) -> OnceReceipt:
        """Finish a stored purpose (its call as stored) and return its receipt; `KeyError`
        if it was never stored."""
        with self.sessions() as session:
            if self._row(session, purpose) is None:
                raise KeyError(f"purpose {purpose!r} is not stored")
        return self._wait(purpose)

    def resume_unfinished(self, *, older_than: float = 5.0) -> int:
        """One look at every unfinished purpose of this signer, without waiting: record what
        mined, send again what the node lost. Returns how many are still unfinished.

        Why it runs in the background (`furusato run`'s worker): a purpose stored and then
        abandoned (its process died, nobody ran the command again) holds a nonce; until that
        nonce is used, every later transaction of the key, mints included, waits behind it."""
        left = 0
        for purpose in self.unfinished(older_than=older_than):
            try:
                receipt, _reason = self._check(purpose, ask_node=True)
            except OnceSendFailed as exc:
                log.warning("%s", exc)
                receipt = None
            if receipt is None:
                left += 1
        return left

    def _settle_unknown(self, purpose: str, attempts: Sequence[OnceAttemptRow], seen: int) -> str:
        """The node does not hold our last attempt: send its bytes again, and deal with a
        nonce that went elsewhere or fees that no longer do. Returns why we still wait."""
        last = attempts[-1]
        refusal = self._broadcast(last.raw_tx)
        if refusal is None:
            return "sent again"
        if refusal is NodeRefusal.UNREACHABLE:
            return "node unreachable"
        if refusal is NodeRefusal.INSUFFICIENT_FUNDS:
            raise OnceSendFailed(f"{purpose}: signer {self.account.address} has too little ETH for gas")
        if refusal is NodeRefusal.NONCE_TOO_LOW:
            if any(self._receipt(attempt.tx_hash) is not None for attempt in attempts):
                return "mined"  # the next round records it
            mined_nonce = int(self.w3.eth.get_transaction_count(self.account.address, "latest"))
            if mined_nonce <= max(attempt.nonce for attempt in attempts):
                return "nonce not settled yet"  # the chain has not passed all our nonces: wait
            log.info("%s: nonce %s went to another transaction; signing again at a fresh nonce", purpose, last.nonce)
            raw = self._resign(purpose, seen, same_nonce=None)
        elif refusal is NodeRefusal.UNDERPRICED:
            log.info("%s: fees of nonce %s no longer enough; signing a replacement", purpose, last.nonce)
            raw = self._resign(purpose, seen, same_nonce=last.nonce)
        else:
            raise OnceSendFailed(f"{purpose}: the node refused the transaction ({refusal.value})")
        if raw is not None:
            self._broadcast(raw)
        return "signed again"
