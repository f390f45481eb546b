"""Helpers of the name-proposal, moderation, park-page and sign tests: an app on a fresh
eth-tester chain, parks with lots created and awarded on chain through the admin's
exactly-once sender (as the settle job awards them), signed-in holders, and staff headers.

Lots are made directly (rows plus `createLot` and `awardOffchain` on chain), so these tests
do not depend on the auction: the term, the winner and the name are what they exercise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from web3 import Web3
from web3.contract import Contract

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.core.models import RateCounter
from backend.holders.custody import ensure_holder, holder_account
from backend.holders.models import Holder
from backend.holders.signin import exchange_link, request_link
from backend.naming.chain import NamingChain, lot_purpose, naming_chain
from backend.naming.models import Lot, Park
from backend.runtime import Runtime
from backend.towns.contracts import rights_contract_of
from backend.towns.models import Municipality
from minting.once import call_tx
from minting.transactions import send_transaction
from tests.factories import staff_headers

TOWN = "hoshikawa"
DAY = timedelta(days=1)
EXPLORER = "https://etherscan.io"
WALLET_INDEX = 7


def make_client(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[TestClient]:
    """An app on a fresh chain (the demo town seeded), with a block explorer configured."""
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp(name) / "data", explorer_url=EXPLORER)
    with TestClient(create_app(settings)) as client:
        yield client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def fresh_limits(client: TestClient) -> TestClient:
    with session_scope(runtime_of(client).sessions) as session:
        session.execute(delete(RateCounter))
    return client


def chain_of(client: TestClient) -> NamingChain:
    chain = naming_chain(runtime_of(client))
    assert chain is not None
    return chain


def chain_now(client: TestClient) -> datetime:
    latest = runtime_of(client).chain.w3.eth.get_block("latest")["timestamp"]
    return datetime.fromtimestamp(int(latest), UTC)


def wallet(client: TestClient) -> LocalAccount:
    """A funded development account: a winner with a wallet of their own."""
    return runtime_of(client).chain.dev_accounts()[WALLET_INDEX]


# ── holders and staff ───────────────────────────────────────────────────────


@dataclass(frozen=True)
class SignedIn:
    holder_id: int
    email: str
    address: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def holder(client: TestClient, email: str | None = None) -> SignedIn:
    """A holder (created with a custodial key) and a fresh session, as the emailed link opens one."""
    runtime = runtime_of(client)
    email = email or f"winner-{uuid.uuid4().hex[:10]}@example.jp"
    now = datetime.now(UTC)
    with session_scope(runtime.sessions) as session:
        made = ensure_holder(session, runtime.vault, email)
        issued = request_link(session, email, runtime.settings.public_url, now)
        assert issued is not None
        opened = exchange_link(session, issued[1].rsplit("#token=", 1)[1], now)
        assert opened is not None
        return SignedIn(made.id, made.email, made.address, opened.token)


def custodial_account(client: TestClient, who: SignedIn) -> LocalAccount:
    """The holder's custodial key (held by the server), to act as the holder on chain."""
    runtime = runtime_of(client)
    with runtime.sessions() as session:
        row = session.get(Holder, who.holder_id)
        assert row is not None
        return holder_account(runtime.vault, row)


def staff(client: TestClient, role: str, town: str = TOWN) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, town, role)


# ── parks and lots ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class AwardedLot:
    park_id: int
    lot_id: int
    chain_lot_id: int
    contract: str
    winner: str


def rights_of(client: TestClient, contract: str) -> Contract:
    return chain_of(client).rights(contract)


def add_park(client: TestClient, name_ja: str = "星川中央公園", town: str = TOWN, **fields: Any) -> int:
    with session_scope(runtime_of(client).sessions) as session:
        row = session.scalar(select(Municipality).where(Municipality.slug == town))
        assert row is not None
        park = Park(
            municipality_id=row.id, name_ja=name_ja, name_en=fields.pop("name_en", "Hoshikawa Central Park"), **fields
        )
        session.add(park)
        session.flush()
        return park.id


