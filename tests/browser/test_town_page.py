"""The town page in a real Chromium: Japanese first, English on request."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS_DIR

pytestmark = pytest.mark.browser


def test_town_page_reads_japanese_then_switches_to_english(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/")

    heading = page.locator("h1")
    expect(heading).to_have_text("星川町のデジタル住民票")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "town-page-ja.png", full_page=True)

    page.get_by_role("button", name=re.compile("Switch language")).click()

    expect(heading).to_have_text("Hoshikawa Town digital resident card")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#town-prefecture")).to_have_text("Yamagata")
    page.screenshot(path=ARTIFACTS_DIR / "town-page-en.png", full_page=True)

    page.reload()  # the choice is remembered
    expect(heading).to_have_text("Hoshikawa Town digital resident card")
    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(heading).to_have_text("星川町のデジタル住民票")


def test_japanese_text_renders_with_a_cjk_font(page: Page, server: Any) -> None:
    """Tofu (missing glyphs) would render every kanji at one width; Noto CJK does not."""
    page.goto(f"{server.url}/")
    expect(page.locator("h1")).to_have_text("星川町のデジタル住民票")
    widths = page.evaluate(
        """() => ['西', 'ー', 'A'].map(ch => {
            const span = document.createElement('span');
            span.style.font = '32px sans-serif';
            span.textContent = ch.repeat(10);
            document.body.appendChild(span);
            const w = span.getBoundingClientRect().width;
            span.remove();
            return w;
        })"""
    )
    kanji, _dash, latin = widths
    assert kanji > latin * 1.3  # full-width glyphs from a CJK font


def test_town_page_without_javascript_is_readable_japanese(browser: Any, server: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/")
    expect(page.locator("h1")).to_contain_text("デジタル住民票")
    expect(page.locator(".features li")).to_have_count(3)
    context.close()


def test_town_page_lists_its_drops_and_carries_the_campaign_code(page: Page, server: Any) -> None:
    page.goto(f"{server.url}/?c=furusato-fair")
    expect(page.locator(".drop-card")).to_have_count(2)  # the demo's first-come drop and its lottery
    lottery = page.locator(".drop-card", has_text="抽選）")
    expect(lottery.locator(".badge")).to_have_text("抽選販売")
    expect(lottery.locator(".drop-stock")).to_contain_text("枚を抽選")
    drop = page.locator('.drop-card[href^="/drop.html?id=1&"]')
    expect(drop.locator(".drop-title")).to_have_text("星川町 デジタル住民票 第1期")
    expect(drop.locator(".drop-price")).to_have_text("¥1,000")
    expect(drop.locator(".drop-stock")).to_have_text("残り 1,000 / 1,000 枚")
    expect(drop.locator(".badge")).to_have_text("販売中")
    expect(drop).to_have_attribute("href", "/drop.html?id=1&c=furusato-fair")

    page.get_by_role("button", name=re.compile("Switch language")).click()
    expect(drop.locator(".drop-title")).to_have_text("Hoshikawa digital resident card, first issue")
    expect(drop.locator(".drop-stock")).to_have_text("1,000 of 1,000 left")
    expect(drop.locator(".badge")).to_have_text("On sale")
    expect(page.locator("#drops-heading")).to_have_text("Digital resident cards on sale")


def test_town_page_wears_the_towns_colour_and_logo(page: Page, server: Any, tmp_path: Any) -> None:
    """What staff set in the console's settings shows on the town's public page."""
    import base64
    import sqlite3

    logo = (
        "data:image/svg+xml;base64,"
        + base64.b64encode(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18"/></svg>'
        ).decode()
    )
    with sqlite3.connect(tmp_path / "furusato.db") as db:
        db.execute("UPDATE municipalities SET brand_colour = '#aa3300', logo_data_url = ?", (logo,))
    page.goto(f"{server.url}/")
    expect(page.locator("#town-logo")).to_be_visible()
    expect(page.locator("#town-logo")).to_have_attribute("alt", "星川町")
    accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
    assert accent == "#aa3300"
    page.screenshot(path=ARTIFACTS_DIR / "town-page-brand.png", full_page=True)
