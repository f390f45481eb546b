"""Erasure under a deletion request (APPI): after staff complete it, no answer of the town
(orders list, CSV and detail, redemptions, check-ins, the analytics person, the holder's own
data, the queue, the audit log) carries the person's e-mail or any of their addresses, no
row of the town joins their activity to them, the figures' counts are exactly what they
were, and their old session no longer signs in. SQLite, and the same on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, or_, select

from backend.analytics.erasure import ERASED_DOMAIN, ZERO_ADDRESS, is_erased_email
from backend.analytics.models import AnalyticsChange, AnalyticsCount, AnalyticsPerson, AnalyticsPersonAddress
from backend.analytics.rollup import catch_up, rebuild
from backend.app import create_app
from backend.benefits.models import CheckIn, Redemption
from backend.core.config import Settings
from backend.core.db import session_scope, utcnow
from backend.core.models import AuditEntry, RateCounter
from backend.holders.models import Holder, SignInToken
from backend.lottery.models import LotteryApplication
from backend.naming.models import LotBidder
from backend.polls.models import AnnouncementDelivery, MailOptOut, PollElector, PollVote
from backend.runtime import Runtime
from backend.sales.models import BuyerCount, Order
from tests.analytics.people_world import STAFF, TOWN, Person, make_person, town_id
from tests.factories import add_plain_drop, add_town, staff_headers

pytestmark = pytest.mark.chain


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("erasure") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    with runtime_of(app_client).sessions() as session:
        session.query(RateCounter).delete()
        session.commit()
    return app_client


def counts_of(runtime: Runtime) -> dict[tuple[str, str, str, str], int]:
    with runtime.sessions() as session:
        tid = town_id(runtime.sessions)
        return {
            (row.metric, row.dim1, row.dim2, row.day): row.value
            for row in session.scalars(select(AnalyticsCount).where(AnalyticsCount.municipality_id == tid))
            if row.value
        }


def leaks(text: str, person: Person) -> list[str]:
    """Which of the person's identifiers `text` contains (case-insensitive)."""
    lowered = text.lower()
    return [value for value in (person.email, *person.addresses) if value.lower() in lowered]


def town_answers(client: TestClient, owner: dict[str, str], person: Person) -> dict[str, str]:
    """Every staff answer that could name the person, as text."""
    answers: dict[str, str] = {}
    for path in (
        "/orders?limit=100",
        f"/orders?email={person.email}",
        "/orders.csv",
        "/redemptions?limit=100",
        "/redemptions.csv",
        "/check-ins?limit=100",
        "/check-ins.csv",
        "/data-requests?status=completed",
        "/data-requests?kind=export",
        "/audit?limit=100",
    ):
        response = client.get(f"{STAFF}{path}", headers=owner)
        assert response.status_code == 200, (path, response.text)
        answers[path] = response.content.decode("utf-8-sig")
    for order_id in person.order_ids:
        response = client.get(f"{STAFF}/orders/{order_id}", headers=owner)
        assert response.status_code == 200, response.text
        detail = response.json()
        # A card's current owner is read from the chain (the indexer) at request time: public,
        # not something the town holds about the person. Everything else the page shows is.
        on_chain = [card.pop("owner") for card in detail["cards"]]
        assert all(owner is None or owner.startswith("0x") for owner in on_chain)
        answers[f"/orders/{order_id}"] = json.dumps(detail)
    with runtime_of(client).sessions() as session:
        erased = session.scalars(select(AnalyticsPerson.id).where(AnalyticsPerson.erased_at.is_not(None))).all()
    for person_id in erased:
        response = client.get(f"{STAFF}/analytics/people/{person_id}", headers=owner)
        assert response.status_code in (200, 404), response.text
        answers[f"/analytics/people/{person_id}"] = response.text
    return answers


def complete_deletion(client: TestClient, person: Person, owner: dict[str, str]) -> dict[str, Any]:
    asked = client.post("/api/v1/holders/me/deletion-requests", headers=person.headers, json={"town": TOWN})
    assert asked.status_code == 201, asked.text
    done = client.post(f"{STAFF}/data-requests/{asked.json()['request_id']}/complete", headers=owner)
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return body


