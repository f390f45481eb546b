"""Helpers of the verify, redeem, device and benefits-staff tests (helper B's; the spot and
check-in tests keep theirs in `spot_world.py`).

An app on a fresh eth-tester chain (the demo town "hoshikawa" and its drop 1 seeded), cards
bought the way a supporter buys one (demo order, paid, minted, seen by the indexer), proofs
signed with the deployment's pass key (`issue_pass`, as GET /api/v1/holders/me/pass does),
shops, benefits and device links made through the staff API, and the verifier's clock moved
by overriding `backend.benefits.deps.verify_time`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from web3 import Web3

from backend.app import create_app
from backend.benefits.deps import verify_time
from backend.benefits.models import Redemption
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.core.models import AuditEntry, RateCounter
from backend.holders.custody import ensure_holder
from backend.holders.pass_token import issue_pass, pass_vault
from backend.holders.signin import exchange_link, request_link
from backend.runtime import Runtime
from minting.store import TokenOwnerRow
from tests.factories import staff_headers

TOWN = "hoshikawa"
STAFF = f"/api/v1/staff/towns/{TOWN}"
DEMO_DROP_ID = 1
WAIT_SECONDS = 60.0
POLL_SECONDS = 0.05


def start_client(data_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    """An app on a fresh chain (start-up deploys contracts: ~10 s) with its mint worker and
    indexer running (a TestClient does not start them), for one test module."""
    settings = Settings(chain="eth-tester://", data_dir=data_dir, **overrides)
    with TestClient(create_app(settings)) as client:
        runtime_of(client).start_worker()
        yield client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def fresh_limits(client: TestClient) -> TestClient:
    """Every rate counter cleared (tests share one client address and one minute)."""
    with session_scope(runtime_of(client).sessions) as session:
        session.execute(delete(RateCounter))
    return client


def staff(client: TestClient, role: str, town: str = TOWN) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, town, role)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def clock(client: TestClient, moment: datetime) -> Iterator[None]:
    """Passes, periods and device links judged at `moment` while inside."""
    overrides = client.app.dependency_overrides  # type: ignore[attr-defined]
    overrides[verify_time] = lambda: moment
    try:
        yield
    finally:
        overrides.pop(verify_time, None)


# ── cards ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Card:
    """A minted card of the demo town and what its buyer holds to act on it."""

    email: str
    order_id: str
    order_token: str
    chain_id: int
    contract: str
    token_id: int
    #: Its owner (the buyer's custodial address), lower case.
    holder: str


def owner_now(client: TestClient, chain_id: int, contract: str, token_id: int) -> str | None:
    """The card's owner as the indexer has seen it (lower case), or None."""
    with runtime_of(client).sessions() as session:
        row = session.get(TokenOwnerRow, (chain_id, Web3.to_checksum_address(contract), token_id))
        return None if row is None else row.owner.lower()


def buy_card(client: TestClient, email: str | None = None) -> Card:
    """A walletless demo order for one card, paid, minted and seen by the indexer."""
    email = email or f"holder-{uuid.uuid4().hex[:10]}@example.jp"
    body = {"drop_id": DEMO_DROP_ID, "quantity": 1, "email": email, "prefecture": "13", "payment_method": "demo"}
    created = client.post("/api/v1/orders", json=body)
    assert created.status_code == 201, created.text
    order_id, token = created.json()["order_id"], created.json()["order_token"]
    paid = client.post(f"/api/v1/orders/{order_id}/demo-pay", headers=bearer(token))
    assert paid.status_code == 200, paid.text

    def minted() -> dict[str, Any] | None:
        order: dict[str, Any] = client.get(f"/api/v1/orders/{order_id}", headers=bearer(token)).json()
        return order if order["status"] == "minted" else None

    order = wait_for(minted, f"order {order_id} to be minted")
    token_id = order["token_ids"][0]
    holder = wait_for(
        lambda: owner_now(client, order["chain_id"], order["contract"], token_id), f"the indexer to see {token_id}"
    )
    return Card(email, order_id, token, order["chain_id"], order["contract"], token_id, holder)


def proof_for(
    client: TestClient,
    card: Card,
    *,
    holder: str | None = None,
    now: datetime | None = None,
    ttl_seconds: int = 60,
    town: str = TOWN,
    token_id: int | None = None,
) -> str:
    """A pass proof for the card signed with the deployment's key, as the holder's pass page
    gets it (the holder, time, town or token id may be set to make a refused one)."""
    runtime = runtime_of(client)
    proof, _expires = issue_pass(
        runtime.sessions,
        pass_vault(runtime.settings.secret_key.get_secret_value()),
        town=town,
        chain_id=card.chain_id,
        contract=card.contract,
        token_id=card.token_id if token_id is None else token_id,
        holder=holder or card.holder,
        now=now or datetime.now(UTC),
        ttl_seconds=ttl_seconds,
    )
    return proof


