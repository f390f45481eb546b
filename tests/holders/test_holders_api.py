"""The holders API end to end on an eth-tester chain: order without a wallet, sign in by the
mailed link, see the card, move it to a wallet through the relayer."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from backend.core.bearer import hash_secret
from backend.core.schemas import MAX_TOKEN_ID
from backend.holders.custody import holder_account
from backend.holders.models import Holder, SignInToken
from backend.holders.signin import exchange_link
from backend.runtime import Runtime
from minting.compiler import compile_contracts
from minting.keys import load_signer
from minting.resident_card import ResidentCardClient
from minting.store import ChainTxRow
from tests.holders.conftest import (
    bearer,
    mails,
    order_card,
    pay,
    read_mail,
    request_link,
    sign_in,
    wait_for,
    wait_minted,
)

pytestmark = pytest.mark.chain


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def holder_of(client: TestClient, address: str) -> Holder:
    with runtime_of(client).sessions() as session:
        holder = session.scalar(select(Holder).where(Holder.email == address.lower()))
    assert holder is not None
    return holder


def test_walletless_holder_signs_in_sees_and_moves_their_card(
    client: TestClient, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="furusato")
    runtime = runtime_of(client)
    assert not runtime.threads, "this test starts the mint worker itself"
    address = "Hanako@Example.com"
    order_id, order_token = order_card(client, address)
    pay(client, order_id, order_token)
    session_token = sign_in(client, address)
    headers = bearer(session_token)
    responses: list[Any] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.request(method, path, headers=headers, **kwargs)
        responses.append(response)
        return response

    holder = holder_of(client, address)
    assert call("GET", "/api/v1/holders/me").json() == {"email": "hanako@example.com", "address": holder.address}

    # Paid, not yet minted (the worker is not running): listed as minting, and it cannot move.
    waiting = call("GET", "/api/v1/holders/me/cards").json()
    assert waiting["total"] == 1
    assert waiting["items"][0]["status"] == "minting"
    assert waiting["items"][0]["custodial"] is False
    token_id = waiting["items"][0]["token_id"]
    target = Account.create().address
    early = call("POST", f"/api/v1/holders/me/cards/{token_id}/move", json={"to_address": target})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "not_minted"

    runtime.start_worker()
    order = wait_minted(client, order_id, order_token)
    assert order["token_ids"] == [token_id]

    card = call("GET", "/api/v1/holders/me/cards").json()["items"][0]
    contract = runtime.card_contract
    base = f"{runtime.settings.public_url}/api/v1/tokens/{contract}/{token_id}"
    assert card == {
        "chain_id": runtime.chain.chain_id,
        "contract": contract,
        "token_id": token_id,
        "number": token_id,
        "drop_id": 1,
        "title_ja": "星川町 デジタル住民票 第1期",
        "title_en": "Hoshikawa digital resident card, first issue",
        "town_ja": "星川町",
        "town_en": "Hoshikawa Town",
        "status": "minted",
        "owner": holder.address,
        "custodial": True,
        "metadata_url": base,
        "image_url": f"{base}/image.svg",
    }

    moved = call("POST", f"/api/v1/holders/me/cards/{token_id}/move", json={"to_address": target.lower()})
    assert moved.status_code == 202, moved.text
    assert moved.json()["status"] == "moved"
    w3 = runtime.chain.w3
    cards = ResidentCardClient.at(w3, compile_contracts()["ResidentCard"], contract)
    assert cards.owner_of(token_id) == target
    # Relayed by the relayer (dev account #2, now a minter), never by the mint worker's account.
    relayer = runtime.chain.dev_accounts()[2].address
    assert w3.eth.get_transaction(moved.json()["tx_hash"])["from"] == relayer
    assert relayer != load_signer(runtime.chain).address
    assert cards.has_role("MINTER_ROLE", relayer)

    def moved_out() -> dict[str, object] | None:
        item: dict[str, object] = call("GET", "/api/v1/holders/me/cards").json()["items"][0]
        return item if item["custodial"] is False else None

    after = wait_for(moved_out, what="the indexer to see the move")
    assert after["owner"] == target

    again = call("POST", f"/api/v1/holders/me/cards/{token_id}/move", json={"to_address": target})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_in_custody"

    # The deployer's one role grant took its nonce from the mint worker's row: minting goes on
    # without a transaction of the worker's being dropped for a used nonce.
    next_order, next_token = order_card(client, "after-grant@example.com")
    pay(client, next_order, next_token)
    assert wait_minted(client, next_order, next_token)["token_ids"] == [token_id + 1]
    with runtime.sessions() as session:
        assert session.scalars(select(ChainTxRow.status)).all() == ["confirmed", "confirmed"]

    # The custodial key never leaves the server: not in any answer, not in the log.
    key = holder_account(runtime.vault, holder).key.hex().removeprefix("0x")
    assert all(key.lower() not in response.text.lower() for response in responses)
    assert key not in caplog.text
    assert session_token not in caplog.text
    # Demo mode tells the operator which file holds the mail; the link is in neither console nor log.
    console = capsys.readouterr().out
    assert "[demo] sign-in mail written to " in console
    assert ".eml" in console
    assert "signin.html#token=" not in console + caplog.text


def test_sign_in_link_mail_is_japanese_first_then_english(client: TestClient) -> None:
    order_card(client, "taro@example.com")
    before = mails(client)
    assert client.post("/api/v1/holders/sign-in", json={"email": "taro@example.com"}).status_code == 202
    (path,) = mails(client) - before
    message = read_mail(path)
    assert message["To"] == "taro@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert text.index("ログインリンク") < text.index("sign-in link")
    assert f"{runtime_of(client).settings.public_url}/signin.html#token=" in text


def test_unknown_email_gets_202_and_no_mail(client: TestClient) -> None:
    before = mails(client)
    response = client.post("/api/v1/holders/sign-in", json={"email": "nobody@example.com"})
    assert response.status_code == 202
    assert response.json() == {"status": "sent"}
    assert mails(client) == before


def test_a_link_signs_in_once(client: TestClient) -> None:
    order_card(client, "jiro@example.com")
    secret = request_link(client, "jiro@example.com")
    first = client.post("/api/v1/holders/session", json={"token": secret})
    assert first.status_code == 200
    assert first.json()["email"] == "jiro@example.com"
    expires = datetime.fromisoformat(first.json()["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    second = client.post("/api/v1/holders/session", json={"token": secret})
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "invalid_link"


def test_parallel_exchanges_of_one_link_open_one_session(client: TestClient) -> None:
    order_card(client, "saburo@example.com")
    secret = request_link(client, "saburo@example.com")
    runtime = runtime_of(client)
    now = datetime.now(UTC)

    def exchange(_: int) -> bool:
        with runtime.sessions() as session:
            opened = exchange_link(session, secret, now)
            session.commit()
            return opened is not None

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(exchange, range(4)))
    assert results.count(True) == 1


def test_expired_or_unknown_link_is_refused(client: TestClient) -> None:
    order_card(client, "shiro@example.com")
    secret = request_link(client, "shiro@example.com")
    with runtime_of(client).sessions() as session:
        session.execute(
            update(SignInToken)
            .where(SignInToken.token_hash == hash_secret(secret))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    for token in (secret, "not-a-link"):
        response = client.post("/api/v1/holders/session", json={"token": token})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_link"


def test_me_needs_a_session(client: TestClient) -> None:
    order_card(client, "goro@example.com")
    link = request_link(client, "goro@example.com")  # a link is not a session
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("nonsense"), bearer(link)):
        for method, path, body in (
            ("GET", "/api/v1/holders/me", None),
            ("GET", "/api/v1/holders/me/cards", None),
            ("POST", "/api/v1/holders/me/cards/1/move", {"to_address": "0x" + "11" * 20}),
        ):
            response = client.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (headers, path)
            assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "to_address",
    [
        "0x1234",
        "not an address",
        "0x" + "0" * 40,
        "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01",  # mixed case, wrong checksum
    ],
)
def test_move_refuses_bad_addresses(client: TestClient, to_address: str) -> None:
    order_card(client, "rokuro@example.com")
    token = sign_in(client, "rokuro@example.com")
    response = client.post("/api/v1/holders/me/cards/1/move", headers=bearer(token), json={"to_address": to_address})
    assert response.status_code == 422


def test_move_to_a_contract_is_refused_before_anything_is_sent(client: TestClient) -> None:
    order_id, order_token = order_card(client, "kuro@example.com")
    pay(client, order_id, order_token)
    wait_minted(client, order_id, order_token)
    token = sign_in(client, "kuro@example.com")
    card = client.get("/api/v1/holders/me/cards", headers=bearer(token)).json()["items"][0]
    response = client.post(
        f"/api/v1/holders/me/cards/{card['token_id']}/move",
        headers=bearer(token),
        json={"to_address": card["contract"]},  # the card contract itself: the card would be stuck there
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "contract_address")
    assert client.get("/api/v1/holders/me/cards", headers=bearer(token)).json()["items"][0]["custodial"] is True


def test_move_of_a_number_no_card_can_have_is_422(client: TestClient) -> None:
    order_card(client, "hachiro@example.com")
    token = sign_in(client, "hachiro@example.com")
    for token_id in (-1, MAX_TOKEN_ID + 1):
        response = client.post(
            f"/api/v1/holders/me/cards/{token_id}/move", headers=bearer(token), json={"to_address": "0x" + "22" * 20}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request"), token_id


def test_move_of_someone_elses_card_is_404(client: TestClient) -> None:
    order_card(client, "nanako@example.com")  # unpaid: no cards
    token = sign_in(client, "nanako@example.com")
    assert client.get("/api/v1/holders/me/cards", headers=bearer(token)).json() == {"items": [], "total": 0}
    response = client.post(
        "/api/v1/holders/me/cards/1/move", headers=bearer(token), json={"to_address": "0x" + "22" * 20}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "card_not_found"


def test_sign_in_is_rate_limited_per_email(client: TestClient) -> None:
    order_card(client, "hachiro@example.com")
    before = mails(client)
    codes = [
        client.post("/api/v1/holders/sign-in", json={"email": "Hachiro@example.com"}).status_code for _ in range(6)
    ]
    assert codes == [202] * 5 + [429]
    refused = client.post("/api/v1/holders/sign-in", json={"email": "hachiro@example.com"})
    assert refused.json()["error"]["code"] == "rate_limited"
    assert len(mails(client) - before) == 5
    # Another address from the same client is still served.
    assert client.post("/api/v1/holders/sign-in", json={"email": "other@example.com"}).status_code == 202


def test_sign_in_is_rate_limited_per_client_ip(client: TestClient) -> None:
    codes = [
        client.post("/api/v1/holders/sign-in", json={"email": f"visitor{n}@example.com"}).status_code for n in range(21)
    ]
    assert codes == [202] * 20 + [429]
