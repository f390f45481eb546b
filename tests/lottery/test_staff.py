"""The lottery for staff: the console's lottery page (counts by day and prefecture, state, what
it waits for, the record, the places), who may read it, and the wizard's lottery drops:
published, they get a committed seed at once; once closed, their terms are fixed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.core.config import Settings
from backend.lottery.models import Lottery
from tests.factories import staff_headers
from tests.lottery.helpers import Clock, application_body, apply, close_now, job_of, make_lottery, runtime_of, stage
from tests.sales.test_staff_drops import TOWN, lottery_body


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("staff") / "data"
    settings = Settings(chain="eth-tester://", data_dir=data_dir, order_rate_per_minute=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def headers(client: TestClient, role: str) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, "hoshikawa", role)


def page(client: TestClient, drop_id: int, role: str = "analyst") -> dict[str, Any]:
    response = client.get(f"{TOWN}/drops/{drop_id}/lottery", headers=headers(client, role))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_lottery_page_counts_applications_by_day_and_prefecture(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=3, limit=2)
    for index, (prefecture, quantity) in enumerate([("13", 1), ("13", 2), ("27", 1), ("00", 2)]):
        assert (
            apply(client, drop_id, application_body(index, prefecture=prefecture, quantity=quantity)).status_code == 201
        )
    shown = page(client, drop_id)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert (shown["state"], shown["applications"], shown["cards_asked"]) == ("open", 4, 6)
    assert shown["by_day"] == [{"date": today, "count": 4}]
    assert shown["by_prefecture"] == [
        {"code": "00", "count": 1},
        {"code": "13", "count": 2},
        {"code": "27", "count": 1},
    ]
    assert shown["record"]["entries_count"] == 4
    assert "server_seed" not in shown["record"]
    assert "places" not in shown

    clock = Clock()
    job = job_of(runtime, clock, only=drop_id)
    clock.now = close_now(runtime, drop_id)
    for _ in range(3):
        job.sweep()
    assert stage(runtime, drop_id) == "drawn"
    drawn = page(client, drop_id, "editor")
    assert drawn["state"] == "drawn"
    places = drawn["places"]
    assert places["holding"] == len(drawn["record"]["winners"])
    assert places["paid"] == 0
    assert places["cards_held"] == sum(w["quantity"] for w in drawn["record"]["winners"]) <= 3
    assert "支払い" in drawn["waiting"]


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("moderator", 200), ("verifier", 403)])
def test_who_reads_the_lottery_page(client: TestClient, role: str, status: int) -> None:
    drop_id = make_lottery(runtime_of(client))
    response = client.get(f"{TOWN}/drops/{drop_id}/lottery", headers=headers(client, role))
    assert response.status_code == status
    assert client.get(f"{TOWN}/drops/{drop_id}/lottery").status_code == 401


def test_a_first_come_drop_has_no_lottery_page(client: TestClient) -> None:
    response = client.get(f"{TOWN}/drops/1/lottery", headers=headers(client, "owner"))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "drop_not_found")


def test_a_lottery_drop_from_the_wizard_is_announced_with_its_commitment_when_published(client: TestClient) -> None:
    editor = headers(client, "editor")
    now = datetime.now(UTC)
    body = lottery_body(
        starts_at=(now - timedelta(minutes=5)).isoformat(),
        applications_close_at=(now + timedelta(days=2)).isoformat(),
        draw_at=(now + timedelta(days=3)).isoformat(),
        ends_at=None,
    )
    drop = client.post(f"{TOWN}/drops", json=body, headers=editor).json()
    assert client.get(f"/api/v1/drops/{drop['id']}/lottery").status_code == 404  # a draft is not public
    published = client.post(f"{TOWN}/drops/{drop['id']}/publish", headers=editor)
    assert published.status_code in (200, 202), published.text
    with runtime_of(client).sessions() as session:
        lottery = session.get(Lottery, drop["id"])
        assert lottery is not None  # drawn as it went live, before anyone could apply
        commitment = lottery.seed_commitment
    record = client.get(f"/api/v1/drops/{drop['id']}/lottery").json()
    assert (record["state"], record["seed_commitment"], record["supply"]) == ("open", commitment, body["supply"])
    assert apply(client, drop["id"], application_body(1)).status_code == 201


def test_once_applications_close_the_drops_terms_and_dates_are_fixed(client: TestClient) -> None:
    runtime = runtime_of(client)
    drop_id = make_lottery(runtime, supply=10, limit=2, opens_in=-timedelta(hours=1))
    editor = headers(client, "editor")
    later = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    assert client.patch(f"{TOWN}/drops/{drop_id}", json={"draw_at": later}, headers=editor).status_code == 200
    close_now(runtime, drop_id)
    for change in ({"supply": 5}, {"draw_at": later}, {"pay_within_hours": 1}, {"per_buyer_limit": 1}):
        refused = client.patch(f"{TOWN}/drops/{drop_id}", json=change, headers=editor)
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "drop_terms_locked"), change
    assert client.patch(f"{TOWN}/drops/{drop_id}", json={"title_en": "Renamed"}, headers=editor).status_code == 200
