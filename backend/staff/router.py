"""Staff over HTTP: sign-in by mailed code, sessions, members, invites, the audit log.

    POST   /api/v1/staff/sign-in                    {email} → 202 always; a code is mailed to staff
    POST   /api/v1/staff/session                    {email, code} → {token, expires_at, csrf_token} + cookies
    DELETE /api/v1/staff/session                    sign out (this session)
    DELETE /api/v1/staff/sessions                   sign out everywhere (every session of the member)
    GET    /api/v1/staff/me                         {email, towns: [{slug, role, name_ja, name_en}]}
    POST   /api/v1/staff/invites/accept             {token} → the new membership
    GET    /api/v1/staff/towns/{slug}/members       owner
    PATCH  /api/v1/staff/towns/{slug}/members/{id}  owner; {role}; never the last owner (409 last_owner)
    DELETE /api/v1/staff/towns/{slug}/members/{id}  owner; never the last owner
    GET    /api/v1/staff/towns/{slug}/invites       owner
    POST   /api/v1/staff/towns/{slug}/invites       owner; {email, role}; the link is mailed
    DELETE /api/v1/staff/towns/{slug}/invites/{id}  owner
    GET    /api/v1/staff/towns/{slug}/audit         owner, analyst; ?target_type=&target_id=

Sign-in is rate-limited per address and per client address through the database counters
(`backend.core.ratelimit.hit`), so several API processes share one limit. Behind a reverse
proxy, run uvicorn with `--proxy-headers` so the client address is the visitor's. Every
sign-in attempt (`POST /session`), successful or not, and every write appends one audit row
in the write's own transaction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core import audit, ratelimit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.models import AuditEntry
from backend.core.schemas import MAX_ROW_ID
from backend.holders.custody import normalise_email
from backend.runtime import Runtime
from backend.staff import invites, mailing, members, signin
from backend.staff.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    STAFF_RESPONSES,
    AuthenticatedDep,
    CurrentStaff,
    NowDep,
    TownStaff,
)
from backend.staff.models import Invite, StaffMember, StaffRole
from backend.staff.schemas import (
    AuditPage,
    AuditRow,
    InviteAccept,
    InviteAccepted,
    InviteCreate,
    InvitePublic,
    InvitesPage,
    MemberPublic,
    MembersPage,
    RoleChange,
    StaffMe,
    StaffSessionCreated,
    StaffSessionRequest,
    StaffSignInAccepted,
    StaffSignInRequest,
    StaffTown,
)
from backend.staff.sessions import open_session, revoke, revoke_all

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

#: (requests, window seconds). Codes per address: 5 codes × 5 tries = 25 guesses of 10⁶ per
#: window. Per client address, generous enough for an office behind one NAT address.
CODES_PER_ADDRESS = (5, 900)
CODES_PER_CLIENT = (30, 900)
ATTEMPTS_PER_CLIENT = (60, 900)
CODE_REFUSALS = error_responses(401, codes={401: "code_invalid, code_expired, code_used, code_locked"})
#: Sign-out: 403 is `csrf_failed` (a cookie write without the header).
SIGNED_IN = error_responses(401, 403, codes={401: "unauthorized", 403: "csrf_failed"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
RATE_LIMITED = error_responses(429, codes={429: "rate_limited (see Retry-After)"})


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _key(kind: str, value: str) -> str:
    """A counter key that does not store the address itself."""
    return f"staff-{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


def _limit(runtime: Runtime, now: datetime, *limits: tuple[str, tuple[int, int]]) -> None:
    """Count one hit of each key, in order, in a committed transaction of its own; 429 at the
    first key over its limit (later keys are then not counted)."""
    counted = [(key, limit, window) for key, (limit, window) in limits]
    window = ratelimit.first_spent(runtime.sessions, *counted, now=now.timestamp())
    if window is not None:
        wait = ratelimit.retry_after(window, now.timestamp())
        raise ApiError(
            429,
            "rate_limited",
            f"Too many sign-in requests; try again in {wait // 60 + 1} minutes.",
            headers={"Retry-After": str(wait)},
        )


# ── sign-in and sessions ────────────────────────────────────────────────────


@router.post("/sign-in", status_code=202, response_model=StaffSignInAccepted, responses=RATE_LIMITED)
def sign_in(
    body: StaffSignInRequest, request: Request, runtime: RuntimeDep, now: NowDep, background: BackgroundTasks
) -> StaffSignInAccepted:
    """Mail a 6-digit code (10 minutes, single use) if the address is staff of a town; 202 either way."""
    email = normalise_email(body.email)
    per_client = (_key("codes-client", _client(request)), CODES_PER_CLIENT)
    _limit(runtime, now, per_client, (_key("codes", email), CODES_PER_ADDRESS))
    secret = runtime.settings.secret_key.get_secret_value()
    with runtime.sessions() as session:
        is_staff = members.is_staff_anywhere(session, email)
        code = signin.issue_code(session, secret, email, now)  # a decoy when not staff: see signin.py
        session.commit()
    if is_staff:
        background.add_task(mailing.send_code, runtime.settings, email, code)
    return StaffSignInAccepted()


def _secure_cookies(request: Request) -> bool:
    """Secure cookies everywhere but on this machine (plain http://127.0.0.1 in a demo)."""
    return request.url.hostname not in LOOPBACK_HOSTS


@router.post(
    "/session",
    response_model=StaffSessionCreated,
    responses={**CODE_REFUSALS, **RATE_LIMITED},
)
def create_session(
    body: StaffSessionRequest, request: Request, response: Response, runtime: RuntimeDep, now: NowDep
) -> StaffSessionCreated:
    """Exchange the mailed code (once) for a session: the token in the answer and in the
    console's cookie (HttpOnly, SameSite=Strict), and a CSRF token for cookie writes."""
    _limit(runtime, now, (_key("attempts-client", _client(request)), ATTEMPTS_PER_CLIENT))
    email = normalise_email(body.email)
    settings = runtime.settings
    with runtime.sessions() as session:
        try:
            redeemed = signin.redeem_code(session, settings.secret_key.get_secret_value(), email, body.code, now)
        except signin.CodeRefused as refused:
            audit.record(
                session, town_id=None, actor=email, action="staff.sign_in_failed", after={"reason": refused.code}
            )
            session.commit()
            raise ApiError(401, refused.code, _CODE_MESSAGES[refused.code]) from None
        lifetime = _session_lifetime(runtime)
        issued = open_session(session, redeemed.member.id, now, lifetime=lifetime)
        audit.record(
            session,
            town_id=None,
            actor=email,
            action="staff.sign_in",
            target_type="staff",
            target_id=str(redeemed.member.id),
        )
        session.commit()
    secure = _secure_cookies(request)
    max_age = int(lifetime.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, issued.token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict"
    )
    response.set_cookie(
        CSRF_COOKIE, issued.csrf_token, max_age=max_age, path="/", secure=secure, httponly=False, samesite="strict"
    )
    return StaffSessionCreated(token=issued.token, expires_at=issued.expires_at, csrf_token=issued.csrf_token)


_CODE_MESSAGES = {
    "code_invalid": "This code is not right; check the latest mail.",
    "code_expired": "This code has expired; ask for a new one.",
    "code_used": "This code was already used; ask for a new one.",
    "code_locked": "Too many wrong tries: this code is locked; ask for a new one.",
}


def _session_lifetime(runtime: Runtime) -> timedelta:
    return timedelta(hours=runtime.settings.staff_session_hours)


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")


@router.delete("/session", status_code=204, responses=SIGNED_IN)
def sign_out(auth: AuthenticatedDep, session: SessionDep, now: NowDep) -> Response:
    """End this session (the cookie's, or the Bearer token's)."""
    revoke(session, auth.session.token_hash, now)
    audit.record(
        session,
        town_id=None,
        actor=auth.member.email,
        action="staff.sign_out",
        target_type="staff",
        target_id=str(auth.member.id),
    )
    session.commit()
    response = Response(status_code=204)
    _clear_cookies(response)
    return response


@router.delete("/sessions", status_code=204, responses=SIGNED_IN)
def sign_out_everywhere(auth: AuthenticatedDep, session: SessionDep, now: NowDep) -> Response:
    """End every session of the member, on every device (e.g. after losing a phone)."""
    ended = revoke_all(session, auth.member.id, now)
    audit.record(
        session,
        town_id=None,
        actor=auth.member.email,
        action="staff.sign_out_everywhere",
        target_type="staff",
        target_id=str(auth.member.id),
        after={"sessions_ended": ended},
    )
    session.commit()
    response = Response(status_code=204)
    _clear_cookies(response)
    return response


@router.get("/me", response_model=StaffMe, responses=error_responses(401))
def me(member: CurrentStaff, session: SessionDep) -> StaffMe:
    """Who is signed in, and their towns and role in each."""
    towns = [
        StaffTown(slug=town.slug, role=role, name_ja=town.name_ja, name_en=town.name_en)  # type: ignore[arg-type]
        for town, role in members.towns_of(session, member.id)
    ]
    return StaffMe(email=member.email, towns=towns)


@router.post(
    "/invites/accept",
    response_model=InviteAccepted,
    responses=error_responses(
        400, 409, 410, codes={400: "invite_invalid", 409: "invite_used, already_member", 410: "invite_expired"}
    ),
)
def accept_invite(body: InviteAccept, session: SessionDep, now: NowDep) -> InviteAccepted:
    """Use a mailed invitation (once): its address becomes a member of the town with its role."""
    try:
        invite, member, town = invites.accept_invite(session, body.token, now)
    except invites.InviteRefused as refused:
        session.rollback()
        raise ApiError(refused.status, refused.code, refused.message) from None
    audit.record(
        session,
        town_id=town.id,
        actor=member.email,
        action="staff.invite_accept",
        target_type="staff",
        target_id=str(member.id),
        after={"email": member.email, "role": invite.role, "invite_id": invite.id},
    )
    session.commit()
    return InviteAccepted(
        email=member.email,
        slug=town.slug,
        name_ja=town.name_ja,
        name_en=town.name_en,
        role=invite.role,  # type: ignore[arg-type]
    )


# ── members ─────────────────────────────────────────────────────────────────

MEMBER_CODES = {403: "forbidden, csrf_failed, role_too_high", 404: "member_not_found", 409: "last_owner"}
StaffId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
InviteId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def _member_public(member: StaffMember, held: StaffRole) -> MemberPublic:
    return MemberPublic(staff_id=member.id, email=member.email, role=held.role, since=held.created_at)  # type: ignore[arg-type]


@router.get("/towns/{slug}/members", response_model=MembersPage, responses=STAFF_RESPONSES)
def list_members(ctx: TownStaff, session: SessionDep, page: PageDep) -> MembersPage:
    """The town's members and their roles, by e-mail."""
    query = (
        select(StaffMember, StaffRole)
        .join(StaffRole, StaffRole.staff_id == StaffMember.id)
        .where(StaffRole.municipality_id == ctx.town.id)
    )
    total = members.members_count(session, ctx.town.id)
    rows = session.execute(query.order_by(StaffMember.email).limit(page.limit).offset(page.offset))
    items = [_member_public(member, held) for member, held in rows]
    return MembersPage(items=items, total=total, limit=page.limit, offset=page.offset)


def _refused(exc: members.MemberRefused | invites.InviteRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


@router.patch(
    "/towns/{slug}/members/{staff_id}",
    response_model=MemberPublic,
    responses={**STAFF_RESPONSES, **error_responses(403, 404, 409, codes=MEMBER_CODES)},
)
def change_role(staff_id: StaffId, body: RoleChange, ctx: TownStaff, session: SessionDep) -> MemberPublic:
    """Give a member another role (at most your own). The last owner cannot be demoted."""
    try:
        before, after = members.change_role(session, ctx.town.id, staff_id, body.role, ctx.role)
    except members.MemberRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    member = session.get(StaffMember, staff_id)
    held = members.role_in(session, ctx.town.id, staff_id)
    assert member is not None
    assert held is not None
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="staff.role_change",
        target_type="staff",
        target_id=str(staff_id),
        before={"email": member.email, "role": before},
        after={"email": member.email, "role": after},
    )
    session.commit()
    return _member_public(member, held)


@router.delete(
    "/towns/{slug}/members/{staff_id}",
    status_code=204,
    responses={**STAFF_RESPONSES, **error_responses(403, 404, 409, codes=MEMBER_CODES)},
)
def remove_member(staff_id: StaffId, ctx: TownStaff, session: SessionDep) -> Response:
    """Remove a member from the town (their sessions stay for their other towns). Never the last owner."""
    try:
        role = members.remove_member(session, ctx.town.id, staff_id, ctx.role)
    except members.MemberRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    member = session.get(StaffMember, staff_id)
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="staff.remove",
        target_type="staff",
        target_id=str(staff_id),
        before={"email": member.email if member else "", "role": role},
    )
    session.commit()
    return Response(status_code=204)


