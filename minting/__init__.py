"""Furusato's chain layer: compile, connect, deploy. Knows no HTTP and never imports `backend`."""

from minting.chains import Chain, connect
from minting.client import ContractClient
from minting.compiler import SOLC_VERSION, Artifact, CompiledTree, compile_contracts
from minting.deploy import Manifest, deploy_contracts, ensure_deployed, verify_manifest
from minting.errors import (
    AnvilNotInstalled,
    ChainConnectionError,
    ChainLayerError,
    CompilationFailed,
    CompilerError,
    CompilerNotFound,
    ContractCodeMissing,
    ContractReverted,
    DeployerKeyMissing,
    DeploymentError,
    ManifestChainMismatch,
    NodeUnreachable,
    TransactionFailed,
    UnsupportedChainURL,
)
from minting.naming_rights import Lot, LotConfig, NamingRightsClient
from minting.resident_card import MintResult, ResidentCardClient, Series
from minting.signing import MovePermit, Voucher

__all__ = [
    "SOLC_VERSION",
    "AnvilNotInstalled",
    "Artifact",
    "Chain",
    "ChainConnectionError",
    "ChainLayerError",
    "CompilationFailed",
    "CompiledTree",
    "CompilerError",
    "CompilerNotFound",
    "ContractClient",
    "ContractCodeMissing",
    "ContractReverted",
    "DeployerKeyMissing",
    "DeploymentError",
    "Lot",
    "LotConfig",
    "Manifest",
    "ManifestChainMismatch",
    "MintResult",
    "MovePermit",
    "NamingRightsClient",
    "NodeUnreachable",
    "ResidentCardClient",
    "Series",
    "TransactionFailed",
    "UnsupportedChainURL",
    "Voucher",
    "compile_contracts",
    "connect",
    "deploy_contracts",
    "ensure_deployed",
    "verify_manifest",
]
