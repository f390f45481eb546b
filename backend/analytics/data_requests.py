"""People's requests under APPI: deletion requests and the record of each download.

A deletion request is due `town.data_request_days` after it was made (the town's setting,
30 by default; APPI gives a 行政機関 30 days to decide). One pending deletion request per town
and e-mail: asking again answers the pending one. Staff (owners) complete it, which runs the
erasure (`erasure.erase`) in the same transaction, or decline it with a reason. The e-mail is
kept only while it is needed to act: a completed request keeps none; a download is recorded
as a completed `export` request without one (the town can say how many it answered).

The one-pending rule holds under concurrent requests without a unique index: the request
first takes the town row's lock (a no-op UPDATE: PostgreSQL's row lock; on SQLite the write
transaction, which SQLite serialises) and only then looks for a pending request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.analytics.erasure import Erased, erase
from backend.analytics.models import DataRequest
from backend.towns.models import Municipality

#: Request ids: "dr_" and 32 hex characters.
ID_PREFIX = "dr_"
ID_PATTERN = r"^dr_[0-9a-f]{32}$"
KINDS = ("deletion", "export")
STATUSES = ("pending", "completed", "declined")


class NotPending(Exception):
    """The request was completed or declined already."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def new_id() -> str:
    return ID_PREFIX + secrets.token_hex(16)


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; every one stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_overdue(request: DataRequest, now: datetime) -> bool:
    """A pending request past its due moment: the town is late."""
    return request.status == "pending" and aware(request.due_at) < now


def _lock_town(session: Session, town_id: int) -> None:
    session.execute(
        update(Municipality)
        .where(Municipality.id == town_id)
        .values(id=Municipality.id)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Requested:
    request: DataRequest
    #: False: the pending request already made was answered again.
    created: bool


def request_deletion(session: Session, town: Municipality, email: str, now: datetime) -> Requested:
    """The pending deletion request of `email` in `town`, made now if there is none."""
    email = email.strip().lower()
    _lock_town(session, town.id)
    pending = session.scalar(
        select(DataRequest).where(
            DataRequest.municipality_id == town.id,
            DataRequest.kind == "deletion",
            DataRequest.status == "pending",
            DataRequest.email == email,
        )
    )
    if pending is not None:
        return Requested(pending, created=False)
    request = DataRequest(
        id=new_id(),
        municipality_id=town.id,
        email=email,
        kind="deletion",
        status="pending",
        requested_at=now,
        due_at=now + timedelta(days=town.data_request_days),
    )
    session.add(request)
    session.flush()
    return Requested(request, created=True)


def record_export(session: Session, town_id: int, now: datetime, fmt: str) -> DataRequest:
    """A download answered: a completed `export` request, with no e-mail (only counted)."""
    request = DataRequest(
        id=new_id(),
        municipality_id=town_id,
        email=None,
        kind="export",
        status="completed",
        requested_at=now,
        due_at=now,
        completed_at=now,
        outcome=f"download {fmt}",
    )
    session.add(request)
    session.flush()
    return request


def requests_of(session: Session, email: str) -> list[tuple[DataRequest, Municipality]]:
    """The e-mail's deletion requests in every town, newest first (completed ones no longer
    carry the e-mail, so they are not among them: nothing links them to the person now)."""
    return [
        (request, town)
        for request, town in session.execute(
            select(DataRequest, Municipality)
            .join(Municipality, Municipality.id == DataRequest.municipality_id)
            .where(DataRequest.email == email.strip().lower(), DataRequest.kind == "deletion")
            .order_by(DataRequest.requested_at.desc(), DataRequest.id)
        )
    ]


def town_requests(
    session: Session, town_id: int, *, kind: str, status: str | None, limit: int, offset: int
) -> tuple[list[DataRequest], int]:
    """A page of the town's requests of `kind` (and `status`), the most urgent first: by due
    moment, then by when made."""
    where = [DataRequest.municipality_id == town_id, DataRequest.kind == kind]
    if status is not None:
        where.append(DataRequest.status == status)
    total = session.scalar(select(func.count()).select_from(DataRequest).where(*where)) or 0
    rows = list(
        session.scalars(
            select(DataRequest)
            .where(*where)
            .order_by(DataRequest.due_at, DataRequest.requested_at, DataRequest.id)
            .limit(limit)
            .offset(offset)
        )
    )
    return rows, total


def town_request(session: Session, town_id: int, request_id: str) -> DataRequest | None:
    """The town's request `request_id`; another town's is None, like a missing one."""
    request = session.get(DataRequest, request_id)
    return request if request is not None and request.municipality_id == town_id else None


def _close(session: Session, request: DataRequest, status: str, staff_id: int, now: datetime) -> None:
    """Move the request from pending once: a conditional UPDATE, so two clicks (or two staff)
    cannot both complete it."""
    moved = session.execute(
        update(DataRequest)
        .where(DataRequest.id == request.id, DataRequest.status == "pending")
        .values(status=status, completed_at=now, completed_by=staff_id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        session.refresh(request)
        raise NotPending(request.status)


def complete(session: Session, request: DataRequest, staff_id: int, now: datetime) -> Erased:
    """Complete a pending deletion: erase, record what was erased (counts only), drop the
    e-mail from the request. Raises `NotPending`, or `erasure.Unfinished` (nothing changed:
    roll back)."""
    if request.kind != "deletion" or request.status != "pending" or request.email is None:
        raise NotPending(request.status)
    email = request.email
    _close(session, request, "completed", staff_id, now)
    erased = erase(session, request.municipality_id, email, now)
    summary = ", ".join(f"{table}={count}" for table, count in sorted(erased.counts.items()))
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == request.id)
        .values(email=None, outcome=f"erased: {summary}; holder {erased.holder}")
        .execution_options(synchronize_session=False)
    )
    session.refresh(request)
    return erased


def decline(session: Session, request: DataRequest, staff_id: int, reason: str, now: datetime) -> None:
    """Decline a pending deletion with the reason the holder will read."""
    if request.kind != "deletion":
        raise NotPending(request.status)
    _close(session, request, "declined", staff_id, now)
    session.execute(
        update(DataRequest)
        .where(DataRequest.id == request.id)
        .values(outcome=reason)
        .execution_options(synchronize_session=False)
    )
    session.refresh(request)
