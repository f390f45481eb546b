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
    ReorgTooDeep,
    SignerKeyInvalid,
    TransactionFailed,
    UnsupportedChainURL,
)
from minting.indexer import Indexer
from minting.jobs import NewJob
from minting.naming_rights import Lot, LotConfig, NamingRightsClient
from minting.resident_card import MintResult, ResidentCardClient, Series
from minting.sender import MintSender, SenderConfig
from minting.signing import MovePermit, Voucher
from minting.worker import MintWorker

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
    "Indexer",
    "Lot",
    "LotConfig",
    "Manifest",
    "ManifestChainMismatch",
    "MintResult",
    "MintSender",
    "MintWorker",
    "MovePermit",
    "NamingRightsClient",
    "NewJob",
    "NodeUnreachable",
    "ReorgTooDeep",
    "ResidentCardClient",
    "SenderConfig",
    "Series",
    "SignerKeyInvalid",
    "TransactionFailed",
    "UnsupportedChainURL",
    "Voucher",
    "compile_contracts",
    "connect",
    "deploy_contracts",
    "ensure_deployed",
    "verify_manifest",
]
