"""Crash trials of the exactly-once sender on anvil: a process deploying a contract and adding
a series through `OnceSender` is SIGKILLed at each failpoint, then run again; the chain holds
exactly one deployment and one series, and the signer's nonce moved by exactly two."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.core.db import make_engine, make_session_factory, migrate
from minting.anvil import AnvilNode
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.resident_card import ResidentCardClient
from minting.store import OnceAttemptRow, OnceTxRow
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.anvil

#: The child: deploy a card, then add a series to it, each through OnceSender; print the address.
CHILD = """
import sys
from backend.core.db import make_engine, make_session_factory
from minting.chains import connect
from minting.compiler import compile_contracts
from minting.once import OnceSender, call_tx, deploy_tx
from minting.resident_card import ResidentCardClient

database_url, chain_url = sys.argv[1], sys.argv[2]
artifact = compile_contracts()["ResidentCard"]
with connect(chain_url) as chain:
    account = chain.dev_accounts()[0]
    sender = OnceSender(make_session_factory(make_engine(database_url)), chain.w3, account)
    a = account.address
    deployed = sender.send("crash:card:deploy", deploy_tx(chain.w3, artifact, "Crash Card", "CRASH", "", a, a, 500))
    card = ResidentCardClient.at(chain.w3, artifact, deployed.contract_address)
    sender.send("crash:card:series", call_tx(card.contract, "addSeries", 1, 10, 0, 0, 2**64 - 1, 0, False))
    print(deployed.contract_address)
"""

TRIALS = [
    "once_after_store:1",  # deployment stored, not broadcast
    "once_after_broadcast:1",  # deployment broadcast, receipt not read
    "once_after_store:2",  # deployment mined and recorded; series stored, not broadcast
    "once_after_broadcast:2",  # series broadcast, receipt not read
]


@pytest.fixture(scope="module")
def anvil_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with AnvilNode(tmp_path_factory.mktemp("anvil")) as node, connect(node.url) as chain:
        yield chain


def _child(database_url: str, chain_url: str, failpoint: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "FURUSATO_FAILPOINT"}
    if failpoint:
        env["FURUSATO_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-c", CHILD, database_url, chain_url],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("failpoint", TRIALS)
def test_killed_at_each_failpoint_then_run_again_sends_each_purpose_once(
    failpoint: str, anvil_chain: Chain, compiled: CompiledTree, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path}/once.db"
    engine = make_engine(database_url)
    migrate(engine)
    signer = anvil_chain.dev_accounts()[0].address
    before = anvil_chain.w3.eth.get_transaction_count(signer)

    crashed = _child(database_url, anvil_chain.url, failpoint)
    assert crashed.returncode == -9, f"{failpoint} never hit: {crashed.stdout}{crashed.stderr}"
    finished = _child(database_url, anvil_chain.url, None)
    assert finished.returncode == 0, finished.stderr
    again = _child(database_url, anvil_chain.url, None)  # a third run changes nothing
    assert again.returncode == 0, again.stderr
    address = finished.stdout.strip()
    assert again.stdout.strip() == address

    assert anvil_chain.w3.eth.get_transaction_count(signer) == before + 2  # one deployment, one series
    card = ResidentCardClient.at(anvil_chain.w3, compiled["ResidentCard"], address)
    assert card.series_count() == 1
    sessions = make_session_factory(engine)
    with sessions() as session:
        rows = session.scalars(select(OnceTxRow).order_by(OnceTxRow.id)).all()
        assert [(row.purpose, row.status, row.receipt_status) for row in rows] == [
            ("crash:card:deploy", "mined", 1),
            ("crash:card:series", "mined", 1),
        ]
        assert rows[0].contract_address == address
        assert len(session.scalars(select(OnceAttemptRow)).all()) == 2  # the stored bytes, never re-signed
    engine.dispose()
