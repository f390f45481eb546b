"""The `wallet` provider: the buyer pays on chain by redeeming EIP-712 vouchers we sign.

One voucher per card: it binds the buyer's address, the card's id (its serial number), the
price in wei, a deadline (the order's expiry) and the order's reference, under a domain that
binds chain and contract. The indexer sees the purchase as a mint to the buyer.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from backend.sales.drops import card_artifact
from minting.resident_card import ResidentCardClient
from minting.signing import Domain, Voucher, sign_voucher


def order_ref(order_id: str) -> bytes:
    """The bytes32 an order is known by on chain (`CardPurchased.orderRef`)."""
    return bytes(Web3.keccak(text=order_id))


@lru_cache(maxsize=64)
def _domain(w3: Web3, contract: str) -> Domain:
    """The card contract's EIP-712 domain, read once per contract (it never changes)."""
    return ResidentCardClient.at(w3, card_artifact(), contract).domain()


def vouchers_for(
    w3: Web3,
    signer: LocalAccount,
    *,
    contract: str,
    buyer: str,
    token_ids: list[int],
    price_wei: int,
    deadline: datetime,
    order_id: str,
) -> list[dict[str, Any]]:
    """Signed vouchers, as the JSON the buyer's wallet page submits to `purchase`."""
    domain = _domain(w3, Web3.to_checksum_address(contract))
    signed = []
    for token_id in token_ids:
        voucher = Voucher(
            Web3.to_checksum_address(buyer), token_id, price_wei, int(deadline.timestamp()), order_ref(order_id)
        )
        signed.append(
            {
                "chain_id": domain.chainId,
                "contract": domain.verifyingContract,
                "buyer": voucher.buyer,
                "token_id": token_id,
                "price_wei": str(price_wei),
                "deadline": voucher.deadline,
                "order_ref": "0x" + voucher.orderRef.hex(),
                "signature": "0x" + sign_voucher(signer, domain, voucher).hex(),
            }
        )
    return signed
