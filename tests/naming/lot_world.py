"""Helpers for the parks, lots, bidders and settle tests: an app whose card provider is the
fake Stripe, staff who make parks and lots through the API (on chain), holders who register
and bid through the API, signed Stripe events, and reading the chain and the mail."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.naming.models import Lot, LotOffer
from backend.naming.settle import Settler, settler_of
from backend.runtime import Runtime
from backend.towns.contracts import contract_tree
from minting.naming_rights import NamingRightsClient
from minting.store import OnceTxRow
from tests.factories import staff_headers
from tests.naming.auction_world import Clock, signed_in
from tests.payments.fake_stripe import FakeStripe, event, signed_event

TOWN = "hoshikawa"
API_KEY = "sk_test_fake_" + "0" * 24
WEBHOOK_SECRET = "whsec_test_" + "1" * 32
STAFF = f"/api/v1/staff/towns/{TOWN}"


def card_settings(data_dir: Path, stripe_url: str, **overrides: Any) -> Settings:
    """An eth-tester app with demo payments and the fake Stripe as its card provider."""
    values: dict[str, Any] = {
        "chain": "eth-tester://",
        "data_dir": data_dir,
        "card_api_key": SecretStr(API_KEY),
        "card_webhook_secret": SecretStr(WEBHOOK_SECRET),
        "card_api_base": stripe_url,
        "staff_writes_per_minute": 10_000,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def editor(client: TestClient) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, TOWN, "editor")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def park_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name_ja": "水沢名水公園",
        "name_en": "Mizusawa Meisui Park",
        "description_ja": "湧き水の池がある公園。",
        "location_ja": "星川町大字水沢 3",
        "latitude": 38.56,
        "longitude": 140.02,
    }
    body.update(overrides)
    return body


def lot_body(start: datetime, **overrides: Any) -> dict[str, Any]:
    """An auction of an hour from `start`, a term of three years from a month after it."""
    body: dict[str, Any] = {
        "auction_start": iso(start),
        "auction_end": iso(start + timedelta(hours=1)),
        "term_start": iso(start + timedelta(days=30)),
        "term_end": iso(start + timedelta(days=30 + 3 * 365)),
        "reserve_jpy": 1_000,
        "soft_close_seconds": 300,
        "extension_seconds": 300,
    }
    body.update(overrides)
    return body


def make_park(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{STAFF}/parks", json=park_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def make_lot(client: TestClient, headers: dict[str, str], start: datetime, **overrides: Any) -> dict[str, Any]:
    """A park and a lot of it, created on chain through the API (201 "ready")."""
    park = make_park(client, headers)
    response = client.post(f"{STAFF}/parks/{park['id']}/lots", json=lot_body(start, **overrides), headers=headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    assert made["chain"]["state"] == "ready", made
    return made


def now_second() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Holder:
    """A signed-in holder (their session token), who registers and bids through the API."""

    def __init__(self, client: TestClient, email_address: str) -> None:
        self.client = client
        self.email = email_address
        self.holder_id, self.token = signed_in(runtime_of(client), email_address)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def address(self) -> str:
        from backend.holders.models import Holder as HolderRow

        with runtime_of(self.client).sessions() as session:
            row = session.get(HolderRow, self.holder_id)
            assert row is not None
            return row.address

    def register(self, lot_id: int, method: str = "demo", prefecture: str = "13") -> Any:
        body = {"prefecture": prefecture, "payment_method": method}
        return self.client.post(f"/api/v1/lots/{lot_id}/bidders", json=body, headers=self.headers)

    def bid(self, lot_id: int, amount: int) -> Any:
        headers = {**self.headers, "Idempotency-Key": f"bid-{time.monotonic_ns()}"}
        response = self.client.post(f"/api/v1/lots/{lot_id}/bids", json={"amount_jpy": amount}, headers=headers)
        assert response.status_code == 201, response.text
        return response

    def me(self, lot_id: int) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/lots/{lot_id}/me", headers=self.headers)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def bidding_clock(client: TestClient, lot: dict[str, Any], seconds_in: int = 10) -> Clock:
    """The bid path's clock, set inside the lot's auction."""
    start = int(datetime.fromisoformat(lot["auction_start"]).timestamp())
    return Clock(start + seconds_in).install(client.app)  # type: ignore[arg-type]


def after_the_end(lot_id: int, client: TestClient, seconds: int = 1) -> datetime:
    """A moment just after the lot's end as it stands (soft close included)."""
    with runtime_of(client).sessions() as session:
        lot = session.get(Lot, lot_id)
        assert lot is not None
        ends = lot.ends_at if lot.ends_at.tzinfo else lot.ends_at.replace(tzinfo=UTC)
    return ends + timedelta(seconds=seconds)


def settler(client: TestClient) -> Settler:
    return settler_of(runtime_of(client))


def deliver(client: TestClient, event_type: str, obj: dict[str, Any]) -> Any:
    body, headers = signed_event(event(event_type, obj), WEBHOOK_SECRET)
    response = client.post("/api/v1/payments/card/webhook", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def complete_card_setup(client: TestClient, fake: FakeStripe, setup_url: str) -> None:
    """The bidder saves their card on Stripe's page; Stripe tells the webhook."""
    session_id = setup_url.rsplit("/", 1)[1]
    deliver(client, "checkout.session.completed", fake.complete_setup(session_id))


def rights(client: TestClient, contract: str) -> NamingRightsClient:
    return NamingRightsClient.at(runtime_of(client).chain.w3, contract_tree()["NamingRights"], contract)


def lot_row(client: TestClient, lot_id: int) -> Lot:
    with runtime_of(client).sessions() as session:
        lot = session.get(Lot, lot_id)
        assert lot is not None
        return lot


def offers_of(client: TestClient, lot_id: int) -> list[LotOffer]:
    with runtime_of(client).sessions() as session:
        return list(session.scalars(select(LotOffer).where(LotOffer.lot_id == lot_id).order_by(LotOffer.round)))


def sent_purposes(client: TestClient, prefix: str) -> int:
    """How many exactly-once transactions were stored under purposes starting with `prefix`."""
    with runtime_of(client).sessions() as session:
        count = session.scalar(select(func.count()).select_from(OnceTxRow).where(OnceTxRow.purpose.startswith(prefix)))
        return int(count or 0)


def mails_to(client: TestClient, address: str, about: str = "") -> list[email.message.EmailMessage]:
    """The mails sent to `address` (whose subject holds `about`), oldest first."""
    folder = runtime_of(client).settings.data_dir / "mail"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        if message["To"] == address and about in str(message["Subject"]):
            found.append(message)
    return found


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    content: str = body.get_content()
    return content


PAY_LINK = re.compile(r"/lots/(\d+)\?offer=(\d+)&pay=([A-Za-z0-9_-]+)")
