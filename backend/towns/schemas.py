"""Towns' request and response models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from backend.analytics.categories import ACTIVITIES
from backend.analytics.tier_schemas import Activity
from backend.core.schemas import ADDRESS_FORMAT, ADDRESS_PATTERN, NOT_ZERO_ADDRESS, card_recipient, whole_number

#: A town's home prefecture: JIS X 0401 "01"…"47" ("00", abroad, is for supporters only).
HOME_PREFECTURE_PATTERN = r"^(0[1-9]|[1-3][0-9]|4[0-7])$"
COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"
#: A logo file of at most this size (the settings page says so too)…
MAX_LOGO_BYTES = 200 * 1024
#: …is a data: URL of at most this length (base64 makes 4 characters of each 3 bytes).
MAX_LOGO_URL_LENGTH = len("data:image/svg+xml;base64,") + 4 * -(-MAX_LOGO_BYTES // 3)
#: A PNG or SVG logo as a data: URL, its base64 complete (padded to a multiple of 4), or "".
LOGO_PATTERN = r"^(data:image/(png|svg\+xml);base64,(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)?$"

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S", description="shown on every page")]
#: Public statistics: the smallest count shown (smaller ones are "x"); DESIGN.md: never below 3.
MIN_STATS_THRESHOLD = 3
MAX_STATS_THRESHOLD = 100
#: Days to complete a holder's deletion request (APPI: a decision within 30 days is the rule).
MAX_DATA_REQUEST_DAYS = 90
#: Designated activities a year for a premium candidate (the national scheme: three).
MAX_PREMIUM_THRESHOLD = 50
Description = Annotated[str, Field(max_length=5_000)]


def _distinct(values: list[str]) -> list[str]:
    """JSON Schema's `uniqueItems`, enforced: an activity listed twice would count once,
    which the town did not mean."""
    if len(set(values)) != len(values):
        raise ValueError("each activity at most once")
    return values


StatsThreshold = Annotated[
    int,
    Field(
        ge=MIN_STATS_THRESHOLD,
        le=MAX_STATS_THRESHOLD,
        description='public statistics show a count below this as "x" (and a second cell where a total would '
        "reveal it)",
    ),
    BeforeValidator(whole_number),
]
DataRequestDays = Annotated[
    int,
    Field(ge=1, le=MAX_DATA_REQUEST_DAYS, description="days the town gives itself to complete a deletion request"),
    BeforeValidator(whole_number),
]
PremiumActivities = Annotated[
    list[Activity],
    Field(
        min_length=1,
        max_length=len(ACTIVITIES),
        json_schema_extra={"uniqueItems": True},
        description="activities that count towards premium registration (ふるさと住民登録)",
    ),
    AfterValidator(_distinct),
]
PremiumThreshold = Annotated[
    int,
    Field(ge=1, le=MAX_PREMIUM_THRESHOLD, description="designated activities a year that make a premium candidate"),
    BeforeValidator(whole_number),
]


class MunicipalityPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name_ja: str
    name_en: str
    prefecture: str
    description_ja: str
    description_en: str
    brand_colour: str = Field(description="#RRGGBB, the town's colour on its pages and cards")
    logo_data_url: str = Field(description='a PNG or SVG logo as a data: URL; "" for none')


class MunicipalitiesPage(BaseModel):
    items: list[MunicipalityPublic]
    total: int
    limit: int
    offset: int


#: An address: the syntax, not the zero address, EIP-55 when mixed case (`card_recipient`).
Address = Annotated[
    str, Field(json_schema_extra={"pattern": ADDRESS_PATTERN, "format": ADDRESS_FORMAT, "not": NOT_ZERO_ADDRESS})
]


def _sent_fields_only(schema: dict[str, Any]) -> None:
    """No `default` in the document: a field not sent is unchanged, not set to null."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["examples"] = [{"brand_colour": "#c2185b", "description_ja": "さくらの町。"}]


