"""The lottery's request and response models: applications, the public record, the staff view."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from backend.core.schemas import (
    ADDRESS_FORMAT,
    ADDRESS_PATTERN,
    NOT_ZERO_ADDRESS,
    PREFECTURE_PATTERN,
    Email,
    UtcDateTime,
    card_recipient,
)

HEX64 = r"^[0-9a-f]{64}$"
HEX32 = r"^[0-9a-f]{32}$"
RPC_HASH = r"^0x[0-9a-f]{64}$"
RPC_ADDRESS = r"^0x[0-9a-f]{40}$"

#: Two cards of the demo lottery drop (`furusato run` seeds it with its window open).
_APPLICATION_EXAMPLE: JsonDict = {"email": "supporter@example.jp", "prefecture": "27", "quantity": 1}


class ApplicationCreate(BaseModel):
    """A lottery application. The drop is in the path; nothing the server owns is accepted."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [_APPLICATION_EXAMPLE]}
    )

    email: Email
    prefecture: str = Field(pattern=PREFECTURE_PATTERN, description='JIS X 0401 code "01"…"47", or "00" abroad')
    quantity: int = Field(ge=1, le=100, description="cards asked for; at most the drop's per-person limit (409)")
    wallet_address: str | None = Field(
        default=None,
        description="0x address the cards go to if won, checksummed or all lower case; empty or null for none",
        json_schema_extra={
            "pattern": f"^({ADDRESS_PATTERN[1:-1]})?$",
            "format": ADDRESS_FORMAT,
            "not": NOT_ZERO_ADDRESS,
        },
    )
    campaign_code: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

    @field_validator("wallet_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None or value == "" else card_recipient(value)


class ApplicationCreated(BaseModel):
    application_id: str
    #: Shown once (and in the receipt mail's link): the bearer token that reads the application.
    application_token: str
    #: The applicant's receipt: their line in the public list, never linked to them in public.
    entry_id: str = Field(pattern=HEX32)
    drop_id: int
    quantity: int
    applications_close_at: UtcDateTime
    draw_at: UtcDateTime


ApplicationStatus = Literal["applied", "won", "waitlisted", "lost", "promoted", "paid", "expired"]


class ApplicationPublic(BaseModel):
    """An application as its applicant sees it.

    `status`: `applied` until the draw; then `won` (a place: pay by `pay_deadline` with the
    order), `waitlisted` (may be promoted when a winner does not pay), `promoted` (a place
    from the waitlist), `paid` (the place's order is paid), `expired` (a place not paid in
    time), `lost` (the lottery is settled and this entry got no place)."""

    application_id: str
    drop_id: int
    status: ApplicationStatus
    entry_id: str = Field(pattern=HEX32)
    quantity: int
    prefecture: str
    #: 1-based position in the ranking, from the draw.
    rank: int | None
    pay_deadline: UtcDateTime | None
    #: A place's order and the token that reads and pays it (`GET /api/v1/orders/{order_id}`).
    order_id: str | None
    order_token: str | None
    #: The lottery's public state (`announced, open, closed, drawn, settled`).
    lottery_state: str
    applications_close_at: UtcDateTime
    draw_at: UtcDateTime
    created_at: UtcDateTime


class EntryPublic(BaseModel):
    entry_id: str = Field(pattern=HEX32)
    quantity: int


class Anchor(BaseModel):
    """The anchor transaction, once it has the sender's confirmation depth (JSON-RPC spelling)."""

    chain_id: int
    from_: str = Field(alias="from", pattern=RPC_ADDRESS)
    tx_hash: str = Field(pattern=RPC_HASH)
    block_number: int
    block_hash: str = Field(pattern=RPC_HASH)

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class PromotionRound(BaseModel):
    at: UtcDateTime
    lapsed: list[str]
    promoted: list[EntryPublic]


LotteryState = Literal["announced", "open", "closed", "drawn", "settled"]


class LotteryRecord(BaseModel):
    """The draw's public record (algorithm `furusato-lottery-1`, docs/lottery.md).

    Always: `algorithm, state, seed_commitment, applications_close_at, draw_at, supply,
    entries_count`. From the close: `list_hash`, and `anchor` once the anchor transaction has
    the confirmation depth. From the draw: `server_seed, final_seed, winners, waitlist,
    promotions`. A field not reached yet is absent (never null)."""

    algorithm: str
    state: LotteryState
    seed_commitment: str = Field(pattern=HEX64)
    applications_close_at: UtcDateTime
    draw_at: UtcDateTime
    supply: int
    #: Applications so far; fixed at the close.
    entries_count: int
    list_hash: str | None = Field(default=None, pattern=HEX64)
    anchor: Anchor | None = None
    server_seed: str | None = Field(default=None, pattern=HEX64)
    final_seed: str | None = Field(default=None, pattern=HEX64)
    winners: list[EntryPublic] | None = None
    waitlist: list[str] | None = None
    promotions: list[PromotionRound] | None = None


class LotteryEntries(BaseModel):
    """The fixed list, sorted by `entry_id` (its lines hash to `list_hash`)."""

    list_hash: str = Field(pattern=HEX64)
    entries: list[EntryPublic]


class DayCount(BaseModel):
    date: str = Field(description="YYYY-MM-DD, Japan time")
    count: int


class PrefectureCount(BaseModel):
    code: str = Field(description='JIS X 0401 code, "00" abroad')
    count: int


class PlacesSummary(BaseModel):
    """Where the places stand (from the draw on)."""

    #: Entries holding a place now (won or promoted, not lapsed).
    holding: int
    #: Of those, paid.
    paid: int
    #: Places that lapsed unpaid.
    lapsed: int
    #: Entries promoted from the waitlist.
    promoted: int
    #: Cards held by places now (at most the supply).
    cards_held: int


class StaffLottery(BaseModel):
    """A lottery drop's page in the console: applications by day and prefecture, state,
    the public record (with its promotions) and where the places stand."""

    drop_id: int
    state: LotteryState
    applications: int
    cards_asked: int
    by_day: list[DayCount]
    by_prefecture: list[PrefectureCount]
    #: From the draw on.
    places: PlacesSummary | None = None
    #: What the lottery waits for, if anything (e.g. the anchor's confirmations).
    waiting: str | None = None
    record: LotteryRecord
