"""Campaigns through the HTTP API: creating them (codes generated or chosen, unique on the
deployment, only for the town's own drops), the public `/c/{code}` (counted, then 302 to the
drop's page), and the poster and QR downloads read back as a phone and a printer would."""

from __future__ import annotations

import io
import re
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from backend.core.db import session_scope, utcnow
from backend.core.models import AuditEntry
from backend.sales.campaigns import CODE_ALPHABET, SCANS_PER_CLIENT_PER_MINUTE
from backend.sales.models import Campaign, CampaignScan, Drop
from tests.factories import add_town, staff_headers
from tests.sales.conftest import runtime_of
from tests.sales.test_poster import PAGE_POINTS, pixels_to_mm, poster_text, rasterise, read_qr

pytestmark = pytest.mark.chain

TOWN = "/api/v1/staff/towns/hoshikawa"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Mobile Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def editor(client: TestClient, town: str = "hoshikawa", role: str = "editor") -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, town, role)


def make_campaign(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(f"{TOWN}/campaigns", json={"name": "駅前ポスター", "drop_id": 1, **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def scan(client: TestClient, code: str, user_agent: str = IPHONE, method: str = "GET") -> Any:
    return client.request(method, f"/c/{code}", headers={"User-Agent": user_agent}, follow_redirects=False)


def table_counts(client: TestClient) -> tuple[int, int, int]:
    with runtime_of(client).sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Campaign)) or 0,
            session.scalar(select(func.count()).select_from(CampaignScan)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def other_town_drop(client: TestClient, slug: str = "kawabe") -> int:
    """A second town with a (draft) drop of its own; returns the drop's id."""
    runtime = runtime_of(client)
    town_id = add_town(runtime.sessions, slug)
    with session_scope(runtime.sessions) as session:
        demo = session.get(Drop, 1)
        assert demo is not None
        drop = Drop(
            municipality_id=town_id,
            title_ja="川辺町 住民票",
            title_en="Kawabe card",
            price_jpy=500,
            supply=10,
            starts_at=utcnow(),
            chain_id=demo.chain_id,
            contract=demo.contract,
            status="draft",
        )
        session.add(drop)
        session.flush()
        return drop.id


def test_a_campaign_gets_an_unambiguous_code_its_url_zero_counts_and_one_audit_row(client: TestClient) -> None:
    headers = editor(client)
    before = table_counts(client)

    created = make_campaign(client, headers)

    assert re.fullmatch(f"[{CODE_ALPHABET}]{{6}}", created["code"])
    assert not set(created["code"]) & set("01ILO")
    assert created["url"] == f"{runtime_of(client).settings.public_url}/c/{created['code']}"
    assert (created["name"], created["drop_id"]) == ("駅前ポスター", 1)
    figures = ("scans", "unique_scans", "bot_scans", "orders", "paid", "minted", "refunded", "revenue_jpy")
    assert {name: created[name] for name in figures} == dict.fromkeys(figures, 0)
    assert table_counts(client) == (before[0] + 1, before[1], before[2] + 1)
    with runtime_of(client).sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    assert (entry.action, entry.target_type, entry.target_id) == ("campaign.create", "campaign", created["code"])
    assert entry.actor.startswith("editor-")

    listed = client.get(f"{TOWN}/campaigns", headers=headers).json()
    assert listed["total"] == 1
    assert listed["items"] == [created]
    assert client.get(f"{TOWN}/campaigns/{created['code']}", headers=headers).json() == created


def test_generated_codes_differ(client: TestClient) -> None:
    headers = editor(client)
    codes = {make_campaign(client, headers, name=f"場所{n}")["code"] for n in range(5)}
    assert len(codes) == 5


def test_a_chosen_code_is_unique_on_the_deployment_in_any_case(client: TestClient) -> None:
    headers = editor(client)
    assert make_campaign(client, headers, code="Station-A")["code"] == "Station-A"
    other_drop = other_town_drop(client)
    other = staff_headers(runtime_of(client).sessions, "kawabe", "owner")
    before = table_counts(client)

    for code, path, who, drop_id in (
        ("Station-A", TOWN, headers, 1),
        ("station-a", TOWN, headers, 1),
        ("STATION-A", "/api/v1/staff/towns/kawabe", other, other_drop),  # another town: same namespace
    ):
        response = client.post(f"{path}/campaigns", json={"name": "x", "drop_id": drop_id, "code": code}, headers=who)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "code_taken"
    assert table_counts(client) == before


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "drop_id": 1, "code": "ab"},
        {"name": "x", "drop_id": 1, "code": "a" * 33},
        {"name": "x", "drop_id": 1, "code": "駅前"},
        {"name": "x", "drop_id": 1, "code": "a b c"},
        {"name": "x", "drop_id": 1, "code": "../x"},
        {"name": "", "drop_id": 1},
        {"name": "   ", "drop_id": 1},
        {"name": "x" * 201, "drop_id": 1},
        {"name": "x", "drop_id": 0},
        {"name": "x"},
        {"name": "x", "drop_id": 1, "scans": 100},
    ],
)
def test_invalid_bodies_are_422_and_change_nothing(client: TestClient, body: dict[str, Any]) -> None:
    headers = editor(client)
    before = table_counts(client)
    response = client.post(f"{TOWN}/campaigns", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert table_counts(client) == before


def test_only_the_towns_own_drops_take_campaigns(client: TestClient) -> None:
    foreign = other_town_drop(client)
    headers = editor(client)
    before = table_counts(client)
    for drop_id in (foreign, 999_999):
        response = client.post(f"{TOWN}/campaigns", json={"name": "x", "drop_id": drop_id}, headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "drop_not_found"
    assert table_counts(client) == before


def test_who_may_do_what(client: TestClient) -> None:
    code = make_campaign(client, editor(client))["code"]
    other_drop = other_town_drop(client)
    analyst, verifier = editor(client, role="analyst"), editor(client, role="verifier")
    stranger = staff_headers(runtime_of(client).sessions, "kawabe", "owner")

    assert client.get(f"{TOWN}/campaigns/{code}", headers=analyst).status_code == 200
    assert client.get(f"{TOWN}/funnel", headers=analyst).status_code == 200
    refused = client.post(f"{TOWN}/campaigns", json={"name": "x", "drop_id": 1}, headers=analyst)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert client.get(f"{TOWN}/campaigns", headers=verifier).status_code == 403
    assert client.get(f"{TOWN}/campaigns").status_code == 401
    assert client.get(f"{TOWN}/campaigns/{code}/poster.pdf").status_code == 401
    # Another town's owner sees nothing of this town, and this code is not theirs.
    assert client.get(f"{TOWN}/campaigns/{code}", headers=stranger).status_code == 403
    mine = client.get(f"/api/v1/staff/towns/kawabe/campaigns/{code}", headers=stranger)
    assert (mine.status_code, mine.json()["error"]["code"]) == (404, "campaign_not_found")
    assert client.get("/api/v1/staff/towns/kawabe/campaigns", headers=stranger).json()["total"] == 0
    assert other_drop  # kawabe's drop exists, only its campaigns are none


def test_a_scan_is_counted_then_forwarded_to_the_drop_with_the_code(client: TestClient) -> None:
    code = make_campaign(client, editor(client))["code"]

    response = scan(client, code)

    assert response.status_code == 302
    assert response.headers["location"] == f"/drop.html?id=1&c={code}"
    assert response.headers["cache-control"] == "no-store"
    # Followed, it lands on the real drop page (the static mount serves it).
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'id="campaign_code"' in page.text


def test_raw_unique_and_bot_scans(client: TestClient) -> None:
    headers = editor(client)
    code = make_campaign(client, headers)["code"]
    elsewhere = TestClient(client.app, client=("203.0.113.9", 40000))

    scan(client, code, IPHONE)
    scan(client, code, IPHONE)  # the same phone again: 1 unique
    scan(client, code, ANDROID)  # another agent on the same address: 2 unique
    scan(elsewhere, code, IPHONE)  # the same agent elsewhere: 3 unique
    scan(client, code, GOOGLEBOT)  # a crawler: a bot, never unique
    scan(client, code, "")  # no agent at all: a script
    assert scan(client, code, IPHONE, method="HEAD").status_code == 302  # link scanners' HEAD

    got = client.get(f"{TOWN}/campaigns/{code}", headers=headers).json()
    assert (got["scans"], got["unique_scans"], got["bot_scans"]) == (7, 3, 3)


def test_scans_keep_no_address_or_agent(client: TestClient) -> None:
    code = make_campaign(client, editor(client))["code"]
    scan(client, code, IPHONE)
    with runtime_of(client).sessions() as session:
        (row,) = session.scalars(select(CampaignScan)).all()
    assert re.fullmatch("[0-9a-f]{64}", row.visitor)
    stored = " ".join(str(value) for value in vars(row).values())
    assert "testclient" not in stored
    assert "iPhone" not in stored


def test_a_code_typed_in_another_case_still_counts_and_forwards_the_real_code(client: TestClient) -> None:
    headers = editor(client)
    make_campaign(client, headers, code="Onsen-2")
    response = scan(client, "onsen-2")
    assert response.headers["location"] == "/drop.html?id=1&c=Onsen-2"
    assert client.get(f"{TOWN}/campaigns/Onsen-2", headers=headers).json()["scans"] == 1


def test_an_unknown_code_is_a_page_for_people_and_an_error_for_programs(client: TestClient) -> None:
    before = table_counts(client)
    page = client.get("/c/NOPE42", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "見つかりません" in page.text
    assert "NOPE42" in page.text
    hostile = client.get("/c/<script>", headers={"Accept": "text/html"})
    assert hostile.status_code == 404
    assert "<script>" not in hostile.text
    api = client.get("/c/NOPE42", headers={"Accept": "application/json"})
    assert (api.status_code, api.json()["error"]["code"]) == (404, "campaign_not_found")
    assert table_counts(client) == before


def test_a_flood_from_one_client_is_forwarded_but_counted_only_up_to_the_limit(client: TestClient) -> None:
    headers = editor(client)
    code = make_campaign(client, headers)["code"]
    flood = SCANS_PER_CLIENT_PER_MINUTE + 10
    answers = {scan(client, code).status_code for _ in range(flood)}
    assert answers == {302}
    counted = client.get(f"{TOWN}/campaigns/{code}", headers=headers).json()["scans"]
    # The minute's window may turn during the flood: at most one extra window's worth.
    assert SCANS_PER_CLIENT_PER_MINUTE <= counted < flood
    assert scan(TestClient(client.app, client=("198.51.100.4", 1)), code).status_code == 302
    assert client.get(f"{TOWN}/campaigns/{code}", headers=headers).json()["scans"] == counted + 1


@pytest.mark.parametrize("size", ["A4", "A3"])
def test_the_poster_download_is_the_campaigns_poster(client: TestClient, size: str) -> None:
    headers = editor(client)
    created = make_campaign(client, headers)
    response = client.get(f"{TOWN}/campaigns/{created['code']}/poster.pdf", params={"size": size}, headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="poster-{created["code"]}-{size}.pdf"'
    reader = PdfReader(io.BytesIO(response.content))
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(PAGE_POINTS[size], abs=1)
    text = poster_text(response.content)
    assert "星川町" in text
    assert "星川町 デジタル住民票 第1期" in text
    assert "1枚 1,000円" in text
    qr = read_qr(rasterise(response.content))
    assert qr.text == created["url"]
    assert pixels_to_mm(qr.width) >= 40


def test_a_poster_size_other_than_a4_or_a3_is_refused(client: TestClient) -> None:
    headers = editor(client)
    code = make_campaign(client, headers)["code"]
    response = client.get(f"{TOWN}/campaigns/{code}/poster.pdf", params={"size": "B4"}, headers=headers)
    assert response.status_code == 422


def test_the_qr_downloads_decode_to_the_campaign_url(client: TestClient) -> None:
    headers = editor(client)
    created = make_campaign(client, headers)
    png = client.get(f"{TOWN}/campaigns/{created['code']}/qr.png", params={"scale": 6}, headers=headers)
    assert png.headers["content-type"] == "image/png"
    assert read_qr(Image.open(io.BytesIO(png.content))).text == created["url"]
    svg = client.get(f"{TOWN}/campaigns/{created['code']}/qr.svg", headers=headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    assert 'shape-rendering="crispEdges"' in svg.text
    missing = client.get(f"{TOWN}/campaigns/NOPE42/qr.png", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "campaign_not_found")


def test_a_server_that_cannot_load_the_pdf_renderer_answers_503(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = editor(client)
    code = make_campaign(client, headers)["code"]
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` now fails, as without Pango
    response = client.get(f"{TOWN}/campaigns/{code}/poster.pdf", headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "poster_unavailable")
    # The QR alone does not need the renderer.
    assert client.get(f"{TOWN}/campaigns/{code}/qr.svg", headers=headers).status_code == 200
