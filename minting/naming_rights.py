"""Typed client of the `NamingRights` contract: park naming-right auctions and names.

    client, _receipt = NamingRightsClient.deploy(w3, tree["NamingRights"], admin, treasury=town)
    lot_id = client.create_lot(LotConfig(...)).lot_id
    client.as_account(bidder).bid(lot_id, amount)        # outbid funds are credited, never pushed
    client.settle(lot_id)                                # anyone, once the (extended) end is past
    client.as_account(winner).propose_name(lot_id, "さくらんぼ公園")   # the winner pays the gas

or, gasless for the winner: the winner (its custodial key) signs an EIP-712 `NameProposal`
and anyone relays it (the town's minter, in practice):

    deadline = now + 3600
    signature = name_proposal_signature(winner, contract=client.address, chain_id=w3.eth.chain_id,
                                        lot_id=lot_id, name="さくらんぼ公園",
                                        nonce=client.nonce_of(winner.address), deadline=deadline)
    client.propose_name_with_sig(lot_id, "さくらんぼ公園", deadline, signature)

and then, either way:

    client.approve_name(lot_id)                           # MODERATOR_ROLE
    client.current_name(lot_id)                           # approved name while the term runs

Every write waits for its receipt and raises `minting.errors.ContractReverted` (custom error
name and arguments) when the contract refuses it. Writes take an optional `gas`: without it
the node estimates, which also reports a revert before anything is sent; with it the
estimate is skipped (hot paths) and a revert is learnt by replaying the mined transaction.
Addresses come back checksummed; "no account" is `None`, never the zero address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Self

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from minting.client import ContractClient, role_id
from minting.compiler import Artifact
from minting.reverts import is_revert
from minting.signing import Domain

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: Longest name the contract accepts, in UTF-8 bytes (21 kanji).
MAX_NAME_BYTES = 64
DEFAULT_ADMIN_ROLE = role_id("DEFAULT_ADMIN_ROLE")
MINTER_ROLE = role_id("MINTER_ROLE")
MODERATOR_ROLE = role_id("MODERATOR_ROLE")

#: EIP-712 domain of signed name proposals: the contract's constructor fixes the same name and
#: version for every town's contract (its address and the chain id tell them apart).
EIP712_NAME = "Furusato NamingRights"
EIP712_VERSION = "1"
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
#: `NamingRights.NAME_PROPOSAL_TYPEHASH`'s struct.
NAME_PROPOSAL_TYPE = [
    {"name": "lotId", "type": "uint256"},
    {"name": "name", "type": "string"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


class LotStatus(IntEnum):
    """Mirror of `NamingRights.LotStatus`."""

    NONE = 0
    OPEN = 1
    SETTLED = 2
    AWARDED = 3


class NameStatus(IntEnum):
    """Mirror of `NamingRights.NameStatus`."""

    NONE = 0
    PENDING = 1
    APPROVED = 2


def _address(value: str) -> str | None:
    return None if int(value, 16) == 0 else Web3.to_checksum_address(value)


@dataclass(frozen=True)
class LotConfig:
    """What the admin gives to create a lot; times are unix seconds, amounts wei."""

    park_id: int
    default_name: str
    term_start: int
    term_end: int
    auction_start: int
    auction_end: int
    reserve: int
    min_increment: int
    soft_close_window: int = 0
    extension: int = 0

    def to_abi(self) -> tuple[Any, ...]:
        return (
            self.park_id,
            self.default_name,
            self.term_start,
            self.term_end,
            self.auction_start,
            self.auction_end,
            self.reserve,
            self.min_increment,
            self.soft_close_window,
            self.extension,
        )


@dataclass(frozen=True)
class Lot:
    """One naming right and its auction, as the contract holds it."""

    lot_id: int
    park_id: int
    default_name: str
    term_start: int
    term_end: int
    auction_start: int
    auction_end: int
    reserve: int
    min_increment: int
    soft_close_window: int
    extension: int
    highest_bidder: str | None
    highest_bid: int
    status: LotStatus
    winner: str | None

    @property
    def has_bids(self) -> bool:
        return self.highest_bidder is not None

    @property
    def is_open(self) -> bool:
        return self.status is LotStatus.OPEN

    @classmethod
    def from_abi(cls, lot_id: int, raw: Sequence[Any]) -> Lot:
        (
            reserve,
            min_increment,
            highest_bid,
            auction_start,
            auction_end,
            highest_bidder,
            soft_close_window,
            extension,
            status,
            winner,
            park_id,
            term_start,
            term_end,
            default_name,
        ) = raw
        return cls(
            lot_id=lot_id,
            park_id=int(park_id),
            default_name=str(default_name),
            term_start=int(term_start),
            term_end=int(term_end),
            auction_start=int(auction_start),
            auction_end=int(auction_end),
            reserve=int(reserve),
            min_increment=int(min_increment),
            soft_close_window=int(soft_close_window),
            extension=int(extension),
            highest_bidder=_address(highest_bidder),
            highest_bid=int(highest_bid),
            status=LotStatus(status),
            winner=_address(winner),
        )


@dataclass(frozen=True)
class NameRecord:
    """A lot's naming: the pending proposal, or the approved name, or nothing."""

    status: NameStatus
    name: str