def awarded_lot(
    client: TestClient,
    winner: str,
    *,
    park_id: int | None = None,
    term_start: datetime | None = None,
    term_end: datetime | None = None,
    default_name: str = "星川中央公園",
) -> AwardedLot:
    """A lot of a park (a new one unless `park_id`), created on chain and awarded to `winner`
    through the admin's exactly-once sender, recorded as the settle job records it."""
    runtime = runtime_of(client)
    chain = chain_of(client)
    now = chain_now(client)
    start = term_start or now - 30 * DAY
    end = term_end or now + 3 * 365 * DAY
    park_id = park_id or add_park(client, default_name)
    with session_scope(runtime.sessions) as session:
        park = session.get(Park, park_id)
        assert park is not None
        town = session.get(Municipality, park.municipality_id)
        assert town is not None
        contract = rights_contract_of(town, runtime.manifest)
        lot = Lot(
            park_id=park_id,
            municipality_id=town.id,
            term_start=start,
            term_end=end,
            auction_start=now - 20 * DAY,
            auction_end=now - 10 * DAY,
            ends_at=now - 10 * DAY,
            reserve_jpy=1_000,
            chain_id=runtime.manifest.chain_id,
            contract=contract,
            phase="awaiting_payment",
        )
        session.add(lot)
        session.flush()
        lot_id = lot.id
        default = park.name_ja
    rights = chain.rights(contract)
    config = (
        park_id,
        default,
        int(start.timestamp()),
        int(end.timestamp()),
        int((now - 20 * DAY).timestamp()),
        int((now + DAY).timestamp()),  # on chain the window must end in the future; bids are in yen
        1,
        1,
        0,
        0,
    )
    created = chain.sender.send(lot_purpose(lot_id, "create"), call_tx(rights, "createLot", config))
    assert created.ok
    (event,) = created.events(rights.events.LotCreated(), contract)
    chain_lot_id = int(event["args"]["lotId"])
    award = chain.sender.send(
        lot_purpose(lot_id, "award"), call_tx(rights, "awardOffchain", chain_lot_id, Web3.to_checksum_address(winner))
    )
    assert award.ok
    with session_scope(runtime.sessions) as session:
        row = session.get(Lot, lot_id)
        assert row is not None
        row.chain_lot_id = chain_lot_id
        row.chain_state = "ready"
        row.phase = "awarded"
        row.awarded_to = Web3.to_checksum_address(winner)
        row.award_tx_hash = award.tx_hash
    return AwardedLot(park_id, lot_id, chain_lot_id, contract, Web3.to_checksum_address(winner))


def move_token(client: TestClient, signer: LocalAccount, lot: AwardedLot, to: str) -> None:
    """Send the right's token from `signer` to `to` (a resale): gas funded by a dev account."""
    w3 = runtime_of(client).chain.w3
    funder = wallet(client)
    send_transaction(w3, funder, {"to": signer.address, "value": 10**17})
    rights = rights_of(client, lot.contract)
    tx = rights.functions.transferFrom(signer.address, Web3.to_checksum_address(to), lot.chain_lot_id)
    send_transaction(w3, signer, tx.build_transaction({"from": signer.address}))


def name_record(client: TestClient, lot: AwardedLot) -> tuple[int, str]:
    status, name = rights_of(client, lot.contract).functions.nameRecord(lot.chain_lot_id).call()
    return int(status), str(name)


def current_name(client: TestClient, lot: AwardedLot) -> str:
    return str(rights_of(client, lot.contract).functions.currentName(lot.chain_lot_id).call())


def propose(client: TestClient, who: SignedIn, lot: AwardedLot, name: str, reading: str = "よみ", **extra: Any) -> Any:
    body = {"name": name, "reading": reading, **extra}
    return client.post(f"/api/v1/lots/{lot.lot_id}/name-proposals", json=body, headers=who.headers)


def mail_dir(client: TestClient) -> Path:
    return runtime_of(client).settings.data_dir / "mail"
