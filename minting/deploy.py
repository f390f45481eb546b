"""Deploy the contracts and keep a manifest of where they are.

The manifest (`<data_dir>/manifest.json`) records the chain id, each contract's address and
deployment transaction, and the artifact key it was built from. At start-up the backend
checks it against the node: a manifest from another chain, an address without code
(a chain that was reset), or a contract deployed from older code that lacks a function this
code calls (a NamingRights from before signed name proposals), stops start-up with one clear
line instead of talking to nothing. Contracts are never redeployed over a data directory:
its database refers to their tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from minting.chains import Chain
from minting.compiler import CompiledTree
from minting.errors import ContractCodeMissing, ContractOutdated, DeploymentError, ManifestChainMismatch
from minting.keys import load_signer
from minting.naming_rights import NamingRightsClient, signed_proposals_supported
from minting.resident_card import ResidentCardClient

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class DeployedContract:
    """One contract on chain: where it is and which transaction put it there."""

    name: str
    address: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class Manifest:
    """Where a deployment's contracts live, on which chain, built from which artifacts."""

    chain_id: int
    artifact_key: str
    deployer: str
    deployed_at: str
    contracts: dict[str, DeployedContract]

    def addresses(self) -> dict[str, str]:
        return {name: contract.address for name, contract in self.contracts.items()}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            contracts = {name: DeployedContract(**entry) for name, entry in data.pop("contracts").items()}
            return cls(contracts=contracts, **data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DeploymentError(f"unreadable deployment manifest {path}: {exc}") from exc


def deploy_contracts(
    chain: Chain,
    tree: CompiledTree,
    deployer: LocalAccount,
    *,
    card_name: str = "Furusato Digital Resident Card",
    card_symbol: str = "FURUSATO",
    metadata_base_url: str = "http://127.0.0.1:8000",
) -> Manifest:
    """Deploy the resident card and naming-rights contracts, with `deployer` holding every
    role, and point their token URIs at the backend's metadata route."""
    base = metadata_base_url.rstrip("/")
    card, card_receipt = ResidentCardClient.deploy(
        chain.w3, tree["ResidentCard"], deployer, name=card_name, symbol=card_symbol
    )
    rights, rights_receipt = NamingRightsClient.deploy(chain.w3, tree["NamingRights"], deployer)
    deployed: dict[str, DeployedContract] = {}
    for name, client, receipt in (("ResidentCard", card, card_receipt), ("NamingRights", rights, rights_receipt)):
        client.set_base_uri(f"{base}/api/v1/tokens/{client.address}/")
        deployed[name] = DeployedContract(
            name=name,
            address=client.address,
            tx_hash=receipt["transactionHash"].to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
        )
    return Manifest(
        chain_id=chain.chain_id,
        artifact_key=tree.key,
        deployer=deployer.address,
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        contracts=deployed,
    )


def verify_manifest(w3: Web3, manifest: Manifest, path: Path) -> None:
    """Refuse a manifest from another chain, one whose addresses hold no code, or one whose
    NamingRights predates signed name proposals (probed with one `eth_call`, no compiler)."""
    node_chain_id = int(w3.eth.chain_id)
    if manifest.chain_id != node_chain_id:
        raise ManifestChainMismatch(str(path), manifest.chain_id, node_chain_id)
    for name, contract in manifest.contracts.items():
        if len(w3.eth.get_code(Web3.to_checksum_address(contract.address))) == 0:
            raise ContractCodeMissing(str(path), name, contract.address, node_chain_id)
    rights = manifest.contracts.get("NamingRights")
    if rights is not None and not signed_proposals_supported(w3, rights.address):
        raise ContractOutdated(str(path), "NamingRights", rights.address, "signed name proposals (proposeNameWithSig)")


def ensure_deployed(
    chain: Chain,
    manifest_path: Path | None,
    tree_loader: Callable[[], CompiledTree],
    *,
    deployer_key: str | None = None,
    metadata_base_url: str = "http://127.0.0.1:8000",
) -> tuple[Manifest, bool]:
    """Load and verify the manifest, or deploy and write it on first start.

    Returns the manifest and whether this call deployed. `tree_loader` is called only when a
    deployment is needed, so a restart never touches the compiler. Without a
    `manifest_path` (a throw-away chain) it always deploys and keeps nothing.
    """
    if manifest_path is not None and manifest_path.exists():
        manifest = Manifest.load(manifest_path)
        verify_manifest(chain.w3, manifest, manifest_path)
        return manifest, False
    deployer = load_signer(chain, env_prefix="FURUSATO_DEPLOYER", key=deployer_key)
    manifest = deploy_contracts(chain, tree_loader(), deployer, metadata_base_url=metadata_base_url)
    if manifest_path is not None:
        manifest.save(manifest_path)
    return manifest, True
