"""What the shop side and the console send and read about shops, devices, benefits and
redemptions.

Every rule a body must meet is in the schema where JSON Schema can say it (lengths, the
period, at most 50 series, each once); a term that ends before it starts is a `cross_field`
422. Times carry their offset (the console sends Japan time) and are stored in UTC. Fields the
server owns (ids, the town, a device's secrets and status, counts) are never accepted
(`extra="forbid"`). Nothing personal is answered: a redemption names the card (public on
chain), never its buyer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from backend.core.schemas import MAX_ROW_ID, UtcDateTime, cross_field
from backend.holders.pass_token import MAX_PROOF_LENGTH
from backend.sales.drop_schemas import Description, Title, UtcTime

Period = Literal["day", "week", "month", "term"]
Reason = Literal["forged", "expired", "other_town", "unknown_card", "revoked", "not_holder"]
DeviceStatus = Literal["link_pending", "link_expired", "active", "revoked"]
Unavailable = Literal["already_redeemed", "paused"]

#: One line of text (a place, a device's name): no control characters.
_LINE_PATTERN = "^[^\\x00-\\x1f\\x7f]*$"
_LABEL_PATTERN = "^[^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f\\u3000][^\\x00-\\x1f\\x7f]*$"
Line = Annotated[str, Field(max_length=300, pattern=_LINE_PATTERN)]
Label = Annotated[str, Field(min_length=1, max_length=100, pattern=_LABEL_PATTERN)]
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
#: Most series one benefit may name (a town has a handful).
MAX_SERIES = 50


def _unique_ids(ids: list[int]) -> list[int]:
    if len(set(ids)) != len(ids):
        raise ValueError("each series at most once")
    return ids


SeriesIds = Annotated[
    list[RowId],
    AfterValidator(_unique_ids),
    Field(
        max_length=MAX_SERIES,
        description="drop ids whose cards get it, each once; [] = every series of the town",
        json_schema_extra={"uniqueItems": True},
    ),
]
#: true or false only (JSON Schema's boolean): pydantic alone would also take 0, 1 and "yes".
Flag = Annotated[bool, Field(strict=True)]


# ── shared pieces ───────────────────────────────────────────────────────────


class TownRef(BaseModel):
    slug: str
    name_ja: str
    name_en: str


class ShopRef(BaseModel):
    id: int
    name_ja: str
    name_en: str


class SeriesRef(BaseModel):
    drop_id: int
    title_ja: str
    title_en: str


class CardRef(BaseModel):
    chain_id: int
    contract: str
    token_id: int


# ── shop side: verify, redeem, device session ───────────────────────────────


class ProofBody(BaseModel):
    """The pass's QR content as the camera read it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"proof": "v4.public.eyJ2IjoxfQ"}]})

    proof: str = Field(min_length=1, max_length=MAX_PROOF_LENGTH, pattern="^[\\x21-\\x7e]+$")


class VerifyBenefit(BaseModel):
    """A benefit the card may use at the caller's shop (a device) or in the town (staff)."""

    id: int
    #: The Japanese title (DESIGN.md's `title`); both languages follow.
    title: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    shop: ShopRef
    period: Period
    available: bool
    #: Why not, when not: used already in this period, or paused by the town.
    unavailable_reason: Unavailable | None
    #: When and where this card used it in the current period.
    last_redeemed_at: UtcDateTime | None
    last_redeemed_shop: ShopRef | None
    #: When the next period starts (None: a once-per-term benefit never comes back).
    available_again_at: UtcDateTime | None


class VerifyResult(BaseModel):
    """The answer a clerk's screen turns green or red: always 200 for a well-formed request."""

    valid: bool
    reason: Reason | None = Field(description="why not, when `valid` is false")
    message_ja: str | None
    message_en: str | None
    town: TownRef | None
    series: SeriesRef | None
    #: The card's number as printed ("0042").
    number: str | None
    card: CardRef | None
    #: When the proof stops being good (a screenshot is stale by then).
    expires_at: UtcDateTime | None
    benefits: list[VerifyBenefit]


class RedemptionCreated(BaseModel):
    redemption_id: int
    benefit_id: int
    period_key: str
    redeemed_at: UtcDateTime
    shop: ShopRef
    number: str
    series: SeriesRef
    available_again_at: UtcDateTime | None


