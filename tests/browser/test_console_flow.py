"""The town's console in a real Chromium, as a tourism officer uses it, against a real
`furusato run`: a new owner (added with `furusato staff add`) signs in with the code mailed to
them, creates and publishes a drop with the wizard (its preview shows the title and price),
makes a campaign and downloads its poster (a PDF), then — after a supporter bought through the
campaign's short URL in another browser — finds that order in the list (with the campaign),
opens it and refunds it with a reason.

On the way every console page is screenshot at 1280×800 (and the key ones at 390×844) into
`test-artifacts/`, and checked cheaply for what breaks keyboard and screen-reader use: every
field has a label, no positive tabindex, no untranslated string key on screen.
"""

from __future__ import annotations

import email
import json
import re
import subprocess
import time
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.conftest import ARTIFACTS_DIR, FURUSATO, REPO_ROOT
from tests.holders.conftest import wait_for

pytestmark = [pytest.mark.browser]

OWNER = "kanko@hoshikawa.example"
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: Publishing waits for the series transaction; minting for the worker. Generous for slow CI.
CHAIN_TIMEOUT_MS = 60_000
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
INVITE_LINK = re.compile(r"(https?://\S+/console/invite\.html#token=\S+)")
#: What an i18n key looks like if a string is missing ("wizard.next", "cerr.forbidden").
KEY_PREFIXES = (
    "nav cerr wizard step f v col task drops home orders order refund campaigns members audit settings signin "
    "invite role dstatus ostatus pstatus filter common console target action pay "
    "parks cpark names lstatus coffer pstate cchain cpay"
)
RAW_KEY = re.compile(rf"\b(?:{'|'.join(KEY_PREFIXES.split())})\.[a-z_]+(?:\.[a-z_]+)*\b")

#: Seconds measured on the way (written to test-artifacts/console-figures.json for the notes).
FIGURES: dict[str, float] = {}

