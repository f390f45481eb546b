"""Crash trials on anvil: a worker process SIGKILLed at each window of the pipeline, then
restarted; every job ends confirmed exactly once and the signer's nonces have no gap."""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from minting.anvil import AnvilNode
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.jobs import status_counts
from minting.store import ChainTxRow
from tests.conftest import FURUSATO, REPO_ROOT
from tests.minting.pipeline_fixtures import Pipeline, build_pipeline, recipient_for

pytestmark = pytest.mark.anvil

JOBS = 300
FAILPOINTS = ("before_sign", "after_store", "after_broadcast", "before_receipt")
TRIALS = 10


@pytest.fixture(scope="module")
def anvil_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with AnvilNode(tmp_path_factory.mktemp("anvil")) as node, connect(node.url) as chain:
        yield chain


def _worker(pipeline: Pipeline, database_url: str, failpoint: str | None) -> subprocess.Popen[str]:
    env = {**os.environ, "FURUSATO_MINTER_KEY": "0x" + bytes(pipeline.minter.key).hex()}
    env.pop("FURUSATO_FAILPOINT", None)
    if failpoint:
        env["FURUSATO_FAILPOINT"] = failpoint
    return subprocess.Popen(
        [*FURUSATO, "worker", "--chain", pipeline.chain.url, "--database-url", database_url, "--batch-size", "50"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_all_confirmed(pipeline: Pipeline, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pipeline.sessions() as session:
            if status_counts(session)["confirmed"] == JOBS:
                return
        time.sleep(0.1)
    with pipeline.sessions() as session:
        raise AssertionError(f"not all confirmed: {status_counts(session)}")


@pytest.mark.parametrize("seed", range(TRIALS))
def test_worker_killed_at_any_instant_mints_every_job_exactly_once(
    seed: int, anvil_chain: Chain, compiled: CompiledTree, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    failpoint = f"{FAILPOINTS[seed % len(FAILPOINTS)]}:{rng.randint(1, 4)}"
    database_url = f"sqlite:///{tmp_path}/crash.db"
    pipeline = build_pipeline(anvil_chain, compiled, database_url)
    pipeline.enqueue(JOBS)

    crashed = _worker(pipeline, database_url, failpoint)
    crashed.wait(timeout=120)
    assert crashed.returncode == -9, f"{failpoint} never hit: {crashed.stdout.read() if crashed.stdout else ''}"

    restarted = _worker(pipeline, database_url, None)
    try:
        _wait_all_confirmed(pipeline)
    finally:
        restarted.send_signal(2)
        try:
            output, _ = restarted.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            restarted.kill()
            output, _ = restarted.communicate()
    assert restarted.returncode == 0, output

    card = pipeline.card
    assert card.total_supply() == JOBS
    assert all(card.owner_of(token_id) == recipient_for(token_id) for token_id in rng.sample(range(1, JOBS + 1), 40))
    assert [card.balance_of(recipient_for(token_id)) for token_id in (1, JOBS)] == [1, 1]
    with pipeline.sessions() as session:
        nonces = sorted(tx.nonce for tx in session.scalars(select(ChainTxRow).where(ChainTxRow.status == "confirmed")))
        statuses = set(session.scalars(select(ChainTxRow.status)))
    assert statuses == {"confirmed"}  # nothing dropped, nothing re-signed for another nonce
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))  # no gap, none twice
    assert anvil_chain.w3.eth.get_transaction_count(pipeline.minter.address) == nonces[-1] + 1
    pipeline.engine.dispose()
