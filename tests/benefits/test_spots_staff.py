"""Staff's side of spots: creating and changing them (the rules between fields, the generated
code, the audit), the check-in poster decoded as a print shop and a phone see it, the kiosk's
code, the check-ins list and CSV, and who may do what."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from backend.benefits.check_ins import CSV_HEADER
from backend.benefits.kiosk import WINDOW_SECONDS, code_accepted, kiosk_key
from backend.benefits.models import CheckIn
from backend.core.db import session_scope
from backend.core.models import AuditEntry
from backend.towns.models import Municipality
from tests.benefits.spot_world import STAFF, TOWN, clock, fresh_limits, make_client, make_spot, runtime_of, staff
from tests.factories import add_town
from tests.sales.test_poster import TRADEMARK, font_names_embedded, poster_text, rasterise, read_qr

pytestmark = pytest.mark.chain

PAGE_POINTS = {"A4": (595.28, 841.89), "A3": (841.89, 1190.55)}
CHECK_IN_LEAD = "デジタル住民票をお持ちの方は、ここでチェックイン"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from make_client(tmp_path_factory, "spots-staff")


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def _audit_rows(client: TestClient, spot_id: int) -> list[str]:
    with runtime_of(client).sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_type == "spot", AuditEntry.target_id == str(spot_id))
                .order_by(AuditEntry.id)
            )
        )


# ── spots ───────────────────────────────────────────────────────────────────


def test_a_spot_gets_a_short_unique_code_and_its_poster_url(client: TestClient) -> None:
    spots = [make_spot(client, place_ja="星川町本郷 1-2") for _ in range(5)]
    codes = [spot["code"] for spot in spots]
    assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", code) for code in codes), codes
    assert len(set(codes)) == len(codes)
    public = runtime_of(client).settings.public_url
    first = spots[0]
    assert first["url"] == f"{public}/s/{first['code']}"
    assert (first["radius_m"], first["require_location"], first["kiosk"], first["archived_at"]) == (
        300,
        False,
        False,
        None,
    )
    assert _audit_rows(client, first["id"]) == ["spot.create"]
    listed = client.get(f"{STAFF}/spots", params={"limit": 100}, headers=staff(client, "analyst")).json()
    assert {spot["id"] for spot in spots} <= {item["id"] for item in listed["items"]}
    assert listed["total"] >= 5


@pytest.mark.parametrize(
    "fields",
    [
        {"require_location": True},  # no coordinates to check against
        {"latitude": 38.25},  # one coordinate without the other
        {"latitude": 91.0, "longitude": 140.0},
        {"latitude": 38.0, "longitude": 181.0},
        {"radius_m": 9},
        {"radius_m": 5001},
        {"code": "MYCODE"},  # the code is the server's
        {"kiosk": 0},  # JSON's false, not a number
    ],
)
def test_a_spot_that_breaks_a_rule_is_refused(client: TestClient, fields: dict[str, object]) -> None:
    body = {"name_ja": "道の駅", "name_en": "Roadside station", **fields}
    response = client.post(f"{STAFF}/spots", json=body, headers=staff(client, "editor"))
    assert response.status_code == 422, response.text


def test_a_change_keeps_the_rules_and_is_audited(client: TestClient) -> None:
    spot = make_spot(client)
    editor = staff(client, "editor")
    url = f"{STAFF}/spots/{spot['id']}"
    refused = client.patch(url, json={"require_location": True}, headers=editor)
    assert refused.status_code == 422, refused.text
    assert "require_location" in refused.text
    changed = client.patch(
        url, json={"latitude": 38.25, "longitude": 140.33, "require_location": True, "radius_m": 50}, headers=editor
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["require_location"], changed.json()["radius_m"]) == (True, 50)
    assert changed.json()["code"] == spot["code"]
    cleared = client.patch(url, json={"latitude": None, "longitude": None}, headers=editor)
    assert cleared.status_code == 422, "a spot that checks the location keeps its coordinates"
    archived = client.patch(url, json={"archived": True}, headers=editor)
    assert archived.json()["archived_at"] is not None
    assert client.get(f"/api/v1/spots/{spot['code']}").status_code == 404
    live = client.get(f"{STAFF}/spots", params={"archived": "false", "limit": 100}, headers=editor).json()
    assert spot["id"] not in {item["id"] for item in live["items"]}
    assert _audit_rows(client, spot["id"]) == ["spot.create", "spot.update", "spot.update"]


# ── the poster ──────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def poster_spot(app_client: TestClient) -> dict[str, object]:
    return make_spot(app_client, name_ja="星川温泉 ほしの湯", name_en="Hoshino-yu", place_ja="星川町本郷 1-2")


@pytest.mark.parametrize("size", ["A4", "A3"])
def test_the_poster_says_the_spot_and_its_qr_opens_the_check_in(
    client: TestClient, poster_spot: dict[str, object], size: str
) -> None:
    response = client.get(
        f"{STAFF}/spots/{poster_spot['id']}/poster.pdf", params={"size": size}, headers=staff(client, "analyst")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f"spot-{poster_spot['code']}-{size}.pdf" in response.headers["content-disposition"]
    pdf = response.content
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(PAGE_POINTS[size], abs=1)
    assert all(font_names_embedded(pdf).values())
    text = poster_text(pdf)
    url = f"{runtime_of(client).settings.public_url}/s/{poster_spot['code']}"
    for expected in ("星川町", "星川温泉 ほしの湯", "星川町本郷 1-2", CHECK_IN_LEAD, url, TRADEMARK):
        assert expected in text, f"{expected!r} missing from the poster's text"
    if size == "A4":  # one raster is enough to know the QR is the URL (300 dpi A3 is slow)
        qr = read_qr(rasterise(pdf))
        assert (qr.text, qr.ec_level) == (url, "Q")


def test_a_poster_of_another_size_or_spot_is_refused(client: TestClient, poster_spot: dict[str, object]) -> None:
    editor = staff(client, "editor")
    assert client.get(f"{STAFF}/spots/{poster_spot['id']}/poster.pdf?size=A2", headers=editor).status_code == 422
    assert client.get(f"{STAFF}/spots/999999/poster.pdf", headers=editor).status_code == 404


# ── the kiosk ───────────────────────────────────────────────────────────────


def test_the_kiosk_shows_a_code_of_the_window_and_a_qr_of_the_spot_url(client: TestClient) -> None:
    spot = make_spot(client, kiosk=True)
    moment = datetime(2026, 12, 1, 1, 0, 10, tzinfo=UTC)
    verifier = staff(client, "verifier")
    with clock(client, moment):
        shown = client.get(f"{STAFF}/spots/{spot['id']}/kiosk", headers=verifier)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert re.fullmatch(r"[0-9]{8}", body["code"])
    assert body["url"] == f"{spot['url']}?k={body['code']}"
    assert datetime.fromisoformat(body["expires_at"]) == datetime(2026, 12, 1, 1, 0, 30, tzinfo=UTC)
    assert body["window_seconds"] == WINDOW_SECONDS
    assert body["qr_svg"].startswith("<svg")
    key = kiosk_key(runtime_of(client).settings.secret_key.get_secret_value())
    assert code_accepted(key, spot["id"], body["code"], moment)
    with clock(client, moment.replace(second=40)):
        assert client.get(f"{STAFF}/spots/{spot['id']}/kiosk", headers=verifier).json()["code"] != body["code"]


def test_a_spot_without_a_kiosk_has_no_kiosk_code(client: TestClient) -> None:
    spot = make_spot(client)
    response = client.get(f"{STAFF}/spots/{spot['id']}/kiosk", headers=staff(client, "editor"))
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_a_kiosk")


# ── check-ins ───────────────────────────────────────────────────────────────


def test_check_ins_by_spot_and_day_and_their_csv(client: TestClient) -> None:
    first, second = make_spot(client, name_ja="駅前広場"), make_spot(client, name_ja="=SUM(A1)")
    rows = [
        (first["id"], "2026-12-01", "holder:1", datetime(2026, 12, 1, 1, 0, tzinfo=UTC)),
        (
            first["id"],
            "2026-12-01",
            "wallet:0x00000000000000000000000000000000000000aa",
            datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
        ),
        (first["id"], "2026-12-02", "holder:1", datetime(2026, 12, 2, 1, 0, tzinfo=UTC)),
        (second["id"], "2026-12-02", "holder:1", datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
    ]
    with session_scope(runtime_of(client).sessions) as session:
        town_id = session.scalar(select(Municipality.id).where(Municipality.slug == TOWN))
        for spot_id, day, visitor, at in rows:
            session.add(
                CheckIn(
                    spot_id=spot_id,
                    municipality_id=town_id,
                    day=day,
                    visitor=visitor,
                    address="0x00000000000000000000000000000000000000aa",
                    checked_in_at=at,
                )
            )
    analyst = staff(client, "analyst")
    one_day = client.get(f"{STAFF}/check-ins", params={"spot_id": first["id"], "day": "2026-12-01"}, headers=analyst)
    assert one_day.status_code == 200, one_day.text
    body = one_day.json()
    assert body["total"] == 2
    assert [item["visitor"] for item in body["items"]] == [rows[1][2], "holder:1"]  # newest first
    assert body["by_spot_and_day"] == [{"spot_id": first["id"], "day": "2026-12-01", "check_ins": 2}]
    ranged = client.get(f"{STAFF}/check-ins", params={"from": "2026-12-02", "to": "2026-12-02"}, headers=analyst).json()
    assert {(count["spot_id"], count["check_ins"]) for count in ranged["by_spot_and_day"]} >= {
        (first["id"], 1),
        (second["id"], 1),
    }
    assert not {"address", "latitude", "longitude"} & set(body["items"][0])
    csv = client.get(f"{STAFF}/check-ins.csv", params={"from": "2026-12-01", "to": "2026-12-02"}, headers=analyst)
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").split("\r\n")
    assert lines[0] == ",".join(CSV_HEADER)
    assert any(line.endswith(",holder:1,poster,") and "2026-12-01 10:00:00" in line for line in lines), lines
    assert any("'=SUM(A1)" in line for line in lines), "a formula-like name is defused"
    assert not {"address", "latitude", "longitude", "email"} & set(CSV_HEADER)
    sjis = client.get(f"{STAFF}/check-ins.csv", params={"encoding": "shift_jis"}, headers=analyst)
    assert "駅前広場" in sjis.content.decode("cp932")
    assert client.get(f"{STAFF}/check-ins", params={"day": "2026-13-01"}, headers=analyst).status_code == 422


# ── who may ─────────────────────────────────────────────────────────────────


def test_staff_of_another_town_and_other_roles_are_refused(client: TestClient) -> None:
    spot = make_spot(client)
    add_town(runtime_of(client).sessions, "kawanishi")
    other = staff(client, "owner", "kawanishi")
    for path in (
        "/spots",
        f"/spots/{spot['id']}/poster.pdf",
        f"/spots/{spot['id']}/kiosk",
        "/check-ins",
        "/check-ins.csv",
    ):
        response = client.get(f"{STAFF}{path}", headers=other)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden"), path
    assert client.patch(f"{STAFF}/spots/{spot['id']}", json={"radius_m": 20}, headers=other).status_code == 403
    # Through their own town's URL the spot is not theirs: like a missing one.
    theirs = f"/api/v1/staff/towns/kawanishi/spots/{spot['id']}"
    assert client.patch(theirs, json={"radius_m": 20}, headers=other).status_code == 404
    assert client.get(f"{theirs}/poster.pdf", headers=other).status_code == 404
    # Roles: an analyst reads but does not write; a shop verifier runs kiosks only.
    body = {"name_ja": "x", "name_en": "x"}
    assert client.post(f"{STAFF}/spots", json=body, headers=staff(client, "analyst")).status_code == 403
    assert client.get(f"{STAFF}/spots", headers=staff(client, "verifier")).status_code == 403
    assert client.get(f"{STAFF}/check-ins", headers=staff(client, "moderator")).status_code == 403
    assert client.get(f"{STAFF}/spots/{spot['id']}/kiosk", headers=staff(client, "analyst")).status_code == 403
