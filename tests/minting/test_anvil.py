"""anvil as a real node: start → deploy → stop → start keeps state, addresses and height."""

from __future__ import annotations

from pathlib import Path

import pytest

from minting.anvil import PID_FILE, AnvilNode, free_port
from minting.chains import connect
from minting.compiler import CompiledTree
from minting.deploy import MANIFEST_FILE, Manifest, ensure_deployed
from minting.errors import NodeUnreachable
from minting.resident_card import ResidentCardClient

pytestmark = pytest.mark.anvil


def test_state_and_addresses_survive_a_restart(tmp_path: Path, compiled: CompiledTree) -> None:
    manifest_path = tmp_path / MANIFEST_FILE
    with connect("anvil://", tmp_path) as chain:
        assert chain.chain_id == 31337
        manifest, deployed = ensure_deployed(chain, manifest_path, lambda: compiled)
        minter, holder = chain.dev_accounts()[0], chain.dev_accounts()[1]
        card = ResidentCardClient.at(chain.w3, compiled["ResidentCard"], manifest.addresses()["ResidentCard"], minter)
        card.add_series(1, 100)
        card.mint_batch([holder.address], [42])
        height = chain.w3.eth.block_number
        first_port = chain.node.port if chain.node else None
    assert deployed
    assert not (tmp_path / PID_FILE).exists()

    with connect("anvil://", tmp_path) as chain:
        again, deployed_again = ensure_deployed(chain, manifest_path, lambda: pytest.fail("must not compile"))
        card = ResidentCardClient.at(chain.w3, compiled["ResidentCard"], again.addresses()["ResidentCard"])
        assert not deployed_again
        assert again == manifest == Manifest.load(manifest_path)
        assert chain.w3.eth.block_number >= height
        assert card.owner_of(42) == holder.address
        assert chain.node is not None
        assert chain.node.port is not None
        assert first_port is not None


def test_given_port_is_used(tmp_path: Path) -> None:
    port = free_port()
    with connect(f"anvil://127.0.0.1:{port}", tmp_path) as chain:
        assert chain.node is not None
        assert chain.node.url == f"http://127.0.0.1:{port}"
        assert chain.w3.eth.chain_id == 31337


def test_busy_port_is_reported(tmp_path: Path) -> None:
    with AnvilNode(tmp_path / "a") as node, pytest.raises(NodeUnreachable, match="already in use"):
        connect(f"anvil://127.0.0.1:{node.port}", tmp_path / "b")


def test_node_left_by_a_killed_process_is_stopped_before_a_new_one(tmp_path: Path) -> None:
    orphan = AnvilNode(tmp_path).start()
    leftover, orphan.process = orphan.process, None  # forgotten, as by a process killed with SIGKILL
    assert leftover is not None

    with AnvilNode(tmp_path) as node:
        assert leftover.poll() is not None  # stopped before the new node started on the same state
        assert node.process is not None
        assert node.process.pid != leftover.pid
        assert (tmp_path / PID_FILE).read_text() == str(node.process.pid)
