"""ResidentCard on eth-tester: every rule, reverts by custom-error name, events by arguments."""

from __future__ import annotations

import pytest
from web3 import Web3

from minting.compiler import CompiledTree
from minting.errors import ContractReverted
from minting.resident_card import ResidentCardClient
from minting.signing import Domain, MovePermit, Voucher, sign_move_permit, sign_voucher
from tests.contracts.card_fixtures import CardWorld, card_world

__all__ = ["card_world"]
pytestmark = pytest.mark.chain

MAX_UINT256 = 2**256 - 1
ORDER_REF = Web3.keccak(text="order-0001")


def _reverts(error: str) -> pytest.RaisesExc[ContractReverted]:
    return pytest.raises(ContractReverted, match=rf"^reverted with {error}\(")


def _voucher(world: CardWorld, buyer: str, token_id: int, price: int, *, deadline: int | None = None) -> Voucher:
    return Voucher(buyer, token_id, price, deadline if deadline is not None else world.now() + 3600, ORDER_REF)


def _signed(world: CardWorld, voucher: Voucher, domain: Domain | None = None) -> bytes:
    return sign_voucher(world.admin, domain or world.card.domain(), voucher)


# ── deployment, interfaces, metadata ────────────────────────────────────────


def test_deploy_grants_roles_and_reports_interfaces(card_world: CardWorld) -> None:
    card, admin = card_world.card, card_world.admin
    for role in ("DEFAULT_ADMIN_ROLE", "MINTER_ROLE", "SIGNER_ROLE", "PAUSER_ROLE"):
        assert card.has_role(role, admin.address)
    assert not card.has_role("MINTER_ROLE", card_world.people[0].address)
    supports = card.contract.functions.supportsInterface
    for interface in ("01ffc9a7", "80ac58cd", "5b5e139f", "2a55205a", "7965db0b", "49064906", "b45a3c0e"):
        assert supports(bytes.fromhex(interface)).call(), interface
    assert not supports(bytes.fromhex("ffffffff")).call()
    assert card.contract.functions.name().call() == "西川町デジタル住民票"


def test_token_uri_is_base_uri_and_id(card_world: CardWorld) -> None:
    card = card_world.card
    card.add_series(1, 10)
    card.mint_batch([card_world.people[0].address], [7])
    assert card.token_uri(7) == "https://town.example/api/v1/tokens/7"


def test_set_base_uri_emits_batch_metadata_update(card_world: CardWorld) -> None:
    receipt = card_world.card.set_base_uri("https://other.example/t/")
    (event,) = card_world.card.events(receipt, "BatchMetadataUpdate")
    assert (event["args"]["_fromTokenId"], event["args"]["_toTokenId"]) == (0, MAX_UINT256)
    with _reverts("AccessControlUnauthorizedAccount"):
        card_world.as_person(0).set_base_uri("https://evil.example/")


def test_royalty_goes_to_treasury_and_is_capped(card_world: CardWorld) -> None:
    card, treasury = card_world.card, card_world.people[5].address
    receipt = card.set_treasury(treasury, 750)
    assert card.events(receipt, "TreasuryChanged")[0]["args"]["royaltyBps"] == 750
    assert card.royalty_info(1, 10_000) == (treasury, 750)
    with _reverts("ResidentCardRoyaltyTooHigh") as raised:
        card.set_treasury(treasury, 1001)
    assert raised.value.arguments == {"bps": 1001, "max": 1000}
    with _reverts("ResidentCardNotTreasury"):
        card.set_treasury("0x" + "00" * 20, 100)


# ── series ──────────────────────────────────────────────────────────────────


def test_add_series_records_range_and_terms(card_world: CardWorld) -> None:
    card = card_world.card
    first = card.add_series(1, 1000, price_wei=10**15, sale_start=5, sale_end=99, per_buyer_cap=2)
    second = card.add_series(1001, 1100, soulbound=True)
    assert (first.series_id, first.size, first.price_wei, first.per_buyer_cap) == (0, 1000, 10**15, 2)
    assert (second.series_id, second.first_id, second.soulbound) == (1, 1001, True)
    assert card.series_count() == 2
    assert (card.series_of(1000), card.series_of(1001)) == (0, 1)


