"""NamingRights on eth-tester: lots, the soft-close auction, pull payments, awards and names."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from eth_tester.exceptions import TransactionFailed as EthTesterReverted
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError

from minting.errors import ContractReverted
from minting.naming_rights import (
    DEFAULT_ADMIN_ROLE,
    MAX_NAME_BYTES,
    MINTER_ROLE,
    MODERATOR_ROLE,
    LotStatus,
    NameStatus,
    name_problem,
)
from minting.reverts import translate
from tests.contracts.naming_fixtures import (  # noqa: F401  (fixtures)
    AUCTION_SECONDS,
    BURN_GAS,
    EXTENSION,
    HOSTILE_MODES,
    INCREMENT,
    REENTER,
    RESERVE,
    REVERT,
    SOFT_CLOSE_WINDOW,
    NamingWorld,
    lot_config,
    naming_artifacts_fixture,
    naming_deployment_fixture,
    naming_fixture,
    transact,
)

pytestmark = pytest.mark.chain

PARK_NAME = "さくらんぼタントクルセンター公園"  # 16 kana/kanji, 48 bytes


def _args(reverted: ContractReverted) -> dict[str, object]:
    """The revert's arguments, addresses checksummed (the decoder returns them lower-case)."""
    return {
        key: Web3.to_checksum_address(value) if isinstance(value, str) and Web3.is_address(value) else value
        for key, value in reverted.arguments.items()
    }


# --- deployment ------------------------------------------------------------------------


def test_deploy_grants_every_role_to_admin_and_sets_treasury(naming: NamingWorld) -> None:
    client = naming.client
    for role in (DEFAULT_ADMIN_ROLE, MINTER_ROLE, MODERATOR_ROLE):
        assert client.has_role(role, naming.admin.address)
    assert client.treasury() == naming.treasury.address
    assert client.lot_count() == 0


@pytest.mark.parametrize(
    ("interface_id", "supported"),
    [
        ("01ffc9a7", True),  # ERC-165
        ("80ac58cd", True),  # ERC-721
        ("5b5e139f", True),  # ERC-721 metadata
        ("7965db0b", True),  # AccessControl
        ("49064906", True),  # ERC-4906
        ("780e9d63", False),  # ERC-721 enumerable
        ("ffffffff", False),
    ],
)
def test_supports_interface_answers_erc721_and_access_control(
    naming: NamingWorld, interface_id: str, supported: bool
) -> None:
    assert naming.client.supports_interface(bytes.fromhex(interface_id)) is supported


# --- lots ------------------------------------------------------------------------------


def test_create_lot_stores_lot_and_emits_lot_created(naming: NamingWorld) -> None:
    config = lot_config(naming.now())
    created = naming.client.create_lot(config)

    (event,) = naming.client.events(created.receipt, "LotCreated")
    assert created.lot_id == 1
    assert dict(event["args"]) == {
        "lotId": 1,
        "parkId": 7,
        "defaultName": "西川町中央公園",
        "termStart": config.term_start,
        "termEnd": config.term_end,
        "auctionStart": config.auction_start,
        "auctionEnd": config.auction_end,
        "reserve": RESERVE,
        "minIncrement": INCREMENT,
    }
    lot = naming.client.lot(1)
    assert (lot.park_id, lot.default_name, lot.reserve, lot.min_increment) == (7, "西川町中央公園", RESERVE, INCREMENT)
    assert (lot.soft_close_window, lot.extension) == (SOFT_CLOSE_WINDOW, EXTENSION)
    assert lot.status is LotStatus.OPEN
    assert lot.highest_bidder is None
    assert lot.winner is None
    assert naming.client.minimum_bid(1) == RESERVE
    assert naming.client.current_name(1) == "西川町中央公園"


