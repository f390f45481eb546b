"""mydata.html, the プレミアム badge of card.html and the console's data-requests page against
the people's-data API contract (`backend/analytics/data_router.py`), answered by the browser
itself (Playwright routes) so the pages are checked independently of the data behind them;
the API itself is tested in tests/analytics/test_data_requests.py and test_erasure.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, Route, expect

from tests.conftest import ARTIFACTS_DIR

pytestmark = pytest.mark.browser

EMAIL = "hanako@example.jp"
SESSION = {"session_token": "session-1", "expires_at": "2999-01-01T00:00:00Z", "email": EMAIL}
TOWN = {"slug": "hoshikawa", "name_ja": "星川町", "name_en": "Hoshikawa Town"}


def answer(route: Route, status: int, body: Any) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


class FakeData:
    """The holder's data endpoints for one holder with one order and one check-in."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.downloads: list[str] = []

    def data(self) -> dict[str, Any]:
        return {
            "town": "hoshikawa",
            "email": EMAIL,
            "generated_at": "2026-12-01T01:00:00Z",
            "data_request_days": 14,
            "sections": [
                {
                    "key": "person",
                    "title_ja": "本人",
                    "title_en": "You",
                    "rows": [{"email": EMAIL, "town": "hoshikawa"}],
                },
                {
                    "key": "orders",
                    "title_ja": "購入（注文）",
                    "title_en": "Orders",
                    "rows": [
                        {
                            "order_id": "ord_1",
                            "email": EMAIL,
                            "prefecture": "27",
                            "amount_jpy": 3000,
                            "created_at": "2026-11-30T03:00:00Z",
                        }
                    ],
                },
                {
                    "key": "check_ins",
                    "title_ja": "スポットでのチェックイン",
                    "title_en": "Check-ins at spots",
                    "rows": [{"day": "2026-11-30", "spot": "星川の滝"}],
                },
                {"key": "votes", "title_ja": "投票", "title_en": "Votes", "rows": []},
            ],
        }

    def handle(self, route: Route) -> None:
        request = route.request
        path = request.url.split("/api/v1", 1)[1]
        if path.startswith("/municipalities"):
            return answer(
                route,
                200,
                {
                    "items": [
                        {
                            **TOWN,
                            "prefecture": "06",
                            "description_ja": "",
                            "description_en": "",
                            "brand_colour": "#1f6f5c",
                            "logo_data_url": "",
                        }
                    ],
                    "total": 1,
                    "limit": 100,
                    "offset": 0,
                },
            )
        if request.headers.get("authorization") != "Bearer session-1":
            return answer(route, 401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if path == "/holders/me/registration":
            return answer(route, 200, {"towns": [{**TOWN, "tier": "premium", "year": 2026}]})
        if path.startswith("/holders/me/data.csv"):
            self.downloads.append("csv")
            body = "\ufeffsection / 区分,field / 項目,value / 値\r\norders,orders[0].email," + EMAIL + "\r\n"
            return route.fulfill(status=200, content_type="text/csv; charset=utf-8", body=body.encode())
        if path.startswith("/holders/me/data"):
            self.downloads.append("json")
            return answer(route, 200, self.data())
        if path == "/holders/me/deletion-requests" and request.method == "POST":
            assert json.loads(request.post_data or "{}") == {"town": "hoshikawa"}
            made = {
                "request_id": "dr_" + "a" * 32,
                "town": "hoshikawa",
                "town_ja": "星川町",
                "town_en": "Hoshikawa Town",
                "status": "pending",
                "requested_at": "2026-12-01T01:00:00Z",
                "due_at": "2026-12-15T01:00:00Z",
                "completed_at": None,
                "reason": "",
            }
            status = 200 if self.requests else 201
            self.requests = [made]
            return answer(route, status, made)
        if path == "/holders/me/deletion-requests":
            return answer(route, 200, {"items": self.requests, "total": len(self.requests)})
        return answer(route, 404, {"error": {"code": "not_found", "message": path}})


@pytest.fixture
def signed_in(page: Page) -> FakeData:
    fake = FakeData()
    page.add_init_script(f"localStorage.setItem('furusato.session', {json.dumps(json.dumps(SESSION))})")
    page.route(re.compile(r".*/api/v1/(holders|municipalities).*"), fake.handle)
    return fake


def test_my_data_shows_downloads_and_asks_for_deletion(page: Page, server: Any, signed_in: FakeData) -> None:
    page.goto(f"{server.url}/mydata.html")
    expect(page.get_by_role("heading", name="自分の情報", exact=True)).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text(f"{EMAIL} でログイン中")
    orders = page.locator('.data-section[data-section="orders"]')
    expect(orders.locator("h3")).to_have_text("購入（注文）")
    expect(orders.locator("td", has_text=EMAIL)).to_be_visible()
    expect(orders.locator("td", has_text="大阪府")).to_be_visible()  # prefecture 27 by name
    expect(orders.locator("th", has_text="金額（円）")).to_be_visible()
    expect(page.locator("#empty-sections")).to_contain_text("投票")
    expect(page.locator("#delete-days")).to_have_text(re.compile("14日以内"))
    expect(page.get_by_text("住民票（カード）はブロックチェーン上に残ります")).to_be_visible()
    expect(page.get_by_text("町の統計には人数などの件数だけが残り")).to_be_visible()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "my-data-ja.png", full_page=True)

    with page.expect_download() as json_download:
        page.get_by_role("button", name="JSONでダウンロード").click()
    saved = json.loads(Path(json_download.value.path()).read_text(encoding="utf-8"))
    assert saved["email"] == EMAIL
    assert "empty" not in saved
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="CSVでダウンロード").click()
    assert csv_download.value.suggested_filename.startswith("my-data-hoshikawa-")
    assert Path(csv_download.value.path()).read_bytes().startswith(b"\xef\xbb\xbf")
    assert signed_in.downloads == ["json", "csv"]

    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="削除を依頼する").click()
    expect(page.locator("#deletion-message")).to_contain_text("削除を依頼しました。期限: 2026/12/15 10:00")
    assert "星川町" in dialogs[0]
    assert "ブロックチェーン" in dialogs[0]
    expect(page.locator("#requests li")).to_contain_text("対応待ち")
    expect(page.get_by_role("button", name="削除を依頼する")).to_be_disabled()

    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(page.get_by_role("heading", name="My data", exact=True)).to_be_visible()
    expect(orders.locator("h3")).to_have_text("Orders")
    expect(page.get_by_text("Your resident card stays on the blockchain", exact=False)).to_be_visible()
    expect(page.locator("#requests li")).to_contain_text("Pending")
    page.screenshot(path=ARTIFACTS_DIR / "my-data-en.png", full_page=True)