@pytest.mark.parametrize(("first", "last", "existing"), [(50, 150, 0), (1, 1, 0), (100, 100, 0), (10, 5, MAX_UINT256)])
def test_add_series_rejects_empty_or_overlapping_range(
    card_world: CardWorld, first: int, last: int, existing: int
) -> None:
    card_world.card.add_series(1, 100)
    with _reverts("ResidentCardBadRange") as raised:
        card_world.card.add_series(first, last)
    assert raised.value.arguments == {"firstId": first, "lastId": last, "existing": existing}


def test_series_sale_window_must_not_end_before_it_starts(card_world: CardWorld) -> None:
    with _reverts("ResidentCardBadSaleWindow"):
        card_world.card.add_series(1, 10, sale_start=10, sale_end=9)
    card_world.card.add_series(1, 10)
    with _reverts("ResidentCardBadSaleWindow"):
        card_world.card.set_sale(0, price_wei=0, sale_start=10, sale_end=9, per_buyer_cap=0)
    with _reverts("ResidentCardUnknownSeries"):
        card_world.card.set_sale(3, price_wei=0, sale_start=0, sale_end=9, per_buyer_cap=0)


def test_only_admin_adds_series(card_world: CardWorld) -> None:
    with _reverts("AccessControlUnauthorizedAccount"):
        card_world.as_person(0).add_series(1, 10)


# ── mintBatch ───────────────────────────────────────────────────────────────


def test_mint_batch_issues_each_id_to_its_recipient(card_world: CardWorld) -> None:
    card, people = card_world.card, [p.address for p in card_world.people[:3]]
    card.add_series(1, 100)
    result = card.mint_batch(people, [5, 6, 7])
    assert result.minted_ids == [5, 6, 7]
    assert [card.owner_of(i) for i in (5, 6, 7)] == people
    assert card.total_supply() == 3


def test_replayed_batch_mints_only_what_is_missing(card_world: CardWorld) -> None:
    card, people = card_world.card, [p.address for p in card_world.people[:3]]
    card.add_series(1, 100)
    card.mint_batch(people[:2], [1, 2])
    replay = card.mint_batch([people[2], people[2], people[2]], [1, 2, 3])
    assert replay.minted_ids == [3]
    assert card.owner_of(1) == people[0]  # never re-issued to the replay's recipient
    assert card.total_supply() == 3
    again = card.mint_batch([people[2]] * 3, [1, 2, 3])
    assert again.minted_ids == []
    assert card.total_supply() == 3


def test_mint_batch_spanning_two_series(card_world: CardWorld) -> None:
    card, holder = card_world.card, card_world.people[0].address
    card.add_series(1, 2)
    card.add_series(3, 4, soulbound=True)
    card.mint_batch([holder] * 4, [1, 3, 2, 4])
    assert [card.locked(i) for i in (1, 2, 3, 4)] == [False, False, True, True]


def test_mint_batch_rejects_id_outside_any_series(card_world: CardWorld) -> None:
    card, holder = card_world.card, card_world.people[0].address
    card.add_series(1, 10)
    with _reverts("ResidentCardIdOutsideSeries") as raised:
        card.mint_batch([holder, holder], [10, 11])
    assert raised.value.arguments == {"tokenId": 11}
    assert card.total_supply() == 0  # all or nothing


@pytest.mark.parametrize("size", [0, 301])
def test_mint_batch_size_is_capped(card_world: CardWorld, size: int) -> None:
    card = card_world.card
    card.add_series(1, 1000)
    with _reverts("ResidentCardBatchSize") as raised:
        card.mint_batch([card_world.people[0].address] * size, list(range(1, size + 1)), gas=16_000_000)
    assert raised.value.arguments == {"size": size, "max": 300}


def test_mint_batch_rejects_mismatched_arrays_and_zero_recipient(card_world: CardWorld) -> None:
    card = card_world.card
    card.add_series(1, 10)
    with _reverts("ResidentCardBatchLengthMismatch"):
        card.mint_batch([card_world.people[0].address], [1, 2])
    with _reverts("ERC721InvalidReceiver"):
        card.mint_batch(["0x" + "00" * 20], [1])


