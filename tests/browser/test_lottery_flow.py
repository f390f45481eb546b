"""A lottery sale in a real Chromium, against a real `furusato run` and its lottery job.

An owner signs in to the console and creates a lottery drop with the wizard (application
window, draw time, hours to pay, per-person limit), publishes it and makes a poster campaign.
A supporter scans the campaign's short URL, applies in Japanese on a phone-sized screen (the
campaign code goes with the application), sees the receipt with the entry number, is told
すでに申し込み済み on a second try, and opens the applicant's page (申込済). The staff's lottery
panel shows the applications by day and prefecture. The test then moves the close and the
draw a few seconds ahead through the staff drops API and waits for the draw job (the public
record's state), after which the applicant's page shows 当選, the supporter pays with the
demo payment on the order page and the card is minted (支払済), and the verification page
recomputes the draw in the browser and says ✓ 検証できました, and finds the entry's rank.

Screenshots go to test-artifacts/lottery/ (docs/screenshots/lottery/ holds copies taken from there by
hand: a test run leaves the tree clean).
"""

from __future__ import annotations

import email
import re
import uuid
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.conftest import ARTIFACTS_DIR
from tests.holders.conftest import wait_for

pytestmark = [pytest.mark.browser]

OWNER = "owner@hoshikawa.example"  # the demo owner `furusato run` seeds
APPLICANT = "hoshi.fan@example.jp"
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = ARTIFACTS_DIR / "lottery"
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
ENTRY_ID = re.compile(r"^[0-9a-f]{32}$")
#: Publishing waits for the series transaction, minting for the worker; the draw for the job.
CHAIN_TIMEOUT_MS = 60_000
JST = timedelta(hours=9)
#: What an i18n key of these pages looks like if a string is missing ("lv.ok", "aerr.x").
RAW_KEY = re.compile(r"\b(?:lv|lot|app|astatus|alead|aerr|lottery|receipt|wizard|f|v|cerr)\.[a-z_]+(?:\.[a-z_]+)*\b")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` with the demo town (and its owner) on an in-process chain."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    return running


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def _no_raw_keys(page: Page) -> None:
    shown = page.locator("body").inner_text()
    found = RAW_KEY.search(shown)
    assert not found, f"untranslated key on {page.url}: {found.group(0)}"


def _newest_code(mail_dir: Path, seen: set[Path]) -> str:
    def code() -> str | None:
        for path in sorted(set(mail_dir.glob("*.eml")) - seen):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if OWNER in str(message["To"]):
                body = "\n".join(p.get_content() for p in message.walk() if p.get_content_maintype() == "text")
                found = CODE.search(body)
                if found:
                    return found.group(1)
        return None

    found: str = wait_for(code, 30, f"the sign-in code mail to {OWNER}")
    return found


def _sign_in(page: Page, server: Any, data_dir: Path) -> None:
    page.goto(f"{server.url}/console/")
    page.get_by_label("メールアドレス").fill(OWNER)
    mail_dir = data_dir / "mail"
    seen = set(mail_dir.glob("*.eml"))
    page.get_by_role("button", name="確認コードを送る").click()
    expect(page.locator("#signin-message")).to_contain_text("メールを送りました")
    page.get_by_label("確認コード（6桁）").fill(_newest_code(mail_dir, seen))
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/home\.html"))


def _jst_input(moment: datetime) -> str:
    """A time as <input type=datetime-local> takes it in the wizard (Japan time)."""
    return (moment.astimezone(UTC) + JST).strftime("%Y-%m-%dT%H:%M")


def _create_lottery_with_the_wizard(page: Page, server: Any) -> int:
    page.goto(f"{server.url}/console/drop.html")
    expect(page.locator("#next")).to_be_enabled()  # the wizard has set its defaults: typing now stays
    page.get_by_label("名前（日本語）").fill("星川町 デジタル住民票 抽選の回")
    page.get_by_label("説明（日本語）").fill("抽選で10枚。お一人2枚まで。申し込みは無料です。")
    page.get_by_label("名前（英語）").fill("Hoshikawa digital resident card, lottery issue")
    page.get_by_label("説明（英語）").fill("10 cards by lottery, at most 2 a person. Applying is free.")
    page.get_by_role("button", name="次へ").click()

    page.get_by_label("価格（1枚・円）").fill("1000")
    page.get_by_label("発行枚数").fill("10")
    page.get_by_label("お一人様の上限（枚）").fill("2")
    page.get_by_text("抽選（申し込みを締め切ってから当選者を決めます）").click()
    note = page.locator("#lottery-note")
    expect(note).to_be_visible()
    expect(note).not_to_contain_text("まだできません")  # the lottery exists now: no promise of later
    closes = datetime.now(UTC) + timedelta(hours=2)
    page.get_by_label("申し込みの締め切り（日本時間）").fill(_jst_input(closes))
    page.get_by_label("抽選の日時（日本時間）").fill(_jst_input(closes + timedelta(hours=1)))
    page.get_by_label("当選者の支払い期限（時間）").fill("24")
    expect(page.locator("#pv-status")).to_have_text("抽選販売")
    expect(page.locator("#pv-buy")).to_have_text("抽選に申し込む")
    _no_raw_keys(page)
    _shot(page, "console-wizard-lottery-laptop")
    page.get_by_role("button", name="次へ").click()

    page.get_by_label("デモ決済（試し用・お金は動きません）").check()
    page.get_by_label("クレジットカード").uncheck()
    page.get_by_role("button", name="次へ").click()
    expect(page.locator("#review")).to_contain_text("24時間")
    page.get_by_role("button", name="保存して公開する").click()
    page.get_by_role("dialog").get_by_role("button", name="公開する").click()
    expect(page.locator("#wizard-status")).to_contain_text("公開しました", timeout=CHAIN_TIMEOUT_MS)
    drop_id = int(page.evaluate("new URLSearchParams(location.search).get('id')"))
    expect(page.locator("#lottery-panel")).to_be_visible()
    expect(page.locator("#lottery-state")).to_have_text("受付中")
    return drop_id


def _staff_call(context: BrowserContext, server: Any, method: str, path: str, body: dict[str, Any]) -> Any:
    """A staff API write with the console's session cookie and its CSRF header."""
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "furusato_csrf")
    response = context.request.fetch(
        f"{server.url}/api/v1/staff/towns/hoshikawa/{path}",
        method=method,
        data=body,
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert response.ok, response.text()
    return response.json()


def _apply_by_api(server: Any, drop_id: int, index: int, quantity: int) -> None:
    response = requests.post(
        f"{server.url}/api/v1/drops/{drop_id}/applications",
        json={"email": f"applicant{index}@example.jp", "prefecture": f"{index + 1:02d}", "quantity": quantity},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def _record(server: Any, drop_id: int) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(f"{server.url}/api/v1/drops/{drop_id}/lottery", timeout=10).json()
    return body


def test_apply_win_pay_and_verify(browser: Browser, town: Any, data_dir: Path) -> None:
    staff_context = browser.new_context(locale="ja-JP", viewport=LAPTOP)
    staff = staff_context.new_page()
    _sign_in(staff, town, data_dir)
    drop_id = _create_lottery_with_the_wizard(staff, town)
    campaign = _staff_call(
        staff_context, town, "POST", "campaigns", {"code": "michinoeki", "name": "道の駅", "drop_id": drop_id}
    )
    assert campaign["url"].endswith("/c/michinoeki")

    # The supporter scans the poster: the drop page, in Japanese, with its lottery.
    phone = browser.new_context(locale="ja-JP", viewport=PHONE).new_page()
    phone.goto(f"{town.url}/c/michinoeki")
    expect(phone).to_have_url(re.compile(rf"/drop\.html\?id={drop_id}&c=michinoeki"))
    expect(phone.locator("#drop-title")).to_have_text("星川町 デジタル住民票 抽選の回")
    expect(phone.locator("#drop-status")).to_have_text("抽選販売")
    expect(phone.locator("#lf-count")).to_have_text("0件")
    expect(phone.locator("#lf-close")).to_contain_text("日本時間")
    form = phone.locator("#checkout")
    expect(form.get_by_role("heading")).to_have_text("抽選のお申し込み")
    expect(phone.locator("#payment-field")).to_be_hidden()  # nothing is paid to apply
    expect(phone.locator("#quantity option")).to_have_count(2)  # up to the per-person limit
    form.get_by_label("メールアドレス").fill(APPLICANT)
    form.get_by_label("お住まいの都道府県").select_option(label="大阪府")
    form.get_by_label("枚数").select_option("2")
    _no_raw_keys(phone)
    _shot(phone, "drop-apply-phone")
    with phone.expect_request(re.compile(r"/applications$")) as sent:
        form.get_by_role("button", name="抽選に申し込む").click()
    posted = sent.value
    application = posted.post_data_json
    assert application is not None
    assert application["campaign_code"] == "michinoeki"  # the poster's code goes with it
    assert application["quantity"] == 2
    assert "payment_method" not in application
    assert posted.headers.get("idempotency-key")

    receipt = phone.locator("#receipt")
    expect(receipt).to_be_visible()
    expect(receipt.get_by_role("heading")).to_have_text("お申し込みを受け付けました")
    entry_id = phone.locator("#receipt-entry").inner_text().strip()
    assert ENTRY_ID.match(entry_id), entry_id
    expect(receipt).to_contain_text("受付番号")
    expect(phone.locator("#receipt-quantity")).to_have_text("2枚")
    expect(phone.locator("#checkout")).to_be_hidden()
    expect(phone.locator("#lf-count")).to_have_text("1件")
    _no_raw_keys(phone)
    _shot(phone, "drop-receipt-phone")

    # A second application with the same address is refused in plain Japanese.
    phone.reload()
    expect(phone.locator("#applied-before")).to_be_visible()
    form.get_by_label("メールアドレス").fill(APPLICANT)
    form.get_by_label("お住まいの都道府県").select_option("27")
    form.get_by_role("button", name="抽選に申し込む").click()
    expect(phone.locator("#form-error")).to_contain_text("すでに申し込み済みです")
    _shot(phone, "drop-already-applied-phone")

    for index, quantity in enumerate([1, 2, 1, 1]):  # 7 cards asked in all: every entry fits 10
        _apply_by_api(town, drop_id, index, quantity)

    phone.get_by_role("link", name="お申し込みの状況を見る").click()
    # The token is kept in this browser and leaves the address bar once the page's script ran:
    # await that, rather than read the address the moment the page opened.
    expect(phone).to_have_url(re.compile(r"/application\.html\?id=app_[^#]*$"))
    expect(phone.locator("#app-status")).to_have_text("申込済")
    expect(phone.locator("#app-entry")).to_have_text(entry_id)
    expect(phone.locator("#app-prefecture")).to_have_text("大阪府")
    _no_raw_keys(phone)
    _shot(phone, "application-applied-phone")

    # Before the close the verification page says what can and cannot be checked yet.
    phone.get_by_role("link", name=re.compile("検証ページ")).click()
    expect(phone.locator("#verdict-title")).to_have_text("まだ抽選前です")
    expect(phone.get_by_label(re.compile("受付番号"))).to_have_value(entry_id)  # carried in the fragment
    expect(phone.locator("#lookup-result")).to_contain_text("締切前")
    _no_raw_keys(phone)
    phone.go_back()

    # The staff's panel: applications by day and prefecture.
    staff.reload()
    panel = staff.locator("#lottery-panel")
    expect(panel).to_contain_text("5件")
    expect(panel.locator("table").nth(1)).to_contain_text("大阪府")
    _no_raw_keys(staff)
    _shot(staff, "console-lottery-open-laptop")

    # Close and draw in a few seconds, then wait for the draw job.
    now = datetime.now(UTC)
    _staff_call(
        staff_context,
        town,
        "PATCH",
        f"drops/{drop_id}",
        {
            "applications_close_at": (now + timedelta(seconds=3)).isoformat(),
            "draw_at": (now + timedelta(seconds=4)).isoformat(),
        },
    )

    def drawn_record() -> dict[str, Any] | None:
        record = _record(town, drop_id)
        return record if record["state"] in ("drawn", "settled") else None

    drawn: dict[str, Any] = wait_for(drawn_record, 90, "the draw job to draw the lottery")
    assert drawn["entries_count"] == 5
    assert entry_id in [w["entry_id"] for w in drawn["winners"]]

    expect(phone.locator("#app-status")).to_have_text("当選", timeout=30_000)
    expect(phone.locator("#app-rank")).to_contain_text("位")
    expect(phone.locator("#app-deadline-row")).to_be_visible()
    _no_raw_keys(phone)
    _shot(phone, "application-won-phone")
    phone.get_by_role("link", name="お支払いへ進む").click()
    expect(phone).to_have_url(re.compile(r"/order\.html\?id="))
    phone.get_by_role("button", name="デモ決済で支払う").click()
    expect(phone.locator("#order-message")).to_contain_text("発行が完了しました", timeout=CHAIN_TIMEOUT_MS)
    phone.go_back()
    expect(phone).to_have_url(re.compile(r"/application\.html"))
    phone.reload()
    expect(phone.locator("#app-status")).to_have_text("支払済")
    _shot(phone, "application-paid-phone")

    # Anyone recomputes the draw in the browser.
    phone.goto(f"{town.url}/lottery.html?drop={drop_id}")
    expect(phone.locator("#verdict-title")).to_have_text("✓ 検証できました", timeout=30_000)
    expect(phone.locator("#checks li.ok")).to_have_count(6)
    phone.get_by_label(re.compile("受付番号")).fill(entry_id)
    phone.get_by_role("button", name="調べる").click()
    expect(phone.locator("#lookup-result")).to_contain_text("当選")
    expect(phone.locator("#lookup-result")).to_contain_text("5件中")
    phone.get_by_label(re.compile("受付番号")).fill("0" * 32)
    phone.get_by_role("button", name="調べる").click()
    expect(phone.locator("#lookup-result")).to_contain_text("申込一覧にありません")
    phone.get_by_label(re.compile("受付番号")).fill(entry_id)
    phone.get_by_role("button", name="調べる").click()
    _no_raw_keys(phone)
    _shot(phone, "lottery-verified-phone")
    phone.locator("#lang-switch").click()
    expect(phone.locator("#verdict-title")).to_have_text("✓ Verified")
    expect(phone.locator("#lookup-result")).to_contain_text("won")
    _shot(phone, "lottery-verified-en-phone")
    phone.locator("#lang-switch").click()

    # A record that was changed after the fact: the page names the first difference.
    def tampered(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["server_seed"] = ("0" if body["server_seed"][0] != "0" else "1") + body["server_seed"][1:]
        route.fulfill(response=answer, json=body)

    phone.route(re.compile(rf"/api/v1/drops/{drop_id}/lottery$"), tampered)
    phone.reload()
    expect(phone.locator("#verdict-title")).to_have_text("✗ 検証できませんでした", timeout=30_000)
    expect(phone.locator("#verdict-body")).to_contain_text("封印と秘密の数")
    expect(phone.locator("#checks li.bad")).to_have_count(1)
    _shot(phone, "lottery-tampered-phone")
    phone.unroute(re.compile(rf"/api/v1/drops/{drop_id}/lottery$"))

    # The staff's panel after the draw: the record and where the places stand.
    staff.reload()
    expect(staff.locator("#lottery-state")).to_have_text(re.compile("抽選済み|確定"))
    expect(panel).to_contain_text(drawn["final_seed"])
    _no_raw_keys(staff)
    _shot(staff, "console-lottery-drawn-laptop")
