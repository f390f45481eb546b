"""Towns' tables.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow


class Municipality(Base):
    """A town (自治体) on this deployment; one deployment can serve several."""

    __tablename__ = "municipalities"
    __table_args__ = (CheckConstraint("length(prefecture) = 2", name="ck_municipalities_prefecture"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: JIS X 0401 prefecture code, "01"…"47".
    prefecture: Mapped[str] = mapped_column(String(2))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
