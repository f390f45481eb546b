"""order.html in states a quick purchase does not reach (expired, failed, unknown), with the
order API answered by the browser (Playwright routes)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.browser


def _order(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "order_id": "ord_test",
        "status": status,
        "drop_id": 1,
        "quantity": 1,
        "amount_jpy": 1000,
        "payment_method": "demo",
        "prefecture": "27",
        "created_at": "2025-01-01T00:00:00Z",
        "expires_at": "2025-01-01T00:15:00Z",
        "paid_at": None,
        "token_ids": [],
        "chain_id": None,
        "contract": None,
        "tx_hash": None,
        "owner": None,
        "checkout_url": None,
        "vouchers": None,
        "failure": None,
        **extra,
    }


def _serve(page: Page, answers: list[dict[str, Any]]) -> list[str]:
    """Answer GET /api/v1/orders/ord_test with `answers` in turn (the last one repeats)."""
    seen: list[str] = []

    def handle(route: Route) -> None:
        seen.append(route.request.headers.get("authorization", ""))
        body = answers[min(len(seen), len(answers)) - 1]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(re.compile(r".*/api/v1/orders/ord_test$"), handle)
    return seen


def test_expired_order_says_so_and_links_back_to_the_drop(page: Page, server: Any) -> None:
    seen = _serve(page, [_order("pending_payment"), _order("expired")])
    page.goto(f"{server.url}/order.html?id=ord_test#token=secret-1")
    expect(page.locator("#order-message")).to_contain_text("お支払いの期限が切れたため")
    expect(page.get_by_role("link", name="もう一度注文する")).to_have_attribute("href", "/drop.html?id=1")
    assert seen[0] == "Bearer secret-1"
    count = len(seen)
    page.wait_for_timeout(2500)  # polling stopped at the final state
    assert len(seen) == count


def test_paid_then_minting_then_minted_steps(page: Page, server: Any) -> None:
    contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    minted = _order("minted", token_ids=[41, 42], contract=contract, chain_id=31337)
    minting = _order("minting", token_ids=[41, 42])
    _serve(page, [_order("paid", token_ids=[41, 42]), minting, minting, minting, minted])  # ~3 s of minting
    page.goto(f"{server.url}/order.html?id=ord_test#token=secret-1")
    expect(page.locator("#steps li[aria-current=step]")).to_have_text(re.compile("発行中"))
    expect(page.locator("#order-message")).to_contain_text("発行中")
    expect(page.locator("#numbers li")).to_have_text(["No. 41", "No. 42"])
    expect(page.locator("#card-images img").first).to_have_attribute("src", f"/api/v1/tokens/{contract}/41/image.svg")
    expect(page.locator("#card-images img").first).to_have_attribute("alt", "デジタル住民票 No. 41 のカード画像")


def test_unknown_order_or_missing_token(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/order.html?id=ord_nothing")
    expect(page.locator("#order-message")).to_contain_text("ご注文が見つかりませんでした")
