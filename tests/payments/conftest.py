"""Fixtures for the `card` provider: a fake Stripe, settings pointing at it, an API client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from backend.app import create_app
from backend.core.config import Settings
from tests.payments.fake_stripe import FakeStripe

API_KEY = "sk_test_fake_" + "0" * 24
WEBHOOK_SECRET = "whsec_test_" + "1" * 32


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe(API_KEY).start()
    yield fake
    fake.stop()


def card_settings(tmp_path: Path, api_base: str, database_url: str = "") -> Settings:
    return Settings(
        chain="eth-tester://",
        data_dir=tmp_path / "data",
        database_url=database_url,
        card_api_key=SecretStr(API_KEY),
        card_webhook_secret=SecretStr(WEBHOOK_SECRET),
        card_api_base=api_base,
    )


@pytest.fixture
def settings(tmp_path: Path, fake_stripe: FakeStripe) -> Settings:
    """Settings for an eth-tester app whose card provider is the fake Stripe."""
    return card_settings(tmp_path, fake_stripe.url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client
