"""Gas benchmark: ResidentCard.mintBatch against three npm baselines and the schedule floor.

    .venv/bin/python scripts/bench/gas.py [--chains eth-tester:// anvil://] [--json FILE]

In one run it compiles the card and three baselines (scripts/bench/solidity/: OpenZeppelin
`_safeMint` one transaction per token, OpenZeppelin `_mint` in a loop, ERC721A `_mint(to, 1)`
in a loop), mints batches of 1, 10 and 100 to fresh distinct addresses on each chain given,
and prints gas per token with its ratio to the floor: what the fee schedule charges for the
work itself, per token

    cold owner slot 22,100 + fresh balance slot 22,100 + Transfer (LOG4) 1,875
    + (21,000 + mintBatch calldata + supply counter 5,000) / batch size

Each contract gets one warm-up mint first, so counters are non-zero as in steady state.
It also prints the gas of the other operations (purchase, moveWithPermit, bid, withdraw,
settle, proposeName and proposeNameWithSig, rejectName, approveName), and checks that every
figure is the same on every chain.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from minting.chains import Chain, connect  # noqa: E402
from minting.client import ContractClient  # noqa: E402
from minting.compiler import CompiledTree, compile_contracts  # noqa: E402
from minting.naming_rights import LotConfig, NamingRightsClient, name_proposal_signature  # noqa: E402
from minting.resident_card import ResidentCardClient, mint_batch_gas  # noqa: E402
from minting.signing import Voucher, sign_voucher  # noqa: E402

BATCH_SIZES = (1, 10, 100)
OWNER_SLOT = 22_100
BALANCE_SLOT = 22_100
TRANSFER_LOG = 375 + 4 * 375  # LOG4, no data
TX_BASE = 21_000
COUNTER = 5_000  # one warm-up-written slot, cold read + non-zero rewrite, once per transaction
TARGETS = {"ResidentCard": 1.03, "ResidentCard (soulbound)": 1.06}


def calldata_gas(data: bytes) -> int:
    """EIP-2028 calldata cost: 16 per non-zero byte, 4 per zero byte."""
    return sum(16 if byte else 4 for byte in data)


def fresh_addresses(count: int, salt: str) -> list[str]:
    """Distinct addresses that never held anything (random-looking, like real wallets)."""
    return [Web3.to_checksum_address(Web3.keccak(text=f"{salt}-{i}")[-20:]) for i in range(count)]


def floor_per_token(count: int, calldata: bytes) -> float:
    return OWNER_SLOT + BALANCE_SLOT + TRANSFER_LOG + (TX_BASE + calldata_gas(calldata) + COUNTER) / count


class Bench:
    """Deploys and measures on one chain."""

    def __init__(self, chain: Chain, tree: CompiledTree, baselines: CompiledTree) -> None:
        self.chain = chain
        self.tree = tree
        self.baselines = baselines
        self.admin = chain.dev_accounts()[0]

    def _baseline(self, name: str) -> ContractClient:
        client, _ = ContractClient.deploy_contract(self.chain.w3, self.baselines[name], self.admin)
        return client

    def _send(self, client: ContractClient, function: Any, gas: int) -> int:
        return int(client._transact(function, gas=gas)["gasUsed"])

    def card(self, soulbound: bool) -> ResidentCardClient:
        card, _ = ResidentCardClient.deploy(self.chain.w3, self.tree["ResidentCard"], self.admin, name="B", symbol="B")
        card.add_series(1, 1_000_000, soulbound=soulbound)
        card.mint_batch([self.admin.address], [1])  # warm-up: supply counter non-zero
        return card

    def mint_per_token(self, name: str, count: int) -> tuple[float, bytes]:
        """Gas per token for a batch of `count` to fresh addresses; and our mintBatch calldata."""
        recipients = fresh_addresses(count, f"{name}-{count}")
        ids = list(range(1_000, 1_000 + count))
        if name.startswith("ResidentCard"):
            card = self.card(soulbound=name.endswith("(soulbound)"))
            result = card.mint_batch(recipients, ids)
            assert result.minted_ids == ids
            data = bytes(self.chain.w3.eth.get_transaction(result.tx_hash)["input"])
            return result.gas_used / count, data
        if name == "OZ _mint loop":
            client = self._baseline("OZMintLoop")
            self._send(client, client.contract.functions.mintBatch([self.admin.address], [1]), 200_000)
            return self._send(
                client, client.contract.functions.mintBatch(recipients, ids), mint_batch_gas(count)
            ) / count, b""
        if name == "ERC721A loop":
            client = self._baseline("ERC721AMintLoop")
            self._send(client, client.contract.functions.mintBatch([self.admin.address]), 200_000)
            return self._send(
                client, client.contract.functions.mintBatch(recipients), mint_batch_gas(count)
            ) / count, b""
        client = self._baseline("OZSafeMintPerTx")
        total = sum(
            self._send(client, client.contract.functions.mint(recipient, token_id), 200_000)
            for recipient, token_id in zip(recipients, ids, strict=True)
        )
        return total / count, b""

    def operations(self) -> dict[str, dict[str, int]]:
        """Gas of each other operation, once, in a realistic order: `used`, and `execution`
        (used minus calldata). Only the latter can agree across chains: a voucher's signature
        binds the chain id, and its bytes (zero or not) change the calldata cost."""
        w3, admin = self.chain.w3, self.admin
        buyer, holder, wallet = self.chain.dev_accounts()[1:4]
        receipts: dict[str, Any] = {}
        card = self.card(soulbound=False)
        now = int(w3.eth.get_block("latest")["timestamp"])
        voucher = Voucher(buyer.address, 50, 10**15, now + 3600, Web3.keccak(text="order"))
        signature = sign_voucher(admin, card.domain(), voucher)
        receipts["purchase (voucher)"] = card.as_account(buyer).purchase(voucher, signature)
        card.mint_batch([holder.address], [51])
        permit, signature = card.sign_move(holder, wallet.address, 51, now + 3600)
        receipts["moveWithPermit (relayed)"] = card.move_with_permit(permit, signature)

        receipts.update(self.naming_receipts())
        used = {name: int(receipt["gasUsed"]) for name, receipt in receipts.items()}
        execution = {
            name: used[name] - calldata_gas(bytes(w3.eth.get_transaction(receipt["transactionHash"])["input"]))
            for name, receipt in receipts.items()
        }
        return {"used": used, "execution": execution}

    def naming_receipts(self) -> dict[str, Any]:
        """Receipts of the naming-rights operations, in a realistic order. Two lots with the
        same term, won by the same account: lot 1 is named by the winner's own transactions
        (`proposeName`), lot 2 by signed proposals the admin relays (`proposeNameWithSig`);
        each gets a first proposal, a rejection and a second proposal, so the two ways
        compare like for like (the first signed proposal also writes the winner's nonce slot
        from zero)."""
        w3, admin = self.chain.w3, self.admin
        bidder_a, bidder_b = self.chain.dev_accounts()[4:6]
        receipts: dict[str, Any] = {}
        rights, _ = NamingRightsClient.deploy(w3, self.tree["NamingRights"], admin)
        now = int(w3.eth.get_block("latest")["timestamp"])
        config = LotConfig(1, "中央公園", now + 1_000, now + 100_000, now, now + 600, 10**16, 10**15, 60, 120)
        lot = rights.create_lot(config).lot_id
        signed_lot = rights.create_lot(LotConfig(2, *config.to_abi()[1:])).lot_id
        receipts["bid (first)"] = rights.as_account(bidder_a).bid(lot, 10**16).receipt
        receipts["bid (outbid, refund credited)"] = rights.as_account(bidder_b).bid(lot, 2 * 10**16).receipt
        receipts["withdraw (refund)"] = rights.as_account(bidder_a).withdraw().receipt
        self.chain.advance_time(700)
        receipts["settle"] = rights.settle(lot).receipt
        rights.award_offchain(signed_lot, bidder_b.address)  # after settle: its mint writes a fresh balance
        self.chain.advance_time(1_000)
        winner = rights.as_account(bidder_b)
        name = "さくらんぼ公園"

        def signed(label: str) -> None:
            deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3_600
            signature = name_proposal_signature(
                bidder_b,
                contract=rights.address,
                chain_id=int(w3.eth.chain_id),
                lot_id=signed_lot,
                name=name,
                nonce=rights.nonce_of(bidder_b.address),
                deadline=deadline,
            )
            receipts[label] = rights.propose_name_with_sig(signed_lot, name, deadline, signature)

        receipts["proposeName"] = winner.propose_name(lot, name)
        signed("proposeNameWithSig (relayed, winner's first: nonce 0 -> 1)")
        receipts["rejectName"] = rights.reject_name(lot, 1)
        rights.reject_name(signed_lot, 1)
        receipts["proposeName (after a rejection)"] = winner.propose_name(lot, name)
        signed("proposeNameWithSig (after a rejection: nonce 1 -> 2)")
        receipts["approveName"] = rights.approve_name(lot)
        return receipts


CONTRACTS = ("ResidentCard", "ResidentCard (soulbound)", "OZ _mint loop", "ERC721A loop", "OZ _safeMint per tx")


def measure(url: str, tree: CompiledTree, baselines: CompiledTree) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir, connect(url, Path(data_dir)) as chain:
        bench = Bench(chain, tree, baselines)
        per_token: dict[str, dict[int, float]] = {name: {} for name in CONTRACTS}
        floors: dict[int, float] = {}
        for count in BATCH_SIZES:
            for name in CONTRACTS:
                gas, calldata = bench.mint_per_token(name, count)
                per_token[name][count] = gas
                if calldata:
                    floors[count] = floor_per_token(count, calldata)
        return {"per_token": per_token, "floor": floors, "operations": bench.operations()}


def report(results: dict[str, dict[str, Any]], out: Callable[[str], None] = print) -> bool:
    first = next(iter(results.values()))

    def comparable(result: dict[str, Any]) -> Any:
        return result["per_token"], result["floor"], result["operations"]["execution"]

    agree = all(comparable(result) == comparable(first) for result in results.values())
    floors = first["floor"]
    out(f"gas per token minted to fresh distinct addresses ({', '.join(results)}; {'agree' if agree else 'DIFFER'})")
    out(f"{'':26}" + "".join(f"{f'batch {n}':>22}" for n in BATCH_SIZES))
    out(f"{'schedule floor':26}" + "".join(f"{floors[n]:>14,.0f} 1.000x" for n in BATCH_SIZES))
    ok = agree
    for name in CONTRACTS:
        cells = "".join(
            f"{first['per_token'][name][n]:>14,.0f} {first['per_token'][name][n] / floors[n]:.3f}x" for n in BATCH_SIZES
        )
        out(f"{name:26}{cells}")
        if name in TARGETS:
            ratio = first["per_token"][name][100] / floors[100]
            ok = ok and ratio <= TARGETS[name]
            verdict = "met" if ratio <= TARGETS[name] else "MISSED"
            out(f"{'':26}target at batch 100: <= {TARGETS[name]:.2f}x floor -> {verdict}")
    out("")
    out("other operations (gas used)")
    for operation, used in first["operations"]["used"].items():
        out(f"  {operation:32}{used:>10,}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", nargs="+", default=["eth-tester://", "anvil://"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    Account.enable_unaudited_hdwallet_features()
    tree = compile_contracts()
    baselines = compile_contracts(REPO_ROOT / "scripts" / "bench" / "solidity", REPO_ROOT / "build" / "bench-contracts")
    results = {url: measure(url, tree, baselines) for url in args.chains}
    ok = report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
