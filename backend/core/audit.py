"""The audit log: every staff write and sign-in attempt, each row chained to the last by hash.

`record()` appends one row in the CALLER's transaction, so a write and its audit row commit
(or roll back) together: there is never a change without its row, nor a row for a change
that did not happen. Each row's `hash` is SHA-256 over the previous row's hash and the row's
canonical JSON (sorted keys, no spaces, UTF-8), so editing, deleting or reordering any row
breaks the chain from there on; `verify_chain()` (and `furusato audit verify`) recomputes it.

One order under concurrency: `record()` first locks the single `audit_head` row (an UPDATE,
which takes PostgreSQL's row lock like SELECT … FOR UPDATE, and on SQLite opens the write
transaction, which SQLite serialises: in this process through the write queue of
`backend.core.sqlite_writes`, across processes through its file lock), then reads the last
hash and moves the head to the new row. Two appends never read the same head. The lock is
held until the caller commits, so keep the work after `record()` short.

Deleting the newest rows leaves no successor to notice; the head row does: `verify_chain`
also checks that the head names the last row's hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.core.db import utcnow
from backend.core.models import AuditEntry, AuditHead
from minting.store import insert_for

#: The `prev_hash` of the first row.
GENESIS_HASH = "0" * 64
#: The one row of `audit_head`.
HEAD_ID = 1
#: Rows read at a time by `verify_chain`, so a long log verifies in constant memory.
VERIFY_BATCH = 1_000


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: one text per value, whichever process wrote it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def timestamp(at: datetime) -> str:
    """UTC to the microsecond. SQLite hands datetimes back without their zone: they are UTC."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(prev_hash: str, entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and the row's fields (its id aside: the chain orders rows)."""
    fields = {
        "town_id": entry.municipality_id,
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "at": timestamp(entry.at),
    }
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()


def _lock_head(session: Session) -> AuditHead:
    """The head row, locked for this transaction (created on the very first append)."""
    touch = update(AuditHead).where(AuditHead.id == HEAD_ID).values(last_id=AuditHead.last_id)
    if session.execute(touch).rowcount == 0:  # type: ignore[attr-defined]
        insert = insert_for(session)(AuditHead).values(id=HEAD_ID, last_id=0, last_hash=GENESIS_HASH)
        session.execute(insert.on_conflict_do_nothing())
        session.execute(touch)
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update().execution_options(populate_existing=True)
    ).one()
    return head


def record(
    session: Session,
    *,
    town_id: int | None,
    actor: str,
    action: str,
    target_type: str = "",
    target_id: str = "",
    before: object = None,
    after: object = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one row in the caller's transaction (see module docstring) and return it.

    `actor` is the staff member's e-mail, `cli:<user>` for the operator, or the address tried
    in a failed sign-in. `before`/`after` are JSON-able (dicts of the fields that matter); no
    secrets in them: the log is read by staff."""
    head = _lock_head(session)
    entry = AuditEntry(
        municipality_id=town_id,
        actor=actor[:320],
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=canonical_json(before),
        after=canonical_json(after),
        at=at or utcnow(),
        prev_hash=head.last_hash,
    )
    entry.hash = row_hash(head.last_hash, entry)
    session.add(entry)
    session.flush()
    head.last_id = entry.id
    head.last_hash = entry.hash
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: rows read and the id of the first broken row (None: intact)."""

    rows: int
    broken_id: int | None


def verify(session: Session) -> ChainReport:
    """Recompute the chain in id order; stop at the first row whose link or hash is wrong.

    A row is broken when its `prev_hash` is not the previous row's hash (a row before it was
    deleted or reordered) or its `hash` is not what its fields give (it was edited). If every
    row holds but the head names another last row or hash (newest rows deleted, or the head
    edited), the head's `last_id` is reported.

    Safe beside a running deployment: the head is read first and only rows up to it are
    checked, so appends committed while this runs are left for the next run (a row is
    committed together with the head that names it)."""
    head = session.get(AuditHead, HEAD_ID)
    if head is None:  # no append yet, or the head was deleted: then the first row stands unvouched
        first = session.scalar(select(func.min(AuditEntry.id)))
        return ChainReport(0, first)
    head_id, head_hash = head.last_id, head.last_hash
    prev = GENESIS_HASH
    rows = 0
    last_id = 0
    query = (
        select(AuditEntry)
        .where(AuditEntry.id <= head_id)
        .order_by(AuditEntry.id)
        .execution_options(yield_per=VERIFY_BATCH)
    )
    for entry in session.scalars(query):
        rows += 1
        if entry.prev_hash != prev or row_hash(prev, entry) != entry.hash:
            return ChainReport(rows, entry.id)
        prev = entry.hash
        last_id = entry.id
    if (head_id, head_hash) != (last_id, prev):
        return ChainReport(rows, head_id)
    return ChainReport(rows, None)


def verify_chain(session: Session) -> int | None:
    """The id of the first broken row, or None if the whole chain is intact."""
    return verify(session).broken_id


def count(session: Session, town_id: int | None = None) -> int:
    """Rows in the log (of one town, when given)."""
    query = select(func.count()).select_from(AuditEntry)
    if town_id is not None:
        query = query.where(AuditEntry.municipality_id == town_id)
    return int(session.scalar(query) or 0)
