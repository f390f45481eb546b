"""The town's settings over HTTP on eth-tester: owners change them (one audit row each),
editors read them, every bad field is a 422 that changes nothing, the public list shows the
look, and a town with its own contracts gets a new treasury on chain exactly once, even when
the save is cut short after its commit."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web3 import Web3

from backend.app import create_app
from backend.core.config import Settings
from backend.core.models import AuditEntry
from backend.runtime import Runtime
from backend.towns.contracts import contract_tree
from backend.towns.models import Municipality
from backend.towns.registry import AddedTown, Deployer, NewTown, add_town
from minting import failpoints
from minting.errors import DeployerKeyMissing
from minting.once import OnceSender
from minting.resident_card import ResidentCardClient
from minting.store import OnceTxRow
from tests.factories import staff_headers

pytestmark = pytest.mark.chain

DEMO = "/api/v1/staff/towns/hoshikawa/settings"
OWN = "/api/v1/staff/towns/sakura/settings"
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(20)).decode()
NEW_TREASURY = Web3.to_checksum_address("0x" + "5a" * 20)


class Crash(Exception):
    """Stands for the process dying at a failpoint (an Exception: the test client passes it on)."""


def runtime(client: TestClient) -> Runtime:
    value: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return value


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("settings") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def town(client: TestClient) -> AddedTown:
    app = runtime(client)
    deployer = Deployer(OnceSender(app.sessions, app.chain.w3, app.admin()), contract_tree, app.settings.public_url)
    return add_town(app.sessions, deployer, NewTown("sakura", "桜町", "Sakura Town", "13"), actor="cli:test")


def headers(client: TestClient, slug: str, role: str) -> dict[str, str]:
    return staff_headers(runtime(client).sessions, slug, role)


def audit_rows(client: TestClient) -> int:
    with runtime(client).sessions() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "town.settings")
        return session.scalar(query) or 0


def row(client: TestClient, slug: str) -> dict[str, Any]:
    with runtime(client).sessions() as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == slug))
        assert town is not None
        return {column.name: getattr(town, column.name) for column in Municipality.__table__.columns}


def test_owners_change_the_look_and_the_public_list_shows_it(client: TestClient) -> None:
    owner = headers(client, "hoshikawa", "owner")
    before = audit_rows(client)
    changed = {"name_en": "Hoshikawa", "brand_colour": "#C2185B", "logo_data_url": PNG, "editors_may_refund": True}
    response = client.patch(DEMO, json=changed, headers=owner)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in changed} == changed
    assert body["contracts"] == {"state": "ready", "own": False, "card_contract": None, "rights_contract": None}
    assert body["on_chain"] is None  # the demo town uses the deployment's contracts: stored only
    assert audit_rows(client) == before + 1
    with runtime(client).sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        assert entry.action == "town.settings"
        assert "characters" in entry.after  # the logo by its size, not its bytes
    public = client.get("/api/v1/municipalities").json()["items"][0]
    assert (public["brand_colour"], public["logo_data_url"]) == ("#C2185B", PNG)
    editor = headers(client, "hoshikawa", "editor")
    assert client.get(DEMO, headers=editor).json()["name_en"] == "Hoshikawa"


def test_editors_read_but_do_not_write(client: TestClient) -> None:
    editor = headers(client, "hoshikawa", "editor")
    before = row(client, "hoshikawa")
    response = client.patch(DEMO, json={"name_en": "Taken over"}, headers=editor)
    assert response.status_code == 403
    assert row(client, "hoshikawa") == before
    assert client.get(DEMO, headers=headers(client, "hoshikawa", "analyst")).status_code == 403


@pytest.mark.parametrize(
    "bad",
    [
        {"prefecture": "00"},
        {"prefecture": "48"},
        {"brand_colour": "red"},
        {"brand_colour": "#12345"},
        {"logo_data_url": "data:image/jpeg;base64,AAAA"},
        {"logo_data_url": "https://example.com/logo.png"},
        {"logo_data_url": "data:image/png;base64,AAA"},  # cut short
        {"logo_data_url": "data:image/png;base64," + "A" * 280_000},
        {"treasury": "0x12"},
        {"treasury": "0x" + "0" * 40},
        {"treasury": "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaC"},  # mixed case, wrong checksum
        {"royalty_receiver": "nobody"},
        {"name_ja": None},
        {"name_ja": "   "},
        {"name_en": "x" * 201},
        {"editors_may_refund": None},
        {"editors_may_refund": 0},  # a boolean, not a number
        {"royalty_bps": 100},  # not a setting staff change here
        {"card_contract": "0x" + "1" * 40},  # owned by the server
    ],
)
def test_every_bad_field_is_refused_and_changes_nothing(client: TestClient, bad: dict[str, Any]) -> None:
    owner = headers(client, "hoshikawa", "owner")
    before, rows = row(client, "hoshikawa"), audit_rows(client)
    response = client.patch(DEMO, json=bad, headers=owner)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert row(client, "hoshikawa") == before
    assert audit_rows(client) == rows


def test_a_new_treasury_goes_on_the_towns_own_contracts(client: TestClient, town: AddedTown) -> None:
    owner = headers(client, "sakura", "owner")
    got = client.get(OWN, headers=headers(client, "sakura", "editor")).json()
    assert got["contracts"]["own"] is True
    assert got["on_chain"] == {"treasury": town.treasury, "royalty_bps": 500, "in_sync": True}

    response = client.patch(OWN, json={"treasury": NEW_TREASURY.lower()}, headers=owner)
    assert response.status_code == 200, response.text
    assert response.json()["treasury"] == NEW_TREASURY
    assert response.json()["on_chain"] == {"treasury": NEW_TREASURY, "royalty_bps": 500, "in_sync": True}
    app = runtime(client)
    card = ResidentCardClient.at(app.chain.w3, contract_tree()["ResidentCard"], town.card_contract)
    assert card.treasury() == NEW_TREASURY
    rights = app.chain.w3.eth.contract(
        address=Web3.to_checksum_address(town.rights_contract), abi=contract_tree()["NamingRights"].abi
    )
    assert rights.functions.treasury().call() == NEW_TREASURY
    nonce = app.chain.w3.eth.get_transaction_count(app.admin().address)
    assert client.patch(OWN, json={"treasury": NEW_TREASURY}, headers=owner).status_code == 200
    assert app.chain.w3.eth.get_transaction_count(app.admin().address) == nonce  # in sync: nothing sent


def test_a_save_cut_short_after_its_commit_is_finished_by_the_next(
    client: TestClient, town: AddedTown, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = headers(client, "sakura", "owner")
    app = runtime(client)
    real = failpoints.hit

    def crash(name: str) -> None:
        real(name)
        if name == "once_after_store":
            raise Crash(name)

    monkeypatch.setattr(failpoints, "hit", crash)
    with pytest.raises(Crash):
        client.patch(OWN, json={"treasury": None}, headers=owner)  # back to the admin's account
    monkeypatch.undo()
    assert row(client, "sakura")["treasury"] is None  # stored and committed before the chain
    got = client.get(OWN, headers=owner).json()
    assert got["on_chain"]["in_sync"] is False

    nonce = app.chain.w3.eth.get_transaction_count(app.admin().address)
    response = client.patch(OWN, json={}, headers=owner)  # any save brings the chain along
    assert response.json()["on_chain"] == {"treasury": app.admin().address, "royalty_bps": 500, "in_sync": True}
    assert app.chain.w3.eth.get_transaction_count(app.admin().address) == nonce + 2  # the stored one, then rights
    with app.sessions() as session:
        purposes = session.scalars(
            select(OnceTxRow.purpose).where(OnceTxRow.purpose.like("town:sakura:treasury:%")).order_by(OnceTxRow.id)
        ).all()
    assert purposes == [
        "town:sakura:treasury:1:ResidentCard",
        "town:sakura:treasury:1:NamingRights",
        "town:sakura:treasury:2:ResidentCard",
        "town:sakura:treasury:2:NamingRights",
    ]


def test_without_an_admin_key_settings_are_stored_only(
    client: TestClient, town: AddedTown, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = runtime(client)

    def no_key() -> Any:
        raise DeployerKeyMissing(app.chain.chain_id)

    monkeypatch.setattr(app, "admin", no_key)
    owner = headers(client, "sakura", "owner")
    assert client.get(OWN, headers=owner).json()["on_chain"] is None
    response = client.patch(OWN, json={"description_en": "Cherry blossoms."}, headers=owner)
    assert response.status_code == 200, response.text
    assert response.json()["on_chain"] is None
    assert row(client, "sakura")["description_en"] == "Cherry blossoms."
