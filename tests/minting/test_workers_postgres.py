"""Two `furusato worker` processes on one key and one PostgreSQL database: every nonce used
once, no gap, every job minted once — also when the lease holder is killed mid-way."""

from __future__ import annotations

import os
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
from minting.worker import Lease
from tests.conftest import FURUSATO, REPO_ROOT
from tests.minting.pipeline_fixtures import Pipeline, build_pipeline, recipient_for

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]

JOBS = 1_000


@pytest.fixture
def pg_pipeline(tmp_path: Path, compiled: CompiledTree, postgres_url: str) -> Iterator[tuple[Pipeline, str]]:
    with AnvilNode(tmp_path / "anvil") as node, connect(node.url) as chain:
        built = build_pipeline(chain, compiled, postgres_url)
        yield built, postgres_url
        built.engine.dispose()


def _worker(chain: Chain, pipeline: Pipeline, database_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FURUSATO_MINTER_KEY": "0x" + bytes(pipeline.minter.key).hex()}
    env.pop("FURUSATO_FAILPOINT", None)
    return subprocess.Popen(
        [*FURUSATO, "worker", "--chain", chain.url, "--database-url", database_url, "--batch-size", "25"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_two_worker_processes_on_one_key_use_each_nonce_once(pg_pipeline: tuple[Pipeline, str]) -> None:
    pipeline, database_url = pg_pipeline
    pipeline.enqueue(JOBS)
    workers = [_worker(pipeline.chain, pipeline, database_url) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        killed = False
        while time.monotonic() < deadline:
            with pipeline.sessions() as session:
                counts = status_counts(session)
            if not killed and counts["confirmed"] >= JOBS // 4:
                workers[0].kill()  # the lease holder (or not): the other must finish alone
                killed = True
            if counts["confirmed"] == JOBS:
                break
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    with pipeline.sessions() as session:
        assert status_counts(session)["confirmed"] == JOBS
        nonces = sorted(session.scalars(select(ChainTxRow.nonce)))
    assert len(nonces) == len(set(nonces))
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    assert pipeline.card.total_supply() == JOBS
    assert pipeline.card.owner_of(JOBS) == recipient_for(JOBS)


def test_lease_of_a_dead_worker_expires(pg_pipeline: tuple[Pipeline, str]) -> None:
    pipeline, _ = pg_pipeline
    chain_id, signer = pipeline.chain.chain_id, pipeline.minter.address
    first = Lease(pipeline.sessions, chain_id, signer, "worker-a", seconds=0.5)
    second = Lease(pipeline.sessions, chain_id, signer, "worker-b", seconds=0.5)
    assert first.acquire()
    assert first.acquire()  # renewing is fine
    assert not second.acquire()  # held by a (now silent) worker
    deadline = time.monotonic() + 5
    while not second.acquire():  # no renewal: it expires
        assert time.monotonic() < deadline, "lease never expired"
        time.sleep(0.05)
    assert not first.acquire()  # the old holder lost it
    second.release()
    assert first.acquire()
