"""Settings: one `Settings` object, read from `FURUSATO_*` environment variables.

Built through the cached `get_settings()`, never at import time, so tests can build their
own (`Settings(chain="eth-tester://", ...)`) or override the getter.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: The shipped placeholder. Fine for a demo on a laptop; refused anywhere else.
PLACEHOLDER_SECRET = "change-me-demo-only"  # noqa: S105 - the value validation refuses
MIN_SECRET_LENGTH = 32
CHAIN_SCHEMES = ("eth-tester", "anvil", "http", "https")
DATABASE_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


class Settings(BaseSettings):
    """Everything that differs between a laptop demo and a town's production deployment."""

    model_config = SettingsConfigDict(env_prefix="FURUSATO_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="SQLite file, anvil state, manifest, mail")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in data_dir")
    chain: str = Field(default="anvil://", description="eth-tester://, anvil://[127.0.0.1:PORT] or http(s)://")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = Field(default="", description="Base URL people reach; default http://host:port")
    demo_mode: bool = Field(default=True, description="Demo payments and placeholder secrets allowed")
    seed_demo: bool = Field(default=True, description="Seed a demo town on start (demo mode only)")
    demo_supply: int = Field(default=1_000, ge=1, le=1_000_000, description="Cards in the demo drop when seeded")
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    deployer_key: SecretStr | None = Field(default=None, description="Hex key; dev chains use anvil's")
    mint_worker: bool = Field(default=True, description="Run the mint worker inside `furusato run`")
    mint_batch_size: int = Field(default=100, ge=1, le=300, description="Cards per mintBatch")
    mint_confirmations: int = Field(default=0, ge=0, description="Blocks on top before a mint counts")
    mint_max_fee_gwei: float | None = Field(
        default=None, gt=0, description="Ceiling on a mint transaction's maxFeePerGas, in gwei (unset: none)"
    )
    signer_key: SecretStr | None = Field(default=None, description="Voucher signer; dev chains use the minter's")
    order_ttl_seconds: int = Field(default=900, ge=1, description="How long an unpaid order holds its cards")
    order_rate_per_minute: int = Field(
        default=30, ge=0, description="Orders per minute per client address (0: no limit; this machine is exempt)"
    )
    card_api_key: SecretStr | None = Field(default=None, description="Stripe secret key; card payments need it")
    card_webhook_secret: SecretStr | None = Field(default=None, description="Stripe webhook signing secret")
    card_api_base: str = Field(default="", description="Stripe API base URL (tests point it at a local fake)")
    staff_session_idle_minutes: int = Field(
        default=120, ge=1, le=7 * 24 * 60, description="A staff session ends after this long without a request"
    )
    staff_session_hours: int = Field(
        default=12, ge=1, le=30 * 24, description="A staff session ends this long after sign-in, whatever the use"
    )
    staff_writes_per_minute: int = Field(default=120, ge=1, description="Writes per minute per staff member")
    smtp_url: str = Field(default="", description="smtp://user:pass@host:port; empty: mail goes to data_dir/mail")
    mail_from: str = "Furusato <no-reply@furusato.invalid>"
    explorer_url: str | None = Field(
        default=None, description="Block explorer for on-chain links, e.g. https://etherscan.io (unset: none)"
    )

    @field_validator("chain")
    @classmethod
    def _known_chain_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.lower()
        if scheme not in CHAIN_SCHEMES:
            raise ValueError(
                f"unsupported chain URL {value!r}: use eth-tester://, anvil://[127.0.0.1:PORT], http(s)://…"
            )
        return value

    @field_validator("explorer_url")
    @classmethod
    def _explorer_is_web(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme.lower() not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError(f"explorer URL {value!r} must be http(s)://host")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError:
            url = None
        backend = url.get_backend_name() if url is not None else None
        if url is None or backend not in DATABASE_DRIVERS:
            raise ValueError(f"unsupported database URL {value!r}: use sqlite:///path.db or postgresql://user@host/db")
        if url.drivername == "postgresql":  # the driver we ship is psycopg 3
            url = url.set(drivername=DATABASE_DRIVERS["postgresql"])
        return url.render_as_string(hide_password=False)

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'furusato.db').as_posix()}"
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        secret = self.secret_key.get_secret_value()
        if not self.demo_mode and (secret == PLACEHOLDER_SECRET or len(secret) < MIN_SECRET_LENGTH):
            raise ValueError(
                f"FURUSATO_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                "characters outside demo mode"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