def assert_erased(client: TestClient, person: Person, other: Person) -> None:
    """The whole check, shared by the SQLite and PostgreSQL runs."""
    runtime = runtime_of(client)
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    catch_up(runtime.sessions)
    before = counts_of(runtime)
    assert before, "the rollup counted the people"
    answers = town_answers(client, owner, person)
    assert any(leaks(text, person) for text in answers.values()), "the person is visible before the erasure"
    mine = client.get(f"/api/v1/holders/me/data?town={TOWN}", headers=person.headers)
    assert mine.status_code == 200
    assert person.email in mine.text

    done = complete_deletion(client, person, owner)
    assert done["status"] == "completed"
    assert done["email"] is None
    assert "orders=2" in done["outcome"]
    assert "check_ins=2" in done["outcome"]

    # Counts exactly as they were, and still after the rollup runs again.
    assert counts_of(runtime) == before
    catch_up(runtime.sessions)
    assert counts_of(runtime) == before
    # A rebuild of the whole town from the raw rows keeps them too: the pseudonymised orders
    # are nobody's, the frozen person's stored contribution stays.
    rebuild(runtime.sessions, town_id(runtime.sessions))
    assert counts_of(runtime) == before

    # No answer of the town names them or any of their addresses.
    found = {path: leaks(text, person) for path, text in town_answers(client, owner, person).items()}
    assert {path: hits for path, hits in found.items() if hits} == {}
    # The other person of the town is untouched.
    theirs = client.get(f"{STAFF}/orders?email={other.email}", headers=owner).json()
    assert theirs["total"] == 2

    # Their old session is gone: no sign-in as them any more.
    assert client.get(f"/api/v1/holders/me/data?town={TOWN}", headers=person.headers).status_code == 401
    assert client.get("/api/v1/holders/me", headers=person.headers).status_code == 401

    # Row by row: nothing of the town joins the activity to them.
    tid = town_id(runtime.sessions)
    addresses = sorted(address.lower() for address in person.addresses)
    with runtime.sessions() as session:
        orders = session.scalars(select(Order).where(Order.id.in_(person.order_ids))).all()
        assert len(orders) == 2
        assert all(is_erased_email(order.email) and order.email.endswith(ERASED_DOMAIN) for order in orders)
        assert len({order.email for order in orders}) == 2, "one pseudonym per order: nothing joins them"
        assert all(order.prefecture == "" and order.wallet_address is None for order in orders)
        assert all(order.recipient is None and order.holder_id is None for order in orders)
        assert all(person.custodial.lower() not in order.payment_data.lower() for order in orders)
        assert all(order.status == "minted" and order.amount_jpy == 3000 for order in orders), "accounts stay"
        email_rows = [
            select(func.count()).select_from(Order).where(func.lower(Order.email) == person.email),
            select(func.count()).select_from(LotteryApplication).where(LotteryApplication.email == person.email),
            select(func.count()).select_from(AnnouncementDelivery).where(AnnouncementDelivery.email == person.email),
            select(func.count()).select_from(MailOptOut).where(MailOptOut.email == person.email),
            select(func.count()).select_from(AnalyticsPerson).where(AnalyticsPerson.email == person.email),
            select(func.count()).select_from(Holder).where(Holder.email == person.email),
            select(func.count()).select_from(BuyerCount).where(BuyerCount.buyer.contains(person.email)),
            select(func.count()).select_from(AnalyticsChange).where(AnalyticsChange.key == person.email),
            select(func.count())
            .select_from(AuditEntry)
            .where(or_(AuditEntry.before.contains(person.email), AuditEntry.after.contains(person.email))),
        ]
        assert [session.scalar(query) for query in email_rows] == [0] * len(email_rows)
        address_rows = [
            select(func.count())
            .select_from(CheckIn)
            .where(CheckIn.municipality_id == tid, func.lower(CheckIn.address).in_(addresses)),
            select(func.count())
            .select_from(CheckIn)
            .where(or_(CheckIn.holder_id == person.holder_id, CheckIn.visitor.contains(person.moved_to.lower()))),
            select(func.count())
            .select_from(Redemption)
            .where(Redemption.municipality_id == tid, func.lower(Redemption.holder_address).in_(addresses)),
            select(func.count()).select_from(PollElector).where(func.lower(PollElector.address).in_(addresses)),
            select(func.count())
            .select_from(AnalyticsPersonAddress)
            .where(AnalyticsPersonAddress.address.in_(addresses)),
            select(func.count())
            .select_from(LotBidder)
            .where(
                LotBidder.card_customer.is_not(None),
                LotBidder.prefecture == "27",
                LotBidder.holder_id == person.holder_id,
            ),
        ]
        assert [session.scalar(query) for query in address_rows] == [0] * len(address_rows)
        # Kept, unlinked: the vote stays counted, the check-ins and redemption stay as visits.
        assert (
            session.scalar(select(func.count()).select_from(PollVote).where(PollVote.contract == person.contract)) == 1
        )
        unlinked = session.scalar(
            select(func.count())
            .select_from(CheckIn)
            .where(CheckIn.address == ZERO_ADDRESS, CheckIn.municipality_id == tid)
        )
        assert (unlinked or 0) >= 2
        erased = session.scalar(select(AnalyticsPerson).where(AnalyticsPerson.erased_at.is_not(None)))
        assert erased is not None
        assert erased.email is None
        assert erased.prefecture == ""
        assert json.loads(erased.contribution), "its contribution stays in the counts"
        holder = session.get(Holder, person.holder_id)
        assert holder is not None
        assert is_erased_email(holder.email)
        assert holder.address == person.custodial, "the custodial key stays: the card stays on chain"
        assert (
            session.scalar(select(func.count()).select_from(SignInToken).where(SignInToken.holder_id == holder.id)) == 0
        )


