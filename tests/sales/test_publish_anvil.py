"""Publishing end to end on anvil, through `furusato run` and the staff HTTP API.

- A drop created and published in the console is bought by a supporter (demo payment, and a
  wallet redeeming its voucher against the new series' on-chain terms), minted from the
  drop's first number.
- Ten concurrent publish calls add one series; two drops published at once get ranges that
  do not overlap.
- A crash between the series transaction and the drop going live (SIGKILL at a failpoint:
  stored but not broadcast, broadcast but no receipt read, receipt read but the drop not yet
  live) neither loses nor doubles it: after a restart the drop is live with exactly one new
  series on chain, and it sells.

anvil runs on its own here (the server reaches it by URL), so it outlives a killed server.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import make_engine, make_session_factory
from minting.anvil import AnvilNode
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.resident_card import ResidentCardClient
from minting.store import OnceTxRow
from tests.conftest import ServerProcess
from tests.factories import staff_headers
from tests.sales.conftest import order_body, redeem
from tests.sales.test_end_to_end import _await_status
from tests.sales.test_staff_drops import TOWN, draft_body

pytestmark = pytest.mark.anvil


@dataclass
class Stack:
    """anvil, a data directory, and the `furusato run` servers started on them."""

    node: AnvilNode
    chain: Chain
    data_dir: Path
    start_server: Callable[..., ServerProcess]
    compiled: CompiledTree
    engine: Engine | None = None

    def start(self, failpoint: str | None = None) -> ServerProcess:
        env = {"FURUSATO_FAILPOINT": failpoint} if failpoint else {}
        server = self.start_server(["--chain", self.node.url, "--data-dir", str(self.data_dir)], env=env)
        server.wait_healthy(timeout=120)
        return server

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The server's own database (SQLite in its data directory), as another process sees it."""
        if self.engine is None:
            self.engine = make_engine(f"sqlite:///{self.data_dir / 'furusato.db'}")
        return make_session_factory(self.engine)

    def card(self, address: str) -> ResidentCardClient:
        return ResidentCardClient.at(self.chain.w3, self.compiled["ResidentCard"], address)

    def purposes(self, drop_id: int) -> list[tuple[str, str]]:
        with self.sessions() as session:
            rows = session.execute(
                select(OnceTxRow.purpose, OnceTxRow.status).where(OnceTxRow.purpose.like(f"drop:{drop_id}:series%"))
            ).all()
        return [(purpose, status) for purpose, status in rows]


@pytest.fixture
def stack(start_server: Callable[..., ServerProcess], tmp_path: Path, compiled: CompiledTree) -> Iterator[Stack]:
    with AnvilNode(tmp_path / "anvil") as node, connect(node.url) as chain:
        stack = Stack(node, chain, tmp_path / "data", start_server, compiled)
        yield stack
        if stack.engine is not None:
            stack.engine.dispose()


