"""Towns' tables.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart, in `schemas.py`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow


class Municipality(Base):
    """A town (自治体) on this deployment; one deployment can serve several."""

    __tablename__ = "municipalities"
    __table_args__ = (
        CheckConstraint("length(prefecture) = 2", name="ck_municipalities_prefecture"),
        CheckConstraint("stats_threshold >= 3", name="ck_municipalities_stats_threshold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: JIS X 0401 prefecture code, "01"…"47".
    prefecture: Mapped[str] = mapped_column(String(2))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    #: The town's own ResidentCard and NamingRights (checksummed). None for a town whose
    #: contracts are the deployment's manifest ones (the demo town) or not yet deployed.
    card_contract: Mapped[str | None] = mapped_column(String(42), default=None)
    rights_contract: Mapped[str | None] = mapped_column(String(42), default=None)
    #: "ready" once its contracts are deployed and configured; "deploying" while `town add` runs.
    contracts_state: Mapped[str] = mapped_column(String(16), default="ready")
    #: Where on-chain proceeds and ERC-2981 royalties go (checksummed address).
    treasury: Mapped[str | None] = mapped_column(String(42), default=None)
    royalty_receiver: Mapped[str | None] = mapped_column(String(42), default=None)
    royalty_bps: Mapped[int] = mapped_column(Integer, default=1000)
    #: The town's colour on its pages and card images ("#RRGGBB").
    brand_colour: Mapped[str] = mapped_column(String(7), default="#1f6f5c")
    #: A small logo (SVG or PNG) as a data: URL, shown on the town's pages; "" for none.
    logo_data_url: Mapped[str] = mapped_column(Text, default="")
    #: Whether editors may refund (owners always may).
    editors_may_refund: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Announcements and polls wait for a moderator's approval before they go out.
    posts_need_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Public statistics show any count below this as "x" (never below 3; DESIGN.md: 5).
    stats_threshold: Mapped[int] = mapped_column(Integer, default=5)
    #: Days the town gives itself to complete a holder's deletion request (APPI; default 30).
    data_request_days: Mapped[int] = mapped_column(Integer, default=30)
    #: Activities that count towards premium registration (ふるさと住民登録), comma-separated
    #: from `backend.analytics.categories.ACTIVITIES`, and how many a year make a candidate.
    premium_activities: Mapped[str] = mapped_column(String(200), default="event,volunteer,work,telework,vote,naming")
    premium_threshold: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