def test_completed_deletion_leaves_nothing_that_names_or_links_the_person(client: TestClient) -> None:
    runtime = runtime_of(client)
    person, other = make_person(runtime), make_person(runtime)
    assert_erased(client, person, other)
    # Completing it again changes nothing: 409.
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    done = client.get(f"{STAFF}/data-requests?status=completed", headers=owner).json()["items"][0]
    again = client.post(f"{STAFF}/data-requests/{done['request_id']}/complete", headers=owner)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_pending"


def test_the_audit_row_names_the_request_and_counts_never_the_email(client: TestClient) -> None:
    runtime = runtime_of(client)
    person = make_person(runtime)
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    done = complete_deletion(client, person, owner)
    with runtime.sessions() as session:
        row = session.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "data_request.complete", AuditEntry.target_id == done["request_id"]
            )
        )
    assert row is not None
    after = json.loads(row.after)
    assert after["erased"]["orders"] == 2
    assert after["erased"]["redemptions"] == 1
    assert after["holder"] == "pseudonymised"
    assert not leaks(row.before + row.after + row.target_id, person)


def test_a_holder_with_cards_in_another_town_keeps_their_sign_in(client: TestClient) -> None:
    """The holder row is the deployment's, not the town's: while another town still holds
    something of theirs, it stays (and their bidder row here moves to a tombstone)."""
    runtime = runtime_of(client)
    other_slug = f"elsewhere-{uuid.uuid4().hex[:8]}"
    add_town(runtime.sessions, other_slug)
    person = make_person(runtime)
    drop = add_plain_drop(runtime.sessions, town_id(runtime.sessions, other_slug))
    with session_scope(runtime.sessions) as session:
        session.add(
            Order(
                id=f"ord_elsewhere{uuid.uuid4().hex[:16]}",
                drop_id=drop,
                quantity=1,
                email=person.email,
                prefecture="27",
                payment_method="demo",
                status="minted",
                token_hash="0" * 64,
                amount_jpy=1000,
                recipient=person.custodial,
                holder_id=person.holder_id,
                expires_at=utcnow(),
            )
        )
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    done = complete_deletion(client, person, owner)
    assert "holder kept" in done["outcome"]
    # Still signed in; this town holds nothing of theirs any more, the other town still does.
    mine = client.get(f"/api/v1/holders/me/data?town={TOWN}", headers=person.headers)
    assert mine.status_code == 200
    sections = {section["key"]: section["rows"] for section in mine.json()["sections"]}
    assert all(not rows for key, rows in sections.items() if key != "person"), sections
    elsewhere = client.get(f"/api/v1/holders/me/data?town={other_slug}", headers=person.headers).json()
    orders = next(section for section in elsewhere["sections"] if section["key"] == "orders")
    assert [row["email"] for row in orders["rows"]] == [person.email]
    with runtime.sessions() as session:
        bidder = session.scalar(
            select(LotBidder)
            .join(Holder, Holder.id == LotBidder.holder_id)
            .where(Holder.key_id == "erased", LotBidder.card_customer.is_(None))
            .order_by(LotBidder.id.desc())
        )
        assert bidder is not None
        assert bidder.prefecture == ""
        assert (
            session.scalar(select(func.count()).select_from(LotBidder).where(LotBidder.holder_id == person.holder_id))
            == 0
        )


def test_an_order_in_progress_holds_the_erasure_back(client: TestClient) -> None:
    runtime = runtime_of(client)
    person = make_person(runtime)
    with runtime.sessions() as session:
        order = session.get(Order, person.order_ids[0])
        assert order is not None
        order.status = "paid"
        session.commit()
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    asked = client.post("/api/v1/holders/me/deletion-requests", headers=person.headers, json={"town": TOWN})
    refused = client.post(f"{STAFF}/data-requests/{asked.json()['request_id']}/complete", headers=owner)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "unfinished"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order).where(Order.email == person.email)) == 2
    pending = client.get(f"{STAFF}/data-requests?status=pending", headers=owner).json()["items"]
    assert asked.json()["request_id"] in [item["request_id"] for item in pending]


@pytest.fixture
def pg_client(postgres_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=postgres_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_erasure_on_postgres(pg_client: TestClient) -> None:
    runtime = runtime_of(pg_client)
    person, other = make_person(runtime), make_person(runtime)
    assert_erased(pg_client, person, other)