ACCESSIBILITY_PROBLEMS = """() => {
  const problems = [];
  for (const field of document.querySelectorAll("input, select, textarea")) {
    if (field.type === "hidden") continue;
    const named = field.labels.length > 0 || field.getAttribute("aria-label") || field.getAttribute("aria-labelledby");
    if (!named) problems.push("no label: " + (field.id || field.name || field.outerHTML.slice(0, 60)));
  }
  for (const node of document.querySelectorAll("[tabindex]")) {
    if (Number(node.getAttribute("tabindex")) > 0) problems.push("tabindex > 0: " + node.outerHTML.slice(0, 60));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("img without alt: " + img.outerHTML.slice(0, 60));
  }
  return problems;
}"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` with the demo town on an in-process chain, and a new owner for it."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    added = subprocess.run(
        [*FURUSATO, "staff", "add", OWNER, "--town", "hoshikawa", "--role", "owner", "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    return running


def _shot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"console-{name}.png", full_page=True)


def _check_page(page: Page) -> None:
    """Labels, tab order and strings: what a keyboard or screen-reader user trips on first."""
    problems = page.evaluate(ACCESSIBILITY_PROBLEMS)
    assert problems == [], problems
    shown = page.locator("body").inner_text()
    assert not RAW_KEY.search(shown), f"untranslated key on {page.url}: {RAW_KEY.search(shown)}"


def _mail_to(mail_dir: Path, seen: set[Path], to: str, pattern: re.Pattern[str]) -> str:
    """The first match of `pattern` in the newest new mail to `to` (the server writes it in a
    background task just after answering, so it is awaited)."""

    def newest() -> email.message.EmailMessage | None:
        for path in sorted(set(mail_dir.glob("*.eml")) - seen):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if to in str(message["To"]):
                return message
        return None

    message = wait_for(newest, 30, f"the mail to {to}")
    body = "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
    found = pattern.search(body)
    assert found, body
    return found.group(1)


def _sign_in(
    page: Page, server: Any, data_dir: Path, address: str = OWNER, *, prefilled: bool = False, shot: str = "signin"
) -> None:
    if not prefilled:
        page.goto(f"{server.url}/console/")
        page.get_by_label("メールアドレス").fill(address)
    expect(page.get_by_role("heading", level=1)).to_have_text("町の管理画面にログイン")
    expect(page.get_by_label("メールアドレス")).to_have_value(address)
    _check_page(page)
    _shot(page, shot)
    mail_dir = data_dir / "mail"
    seen = set(mail_dir.glob("*.eml"))
    page.get_by_role("button", name="確認コードを送る").click()
    expect(page.locator("#signin-message")).to_contain_text("メールを送りました")
    code = _mail_to(mail_dir, seen, address, CODE)

    page.get_by_label("確認コード（6桁）").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.locator("#code-error")).to_contain_text("確認コードが違います")  # a typo is explained
    page.get_by_label("確認コード（6桁）").fill(code)
    started = time.perf_counter()
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/home\.html"))
    expect(page.get_by_role("heading", level=1)).to_have_text("星川町のホーム")
    expect(page.locator("#tasks .task").first).to_be_visible()
    FIGURES.setdefault("sign_in_to_home_seconds", round(time.perf_counter() - started, 3))


def _create_and_publish_drop(page: Page) -> int:
    page.locator("#console-nav").get_by_role("link", name="販売").click()
    expect(page).to_have_url(re.compile(r"/console/drops\.html"))
    _check_page(page)
    page.get_by_role("link", name="新しい販売をつくる").click()
    expect(page).to_have_url(re.compile(r"/console/drop\.html"))
    preview = page.locator("#preview")

    page.get_by_role("button", name="次へ").click()  # nothing typed: the step says what is missing
    expect(page.locator("#title_ja-error")).to_contain_text("入力してください")
    page.get_by_label("名前（日本語）").fill("星川町 デジタル住民票 第2期")
    page.get_by_label("説明（日本語）").fill("星川町の第2期の住民票です。温泉の入浴券がつきます。")
    page.get_by_label("名前（英語）").fill("Hoshikawa digital resident card, 2nd issue")
    page.get_by_label("説明（英語）").fill("The second issue, with a hot-spring ticket.")
    expect(preview.locator("#pv-title")).to_have_text("星川町 デジタル住民票 第2期")
    expect(page.locator("#title_ja-error")).to_be_hidden()
    _check_page(page)
    _shot(page, "wizard-texts")
    page.get_by_role("button", name="次へ").click()

    page.get_by_label("価格（1枚・円）").fill("1500")
    page.get_by_label("発行枚数").fill("10")
    page.get_by_label("お一人様の上限（枚）").fill("20")
    page.get_by_role("button", name="次へ").click()
    expect(page.locator("#per_buyer_limit-error")).to_contain_text("発行枚数より多くできません")
    page.get_by_label("お一人様の上限（枚）").fill("2")
    expect(preview.locator("#pv-price")).to_have_text("¥1,500")
    expect(preview.locator("#pv-limit")).to_have_text("2枚まで")
    page.get_by_role("button", name="次へ").click()

    page.get_by_label("デモ決済（試し用・お金は動きません）").check()  # the supporter below pays by demo
    page.get_by_label("クレジットカード").uncheck()
    page.get_by_role("button", name="次へ").click()
    expect(page.locator("#review")).to_contain_text("¥1,500")
    page.get_by_role("button", name="English", exact=True).click()  # the buyer's page in English too
    expect(preview.locator("#pv-title")).to_have_text("Hoshikawa digital resident card, 2nd issue")
    expect(preview.locator("#pv-buy")).to_have_text("Buy")
    page.get_by_role("button", name="日本語", exact=True).click()
    _check_page(page)
    _shot(page, "wizard-review")

    page.get_by_role("button", name="保存して公開する").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("この内容で公開しますか")
    started = time.perf_counter()
    dialog.get_by_role("button", name="公開する").click()
    expect(page.locator("#wizard-status")).to_contain_text("公開しました", timeout=CHAIN_TIMEOUT_MS)
    FIGURES["publish_to_live_seconds"] = round(time.perf_counter() - started, 3)
    expect(page).to_have_url(re.compile(r"/console/drop\.html\?.*id=\d+"))
    _shot(page, "wizard-published")
    drop_id = int(page.evaluate("new URLSearchParams(location.search).get('id')"))
    return drop_id


def _pause_and_resume(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/console/drops.html?town=hoshikawa")
    row = page.locator("#drops-rows tr", has_text="第2期")
    expect(row).to_contain_text("公開中")
    expect(row).to_contain_text("0 / 10 枚")
    row.get_by_role("button", name="一時停止").click()
    page.get_by_role("dialog").get_by_role("button", name="一時停止").click()
    expect(page.locator("#drops-message")).to_contain_text("販売を一時停止しました")
    expect(row).to_contain_text("一時停止中")
    _check_page(page)
    _shot(page, "drops-paused")
    row.get_by_role("button", name="再開").click()
    page.get_by_role("dialog").get_by_role("button", name="再開").click()
    expect(page.locator("#drops-message")).to_contain_text("販売を再開しました")
    expect(row).to_contain_text("公開中")
    _shot(page, "drops")


def _make_campaign_and_poster(page: Page, context: BrowserContext, server: Any) -> str:
    page.get_by_role("link", name="次は: キャンペーンとQRポスターをつくる").click()
    expect(page).to_have_url(re.compile(r"/console/campaigns\.html"))
    expect(page.get_by_label("案内する販売")).to_have_value(re.compile(r"\d+"))
    expect(page.get_by_label("案内する販売").locator("option:checked")).to_have_text("星川町 デジタル住民票 第2期")
    page.get_by_label("キャンペーンの名前").fill("道の駅 入口のポスター")
    page.get_by_label("短いコード（任意）").fill("michinoeki")
    page.get_by_role("button", name="キャンペーンをつくる").click()
    expect(page.locator("#campaigns-message")).to_contain_text("キャンペーン「道の駅 入口のポスター」をつくりました")
    row = page.locator("#campaign-michinoeki")
    expect(row).to_contain_text("/c/michinoeki")
    _check_page(page)
    _shot(page, "campaigns")

    poster = row.get_by_role("link", name="ポスター A4")
    started = time.perf_counter()
    with page.expect_download() as downloading:
        poster.click()
    saved = Path(downloading.value.path())
    FIGURES["poster_download_seconds"] = round(time.perf_counter() - started, 3)
    assert saved.read_bytes().startswith(b"%PDF-")
    assert downloading.value.suggested_filename == "poster-michinoeki-A4.pdf"
    href = poster.get_attribute("href")
    assert href
    answer = context.request.get(server.url + href)  # the same cookie as the page
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF-")
    return "michinoeki"


def _supporter_buys(browser: Browser, server: Any, code: str) -> str:
    context = browser.new_context(locale="ja-JP", viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server.url}/c/{code}")
    expect(page).to_have_url(re.compile(rf"/drop\.html\?id=\d+&c={code}"))
    expect(page.locator("#drop-title")).to_have_text("星川町 デジタル住民票 第2期")
    expect(page.locator("#drop-price")).to_have_text("¥1,500")
    page.get_by_label("メールアドレス").fill("supporter@example.jp")
    page.get_by_label("お住まいの都道府県").select_option(label="大阪府")
    page.get_by_label("デモ決済（テスト用）").check()
    page.get_by_role("button", name="購入する").click()
    expect(page).to_have_url(re.compile(r"/order\.html\?id=ord_"))
    expect(page.locator("#order-message")).to_contain_text("発行が完了しました", timeout=CHAIN_TIMEOUT_MS)
    order_id = str(page.evaluate("new URLSearchParams(location.search).get('id')"))
    context.close()
    return order_id


def _find_and_refund(page: Page, context: BrowserContext, server: Any, order_id: str, code: str) -> None:
    page.locator("#console-nav").get_by_role("link", name="注文").click()
    expect(page).to_have_url(re.compile(r"/console/orders\.html"))
    page.get_by_label("キャンペーン").select_option(code)
    page.get_by_role("button", name="この条件で探す").click()
    expect(page).to_have_url(re.compile(rf"campaign={code}"))
    row = page.locator("#orders-rows tr", has_text=order_id)
    expect(row).to_contain_text(code)
    expect(row).to_contain_text("¥1,500")
    expect(row).to_contain_text("発行済み")
    _check_page(page)
    _shot(page, "orders")

    csv_href = page.locator("#csv-utf8").get_attribute("href")
    assert csv_href
    csv = context.request.get(server.url + csv_href)
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.body().startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    assert order_id in csv.body().decode("utf-8-sig")
    sjis_href = page.locator("#csv-sjis").get_attribute("href")
    assert sjis_href
    assert order_id in context.request.get(server.url + sjis_href).body().decode("cp932")

    row.get_by_role("link", name=order_id).click()
    expect(page).to_have_url(re.compile(rf"/console/order\.html\?.*id={order_id}"))
    expect(page.locator("#order-summary")).to_contain_text("supporter@example.jp")
    expect(page.locator("#order-summary")).to_contain_text(code)
    expect(page.locator("#order-status")).to_have_text("発行済み")
    _check_page(page)
    _shot(page, "order")

    page.get_by_role("button", name="返金する…").click()  # no reason yet: refused in the page
    expect(page.locator("#reason-error")).to_contain_text("返金の理由を入力してください")
    page.get_by_label("返金の理由（必須・記録に残ります）").fill("購入者から重複購入のため返金の依頼")
    page.get_by_role("button", name="返金する…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("本当に返金しますか")
    expect(dialog.get_by_role("button", name="やめる")).to_be_focused()  # the safe answer first
    page.keyboard.press("Escape")  # a second thought: nothing happens
    expect(dialog).to_have_count(0)
    expect(page.locator("#order-status")).to_have_text("発行済み")
    page.get_by_role("button", name="返金する…").click()
    expect(dialog).to_contain_text("¥1,500")
    dialog.get_by_role("button", name="返金する").click()
    expect(page.locator("#order-status")).to_have_text("返金済み", timeout=CHAIN_TIMEOUT_MS)
    expect(page.locator("#refund-section")).to_be_hidden()
    _shot(page, "order-refunded")

    page.get_by_role("link", name="操作履歴で見る").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"操作履歴: 注文 {order_id}")
    expect(page.locator("#audit-rows")).to_contain_text("返金")
    _check_page(page)
    _shot(page, "audit-order")


def _other_pages(page: Page, server: Any) -> None:
    for name, heading in (("members", "メンバーと役割"), ("audit", "操作履歴"), ("settings", "町の設定")):
        page.goto(f"{server.url}/console/{name}.html?town=hoshikawa")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("#page-error")).to_be_hidden()
        _check_page(page)
        _shot(page, name)
    page.get_by_label("町の色").fill("#c2185b")
    page.get_by_label("編集者も返金できるようにする（オフなら管理者だけ）").check()
    page.get_by_role("button", name="設定を保存").click()
    expect(page.locator("#settings-message")).to_have_text("設定を保存しました。")
    page.reload()
    expect(page.get_by_label("町の色")).to_have_value("#c2185b")
    expect(page.get_by_label("編集者も返金できるようにする（オフなら管理者だけ）")).to_be_checked()
    page.goto(f"{server.url}/console/home.html?town=hoshikawa")
    expect(page.locator("#tasks")).to_contain_text("新しい販売を始める")
    _check_page(page)
    _shot(page, "home")
    page.get_by_role("button", name="Switch language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hoshikawa Town: home")
    _check_page(page)
    _shot(page, "home-en")
    page.get_by_role("button", name="Switch language").click()


def _english_pages(page: Page, server: Any, drop_id: int, order_id: str) -> None:
    """Every console page in English: no string left as its key, no field without a label."""
    page.goto(f"{server.url}/console/home.html?town=hoshikawa")
    page.get_by_role("button", name="Switch language").click()
    expect(page.locator("#console-nav")).to_contain_text("Orders")
    for path in (
        "drops.html",
        f"drop.html?id={drop_id}&step=3",
        "campaigns.html",
        "orders.html",
        f"order.html?id={order_id}",
        "members.html",
        "audit.html",
        "settings.html",
        "parks.html",
        "park.html?id=1",
        "names.html",
    ):
        page.goto(f"{server.url}/console/{path}&town=hoshikawa" if "?" in path else f"{server.url}/console/{path}")
        expect(page.locator("#console-nav")).to_contain_text("Orders")
        page.wait_for_load_state("networkidle")
        expect(page.locator("#page-error")).to_be_hidden()
        _check_page(page)
    _shot(page, "settings-en")
    page.get_by_role("button", name="Switch language").click()
    expect(page.locator("#console-nav")).to_contain_text("注文")


def _phone_pages(browser: Browser, context: BrowserContext, server: Any, drop_id: int, order_id: str) -> None:
    phone = browser.new_context(locale="ja-JP", viewport=PHONE, storage_state=context.storage_state())
    page = phone.new_page()
    pages = (
        ("home", "home.html"),
        ("wizard", f"drop.html?id={drop_id}"),
        ("campaigns", "campaigns.html"),
        ("orders", "orders.html"),
        ("order", f"order.html?id={order_id}"),
    )
    for name, path in pages:
        page.goto(f"{server.url}/console/{path}")
        expect(page.locator("#page-error")).to_be_hidden()
        expect(page.get_by_role("heading", level=1)).not_to_have_text("")
        page.wait_for_load_state("networkidle")
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        _shot(page, f"{name}-phone")
    page.get_by_role("button", name="メニュー").click()
    expect(page.locator("#console-nav").get_by_role("link", name="販売")).to_be_visible()
    _shot(page, "menu-phone")
    phone.close()


def test_owner_runs_a_sale_from_the_console(browser: Browser, town: Any, data_dir: Path) -> None:
    context = browser.new_context(locale="ja-JP", viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    _sign_in(page, town, data_dir)
    drop_id = _create_and_publish_drop(page)
    code = _make_campaign_and_poster(page, context, town)
    _pause_and_resume(page, town)
    order_id = _supporter_buys(browser, town, code)
    _find_and_refund(page, context, town, order_id, code)
    _other_pages(page, town)
    _english_pages(page, town, drop_id, order_id)
    _phone_pages(browser, context, town, drop_id, order_id)

    assert errors == [], errors
    context.close()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    (ARTIFACTS_DIR / "console-figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")


def test_signed_out_pages_send_to_sign_in(browser: Browser, town: Any) -> None:
    page = browser.new_page(locale="ja-JP", viewport=PHONE)
    page.goto(f"{town.url}/console/orders.html?town=hoshikawa")
    expect(page).to_have_url(re.compile(r"/console/\?next=%2Fconsole%2Forders\.html"))
    expect(page.get_by_role("heading", level=1)).to_have_text("町の管理画面にログイン")
    page.close()


def test_owner_invites_an_editor_who_cannot_manage_members(browser: Browser, town: Any, data_dir: Path) -> None:
    owner = browser.new_context(locale="ja-JP", viewport=LAPTOP)
    page = owner.new_page()
    _sign_in(page, town, data_dir)
    page.locator("#console-nav").get_by_role("link", name="メンバー").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("メンバーと役割")
    page.get_by_label("招待する方のメールアドレス").fill("henshu@hoshikawa")
    page.get_by_role("button", name="招待メールを送る").click()
    expect(page.locator("#invite-email-error")).to_contain_text("メールアドレスを正しく入力してください")

    mail_dir = data_dir / "mail"
    seen = set(mail_dir.glob("*.eml"))
    editor_email = "henshu@hoshikawa.example"
    page.get_by_label("招待する方のメールアドレス").fill(editor_email)
    page.get_by_label("役割", exact=True).select_option(label="編集者")
    page.get_by_role("button", name="招待メールを送る").click()
    expect(page.locator("#members-message")).to_contain_text(f"{editor_email} に「編集者」として招待メールを送りました")
    expect(page.locator("#invites-rows")).to_contain_text(editor_email)
    _check_page(page)
    _shot(page, "members-invited")
    link = _mail_to(mail_dir, seen, editor_email, INVITE_LINK)

    editor = browser.new_context(locale="ja-JP", viewport=PHONE)
    them = editor.new_page()
    them.goto(link)
    expect(them).not_to_have_url(re.compile("token="))  # the secret leaves the address bar at once
    them.get_by_role("button", name="招待を受ける").click()
    expect(them.locator("#invite-message")).to_contain_text("星川町の「編集者」になりました")
    _check_page(them)
    _shot(them, "invite-accepted-phone")
    them.get_by_role("link", name="ログインする").click()
    _sign_in(them, town, data_dir, editor_email, prefilled=True, shot="signin-phone")
    nav = them.locator("#console-nav")
    them.get_by_role("button", name="メニュー").click()
    expect(nav.get_by_role("link", name="販売")).to_be_visible()
    expect(nav.get_by_role("link", name="メンバー")).to_have_count(0)  # not offered to an editor
    them.goto(f"{town.url}/console/members.html?town=hoshikawa")
    expect(them.locator("#page-error")).to_have_text("この操作の権限がありません。")
    expect(them.locator("#invite-form")).to_be_hidden()
    _shot(them, "members-forbidden-phone")
    editor.close()

    page.reload()
    expect(page.locator("#members-rows")).to_contain_text(editor_email)
    expect(page.locator("#invites-empty")).to_be_visible()  # the invitation was used
    owner.close()
