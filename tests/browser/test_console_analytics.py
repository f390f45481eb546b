"""The relationship-population dashboard (console/analytics.html) in a real Chromium, against a
real `furusato run`, as the town's analyst reads it: headline figures, then one panel per
figure with its chart drawn on a canvas, the same numbers in a table beneath, and the CSV
twin (UTF-8 with a BOM; Shift_JIS) of each; the tile map of Japan with its legend; the
period, interval and language controls; the monthly report link.

The figures are seeded as rollup cells (`analytics_counts`) straight into the server's
database, with known values, so each table can be checked number by number: how the rollup
arrives at those cells is the rollup's tests' business (tests/analytics/), and this test is
about what the page shows of them. The seed uses the demo town's own drop, spot, shop,
benefit and lot (their names are what the tables show) and adds one campaign row (the
funnel lists the town's campaigns). The yearly figures are for 2025 (`?year=2025`), so the
test does not depend on today's date.

Screenshots go to test-artifacts/ (console-analytics.png, console-analytics-en.png,
console-analytics-phone.png).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect
from sqlalchemy import insert, select

from backend.analytics import metrics as m
from backend.analytics.models import AnalyticsCount
from backend.benefits.models import Benefit, Shop, Spot
from backend.core.db import make_engine
from backend.naming.models import Lot
from backend.sales.models import Campaign, Drop
from backend.towns.models import Municipality
from tests.browser.conftest import code_mailed
from tests.conftest import ARTIFACTS_DIR, FURUSATO, REPO_ROOT

pytestmark = [pytest.mark.browser]

TOWN = "hoshikawa"
ANALYST = "bunseki@hoshikawa.example"
LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
CAMPAIGN = "EKIMAE25"
CAMPAIGN_NAME = "駅前のポスター"
#: What a text key looks like if a string is missing ("ana.col.total").
RAW_KEY = re.compile(r"\b(?:ana|nav|cerr|common|polstate)\.[a-z_]+(?:\.[a-z_0-9+-]+)*\b")
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter((f) => f.type !== "hidden" && !f.labels.length && !f.getAttribute("aria-label"))
  .map((f) => f.id || f.name)"""
