"""The yen auction's soft close is the contract's: the same bids at the same seconds give the
same end, bid by bid, through the bid API (`rules.extended_end` under the lot lock) and
through `NamingRights.bid` on eth-tester (block timestamps set to those seconds); and both
refuse a bid at the end they arrived at."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.core.config import Settings
from backend.naming import rules
from backend.runtime import Runtime
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.errors import ContractReverted
from minting.naming_rights import NamingRightsClient
from tests.contracts.naming_fixtures import DEPLOY_GAS, INCREMENT, RESERVE, SETUP_GAS, lot_config, travel_to
from tests.naming.auction_world import Bidder, Clock, add_bidder, add_lot

pytestmark = pytest.mark.chain

HOUR = 3_600


@dataclass
class Contract:
    chain: Chain
    client: NamingRightsClient

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("pending")["timestamp"])


@pytest.fixture(scope="module")
def contract(compiled: CompiledTree) -> Iterator[Contract]:
    with connect("eth-tester://") as chain:
        admin, treasury = chain.dev_accounts()[0], chain.dev_accounts()[9]
        client, _ = NamingRightsClient.deploy(
            chain.w3, compiled["NamingRights"], admin, treasury=treasury.address, base_uri="https://t/", gas=DEPLOY_GAS
        )
        yield Contract(chain, client)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("soft-close") / "data"))
    with TestClient(app) as client:
        yield client


def _runtime(api: TestClient) -> Runtime:
    runtime: Runtime = api.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _compare(contract: Contract, api: TestClient, window: int, extension: int, offsets: list[int]) -> list[int]:
    """Bid at `start + offset` for each offset (alternating two bidders) on both; assert both
    give the same end after every bid, and both refuse a bid at the last end. The ends, from
    the start."""
    start = contract.now() + 60
    chain_lot = contract.client.create_lot(
        lot_config(start, auction_end=start + HOUR, soft_close_window=window, extension=extension), gas=SETUP_GAS
    ).lot_id
    runtime = _runtime(api)
    lot_id = add_lot(
        runtime.sessions, start, soft_close_seconds=window, extension_seconds=extension, min_increment_jpy=1_000
    )
    clock = Clock().install(api.app)  # type: ignore[arg-type]
    wallets = contract.chain.dev_accounts()[1:3]
    bidders: list[Bidder] = [add_bidder(runtime, lot_id) for _ in wallets]
    ends = []
    for index, offset in enumerate(offsets):
        at = start + offset
        travel_to(contract.chain.w3, at)
        placed = contract.client.as_account(wallets[index % 2]).bid(chain_lot, RESERVE + index * INCREMENT)
        assert contract.chain.w3.eth.get_block(placed.receipt["blockNumber"])["timestamp"] == at
        clock.now = at
        answer = api.post(
            f"/api/v1/lots/{lot_id}/bids",
            json={"amount_jpy": 1_000 * (index + 1)},
            headers=bidders[index % 2].bid_headers(),
        )
        assert answer.status_code == 201, answer.text
        yen_end = rules.seconds(datetime.fromisoformat(answer.json()["lot"]["ends_at"]))
        assert yen_end == placed.auction_end == contract.client.lot(chain_lot).auction_end, (offset, index)
        ends.append(yen_end - start)

    last_end = start + ends[-1]
    travel_to(contract.chain.w3, last_end)
    with pytest.raises(ContractReverted) as refused:
        contract.client.as_account(wallets[0]).bid(chain_lot, RESERVE + len(offsets) * INCREMENT)
    assert refused.value.error == "NamingRightsAuctionNotOpen"
    clock.now = last_end
    late = api.post(f"/api/v1/lots/{lot_id}/bids", json={"amount_jpy": 10**6}, headers=bidders[0].bid_headers())
    assert (late.status_code, late.json()["error"]["code"]) == (409, "auction_closed")
    return ends


def test_edges_of_the_window_extend_as_on_chain(contract: Contract, api: TestClient) -> None:
    end = HOUR
    ends = _compare(contract, api, 300, 600, [100, end - 301, end - 300, end + 299, end + 299 + 599])
    # Outside the window: no change; its first second: now + 600; then each last second again.
    assert ends == [end, end, end + 300, end + 899, end + 1_498]


def test_an_extension_shorter_than_what_is_left_never_shortens(contract: Contract, api: TestClient) -> None:
    end = HOUR
    ends = _compare(contract, api, 300, 60, [end - 200, end - 60, end - 59, end - 1])
    assert ends == [end, end, end + 1, end + 59]


def test_random_late_bids_give_the_same_ends(contract: Contract, api: TestClient) -> None:
    rng = random.Random(2026)
    offsets, at = [], HOUR - 600
    for _ in range(16):
        at += rng.randint(1, 150)
        offsets.append(at)
    window, extension = 300, 240
    # Keep only bids before the end as it stands (both sides would refuse the rest).
    kept, end = [], HOUR
    for offset in offsets:
        if offset < end:
            kept.append(offset)
            end = rules.extended_end(end, offset, window, extension)
    assert len(kept) >= 10
    _compare(contract, api, window, extension, kept)
