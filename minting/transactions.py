"""Sign and send one transaction with a local key, and wait for its receipt.

This is the simple path for one-off administrative transactions (deployment, settings).
Minting at volume goes through the crash-safe sender, which stores each signed transaction
before broadcasting it.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import TimeExhausted
from web3.types import TxParams, TxReceipt

from minting.errors import TransactionFailed

#: web3's default 0.1 s polling caps a fast node at ~10 receipts a second.
RECEIPT_POLL_SECONDS = 0.02
RECEIPT_TIMEOUT_SECONDS = 120.0
GAS_HEADROOM = 1.2


def market_fees(w3: Web3) -> tuple[int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas) for a new transaction: 2 × base fee + tip, tip."""
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    tip = int(w3.eth.max_priority_fee)
    return 2 * base_fee + tip, tip


def send_transaction(w3: Web3, account: LocalAccount, tx: TxParams | dict[str, Any]) -> TxReceipt:
    """Fill nonce, chain id, fees and gas; sign with `account`; wait for a successful receipt.

    Raises `TransactionFailed` if the transaction reverts or is not mined in time.
    """
    params: dict[str, Any] = dict(tx)
    params.setdefault("from", account.address)
    params.setdefault("chainId", w3.eth.chain_id)
    params.setdefault("nonce", w3.eth.get_transaction_count(account.address, "pending"))
    if "gasPrice" not in params and "maxFeePerGas" not in params:
        params["maxFeePerGas"], params["maxPriorityFeePerGas"] = market_fees(w3)
    if "gas" not in params:
        params["gas"] = int(w3.eth.estimate_gas(params) * GAS_HEADROOM)  # type: ignore[arg-type]
    signed = account.sign_transaction(params)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    try:
        receipt = w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=RECEIPT_TIMEOUT_SECONDS, poll_latency=RECEIPT_POLL_SECONDS
        )
    except TimeExhausted as exc:
        raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} not mined in time") from exc
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} reverted", receipt=receipt)
    return receipt
