"""`furusato run` mints in-process: jobs put in its database (here directly, for ids of the
seeded demo drop's series) are minted by its worker thread and show up in its indexer's tables."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from backend.core.db import make_engine, make_session_factory
from minting.anvil import free_port
from minting.chains import connect
from minting.compiler import CompiledTree
from minting.indexer import owner_of
from minting.jobs import NewJob, enqueue, status_counts
from minting.resident_card import ResidentCardClient
from tests.minting.pipeline_fixtures import recipient_for

pytestmark = pytest.mark.anvil


def test_run_mints_queued_jobs_and_indexes_them(tmp_path: Path, start_server: Any, compiled: CompiledTree) -> None:
    port = free_port()
    server = start_server(["--data-dir", str(tmp_path), "--chain", f"anvil://127.0.0.1:{port}"])
    health = server.wait_healthy()
    card_address = json.loads((tmp_path / "manifest.json").read_text())["contracts"]["ResidentCard"]["address"]
    assert health["contracts"]["ResidentCard"] == card_address

    with connect(f"http://127.0.0.1:{port}") as chain:
        card = ResidentCardClient.at(chain.w3, compiled["ResidentCard"], card_address)
        assert card.series(0).first_id == 1  # the demo drop's series: ids 1…1,000
        engine = make_engine(f"sqlite:///{tmp_path}/furusato.db")
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            enqueue(
                session, chain.chain_id, [NewJob(f"o-{i}", card_address, i, recipient_for(i)) for i in range(1, 151)]
            )
        deadline = time.monotonic() + 60
        while True:
            with sessions() as session:
                confirmed = status_counts(session)["confirmed"]
                indexed = owner_of(session, chain.chain_id, card_address, 150)
            if confirmed == 150 and indexed is not None:
                break
            assert time.monotonic() < deadline, f"confirmed {confirmed}, indexed {indexed}"
            time.sleep(0.1)
        assert card.total_supply() == 150
        with sessions() as session:
            assert owner_of(session, chain.chain_id, card_address, 7) == card.owner_of(7) == recipient_for(7)
        engine.dispose()
    assert "Furusato stopped." in server.stop()
