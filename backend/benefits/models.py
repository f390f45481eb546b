"""Benefits' tables: shops, their verifier devices, benefits and redemptions; spots and
check-ins.

A benefit is used at most once per card per period (a day, an ISO week or a month in Japan
time, or once for the benefit's whole term): the unique key of `redemptions` enforces it in
the database, so concurrent taps and processes cannot redeem twice, and a card resold in the
middle of a month stays redeemed (the key is the card, not its holder). Benefits never count
down uses: a membership benefit that loses value with use would be a prepaid instrument.

SQLAlchemy 2 typed mappings; the pydantic schemas live apart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import Base, utcnow

#: How often a card may use a benefit. "term": once for the benefit's whole life.
PERIODS = ("day", "week", "month", "term")
#: How a check-in was made: the spot's printed poster, or a staffed kiosk's rotating code.
CHECK_IN_METHODS = ("poster", "kiosk")


class Shop(Base):
    """A shop or facility of the town where holders use benefits (e.g. a hot spring)."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: Where it is, in words.
    place_ja: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Closed shops keep their history; their benefits and devices stop working.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class VerifierDevice(Base):
    """A shop phone signed in by a device link: it may verify passes and redeem its shop's
    benefits, nothing else. The link (single use, short-lived) and the session it is exchanged
    for are stored as SHA-256 only; no personal data. Revoking ends the session at once."""

    __tablename__ = "verifier_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    #: A name staff give it ("受付のスマホ").
    label: Mapped[str] = mapped_column(String(100))
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    link_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    paired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_by: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Benefit(Base):
    """What a card gives at a shop, how often. Its series are in `benefit_series` (none: every
    series of the town, also later ones)."""

    __tablename__ = "benefits"
    __table_args__ = (CheckConstraint(f"period IN {PERIODS!r}", name="ck_benefits_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    title_ja: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    period: Mapped[str] = mapped_column(String(8))
    #: Its term; None: from creation, without end.
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: Staff may pause a benefit; paused ones show but cannot be redeemed.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BenefitSeries(Base):
    """A series (drop) whose cards a benefit is for."""

    __tablename__ = "benefit_series"

    benefit_id: Mapped[int] = mapped_column(ForeignKey("benefits.id"), primary_key=True)
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"), primary_key=True)


class Redemption(Base):
    """One use of a benefit by one card in one period; unique per (benefit, card, period)."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("benefit_id", "chain_id", "contract", "token_id", "period_key", name="uq_redemptions_period"),
        Index("ix_redemptions_town_at", "municipality_id", "redeemed_at"),
        Index("ix_redemptions_shop_at", "shop_id", "redeemed_at"),
        # The analytics rollup reads one person's redemptions by the addresses they held with.
        Index("ix_redemptions_town_holder", "municipality_id", "holder_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    benefit_id: Mapped[int] = mapped_column(ForeignKey("benefits.id"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    drop_id: Mapped[int] = mapped_column(ForeignKey("drops.id"))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    token_id: Mapped[int] = mapped_column(BigInteger)
    #: "2026-12-01" (day), "2026-W49" (ISO week), "2026-12" (month) or "term", in Japan time.
    period_key: Mapped[str] = mapped_column(String(16))
    #: The card's owner on chain when it was used (a pseudonymous address, for visit figures).
    holder_address: Mapped[str] = mapped_column(String(42))
    #: Who tapped: a shop device or a staff member with the verifier (or a higher) role.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("verifier_devices.id"), default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), default=None)
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Spot(Base):
    """A place where holders check in by scanning its poster (`/s/{code}`) or, where staffed,
    a kiosk's rotating code. Coordinates and radius are used only when `require_location`."""

    __tablename__ = "spots"

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    #: The short code of its poster's URL.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    place_ja: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    radius_m: Mapped[int] = mapped_column(Integer, default=300)
    require_location: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A staffed place: a check-in needs the kiosk's current code, not just the poster.
    kiosk: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What a check-in here is evidence of, for MLIT's categories (`backend.analytics.categories`):
    #: "leisure" (eat, shop, bathe), "event" (town events), "work", "telework", "volunteer".
    activity: Mapped[str] = mapped_column(String(12), default="leisure")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class CheckIn(Base):
    """A holder's visit to a spot: once per spot per day (Japan time), enforced by its key.

    `visitor` names who came: "holder:{id}" for a walletless holder, "wallet:{address}" for one
    signed in with their own wallet. Coordinates are not kept, only the distance checked."""

    __tablename__ = "check_ins"
    __table_args__ = (
        UniqueConstraint("spot_id", "day", "visitor", name="uq_check_ins_day"),
        CheckConstraint(f"method IN {CHECK_IN_METHODS!r}", name="ck_check_ins_method"),
        Index("ix_check_ins_town_at", "municipality_id", "checked_in_at"),
        # The analytics rollup reads one person's check-ins by the addresses they came with.
        Index("ix_check_ins_town_address", "municipality_id", "address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    spot_id: Mapped[int] = mapped_column(ForeignKey("spots.id"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    #: "2026-12-01", Japan time.
    day: Mapped[str] = mapped_column(String(10))
    visitor: Mapped[str] = mapped_column(String(64))
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"), default=None)
    address: Mapped[str] = mapped_column(String(42))
    method: Mapped[str] = mapped_column(String(8), default="poster")
    distance_m: Mapped[int | None] = mapped_column(Integer, default=None)
    checked_in_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
