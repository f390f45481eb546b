"""Staff routes of the benefits area: shops, devices, benefits, redemptions and their CSV.
Each write appends one audit row; another town's ids answer 404 like missing ones; the
redemptions are listed by shop and Japan day, and the CSV decodes with its header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.benefits.periods import JST
from backend.benefits.redemptions import CSV_HEADER
from backend.core.models import AuditEntry
from tests.benefits.conftest import (
    STAFF,
    buy_card,
    clock,
    device_link,
    device_token,
    fresh_limits,
    make_benefit,
    make_shop,
    proof_for,
    runtime_of,
    staff,
    start_client,
)
from tests.factories import add_town

pytestmark = pytest.mark.chain

OTHER_TOWN = "tsukimi"
OTHER = f"/api/v1/staff/towns/{OTHER_TOWN}"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from start_client(tmp_path_factory.mktemp("benefits-staff") / "data")


@pytest.fixture(scope="module")
def world(app_client: TestClient) -> dict[str, Any]:
    add_town(runtime_of(app_client).sessions, OTHER_TOWN)
    other_owner = staff(app_client, "owner", OTHER_TOWN)
    return {
        "owner": staff(app_client, "owner"),
        "other_owner": other_owner,
        "other_shop": make_shop(app_client, other_owner, "月見の湯", town=OTHER_TOWN),
    }


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def audit_rows(client: TestClient) -> int:
    with runtime_of(client).sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_shops_are_made_listed_edited_and_closed_each_write_audited(client: TestClient, world: dict[str, Any]) -> None:
    owner = world["owner"]
    before = audit_rows(client)
    made = client.post(f"{STAFF}/shops", headers=owner, json={"name_ja": " 星川温泉 ", "name_en": "Onsen"})
    assert made.status_code == 201, made.text
    shop = made.json()
    assert (shop["name_ja"], shop["archived_at"], shop["active_devices"], shop["benefits"]) == ("星川温泉", None, 0, 0)
    assert audit_rows(client) == before + 1
    edited = client.patch(f"{STAFF}/shops/{shop['id']}", headers=owner, json={"place_ja": "本郷 3-1", "archived": True})
    assert edited.status_code == 200, edited.text
    assert edited.json()["place_ja"] == "本郷 3-1"
    assert edited.json()["archived_at"] is not None
    assert audit_rows(client) == before + 2
    listed = client.get(f"{STAFF}/shops", headers=owner, params={"limit": 100}).json()
    assert shop["id"] in {item["id"] for item in listed["items"]}
    assert world["other_shop"] not in {item["id"] for item in listed["items"]}
    # A closed shop takes no new device or benefit.
    closed = client.post(f"{STAFF}/shops/{shop['id']}/devices", headers=owner, json={"label": "x"})
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "shop_closed")
    refused = client.post(
        f"{STAFF}/benefits",
        headers=owner,
        json={"title_ja": "a", "title_en": "a", "shop_id": shop["id"], "period": "day"},
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "shop_closed")
    assert audit_rows(client) == before + 2


def test_another_towns_ids_are_not_found(client: TestClient, world: dict[str, Any]) -> None:
    owner, theirs = world["owner"], world["other_shop"]
    for method, path, body in (
        ("PATCH", f"{STAFF}/shops/{theirs}", {"place_ja": "x"}),
        ("GET", f"{STAFF}/shops/{theirs}/devices", None),
        ("POST", f"{STAFF}/shops/{theirs}/devices", {"label": "x"}),
        ("POST", f"{STAFF}/benefits", {"title_ja": "a", "title_en": "a", "shop_id": theirs, "period": "day"}),
    ):
        response = client.request(method, path, headers=owner, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "shop_not_found"), path
    their_benefit = make_benefit(client, world["other_owner"], theirs, "day", town=OTHER_TOWN)
    patched = client.patch(f"{STAFF}/benefits/{their_benefit['id']}", headers=owner, json={"active": False})
    assert (patched.status_code, patched.json()["error"]["code"]) == (404, "benefit_not_found")
    their_device = client.post(f"{OTHER}/shops/{theirs}/devices", headers=world["other_owner"], json={"label": "x"})
    assert their_device.status_code == 201
    revoked = client.delete(f"{STAFF}/devices/{their_device.json()['device_id']}", headers=owner)
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (404, "device_not_found")
    # This town's drop is not a series the other town may name.
    foreign_series = client.post(
        f"{OTHER}/benefits",
        headers=world["other_owner"],
        json={"title_ja": "a", "title_en": "a", "shop_id": theirs, "period": "day", "series": [1]},
    )
    assert (foreign_series.status_code, foreign_series.json()["error"]["code"]) == (404, "drop_not_found")


def test_benefits_are_made_listed_and_edited(client: TestClient, world: dict[str, Any]) -> None:
    owner = world["owner"]
    shop = make_shop(client, owner, "星川カフェ")
    before = audit_rows(client)
    benefit = make_benefit(client, owner, shop, "week", series=[1], description_ja="一杯無料")
    assert audit_rows(client) == before + 1
    assert benefit["series"] == [
        {"drop_id": 1, "title_ja": "星川町 デジタル住民票 第1期", "title_en": benefit["series"][0]["title_en"]}
    ]
    assert (benefit["period"], benefit["active"], benefit["redemptions"]) == ("week", True, 0)
    listed = client.get(f"{STAFF}/benefits", headers=owner, params={"shop_id": shop}).json()
    assert [item["id"] for item in listed["items"]] == [benefit["id"]]
    starts = datetime(2027, 1, 1, tzinfo=JST)
    edited = client.patch(
        f"{STAFF}/benefits/{benefit['id']}",
        headers=owner,
        json={"title_en": "A free coffee", "active": False, "starts_at": starts.isoformat()},
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title_en"], edited.json()["active"]) == ("A free coffee", False)
    assert datetime.fromisoformat(edited.json()["starts_at"]) == starts
    assert audit_rows(client) == before + 2
    # A term that would end before it starts: refused whole, nothing written.
    backwards = client.patch(
        f"{STAFF}/benefits/{benefit['id']}", headers=owner, json={"ends_at": (starts - timedelta(days=1)).isoformat()}
    )
    assert (backwards.status_code, backwards.json()["error"]["code"]) == (409, "term_invalid")
    inverted = client.post(
        f"{STAFF}/benefits",
        headers=owner,
        json={
            "title_ja": "a",
            "title_en": "a",
            "shop_id": shop,
            "period": "day",
            "starts_at": starts.isoformat(),
            "ends_at": starts.isoformat(),
        },
    )
    assert inverted.status_code == 422
    for wrong in ({"period": "year"}, {"uses": 3}, {"series": [1, 1]}):
        body = {"title_ja": "a", "title_en": "a", "shop_id": shop, "period": "day", **wrong}
        assert client.post(f"{STAFF}/benefits", headers=owner, json=body).status_code == 422, wrong
    assert audit_rows(client) == before + 2


def test_device_lists_show_no_secret(client: TestClient, world: dict[str, Any]) -> None:
    owner = world["owner"]
    shop = make_shop(client, owner, "道の駅")
    before = audit_rows(client)
    link = device_link(client, owner, shop, "レジ")
    assert audit_rows(client) == before + 1
    secret = link["link_url"].rsplit("#link=", 1)[1]
    listed = client.get(f"{STAFF}/shops/{shop}/devices", headers=owner)
    assert listed.status_code == 200
    assert secret not in listed.text
    assert [(item["label"], item["status"]) for item in listed.json()["items"]] == [("レジ", "link_pending")]
    audit_text = client.get(f"{STAFF}/audit", headers=owner, params={"limit": 5}).text
    assert secret not in audit_text


def _redeem_at(client: TestClient, benefit_id: int, moment: datetime, headers: dict[str, str], card: Any) -> None:
    with clock(client, moment):
        made = client.post(
            f"/api/v1/benefits/{benefit_id}/redemptions",
            json={"proof": proof_for(client, card, now=moment)},
            headers=headers,
        )
    assert made.status_code == 201, made.text


def test_redemptions_by_shop_and_japan_day_and_as_csv(client: TestClient, world: dict[str, Any]) -> None:
    owner = world["owner"]
    bath, cafe = make_shop(client, owner, "髙橋の湯"), make_shop(client, owner, "山﨑商店")
    bath_daily = make_benefit(client, owner, bath, "day", title_ja="入浴無料")
    cafe_daily = make_benefit(client, owner, cafe, "day", title_ja="珈琲")
    bath_device = device_token(client, owner, bath)[1]
    cafe_device = device_token(client, owner, cafe)[1]
    card = buy_card(client)
    # 23:30 on the 10th in Japan is 14:30 UTC on the 10th; 00:30 on the 11th is 15:30 UTC on the 10th.
    late = datetime(2026, 12, 10, 23, 30, tzinfo=JST)
    early = datetime(2026, 12, 11, 0, 30, tzinfo=JST)
    _redeem_at(client, bath_daily["id"], late, bath_device, card)
    _redeem_at(client, bath_daily["id"], early, bath_device, card)
    _redeem_at(client, cafe_daily["id"], early, cafe_device, card)

    def listed(**params: Any) -> list[tuple[int, str]]:
        response = client.get(f"{STAFF}/redemptions", headers=staff(client, "analyst"), params=params)
        assert response.status_code == 200, response.text
        return [(item["shop"]["id"], item["period_key"]) for item in response.json()["items"]]

    assert listed(day="2026-12-10", shop_id=bath) == [(bath, "2026-12-10")]
    assert sorted(listed(day="2026-12-11")) == sorted([(bath, "2026-12-11"), (cafe, "2026-12-11")])
    assert listed(**{"from": "2026-12-10", "to": "2026-12-11", "shop_id": cafe}) == [(cafe, "2026-12-11")]
    assert len(listed(**{"from": "2026-12-10", "to": "2026-12-11"})) == 3
    page = client.get(f"{STAFF}/redemptions", headers=owner, params={"day": "2026-12-11", "shop_id": bath}).json()
    item = page["items"][0]
    assert item["holder_address"].lower() == card.holder
    assert item["by"].startswith("device:")
    # A shop verifier reads no console list.
    assert client.get(f"{STAFF}/redemptions", headers=staff(client, "verifier")).status_code == 403

    exported = client.get(f"{STAFF}/redemptions.csv", headers=owner, params={"from": "2026-12-10", "to": "2026-12-11"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_HEADER
    assert [(row[1], row[3]) for row in rows[1:]] == [
        ("2026-12-10", "髙橋の湯"),
        ("2026-12-11", "髙橋の湯"),
        ("2026-12-11", "山﨑商店"),
    ]
    assert rows[1][0] == "2026-12-10 23:30:00"
    sjis = client.get(
        f"{STAFF}/redemptions.csv",
        headers=owner,
        params={"day": "2026-12-10", "shop_id": bath, "encoding": "shift_jis"},
    )
    assert sjis.status_code == 200
    sjis_rows = list(csv.reader(io.StringIO(sjis.content.decode("cp932"))))
    assert "0 字" in sjis_rows[0][0]  # the note: 髙 and 﨑 are cp932, nothing replaced
    assert tuple(sjis_rows[1]) == CSV_HEADER
    assert [row[3] for row in sjis_rows[2:]] == ["髙橋の湯"]


def test_only_editors_write_and_analysts_read(client: TestClient, world: dict[str, Any]) -> None:
    for role, status in (("analyst", 403), ("verifier", 403), ("moderator", 403), ("editor", 201)):
        made = client.post(f"{STAFF}/shops", headers=staff(client, role), json={"name_ja": "店", "name_en": "Shop"})
        assert made.status_code == status, role
    assert client.get(f"{STAFF}/shops", headers=staff(client, "verifier")).status_code == 403
    assert client.get(f"{STAFF}/redemptions.csv", headers=staff(client, "analyst")).status_code == 200
