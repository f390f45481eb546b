"""Mint pipeline benchmark on anvil: queued jobs → confirmed cards, through the database.

    .venv/bin/python scripts/bench/mint_pipeline.py [--jobs 10000] [--naive 500] [--postgres URL]

In one run, on one anvil node:
- **raw ceiling** — pre-signed `mintBatch` transactions of 100 cards sent back to back, no
  database: the most this node can take;
- **naive path** — one web3-default `transact` + `wait_for_transaction_receipt` per card (a
  sample of `--naive` cards);
- **pipeline** — `--jobs` jobs enqueued, then the mint worker until every job is confirmed,
  on SQLite and (when reachable) on PostgreSQL.
Prints tokens/s for each and the pipeline's ratios to the other two.
Targets: ≥ 1,000 tokens/s, ≥ 0.4× the raw ceiling, ≥ 100× the naive path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from web3 import Web3

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from backend.core.db import make_engine, make_session_factory, migrate  # noqa: E402  # noqa: E402
from minting.anvil import AnvilNode  # noqa: E402
from minting.chains import Chain, connect  # noqa: E402
from minting.compiler import compile_contracts  # noqa: E402
from minting.jobs import NewJob, enqueue, status_counts  # noqa: E402
from minting.resident_card import ResidentCardClient, mint_batch_gas  # noqa: E402
from minting.sender import SenderConfig  # noqa: E402
from minting.worker import MintWorker  # noqa: E402

BATCH = 100


def holder(token_id: int, salt: str) -> str:
    return Web3.to_checksum_address(Web3.keccak(text=f"{salt}-{token_id}")[-20:])


def new_card(chain: Chain) -> ResidentCardClient:
    admin = chain.dev_accounts()[0]
    card, _ = ResidentCardClient.deploy(chain.w3, compile_contracts()["ResidentCard"], admin, name="B", symbol="B")
    card.add_series(1, 10_000_000)
    return card


def raw_ceiling(chain: Chain, batches: int = 30) -> float:
    card = new_card(chain)
    account, w3 = chain.dev_accounts()[0], chain.w3
    nonce = w3.eth.get_transaction_count(account.address)
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
    signed = []
    for b in range(batches):
        ids = list(range(1 + b * BATCH, 1 + (b + 1) * BATCH))
        tx = card.contract.functions.mintBatch([holder(i, "raw") for i in ids], ids).build_transaction(
            {
                "from": account.address,
                "nonce": nonce + b,
                "gas": mint_batch_gas(BATCH),
                "maxFeePerGas": 2 * base_fee + 10**9,
                "maxPriorityFeePerGas": 10**9,
                "chainId": w3.eth.chain_id,
            }
        )
        signed.append(account.sign_transaction(tx).raw_transaction)
    started = time.perf_counter()
    hashes = [w3.eth.send_raw_transaction(raw) for raw in signed]
    w3.eth.wait_for_transaction_receipt(hashes[-1], poll_latency=0.005)
    elapsed = time.perf_counter() - started
    assert card.total_supply() == batches * BATCH
    return batches * BATCH / elapsed


def naive(chain: Chain, count: int) -> float:
    card = new_card(chain)
    account = chain.dev_accounts()[0].address
    started = time.perf_counter()
    for token_id in range(1, count + 1):
        tx_hash = card.contract.functions.mintBatch([holder(token_id, "naive")], [token_id]).transact({"from": account})
        chain.w3.eth.wait_for_transaction_receipt(tx_hash)  # web3's default 0.1 s polling
    elapsed = time.perf_counter() - started
    assert card.total_supply() == count
    return count / elapsed


def pipeline(chain: Chain, database_url: str, jobs: int) -> float:
    card = new_card(chain)
    engine = make_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    chain_id = chain.chain_id
    with sessions.begin() as session:
        for start in range(1, jobs + 1, 1_000):
            enqueue(
                session,
                chain_id,
                [
                    NewJob(f"bench-{token_id}", card.address, token_id, holder(token_id, "pipe"))
                    for token_id in range(start, min(start + 1_000, jobs + 1))
                ],
            )
    worker = MintWorker(sessions, chain.w3, chain.dev_accounts()[0], card.contract.abi, SenderConfig(batch_size=BATCH))
    stop = threading.Event()
    started = time.perf_counter()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        while True:
            with sessions() as session:
                counts = status_counts(session)
            if counts["confirmed"] == jobs:
                break
            if counts["failed"]:
                raise SystemExit(f"jobs failed: {counts}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
        engine.dispose()
    assert card.total_supply() == jobs
    return jobs / elapsed


def throwaway_postgres(admin_url: str) -> tuple[str, object] | None:
    """A new database on the server at `admin_url`, or None if unreachable."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"furusato_bench_{uuid.uuid4().hex[:8]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc.__class__.__name__}")
        return None
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://root@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, AnvilNode(Path(data_dir)) as node, connect(node.url) as chain:
        ceiling = raw_ceiling(chain)
        print(f"raw ceiling (pre-signed mintBatch x{BATCH}, no database): {ceiling:8,.0f} tokens/s")
        slow = naive(chain, args.naive)
        print(f"naive path (transact + wait per token, {args.naive} tokens):   {slow:8,.1f} tokens/s")
        results = {"SQLite": pipeline(chain, f"sqlite:///{data_dir}/bench.db", args.jobs)}
        postgres = throwaway_postgres(args.postgres)
        if postgres is not None:
            url, drop = postgres
            try:
                results["PostgreSQL"] = pipeline(chain, url, args.jobs)
            finally:
                drop()  # type: ignore[operator]
    ok = True
    for database, rate in results.items():
        met = rate >= 1_000 and rate / ceiling >= 0.4 and rate / slow >= 100
        ok = ok and met
        print(
            f"pipeline, {database:10} {args.jobs:,} jobs: {rate:8,.0f} tokens/s"
            f"  = {rate / ceiling:.2f}x raw ceiling, {rate / slow:,.0f}x naive  [{'targets met' if met else 'MISSED'}]"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
