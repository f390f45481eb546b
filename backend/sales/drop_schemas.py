"""The staff side of drops: what the console sends to create and edit one, and what it reads.

Every rule a body must meet is in the schema (so the OpenAPI document states it and a wrong
body is a 422 naming the field): lengths, ranges, the payment methods, a window that ends
after it starts, a lottery's dates in order. Times must carry their offset (the console sends
Japan time, `+09:00`); they are stored in UTC. Fields the server owns — status, sold, series
and token ids, the chain and contract, price in wei — are never accepted (`extra="forbid"`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

PaymentMethod = Literal["demo", "card", "wallet"]
SaleMode = Literal["first_come", "lottery"]
ALL_METHODS: tuple[PaymentMethod, ...] = ("demo", "card", "wallet")

#: Highest price a drop may ask, in yen (Stripe's JPY ceiling is far above; this catches typos).
MAX_PRICE_JPY = 10_000_000
#: Most cards one drop may hold (its series' id range on chain).
MAX_SUPPLY = 1_000_000
#: Most cards one person may buy of a drop (an order holds at most 100).
MAX_PER_BUYER = 100
#: Longest time a lottery winner may be given to pay (30 days).
MAX_PAY_WITHIN_HOURS = 720


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _unique(methods: list[PaymentMethod]) -> list[PaymentMethod]:
    if len(set(methods)) != len(methods):
        raise ValueError("each payment method at most once")
    return methods


UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(_utc),
    Field(description="ISO 8601 with its offset, e.g. 2026-04-01T10:00:00+09:00 (stored in UTC)"),
]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5_000)]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE_JPY, description="yen per card")]
Supply = Annotated[int, Field(ge=1, le=MAX_SUPPLY, description="cards in the drop")]
PerBuyer = Annotated[int, Field(ge=1, le=MAX_PER_BUYER, description="cards one person (email or wallet) may buy")]
Methods = Annotated[
    list[PaymentMethod],
    AfterValidator(_unique),
    Field(min_length=1, max_length=3, description="how buyers may pay; each at most once"),
]
PayWithin = Annotated[int, Field(ge=1, le=MAX_PAY_WITHIN_HOURS, description="hours a lottery winner has to pay")]


class DropTermsBase(BaseModel):
    """The rules between fields, shared by a new drop and a drop after an edit."""

    sale_mode: SaleMode
    price_jpy: int
    supply: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime | None
    payment_methods: list[PaymentMethod]
    applications_close_at: datetime | None
    draw_at: datetime | None
    pay_within_hours: int | None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_terms(self)
        return self


def check_terms(terms: DropTermsBase) -> None:
    """Raise `ValueError` naming the first rule between fields that `terms` break."""
    if terms.ends_at is not None and terms.ends_at <= terms.starts_at:
        raise ValueError("ends_at must be after starts_at")
    if terms.per_buyer_limit > terms.supply:
        raise ValueError("per_buyer_limit cannot exceed supply")
    if terms.price_jpy == 0 and "card" in terms.payment_methods:
        raise ValueError("a free drop (price_jpy 0) cannot be paid by card")
    lottery = (terms.applications_close_at, terms.draw_at, terms.pay_within_hours)
    if terms.sale_mode == "first_come":
        if any(value is not None for value in lottery):
            raise ValueError("applications_close_at, draw_at and pay_within_hours are for lottery drops only")
        return
    if terms.applications_close_at is None or terms.draw_at is None or terms.pay_within_hours is None:
        raise ValueError("a lottery drop needs applications_close_at, draw_at and pay_within_hours")
    if terms.applications_close_at <= terms.starts_at:
        raise ValueError("applications_close_at must be after starts_at (applications open then)")
    if terms.draw_at < terms.applications_close_at:
        raise ValueError("draw_at cannot be before applications_close_at")
    paid_by = terms.draw_at + timedelta(hours=terms.pay_within_hours)
    if terms.ends_at is not None and terms.ends_at < paid_by:
        raise ValueError("ends_at cannot be before the winners' time to pay ends (draw_at + pay_within_hours)")


class DropCreate(DropTermsBase):
    """A new draft drop (DESIGN.md, the town's side)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["resident_card"] = "resident_card"
    sale_mode: SaleMode = "first_come"
    title_ja: Title
    title_en: Title
    description_ja: Description = ""
    description_en: Description = ""
    price_jpy: Price
    supply: Supply
    per_buyer_limit: PerBuyer = 5
    starts_at: UtcTime
    ends_at: UtcTime | None = None
    soulbound: bool = False
    payment_methods: Methods = Field(default_factory=lambda: list(ALL_METHODS))
    applications_close_at: UtcTime | None = None
    draw_at: UtcTime | None = None
    pay_within_hours: PayWithin | None = None


#: Fields a published (live or paused) drop may change freely: its texts.
TEXT_FIELDS = frozenset({"title_ja", "title_en", "description_ja", "description_en"})
#: Fields a published drop may change only while nothing is sold, with the series on chain
#: following (`setSale`): price, per-person limit and window. Supply may only go down then.
SALE_FIELDS = frozenset({"price_jpy", "per_buyer_limit", "starts_at", "ends_at"})


class DropUpdate(BaseModel):
    """A change to a drop: only the fields sent change (`null` clears an optional field).

    Drafts may change anything; live and paused drops their texts, and — while no card is
    sold — price, limit and window (the series on chain follows) and supply downwards."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sale_mode: SaleMode | None = None
    title_ja: Title | None = None
    title_en: Title | None = None
    description_ja: Description | None = None
    description_en: Description | None = None
    price_jpy: Price | None = None
    supply: Supply | None = None
    per_buyer_limit: PerBuyer | None = None
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None
    soulbound: bool | None = None
    payment_methods: Methods | None = None
    applications_close_at: UtcTime | None = None
    draw_at: UtcTime | None = None
    pay_within_hours: PayWithin | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> Self:
        """Fields every drop has may be changed, not cleared."""
        optional = {"ends_at", "applications_close_at", "draw_at", "pay_within_hours"}
        cleared = sorted(name for name in self.model_fields_set - optional if getattr(self, name) is None)
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class StaffDrop(BaseModel):
    """A drop as staff see it: its terms, its state and, once published, its series."""

    id: int
    municipality: str
    kind: str
    sale_mode: str
    #: "draft" → "publishing" (series transaction sent) → "live"; "paused" takes no orders.
    status: Literal["draft", "publishing", "live", "paused"]
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    price_jpy: int
    supply: int
    #: Cards taken: paid for, or held by an order still awaiting payment.
    sold: int
    remaining: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime | None
    soulbound: bool
    payment_methods: list[str]
    applications_close_at: datetime | None
    draw_at: datetime | None
    pay_within_hours: int | None
    #: Why the last publish failed (the drop went back to draft), else null.
    publish_error: str | None
    chain_id: int
    contract: str
    series_id: int | None
    first_token_id: int | None
    created_at: datetime
    published_at: datetime | None


class StaffDropsPage(BaseModel):
    items: list[StaffDrop]
    total: int
    limit: int
    offset: int
