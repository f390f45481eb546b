"""The exactly-once sender on PostgreSQL and anvil, under concurrency: processes' worth of
threads sending the same purposes at once make one transaction per purpose, and their nonces
(taken under the row lock the mint sender shares) are all different and leave no gap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.core.db import make_engine, make_session_factory, migrate
from minting.anvil import AnvilNode
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.once import OnceReceipt, OnceSender, call_tx, deploy_tx
from minting.resident_card import ResidentCardClient
from minting.store import OnceAttemptRow, OnceTxRow

pytestmark = [pytest.mark.anvil, pytest.mark.postgres]

THREADS = 8
PURPOSES = 5


@pytest.fixture
def anvil_chain(tmp_path: Path) -> Iterator[Chain]:
    with AnvilNode(tmp_path / "anvil") as node, connect(node.url) as chain:
        yield chain


def test_concurrent_senders_make_one_transaction_per_purpose(
    anvil_chain: Chain, compiled: CompiledTree, postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    account = anvil_chain.dev_accounts()[0]
    deployed = OnceSender(sessions, anvil_chain.w3, account).send(
        "card", deploy_tx(anvil_chain.w3, compiled["ResidentCard"], "C", "C", "", account.address, account.address, 0)
    )
    assert deployed.contract_address is not None
    card = ResidentCardClient.at(anvil_chain.w3, compiled["ResidentCard"], deployed.contract_address)
    before = anvil_chain.w3.eth.get_transaction_count(account.address)
    receipts: dict[str, list[OnceReceipt]] = {f"series:{n}": [] for n in range(PURPOSES)}
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run() -> None:
        sender = OnceSender(sessions, anvil_chain.w3, account)  # one per thread, like processes
        start.wait()
        try:
            for n in range(PURPOSES):
                first = 1 + 100 * n
                tx = call_tx(card.contract, "addSeries", first, first + 99, 0, 0, 2**64 - 1, 0, False, gas=300_000)
                receipts[f"series:{n}"].append(sender.send(f"series:{n}", tx))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(len({receipt.tx_hash for receipt in found}) == 1 for found in receipts.values())
    assert all(receipt.ok for found in receipts.values() for receipt in found)
    assert card.series_count() == PURPOSES
    assert anvil_chain.w3.eth.get_transaction_count(account.address) == before + PURPOSES
    with sessions() as session:
        assert len(session.scalars(select(OnceTxRow)).all()) == PURPOSES + 1
        nonces = sorted(session.scalars(select(OnceAttemptRow.nonce)))
    assert nonces == list(range(nonces[0], nonces[0] + PURPOSES + 1))  # one each, no gap
    engine.dispose()
