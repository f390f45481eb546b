"""The console's benefits and spots pages in a real Chromium, against a real `furusato run`,
as a town's editor uses them: register a shop, sign its phone in (the one-time link shown),
make a monthly benefit (chosen as words, "毎月1回", never a number of uses), register a
staffed spot, download its poster (a PDF), and open its kiosk screen, which shows a QR.

The editor is added with `furusato staff add` and signed in through the API (the sign-in page
itself is covered by test_console_flow.py); the browser carries the session and CSRF cookies
the console sets. Every page is checked for script errors, fields without a label and texts
left as their key, and screenshot into test-artifacts/.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.browser.conftest import code_mailed
from tests.conftest import ARTIFACTS_DIR, FURUSATO, REPO_ROOT

pytestmark = [pytest.mark.browser]

TOWN = "hoshikawa"
EDITOR = "tokuten@hoshikawa.example"
VERIFIER = "uketsuke@hoshikawa.example"
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: What a text key looks like if a string is missing ("ben.shop.created", "kiosk.countdown").
KEY_PREFIXES = "ben spots kiosk period bcerr scerr kcerr nav cerr f v col common"
RAW_KEY = re.compile(rf"\b(?:{'|'.join(KEY_PREFIXES.split())})\.[a-z_]+(?:\.[a-z_0-9]+)*\b")
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((f) => f.type !== "hidden" && !f.labels.length && !f.getAttribute("aria-label"))
  .map((f) => f.id || f.name)"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` with the demo town on an in-process chain, an editor and a shop verifier."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    for address, role in ((EDITOR, "editor"), (VERIFIER, "verifier")):
        added = subprocess.run(
            [*FURUSATO, "staff", "add", address, "--town", TOWN, "--role", role, "--data-dir", str(data_dir)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stdout + added.stderr
    return running


def _session(server: Any, data_dir: Path, address: str) -> dict[str, str]:
    """A staff session opened with the mailed code: {token, csrf_token}."""
    mail_dir = data_dir / "mail"
    seen = set(mail_dir.glob("*.eml"))
    sent = requests.post(f"{server.url}/api/v1/staff/sign-in", json={"email": address}, timeout=10)
    assert sent.status_code == 202, sent.text
    code = code_mailed(mail_dir, seen, address)
    opened = requests.post(f"{server.url}/api/v1/staff/session", json={"email": address, "code": code}, timeout=10)
    assert opened.status_code == 200, opened.text
    body = opened.json()
    return {"token": str(body["token"]), "csrf_token": str(body["csrf_token"])}


def _shot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"console-{name}.png", full_page=True)


def _check(page: Page) -> None:
    """No field without a label, no text left as its key, no missing value printed."""
    assert page.evaluate(UNLABELLED) == [], page.url
    shown = page.locator("body").inner_text()
    found = RAW_KEY.search(shown)
    assert not found, f"untranslated key on {page.url}: {found.group(0)}"
    assert not re.search(r"\b(?:null|undefined|NaN)\b", shown), f"a missing value shown on {page.url}"


def _shop_phone_and_benefit(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/console/benefits.html?town={TOWN}")
    expect(page.get_by_role("heading", level=1)).to_have_text("特典とお店")
    page.get_by_role("button", name="お店を登録する").click()  # nothing typed: the form says what is missing
    expect(page.locator("#shop_name_ja-error")).to_contain_text("入力してください")
    page.get_by_label("お店の名前（日本語）").fill("星川温泉 ゆらりの湯")
    page.get_by_label("お店の名前（英語）").fill("Yurari Hot Spring")
    page.get_by_label("場所（任意）").fill("星川町本郷 3-1")
    page.get_by_role("button", name="お店を登録する").click()
    expect(page.locator("#ben-message")).to_contain_text("「星川温泉 ゆらりの湯」を登録しました")
    shop = page.locator(".shop-card", has_text="星川温泉 ゆらりの湯")
    expect(shop).to_contain_text("星川町本郷 3-1")

    shop.get_by_label("スマホの呼び名（任意）").fill("受付のスマホ")
    shop.get_by_role("button", name="スマホを登録").click()
    link = shop.get_by_label("リンク", exact=True)
    expect(link).to_have_value(re.compile(r"^https?://[^ ]+/verify/#link=\S{16,}$"))
    expect(shop.locator(".device", has_text="受付のスマホ")).to_contain_text("リンクが開かれるのを待っています")
    expect(shop.get_by_role("button", name="取り消す")).to_be_visible()
    _check(page)

    page.get_by_label("特典の名前（日本語）").fill("平日の岩盤浴 無料")
    page.get_by_label("特典の名前（英語）").fill("Free weekday stone sauna")
    page.get_by_label("使えるお店").select_option(label="星川温泉 ゆらりの湯")
    page.get_by_label("毎月1回").check()
    page.get_by_role("button", name="特典をつくる").click()
    expect(page.locator("#ben-message")).to_contain_text("特典「平日の岩盤浴 無料」（毎月1回）をつくりました")
    benefit = page.locator(".benefit-card", has_text="平日の岩盤浴 無料")
    expect(benefit.locator(".period-words")).to_have_text("毎月1回")
    expect(benefit).to_contain_text("星川温泉 ゆらりの湯")
    expect(benefit).to_contain_text("すべての住民票")
    expect(benefit).to_contain_text("使えます")
    benefit.get_by_role("button", name="一時停止する").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("「平日の岩盤浴 無料」を一時停止しますか")
    dialog.get_by_role("button", name="一時停止する").click()
    expect(page.locator("#ben-message")).to_contain_text("「平日の岩盤浴 無料」を一時停止しました")
    expect(benefit).to_contain_text("一時停止中")
    benefit.get_by_role("button", name="再開する").click()  # resuming needs no confirmation
    expect(page.locator("#ben-message")).to_contain_text("「平日の岩盤浴 無料」を再開しました")
    expect(benefit).to_contain_text("使えます")
    expect(page.locator("#redemptions-summary")).to_have_text(re.compile(r"^\d+件$"))
    sjis = re.compile(r"/redemptions\.csv\?.*encoding=shift_jis")
    expect(page.locator("#r-csv-sjis")).to_have_attribute("href", sjis)
    csv = page.context.request.get(server.url + str(page.locator("#r-csv-utf8").get_attribute("href")))
    assert csv.status == 200, csv.text()
    assert csv.body().startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8

    shop.get_by_role("button", name="取り消す").click()
    expect(dialog).to_contain_text("「受付のスマホ」を取り消しますか")
    dialog.get_by_role("button", name="取り消す").click()
    expect(page.locator("#ben-message")).to_contain_text("「受付のスマホ」を取り消しました")
    expect(shop.locator(".device", has_text="受付のスマホ")).to_contain_text("取り消し済み")
    expect(shop.get_by_label("リンク", exact=True)).to_have_count(0)  # the revoked phone's link is gone
    _check(page)
    _shot(page, "benefits")


def _spot_poster_and_kiosk(page: Page, server: Any) -> None:
    page.locator("#console-nav").get_by_role("link", name="スポット・チェックイン").click()
    expect(page).to_have_url(re.compile(r"/console/spots\.html"))
    expect(page.get_by_role("heading", level=1)).to_have_text("スポットとチェックイン")
    page.get_by_label("スポットの名前（日本語）").fill("星川渓谷 ビジターセンター")
    page.get_by_label("スポットの名前（英語）").fill("Hoshikawa Gorge visitor centre")
    page.get_by_label("受付の画面に出る、切り替わるQRで記録する").check()
    page.get_by_role("button", name="スポットを登録する").click()
    expect(page.locator("#spots-message")).to_contain_text("スポット「星川渓谷 ビジターセンター」を登録しました")
    spot = page.locator(".spot-card", has_text="星川渓谷 ビジターセンター")
    expect(spot).to_contain_text("受付あり")
    expect(spot).to_contain_text("/s/")
    _check(page)
    _shot(page, "spots")

    with page.expect_download() as downloading:
        spot.get_by_role("link", name="ポスター A4（PDF）").click()
    assert Path(downloading.value.path()).read_bytes().startswith(b"%PDF-")
    assert downloading.value.suggested_filename.endswith("-A4.pdf")
    href = spot.get_by_role("link", name="ポスター A3（PDF）").get_attribute("href")
    assert href
    answer = page.context.request.get(server.url + href)  # the page's own cookie
    assert answer.status == 200, answer.text()
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF-")

    spot.get_by_role("link", name="受付画面を開く").click()
    expect(page).to_have_url(re.compile(r"/console/kiosk\.html\?.*spot=\d+"))
    expect(page.get_by_role("heading", level=1)).to_have_text("星川渓谷 ビジターセンター")
    qr = page.locator("#kiosk-qr")
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(qr).to_have_attribute("data-code", re.compile(r"^\d{4,12}$"))
    expect(qr).to_have_attribute("alt", "「星川渓谷 ビジターセンター」のチェックイン用QRコード")
    expect(page.locator("#kiosk-countdown")).to_have_text(re.compile(r"^あと\d+秒で新しいQRに変わります$"))
    expect(page.locator("#console-nav")).to_be_hidden()  # kiosk mode: no menu
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 400, box  # large enough to scan from a step away
    _check(page)
    _shot(page, "kiosk")


def _signed_in(browser: Browser, server: Any, session: dict[str, str], viewport: ViewportSize) -> BrowserContext:
    """A browser carrying the console's cookies for `session`."""
    context = browser.new_context(locale="ja-JP", viewport=viewport, accept_downloads=True)
    context.add_cookies(
        [
            {"name": "furusato_staff", "value": session["token"], "url": server.url},
            {"name": "furusato_csrf", "value": session["csrf_token"], "url": server.url},
        ]
    )
    return context


