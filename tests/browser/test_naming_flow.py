"""A park's naming right end to end in a real Chromium, against a real `furusato run`:

the town's editor makes a park and a lot with a short auction (through the staff API); two
bidders, each in their own browser, sign in by emailed link from the lot page, register and
outbid each other, and each sees the other's bids arrive without reloading (the page's event
stream); the lot closes and the settle job offers the right to the winner, who pays (demo),
then proposes a name in Japanese on the park page; a moderator declines it in the console with
a reason from the town's list, the winner proposes again, the moderator approves; the park
page shows the new name.

The lot page's other states (the event stream down and polling instead, a card bidder sent to
save the card, the mailed pay link to the card checkout, signed in or not, an unsold lot) are
checked against the API contract answered by the browser itself (Playwright routes).

Screenshots go to test-artifacts/naming/ (docs/screenshots/naming/ holds copies taken from there by
hand: a test run leaves the tree clean). Every
new page is also checked, in Japanese and in English, for script errors, fields without a
label and texts left as their key.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import json
import re
import struct
import subprocess
import zlib
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, ViewportSize, expect

from tests.conftest import ARTIFACTS_DIR, FURUSATO, REPO_ROOT
from tests.holders.conftest import wait_for

pytestmark = [pytest.mark.browser]

SHOTS = ARTIFACTS_DIR / "naming"
TOWN = "hoshikawa"
OWNER = "owner@hoshikawa.example"  # seeded by the demo
MODERATOR = "shinsa@hoshikawa.example"
BIDDER_A = "hanako@example.jp"
BIDDER_B = "taro@example.jp"
NAME = "ほしかわ星空公園"
READING = "ほしかわほしぞらこうえん"
FIRST_NAME = "星川河川敷ひろば"
FIRST_READING = "ほしかわかせんじきひろば"
PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
#: The auction runs this long from its creation: time for two sign-ins, registrations and
#: four bids on a slow machine; the test then waits for the end, not a fixed time.
AUCTION_SECONDS = 100
#: The settle job, the award on chain and the name's relay each take a few seconds.
CHAIN_TIMEOUT_MS = 90_000
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
SIGN_IN_LINK = re.compile(r"https?://[^\s\"'<>]+/signin\.html#token=[^\s\"'<>]+")
#: What a text key looks like if a string is missing on a page ("lot.ends", "cpark.lots").
KEY_PREFIXES = (
    "lot park parks cpark names lstatus lotstatus coffer pstate cchain cpay offer record err field form pay "
    "signin nav cerr f v col common"
)
RAW_KEY = re.compile(rf"\b(?:{'|'.join(KEY_PREFIXES.split())})\.[a-z_]+(?:\.[a-z_]+)*\b")
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((f) => f.type !== "hidden" && !f.labels.length && !f.getAttribute("aria-label"))
  .map((f) => f.id || f.name)"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` with the demo town on an in-process chain, and a moderator for it."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    added = subprocess.run(
        [*FURUSATO, "staff", "add", MODERATOR, "--town", TOWN, "--role", "moderator", "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    return running


# ── helpers ─────────────────────────────────────────────────────────────────


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def _check(page: Page) -> None:
    """No field without a label, no text left as its key."""
    assert page.evaluate(UNLABELLED) == [], page.url
    shown = page.locator("body").inner_text()
    found = RAW_KEY.search(shown)
    assert not found, f"untranslated key on {page.url}: {found.group(0)}"


def _mail_to(data_dir: Path, seen: set[Path], to: str, pattern: re.Pattern[str]) -> str:
    """The first match of `pattern` in a new mail to `to` (written just after the answer)."""
    mail_dir = data_dir / "mail"

    def found() -> str | None:
        for path in sorted(set(mail_dir.glob("*.eml")) - seen):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if to not in str(message["To"]):
                continue
            body = "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
            match = pattern.search(body)
            if match:
                return match.group(1) if match.groups() else match.group(0)
        return None

    return str(wait_for(found, 30, f"the mail to {to}"))


def _mails(data_dir: Path) -> set[Path]:
    return set((data_dir / "mail").glob("*.eml"))


def _staff_token(server: Any, data_dir: Path, address: str) -> str:
    seen = _mails(data_dir)
    sent = requests.post(f"{server.url}/api/v1/staff/sign-in", json={"email": address}, timeout=10)
    assert sent.status_code == 202, sent.text
    code = _mail_to(data_dir, seen, address, CODE)
    opened = requests.post(f"{server.url}/api/v1/staff/session", json={"email": address, "code": code}, timeout=10)
    assert opened.status_code == 200, opened.text
    return str(opened.json()["token"])


def _photo() -> str:
    """A small landscape PNG (sky, hills, lawn) as a data: URL, made here: no file to ship."""
    width, height = 480, 270
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            hill = 150 + 30 * ((x / width - 0.5) ** 2) * 4 - 20 * (1 if 120 < x < 300 else 0)
            if y < hill:
                row += bytes((150 + y // 3, 195 + y // 8, 235))
            elif y < 200:
                row += bytes((70, 130 + (x + y) % 20, 80))
            else:
                row += bytes((110, 170, 90))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _park_and_lot(server: Any, token: str) -> tuple[int, int]:
    """The editor's part, through the staff API: a park, and a lot whose auction starts now and
    ends in AUCTION_SECONDS, its term running from now for three years."""
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{server.url}/api/v1/staff/towns/{TOWN}"
    park = requests.post(
        f"{base}/parks",
        json={
            "name_ja": "星川河川公園",
            "name_en": "Hoshikawa Riverside Park",
            "description_ja": "星川の河原にひろがる芝生の公園です。夏は花火大会の会場になります。",
            "description_en": "A lawn along the Hoshikawa river; the summer fireworks are held here.",
            "location_ja": "星川町大字川原 3-1",
            "photo_data_url": _photo(),
        },
        headers=headers,
        timeout=10,
    )
    assert park.status_code == 201, park.text
    park_id = int(park.json()["id"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lot = requests.post(
        f"{base}/parks/{park_id}/lots",
        json={
            "term_start": now.isoformat(),
            "term_end": (now + dt.timedelta(days=3 * 365)).isoformat(),
            "auction_start": now.isoformat(),
            "auction_end": (now + dt.timedelta(seconds=AUCTION_SECONDS)).isoformat(),
            "reserve_jpy": 1000,
            "soft_close_seconds": 10,
            "extension_seconds": 10,
        },
        headers=headers,
        timeout=30,
    )
    assert lot.status_code in (200, 201, 202), lot.text
    lot_id = int(lot.json()["id"])

    def open_for_bids() -> bool:
        status: str = requests.get(f"{server.url}/api/v1/lots/{lot_id}", timeout=10).json()["status"]
        return status == "open"

    wait_for(open_for_bids, 60, "the lot open for bids (created on chain)")
    return park_id, lot_id


def _bidder_joins(
    browser: Browser, server: Any, data_dir: Path, lot_id: int, address: str, prefecture: str, errors: list[str]
) -> Page:
    """A bidder opens the lot page, signs in by emailed link (a new account, back to the lot)
    and registers with a prefecture and the demo payment."""
    context = browser.new_context(locale="ja-JP", viewport=PHONE)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{address}: {error}"))
    page.goto(f"{server.url}/lots/{lot_id}")
    expect(page.locator("#lot-title")).to_have_text("星川河川公園の命名権")
    expect(page.locator("#lot-status")).to_have_text("入札受付中")
    page.get_by_role("link", name="ログインして参加する").click()
    expect(page).to_have_url(re.compile(r"/signin\.html\?next=%2Flots%2F\d+&create=1"))
    expect(page.locator(".lead")).to_contain_text("はじめての方は")
    seen = _mails(data_dir)
    page.get_by_label("メールアドレス").fill(address)
    page.get_by_role("button", name="ログイン用のリンクを送る").click()
    expect(page.locator("#signin-message")).to_contain_text("メールを送信しました")
    link = _mail_to(data_dir, seen, address, SIGN_IN_LINK)
    page.goto(link)
    expect(page).to_have_url(re.compile(rf"/lots/{lot_id}$"))  # back to the lot, signed in
    expect(page.locator("#signed-in-as")).to_contain_text(address)
    page.get_by_label("お住まいの都道府県").select_option(label=prefecture)
    page.get_by_label("デモ決済（テスト用・お金は動きません）").check()
    page.get_by_role("button", name="参加を登録する").click()
    expect(page.locator("#bidder-me")).to_contain_text("入札者")
    return page


def _bid(page: Page, amount: int | None = None) -> None:
    if amount is not None:
        page.get_by_label("入札額（円）").fill(str(amount))
    page.get_by_role("button", name="入札する", exact=True).click()


def _bidding_war(a: Page, b: Page) -> None:
    """A and B outbid each other; each sees the other's bid without reloading."""
    expect(a.get_by_label("入札額（円）")).to_have_value("1000")  # the minimum is offered
    _bid(a)
    expect(a.locator("#bid-standing")).to_have_text("いま、あなたが最高額です（¥1,000）。")
    expect(b.locator("#lot-price")).to_have_text("¥1,000")  # B's page, not reloaded
    expect(b.locator("#bid-list li").first).to_contain_text("入札者 1")
    expect(b.get_by_label("入札額（円）")).to_have_value("2000")  # ¥1,000 + the ¥1,000 step

    _bid(b)
    expect(b.locator("#bid-standing")).to_contain_text("あなたが最高額です（¥2,000）")
    expect(a.locator("#lot-price")).to_have_text("¥2,000")
    expect(a.locator("#bid-list li").first).to_contain_text("入札者 2")
    expect(a.locator("#bid-standing")).to_have_text("ほかの方が、あなたの入札（¥1,000）を上回りました。")
    _shot(a, "lot-outbid-phone")

    a.get_by_label("入札額（円）").fill("2500")  # below the minimum: said in Japanese, nothing sent
    a.get_by_role("button", name="入札する", exact=True).click()
    expect(a.locator("#bid-error")).to_have_text("入札額が低すぎます。いまの最低入札額は¥3,000です。")
    _bid(a, 12000)
    expect(a.locator("#bid-standing")).to_contain_text("あなたが最高額です（¥12,000）")
    expect(b.locator("#lot-price")).to_have_text("¥12,000")
    expect(b.locator("#lot-minimum")).to_have_text("¥13,000")
    expect(b.locator("#bid-list li")).to_have_count(3)
    _shot(b, "lot-live-phone")


