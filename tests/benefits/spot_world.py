"""Helpers of the spot and check-in tests: an app on a fresh eth-tester chain (the demo town
"hoshikawa" seeded, its drop 1 on sale), a holder who bought a card of it (demo payment,
minted on chain), holders without one, staff headers, spots made through the staff API, and
the request clock moved (`request_time` overridden) for days and kiosk windows.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.core.models import RateCounter
from backend.holders.custody import ensure_holder
from backend.holders.signin import exchange_link, request_link
from backend.runtime import Runtime
from backend.staff.deps import request_time
from minting.store import TokenOwnerRow
from minting.worker import stop_loops
from tests.factories import staff_headers

TOWN = "hoshikawa"
STAFF = f"/api/v1/staff/towns/{TOWN}"
DEMO_DROP_ID = 1
MINT_TIMEOUT_SECONDS = 60.0


def make_client(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp(name) / "data")
    with TestClient(create_app(settings)) as client:
        yield client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def fresh_limits(client: TestClient) -> TestClient:
    with session_scope(runtime_of(client).sessions) as session:
        session.execute(delete(RateCounter))
    return client


def staff(client: TestClient, role: str, town: str = TOWN) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, town, role)


@contextmanager
def clock(client: TestClient, moment: datetime) -> Iterator[None]:
    """Requests judged at `moment` (check-in days, kiosk windows) while inside."""
    overrides = client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[request_time] = lambda: moment
    try:
        yield
    finally:
        overrides.pop(request_time, None)


# ── holders ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SignedIn:
    holder_id: int
    email: str
    address: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def holder(client: TestClient, email: str | None = None) -> SignedIn:
    """A holder (custodial key made if new) with a fresh session, as the emailed link opens one."""
    runtime = runtime_of(client)
    email = email or f"visitor-{uuid.uuid4().hex[:10]}@example.jp"
    now = datetime.now().astimezone()
    with session_scope(runtime.sessions) as session:
        made = ensure_holder(session, runtime.vault, email)
        issued = request_link(session, email, runtime.settings.public_url, now)
        assert issued is not None
        opened = exchange_link(session, issued[1].rsplit("#token=", 1)[1], now)
        assert opened is not None
        return SignedIn(made.id, made.email, made.address, opened.token)


def card_holder(client: TestClient) -> SignedIn:
    """A holder of one minted card of the demo town: a walletless demo order, paid, minted by
    the mint worker and seen by the indexer (both run for this, then stop: the rest of the
    module needs no chain work)."""
    runtime = runtime_of(client)
    email = f"holder-{uuid.uuid4().hex[:10]}@example.jp"
    body = {"drop_id": DEMO_DROP_ID, "quantity": 1, "email": email, "prefecture": "13", "payment_method": "demo"}
    created = client.post("/api/v1/orders", json=body)
    assert created.status_code == 201, created.text
    order_id, token = created.json()["order_id"], created.json()["order_token"]
    auth = {"Authorization": f"Bearer {token}"}
    paid = client.post(f"/api/v1/orders/{order_id}/demo-pay", headers=auth)
    assert paid.status_code == 200, paid.text
    runtime.start_worker()
    try:
        deadline = time.monotonic() + MINT_TIMEOUT_SECONDS
        while not _indexed(client, order_id, auth):
            assert time.monotonic() < deadline, f"order {order_id} not minted and indexed in {MINT_TIMEOUT_SECONDS} s"
            time.sleep(0.05)
    finally:
        stop_loops(runtime.threads)
        runtime.threads.clear()
    return holder(client, email)


def _indexed(client: TestClient, order_id: str, auth: dict[str, str]) -> bool:
    order = client.get(f"/api/v1/orders/{order_id}", headers=auth).json()
    if order["status"] != "minted":
        return False
    runtime = runtime_of(client)
    with runtime.sessions() as session:
        owners = session.scalars(
            select(TokenOwnerRow.owner).where(
                TokenOwnerRow.chain_id == runtime.manifest.chain_id, TokenOwnerRow.token_id.in_(order["token_ids"])
            )
        ).all()
    return len(owners) == len(order["token_ids"])


# ── spots ───────────────────────────────────────────────────────────────────

#: 星川町 in the demo: a point, and one about 1.1 km north of it.
HERE = (38.2500, 140.3300)
NORTH_1100_M = (38.2599, 140.3300)


def make_spot(client: TestClient, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name_ja": f"スポット{uuid.uuid4().hex[:6]}", "name_en": "A spot", **fields}
    response = client.post(f"{STAFF}/spots", json=body, headers=staff(client, "editor"))
    assert response.status_code == 201, response.text
    spot: dict[str, Any] = response.json()
    return spot


def check_in(client: TestClient, who: SignedIn, code: str, **body: Any) -> Any:
    return client.post(f"/api/v1/spots/{code}/check-ins", json=body, headers=who.headers)
