"""Furusato's chain layer: compile, connect, deploy. Knows no HTTP and never imports `backend`."""

from minting.chains import Chain, connect
from minting.compiler import SOLC_VERSION, Artifact, CompiledTree, compile_contracts
from minting.deploy import Manifest, contract_at, deploy_contracts, ensure_deployed, verify_manifest
from minting.errors import (
    AnvilNotInstalled,
    ChainConnectionError,
    ChainLayerError,
    CompilationFailed,
    CompilerError,
    CompilerNotFound,
    ContractCodeMissing,
    DeployerKeyMissing,
    DeploymentError,
    ManifestChainMismatch,
    NodeUnreachable,
    TransactionFailed,
    UnsupportedChainURL,
)

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
    "ContractCodeMissing",
    "DeployerKeyMissing",
    "DeploymentError",
    "Manifest",
    "ManifestChainMismatch",
    "NodeUnreachable",
    "TransactionFailed",
    "UnsupportedChainURL",
    "compile_contracts",
    "connect",
    "contract_at",
    "deploy_contracts",
    "ensure_deployed",
    "verify_manifest",
]
