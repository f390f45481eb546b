"""A holder's check-ins: once per spot per day (Japan time, also under concurrent taps), only
with a valid card of the spot's town, within the radius when the spot checks the location,
with a current kiosk code at a kiosk spot; the poster's short URL and the spot's facts."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.benefits.check_ins import haversine_m
from backend.benefits.kiosk import WINDOW_SECONDS, code_for, kiosk_key, window_of
from backend.benefits.models import CheckIn, Spot
from backend.core.db import session_scope
from backend.holders.identity import CardHolder, cards_of
from backend.sales.models import OrderCard
from tests.benefits.spot_world import (
    HERE,
    NORTH_1100_M,
    STAFF,
    SignedIn,
    card_holder,
    check_in,
    clock,
    fresh_limits,
    holder,
    make_client,
    make_spot,
    runtime_of,
    staff,
)
from tests.factories import add_town

pytestmark = pytest.mark.chain

#: 2026-12-01 10:00 in Japan.
MORNING = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from make_client(tmp_path_factory, "check-ins")


@pytest.fixture(scope="module")
def visitor(app_client: TestClient) -> SignedIn:
    """A holder of one minted card of the demo town."""
    return card_holder(app_client)


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def _code(response: Any) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body["error"]["code"] if "error" in body else ""


def _key(client: TestClient) -> bytes:
    return kiosk_key(runtime_of(client).settings.secret_key.get_secret_value())


# ── once a day ──────────────────────────────────────────────────────────────


def test_once_per_spot_per_day_in_japan_time(client: TestClient, visitor: SignedIn) -> None:
    spot = make_spot(client)
    with clock(client, MORNING):
        first = check_in(client, visitor, spot["code"])
        assert first.status_code == 201, first.text
        assert (first.json()["day"], first.json()["method"], first.json()["distance_m"]) == (
            "2026-12-01",
            "poster",
            None,
        )
    # 23:59 the same day in Japan (14:59 UTC) is still the same day …
    with clock(client, datetime(2026, 12, 1, 14, 59, tzinfo=UTC)):
        again = check_in(client, visitor, spot["code"])
    assert _code(again) == (409, "already_checked_in")
    assert spot["name_ja"] in again.json()["error"]["message"]
    # … and 00:01 the next day (15:01 UTC, still 1 December in UTC) is a new one.
    with clock(client, datetime(2026, 12, 1, 15, 1, tzinfo=UTC)):
        tomorrow = check_in(client, visitor, spot["code"])
    assert tomorrow.status_code == 201, tomorrow.text
    assert tomorrow.json()["day"] == "2026-12-02"
    with runtime_of(client).sessions() as session:
        rows = session.scalars(select(CheckIn).where(CheckIn.spot_id == spot["id"]).order_by(CheckIn.id)).all()
    assert [row.day for row in rows] == ["2026-12-01", "2026-12-02"]
    assert {row.visitor for row in rows} == {f"holder:{visitor.holder_id}"}
    assert {row.address for row in rows} == {visitor.address.lower()}


def test_concurrent_taps_check_in_once_and_never_fail(client: TestClient, visitor: SignedIn) -> None:
    spot = make_spot(client)
    start = threading.Barrier(12)

    def tap(_: int) -> int:
        start.wait()
        status: int = check_in(client, visitor, spot["code"]).status_code
        return status

    with clock(client, MORNING), ThreadPoolExecutor(12) as pool:
        statuses = Counter(pool.map(tap, range(12)))
    assert statuses == Counter({201: 1, 409: 11})


def test_another_spot_the_same_day_is_another_check_in(client: TestClient, visitor: SignedIn) -> None:
    first, second = make_spot(client), make_spot(client)
    with clock(client, MORNING):
        assert check_in(client, visitor, first["code"]).status_code == 201
        assert check_in(client, visitor, second["code"]).status_code == 201


# ── the card ────────────────────────────────────────────────────────────────


def test_a_holder_without_a_card_of_the_town_cannot_check_in(client: TestClient, visitor: SignedIn) -> None:
    spot = make_spot(client)
    nobody = holder(client)
    refused = check_in(client, nobody, spot["code"])
    assert _code(refused) == (409, "no_card")
    assert "星川町" in refused.json()["error"]["message"]
    # A card of the demo town does not check in at another town's spot.
    town_id = add_town(runtime_of(client).sessions, "kawanishi")
    with session_scope(runtime_of(client).sessions) as session:
        session.add(Spot(municipality_id=town_id, code="KWN234", name_ja="川西駅", name_en="Kawanishi station"))
    assert _code(check_in(client, visitor, "KWN234")) == (409, "no_card")
    assert check_in(client, visitor, spot["code"], latitude=1.0).status_code == 422  # one coordinate
    assert check_in(client, SignedIn(0, "", "", "not-a-session"), spot["code"]).status_code == 401


def test_a_refunded_card_does_not_check_in(client: TestClient) -> None:
    refunded = card_holder(client)
    spot = make_spot(client)
    with clock(client, MORNING):
        assert check_in(client, refunded, spot["code"]).status_code == 201
    with session_scope(runtime_of(client).sessions) as session:  # refunded after minting: revoked
        who = CardHolder(
            f"holder:{refunded.holder_id}", (refunded.address.lower(),), refunded.holder_id, refunded.email
        )
        (card,) = cards_of(session, who, runtime_of(client).manifest.chain_id)
        row = session.scalar(
            select(OrderCard).where(OrderCard.drop_id == card.drop_id, OrderCard.token_id == card.token_id)
        )
        assert row is not None
        row.revoked_at = datetime.now(UTC)
    with clock(client, MORNING + timedelta(days=1)):
        assert _code(check_in(client, refunded, spot["code"])) == (409, "no_card")


# ── the location ────────────────────────────────────────────────────────────


def test_a_spot_that_checks_the_location_takes_only_phones_within_its_radius(
    client: TestClient, visitor: SignedIn
) -> None:
    spot = make_spot(client, latitude=HERE[0], longitude=HERE[1], radius_m=300, require_location=True)
    code = spot["code"]
    with clock(client, MORNING):
        assert _code(check_in(client, visitor, code)) == (422, "location_required")
        far = check_in(client, visitor, code, latitude=NORTH_1100_M[0], longitude=NORTH_1100_M[1])
        assert _code(far) == (409, "out_of_range")
        metres = round(haversine_m(*HERE, *NORTH_1100_M))
        assert 1090 <= metres <= 1110
        assert f"{metres:,}m" in far.json()["error"]["message"]
        # 350 m away: outside 300 m; the phone's ±5 km counts only up to 100 m, so 450 m is out …
        at_350 = HERE[0] + 350 / 111_195, HERE[1]
        at_450 = HERE[0] + 450 / 111_195, HERE[1]
        assert _code(check_in(client, visitor, code, latitude=at_350[0], longitude=at_350[1])) == (409, "out_of_range")
        wide = {"accuracy_m": 5000.0}
        assert _code(check_in(client, visitor, code, latitude=at_450[0], longitude=at_450[1], **wide)) == (
            409,
            "out_of_range",
        )
        # … and 350 m with ±60 m is within 300 + 60.
        inside = check_in(client, visitor, code, latitude=at_350[0], longitude=at_350[1], accuracy_m=60.0)
    assert inside.status_code == 201, inside.text
    assert inside.json()["distance_m"] == 350
    with runtime_of(client).sessions() as session:
        row = session.scalar(select(CheckIn).where(CheckIn.spot_id == spot["id"]))
    assert row is not None
    assert row.distance_m == 350  # the distance only: check_ins has no column for coordinates
    assert not {"latitude", "longitude"} & set(CheckIn.__table__.columns.keys())


def test_a_spot_that_does_not_check_the_location_ignores_it(client: TestClient, visitor: SignedIn) -> None:
    spot = make_spot(client, latitude=HERE[0], longitude=HERE[1], radius_m=10)
    done = check_in(client, visitor, spot["code"], latitude=NORTH_1100_M[0], longitude=NORTH_1100_M[1])
    assert done.status_code == 201, done.text
    assert done.json()["distance_m"] is None


# ── kiosks ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("windows_ago", "accepted"), [(0, True), (1, True), (2, False), (-1, False)])
def test_a_kiosk_code_is_taken_in_its_window_and_the_next_only(
    client: TestClient, visitor: SignedIn, windows_ago: int, accepted: bool
) -> None:
    spot = make_spot(client, kiosk=True)
    now = MORNING + timedelta(seconds=5)
    code = code_for(_key(client), spot["id"], window_of(now) - windows_ago)
    with clock(client, now):
        response = check_in(client, visitor, spot["code"], kiosk_code=code)
    if accepted:
        assert response.status_code == 201, response.text
        assert response.json()["method"] == "kiosk"
    else:
        assert _code(response) == (409, "kiosk_code_invalid")


def test_a_kiosk_spot_needs_the_code_of_its_own_kiosk(client: TestClient, visitor: SignedIn) -> None:
    spot, other = make_spot(client, kiosk=True), make_spot(client, kiosk=True)
    with clock(client, MORNING):
        assert _code(check_in(client, visitor, spot["code"])) == (409, "kiosk_code_invalid")
        theirs = code_for(_key(client), other["id"], window_of(MORNING))
        assert _code(check_in(client, visitor, spot["code"], kiosk_code=theirs)) == (409, "kiosk_code_invalid")
        assert check_in(client, visitor, spot["code"], kiosk_code="12ab").status_code == 422


def test_the_kiosk_screen_code_checks_in(client: TestClient, visitor: SignedIn) -> None:
    spot = make_spot(client, kiosk=True)
    shown_at = MORNING + timedelta(seconds=WINDOW_SECONDS - 1)
    with clock(client, shown_at):
        shown = client.get(f"{STAFF}/spots/{spot['id']}/kiosk", headers=staff(client, "verifier")).json()
    url = urlsplit(shown["url"])
    scanned = client.get(f"{url.path}?{url.query}", follow_redirects=False)
    assert scanned.status_code == 302
    assert scanned.headers["location"] == f"/spot.html?code={spot['code']}&k={shown['code']}"
    with clock(client, shown_at + timedelta(seconds=2)):  # the window turned meanwhile
        done = check_in(client, visitor, spot["code"], kiosk_code=shown["code"])
    assert done.status_code == 201, done.text


# ── the short URL and the spot's facts ─────────────────────────────────────


def test_the_poster_url_opens_the_spot_page_and_the_page_reads_the_spot(client: TestClient) -> None:
    spot = make_spot(client, place_ja="星川町本郷", latitude=HERE[0], longitude=HERE[1], require_location=True)
    scanned = client.get(f"/s/{spot['code'].lower()}", follow_redirects=False)
    assert scanned.status_code == 302
    assert scanned.headers["location"] == f"/spot.html?code={spot['code']}"
    assert client.get(f"/s/{spot['code']}?k=<script>", follow_redirects=False).headers["location"] == (
        f"/spot.html?code={spot['code']}"
    )
    facts = client.get(f"/api/v1/spots/{spot['code'].lower()}")
    assert facts.status_code == 200, facts.text
    assert facts.json() == {
        "code": spot["code"],
        "name_ja": spot["name_ja"],
        "name_en": spot["name_en"],
        "place_ja": "星川町本郷",
        "town": "hoshikawa",
        "town_ja": "星川町",
        "town_en": facts.json()["town_en"],
        "requires_location": True,
        "radius_m": 300,
        "kiosk": False,
    }
    assert _code(client.get("/api/v1/spots/ZZZZZZ")) == (404, "spot_not_found")
    assert client.get("/spot.html").status_code == 200
