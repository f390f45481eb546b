"""A holder whose card is in their own wallet signs in on the sign-in page with it (Sign-In
with Ethereum, through the page's EIP-1193 wallet) and opens the card's pass.

The wallet is a stand-in injected into the page: `eth_requestAccounts` answers the account
and `personal_sign` signs in Python with eth-account (what a wallet extension does); the
message, the nonce, the signature check and the session are the real server's.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser]

#: Generous: minting waits for the worker and the indexer, and the machine may be busy.
CHAIN_TIMEOUT_S = 90
WALLET = """
window.ethereum = {
  request: async ({ method, params }) => {
    if (method === "eth_requestAccounts") return [window.__account.toLowerCase()];
    if (method === "personal_sign") return await window.walletSign(params[0]);
    throw new Error("unsupported " + method);
  },
};
"""


def buy_into_wallet(url: str, account: LocalAccount) -> int:
    """A demo order minted straight to `account`; its card number, once minted."""
    body: dict[str, Any] = {
        "drop_id": 1,
        "quantity": 1,
        "email": "wallet-holder@example.jp",
        "prefecture": "27",
        "payment_method": "demo",
        "wallet_address": account.address,
    }
    order = requests.post(f"{url}/api/v1/orders", json=body, timeout=30).json()
    headers = {"Authorization": f"Bearer {order['order_token']}"}
    assert requests.post(f"{url}/api/v1/orders/{order['order_id']}/demo-pay", headers=headers, timeout=30).ok
    deadline = time.monotonic() + CHAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = requests.get(f"{url}/api/v1/orders/{order['order_id']}", headers=headers, timeout=30).json()
        if status["status"] == "minted":
            return int(status["token_ids"][0])
        time.sleep(0.2)  # polling the server's state, not waiting out a guess
    raise AssertionError("the card was not minted")


def test_a_wallet_holder_signs_in_with_the_wallet_and_opens_the_pass(page: Page, server: Any) -> None:
    account: LocalAccount = Account.create()
    number = buy_into_wallet(server.url, account)
    signed: list[str] = []

    def wallet_sign(message: str) -> str:
        signed.append(message)
        return "0x" + bytes(Account.sign_message(encode_defunct(text=message), account.key).signature).hex()

    page.expose_function("walletSign", wallet_sign)
    page.add_init_script(f"window.__account = {account.address!r};" + WALLET)
    page.goto(f"{server.url}/signin.html")
    page.get_by_role("button", name="ウォレットでログイン").click()
    expect(page).to_have_url(re.compile(r"/card\.html$"), timeout=30_000)
    assert len(signed) == 1
    assert signed[0].splitlines()[1] == account.address  # the EIP-55 form, written by the server

    # The indexer may still be on its way to the mint: reload until the card is listed.
    card = page.locator(".card-item")
    deadline = time.monotonic() + CHAIN_TIMEOUT_S
    while card.count() == 0 and time.monotonic() < deadline:
        page.reload()
        page.wait_for_function("document.querySelector('#cards-message').textContent.indexOf('…') < 0")
    expect(card.locator(".number")).to_contain_text(str(number))
    expect(page.locator("#signed-in-as")).to_contain_text(account.address)
    card.get_by_role("button", name="パスを表示").click()
    expect(page.locator("#pass-qr-img")).to_have_attribute("src", re.compile(r"^data:image/svg"), timeout=30_000)
