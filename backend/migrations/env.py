"""Alembic environment: runs migrations on the engine the application hands over."""

from __future__ import annotations

from alembic import context

from backend.analytics import models as _analytics  # noqa: F401
from backend.benefits import models as _benefits  # noqa: F401
from backend.core import models as _core  # noqa: F401
from backend.core.db import Base
from backend.holders import models as _holders  # noqa: F401  (each registers its tables on Base.metadata)
from backend.lottery import models as _lottery  # noqa: F401
from backend.naming import models as _naming  # noqa: F401
from backend.payments import models as _payments  # noqa: F401
from backend.polls import models as _polls  # noqa: F401
from backend.sales import models as _sales  # noqa: F401
from backend.staff import models as _staff  # noqa: F401
from backend.towns import models as _towns  # noqa: F401
from minting.store import MintingBase

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=[Base.metadata, MintingBase.metadata],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
