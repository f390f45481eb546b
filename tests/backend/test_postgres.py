"""PostgreSQL: a throw-away database is migrated, used through the API and dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import Base, alembic_config, make_engine, migrate
from minting.store import MintingBase

pytestmark = [pytest.mark.postgres, pytest.mark.chain]


def test_migrations_apply_to_postgres_and_are_idempotent(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        migrate(engine)  # a second start finds nothing to do
        assert engine.dialect.name == "postgresql"
        assert {"municipalities", "mint_jobs", "chain_txs"} <= set(inspect(engine).get_table_names())
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
            both: Any = [Base.metadata, MintingBase.metadata]
            assert compare_metadata(MigrationContext.configure(connection), both) == []
    finally:
        engine.dispose()


def test_app_serves_from_postgres(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path, database_url=postgres_url)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["db"] == "ok"
        assert client.get("/api/v1/municipalities").json()["items"][0]["slug"] == "hoshikawa"
    assert not (tmp_path / "furusato.db").exists()
