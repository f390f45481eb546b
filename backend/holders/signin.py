"""Sign-in for walletless holders: an emailed one-time link, exchanged for a session token.

Only the SHA-256 of each secret is stored (`SignInToken.token_hash`), so a copy of the
database signs no one in. A link is used by one conditional UPDATE (`used_at IS NULL AND
expires_at > now`): of two exchanges racing on the same link exactly one changes the row,
so exactly one session is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.bearer import hash_secret, new_secret
from backend.holders.custody import normalise_email
from backend.holders.models import Holder, SignInToken

LINK_TTL = timedelta(minutes=30)
SESSION_TTL = timedelta(days=30)


def _issue(session: Session, holder: Holder, kind: str, ttl: timedelta, now: datetime) -> tuple[str, datetime]:
    secret = new_secret()
    expires_at = now + ttl
    session.add(
        SignInToken(
            token_hash=hash_secret(secret), holder_id=holder.id, kind=kind, expires_at=expires_at, created_at=now
        )
    )
    session.flush()
    return secret, expires_at


def sign_in_link(public_url: str, secret: str) -> str:
    """The link to mail. The secret is in the fragment, which browsers never send to a server
    (so it stays out of access logs and Referer headers); the page posts it to `/session`."""
    return f"{public_url.rstrip('/')}/signin.html#token={secret}"


def request_link(session: Session, email: str, public_url: str, now: datetime) -> tuple[Holder, str] | None:
    """A new sign-in link for the holder with `email`, or None if there is no such holder."""
    holder = session.scalar(select(Holder).where(Holder.email == normalise_email(email)))
    if holder is None:
        return None
    secret, _expires = _issue(session, holder, "link", LINK_TTL, now)
    return holder, sign_in_link(public_url, secret)


@dataclass(frozen=True)
class NewSession:
    """A session token, shown once to the browser that exchanged the link."""

    token: str
    expires_at: datetime
    holder: Holder


def exchange_link(session: Session, secret: str, now: datetime) -> NewSession | None:
    """Use the link `secret` once and open a session; None if unknown, used or expired."""
    token_hash = hash_secret(secret)
    used = session.execute(
        update(SignInToken)
        .where(
            SignInToken.token_hash == token_hash,
            SignInToken.kind == "link",
            SignInToken.used_at.is_(None),
            SignInToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return None
    holder_id = session.scalar(select(SignInToken.holder_id).where(SignInToken.token_hash == token_hash))
    holder = session.get(Holder, holder_id)
    assert holder is not None
    token, expires_at = _issue(session, holder, "session", SESSION_TTL, now)
    return NewSession(token, expires_at, holder)


def holder_for_session(session: Session, token: str, now: datetime) -> Holder | None:
    """The holder a live session token belongs to, else None."""
    holder_id = session.scalar(
        select(SignInToken.holder_id).where(
            SignInToken.token_hash == hash_secret(token),
            SignInToken.kind == "session",
            SignInToken.expires_at > now,
        )
    )
    return None if holder_id is None else session.get(Holder, holder_id)