def _close_and_pay(a: Page, b: Page, lot_id: int) -> None:
    """The end comes; the settle job offers the right to A, who pays with the demo button."""
    expect(a.locator("#result-text")).to_contain_text(
        "入札者 1が¥12,000で落札しました", timeout=(AUCTION_SECONDS + 60) * 1000
    )
    expect(b.locator("#result-text")).to_contain_text("入札者 1が¥12,000で落札しました")
    expect(b.locator("#bid-section")).to_be_hidden()
    pay = a.get_by_role("button", name="支払う（デモ決済）")
    expect(pay).to_be_visible(timeout=CHAIN_TIMEOUT_MS)
    expect(a.locator("#pay-text")).to_contain_text("あなたが落札しました")
    _shot(a, "lot-won-phone")
    pay.click()
    expect(a.locator("#pay-text")).to_contain_text("お支払いが完了しました", timeout=CHAIN_TIMEOUT_MS)
    expect(a.locator("#offers-section")).to_contain_text("支払い済み")
    expect(a.locator("#bid-log-link")).to_have_attribute("href", f"/api/v1/lots/{lot_id}/bid-log")
    propose = a.get_by_role("link", name="公園のページで名前を提案する")
    expect(propose).to_be_visible(timeout=CHAIN_TIMEOUT_MS)  # once the right is awarded on chain
    expect(a.locator("#result-text")).to_contain_text("落札しました", timeout=CHAIN_TIMEOUT_MS)
    _shot(a, "lot-paid-phone")
    propose.click()


