"""Buying a digital resident card in a real Chromium, in Japanese, on a phone-sized screen,
against a real `furusato run` on anvil: town page → drop → demo payment → order page with the
minted number → sign-in link by email → "my cards" with the card image.

`test_purchase_then_my_card_from_the_emailed_link` needs the holders API (sign-in, session,
my cards) and the token image endpoint, built on other branches; the other tests run on the
sales API alone.
"""

from __future__ import annotations

import email
import re
import uuid
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ARTIFACTS_DIR
from tests.holders.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.anvil]

#: Anvil mines on demand; the worker sends within a second or two. Generous for slow CI.
MINT_TIMEOUT_MS = 60_000
SIGN_IN_LINK = re.compile(r"https?://[^\s\"'<>]+/signin\.html#token=[A-Za-z0-9_\-.~%]+")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def shop(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` on anvil with the demo town (1,000 cards, 5 per person, demo payments)."""
    running = start_server(["--data-dir", str(data_dir), "--chain", "anvil://"])
    running.wait_healthy()
    return running


@pytest.fixture
def small_shop(start_server: Any, data_dir: Path) -> Any:
    """The same with only 3 cards, to sell out."""
    running = start_server(["--data-dir", str(data_dir), "--chain", "anvil://"], env={"FURUSATO_DEMO_SUPPLY": "3"})
    running.wait_healthy()
    return running


def _phone(browser: Browser) -> Page:
    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    return context.new_page()


def _buy_by_api(server: Any, buyer: str, quantity: int) -> dict[str, Any]:
    response = requests.post(
        f"{server.url}/api/v1/orders",
        json={"drop_id": 1, "quantity": quantity, "email": buyer, "prefecture": "13", "payment_method": "demo"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def _open_drop_from_town_page(page: Page, server: Any, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    expect(page.locator("h1")).to_have_text("星川町のデジタル住民票")
    page.get_by_role("link", name=re.compile("星川町 デジタル住民票 第1期")).click()
    expect(page).to_have_url(re.compile(r"/drop\.html\?id=1"))
    expect(page.locator("#drop-title")).to_have_text("星川町 デジタル住民票 第1期")


def _fill_checkout(page: Page, buyer: str, quantity: int = 1) -> None:
    page.get_by_label("メールアドレス").fill(buyer)
    page.get_by_label("お住まいの都道府県").select_option(label="大阪府")
    page.get_by_label("枚数").select_option(str(quantity))
    page.get_by_label("デモ決済（テスト用）").check()


def _buy_on_the_pages(page: Page, server: Any, buyer: str) -> None:
    """Town page → drop → demo payment → the order page shows the minted number."""
    _open_drop_from_town_page(page, server)
    expect(page.locator("#drop-price")).to_have_text("¥1,000")
    # No crypto words on the path without a wallet (the wallet section stays closed).
    visible = page.locator("main").inner_text()
    for word in ("ガス", "ミント", "mint", "gas"):
        assert word not in visible
    _fill_checkout(page, buyer)
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "purchase-drop-form.png", full_page=True)
    page.get_by_role("button", name="購入する").click()

    expect(page).to_have_url(re.compile(r"/order\.html\?id=ord_"))
    expect(page.locator("#numbers")).to_have_text("No. 1", timeout=MINT_TIMEOUT_MS)
    expect(page.locator("#order-message")).to_contain_text("発行が完了しました")
    expect(page.locator("#steps li.done")).to_have_count(4)
    assert "#token=" not in page.url  # the order token left the address bar…
    page.reload()  # …and a reload still reads the order (localStorage)
    expect(page.locator("#numbers")).to_have_text("No. 1", timeout=MINT_TIMEOUT_MS)


def test_buy_with_demo_payment_and_see_the_minted_number(browser: Browser, shop: Any) -> None:
    page = _phone(browser)
    _buy_on_the_pages(page, shop, "hanako@example.jp")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "purchase-order.png", full_page=True)

    order_id = page.evaluate("new URLSearchParams(location.search).get('id')")
    token = page.evaluate(f"localStorage.getItem('furusato.order.{order_id}')")
    order = requests.get(
        f"{shop.url}/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert order["status"] == "minted"
    assert order["prefecture"] == "27"  # 大阪府
    assert order["token_ids"] == [1]
    page.context.close()


def test_purchase_then_my_card_from_the_emailed_link(browser: Browser, shop: Any, data_dir: Path) -> None:
    """Awaits the holders API and the token image endpoint (other branches)."""
    page = _phone(browser)
    _buy_on_the_pages(page, shop, "jiro@example.jp")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "purchase-order.png", full_page=True)

    page.get_by_role("link", name="マイ住民票を見る").click()
    expect(page).to_have_url(re.compile(r"/signin\.html"))
    page.get_by_label("メールアドレス").fill("jiro@example.jp")
    page.get_by_role("button", name="ログイン用のリンクを送る").click()
    expect(page.locator("#signin-message")).to_contain_text("メールを送信しました")

    # The server answers first and writes the mail just after (a background task): await it.
    mails = wait_for(
        lambda: sorted((data_dir / "mail").glob("*.eml"), key=lambda p: p.stat().st_mtime), 30, "the sign-in mail"
    )
    message = email.message_from_bytes(mails[-1].read_bytes(), policy=default_policy)
    assert "jiro@example.jp" in str(message["To"])
    bodies = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    links = SIGN_IN_LINK.findall("\n".join(bodies))
    assert links, f"no sign-in link in {bodies!r}"

    page.goto(links[0])
    expect(page).to_have_url(re.compile(r"/card\.html"))
    card = page.locator(".card-item").first
    expect(card.locator(".number")).to_have_text("No. 1")
    expect(card).to_contain_text("星川町")
    image = card.locator("img")
    expect(image).to_have_attribute("alt", re.compile("No. 1"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    page.screenshot(path=ARTIFACTS_DIR / "purchase-my-card.png", full_page=True)
    page.context.close()


def test_over_the_per_person_limit_is_explained_in_japanese(browser: Browser, shop: Any) -> None:
    _buy_by_api(shop, "saburo@example.jp", 5)
    page = _phone(browser)
    _open_drop_from_town_page(page, shop)
    _fill_checkout(page, "saburo@example.jp", quantity=1)
    page.get_by_role("button", name="購入する").click()

    alert = page.locator("#form-error")
    expect(alert).to_contain_text("お一人様の上限（5枚）")
    expect(page).to_have_url(re.compile(r"/drop\.html"))
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "purchase-limit-ja.png", full_page=True)
    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(alert).to_contain_text("limit of 5 cards per person")
    page.context.close()


def test_validation_errors_show_next_to_their_field(browser: Browser, shop: Any) -> None:
    page = _phone(browser)
    _open_drop_from_town_page(page, shop)
    expect(page.locator("#prefecture option").first).to_have_text("選択してください")
    page.get_by_role("button", name="購入する").click()  # nothing filled in: checked in the page
    expect(page.locator("#email-error")).to_contain_text("メールアドレスを正しく入力してください")
    expect(page.locator("#prefecture-error")).to_contain_text("都道府県を選んでください")
    expect(page.get_by_label("メールアドレス")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("お住まいの都道府県").select_option(label="北海道")  # fixing a field clears its error
    expect(page.locator("#prefecture-error")).to_be_hidden()
    expect(page.locator("#email-error")).to_contain_text("メールアドレスを正しく入力してください")

    _fill_checkout(page, "taro@example")  # no dot in the domain: only the server refuses it (422)
    page.get_by_role("button", name="購入する").click()
    expect(page.locator("#email-error")).to_contain_text("メールアドレスを正しく入力してください")
    expect(page.locator("#prefecture-error")).to_be_hidden()
    expect(page.locator("#form-error")).to_contain_text("入力内容をご確認ください")

    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(page.locator("#email-error")).to_contain_text("Please enter a valid email address")
    expect(page.get_by_label("Prefecture you live in")).to_have_value("27")  # the choice survives
    expect(page.locator("#prefecture option:checked")).to_have_text("Osaka")
    options = page.locator("#prefecture option")
    expect(options).to_have_count(49)  # "please choose", 47 prefectures, abroad
    expect(options.last).to_have_text("Outside Japan")
    page.context.close()


def test_sold_out_while_filling_in_the_form(browser: Browser, small_shop: Any) -> None:
    page = _phone(browser)
    _open_drop_from_town_page(page, small_shop, "?c=spring-2025")
    expect(page).to_have_url(re.compile(r"c=spring-2025"))  # the campaign code is carried
    expect(page.locator("#campaign_code")).to_have_value("spring-2025")
    expect(page.locator("#drop-stock")).to_have_text("3 / 3 枚")
    _fill_checkout(page, "shiro@example.jp", quantity=1)
    _buy_by_api(small_shop, "someone-else@example.jp", 3)  # someone was faster
    page.get_by_role("button", name="購入する").click()

    expect(page.locator("#form-error")).to_contain_text("売り切れました")
    expect(page.locator("#drop-status")).to_have_text("売り切れ")
    expect(page.get_by_role("button", name="購入する")).to_be_disabled()

    page.goto(f"{small_shop.url}/")
    expect(page.locator(".drop-card", has_text="第1期").locator(".badge")).to_have_text("売り切れ")
    page.context.close()


def test_wallet_holder_gets_vouchers_on_the_order_page(browser: Browser, shop: Any) -> None:
    page = _phone(browser)
    _open_drop_from_town_page(page, shop)
    expect(page.get_by_label("ウォレットから支払う（暗号資産）")).to_be_hidden()  # collapsed for everyone else
    page.get_by_label("メールアドレス").fill("goro@example.jp")
    page.get_by_label("お住まいの都道府県").select_option(label="海外")
    page.get_by_text("ウォレットをお持ちの方").click()
    page.get_by_label("ウォレットから支払う（暗号資産）").check()
    page.get_by_role("button", name="購入する").click()
    expect(page.locator("#wallet_address-error")).to_contain_text("ウォレットのアドレスを入力してください")

    buyer = "0x" + "5a" * 20
    page.get_by_label("ウォレットのアドレス（任意）").fill(buyer)
    page.get_by_role("button", name="購入する").click()
    expect(page).to_have_url(re.compile(r"/order\.html\?id=ord_"))
    expect(page.locator("#order-message")).to_contain_text("ウォレットからのお支払いをお待ちしています")
    expect(page.locator("#voucher-json")).to_contain_text('"signature"')
    expect(page.locator("#voucher-json")).to_contain_text('"token_id": 1')
    page.context.close()
