"""Base of the typed contract clients: the backend never touches a raw ABI.

A client wraps one deployed contract and, optionally, the local account that signs its
transactions. Reads go through `_call`, writes through `_transact`; both turn a revert into
`ContractReverted` with the custom error's name and arguments (see `minting.reverts`).
"""

from __future__ import annotations

from typing import Any, Self

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from minting.compiler import Artifact
from minting.errors import ChainLayerError, ContractReverted, TransactionFailed
from minting.reverts import translate
from minting.transactions import send_transaction


def role_id(role: str | bytes) -> bytes:
    """An AccessControl role id: `DEFAULT_ADMIN_ROLE` is zero, any other is keccak256(name)."""
    if isinstance(role, bytes):
        return role
    return b"\x00" * 32 if role == "DEFAULT_ADMIN_ROLE" else bytes(Web3.keccak(text=role))


class ContractClient:
    """One deployed contract, read and written with decoded reverts."""

    def __init__(self, w3: Web3, contract: Contract, account: LocalAccount | None = None) -> None:
        self.w3 = w3
        self.contract = contract
        self.account = account

    @classmethod
    def at(cls, w3: Web3, artifact: Artifact, address: str, account: LocalAccount | None = None) -> Self:
        return cls(w3, w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi), account)

    @classmethod
    def deploy_contract(
        cls, w3: Web3, artifact: Artifact, account: LocalAccount, *constructor_args: Any, gas: int | None = None
    ) -> tuple[Self, TxReceipt]:
        """Deploy `artifact` signed by `account`; the client signs with `account` too.

        `gas` skips the node's estimate (slow on eth-tester for a deployment).
        """
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        params: dict[str, Any] = {"from": account.address}
        if gas is not None:
            params["gas"] = gas
        receipt = send_transaction(w3, account, factory.constructor(*constructor_args).build_transaction(params))
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deploying {artifact.name} created no contract", receipt=receipt)
        return cls.at(w3, artifact, address, account), receipt

    @property
    def address(self) -> ChecksumAddress:
        return self.contract.address

    def as_account(self, account: LocalAccount) -> Self:
        """The same contract, with transactions signed by `account`."""
        return type(self)(self.w3, self.contract, account)

    def _reverted(self, exc: BaseException) -> ContractReverted | None:
        return translate(self.contract.abi, exc)

    def _call(self, function: ContractFunction, **params: Any) -> Any:
        try:
            return function.call(params or None)  # type: ignore[arg-type]
        except Exception as exc:
            reverted = self._reverted(exc)
            if reverted is None:
                raise
            raise reverted from exc

    def _transact(self, function: ContractFunction, *, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Sign with this client's account, send, and wait; raise `ContractReverted` on revert.

        Without `gas` the node estimates it, which also surfaces a revert before anything is
        sent. Hot paths pass `gas` (eth-tester's estimate re-executes the call many times).
        """
        if self.account is None:
            raise ChainLayerError(f"{type(self).__name__} has no account to sign with: use as_account()")
        params: dict[str, Any] = {"from": self.account.address, "value": value}
        if gas is not None:
            params["gas"] = gas
        try:
            tx = function.build_transaction(params)  # type: ignore[arg-type]
        except Exception as exc:
            reverted = self._reverted(exc)
            if reverted is None:
                raise
            raise reverted from exc
        try:
            return send_transaction(self.w3, self.account, tx)
        except TransactionFailed as exc:
            if exc.receipt is None:
                raise
            # Mined and reverted: replay it on the state it ran against to learn why.
            try:
                function.call(params, block_identifier=int(exc.receipt["blockNumber"]) - 1)  # type: ignore[arg-type]
            except Exception as replay:
                reverted = self._reverted(replay)
                if reverted is not None:
                    raise reverted from exc
            raise

    def has_role(self, role: str | bytes, account: str) -> bool:
        """Whether `account` holds `role` (a name such as "MINTER_ROLE", or its id)."""
        return bool(self._call(self.contract.functions.hasRole(role_id(role), Web3.to_checksum_address(account))))

    def grant_role(self, role: str | bytes, account: str) -> TxReceipt:
        return self._transact(self.contract.functions.grantRole(role_id(role), Web3.to_checksum_address(account)))

    def events(self, receipt: TxReceipt, name: str) -> list[EventData]:
        """Decoded `name` events of this contract in `receipt`."""
        event = getattr(self.contract.events, name)()
        logs = [log for log in receipt["logs"] if log["address"] == self.contract.address]
        return list(event.process_receipt({**receipt, "logs": logs}, errors=DISCARD))