# ── invites ─────────────────────────────────────────────────────────────────


def _invite_public(session: Session, invite: Invite, now: datetime) -> InvitePublic:
    inviter = session.get(StaffMember, invite.invited_by)
    return InvitePublic(
        id=invite.id,
        email=invite.email,
        role=invite.role,  # type: ignore[arg-type]
        invited_by=inviter.email if inviter else "",
        status=invites.status_of(invite, now),  # type: ignore[arg-type]
        expires_at=invite.expires_at,
        created_at=invite.created_at,
    )


@router.get("/towns/{slug}/invites", response_model=InvitesPage, responses=STAFF_RESPONSES)
def list_invites(ctx: TownStaff, session: SessionDep, page: PageDep, now: NowDep) -> InvitesPage:
    """The town's invitations, newest first, with their status."""
    where = Invite.municipality_id == ctx.town.id
    total = int(session.scalar(select(func.count()).select_from(Invite).where(where)) or 0)
    rows = session.scalars(select(Invite).where(where).order_by(Invite.id.desc()).limit(page.limit).offset(page.offset))
    items = [_invite_public(session, invite, now) for invite in rows]
    return InvitesPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/towns/{slug}/invites",
    status_code=201,
    response_model=InvitePublic,
    responses={
        **STAFF_RESPONSES,
        **error_responses(403, 409, codes={403: "forbidden, csrf_failed, role_too_high", 409: "already_member"}),
    },
)
def create_invite(
    body: InviteCreate,
    ctx: TownStaff,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    background: BackgroundTasks,
) -> InvitePublic:
    """Invite an address with a role (at most your own): a 7-day, single-use link is mailed."""
    try:
        invite, token = invites.create_invite(session, ctx.town, ctx.member, ctx.role, body.email, body.role, now)
    except invites.InviteRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="staff.invite",
        target_type="invite",
        target_id=str(invite.id),
        after={"email": invite.email, "role": invite.role, "expires_at": invite.expires_at},
    )
    session.commit()
    link = invites.invite_link(runtime.settings.public_url, token)
    background.add_task(
        mailing.send_invite, runtime.settings, invite.email, link, ctx.town.name_ja, ctx.town.name_en, invite.role
    )
    return _invite_public(session, invite, now)


