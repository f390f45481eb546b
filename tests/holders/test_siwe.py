"""Sign-In with Ethereum: a wallet's signed EIP-4361 message signs in once, and its session
shows that wallet's cards; every other message is refused with its reason."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from backend.core.bearer import hash_secret
from backend.core.models import RateCounter
from backend.holders import wallet_router
from backend.holders.models import WalletSession
from backend.holders.pass_token import read_pass
from backend.holders.siwe import SiweInvalid, SiweMessage, format_message, parse_message
from backend.runtime import Runtime
from tests.holders.conftest import bearer, pay, wait_for, wait_minted

pytestmark = pytest.mark.chain


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def wallet_client(app_client: TestClient) -> TestClient:
    """The shared app with fresh SIWE limits (counted per client IP in the database)."""
    with runtime_of(app_client).sessions() as session:
        session.execute(delete(RateCounter).where(RateCounter.key.startswith("holders-siwe-")))
        session.commit()
    return app_client


@dataclass(frozen=True)
class WalletCard:
    account: LocalAccount
    token_id: int


@pytest.fixture(scope="module")
def wallet_card(app_client: TestClient) -> WalletCard:
    """A card bought by a wallet buyer, minted straight to their own address."""
    runtime_of(app_client).start_worker()
    account: LocalAccount = Account.create()
    body = {
        "drop_id": 1,
        "quantity": 1,
        "email": "wallet-buyer@example.com",
        "prefecture": "13",
        "payment_method": "demo",
        "wallet_address": account.address,
    }
    response = app_client.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order_id, order_token = response.json()["order_id"], response.json()["order_token"]
    pay(app_client, order_id, order_token)
    token_id: int = wait_minted(app_client, order_id, order_token)["token_ids"][0]
    return WalletCard(account=account, token_id=token_id)


def nonce(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/v1/holders/siwe/nonce")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def message_for(account: LocalAccount, issued: dict[str, Any], **changes: Any) -> str:
    """The EIP-4361 text a wallet would build from the nonce endpoint's answer."""
    fields = SiweMessage(
        scheme=None,
        domain=issued["domain"],
        address=account.address,
        statement=issued["statement"],
        uri=issued["uri"],
        version=issued["version"],
        chain_id=issued["chain_id"],
        nonce=issued["nonce"],
        issued_at=datetime.fromisoformat(issued["issued_at"]),
        expiration_time=datetime.fromisoformat(issued["expires_at"]),
    )
    return format_message(dataclasses.replace(fields, **changes))


