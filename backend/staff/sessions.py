"""Staff sessions: opened by a sign-in code, kept in the database, ended by time or by sign-out.

A session is a random token given to the browser (cookie) or API client (Bearer) once; the
table holds its SHA-256 only (`staff_sessions.token_hash`), so a copy of the database opens
nothing. Its CSRF token (sent back by the console in `X-CSRF-Token` on cookie writes) is
stored hashed the same way. Every API process reads the same rows: sign-out in one process
is sign-out in all.

Two expiries, both in Settings: absolute (`FURUSATO_STAFF_SESSION_HOURS`, default 12 h from
sign-in, however busy) and idle (`FURUSATO_STAFF_SESSION_IDLE_MINUTES`, default 2 h without
a request). `last_seen_at` is written at most once a minute per session (`TOUCH_EVERY`), so
reads stay reads; idle expiry is therefore exact to within that minute.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.core.bearer import hash_secret, new_secret
from backend.staff.models import StaffSession

#: Defaults of the two expiries (the settings carry the deployment's own).
DEFAULT_LIFETIME = timedelta(hours=12)
DEFAULT_IDLE = timedelta(hours=2)
#: `last_seen_at` is moved forward only when it is older than this.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedSession:
    """The secrets of a new session, shown once to whoever signed in."""

    token: str
    csrf_token: str
    #: The absolute end; idleness may end it sooner.
    expires_at: datetime


def open_session(
    session: Session, staff_id: int, now: datetime, *, lifetime: timedelta = DEFAULT_LIFETIME
) -> IssuedSession:
    """A new session for the member, ending at `now + lifetime` at the latest."""
    token, csrf_token = new_secret(), new_secret()
    expires_at = now + lifetime
    session.add(
        StaffSession(
            token_hash=hash_secret(token),
            staff_id=staff_id,
            csrf_hash=hash_secret(csrf_token),
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return IssuedSession(token, csrf_token, expires_at)


def aware_like(at: datetime, like: datetime) -> datetime:
    """SQLite returns datetimes without their zone (they are UTC); compare like with like."""
    return at.replace(tzinfo=like.tzinfo) if at.tzinfo is None and like.tzinfo is not None else at


def live_session(session: Session, token: str, now: datetime, idle: timedelta = DEFAULT_IDLE) -> StaffSession | None:
    """The session of `token` if it is neither revoked, past its end, nor idle too long."""
    row = session.get(StaffSession, hash_secret(token))
    if row is None or row.revoked_at is not None:
        return None
    if now >= aware_like(row.expires_at, now) or now >= aware_like(row.last_seen_at, now) + idle:
        return None
    return row


def needs_touch(row: StaffSession, now: datetime) -> bool:
    return now - aware_like(row.last_seen_at, now) >= TOUCH_EVERY


def touch(session: Session, token_hash: str, now: datetime) -> None:
    """Move `last_seen_at` to `now` (never back: two processes may touch at once)."""
    session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == token_hash, StaffSession.last_seen_at < now)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def csrf_matches(row: StaffSession, header: str | None) -> bool:
    """Whether `header` is the session's CSRF token (compared in constant time)."""
    return bool(header) and hmac.compare_digest(hash_secret(header or ""), row.csrf_hash)


def revoke(session: Session, token_hash: str, now: datetime) -> bool:
    """End one session (sign-out); True if it was live."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == token_hash, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_all(session: Session, staff_id: int, now: datetime) -> int:
    """End every session of the member (sign-out everywhere; also on removal); returns how many."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
