"""The drop page for drops a buyer cannot buy right now: a paused sale and a lottery drop.

Staff pause a live drop in the console, and lottery drops take applications, not orders, so
the supporter must see why in Japanese, never a buy button that can only be refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ARTIFACTS_DIR

pytestmark = pytest.mark.browser


def _set_demo_drop(data_dir: Path, column: str, value: str) -> int:
    with sqlite3.connect(data_dir / "furusato.db") as db:
        (drop_id,) = db.execute("SELECT id FROM drops ORDER BY id LIMIT 1").fetchone()
        db.execute(f"UPDATE drops SET {column} = ? WHERE id = ?", (value, drop_id))  # noqa: S608 - fixed names
    return int(drop_id)


def test_a_paused_drop_says_so_and_cannot_be_bought(page: Page, server: Any, tmp_path: Path) -> None:
    drop_id = _set_demo_drop(tmp_path, "status", "paused")
    page.goto(f"{server.url}/drop.html?id={drop_id}")
    expect(page.locator("#drop-status")).to_have_text("一時停止中")
    expect(page.locator("#form-error")).to_contain_text("一時停止")
    expect(page.locator("#submit")).to_be_disabled()
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS_DIR / "drop-paused.png", full_page=True)


def test_a_lottery_drop_shows_no_buy_form(page: Page, server: Any, tmp_path: Path) -> None:
    drop_id = _set_demo_drop(tmp_path, "sale_mode", "lottery")
    page.goto(f"{server.url}/drop.html?id={drop_id}")
    expect(page.locator("#drop-lottery")).to_be_visible()
    expect(page.locator("#drop-lottery")).to_contain_text("抽選")
    expect(page.locator("#drop-status")).to_have_text("抽選販売")  # not 販売中: it is not bought here
    expect(page.locator("#checkout")).to_be_hidden()
    page.screenshot(path=ARTIFACTS_DIR / "drop-lottery.png", full_page=True)
    page.goto(f"{server.url}/")  # the town page's list says so too
    expect(page.locator(f'.drop-card[href^="/drop.html?id={drop_id}"] .badge')).to_have_text("抽選販売")
