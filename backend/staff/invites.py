"""Invitations: an owner invites an address with a role; the mailed link makes them a member.

The token is 256 random bits, mailed once and stored as its SHA-256. It lasts 7 days and works
once: acceptance is one conditional UPDATE (`unused AND not revoked AND unexpired`), so two
clicks racing create one membership. The link opens `/console/invite.html#token=…` (the
token in the fragment never reaches a server log) and the page POSTs it, because mail
scanners fetch links and would otherwise use them up.

Nobody grants a role above their own (`members.may_grant`), checked when inviting and again
on acceptance: an invite from someone who has since lost their rank no longer works.
Accepting needs no session: holding the mailed token proves the mailbox, which is what
signing in proves too. Invites are refused for addresses already staff of the town.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.bearer import hash_secret, new_secret
from backend.holders.custody import normalise_email
from backend.staff.members import add_member, may_grant, role_in
from backend.staff.models import Invite, StaffMember
from backend.staff.sessions import aware_like
from backend.towns.models import Municipality

INVITE_TTL = timedelta(days=7)


class InviteRefused(Exception):
    """The invite cannot be made or used: HTTP status, API error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invite_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/console/invite.html#token={token}"


def status_of(invite: Invite, now: datetime) -> str:
    if invite.used_at is not None:
        return "accepted"
    if invite.revoked_at is not None:
        return "revoked"
    return "expired" if aware_like(invite.expires_at, now) <= now else "pending"


def create_invite(
    session: Session, town: Municipality, inviter: StaffMember, inviter_role: str, email: str, role: str, now: datetime
) -> tuple[Invite, str]:
    """A new invite and its token (to mail). Earlier pending invites of the same address to
    this town are revoked, so only the newest link works."""
    if not may_grant(inviter_role, role):
        raise InviteRefused(403, "role_too_high", "You cannot give a role above your own.")
    address = normalise_email(email)
    existing = session.scalar(select(StaffMember).where(StaffMember.email == address))
    if existing is not None and role_in(session, town.id, existing.id) is not None:
        raise InviteRefused(409, "already_member", "This address is already a member of this town.")
    session.execute(
        update(Invite)
        .where(
            Invite.municipality_id == town.id,
            Invite.email == address,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_secret()
    invite = Invite(
        token_hash=hash_secret(token),
        municipality_id=town.id,
        email=address,
        role=role,
        invited_by=inviter.id,
        expires_at=now + INVITE_TTL,
        created_at=now,
    )
    session.add(invite)
    session.flush()
    return invite, token


def accept_invite(session: Session, token: str, now: datetime) -> tuple[Invite, StaffMember, Municipality]:
    """Use the invite once and make its address a member with its role."""
    token_hash = hash_secret(token)
    invite = session.scalar(select(Invite).where(Invite.token_hash == token_hash))
    if invite is None or invite.revoked_at is not None:
        raise InviteRefused(400, "invite_invalid", "This invitation is not valid; ask the town for a new one.")
    if invite.used_at is not None:
        raise InviteRefused(409, "invite_used", "This invitation has already been used.")
    if aware_like(invite.expires_at, now) <= now:
        raise InviteRefused(410, "invite_expired", "This invitation has expired; ask the town for a new one.")
    inviter_role = role_in(session, invite.municipality_id, invite.invited_by)
    if inviter_role is None or not may_grant(inviter_role.role, invite.role):
        raise InviteRefused(400, "invite_invalid", "Whoever sent this invitation can no longer give this role.")
    used = session.execute(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteRefused(409, "invite_used", "This invitation has already been used.")
    town = session.get(Municipality, invite.municipality_id)
    assert town is not None
    existing = session.scalar(select(StaffMember).where(StaffMember.email == invite.email))
    if existing is not None and role_in(session, town.id, existing.id) is not None:
        raise InviteRefused(409, "already_member", "You are already a member of this town.")
    member = add_member(session, town, invite.email, invite.role)
    session.refresh(invite)
    return invite, member, town


def revoke_invite(session: Session, town: Municipality, invite_id: int, now: datetime) -> Invite:
    """Withdraw a pending invite of this town."""
    invite = session.get(Invite, invite_id)
    if invite is None or invite.municipality_id != town.id:
        raise InviteRefused(404, "invite_not_found", "No such invitation in this town.")
    revoked = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if revoked.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteRefused(409, "invite_not_pending", "This invitation was already used or withdrawn.")
    session.refresh(invite)
    return invite