#: Whether a canvas has anything drawn on it: its pixels differ from a blank canvas's, and
#: enough of them are not transparent (a chart, not a stray pixel).
CANVAS_DRAWN = """(canvas) => {
  const blank = document.createElement("canvas");
  blank.width = canvas.width; blank.height = canvas.height;
  if (!canvas.width || !canvas.height || canvas.toDataURL() === blank.toDataURL()) return 0;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""
CHARTS = (
    "chart-residents",
    "chart-prefectures",
    "chart-funnel",
    "chart-visits",
    "chart-visit-days",
    "chart-staying",
    "chart-categories",
)

#: Residents and cards now, by prefecture (13 Tokyo, 06 Yamagata = the town's own, 27 Osaka,
#: 23 Aichi, 00 abroad): 12 people with 14 cards, 9 of them outside Yamagata.
RESIDENTS = {"13": 5, "06": 3, "27": 2, "23": 1, "00": 1}
CARDS = {"13": 7, "06": 3, "27": 2, "23": 1, "00": 1}
#: New residents by (campaign, first card day): April 5, May 4, June 3.
NEW = {(CAMPAIGN, "2025-04-03"): 3, ("", "2025-04-20"): 2, (CAMPAIGN, "2025-05-10"): 4, ("", "2025-06-01"): 3}


def _cells(town: int, drop: str, spot: str, shop: str, benefit: str, lot: str) -> list[dict[str, Any]]:
    """The rollup cells of the seeded history (what the rollup would have written for it)."""
    rows: list[tuple[str, str, str, str, int]] = []
    for scope in (m.ALL, drop):
        rows += [(m.RESIDENTS, scope, code, "", n) for code, n in RESIDENTS.items()]
        rows += [(m.CARDS, scope, code, "", n) for code, n in CARDS.items()]
        rows += [(m.NEW_RESIDENTS, scope, campaign, day, n) for (campaign, day), n in NEW.items()]
        rows.append((m.RESIDENTS_VISITED, scope, "", "", 6))
    for metric, with_campaign, without in (
        (m.ORDERS, 9, 6),
        (m.PAID, 8, 5),
        (m.MINTED, 8, 4),
        (m.REFUNDED, 1, 0),
        (m.REVENUE_JPY, 7_000, 5_000),
    ):
        rows += [(metric, drop, CAMPAIGN, "2025-04-03", with_campaign), (metric, drop, "", "2025-04-20", without)]
    rows += [(m.SCANS, CAMPAIGN, "", "2025-04-02", 40), (m.UNIQUE_SCANS, CAMPAIGN, "", "2025-04-02", 30)]
    rows.append((m.BOT_SCANS, CAMPAIGN, "", "2025-04-02", 3))
    states = {m.STATE_FIRST_HOLDER: 10, m.STATE_OWN_WALLET: 2, m.STATE_TRANSFERRED: 1, m.STATE_REVOKED: 1}
    rows += [(m.CARD_STATE, drop, state, "", n) for state, n in states.items()]
    rows += [(m.CHECK_INS, spot, "", "2025-04-05", 6), (m.CHECK_INS, spot, "", "2025-05-02", 4)]
    rows += [(m.REDEMPTIONS, shop, benefit, "2025-04-05", 3), (m.REDEMPTIONS, shop, benefit, "2025-05-02", 2)]
    rows += [(m.SPOT_VISITORS, spot, "", "2025-04", 5), (m.SPOT_VISITORS, spot, "", "2025-05", 4)]
    rows += [(m.SHOP_VISITORS, shop, "", "2025-04", 3), (m.SHOP_VISITORS, shop, "", "2025-05", 2)]
    rows += [(m.VISITORS, "", "", "2025", 7), (m.VISITORS, "", "", m.EVER, 8)]
    rows += [(m.REPEAT_VISITORS, "", "", "2025", 3), (m.REPEAT_VISITORS, "", "", m.EVER, 4)]
    rows += [(m.VISIT_DAYS, m.BIN_ONE, "", "2025", 4), (m.VISIT_DAYS, m.BIN_FEW, "", "2025", 2)]
    rows.append((m.VISIT_DAYS, m.BIN_MANY, "", "2025", 1))
    primary = {("hobby", "13"): 3, ("hobby", "06"): 1, ("participation", "13"): 1, ("direct", "27"): 1}
    primary |= {("non_visiting", "13"): 4, ("non_visiting", "00"): 1}
    rows += [(m.CATEGORY, code, pref, "2025", n) for (code, pref), n in primary.items()]
    flags = {"hobby": 4, "participation": 2, "direct": 1, "non_visiting": 5}
    rows += [(m.CATEGORY_FLAG, code, "", "2025", n) for code, n in flags.items()]
    rows.append((m.BIDDERS, lot, "", "", 2))
    # With the month and year cells the rollup keeps beside each day metric (periods read them).
    cells = m.with_coarse({(metric, dim1, dim2, day): value for metric, dim1, dim2, day, value in rows})
    return [
        {"municipality_id": town, "metric": metric, "dim1": dim1, "dim2": dim2, "day": day, "value": value}
        for (metric, dim1, dim2, day), value in cells.items()
    ]


def _seed(data_dir: Path) -> None:
    """Writes the cells (and one campaign) into the running server's SQLite database."""
    engine = make_engine(f"sqlite:///{(data_dir / 'furusato.db').as_posix()}")
    try:
        with engine.begin() as db:
            town = db.scalar(select(Municipality.id).where(Municipality.slug == TOWN))
            drop = db.scalar(select(Drop.id).where(Drop.municipality_id == town).order_by(Drop.id))
            spot = db.scalar(select(Spot.id).where(Spot.municipality_id == town))
            shop = db.scalar(select(Shop.id).where(Shop.municipality_id == town))
            benefit = db.scalar(select(Benefit.id).where(Benefit.municipality_id == town))
            lot = db.scalar(select(Lot.id).where(Lot.municipality_id == town))
            assert None not in (town, drop, spot, shop, benefit, lot), "the demo town is not seeded"
            assert town is not None
            db.execute(insert(Campaign).values(municipality_id=town, drop_id=drop, code=CAMPAIGN, name=CAMPAIGN_NAME))
            db.execute(insert(AnalyticsCount), _cells(town, str(drop), str(spot), str(shop), str(benefit), str(lot)))
    finally:
        engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def town(start_server: Any, data_dir: Path) -> Any:
    """`furusato run` with the demo town on an in-process chain, its analyst, and the figures."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(data_dir)])
    running.wait_healthy()
    added = subprocess.run(
        [*FURUSATO, "staff", "add", ANALYST, "--town", TOWN, "--role", "analyst", "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    _seed(data_dir)
    return running


def _signed_in(browser: Browser, server: Any, data_dir: Path, viewport: ViewportSize) -> BrowserContext:
    """A browser carrying the console's cookies of a session the analyst opened with the mailed code."""
    mail_dir = data_dir / "mail"
    seen = set(mail_dir.glob("*.eml"))
    sent = requests.post(f"{server.url}/api/v1/staff/sign-in", json={"email": ANALYST}, timeout=10)
    assert sent.status_code == 202, sent.text
    code = code_mailed(mail_dir, seen, ANALYST)
    opened = requests.post(f"{server.url}/api/v1/staff/session", json={"email": ANALYST, "code": code}, timeout=10)
    assert opened.status_code == 200, opened.text
    body = opened.json()
    context = browser.new_context(locale="ja-JP", viewport=viewport, accept_downloads=True)
    context.add_cookies(
        [
            {"name": "furusato_staff", "value": str(body["token"]), "url": server.url},
            {"name": "furusato_csrf", "value": str(body["csrf_token"]), "url": server.url},
        ]
    )
    return context


