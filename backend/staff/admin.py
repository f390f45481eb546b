"""The operator's staff commands (`furusato staff add`), apart from the CLI's argument parsing.

The operator is trusted (they hold the database), so any role may be given, the first owner of
a town included; the change is still an audit row, with actor `cli:<login name>`.
"""

from __future__ import annotations

import getpass

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.core import audit
from backend.core.db import session_scope
from backend.holders.custody import normalise_email
from backend.staff.members import add_member, member_by_email, role_in
from backend.staff.models import ROLES
from backend.towns.models import Municipality

_EMAIL = TypeAdapter(EmailStr)


class AdminError(Exception):
    """A one-line reason for the operator (unknown town, bad role or address)."""


def operator() -> str:
    """The audit actor of a CLI change."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli:operator"


def add_staff_member(sessions: sessionmaker[Session], email: str, town_slug: str, role: str) -> str:
    """Give `email` the `role` in the town; returns the line to print."""
    if role not in ROLES:
        raise AdminError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    try:
        address = normalise_email(_EMAIL.validate_python(email.strip()))
    except ValidationError:
        raise AdminError(f"{email!r} is not an e-mail address") from None
    with session_scope(sessions) as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == town_slug))
        if town is None:
            known = ", ".join(session.scalars(select(Municipality.slug).order_by(Municipality.slug))) or "none"
            raise AdminError(f"no town {town_slug!r} on this deployment (towns: {known})")
        known_member = member_by_email(session, address)
        previous = role_in(session, town.id, known_member.id) if known_member is not None else None
        before = {"email": address, "role": previous.role} if previous is not None else None
        member = add_member(session, town, address, role)
        audit.record(
            session,
            town_id=town.id,
            actor=operator(),
            action="staff.add",
            target_type="staff",
            target_id=str(member.id),
            before=before,
            after={"email": address, "role": role},
        )
        return f"{address} is {role} of {town.slug} ({town.name_en}); they sign in with a code mailed to that address"