def test_mint_batch_needs_minter_role_and_no_pause(card_world: CardWorld) -> None:
    card, holder = card_world.card, card_world.people[0].address
    card.add_series(1, 10)
    with _reverts("AccessControlUnauthorizedAccount"):
        card_world.as_person(0).mint_batch([holder], [1])
    card.pause()
    with _reverts("EnforcedPause"):
        card.mint_batch([holder], [1])
    card.unpause()
    assert card.mint_batch([holder], [1]).minted_ids == [1]


# ── transfers and soulbound cards ───────────────────────────────────────────


def test_transferable_card_moves_unless_paused(card_world: CardWorld) -> None:
    card, (alice, bob) = card_world.card, card_world.people[:2]
    card.add_series(1, 10)
    card.mint_batch([alice.address], [1])
    as_alice = card.as_account(alice)
    as_alice.transfer_from(alice.address, bob.address, 1)
    assert card.owner_of(1) == bob.address
    card.pause()
    with _reverts("EnforcedPause"):
        card.as_account(bob).transfer_from(bob.address, alice.address, 1)


def test_soulbound_card_is_locked_on_mint_and_cannot_move_or_be_approved(card_world: CardWorld) -> None:
    card, (alice, bob) = card_world.card, card_world.people[:2]
    card.add_series(1, 10, soulbound=True)
    result = card.mint_batch([alice.address], [1])
    receipt = card.w3.eth.get_transaction_receipt(result.tx_hash)
    assert [e["args"]["tokenId"] for e in card.events(receipt, "Locked")] == [1]
    assert card.locked(1)
    as_alice = card.as_account(alice)
    with _reverts("ResidentCardSoulbound") as raised:
        as_alice.transfer_from(alice.address, bob.address, 1)
    assert raised.value.arguments == {"tokenId": 1}
    with _reverts("ResidentCardSoulbound"):
        as_alice.approve(bob.address, 1)
    with _reverts("ERC721NonexistentToken"):
        card.locked(2)


# ── purchase with a voucher ─────────────────────────────────────────────────


@pytest.fixture
def on_sale(card_world: CardWorld) -> CardWorld:
    card_world.card.add_series(1, 100, price_wei=10**16, per_buyer_cap=1)
    return card_world


def test_purchase_issues_card_and_holds_proceeds(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    voucher = _voucher(on_sale, buyer.address, 42, 10**16)
    receipt = on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))
    (event,) = on_sale.card.events(receipt, "CardPurchased")
    assert dict(event["args"]) == {
        "buyer": buyer.address,
        "tokenId": 42,
        "seriesId": 0,
        "orderRef": ORDER_REF,
        "price": 10**16,
    }
    assert on_sale.card.owner_of(42) == buyer.address
    assert on_sale.card.proceeds() == 10**16 == on_sale.chain.w3.eth.get_balance(on_sale.card.address)
    assert on_sale.card.purchased_by(0, buyer.address) == 1
    assert on_sale.card.total_supply() == 1


def test_purchase_by_another_sender_is_refused(on_sale: CardWorld) -> None:
    voucher = _voucher(on_sale, on_sale.people[0].address, 42, 10**16)
    with _reverts("ResidentCardWrongBuyer"):
        on_sale.as_person(1).purchase(voucher, _signed(on_sale, voucher))


def test_purchase_with_wrong_payment_is_refused(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    voucher = _voucher(on_sale, buyer.address, 42, 10**16)
    cheaper = Voucher(**{**voucher.__dict__, "price": 10**15})
    with _reverts("ResidentCardWrongPayment") as raised:
        on_sale.card.as_account(buyer)._transact(
            on_sale.card.contract.functions.purchase(voucher.as_tuple(), _signed(on_sale, voucher)), value=10**15
        )
    assert raised.value.arguments == {"sent": 10**15, "price": 10**16}
    with _reverts("ResidentCardPriceBelowSeries"):
        on_sale.card.as_account(buyer).purchase(cheaper, _signed(on_sale, cheaper))


def test_purchase_after_deadline_is_refused(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    voucher = _voucher(on_sale, buyer.address, 42, 10**16, deadline=on_sale.now() + 10)
    on_sale.travel_to(on_sale.now() + 11)
    with _reverts("ResidentCardExpired"):
        on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))


