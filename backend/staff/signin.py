"""Staff sign-in by a 6-digit code sent by mail (mail scanners open links, so no magic links).

A code is drawn with `secrets`, lives 10 minutes, works once, and locks after 5 tries. Only
the newest code of an address counts: asking again replaces the last one. The table stores
HMAC-SHA-256 of (address, code) keyed with the deployment's secret (`FURUSATO_SECRET_KEY`):
a million codes are quick to try against a plain hash, not against a keyed one.

Tries are counted before the comparison, by one conditional UPDATE (`attempts < 5 AND unused
AND unexpired`): twenty guesses sent at once still get five comparisons between them, and the
right code is used once however many requests race with it.

No enumeration: addresses that are not staff get a decoy code (stored, never mailed, its value
thrown away), so `POST /session` answers them exactly as it answers staff: `code_invalid` five
times, then `code_locked`; `code_expired` after ten minutes. Only staff of some town get mail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.holders.custody import normalise_email
from backend.staff.members import member_by_email
from backend.staff.models import SignInCode, StaffMember

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
CODE_DIGITS = 6


class CodeRefused(Exception):
    """The code does not sign anyone in; `code` is the API error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret_key: str, email: str, code: str) -> str:
    return hmac.new(secret_key.encode(), f"{email}\n{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(session: Session, secret_key: str, email: str, now: datetime) -> str:
    """Store a new code for `email` (normalised) and return it, to be mailed or thrown away."""
    address = normalise_email(email)
    code = new_code()
    session.add(
        SignInCode(
            email=address, code_hash=code_hash(secret_key, address, code), expires_at=now + CODE_TTL, created_at=now
        )
    )
    session.flush()
    return code


@dataclass(frozen=True)
class Redeemed:
    member: StaffMember
    code_id: int


def redeem_code(session: Session, secret_key: str, email: str, code: str, now: datetime) -> Redeemed:
    """Use the newest code of `email` once; raises `CodeRefused` naming why not.

    Counts the try in the caller's transaction: commit even when it raises, or the try is
    not counted."""
    address = normalise_email(email)
    row = session.scalar(
        select(SignInCode)
        .where(SignInCode.email == address)
        .order_by(SignInCode.created_at.desc(), SignInCode.id.desc())
        .limit(1)
    )
    if row is None:
        raise CodeRefused("code_invalid")
    counted = session.execute(
        update(SignInCode)
        .where(
            SignInCode.id == row.id,
            SignInCode.used_at.is_(None),
            SignInCode.attempts < MAX_ATTEMPTS,
            SignInCode.expires_at > now,
        )
        .values(attempts=SignInCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(row)
        if row.used_at is not None:
            raise CodeRefused("code_used")
        if row.attempts >= MAX_ATTEMPTS:
            raise CodeRefused("code_locked")
        raise CodeRefused("code_expired")
    if not (code.isascii() and code.isdigit()) or not hmac.compare_digest(
        code_hash(secret_key, address, code), row.code_hash
    ):
        raise CodeRefused("code_invalid")
    used = session.execute(
        update(SignInCode)
        .where(SignInCode.id == row.id, SignInCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise CodeRefused("code_used")
    member = member_by_email(session, address)
    if member is None:  # a decoy cannot match; a member deleted meanwhile can
        raise CodeRefused("code_invalid")
    return Redeemed(member, row.id)
