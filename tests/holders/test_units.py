"""Units of the holders area that need no chain: the vault, the rate limiter, mail."""

from __future__ import annotations

import email
import email.policy
import smtplib
import stat
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from backend.core import mail
from backend.core.config import Settings
from backend.core.db import make_engine, make_session_factory, migrate
from backend.holders.custody import Vault, ensure_holder, holder_account
from backend.holders.models import Holder


def test_custodial_keys_are_stored_encrypted_and_the_vault_hides_its_key(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    migrate(engine)
    vault = Vault.from_secret("a test secret that is long enough to be fine")
    with make_session_factory(engine)() as session:
        holder = ensure_holder(session, vault, "Key@Example.com")
        session.commit()
        stored = session.scalar(select(Holder.encrypted_key).where(Holder.email == "key@example.com"))
    engine.dispose()
    assert stored is not None
    raw = bytes(holder_account(vault, holder).key)
    assert len(raw) == 32
    assert raw not in stored
    assert raw.hex().encode() not in stored
    assert holder_account(vault, holder).address == holder.address
    assert vault.key.hex() not in repr(vault)
    assert repr(vault) == f"Vault(key_id={vault.key_id!r})"


def test_mail_without_smtp_is_an_owner_only_eml_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, chain="eth-tester://", demo_mode=False, secret_key=SecretStr("x" * 40))
    mail.send_sign_in_link(settings, "ume@example.com", "https://town.example/signin.html#token=abc")
    (path,) = (tmp_path / "mail").glob("*.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["From"] == settings.mail_from
    assert "Your sign-in link" in message["Subject"]
    assert message.get_content_charset() == "utf-8"
    assert "#token=abc" in message.get_content()


class FakeSMTP:
    sent: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.record: dict[str, Any] = {"host": host, "port": port, "tls": False}
        FakeSMTP.sent.append(self.record)

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def starttls(self) -> None:
        self.record["tls"] = True

    def login(self, user: str, password: str) -> None:
        self.record["login"] = (user, password)

    def send_message(self, message: email.message.EmailMessage) -> None:
        self.record["to"] = message["To"]


@pytest.mark.parametrize(
    ("url", "port", "tls"),
    [("smtp://mailer:p%40ss@mail.example:587", 587, True), ("smtp://mailer:p%40ss@mail.example:2525", 2525, False)],
)
def test_mail_goes_over_smtp_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, port: int, tls: bool
) -> None:
    FakeSMTP.sent = []
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    settings = Settings(data_dir=tmp_path, chain="eth-tester://", smtp_url=url)
    mail.send_sign_in_link(settings, "ume@example.com", "https://town.example/signin.html#token=abc")
    assert FakeSMTP.sent == [
        {"host": "mail.example", "port": port, "tls": tls, "login": ("mailer", "p@ss"), "to": "ume@example.com"}
    ]
    assert not (tmp_path / "mail").exists()
