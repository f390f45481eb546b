"""Announcements: what staff write, the way to sending, and who receives them.

    draft ──submit──▶ pending_approval ──approve──▶ scheduled ──(sender)──▶ sending ──▶ sent
      ▲  (town.posts_need_approval)   └─reject──▶ rejected
      │                                              │ (PATCH, submit again)
      └── submit without approval ─────────────▶ scheduled
    draft, pending_approval, scheduled, rejected ──cancel──▶ cancelled

Every move is one conditional UPDATE (`… WHERE id = :id AND status IN (:from)`): of two
clicks, or of a cancel and the sender's start, exactly one wins and the other is told the
state changed (409), so nothing is sent twice and nothing cancelled is sent. The caller
writes the audit row in the same transaction.

Approval: a moderator or owner (`backend.staff.policy`) approves, but never the author of the
announcement: a town that asks for approval asks for a second pair of eyes, so an owner who
wrote it needs another moderator or owner (403 `own_announcement`).

Recipients (`recipient_emails`): the people who hold now, by the indexer's current owner, a
valid card (minted, not revoked by a refund) of a chosen series (none chosen: any series of
the town). A card in custody is its holder's (`Holder.address` → `Holder.email`); a card in
the wallet its order paid to is that order's buyer's (`Order.email`); a card that moved to an
address we know no e-mail of (resold, or moved by its holder to a wallet of their own) is
mailed to nobody (it still shows on "my card" for a wallet that signs in). One address gets
one mail however many cards it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from backend.holders.models import Holder
from backend.polls.models import Announcement, AnnouncementDelivery, AnnouncementSeries
from backend.sales.models import Drop, Order, OrderCard
from minting.store import TokenOwnerRow

DRAFT = "draft"
PENDING = "pending_approval"
SCHEDULED = "scheduled"
SENDING = "sending"
SENT = "sent"
REJECTED = "rejected"
CANCELLED = "cancelled"

EDITABLE = (DRAFT, REJECTED)
SUBMITTABLE = (DRAFT, REJECTED)
CANCELLABLE = (DRAFT, PENDING, SCHEDULED, REJECTED)
#: Fields a PATCH may change (besides `series`).
FIELDS = ("title_ja", "title_en", "body_ja", "body_en", "send_at")
#: Order statuses whose cards exist (or are on their way: counted once the indexer saw the mint).
CARD_STATUSES = ("paid", "minting", "minted")
_CHUNK = 500


class AnnouncementRefused(Exception):
    """A request the announcement's state (or the town's data) refuses."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Deliveries:
    """An announcement's copies: fixed when sending starts (all zero before)."""

    recipients: int = 0
    pending: int = 0
    sent: int = 0
    skipped: int = 0


# ── reading ─────────────────────────────────────────────────────────────────


def town_announcement(session: Session, town_id: int, announcement_id: int) -> Announcement | None:
    """The town's announcement; another town's is None, as a missing one."""
    found = session.get(Announcement, announcement_id)
    return found if found is not None and found.municipality_id == town_id else None


def series_of(session: Session, ids: Iterable[int]) -> dict[int, list[int]]:
    """Each announcement's chosen drop ids, in id order ([] = every series of the town)."""
    wanted = list(ids)
    result: dict[int, list[int]] = {announcement_id: [] for announcement_id in wanted}
    if wanted:
        rows = session.execute(
            select(AnnouncementSeries.announcement_id, AnnouncementSeries.drop_id)
            .where(AnnouncementSeries.announcement_id.in_(wanted))
            .order_by(AnnouncementSeries.drop_id)
        )
        for announcement_id, drop_id in rows:
            result[announcement_id].append(drop_id)
    return result


def delivery_counts(session: Session, ids: Iterable[int]) -> dict[int, Deliveries]:
    wanted = list(ids)
    counts: dict[int, dict[str, int]] = {announcement_id: {} for announcement_id in wanted}
    if wanted:
        rows = session.execute(
            select(AnnouncementDelivery.announcement_id, AnnouncementDelivery.status, func.count())
            .where(AnnouncementDelivery.announcement_id.in_(wanted))
            .group_by(AnnouncementDelivery.announcement_id, AnnouncementDelivery.status)
        )
        for announcement_id, status, count in rows:
            counts[announcement_id][status] = int(count)
    return {
        announcement_id: Deliveries(
            recipients=sum(by_status.values()),
            pending=by_status.get("pending", 0),
            sent=by_status.get("sent", 0),
            skipped=by_status.get("skipped", 0),
        )
        for announcement_id, by_status in counts.items()
    }


