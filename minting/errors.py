"""Every error the chain layer raises, under one root, each with an actionable message.

    ChainLayerError
     ├── CompilerError
     │    ├── CompilerNotFound        no usable solc (native or solc-js)
     │    └── CompilationFailed       the sources do not compile: one `file:line: message` each
     ├── ChainConnectionError
     │    ├── UnsupportedChainURL     a URL scheme `connect()` does not know
     │    ├── NodeUnreachable         nothing answers JSON-RPC at the URL
     │    └── AnvilNotInstalled       the anvil binary from npm is missing
     ├── DeploymentError
     │    ├── ManifestChainMismatch   the manifest was written on another chain
     │    ├── ContractCodeMissing     no code at an address the manifest names
     │    ├── DeployerKeyMissing      a non-dev chain and no deployer key configured
     │    └── SignerKeyInvalid        a configured key or keystore cannot be loaded
     ├── ReorgTooDeep                 the chain changed below an indexer's re-read window
 └── TransactionFailed            a transaction reverted or was never mined
      └── ContractReverted        a revert decoded to the contract's custom error and arguments

The messages are written for the person at the terminal: they say what is wrong and what
to do, in one line, and never contain a key.
"""

from __future__ import annotations

from typing import Any


def first_line(exc: BaseException, limit: int | None = 160) -> str:
    """The first line of `exc`'s message, cut to `limit` (its type's name if it has none): what
    a loop that retries logs, without a node's or a driver's multi-line dump (`None`: uncut)."""
    text = str(exc)
    return text.splitlines()[0][:limit] if text else type(exc).__name__


class ChainLayerError(Exception):
    """Root of every error raised by `minting`."""


class CompilerError(ChainLayerError):
    """The Solidity compiler could not be found or did not compile."""


class CompilerNotFound(CompilerError):
    """No usable solc binary: neither SOLC_BINARY, a py-solc-x install, nor solc-js."""


class CompilationFailed(CompilerError):
    """The sources do not compile; `errors` holds one `file:line: message` per error."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("compilation failed:\n" + "\n".join(errors))


class ChainConnectionError(ChainLayerError):
    """A chain URL could not be turned into a working connection."""


class UnsupportedChainURL(ChainConnectionError):
    """The URL's scheme is not one `connect()` knows."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"unsupported chain URL {url!r}: use eth-tester://, anvil://[127.0.0.1:PORT], http://… or https://…"
        )


class NodeUnreachable(ChainConnectionError):
    """Nothing answers JSON-RPC at the URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"cannot reach an Ethereum node at {url}: {reason}")


class AnvilNotInstalled(ChainConnectionError):
    """The anvil binary shipped by the npm package @foundry-rs/anvil is missing."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"anvil not found at {path}: run `npm ci` in the repository "
            "(package @foundry-rs/anvil) or set FURUSATO_ANVIL_BINARY"
        )


class DeploymentError(ChainLayerError):
    """A deployment manifest does not match the chain, or a deployment cannot proceed."""


class ManifestChainMismatch(DeploymentError):
    """The manifest was written on another chain than the one connected."""

    def __init__(self, path: str, manifest_chain_id: int, node_chain_id: int) -> None:
        self.manifest_chain_id = manifest_chain_id
        self.node_chain_id = node_chain_id
        super().__init__(
            f"deployment manifest {path} is for chain {manifest_chain_id} but the node is "
            f"chain {node_chain_id}: use another data directory or the matching chain"
        )


class ContractCodeMissing(DeploymentError):
    """The manifest names an address that holds no code on the connected chain."""

    def __init__(self, path: str, name: str, address: str, chain_id: int) -> None:
        self.name = name
        self.address = address
        super().__init__(
            f"no code for {name} at {address} on chain {chain_id} (manifest {path}): "
            "the chain was reset; remove the manifest to deploy again"
        )


class ContractOutdated(DeploymentError):
    """The manifest names a contract deployed from older code that lacks what this code calls."""

    def __init__(self, path: str, name: str, address: str, missing: str) -> None:
        self.name = name
        self.address = address
        super().__init__(
            f"{name} at {address} (manifest {path}) was deployed from older code without {missing}: "
            "its data directory cannot serve this version; start with a new --data-dir "
            "(or remove this one to deploy afresh)"
        )


class DeployerKeyMissing(DeploymentError):
    """A chain without pre-funded dev accounts needs an explicit deployer key."""

    def __init__(self, chain_id: int) -> None:
        super().__init__(
            f"chain {chain_id} is not a development chain: set FURUSATO_DEPLOYER_KEY (hex private key) to deploy"
        )


class SignerKeyInvalid(DeploymentError):
    """A configured private key or keystore cannot be loaded (the message never holds the key)."""


class ReorgTooDeep(ChainLayerError):
    """The chain changed below the re-read window: the indexer cannot know what to undo."""

    def __init__(self, name: str, block_number: int, reorg_depth: int) -> None:
        self.name = name
        self.block_number = block_number
        super().__init__(
            f"indexer {name!r}: block {block_number} changed, deeper than reorg_depth={reorg_depth}; "
            f"raise reorg_depth, or delete the cursor and its transfers to re-index from start_block"
        )


class TransactionFailed(ChainLayerError):
    """A transaction reverted or was not mined in time; `receipt` is set when it was mined."""

    def __init__(self, message: str, *, receipt: Any = None) -> None:
        self.receipt = receipt
        super().__init__(message)


class ContractReverted(TransactionFailed):
    """A call or transaction reverted with the contract's custom error `error`.

    `args` maps the error's parameter names to their decoded values; `data` is the raw
    revert data.
    """

    def __init__(self, error: str, args: dict[str, Any], data: bytes) -> None:
        self.error = error
        self.arguments = args
        self.data = data
        shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
        super().__init__(f"reverted with {error}({shown})")
