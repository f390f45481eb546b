"""`Idempotency-Key`: the same key with the same body gets the first answer again; with another
body, 409. The key is claimed first and its answer stored in the transaction that created the order
(encrypted: it holds the order token), so neither a retry after a lost response nor a
parallel copy of the request can create a second order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from backend.holders.custody import Vault
from backend.sales.models import IdempotencyRecord
from backend.sales.orders import aware

#: A record whose answer is still being prepared (e.g. a checkout being created).
IN_PROGRESS = 0
#: An answer still in progress after this long was abandoned (a crash, a lost connection):
#: a retry may finish it. Longer than any request takes (checkout: 2 tries of 10 s).
STALE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


class KeyReuse(Exception):
    """The key was used with another body, or its first request has not finished."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _aad(scope: str, key: str) -> bytes:
    return f"idempotency:{scope}:{key}".encode()


def lookup(session: Session, vault: Vault, scope: str, key: str, body_hash: str) -> Replay | None:
    """The stored answer for `key`, or None if the key is new; raises `KeyReuse`."""
    record = session.get(IdempotencyRecord, (scope, key))
    if record is None:
        return None
    if record.request_hash != body_hash:
        raise KeyReuse("idempotency_key_reused", "This Idempotency-Key was used with a different request body.")
    if record.status_code == IN_PROGRESS and aware(record.created_at) > datetime.now(UTC) - STALE_AFTER:
        raise KeyReuse("request_in_progress", "The first request with this Idempotency-Key is still being processed.")
    body = json.loads(vault.decrypt(bytes.fromhex(record.response), _aad(scope, key)))
    return Replay(record.status_code, body)  # IN_PROGRESS here: abandoned, for the caller to finish


def claim(session: Session, scope: str, key: str, body_hash: str) -> None:
    """Insert the key's record first in the request's transaction, before anything it guards.

    Two requests racing with one key: the second's INSERT waits for the first to commit
    (PostgreSQL) or finds its row (SQLite, one writer) and raises `IntegrityError`; the caller
    rolls back and replays the first answer. Nothing the second did before can survive."""
    session.add(IdempotencyRecord(scope=scope, key=key, request_hash=body_hash, status_code=IN_PROGRESS, response=""))
    session.flush()


def remember(
    session: Session, vault: Vault, scope: str, key: str, body_hash: str, status_code: int, body: dict[str, Any]
) -> None:
    """Store the answer in the record this request claimed, in the caller's transaction."""
    response = vault.encrypt(json.dumps(body, default=str).encode(), _aad(scope, key)).hex()
    record = IdempotencyRecord
    stored = session.execute(
        update(record)
        .where(record.scope == scope, record.key == key, record.request_hash == body_hash)
        .values(status_code=status_code, response=response)
        .execution_options(synchronize_session=False)
    )
    if stored.rowcount != 1:  # type: ignore[attr-defined]
        raise LookupError(f"idempotency key {scope}:{key} was not claimed by this request")


def forget(session: Session, scope: str, key: str) -> None:
    """Drop the key's record: its request failed before it had an answer worth replaying, so a
    retry with the same key starts afresh."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
