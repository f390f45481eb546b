"""The exactly-once sender on eth-tester: one transaction per purpose, whatever happened to
the process before (crashes simulated at its failpoints), and nonces shared with the mint sender."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core.db import make_engine, make_session_factory, migrate
from minting import failpoints
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.jobs import NewJob, enqueue
from minting.node_errors import NodeRefusal
from minting.once import OnceReceipt, OnceSender, call_tx, deploy_tx
from minting.resident_card import ResidentCardClient
from minting.sender import MintSender, SenderConfig
from minting.store import ChainTxRow, OnceAttemptRow, OnceTxRow
from minting.transactions import send_transaction

DEPLOY_GAS = 6_000_000


class Crash(BaseException):
    """Stands for SIGKILL at a failpoint (BaseException: nothing on the way catches it)."""


@dataclass
class Setup:
    chain: Chain
    sessions: sessionmaker[Session]
    account: LocalAccount
    compiled: CompiledTree

    def sender(self, **options: Any) -> OnceSender:
        return OnceSender(self.sessions, self.chain.w3, self.account, **options)

    def card_tx(self, name: str = "Sakura Digital Resident Card") -> dict[str, Any]:
        address = self.account.address
        return deploy_tx(
            self.chain.w3, self.compiled["ResidentCard"], name, "SAKURA", "", address, address, 500, gas=DEPLOY_GAS
        )

    def nonce(self) -> int:
        return int(self.chain.w3.eth.get_transaction_count(self.account.address))

    def attempts(self) -> list[OnceAttemptRow]:
        with self.sessions() as session:
            return list(session.scalars(select(OnceAttemptRow).order_by(OnceAttemptRow.id)))


@pytest.fixture
def setup(compiled: CompiledTree, tmp_path: Path) -> Iterator[Setup]:
    engine = make_engine(f"sqlite:///{tmp_path}/once.db")
    migrate(engine)
    with connect("eth-tester://") as chain:
        yield Setup(chain, make_session_factory(engine), chain.dev_accounts()[0], compiled)
    engine.dispose()


def crash_at(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make failpoint `name` "kill" the process (raise Crash) the first time it is hit."""
    real = failpoints.hit

    def hit(point: str) -> None:
        real(point)
        if point == name:
            raise Crash(point)

    monkeypatch.setattr(failpoints, "hit", hit)


def test_a_deployment_is_sent_once_and_its_receipt_is_stored(setup: Setup) -> None:
    sender = setup.sender()
    assert sender.find("town:sakura:ResidentCard:deploy") is None
    before = setup.nonce()
    receipt = sender.send("town:sakura:ResidentCard:deploy", setup.card_tx())
    assert receipt.ok
    assert receipt.contract_address is not None
    assert len(setup.chain.w3.eth.get_code(Web3.to_checksum_address(receipt.contract_address))) > 0
    again = setup.sender().send("town:sakura:ResidentCard:deploy", setup.card_tx())
    assert again == receipt
    assert sender.find("town:sakura:ResidentCard:deploy") == receipt
    assert setup.nonce() == before + 1  # one transaction on chain
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], receipt.contract_address)
    (changed,) = receipt.events(card.contract.events.TreasuryChanged(), card.address)
    assert changed["args"]["royaltyBps"] == 500


def test_calls_are_sent_once_per_purpose_and_logs_decode(setup: Setup) -> None:
    sender = setup.sender()
    deployed = sender.send("card", setup.card_tx())
    assert deployed.contract_address is not None
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], deployed.contract_address)
    tx = call_tx(card.contract, "addSeries", 1, 100, 0, 0, 2**64 - 1, 0, False)
    first = sender.send("drop:1:series", tx)
    second = sender.send("drop:1:series", tx)
    assert first == second
    (added,) = first.events(card.contract.events.SeriesAdded())
    assert added["args"]["seriesId"] == 0
    assert card.series_count() == 1
    sender.send("drop:2:series", call_tx(card.contract, "addSeries", 101, 200, 0, 0, 2**64 - 1, 0, False))
    assert card.series_count() == 2


def test_crash_after_store_rebroadcasts_the_stored_bytes(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    crash_at(monkeypatch, "once_after_store")
    before = setup.nonce()
    with pytest.raises(Crash):
        setup.sender().send("deploy", setup.card_tx())
    assert setup.nonce() == before  # nothing left the process
    (stored,) = setup.attempts()
    monkeypatch.undo()
    receipt = setup.sender().send("deploy", setup.card_tx())
    assert receipt.tx_hash == stored.tx_hash  # the same bytes, not a new signature
    assert setup.nonce() == before + 1
    assert len(setup.attempts()) == 1


def test_crash_after_broadcast_reads_the_receipt_without_sending(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    crash_at(monkeypatch, "once_after_broadcast")
    before = setup.nonce()
    with pytest.raises(Crash):
        setup.sender().send("deploy", setup.card_tx())
    assert setup.nonce() == before + 1
    monkeypatch.undo()
    receipt = setup.sender().send("deploy", setup.card_tx())
    assert receipt.ok
    assert setup.nonce() == before + 1
    assert len(setup.attempts()) == 1


def test_a_nonce_taken_by_another_transaction_is_signed_again_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_at(monkeypatch, "once_after_store")
    with pytest.raises(Crash):
        setup.sender().send("deploy", setup.card_tx())
    monkeypatch.undo()
    (stored,) = setup.attempts()
    # Someone else used the key meanwhile, at the very nonce we stored.
    send_transaction(setup.chain.w3, setup.account, {"to": setup.account.address, "value": 1, "nonce": stored.nonce})
    receipt = setup.sender().send("deploy", setup.card_tx())
    assert receipt.ok
    assert receipt.contract_address is not None
    first, second = setup.attempts()
    assert receipt.tx_hash == second.tx_hash
    assert second.nonce > first.nonce
    assert setup.sender().send("deploy", setup.card_tx()) == receipt
    assert len(setup.attempts()) == 2  # every hash kept, nothing more signed


def test_a_reverted_transaction_is_returned_not_resent(setup: Setup) -> None:
    sender = setup.sender()
    deployed = sender.send("card", setup.card_tx())
    assert deployed.contract_address is not None
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], deployed.contract_address)
    bad = call_tx(card.contract, "addSeries", 10, 1, 0, 0, 2**64 - 1, 0, False, gas=200_000)  # last < first
    before = setup.nonce()
    reverted = sender.send("bad-series", bad)
    assert reverted.status == 0
    assert not reverted.ok
    assert sender.send("bad-series", bad) == reverted
    assert setup.nonce() == before + 1


