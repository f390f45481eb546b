"""Hypothesis stateful test: whatever is minted, bought or replayed, in whatever order,
supply never exceeds a series' range, replays mint nothing and every id exists at most once."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from web3 import Web3

from minting.chains import connect
from minting.compiler import compile_contracts
from minting.errors import ContractReverted
from minting.resident_card import ResidentCardClient
from minting.signing import Voucher, sign_voucher

pytestmark = pytest.mark.chain

#: Two series and a gap: ids 1-15 transferable, 16-25 soulbound, 26-40 in no series.
SERIES = [(1, 15, False), (16, 25, True)]
ALL_IDS = range(1, 41)
PRICE = 10**15


def _series_of(token_id: int) -> int | None:
    for index, (first, last, _soulbound) in enumerate(SERIES):
        if first <= token_id <= last:
            return index
    return None


class ResidentCardMachine(RuleBasedStateMachine):
    """A model (id → holder) beside the real contract on a fresh eth-tester chain."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = connect("eth-tester://")
        self.admin, *self.people = self.chain.dev_accounts()[:5]
        self.card, _ = ResidentCardClient.deploy(
            self.chain.w3, compile_contracts()["ResidentCard"], self.admin, name="Card", symbol="C"
        )
        for first, last, soulbound in SERIES:
            self.card.add_series(first, last, price_wei=PRICE, soulbound=soulbound)
        self.holders: dict[int, str] = {}
        self.touched: set[int] = set()
        self.last_batch: tuple[list[ChecksumAddress], list[int]] | None = None

    def teardown(self) -> None:
        try:
            self.touched = set(ALL_IDS)  # once per run: every id, issued or not
            self.every_touched_id_has_exactly_the_modelled_holder()
        finally:
            self.chain.close()

    @rule(
        ids=st.lists(st.sampled_from(ALL_IDS), min_size=1, max_size=8),
        who=st.lists(st.integers(0, 3), min_size=8, max_size=8),
    )
    def mint_batch(self, ids: list[int], who: list[int]) -> None:
        recipients = [self.people[who[i]].address for i in range(len(ids))]
        self.touched = set(ids)
        if any(_series_of(token_id) is None for token_id in ids):
            with pytest.raises(ContractReverted, match="ResidentCardIdOutsideSeries"):
                self.card.mint_batch(recipients, ids)
            return
        result = self.card.mint_batch(recipients, ids)
        expected = []
        for recipient, token_id in zip(recipients, ids, strict=True):
            if token_id not in self.holders:
                self.holders[token_id] = recipient
                expected.append(token_id)
        assert result.minted_ids == expected
        self.last_batch = (recipients, ids)

    @rule()
    def replay_last_batch(self) -> None:
        if self.last_batch is None:
            return
        self.touched = set(self.last_batch[1])
        assert self.card.mint_batch(*self.last_batch).minted_ids == []

    @rule(token_id=st.sampled_from(ALL_IDS), who=st.integers(0, 3))
    def purchase(self, token_id: int, who: int) -> None:
        buyer: LocalAccount = self.people[who]
        self.touched = {token_id}
        now = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        voucher = Voucher(buyer.address, token_id, PRICE, now + 3600, Web3.keccak(text=f"order-{token_id}"))
        signature = sign_voucher(self.admin, self.card.domain(), voucher)
        as_buyer = self.card.as_account(buyer)
        if _series_of(token_id) is None:
            expected_error = "ResidentCardIdOutsideSeries"
        elif token_id in self.holders:
            expected_error = "ResidentCardAlreadyIssued"
        else:
            as_buyer.purchase(voucher, signature)
            self.holders[token_id] = buyer.address
            return
        with pytest.raises(ContractReverted, match=expected_error):
            as_buyer.purchase(voucher, signature)

    @invariant()
    def supply_matches_the_model_and_fits_each_series(self) -> None:
        assert self.card.total_supply() == len(self.holders)
        for index, (first, last, _soulbound) in enumerate(SERIES):
            issued = [token_id for token_id in self.holders if _series_of(token_id) == index]
            assert len(issued) <= last - first + 1

    @invariant()
    def every_touched_id_has_exactly_the_modelled_holder(self) -> None:
        for token_id in sorted(self.touched):
            if token_id in self.holders:
                assert self.card.owner_of(token_id) == self.holders[token_id]
            else:
                assert not self.card.exists(token_id)
        balances = sum(self.card.balance_of(person.address) for person in self.people)
        assert balances == len(self.holders)


ResidentCardMachine.TestCase.settings = settings(
    max_examples=8, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_resident_card_state_machine = ResidentCardMachine.TestCase
