"""A town added while the server runs: its drop is published into its own card contract,
bought, minted, indexed (the indexer picks the new contracts up by itself), and its
metadata and card image answer for that contract, in the town's colour and with its logo."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.app import create_app
from backend.core.config import Settings
from backend.runtime import Runtime, build_indexer
from backend.towns.models import Municipality
from backend.towns.registry import AddedTown, Deployer, NewTown, add_town
from minting.compiler import compile_contracts
from minting.keys import load_signer
from minting.once import OnceSender
from minting.resident_card import ResidentCardClient
from minting.store import MintJobRow, TokenOwnerRow
from tests.factories import staff_headers

pytestmark = pytest.mark.chain

SLUG = "sakura"
COLOUR = "#c2185b"
LOGO = "data:image/svg+xml;base64," + base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"/>').decode()
DRAFT = {
    "kind": "resident_card",
    "sale_mode": "first_come",
    "title_ja": "桜町 デジタル住民票 第1期",
    "title_en": "Sakura digital resident card, first issue",
    "description_ja": "先着10枚。",
    "description_en": "10 cards.",
    "price_jpy": 1_000,
    "supply": 10,
    "per_buyer_limit": 2,
    "starts_at": "2026-01-01T10:00:00+09:00",
    "ends_at": None,
    "soulbound": False,
    "payment_methods": ["demo"],
}


def runtime(client: TestClient) -> Runtime:
    value: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return value


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while (value := condition()) is None or value is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("towns") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def town(client: TestClient) -> AddedTown:
    app = runtime(client)
    sender = OnceSender(app.sessions, app.chain.w3, load_signer(app.chain, env_prefix="FURUSATO_DEPLOYER"))
    deployer = Deployer(sender, compile_contracts, app.settings.public_url)
    added = add_town(app.sessions, deployer, NewTown(SLUG, "桜町", "Sakura Town", "13"), actor="cli:test")
    with app.sessions.begin() as session:
        row = session.scalar(select(Municipality).where(Municipality.slug == SLUG))
        assert row is not None
        row.brand_colour, row.logo_data_url = COLOUR, LOGO
    return added


def test_a_new_towns_card_is_minted_indexed_and_described(client: TestClient, town: AddedTown) -> None:
    app = runtime(client)
    app.start_worker()  # the indexer starts knowing only the manifest's contracts and the town
    owner = staff_headers(app.sessions, SLUG, "owner")
    draft = client.post(f"/api/v1/staff/towns/{SLUG}/drops", json=DRAFT, headers=owner)
    assert draft.status_code == 201, draft.text
    assert draft.json()["contract"] == town.card_contract
    published = client.post(f"/api/v1/staff/towns/{SLUG}/drops/{draft.json()['id']}/publish", headers=owner)
    assert published.status_code == 200, published.text
    assert ResidentCardClient.at(app.chain.w3, compile_contracts()["ResidentCard"], town.card_contract).series_count()

    order = {"drop_id": draft.json()["id"], "quantity": 1, "email": "s@example.jp", "prefecture": "13"}
    created = client.post("/api/v1/orders", json={**order, "payment_method": "demo"})
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['order_token']}"}
    assert client.post(f"/api/v1/orders/{created.json()['order_id']}/demo-pay", headers=auth).status_code == 200

    def minted() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/orders/{created.json()['order_id']}", headers=auth).json()
        return body if body["status"] == "minted" else None

    body = wait_for(minted, "the card to be minted")
    assert body["contract"] == town.card_contract
    (token_id,) = body["token_ids"]

    def indexed() -> str | None:
        with app.sessions() as session:
            row = session.get(TokenOwnerRow, (app.chain.chain_id, town.card_contract, token_id))
            return None if row is None else row.owner

    assert wait_for(indexed, "the indexer to see the town's card") == body["owner"]

    metadata = client.get(f"/api/v1/tokens/{town.card_contract}/{token_id}")
    assert metadata.status_code == 200, metadata.text
    assert "桜町" in metadata.json()["name"]
    image = client.get(f"/api/v1/tokens/{town.card_contract}/{token_id}/image.svg")
    assert image.status_code == 200
    assert f'stop-color="{COLOUR}"' in image.text
    assert f'href="{LOGO}"' in image.text
    with app.sessions() as session:
        assert session.scalar(select(MintJobRow.contract)) == town.card_contract


def test_the_indexer_follows_the_town_from_its_deployment(client: TestClient, town: AddedTown) -> None:
    app = runtime(client)
    worker = build_indexer(app.sessions, app.chain, app.manifest)
    names = [indexer.name for indexer in worker.indexer.indexers()]  # type: ignore[attr-defined]
    with app.sessions() as session:
        town_id = session.scalar(select(Municipality.id).where(Municipality.slug == SLUG))
    assert names == [f"transfers-{app.manifest.chain_id}", f"transfers-{app.manifest.chain_id}-town-{town_id}"]
