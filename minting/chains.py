"""Turn a chain URL into a connected `Web3`: the one door to every chain.

    eth-tester://                  in-process py-evm chain, Cancun, fresh every time (unit tests)
    anvil://                       start anvil on 127.0.0.1 and a free port, state in data_dir
                                   (or join the node a running process started there)
    anvil://127.0.0.1:PORT         the same on a given port
    http://HOST:PORT, https://…    any JSON-RPC node (Polygon, Sepolia, a company node)

`connect()` returns a `Chain`, a context manager that stops the node it started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from minting.anvil import DEV_CHAIN_ID, DEV_MNEMONIC, AnvilNode, running_node_url
from minting.errors import NodeUnreachable, UnsupportedChainURL

DEV_ACCOUNT_COUNT = 10
RPC_TIMEOUT_SECONDS = 10.0

Account.enable_unaudited_hdwallet_features()


@dataclass
class Chain:
    """A connected chain: its `Web3`, the URL it came from and the node we started, if any."""

    url: str
    w3: Web3
    kind: str  # "eth-tester", "anvil" or "rpc"
    #: The node this process started (stopped by `close`); None for a node it only joined.
    node: AnvilNode | None = None
    _dev_accounts: list[LocalAccount] = field(default_factory=list, repr=False)

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    @property
    def is_dev(self) -> bool:
        """True for chains whose pre-funded accounts everyone knows (never hold value)."""
        return self.kind in ("eth-tester", "anvil") or self.chain_id == DEV_CHAIN_ID

    def dev_accounts(self) -> list[LocalAccount]:
        """The pre-funded development accounts, with their keys; empty on real chains."""
        if not self._dev_accounts and self.is_dev and self.kind != "eth-tester":
            self._dev_accounts = [
                Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
                for index in range(DEV_ACCOUNT_COUNT)
            ]
        return list(self._dev_accounts)

    def advance_time(self, seconds: int) -> int:
        """Dev chains only: mine a block `seconds` later than the latest; returns its time."""
        latest = int(self.w3.eth.get_block("latest")["timestamp"])
        target = latest + seconds
        if self.kind == "eth-tester":
            tester = self.w3.provider.ethereum_tester  # type: ignore[attr-defined]
            tester.time_travel(target + 1)  # eth-tester mines the block one second before the time given
        else:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
            self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def close(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never show keys
        return f"Chain(url={self.url!r}, kind={self.kind!r})"


def _revert_preserving_endpoints() -> dict[str, dict[str, Any]]:
    """eth-tester's RPC endpoints, with revert data passed on intact.

    web3's eth-tester provider decodes every revert as `Error(string)`; custom-error data
    that happens to look like a huge string length makes it raise OverflowError instead of a
    revert. Handing it the bytes' repr gives the same "execution reverted: b'…'" it produces
    when decoding fails, which `minting.reverts` decodes.
    """
    from eth_tester.exceptions import TransactionFailed
    from web3.providers.eth_tester.defaults import API_ENDPOINTS

    def guarded(delegator: Callable[..., Any]) -> Callable[..., Any]:
        def call(tester: Any, params: Any) -> Any:
            try:
                return delegator(tester, params)
            except TransactionFailed as exc:
                raw = exc.args[0] if exc.args else None
                if isinstance(raw, Exception):
                    raw = raw.args[0] if raw.args else None
                if isinstance(raw, bytes):
                    raise TransactionFailed(repr(raw)) from exc
                raise

        return call

    endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    for method in ("call", "estimateGas"):
        endpoints["eth"][method] = guarded(endpoints["eth"][method])
    return endpoints


def _eth_tester_chain(url: str) -> Chain:
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend
    from web3.providers.eth_tester import EthereumTesterProvider

    backend = PyEVMBackend(vm_configuration=((0, CancunVM),))
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend), api_endpoints=_revert_preserving_endpoints()))
    accounts = [Account.from_key(key.to_bytes()) for key in backend.account_keys]
    return Chain(url=url, w3=w3, kind="eth-tester", _dev_accounts=accounts)


def _http_web3(url: str) -> Web3:
    provider: Any = Web3.HTTPProvider(
        url,
        request_kwargs={"timeout": RPC_TIMEOUT_SECONDS},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(requests.ConnectionError, requests.Timeout), retries=2, backoff_factor=0.1
        ),
    )
    return Web3(provider)


def _check_reachable(url: str, w3: Web3) -> None:
    try:
        _ = w3.eth.chain_id  # the cheapest call every node answers
    except (requests.RequestException, OSError) as exc:
        reason = "connection refused" if isinstance(exc, requests.ConnectionError) else type(exc).__name__
        raise NodeUnreachable(url, reason) from exc
    except Exception as exc:  # a server that is not a JSON-RPC node answers nonsense
        raise NodeUnreachable(url, f"not a JSON-RPC node ({type(exc).__name__})") from exc


def connect(url: str, data_dir: Path | None = None) -> Chain:
    """Connect to the chain at `url`; `data_dir` holds anvil's state for `anvil://`.

    Raises `UnsupportedChainURL`, `NodeUnreachable` or `AnvilNotInstalled`.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "eth-tester":
        return _eth_tester_chain(url)
    if scheme == "anvil":
        if parts.hostname not in (None, "", "127.0.0.1", "localhost"):
            raise UnsupportedChainURL(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise UnsupportedChainURL(url) from exc
        running = running_node_url(Path(data_dir or "var"))
        if running is not None:  # a live process's node on this state: join it, never a second
            if port is not None and urlsplit(running).port != port:
                raise NodeUnreachable(url, f"this data directory's anvil already runs at {running}")
            w3 = _http_web3(running)
            _check_reachable(running, w3)
            return Chain(url=url, w3=w3, kind="anvil")
        node = AnvilNode(Path(data_dir or "var"), port=port, chain_id=DEV_CHAIN_ID).start()
        chain = Chain(url=url, w3=_http_web3(node.url), kind="anvil", node=node)
        try:
            _check_reachable(node.url, chain.w3)
        except NodeUnreachable:
            chain.close()
            raise
        return chain
    if scheme in ("http", "https") and parts.hostname:
        w3 = _http_web3(url)
        _check_reachable(url, w3)
        return Chain(url=url, w3=w3, kind="rpc")
    raise UnsupportedChainURL(url)
