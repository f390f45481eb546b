"""Browser fixtures: Debian's Chromium driven by Python Playwright (no browser download)."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.holders.conftest import wait_for

CHROMIUM = "/usr/bin/chromium"
#: Without these, Chromium keeps calling home; the machine's closed network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make test` (installs it) or `apt-get install chromium fonts-noto-cjk`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def server(start_server: Any, tmp_path: Path) -> Any:
    """`furusato run` on an eth-tester chain, healthy."""
    running = start_server(["--chain", "eth-tester://", "--data-dir", str(tmp_path)])
    running.wait_healthy()
    return running


#: The 6-digit staff sign-in code on a line of its own in the mail's text.
SIGN_IN_CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


def code_mailed(mail_dir: Path, seen: set[Path], to: str) -> str:
    """The sign-in code of the first new `.eml` (not in `seen`) addressed to `to`."""

    def found() -> str | None:
        for path in sorted(set(mail_dir.glob("*.eml")) - seen):
            message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            if to not in str(message["To"]):
                continue
            body = "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")
            match = SIGN_IN_CODE.search(body)
            if match:
                return match.group(1)
        return None

    return str(wait_for(found, 30, f"the sign-in code mailed to {to}"))