def sign(account: LocalAccount, text: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


def submit(client: TestClient, text: str, signature: str) -> Any:
    return client.post("/api/v1/holders/siwe/session", json={"message": text, "signature": signature})


def refusal(response: Any) -> str:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "siwe_invalid"
    reason: str = error["message"].split(":", 1)[0]
    return reason


def test_a_signed_message_signs_in_once_and_shows_the_wallets_cards(
    wallet_client: TestClient, wallet_card: WalletCard
) -> None:
    client = wallet_client
    runtime = runtime_of(client)
    account = wallet_card.account
    issued = nonce(client)
    assert issued["chain_id"] == runtime.manifest.chain_id
    assert issued["version"] == "1"
    assert runtime.settings.public_url.endswith(issued["domain"])
    assert issued["uri"].startswith(runtime.settings.public_url)
    text = message_for(account, issued)
    assert text.startswith(
        f"{issued['domain']} wants you to sign in with your Ethereum account:\n{account.address}\n\n"
    )
    signature = sign(account, text)

    response = submit(client, text, signature)
    assert response.status_code == 200, response.text
    opened = response.json()
    assert opened["address"] == account.address
    expires = datetime.fromisoformat(opened["expires_at"])
    assert timedelta(hours=11) < expires - datetime.now(UTC) <= timedelta(hours=12)
    with runtime.sessions() as session:
        stored = session.scalar(select(WalletSession).where(WalletSession.address == account.address.lower()))
    assert stored is not None
    assert stored.token_hash == hash_secret(opened["session_token"])  # only the hash is kept

    # Replayed: the nonce is spent.
    assert refusal(submit(client, text, signature)) == "nonce_used"

    # The wallet session's pass: the card on chain at the wallet's address (once indexed).
    def cards() -> list[dict[str, Any]] | None:
        response = client.get("/api/v1/holders/me/pass", headers=bearer(opened["session_token"]))
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["cards"]
        return found or None

    [card] = wait_for(cards, what="the indexer to see the wallet's card")
    assert card["token_id"] == wallet_card.token_id
    claims = read_pass(runtime.sessions, card["proof"], datetime.now(UTC))
    assert claims.holder == account.address.lower()
    assert claims.token_id == wallet_card.token_id


def test_the_message_written_for_an_address_signs_in_and_lists_the_wallets_cards(
    wallet_client: TestClient, wallet_card: WalletCard
) -> None:
    """What the sign-in page does: the server writes the message for the wallet's address (in
    its EIP-55 form: a browser has no Keccak-256), the wallet signs it as it is; then "my
    cards" lists the wallet's cards, none kept by us."""
    client = wallet_client
    account = wallet_card.account
    lower = account.address.lower()
    issued = client.post("/api/v1/holders/siwe/nonce", params={"address": lower})
    assert issued.status_code == 200, issued.text
    text = issued.json()["message"]
    assert parse_message(text).address == account.address  # checksummed
    assert parse_message(text).nonce == issued.json()["nonce"]
    opened = submit(client, text, sign(account, text))
    assert opened.status_code == 200, opened.text
    token = opened.json()["session_token"]

    def listed() -> list[dict[str, Any]] | None:
        response = client.get("/api/v1/holders/me/cards", headers=bearer(token))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items or None

    [card] = wait_for(listed, what="the indexer to see the wallet's card")
    assert (card["token_id"], card["status"], card["custodial"]) == (wallet_card.token_id, "minted", False)
    assert card["owner"].lower() == lower
    assert client.post("/api/v1/holders/siwe/nonce", params={"address": "0x12"}).status_code == 422


def test_concurrent_uses_of_one_message_open_one_session(wallet_client: TestClient, wallet_card: WalletCard) -> None:
    account = wallet_card.account
    text = message_for(account, nonce(wallet_client))
    signature = sign(account, text)
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: submit(wallet_client, text, signature), range(8)))
    assert sorted(response.status_code for response in responses) == [200] + [401] * 7
    assert {refusal(response) for response in responses if response.status_code == 401} == {"nonce_used"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"domain": "evil.example"}, "wrong_domain"),
        ({"domain": "127.0.0.1:9999"}, "wrong_domain"),
        ({"scheme": "https"}, "wrong_domain"),
        ({"uri": "https://evil.example/card.html"}, "wrong_uri"),
        ({"chain_id": 1}, "wrong_chain"),
        # Times as offsets from the test's own moment (collection happens minutes earlier).
        ({"expiration_time": timedelta(seconds=-1)}, "expired"),
        ({"issued_at": timedelta(minutes=5)}, "issued_in_future"),
        ({"not_before": timedelta(minutes=5)}, "not_yet_valid"),
        ({"nonce": "NeverIssued1234"}, "nonce_unknown"),
    ],
)
def test_a_message_not_for_this_deployment_is_refused_with_its_reason(
    wallet_client: TestClient, wallet_card: WalletCard, changes: dict[str, Any], reason: str
) -> None:
    account = wallet_card.account
    issued = nonce(wallet_client)
    now = datetime.now(UTC)
    changes = {key: now + value if isinstance(value, timedelta) else value for key, value in changes.items()}
    bad = message_for(account, issued, **changes)
    assert refusal(submit(wallet_client, bad, sign(account, bad))) == reason
    # The refusal did not spend the nonce: the right message still signs in with it.
    good = message_for(account, issued)
    assert submit(wallet_client, good, sign(account, good)).status_code == 200


