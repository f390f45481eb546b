"""The mint sender on eth-tester: batching, exactly once, crash windows, reconciliation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from minting import failpoints
from minting.jobs import ConfirmedJob, FailedJob, NewJob, QueuedJob, SentJob, enqueue, job_state, status_counts
from minting.sender import MintSender, SenderConfig, encode_mint_batch
from minting.store import ChainTxRow, MintJobRow, SignerNonceRow, TxAttemptRow
from minting.worker import MintWorker
from tests.minting.pipeline_fixtures import Pipeline, pipeline, recipient_for

__all__ = ["pipeline"]
pytestmark = pytest.mark.chain


def test_enqueue_twice_is_a_no_op(pipeline: Pipeline) -> None:
    pipeline.enqueue(3)
    with pipeline.sessions.begin() as session:
        again = enqueue(
            session, pipeline.chain.chain_id, [NewJob("order-1", pipeline.card.address, 1, recipient_for(1))]
        )
        other_order_same_token = enqueue(
            session, pipeline.chain.chain_id, [NewJob("order-x", pipeline.card.address, 2, recipient_for(2))]
        )
    assert (again, other_order_same_token) == (0, 0)
    with pipeline.sessions() as session:
        assert status_counts(session)["queued"] == 3
        assert job_state(session, "order-1") == QueuedJob(
            "order-1", pipeline.chain.chain_id, pipeline.card.address, 1, recipient_for(1)
        )


def test_a_job_for_the_zero_address_is_refused_before_it_can_fail_a_batch(pipeline: Pipeline) -> None:
    zero = NewJob("order-0", pipeline.card.address, 1, "0x" + "0" * 40)
    with pytest.raises(ValueError, match="zero address"), pipeline.sessions.begin() as session:
        enqueue(session, pipeline.chain.chain_id, [NewJob("order-1", pipeline.card.address, 2, recipient_for(2)), zero])
    with pipeline.sessions() as session:
        assert sum(status_counts(session).values()) == 0


def test_jobs_are_minted_in_batches_exactly_once(pipeline: Pipeline) -> None:
    pipeline.enqueue(250)
    sender = pipeline.sender(batch_size=100)
    sender.drain()
    assert pipeline.card.total_supply() == 250
    assert [pipeline.card.owner_of(i) for i in (1, 100, 101, 250)] == [recipient_for(i) for i in (1, 100, 101, 250)]
    with pipeline.sessions() as session:
        assert status_counts(session) == {"queued": 0, "sent": 0, "mined": 0, "confirmed": 250, "failed": 0}
        nonces = sorted(session.scalars(select(ChainTxRow.nonce)))
        assert len(nonces) == 3  # 100 + 100 + 50
        assert nonces == list(range(nonces[0], nonces[0] + 3))  # contiguous
        state = job_state(session, "order-250")
    assert isinstance(state, ConfirmedJob)
    assert state.block_number >= 1


def test_signed_bytes_are_stored_before_broadcast_and_rebroadcast_after_a_crash(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.enqueue(10)
    sender = pipeline.sender()

    def crash(raw: bytes) -> None:
        raise KeyboardInterrupt("killed between commit and broadcast")

    monkeypatch.setattr(sender, "_broadcast", crash)
    with pytest.raises(KeyboardInterrupt):
        sender.send_batch()
    monkeypatch.undo()
    assert pipeline.card.total_supply() == 0
    with pipeline.sessions() as session:
        (attempt,) = session.scalars(select(TxAttemptRow)).all()
        assert isinstance(job_state(session, "order-1"), SentJob)

    restarted = pipeline.sender()  # a new process: same database, same key
    restarted.drain()
    assert pipeline.card.total_supply() == 10
    with pipeline.sessions() as session:
        (tx,) = session.scalars(select(ChainTxRow)).all()
        assert tx.mined_hash == attempt.tx_hash  # the stored bytes were sent, not re-signed
        assert len(session.scalars(select(TxAttemptRow)).all()) == 1


def test_nonce_used_by_another_transaction_requeues_what_is_not_minted(pipeline: Pipeline) -> None:
    pipeline.enqueue(5)
    sender = pipeline.sender()
    with pipeline.sessions.begin() as session:  # allocate the nonce the sender will use
        session.add(
            SignerNonceRow(
                chain_id=pipeline.chain.chain_id,
                signer=pipeline.minter.address,
                next_nonce=pipeline.chain.w3.eth.get_transaction_count(pipeline.minter.address),
            )
        )
    original = sender._broadcast
    sender._broadcast = lambda raw: None  # type: ignore[method-assign]  # signed and stored, "lost" on the way
    sender.send_batch()
    sender._broadcast = original  # type: ignore[method-assign]
    # Someone else uses the key: the nonce goes to another transaction (two of the ids with it).
    pipeline.card.mint_batch([recipient_for(1), recipient_for(2)], [1, 2])
    sender.drain()
    assert pipeline.card.total_supply() == 5
    with pipeline.sessions() as session:
        statuses = [tx.status for tx in session.scalars(select(ChainTxRow).order_by(ChainTxRow.nonce))]
        assert statuses[0] == "dropped"
        assert status_counts(session)["confirmed"] == 5


@pytest.mark.parametrize("count", [1, 3, 100])
def test_mint_batch_calldata_matches_eth_abi(count: int) -> None:
    recipients = [recipient_for(i) for i in range(count)]
    ids = [2**63 - i for i in range(count)]
    expected = function_signature_to_4byte_selector("mintBatch(address[],uint256[])") + encode(
        ["address[]", "uint256[]"], [recipients, ids]
    )
    assert encode_mint_batch(recipients, ids) == expected


def test_batch_refused_by_the_contract_fails_its_jobs_with_the_reason(pipeline: Pipeline) -> None:
    outside = 2_000_000  # beyond the series (1 … 1,000,000)
    with pipeline.sessions.begin() as session:
        enqueue(
            session, pipeline.chain.chain_id, [NewJob("order-out", pipeline.card.address, outside, recipient_for(1))]
        )
    pipeline.sender().drain()
    with pipeline.sessions() as session:
        state = job_state(session, "order-out")
    assert isinstance(state, FailedJob)
    assert state.error == f"mintBatch reverted: ResidentCardIdOutsideSeries(tokenId={outside})"


def test_a_job_the_contract_refuses_fails_alone_and_its_batch_mates_are_minted(pipeline: Pipeline) -> None:
    outside = 2_000_000
    good = pipeline.enqueue(4)
    with pipeline.sessions.begin() as session:
        enqueue(
            session, pipeline.chain.chain_id, [NewJob("order-out", pipeline.card.address, outside, recipient_for(9))]
        )
    sender = pipeline.sender(batch_size=10)
    sender.drain()
    with pipeline.sessions() as session:
        bad = job_state(session, "order-out")
        states = [job_state(session, job.order_ref) for job in good]
        reverted = session.scalars(select(ChainTxRow).where(ChainTxRow.status == "reverted")).all()
    assert isinstance(bad, FailedJob)
    assert bad.error == f"mintBatch reverted: ResidentCardIdOutsideSeries(tokenId={outside})"
    assert len(reverted) == 1  # the five went out together once
    assert all(isinstance(state, ConfirmedJob) for state in states), states
    assert [pipeline.card.owner_of(job.token_id) for job in good] == [job.recipient for job in good]


def test_jobs_wait_while_the_contract_is_paused(pipeline: Pipeline) -> None:
    pipeline.enqueue(5)
    pipeline.card.pause()
    sender = pipeline.sender()
    sender.step()  # the batch reverts: paused
    sender.step()  # tracked: jobs queued again, waiting
    result = sender.step()
    assert result.waiting_reason == f"the card contract {pipeline.card.address} is paused"
    with pipeline.sessions() as session:
        assert status_counts(session)["queued"] == 5
        assert len(session.scalars(select(ChainTxRow)).all()) == 1  # no gas burnt in a loop
    pipeline.card.unpause()
    sender.drain()
    assert pipeline.card.total_supply() == 5


def test_a_partial_batch_waits_for_more_jobs_until_its_deadline(pipeline: Pipeline) -> None:
    pipeline.enqueue(3)
    now = datetime.now(UTC)
    waiting = MintSender(
        pipeline.sessions,
        pipeline.chain.w3,
        pipeline.minter,
        pipeline.card.contract.abi,
        SenderConfig(batch_size=10, batch_wait_seconds=60),
        clock=lambda: now,
    )
    assert waiting.send_batch() is None  # 3 of 10, the oldest waited less than 60 s
    later = MintSender(
        pipeline.sessions,
        pipeline.chain.w3,
        pipeline.minter,
        pipeline.card.contract.abi,
        SenderConfig(batch_size=10, batch_wait_seconds=60),
        clock=lambda: now + timedelta(seconds=61),
    )
    sent = later.send_batch()
    assert sent is not None
    assert sent[1] == 3


def test_jobs_another_worker_claimed_meanwhile_are_not_sent_twice(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the claim's read runs outside the transaction: the claim itself must check."""
    pipeline.enqueue(3)
    real_hit = failpoints.hit

    def another_worker_claims_order_2(name: str) -> None:
        if name == "before_sign":
            with pipeline.sessions.begin() as other:
                other.execute(update(MintJobRow).where(MintJobRow.order_ref == "order-2").values(status="sent"))
        real_hit(name)

    monkeypatch.setattr(failpoints, "hit", another_worker_claims_order_2)
    assert pipeline.sender().send_batch() is None
    with pipeline.sessions() as session:
        assert session.scalars(select(ChainTxRow.id)).all() == []  # nothing stored, so nothing sent
        assert session.scalars(select(SignerNonceRow.next_nonce)).all() in ([], [0])  # no nonce spent
        assert status_counts(session)["queued"] == 2


