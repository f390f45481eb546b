"""Deployment on eth-tester: the card contract works, and manifests are checked against the node."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from minting.chains import Chain
from minting.compiler import CompiledTree
from minting.deploy import Manifest, deploy_contracts, ensure_deployed, verify_manifest
from minting.errors import ContractCodeMissing, ContractOutdated, DeployerKeyMissing, ManifestChainMismatch
from minting.naming_rights import NamingRightsClient, signed_proposals_supported
from minting.resident_card import ResidentCardClient
from tests.contracts.naming_fixtures import deploy_artifact, naming_test_artifacts

pytestmark = pytest.mark.chain


def test_deploy_then_call_the_card(eth_tester_chain: Chain, compiled: CompiledTree) -> None:
    deployer, holder = eth_tester_chain.dev_accounts()[:2]
    manifest = deploy_contracts(eth_tester_chain, compiled, deployer, metadata_base_url="https://town.example")
    address = manifest.addresses()["ResidentCard"]
    card = ResidentCardClient.at(eth_tester_chain.w3, compiled["ResidentCard"], address, deployer)

    assert manifest.chain_id == eth_tester_chain.chain_id
    assert set(manifest.addresses()) == {"ResidentCard", "NamingRights"}
    rights = NamingRightsClient.at(eth_tester_chain.w3, compiled["NamingRights"], manifest.addresses()["NamingRights"])
    assert rights.has_role("MODERATOR_ROLE", deployer.address)
    assert card.contract.functions.name().call() == "Furusato Digital Resident Card"
    assert card.has_role("MINTER_ROLE", deployer.address)
    card.add_series(1, 100)
    card.mint_batch([holder.address], [7])
    assert card.owner_of(7) == holder.address
    assert card.token_uri(7) == f"https://town.example/api/v1/tokens/{address}/7"


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


def _with_rights_at(manifest: Manifest, address: str) -> Manifest:
    rights = manifest.contracts["NamingRights"]
    moved = rights.__class__(**{**rights.__dict__, "address": address})
    return Manifest(**{**manifest.__dict__, "contracts": {**manifest.contracts, "NamingRights": moved}})


def test_manifest_naming_rights_without_signed_proposals_is_refused(
    eth_tester_chain: Chain, compiled: CompiledTree, tmp_path: Path
) -> None:
    """A data directory from before `proposeNameWithSig` must not start and fail later on a
    relayed proposal: its NamingRights answers no (or another) EIP-712 domain."""
    deployer = eth_tester_chain.dev_accounts()[0]
    manifest = deploy_contracts(eth_tester_chain, compiled, deployer)
    verify_manifest(eth_tester_chain.w3, manifest, tmp_path / "manifest.json")
    assert signed_proposals_supported(eth_tester_chain.w3, manifest.contracts["NamingRights"].address)
    no_domain = deploy_artifact(eth_tester_chain.w3, naming_test_artifacts()["FundsProbe"], deployer).address
    other_domain = manifest.contracts["ResidentCard"].address  # EIP-712, but the card's domain
    for address in (no_domain, other_domain):
        assert not signed_proposals_supported(eth_tester_chain.w3, address)
        with pytest.raises(ContractOutdated, match=f"NamingRights at {address} .* without signed name proposals"):
            verify_manifest(eth_tester_chain.w3, _with_rights_at(manifest, address), tmp_path / "manifest.json")


def test_non_dev_chain_needs_a_deployer_key(eth_tester_chain: Chain, compiled: CompiledTree, tmp_path: Path) -> None:
    eth_tester_chain.kind = "rpc"
    eth_tester_chain._dev_accounts = []
    with pytest.raises(DeployerKeyMissing, match="FURUSATO_DEPLOYER_KEY"):
        ensure_deployed(eth_tester_chain, tmp_path / "m.json", lambda: compiled)
