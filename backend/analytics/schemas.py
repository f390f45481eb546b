"""What the staff dashboard's figures answer (`staff_router.py`): one model per figure.

Every count is an exact integer from the rollup (`figures.py`); shares are fractions 0…1
rounded to four places (the console shows percentages), national figures stay in percent as
the survey publishes them (`national_percent`). Dates are Japan days ("YYYY-MM-DD"), months
"YYYY-MM". Staff see exact counts; the public page suppresses small ones (`public_stats.py`).
Only `PersonFacts` names a person, and only staff of the person's town read it.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.core.schemas import UtcDateTime

Interval = Literal["day", "week", "month"]


class Scope(BaseModel):
    """The query the figures answer: the period (inclusive Japan days; null = open), the
    drop (null = all of the town's resident-card drops) and the year of yearly figures."""

    from_day: date | None = Field(default=None, serialization_alias="from", validation_alias="from")
    to_day: date | None = Field(default=None, serialization_alias="to", validation_alias="to")
    drop_id: int | None = None
    year: int

    model_config = {"populate_by_name": True}


class Figure(BaseModel):
    """Fields every figure answers: its scope and when it was read."""

    scope: Scope
    as_of: UtcDateTime = Field(description="When the rollup was read (it trails writes by seconds)")


# ── summary ─────────────────────────────────────────────────────────────────


class Summary(Figure):
    """The dashboard's headline."""

    residents: int = Field(description="People holding at least one card in scope, now")
    cards: int = Field(description="Cards they hold, now")
    new_residents: int = Field(description="People whose first card day is in the period")
    home_prefecture: str
    outside_share: float = Field(description="Residents living outside the home prefecture (abroad included)")
    visitors: int = Field(description="People with at least one visit day in `year`")
    repeat_visitors: int = Field(description="People with at least two distinct visit days in `year`")
    residents_visited: int = Field(description="Current residents in scope who ever visited")
    residents_visited_share: float
    orders: int = Field(description="Orders created in the period (every status)")
    paid: int
    revenue_jpy: int = Field(description="Paid, not refunded orders created in the period, in yen")
    votes: int = Field(description="Cards that voted, all polls")
    voters: int = Field(description="People who voted, summed over polls")
    bidders: int = Field(description="People registered to bid, summed over lots")


# ── prefectures ─────────────────────────────────────────────────────────────


class PrefectureCount(BaseModel):
    code: str = Field(description='JIS X 0401 "01"…"47"; "00" abroad')
    name_ja: str
    name_en: str
    residents: int
    cards: int


class RankedPrefecture(PrefectureCount):
    share: float = Field(description="Of all residents in scope")


class MetroCount(BaseModel):
    key: str
    name_ja: str
    name_en: str
    prefectures: list[str]
    residents: int
    cards: int
    share: float


class Counted(BaseModel):
    residents: int
    cards: int


class Prefectures(Figure):
    """Where the residents live (CONTRACT: `residents`, `cards`, `prefectures` with all 48 codes)."""

    residents: int
    cards: int
    prefectures: list[PrefectureCount] = Field(description='All 48 codes "00"…"47" in order, zeros included')
    home_prefecture: str
    home: Counted = Field(description="Residents in the town's own prefecture")
    outside_share: float
    abroad: Counted
    top: list[RankedPrefecture] = Field(description="Up to 10 prefectures with residents, most first")
    metros: list[MetroCount] = Field(description="三大都市圏: 首都圏, 中京圏, 近畿圏")


# ── residents ───────────────────────────────────────────────────────────────


class Point(BaseModel):
    period: str = Field(description='"YYYY-MM-DD" (day; week: its Monday) or "YYYY-MM" (month)')
    residents: int


class DropSeries(BaseModel):
    drop_id: int
    title_ja: str
    title_en: str
    new_residents: int
    residents: int = Field(description="Residents of this drop now")
    cards: int
    series: list[Point]


class CampaignSeries(BaseModel):
    code: str = Field(description='"" for people who came without a campaign of this town')
    name: str
    new_residents: int
    series: list[Point]


class Residents(Figure):
    """New residents (people, by their first card day) per period, by drop and campaign."""

    interval: Interval
    residents: int = Field(description="Residents in scope now")
    cards: int
    new_residents: int = Field(description="New in the period")
    series: list[Point] = Field(description="Every period from the first to the last, zeros included")
    drops: list[DropSeries]
    campaigns: list[CampaignSeries]


# ── funnel ──────────────────────────────────────────────────────────────────


class FunnelCounts(BaseModel):
    scans: int = 0
    unique_scans: int = Field(default=0, description="Distinct visitors a day, summed over days (and campaigns)")
    bot_scans: int = 0
    orders: int = 0
    paid: int = 0
    minted: int = 0
    refunded: int = 0
    revenue_jpy: int = Field(default=0, description="Paid, not refunded, in yen")


class CampaignFunnel(FunnelCounts):
    code: str
    name: str
    drop_id: int


class Funnel(Figure):
    """Scans → orders → paid → minted → refunded per campaign, orders by their created day."""

    campaigns: list[CampaignFunnel]
    without_campaign: FunnelCounts = Field(description="Orders without a code of this town's campaigns")
    total: FunnelCounts = Field(description="Campaigns and orders without one together")


# ── visits ──────────────────────────────────────────────────────────────────


class MonthVisits(BaseModel):
    month: str
    count: int = Field(description="Check-ins (spots) or redemptions (shops)")
    visitors: int = Field(description="People who came there that month")


class SpotVisits(BaseModel):
    spot_id: int
    name_ja: str
    name_en: str
    activity: str
    check_ins: int
    months: list[MonthVisits]


class BenefitUses(BaseModel):
    benefit_id: int
    title_ja: str
    title_en: str
    redemptions: int


class ShopVisits(BaseModel):
    shop_id: int
    name_ja: str
    name_en: str
    redemptions: int
    months: list[MonthVisits]
    benefits: list[BenefitUses]


class MonthTotals(BaseModel):
    month: str
    check_ins: int
    redemptions: int


class VisitBin(BaseModel):
    bin: Literal["1", "2-7", "8+"]
    people: int
    share: float
    national_percent: float = Field(description="MLIT 2023, percent of visiting 関係人口")


class Visits(Figure):
    """Check-ins and redemptions by place and month; visitors; visit days a year."""

    check_ins: int
    redemptions: int
    months: list[MonthTotals]
    spots: list[SpotVisits]
    shops: list[ShopVisits]
    visitors: int = Field(description="In `year`")
    repeat_visitors: int = Field(description="In `year`")
    visitors_ever: int
    repeat_visitors_ever: int
    bins: list[VisitBin] = Field(description="People by distinct visit days in `year`")
    residents: int
    residents_visited: int
    residents_visited_share: float


# ── participation ───────────────────────────────────────────────────────────


class PollTurnout(BaseModel):
    poll_id: int
    question_ja: str
    question_en: str
    status: str
    opens_at: UtcDateTime
    closes_at: UtcDateTime
    votes: int = Field(description="Cards that voted")
    voters: int = Field(description="People who voted")
    electorate: int | None = Field(description="Cards that may vote (frozen at the opening; null before)")
    turnout: float | None = Field(description="votes / electorate")


class LotBidders(BaseModel):
    lot_id: int
    park_id: int
    park_name_ja: str
    park_name_en: str
    phase: str
    auction_start: UtcDateTime
    bidders: int


class Participation(Figure):
    """Polls (turnout) and naming-right lots (bidders); those opening in the period."""

    polls: list[PollTurnout]
    lots: list[LotBidders]
    votes: int
    voters: int
    electorate: int
    turnout: float | None
    bidders: int


# ── staying ─────────────────────────────────────────────────────────────────


class CardStates(BaseModel):
    first_holder: int = 0
    own_wallet: int = 0
    transferred: int = 0
    revoked: int = 0
    total: int = 0


class DropStates(CardStates):
    drop_id: int
    title_ja: str
    title_en: str


class Staying(Figure):
    """Cards of paid orders by state: with their first holder, moved to an own wallet,
    transferred (resold or given), revoked (refunded)."""

    drops: list[DropStates]
    total: CardStates
    shares: dict[str, float] = Field(description="Each state's share of `total.total`")


# ── categories ──────────────────────────────────────────────────────────────


class CategoryCount(BaseModel):
    code: str
    name_ja: str
    name_en: str
    people: int = Field(description="Primary category (one per person)")
    share: float = Field(description="Of people with a category in the year")
    share_of_visiting: float | None = Field(description="Of visiting people (null for non_visiting)")
    flags: int = Field(description="People who qualify for it (multi-label)")
    flag_share_of_visiting: float | None
    outside_home: int = Field(description="Of `people`, living outside the home prefecture")
    national_2023_percent: float | None = Field(description="MLIT 2023, percent of visiting 関係人口 (multi-answer)")
    national_2019_percent: float | None = Field(description="MLIT 2019, percent of adults (exclusive)")


class Categories(Figure):
    """MLIT categories of the year (primary and flags) beside the national survey."""

    people: int
    visiting: int
    non_visiting: int
    categories: list[CategoryCount]
    rules: list[dict[str, Any]] = Field(description="The rule table: number, category, condition_ja, condition_en")
    national: dict[str, Any]


# ── one person ──────────────────────────────────────────────────────────────


class PersonYear(BaseModel):
    year: int
    category: str
    category_name_ja: str
    category_name_en: str
    flags: list[str]
    visit_days: int
    check_ins: int
    redemptions: int
    votes: int
    designated: int
    explanation_ja: str
    explanation_en: str
    evidence: dict[str, Any]


class PersonFacts(BaseModel):
    """What the town's figures hold about one person (staff only; never public)."""

    person_id: int
    email: str
    prefecture: str
    prefecture_name_ja: str
    resident: bool
    cards: int
    first_card_day: str | None
    category: str
    addresses: list[str]
    years: list[PersonYear]
