"""Spots and check-ins: what the console and the holder's spot page send and read.

Rules JSON Schema can state (lengths, ranges, patterns) are in the schema; the rules between
fields — coordinates come both or neither, a spot that checks the phone's location needs
its coordinates — are `cross_field` 422s naming the rule (also for a PATCH, judged on the
spot as it would become). The spot's code is the server's (generated, unique), never sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from backend.core.schemas import UtcDateTime, cross_field, whole_number
from backend.naming.staff_schemas import Latitude, Line, Longitude
from backend.sales.drop_schemas import Title

#: The radius a spot accepts a phone's location within, in metres (a building to a village).
MIN_RADIUS_M = 10
MAX_RADIUS_M = 5_000
DEFAULT_RADIUS_M = 300
#: The phone's own accuracy counts in the holder's favour up to this many metres.
MAX_ACCURACY_CREDIT_M = 100
#: A kiosk code as the kiosk shows it (digits); longer text is refused as invalid.
KIOSK_CODE_PATTERN = r"^[0-9]{4,12}$"

Radius = Annotated[
    int,
    Field(ge=MIN_RADIUS_M, le=MAX_RADIUS_M, description="metres around the coordinates a check-in is accepted in"),
    BeforeValidator(whole_number),
]
Method = Literal["poster", "kiosk"]
#: What the spot is for: a check-in there counts as that activity for the MLIT categories and
#: premium registration (`backend.analytics.categories.SPOT_ACTIVITIES`).
SpotActivity = Literal["leisure", "event", "work", "telework", "volunteer"]
ACTIVITY_DESCRIPTION = (
    "leisure 飲食・買い物・温泉など, event 町の行事・体験, work 仕事・副業, telework テレワーク, "
    "volunteer ボランティア・地域づくり"
)
#: true or false only (pydantic alone would take 0, 1 and "yes", which JSON Schema's boolean does not).
Flag = Annotated[bool, Field(strict=True)]

NEEDS_COORDINATES = "require_location needs the spot's latitude and longitude"
COORDINATES_TOGETHER = "latitude and longitude go together (both or neither)"


def spot_rule_problem(values: dict[str, Any]) -> str | None:
    """What breaks a rule between a spot's fields (`values`: latitude, longitude,
    require_location), or None."""
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        return COORDINATES_TOGETHER
    if values.get("require_location") and values.get("latitude") is None:
        return NEEDS_COORDINATES
    return None


class SpotCreate(BaseModel):
    """A place where holders check in: by its printed poster, or (`kiosk`) by the rotating
    code of a staffed screen."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name_ja": "星川温泉 ほしの湯",
                    "name_en": "Hoshino-yu hot spring",
                    "place_ja": "星川町本郷 1-2",
                    "latitude": 38.25,
                    "longitude": 140.33,
                    "radius_m": 300,
                    "require_location": False,
                    "kiosk": False,
                    "activity": "leisure",
                }
            ]
        },
    )

    name_ja: Title
    name_en: Title
    place_ja: Line = Field(default="", description="where it is, in words")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: Radius = DEFAULT_RADIUS_M
    require_location: Flag = Field(
        default=False, description="a check-in must send the phone's location, within radius_m (needs coordinates)"
    )
    kiosk: Flag = Field(default=False, description="a check-in needs the staffed kiosk's current code")
    activity: SpotActivity = Field(default="leisure", description=ACTIVITY_DESCRIPTION)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problem = spot_rule_problem(self.model_dump())
        if problem is not None:
            raise cross_field(problem)
        return self


def _sent_fields_only(schema: dict[str, Any]) -> None:
    """No `default` in the document: a field not sent is unchanged."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["examples"] = [{"radius_m": 500, "archived": False}]


class SpotUpdate(BaseModel):
    """A change to a spot: only the fields sent change (`null` clears the coordinates).
    `archived: true` retires it (its poster and kiosk stop checking in; its history stays)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields_only)

    name_ja: Title = None  # type: ignore[assignment]
    name_en: Title = None  # type: ignore[assignment]
    place_ja: Line = None  # type: ignore[assignment]
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    radius_m: Radius = None  # type: ignore[assignment]
    require_location: Flag = None  # type: ignore[assignment]
    kiosk: Flag = None  # type: ignore[assignment]
    activity: SpotActivity = Field(default=None, description=ACTIVITY_DESCRIPTION)  # type: ignore[arg-type]
    archived: Flag = None  # type: ignore[assignment]

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class StaffSpot(BaseModel):
    id: int
    municipality: str
    code: str
    #: The poster's QR: `{public_url}/s/{code}`.
    url: str
    name_ja: str
    name_en: str
    place_ja: str
    latitude: float | None
    longitude: float | None
    radius_m: int
    require_location: bool
    kiosk: bool
    activity: SpotActivity
    created_at: UtcDateTime
    archived_at: UtcDateTime | None
    check_ins_today: int = Field(description="check-ins of today (Japan time)")


class StaffSpotsPage(BaseModel):
    items: list[StaffSpot]
    total: int
    limit: int
    offset: int


class KioskCode(BaseModel):
    """What a kiosk screen shows: a QR of `url`, which carries `code`, until `expires_at`
    (a code is also taken for one window after it, so a scan at the turn still works)."""

    url: str
    code: str
    expires_at: UtcDateTime
    window_seconds: int
    qr_svg: str
    spot: StaffSpot


class StaffCheckIn(BaseModel):
    """One check-in, with nothing personal: `visitor` is a pseudonym of the holder."""

    id: int
    spot_id: int
    spot_name_ja: str
    day: str = Field(description="Japan time, YYYY-MM-DD")
    visitor: str
    method: Method
    distance_m: int | None
    checked_in_at: UtcDateTime


class SpotDayCount(BaseModel):
    spot_id: int
    day: str
    check_ins: int


class StaffCheckInsPage(BaseModel):
    items: list[StaffCheckIn]
    total: int
    limit: int
    offset: int
    #: Check-ins per spot and day of the filtered set (newest day first, at most 100 rows).
    by_spot_and_day: list[SpotDayCount]


# ── the holder's side ───────────────────────────────────────────────────────


class PublicSpot(BaseModel):
    """What the spot's page shows before a check-in."""

    code: str
    name_ja: str
    name_en: str
    place_ja: str
    town: str = Field(description="the town's slug")
    town_ja: str
    town_en: str
    requires_location: bool
    radius_m: int | None = Field(description="when the location is checked")
    kiosk: bool


class CheckInCreate(BaseModel):
    """A check-in. The location is sent only when the spot asks for it, and only the distance
    from the spot is kept; `kiosk_code` is the `k=` of a kiosk's QR."""

    model_config = ConfigDict(extra="forbid")

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    accuracy_m: Annotated[float, Field(ge=0, le=100_000, strict=True)] | None = Field(
        default=None, description="the phone's stated accuracy (metres)"
    )
    kiosk_code: Annotated[str, Field(pattern=KIOSK_CODE_PATTERN)] | None = None

    @model_validator(mode="after")
    def _together(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise cross_field(COORDINATES_TOGETHER)
        return self


class CheckInDone(BaseModel):
    check_in_id: int
    spot: PublicSpot
    day: str = Field(description="Japan time, YYYY-MM-DD")
    method: Method
    distance_m: int | None
    checked_in_at: UtcDateTime