def test_purchase_signed_by_a_non_signer_is_refused(on_sale: CardWorld) -> None:
    buyer, stranger = on_sale.people[0], on_sale.people[1]
    voucher = _voucher(on_sale, buyer.address, 42, 10**16)
    forged = sign_voucher(stranger, on_sale.card.domain(), voucher)
    with _reverts("ResidentCardInvalidSigner") as raised:
        on_sale.card.as_account(buyer).purchase(voucher, forged)
    assert raised.value.arguments == {"signer": stranger.address}


def test_purchase_with_voucher_for_another_chain_is_refused(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    voucher = _voucher(on_sale, buyer.address, 42, 10**16)
    other_chain = Domain(**{**on_sale.card.domain().__dict__, "chainId": 137})
    with _reverts("ResidentCardInvalidSigner"):
        on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher, other_chain))


def test_purchase_with_voucher_for_another_contract_is_refused(on_sale: CardWorld, compiled: CompiledTree) -> None:
    buyer = on_sale.people[0]
    other, _ = ResidentCardClient.deploy(
        on_sale.chain.w3, compiled["ResidentCard"], on_sale.admin, name="西川町デジタル住民票", symbol="NISHIKAWA"
    )
    other.add_series(1, 100, price_wei=10**16)
    voucher = _voucher(on_sale, buyer.address, 42, 10**16)
    with _reverts("ResidentCardInvalidSigner"):
        other.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))  # signed for the first contract


def test_purchase_of_an_issued_card_is_refused(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    on_sale.card.mint_batch([on_sale.people[1].address], [42])
    voucher = _voucher(on_sale, buyer.address, 42, 10**16)
    with _reverts("ResidentCardAlreadyIssued"):
        on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))


def test_replayed_voucher_is_refused(on_sale: CardWorld) -> None:
    on_sale.card.set_sale(0, price_wei=10**16, sale_start=0, sale_end=2**64 - 1, per_buyer_cap=0)
    buyer = on_sale.card.as_account(on_sale.people[0])
    voucher = _voucher(on_sale, on_sale.people[0].address, 42, 10**16)
    buyer.purchase(voucher, _signed(on_sale, voucher))
    with _reverts("ResidentCardAlreadyIssued"):
        buyer.purchase(voucher, _signed(on_sale, voucher))
    assert on_sale.card.proceeds() == 10**16


def test_purchase_outside_sale_window_is_refused(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    now = on_sale.now()
    on_sale.card.set_sale(0, price_wei=10**16, sale_start=now + 100, sale_end=now + 200, per_buyer_cap=0)
    voucher = _voucher(on_sale, buyer.address, 42, 10**16, deadline=now + 1000)
    with _reverts("ResidentCardSaleClosed"):
        on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))
    on_sale.travel_to(now + 150)
    on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))
    on_sale.travel_to(now + 201)
    late = _voucher(on_sale, buyer.address, 43, 10**16, deadline=now + 1000)
    with _reverts("ResidentCardSaleClosed"):
        on_sale.card.as_account(buyer).purchase(late, _signed(on_sale, late))


def test_per_buyer_cap_counts_purchases_not_balance(on_sale: CardWorld) -> None:
    buyer, friend = on_sale.people[0], on_sale.people[1]
    as_buyer = on_sale.card.as_account(buyer)
    first = _voucher(on_sale, buyer.address, 1, 10**16)
    as_buyer.purchase(first, _signed(on_sale, first))
    as_buyer.transfer_from(buyer.address, friend.address, 1)
    assert on_sale.card.balance_of(buyer.address) == 0
    second = _voucher(on_sale, buyer.address, 2, 10**16)
    with _reverts("ResidentCardBuyerLimit") as raised:
        as_buyer.purchase(second, _signed(on_sale, second))
    assert raised.value.arguments == {"buyer": buyer.address, "cap": 1}


def test_purchase_refused_while_paused(on_sale: CardWorld) -> None:
    buyer = on_sale.people[0]
    on_sale.card.pause()
    voucher = _voucher(on_sale, buyer.address, 1, 10**16)
    with _reverts("EnforcedPause"):
        on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))


