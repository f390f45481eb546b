"""What the polls tests share: an app, a clock the tests move (no sleeps), cards made by
inserting the rows the indexer and the sales area would write, holders with a session, and
a poll driven through the staff API to its opening and close."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core.bearer import hash_secret
from backend.core.db import session_scope, utcnow
from backend.holders.custody import ensure_holder
from backend.holders.models import Holder, SignInToken
from backend.polls.polls import poll_time
from backend.runtime import Runtime
from backend.sales.models import Drop, Order, OrderCard
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow
from tests.factories import add_plain_drop, staff_headers

#: The demo town `open_runtime` seeds.
TOWN = "hoshikawa"


class Clock:
    """The time poll requests are judged by (`poll_time`); tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def at(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


def install_clock(app: FastAPI) -> Clock:
    clock = Clock()
    app.dependency_overrides[poll_time] = lambda: clock.now
    return clock


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def town_id(sessions: sessionmaker[Session], slug: str = TOWN) -> int:
    with sessions() as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == slug))
        assert town is not None
        return town.id


def set_approval(sessions: sessionmaker[Session], needed: bool, slug: str = TOWN) -> None:
    with session_scope(sessions) as session:
        session.execute(update(Municipality).where(Municipality.slug == slug).values(posts_need_approval=needed))


def card_drop(runtime: Runtime, slug: str = TOWN) -> tuple[int, str]:
    """A new card series of the town on a contract of its own (no chain needed): (drop id, contract)."""
    contract = Account.create().address
    drop_id = add_plain_drop(
        runtime.sessions, town_id(runtime.sessions, slug), contract=contract, chain_id=runtime.manifest.chain_id
    )
    return drop_id, contract


@dataclass(frozen=True)
class Card:
    drop_id: int
    contract: str
    token_id: int
    order_id: str

    @property
    def ref(self) -> dict[str, Any]:
        return {"contract": self.contract, "token_id": self.token_id}


def give_card(runtime: Runtime, drop_id: int, contract: str, token_id: int, owner: str) -> Card:
    """A minted card `token_id` owned by `owner`: the paid order, its card and the indexer's row."""
    order_id = f"ord_poll{uuid.uuid4().hex[:20]}"
    now = utcnow()
    with session_scope(runtime.sessions) as session:
        session.add(
            Order(
                id=order_id,
                drop_id=drop_id,
                quantity=1,
                email=f"{order_id}@example.jp",
                prefecture="13",
                payment_method="demo",
                status="minted",
                token_hash="0" * 64,
                amount_jpy=1000,
                recipient=owner,
                expires_at=now,
            )
        )
        session.flush()
        session.add(OrderCard(order_id=order_id, token_id=token_id, drop_id=drop_id))
        session.add(
            TokenOwnerRow(
                chain_id=runtime.manifest.chain_id, contract=contract, token_id=token_id, owner=owner, block_number=1
            )
        )
    return Card(drop_id, contract, token_id, order_id)


def move_card(runtime: Runtime, card: Card, owner: str) -> None:
    """The indexer saw the card go to `owner`."""
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(TokenOwnerRow)
            .where(TokenOwnerRow.contract == card.contract, TokenOwnerRow.token_id == card.token_id)
            .values(owner=owner)
        )


def revoke(runtime: Runtime, card: Card) -> None:
    """The card's order was refunded after minting."""
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(OrderCard)
            .where(OrderCard.order_id == card.order_id, OrderCard.token_id == card.token_id)
            .values(revoked_at=utcnow())
        )


@dataclass(frozen=True)
class Voter:
    email: str
    address: str
    headers: dict[str, str]


def voter(runtime: Runtime, email: str | None = None) -> Voter:
    """An email holder (custodial address) with a live session."""
    address = email or f"voter-{uuid.uuid4().hex[:12]}@example.jp"
    token = secrets.token_urlsafe(32)
    with session_scope(runtime.sessions) as session:
        holder: Holder = ensure_holder(session, runtime.vault, address)
        session.add(
            SignInToken(
                token_hash=hash_secret(token),
                holder_id=holder.id,
                kind="session",
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
        return Voter(holder.email, holder.address, {"Authorization": f"Bearer {token}"})


def staff(runtime: Runtime, role: str = "editor") -> dict[str, str]:
    return staff_headers(runtime.sessions, TOWN, role)


def poll_body(opens_at: datetime, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "question_ja": "新しい足湯はどこに？",
        "question_en": "Where should the new foot bath go?",
        "options": [
            {"label_ja": "駅前", "label_en": "By the station"},
            {"label_ja": "川沿い", "label_en": "By the river"},
            {"label_ja": "温泉街", "label_en": "In the spa street"},
        ],
        "opens_at": opens_at.isoformat(),
        "closes_at": (opens_at + timedelta(days=7)).isoformat(),
        "series": [],
        "quorum_percent": 10,
        "allow_change": True,
    }
    body.update(overrides)
    return body


def scheduled_poll(client: TestClient, clock: Clock, **overrides: Any) -> dict[str, Any]:
    """A poll created and submitted (the town asks for no approval): scheduled an hour from
    the real time, so the app's own clock loop never reaches it; the tests move `clock`."""
    runtime = runtime_of(client)
    set_approval(runtime.sessions, False)
    opens_at = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    clock.at(utcnow().replace(microsecond=0))
    editor = staff(runtime)
    created = client.post(f"/api/v1/staff/towns/{TOWN}/polls", json=poll_body(opens_at, **overrides), headers=editor)
    assert created.status_code == 201, created.text
    poll = created.json()
    submitted = client.post(f"/api/v1/staff/towns/{TOWN}/polls/{poll['id']}/submit", headers=editor)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "scheduled"
    return dict(submitted.json())


def open_poll(client: TestClient, clock: Clock, poll: dict[str, Any]) -> dict[str, Any]:
    clock.at(datetime.fromisoformat(poll["opens_at"]) + timedelta(seconds=1))
    answer = client.get(f"/api/v1/polls/{poll['id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "open"
    return dict(answer.json())


def close_poll(client: TestClient, clock: Clock, poll: dict[str, Any]) -> dict[str, Any]:
    clock.at(datetime.fromisoformat(poll["closes_at"]) + timedelta(seconds=1))
    answer = client.get(f"/api/v1/polls/{poll['id']}/results")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def vote(client: TestClient, who: Voter, poll: dict[str, Any], position: int, *cards: Card) -> Any:
    option = next(o for o in poll["options"] if o["position"] == position)
    return client.post(
        f"/api/v1/polls/{poll['id']}/votes",
        json={"option_id": option["id"], "cards": [card.ref for card in cards]},
        headers=who.headers,
    )


def drop_ids_of(sessions: sessionmaker[Session], slug: str = TOWN) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(Drop.id).where(Drop.municipality_id == town_id(sessions, slug))))
