"""Staff members and their roles in towns: add, read, change, remove.

These functions change rows only; each caller writes the audit row (`backend.core.audit`) in
the same transaction, because only the caller knows who acted (a signed-in owner, an
accepted invite, the operator's CLI).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, func, select, true, update
from sqlalchemy.orm import Session

from backend.holders.custody import normalise_email
from backend.staff.models import ROLES, StaffMember, StaffRole
from backend.towns.models import Municipality


class UnknownRole(ValueError):
    """Not one of `ROLES`."""


class MemberRefused(Exception):
    """A change the rules forbid: HTTP status, API error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def rank(role: str) -> int:
    """0 for the most powerful role (owner); larger is less. Nobody grants a role above their own."""
    if role not in ROLES:
        raise UnknownRole(role)
    return ROLES.index(role)


def may_grant(granter_role: str, role: str) -> bool:
    """Whether someone with `granter_role` may give `role` (their own or one below it)."""
    return rank(role) >= rank(granter_role)


def member_by_email(session: Session, email: str) -> StaffMember | None:
    return session.scalar(select(StaffMember).where(StaffMember.email == normalise_email(email)))


def role_in(session: Session, town_id: int, staff_id: int) -> StaffRole | None:
    return session.scalar(select(StaffRole).where(StaffRole.municipality_id == town_id, StaffRole.staff_id == staff_id))


def is_staff_anywhere(session: Session, email: str) -> bool:
    """Whether `email` has a role in some town (only they are sent sign-in codes)."""
    query = (
        select(StaffRole.id)
        .join(StaffMember, StaffMember.id == StaffRole.staff_id)
        .where(StaffMember.email == normalise_email(email))
        .limit(1)
    )
    return session.scalar(query) is not None


def add_member(session: Session, town: Municipality, email: str, role: str) -> StaffMember:
    """Give `email` the `role` in `town`, creating the member if new; an existing role in the
    town is replaced (one role per member per town). Idempotent."""
    rank(role)
    address = normalise_email(email)
    member = member_by_email(session, address)
    if member is None:
        member = StaffMember(email=address)
        session.add(member)
        session.flush()
    existing = role_in(session, town.id, member.id)
    if existing is None:
        session.add(StaffRole(municipality_id=town.id, staff_id=member.id, role=role))
    else:
        existing.role = role
    session.flush()
    return member


def owners_of(session: Session, town_id: int, *, lock: bool = False) -> list[int]:
    """Staff ids of the town's owners. With `lock`, their role rows stay locked until commit
    (PostgreSQL), so two owners demoting each other at once cannot leave the town without one;
    on SQLite the write transaction already serialises them."""
    query = select(StaffRole).where(StaffRole.municipality_id == town_id, StaffRole.role == "owner")
    if lock:
        query = query.with_for_update()
    return [row.staff_id for row in session.scalars(query)]


def towns_of(session: Session, staff_id: int) -> list[tuple[Municipality, str]]:
    """The member's towns and role in each, by slug."""
    query = (
        select(Municipality, StaffRole.role)
        .join(StaffRole, StaffRole.municipality_id == Municipality.id)
        .where(StaffRole.staff_id == staff_id)
        .order_by(Municipality.slug)
    )
    return [(town, role) for town, role in session.execute(query)]


def members_count(session: Session, town_id: int) -> int:
    return int(session.scalar(select(func.count()).where(StaffRole.municipality_id == town_id)) or 0)


def _another_owner_remains(town_id: int) -> ColumnElement[bool]:
    """True while the town has more than one owner (evaluated inside the changing statement)."""
    owners = (
        select(func.count())
        .select_from(StaffRole)
        .where(StaffRole.municipality_id == town_id, StaffRole.role == "owner")
        .scalar_subquery()
    )
    return owners > 1


def _target(session: Session, town_id: int, staff_id: int, actor_role: str) -> StaffRole:
    held = role_in(session, town_id, staff_id)
    if held is None:
        raise MemberRefused(404, "member_not_found", "No such member in this town.")
    if not may_grant(actor_role, held.role):
        raise MemberRefused(403, "role_too_high", "You cannot change someone above your own role.")
    return held


def change_role(session: Session, town_id: int, staff_id: int, role: str, actor_role: str) -> tuple[str, str]:
    """Set a member's role; returns (before, after). The last owner cannot be demoted.

    The guard is inside the UPDATE (`role <> 'owner' OR more than one owner`), after the
    owners' rows are locked, so two owners demoting each other at once leave one owner."""
    if not may_grant(actor_role, role):
        raise MemberRefused(403, "role_too_high", "You cannot give a role above your own.")
    held = _target(session, town_id, staff_id, actor_role)
    before = held.role
    if before == role:
        return before, role
    owners_of(session, town_id, lock=True)
    # Promoting never takes an owner away; demoting one needs another to remain.
    guard = true() if role == "owner" else (StaffRole.role != "owner") | _another_owner_remains(town_id)
    changed = session.execute(
        update(StaffRole)
        .where(StaffRole.id == held.id, guard)
        .values(role=role)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise MemberRefused(409, "last_owner", "A town needs at least one owner: make someone else owner first.")
    session.refresh(held)
    return before, role


def remove_member(session: Session, town_id: int, staff_id: int, actor_role: str) -> str:
    """Take a member's role in this town away; returns the role they had. Never the last owner."""
    held = _target(session, town_id, staff_id, actor_role)
    owners_of(session, town_id, lock=True)
    removed = session.execute(
        delete(StaffRole)
        .where(StaffRole.id == held.id, (StaffRole.role != "owner") | _another_owner_remains(town_id))
        .execution_options(synchronize_session=False)
    )
    if removed.rowcount != 1:  # type: ignore[attr-defined]
        raise MemberRefused(409, "last_owner", "A town needs at least one owner: make someone else owner first.")
    session.expunge(held)
    return held.role
