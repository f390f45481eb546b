"""The staff side of parks and lots: what the console sends and what it reads.

Rules a body must meet are in the schema where JSON Schema can state them (lengths, ranges,
patterns); the others — a default name of at most 64 bytes in UTF-8 (the contract's limit),
times between 2000 and 2200, a term and an auction window that end after they start, an
auction that ends in the future — are `cross_field` 422s naming the rule. Times must carry
their offset (the console sends Japan time); they are stored in UTC, in whole seconds (the
contract's unit). Fields the server owns (phase, chain state, the highest bid) are never
accepted (`extra="forbid"`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from backend.core.schemas import IsoDateTime, UtcDateTime, cross_field, whole_number
from backend.sales.drop_schemas import Description, Title
from minting.naming_rights import name_problem

#: Highest reserve or step in yen (a typo guard; the columns are 32-bit on PostgreSQL and the
#: bids above a reserve must still fit).
MAX_RESERVE_JPY = 100_000_000
#: The soft-close window and the extension: at most a day (the contract takes uint32 seconds).
MAX_SOFT_CLOSE_SECONDS = 86_400
#: A term of at most 30 years, at least a day; an auction of at most 90 days.
MAX_TERM = timedelta(days=30 * 366)
MIN_TERM = timedelta(days=1)
MAX_AUCTION = timedelta(days=90)
#: Moments outside these years are typos (and some do not convert to UTC at all).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
#: A photo file of at most this size, as a data: URL of at most this length.
MAX_PHOTO_BYTES = 300 * 1024
MAX_PHOTO_URL_LENGTH = len("data:image/jpeg;base64,") + 4 * -(-MAX_PHOTO_BYTES // 3)
#: A JPEG, PNG or WebP photo as a data: URL, its base64 complete, or "".
PHOTO_PATTERN = r"^(data:image/(jpeg|png|webp);base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)?$"
_LINE_PATTERN = "^[^\\x00-\\x1f\\x7f]*$"
#: One line with a character that is not a space (as drops' titles: no stripping, which regex
#: engines and Python disagree about; surrounding spaces are trimmed when stored).
_SPACES = "\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_NAME_PATTERN = f"^[^\\x00-\\x1f\\x7f]*[^{_SPACES}][^\\x00-\\x1f\\x7f]*$"


def _default_name(value: str) -> str:
    problem = name_problem(value.strip())
    if problem is not None:
        raise cross_field(f"name_ja is the park's default name on chain: {problem}")
    return value


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise cross_field("a time between 2000-01-01 and 2200-01-01")
    return moment.astimezone(UTC)


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


DefaultName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=_NAME_PATTERN,
        description="the park's default (条例) name, also on chain: at most 64 bytes in UTF-8 (21 kanji)",
    ),
    AfterValidator(_default_name),
]
Line = Annotated[str, Field(max_length=300, pattern=_LINE_PATTERN)]
Moment = Annotated[
    IsoDateTime,
    AfterValidator(_in_range),
    AfterValidator(_whole_second),
    Field(description="RFC 3339 with its offset, e.g. 2027-04-01T00:00:00+09:00 (stored in UTC, whole seconds)"),
]


Yen = Annotated[int, Field(ge=1, le=MAX_RESERVE_JPY), BeforeValidator(whole_number)]
Seconds = Annotated[int, Field(ge=0, le=MAX_SOFT_CLOSE_SECONDS), BeforeValidator(whole_number)]
Photo = Annotated[
    str,
    Field(
        max_length=MAX_PHOTO_URL_LENGTH,
        pattern=PHOTO_PATTERN,
        description=f"a JPEG, PNG or WebP photo as a data: URL (a file of ≤ {MAX_PHOTO_BYTES // 1024} KiB); "
        '"" for none',
    ),
]
Latitude = Annotated[float, Field(ge=-90, le=90, strict=True)]
Longitude = Annotated[float, Field(ge=-180, le=180, strict=True)]

ChainState = Literal["creating", "ready", "failed"]
LotPhase = Literal["auction", "awaiting_payment", "awarded", "unsold"]
LotStatus = Literal["scheduled", "open", "ended", "awaiting_payment", "awarded", "unsold"]
OfferState = Literal["charging", "awaiting_payment", "paid", "lapsed", "declined"]


# ── parks ───────────────────────────────────────────────────────────────────


class ParkCreate(BaseModel):
    """A park whose naming right the town will sell."""

    model_config = ConfigDict(extra="forbid")

    name_ja: DefaultName
    name_en: Title
    description_ja: Description = ""
    description_en: Description = ""
    photo_data_url: Photo = ""
    location_ja: Line = Field(default="", description="where it is, in words, e.g. 星川町大字本郷 1-2")
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise cross_field("latitude and longitude go together (both or neither)")
        return self


def _sent_fields_only(schema: dict[str, Any]) -> None:
    """No `default` in the document: a field not sent is unchanged."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["examples"] = [{"description_ja": "町の真ん中の、桜の広場がある公園です。"}]


