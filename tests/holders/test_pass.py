"""The holder's pass: proofs read back, and every kind of bad proof is refused with its reason.

One app on an eth-tester chain for the module (a walletless holder with one minted card);
the proofs' own checks run against `read_pass` directly (the shop's side, `POST /verify`,
has its own tests)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyseto
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pyseto import Key
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import make_engine, make_session_factory, migrate
from backend.holders.models import PassKey
from backend.holders.pass_token import (
    IMPLICIT_ASSERTION,
    PassRefused,
    ensure_signing_key,
    issue_pass,
    pass_vault,
    read_pass,
)
from backend.runtime import Runtime
from backend.sales.models import Drop, OrderCard
from backend.towns.models import Municipality
from tests.holders.conftest import bearer, order_card, pay, sign_in, wait_minted

pytestmark = pytest.mark.chain

B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@dataclass(frozen=True)
class Minted:
    """The module's holder: a session and one minted card."""

    token: str
    token_id: int
    order_id: str


@pytest.fixture(scope="module")
def minted(app_client: TestClient) -> Minted:
    runtime = runtime_of(app_client)
    runtime.start_worker()
    order_id, order_token = order_card(app_client, "pass-holder@example.com")
    pay(app_client, order_id, order_token)
    token_id = wait_minted(app_client, order_id, order_token)["token_ids"][0]
    return Minted(token=sign_in(app_client, "pass-holder@example.com"), token_id=token_id, order_id=order_id)


