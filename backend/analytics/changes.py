"""Marking what changed for the figures, in the writer's own transaction.

Every area that writes something a figure depends on calls one of these next to its write:
the change row commits or rolls back with it, so the rollup (`rollup.py`) can never miss a
committed change nor apply one that did not happen. A mark is one small INSERT into an
append-only table: no shared row is touched, so marking adds no lock contention to order
intake, check-ins or votes.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from backend.analytics.models import AnalyticsChange
from backend.core.db import utcnow


def _mark(session: Session, kind: str, key: str, municipality_id: int | None) -> None:
    session.execute(
        insert(AnalyticsChange).values(municipality_id=municipality_id, kind=kind, key=key, created_at=utcnow())
    )


def mark_email(session: Session, email: str, municipality_id: int | None = None) -> None:
    """The person with this e-mail changed (an order, an application, a bidder). Without a
    town, every town the person has orders in is recomputed."""
    _mark(session, "email", email.strip().lower(), municipality_id)


def mark_address(session: Session, address: str, municipality_id: int | None = None) -> None:
    """Whoever holds or held with this address changed (a check-in, a redemption, a vote)."""
    _mark(session, "address", address.lower(), municipality_id)


def mark_scan(session: Session, campaign_id: int, day: str, municipality_id: int) -> None:
    """A campaign's scans of one Japan day changed."""
    _mark(session, "scan", f"{campaign_id}:{day}", municipality_id)


def mark_town(session: Session, municipality_id: int) -> None:
    """Recompute every person of the town (its premium rule changed, or an operator asked)."""
    _mark(session, "town", "", municipality_id)
