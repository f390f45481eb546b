"""Small factories for tests: rows and credentials built the way the app builds them.

Each area adds its own helpers here; keep them small and independent.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import session_scope, utcnow
from backend.staff.members import add_member
from backend.staff.sessions import open_session
from backend.towns.models import Municipality

# ── staff ───────────────────────────────────────────────────────────────────


def staff_session(
    sessions_factory: sessionmaker[Session], town_slug: str, role: str, email: str | None = None
) -> tuple[str, str, str]:
    """A member with `role` in the town (created if new) and a fresh session for them:
    (email, session token, CSRF token)."""
    address = email or f"{role}-{uuid.uuid4().hex[:10]}@{town_slug}.example"
    with session_scope(sessions_factory) as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == town_slug))
        assert town is not None, f"no town {town_slug!r}"
        member = add_member(session, town, address, role)
        issued = open_session(session, member.id, utcnow())
    return address, issued.token, issued.csrf_token


def staff_headers(
    sessions_factory: sessionmaker[Session], town_slug: str, role: str, email: str | None = None
) -> dict[str, str]:
    """The Bearer header of a fresh member with `role` in the town (no CSRF needed)."""
    _address, token, _csrf = staff_session(sessions_factory, town_slug, role, email)
    return {"Authorization": f"Bearer {token}"}


def add_town(sessions_factory: sessionmaker[Session], slug: str, **fields: object) -> int:
    """A town row (no contracts of its own: fine for staff tests); returns its id."""
    values: dict[str, object] = {"name_ja": f"{slug}町", "name_en": f"{slug.title()} Town", "prefecture": "06"}
    values.update(fields)
    with session_scope(sessions_factory) as session:
        town = Municipality(slug=slug, **values)
        session.add(town)
        session.flush()
        return town.id