class TownSettingsUpdate(BaseModel):
    """A change to the town's settings: only the fields sent change. Owners only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields_only)

    # Fields with no empty value take no `null` either (the schema says so): a field that is
    # not sent stays as it is. Their Python default None only marks "not sent".
    name_ja: Name = None  # type: ignore[assignment]
    name_en: Name = None  # type: ignore[assignment]
    description_ja: Description = None  # type: ignore[assignment]
    description_en: Description = None  # type: ignore[assignment]
    prefecture: str = Field(  # type: ignore[assignment]
        default=None, pattern=HOME_PREFECTURE_PATTERN, description='the town\'s prefecture, JIS X 0401 "01"…"47"'
    )
    treasury: Address | None = Field(
        default=None,
        description="0x address receiving on-chain proceeds and royalties (checksummed or all lower case); "
        "null: the deployment's admin account. Towns with their own contracts have it set on chain.",
    )
    royalty_receiver: Address | None = Field(
        default=None,
        description="0x address recorded as the royalty receiver. ResidentCard pays ERC-2981 royalties to its "
        "treasury, so on chain this is the treasury whatever is stored here.",
    )
    brand_colour: str = Field(default=None, pattern=COLOUR_PATTERN, description="#RRGGBB")  # type: ignore[assignment]
    logo_data_url: str = Field(  # type: ignore[assignment]
        default=None,
        max_length=MAX_LOGO_URL_LENGTH,
        pattern=LOGO_PATTERN,
        description=(
            f"data:image/png;base64,… or data:image/svg+xml;base64,… (a file of ≤ {MAX_LOGO_BYTES // 1024} KiB);"
            ' "" removes it'
        ),
    )
    editors_may_refund: bool = Field(default=None, strict=True)  # type: ignore[assignment]
    posts_need_approval: bool = Field(  # type: ignore[assignment]
        default=None,
        strict=True,
        description="true: announcements and polls wait for a moderator's (or owner's) approval before they go out",
    )
    stats_threshold: StatsThreshold = None  # type: ignore[assignment]
    data_request_days: DataRequestDays = None  # type: ignore[assignment]
    #: A change of these two marks the town for recomputation (every person's designated count).
    premium_activities: PremiumActivities = None  # type: ignore[assignment]
    premium_threshold: PremiumThreshold = None  # type: ignore[assignment]

    @field_validator("treasury", "royalty_receiver")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else card_recipient(value)


class ChainTreasury(BaseModel):
    """What the town's own ResidentCard holds on chain, read now."""

    treasury: str
    royalty_bps: int
    #: The stored treasury and royalty are on chain (False: a change is on its way, or its
    #: sending failed; saving the settings again sends it).
    in_sync: bool


class TownContractsView(BaseModel):
    state: Literal["deploying", "ready"]
    #: Whether the town has contracts of its own (False: the deployment's, as the demo town).
    own: bool
    card_contract: str | None
    rights_contract: str | None


class TownSettings(BaseModel):
    """The town's settings as staff see them."""

    slug: str
    name_ja: str
    name_en: str
    description_ja: str
    description_en: str
    prefecture: str
    treasury: str | None
    royalty_receiver: str | None
    royalty_bps: int
    brand_colour: str
    logo_data_url: str
    editors_may_refund: bool
    #: Announcements and polls wait for a moderator's (or owner's) approval when true.
    posts_need_approval: bool
    #: Public statistics show any count below this as "x" (3–100).
    stats_threshold: int
    #: Days to complete a holder's deletion request (1–90).
    data_request_days: int
    #: Premium registration: the activities that count, and how many a year make a candidate.
    premium_activities: list[Activity]
    premium_threshold: int
    contracts: TownContractsView
    #: The treasury on the town's own ResidentCard; null for a town without contracts of its
    #: own (its settings are stored only), when the node does not answer, or when this server
    #: holds no admin key (FURUSATO_DEPLOYER_KEY) to set it with.
    on_chain: ChainTreasury | None