def test_a_wallet_sign_in_is_asked_to_sign_in_by_email(page: Page, server: Any) -> None:
    wallet = {"session_token": "w", "expires_at": "2999-01-01T00:00:00Z", "kind": "wallet", "address": "0x" + "ab" * 20}
    page.add_init_script(f"localStorage.setItem('furusato.session', {json.dumps(json.dumps(wallet))})")
    page.goto(f"{server.url}/mydata.html")
    expect(page.locator("#wallet-only")).to_contain_text("メールのリンクでログインしてください")
    expect(page.locator("#signed-in")).to_be_hidden()


def test_my_cards_shows_premium_and_links_to_my_data(page: Page, server: Any, signed_in: FakeData) -> None:
    card = {
        "chain_id": 31337,
        "contract": "0x" + "5f" * 20,
        "token_id": 7,
        "number": 7,
        "drop_id": 1,
        "title_ja": "第1期",
        "title_en": "First issue",
        "town_ja": "星川町",
        "town_en": "Hoshikawa Town",
        "status": "minted",
        "owner": "0x" + "ab" * 20,
        "custodial": False,
        "metadata_url": "/x.json",
        "image_url": "/favicon.svg",
    }
    page.route(
        re.compile(r".*/api/v1/holders/me/cards$"), lambda route: answer(route, 200, {"items": [card], "total": 1})
    )
    page.goto(f"{server.url}/card.html")
    item = page.locator(".card-item")
    expect(item.locator(".badge-premium")).to_have_text("プレミアム")
    expect(item.locator(".badge-premium")).to_have_attribute("title", "星川町のプレミアム住民（2026年）")
    expect(item.locator(".badge-minted")).to_have_text("発行済み")
    expect(page.get_by_role("link", name=re.compile("自分の情報"))).to_have_attribute("href", "/mydata.html")
    page.screenshot(path=ARTIFACTS_DIR / "my-cards-premium.png", full_page=True)


