"""Revert decoding: every node's way of reporting a revert becomes the contract's custom error."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

from minting.chains import connect
from minting.compiler import CompiledTree
from minting.errors import ContractReverted
from minting.resident_card import ResidentCardClient
from minting.reverts import decode_revert, revert_data, translate

ABI = [
    {
        "type": "error",
        "name": "ResidentCardBuyerLimit",
        "inputs": [{"name": "buyer", "type": "address"}, {"name": "cap", "type": "uint32"}],
    }
]
BUYER = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"


def _error_data(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_custom_error_is_decoded_with_named_checksummed_arguments() -> None:
    data = _error_data("ResidentCardBuyerLimit(address,uint32)", ["address", "uint32"], [BUYER.lower(), 2])
    reverted = decode_revert(ABI, data)
    assert reverted.error == "ResidentCardBuyerLimit"
    assert reverted.arguments == {"buyer": BUYER, "cap": 2}
    assert str(reverted) == f"reverted with ResidentCardBuyerLimit(buyer='{BUYER}', cap=2)"


def test_solidity_builtin_errors_are_decoded() -> None:
    assert decode_revert([], _error_data("Error(string)", ["string"], ["sold out"])).arguments == {
        "message": "sold out"
    }
    assert decode_revert([], _error_data("Panic(uint256)", ["uint256"], [0x11])).arguments == {"code": 0x11}


def test_unknown_or_empty_revert_data_is_reported_not_raised() -> None:
    assert decode_revert(ABI, b"").error == "UnknownRevert"
    unknown = decode_revert(ABI, bytes.fromhex("deadbeef") + b"\x00" * 32)
    assert unknown.arguments == {"selector": "0xdeadbeef"}
    malformed = decode_revert(ABI, function_signature_to_4byte_selector("ResidentCardBuyerLimit(address,uint32)"))
    assert (malformed.error, malformed.arguments) == ("ResidentCardBuyerLimit", {})


def test_revert_data_is_read_from_web3_and_eth_tester_exceptions() -> None:
    data = _error_data("ResidentCardBuyerLimit(address,uint32)", ["address", "uint32"], [BUYER, 1])
    from_web3 = ContractCustomError("0x" + data.hex(), data="0x" + data.hex())
    assert revert_data(from_web3) == data
    eth_tester_style = type("TransactionFailed", (Exception,), {"__module__": "eth_tester.exceptions"})
    from_tester = eth_tester_style(f"execution reverted: {data!r}")
    assert revert_data(from_tester) == data
    reverted = translate(ABI, from_tester)
    assert reverted is not None
    assert reverted.arguments["cap"] == 1
    assert translate(ABI, ValueError("not a revert")) is None


@pytest.mark.anvil
def test_anvil_reverts_arrive_decoded_through_the_client(tmp_path: Path, compiled: CompiledTree) -> None:
    with connect("anvil://", tmp_path) as chain:
        admin, outsider = chain.dev_accounts()[:2]
        card, _ = ResidentCardClient.deploy(chain.w3, compiled["ResidentCard"], admin, name="C", symbol="C")
        with pytest.raises(ContractReverted) as raised:
            card.add_series(10, 5)
        assert raised.value.error == "ResidentCardBadRange"
        assert raised.value.arguments == {"firstId": 10, "lastId": 5, "existing": 2**256 - 1}
        card.add_series(1, 10)
        with pytest.raises(ContractReverted) as raised:  # mined with explicit gas, reason learnt by replay
            card.as_account(outsider).mint_batch([outsider.address], [1], gas=200_000)
        assert raised.value.error == "AccessControlUnauthorizedAccount"
        assert raised.value.arguments["account"] == outsider.address