@dataclass(frozen=True)
class CreatedLot:
    lot_id: int
    receipt: TxReceipt


@dataclass(frozen=True)
class PlacedBid:
    """A bid that became the highest; `auction_end` is the end after any soft-close extension."""

    lot_id: int
    bidder: str
    amount: int
    auction_end: int
    extended: bool
    receipt: TxReceipt


@dataclass(frozen=True)
class Settlement:
    lot_id: int
    winner: str
    amount: int
    receipt: TxReceipt


@dataclass(frozen=True)
class Withdrawal:
    """Funds sent out of the contract: `account`'s credit (or the proceeds) paid to `to`."""

    account: str
    to: str
    amount: int
    receipt: TxReceipt


def name_problem(name: str) -> str | None:
    """Why the contract would refuse `name`, or None: the same rules, checked before sending.

    Non-empty, at most `MAX_NAME_BYTES` UTF-8 bytes, no control characters.
    """
    if not name:
        return "empty"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if size > MAX_NAME_BYTES:
        return f"{size} bytes; at most {MAX_NAME_BYTES}"
    if any(char < " " or char == "\x7f" for char in name):
        return "contains a control character"
    return None


def name_proposal_typed_data(
    *, contract: str, chain_id: int, lot_id: int, name: str, nonce: int, deadline: int
) -> dict[str, Any]:
    """The EIP-712 message (eth-account's `full_message` form) the primary winner signs to
    propose `name` for `lot_id` on the NamingRights at `contract`, with its current nonce
    (`NamingRightsClient.nonce_of`) and a deadline in unix seconds (inclusive)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "NameProposal": NAME_PROPOSAL_TYPE},
        "primaryType": "NameProposal",
        "domain": {
            "name": EIP712_NAME,
            "version": EIP712_VERSION,
            "chainId": int(chain_id),
            "verifyingContract": Web3.to_checksum_address(contract),
        },
        "message": {"lotId": int(lot_id), "name": name, "nonce": int(nonce), "deadline": int(deadline)},
    }


def name_proposal_signature(
    account: LocalAccount, *, contract: str, chain_id: int, lot_id: int, name: str, nonce: int, deadline: int
) -> bytes:
    """`account`'s 65-byte signature of `name_proposal_typed_data(...)`, for
    `proposeNameWithSig`. It is valid only if `account` is the lot's primary winner and `nonce`
    its current nonce when relayed, until `deadline`, on that contract and chain, once."""
    typed = name_proposal_typed_data(
        contract=contract, chain_id=chain_id, lot_id=lot_id, name=name, nonce=nonce, deadline=deadline
    )
    return bytes(account.sign_typed_data(full_message=typed).signature)


#: Just ERC-5267's `eip712Domain()`, to probe a contract of unknown vintage.
_ERC5267_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "eip712Domain",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [
            {"name": "fields", "type": "bytes1"},
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
            {"name": "salt", "type": "bytes32"},
            {"name": "extensions", "type": "uint256[]"},
        ],
    }
]


def signed_proposals_supported(w3: Web3, address: str) -> bool:
    """Whether the NamingRights at `address` takes signed proposals (`proposeNameWithSig`):
    its ERC-5267 domain is ("Furusato NamingRights", "1"). One deployed from the code before
    them has no `eip712Domain()`, so the call reverts and this is False."""
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=_ERC5267_ABI)
    try:
        _fields, name, version, *_rest = contract.functions.eip712Domain().call()
    except Exception as exc:
        if is_revert(exc) or type(exc).__name__ in {"BadFunctionCallOutput", "InsufficientDataBytes"}:
            return False
        raise
    return (name, version) == (EIP712_NAME, EIP712_VERSION)


class NamingRightsClient(ContractClient):
    """One deployed `NamingRights` contract."""

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        artifact: Artifact,
        admin: LocalAccount,
        *,
        treasury: str | None = None,
        name: str = "Furusato Park Naming Rights",
        symbol: str = "FURUSATO-NAME",
        base_uri: str = "",
        gas: int | None = None,
    ) -> tuple[Self, TxReceipt]:
        """Deploy with `admin` holding every role; proceeds go to `treasury` (default: admin)."""
        return cls.deploy_contract(
            w3, artifact, admin, name, symbol, base_uri, admin.address, treasury or admin.address, gas=gas
        )

    # --- administration ---------------------------------------------------------------

    def create_lot(self, config: LotConfig, *, gas: int | None = None) -> CreatedLot:
        receipt = self._transact(self.contract.functions.createLot(config.to_abi()), gas=gas)
        (event,) = self.events(receipt, "LotCreated")
        return CreatedLot(lot_id=int(event["args"]["lotId"]), receipt=receipt)

    def relist(
        self, lot_id: int, auction_start: int, auction_end: int, reserve: int, *, gas: int | None = None
    ) -> TxReceipt:
        return self._transact(self.contract.functions.relist(lot_id, auction_start, auction_end, reserve), gas=gas)

    def award_offchain(self, lot_id: int, winner: str, *, gas: int | None = None) -> TxReceipt:
        function = self.contract.functions.awardOffchain(lot_id, Web3.to_checksum_address(winner))
        return self._transact(function, gas=gas)

    def set_treasury(self, treasury: str) -> TxReceipt:
        return self._transact(self.contract.functions.setTreasury(Web3.to_checksum_address(treasury)))

    def set_base_uri(self, base_uri: str) -> TxReceipt:
        return self._transact(self.contract.functions.setBaseURI(base_uri))

    # --- auction ------------------------------------------------------------------------

    def bid(self, lot_id: int, amount: int, *, gas: int | None = None) -> PlacedBid:
        receipt = self._transact(self.contract.functions.bid(lot_id), value=amount, gas=gas)
        (event,) = self.events(receipt, "BidPlaced")
        args = event["args"]
        return PlacedBid(
            lot_id=int(args["lotId"]),
            bidder=Web3.to_checksum_address(args["bidder"]),
            amount=int(args["amount"]),
            auction_end=int(args["auctionEnd"]),
            extended=bool(self.events(receipt, "AuctionExtended")),
            receipt=receipt,
        )

    def settle(self, lot_id: int, *, gas: int | None = None) -> Settlement:
        receipt = self._transact(self.contract.functions.settle(lot_id), gas=gas)
        (event,) = self.events(receipt, "LotSettled")
        args = event["args"]
        return Settlement(
            lot_id=int(args["lotId"]),
            winner=Web3.to_checksum_address(args["winner"]),
            amount=int(args["amount"]),
            receipt=receipt,
        )

    def withdraw(self, *, gas: int | None = None) -> Withdrawal:
        return self._withdrawal(self._transact(self.contract.functions.withdraw(), gas=gas))

    def withdraw_to(self, to: str, *, gas: int | None = None) -> Withdrawal:
        function = self.contract.functions.withdrawTo(Web3.to_checksum_address(to))
        return self._withdrawal(self._transact(function, gas=gas))

    def withdraw_proceeds(self, *, gas: int | None = None) -> Withdrawal:
        receipt = self._transact(self.contract.functions.withdrawProceeds(), gas=gas)
        (event,) = self.events(receipt, "ProceedsWithdrawn")
        treasury = Web3.to_checksum_address(event["args"]["treasury"])
        return Withdrawal(account=treasury, to=treasury, amount=int(event["args"]["amount"]), receipt=receipt)

    def _withdrawal(self, receipt: TxReceipt) -> Withdrawal:
        (event,) = self.events(receipt, "Withdrawn")
        args = event["args"]
        return Withdrawal(
            account=Web3.to_checksum_address(args["account"]),
            to=Web3.to_checksum_address(args["to"]),
            amount=int(args["amount"]),
            receipt=receipt,
        )

    # --- names --------------------------------------------------------------------------

    def propose_name(self, lot_id: int, name: str, *, gas: int | None = None) -> TxReceipt:
        return self._transact(self.contract.functions.proposeName(lot_id, name), gas=gas)

    def propose_name_with_sig(
        self, lot_id: int, name: str, deadline: int, signature: bytes, *, gas: int | None = None
    ) -> TxReceipt:
        """Relay the primary winner's signed proposal (see `name_proposal_signature`) from this
        client's account, which pays the gas; the proposer on chain is the winner."""
        function = self.contract.functions.proposeNameWithSig(lot_id, name, deadline, signature)
        return self._transact(function, gas=gas)

    def sign_name_proposal(self, winner: LocalAccount, lot_id: int, name: str, deadline: int) -> bytes:
        """`winner`'s signature of a proposal of `name` on this contract, with its current nonce."""
        return name_proposal_signature(
            winner,
            contract=self.address,
            chain_id=int(self.w3.eth.chain_id),
            lot_id=lot_id,
            name=name,
            nonce=self.nonce_of(winner.address),
            deadline=deadline,
        )

    def approve_name(self, lot_id: int, *, gas: int | None = None) -> TxReceipt:
        return self._transact(self.contract.functions.approveName(lot_id), gas=gas)

    def reject_name(self, lot_id: int, reason: int, *, gas: int | None = None) -> TxReceipt:
        return self._transact(self.contract.functions.rejectName(lot_id, reason), gas=gas)

    # --- reads --------------------------------------------------------------------------

    def lot(self, lot_id: int) -> Lot:
        return Lot.from_abi(lot_id, self._call(self.contract.functions.lot(lot_id)))

    def lots(self) -> list[Lot]:
        return [self.lot(lot_id) for lot_id in range(1, self.lot_count() + 1)]

    def lot_count(self) -> int:
        return int(self._call(self.contract.functions.lotCount()))

    def name_record(self, lot_id: int) -> NameRecord:
        status, name = self._call(self.contract.functions.nameRecord(lot_id))
        return NameRecord(status=NameStatus(status), name=str(name))

    def current_name(self, lot_id: int) -> str:
        return str(self._call(self.contract.functions.currentName(lot_id)))

    def nonce_of(self, account: str) -> int:
        """The nonce `account`'s next signed proposal must carry (`nonces(account)`)."""
        return int(self._call(self.contract.functions.nonces(Web3.to_checksum_address(account))))

    def domain(self) -> Domain:
        """The EIP-712 domain the contract reports (ERC-5267 `eip712Domain()`)."""
        return Domain.of(self.contract)

    def domain_separator(self) -> bytes:
        return bytes(self._call(self.contract.functions.DOMAIN_SEPARATOR()))

    def minimum_bid(self, lot_id: int) -> int:
        return int(self._call(self.contract.functions.minimumBid(lot_id)))

    def pending_refund(self, account: str) -> int:
        return int(self._call(self.contract.functions.pendingRefund(Web3.to_checksum_address(account))))

    def proceeds(self) -> int:
        return int(self._call(self.contract.functions.proceeds()))

    def treasury(self) -> str:
        return Web3.to_checksum_address(self._call(self.contract.functions.treasury()))

    def owner_of(self, token_id: int) -> str:
        return Web3.to_checksum_address(self._call(self.contract.functions.ownerOf(token_id)))

    def token_uri(self, token_id: int) -> str:
        return str(self._call(self.contract.functions.tokenURI(token_id)))

    def supports_interface(self, interface_id: bytes) -> bool:
        return bool(self._call(self.contract.functions.supportsInterface(interface_id)))

    def balance(self) -> int:
        """Ether held by the contract, in wei."""
        return int(self.w3.eth.get_balance(self.contract.address))
