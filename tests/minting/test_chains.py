"""`connect()`: every URL scheme, and clear errors for the ones that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from minting.chains import connect
from minting.errors import AnvilNotInstalled, NodeUnreachable, UnsupportedChainURL


@pytest.mark.parametrize("url", ["ftp://x", "anvil://example.com:8545", "nonsense", "http://"])
def test_connect_rejects_unsupported_url(url: str) -> None:
    with pytest.raises(UnsupportedChainURL, match="unsupported chain URL"):
        connect(url)


def test_connect_reports_unreachable_node() -> None:
    with pytest.raises(NodeUnreachable, match=r"http://127\.0\.0\.1:1: connection refused"):
        connect("http://127.0.0.1:1")


def test_missing_anvil_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FURUSATO_ANVIL_BINARY", str(tmp_path / "no-anvil"))
    with pytest.raises(AnvilNotInstalled, match="npm ci") as raised:
        connect("anvil://", tmp_path)
    assert "\n" not in str(raised.value)


@pytest.mark.chain
def test_eth_tester_chain_runs_cancun_with_funded_dev_accounts() -> None:
    with connect("eth-tester://") as chain:
        vm = chain.w3.provider.ethereum_tester.backend.chain.get_vm()  # type: ignore[attr-defined]
        assert type(vm).__name__ == "CancunVM"
        accounts = chain.dev_accounts()
        assert accounts
        assert chain.w3.eth.get_balance(accounts[0].address) > 10**18
        assert chain.is_dev


@pytest.mark.chain
def test_eth_tester_chains_are_fresh_every_time() -> None:
    with connect("eth-tester://") as first:
        first.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        assert first.w3.eth.block_number == 1
    with connect("eth-tester://") as second:
        assert second.w3.eth.block_number == 0