def test_create_lot_by_non_admin_refused(naming: NamingWorld) -> None:
    outsider = naming.bidders[0]
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(outsider).create_lot(lot_config(naming.now()))
    assert excinfo.value.error == "AccessControlUnauthorizedAccount"
    assert _args(excinfo.value) == {"account": outsider.address, "neededRole": DEFAULT_ADMIN_ROLE}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"term_end": 0}, "NamingRightsInvalidTerm"),
        ({"auction_end": 0}, "NamingRightsInvalidAuctionWindow"),
        ({"reserve": 0}, "NamingRightsInvalidPricing"),
        ({"min_increment": 0}, "NamingRightsInvalidPricing"),
        ({"default_name": ""}, "NamingRightsEmptyName"),
        ({"default_name": "公" * 22}, "NamingRightsNameTooLong"),
        ({"default_name": "park\n"}, "NamingRightsNameMalformed"),
    ],
)
def test_create_lot_with_invalid_config_refused(naming: NamingWorld, overrides: dict[str, object], error: str) -> None:
    with pytest.raises(ContractReverted) as excinfo:
        naming.create_lot(**overrides)
    assert excinfo.value.error == error


def test_create_lot_with_auction_already_over_refused(naming: NamingWorld) -> None:
    now = naming.now()
    with pytest.raises(ContractReverted) as excinfo:
        naming.create_lot(auction_start=now - 100, auction_end=now - 2)
    assert excinfo.value.error == "NamingRightsInvalidAuctionWindow"
    assert _args(excinfo.value) == {"auctionStart": now - 100, "auctionEnd": now - 2}


def test_lot_unknown_refused(naming: NamingWorld) -> None:
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.lot(42)
    assert excinfo.value.error == "NamingRightsUnknownLot"
    assert _args(excinfo.value) == {"lotId": 42}


# --- bidding ---------------------------------------------------------------------------


def test_bid_first_at_reserve_accepted(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    bidder = naming.bidders[0]
    placed = naming.as_(bidder).bid(lot_id, RESERVE)

    (event,) = naming.client.events(placed.receipt, "BidPlaced")
    end = naming.client.lot(lot_id).auction_end
    assert dict(event["args"]) == {"lotId": lot_id, "bidder": bidder.address, "amount": RESERVE, "auctionEnd": end}
    assert not placed.extended
    assert naming.client.events(placed.receipt, "RefundCredited") == []
    assert naming.client.lot(lot_id).highest_bidder == bidder.address
    assert naming.client.minimum_bid(lot_id) == RESERVE + INCREMENT
    assert naming.client.balance() == RESERVE


def test_bid_below_reserve_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).bid(lot_id, RESERVE - 1)
    assert excinfo.value.error == "NamingRightsBidTooLow"
    assert _args(excinfo.value) == {"lotId": lot_id, "minimum": RESERVE}


def test_bid_below_minimum_increment_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[1]).bid(lot_id, RESERVE + INCREMENT - 1)
    assert excinfo.value.error == "NamingRightsBidTooLow"
    assert _args(excinfo.value) == {"lotId": lot_id, "minimum": RESERVE + INCREMENT}


def test_bid_before_auction_start_refused(naming: NamingWorld) -> None:
    start = naming.now() + 1_000
    lot_id = naming.client.create_lot(lot_config(start)).lot_id
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    assert excinfo.value.error == "NamingRightsAuctionNotOpen"
    assert _args(excinfo.value) == {"lotId": lot_id, "auctionStart": start, "auctionEnd": start + AUCTION_SECONDS}

    naming.travel_to(start)
    assert naming.as_(naming.bidders[0]).bid(lot_id, RESERVE).amount == RESERVE


def test_bid_at_auction_end_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    end = naming.client.lot(lot_id).auction_end
    naming.travel_to(end)
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    assert excinfo.value.error == "NamingRightsAuctionNotOpen"
    assert _args(excinfo.value)["auctionEnd"] == end