def create_drop(server: ServerProcess, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = requests.post(f"{server.url}{TOWN}/drops", json=draft_body(**overrides), headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def staff_drop(server: ServerProcess, headers: dict[str, str], drop_id: int) -> dict[str, Any]:
    shown: dict[str, Any] = requests.get(f"{server.url}{TOWN}/drops/{drop_id}", headers=headers, timeout=30).json()
    return shown


def await_live(server: ServerProcess, headers: dict[str, str], drop_id: int, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        drop = staff_drop(server, headers, drop_id)
        if drop["status"] == "live":
            return drop
        assert drop["status"] == "publishing", drop
        time.sleep(0.2)
    raise AssertionError(f"drop {drop_id} not live within {timeout} s: {drop}")


def buy_one(server: ServerProcess, drop_id: int, email: str = "supporter@example.jp") -> dict[str, Any]:
    """A walletless supporter orders one card and pays by demo; returns the minted order."""
    created = requests.post(
        f"{server.url}/api/v1/orders", json=order_body(drop_id=drop_id, email=email), timeout=30
    ).json()
    requests.post(
        f"{server.url}/api/v1/orders/{created['order_id']}/demo-pay",
        headers={"Authorization": f"Bearer {created['order_token']}"},
        timeout=30,
    ).raise_for_status()
    return _await_status(server.url, created, "minted")


def test_a_drop_created_and_published_in_the_console_is_bought_end_to_end(stack: Stack) -> None:
    server = stack.start()
    editor = staff_headers(stack.sessions, "hoshikawa", "editor")
    drop = create_drop(server, editor, price_jpy=1_000, supply=20, per_buyer_limit=2, soulbound=True)
    card = stack.card(drop["contract"])
    before = card.series_count()

    published = requests.post(f"{server.url}{TOWN}/drops/{drop['id']}/publish", headers=editor, timeout=60)
    assert published.status_code in (200, 202), published.text
    live = await_live(server, editor, drop["id"])
    listed = requests.get(f"{server.url}/api/v1/drops", params={"municipality": "hoshikawa"}, timeout=30).json()

    assert drop["id"] in [item["id"] for item in listed["items"]]
    assert card.series_count() == before + 1
    series = card.series(live["series_id"])
    assert (series.first_id, series.size, series.soulbound) == (live["first_token_id"], 20, True)

    minted = buy_one(server, drop["id"])
    assert minted["token_ids"] == [live["first_token_id"]]
    assert minted["contract"] == card.address
    assert card.owner_of(live["first_token_id"]) == minted["owner"]
    assert card.locked(live["first_token_id"])

    buyer = stack.chain.dev_accounts()[6]
    wallet_body = order_body(
        drop_id=drop["id"], email="wallet@example.jp", payment_method="wallet", wallet_address=buyer.address
    )
    wallet = requests.post(f"{server.url}/api/v1/orders", json=wallet_body, timeout=30).json()
    redeem(card.as_account(buyer), wallet["voucher"])  # the series' price, window and cap accept it
    minted_wallet = _await_status(server.url, wallet, "minted")
    assert minted_wallet["token_ids"] == [live["first_token_id"] + 1]
    assert card.owner_of(live["first_token_id"] + 1) == buyer.address


def test_ten_concurrent_publishes_add_one_series_and_two_drops_never_overlap(stack: Stack) -> None:
    server = stack.start()
    editor = staff_headers(stack.sessions, "hoshikawa", "editor")
    drops = [create_drop(server, editor, supply=supply, per_buyer_limit=1) for supply in (30, 12, 8)]
    card = stack.card(drops[0]["contract"])
    before = card.series_count()

    def publish(drop_id: int) -> int:
        url = f"{server.url}{TOWN}/drops/{drop_id}/publish"
        return requests.post(url, headers=editor, timeout=60).status_code

    with ThreadPoolExecutor(10) as pool:
        alone = list(pool.map(publish, [drops[0]["id"]] * 10))
    with ThreadPoolExecutor(10) as pool:
        together = list(pool.map(publish, [drops[1]["id"], drops[2]["id"]] * 5))
    lives = [await_live(server, editor, drop["id"]) for drop in drops]

    assert set(alone + together) <= {200, 202}, alone + together
    assert card.series_count() == before + 3
    assert sorted(live["series_id"] for live in lives) == list(range(before, before + 3))
    for drop in drops:
        assert stack.purposes(drop["id"]) == [(f"drop:{drop['id']}:series", "mined")]
    ranges = sorted((live["first_token_id"], live["first_token_id"] + live["supply"] - 1) for live in lives)
    assert all(end < start for (_first, end), (start, _last) in itertools.pairwise(ranges))
    for live in lives:
        series = card.series(live["series_id"])
        assert (series.first_id, series.size) == (live["first_token_id"], live["supply"])


@pytest.mark.parametrize("failpoint", ["once_after_store:1", "once_after_broadcast:1", "publish_after_series:1"])
def test_a_crash_while_publishing_neither_loses_nor_doubles_the_series(stack: Stack, failpoint: str) -> None:
    stack.start().stop()  # the demo's own transactions (its park's lot, its lottery) are sent first, once
    crashing = stack.start(failpoint)
    editor = staff_headers(stack.sessions, "hoshikawa", "owner")
    drop = create_drop(crashing, editor, supply=15, per_buyer_limit=3)
    card = stack.card(drop["contract"])
    before = card.series_count()

    with pytest.raises(requests.ConnectionError):
        requests.post(f"{crashing.url}{TOWN}/drops/{drop['id']}/publish", headers=editor, timeout=60)
    assert crashing.process.wait(timeout=30) == -9
    with stack.sessions() as session:
        left = session.execute(select(OnceTxRow.status).where(OnceTxRow.purpose == f"drop:{drop['id']}:series")).all()
    assert [status for (status,) in left] == (["mined"] if failpoint.startswith("publish_") else ["sent"])
    assert card.series_count() == (before if failpoint.startswith("once_after_store") else before + 1)

    restarted = stack.start()
    live = await_live(restarted, editor, drop["id"])

    assert card.series_count() == before + 1
    assert stack.purposes(drop["id"]) == [(f"drop:{drop['id']}:series", "mined")]
    assert card.series(live["series_id"]).first_id == live["first_token_id"]
    assert buy_one(restarted, drop["id"])["token_ids"] == [live["first_token_id"]]
