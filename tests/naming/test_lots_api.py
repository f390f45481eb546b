"""Staff lots over HTTP: a lot goes on chain once with the terms staff chose; who may make one;
what is refused; a lot the chain could not take at once is finished by the settle loop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from backend.core.config import Settings
from backend.naming import staff_router
from backend.naming.lots import LotChain
from backend.naming.models import Lot
from minting.naming_rights import LotStatus
from tests.factories import staff_headers
from tests.naming.lot_world import (
    STAFF,
    TOWN,
    app_client,
    lot_body,
    make_lot,
    make_park,
    now_second,
    rights,
    runtime_of,
    sent_purposes,
    settler,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        chain="eth-tester://", data_dir=tmp_path_factory.mktemp("lots") / "data", staff_writes_per_minute=10_000
    )
    with app_client(settings) as test_client:
        yield test_client


def headers(client: TestClient, role: str) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, TOWN, role)


def unix(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_an_editors_lot_is_created_on_chain_with_its_terms(client: TestClient) -> None:
    start = now_second() + timedelta(minutes=5)
    lot = make_lot(client, headers(client, "editor"), start, reserve_jpy=50_000, min_increment_jpy=2_000)

    assert lot["status"] == "scheduled"
    assert lot["phase"] == "auction"
    assert lot["minimum_bid_jpy"] == 50_000
    assert lot["bids"] == []
    assert lot["bidders"] == []
    on_chain = rights(client, lot["chain"]["contract"]).lot(lot["chain"]["lot_id"])
    assert on_chain.status is LotStatus.OPEN
    assert on_chain.park_id == lot["park_id"]
    assert on_chain.default_name == lot["park_name_ja"] == "水沢名水公園"
    assert (on_chain.term_start, on_chain.term_end) == (unix(lot["term_start"]), unix(lot["term_end"]))
    assert (on_chain.auction_start, on_chain.auction_end) == (int(start.timestamp()), int(start.timestamp()) + 3_600)
    assert (on_chain.reserve, on_chain.min_increment) == (50_000, 2_000)
    assert (on_chain.soft_close_window, on_chain.extension) == (300, 300)
    assert sent_purposes(client, f"naming:lot:{lot['id']}:create") == 1
    read = client.get(f"{STAFF}/lots/{lot['id']}", headers=headers(client, "analyst"))
    assert read.status_code == 200
    assert read.json()["chain"] == lot["chain"]


def test_the_default_step_is_the_yen_rule_and_a_placeholder_on_chain(client: TestClient) -> None:
    lot = make_lot(client, headers(client, "owner"), now_second() + timedelta(minutes=5))

    assert lot["min_increment_jpy"] is None
    assert rights(client, lot["chain"]["contract"]).lot(lot["chain"]["lot_id"]).min_increment == 1_000


def test_an_analyst_or_a_moderator_may_read_lots_but_not_make_one(client: TestClient) -> None:
    park = make_park(client, headers(client, "editor"))
    body = lot_body(now_second() + timedelta(minutes=5))
    for role in ("analyst", "moderator"):
        response = client.post(f"{STAFF}/parks/{park['id']}/lots", json=body, headers=headers(client, role))
        assert response.status_code == 403, role
    shown = client.get(f"{STAFF}/parks/{park['id']}", headers=headers(client, "analyst")).json()
    assert shown["lots"] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"term_end": "2027-01-01T00:00:00+09:00", "term_start": "2027-06-01T00:00:00+09:00"}, "term_end"),
        ({"auction_start": "2030-01-02T00:00:00+09:00", "auction_end": "2030-01-01T00:00:00+09:00"}, "auction_end"),
        ({"auction_start": "2020-01-01T00:00:00+09:00", "auction_end": "2020-01-02T00:00:00+09:00"}, "auction_end"),
        ({"term_end": "2300-01-01T00:00:00+09:00"}, "term_end"),
    ],
)
def test_a_lot_whose_times_make_no_sense_is_refused_before_the_chain(
    client: TestClient, changes: dict[str, str], field: str
) -> None:
    park = make_park(client, headers(client, "editor"))
    before = sent_purposes(client, "naming:lot:")
    body = {**lot_body(now_second() + timedelta(minutes=5)), **changes}

    response = client.post(f"{STAFF}/parks/{park['id']}/lots", json=body, headers=headers(client, "editor"))

    assert response.status_code == 422, response.text
    assert all(problem["type"] == "cross_field" for problem in response.json()["detail"]), response.json()
    assert sent_purposes(client, "naming:lot:") == before
    with runtime_of(client).sessions() as session:
        assert session.query(Lot).filter(Lot.park_id == park["id"]).count() == 0


def test_a_second_lot_for_an_overlapping_term_is_refused(client: TestClient) -> None:
    editor = headers(client, "editor")
    start = now_second() + timedelta(minutes=5)
    first = make_lot(client, editor, start)

    again = client.post(f"{STAFF}/parks/{first['park_id']}/lots", json=lot_body(start), headers=editor)
    later = lot_body(
        start,
        term_start=first["term_end"],
        term_end=(datetime.fromisoformat(first["term_end"]) + timedelta(days=365)).isoformat(),
    )
    next_term = client.post(f"{STAFF}/parks/{first['park_id']}/lots", json=later, headers=editor)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "term_overlaps"
    assert next_term.status_code == 201, next_term.text


def test_a_lot_the_chain_cannot_take_now_is_creating_until_the_settle_loop_finishes_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    park = make_park(client, headers(client, "editor"))
    monkeypatch.setattr(staff_router, "lot_chain", lambda _runtime: None)  # no admin key in this process

    response = client.post(
        f"{STAFF}/parks/{park['id']}/lots",
        json=lot_body(now_second() + timedelta(minutes=5)),
        headers=headers(client, "editor"),
    )

    assert response.status_code == 202, response.text
    lot = response.json()
    assert lot["chain"]["state"] == "creating"
    assert lot["chain"]["lot_id"] is None
    assert lot["status"] == "scheduled"
    job = settler(client)
    job.finish_creating(datetime.now(UTC))  # too soon: the request may still be sending it
    assert sent_purposes(client, f"naming:lot:{lot['id']}:create") == 0
    job.finish_creating(datetime.now(UTC) + timedelta(minutes=1))
    again = client.get(f"{STAFF}/lots/{lot['id']}", headers=headers(client, "editor")).json()
    assert again["chain"]["state"] == "ready", again["chain"]
    assert rights(client, again["chain"]["contract"]).lot(again["chain"]["lot_id"]).park_id == park["id"]
    assert job.naming is not None
    LotChain(runtime_of(client).sessions, job.naming).create(lot["id"])  # a second finisher: nothing more
    assert sent_purposes(client, f"naming:lot:{lot['id']}:create") == 1


def test_a_lot_of_another_town_is_not_found(client: TestClient) -> None:
    from tests.factories import add_town

    lot = make_lot(client, headers(client, "editor"), now_second() + timedelta(minutes=5))
    add_town(runtime_of(client).sessions, "kazami")
    other = staff_headers(runtime_of(client).sessions, "kazami", "owner")

    assert client.get(f"/api/v1/staff/towns/kazami/lots/{lot['id']}", headers=other).status_code == 404
