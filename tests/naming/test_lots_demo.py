"""The demo: `furusato run` seeds a park whose naming right is up for auction at once, created
on chain like any other lot, and a restart adds nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3

from backend.towns.contracts import contract_tree
from minting.naming_rights import LotStatus, NamingRightsClient

pytestmark = pytest.mark.anvil


def _lot(url: str, lot_id: int) -> Any:
    return requests.get(f"{url}/api/v1/lots/{lot_id}", timeout=10)


def test_the_demo_lot_is_open_on_chain_and_seeded_once(tmp_path: Path, start_server: Any) -> None:
    first = start_server(["--data-dir", str(tmp_path)])
    health = first.wait_healthy()
    lot = _lot(first.url, 1)
    assert lot.status_code == 200, lot.text
    shown = lot.json()
    assert shown["status"] == "open"
    assert shown["park_name_ja"] == "星川中央公園"
    assert shown["park_name_en"] == "Hoshikawa Central Park"
    assert shown["municipality"] == "hoshikawa"
    now = datetime.now(UTC)
    ends = datetime.fromisoformat(shown["ends_at"])
    assert now + timedelta(days=4) < ends <= now + timedelta(days=5)
    assert datetime.fromisoformat(shown["term_start"]) <= now < datetime.fromisoformat(shown["term_end"])
    assert shown["chain"]["contract"] == health["contracts"]["NamingRights"]
    first.stop()

    second = start_server(["--data-dir", str(tmp_path)])
    second.wait_healthy()
    assert _lot(second.url, 1).json()["ends_at"] == shown["ends_at"]
    assert _lot(second.url, 2).status_code == 404
    w3 = Web3(Web3.HTTPProvider(_node_url(tmp_path)))
    rights = NamingRightsClient.at(w3, contract_tree()["NamingRights"], shown["chain"]["contract"])
    assert rights.lot_count() == 1
    on_chain = rights.lot(shown["chain"]["lot_id"])
    assert on_chain.status is LotStatus.OPEN
    assert on_chain.default_name == "星川中央公園"
    assert on_chain.auction_end == int(datetime.fromisoformat(shown["auction_end"]).timestamp())
    second.stop()


def _node_url(data_dir: Path) -> str:
    from minting.anvil import running_node_url

    found = running_node_url(data_dir)
    assert found is not None, "anvil is not running for this data directory"
    return found


def test_an_api_process_without_the_mint_worker_still_settles_auctions(tmp_path: Path, start_server: Any) -> None:
    """The busy-launch setup runs API processes with FURUSATO_MINT_WORKER=0 and the mint worker
    apart (`furusato worker`, which has no runtime for the naming loops): the API processes
    must close auctions themselves, or no lot would ever end."""
    import sqlite3

    server = start_server(["--data-dir", str(tmp_path)], env={"FURUSATO_MINT_WORKER": "false"})
    server.wait_healthy()
    assert _lot(server.url, 1).json()["status"] == "open"
    ended = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S.000000")
    with sqlite3.connect(tmp_path / "furusato.db") as db:  # the demo lot ends now, without a bid
        assert db.execute("UPDATE lots SET ends_at = ? WHERE id = 1", (ended,)).rowcount == 1
    deadline = time.monotonic() + 60
    while _lot(server.url, 1).json()["status"] != "unsold":  # the loop's next round, seconds away
        assert time.monotonic() < deadline, "the settle loop did not close the lot"
        time.sleep(0.2)
    server.stop()