def my_pass(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get("/api/v1/holders/me/pass", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def one_proof(client: TestClient, minted: Minted) -> str:
    cards = my_pass(client, minted.token)["cards"]
    assert len(cards) == 1
    proof: str = cards[0]["proof"]
    return proof


def refused(sessions: sessionmaker[Session], proof: str, now: datetime) -> str:
    with pytest.raises(PassRefused) as caught:
        read_pass(sessions, proof, now)
    return caught.value.reason


def deployment_key(runtime: Runtime) -> tuple[str, bytes]:
    """(kid, raw private key) of the app's pass key, opened as the app does."""
    vault = pass_vault(runtime.settings.secret_key.get_secret_value())
    kid = ensure_signing_key(runtime.sessions, vault)
    with runtime.sessions() as session:
        row = session.get(PassKey, kid)
        assert row is not None
        return kid, vault.decrypt(row.encrypted_key, kid.encode())


def signed(private: bytes, payload: Any, kid: str, assertion: bytes = IMPLICIT_ASSERTION, footer: Any = None) -> str:
    """A v4.public token made by hand with `private`."""
    key = Key.from_asymmetric_key_params(4, d=private)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    foot = json.dumps({"kid": kid} if footer is None else footer).encode()
    return pyseto.encode(key, body, footer=foot, implicit_assertion=assertion).decode()


def valid_payload(runtime: Runtime, token_id: int, now: datetime) -> dict[str, Any]:
    return {
        "v": 1,
        "town": "hoshikawa",
        "chain_id": runtime.manifest.chain_id,
        "contract": runtime.card_contract,
        "token_id": token_id,
        "sub": "0x" + "ab" * 20,
        "iat": now.isoformat(timespec="seconds"),
        "exp": (now + timedelta(seconds=60)).isoformat(timespec="seconds"),
        "jti": "n0nce",
    }


def test_the_pass_lists_the_card_with_a_proof_that_reads_back(client: TestClient, minted: Minted) -> None:
    runtime = runtime_of(client)
    before = datetime.now(UTC).replace(microsecond=0)
    body = my_pass(client, minted.token)
    assert body["refresh_seconds"] == 20
    [card] = body["cards"]
    with runtime.sessions() as session:
        town = session.scalar(
            select(Municipality.slug).join(Drop, Drop.municipality_id == Municipality.id).where(Drop.id == 1)
        )
    assert card["town"] == town
    assert card["contract"] == runtime.card_contract
    assert card["token_id"] == card["number"] == minted.token_id
    assert card["series"] == {
        "drop_id": 1,
        "title_ja": "星川町 デジタル住民票 第1期",
        "title_en": "Hoshikawa digital resident card, first issue",
    }
    assert card["qr_svg"].startswith("<svg ")
    assert card["proof"].startswith("v4.public.")

    claims = read_pass(runtime.sessions, card["proof"], datetime.now(UTC))
    assert claims.town == town
    assert claims.chain_id == runtime.manifest.chain_id == card["chain_id"]
    assert claims.contract == runtime.card_contract
    assert claims.token_id == minted.token_id
    me = client.get("/api/v1/holders/me", headers=bearer(minted.token)).json()
    assert claims.holder == me["address"].lower()
    assert before <= claims.issued_at <= datetime.now(UTC)
    life = claims.expires_at - claims.issued_at
    assert timedelta(seconds=20) < life <= timedelta(seconds=90)
    assert claims.expires_at == datetime.fromisoformat(card["expires_at"])
    # Nothing personal in the proof: the payload carries no email.
    assert "pass-holder" not in json.dumps(claims.__dict__, default=str)
    # Each call signs anew: another nonce.
    again = read_pass(runtime.sessions, one_proof(client, minted), datetime.now(UTC))
    assert again.nonce != claims.nonce


def test_the_pass_needs_a_sign_in(client: TestClient) -> None:
    assert client.get("/api/v1/holders/me/pass").status_code == 401
    response = client.get("/api/v1/holders/me/pass", headers=bearer("not-a-session"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_proof_expires_on_time_with_no_leeway(client: TestClient, minted: Minted) -> None:
    sessions = runtime_of(client).sessions
    proof = one_proof(client, minted)
    claims = read_pass(sessions, proof, datetime.now(UTC))
    assert read_pass(sessions, proof, claims.expires_at - timedelta(milliseconds=1)) == claims
    assert refused(sessions, proof, claims.expires_at) == "expired"
    assert refused(sessions, proof, claims.expires_at + timedelta(hours=1)) == "expired"
    # A verifier whose clock runs a little behind still accepts it; far behind, not.
    assert read_pass(sessions, proof, claims.issued_at - timedelta(seconds=4)) == claims
    assert refused(sessions, proof, claims.issued_at - timedelta(seconds=30)) == "forged"


def test_a_proof_altered_at_any_character_is_refused(client: TestClient, minted: Minted) -> None:
    sessions = runtime_of(client).sessions
    proof = one_proof(client, minted)
    now = datetime.now(UTC)
    assert read_pass(sessions, proof, now)
    outcomes: dict[str, int] = {}
    for position, char in enumerate(proof):
        if char in B64URL:
            # A low bit and a high bit of the 6 the character carries (the last character of
            # a segment has unused low bits: a canonical-encoding check must catch that).
            index = B64URL.index(char)
            replacements = [B64URL[index ^ 1], B64URL[index ^ 32]]
        else:
            replacements = ["A", "~"]
        for replacement in replacements:
            altered = proof[:position] + replacement + proof[position + 1 :]
            reason = refused(sessions, altered, now)
            outcomes[reason] = outcomes.get(reason, 0) + 1
    assert set(outcomes) <= {"forged", "expired"}
    assert sum(outcomes.values()) == 2 * len(proof)
    # Cut short or extended: refused too.
    for altered in (proof[:-1], proof + "A", proof.rsplit(".", 1)[0], proof + ".e30"):
        assert refused(sessions, altered, now) == "forged"


def test_a_proof_signed_by_another_key_is_forged(client: TestClient, minted: Minted) -> None:
    runtime = runtime_of(client)
    kid, _ = deployment_key(runtime)
    now = datetime.now(UTC).replace(microsecond=0)
    stranger = Ed25519PrivateKey.generate().private_bytes_raw()
    payload = valid_payload(runtime, minted.token_id, now)
    # Naming our key's id, but signed by another: the signature fails.
    assert refused(runtime.sessions, signed(stranger, payload, kid), now) == "forged"
    # Naming its own key's id: a key this deployment never made.
    own_kid = Key.from_asymmetric_key_params(4, d=stranger).to_peer_paserk_id()
    assert refused(runtime.sessions, signed(stranger, payload, own_kid), now) == "forged"


@pytest.fixture(scope="module")
def other_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """A second deployment's database (same placeholder secret): it makes its own pass key."""
    path: Path = tmp_path_factory.mktemp("other-deployment") / "furusato.db"
    engine: Engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_a_proof_from_another_deployment_is_forged_here(
    client: TestClient, minted: Minted, other_deployment: sessionmaker[Session]
) -> None:
    runtime = runtime_of(client)
    secret = runtime.settings.secret_key.get_secret_value()
    now = datetime.now(UTC)
    theirs, _ = issue_pass(
        other_deployment,
        pass_vault(secret),
        town="hoshikawa",
        chain_id=runtime.manifest.chain_id,
        contract=runtime.card_contract,
        token_id=minted.token_id,
        holder="0x" + "cd" * 20,
        now=now,
    )
    assert read_pass(other_deployment, theirs, now).token_id == minted.token_id  # genuine over there
    assert refused(runtime.sessions, theirs, now) == "forged"
    ours = one_proof(client, minted)
    assert refused(other_deployment, ours, now) == "forged"


def test_our_key_signing_something_that_is_not_a_pass_is_forged(client: TestClient, minted: Minted) -> None:
    runtime = runtime_of(client)
    kid, private = deployment_key(runtime)
    now = datetime.now(UTC).replace(microsecond=0)
    payload = valid_payload(runtime, minted.token_id, now)
    sessions = runtime.sessions
    assert read_pass(sessions, signed(private, payload, kid), now).holder == "0x" + "ab" * 20  # the control

    assert refused(sessions, signed(private, payload, kid, assertion=b"furusato-other/1"), now) == "forged"
    assert refused(sessions, signed(private, payload, kid, assertion=b""), now) == "forged"
    for foreign in (
        {**payload, "purpose": "login"},
        {**payload, "v": 2},
        {key: value for key, value in payload.items() if key != "jti"},
        {**payload, "token_id": str(minted.token_id)},
        {**payload, "token_id": True},
        {**payload, "sub": "0x" + "AB" * 20},
        {**payload, "exp": (now + timedelta(hours=1)).isoformat()},
        {**payload, "iat": "yesterday"},
        {**payload, "iat": now.replace(tzinfo=None).isoformat()},
        [payload],
    ):
        assert refused(sessions, signed(private, foreign, kid), now) == "forged", foreign
    assert refused(sessions, signed(private, b"\xff\xfe not json", kid), now) == "forged"
    assert refused(sessions, signed(private, payload, kid, footer={"kid": kid, "x": 1}), now) == "forged"
    local = pyseto.encode(Key.new(4, "local", b"k" * 32), json.dumps(payload).encode(), json.dumps({"kid": kid}))
    assert refused(sessions, local.decode(), now) == "forged"
    for junk in ("", "v4.public.", "v2.public.AAAA.AAAA", "v4.public.AAAA.AAAA", "x" * 5000):
        assert refused(sessions, junk, now) == "forged"


def test_published_keys_check_a_proof_offline(client: TestClient, minted: Minted) -> None:
    proof = one_proof(client, minted)
    response = client.get("/api/v1/pass/keys")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public")
    published = response.json()
    assert published["version"] == "v4.public"
    assert published["implicit_assertion"] == "furusato-pass/1"
    kid = json.loads(pyseto.Token.new(proof).footer)["kid"]  # type: ignore[arg-type]
    [key] = [key for key in published["keys"] if key["kid"] == kid]
    assert key["paserk"].startswith("k4.public.")
    public = Key.from_paserk(key["paserk"])
    assert public.to_paserk_id() == kid
    token = pyseto.decode(public, proof, implicit_assertion=b"furusato-pass/1")
    assert json.loads(token.payload)["token_id"] == minted.token_id  # type: ignore[arg-type]
    assert "secret" not in response.text


def test_one_key_per_deployment_shared_by_processes(client: TestClient) -> None:
    """A second process (its own session factory, so its own cache) signs with the same key,
    and the private half is stored only encrypted."""
    runtime = runtime_of(client)
    vault = pass_vault(runtime.settings.secret_key.get_secret_value())
    first = ensure_signing_key(runtime.sessions, vault)
    second_process = make_session_factory(runtime.engine)
    assert ensure_signing_key(second_process, vault) == first
    with runtime.sessions() as session:
        rows = session.scalars(select(PassKey)).all()
    assert [row.kid for row in rows] == [first]
    _, private = deployment_key(runtime)
    assert private not in rows[0].encrypted_key
    assert rows[0].key_id == vault.key_id != runtime.vault.key_id  # its own vault purpose


def test_a_revoked_card_gets_no_proof(client: TestClient, minted: Minted) -> None:
    runtime = runtime_of(client)
    assert len(my_pass(client, minted.token)["cards"]) == 1

    def set_revoked(value: datetime | None) -> None:
        with runtime.sessions() as session:
            session.execute(
                update(OrderCard)
                .where(OrderCard.order_id == minted.order_id, OrderCard.token_id == minted.token_id)
                .values(revoked_at=value)
            )
            session.commit()

    set_revoked(datetime.now(UTC))
    try:
        assert my_pass(client, minted.token)["cards"] == []
    finally:
        set_revoked(None)
    assert len(my_pass(client, minted.token)["cards"]) == 1
