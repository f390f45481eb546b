"""Property: NamingRights conserves auction funds whoever bids, including hostile contracts.

A Hypothesis state machine bids, withdraws, settles, relists, awards and moves the clock on
one eth-tester chain per run, with three honest accounts and three `HostileBidder`s (one
reverts on receipt, one burns all gas, one re-enters `bid`/`withdraw`/`settle`). After every
step the contract, read in one call through `FundsProbe`, must match the model, and

    balance == pending refunds + highest bids of open lots + unwithdrawn proceeds.

Every action the model says is valid must succeed (so a hostile bidder never blocks a later
bid or a settlement), and every invalid one must fail with the custom error the model names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed as EthTesterReverted
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from minting.chains import connect
from minting.compiler import CompiledTree, compile_contracts
from minting.errors import ContractReverted
from minting.naming_rights import LotConfig, LotStatus
from minting.reverts import translate
from tests.contracts.naming_fixtures import (
    DAY,
    HOSTILE_MODES,
    REENTER,
    build_world,
    deploy_artifact,
    naming_test_artifacts,
    transact,
)

pytestmark = pytest.mark.chain

GAS = 600_000
MAX_LOTS = 3
RESERVE = 1_000
INCREMENT = 100
SOFT_CLOSE_WINDOW = 30
EXTENSION = 60
HONEST = 3  # bidder indexes 0-2 are accounts, 3-5 the hostile contracts


@functools.cache
def _artifacts() -> tuple[CompiledTree, CompiledTree]:
    return compile_contracts(), naming_test_artifacts()


@dataclass
class LotModel:
    lot_id: int
    start: int
    end: int
    status: LotStatus = LotStatus.OPEN
    highest_bidder: str | None = None
    highest_bid: int = 0
    accepted: list[int] = field(default_factory=list)  # bids accepted since the last listing

    def minimum(self) -> int:
        return RESERVE if self.highest_bidder is None else self.highest_bid + INCREMENT


def _revert_of_call(abi: Any, call: Any) -> ContractReverted:
    """Run `call()` (an eth_call expected to revert) and decode the revert against `abi`."""
    with pytest.raises((ContractLogicError, EthTesterReverted)) as excinfo:
        call()
    reverted = translate(abi, excinfo.value)
    assert reverted is not None
    return reverted


class NamingFundsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        compiled, test_artifacts = _artifacts()
        self.chain = connect("eth-tester://")
        self.world = world = build_world(compiled, test_artifacts, self.chain)
        world.travel_to(world.now() + DAY)  # ahead of the wall clock: blocks exactly 1 s apart
        self.client = world.client
        self.abi: Any = self.client.contract.abi
        self.accounts = world.bidders[:HONEST]
        self.funder = world.bidders[HONEST]  # pays for the hostile contracts' bids
        self.hostiles: list[Contract] = [world.hostile(mode) for mode in HOSTILE_MODES.values()]
        self.modes = list(HOSTILE_MODES.values())
        self.probe = deploy_artifact(world.w3, test_artifacts["FundsProbe"], world.admin)
        self.bidders = [account.address for account in self.accounts] + [str(h.address) for h in self.hostiles]
        self.refunds = dict.fromkeys(self.bidders, 0)
        self.proceeds = 0
        self.lots: list[LotModel] = []
        self.blocked_reentries = 0
        self.sent = True  # a transaction was mined since the last probe
        self._create(300)

    def teardown(self) -> None:
        for index, hostile in enumerate(self.hostiles):
            if self.modes[index] == REENTER:
                assert hostile.functions.blockedReentries().call() == self.blocked_reentries
                assert hostile.functions.succeededReentries().call() == 0
        self.chain.close()

    # --- helpers --------------------------------------------------------------------------

    def _now(self) -> int:
        return self.world.now()

    def _lot(self, index: int) -> LotModel:
        return self.lots[index % len(self.lots)]

    def _away_from_edges(self, lot: LotModel) -> None:
        """Step off the second either side of the lot's start and end, where eth-tester's
        estimate (on the latest block) and the mined transaction (on the next) could disagree."""
        while any(abs(self._now() - edge) <= 1 for edge in (lot.start, lot.end)):
            self.world.travel_to(self._now() + 2)

    def _create(self, duration: int) -> None:
        now = self._now()
        config = LotConfig(
            park_id=len(self.lots) + 1,
            default_name=f"公園{len(self.lots) + 1}",
            term_start=now + DAY,
            term_end=now + 30 * DAY,
            auction_start=now,
            auction_end=now + duration,
            reserve=RESERVE,
            min_increment=INCREMENT,
            soft_close_window=SOFT_CLOSE_WINDOW,
            extension=EXTENSION,
        )
        lot_id = self.client.create_lot(config, gas=GAS).lot_id
        self.sent = True
        self.lots.append(LotModel(lot_id=lot_id, start=now, end=now + duration))

    # --- rules ----------------------------------------------------------------------------

    @precondition(lambda self: len(self.lots) < MAX_LOTS)
    @rule(duration=st.integers(60, 600))
    def create_lot(self, duration: int) -> None:
        self._create(duration)

    @rule(seconds=st.integers(1, 400))
    def advance_time(self, seconds: int) -> None:
        self.world.travel_to(self._now() + seconds)

    @rule(bidder=st.integers(0, 5), lot_index=st.integers(0, MAX_LOTS - 1), extra=st.integers(-150, 2_000))
    def bid(self, bidder: int, lot_index: int, extra: int) -> None:
        lot = self._lot(lot_index)
        self._away_from_edges(lot)
        now = self._now()
        amount = max(lot.minimum() + extra, 0)
        if lot.status is not LotStatus.OPEN:
            expected: str | None = "NamingRightsLotClosed"
        elif not lot.start <= now < lot.end:
            expected = "NamingRightsAuctionNotOpen"
        elif amount < lot.minimum():
            expected = "NamingRightsBidTooLow"
        else:
            expected = None
        address = self.bidders[bidder]

        if expected is not None:
            if bidder < HONEST:
                with pytest.raises(ContractReverted) as excinfo:
                    self.world.as_(self.accounts[bidder]).bid(lot.lot_id, amount)
                assert excinfo.value.error == expected
            else:
                function = self.hostiles[bidder - HONEST].functions.bid(lot.lot_id)
                params: Any = {"from": self.funder.address, "value": amount}
                call = functools.partial(function.call, params)
                assert _revert_of_call(self.abi, call).error == expected
            return

        balance_before = self.client.balance()
        self.sent = True
        if bidder < HONEST:
            self.world.as_(self.accounts[bidder]).bid(lot.lot_id, amount, gas=GAS)
        else:
            function = self.hostiles[bidder - HONEST].functions.bid(lot.lot_id)
            transact(self.world.w3, self.funder, function, value=amount, gas=GAS)
        assert self.client.balance() == balance_before + amount
        if lot.highest_bidder is not None:
            self.refunds[lot.highest_bidder] += lot.highest_bid
        lot.highest_bidder, lot.highest_bid = address, amount
        lot.accepted.append(amount)
        if lot.end - now <= SOFT_CLOSE_WINDOW:
            lot.end = max(lot.end, now + EXTENSION)

    @rule(bidder=st.integers(0, 5))
    def withdraw(self, bidder: int) -> None:
        address = self.bidders[bidder]
        credit = self.refunds[address]
        if bidder < HONEST:
            if credit == 0:
                with pytest.raises(ContractReverted) as excinfo:
                    self.world.as_(self.accounts[bidder]).withdraw()
                assert excinfo.value.error == "NamingRightsNothingToWithdraw"
                return
            assert self.world.as_(self.accounts[bidder]).withdraw(gas=GAS).amount == credit
            self.sent = True
            self.refunds[address] = 0
            return
        hostile, mode = self.hostiles[bidder - HONEST], self.modes[bidder - HONEST]
        if credit == 0 or mode != REENTER:  # nothing to pay, or a recipient that refuses it
            call = functools.partial(hostile.functions.withdraw().call, {"from": self.funder.address})
            error = "NamingRightsNothingToWithdraw" if credit == 0 else "NamingRightsTransferFailed"
            assert _revert_of_call(self.abi, call).error == error
            return
        before = self.world.w3.eth.get_balance(hostile.address)
        transact(self.world.w3, self.funder, hostile.functions.withdraw(), gas=GAS)
        self.sent = True
        assert self.world.w3.eth.get_balance(hostile.address) == before + credit
        self.refunds[address] = 0
        self.blocked_reentries += 3  # its receive() tried bid, withdraw and settle

    @rule(hostile_index=st.integers(0, 2))
    def rescue_hostile_refund(self, hostile_index: int) -> None:
        """`withdrawTo` moves a contract's credit to an address that accepts it."""
        hostile = self.hostiles[hostile_index]
        address = str(hostile.address)
        if self.refunds[address] == 0:
            return
        before = self.world.w3.eth.get_balance(self.funder.address)
        transact(self.world.w3, self.funder, hostile.functions.withdrawTo(self.funder.address), gas=GAS)
        self.sent = True
        fee_free_gain = self.world.w3.eth.get_balance(self.funder.address) - before
        assert fee_free_gain <= self.refunds[address]
        self.refunds[address] = 0

    @rule(lot_index=st.integers(0, MAX_LOTS - 1), settler=st.integers(0, HONEST - 1))
    def settle(self, lot_index: int, settler: int) -> None:
        lot = self._lot(lot_index)
        self._away_from_edges(lot)
        client = self.world.as_(self.accounts[settler])
        if lot.status is not LotStatus.OPEN:
            expected: str | None = "NamingRightsLotClosed"
        elif self._now() < lot.end:
            expected = "NamingRightsAuctionNotEnded"
        elif lot.highest_bidder is None:
            expected = "NamingRightsNoBids"
        else:
            expected = None
        if expected is not None:
            with pytest.raises(ContractReverted) as excinfo:
                client.settle(lot.lot_id)
            assert excinfo.value.error == expected
            return
        settlement = client.settle(lot.lot_id, gas=GAS)
        self.sent = True
        assert (settlement.winner, settlement.amount) == (lot.highest_bidder, lot.highest_bid)
        assert self.client.owner_of(lot.lot_id) == lot.highest_bidder
        lot.status = LotStatus.SETTLED
        self.proceeds += lot.highest_bid

    @rule(lot_index=st.integers(0, MAX_LOTS - 1), duration=st.integers(60, 600))
    def relist(self, lot_index: int, duration: int) -> None:
        lot = self._lot(lot_index)
        now = self._now()
        if lot.status is not LotStatus.OPEN or lot.highest_bidder is not None:
            with pytest.raises(ContractReverted) as excinfo:
                self.client.relist(lot.lot_id, now, now + duration, RESERVE)
            closed = lot.status is not LotStatus.OPEN
            assert excinfo.value.error == ("NamingRightsLotClosed" if closed else "NamingRightsLotHasBids")
            return
        self.client.relist(lot.lot_id, now, now + duration, RESERVE, gas=GAS)
        self.sent = True
        lot.start, lot.end, lot.accepted = now, now + duration, []

    @rule(lot_index=st.integers(0, MAX_LOTS - 1), winner=st.integers(0, HONEST - 1))
    def award_offchain(self, lot_index: int, winner: int) -> None:
        lot = self._lot(lot_index)
        address = self.accounts[winner].address
        if lot.status is not LotStatus.OPEN or lot.highest_bidder is not None:
            with pytest.raises(ContractReverted) as excinfo:
                self.client.award_offchain(lot.lot_id, address)
            closed = lot.status is not LotStatus.OPEN
            assert excinfo.value.error == ("NamingRightsLotClosed" if closed else "NamingRightsLotHasBids")
            return
        self.client.award_offchain(lot.lot_id, address, gas=GAS)
        self.sent = True
        lot.status = LotStatus.AWARDED

    @rule()
    def withdraw_proceeds(self) -> None:
        if self.proceeds == 0:
            with pytest.raises(ContractReverted) as excinfo:
                self.client.withdraw_proceeds()
            assert excinfo.value.error == "NamingRightsNothingToWithdraw"
            return
        assert self.client.withdraw_proceeds(gas=GAS).amount == self.proceeds
        self.sent = True
        self.proceeds = 0

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def funds_are_conserved_and_match_the_model(self) -> None:
        if not self.sent:  # only calls and empty blocks since the last check: nothing changed
            return
        self.sent = False
        probe = self.probe.functions.snapshot(self.client.address, self.bidders).call()
        held, owed, refunds, proceeds, highest_bids, highest_bidders, statuses, ends = probe
        live = sum(lot.highest_bid for lot in self.lots if lot.status is LotStatus.OPEN)
        assert held == owed == sum(refunds) + live + proceeds
        assert held == sum(self.refunds.values()) + live + self.proceeds
        assert list(refunds) == [self.refunds[address] for address in self.bidders]
        assert proceeds == self.proceeds
        assert len(highest_bids) == len(self.lots)
        for lot, bid, bidder, status, end in zip(self.lots, highest_bids, highest_bidders, statuses, ends, strict=True):
            assert (LotStatus(status), end) == (lot.status, lot.end)
            assert bid == lot.highest_bid
            assert (bidder if int(bidder, 16) else None) == lot.highest_bidder

    @invariant()
    def highest_bid_is_the_largest_accepted(self) -> None:
        for lot in self.lots:
            if lot.accepted:
                assert lot.highest_bid == max(lot.accepted)


NamingFundsMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_naming_rights_funds_are_conserved = NamingFundsMachine.TestCase
