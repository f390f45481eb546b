"""Applications over HTTP: validation, one per email and per wallet, the window, the
per-person limit, Idempotency-Key, the applicant's view and the receipt mail."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.lottery.models import LotteryApplication
from tests.lottery.helpers import (
    application_body,
    apply,
    close_now,
    job_of,
    make_lottery,
    read_application,
    runtime_of,
)

WALLET = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (each test makes its own lottery drop)."""
    data_dir = tmp_path_factory.mktemp("applications") / "data"
    with TestClient(
        create_app(Settings(chain="eth-tester://", data_dir=data_dir, order_rate_per_minute=0))
    ) as test_client:
        yield test_client


@pytest.fixture
def drop_id(client: TestClient) -> int:
    return make_lottery(runtime_of(client), supply=10, limit=3)


def code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def count_applications(client: TestClient, drop_id: int) -> int:
    with runtime_of(client).sessions() as session:
        query = select(func.count()).select_from(LotteryApplication).where(LotteryApplication.drop_id == drop_id)
        return int(session.scalar(query) or 0)


def test_an_application_answers_its_id_token_and_entry_id(client: TestClient, drop_id: int) -> None:
    response = apply(client, drop_id, application_body(campaign_code="poster-1"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["application_id"].startswith("app_")
    assert len(created["entry_id"]) == 32
    assert int(created["entry_id"], 16) >= 0
    assert created["entry_id"] == created["entry_id"].lower()
    view = read_application(client, created)
    assert view["status"] == "applied"
    assert (view["entry_id"], view["quantity"], view["rank"], view["order_id"]) == (created["entry_id"], 1, None, None)
    assert view["lottery_state"] == "open"
    with runtime_of(client).sessions() as session:
        stored = session.get(LotteryApplication, created["application_id"])
        assert stored is not None
        assert stored.campaign_code == "poster-1"
        assert stored.token_hash != created["application_token"]  # stored hashed only


def test_a_second_application_by_the_same_email_or_wallet_is_already_applied(client: TestClient, drop_id: int) -> None:
    assert apply(client, drop_id, application_body(1, wallet_address=WALLET)).status_code == 201
    same_email = apply(client, drop_id, application_body(1, email="APPLICANT1@example.jp", quantity=2))
    same_wallet = apply(client, drop_id, application_body(2, wallet_address=WALLET.lower()))
    assert (same_email.status_code, code(same_email)) == (409, "already_applied")
    assert (same_wallet.status_code, code(same_wallet)) == (409, "already_applied")
    assert count_applications(client, drop_id) == 1


def test_the_same_email_may_apply_to_another_lottery(client: TestClient, drop_id: int) -> None:
    other = make_lottery(runtime_of(client), supply=5, limit=1)
    assert apply(client, drop_id, application_body(1)).status_code == 201
    assert apply(client, other, application_body(1)).status_code == 201


def test_more_than_the_per_person_limit_is_refused(client: TestClient, drop_id: int) -> None:
    refused = apply(client, drop_id, application_body(quantity=4))
    assert (refused.status_code, code(refused)) == (409, "limit_exceeded")
    assert apply(client, drop_id, application_body(quantity=3)).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "someone@example.test"}, "email"),  # a special-use domain
        ({"prefecture": "48"}, "prefecture"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 101}, "quantity"),
        ({"wallet_address": "0x123"}, "wallet_address"),
        ({"wallet_address": "0x" + "0" * 40}, "wallet_address"),
        ({"campaign_code": "a b"}, "campaign_code"),
        ({"status": "won"}, "status"),  # the server owns it
        ({"entry_id": "00" * 16}, "entry_id"),
    ],
)
def test_invalid_applications_are_422_naming_the_field(
    client: TestClient, drop_id: int, change: dict[str, Any], field: str
) -> None:
    response = apply(client, drop_id, application_body(**change))
    assert response.status_code == 422
    assert any(field in [str(part) for part in problem["loc"]] for problem in response.json()["detail"])
    assert count_applications(client, drop_id) == 0


def test_applications_before_the_window_or_after_the_close_are_applications_closed(client: TestClient) -> None:
    runtime = runtime_of(client)
    later = make_lottery(runtime, opens_in=timedelta(hours=1), closes_in=timedelta(days=1))
    early = apply(client, later, application_body())
    assert (early.status_code, code(early)) == (409, "applications_closed")

    closing = make_lottery(runtime)
    assert apply(client, closing, application_body(1)).status_code == 201
    close_now(runtime, closing, draw_too=False)
    late = apply(client, closing, application_body(2))
    assert (late.status_code, code(late)) == (409, "applications_closed")
    assert count_applications(client, closing) == 1


