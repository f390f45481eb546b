"""PostgreSQL: a throw-away database is migrated, used through the API and dropped."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from backend.app import create_app
from backend.config import Settings
from backend.db import make_engine, migrate

pytestmark = [pytest.mark.postgres, pytest.mark.chain]


def test_migrations_apply_to_postgres_and_are_idempotent(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        migrate(engine)  # a second start finds nothing to do
        assert engine.dialect.name == "postgresql"
        assert "municipalities" in inspect(engine).get_table_names()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0001"
    finally:
        engine.dispose()


def test_app_serves_from_postgres(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path, database_url=postgres_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["db"] == "ok"
        assert client.get("/api/v1/municipalities").json()["items"][0]["slug"] == "nishikawa"
    assert not (tmp_path / "furusato.db").exists()
