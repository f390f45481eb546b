"""The holder's pass and the shop's check, in a real Chromium on a phone-sized screen.

End to end (`test_pass_scanned_by_the_shop_then_redeemed_once`), against a real `furusato run`
on an eth-tester chain: a supporter buys a demo card, signs in by the mailed link and opens
the pass on "my card"; an owner (added with `furusato staff add`, signed in by mailed code)
makes a shop, a monthly benefit and a device link through the staff API; the holder's current
proof becomes a QR picture in a Y4M video, which a SECOND Chromium plays as its camera
(`--use-file-for-fake-video-capture`). That browser opens the device link as the shop's phone:
`/verify/` reads the pass and shows green with the number, the clerk taps 使う, then 次の方,
and the same pass read again shows red: used already this month, with when and where.

The other two tests answer the API in the browser (Playwright routes), to check what the live
server cannot be made to do on demand: the pass going offline (countdown, expiry, back
online) and every red reason on `/verify/` through its no-camera entry.

Screenshots go to the test's tmp dir and to test-artifacts/ (pass.png, verify-green.png,
verify-red.png) for the notes; also test-artifacts/ like the other browser tests.
"""

from __future__ import annotations

import email
import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    ViewportSize,
    expect,
)

from backend.sales.qr import qr_svg
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.y4m import qr_video
from tests.conftest import ARTIFACTS_DIR, FURUSATO, REPO_ROOT
from tests.holders.conftest import wait_for

pytestmark = [pytest.mark.browser]

PHONE: ViewportSize = {"width": 360, "height": 740}
OWNER = "kanko@hoshikawa.example"
HOLDER = "hanako.pass@example.jp"
#: Generous: minting waits for the worker, and the machine may be busy. Waits, never sleeps.
CHAIN_TIMEOUT_S = 90
ANSWER_TIMEOUT_MS = 30_000
SIGN_IN_LINK = re.compile(r"https?://[^\s\"'<>]+/signin\.html#token=[A-Za-z0-9_\-.~%]+")
STAFF_CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
JSQR = REPO_ROOT / "frontend_static" / "vendor" / "jsQR.js"
#: Seconds measured on the way (test-artifacts/pass-verify-figures.json, for the notes).
FIGURES: dict[str, float] = {}
#: Words that do not belong on a holder's or a clerk's screen.
JARGON = re.compile(r"token|proof|gas|paseto|トークン|ガス", re.IGNORECASE)


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    """The screen as it is, kept with the test and in test-artifacts/ (the copies in
    docs/screenshots/ are taken from there by hand: a test run leaves the tree clean)."""
    path = tmp_path / name
    page.screenshot(path=path)
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    shutil.copyfile(path, ARTIFACTS_DIR / f"pass-verify-{name}")


def _artifact(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"pass-verify-{name}")


def _phone(browser: Browser) -> BrowserContext:
    return browser.new_context(locale="ja-JP", viewport=PHONE, device_scale_factor=2, has_touch=True, is_mobile=True)


@pytest.fixture(autouse=True)
def _reader_installed() -> None:
    if not JSQR.exists():
        pytest.fail(f"{JSQR.relative_to(REPO_ROOT)} missing: run `make setup` (copies jsQR from node_modules)")