def _propose(a: Page, name: str, reading: str, reason: str, shot: str) -> None:
    form = a.locator("#propose-form")
    a.get_by_label("公園の名前", exact=True).fill(name)
    a.get_by_label("よみがな").fill(reading)
    a.get_by_label("名前にこめた思い（任意）").fill(reason)
    _check(a)
    _shot(a, shot)
    form.get_by_role("button", name="この名前を提案する").click()
    expect(a.locator("#naming-message")).to_contain_text("提案を受け付けました")
    expect(a.locator("#proposals .proposal").first).to_contain_text(name)  # newest first
    expect(a.locator("#proposals .badge").first).to_have_text("町が確認中", timeout=CHAIN_TIMEOUT_MS)
    expect(form).to_be_hidden()


def _first_proposal(a: Page, park_id: int) -> None:
    expect(a).to_have_url(re.compile(rf"/parks/{park_id}$"))
    expect(a.locator("#park-name")).to_have_text("星川河川公園")
    a.locator("#propose-form").get_by_role("button", name="この名前を提案する").click()  # empty: said at the field
    expect(a.locator("#name-error")).to_contain_text("公園の名前を入力してください")
    _propose(a, FIRST_NAME, FIRST_READING, "川の公園なので。", "park-propose-phone")


def _moderator_signs_in(browser: Browser, server: Any, data_dir: Path, errors: list[str]) -> Page:
    context = browser.new_context(locale="ja-JP", viewport=LAPTOP)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"moderator: {error}"))
    page.goto(f"{server.url}/console/")
    page.get_by_label("メールアドレス").fill(MODERATOR)
    seen = _mails(data_dir)
    page.get_by_role("button", name="確認コードを送る").click()
    code = _mail_to(data_dir, seen, MODERATOR, CODE)
    page.get_by_label("確認コード（6桁）").fill(code)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/home\.html"))
    nav = page.locator("#console-nav")
    expect(nav.get_by_role("link", name="販売")).to_have_count(0)  # not the moderator's
    nav.get_by_role("link", name="公園の名前の確認").click()
    expect(page).to_have_url(re.compile(r"/console/names\.html"))
    return page