def test_bid_outbid_credits_refund_withdrawable_by_pull(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    first, second = naming.bidders[0], naming.bidders[1]
    naming.as_(first).bid(lot_id, RESERVE)
    before = naming.w3.eth.get_balance(first.address)

    placed = naming.as_(second).bid(lot_id, RESERVE + INCREMENT)

    (credited,) = naming.client.events(placed.receipt, "RefundCredited")
    assert dict(credited["args"]) == {"account": first.address, "lotId": lot_id, "amount": RESERVE}
    assert naming.w3.eth.get_balance(first.address) == before  # nothing pushed
    assert naming.client.pending_refund(first.address) == RESERVE
    assert naming.client.balance() == 2 * RESERVE + INCREMENT

    withdrawal = naming.as_(first).withdraw()

    (event,) = naming.client.events(withdrawal.receipt, "Withdrawn")
    assert dict(event["args"]) == {"account": first.address, "to": first.address, "amount": RESERVE}
    fee = withdrawal.receipt["gasUsed"] * withdrawal.receipt["effectiveGasPrice"]
    assert naming.w3.eth.get_balance(first.address) == before + RESERVE - fee
    assert naming.client.pending_refund(first.address) == 0
    assert naming.client.balance() == RESERVE + INCREMENT


def test_bid_raising_own_bid_credits_the_previous_one(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    bidder = naming.as_(naming.bidders[0])
    bidder.bid(lot_id, RESERVE)
    bidder.bid(lot_id, RESERVE + INCREMENT)
    assert naming.client.pending_refund(naming.bidders[0].address) == RESERVE
    assert naming.client.lot(lot_id).highest_bid == RESERVE + INCREMENT


def test_bid_within_soft_close_window_extends_end(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    end = naming.client.lot(lot_id).auction_end
    late = end - SOFT_CLOSE_WINDOW + 10
    naming.travel_to(late)

    placed = naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)

    assert placed.extended
    assert placed.auction_end == late + EXTENSION
    (extended,) = naming.client.events(placed.receipt, "AuctionExtended")
    assert dict(extended["args"]) == {"lotId": lot_id, "auctionEnd": late + EXTENSION}
    assert naming.client.lot(lot_id).auction_end == late + EXTENSION

    naming.travel_to(end)  # the original end: still open, and not yet in the new window
    again = naming.as_(naming.bidders[1]).bid(lot_id, RESERVE + INCREMENT)
    assert not again.extended
    assert again.auction_end == late + EXTENSION
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.settle(lot_id)
    assert excinfo.value.error == "NamingRightsAuctionNotEnded"
    assert _args(excinfo.value) == {"lotId": lot_id, "auctionEnd": late + EXTENSION}

    naming.travel_to(late + EXTENSION - 5)  # a bid in the extended window extends again
    last = naming.as_(naming.bidders[0]).bid(lot_id, RESERVE + 2 * INCREMENT)
    assert (last.extended, last.auction_end) == (True, late + 2 * EXTENSION - 5)


def test_bid_before_soft_close_window_does_not_extend(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    end = naming.client.lot(lot_id).auction_end
    naming.travel_to(end - SOFT_CLOSE_WINDOW - 10)
    placed = naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    assert not placed.extended
    assert placed.auction_end == end
    assert naming.client.events(placed.receipt, "AuctionExtended") == []


def test_bid_in_soft_close_window_never_shortens_end(naming: NamingWorld) -> None:
    lot_id = naming.create_lot(soft_close_window=SOFT_CLOSE_WINDOW, extension=60)
    end = naming.client.lot(lot_id).auction_end
    naming.travel_to(end - 200)  # within the window, but bid time + 60 < end
    placed = naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    assert not placed.extended
    assert placed.auction_end == end


def test_withdraw_without_credit_refused(naming: NamingWorld) -> None:
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).withdraw()
    assert excinfo.value.error == "NamingRightsNothingToWithdraw"
    assert _args(excinfo.value) == {"account": naming.bidders[0].address}


def test_withdraw_to_pays_another_address(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    first, second, wallet = naming.bidders[0], naming.bidders[1], naming.bidders[5]
    naming.as_(first).bid(lot_id, RESERVE)
    naming.as_(second).bid(lot_id, RESERVE + INCREMENT)
    before = naming.w3.eth.get_balance(wallet.address)

    withdrawal = naming.as_(first).withdraw_to(wallet.address)

    assert (withdrawal.account, withdrawal.to, withdrawal.amount) == (first.address, wallet.address, RESERVE)
    assert naming.w3.eth.get_balance(wallet.address) == before + RESERVE


# --- settlement ------------------------------------------------------------------------


def test_settle_mints_to_winner_and_credits_treasury(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    loser, winner = naming.bidders[0], naming.bidders[1]
    naming.as_(loser).bid(lot_id, RESERVE)
    naming.as_(winner).bid(lot_id, 3 * RESERVE)
    naming.travel_to(naming.client.lot(lot_id).auction_end)

    settlement = naming.as_(naming.bidders[4]).settle(lot_id)  # anyone may settle

    (settled,) = naming.client.events(settlement.receipt, "LotSettled")
    assert dict(settled["args"]) == {"lotId": lot_id, "winner": winner.address, "amount": 3 * RESERVE}
    (minted,) = naming.client.events(settlement.receipt, "Transfer")
    assert dict(minted["args"]) == {"from": "0x" + "00" * 20, "to": winner.address, "tokenId": lot_id}
    assert naming.client.owner_of(lot_id) == winner.address
    assert naming.client.token_uri(lot_id) == f"https://town.example/t/{lot_id}"
    lot = naming.client.lot(lot_id)
    assert (lot.status, lot.winner) == (LotStatus.SETTLED, winner.address)
    assert naming.client.proceeds() == 3 * RESERVE
    assert naming.client.pending_refund(loser.address) == RESERVE
    assert naming.client.balance() == 4 * RESERVE


def test_settle_before_end_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    end = naming.client.lot(lot_id).auction_end
    naming.travel_to(end - 1)
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.settle(lot_id)
    assert excinfo.value.error == "NamingRightsAuctionNotEnded"
    assert _args(excinfo.value) == {"lotId": lot_id, "auctionEnd": end}


def test_settle_twice_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.won_lot(winner)
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.settle(lot_id)
    assert excinfo.value.error == "NamingRightsLotClosed"
    assert _args(excinfo.value) == {"lotId": lot_id, "winner": winner.address}
    assert naming.client.proceeds() == RESERVE


def test_settle_without_bids_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    naming.travel_to(naming.client.lot(lot_id).auction_end)
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.settle(lot_id)
    assert excinfo.value.error == "NamingRightsNoBids"
    assert _args(excinfo.value) == {"lotId": lot_id}


def test_bid_after_settle_refused(naming: NamingWorld) -> None:
    lot_id = naming.won_lot(naming.bidders[0])
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[1]).bid(lot_id, 10 * RESERVE)
    assert excinfo.value.error == "NamingRightsLotClosed"


def test_withdraw_proceeds_pays_treasury(naming: NamingWorld) -> None:
    naming.won_lot(naming.bidders[0], amount=2 * RESERVE)
    before = naming.w3.eth.get_balance(naming.treasury.address)

    withdrawal = naming.as_(naming.bidders[3]).withdraw_proceeds()  # anyone may trigger it

    (event,) = naming.client.events(withdrawal.receipt, "ProceedsWithdrawn")
    assert dict(event["args"]) == {"treasury": naming.treasury.address, "amount": 2 * RESERVE}
    assert naming.w3.eth.get_balance(naming.treasury.address) == before + 2 * RESERVE
    assert naming.client.proceeds() == 0
    assert naming.client.balance() == 0
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.withdraw_proceeds()
    assert excinfo.value.error == "NamingRightsNothingToWithdraw"


def test_set_treasury_moves_unwithdrawn_proceeds(naming: NamingWorld) -> None:
    naming.won_lot(naming.bidders[0])
    town = naming.bidders[7]
    receipt = naming.client.set_treasury(town.address)
    (event,) = naming.client.events(receipt, "TreasuryChanged")
    assert dict(event["args"]) == {"previousTreasury": naming.treasury.address, "newTreasury": town.address}
    assert naming.client.withdraw_proceeds().to == town.address


def test_set_treasury_to_zero_or_by_non_admin_refused(naming: NamingWorld) -> None:
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.set_treasury("0x" + "00" * 20)
    assert excinfo.value.error == "NamingRightsInvalidRecipient"
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).set_treasury(naming.bidders[0].address)
    assert excinfo.value.error == "AccessControlUnauthorizedAccount"


# --- relisting and off-chain awards ----------------------------------------------------


def test_relist_without_bids_opens_new_window(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    naming.travel_to(naming.client.lot(lot_id).auction_end)
    start = naming.now() + 100
    receipt = naming.client.relist(lot_id, start, start + AUCTION_SECONDS, RESERVE // 2)

    (event,) = naming.client.events(receipt, "LotRelisted")
    assert dict(event["args"]) == {
        "lotId": lot_id,
        "auctionStart": start,
        "auctionEnd": start + AUCTION_SECONDS,
        "reserve": RESERVE // 2,
    }
    naming.travel_to(start)
    naming.as_(naming.bidders[0]).bid(lot_id, RESERVE // 2)
    naming.travel_to(start + AUCTION_SECONDS)
    assert naming.client.settle(lot_id).amount == RESERVE // 2


def test_relist_with_bids_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    bidder = naming.bidders[0]
    naming.as_(bidder).bid(lot_id, RESERVE)
    naming.travel_to(naming.client.lot(lot_id).auction_end)
    now = naming.now()
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.relist(lot_id, now, now + AUCTION_SECONDS, RESERVE)
    assert excinfo.value.error == "NamingRightsLotHasBids"
    assert _args(excinfo.value) == {"lotId": lot_id, "highestBidder": bidder.address, "highestBid": RESERVE}


def test_relist_after_settle_refused(naming: NamingWorld) -> None:
    lot_id = naming.won_lot(naming.bidders[0])
    now = naming.now()
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.relist(lot_id, now, now + AUCTION_SECONDS, RESERVE)
    assert excinfo.value.error == "NamingRightsLotClosed"


def test_relist_by_non_admin_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    now = naming.now()
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).relist(lot_id, now, now + AUCTION_SECONDS, RESERVE)
    assert excinfo.value.error == "AccessControlUnauthorizedAccount"


def test_relist_with_invalid_window_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    now = naming.now()
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.relist(lot_id, now + 10, now + 10, RESERVE)
    assert excinfo.value.error == "NamingRightsInvalidAuctionWindow"


def test_award_offchain_mints_to_winner_without_bids(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    winner = naming.bidders[2]
    receipt = naming.client.award_offchain(lot_id, winner.address)

    (event,) = naming.client.events(receipt, "LotAwardedOffchain")
    assert dict(event["args"]) == {"lotId": lot_id, "winner": winner.address}
    assert naming.client.owner_of(lot_id) == winner.address
    lot = naming.client.lot(lot_id)
    assert (lot.status, lot.winner) == (LotStatus.AWARDED, winner.address)
    assert naming.client.balance() == 0
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    assert excinfo.value.error == "NamingRightsLotClosed"


def test_award_offchain_with_bids_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    naming.as_(naming.bidders[0]).bid(lot_id, RESERVE)
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.award_offchain(lot_id, naming.bidders[2].address)
    assert excinfo.value.error == "NamingRightsLotHasBids"


def test_award_offchain_by_non_minter_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    outsider = naming.bidders[0]
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(outsider).award_offchain(lot_id, outsider.address)
    assert excinfo.value.error == "AccessControlUnauthorizedAccount"
    assert _args(excinfo.value) == {"account": outsider.address, "neededRole": MINTER_ROLE}


def test_award_offchain_by_granted_minter_accepted(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    backend = naming.bidders[6]
    naming.client.grant_role(MINTER_ROLE, backend.address)
    naming.as_(backend).award_offchain(lot_id, naming.bidders[2].address)
    assert naming.client.owner_of(lot_id) == naming.bidders[2].address


def test_award_offchain_twice_or_after_settle_refused(naming: NamingWorld) -> None:
    awarded = naming.create_lot()
    naming.client.award_offchain(awarded, naming.bidders[2].address)
    settled = naming.won_lot(naming.bidders[0])
    for lot_id in (awarded, settled):
        with pytest.raises(ContractReverted) as excinfo:
            naming.client.award_offchain(lot_id, naming.bidders[3].address)
        assert excinfo.value.error == "NamingRightsLotClosed"


def test_award_offchain_to_zero_address_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.award_offchain(lot_id, "0x" + "00" * 20)
    assert excinfo.value.error == "NamingRightsInvalidRecipient"


# --- hostile bidders -------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(HOSTILE_MODES.values()), ids=list(HOSTILE_MODES))
def test_bid_over_hostile_bidder_and_settle_to_hostile_winner_succeed(naming: NamingWorld, mode: int) -> None:
    hostile = naming.hostile(mode)
    funder = naming.bidders[0]
    first = naming.create_lot()
    transact(naming.w3, funder, hostile.functions.bid(first), value=RESERVE)
    naming.as_(naming.bidders[1]).bid(first, RESERVE + INCREMENT)  # outbidding it is not blocked
    assert naming.client.pending_refund(hostile.address) == RESERVE

    second = naming.create_lot()
    transact(naming.w3, funder, hostile.functions.bid(second), value=RESERVE)
    naming.travel_to(naming.client.lot(second).auction_end)
    naming.client.settle(first)
    naming.client.settle(second)  # its onERC721Received is never called: _mint, not _safeMint

    assert naming.client.owner_of(second) == hostile.address
    assert naming.client.proceeds() == 2 * RESERVE + INCREMENT
    assert naming.client.balance() == 3 * RESERVE + INCREMENT


@pytest.mark.parametrize("mode", [REVERT, BURN_GAS], ids=["reverts", "burns-gas"])
def test_withdraw_by_hostile_bidder_fails_alone_and_withdraw_to_recovers(naming: NamingWorld, mode: int) -> None:
    hostile = naming.hostile(mode)
    lot_id = naming.create_lot()
    transact(naming.w3, naming.bidders[0], hostile.functions.bid(lot_id), value=RESERVE)
    naming.as_(naming.bidders[1]).bid(lot_id, RESERVE + INCREMENT)

    with pytest.raises((ContractLogicError, EthTesterReverted)) as excinfo:
        naming.w3.eth.call({"to": hostile.address, "data": hostile.encode_abi("withdraw", [])})
    reverted = translate(naming.client.contract.abi, excinfo.value)
    assert reverted is not None
    assert (reverted.error, _args(reverted)) == (
        "NamingRightsTransferFailed",
        {"to": hostile.address, "amount": RESERVE},
    )
    assert naming.client.pending_refund(hostile.address) == RESERVE  # nothing lost

    rescue = naming.bidders[5].address
    before = naming.w3.eth.get_balance(rescue)
    transact(naming.w3, naming.bidders[0], hostile.functions.withdrawTo(rescue))
    assert naming.w3.eth.get_balance(rescue) == before + RESERVE
    assert naming.client.pending_refund(hostile.address) == 0
    assert naming.client.balance() == RESERVE + INCREMENT


def test_withdraw_by_reentrant_bidder_blocks_every_reentry(naming: NamingWorld) -> None:
    hostile = naming.hostile(REENTER)
    lot_id = naming.create_lot()
    transact(naming.w3, naming.bidders[0], hostile.functions.bid(lot_id), value=RESERVE)
    naming.as_(naming.bidders[1]).bid(lot_id, RESERVE + INCREMENT)

    transact(naming.w3, naming.bidders[0], hostile.functions.withdraw())

    assert hostile.functions.blockedReentries().call() == 3  # bid, withdraw, settle
    assert hostile.functions.succeededReentries().call() == 0
    assert naming.w3.eth.get_balance(hostile.address) == RESERVE
    assert naming.client.pending_refund(hostile.address) == 0
    assert naming.client.lot(lot_id).highest_bidder == naming.bidders[1].address
    assert naming.client.balance() == RESERVE + INCREMENT


# --- names -----------------------------------------------------------------------------


def _in_term(naming: NamingWorld, lot_id: int) -> None:
    """Move into the term; one second past its start, so calls (run on the latest block) see it too."""
    naming.travel_to(naming.client.lot(lot_id).term_start + 1)


def test_propose_name_by_winner_during_term_pending(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.won_lot(winner)
    _in_term(naming, lot_id)

    receipt = naming.as_(winner).propose_name(lot_id, PARK_NAME)

    (event,) = naming.client.events(receipt, "NameProposed")
    assert dict(event["args"]) == {"lotId": lot_id, "proposer": winner.address, "name": PARK_NAME}
    record = naming.client.name_record(lot_id)
    assert (record.status, record.name) == (NameStatus.PENDING, PARK_NAME)
    assert naming.client.current_name(lot_id) == "西川町中央公園"  # not before approval


def test_propose_name_by_non_winner_refused(naming: NamingWorld) -> None:
    lot_id = naming.won_lot(naming.bidders[0])
    _in_term(naming, lot_id)
    for outsider in (naming.bidders[1], naming.admin):
        with pytest.raises(ContractReverted) as excinfo:
            naming.as_(outsider).propose_name(lot_id, PARK_NAME)
        assert excinfo.value.error == "NamingRightsNotPrimaryWinner"
        assert _args(excinfo.value) == {"lotId": lot_id, "account": outsider.address}


def test_propose_name_by_new_owner_after_transfer_refused(naming: NamingWorld) -> None:
    winner, buyer = naming.bidders[0], naming.bidders[1]
    lot_id = naming.won_lot(winner)
    transfer = naming.client.contract.functions.transferFrom(winner.address, buyer.address, lot_id)
    transact(naming.w3, winner, transfer)
    assert naming.client.owner_of(lot_id) == buyer.address
    _in_term(naming, lot_id)

    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(buyer).propose_name(lot_id, PARK_NAME)
    assert excinfo.value.error == "NamingRightsNotPrimaryWinner"
    assert _args(excinfo.value) == {"lotId": lot_id, "account": buyer.address}

    naming.as_(winner).propose_name(lot_id, PARK_NAME)  # the right to name stayed with the winner
    assert naming.client.lot(lot_id).winner == winner.address


def test_propose_name_on_unsold_lot_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    _in_term(naming, lot_id)
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(naming.bidders[0]).propose_name(lot_id, PARK_NAME)
    assert excinfo.value.error == "NamingRightsNotPrimaryWinner"


def test_propose_name_by_offchain_winner_accepted(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    winner = naming.bidders[3]
    naming.client.award_offchain(lot_id, winner.address)
    _in_term(naming, lot_id)
    naming.as_(winner).propose_name(lot_id, PARK_NAME)
    assert naming.client.name_record(lot_id).status is NameStatus.PENDING


def test_propose_name_outside_term_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    lot = naming.client.lot(lot_id)
    expected = {"lotId": lot_id, "termStart": lot.term_start, "termEnd": lot.term_end}
    with pytest.raises(ContractReverted) as excinfo:  # before the term
        naming.as_(winner).propose_name(lot_id, PARK_NAME)
    assert excinfo.value.error == "NamingRightsOutsideTerm"
    assert _args(excinfo.value) == expected

    naming.travel_to(lot.term_end)
    with pytest.raises(ContractReverted) as excinfo:  # after it
        naming.as_(winner).propose_name(lot_id, PARK_NAME)
    assert excinfo.value.error == "NamingRightsOutsideTerm"


def test_propose_name_while_one_pending_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    naming.as_(winner).propose_name(lot_id, PARK_NAME)
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(winner).propose_name(lot_id, "別の公園")
    assert excinfo.value.error == "NamingRightsNamePending"
    assert _args(excinfo.value) == {"lotId": lot_id}


def test_approve_name_then_propose_again_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    naming.as_(winner).propose_name(lot_id, PARK_NAME)

    receipt = naming.client.approve_name(lot_id)

    (event,) = naming.client.events(receipt, "NameApproved")
    assert dict(event["args"]) == {"lotId": lot_id, "moderator": naming.admin.address, "name": PARK_NAME}
    (update,) = naming.client.events(receipt, "MetadataUpdate")
    assert update["args"]["_tokenId"] == lot_id
    assert naming.client.name_record(lot_id).status is NameStatus.APPROVED
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(winner).propose_name(lot_id, "別の公園")
    assert excinfo.value.error == "NamingRightsNameAlreadyApproved"
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.approve_name(lot_id)
    assert excinfo.value.error == "NamingRightsNoPendingName"


def test_reject_name_with_reason_then_propose_again_accepted(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    naming.as_(winner).propose_name(lot_id, "不適切な名前")

    receipt = naming.client.reject_name(lot_id, 3)

    (event,) = naming.client.events(receipt, "NameRejected")
    assert dict(event["args"]) == {
        "lotId": lot_id,
        "moderator": naming.admin.address,
        "name": "不適切な名前",
        "reason": 3,
    }
    record = naming.client.name_record(lot_id)
    assert (record.status, record.name) == (NameStatus.NONE, "")
    naming.as_(winner).propose_name(lot_id, PARK_NAME)
    assert naming.client.name_record(lot_id).name == PARK_NAME


def test_approve_or_reject_by_non_moderator_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    naming.as_(winner).propose_name(lot_id, PARK_NAME)
    expected = {"account": winner.address, "neededRole": MODERATOR_ROLE}
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(winner).approve_name(lot_id)
    assert (excinfo.value.error, _args(excinfo.value)) == ("AccessControlUnauthorizedAccount", expected)
    with pytest.raises(ContractReverted) as excinfo:
        naming.as_(winner).reject_name(lot_id, 1)
    assert (excinfo.value.error, _args(excinfo.value)) == ("AccessControlUnauthorizedAccount", expected)


def test_reject_name_without_pending_refused(naming: NamingWorld) -> None:
    lot_id = naming.awarded_lot(naming.bidders[0])
    with pytest.raises(ContractReverted) as excinfo:
        naming.client.reject_name(lot_id, 1)
    assert excinfo.value.error == "NamingRightsNoPendingName"


def test_current_name_before_during_and_after_term(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    lot = naming.client.lot(lot_id)
    assert naming.client.current_name(lot_id) == "西川町中央公園"  # before the term

    _in_term(naming, lot_id)
    naming.as_(winner).propose_name(lot_id, PARK_NAME)
    naming.client.approve_name(lot_id)
    assert naming.client.current_name(lot_id) == PARK_NAME  # during

    naming.travel_to(lot.term_end - 2)
    assert naming.client.current_name(lot_id) == PARK_NAME  # last seconds of the term
    naming.travel_to(lot.term_end + 1)
    assert naming.client.current_name(lot_id) == "西川町中央公園"  # after
    assert naming.client.name_record(lot_id).name == PARK_NAME  # history kept


INVALID_NAMES = [
    ("", "NamingRightsEmptyName", {}),
    ("公" * 22, "NamingRightsNameTooLong", {"length": 66, "maxLength": MAX_NAME_BYTES}),
    ("a" * 65, "NamingRightsNameTooLong", {"length": 65, "maxLength": MAX_NAME_BYTES}),
    ("公園\tパーク", "NamingRightsNameMalformed", {"offset": 6}),
    ("公園\x7f", "NamingRightsNameMalformed", {"offset": 6}),
]
MALFORMED_UTF8 = [
    (b"\xff", 0),
    (b"ab\x80", 2),  # stray continuation byte
    (b"\xc0\xaf", 0),  # overlong "/"
    (b"\xe0\x80\xaf", 0),  # overlong, three bytes
    (b"\xed\xa0\x80", 0),  # UTF-16 surrogate
    (b"\xf4\x90\x80\x80", 0),  # above U+10FFFF
    (b"\xe5\x85", 0),  # truncated 公
    (b"x\xe5\x85\xac\xe5", 4),  # truncated at the end
]


def test_propose_name_empty_too_long_or_with_control_characters_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    for name, error, arguments in INVALID_NAMES:
        with pytest.raises(ContractReverted) as excinfo:
            naming.as_(winner).propose_name(lot_id, name)
        assert (excinfo.value.error, _args(excinfo.value)) == (error, arguments), name


def test_propose_name_malformed_utf8_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    selector = function_signature_to_4byte_selector("proposeName(uint256,string)")
    for raw, offset in MALFORMED_UTF8:
        data = selector + abi_encode(["uint256", "bytes"], [lot_id, raw])  # `string` and `bytes` encode alike
        with pytest.raises((ContractLogicError, EthTesterReverted)) as excinfo:
            naming.w3.eth.call({"from": winner.address, "to": naming.client.address, "data": Web3.to_hex(data)})
        reverted = translate(naming.client.contract.abi, excinfo.value)
        assert reverted is not None
        assert (reverted.error, _args(reverted)) == ("NamingRightsNameMalformed", {"offset": offset}), raw


def test_propose_name_up_to_byte_cap_accepted(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    for name in ("公" * 21, "a" * 64, "Park 🌸 公園", "Ñandú"):
        naming.as_(winner).propose_name(lot_id, name)
        assert naming.client.name_record(lot_id).name == name
        naming.client.reject_name(lot_id, 0)


def test_name_problem_mirrors_contract_rules() -> None:
    assert name_problem(PARK_NAME) is None
    assert name_problem("公" * 21) is None
    assert name_problem("") == "empty"
    assert name_problem("公" * 22) == "66 bytes; at most 64"
    assert name_problem("a\nb") == "contains a control character"
    assert name_problem("\ud800") == "not valid UTF-8"