class FakeConsole:
    """The staff endpoints the data-requests page calls, for one owner and two requests."""

    def __init__(self) -> None:
        self.items = [
            {
                "request_id": "dr_" + "1" * 32,
                "kind": "deletion",
                "status": "pending",
                "email": "late@example.jp",
                "requested_at": "2026-10-01T00:00:00Z",
                "due_at": "2026-10-31T00:00:00Z",
                "overdue": True,
                "completed_at": None,
                "outcome": "",
            },
            {
                "request_id": "dr_" + "2" * 32,
                "kind": "deletion",
                "status": "pending",
                "email": "new@example.jp",
                "requested_at": "2026-11-30T00:00:00Z",
                "due_at": "2026-12-30T00:00:00Z",
                "overdue": False,
                "completed_at": None,
                "outcome": "",
            },
        ]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle(self, route: Route) -> None:
        request = route.request
        path = request.url.split("/api/v1", 1)[1]
        if path == "/staff/me":
            return answer(route, 200, {"email": "owner@hoshikawa.example", "towns": [{**TOWN, "role": "owner"}]})
        if path.startswith("/staff/towns/hoshikawa/data-requests?"):
            if "kind=export" in path:
                return answer(route, 200, {"items": [], "total": 12, "limit": 1, "offset": 0, "overdue": 1})
            pending = [item for item in self.items if item["status"] == "pending"]
            overdue = sum(1 for item in pending if item["overdue"])
            return answer(
                route, 200, {"items": pending, "total": len(pending), "limit": 50, "offset": 0, "overdue": overdue}
            )
        found = re.fullmatch(r"/staff/towns/hoshikawa/data-requests/(dr_\w+)/(complete|decline)", path)
        if found and request.method == "POST":
            body: dict[str, Any] = json.loads(request.post_data) if request.post_data else {}
            self.calls.append((found.group(2), body))
            item = next(item for item in self.items if item["request_id"] == found.group(1))
            item.update(status="completed" if found.group(2) == "complete" else "declined", email=None)
            item["outcome"] = "erased: orders=2" if found.group(2) == "complete" else body["reason"]
            return answer(route, 200, item)
        return answer(route, 404, {"error": {"code": "not_found", "message": path}})


def test_the_console_queue_shows_overdue_in_red_and_asks_before_erasing(page: Page, server: Any) -> None:
    fake = FakeConsole()
    page.route(re.compile(r".*/api/v1/staff/.*"), fake.handle)
    page.goto(f"{server.url}/console/data-requests.html?town=hoshikawa")
    late = page.locator('tr[data-request="dr_' + "1" * 32 + '"]')
    expect(late.locator(".badge.overdue")).to_have_text("期限超過")
    colour = late.locator("td").nth(1).locator("span").first.evaluate("el => getComputedStyle(el).color")
    assert colour == "rgb(161, 42, 28)"
    expect(page.locator("#dr-total")).to_contain_text("期限を過ぎた対応待ち: 1件")
    expect(page.locator("#dr-exports")).to_contain_text("12件")
    expect(late).to_contain_text("late@example.jp")
    page.set_viewport_size({"width": 1200, "height": 900})
    page.screenshot(path=ARTIFACTS_DIR / "console-data-requests.png", full_page=True)

    late.get_by_role("button", name="消去する").click()
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text("late@example.jp")
    expect(dialog).to_contain_text("ブロックチェーン上に残り")
    dialog.get_by_role("button", name="やめる").click()
    assert fake.calls == []
    late.get_by_role("button", name="消去する").click()
    page.locator("dialog.confirm").get_by_role("button", name="消去する").click()
    expect(page.locator("#dr-message")).to_contain_text("消去しました（erased: orders=2）")
    assert fake.calls == [("complete", {})]
    expect(late).to_have_count(0)

    fresh = page.locator('tr[data-request="dr_' + "2" * 32 + '"]')
    fresh.get_by_text("お断りする").first.click()
    fresh.get_by_role("button", name="お断りする").click()
    expect(page.locator("#dr-message")).to_contain_text("お断りする理由を書いてください")
    fresh.get_by_label("理由（依頼した方に表示されます）").fill("ご本人確認ができませんでした。")
    fresh.get_by_role("button", name="お断りする").click()
    page.locator("dialog.confirm").get_by_role("button", name="お断りする").click()
    expect(page.locator("#dr-message")).to_contain_text("お断りしました")
    assert fake.calls[-1] == ("decline", {"reason": "ご本人確認ができませんでした。"})
