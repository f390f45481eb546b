"""End to end on anvil through `furusato run`: a demo order and a wallet order (a dev account
redeems the voucher on chain) both end `minted`, and the chain agrees with the API's owner."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from minting.anvil import free_port
from minting.chains import Chain, connect
from minting.compiler import CompiledTree
from minting.resident_card import ResidentCardClient
from tests.conftest import FURUSATO, REPO_ROOT, ServerProcess
from tests.sales.conftest import order_body, redeem

pytestmark = pytest.mark.anvil


def _await_status(url: str, created: dict[str, Any], wanted: str, timeout: float = 90.0) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {created['order_token']}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order: dict[str, Any] = requests.get(
            f"{url}/api/v1/orders/{created['order_id']}", headers=headers, timeout=10
        ).json()
        if order["status"] == wanted:
            return order
        assert order["status"] in ("pending_payment", "paid", "minting"), order
        time.sleep(0.2)
    raise AssertionError(f"order not {wanted} within {timeout} s: {order}")


def _demo_and_wallet_orders(server: ServerProcess, chain: Chain, compiled: CompiledTree) -> tuple[Any, Any, Any]:
    """A walletless demo order of 2 cards, paid, and a wallet order whose voucher a dev account redeems."""
    buyer = chain.dev_accounts()[5]
    demo = requests.post(f"{server.url}/api/v1/orders", json=order_body(quantity=2), timeout=30).json()
    requests.post(
        f"{server.url}/api/v1/orders/{demo['order_id']}/demo-pay",
        headers={"Authorization": f"Bearer {demo['order_token']}"},
        timeout=30,
    ).raise_for_status()
    wallet_body = order_body(email="holder@example.jp", payment_method="wallet", wallet_address=buyer.address)
    wallet = requests.post(f"{server.url}/api/v1/orders", json=wallet_body, timeout=30).json()
    signed = wallet["voucher"]
    card = ResidentCardClient.at(chain.w3, compiled["ResidentCard"], signed["contract"], buyer)
    redeem(card, signed)
    return demo, wallet, card


@pytest.fixture
def stack(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[tuple[ServerProcess, Chain]]:
    port = free_port()
    server = start_server(["--chain", f"anvil://127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")])
    server.wait_healthy(timeout=120)
    with connect(f"http://127.0.0.1:{port}") as chain:
        yield server, chain


def test_demo_and_wallet_orders_end_minted_and_owned_on_chain(
    stack: tuple[ServerProcess, Chain], compiled: CompiledTree
) -> None:
    server, chain = stack
    buyer = chain.dev_accounts()[5]
    demo, wallet, card = _demo_and_wallet_orders(server, chain, compiled)

    minted_demo = _await_status(server.url, demo, "minted")
    minted_wallet = _await_status(server.url, wallet, "minted")

    assert minted_demo["token_ids"] == [1, 2]
    assert minted_wallet["token_ids"] == [3]
    for order in (minted_demo, minted_wallet):
        assert order["chain_id"] == chain.chain_id
        assert order["contract"] == card.address
        assert chain.w3.eth.get_transaction_receipt(order["tx_hash"])["status"] == 1
        for token_id in order["token_ids"]:
            assert card.owner_of(token_id) == order["owner"]
    assert minted_wallet["owner"] == buyer.address
    assert minted_demo["owner"] != buyer.address  # the walletless buyer's custodial address
    assert card.total_supply() == 3


def test_a_separate_worker_process_mints_and_indexes_for_api_processes(
    start_server: Callable[..., ServerProcess], tmp_path: Path, compiled: CompiledTree
) -> None:
    """Scaled out: the API runs without a worker; `furusato worker` mints, indexes and sweeps."""
    port, data_dir = free_port(), tmp_path / "data"
    server = start_server(
        ["--chain", f"anvil://127.0.0.1:{port}", "--data-dir", str(data_dir)], env={"FURUSATO_MINT_WORKER": "false"}
    )
    server.wait_healthy(timeout=120)
    worker = subprocess.Popen(
        [*FURUSATO, "worker", "--chain", f"http://127.0.0.1:{port}", "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with connect(f"http://127.0.0.1:{port}") as chain:
            demo, wallet, card = _demo_and_wallet_orders(server, chain, compiled)
            minted_demo = _await_status(server.url, demo, "minted")
            minted_wallet = _await_status(server.url, wallet, "minted")  # needs the worker's indexer
            assert [card.owner_of(token_id) for token_id in minted_demo["token_ids"]] == [minted_demo["owner"]] * 2
            assert card.owner_of(minted_wallet["token_ids"][0]) == minted_wallet["owner"]
    finally:
        worker.send_signal(2)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "indexer and order sweeper for" in output
