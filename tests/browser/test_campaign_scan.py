"""A poster scanned by a phone, in a real Chromium against `furusato run`: `/c/{code}` counts
the scan and opens the drop page, the page sends the code with the order, and the funnel
shows the scan, the order, the payment and the card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, expect

from backend.core.db import make_engine, make_session_factory
from backend.sales.models import Order
from tests.conftest import ARTIFACTS_DIR
from tests.factories import staff_headers

pytestmark = pytest.mark.browser

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Mobile Safari/604.1"
MINT_TIMEOUT_MS = 60_000
TOWN = "/api/v1/staff/towns/hoshikawa"


def test_a_scanned_poster_leads_to_an_order_that_carries_its_code(
    browser: Browser, server: Any, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'furusato.db'}")
    try:
        headers = staff_headers(make_session_factory(engine), "hoshikawa", "editor")
        made = requests.post(
            f"{server.url}{TOWN}/campaigns", json={"name": "道の駅", "drop_id": 1}, headers=headers, timeout=30
        )
        assert made.status_code == 201, made.text
        code = made.json()["code"]

        context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844}, user_agent=IPHONE)
        page = context.new_page()
        page.goto(f"{server.url}/c/{code}")
        expect(page).to_have_url(re.compile(rf"/drop\.html\?id=1&c={code}$"))
        expect(page.locator("#drop-title")).to_have_text("星川町 デジタル住民票 第1期")
        expect(page.locator("#campaign_code")).to_have_value(code)
        page.get_by_label("メールアドレス").fill("poster@example.jp")
        page.get_by_label("お住まいの都道府県").select_option(label="東京都")
        page.get_by_label("デモ決済（テスト用）").check()
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS_DIR / "campaign-drop-page.png", full_page=True)
        page.get_by_role("button", name="購入する").click()
        expect(page).to_have_url(re.compile(r"/order\.html\?id=ord_"))
        expect(page.locator("#numbers")).to_have_text("No. 1", timeout=MINT_TIMEOUT_MS)
        order_id = page.evaluate("new URLSearchParams(location.search).get('id')")
        # A mangled code in a shared link is dropped, not sent to fail the order.
        page.goto(f"{server.url}/drop.html?id=1&c=%3Cb%3E%20x")
        expect(page.locator("#drop-title")).to_have_text("星川町 デジタル住民票 第1期")
        expect(page.locator("#campaign_code")).to_have_value("")
        context.close()

        with make_session_factory(engine)() as session:
            order = session.get(Order, order_id)
            assert order is not None
            assert order.campaign_code == code
        funnel = requests.get(f"{server.url}{TOWN}/funnel", headers=headers, timeout=30).json()
        (row,) = funnel["items"]
        assert row["code"] == code
        assert (row["scans"], row["unique_scans"], row["bot_scans"]) == (1, 1, 0)
        assert (row["orders"], row["paid"], row["minted"], row["revenue_jpy"]) == (1, 1, 1, 1000)
    finally:
        engine.dispose()
