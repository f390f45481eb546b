"""Revert data → the contract's custom error, by name and arguments: the one place that does it.

Nodes report a revert differently: web3 raises `ContractCustomError` / `ContractLogicError`
with the hex revert data in `.data` (anvil, any JSON-RPC node); eth-tester raises its own
`TransactionFailed("execution reverted: b'…'")` with the bytes in the message. Both become
`ContractReverted(error, args)`, decoded against the contract's ABI, so callers and tests
match on `error == "ResidentCardSoldOut"`, never on node wording.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from minting.errors import ContractReverted

_EXECUTION_REVERTED = "execution reverted: "
#: Solidity's built-in errors, present in no ABI.
_BUILTIN_ERRORS: dict[bytes, tuple[str, list[str]]] = {
    bytes.fromhex("08c379a0"): ("Error", ["string"]),
    bytes.fromhex("4e487b71"): ("Panic", ["uint256"]),
}


def _abi_type(entry: Mapping[str, Any]) -> str:
    """ABI input → canonical type string (tuples expanded)."""
    kind: str = entry["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(component) for component in entry["components"]) + ")" + kind[5:]
    return kind


def error_selectors(abi: Sequence[Mapping[str, Any]]) -> dict[bytes, tuple[str, list[str], list[str]]]:
    """selector → (error name, argument types, argument names) for every error in `abi`."""
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for entry in abi:
        if entry.get("type") != "error":
            continue
        types = [_abi_type(arg) for arg in entry.get("inputs", [])]
        names = [arg.get("name", "") for arg in entry.get("inputs", [])]
        table[function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")] = (
            entry["name"],
            types,
            names,
        )
    return table


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data a node reported in `exc`, or None if it carries none."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    message = str(exc.args[0]) if exc.args else ""
    if message.startswith(_EXECUTION_REVERTED):  # eth-tester: "execution reverted: b'...'"
        literal = message[len(_EXECUTION_REVERTED) :]
        try:
            value = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            return None
        if isinstance(value, bytes):
            return value
    return None


def is_revert(exc: BaseException) -> bool:
    """True for the exceptions nodes raise when a call or estimate reverts."""
    from web3.exceptions import ContractLogicError

    if isinstance(exc, ContractLogicError):
        return True
    return type(exc).__name__ == "TransactionFailed" and type(exc).__module__.startswith("eth_tester")


def decode_revert(abi: Sequence[Mapping[str, Any]], data: bytes | None) -> ContractReverted:
    """Decode revert `data` against `abi` (plus Solidity's `Error` and `Panic`)."""
    if not data or len(data) < 4:
        return ContractReverted("UnknownRevert", {}, data or b"")
    selector, payload = data[:4], data[4:]
    known = error_selectors(abi)
    if selector in known:
        name, types, names = known[selector]
    elif selector in _BUILTIN_ERRORS:
        name, types = _BUILTIN_ERRORS[selector]
        names = ["message" if name == "Error" else "code"]
    else:
        return ContractReverted("UnknownRevert", {"selector": "0x" + selector.hex()}, data)
    try:
        values = abi_decode(types, payload)
    except Exception:  # malformed payload: keep the name, drop the arguments
        return ContractReverted(name, {}, data)
    values = tuple(
        to_checksum_address(value) if kind == "address" else value for kind, value in zip(types, values, strict=True)
    )
    arguments = {key or f"arg{i}": value for i, (key, value) in enumerate(zip(names, values, strict=True))}
    return ContractReverted(name, arguments, data)


def translate(abi: Sequence[Mapping[str, Any]], exc: BaseException) -> ContractReverted | None:
    """`ContractReverted` for a revert raised by any node, or None if `exc` is not a revert."""
    if not is_revert(exc):
        return None
    return decode_revert(abi, revert_data(exc))