def _verifier_runs_the_kiosk(browser: Browser, server: Any, data_dir: Path, kiosk_url: str) -> None:
    """The town's shop verifier (no other console page) opens the kiosk link the editor gave."""
    context = _signed_in(browser, server, _session(server, data_dir, VERIFIER), PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(kiosk_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("星川渓谷 ビジターセンター")
    expect(page.locator("#kiosk-qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    expect(page.get_by_role("link", name="受付画面を閉じる")).to_be_hidden()  # no spots page for them
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(page, "kiosk-verifier-phone")
    assert errors == [], errors
    context.close()


def _phone_and_english(browser: Browser, context: BrowserContext, server: Any) -> None:
    """The same pages on a phone (nothing wider than the screen) and in English (no key left)."""
    phone = browser.new_context(locale="ja-JP", viewport=PHONE, storage_state=context.storage_state())
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for name in ("benefits", "spots"):
        page.goto(f"{server.url}/console/{name}.html?town={TOWN}")
        expect(page.locator(".shop-card, .spot-card").first).to_be_visible()
        expect(page.locator("#page-error")).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        _shot(page, f"{name}-phone")
    page.get_by_role("button", name="Switch language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Spots and check-ins")
    expect(page.locator(".spot-card", has_text="Hoshikawa Gorge visitor centre")).to_contain_text("Staffed")
    _check(page)
    page.goto(f"{server.url}/console/benefits.html?town={TOWN}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Benefits and shops")
    expect(page.locator(".benefit-card", has_text="Free weekday stone sauna").locator(".period-words")).to_have_text(
        "Once a month"
    )
    _check(page)
    _shot(page, "benefits-en-phone")
    page.get_by_role("button", name="Switch language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("特典とお店")
    assert errors == [], errors
    phone.close()


def test_editor_runs_shops_benefits_and_a_kiosk_spot(browser: Browser, town: Any, data_dir: Path) -> None:
    context = _signed_in(browser, town, _session(town, data_dir, EDITOR), LAPTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    _shop_phone_and_benefit(page, town)
    _spot_poster_and_kiosk(page, town)
    _verifier_runs_the_kiosk(browser, town, data_dir, page.url)
    _phone_and_english(browser, context, town)

    assert errors == [], errors
    context.close()