@router.delete(
    "/towns/{slug}/invites/{invite_id}",
    status_code=204,
    responses={
        **STAFF_RESPONSES,
        **error_responses(404, 409, codes={404: "invite_not_found", 409: "invite_not_pending"}),
    },
)
def revoke_invite(invite_id: InviteId, ctx: TownStaff, session: SessionDep, now: NowDep) -> Response:
    """Withdraw a pending invitation: its link stops working."""
    try:
        invite = invites.revoke_invite(session, ctx.town, invite_id, now)
    except invites.InviteRefused as refused:
        session.rollback()
        raise _refused(refused) from None
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="staff.invite_revoke",
        target_type="invite",
        target_id=str(invite.id),
        before={"email": invite.email, "role": invite.role, "status": "pending"},
        after={"email": invite.email, "role": invite.role, "status": "revoked"},
    )
    session.commit()
    return Response(status_code=204)


# ── audit ───────────────────────────────────────────────────────────────────


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # an edited row: show what is there; `audit verify` names it
        return text


@router.get("/towns/{slug}/audit", response_model=AuditPage, responses=STAFF_RESPONSES)
def audit_log(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    target_type: Annotated[str | None, Query(max_length=32, description="e.g. drop, order, staff, invite")] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """The town's audit log, newest first; `?target_type=&target_id=` for one object's history."""
    where = [AuditEntry.municipality_id == ctx.town.id]
    if target_type is not None:
        where.append(AuditEntry.target_type == target_type)
    if target_id is not None:
        where.append(AuditEntry.target_id == target_id)
    total = int(session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)
    rows = session.scalars(
        select(AuditEntry).where(*where).order_by(AuditEntry.id.desc()).limit(page.limit).offset(page.offset)
    )
    items = [
        AuditRow(
            id=row.id,
            actor=row.actor,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            before=_parsed(row.before),
            after=_parsed(row.after),
            at=row.at,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
        for row in rows
    ]
    return AuditPage(items=items, total=total, limit=page.limit, offset=page.offset)