def town_list(town_id: int, status: str | None) -> Any:
    """The query of the town's announcements, newest first (optionally of one status)."""
    query = select(Announcement).where(Announcement.municipality_id == town_id)
    if status is not None:
        query = query.where(Announcement.status == status)
    return query.order_by(Announcement.created_at.desc(), Announcement.id.desc())


def audit_view(announcement: Announcement, series: list[int]) -> dict[str, Any]:
    """What the audit log keeps of an announcement (its bodies by length only)."""
    return {
        "status": announcement.status,
        "title_ja": announcement.title_ja,
        "title_en": announcement.title_en,
        "body_ja": f"{len(announcement.body_ja)} characters",
        "body_en": f"{len(announcement.body_en)} characters",
        "series": series,
        "send_at": announcement.send_at,
    }


# ── writing ─────────────────────────────────────────────────────────────────


def check_series(session: Session, town_id: int, drop_ids: list[int]) -> list[int]:
    """The drop ids, distinct and sorted, each a resident-card drop of the town; else 404."""
    wanted = sorted(set(drop_ids))
    if not wanted:
        return []
    found = set(
        session.scalars(
            select(Drop.id).where(Drop.id.in_(wanted), Drop.municipality_id == town_id, Drop.kind == "resident_card")
        )
    )
    missing = [drop_id for drop_id in wanted if drop_id not in found]
    if missing:
        raise AnnouncementRefused(
            404, "drop_not_found", f"この町にそのシリーズはありません。 (No card series {missing} in this town.)"
        )
    return wanted


def _set_series(session: Session, announcement_id: int, drop_ids: list[int]) -> None:
    session.execute(delete(AnnouncementSeries).where(AnnouncementSeries.announcement_id == announcement_id))
    session.add_all(AnnouncementSeries(announcement_id=announcement_id, drop_id=drop_id) for drop_id in drop_ids)
    session.flush()


def create(
    session: Session, town_id: int, fields: dict[str, Any], series: list[int], author_id: int, now: datetime
) -> Announcement:
    """A draft; the series checked first (404 `drop_not_found`)."""
    drops = check_series(session, town_id, series)
    announcement = Announcement(
        municipality_id=town_id, status=DRAFT, created_by=author_id, created_at=now, updated_at=now, **fields
    )
    session.add(announcement)
    session.flush()
    _set_series(session, announcement.id, drops)
    return announcement