class DeviceLink(BaseModel):
    """The link a shop phone opened: `…/verify/#link=<secret>`, or the secret alone."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"link": "AbCdEf0123456789"}]})

    link: str = Field(min_length=16, max_length=600, pattern="^[\\x21-\\x7e]+$")


class DeviceSession(BaseModel):
    #: `Authorization: Bearer <device_token>` from now on; shown once.
    device_token: str
    device_id: int
    label: str
    shop: ShopRef
    town: TownRef


class VerifierMe(BaseModel):
    kind: Literal["device", "staff"]
    town: TownRef
    #: A device's shop (staff verify for every shop of the town).
    shop: ShopRef | None
    device_id: int | None
    label: str | None
    email: str | None
    role: str | None


class RedemptionItem(BaseModel):
    id: int
    benefit_id: int
    benefit_title_ja: str
    benefit_title_en: str
    shop: ShopRef
    period_key: str
    redeemed_at: UtcDateTime
    series: SeriesRef
    card: CardRef
    number: str
    #: Who tapped: "device:{id} {label}" or a staff member's e-mail.
    by: str


class StaffRedemptionItem(RedemptionItem):
    #: The card's owner on chain when it was used (pseudonymous), for visit figures.
    holder_address: str


class RedemptionsPage(BaseModel):
    items: list[RedemptionItem]
    total: int
    limit: int
    offset: int


class StaffRedemptionsPage(BaseModel):
    items: list[StaffRedemptionItem]
    total: int
    limit: int
    offset: int


# ── staff: shops ────────────────────────────────────────────────────────────


class ShopCreate(BaseModel):
    """A shop or facility of the town where holders use benefits."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name_ja": "星川温泉", "name_en": "Hoshikawa Onsen", "place_ja": "本郷 3-1"}]},
    )

    name_ja: Title
    name_en: Title
    place_ja: Line = Field(default="", description="where it is, in words")


def _sent_fields_only(example: dict[str, Any]) -> Any:
    def edit(schema: dict[str, Any]) -> None:
        """No `default` in the document: a field not sent is unchanged."""
        for prop in schema.get("properties", {}).values():
            prop.pop("default", None)
        schema["examples"] = [example]

    return edit


class ShopUpdate(BaseModel):
    """Only the fields sent change. `archived: true` closes the shop: its devices stop working
    and its benefits cannot be redeemed; its history stays."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields_only({"place_ja": "本郷 3-2"}))

    name_ja: Title = None  # type: ignore[assignment]
    name_en: Title = None  # type: ignore[assignment]
    place_ja: Line = None  # type: ignore[assignment]
    archived: Flag = None  # type: ignore[assignment]

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class StaffShop(BaseModel):
    id: int
    name_ja: str
    name_en: str
    place_ja: str
    created_at: UtcDateTime
    archived_at: UtcDateTime | None
    #: Devices signed in and not revoked.
    active_devices: int
    benefits: int


class StaffShopsPage(BaseModel):
    items: list[StaffShop]
    total: int
    limit: int
    offset: int


# ── staff: devices ──────────────────────────────────────────────────────────


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"label": "受付のスマホ"}]})

    label: Label = Field(description="a name staff give the phone; no personal data")


class StaffDevice(BaseModel):
    """A device as staff see it: never its link or token."""

    id: int
    shop_id: int
    label: str
    status: DeviceStatus
    link_expires_at: UtcDateTime
    paired_at: UtcDateTime | None
    last_seen_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    created_at: UtcDateTime


class DeviceCreated(BaseModel):
    device_id: int
    #: `{public_url}/verify/#link=<secret>`: open it on the shop's phone (single use, 24 h). Shown once.
    link_url: str
    #: The link as a QR code (SVG), for the shop's phone to scan off the officer's screen.
    qr_svg: str
    expires_at: UtcDateTime
    device: StaffDevice


class StaffDevicesPage(BaseModel):
    items: list[StaffDevice]
    total: int
    limit: int
    offset: int


# ── staff: benefits ─────────────────────────────────────────────────────────


def _term_in_order(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise cross_field("ends_at must be after starts_at")


class BenefitCreate(BaseModel):
    """What a card gives at a shop, once per day, ISO week, month (Japan time) or term. Never a
    number of uses: a benefit that loses value with use would be a prepaid instrument."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title_ja": "日帰り入浴無料",
                    "title_en": "Free day bath",
                    "shop_id": 1,
                    "period": "month",
                    "series": [],
                }
            ]
        },
    )

    title_ja: Title
    title_en: Title
    description_ja: Description = ""
    description_en: Description = ""
    shop_id: RowId
    period: Period
    series: SeriesIds = []
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None

    @model_validator(mode="after")
    def _term(self) -> Self:
        _term_in_order(self.starts_at, self.ends_at)
        return self


class BenefitUpdate(BaseModel):
    """Only the fields sent change: pause or resume (`active`), the texts, the term. The shop,
    the period and the series stay (redemptions already made are keyed by them)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields_only({"active": False}))

    active: Flag = None  # type: ignore[assignment]
    title_ja: Title = None  # type: ignore[assignment]
    title_en: Title = None  # type: ignore[assignment]
    description_ja: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    starts_at: UtcTime | None = None
    ends_at: UtcTime | None = None

    @model_validator(mode="after")
    def _term(self) -> Self:
        _term_in_order(self.starts_at, self.ends_at)
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class StaffBenefit(BaseModel):
    id: int
    shop: ShopRef
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    period: Period
    #: [] = every series of the town, later ones too.
    series: list[SeriesRef]
    starts_at: UtcDateTime | None
    ends_at: UtcDateTime | None
    active: bool
    created_at: UtcDateTime
    redemptions: int


class StaffBenefitsPage(BaseModel):
    items: list[StaffBenefit]
    total: int
    limit: int
    offset: int