def test_a_bad_signature_is_refused(wallet_client: TestClient, wallet_card: WalletCard) -> None:
    account = wallet_card.account
    text = message_for(account, nonce(wallet_client))
    impostor: LocalAccount = Account.create()
    assert refusal(submit(wallet_client, text, sign(impostor, text))) == "bad_signature"
    # Signed by the right key, but over another text.
    assert refusal(submit(wallet_client, text, sign(account, text + " "))) in ("bad_signature", "malformed")
    assert refusal(submit(wallet_client, text, "0x" + "00" * 65)) == "bad_signature"
    # A signature with no 0x or the wrong length is not even read.
    assert submit(wallet_client, text, sign(account, text)[2:]).status_code == 422


def test_malformed_messages_are_refused(wallet_client: TestClient, wallet_card: WalletCard) -> None:
    account = wallet_card.account
    issued = nonce(wallet_client)
    text = message_for(account, issued)
    lower = text.replace(account.address, account.address.lower())
    if lower != text:
        assert refusal(submit(wallet_client, lower, sign(account, lower))) == "bad_address"
    for bad in (
        text.replace("\n", "\r\n"),
        text.replace("Version: 1", "Version: 2"),
        text.replace("Chain ID: ", "Chain ID: 0"),
        text.replace("URI: ", "Uri: "),
        text + "\nExtra: line",
        "\n".join(line for line in text.split("\n") if not line.startswith("Issued At")),
        text.replace(issued["statement"], "Sign in <script>"),
    ):
        assert refusal(submit(wallet_client, bad, sign(account, bad))) == "malformed", bad


def test_the_parser_reads_every_optional_field() -> None:
    address = "0x" + "AB" * 20
    account: LocalAccount = Account.create()
    text = "\n".join(
        [
            "https://furusato.example:8443 wants you to sign in with your Ethereum account:",
            account.address,
            "",
            "",
            "URI: https://furusato.example:8443/card.html",
            "Version: 1",
            "Chain ID: 31337",
            "Nonce: abcdEFGH1234",
            "Issued At: 2026-08-17T12:00:00.123456789Z",
            "Expiration Time: 2026-08-17T12:10:00+09:00",
            "Not Before: 2026-08-17T11:59:00Z",
            "Request ID: req-1",
            "Resources:",
            "- https://furusato.example:8443/a",
            "- ipfs://bafy",
        ]
    )
    message = parse_message(text)
    assert message.scheme == "https"
    assert message.domain == "furusato.example:8443"
    assert message.statement is None
    assert message.chain_id == 31337
    assert message.issued_at == datetime(2026, 8, 17, 12, 0, 0, 123456, tzinfo=UTC)
    assert message.expiration_time == datetime(2026, 8, 17, 3, 10, tzinfo=UTC)
    assert message.request_id == "req-1"
    assert message.resources == ("https://furusato.example:8443/a", "ipfs://bafy")
    assert parse_message(format_message(message)) == message
    with pytest.raises(SiweInvalid) as caught:
        parse_message(text.replace(account.address, address))
    assert caught.value.reason == "bad_address"  # 0xABAB… is not its own EIP-55 spelling


def test_siwe_endpoints_are_rate_limited_per_client(wallet_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wallet_router, "NONCES_PER_IP", (2, 600))
    monkeypatch.setattr(wallet_router, "SIGN_INS_PER_IP", (1, 600))
    assert [wallet_client.post("/api/v1/holders/siwe/nonce").status_code for _ in range(3)] == [200, 200, 429]
    body = {"message": "x", "signature": "0x" + "00" * 65}
    assert wallet_client.post("/api/v1/holders/siwe/session", json=body).status_code == 401
    limited = wallet_client.post("/api/v1/holders/siwe/session", json=body)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0