def test_treasury_withdraws_proceeds(on_sale: CardWorld) -> None:
    treasury, buyer = on_sale.people[5], on_sale.people[0]
    on_sale.card.set_treasury(treasury.address, 500)
    voucher = _voucher(on_sale, buyer.address, 1, 10**16)
    on_sale.card.as_account(buyer).purchase(voucher, _signed(on_sale, voucher))
    with _reverts("ResidentCardNotTreasury"):
        on_sale.as_person(1).withdraw_proceeds()
    w3 = on_sale.chain.w3
    before = w3.eth.get_balance(treasury.address)
    receipt = on_sale.card.withdraw_proceeds()  # an admin may trigger it; the money goes to the treasury
    assert on_sale.card.events(receipt, "ProceedsWithdrawn")[0]["args"]["amount"] == 10**16
    assert w3.eth.get_balance(treasury.address) == before + 10**16
    assert on_sale.card.proceeds() == 0 == w3.eth.get_balance(on_sale.card.address)


# ── moveWithPermit ──────────────────────────────────────────────────────────


@pytest.fixture
def custodial_card(card_world: CardWorld) -> CardWorld:
    """Card 1 (transferable) and card 101 (soulbound) held by people[0], a custodial key."""
    card_world.card.add_series(1, 100)
    card_world.card.add_series(101, 200, soulbound=True)
    card_world.card.mint_batch([card_world.people[0].address] * 2, [1, 101])
    return card_world


def test_anyone_relays_a_holders_permit_for_a_transferable_card(custodial_card: CardWorld) -> None:
    world = custodial_card
    custodial, own_wallet, relayer = world.people[0], world.people[1], world.as_person(2)
    permit, signature = world.card.sign_move(custodial, own_wallet.address, 1, world.now() + 600)
    receipt = relayer.move_with_permit(permit, signature)
    (event,) = world.card.events(receipt, "CardMovedWithPermit")
    assert dict(event["args"]) == {
        "tokenId": 1,
        "from": custodial.address,
        "to": own_wallet.address,
        "relayer": world.people[2].address,
    }
    assert world.card.owner_of(1) == own_wallet.address
    assert world.card.nonce_of(custodial.address) == 1


def test_permit_cannot_be_replayed(custodial_card: CardWorld) -> None:
    world = custodial_card
    custodial, wallet = world.people[0], world.people[1]
    permit, signature = world.card.sign_move(custodial, wallet.address, 1, world.now() + 600)
    world.card.move_with_permit(permit, signature)
    world.card.as_account(wallet).transfer_from(wallet.address, custodial.address, 1)
    with _reverts("ResidentCardInvalidPermit"):  # the nonce moved on
        world.card.move_with_permit(permit, signature)


def test_permit_checks_deadline_holder_and_signature(custodial_card: CardWorld) -> None:
    world = custodial_card
    custodial, wallet, stranger = world.people[0], world.people[1], world.people[2]
    expired, signature = world.card.sign_move(custodial, wallet.address, 1, world.now() - 1)
    with _reverts("ResidentCardExpired"):
        world.card.move_with_permit(expired, signature)
    not_holder, signature = world.card.sign_move(stranger, wallet.address, 1, world.now() + 600)
    with _reverts("ResidentCardNotHolder"):
        world.card.move_with_permit(not_holder, signature)
    permit = MovePermit(custodial.address, stranger.address, 1, 0, world.now() + 600)
    with _reverts("ResidentCardInvalidPermit"):
        world.card.move_with_permit(permit, sign_move_permit(stranger, world.card.domain(), permit))


def test_soulbound_card_moves_only_when_the_minter_relays(custodial_card: CardWorld) -> None:
    world = custodial_card
    custodial, wallet = world.people[0], world.people[1]
    permit, signature = world.card.sign_move(custodial, wallet.address, 101, world.now() + 600)
    with _reverts("ResidentCardRelayNotAllowed"):
        world.as_person(2).move_with_permit(permit, signature)
    world.card.move_with_permit(permit, signature)  # the admin holds MINTER_ROLE
    assert world.card.owner_of(101) == wallet.address
    assert world.card.locked(101)
    with _reverts("ResidentCardSoulbound"):  # still soulbound in the new wallet
        world.card.as_account(wallet).transfer_from(wallet.address, custodial.address, 101)


def test_moves_refused_while_paused(custodial_card: CardWorld) -> None:
    world = custodial_card
    permit, signature = world.card.sign_move(world.people[0], world.people[1].address, 1, world.now() + 600)
    world.card.pause()
    with _reverts("EnforcedPause"):
        world.card.move_with_permit(permit, signature)
