"""The public statistics page in a real Chromium against `furusato run`: a prefecture of three
residents shows "x" on the map, in the table and in the API; the map is drawn (SVG tiles,
coloured, legend); Japanese first, English on request; screenshots in test-artifacts/.

The rollup cells are written straight into the server's SQLite database for a town of the
test's own (no orders, so the running rollup never touches its cells)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from backend.analytics import metrics as m
from backend.analytics.figures import JST
from backend.analytics.models import AnalyticsCount
from backend.core.db import make_engine
from backend.towns.models import Municipality
from tests.conftest import ARTIFACTS_DIR

pytestmark = pytest.mark.browser

SLUG = "kawabe"
#: Home Yamagata (06); Saitama (11) has 3 residents, abroad 1.
RESIDENTS = {"06": 20, "13": 12, "14": 6, "11": 3, "27": 7, "40": 5, "00": 1}
BINS = {m.BIN_ONE: 9, m.BIN_FEW: 3, m.BIN_MANY: 6}
CATEGORIES = {"hobby": 8, "participation": 4, "direct": 6, "non_visiting": 5}


def seed(data_dir: Path) -> None:
    year = str(datetime.now(UTC).astimezone(JST).year)
    engine = make_engine(f"sqlite:///{(data_dir / 'furusato.db').as_posix()}")
    try:
        with engine.begin() as db:
            town = db.execute(
                insert(Municipality)
                .values(slug=SLUG, name_ja="河辺町", name_en="Kawabe", prefecture="06")
                .returning(Municipality.id)
            ).scalar_one()
            rows = [(m.RESIDENTS, m.ALL, code, "", n) for code, n in RESIDENTS.items()]
            rows += [(m.CARDS, m.ALL, code, "", n + 1) for code, n in RESIDENTS.items()]
            rows += [(m.VISIT_DAYS, key, "", year, n) for key, n in BINS.items()]
            rows += [(m.CATEGORY, code, "13", year, n) for code, n in CATEGORIES.items()]
            db.execute(
                insert(AnalyticsCount),
                [
                    {"municipality_id": town, "metric": metric, "dim1": d1, "dim2": d2, "day": day, "value": n}
                    for metric, d1, d2, day, n in rows
                ],
            )
    finally:
        engine.dispose()


def test_the_public_stats_page_shows_x_for_small_cells_on_the_map(page: Page, server: Any, tmp_path: Path) -> None:
    seed(tmp_path)
    api = requests.get(f"{server.url}/api/v1/towns/{SLUG}/stats", timeout=30)
    assert api.status_code == 200, api.text
    body = api.json()
    by_code = {row["code"]: row["residents"] for row in body["prefectures"]}
    assert by_code["11"] == "x"
    assert by_code["13"] == 12

    page.goto(f"{server.url}/towns/{SLUG}/stats")
    expect(page.locator("body")).to_have_attribute("data-loaded", "ok")
    expect(page.locator("h1")).to_have_text("河辺町のデジタル住民")
    expect(page.locator("html")).to_have_attribute("lang", "ja")

    # The map: an SVG of 48 prefectures and abroad, coloured by value, with its legend.
    svg = page.locator("#map svg.jt-map")
    expect(svg).to_have_count(1)
    expect(svg.locator("g.jt-tile")).to_have_count(48)
    saitama = svg.locator('g.jt-tile[data-code="11"]')
    expect(saitama.locator("text.jt-value")).to_have_text("x")
    expect(saitama).to_have_attribute("data-value", "x")
    expect(saitama.locator("title")).to_have_text(re.compile(r"^埼玉県: x"))
    expect(svg.locator('g.jt-tile[data-code="13"] text.jt-value')).to_have_text("12")
    expect(svg.locator('g.jt-tile[data-code="06"]')).to_have_class(re.compile(r"jt-highlight"))
    fills = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#map g.jt-tile')]
            .map(g => [g.dataset.code, g.querySelector('rect').getAttribute('fill')]))"""
    )
    assert fills["13"] != fills["01"], "a tile with residents is coloured apart from an empty one"
    assert fills["06"] != fills["13"], "20 and 12 fall in different classes"
    assert fills["11"].startswith("url(#"), "suppressed tiles are hatched"
    box = svg.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 250
    legend = page.locator("#map .jt-legend li")
    expect(legend.first).to_have_text("0人")
    expect(legend.last).to_have_text("x（少数のため非表示）")
    assert legend.count() >= 4

    # The table says the same, and the note explains "x".
    expect(page.locator('#table-prefectures tr[data-code="11"] td')).to_have_text("x")
    expect(page.locator('#table-prefectures tr[data-code="06"] th')).to_have_text("山形県（町のある県）")
    expect(page.locator('#table-prefectures tr[data-code="13"] td')).to_have_text("12人")
    expect(page.locator("#note-x")).to_have_text("5人未満の数は「x」で表示しています。")
    expect(page.locator("#outside-share")).to_have_text(re.compile(r"山形県の外に住んでいる人の割合: 6\d\.\d%"))
    expect(page.locator('#table-metros tr[data-key="shutoken"] td')).to_have_text("x")
    expect(page.locator('#table-bins tr[data-bin="1"] td.num')).to_have_text("9人")
    expect(page.locator('#table-bins tr[data-bin="2-7"] td.num')).to_have_text("x")
    expect(page.locator('#table-bins tr[data-bin="1"] .share-number').last).to_have_text("20.0%")
    expect(page.locator('#table-categories tr[data-category="hobby"] td.num')).to_have_text("8人")
    expect(page.locator('#table-categories tr[data-category="participation"] td.num')).to_have_text("x")
    expect(page.locator("#headline .stat-value").first).to_have_text("54人")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "public-stats-ja.png", full_page=True)

    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(page.locator("h1")).to_have_text("Kawabe: digital residents")
    expect(page.locator("#note-x")).to_have_text('Counts below 5 are shown as "x".')
    expect(svg.locator('g.jt-tile[data-code="13"] text.jt-name')).to_have_text("Tky")
    expect(page.locator("#map svg.jt-map g.jt-tile[data-code='11'] text.jt-value")).to_have_text("x")
    expect(page.locator('#table-prefectures tr[data-code="11"] th')).to_have_text("Saitama")
    page.screenshot(path=ARTIFACTS_DIR / "public-stats-en.png", full_page=True)


def test_the_public_stats_page_of_an_unknown_town_says_so(page: Page, server: Any) -> None:
    response = page.goto(f"{server.url}/towns/no-such-town/stats")
    assert response is not None
    assert response.status == 404
    expect(page.locator("body")).to_have_attribute("data-loaded", "missing")
    expect(page.locator("#stats-missing")).to_be_visible()
    expect(page.locator("#stats-body")).to_be_hidden()
