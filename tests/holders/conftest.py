"""Fixtures of the holders tests: one app on an eth-tester chain per test module, and the
steps a walletless supporter takes (order, demo-pay, read the mailed link, sign in)."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from backend.app import create_app
from backend.core.config import Settings
from backend.core.models import RateCounter

POLL_SECONDS = 0.05
MINT_TIMEOUT_SECONDS = 60.0
LINK_PATTERN = re.compile(r"/signin\.html#token=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app on a fresh chain, shared by a module's tests (start-up deploys contracts: ~10 s)."""
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("holders") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The shared app with fresh sign-in limits (every test is one client address): their
    counters live in the database, shared by every process, so they are cleared there."""
    runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        session.execute(delete(RateCounter).where(RateCounter.key.startswith("holders-sign-in:")))
        session.commit()
    return app_client


def mail_dir(client: TestClient) -> Path:
    settings: Settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    return settings.data_dir / "mail"


def mails(client: TestClient) -> set[Path]:
    folder = mail_dir(client)
    return set(folder.glob("*.eml")) if folder.exists() else set()


def read_mail(path: Path) -> email.message.EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def link_secret(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    found = LINK_PATTERN.search(body.get_content())
    assert found is not None, "no sign-in link in the mail"
    return found.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def order_card(client: TestClient, address: str) -> tuple[str, str]:
    """A walletless demo order for one card; returns (order id, order token)."""
    body = {"drop_id": 1, "quantity": 1, "email": address, "prefecture": "27", "payment_method": "demo"}
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    return response.json()["order_id"], response.json()["order_token"]


def pay(client: TestClient, order_id: str, order_token: str) -> None:
    response = client.post(f"/api/v1/orders/{order_id}/demo-pay", headers=bearer(order_token))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "paid"


def wait_for(condition: Callable[[], Any], timeout: float = MINT_TIMEOUT_SECONDS, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out waiting for {what}")


def wait_minted(client: TestClient, order_id: str, order_token: str) -> dict[str, Any]:
    def minted() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/orders/{order_id}", headers=bearer(order_token)).json()
        assert body["status"] in ("paid", "minting", "minted"), body
        return body if body["status"] == "minted" else None

    result: dict[str, Any] = wait_for(minted, what=f"order {order_id} to be minted")
    return result


def request_link(client: TestClient, address: str) -> str:
    """Ask for a sign-in link and read it from the one new mail."""
    before = mails(client)
    response = client.post("/api/v1/holders/sign-in", json={"email": address})
    assert response.status_code == 202, response.text
    new = mails(client) - before
    assert len(new) == 1
    return link_secret(read_mail(new.pop()))


def sign_in(client: TestClient, address: str) -> str:
    """A session token for `address` (link requested, read from the mail, exchanged)."""
    response = client.post("/api/v1/holders/session", json={"token": request_link(client, address)})
    assert response.status_code == 200, response.text
    token: str = response.json()["session_token"]
    return token
