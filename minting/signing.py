"""EIP-712 messages the resident card contract accepts, and signing them with eth-account.

The domain is read from the contract itself (ERC-5267 `eip712Domain()`), so a signature
is bound to that contract on that chain: the same voucher is worthless anywhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

VOUCHER_TYPES = {
    "Voucher": [
        {"name": "buyer", "type": "address"},
        {"name": "tokenId", "type": "uint256"},
        {"name": "price", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
        {"name": "orderRef", "type": "bytes32"},
    ]
}
MOVE_TYPES = {
    "Move": [
        {"name": "holder", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "tokenId", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class Domain:
    """An EIP-712 domain: name, version, chain and verifying contract."""

    name: str
    version: str
    chainId: int  # noqa: N815 - EIP-712 field name
    verifyingContract: str  # noqa: N815 - EIP-712 field name

    @classmethod
    def of(cls, contract: Contract) -> Domain:
        """The domain `contract` reports through ERC-5267 `eip712Domain()`."""
        _fields, name, version, chain_id, verifying_contract, _salt, _extensions = (
            contract.functions.eip712Domain().call()
        )
        return cls(name, version, int(chain_id), verifying_contract)


@dataclass(frozen=True)
class Voucher:
    """The backend's authorisation for `buyer` to buy card `tokenId` for `price` wei on-chain."""

    buyer: str
    tokenId: int  # noqa: N815 - the struct's field name
    price: int
    deadline: int
    orderRef: bytes  # noqa: N815 - 32 bytes, the order's reference

    def as_tuple(self) -> tuple[str, int, int, int, bytes]:
        return (self.buyer, self.tokenId, self.price, self.deadline, self.orderRef)


@dataclass(frozen=True)
class MovePermit:
    """A holder's consent to move card `tokenId` to `to`, valid once (nonce) until `deadline`."""

    holder: str
    to: str
    tokenId: int  # noqa: N815
    nonce: int
    deadline: int


def _sign(account: LocalAccount, domain: Domain, types: dict[str, Any], primary: str, message: Any) -> bytes:
    signed = account.sign_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                **types,
            },
            "primaryType": primary,
            "domain": asdict(domain),
            "message": asdict(message),
        }
    )
    return bytes(signed.signature)


def sign_voucher(signer: LocalAccount, domain: Domain, voucher: Voucher) -> bytes:
    """Signature of `voucher` by an account holding the contract's SIGNER_ROLE."""
    return _sign(signer, domain, VOUCHER_TYPES, "Voucher", voucher)


def sign_move_permit(holder: LocalAccount, domain: Domain, permit: MovePermit) -> bytes:
    """Signature of `permit` by the card's holder (e.g. a walletless holder's custodial key)."""
    return _sign(holder, domain, MOVE_TYPES, "Move", permit)