def _moderator_rejects(page: Page) -> None:
    card = page.locator(".proposal-card", has_text=FIRST_NAME)
    expect(card).to_contain_text(FIRST_READING)
    expect(card).to_contain_text("これが最初の提案です。")
    expect(card.get_by_role("link", name="J-PlatPat で商標を調べる（新しいタブ）")).to_have_attribute(
        "href", re.compile(r"^https://www\.j-platpat\.inpit\.go\.jp/")
    )
    card.get_by_text("見送る（理由を選ぶ）").click()
    card.get_by_role("button", name="見送る", exact=True).click()  # no reason yet: said at the field
    expect(card.locator(".reject-form .field-error")).to_have_text("見送りの理由を選んでください。")
    card.get_by_label("見送りの理由").select_option(label="読みにくい・紛らわしい")
    card.get_by_label("ひとこと（任意・記録に残ります）").fill(
        "「河川」の読み方が分かりにくいため、別の名前をご検討ください。"
    )
    _check(page)
    _shot(page, "console-names-reject")
    card.get_by_role("button", name="見送る", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"「{FIRST_NAME}」を見送りますか")
    dialog.get_by_role("button", name="見送る").click()
    expect(page.locator("#names-message")).to_contain_text(f"「{FIRST_NAME}」を見送りました", timeout=CHAIN_TIMEOUT_MS)
    expect(page.locator("#queue-empty")).to_be_visible()


def _moderator_approves(page: Page) -> None:
    page.reload()
    card = page.locator(".proposal-card", has=page.locator(".proposed-name", has_text=NAME))
    expect(card).to_contain_text(READING)
    expect(card).to_contain_text("星がよく見える町の、川辺の公園だから。")
    expect(card.locator(".history")).to_contain_text(FIRST_NAME)  # the winner's earlier proposal
    expect(card.locator(".history")).to_contain_text("見送り")
    _check(page)
    _shot(page, "console-names")
    card.get_by_role("button", name="承認する").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"「{NAME}」を承認しますか")
    dialog.get_by_role("button", name="承認する").click()
    expect(page.locator("#names-message")).to_contain_text(f"「{NAME}」を承認しました", timeout=CHAIN_TIMEOUT_MS)
    expect(page.locator("#queue-empty")).to_be_visible()
    page.get_by_label("表示する提案").select_option("all")
    cards = page.locator(".proposal-card")
    expect(cards).to_have_count(2)
    expect(cards.filter(has=page.locator(".proposed-name", has_text=NAME))).to_contain_text("承認")
    first = cards.filter(has=page.locator(".proposed-name", has_text=FIRST_NAME))
    expect(first).to_contain_text("見送りの理由: 読みにくい・紛らわしい")
    _shot(page, "console-names-decided")


