"""The public park API and pages, the naming right's token metadata, and the term-end notices."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web3.logs import DISCARD

from backend.app import FRONTEND_DIR
from backend.naming.names import send_term_notices
from backend.staff.models import StaffMember, StaffRole
from backend.towns.models import Municipality
from tests.holders.conftest import read_mail
from tests.naming.names_world import (
    DAY,
    EXPLORER,
    add_park,
    awarded_lot,
    chain_of,
    fresh_limits,
    holder,
    mail_dir,
    make_client,
    propose,
    runtime_of,
    staff,
)

pytestmark = pytest.mark.chain

STAFF = "/api/v1/staff/towns/hoshikawa"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from make_client(tmp_path_factory, "parks")


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def test_a_park_without_a_lot_has_its_default_name_and_no_holder(client: TestClient) -> None:
    park_id = add_park(client, "月見が丘公園", name_en="Tsukimigaoka Park", location_ja="星川町大字本郷 1-2")
    park = client.get(f"/api/v1/parks/{park_id}")
    assert park.status_code == 200, park.text
    body = park.json()
    assert (body["current_name"], body["default_name"], body["name_en"]) == (
        "月見が丘公園",
        "月見が丘公園",
        "Tsukimigaoka Park",
    )
    assert (body["holder"], body["lot_id"], body["term_start"], body["auction_lot_id"]) == (None, None, None, None)
    rights = runtime_of(client).manifest.contracts["NamingRights"].address
    assert body["chain"] == {
        "chain_id": runtime_of(client).manifest.chain_id,
        "contract": rights,
        "lot_id": None,
        "explorer_url": f"{EXPLORER}/address/{rights}",
    }
    assert body["location_ja"] == "星川町大字本郷 1-2"


def test_an_awarded_park_shows_its_term_holder_and_record(client: TestClient) -> None:
    winner = holder(client)
    lot = awarded_lot(client, winner.address)
    body = client.get(f"/api/v1/parks/{lot.park_id}").json()
    expected = "保有者 " + hashlib.sha256(winner.address.lower().encode()).hexdigest()[:6].upper()
    assert body["holder"] == expected
    assert winner.address.lower() not in str(body).lower()
    assert body["lot_id"] == lot.lot_id
    assert body["chain"]["lot_id"] == lot.chain_lot_id
    assert body["chain"]["explorer_url"] == f"{EXPLORER}/nft/{lot.contract}/{lot.chain_lot_id}"
    assert datetime.fromisoformat(body["term_start"]) < datetime.now(UTC) < datetime.fromisoformat(body["term_end"])

    listed = client.get("/api/v1/parks", params={"municipality": "hoshikawa", "limit": 100}).json()
    assert lot.park_id in [item["id"] for item in listed["items"]]
    assert listed["total"] >= 1
    assert client.get("/api/v1/parks", params={"municipality": "nowhere"}).json()["total"] == 0


def test_an_unknown_park_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/parks/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "park_not_found"


def test_the_pages_and_the_short_url(client: TestClient) -> None:
    winner = holder(client)
    lot = awarded_lot(client, winner.address)
    page = client.get(f"/parks/{lot.park_id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.content == (FRONTEND_DIR / "park.html").read_bytes()
    auction = client.get(f"/lots/{lot.lot_id}")
    assert auction.status_code == 200
    assert auction.content == (FRONTEND_DIR / "lot.html").read_bytes()
    short = client.get(f"/p/{lot.park_id}", follow_redirects=False)
    assert short.status_code == 302
    assert short.headers["location"] == f"/parks/{lot.park_id}"
    assert client.get("/parks/999999").status_code == 404
    assert client.get("/lots/999999").status_code == 404
    assert client.get("/api/v1/parks/abc").status_code == 422  # the API's paths stay the API's
    assert client.get("/").status_code == 200  # and the other pages the pages' mount's


def test_the_rights_token_metadata_follows_the_name_on_chain(client: TestClient) -> None:
    winner = holder(client)
    lot = awarded_lot(client, winner.address)
    url = f"/api/v1/tokens/{lot.contract}/{lot.chain_lot_id}"
    before = client.get(url)
    assert before.status_code == 200, before.text
    metadata = before.json()
    traits = {item["trait_type"]: item["value"] for item in metadata["attributes"]}
    assert traits["Current name"] == traits["Default name"] == "星川中央公園"
    assert metadata["name"].startswith("星川中央公園 命名権")
    assert metadata["external_url"].endswith(f"/parks/{lot.park_id}")
    assert traits["Term end"] > traits["Term start"]
    assert winner.address.lower() not in before.text.lower()

    proposal = propose(client, winner, lot, "メタデータ公園").json()["proposal"]
    approved = client.post(f"{STAFF}/name-proposals/{proposal['id']}/approve", headers=staff(client, "moderator"))
    assert approved.status_code == 200, approved.text
    # The approval emitted ERC-4906 MetadataUpdate(lot): a refetch answers the new name.
    w3 = runtime_of(client).chain.w3
    receipt = w3.eth.get_transaction_receipt(approved.json()["proposal"]["decision_tx_hash"])
    rights = chain_of(client).rights(lot.contract)
    (update_event,) = rights.events.MetadataUpdate().process_receipt(receipt, errors=DISCARD)
    assert update_event["args"]["_tokenId"] == lot.chain_lot_id
    after = client.get(url).json()
    traits = {item["trait_type"]: item["value"] for item in after["attributes"]}
    assert traits["Current name"] == "メタデータ公園"
    image = client.get(f"{url}/image.svg")
    assert image.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(image.text)  # noqa: S314 (our own server's output)
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "メタデータ公園" in texts


def test_a_lot_not_awarded_has_no_metadata(client: TestClient) -> None:
    contract = runtime_of(client).manifest.contracts["NamingRights"].address
    assert client.get(f"/api/v1/tokens/{contract}/424242").status_code == 404


def test_term_end_notices_are_listed_and_mailed_once(client: TestClient) -> None:
    now = datetime.now(UTC)
    soon = awarded_lot(client, holder(client).address, term_start=now - 300 * DAY, term_end=now + 30 * DAY)
    later = awarded_lot(client, holder(client).address, term_start=now - DAY, term_end=now + 200 * DAY)
    owner, editor = staff(client, "owner"), staff(client, "editor")
    staff(client, "moderator")  # not mailed
    listed = client.get(f"{STAFF}/naming/notices", headers=editor)
    assert listed.status_code == 200, listed.text
    lots = {item["lot_id"]: item for item in listed.json()["items"]}
    assert soon.lot_id in lots
    assert later.lot_id not in lots
    assert lots[soon.lot_id]["days_left"] == 30
    assert lots[soon.lot_id]["notified_at"] is None
    assert client.get(f"{STAFF}/naming/notices", headers=staff(client, "verifier")).status_code == 403

    runtime = runtime_of(client)
    folder = mail_dir(client)
    before = set(folder.glob("*.eml")) if folder.exists() else set()
    assert send_term_notices(runtime) >= 1
    assert send_term_notices(runtime) == 0  # once per lot
    new = set(folder.glob("*.eml")) - before
    recipients = {str(read_mail(path)["To"]) for path in new}
    subjects = {str(read_mail(path)["Subject"]) for path in new}
    assert len(new) == len(recipients)  # one mail each
    assert all("星川中央公園" in subject for subject in subjects)
    with runtime.sessions() as session:
        town_id = session.scalar(select(Municipality.id).where(Municipality.slug == "hoshikawa"))
        roles = dict(
            session.execute(
                select(StaffMember.email, StaffRole.role)
                .join(StaffRole, StaffRole.staff_id == StaffMember.id)
                .where(StaffRole.municipality_id == town_id)
            ).all()
        )
    assert recipients == {email for email, role in roles.items() if role in ("owner", "editor")}
    assert {"moderator", "owner", "editor"} <= set(roles.values())
    relisted = client.get(f"{STAFF}/naming/notices", headers=owner).json()["items"]
    assert next(item for item in relisted if item["lot_id"] == soon.lot_id)["notified_at"] is not None
