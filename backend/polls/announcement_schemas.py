"""Announcements' request and response models (staff, holders, unsubscribe).

Limits are in the schema (OpenAPI shows them): titles one line of at most 200 characters
with something that is not a space; bodies at most `MAX_BODY` characters, line breaks
allowed, no other control characters; at most `MAX_SERIES` series. `send_at` carries its
offset (the console sends Japan time) and lies between 2000 and 2200; null: as soon as it is
scheduled. Fields the server owns (status, author, approver, counts) are never accepted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from backend.core.schemas import MAX_ROW_ID, IsoDateTime, UtcDateTime, cross_field, whole_number
from backend.sales.drop_schemas import Title

MAX_BODY = 10_000
MAX_SERIES = 50
MAX_REASON = 1_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
_SPACES = "\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_BODY_PATTERN = f"^[^{_CONTROL}]*[^{_SPACES}][^{_CONTROL}]*$"

AnnouncementStatus = Literal["draft", "pending_approval", "scheduled", "sending", "sent", "rejected", "cancelled"]

Body = Annotated[
    str,
    Field(min_length=1, max_length=MAX_BODY, pattern=_BODY_PATTERN, description="plain text; line breaks kept"),
]
DropId = Annotated[int, Field(ge=1, le=MAX_ROW_ID), BeforeValidator(whole_number)]
Series = Annotated[
    list[DropId],
    Field(max_length=MAX_SERIES, description="drop ids of the town's card series; [] = every series of the town"),
]


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise cross_field("send_at: a time between 2000-01-01 and 2200-01-01")
    return moment.astimezone(UTC)


SendAt = Annotated[
    IsoDateTime,
    AfterValidator(_in_range),
    Field(description="RFC 3339 with its offset, e.g. 2027-04-01T09:00:00+09:00; null: when scheduled"),
]

_EXAMPLE: JsonDict = {
    "title_ja": "春の湯めぐりのお知らせ",
    "title_en": "Spring hot-spring days",
    "body_ja": "4月の毎週末、町内の温泉を住民票カードで無料でご利用いただけます。",
    "body_en": "Every weekend in April, card holders bathe free at the town's hot springs.",
    "series": [],
    "send_at": None,
}


class AnnouncementCreate(BaseModel):
    """A draft announcement, in both languages."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title_ja: Title
    title_en: Title
    body_ja: Body
    body_en: Body
    series: Series = []
    send_at: SendAt | None = None

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"series"})


def _sent_fields_only(schema: dict[str, Any]) -> None:
    """No `default` in the document: a field not sent is unchanged."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["examples"] = [{"title_en": "Spring hot-spring days (updated)"}]


class AnnouncementUpdate(BaseModel):
    """A change to a draft (or a rejected announcement): only the fields sent change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_sent_fields_only)

    title_ja: Title = None  # type: ignore[assignment]
    title_en: Title = None  # type: ignore[assignment]
    body_ja: Body = None  # type: ignore[assignment]
    body_en: Body = None  # type: ignore[assignment]
    series: Series = None  # type: ignore[assignment]
    send_at: SendAt | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"series"})

    def new_series(self) -> list[int] | None:
        return self.series if "series" in self.model_fields_set else None


class AnnouncementReject(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "日付の誤りを直してください"}]}
    )

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON, pattern=_BODY_PATTERN)]


class DeliveryCounts(BaseModel):
    """The copies made when sending started (all 0 before): one per address."""

    recipients: int
    pending: int
    sent: int
    #: Not mailed: unsubscribed from the town's mail (or refused by the mail server).
    skipped: int


class StaffAnnouncement(BaseModel):
    id: int
    municipality: str
    status: AnnouncementStatus
    title_ja: str
    title_en: str
    body_ja: str
    body_en: str
    #: Drop ids; [] = every series of the town.
    series: list[int]
    send_at: UtcDateTime | None
    created_by: str | None
    approved_by: str | None
    reject_reason: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    started_at: UtcDateTime | None
    sent_at: UtcDateTime | None
    #: Addresses fixed when sending started (null before).
    recipients: int | None
    deliveries: DeliveryCounts


class StaffAnnouncementsPage(BaseModel):
    items: list[StaffAnnouncement]
    total: int
    limit: int
    offset: int


class AnnouncementTown(BaseModel):
    slug: str
    name_ja: str
    name_en: str


class HolderAnnouncement(BaseModel):
    id: int
    town: AnnouncementTown
    title_ja: str
    title_en: str
    body_ja: str
    body_en: str
    sent_at: UtcDateTime


class HolderAnnouncementsPage(BaseModel):
    items: list[HolderAnnouncement]
    total: int
    limit: int
    offset: int


class Unsubscribed(BaseModel):
    """The address no longer gets the town's announcement mail (they stay on "my card")."""

    unsubscribed: Literal[True]
    town: AnnouncementTown


class UnsubscribeHint(BaseModel):
    """GET's answer to a non-browser: what POST would do (a GET never unsubscribes)."""

    town: AnnouncementTown
    unsubscribed: bool
    #: POST this URL to unsubscribe (RFC 8058 one-click).
    post_to: str
