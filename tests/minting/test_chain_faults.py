"""Chain faults on anvil: node down, dropped transaction, stuck transaction, no funds, reorg."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_typing import HexStr
from sqlalchemy import select
from web3 import Web3

from minting.anvil import AnvilNode
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.jobs import status_counts
from minting.sender import MintSender, SenderConfig
from minting.store import ChainTxRow, MintJobRow, TxAttemptRow
from minting.worker import MintWorker
from tests.minting.pipeline_fixtures import Pipeline, build_pipeline

pytestmark = pytest.mark.anvil


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    with AnvilNode(tmp_path / "anvil") as running:
        yield running


@pytest.fixture
def pipeline(node: AnvilNode, compiled: CompiledTree, tmp_path: Path) -> Iterator[Pipeline]:
    with connect(node.url) as chain:
        built = build_pipeline(chain, compiled, f"sqlite:///{tmp_path}/faults.db")
        yield built
        built.engine.dispose()


def _rpc(chain: Chain, method: str, *params: object) -> object:
    response = chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response.get("result")


def _attempts(pipeline: Pipeline) -> list[TxAttemptRow]:
    with pipeline.sessions() as session:
        return list(session.scalars(select(TxAttemptRow).order_by(TxAttemptRow.id)))


def _txs(pipeline: Pipeline) -> list[ChainTxRow]:
    with pipeline.sessions() as session:
        return list(session.scalars(select(ChainTxRow).order_by(ChainTxRow.nonce)))


def _wait_until(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_jobs_wait_while_the_node_is_down_and_resume(
    pipeline: Pipeline, node: AnvilNode, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.enqueue(50)
    worker = MintWorker(pipeline.sessions, pipeline.chain.w3, pipeline.minter, pipeline.card.contract.abi)
    node.stop()  # the node goes away (its state dumped); the worker keeps trying
    caplog.set_level(logging.WARNING, logger="furusato.minting.worker")
    thread, stop = worker.start_thread()
    try:
        _wait_until(lambda: any("round failed" in record.message for record in caplog.records))
        with pipeline.sessions() as session:
            assert status_counts(session)["queued"] == 50  # nothing lost, nothing half-sent
        node.start()  # same port, same state
        with pipeline.sessions() as session:
            _wait_until(lambda: status_counts(session)["confirmed"] == 50)
        assert pipeline.card.total_supply() == 50
    finally:
        stop.set()
        thread.join(10)


def test_dropped_transaction_is_rebroadcast_with_the_same_nonce_and_bytes(pipeline: Pipeline) -> None:
    pipeline.enqueue(20)
    sender = pipeline.sender(rebroadcast_after_seconds=0)
    _rpc(pipeline.chain, "evm_setAutomine", False)
    sender.send_batch()
    (attempt,) = _attempts(pipeline)
    _rpc(pipeline.chain, "anvil_dropTransaction", attempt.tx_hash)
    _rpc(pipeline.chain, "evm_setAutomine", True)
    sender.drain()
    (tx,) = _txs(pipeline)
    assert tx.mined_hash == attempt.tx_hash
    assert len(_attempts(pipeline)) == 1
    assert pipeline.card.total_supply() == 20


def test_stuck_transaction_gets_a_higher_fee_and_mints_once(pipeline: Pipeline) -> None:
    pipeline.enqueue(20)
    sender = pipeline.sender(bump_after_seconds=0)
    _rpc(pipeline.chain, "evm_setAutomine", False)
    sender.send_batch()
    result = sender.step()  # pending past its deadline: re-signed, same nonce, higher fees, stored
    assert result.bumps == 1
    assert sender.step().rebroadcasts == 1  # the stored bump leaves only now, after its commit
    first, second = _attempts(pipeline)
    assert second.max_fee_per_gas * 100 >= first.max_fee_per_gas * 110
    assert second.max_priority_fee_per_gas * 100 >= first.max_priority_fee_per_gas * 110
    _rpc(pipeline.chain, "evm_mine")
    sender.step()
    (tx,) = _txs(pipeline)
    assert tx.mined_hash == second.tx_hash
    assert pipeline.card.total_supply() == 20
    _rpc(pipeline.chain, "evm_setAutomine", True)


def test_fee_bumps_stop_at_the_ceiling_and_say_so(pipeline: Pipeline) -> None:
    pipeline.enqueue(5)
    market_fee, _tip = pipeline.sender()._fees()
    ceiling = market_fee * 12 // 10  # room for one raise of at least 10 %, not two
    sender = pipeline.sender(bump_after_seconds=0, max_fee_per_gas=ceiling)
    _rpc(pipeline.chain, "evm_setAutomine", False)
    sender.send_batch()
    assert sender.step().bumps == 1  # raised to the ceiling, stored
    assert sender.step().rebroadcasts == 1  # and sent
    stuck = sender.step()
    assert stuck.bumps == 0
    assert stuck.waiting_reason is not None
    assert "ceiling" in stuck.waiting_reason
    first, second = _attempts(pipeline)
    assert (first.max_fee_per_gas, second.max_fee_per_gas) == (market_fee, ceiling)
    _rpc(pipeline.chain, "evm_mine")
    _rpc(pipeline.chain, "evm_setAutomine", True)
    sender.drain()
    assert pipeline.card.total_supply() == 5


def test_a_pause_earlier_in_the_same_block_keeps_the_jobs_waiting(pipeline: Pipeline) -> None:
    """Replayed at the block's start the batch succeeds; the state after the block says paused."""
    pipeline.enqueue(5)
    sender = pipeline.sender()
    _rpc(pipeline.chain, "evm_setAutomine", False)
    admin = pipeline.minter  # also the card's admin: its next nonce goes to the pause
    nonce = pipeline.chain.w3.eth.get_transaction_count(admin.address, "pending")
    pause = pipeline.card.contract.functions.pause().build_transaction(
        {"from": admin.address, "gas": 100_000, "nonce": nonce}
    )
    signed_pause = admin.sign_transaction(dict(pause))  # type: ignore[arg-type]
    pause_hash = pipeline.chain.w3.eth.send_raw_transaction(signed_pause.raw_transaction)
    sender.send_batch()  # the nonce after the pause's: mined after it, in the same block
    _rpc(pipeline.chain, "evm_mine")
    _rpc(pipeline.chain, "evm_setAutomine", True)
    receipt = pipeline.chain.w3.eth.get_transaction_receipt(HexStr(_attempts(pipeline)[0].tx_hash))
    assert receipt["blockNumber"] == pipeline.chain.w3.eth.get_transaction_receipt(pause_hash)["blockNumber"]
    assert receipt["status"] == 0
    sender.step()
    with pipeline.sessions() as session:
        assert status_counts(session)["failed"] == 0
        assert status_counts(session)["queued"] == 5
    pipeline.card.unpause()
    sender.drain()
    assert pipeline.card.total_supply() == 5