def test_an_application_after_the_list_is_fixed_is_refused_even_with_the_window_open(
    client: TestClient, drop_id: int
) -> None:
    """The close fixes the list under the lottery's lock; an application that reaches the
    database later (its clock said "open") is refused, never left outside the list."""
    runtime = runtime_of(client)
    assert apply(client, drop_id, application_body(1)).status_code == 201
    moment = close_now(runtime, drop_id, draw_too=False)
    job_of(runtime).close(drop_id, moment)
    with runtime.sessions.begin() as session:  # the window reopened by a staff edit that came too late
        from sqlalchemy import update

        from backend.sales.models import Drop

        session.execute(update(Drop).where(Drop.id == drop_id).values(applications_close_at=moment + timedelta(days=1)))
    refused = apply(client, drop_id, application_body(2))
    assert (refused.status_code, code(refused)) == (409, "applications_closed")
    record = client.get(f"/api/v1/drops/{drop_id}/lottery").json()
    assert record["entries_count"] == 1 == count_applications(client, drop_id)


def test_a_first_come_drop_or_an_unknown_one_takes_no_applications(client: TestClient) -> None:
    first_come = apply(client, 1, application_body())  # the demo drop
    unknown = apply(client, 999, application_body())
    assert (first_come.status_code, code(first_come)) == (404, "drop_not_found")
    assert (unknown.status_code, code(unknown)) == (404, "drop_not_found")


def test_a_paused_lottery_takes_no_applications(client: TestClient, drop_id: int) -> None:
    from sqlalchemy import update

    from backend.sales.models import Drop

    with runtime_of(client).sessions.begin() as session:
        session.execute(update(Drop).where(Drop.id == drop_id).values(status="paused"))
    refused = apply(client, drop_id, application_body())
    assert (refused.status_code, code(refused)) == (409, "drop_paused")


def test_a_repeated_idempotency_key_answers_the_first_application(client: TestClient, drop_id: int) -> None:
    first = apply(client, drop_id, application_body(), key="k-1")
    again = apply(client, drop_id, application_body(), key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other_body = apply(client, drop_id, application_body(quantity=2), key="k-1")
    assert (other_body.status_code, code(other_body)) == (409, "idempotency_key_reused")
    other_drop = apply(client, make_lottery(runtime_of(client)), application_body(), key="k-1")
    assert (other_drop.status_code, code(other_drop)) == (409, "idempotency_key_reused")
    assert count_applications(client, drop_id) == 1


def test_a_refused_application_does_not_use_up_its_key(client: TestClient, drop_id: int) -> None:
    assert apply(client, drop_id, application_body(1)).status_code == 201
    refused = apply(client, drop_id, application_body(1), key="k-2")  # already applied
    assert code(refused) == "already_applied"
    assert apply(client, drop_id, application_body(2), key="k-2").status_code == 201


def test_an_application_is_read_only_with_its_token(client: TestClient, drop_id: int) -> None:
    created = apply(client, drop_id, application_body()).json()
    url = f"/api/v1/applications/{created['application_id']}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": created["application_token"]}):
        response = client.get(url, headers=headers)
        assert (response.status_code, code(response)) == (404, "application_not_found")
    assert client.get("/api/v1/applications/app_nope", headers={"Authorization": "Bearer x"}).status_code == 404
    assert client.get("/api/v1/applications/x" * 3).status_code in (404, 422)


def test_the_receipt_mail_carries_the_entry_id_and_the_applicants_link(client: TestClient, drop_id: int) -> None:
    runtime = runtime_of(client)
    job = job_of(runtime)
    job.send_mail(job.clock())  # other tests' receipts
    created = apply(client, drop_id, application_body(7, email="receipt@example.jp")).json()
    assert job.send_mail(job.clock()) == 1
    assert job.send_mail(job.clock()) == 0  # sent once
    messages = [
        email.message_from_bytes(path.read_bytes()) for path in (runtime.settings.data_dir / "mail").glob("*.eml")
    ]
    (message,) = [message for message in messages if message["To"] == "receipt@example.jp"]
    assert "抽選のお申し込み" in str(email.header.make_header(email.header.decode_header(message["Subject"])))
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert created["entry_id"] in text
    assert f"/application.html?id={created['application_id']}#token={created['application_token']}" in text
    assert f"/lottery.html?drop={drop_id}" in text


def test_applications_are_rate_limited_per_client_address(client: TestClient, drop_id: int) -> None:
    settings = runtime_of(client).settings
    settings.order_rate_per_minute = 3
    try:
        answers = [apply(client, drop_id, application_body(index)) for index in range(20, 25)]
    finally:
        settings.order_rate_per_minute = 0
    codes = [answer.status_code for answer in answers]
    assert codes.count(201) <= 3
    assert codes.count(429) >= 2
    assert code(answers[-1]) == "rate_limited"