# ── end to end ──────────────────────────────────────────────────────────────


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` with the demo town on an in-process chain, and an owner for it."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    added = subprocess.run(
        [*FURUSATO, "staff", "add", OWNER, "--town", "hoshikawa", "--role", "owner", "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    return running


def _mail_to(data_dir: Path, seen: set[Path], to: str) -> str:
    """The text of the newest new mail to `to` (written just after the answer: awaited)."""
    folder = data_dir / "mail"

    def newest() -> str | None:
        for path in sorted(set(folder.glob("*.eml")) - seen, key=lambda p: p.stat().st_mtime, reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if to in str(message["To"]):
                return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
        return None

    found: str = wait_for(newest, 60, f"the mail to {to}")
    return found


def _mails(data_dir: Path) -> set[Path]:
    return set((data_dir / "mail").glob("*.eml"))


def _buy_demo_card(server: Any, buyer: str) -> int:
    """A demo-paid order of one card, awaited until minted: its token id."""
    response = requests.post(
        f"{server.url}/api/v1/orders",
        json={"drop_id": 1, "quantity": 1, "email": buyer, "prefecture": "13", "payment_method": "demo"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    order = response.json()
    headers = {"Authorization": f"Bearer {order['order_token']}"}
    paid = requests.post(
        f"{server.url}/api/v1/orders/{order['order_id']}/demo-pay",
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert paid.status_code in (200, 202), paid.text

    def minted() -> dict[str, Any] | None:
        url = f"{server.url}/api/v1/orders/{order['order_id']}"
        body: dict[str, Any] = requests.get(url, headers=headers, timeout=10).json()
        return body if body.get("status") == "minted" else None

    done = wait_for(minted, CHAIN_TIMEOUT_S, "the card to be minted")
    token_ids: list[int] = done["token_ids"]
    return token_ids[0]


def _staff_headers(server: Any, data_dir: Path) -> dict[str, str]:
    """The owner signs in by the mailed code: a Bearer header for the staff API."""
    seen = _mails(data_dir)
    sent = requests.post(f"{server.url}/api/v1/staff/sign-in", json={"email": OWNER}, timeout=30)
    assert sent.status_code == 202, sent.text
    found = STAFF_CODE.search(_mail_to(data_dir, seen, OWNER))
    assert found, "no code in the staff mail"
    session = requests.post(
        f"{server.url}/api/v1/staff/session", json={"email": OWNER, "code": found.group(1)}, timeout=30
    )
    assert session.status_code == 200, session.text
    return {"Authorization": f"Bearer {session.json()['token']}"}


def _shop_with_benefit(server: Any, headers: dict[str, str]) -> tuple[int, str]:
    """A hot spring with a monthly free bath for every series, and a device link for its phone."""
    base = f"{server.url}/api/v1/staff/towns/hoshikawa"
    shop = requests.post(
        f"{base}/shops",
        json={"name_ja": "テスト温泉", "name_en": "Test Hot Spring", "place_ja": "本郷 1-1"},
        headers=headers,
        timeout=30,
    )
    assert shop.status_code == 201, shop.text
    shop_id = shop.json()["id"]
    benefit = requests.post(
        f"{base}/benefits",
        json={
            "title_ja": "日帰り入浴無料",
            "title_en": "Free day bath",
            "shop_id": shop_id,
            "period": "month",
            "series": [],
        },
        headers=headers,
        timeout=30,
    )
    assert benefit.status_code == 201, benefit.text
    device = requests.post(
        f"{base}/shops/{shop_id}/devices", json={"label": "受付のスマホ"}, headers=headers, timeout=30
    )
    assert device.status_code == 201, device.text
    link: str = device.json()["link_url"]
    assert "/verify/#link=" in link
    return int(benefit.json()["id"]), link


def _holder_signs_in(page: Page, server: Any, data_dir: Path) -> None:
    page.goto(f"{server.url}/signin.html")
    page.get_by_label("メールアドレス").fill(HOLDER)
    seen = _mails(data_dir)
    page.get_by_role("button", name="ログイン用のリンクを送る").click()
    expect(page.locator("#signin-message")).to_contain_text("メールを送信しました")
    links = SIGN_IN_LINK.findall(_mail_to(data_dir, seen, HOLDER))
    assert links, "no sign-in link in the mail"
    page.goto(links[0])
    expect(page).to_have_url(re.compile(r"/card\.html"))


def _shop_browser(browser: Browser, video: Path) -> Browser:
    """A second Chromium (same Playwright as `browser`) whose camera plays `video`, camera
    permission granted without a prompt."""
    return browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )


def test_pass_scanned_by_the_shop_then_redeemed_once(
    browser: Browser, town: Any, data_dir: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    token_id = _buy_demo_card(town, HOLDER)
    staff = _staff_headers(town, data_dir)
    benefit_id, device_link = _shop_with_benefit(town, staff)

    # The holder opens the pass on "my card".
    holder = _phone(browser)
    page = holder.new_page()
    _holder_signs_in(page, town, data_dir)
    card = page.locator(".card-item").first
    expect(card.locator(".number")).to_have_text(f"No. {token_id}", timeout=ANSWER_TIMEOUT_MS)
    card.get_by_role("button", name="パスを表示").click()
    screen = page.get_by_role("dialog", name="デジタル住民票のパス")
    expect(screen).to_be_visible()
    qr = screen.locator("#pass-qr-img")
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"), timeout=ANSWER_TIMEOUT_MS)
    expect(screen.locator("#pass-number")).to_have_text(f"No. {token_id}")
    expect(screen.locator("#pass-town")).to_have_text("星川町")
    expect(screen.locator("#pass-status")).to_contain_text("秒ごとに新しくなります")
    seconds = screen.locator("#pass-time").inner_text()
    expect(screen.locator("#pass-time")).not_to_have_text(seconds, timeout=5_000)  # a live clock
    assert not JARGON.search(screen.inner_text()), screen.inner_text()
    _shot(page, tmp_path, "pass.png")

    # The pass the phone shows now, as the shop's camera would see it.
    session_token = page.evaluate("JSON.parse(localStorage.getItem('furusato.session')).session_token")
    answer = requests.get(
        f"{town.url}/api/v1/holders/me/pass", headers={"Authorization": f"Bearer {session_token}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    proof_fetched = time.monotonic()  # the proof lives 60 s: everything below must fit
    passes = [c for c in answer.json()["cards"] if c["token_id"] == token_id]
    assert len(passes) == 1, answer.json()
    video = qr_video(tmp_path / "pass.y4m", passes[0]["proof"])

    shop_browser = _shop_browser(browser, video)
    try:
        shop = _phone(shop_browser)
        clerk = shop.new_page()
        opened = time.monotonic()
        clerk.goto(device_link)
        expect(clerk).to_have_url(re.compile(r"/verify/$"))  # the link's secret left the address bar
        expect(clerk.locator("#verify-where")).to_have_text("テスト温泉")  # the link exchanged…
        assert clerk.evaluate("JSON.parse(localStorage.getItem('furusato.verifier')).device_token")  # …and kept

        verdict = clerk.get_by_role("alertdialog")
        expect(verdict).to_have_class(re.compile(r"\banswer-valid\b"), timeout=ANSWER_TIMEOUT_MS)
        FIGURES["link_to_green_s"] = round(time.monotonic() - opened, 2)
        expect(verdict.locator("#answer-title")).to_have_text("有効なパス")
        expect(verdict.locator("#answer-number")).to_have_text(re.compile(rf"^No\. 0*{token_id}$"))
        expect(verdict.locator("#answer-town")).to_have_text("星川町")
        bath = verdict.locator(f'[data-benefit-id="{benefit_id}"]')
        expect(bath).to_contain_text("日帰り入浴無料")
        assert not JARGON.search(verdict.inner_text()), verdict.inner_text()
        _shot(clerk, tmp_path, "verify-green.png")

        bath.get_by_role("button", name=re.compile("使う")).click()
        expect(bath.locator(".benefit-done")).to_contain_text("使いました", timeout=ANSWER_TIMEOUT_MS)
        expect(bath.get_by_role("button", name=re.compile("使う"))).to_have_count(0)

        clerk.get_by_role("button", name="次の方").click()
        rescan = time.monotonic()
        # The camera still sees the same pass: read again, it is used for this month.
        expect(verdict).to_have_class(re.compile(r"\banswer-invalid\b"), timeout=ANSWER_TIMEOUT_MS)
        # Includes the page's 2 s pause before it reads the same pass again.
        FIGURES["next_to_red_s"] = round(time.monotonic() - rescan, 2)
        expect(verdict.locator("#answer-title")).to_have_text("使用済みです")
        expect(verdict.locator("#answer-reason")).to_contain_text("すでに使われています")
        expect(verdict.locator("#answer-reason")).to_contain_text("テスト温泉")
        expect(verdict.locator("#answer-number")).to_have_text(re.compile(rf"^No\. 0*{token_id}$"))
        _shot(clerk, tmp_path, "verify-red.png")
        # The shop's own list of what was used here (under the answer: opened as its summary
        # would open it): the one redemption, with its number.
        clerk.evaluate("document.getElementById('history').open = true")
        expect(clerk.locator("#history-list li")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
        expect(clerk.locator("#history-list li")).to_contain_text(re.compile(rf"No\. 0*{token_id}"))
    finally:
        shop_browser.close()

    redemptions = requests.get(f"{town.url}/api/v1/staff/towns/hoshikawa/redemptions", headers=staff, timeout=30).json()
    used = [r["card"]["token_id"] for r in redemptions["items"] if r["benefit_id"] == benefit_id]
    assert used == [token_id]  # one tap, one redemption; the second read redeemed nothing
    holder.close()
    FIGURES["proof_to_red_s"] = round(time.monotonic() - proof_fetched, 2)
    FIGURES["test_s"] = round(time.monotonic() - started, 2)
    figures = json.dumps(FIGURES, indent=2)
    (tmp_path / "figures.json").write_text(figures)
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    (ARTIFACTS_DIR / "pass-verify-figures.json").write_text(figures)


# ── the pass offline (API answered by the browser) ──────────────────────────

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CARD_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200">'
    '<rect width="320" height="200" fill="#2f6b4f"/></svg>'
)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class FakePass:
    """GET /holders/me/cards and /holders/me/pass for one card; each pass lives `ttl` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.issued = 0

    def handle(self, route: Route) -> None:
        path = route.request.url.split("/api/v1", 1)[1]
        if route.request.headers.get("authorization") != "Bearer holder-1":
            return _json(route, 401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if path == "/holders/me/cards":
            card = {
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
                "custodial": True,
                "image_url": f"/api/v1/tokens/{CONTRACT}/7/image.svg",
            }
            return _json(route, 200, {"items": [card], "total": 1})
        if path == "/holders/me/pass":
            self.issued += 1
            now = datetime.now(UTC)
            proof = f"v4.public.fake-pass-{self.issued}"
            card = {
                "chain_id": 31337,
                "contract": CONTRACT,
                "token_id": 7,
                "town": "hoshikawa",
                "series": {"drop_id": 1, "title_ja": "星川町 デジタル住民票 第1期", "title_en": "First issue"},
                "number": 7,
                "proof": proof,
                "qr_svg": qr_svg(proof),
                "issued_at": _iso(now),
                "expires_at": _iso(now + timedelta(seconds=self.ttl)),
            }
            return _json(route, 200, {"refresh_seconds": 20, "cards": [card]})
        if path.endswith("/image.svg"):
            return route.fulfill(status=200, content_type="image/svg+xml", body=CARD_SVG)
        return _json(route, 404, {"error": {"code": "not_found", "message": path}})


def _json(route: Route, status: int, body: dict[str, Any]) -> None:
    route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


@pytest.fixture(scope="module")
def pages() -> Iterator[SimpleNamespace]:
    """frontend_static/ served as files (the API is answered in the browser): no app to start."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REPO_ROOT / "frontend_static"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = _phone(browser)
    yield context
    context.close()


def test_pass_keeps_showing_offline_until_it_expires_then_comes_back(phone: BrowserContext, pages: Any) -> None:
    fake = FakePass(ttl=6)
    phone.route(re.compile(r".*/api/v1/(holders|tokens)/.*"), fake.handle)
    phone.add_init_script(
        "localStorage.setItem('furusato.session', JSON.stringify("
        "{session_token: 'holder-1', expires_at: '2999-01-01T00:00:00Z', email: 'hanako@example.jp'}))"
    )
    page = phone.new_page()
    page.goto(f"{pages.url}/card.html")
    page.get_by_role("button", name="パスを表示").click()
    screen = page.get_by_role("dialog", name="デジタル住民票のパス")
    qr = screen.locator("#pass-qr-img")
    expect(qr).to_have_attribute("data-proof", "v4.public.fake-pass-1")
    expect(qr).to_have_attribute("alt", "星川町 No. 7 のパスのQRコード")
    expect(screen.locator("#pass-offline")).to_be_hidden()
    band = screen.locator(".pass-band").first
    assert band.evaluate("b => getComputedStyle(b).animationName") == "pass-shift"  # it moves
    assert "fake-pass-1" in page.evaluate("sessionStorage.getItem('furusato.pass')")
    # Online, an expired pass is replaced by itself (before the 20 s refresh).
    expect(qr).to_have_attribute("data-proof", "v4.public.fake-pass-2", timeout=15_000)

    phone.set_offline(True)
    expect(screen.locator("#pass-offline")).to_have_text("オフライン")
    expect(screen.locator("#pass-status")).to_contain_text(re.compile(r"あと\d+秒使えます"))
    expect(screen.locator("#pass-qr")).to_be_visible()  # the last pass is still shown…
    _artifact(page, "offline.png")
    expect(screen.locator("#pass-expired")).to_contain_text("パスの有効期限が切れました", timeout=15_000)
    expect(screen.locator("#pass-qr")).to_be_hidden()  # …until it expires
    _artifact(page, "offline-expired.png")
    assert not JARGON.search(screen.inner_text()), screen.inner_text()

    phone.set_offline(False)
    expect(screen.locator("#pass-offline")).to_be_hidden(timeout=15_000)
    expect(screen.locator("#pass-qr")).to_be_visible()
    expect(qr).to_have_attribute("data-proof", re.compile(r"fake-pass-[3-9]"))

    page.get_by_role("button", name="閉じる").click()
    expect(screen).to_be_hidden()
    expect(page.get_by_role("button", name="パスを表示")).to_be_focused()


# ── /verify/ reasons (API answered by the browser; no camera: the text entry) ─


class FakeVerifier:
    """The shop-side endpoints for one device of 'テスト温泉' and one benefit (id 3)."""

    def __init__(self) -> None:
        self.redeemed_at: str | None = None
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    def benefit(self) -> dict[str, Any]:
        shop = {"id": 1, "name_ja": "テスト温泉", "name_en": "Test Hot Spring"}
        used = self.redeemed_at is not None
        return {
            "id": 3,
            "title": "日帰り入浴無料",
            "title_ja": "日帰り入浴無料",
            "title_en": "Free day bath",
            "description_ja": "",
            "description_en": "",
            "shop": shop,
            "period": "month",
            "available": not used,
            "unavailable_reason": "already_redeemed" if used else None,
            "last_redeemed_at": self.redeemed_at,
            "last_redeemed_shop": shop if used else None,
            "available_again_at": None,
        }

    def handle(self, route: Route) -> None:
        request = route.request
        path = request.url.split("/api/v1", 1)[1]
        body = json.loads(request.post_data) if request.post_data else {}
        self.bodies.append((path, body))
        if path == "/verify/devices/session":
            if body.get("link") != "good-device-link-0123456789":
                return _json(route, 404, {"error": {"code": "link_invalid", "message": "no such link"}})
            return _json(
                route,
                200,
                {
                    "device_token": "device-1",
                    "device_id": 1,
                    "label": "受付のスマホ",
                    "shop": {"id": 1, "name_ja": "テスト温泉", "name_en": "Test Hot Spring"},
                    "town": {"slug": "hoshikawa", "name_ja": "星川町", "name_en": "Hoshikawa Town"},
                },
            )
        if request.headers.get("authorization") != "Bearer device-1":
            return _json(route, 401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if path == "/verify/me":
            return _json(
                route,
                200,
                {
                    "kind": "device",
                    "town": {"slug": "hoshikawa", "name_ja": "星川町", "name_en": "Hoshikawa Town"},
                    "shop": {"id": 1, "name_ja": "テスト温泉", "name_en": "Test Hot Spring"},
                    "device_id": 1,
                    "label": "受付のスマホ",
                    "email": None,
                    "role": None,
                },
            )
        if path == "/verify":
            kind = body["proof"].split(".")[-1]
            if kind in ("expired", "forged", "not_holder", "revoked", "other_town"):
                return _json(
                    route,
                    200,
                    {
                        "valid": False,
                        "reason": kind,
                        "message_ja": "x",
                        "message_en": "x",
                        "town": None,
                        "series": None,
                        "number": None,
                        "card": None,
                        "expires_at": None,
                        "benefits": [],
                    },
                )
            return _json(
                route,
                200,
                {
                    "valid": True,
                    "reason": None,
                    "message_ja": None,
                    "message_en": None,
                    "town": {"slug": "hoshikawa", "name_ja": "星川町", "name_en": "Hoshikawa Town"},
                    "series": {"drop_id": 1, "title_ja": "星川町 デジタル住民票 第1期", "title_en": "First issue"},
                    "number": "0007",
                    "card": {"chain_id": 31337, "contract": CONTRACT, "token_id": 7},
                    "expires_at": None,
                    "benefits": [self.benefit()],
                },
            )
        if path == "/benefits/3/redemptions":
            if body["proof"].endswith(".race"):  # another counter was faster
                return _json(
                    route,
                    409,
                    {"error": {"code": "already_redeemed", "message": "2026/12/01 10:15 にテスト温泉で使用済みです。"}},
                )
            self.redeemed_at = _iso(datetime.now(UTC).replace(microsecond=0))
            return _json(
                route,
                201,
                {
                    "redemption_id": 1,
                    "benefit_id": 3,
                    "period_key": "2026-12",
                    "redeemed_at": self.redeemed_at,
                    "number": "0007",
                },
            )
        return _json(route, 404, {"error": {"code": "not_found", "message": path}})


def test_verify_page_registers_the_phone_and_explains_every_refusal(phone: BrowserContext, pages: Any) -> None:
    fake = FakeVerifier()
    phone.route(re.compile(r".*/api/v1/(verify|benefits)(/.*)?$"), fake.handle)
    page = phone.new_page()
    page.goto(f"{pages.url}/verify/")
    expect(page.get_by_role("heading", name="このスマホは登録されていません")).to_be_visible()

    page.goto(f"{pages.url}/verify/#link=stale-device-link-0000000")
    expect(page.locator("#verify-message")).to_contain_text("この登録用リンクは無効か")
    assert "#link" not in page.url

    page.goto(f"{pages.url}/verify/#link=good-device-link-0123456789")
    expect(page.locator("#verify-where")).to_have_text("テスト温泉")
    assert page.url.endswith("/verify/")
    # No camera in this browser: said so, and the text entry opens.
    expect(page.locator("#camera-problem")).to_contain_text("カメラを使えません")
    _artifact(page, "stub-no-camera.png")
    entry = page.get_by_label("パスの文字列")
    expect(entry).to_be_visible()
    verdict = page.get_by_role("alertdialog")

    def check(text: str) -> None:
        entry.fill(text)
        page.get_by_role("button", name="確認する").click()

    page.get_by_role("button", name="確認する").click()
    expect(page.locator("#manual-error")).to_have_text("パスの文字列を入力してください。")

    check("v4.public.good")
    expect(verdict).to_have_class(re.compile(r"\banswer-valid\b"))
    expect(verdict.locator("#answer-number")).to_have_text("No. 0007")
    _artifact(page, "stub-green.png")
    verdict.get_by_role("button", name=re.compile("使う")).click()
    expect(verdict.locator(".benefit-done")).to_contain_text("使いました")
    _artifact(page, "stub-used-now.png")
    page.get_by_role("button", name="次の方").click()
    expect(verdict).to_be_hidden()

    check("v4.public.good")  # the same card again this month
    expect(verdict).to_have_class(re.compile(r"\banswer-invalid\b"))
    expect(verdict.locator("#answer-title")).to_have_text("使用済みです")
    expect(verdict.locator("#answer-reason")).to_contain_text("テスト温泉で使用済み")
    _artifact(page, "stub-used.png")
    page.get_by_role("button", name="次の方").click()

    reasons = {
        "expired": "期限切れ",
        "forged": "偽造または改ざん",
        "not_holder": "別の持ち主に移っています",
        "revoked": "返金により無効",
        "other_town": "別の町のカード",
    }
    for code, words in reasons.items():
        check(f"v4.public.{code}")
        expect(verdict).to_have_class(re.compile(r"\banswer-invalid\b"))
        expect(verdict.locator("#answer-reason")).to_contain_text(words)
        page.get_by_role("button", name="次の方").click()

    check("https://example.com/town")  # some other QR code: not sent to the server
    expect(verdict.locator("#answer-reason")).to_contain_text("ふるさとのパスのQRコードではありません")
    assert not any(body.get("proof", "").startswith("https:") for _path, body in fake.bodies)
    page.get_by_role("button", name="次の方").click()

    fake.redeemed_at = None
    check("v4.public.race")  # green, but another counter used it first
    verdict.get_by_role("button", name=re.compile("使う")).click()
    expect(verdict).to_have_class(re.compile(r"\banswer-invalid\b"))
    expect(verdict.locator("#answer-reason")).to_contain_text("2026/12/01 10:15 にテスト温泉で使用済みです。")

    page.get_by_role("button", name="次の方").click()

    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(page.locator("#scan-hint")).to_have_text("Hold the customer's pass QR code inside the frame")
    entry = page.get_by_label("The pass text")
    entry.fill("v4.public.revoked")
    page.get_by_role("button", name="Check", exact=True).click()
    expect(verdict.locator("#answer-title")).to_have_text("Pass not valid")
    expect(verdict.locator("#answer-reason")).to_have_text("This card was cancelled by a refund.")
    expect(page.get_by_role("button", name="Next customer")).to_be_visible()
    writes = [body for path, body in fake.bodies if path.startswith("/benefits/")]
    assert writes == [{"proof": "v4.public.good"}, {"proof": "v4.public.race"}]


def test_verify_page_works_for_staff_signed_in_to_the_console(phone: BrowserContext, pages: Any) -> None:
    """No device token: the console's cookie is sent, and writes carry its CSRF token."""
    seen: list[dict[str, str]] = []

    def handle(route: Route) -> None:
        headers = route.request.headers
        seen.append({"path": route.request.url.split("/api/v1", 1)[1], "csrf": headers.get("x-csrf-token", "")})
        if "furusato_session=staff-1" not in headers.get("cookie", ""):
            return _json(route, 401, {"error": {"code": "unauthorized", "message": "sign in"}})
        if route.request.url.endswith("/verify/me?town=hoshikawa"):
            town = {"slug": "hoshikawa", "name_ja": "星川町", "name_en": "Hoshikawa Town"}
            return _json(route, 200, {"kind": "staff", "town": town, "shop": None, "device_id": None, "label": None,
                                      "email": "kanko@hoshikawa.example", "role": "verifier"})  # fmt: skip
        return _json(route, 200, {"valid": False, "reason": "expired", "message_ja": "x", "message_en": "x",
                                  "town": None, "series": None, "number": None, "card": None, "expires_at": None,
                                  "benefits": []})  # fmt: skip

    phone.route(re.compile(r".*/api/v1/verify.*"), handle)
    host = pages.url.split("//", 1)[1].split(":")[0]
    phone.add_cookies(
        [
            {"name": "furusato_session", "value": "staff-1", "domain": host, "path": "/"},
            {"name": "furusato_csrf", "value": "csrf-1", "domain": host, "path": "/"},
        ]
    )
    page = phone.new_page()
    page.goto(f"{pages.url}/verify/?town=hoshikawa")
    expect(page.locator("#verify-where")).to_have_text("星川町（職員）")
    page.get_by_label("パスの文字列").fill("v4.public.old")
    page.get_by_role("button", name="確認する").click()
    expect(page.get_by_role("alertdialog").locator("#answer-reason")).to_contain_text("期限切れ")
    assert seen[-1] == {"path": "/verify?town=hoshikawa", "csrf": "csrf-1"}
