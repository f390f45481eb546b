"""People's own data over HTTP: the holder's download (JSON and CSV, each recorded without an
e-mail), the deletion request (due after the town's days, one pending per town however many
times or how concurrently it is asked), and the owners' queue (overdue flagged, decline
audited, other towns and other roles refused)."""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from backend.analytics.models import DataRequest
from backend.app import create_app
from backend.core.bearer import hash_secret
from backend.core.config import Settings
from backend.core.db import session_scope, utcnow
from backend.core.models import AuditEntry, RateCounter
from backend.holders.models import WalletSession
from backend.runtime import Runtime
from backend.towns.models import Municipality
from tests.analytics.people_world import STAFF, TOWN, make_person, town_id
from tests.factories import add_town, staff_headers
from tests.polls.polls_world import voter

pytestmark = pytest.mark.chain

ASK = "/api/v1/holders/me/deletion-requests"


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("data-requests") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    with runtime_of(app_client).sessions() as session:
        session.query(RateCounter).delete()
        session.commit()
    return app_client


def set_days(runtime: Runtime, days: int) -> None:
    with session_scope(runtime.sessions) as session:
        session.execute(update(Municipality).where(Municipality.slug == TOWN).values(data_request_days=days))


def exports(runtime: Runtime) -> list[DataRequest]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(DataRequest).where(
                    DataRequest.kind == "export", DataRequest.municipality_id == town_id(runtime.sessions)
                )
            )
        )


