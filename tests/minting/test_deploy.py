"""Deployment on eth-tester: the card contract works, and manifests are checked against the node."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from minting.chains import Chain
from minting.compiler import CompiledTree
from minting.deploy import Manifest, contract_at, deploy_contracts, ensure_deployed, verify_manifest
from minting.errors import ContractCodeMissing, DeployerKeyMissing, ManifestChainMismatch

pytestmark = pytest.mark.chain


def _card(chain: Chain, compiled: CompiledTree, manifest: Manifest) -> Contract:
    return contract_at(chain.w3, compiled["ResidentCard"], manifest.addresses()["ResidentCard"])


def test_deploy_then_call_the_card(eth_tester_chain: Chain, compiled: CompiledTree) -> None:
    deployer = eth_tester_chain.dev_accounts()[0]
    manifest = deploy_contracts(eth_tester_chain, compiled, deployer, metadata_base_url="https://town.example")
    card = _card(eth_tester_chain, compiled, manifest)
    address = manifest.contracts["ResidentCard"].address

    assert manifest.chain_id == eth_tester_chain.chain_id
    assert card.functions.name().call() == "Furusato Digital Resident Card"
    assert card.functions.hasRole(card.functions.MINTER_ROLE().call(), deployer.address).call()
    assert card.functions.supportsInterface(bytes.fromhex("80ac58cd")).call()  # ERC-721
    assert card.functions.supportsInterface(bytes.fromhex("49064906")).call()  # ERC-4906

    holder = eth_tester_chain.dev_accounts()[1].address
    tx = card.functions.mintBatch([holder], [7]).transact({"from": deployer.address})
    eth_tester_chain.w3.eth.wait_for_transaction_receipt(tx)
    assert card.functions.ownerOf(7).call() == holder
    assert card.functions.tokenURI(7).call() == f"https://town.example/api/v1/tokens/{address}/7"


def test_replayed_batch_mints_only_what_is_missing(eth_tester_chain: Chain, compiled: CompiledTree) -> None:
    deployer = eth_tester_chain.dev_accounts()[0]
    card = _card(eth_tester_chain, compiled, deploy_contracts(eth_tester_chain, compiled, deployer))
    holders = [account.address for account in eth_tester_chain.dev_accounts()[1:4]]
    card.functions.mintBatch(holders[:2], [1, 2]).transact({"from": deployer.address})

    replay = card.functions.mintBatch(holders, [1, 2, 3]).transact({"from": deployer.address})
    receipt = eth_tester_chain.w3.eth.wait_for_transaction_receipt(replay)
    issued = card.events.CardIssued().process_receipt(receipt, errors=DISCARD)

    assert [event["args"]["tokenId"] for event in issued] == [3]
    assert card.functions.balanceOf(holders[0]).call() == 1
    assert [card.functions.ownerOf(i).call() for i in (1, 2, 3)] == holders


def test_manifest_round_trips_and_restart_does_not_redeploy(
    eth_tester_chain: Chain, compiled: CompiledTree, tmp_path: Path
) -> None:
    path = tmp_path / "manifest.json"
    loads: list[int] = []

    def loader() -> CompiledTree:
        loads.append(1)
        return compiled

    first, deployed = ensure_deployed(eth_tester_chain, path, loader)
    again, deployed_again = ensure_deployed(eth_tester_chain, path, loader)

    assert (deployed, deployed_again) == (True, False)
    assert loads == [1]  # a restart never touches the compiler
    assert again == first == Manifest.load(path)


def test_manifest_from_another_chain_is_refused(
    eth_tester_chain: Chain, compiled: CompiledTree, tmp_path: Path
) -> None:
    manifest = deploy_contracts(eth_tester_chain, compiled, eth_tester_chain.dev_accounts()[0])
    foreign = Manifest(**{**manifest.__dict__, "chain_id": 137})
    with pytest.raises(ManifestChainMismatch, match="is for chain 137 but the node is chain"):
        verify_manifest(eth_tester_chain.w3, foreign, tmp_path / "manifest.json")


def test_manifest_address_without_code_is_refused(
    eth_tester_chain: Chain, compiled: CompiledTree, tmp_path: Path
) -> None:
    manifest = deploy_contracts(eth_tester_chain, compiled, eth_tester_chain.dev_accounts()[0])
    contract = manifest.contracts["ResidentCard"]
    empty = Web3.to_checksum_address("0x" + "11" * 20)
    moved = Manifest(
        **{
            **manifest.__dict__,
            "contracts": {"ResidentCard": contract.__class__(**{**contract.__dict__, "address": empty})},
        }
    )
    with pytest.raises(ContractCodeMissing, match=f"no code for ResidentCard at {empty}"):
        verify_manifest(eth_tester_chain.w3, moved, tmp_path / "manifest.json")


def test_non_dev_chain_needs_a_deployer_key(eth_tester_chain: Chain, compiled: CompiledTree, tmp_path: Path) -> None:
    eth_tester_chain.kind = "rpc"
    eth_tester_chain._dev_accounts = []
    with pytest.raises(DeployerKeyMissing, match="FURUSATO_DEPLOYER_KEY"):
        ensure_deployed(eth_tester_chain, tmp_path / "m.json", lambda: compiled)
