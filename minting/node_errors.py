"""What a node's refusal of a transaction means: the one module that reads node messages.

Nodes answer `eth_sendRawTransaction` with free-text errors whose wording differs (geth,
anvil, erigon, hosted RPCs). Everything that depends on that wording is here; the sender
only sees `NodeRefusal` values.
"""

from __future__ import annotations

import enum
import logging
import re
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from web3 import Web3


class NodeRefusal(enum.Enum):
    ALREADY_KNOWN = "already_known"  # the same bytes are in the pool: nothing to do
    NONCE_TOO_LOW = "nonce_too_low"  # the nonce is used: mined (ours?) or taken by another tx
    UNDERPRICED = "underpriced"  # a replacement must pay more, or fees are below the base fee
    INSUFFICIENT_FUNDS = "insufficient_funds"  # the signer cannot pay for gas: wait for funding
    UNREACHABLE = "unreachable"  # the node did not answer: try again later
    OTHER = "other"


_PATTERNS: tuple[tuple[NodeRefusal, tuple[str, ...]], ...] = (
    (NodeRefusal.ALREADY_KNOWN, ("already known", "already imported", "known transaction", "alreadyknown")),
    (NodeRefusal.NONCE_TOO_LOW, ("nonce too low", "nonce is too low", "oldnonce", "invalid nonce")),
    (
        NodeRefusal.UNDERPRICED,
        ("underpriced", "fee too low", "less than block base fee", "max fee per gas less than"),
    ),
    (NodeRefusal.INSUFFICIENT_FUNDS, ("insufficient funds", "insufficient balance")),
)


#: eth-tester (py-evm): "Invalid transaction nonce: Expected 3, but got 2".
_EXPECTED_NONCE = re.compile(r"nonce: expected (\d+), but got (\d+)")


def classify(exc: BaseException) -> NodeRefusal:
    """The meaning of an exception raised while broadcasting a transaction."""
    if isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError | TimeoutError):
        return NodeRefusal.UNREACHABLE
    message = str(exc).lower()
    expected = _EXPECTED_NONCE.search(message)
    if expected is not None:
        return NodeRefusal.NONCE_TOO_LOW if int(expected[1]) > int(expected[2]) else NodeRefusal.OTHER
    for refusal, needles in _PATTERNS:
        if any(needle in message for needle in needles):
            return refusal
    return NodeRefusal.OTHER


def broadcast(w3: Web3, raw: bytes, log: logging.Logger) -> NodeRefusal | None:
    """Send stored signed bytes; None when the node took them (or already had them), else
    its refusal (one the patterns above do not know is logged to `log`)."""
    try:
        w3.eth.send_raw_transaction(raw)
    except Exception as exc:
        refusal = classify(exc)
        if refusal is NodeRefusal.ALREADY_KNOWN:
            return None
        if refusal is NodeRefusal.OTHER:
            log.warning("node refused a transaction: %s", exc)
        return refusal
    return None
