"""`Idempotency-Key`: the same key with the same body gets the first answer again; with another
body, 409. The first answer is stored in the transaction that created the order (encrypted:
it holds the order token) so a retry after a lost response can never create a second order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from backend.holders.custody import Vault
from backend.models import IdempotencyRecord

#: A record whose answer is still being prepared (e.g. a checkout being created).
IN_PROGRESS = 0


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
    if record.status_code == IN_PROGRESS:
        raise KeyReuse("request_in_progress", "The first request with this Idempotency-Key is still being processed.")
    body = json.loads(vault.decrypt(bytes.fromhex(record.response), _aad(scope, key)))
    return Replay(record.status_code, body)


def remember(
    session: Session, vault: Vault, scope: str, key: str, body_hash: str, status_code: int, body: dict[str, Any]
) -> None:
    """Store (or complete) the answer for `key` in the caller's transaction."""
    response = vault.encrypt(json.dumps(body, default=str).encode(), _aad(scope, key)).hex()
    record = session.get(IdempotencyRecord, (scope, key))
    if record is None:
        session.add(
            IdempotencyRecord(scope=scope, key=key, request_hash=body_hash, status_code=status_code, response=response)
        )
    else:
        record.status_code, record.response = status_code, response
    session.flush()