def test_underpriced_stored_attempt_is_replaced_at_the_same_nonce(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_at(monkeypatch, "once_after_store")
    with pytest.raises(Crash):
        setup.sender().send("deploy", setup.card_tx())
    monkeypatch.undo()
    sender = setup.sender()
    real = sender._broadcast
    refused: list[bytes] = []

    def broadcast(raw: bytes) -> NodeRefusal | None:
        if not refused:  # the node says the stored fees are too low now
            refused.append(raw)
            return NodeRefusal.UNDERPRICED
        return real(raw)

    monkeypatch.setattr(sender, "_broadcast", broadcast)
    receipt = sender.send("deploy", setup.card_tx())
    first, second = setup.attempts()
    assert second.nonce == first.nonce
    assert second.max_fee_per_gas >= first.max_fee_per_gas * 110 // 100
    assert receipt.tx_hash == second.tx_hash


def test_once_and_mint_senders_share_one_nonce_sequence(setup: Setup) -> None:
    once = setup.sender()
    deployed = once.send("card", setup.card_tx())
    assert deployed.contract_address is not None
    card = ResidentCardClient.at(setup.chain.w3, setup.compiled["ResidentCard"], deployed.contract_address)
    once.send("series", call_tx(card.contract, "addSeries", 1, 1000, 0, 0, 2**64 - 1, 0, False))
    minter = MintSender(
        setup.sessions, setup.chain.w3, setup.account, card.contract.abi, SenderConfig(batch_wait_seconds=0)
    )
    with setup.sessions.begin() as session:
        jobs = [NewJob(f"o-{i}", card.address, i, setup.account.address) for i in (1, 2)]
        enqueue(session, setup.chain.chain_id, jobs)
    minter.drain()
    once.send("pause", call_tx(card.contract, "pause"))
    with setup.sessions() as session:
        mint_nonces = list(session.scalars(select(ChainTxRow.nonce)))
    once_nonces = [attempt.nonce for attempt in setup.attempts()]
    used = sorted(mint_nonces + once_nonces)
    assert used == list(range(used[0], used[0] + len(used)))  # no nonce twice, no gap
    assert setup.nonce() == used[-1] + 1
    assert card.paused()


def test_concurrent_sends_of_one_purpose_make_one_transaction(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    provider: Any = setup.chain.w3.provider
    request, lock = provider.make_request, threading.Lock()

    def one_at_a_time(method: str, params: Any) -> Any:  # py-evm is not thread-safe; a node is
        with lock:
            return request(method, params)

    monkeypatch.setattr(provider, "make_request", one_at_a_time)
    before = setup.nonce()
    tx = setup.card_tx()
    receipts: list[OnceReceipt] = []

    def send() -> None:
        receipts.append(setup.sender().send("deploy", tx))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receipts) == 4
    assert len({receipt.tx_hash for receipt in receipts}) == 1
    assert setup.nonce() == before + 1
    with setup.sessions() as session:
        assert len(session.scalars(select(OnceTxRow)).all()) == 1


def test_purpose_must_be_given(setup: Setup) -> None:
    with pytest.raises(ValueError, match="purpose"):
        setup.sender().send("", setup.card_tx())


def test_unfinished_purposes_are_finished_in_the_background(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    crash_at(monkeypatch, "once_after_store")
    with pytest.raises(Crash):
        setup.sender().send("abandoned", setup.card_tx())
    monkeypatch.undo()
    before = setup.nonce()
    resumer = setup.sender()
    assert resumer.unfinished() == ["abandoned"]
    assert resumer.unfinished(older_than=3600) == []  # a purpose just stored is left to its sender
    assert resumer.resume_unfinished(older_than=0) == 1  # sent again; the receipt is read next look
    assert resumer.resume_unfinished(older_than=0) == 0
    assert setup.nonce() == before + 1
    assert resumer.unfinished() == []
    receipt = resumer.find("abandoned")
    assert receipt is not None
    assert receipt.tx_hash == setup.attempts()[0].tx_hash
    with pytest.raises(KeyError):
        resumer.resume("never-stored")
