"""`ResidentCardClient`: the resident card contract, typed, for the backend and the tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.types import TxReceipt

from minting.client import ContractClient
from minting.compiler import Artifact
from minting.signing import Domain, MovePermit, Voucher, sign_move_permit

#: Gas for one `mintBatch`: a fixed part plus a part per card, from the gas benchmark with
#: headroom (≈ 48,000 per transferable card, ≈ 49,500 per soulbound one, at batch 100).
#: Given explicitly so the hot path never asks the node to estimate.
MINT_BATCH_BASE_GAS = 80_000
MINT_GAS_PER_CARD = 53_000
#: A jump to another series: `seriesOf` reads two cold slots (4,200 gas) per series walked.
#: Enough for 7 series; a batch of 100 with 99 jumps stays under 2^24 gas.
SERIES_LOOKUP_GAS = 30_000
DEFAULT_ROYALTY_BPS = 500


@dataclass(frozen=True)
class Series:
    """One drop on chain: an id range and its on-chain sale terms."""

    series_id: int
    first_id: int
    last_id: int
    sale_start: int
    sale_end: int
    price_wei: int
    per_buyer_cap: int
    soulbound: bool

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1


@dataclass(frozen=True)
class MintResult:
    """What one `mintBatch` did: the ids it created (skipped ids existed already)."""

    tx_hash: HexStr
    block_number: int
    minted_ids: list[int]
    gas_used: int


def mint_batch_gas(count: int, jumps: int = 0) -> int:
    """Gas to give a `mintBatch` of `count` cards whose ids leave a run `jumps` times."""
    return MINT_BATCH_BASE_GAS + MINT_GAS_PER_CARD * count + SERIES_LOOKUP_GAS * jumps


def series_jumps(ids: Sequence[int]) -> int:
    """Where an id does not follow the one before: `mintBatch` may look its series up there
    (`seriesOf` walks the series list, two cold reads each), so each jump is paid for."""
    return sum(1 for before, after in itertools.pairwise(ids) if after != before + 1)


class ResidentCardClient(ContractClient):
    """Reads and writes one town's resident card contract."""

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        artifact: Artifact,
        admin: LocalAccount,
        *,
        name: str,
        symbol: str,
        base_uri: str = "",
        treasury: str | None = None,
        royalty_bps: int = DEFAULT_ROYALTY_BPS,
    ) -> tuple[ResidentCardClient, TxReceipt]:
        """Deploy a card contract whose every role is held by `admin`."""
        return cls.deploy_contract(
            w3, artifact, admin, name, symbol, base_uri, admin.address, treasury or admin.address, royalty_bps
        )

    # ── series ──────────────────────────────────────────────────────────────

    def add_series(
        self,
        first_id: int,
        last_id: int,
        *,
        price_wei: int = 0,
        sale_start: int = 0,
        sale_end: int = 2**64 - 1,
        per_buyer_cap: int = 0,
        soulbound: bool = False,
    ) -> Series:
        receipt = self._transact(
            self.contract.functions.addSeries(
                first_id, last_id, price_wei, sale_start, sale_end, per_buyer_cap, soulbound
            )
        )
        return self.series(int(self.events(receipt, "SeriesAdded")[0]["args"]["seriesId"]))

    def set_sale(self, series_id: int, *, price_wei: int, sale_start: int, sale_end: int, per_buyer_cap: int) -> None:
        self._transact(self.contract.functions.setSale(series_id, price_wei, sale_start, sale_end, per_buyer_cap))

    def series(self, series_id: int) -> Series:
        first, last, start, end, price, cap, soulbound = self._call(self.contract.functions.series(series_id))
        return Series(series_id, first, last, start, end, price, cap, soulbound)

    def series_count(self) -> int:
        return int(self._call(self.contract.functions.seriesCount()))

    def series_of(self, token_id: int) -> int:
        return int(self._call(self.contract.functions.seriesOf(token_id)))

    def purchased_by(self, series_id: int, buyer: str) -> int:
        return int(self._call(self.contract.functions.purchasedBy(series_id, buyer)))

    # ── issuing ─────────────────────────────────────────────────────────────

    def mint_batch(self, recipients: Sequence[str], ids: Sequence[int], *, gas: int | None = None) -> MintResult:
        """Issue `ids[i]` to `recipients[i]`; ids that exist are skipped, not re-issued."""
        receipt = self._transact(
            self.contract.functions.mintBatch(list(recipients), list(ids)),
            gas=gas or mint_batch_gas(len(ids), series_jumps(ids)),
        )
        minted = [int(event["args"]["tokenId"]) for event in self.events(receipt, "Transfer")]
        return MintResult(
            HexStr(receipt["transactionHash"].to_0x_hex()), receipt["blockNumber"], minted, receipt["gasUsed"]
        )

    def purchase(self, voucher: Voucher, signature: bytes) -> TxReceipt:
        """Redeem `voucher`, paying its price from this client's account (the buyer)."""
        return self._transact(self.contract.functions.purchase(voucher.as_tuple(), signature), value=voucher.price)

    def total_supply(self) -> int:
        return int(self._call(self.contract.functions.totalSupply()))

    def owner_of(self, token_id: int) -> str:
        return str(self._call(self.contract.functions.ownerOf(token_id)))

    def exists(self, token_id: int) -> bool:
        """True if card `token_id` has been issued (reads `ownerOf`, which reverts otherwise)."""
        from minting.errors import ContractReverted

        try:
            self.owner_of(token_id)
        except ContractReverted as reverted:
            if reverted.error == "ERC721NonexistentToken":
                return False
            raise
        return True

    def transfer_from(self, holder: str, to: str, token_id: int) -> TxReceipt:
        """An ordinary ERC-721 transfer by this client's account (holder or approved)."""
        return self._transact(self.contract.functions.transferFrom(holder, to, token_id))

    def approve(self, spender: str, token_id: int) -> TxReceipt:
        return self._transact(self.contract.functions.approve(spender, token_id))

    def balance_of(self, holder: str) -> int:
        return int(self._call(self.contract.functions.balanceOf(holder)))

    def token_uri(self, token_id: int) -> str:
        return str(self._call(self.contract.functions.tokenURI(token_id)))

    def locked(self, token_id: int) -> bool:
        return bool(self._call(self.contract.functions.locked(token_id)))

    # ── moving with a permit ────────────────────────────────────────────────

    def domain(self) -> Domain:
        return Domain.of(self.contract)

    def nonce_of(self, holder: str) -> int:
        return int(self._call(self.contract.functions.nonces(holder)))

    def sign_move(self, holder: LocalAccount, to: str, token_id: int, deadline: int) -> tuple[MovePermit, bytes]:
        """A permit by `holder` to move `token_id` to `to`, with the holder's current nonce."""
        permit = MovePermit(holder.address, to, token_id, self.nonce_of(holder.address), deadline)
        return permit, sign_move_permit(holder, self.domain(), permit)

    def move_with_permit(self, permit: MovePermit, signature: bytes) -> TxReceipt:
        """Relay `permit` from this client's account (the minter, for soulbound cards)."""
        return self._transact(
            self.contract.functions.moveWithPermit(permit.holder, permit.to, permit.tokenId, permit.deadline, signature)
        )

    # ── treasury, metadata, roles, pausing ──────────────────────────────────

    def proceeds(self) -> int:
        return int(self._call(self.contract.functions.proceeds()))

    def treasury(self) -> str:
        return str(self._call(self.contract.functions.treasury()))

    def withdraw_proceeds(self) -> TxReceipt:
        return self._transact(self.contract.functions.withdrawProceeds())

    def set_treasury(self, treasury: str, royalty_bps: int) -> TxReceipt:
        return self._transact(self.contract.functions.setTreasury(treasury, royalty_bps))

    def royalty_info(self, token_id: int, sale_price: int) -> tuple[str, int]:
        receiver, amount = self._call(self.contract.functions.royaltyInfo(token_id, sale_price))
        return str(receiver), int(amount)

    def set_base_uri(self, base_uri: str) -> TxReceipt:
        return self._transact(self.contract.functions.setBaseURI(base_uri))

    def pause(self) -> TxReceipt:
        return self._transact(self.contract.functions.pause())

    def unpause(self) -> TxReceipt:
        return self._transact(self.contract.functions.unpause())

    def paused(self) -> bool:
        return bool(self._call(self.contract.functions.paused()))
