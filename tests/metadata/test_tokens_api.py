"""Token metadata through the API, for a card bought with the demo provider and minted by
the in-process worker: what the contract's tokenURI points at must answer, publicly, with
the card's facts and nothing about its buyer."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.core.config import Settings
from backend.metadata.card import town_url
from backend.metadata.image import qr_path
from minting.compiler import compile_contracts
from minting.resident_card import ResidentCardClient

pytestmark = pytest.mark.chain

SVG = "{http://www.w3.org/2000/svg}"
ORDER = {"drop_id": 1, "quantity": 1, "email": "a@example.com", "prefecture": "27", "payment_method": "demo"}


@dataclass(frozen=True)
class Bought:
    """A client whose first order is minted, with what its buyer knows about it."""

    client: TestClient
    order: dict[str, Any]
    order_token: str
    contract: str
    token_id: int


def _order(client: TestClient) -> tuple[str, str]:
    response = client.post("/api/v1/orders", json=ORDER)
    assert response.status_code == 201, response.text
    return response.json()["order_id"], response.json()["order_token"]


def _pay(client: TestClient, order_id: str, token: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/orders/{order_id}/demo-pay", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_minted(client: TestClient, order_id: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get(
            f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
        if body["status"] == "minted":
            return body
        assert body["status"] in ("paid", "minting"), body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


@pytest.fixture(scope="module")
def bought(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bought]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("meta") / "data")
    with TestClient(create_app(settings)) as client:
        order_id, token = _order(client)
        _pay(client, order_id, token)
        client.app.state.runtime.start_worker()  # type: ignore[attr-defined]
        order = _wait_minted(client, order_id, token)
        yield Bought(client, order, token, order["contract"], order["token_ids"][0])


def _path(url: str) -> str:
    return urlsplit(url).path


def test_token_uri_on_chain_serves_the_cards_metadata(bought: Bought) -> None:
    runtime = bought.client.app.state.runtime  # type: ignore[attr-defined]
    card = ResidentCardClient.at(runtime.chain.w3, compile_contracts()["ResidentCard"], bought.contract)
    uri = card.token_uri(bought.token_id)
    assert uri.startswith(runtime.settings.public_url)

    response = bought.client.get(_path(uri))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=300"
    body = response.json()
    assert set(body) == {"name", "description", "image", "external_url", "attributes"}
    assert body["name"] == "星川町 デジタル住民票 第1期 #0001"
    assert body["description"].startswith("星川町のデジタル住民票")
    assert "Digital resident card of Hoshikawa Town" in body["description"]
    assert body["image"] == f"{uri}/image.svg"
    assert body["external_url"] == f"{runtime.settings.public_url}/?town=hoshikawa"
    traits = {attribute["trait_type"]: attribute for attribute in body["attributes"]}
    assert traits["Town"]["value"] == "Hoshikawa Town"
    assert traits["Series"]["value"] == "Hoshikawa digital resident card, first issue"
    assert traits["Number"] == {"trait_type": "Number", "value": bought.token_id, "display_type": "number"}
    assert traits["Prefecture"]["value"] == "Yamagata"  # the town's, not the buyer's (27, Osaka)
    issued = traits["Issue date"]
    assert issued["display_type"] == "date"
    paid_at = bought.order["paid_at"].replace("Z", "+00:00")
    assert issued["value"] == int(datetime.fromisoformat(paid_at).timestamp())


def test_metadata_holds_nothing_about_the_buyer(bought: Bought) -> None:
    response = bought.client.get(f"/api/v1/tokens/{bought.contract}/{bought.token_id}")
    text = json.dumps(response.json(), ensure_ascii=False)
    image = bought.client.get(f"/api/v1/tokens/{bought.contract}/{bought.token_id}/image.svg").text

    for document in (text, image):
        lowered = document.lower()
        assert "example.com" not in lowered
        assert bought.order["order_id"].lower() not in lowered
        assert bought.order_token.lower() not in lowered
        assert bought.order["owner"].lower() not in lowered
        assert "大阪" not in document
        assert "osaka" not in lowered
    assert all(attribute["value"] != "27" for attribute in response.json()["attributes"])


def test_image_is_an_svg_card_with_the_number_and_a_qr_code_to_the_town(bought: Bought) -> None:
    metadata = bought.client.get(f"/api/v1/tokens/{bought.contract}/{bought.token_id}").json()

    response = bought.client.get(_path(metadata["image"]))

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "public, max-age=300"
    root = ET.fromstring(response.text)  # noqa: S314 (our own server's output)
    assert root.tag == f"{SVG}svg"
    texts = ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]
    assert "No. 0001" in texts
    assert {"星川町", "Hoshikawa Town", "山形県", "星川町 デジタル住民票 第1期"} <= set(texts)
    assert not [element for element in root.iter() if element.tag in (f"{SVG}image", f"{SVG}script")]
    assert "http" not in response.text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    qr = root.find(f".//{SVG}path[@id='qr']")
    assert qr is not None
    public_url = bought.client.app.state.runtime.settings.public_url  # type: ignore[attr-defined]
    expected = qr_path(town_url(public_url, "hoshikawa"))
    assert expected.data == metadata["external_url"]
    assert qr.get("d") == expected.d


def test_lowercase_contract_works_too(bought: Bought) -> None:
    checksummed = bought.client.get(f"/api/v1/tokens/{bought.contract}/{bought.token_id}")
    lowered = bought.client.get(f"/api/v1/tokens/{bought.contract.lower()}/{bought.token_id}")
    upper = bought.client.get(f"/api/v1/tokens/0x{bought.contract[2:].upper()}/{bought.token_id}/image.svg")

    assert lowered.status_code == 200
    assert lowered.json() == checksummed.json()
    assert upper.status_code == 200


def test_a_card_not_issued_yet_is_not_found(bought: Bought) -> None:
    order_id, token = _order(bought.client)
    pending_next = bought.token_id + 1

    for suffix in ("", "/image.svg"):
        response = bought.client.get(f"/api/v1/tokens/{bought.contract}/{pending_next}{suffix}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "token_not_found"
    assert (
        bought.client.get(f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}).json()["status"]
        == "pending_payment"
    )


@pytest.mark.parametrize("token_id", ["999", "0", str(2**64), str(2**256 - 1)])
def test_unknown_token_of_the_card_contract_is_not_found(bought: Bought, token_id: str) -> None:
    response = bought.client.get(f"/api/v1/tokens/{bought.contract}/{token_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "token_not_found"


def test_unknown_contract_is_not_found(bought: Bought) -> None:
    for suffix in ("", "/image.svg"):
        response = bought.client.get(f"/api/v1/tokens/0x{'12' * 20}/{bought.token_id}{suffix}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "token_not_found"


@pytest.mark.parametrize(
    ("contract", "token_id", "code"),
    [
        ("not-an-address", "1", "invalid_contract"),
        ("0x1234", "1", "invalid_contract"),
        ("0x" + "g" * 40, "1", "invalid_contract"),
        ("0x" + "1" * 41, "1", "invalid_contract"),
        (None, "-1", "invalid_token_id"),
        (None, "abc", "invalid_token_id"),
        (None, "1.5", "invalid_token_id"),
        (None, "0x10", "invalid_token_id"),
        (None, "١", "invalid_token_id"),  # an Arabic-Indic one: isdigit(), but not an id
        (None, "9" * 5000, "invalid_token_id"),
    ],
)
def test_malformed_references_are_refused_with_a_code(
    bought: Bought, contract: str | None, token_id: str, code: str
) -> None:
    for suffix in ("", "/image.svg"):
        response = bought.client.get(f"/api/v1/tokens/{contract or bought.contract}/{token_id}{suffix}")
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code


def test_routes_are_documented(bought: Bought) -> None:
    paths = bought.client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/tokens/{contract}/{token_id}", "/api/v1/tokens/{contract}/{token_id}/image.svg"} <= set(paths)
