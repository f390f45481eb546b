"""The migrations and the models agree: `alembic upgrade head` builds exactly what the
ORM models (backend's and minting's) declare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.analytics import models as _analytics  # noqa: F401
from backend.benefits import models as _benefits  # noqa: F401
from backend.core import models as _core  # noqa: F401  (registers the tables on Base.metadata)
from backend.core.db import Base, make_engine, migrate
from backend.holders import models as _holders  # noqa: F401
from backend.lottery import models as _lottery  # noqa: F401
from backend.naming import models as _naming  # noqa: F401
from backend.polls import models as _polls  # noqa: F401
from backend.staff import models as _staff  # noqa: F401
from minting.store import MintingBase


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/schema.db")
    try:
        migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            both: Any = [Base.metadata, MintingBase.metadata]  # alembic accepts a list; its stub says one
            differences = compare_metadata(context, both)
        assert differences == []
    finally:
        engine.dispose()
