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

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from backend.core.schemas import IsoDateTime, UtcDateTime, cross_field

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
    IsoDateTime,
    AfterValidator(_utc),
    Field(description="RFC 3339 with its offset, e.g. 2026-04-01T10:00:00+09:00 (stored in UTC)"),
]
#: Text is taken exactly as the schema states it (no stripping, which regex engines and
#: Python disagree about): no control characters (PostgreSQL refuses NUL; a title is one
#: line), and a title has a character that is not a space. Surrounding spaces are trimmed
#: when stored.
_SPACES = "\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_TITLE_PATTERN = f"^[^\\x00-\\x1f\\x7f]*[^{_SPACES}][^\\x00-\\x1f\\x7f]*$"
_TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"
Title = Annotated[str, Field(min_length=1, max_length=200, pattern=_TITLE_PATTERN)]
Description = Annotated[str, Field(max_length=5_000, pattern=_TEXT_PATTERN)]
Price = Annotated[int, Field(ge=0, le=MAX_PRICE_JPY, description="yen per card")]
Supply = Annotated[int, Field(ge=1, le=MAX_SUPPLY, description="cards in the drop")]
PerBuyer = Annotated[int, Field(ge=1, le=MAX_PER_BUYER, description="cards one person (email or wallet) may buy")]
MethodList = Annotated[
    list[PaymentMethod],
    AfterValidator(_unique),
    Field(min_length=1, max_length=3, description="how buyers may pay; each at most once"),
]
UNIQUE: dict[str, Any] = {"uniqueItems": True}
Methods = Annotated[MethodList, Field(json_schema_extra=UNIQUE)]
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
    """Raise the first rule between fields that `terms` break, as a `cross_field` error (JSON
    Schema cannot compare two fields; the OpenAPI document's descriptions state these)."""
    if terms.ends_at is not None and terms.ends_at <= terms.starts_at:
        raise cross_field("ends_at must be after starts_at")
    if terms.per_buyer_limit > terms.supply:
        raise cross_field("per_buyer_limit cannot exceed supply")
    if terms.price_jpy == 0 and "card" in terms.payment_methods:
        raise cross_field("a free drop (price_jpy 0) cannot be paid by card")
    lottery = (terms.applications_close_at, terms.draw_at, terms.pay_within_hours)
    if terms.sale_mode == "first_come":
        if any(value is not None for value in lottery):
            raise cross_field("applications_close_at, draw_at and pay_within_hours are for lottery drops only")
        return
    if terms.applications_close_at is None or terms.draw_at is None or terms.pay_within_hours is None:
        raise cross_field("a lottery drop needs applications_close_at, draw_at and pay_within_hours")
    if terms.applications_close_at <= terms.starts_at:
        raise cross_field("applications_close_at must be after starts_at (applications open then)")
    if terms.draw_at < terms.applications_close_at:
        raise cross_field("draw_at cannot be before applications_close_at")
    paid_by = terms.draw_at + timedelta(hours=terms.pay_within_hours)
    if terms.ends_at is not None and terms.ends_at < paid_by:
        raise cross_field("ends_at cannot be before the winners' time to pay ends (draw_at + pay_within_hours)")


#: What the console's wizard sends for a first-come drop (times in Japan time).
EXAMPLE: dict[str, Any] = {
    "kind": "resident_card",
    "sale_mode": "first_come",
    "title_ja": "星川町 デジタル住民票 第2期",
    "title_en": "Hoshikawa digital resident card, second issue",
    "description_ja": "先着500枚。番号があなたの住民番号になります。",
    "description_en": "500 cards, first come first served. The number on your card is your resident number.",
    "price_jpy": 1000,
    "supply": 500,
    "per_buyer_limit": 5,
    "starts_at": "2027-04-01T10:00:00+09:00",
    "ends_at": "2027-06-30T23:59:59+09:00",
    "soulbound": False,
    "payment_methods": ["card", "wallet"],
}


class DropCreate(DropTermsBase):
    """A new draft drop (DESIGN.md, the town's side).

    Rules between fields (422 `invalid_request`, each error of type `cross_field`): `ends_at`
    after `starts_at`; `per_buyer_limit` at most `supply`; a free drop (`price_jpy` 0) not
    paid by card; a lottery drop has `applications_close_at` after `starts_at`, `draw_at` not
    before it, `pay_within_hours`, and `ends_at` (if any) not before the draw plus that time;
    a first-come drop has none of the three."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

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


def _optional(extra: dict[str, Any] | None = None) -> Any:
    """A field that may be left out but, when sent, not be null (the document says no null)."""

    def schema(field: dict[str, Any]) -> None:
        field.pop("default", None)
        field.update(extra or {})

    return Field(default=None, json_schema_extra=schema)


class DropUpdate(BaseModel):
    """A change to a drop: only the fields sent change; `null` clears `ends_at` and the lottery
    fields (the others may be changed, not cleared).

    Drafts may change anything; live and paused drops their texts, payment methods and
    lottery dates, and — while no card is sold — price, limit and window (the series on chain
    follows) and supply downwards. The result must keep the rules between fields of
    `DropCreate` (422, errors of type `cross_field`)."""

    model_config = ConfigDict(extra="forbid")

    sale_mode: SaleMode = _optional()
    title_ja: Title = _optional()
    title_en: Title = _optional()
    description_ja: Description = _optional()
    description_en: Description = _optional()
    price_jpy: Price = _optional()
    supply: Supply = _optional()
    per_buyer_limit: PerBuyer = _optional()
    starts_at: UtcTime = _optional()
    ends_at: UtcTime | None = None
    soulbound: bool = _optional()
    payment_methods: MethodList = _optional(UNIQUE)
    applications_close_at: UtcTime | None = None
    draw_at: UtcTime | None = None
    pay_within_hours: PayWithin | None = None

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
    starts_at: UtcDateTime
    ends_at: UtcDateTime | None
    soulbound: bool
    payment_methods: list[str]
    applications_close_at: UtcDateTime | None
    draw_at: UtcDateTime | None
    pay_within_hours: int | None
    #: Why the last publish failed (the drop went back to draft), else null.
    publish_error: str | None
    chain_id: int
    contract: str
    series_id: int | None
    first_token_id: int | None
    created_at: UtcDateTime
    published_at: UtcDateTime | None


class StaffDropsPage(BaseModel):
    items: list[StaffDrop]
    total: int
    limit: int
    offset: int
