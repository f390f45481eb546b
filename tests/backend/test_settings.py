"""Settings validation: bad configuration is refused with a message that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from backend.core.config import PLACEHOLDER_SECRET, Settings, get_settings


def test_defaults_are_the_embedded_demo() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.chain == "anvil://"
    assert settings.database_url == "sqlite:///var/furusato.db"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.demo_mode


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FURUSATO_CHAIN", "eth-tester://")
    monkeypatch.setenv("FURUSATO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FURUSATO_PORT", "8123")
    settings = Settings()
    assert settings.chain == "eth-tester://"
    assert settings.database_url == f"sqlite:///{tmp_path}/furusato.db"
    assert settings.public_url == "http://127.0.0.1:8123"


def test_get_settings_is_cached_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("FURUSATO_PORT", "9001")
    assert get_settings() is get_settings()
    assert get_settings().port == 9001
    get_settings.cache_clear()


@pytest.mark.parametrize("url", ["ftp://x", "ipfs://node", "polygon"])
def test_unknown_chain_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="unsupported chain URL"):
        Settings(chain=url)


@pytest.mark.parametrize("url", ["nonsense://", "mysql://root@localhost/db", "not a url"])
def test_unknown_database_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="unsupported database URL"):
        Settings(database_url=url)


def test_postgresql_url_uses_psycopg3() -> None:
    assert Settings(database_url="postgresql://root@127.0.0.1/town").database_url == (
        "postgresql+psycopg://root@127.0.0.1/town"
    )


def test_placeholder_secret_refused_outside_demo_mode() -> None:
    with pytest.raises(ValidationError, match="FURUSATO_SECRET_KEY"):
        Settings(demo_mode=False)
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(demo_mode=False, secret_key=SecretStr("short"))
    assert Settings(demo_mode=True).secret_key.get_secret_value() == PLACEHOLDER_SECRET
    assert Settings(demo_mode=False, secret_key=SecretStr("x" * 40)).demo_mode is False


def test_secrets_never_appear_in_repr() -> None:
    settings = Settings(secret_key=SecretStr("s3cret-" * 6), deployer_key=SecretStr("0x" + "ab" * 32))
    assert "s3cret" not in repr(settings)
    assert "abab" not in repr(settings)