def test_the_worker_outlives_a_database_error_outside_its_send_step(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = MintWorker(pipeline.sessions, pipeline.chain.w3, pipeline.minter, pipeline.card.contract.abi)
    real_acquire = worker.lease.acquire
    failures = iter([OperationalError("SELECT … FROM worker_leases", {}, Exception("database is locked"))])

    def acquire_after_one_failure() -> bool:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real_acquire()

    monkeypatch.setattr(worker.lease, "acquire", acquire_after_one_failure)
    pipeline.enqueue(5)
    thread, stop = worker.start_thread()
    try:
        deadline = time.monotonic() + 30
        while pipeline.card.total_supply() < 5 and time.monotonic() < deadline and thread.is_alive():
            stop.wait(0.05)
        assert thread.is_alive()
        assert pipeline.card.total_supply() == 5
    finally:
        stop.set()
        thread.join(10)


def test_a_batch_mixing_series_far_down_the_list_has_gas_enough(pipeline: Pipeline) -> None:
    """Jobs of the last two of 40 soulbound series, queued turn about (two drops selling at
    once): unsorted, each card made `mintBatch` walk the series list again and ran out of gas."""
    firsts = [2_000_000 + 1_000 * k for k in range(39)]
    for first in firsts:
        pipeline.card.add_series(first, first + 99, soulbound=True)
    jobs = [
        NewJob(f"mixed-{index}", pipeline.card.address, firsts[-1 - index % 2] + index // 2, recipient_for(index))
        for index in range(100)
    ]
    with pipeline.sessions.begin() as session:
        enqueue(session, pipeline.chain.chain_id, jobs)
    pipeline.sender(batch_size=100).drain()
    with pipeline.sessions() as session:
        assert status_counts(session)["confirmed"] == 100
        assert session.scalars(select(ChainTxRow.status)).all() == ["confirmed"]  # one batch, not reverted
    assert all(pipeline.card.owner_of(job.token_id) == job.recipient for job in jobs)


def test_a_job_whose_token_someone_else_holds_fails_instead_of_confirming(pipeline: Pipeline) -> None:
    """`mintBatch` skips an id that exists: the job is done only if its recipient holds it."""
    stranger = recipient_for(999)
    pipeline.card.mint_batch([stranger], [7])  # issued outside the pipeline
    jobs = pipeline.enqueue(10)
    pipeline.sender().drain()
    with pipeline.sessions() as session:
        states = {job.token_id: job_state(session, job.order_ref) for job in jobs}
    seventh = states.pop(7)
    assert isinstance(seventh, FailedJob)
    assert seventh.error == f"token 7 is owned by {stranger}, not by the job's recipient"
    assert all(isinstance(state, ConfirmedJob) for state in states.values()), states
