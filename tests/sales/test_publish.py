"""Publishing on an eth-tester chain, below the HTTP layer where a failure must be provoked:
a series that reverts (caught by the estimate, or mined reverted) sends the drop back to draft
with the reason and uses up its purpose only when mined; a drop left "publishing" is finished
by the sweeper; a series whose sale terms drifted from its drop's is brought back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from backend.app import create_app
from backend.core.config import Settings
from backend.runtime import Runtime
from backend.sales import publish as publish_module
from backend.sales.drops import WEI_PER_JPY, card_client
from backend.sales.models import Drop
from backend.sales.publish import (
    RESUME_EVERY_SECONDS,
    Publisher,
    finish_pending,
    is_running,
    publisher_of,
    series_purpose,
)
from backend.sales.sweeper import OrderSweeper
from minting.once import call_tx
from minting.store import OnceTxRow
from tests.factories import staff_headers
from tests.sales.test_staff_drops import TOWN, draft_body

pytestmark = pytest.mark.chain


@pytest.fixture
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("publish") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


def runtime(client: TestClient) -> Runtime:
    value: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return value


@pytest.fixture
def editor(client: TestClient) -> dict[str, str]:
    return staff_headers(runtime(client).sessions, "hoshikawa", "editor")


def draft(client: TestClient, editor: dict[str, str], **overrides: Any) -> int:
    response = client.post(f"{TOWN}/drops", json=draft_body(**overrides), headers=editor)
    assert response.status_code == 201, response.text
    drop_id: int = response.json()["id"]
    return drop_id


def stored_purposes(client: TestClient, drop_id: int) -> list[tuple[str, int | None]]:
    with runtime(client).sessions() as session:
        rows = session.execute(
            select(OnceTxRow.purpose, OnceTxRow.receipt_status)
            .where(OnceTxRow.purpose.like(f"drop:{drop_id}:%"))
            .order_by(OnceTxRow.id)
        ).all()
    return [(purpose, status) for purpose, status in rows]


def series_count(client: TestClient) -> int:
    return card_client(runtime(client).chain, runtime(client).card_contract).series_count()


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_series_the_estimate_refuses_sends_the_drop_back_to_draft_with_the_reason(
    client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_id = draft(client, editor)
    before = series_count(client)
    # An id range overlapping the demo drop's series (ids 1-1000): the contract refuses it.
    monkeypatch.setattr(publish_module, "first_free_id", lambda *_args: 500)

    refused = client.post(f"{TOWN}/drops/{drop_id}/publish", headers=editor)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "publish_failed"
    assert "重なりました" in refused.json()["error"]["message"]
    shown = client.get(f"{TOWN}/drops/{drop_id}", headers=editor).json()
    assert (shown["status"], shown["first_token_id"], shown["series_id"]) == ("draft", None, None)
    assert "重なりました" in shown["publish_error"]
    assert stored_purposes(client, drop_id) == []  # refused before anything was signed
    assert series_count(client) == before

    monkeypatch.undo()
    published = client.post(f"{TOWN}/drops/{drop_id}/publish", headers=editor)

    assert published.status_code == 200, published.text
    assert (published.json()["status"], published.json()["publish_error"]) == ("live", None)
    assert published.json()["first_token_id"] == 1001
    assert series_count(client) == before + 1


def test_a_series_mined_reverted_uses_up_its_purpose_and_the_next_try_takes_the_next(
    client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_id = draft(client, editor)
    before = series_count(client)

    def overlapping(_self: Publisher, card: Any, drop: Drop) -> dict[str, Any]:
        # An explicit gas limit skips the estimate: the transaction is signed, sent and mined reverted.
        return call_tx(card.contract, "addSeries", 1, 10, 0, 0, 2**64 - 1, 0, False, gas=300_000)

    monkeypatch.setattr(Publisher, "_series_tx", overlapping)
    refused = client.post(f"{TOWN}/drops/{drop_id}/publish", headers=editor)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "publish_failed"
    assert "重なりました" in refused.json()["error"]["message"]  # the replay named the contract's error
    assert stored_purposes(client, drop_id) == [(series_purpose(drop_id), 0)]

    monkeypatch.undo()
    published = client.post(f"{TOWN}/drops/{drop_id}/publish", headers=editor)

    assert published.status_code == 200, published.text
    assert published.json()["status"] == "live"
    assert stored_purposes(client, drop_id) == [(series_purpose(drop_id), 0), (series_purpose(drop_id, 2), 1)]
    assert series_count(client) == before + 1


def test_the_sweeper_finishes_a_drop_left_publishing_once(client: TestClient, editor: dict[str, str]) -> None:
    drop_id = draft(client, editor)
    before = series_count(client)
    rt = runtime(client)
    publisher = publisher_of(rt)
    with rt.sessions() as session:  # what a process that died right after claiming leaves
        drop = session.get(Drop, drop_id)
        assert drop is not None
        assert publisher.claim(session, drop, rt.card_contract)
        session.commit()
    assert client.get(f"/api/v1/drops/{drop_id}").status_code == 404  # publishing: not public yet

    sweeper = OrderSweeper(rt.sessions, rt.chain, admin=publisher.admin)
    sweeper.sweep()
    wait_for(lambda: not is_running(drop_id))  # without touching the chain (eth-tester: one thread at a time)
    assert client.get(f"{TOWN}/drops/{drop_id}", headers=editor).json()["status"] == "live"
    sweeper.sweep()  # nothing left to do: no second series

    assert series_count(client) == before + 1
    assert stored_purposes(client, drop_id) == [(series_purpose(drop_id), 1)]
    assert client.get(f"/api/v1/drops/{drop_id}").json()["status"] == "on_sale"


def test_a_claim_is_once_and_its_first_id_counts_drops_still_publishing(
    client: TestClient, editor: dict[str, str]
) -> None:
    rt = runtime(client)
    publisher = publisher_of(rt)
    first, second = draft(client, editor, supply=20, per_buyer_limit=1), draft(client, editor, supply=5)
    with rt.sessions() as session:
        drops = [session.get(Drop, first), session.get(Drop, second)]
        assert drops[0] is not None
        assert drops[1] is not None
        claims = [publisher.claim(session, drops[0], rt.card_contract) for _ in range(3)]
        claims.append(publisher.claim(session, drops[1], rt.card_contract))
        session.commit()
        ids = [drop.first_token_id for drop in drops if drop is not None]

    assert claims == [True, False, False, True]
    assert ids == [1001, 1021]  # nothing on chain yet for the first: its range counts all the same


def test_a_series_whose_terms_drifted_is_brought_back_to_its_drop(client: TestClient, editor: dict[str, str]) -> None:
    drop_id = draft(client, editor, price_jpy=3_000)
    published = client.post(f"{TOWN}/drops/{drop_id}/publish", headers=editor).json()
    rt = runtime(client)
    with rt.sessions() as session:  # an edit committed, then the process died before its setSale
        session.execute(update(Drop).where(Drop.id == drop_id).values(price_jpy=4_000, price_wei=4_000 * WEI_PER_JPY))
        session.commit()
    card = card_client(rt.chain, rt.card_contract)
    assert card.series(published["series_id"]).price_wei == 3_000 * WEI_PER_JPY

    OrderSweeper(rt.sessions, rt.chain, admin=publisher_of(rt).admin).sweep()
    # Wait without touching the chain: eth-tester is not safe for a read beside a write.
    wait_for(lambda: not is_running(drop_id))

    assert card.series(published["series_id"]).price_wei == 4_000 * WEI_PER_JPY

    with rt.sessions() as session:
        sales = session.scalar(
            select(func.count()).select_from(OnceTxRow).where(OnceTxRow.purpose.like(f"drop:{drop_id}:sale:%"))
        )
    assert sales == 1


def test_a_drop_still_publishing_is_resumed_at_once_then_every_few_seconds(
    client: TestClient, editor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that is down, or a signer without gas money, is not asked again every second."""
    drop_id = draft(client, editor)
    rt = runtime(client)
    publisher = publisher_of(rt)
    with rt.sessions() as session:
        drop = session.get(Drop, drop_id)
        assert drop is not None
        assert publisher.claim(session, drop, rt.card_contract)
        session.commit()
    tries: list[int] = []
    monkeypatch.setattr(Publisher, "finish", lambda _self, drop_id: tries.append(drop_id))
    resumed: dict[int, float] = {}

    def resume() -> int:
        started = finish_pending(rt.sessions, rt.chain, lambda: publisher.admin, resumed)
        wait_for(lambda: not is_running(drop_id))
        return started

    assert [resume(), resume()] == [1, 0]
    resumed[drop_id] -= RESUME_EVERY_SECONDS
    assert resume() == 1
    assert tries == [drop_id, drop_id]
