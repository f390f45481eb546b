"""Small factories for tests: rows and credentials built the way the app builds them.

Each area adds its own helpers here; keep them small and independent.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import session_scope, utcnow
from backend.staff.members import add_member
from backend.staff.sessions import open_session
from backend.towns.models import Municipality
from tests.sales.conftest import bearer

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


# ── orders (H-orders) ───────────────────────────────────────────────────────


def add_plain_drop(sessions_factory: sessionmaker[Session], town_id: int, **fields: object) -> int:
    """A live drop row of the town with no series on chain (enough for reading orders); its id."""
    from backend.sales.models import Drop

    values: dict[str, object] = {
        "municipality_id": town_id,
        "title_ja": "テスト住民票",
        "title_en": "Test card",
        "price_jpy": 1000,
        "supply": 1_000_000,
        "reserved": 0,
        "per_buyer_limit": 5,
        "starts_at": utcnow(),
        "chain_id": 31337,
        "contract": "0x" + "ab" * 20,
        "status": "live",
    }
    values.update(fields)
    with session_scope(sessions_factory) as session:
        drop = Drop(**values)
        session.add(drop)
        session.flush()
        return drop.id


def bulk_orders(
    sessions_factory: sessionmaker[Session],
    drop_id: int,
    count: int,
    *,
    names: tuple[str, ...] = ("髙橋", "山﨑", "渡邊"),
    batch: int = 10_000,
    prefix: str = "bulk",
    first_token_id: int = 1,
) -> None:
    """`count` minted orders of one card each (card number = `first_token_id` + index),
    inserted in bulk (executemany) so a test can export 100,000 of them in seconds; ids are
    `ord_<prefix><index>`. Emails carry `names` in turn, so exports hold Japanese text."""
    from sqlalchemy import insert

    from backend.sales.models import Order, OrderCard

    start = utcnow()
    with session_scope(sessions_factory) as session:
        for first in range(0, count, batch):
            indexes = range(first, min(first + batch, count))
            session.execute(
                insert(Order),
                [
                    {
                        "id": f"ord_{prefix}{index:09d}",
                        "drop_id": drop_id,
                        "quantity": 1,
                        "email": f"{names[index % len(names)]}{index}@example.jp",
                        "prefecture": f"{index % 48:02d}",
                        "payment_method": "demo",
                        "status": "minted",
                        "token_hash": "0" * 64,
                        "amount_jpy": 1000,
                        "payment_data": "{}",
                        "expires_at": start,
                        "created_at": start,
                    }
                    for index in indexes
                ],
            )
            session.execute(
                insert(OrderCard),
                [
                    {"order_id": f"ord_{prefix}{index:09d}", "token_id": first_token_id + index, "drop_id": drop_id}
                    for index in indexes
                ],
            )


# ── orders ──────────────────────────────────────────────────────────────────


def await_minted(client: TestClient, created: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """The buyer's view of the order `created` (as `POST /orders` answered it) once minted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order: dict[str, Any] = client.get(f"/api/v1/orders/{created['order_id']}", headers=bearer(created)).json()
        if order["status"] == "minted":
            return order
        time.sleep(0.1)
    raise AssertionError(f"not minted within {timeout} s")
