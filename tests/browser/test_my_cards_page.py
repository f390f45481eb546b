"""signin.html and card.html against the holders API contract, answered by the browser itself
(Playwright routes), so the pages are checked before and independently of the real API.
The end-to-end run with the real API is test_purchase.py::test_purchase_then_my_card_from_the_emailed_link."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import ARTIFACTS_DIR

pytestmark = pytest.mark.browser

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200">'
    '<rect width="320" height="200" fill="#2f6b4f"/>'
    '<text x="20" y="110" font-size="40" fill="#fff">No. 7</text></svg>'
)


class FakeHolders:
    """The holders endpoints as the contract describes them, for one holder with one card."""

    def __init__(self) -> None:
        self.signed_in_emails: list[str] = []
        self.moves: list[dict[str, Any]] = []
        self.custodial = True

    def card(self) -> dict[str, Any]:
        return {
            "chain_id": 31337,
            "contract": CONTRACT,
            "token_id": 7,
            "number": 7,
            "drop_id": 1,
            "title_ja": "星川町 デジタル住民票 第1期",
            "title_en": "Hoshikawa digital resident card, first issue",
            "town_ja": "星川町",
            "town_en": "Hoshikawa Town",
            "status": "minted",
            "owner": "0x" + "ab" * 20,
            "custodial": self.custodial,
            "metadata_url": f"/api/v1/tokens/{CONTRACT}/7/metadata.json",
            "image_url": f"/api/v1/tokens/{CONTRACT}/7/image.svg",
        }

    def handle(self, route: Route) -> None:
        request = route.request
        path = request.url.split("/api/v1", 1)[1]
        body = json.loads(request.post_data) if request.post_data else {}
        authorised = request.headers.get("authorization") == "Bearer session-1"
        if path == "/holders/sign-in":
            self.signed_in_emails.append(body["email"])
            return self.answer(route, 202, {"status": "sent"})
        if path == "/holders/session":
            if body.get("token") != "good-link":
                return self.answer(route, 400, {"error": {"code": "invalid_link", "message": "bad link"}})
            return self.answer(
                route,
                200,
                {"session_token": "session-1", "expires_at": "2999-01-01T00:00:00Z", "email": "hanako@example.jp"},
            )
        if not authorised and path.startswith("/holders/me"):
            return self.answer(route, 401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if path == "/holders/me/cards":
            return self.answer(route, 200, {"items": [self.card()], "total": 1})
        if path == "/holders/me/cards/7/move":
            if not self.custodial:
                return self.answer(route, 409, {"error": {"code": "not_in_custody", "message": "not ours"}})
            if not re.fullmatch(r"0x[0-9a-fA-F]{40}", body.get("to_address", "")):
                return self.answer(route, 422, {"detail": [{"loc": ["body", "to_address"], "msg": "bad"}]})
            self.moves.append(body)
            self.custodial = False
            return self.answer(route, 202, {"status": "moved", "tx_hash": "0x" + "12" * 32})
        if path.endswith("/image.svg"):
            return route.fulfill(status=200, content_type="image/svg+xml", body=SVG)
        return self.answer(route, 404, {"error": {"code": "not_found", "message": path}})

    @staticmethod
    def answer(route: Route, status: int, body: dict[str, Any]) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


@pytest.fixture
def holders(page: Page) -> FakeHolders:
    fake = FakeHolders()
    page.route(re.compile(r".*/api/v1/(holders|tokens)/.*"), fake.handle)
    return fake


def test_sign_in_by_emailed_link_then_move_a_card(page: Page, server: Any, holders: FakeHolders) -> None:
    page.goto(f"{server.url}/card.html")
    expect(page.get_by_role("link", name="ログインする")).to_be_visible()  # not signed in yet

    page.goto(f"{server.url}/signin.html")
    page.get_by_role("button", name="ログイン用のリンクを送る").click()
    expect(page.locator("#email-error")).to_contain_text("メールアドレスを正しく入力してください")
    page.get_by_label("メールアドレス").fill("hanako@example.jp")
    page.get_by_role("button", name="ログイン用のリンクを送る").click()
    expect(page.locator("#signin-message")).to_contain_text("メールを送信しました")
    assert holders.signed_in_emails == ["hanako@example.jp"]

    page.goto(f"{server.url}/signin.html#token=stale-link")
    expect(page.locator("#signin-message")).to_contain_text("このリンクは無効か、期限が切れています")

    page.goto(f"{server.url}/signin.html#token=good-link")
    expect(page).to_have_url(re.compile(r"/card\.html$"))
    card = page.locator(".card-item")
    expect(card.locator(".number")).to_have_text("No. 7")
    expect(card).to_contain_text("星川町")
    expect(card.locator(".badge")).to_have_text("発行済み")
    image = card.locator("img")
    expect(image).to_have_attribute("alt", "星川町 デジタル住民票 No. 7 のカード画像")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "my-cards-stubbed-api.png", full_page=True)

    card.get_by_text("自分のウォレットへ移す").click()
    address = card.get_by_label("移し先のウォレットのアドレス")
    address.fill("0x1234")
    card.get_by_role("button", name="移す").click()
    expect(card.locator(".field-error")).to_contain_text("アドレスの形式が正しくありません")
    card.get_by_label("移し先のウォレットのアドレス").fill("0x" + "cd" * 20)
    card.get_by_role("button", name="移す").click()
    expect(page.locator("#cards-message")).to_have_text("No. 7 をあなたのウォレットへ移しました。")
    expect(card).to_contain_text("あなたのウォレットにあります")
    expect(card.get_by_text("自分のウォレットへ移す")).to_have_count(0)
    assert holders.moves == [{"to_address": "0x" + "cd" * 20}]

    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(card.locator(".badge")).to_have_text("Issued")
    expect(card).to_contain_text("Hoshikawa Town")

    page.reload()  # the session is remembered
    expect(card.locator(".number")).to_have_text("No. 7")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