def test_the_holder_downloads_what_the_town_holds_as_json_and_csv(client: TestClient) -> None:
    runtime = runtime_of(client)
    person = make_person(runtime)
    before = len(exports(runtime))
    got = client.get(f"/api/v1/holders/me/data?town={TOWN}", headers=person.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["email"] == person.email
    assert body["data_request_days"] >= 1
    sections = {section["key"]: section for section in body["sections"]}
    assert len(sections["orders"]["rows"]) == 2
    assert {row["token_id"] for row in sections["cards"]["rows"]} == {1, 2}
    assert len(sections["check_ins"]["rows"]) == 2
    assert len(sections["redemptions"]["rows"]) == 1
    assert sections["votes"]["rows"][0]["option"] == "星の丘"
    assert sections["bids"]["rows"][0]["highest_bid_jpy"] == 1000
    assert sections["lottery_applications"]["rows"][0]["outcome"] == "waitlisted"
    assert [row["status"] for row in sections["announcements"]["rows"]] == ["sent", "opted_out"]
    assert sections["orders"]["title_ja"] == "購入（注文）"
    addresses = sections["person"]["rows"][0]["addresses"].split()
    assert {address.lower() for address in person.addresses} <= set(addresses)

    csv_answer = client.get(f"/api/v1/holders/me/data.csv?town={TOWN}", headers=person.headers)
    assert csv_answer.status_code == 200
    assert csv_answer.content.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, for Excel"
    assert csv_answer.headers["content-disposition"].startswith('attachment; filename="my-data-hoshikawa-')
    rows = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["section / 区分", "field / 項目", "value / 値"]
    assert ["orders", "orders[0].email", person.email] in rows
    assert ["votes", "votes[0].voted", "yes"] in rows

    recorded = exports(runtime)
    assert len(recorded) == before + 2
    assert all(row.email is None and row.status == "completed" for row in recorded)


def test_only_an_email_sign_in_has_data_here(client: TestClient) -> None:
    runtime = runtime_of(client)
    token = secrets.token_urlsafe(32)
    with session_scope(runtime.sessions) as session:
        session.add(
            WalletSession(
                token_hash=hash_secret(token),
                address="0x" + "12" * 20,
                chain_id=runtime.manifest.chain_id,
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    wallet = {"Authorization": f"Bearer {token}"}
    for method, path, body in (
        ("GET", f"/api/v1/holders/me/data?town={TOWN}", None),
        ("GET", f"/api/v1/holders/me/data.csv?town={TOWN}", None),
        ("POST", ASK, {"town": TOWN}),
        ("GET", ASK, None),
    ):
        answer = client.request(method, path, headers=wallet, json=body)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "email_sign_in_required"
    assert client.get(f"/api/v1/holders/me/data?town={TOWN}").status_code == 401
    person = voter(runtime)
    unknown = client.get("/api/v1/holders/me/data?town=no-such-town", headers=person.headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "town_not_found"
    nothing = client.post(ASK, headers=person.headers, json={"town": TOWN})
    assert nothing.status_code == 404
    assert nothing.json()["error"]["code"] == "no_data"


def test_a_deletion_request_is_due_after_the_towns_days_and_asked_once(client: TestClient) -> None:
    runtime = runtime_of(client)
    set_days(runtime, 7)
    try:
        person = make_person(runtime)
        first = client.post(ASK, headers=person.headers, json={"town": TOWN})
        assert first.status_code == 201, first.text
        made = first.json()
        assert made["status"] == "pending"
        requested = datetime.fromisoformat(made["requested_at"])
        assert datetime.fromisoformat(made["due_at"]) - requested == timedelta(days=7)
        again = client.post(ASK, headers=person.headers, json={"town": TOWN})
        assert again.status_code == 200
        assert again.json()["request_id"] == made["request_id"]
        mine = client.get(ASK, headers=person.headers).json()
        assert [item["request_id"] for item in mine["items"]] == [made["request_id"]]
        assert mine["items"][0]["town_ja"]
    finally:
        set_days(runtime, 30)


def one_pending_under_concurrency(client: TestClient) -> None:
    """Eight copies of the same request released together: one 201, seven 200, one row."""
    runtime = runtime_of(client)
    person = make_person(runtime)
    copies = 8
    gate = threading.Barrier(copies)

    def one(_index: int) -> Any:
        gate.wait()
        return client.post(ASK, headers=person.headers, json={"town": TOWN})

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(one, range(copies)))
    assert sorted(answer.status_code for answer in answers) == [200] * (copies - 1) + [201]
    assert len({answer.json()["request_id"] for answer in answers}) == 1
    with runtime.sessions() as session:
        pending = session.scalar(
            select(func.count())
            .select_from(DataRequest)
            .where(DataRequest.email == person.email, DataRequest.status == "pending")
        )
    assert pending == 1


def test_concurrent_requests_make_one_pending_request(client: TestClient) -> None:
    one_pending_under_concurrency(client)


@pytest.fixture
def pg_client(postgres_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=postgres_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_concurrent_requests_make_one_pending_request_on_postgres(pg_client: TestClient) -> None:
    """Separate connections truly at once: the town row's lock orders them."""
    one_pending_under_concurrency(pg_client)


def test_deletion_requests_are_rate_limited(client: TestClient) -> None:
    person = make_person(runtime_of(client))
    statuses = [client.post(ASK, headers=person.headers, json={"town": TOWN}).status_code for _ in range(11)]
    assert statuses[:10] == [201] + [200] * 9
    assert statuses[10] == 429


def test_owners_see_the_queue_with_due_dates_and_overdue_ones(client: TestClient) -> None:
    runtime = runtime_of(client)
    person = make_person(runtime)
    made = client.post(ASK, headers=person.headers, json={"town": TOWN}).json()
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    queue = client.get(f"{STAFF}/data-requests?status=pending&limit=100", headers=owner)
    assert queue.status_code == 200, queue.text
    mine = next(item for item in queue.json()["items"] if item["request_id"] == made["request_id"])
    assert mine["email"] == person.email
    assert mine["overdue"] is False
    assert mine["due_at"] == made["due_at"]
    # The town is late: its due moment passed (moved back, since staff sessions follow the clock).
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(DataRequest)
            .where(DataRequest.id == made["request_id"])
            .values(due_at=utcnow() - timedelta(minutes=1))
        )
    late = client.get(f"{STAFF}/data-requests?status=pending&limit=100", headers=owner).json()
    assert next(item for item in late["items"] if item["request_id"] == made["request_id"])["overdue"] is True
    assert late["overdue"] >= 1
    for role in ("editor", "analyst", "moderator"):
        refused = client.get(f"{STAFF}/data-requests", headers=staff_headers(runtime.sessions, TOWN, role))
        assert refused.status_code == 403, role
        done = client.post(
            f"{STAFF}/data-requests/{made['request_id']}/complete", headers=staff_headers(runtime.sessions, TOWN, role)
        )
        assert done.status_code == 403, role


def test_another_towns_owner_cannot_see_or_complete_a_request(client: TestClient) -> None:
    runtime = runtime_of(client)
    person = make_person(runtime)
    made = client.post(ASK, headers=person.headers, json={"town": TOWN}).json()
    other = f"other-{uuid.uuid4().hex[:8]}"
    add_town(runtime.sessions, other)
    theirs = staff_headers(runtime.sessions, other, "owner")
    listed = client.get(f"/api/v1/staff/towns/{other}/data-requests?status=pending", headers=theirs).json()
    assert made["request_id"] not in [item["request_id"] for item in listed["items"]]
    for action, body in (("complete", None), ("decline", {"reason": "x"})):
        refused = client.post(
            f"/api/v1/staff/towns/{other}/data-requests/{made['request_id']}/{action}", headers=theirs, json=body
        )
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "request_not_found"
    # Their owner session on this town's path: not a member here.
    assert client.get(f"{STAFF}/data-requests", headers=theirs).status_code == 403
    with runtime.sessions() as session:
        row = session.get(DataRequest, made["request_id"])
        assert row is not None
        assert row.status == "pending"


def test_a_declined_request_is_audited_and_shown_to_the_holder(client: TestClient) -> None:
    runtime = runtime_of(client)
    person = make_person(runtime)
    made = client.post(ASK, headers=person.headers, json={"town": TOWN}).json()
    owner = staff_headers(runtime.sessions, TOWN, "owner")
    reason = "ご本人確認ができませんでした。 (We could not confirm it was you.)"
    declined = client.post(
        f"{STAFF}/data-requests/{made['request_id']}/decline", headers=owner, json={"reason": reason}
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    assert declined.json()["email"] is None
    with runtime.sessions() as session:
        row = session.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "data_request.decline", AuditEntry.target_id == made["request_id"]
            )
        )
    assert row is not None
    assert json.loads(row.after) == {"status": "declined", "reason": reason}
    assert person.email not in row.before + row.after
    shown = client.get(ASK, headers=person.headers).json()["items"][0]
    assert shown["status"] == "declined"
    assert shown["reason"] == reason
    for action, body in (("decline", {"reason": "again"}), ("complete", None)):
        again = client.post(f"{STAFF}/data-requests/{made['request_id']}/{action}", headers=owner, json=body)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "not_pending"
    # Declined, nothing erased: the town still holds their orders, and they may ask again.
    still = client.get(f"/api/v1/holders/me/data?town={TOWN}", headers=person.headers).json()
    assert len(next(s for s in still["sections"] if s["key"] == "orders")["rows"]) == 2
    assert client.post(ASK, headers=person.headers, json={"town": TOWN}).status_code == 201
    assert utcnow() < datetime.fromisoformat(made["due_at"])
