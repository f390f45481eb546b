"""Name proposals through the API, on an eth-tester chain: only the primary winner proposes
(gaslessly, relayed; or from a wallet, picked up by the reconcile), never a later owner of the
token nor anyone else; the contract's name rules hold before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web3 import Web3
from web3.logs import DISCARD

from backend.naming.models import NameProposal
from backend.naming.names import NamingWatcher, reconcile
from backend.naming.park_view import holder_pseudonym
from minting.naming_rights import NameStatus
from minting.transactions import send_transaction
from tests.naming.names_world import (
    DAY,
    awarded_lot,
    chain_now,
    chain_of,
    custodial_account,
    fresh_limits,
    holder,
    make_client,
    move_token,
    name_record,
    propose,
    rights_of,
    runtime_of,
    staff,
    wallet,
)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from make_client(tmp_path_factory, "names")


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def proposals_of(client: TestClient, lot_id: int) -> list[NameProposal]:
    with runtime_of(client).sessions() as session:
        query = select(NameProposal).where(NameProposal.lot_id == lot_id).order_by(NameProposal.id)
        return list(session.scalars(query))


def test_the_primary_winner_proposes_gaslessly_and_no_one_else_can(client: TestClient) -> None:
    winner, stranger = holder(client), holder(client)
    lot = awarded_lot(client, winner.address)
    w3 = runtime_of(client).chain.w3

    refused = propose(client, stranger, lot, "よそ者公園")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "not_primary_winner"
    assert proposals_of(client, lot.lot_id) == []

    created = propose(client, winner, lot, "ほしぞら公園", "ほしぞらこうえん", reason="星がよく見えるので")
    assert created.status_code == 201, created.text
    proposal = created.json()["proposal"]
    assert (proposal["state"], proposal["via"], proposal["name"]) == ("pending", "relayed", "ほしぞら公園")
    assert (proposal["reading"], proposal["reason"]) == ("ほしぞらこうえん", "星がよく見えるので")
    assert proposal["tx_hash"].startswith("0x")
    # On chain, pending, proposed by the winner (the relayer only paid the gas).
    assert name_record(client, lot) == (NameStatus.PENDING, "ほしぞら公園")
    receipt = w3.eth.get_transaction_receipt(proposal["tx_hash"])
    (event,) = rights_of(client, lot.contract).events.NameProposed().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["proposer"] == winner.address
    assert w3.eth.get_transaction(proposal["tx_hash"])["from"] != winner.address
    assert w3.eth.get_balance(Web3.to_checksum_address(winner.address)) == 0  # gasless: it never held ether

    again = propose(client, winner, lot, "もうひとつの公園")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "name_pending"
    assert [p.state for p in proposals_of(client, lot.lot_id)] == ["pending"]


def test_a_later_owner_of_the_token_cannot_propose_but_the_primary_winner_still_can(client: TestClient) -> None:
    winner, buyer = holder(client), holder(client)
    lot = awarded_lot(client, winner.address)
    move_token(client, custodial_account(client, winner), lot, buyer.address)
    rights = rights_of(client, lot.contract)
    assert rights.functions.ownerOf(lot.chain_lot_id).call() == buyer.address

    refused = propose(client, buyer, lot, "買い手の公園")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_primary_winner"
    # The park page shows who holds the token now; the right to name stays with the winner.
    park = client.get(f"/api/v1/parks/{lot.park_id}").json()
    assert park["holder"] == holder_pseudonym(buyer.address) != holder_pseudonym(winner.address)

    created = propose(client, winner, lot, "落札者の公園")
    assert created.status_code == 201, created.text
    assert name_record(client, lot) == (NameStatus.PENDING, "落札者の公園")


def test_the_contract_name_rules_are_checked_before_anything_is_sent(client: TestClient) -> None:
    winner = holder(client)
    lot = awarded_lot(client, winner.address)
    too_long = "公" * 22  # 66 UTF-8 bytes: 22 characters pass the length in characters, not in bytes
    refused = propose(client, winner, lot, too_long)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "name_invalid"
    control = propose(client, winner, lot, "公園\u0007")
    assert control.status_code == 422
    assert proposals_of(client, lot.lot_id) == []
    assert name_record(client, lot) == (NameStatus.NONE, "")

    longest = propose(client, winner, lot, "公" * 21)  # 63 bytes
    assert longest.status_code == 201, longest.text


def test_no_proposal_outside_the_term(client: TestClient) -> None:
    winner = holder(client)
    now = chain_now(client)
    lot = awarded_lot(client, winner.address, term_start=now + 10 * DAY, term_end=now + 400 * DAY)
    refused = propose(client, winner, lot, "まだ早い公園")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "outside_term"
    assert proposals_of(client, lot.lot_id) == []


def test_a_lot_not_awarded_or_unknown(client: TestClient) -> None:
    someone = holder(client)
    unknown = client.post(
        "/api/v1/lots/999999/name-proposals", json={"name": "a", "reading": "a"}, headers=someone.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "lot_not_found"
    anonymous = client.post("/api/v1/lots/1/name-proposals", json={"name": "a", "reading": "a"})
    assert anonymous.status_code == 401


def test_a_wallet_winners_own_proposal_shows_in_the_queue(client: TestClient) -> None:
    account = wallet(client)
    lot = awarded_lot(client, account.address)
    w3 = runtime_of(client).chain.w3
    rights = rights_of(client, lot.contract)
    tx = rights.functions.proposeName(lot.chain_lot_id, "ウォレット公園").build_transaction({"from": account.address})
    send_transaction(w3, account, tx)

    assert reconcile(runtime_of(client), chain_of(client)) >= 1
    (entered,) = proposals_of(client, lot.lot_id)
    assert (entered.via, entered.state, entered.name, entered.proposer) == (
        "wallet",
        "pending",
        "ウォレット公園",
        account.address,
    )
    reconcile(runtime_of(client), chain_of(client))  # a second round enters nothing twice
    assert len(proposals_of(client, lot.lot_id)) == 1

    queue = client.get("/api/v1/staff/towns/hoshikawa/name-proposals", headers=staff(client, "moderator"))
    assert queue.status_code == 200, queue.text
    item = next(item for item in queue.json()["items"] if item["lot_id"] == lot.lot_id)
    assert (item["name"], item["via"], item["state"]) == ("ウォレット公園", "wallet", "pending")

    approved = client.post(
        f"/api/v1/staff/towns/hoshikawa/name-proposals/{item['id']}/approve", headers=staff(client, "moderator")
    )
    assert approved.status_code == 200, approved.text
    assert rights.functions.currentName(lot.chain_lot_id).call() == "ウォレット公園"


def test_the_watcher_is_started_with_the_worker_and_runs_the_reconcile(client: TestClient) -> None:
    account = wallet(client)
    lot = awarded_lot(client, account.address)
    rights = rights_of(client, lot.contract)
    tx = rights.functions.proposeName(lot.chain_lot_id, "見張り公園").build_transaction({"from": account.address})
    send_transaction(runtime_of(client).chain.w3, account, tx)
    watcher = NamingWatcher(runtime_of(client))
    watcher.round()
    assert [(p.name, p.state) for p in proposals_of(client, lot.lot_id)] == [("見張り公園", "pending")]
    # Runtime.start_worker runs it in a thread of its own.
    names = {thread.name for thread, _stop in runtime_of(client).threads}
    if not names:
        runtime_of(client).start_worker()
        names = {thread.name for thread, _stop in runtime_of(client).threads}
    assert "naming-watcher" in names