def test_minter_without_funds_waits_visibly_and_resumes_after_funding(pipeline: Pipeline) -> None:
    poor = Account.create()
    pipeline.card.grant_role("MINTER_ROLE", poor.address)
    pipeline.enqueue(10)
    sender = MintSender(
        pipeline.sessions,
        pipeline.chain.w3,
        poor,
        pipeline.card.contract.abi,
        SenderConfig(rebroadcast_after_seconds=0, batch_wait_seconds=0),
    )
    sender.send_batch()
    result = sender.step()
    assert result.waiting_reason is not None
    assert "too little ETH" in result.waiting_reason
    with pipeline.sessions() as session:
        errors = set(session.scalars(select(MintJobRow.last_error)))
    assert errors == {f"waiting: minter {poor.address} has too little ETH for gas"}
    assert pipeline.card.total_supply() == 0

    funder = pipeline.chain.dev_accounts()[1]
    pipeline.chain.w3.eth.wait_for_transaction_receipt(
        pipeline.chain.w3.eth.send_transaction(
            {"from": funder.address, "to": poor.address, "value": Web3.to_wei(1, "ether")}
        )
    )
    sender.drain()
    assert pipeline.card.total_supply() == 10
    with pipeline.sessions() as session:
        assert set(session.scalars(select(MintJobRow.last_error))) == {None}


def test_reorg_before_confirmation_depth_confirms_nothing_early(pipeline: Pipeline) -> None:
    pipeline.enqueue(20)
    _rpc(pipeline.chain, "evm_mine")  # block N-1: empty, so the reorg takes only our transaction
    sender = pipeline.sender(confirmations=3, rebroadcast_after_seconds=0)
    sender.step()  # sent and mined (automine) in block N
    sender.step()
    (tx,) = _txs(pipeline)
    assert tx.status == "mined"
    first_block = tx.block_number
    _rpc(pipeline.chain, "anvil_reorg", 2, [])  # blocks N-1.. replaced: our transaction is gone
    assert pipeline.card.total_supply() == 0
    for _ in range(3):
        _rpc(pipeline.chain, "evm_mine")
        sender.step()
        with pipeline.sessions() as session:
            assert status_counts(session)["confirmed"] == 0  # nothing confirmed on a vanished block
    for _ in range(10):  # the vanished transaction is found missing, rebroadcast, mined, buried
        sender.step()
        if _txs(pipeline)[0].status == "confirmed":
            break
        _rpc(pipeline.chain, "evm_mine")
    (tx,) = _txs(pipeline)
    assert tx.status == "confirmed"
    assert tx.block_number != first_block  # re-mined from the same stored bytes
    assert len(_attempts(pipeline)) == 1
    assert pipeline.card.total_supply() == 20
    with pipeline.sessions() as session:
        assert status_counts(session)["confirmed"] == 20


def test_two_senders_on_one_key_never_share_a_nonce_under_a_lease(pipeline: Pipeline) -> None:
    pipeline.enqueue(200)
    workers = [
        MintWorker(
            pipeline.sessions,
            pipeline.chain.w3,
            pipeline.minter,
            pipeline.card.contract.abi,
            SenderConfig(batch_size=20),
        )
        for _ in range(2)
    ]
    stops = [threading.Event() for _ in workers]
    threads = [threading.Thread(target=w.run, args=(s,)) for w, s in zip(workers, stops, strict=True)]
    for thread in threads:
        thread.start()
    try:
        with pipeline.sessions() as session:
            _wait_until(lambda: status_counts(session)["confirmed"] == 200)
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(10)
    nonces = [tx.nonce for tx in _txs(pipeline)]
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    assert pipeline.card.total_supply() == 200