class ParkUpdate(BaseModel):
    """A change to a park: only the fields sent change. Its default name is on chain in every
    lot already created; a new name applies to lots created afterwards."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields_only)

    name_ja: DefaultName = None  # type: ignore[assignment]
    name_en: Title = None  # type: ignore[assignment]
    description_ja: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    photo_data_url: Photo = None  # type: ignore[assignment]
    location_ja: Line = None  # type: ignore[assignment]
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class LotSummary(BaseModel):
    id: int
    status: LotStatus
    phase: LotPhase
    term_start: UtcDateTime
    term_end: UtcDateTime
    auction_start: UtcDateTime
    ends_at: UtcDateTime
    highest_bid_jpy: int | None
    bid_count: int
    chain_state: ChainState
    awarded_to: str | None


class StaffPark(BaseModel):
    id: int
    municipality: str
    name_ja: str
    name_en: str
    description_ja: str
    description_en: str
    photo_data_url: str
    location_ja: str
    latitude: float | None
    longitude: float | None
    created_at: UtcDateTime
    #: Newest first.
    lots: list[LotSummary]


class StaffParkListItem(BaseModel):
    id: int
    municipality: str
    name_ja: str
    name_en: str
    location_ja: str
    has_photo: bool
    created_at: UtcDateTime
    lots: list[LotSummary]


class StaffParksPage(BaseModel):
    items: list[StaffParkListItem]
    total: int
    limit: int
    offset: int


# ── lots ────────────────────────────────────────────────────────────────────


class AuctionWindow(BaseModel):
    """An auction's start and end (the end must be after the start, and in the future)."""

    model_config = ConfigDict(extra="forbid")

    auction_start: Moment
    auction_end: Moment

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.auction_end <= self.auction_start:
            raise cross_field("auction_end must be after auction_start")
        if self.auction_end - self.auction_start > MAX_AUCTION:
            raise cross_field(f"an auction runs at most {MAX_AUCTION.days} days")
        return self


class LotCreate(AuctionWindow):
    """A naming right for a term, and its yen auction. `reserve_jpy` is the first bid's
    minimum; `min_increment_jpy` a fixed step (null: max(¥1,000, 5 % of the highest bid));
    a bid with at most `soft_close_seconds` left sets the end to now + `extension_seconds`."""

    term_start: Moment
    term_end: Moment
    reserve_jpy: Yen
    min_increment_jpy: Yen | None = None
    soft_close_seconds: Seconds = 300
    extension_seconds: Seconds = 300

    @model_validator(mode="after")
    def _term(self) -> Self:
        if self.term_end <= self.term_start:
            raise cross_field("term_end must be after term_start")
        if self.term_end - self.term_start < MIN_TERM:
            raise cross_field("a term lasts at least a day")
        if self.term_end - self.term_start > MAX_TERM:
            raise cross_field("a term lasts at most 30 years")
        if self.auction_end >= self.term_end:
            raise cross_field("the auction must end before the term ends")
        return self


class LotRelist(AuctionWindow):
    """A new auction window for an unsold lot (no bid), and optionally a new reserve."""

    reserve_jpy: Yen | None = None


class ChainRecord(BaseModel):
    chain_id: int
    contract: str
    #: The contract's lot id (= token id), once `createLot` is mined.
    lot_id: int | None
    state: ChainState
    #: Why it waits or failed, for staff ("" when ready).
    error: str
    award_tx_hash: str | None


class StaffBidder(BaseModel):
    number: int
    bidder: str = Field(description='the public pseudonym, e.g. "入札者 3"')
    prefecture: str
    payment_method: Literal["demo", "card"]
    payment_state: Literal["ready", "pending"]
    highest_bid_jpy: int | None
    registered_at: UtcDateTime


class StaffBid(BaseModel):
    seq: int
    amount_jpy: int
    bidder: str
    at: UtcDateTime
    ends_at: UtcDateTime


class StaffOffer(BaseModel):
    id: int
    round: int
    bidder: str
    amount_jpy: int
    state: OfferState
    #: Why the off-session charge failed (Stripe's decline code), "" otherwise.
    charge_error: str
    pay_deadline: UtcDateTime | None
    at: UtcDateTime
    settled_at: UtcDateTime | None


class StaffLot(BaseModel):
    id: int
    park_id: int
    park_name_ja: str
    municipality: str
    status: LotStatus
    phase: LotPhase
    term_start: UtcDateTime
    term_end: UtcDateTime
    auction_start: UtcDateTime
    auction_end: UtcDateTime
    ends_at: UtcDateTime
    reserve_jpy: int
    min_increment_jpy: int | None
    minimum_bid_jpy: int
    highest_bid_jpy: int | None
    bid_count: int
    soft_close_seconds: int
    extension_seconds: int
    relist_count: int
    #: The primary winner's address once the right is awarded on chain.
    awarded_to: str | None
    chain: ChainRecord
    created_at: UtcDateTime
    bidders: list[StaffBidder]
    #: Newest first.
    bids: list[StaffBid]
    offers: list[StaffOffer]
