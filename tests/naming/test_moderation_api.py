"""Moderation through the API, on an eth-tester chain: moderators and owners decide, on chain;
editors and analysts cannot; a rejected winner proposes again; the park page shows the
approved name while the term runs and the default name after it (chain time advanced)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web3.logs import DISCARD

from backend.core.db import session_scope
from backend.core.models import AuditEntry
from backend.naming.chain import proposal_purpose
from backend.naming.models import NameProposal
from backend.naming.names import STALE_CLAIM, reconcile
from backend.staff.models import StaffMember
from minting.naming_rights import NameStatus
from minting.once import call_tx
from minting.store import OnceTxRow
from tests.factories import add_town
from tests.naming.names_world import (
    DAY,
    AwardedLot,
    SignedIn,
    awarded_lot,
    chain_now,
    chain_of,
    current_name,
    fresh_limits,
    holder,
    make_client,
    name_record,
    propose,
    runtime_of,
    staff,
)

pytestmark = pytest.mark.chain

STAFF = "/api/v1/staff/towns/hoshikawa"
OTHER_TOWN = "tsukimi"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    for client in make_client(tmp_path_factory, "moderation"):
        add_town(runtime_of(client).sessions, OTHER_TOWN)
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    return fresh_limits(app_client)


def proposed(client: TestClient, name: str = "ほしぞら公園", **lot: Any) -> tuple[SignedIn, AwardedLot, int]:
    winner = holder(client)
    awarded = awarded_lot(client, winner.address, **lot)
    response = propose(client, winner, awarded, name, "ほしぞらこうえん", reason="星空がきれいな公園なので")
    assert response.status_code == 201, response.text
    return winner, awarded, int(response.json()["proposal"]["id"])


def approve(client: TestClient, proposal_id: int, role: str = "moderator") -> Any:
    return client.post(f"{STAFF}/name-proposals/{proposal_id}/approve", headers=staff(client, role))


def reject(client: TestClient, proposal_id: int, code: int = 2, role: str = "moderator", note: str = "") -> Any:
    body = {"reason_code": code, "note": note}
    return client.post(f"{STAFF}/name-proposals/{proposal_id}/reject", json=body, headers=staff(client, role))


def state_of(client: TestClient, proposal_id: int) -> str:
    with runtime_of(client).sessions() as session:
        proposal = session.get(NameProposal, proposal_id)
        assert proposal is not None
        return proposal.state


@pytest.mark.parametrize("role", ["editor", "analyst", "verifier"])
def test_only_moderators_and_owners_decide(client: TestClient, role: str) -> None:
    _winner, lot, proposal_id = proposed(client)
    assert approve(client, proposal_id, role).status_code == 403
    assert reject(client, proposal_id, role=role).status_code == 403
    assert state_of(client, proposal_id) == "pending"
    assert name_record(client, lot) == (NameStatus.PENDING, "ほしぞら公園")


def test_the_queue_is_for_editors_and_moderators_with_what_they_need(client: TestClient) -> None:
    _winner, lot, proposal_id = proposed(client, "みずさわ名水公園")
    for role in ("analyst", "verifier"):
        assert client.get(f"{STAFF}/name-proposals", headers=staff(client, role)).status_code == 403
    queue = client.get(f"{STAFF}/name-proposals", headers=staff(client, "editor"))
    assert queue.status_code == 200, queue.text
    item = next(item for item in queue.json()["items"] if item["id"] == proposal_id)
    assert (item["name"], item["reading"], item["reason"]) == (
        "みずさわ名水公園",
        "ほしぞらこうえん",
        "星空がきれいな公園なので",
    )
    assert item["trademark_search"]["url"] == "https://www.j-platpat.inpit.go.jp/"
    assert "J-PlatPat" in item["trademark_search"]["note_ja"]
    assert item["park_id"] == lot.park_id
    assert item["history"] == []
    # Another town's moderator sees nothing of it, and cannot decide it through their town.
    outsider = staff(client, "moderator", OTHER_TOWN)
    theirs = client.get(f"/api/v1/staff/towns/{OTHER_TOWN}/name-proposals?state=all", headers=outsider)
    assert theirs.status_code == 200
    assert all(i["id"] != proposal_id for i in theirs.json()["items"])
    assert client.get(f"{STAFF}/name-proposals", headers=outsider).status_code == 403
    crossed = client.post(f"/api/v1/staff/towns/{OTHER_TOWN}/name-proposals/{proposal_id}/approve", headers=outsider)
    assert crossed.status_code == 404
    assert crossed.json()["error"]["code"] == "proposal_not_found"
    assert state_of(client, proposal_id) == "pending"


def test_approval_goes_on_chain_and_the_park_page_shows_it(client: TestClient) -> None:
    _winner, lot, proposal_id = proposed(client)
    before = client.get(f"/api/v1/parks/{lot.park_id}").json()
    assert before["current_name"] == before["default_name"] == "星川中央公園"

    owner_decides = approve(client, proposal_id, "owner")
    assert owner_decides.status_code == 200, owner_decides.text
    body = owner_decides.json()
    assert body["decision"] == "approved"
    assert body["proposal"]["state"] == "approved"
    assert body["proposal"]["decision_tx_hash"].startswith("0x")
    assert current_name(client, lot) == "ほしぞら公園"
    assert name_record(client, lot) == (NameStatus.APPROVED, "ほしぞら公園")

    park = client.get(f"/api/v1/parks/{lot.park_id}").json()
    assert (park["current_name"], park["current_reading"]) == ("ほしぞら公園", "ほしぞらこうえん")
    assert park["default_name"] == "星川中央公園"
    with runtime_of(client).sessions() as session:
        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "name_proposal.approve", AuditEntry.target_id == str(proposal_id)
            )
        )
    assert entry is not None
    assert entry.actor.startswith("owner-")

    again = approve(client, proposal_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "proposal_not_pending"
    winner_again = propose(client, _winner, lot, "二つ目の公園")
    assert winner_again.json()["error"]["code"] == "name_already_approved"


def test_a_rejected_winner_proposes_again_and_the_history_shows_it(client: TestClient) -> None:
    winner, lot, first_id = proposed(client, "宣伝公園")
    unknown = reject(client, first_id, code=999)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "reject_reason_not_found"

    refused = reject(client, first_id, code=3, note="特定の企業名は使えません")
    assert refused.status_code == 200, refused.text
    assert refused.json()["proposal"]["state"] == "rejected"
    assert refused.json()["proposal"]["reject_reason"]["label_ja"] == "特定の個人・団体の宣伝や政治・宗教"
    assert name_record(client, lot) == (NameStatus.NONE, "")
    receipt = runtime_of(client).chain.w3.eth.get_transaction_receipt(refused.json()["proposal"]["decision_tx_hash"])
    (event,) = chain_of(client).rights(lot.contract).events.NameRejected().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["reason"] == 3
    mine = client.get(f"/api/v1/lots/{lot.lot_id}/me", headers=winner.headers).json()["proposals"]
    assert (mine[0]["reject_reason"]["code"], mine[0]["reject_note"]) == (3, "特定の企業名は使えません")

    second = propose(client, winner, lot, "せせらぎ公園")
    assert second.status_code == 201, second.text
    second_id = second.json()["proposal"]["id"]
    queue = client.get(f"{STAFF}/name-proposals", headers=staff(client, "moderator")).json()
    item = next(item for item in queue["items"] if item["id"] == second_id)
    (earlier,) = item["history"]
    assert (earlier["name"], earlier["state"], earlier["reject_reason"]["code"]) == ("宣伝公園", "rejected", 3)
    assert approve(client, second_id).status_code == 200
    assert current_name(client, lot) == "せせらぎ公園"


def test_the_town_keeps_its_reasons(client: TestClient) -> None:
    listed = client.get(f"{STAFF}/name-reject-reasons", headers=staff(client, "editor"))
    assert listed.status_code == 200
    labels = [item["label_ja"] for item in listed.json()["items"]]
    assert labels[:5] == [
        "公序良俗に反する",
        "商標権を侵害するおそれ",
        "特定の個人・団体の宣伝や政治・宗教",
        "読みにくい・紛らわしい",
        "その他",
    ]
    body = {"label_ja": "公園の名前としてふさわしくない", "label_en": "Unfit for a park"}
    assert client.post(f"{STAFF}/name-reject-reasons", json=body, headers=staff(client, "editor")).status_code == 403
    added = client.post(f"{STAFF}/name-reject-reasons", json=body, headers=staff(client, "moderator"))
    assert added.status_code == 201, added.text
    code = added.json()["code"]
    assert code > 5
    taken = client.post(f"{STAFF}/name-reject-reasons", json={**body, "code": code}, headers=staff(client, "owner"))
    assert taken.status_code == 409
    _winner, _lot, proposal_id = proposed(client, "ふさわしくない公園")
    assert reject(client, proposal_id, code=code).json()["proposal"]["reject_reason"]["label_en"] == "Unfit for a park"


def test_a_decision_mined_but_not_recorded_is_recorded_by_the_reconcile(client: TestClient) -> None:
    """As if the process died between sending approveName and recording it."""
    _winner, lot, proposal_id = proposed(client, "あとから公園")
    chain = chain_of(client)
    rights = chain.rights(lot.contract)
    receipt = chain.sender.send(
        proposal_purpose(proposal_id, "approve"), call_tx(rights, "approveName", lot.chain_lot_id)
    )
    assert receipt.ok
    assert state_of(client, proposal_id) == "pending"
    reconcile(runtime_of(client), chain)
    assert state_of(client, proposal_id) == "approved"
    with runtime_of(client).sessions() as session:
        proposal = session.get(NameProposal, proposal_id)
        assert proposal is not None
        assert proposal.decision_tx_hash == receipt.tx_hash


def test_a_decision_made_on_chain_outside_the_backend_is_recorded(client: TestClient) -> None:
    _winner, lot, proposal_id = proposed(client, "そとの公園")
    chain = chain_of(client)
    rights = chain.rights(lot.contract)
    assert chain.sender.send("test:outside-reject", call_tx(rights, "rejectName", lot.chain_lot_id, 4)).ok
    reconcile(runtime_of(client), chain)
    assert state_of(client, proposal_id) == "rejected"
    late = reject(client, proposal_id)
    assert late.status_code == 409


def test_after_the_term_the_default_name_returns(client: TestClient) -> None:
    now = chain_now(client)
    _winner, lot, proposal_id = proposed(
        client, "期間限定公園", term_start=now - DAY, term_end=now + timedelta(minutes=300)
    )
    assert approve(client, proposal_id).status_code == 200
    assert client.get(f"/api/v1/parks/{lot.park_id}").json()["current_name"] == "期間限定公園"

    runtime_of(client).chain.advance_time(301 * 60)
    assert current_name(client, lot) == "星川中央公園"
    park = client.get(f"/api/v1/parks/{lot.park_id}").json()
    assert park["current_name"] == park["default_name"] == "星川中央公園"
    assert park["current_reading"] is None


def test_a_proposal_another_moderator_is_deciding_is_not_decided_twice(client: TestClient) -> None:
    _winner, lot, proposal_id = proposed(client, "同時公園")
    deciding = staff(client, "moderator")  # another moderator, whose request is still sending
    with runtime_of(client).sessions.begin() as session:
        other = session.scalar(select(StaffMember.id).order_by(StaffMember.id.desc()))
        row = session.get(NameProposal, proposal_id)
        assert row is not None
        row.decided_by, row.decided_at = other, datetime.now(UTC)  # their claim, as `decide` makes it
    busy = reject(client, proposal_id)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "decision_in_progress"
    assert name_record(client, lot) == (NameStatus.PENDING, "同時公園")
    queued = client.get(f"{STAFF}/name-proposals", headers=deciding).json()["items"]
    assert next(item for item in queued if item["id"] == proposal_id)["deciding"] is True
    # Nothing was sent for it, so once the claim is stale another moderator may decide.
    with runtime_of(client).sessions.begin() as session:
        row = session.get(NameProposal, proposal_id)
        assert row is not None
        row.decided_at = datetime.now(UTC) - STALE_CLAIM - timedelta(seconds=1)
    decided = reject(client, proposal_id)
    assert decided.status_code == 200, decided.text
    assert name_record(client, lot) == (NameStatus.NONE, "")


def test_no_decision_while_the_other_is_on_its_way(client: TestClient) -> None:
    """An approve stored but not mined blocks a reject (approveName names no proposal: both
    must never be sent)."""
    _winner, lot, proposal_id = proposed(client, "片方公園")
    with session_scope(runtime_of(client).sessions) as session:
        session.add(
            OnceTxRow(
                chain_id=runtime_of(client).manifest.chain_id,
                purpose=proposal_purpose(proposal_id, "approve"),
                signer="0x" + "00" * 20,
                to_address=lot.contract,
                data=b"",
                value="0",
                gas=21_000,
                attempt_count=1,
                status="sent",
            )
        )
    refused = reject(client, proposal_id)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "decision_in_progress"
    assert name_record(client, lot) == (NameStatus.PENDING, "片方公園")
