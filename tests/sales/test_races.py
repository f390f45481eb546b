"""Races through a real server (`furusato run`, uvicorn, many threads), on SQLite and PostgreSQL:
500 buyers at once for the last 10 cards, then every accepted order paid at once; one
Idempotency-Key sent many times at once; one order paid many times at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ServerProcess
from tests.sales.conftest import order_body

pytestmark = pytest.mark.chain

ATTEMPTS = 500
LAST_CARDS = 10
CLIENTS = 64


def _all_at_once(count: int, action: Callable[[int], requests.Response]) -> list[requests.Response]:
    """Run `action(i)` for every i on CLIENTS threads, released together by a barrier."""
    gate = threading.Barrier(min(count, CLIENTS))
    started = threading.local()

    def run(index: int) -> requests.Response:
        if not getattr(started, "done", False):  # each thread's first request waits for all threads
            started.done = True
            gate.wait()
        return action(index)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(run, range(count)))


def _race(server: ServerProcess) -> None:
    url = server.url
    responses = _all_at_once(
        ATTEMPTS,
        lambda i: requests.post(f"{url}/api/v1/orders", json=order_body(email=f"buyer{i}@example.jp"), timeout=60),
    )

    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in responses)
    assert outcomes == {(201, None): LAST_CARDS, (409, "sold_out"): ATTEMPTS - LAST_CARDS}
    drop = requests.get(f"{url}/api/v1/drops/1", timeout=10).json()
    assert (drop["sold"], drop["remaining"], drop["status"]) == (LAST_CARDS, 0, "sold_out")

    accepted: list[dict[str, Any]] = [r.json() for r in responses if r.status_code == 201]
    paid = _all_at_once(
        len(accepted),
        lambda i: requests.post(
            f"{url}/api/v1/orders/{accepted[i]['order_id']}/demo-pay",
            headers={"Authorization": f"Bearer {accepted[i]['order_token']}"},
            timeout=60,
        ),
    )
    assert {r.status_code for r in paid} == {200}
    numbers = sorted(n for r in paid for n in r.json()["token_ids"])
    assert numbers == list(range(1, LAST_CARDS + 1))  # unique and contiguous: no gap, none twice


def _server(start_server: Callable[..., ServerProcess], tmp_path: Path, *extra: str) -> ServerProcess:
    server = start_server(
        ["--chain", "eth-tester://", "--data-dir", str(tmp_path / "data"), *extra],
        env={"FURUSATO_DEMO_SUPPLY": str(LAST_CARDS), "FURUSATO_MINT_WORKER": "false"},
    )
    server.wait_healthy()
    return server


def test_500_buyers_for_the_last_10_cards_on_sqlite(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    _race(_server(start_server, tmp_path))


@pytest.mark.postgres
def test_500_buyers_for_the_last_10_cards_on_postgresql(
    start_server: Callable[..., ServerProcess], tmp_path: Path, postgres_url: str
) -> None:
    _race(_server(start_server, tmp_path, "--database-url", postgres_url))


def _one_key_many_times(server: ServerProcess) -> None:
    """30 copies of one request and 10 of another body, all with one key: one order."""
    url = server.url
    same, other = order_body(email="once@example.jp"), order_body(email="once@example.jp", quantity=2)
    responses = _all_at_once(
        40,
        lambda i: requests.post(
            f"{url}/api/v1/orders", json=same if i % 4 else other, headers={"Idempotency-Key": "one-key"}, timeout=60
        ),
    )
    created = {r.json()["order_id"] for r in responses if r.status_code == 201}
    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in responses)
    assert len(created) == 1, outcomes
    assert set(outcomes) <= {(201, None), (409, "idempotency_key_reused")}, outcomes
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert outcomes[201, None] == (30 if winner["quantity"] == 1 else 10)
    assert requests.get(f"{url}/api/v1/drops/1", timeout=10).json()["sold"] == winner["quantity"]

    # The same order paid 30 times at once: paid once, and every answer says so.
    paid = _all_at_once(
        30,
        lambda i: requests.post(
            f"{url}/api/v1/orders/{winner['order_id']}/demo-pay",
            headers={"Authorization": f"Bearer {winner['order_token']}"},
            timeout=60,
        ),
    )
    assert {(r.status_code, r.json()["status"]) for r in paid} == {(200, "paid")}
    assert {tuple(r.json()["token_ids"]) for r in paid} == {tuple(range(1, winner["quantity"] + 1))}


def test_one_idempotency_key_at_once_makes_one_order_on_sqlite(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    _one_key_many_times(_server(start_server, tmp_path))


@pytest.mark.postgres
def test_one_idempotency_key_at_once_makes_one_order_on_postgresql(
    start_server: Callable[..., ServerProcess], tmp_path: Path, postgres_url: str
) -> None:
    _one_key_many_times(_server(start_server, tmp_path, "--database-url", postgres_url))