def _move(session: Session, announcement: Announcement, allowed: tuple[str, ...], values: dict[str, Any]) -> bool:
    """The conditional UPDATE of the module docstring; True if this call made the move."""
    result = session.execute(
        update(Announcement)
        .where(Announcement.id == announcement.id, Announcement.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    moved = getattr(result, "rowcount", 0) == 1
    if moved:
        session.refresh(announcement)
    return moved


def _state_changed(announcement: Announcement, code: str, what: str) -> AnnouncementRefused:
    return AnnouncementRefused(
        409, code, f"このお知らせは「{announcement.status}」のため{what}できません。 (It is {announcement.status}.)"
    )


def edit(
    session: Session, announcement: Announcement, changes: dict[str, Any], series: list[int] | None, now: datetime
) -> None:
    """Change a draft (or a rejected one, to submit it again): only the fields sent."""
    if announcement.status not in EDITABLE:
        raise _state_changed(announcement, "not_editable", "編集")
    drops = None if series is None else check_series(session, announcement.municipality_id, series)
    values = {name: value for name, value in changes.items() if name in FIELDS}
    if not _move(session, announcement, EDITABLE, {**values, "updated_at": now}):
        session.refresh(announcement)
        raise _state_changed(announcement, "not_editable", "編集")
    if drops is not None:
        _set_series(session, announcement.id, drops)


def submit(session: Session, announcement: Announcement, needs_approval: bool, now: datetime) -> str:
    """To the moderators (the town asks for approval) or straight to the schedule; the new status."""
    target = PENDING if needs_approval else SCHEDULED
    values = {"status": target, "approved_by": None, "reject_reason": None, "updated_at": now}
    if announcement.status not in SUBMITTABLE or not _move(session, announcement, SUBMITTABLE, values):
        session.refresh(announcement)
        raise _state_changed(announcement, "not_submittable", "送信手続き")
    return target


def approve(session: Session, announcement: Announcement, approver_id: int, now: datetime) -> None:
    if announcement.status == PENDING and announcement.created_by == approver_id:
        raise AnnouncementRefused(
            403,
            "own_announcement",
            "自分で書いたお知らせは承認できません。別のモデレーターか所有者に依頼してください。 "
            "(Another moderator or owner approves what you wrote.)",
        )
    values = {"status": SCHEDULED, "approved_by": approver_id, "updated_at": now}
    if announcement.status != PENDING or not _move(session, announcement, (PENDING,), values):
        session.refresh(announcement)
        raise _state_changed(announcement, "not_pending", "承認")


def reject(session: Session, announcement: Announcement, approver_id: int, reason: str, now: datetime) -> None:
    values = {"status": REJECTED, "approved_by": approver_id, "reject_reason": reason, "updated_at": now}
    if announcement.status != PENDING or not _move(session, announcement, (PENDING,), values):
        session.refresh(announcement)
        raise _state_changed(announcement, "not_pending", "差し戻し")


def cancel(session: Session, announcement: Announcement, now: datetime) -> None:
    """Before the sender fixed its recipients only; once "sending" it goes out to all."""
    values = {"status": CANCELLED, "updated_at": now}
    if announcement.status not in CANCELLABLE or not _move(session, announcement, CANCELLABLE, values):
        session.refresh(announcement)
        raise _state_changed(announcement, "not_cancellable", "取り消し")


# ── recipients ──────────────────────────────────────────────────────────────


def recipient_emails(session: Session, town_id: int, drop_ids: list[int], chain_id: int) -> list[str]:
    """The distinct lower-case addresses to mail (module docstring), sorted."""
    query = (
        select(OrderCard.token_id, Order.status, Order.email, Order.recipient, TokenOwnerRow.owner)
        .join(Order, Order.id == OrderCard.order_id)
        .join(Drop, Drop.id == OrderCard.drop_id)
        .outerjoin(
            TokenOwnerRow,
            and_(
                TokenOwnerRow.chain_id == Drop.chain_id,
                TokenOwnerRow.contract == Drop.contract,
                TokenOwnerRow.token_id == OrderCard.token_id,
            ),
        )
        .where(
            Drop.municipality_id == town_id,
            Drop.kind == "resident_card",
            Drop.chain_id == chain_id,
            OrderCard.revoked_at.is_(None),
            Order.status.in_(CARD_STATUSES),
        )
    )
    if drop_ids:
        query = query.where(Drop.id.in_(drop_ids))
    cards: list[tuple[str, str, str | None]] = []  # (current owner, order's email, order's recipient)
    for _token_id, status, email, recipient, indexed_owner in session.execute(query):
        owner = indexed_owner or (recipient if status == "minted" else None)
        if owner is not None:
            cards.append((owner.lower(), email, recipient.lower() if recipient else None))
    custodial = _holder_emails(session, {owner for owner, _email, _recipient in cards})
    emails: set[str] = set()
    for owner, email, recipient in cards:
        if owner in custodial:
            emails.add(custodial[owner])
        elif owner == recipient:
            emails.add(email.strip().lower())
    return sorted(emails)


def _holder_emails(session: Session, owners: set[str]) -> dict[str, str]:
    """Lower-case custodial address → its holder's e-mail, for those of `owners` that are."""
    checksummed = sorted(Web3.to_checksum_address(owner) for owner in owners)
    found: dict[str, str] = {}
    for first in range(0, len(checksummed), _CHUNK):
        chunk = checksummed[first : first + _CHUNK]
        for address, email in session.execute(select(Holder.address, Holder.email).where(Holder.address.in_(chunk))):
            found[address.lower()] = email.strip().lower()
    return found


# ── the holder's side ───────────────────────────────────────────────────────


def for_holder(town_ids: set[int], drop_ids: set[int]) -> Any:
    """The query of sent announcements a holder of `drop_ids` (cards of towns `town_ids`)
    reads: of those towns, to every series or to one they hold; newest first."""
    chosen = select(AnnouncementSeries.announcement_id).where(AnnouncementSeries.announcement_id == Announcement.id)
    held = chosen.where(AnnouncementSeries.drop_id.in_(sorted(drop_ids)))
    return (
        select(Announcement)
        .where(
            Announcement.status == SENT,
            Announcement.municipality_id.in_(sorted(town_ids)),
            or_(~exists(chosen), exists(held)),
        )
        .order_by(Announcement.sent_at.desc(), Announcement.id.desc())
    )