def holder_session(client: TestClient, email: str) -> dict[str, str]:
    """The Bearer header of the holder `email` (custodial key made if new), as their emailed link opens."""
    runtime = runtime_of(client)
    now = datetime.now(UTC)
    with session_scope(runtime.sessions) as session:
        ensure_holder(session, runtime.vault, email)
        issued = request_link(session, email, runtime.settings.public_url, now)
        assert issued is not None
        opened = exchange_link(session, issued[1].rsplit("#token=", 1)[1], now)
        assert opened is not None
        return bearer(opened.token)


def move_card(client: TestClient, card: Card, to_address: str) -> None:
    """The holder moves the card to a wallet (the relayer sends it); returns once the indexer
    has seen the new owner."""
    moved = client.post(
        f"/api/v1/holders/me/cards/{card.token_id}/move",
        headers=holder_session(client, card.email),
        json={"to_address": to_address},
    )
    assert moved.status_code == 202, moved.text
    wait_for(
        lambda: owner_now(client, card.chain_id, card.contract, card.token_id) == to_address.lower(),
        "the indexer to see the move",
    )


# ── shops, benefits, devices ────────────────────────────────────────────────


def make_shop(client: TestClient, owner: dict[str, str], name_ja: str = "星川温泉", town: str = TOWN) -> int:
    made = client.post(
        f"/api/v1/staff/towns/{town}/shops", headers=owner, json={"name_ja": name_ja, "name_en": f"{name_ja} (en)"}
    )
    assert made.status_code == 201, made.text
    shop_id: int = made.json()["id"]
    return shop_id


def make_benefit(
    client: TestClient, owner: dict[str, str], shop_id: int, period: str = "month", **fields: Any
) -> dict[str, Any]:
    town = fields.pop("town", TOWN)
    body = {"title_ja": "日帰り入浴無料", "title_en": "Free day bath", "shop_id": shop_id, "period": period, **fields}
    made = client.post(f"/api/v1/staff/towns/{town}/benefits", headers=owner, json=body)
    assert made.status_code == 201, made.text
    benefit: dict[str, Any] = made.json()
    return benefit


def device_link(client: TestClient, owner: dict[str, str], shop_id: int, label: str = "受付") -> dict[str, Any]:
    made = client.post(f"{STAFF}/shops/{shop_id}/devices", headers=owner, json={"label": label})
    assert made.status_code == 201, made.text
    link: dict[str, Any] = made.json()
    return link


def device_token(client: TestClient, owner: dict[str, str], shop_id: int) -> tuple[int, dict[str, str]]:
    """A device of the shop, signed in: (device id, its Bearer header)."""
    link = device_link(client, owner, shop_id)
    opened = client.post("/api/v1/verify/devices/session", json={"link": link["link_url"]})
    assert opened.status_code == 200, opened.text
    return link["device_id"], bearer(opened.json()["device_token"])


# ── races ───────────────────────────────────────────────────────────────────

RACE_COPIES = 20


def redeem_at_once(
    client: TestClient, benefit_id: int, proof: str, headers: dict[str, str], copies: int = RACE_COPIES
) -> list[Any]:
    """`copies` redemptions of one benefit with one proof, released together from a barrier
    (each thread's request runs in the app's own thread pool, so they meet in the database)."""
    gate = threading.Barrier(copies)

    def one(_index: int) -> Any:
        gate.wait()
        return client.post(f"/api/v1/benefits/{benefit_id}/redemptions", json={"proof": proof}, headers=headers)

    with ThreadPoolExecutor(copies) as pool:
        return list(pool.map(one, range(copies)))


def assert_exactly_one(client: TestClient, responses: list[Any], benefit_id: int) -> None:
    """One 201, every other answer 409 already_redeemed naming when and where; one row, one
    audit row."""
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: len(responses) - 1}, [(r.status_code, r.text) for r in responses]
    refusals = [response.json()["error"] for response in responses if response.status_code == 409]
    assert {refusal["code"] for refusal in refusals} == {"already_redeemed"}
    assert all("日本時間" in refusal["message"] and "JST" in refusal["message"] for refusal in refusals)
    with runtime_of(client).sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Redemption).where(Redemption.benefit_id == benefit_id))
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "benefit.redeem", AuditEntry.after.startswith(f'{{"benefit_id":{benefit_id},'))
        )
    assert rows == 1
    assert audited == 1