def _console_pages(browser: Browser, server: Any, token: str, park_id: int, lot_id: int) -> None:
    """The editor's console pages for parks, in Japanese and in English (the owner's session)."""
    context = browser.new_context(locale="ja-JP", viewport=LAPTOP)
    context.add_cookies([{"name": "furusato_staff", "value": token, "url": server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/console/parks.html?town={TOWN}")
    row = page.locator(f"#park-{park_id}")
    expect(row).to_contain_text("星川河川公園")
    expect(row).to_contain_text("落札・支払い済み")
    expect(row.get_by_role("link", name="看板 A3（PDF）")).to_have_attribute(
        "href", f"/api/v1/staff/towns/{TOWN}/parks/{park_id}/sign.pdf?size=A3"
    )
    sign = context.request.get(f"{server.url}/api/v1/staff/towns/{TOWN}/parks/{park_id}/sign.pdf?size=A3")
    assert sign.status == 200, sign.text()
    assert sign.headers["content-type"] == "application/pdf"
    assert sign.body().startswith(b"%PDF-")
    expect(page.get_by_label("開始価格（円）")).to_have_value("1000")  # the defaults
    expect(page.get_by_label("終了間際の延長: 終了前の何分以内の入札で延ばすか")).to_have_value("5")
    _check(page)
    _shot(page, "console-parks")
    row.get_by_role("link", name="詳しく見る").click()
    expect(page).to_have_url(re.compile(rf"/console/park\.html\?.*id={park_id}"))
    detail = page.locator("#lot-detail")
    expect(detail).to_contain_text("入札者 1")
    expect(detail).to_contain_text("東京都")
    expect(detail).to_contain_text("¥12,000")
    expect(detail).to_contain_text("支払い済み")
    _check(page)
    _shot(page, "console-park")
    page.get_by_role("button", name="Switch language").click()
    for path in ("parks.html", f"park.html?id={park_id}&lot={lot_id}", "names.html"):
        page.goto(f"{server.url}/console/{path}{'&' if '?' in path else '?'}town={TOWN}")
        expect(page.locator("#console-nav")).to_contain_text("Parks & naming rights")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#page-error")).to_be_hidden()
        _check(page)
    _shot(page, "console-names-en")
    page.get_by_role("button", name="Switch language").click()
    assert errors == [], errors
    context.close()


def _public_pages(browser: Browser, server: Any, park_id: int, lot_id: int) -> None:
    """The pages anyone sees, in Japanese then in English, on a phone."""
    context = browser.new_context(locale="ja-JP", viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/p/{park_id}")  # the sign's short URL
    expect(page).to_have_url(re.compile(rf"/parks/{park_id}$"))
    expect(page.locator("#park-name")).to_have_text(NAME)
    expect(page.locator("#park-reading")).to_have_text(READING)
    expect(page.locator("#park-default")).to_have_text("本来の名前（条例上の名前）: 星川河川公園")
    expect(page.locator("#park-facts")).to_contain_text("保有者 ")
    expect(page.locator("#park-photo")).to_be_visible()
    expect(page.locator("#naming-section")).to_be_hidden()  # not signed in
    page.locator("#record summary").click()
    expect(page.locator("#record-list")).to_contain_text("0x")
    _check(page)
    _shot(page, "park-named-phone")
    page.goto(f"{server.url}/?town={TOWN}")
    card = page.locator(".park-card", has_text=NAME)
    expect(card).to_have_attribute("href", f"/parks/{park_id}")
    expect(card).to_contain_text("本来の名前: 星川河川公園")
    _shot(page, "town-parks-phone")
    page.get_by_role("button", name="Switch language").click()
    for path in (f"/parks/{park_id}", f"/lots/{lot_id}", "/"):
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        _check(page)
    expect(page.locator("#parks-heading")).to_have_text("Park naming rights")
    page.goto(f"{server.url}/lots/{lot_id}")
    expect(page.locator("#lot-title")).to_have_text("Naming rights: Hoshikawa Riverside Park")
    expect(page.locator("#bid-list li").first).to_contain_text("Bidder 1")
    _shot(page, "lot-closed-en-phone")
    assert errors == [], errors
    context.close()


def test_two_bidders_outbid_each_other_then_the_winner_names_the_park(
    browser: Browser, town: Any, data_dir: Path
) -> None:
    token = _staff_token(town, data_dir, OWNER)
    park_id, lot_id = _park_and_lot(town, token)

    errors: list[str] = []
    a = _bidder_joins(browser, town, data_dir, lot_id, BIDDER_A, "東京都", errors)
    b = _bidder_joins(browser, town, data_dir, lot_id, BIDDER_B, "大阪府", errors)
    _check(a)
    _bidding_war(a, b)
    _close_and_pay(a, b, lot_id)
    _first_proposal(a, park_id)

    moderator = _moderator_signs_in(browser, town, data_dir, errors)
    _moderator_rejects(moderator)
    expect(a.locator("#proposals .badge").first).to_have_text("見送られました", timeout=CHAIN_TIMEOUT_MS)
    expect(a.locator("#naming-message")).to_contain_text("別の名前で、もう一度提案できます")
    _shot(a, "park-rejected-phone")
    _propose(a, NAME, READING, "星がよく見える町の、川辺の公園だから。", "park-propose-again-phone")
    _shot(a, "park-proposed-phone")

    _moderator_approves(moderator)
    expect(a.locator("#naming-message")).to_contain_text(f"公園の名前は「{NAME}」です", timeout=CHAIN_TIMEOUT_MS)
    expect(a.locator("#park-name")).to_have_text(NAME)  # the winner's page, not reloaded
    _shot(a, "park-approved-phone")
    moderator.context.close()

    _public_pages(browser, town, park_id, lot_id)
    _console_pages(browser, town, token, park_id, lot_id)
    assert errors == [], errors
    a.context.close()
    b.context.close()


# ── the lot page's other states, against the API contract answered by the browser itself ──

STATIC = REPO_ROOT / "frontend_static"
SITE = "http://furusato.test"
PAY_SECRET = "pay-secret-0123456789abcdef"


class FakeLot:
    """The lot page's endpoints as the plan describes them, for lot 7, answered in the browser
    (Playwright routes): the page's states that a real run reaches only slowly or with Stripe."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.lot: dict[str, Any] = {
            "id": 7,
            "park_id": 3,
            "park_name_ja": "星川中央公園",
            "park_name_en": "Hoshikawa Central Park",
            "municipality": TOWN,
            "status": "open",
            "term_start": now.isoformat(),
            "term_end": (now + dt.timedelta(days=1095)).isoformat(),
            "auction_start": now.isoformat(),
            "ends_at": (now + dt.timedelta(days=2)).isoformat(),
            "auction_end": (now + dt.timedelta(days=2)).isoformat(),
            "reserve_jpy": 10000,
            "min_increment_jpy": None,
            "minimum_bid_jpy": 10000,
            "highest_bid_jpy": None,
            "bid_count": 0,
            "soft_close_seconds": 300,
            "extension_seconds": 300,
            "server_time": now.isoformat(),
            "bids": [],
            "chain": {"chain_id": 31337, "contract": "0x" + "ab" * 20, "lot_id": 1},
        }
        self.me: dict[str, Any] = {"registered": False, "offer": None, "proposals": [], "is_primary_winner": False}
        self.offers: list[dict[str, Any]] = []
        self.sent: list[tuple[str, str, Any]] = []

    def bid(self, amount: int, number: int) -> None:
        self.lot["bids"].insert(
            0,
            {
                "seq": self.lot["bid_count"] + 1,
                "amount_jpy": amount,
                "bidder": f"入札者 {number}",
                "at": self.lot["server_time"],
            },
        )
        self.lot.update(bid_count=self.lot["bid_count"] + 1, highest_bid_jpy=amount, minimum_bid_jpy=amount + 1000)

    def handle(self, route: Route) -> None:

        request = route.request
        path = request.url.removeprefix(SITE).split("?")[0]
        body = json.loads(request.post_data) if request.post_data else None
        if not path.startswith("/api/"):
            name = "lot.html" if path.startswith("/lots/") else path.lstrip("/") or "index.html"
            file = STATIC / name
            if file.is_file():
                kind = {"html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
                return route.fulfill(status=200, body=file.read_bytes(), content_type=kind[file.suffix[1:]])
            return route.fulfill(status=200, body="<!doctype html><title>elsewhere</title>", content_type="text/html")
        self.sent.append((request.method, path, body))
        answers: dict[str, Any] = {
            "/api/v1/lots/7": self.lot,
            "/api/v1/lots/7/me": self.me,
            "/api/v1/lots/7/offers": self.offers,
            "/api/v1/lots/7/bidders": {
                "bidder": "入札者 4",
                "number": 4,
                "payment_method": "card",
                "payment_state": "pending",
                "setup_url": f"{SITE}/stripe/setup",
            },
            "/api/v1/lots/7/offers/3/checkout": {"checkout_url": f"{SITE}/stripe/checkout"},
        }
        if path in answers:
            return route.fulfill(status=200, json=answers[path])
        # The event stream is down (a proxy that buffers it, say): the page polls instead.
        return route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "down"}})


@pytest.fixture
def fake_lot(page: Page) -> FakeLot:
    fake = FakeLot()
    page.context.route(f"{SITE}/**", fake.handle)
    return fake


def _signed_in(page: Page) -> None:
    session = '{"session_token": "s-1", "expires_at": "2999-01-01T00:00:00Z", "email": "hanako@example.jp"}'
    page.add_init_script(f"localStorage.setItem('furusato.session', {session!r});")


def test_lot_page_polls_when_the_event_stream_is_down(page: Page, fake_lot: FakeLot) -> None:
    page.goto(f"{SITE}/lots/7")
    expect(page.locator("#lot-price")).to_have_text("¥10,000")
    expect(page.locator("#price-label")).to_have_text("開始価格")
    expect(page.locator("#bids-empty")).to_be_visible()
    fake_lot.bid(15000, 2)
    expect(page.locator("#bid-list li").first).to_contain_text("入札者 2", timeout=10_000)
    expect(page.locator("#lot-price")).to_have_text("¥15,000")
    expect(page.locator("#lot-minimum")).to_have_text("¥16,000")


def test_card_bidder_is_sent_to_save_the_card_then_pays_through_the_pay_link(page: Page, fake_lot: FakeLot) -> None:
    _signed_in(page)
    page.goto(f"{SITE}/lots/7")
    page.get_by_label("お住まいの都道府県").select_option(label="北海道")
    page.get_by_label("クレジットカード").check()
    page.get_by_role("button", name="参加を登録する").click()
    expect(page).to_have_url(f"{SITE}/stripe/setup")  # the payment service saves the card
    assert ("POST", "/api/v1/lots/7/bidders", {"prefecture": "01", "payment_method": "card"}) in fake_lot.sent

    fake_lot.me.update(registered=True, bidder="入札者 4", payment_method="card", payment_state="pending")
    page.goto(f"{SITE}/lots/7")  # back from the payment service before its webhook came
    expect(page.locator("#card-pending")).to_contain_text("クレジットカードの登録がまだ終わっていません")
    expect(page.locator("#bid-form")).to_be_hidden()

    fake_lot.lot.update(status="awaiting_payment")
    fake_lot.bid(20000, 4)
    fake_lot.offers[:] = [
        {
            "round": 1,
            "bidder": "入札者 4",
            "bidder_en": "Bidder 4",
            "amount_jpy": 20000,
            "state": "awaiting_payment",
            "at": fake_lot.lot["server_time"],
        }
    ]
    fake_lot.me.update(
        payment_state="ready",
        offer={
            "id": 3,
            "round": 1,
            "amount_jpy": 20000,
            "state": "awaiting_payment",
            "pay_deadline": "2999-01-01T00:00:00Z",
            "pay_with": "checkout",
            "pay_url": f"{SITE}/lots/7?pay={PAY_SECRET}",
        },
    )
    page.goto(f"{SITE}/lots/7?pay={PAY_SECRET}")  # the mailed pay link
    expect(page.locator("#pay-text")).to_contain_text("あなたが落札しました")
    page.get_by_role("button", name="お支払いへ進む（クレジットカード）").click()
    expect(page).to_have_url(f"{SITE}/stripe/checkout")
    assert ("POST", "/api/v1/lots/7/offers/3/checkout", {"token": PAY_SECRET}) in fake_lot.sent


def test_pay_link_opened_signed_out_signs_in_first(page: Page, fake_lot: FakeLot) -> None:
    fake_lot.lot.update(status="awaiting_payment")
    page.goto(f"{SITE}/lots/7?pay={PAY_SECRET}")
    page.get_by_role("button", name="お支払いへ進む（クレジットカード）").click()
    expect(page).to_have_url(f"{SITE}/signin.html?next=%2Flots%2F7%3Fpay%3D{PAY_SECRET}")


def test_unsold_lot_says_so(page: Page, fake_lot: FakeLot) -> None:
    fake_lot.lot.update(status="unsold")
    page.goto(f"{SITE}/lots/7")
    expect(page.locator("#result-text")).to_have_text("入札がなかったため、今回は落札されませんでした。")
    expect(page.locator("#bid-section")).to_be_hidden()
    expect(page.locator("#lot-countdown")).to_have_text("終了しました")
    _check(page)