def _shot(page: Page, name: str) -> None:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / f"{name}.png", full_page=True)


def _check(page: Page) -> None:
    """No field without a label, no text left as its key, no missing value printed."""
    assert page.evaluate(UNLABELLED) == [], page.url
    shown = page.locator("body").inner_text()
    found = RAW_KEY.search(shown)
    assert not found, f"untranslated key on {page.url}: {found.group(0)}"
    assert not re.search(r"\b(?:null|undefined|NaN)\b", shown), f"a missing value shown on {page.url}"


def _loaded(page: Page) -> None:
    """Every figure answered and was drawn (the page marks <main> when its last load is done)."""
    expect(page.locator("main[data-loaded]")).to_have_count(1)
    expect(page.locator("#an-status")).to_contain_text("時点の数字です")
    expect(page.locator("#page-error")).to_be_hidden()


def _rows(table: Locator) -> list[list[str]]:
    """The table's body and footer rows, cell texts."""
    return [
        [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
        for row in table.locator("tbody tr, tfoot tr").all()
    ]


def _drawn(page: Page, chart: str) -> int:
    painted = page.locator(f"canvas#{chart}").evaluate(CANVAS_DRAWN)
    assert isinstance(painted, int)
    return painted


def _figures_and_tables(page: Page) -> None:
    expect(page.locator("#fig-residents dd")).to_contain_text("12")
    expect(page.locator("#fig-residents dd")).to_contain_text("住民票 14枚")
    expect(page.locator("#fig-outside dd")).to_contain_text("75.0%")
    expect(page.locator("#fig-outside dd")).to_contain_text("山形県の外")
    expect(page.locator("#fig-revenue dd")).to_contain_text("¥12,000")
    expect(page.locator("#fig-residents-visited dd")).to_contain_text("50.0%")
    expect(page.locator("#fig-visitors dd")).to_contain_text("7")

    assert _rows(page.locator("#table-residents")) == [
        ["2025年4月", "5"],
        ["2025年5月", "4"],
        ["2025年6月", "3"],
        ["合計", "12"],
    ]
    campaigns = _rows(page.locator("#table-residents-campaigns"))
    assert campaigns == [[CAMPAIGN_NAME, "7"], ["ポスターを通らない購入", "5"], ["合計", "12"]]

    prefectures = _rows(page.locator("#table-prefectures"))
    assert prefectures == [
        ["東京都", "5", "41.7%", "7"],
        ["山形県", "3", "25.0%", "3"],
        ["大阪府", "2", "16.7%", "2"],
        ["海外", "1", "8.3%", "1"],
        ["愛知県", "1", "8.3%", "1"],
        ["合計", "12", "100.0%", "14"],
    ]
    metros = _rows(page.locator("#table-metros"))
    assert [row[:3] for row in metros] == [["首都圏", "5", "41.7%"], ["中京圏", "1", "8.3%"], ["近畿圏", "2", "16.7%"]]

    funnel = _rows(page.locator("#table-funnel"))
    assert funnel == [
        [CAMPAIGN_NAME, "30", "9", "8", "8", "1", "¥7,000"],
        ["キャンペーンを通らない注文", "0", "6", "5", "4", "0", "¥5,000"],
        ["合計", "30", "15", "13", "12", "1", "¥12,000"],
    ]

    months = _rows(page.locator("#table-visits-months"))
    assert months == [["2025年4月", "6", "3"], ["2025年5月", "4", "2"], ["合計", "10", "5"]]
    spots = _rows(page.locator("#table-visits-spots"))
    assert spots == [
        ["道の駅 ほしかわ", "2025年4月", "6", "5"],
        ["道の駅 ほしかわ", "2025年5月", "4", "4"],
        ["合計", "", "10", ""],
    ]
    expect(page.locator("#table-visits-benefits")).to_contain_text("日帰り入浴 無料")
    bins = _rows(page.locator("#table-visit-days"))
    assert bins == [
        ["1日", "4", "57.1%", "20.0%"],
        ["2〜7日", "2", "28.6%", "49.0%"],
        ["8日以上", "1", "14.3%", "31.0%"],
        ["合計", "7", "", ""],
    ]
    expect(page.locator("#v-ever dd")).to_contain_text("8")
    expect(page.locator("#v-residents-visited dd")).to_contain_text("50.0%")

    # The demo town's polls: one open (no card could vote when it opened: no turnout yet).
    polls = page.locator("#table-polls")
    expect(polls).to_contain_text("星川中央公園の改修で、いちばん先にしてほしいことは？")
    expect(polls.locator("tr", has_text="星川中央公園の改修")).to_contain_text("受付中")
    lots = _rows(page.locator("#table-lots"))
    assert lots[0][0] == "星川中央公園"
    assert lots[0][-1] == "2"

    staying = _rows(page.locator("#table-staying"))
    assert staying[0][1:] == ["10", "2", "1", "1", "14", "92.3%"]
    assert staying[-1][0] == "合計"

    categories = {row[0]: row for row in _rows(page.locator("#table-categories"))}
    assert categories["趣味・消費型"][1:3] == ["4", "36.4%"]
    assert categories["趣味・消費型"][3:] == ["4", "66.7%", "38.0%"]
    assert categories["非訪問系"][1:3] == ["5", "45.5%"]
    assert categories["就労型(現地就労)"][1] == "0"
    assert categories["合計"][1] == "11"
    expect(page.locator("#category-rules li")).to_have_count(6)
    expect(page.locator("#category-rules")).to_contain_text("その年に訪問日がない")


def _map(page: Page) -> None:
    """The tile map: a square per prefecture and one for abroad, with its legend."""
    box = page.locator("#pref-map")
    expect(box.locator("svg .jt-tile[data-code]")).to_have_count(48)
    expect(box.locator(".jt-tile[data-code='13']")).to_have_attribute("data-value", "5")
    expect(box.locator(".jt-tile[data-code='00']")).to_have_attribute("data-value", "1")
    expect(box.locator(".jt-tile[data-code='01']")).to_have_attribute("data-value", "0")
    expect(box.locator(".jt-tile.jt-highlight")).to_have_attribute("data-code", "06")  # the town's own
    legend = box.locator(".jt-legend")
    expect(legend).to_be_visible()
    expect(legend.locator("li")).not_to_have_count(0)


def _csv(page: Page, server: Any) -> None:
    """Every panel's CSV link answers the figure's CSV: UTF-8 with a BOM, or Shift_JIS."""
    for figure in ("summary", "residents", "prefectures", "funnel", "visits", "participation", "staying", "categories"):
        href = page.locator(f"#csv-{figure}-utf8").get_attribute("href")
        assert href, figure
        assert "year=2025" in href, href
        answer = page.context.request.get(server.url + href)
        assert answer.status == 200, (figure, answer.text())
        assert answer.body().startswith(b"\xef\xbb\xbf"), figure
    sjis = page.locator("#csv-prefectures-sjis").get_attribute("href")
    assert sjis
    answer = page.context.request.get(server.url + sjis)
    assert answer.status == 200, answer.text()
    assert "東京都" in answer.body().decode("cp932")
    report = page.locator("#an-report")
    expect(report).to_have_attribute("href", re.compile(r"/analytics/report\.pdf\?month=\d{4}-\d{2}$"))
    page.get_by_label("月", exact=True).fill("2025-04")
    page.get_by_label("月", exact=True).dispatch_event("change")
    expect(report).to_have_attribute("href", re.compile(r"/analytics/report\.pdf\?month=2025-04$"))
    answer = page.context.request.get(server.url + str(report.get_attribute("href")))
    assert answer.status == 200, answer.text()
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF-")


def _controls(page: Page) -> None:
    """The interval toggle regroups the new residents; a period with none says so."""
    page.get_by_role("button", name="週ごと").click()
    expect(page.locator("#table-residents tbody tr").first).to_contain_text("2025年3月31日の週")
    expect(page.locator("#table-residents tfoot")).to_contain_text("12")
    page.get_by_role("button", name="月ごと").click()
    expect(page.locator("#table-residents tbody tr").first).to_contain_text("2025年4月")
    page.get_by_label("はじめの日").fill("2025-05-01")
    page.get_by_label("はじめの日").dispatch_event("change")
    expect(page.locator("#table-residents tbody tr")).to_have_count(2)
    expect(page.locator("#res-new dd")).to_contain_text("7")
    assert "from=2025-05-01" in str(page.locator("#csv-residents-utf8").get_attribute("href"))
    page.get_by_label("おわりの日").fill("2025-04-01")
    page.get_by_label("おわりの日").dispatch_event("change")
    expect(page.locator("#an-period-error")).to_contain_text("はじめの日は、おわりの日より前")
    page.get_by_role("button", name="すべて").click()
    expect(page.locator("#an-period-error")).to_be_hidden()
    expect(page.locator("#table-residents tbody tr")).to_have_count(3)

    # The demo town's second series (the lottery one) has no residents: its panels say so.
    series = page.get_by_label("住民票の種類")
    series.select_option(label="星川町 デジタル住民票 星まつり特別版（抽選）")
    expect(page.locator("#sec-prefectures .empty")).to_contain_text("まだデータがありません")
    expect(page.locator("#sec-staying .empty")).to_contain_text("まだデータがありません")
    expect(page.locator("#fig-residents dd")).to_contain_text("住民票 0枚")
    assert "drop_id=" in str(page.locator("#csv-prefectures-utf8").get_attribute("href"))
    series.select_option(label="すべての住民票")
    expect(page.locator("#table-prefectures tfoot")).to_contain_text("12")


def test_analyst_reads_the_dashboard(browser: Browser, town: Any, data_dir: Path) -> None:
    context = _signed_in(browser, town, data_dir, LAPTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{town.url}/console/analytics.html?town={TOWN}&year=2025")
    expect(page.get_by_role("heading", level=1)).to_have_text("関係人口")
    _loaded(page)
    for chart in CHARTS:
        expect(page.locator(f"canvas#{chart}")).to_be_visible()
        assert _drawn(page, chart) > 500, chart
    _figures_and_tables(page)
    _map(page)
    _check(page)
    _csv(page, town)
    _shot(page, "console-analytics")

    _controls(page)

    page.get_by_role("button", name="Switch language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Relationship population")
    expect(page.locator("#an-status")).to_contain_text("Figures as of")
    expect(page.locator("#table-prefectures tbody tr").first).to_contain_text("Tokyo")
    expect(page.locator("#table-categories")).to_contain_text("hobby/consumption")
    for chart in CHARTS:
        assert _drawn(page, chart) > 500, chart
    _check(page)
    _shot(page, "console-analytics-en")
    page.get_by_role("button", name="Switch language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("関係人口")

    phone = browser.new_context(locale="ja-JP", viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.on("pageerror", lambda error: errors.append(str(error)))
    small.goto(f"{town.url}/console/analytics.html?town={TOWN}&year=2025")
    _loaded(small)
    assert _drawn(small, "chart-residents") > 500
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(small, "console-analytics-phone")
    phone.close()

    assert errors == [], errors
    context.close()
