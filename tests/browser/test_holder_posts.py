"""The holder's side of announcements and polls, in a real Chromium against a real `furusato run`:

a buyer's card is minted (demo payment, through the API); the town's owner writes an
announcement and sends it (through the staff API) and the sender mails it; the owner makes a
poll that opens a few seconds later (its electorate frozen then, with the card in it). On "my
card" the signed-in holder sees the announcement and the open poll, votes with the card and
sees the receipt the server answered, with its copy button; the poll's public page shows the
question and that it is open.

The console pages and the closed poll's page (results, the ballot file recounted in the
browser, the receipt search) are read by the same scripts against the same API; the recount
itself is tested in tests/polls.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import uuid
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, expect

from tests.conftest import ARTIFACTS_DIR
from tests.holders.conftest import wait_for

pytestmark = [pytest.mark.browser]

TOWN = "hoshikawa"
OWNER = "owner@hoshikawa.example"  # seeded by the demo
HOLDER = "mika@example.jp"
TITLE_JA = "星川温泉 住民票の日のお知らせ"
QUESTION_JA = "来年の花火大会は、どこで開くのがよいですか"
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
SIGN_IN_LINK = re.compile(r"https?://[^\s\"'<>]+/signin\.html#token=([A-Za-z0-9_\-.~%]+)")
#: The mint on eth-tester, the sender's and the poll clock's rounds: seconds each, on a busy machine more.
TIMEOUT = 90


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    return running


def _mail_to(data_dir: Path, seen: set[Path], to: str, pattern: re.Pattern[str]) -> str:
    """The first match of `pattern` in a new mail to `to` (written just after the answer)."""

    def found() -> str | None:
        for path in sorted(set((data_dir / "mail").glob("*.eml")) - seen):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if to not in str(message["To"]):
                continue
            body = "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
            match = pattern.search(body)
            if match:
                return match.group(1)
        return None

    return str(wait_for(found, 30, f"the mail to {to}"))


def _mails(data_dir: Path) -> set[Path]:
    return set((data_dir / "mail").glob("*.eml"))


def _staff_headers(server: Any, data_dir: Path) -> dict[str, str]:
    seen = _mails(data_dir)
    sent = requests.post(f"{server.url}/api/v1/staff/sign-in", json={"email": OWNER}, timeout=10)
    assert sent.status_code == 202, sent.text
    code = _mail_to(data_dir, seen, OWNER, CODE)
    opened = requests.post(f"{server.url}/api/v1/staff/session", json={"email": OWNER, "code": code}, timeout=10)
    assert opened.status_code == 200, opened.text
    return {"Authorization": f"Bearer {opened.json()['token']}"}


def _holder_with_a_card(server: Any, data_dir: Path) -> dict[str, Any]:
    """A demo purchase minted, and the buyer's session from the emailed sign-in link."""
    order = requests.post(
        f"{server.url}/api/v1/orders",
        json={"drop_id": 1, "quantity": 1, "email": HOLDER, "prefecture": "13", "payment_method": "demo"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert order.status_code == 201, order.text
    made = order.json()
    paid = requests.post(
        f"{server.url}/api/v1/orders/{made['order_id']}/demo-pay",
        headers={"Authorization": f"Bearer {made['order_token']}"},
        timeout=30,
    )
    assert paid.status_code == 200, paid.text

    def minted() -> bool:
        body = requests.get(
            f"{server.url}/api/v1/orders/{made['order_id']}",
            headers={"Authorization": f"Bearer {made['order_token']}"},
            timeout=10,
        ).json()
        return bool(body["status"] == "minted")

    wait_for(minted, TIMEOUT, "the card minted")
    seen = _mails(data_dir)
    sent = requests.post(f"{server.url}/api/v1/holders/sign-in", json={"email": HOLDER}, timeout=10)
    assert sent.status_code == 202, sent.text
    link = _mail_to(data_dir, seen, HOLDER, SIGN_IN_LINK)
    opened = requests.post(f"{server.url}/api/v1/holders/session", json={"token": link}, timeout=10)
    assert opened.status_code == 200, opened.text
    session: dict[str, Any] = opened.json()
    return session


def test_holder_reads_an_announcement_and_votes_with_a_receipt(browser: Browser, town: Any, data_dir: Path) -> None:
    holder = _holder_with_a_card(town, data_dir)
    as_holder = {"Authorization": f"Bearer {holder['session_token']}"}
    staff = _staff_headers(town, data_dir)
    base = f"{town.url}/api/v1/staff/towns/{TOWN}"

    # The announcement, to every series, sent now; the sender picks it up on its next round.
    made = requests.post(
        f"{base}/announcements",
        json={
            "title_ja": TITLE_JA,
            "title_en": "Hoshikawa hot spring: card holders' day",
            "body_ja": "12月の毎週土曜日は、住民票カードで星川温泉に無料で入れます。",
            "body_en": "Every Saturday in December, card holders bathe free at Hoshikawa hot spring.",
            "series": [],
            "send_at": None,
        },
        headers=staff,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    announcement_id = made.json()["id"]
    submitted = requests.post(f"{base}/announcements/{announcement_id}/submit", headers=staff, timeout=10)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "scheduled"  # the demo town asks for no approval

    def sent() -> dict[str, Any] | None:
        body: dict[str, Any] = requests.get(f"{base}/announcements/{announcement_id}", headers=staff, timeout=10).json()
        return body if body["status"] == "sent" else None

    delivered = wait_for(sent, TIMEOUT, "the announcement sent")
    assert delivered["deliveries"]["sent"] >= 1

    # The holder reads it (their card is the indexer's now), so the poll's snapshot will count it.
    def listed() -> bool:
        body = requests.get(f"{town.url}/api/v1/holders/me/announcements", headers=as_holder, timeout=10).json()
        return any(item["id"] == announcement_id for item in body["items"])

    wait_for(listed, TIMEOUT, "the announcement on the holder's list")

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    poll = requests.post(
        f"{base}/polls",
        json={
            "question_ja": QUESTION_JA,
            "question_en": "Where should next year's fireworks be held?",
            "description_ja": "住民票をお持ちの方の声を、花火大会の計画に生かします。",
            "description_en": "Card holders' answers shape the fireworks plan.",
            "options": [
                {"label_ja": "星川の河原", "label_en": "The Hoshikawa riverbank"},
                {"label_ja": "中央公園", "label_en": "Central Park"},
                {"label_ja": "小学校の校庭", "label_en": "The primary school's ground"},
            ],
            "opens_at": (now + dt.timedelta(seconds=3)).isoformat(),
            "closes_at": (now + dt.timedelta(hours=2)).isoformat(),
            "series": [],
            "quorum_percent": 10,
            "allow_change": True,
        },
        headers=staff,
        timeout=10,
    )
    assert poll.status_code == 201, poll.text
    poll_id = poll.json()["id"]
    scheduled = requests.post(f"{base}/polls/{poll_id}/submit", headers=staff, timeout=10)
    assert scheduled.status_code == 200, scheduled.text

    def open_with_the_card() -> bool:
        body = requests.get(f"{town.url}/api/v1/holders/me/polls", headers=as_holder, timeout=10).json()
        mine = [item for item in body["items"] if item["poll"]["id"] == poll_id]
        return bool(mine and mine[0]["poll"]["status"] == "open" and mine[0]["cards"])

    wait_for(open_with_the_card, TIMEOUT, "the poll open with the holder's card in its electorate")

    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=town.url)
    context.add_init_script(f"localStorage.setItem('furusato.session', {json.dumps(json.dumps(holder))});")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{town.url}/card.html")

    news = page.locator("#announcements")
    expect(news.get_by_role("heading", name="町からのお知らせ")).to_be_visible()
    expect(news.locator(".post").first).to_contain_text(TITLE_JA)
    expect(news.locator(".post").first).to_contain_text("星川温泉に無料で入れます")

    card = page.locator(f"#poll-{poll_id}")
    expect(card.get_by_role("heading", name=QUESTION_JA)).to_be_visible()
    expect(card.locator(".badge")).to_have_text("受付中")
    expect(card).to_contain_text("あなたの住民票1枚で、1票を投じられます。")
    expect(card.locator(".poll-card-state")).to_have_text("まだ投票していません")
    card.get_by_role("button", name="投票する").click()
    expect(card.locator(".field-error")).to_have_text("答えを1つ選んでください。")
    card.get_by_label("中央公園").check()
    card.get_by_role("button", name="投票する").click()

    expect(card.locator(".notice")).to_contain_text("投票しました（1票）")
    expect(card.locator(".poll-card-state")).to_have_text("「中央公園」に投票済み")
    receipt = card.locator(".receipt-code")
    expect(receipt).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(card.locator(".receipt-nonce")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    # The receipt shown is the one the server keeps for the card.
    mine = requests.get(f"{town.url}/api/v1/holders/me/polls", headers=as_holder, timeout=10).json()
    cards = next(item["cards"] for item in mine["items"] if item["poll"]["id"] == poll_id)
    assert receipt.inner_text() == cards[0]["receipt"]
    card.get_by_role("button", name="控える").click()
    expect(card.get_by_role("button", name="コピーしました")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert cards[0]["receipt"] in copied
    expect(card.get_by_role("button", name="投票を変える")).to_be_visible()  # the poll allows a change
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "holder-posts-my-card.png", full_page=True)

    page.goto(f"{town.url}/poll.html?id={poll_id}")
    expect(page.locator("h1")).to_have_text(QUESTION_JA)
    expect(page.locator("#facts .badge")).to_have_text("受付中")
    expect(page.locator("#options li")).to_have_count(3)
    expect(page.get_by_role("link", name="マイ住民票で投票する")).to_be_visible()
    page.screenshot(path=ARTIFACTS_DIR / "holder-posts-poll-page.png", full_page=True)
    assert errors == []
    context.close()
