"""Registration tiers (ふるさと住民登録): what staff read about premium candidates and send
when they decide, and what a holder reads about their own tier.

Kept apart from the dashboard's `schemas.py` (another helper's) so each area's answers
change on their own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.analytics.categories import ACTIVITIES, CATEGORIES
from backend.core.schemas import UtcDateTime

#: Years a registration can be about: the platform's (and the national scheme's) lifetime,
#: bounded so a typo cannot name year 20260.
MIN_YEAR = 2020
MAX_YEAR = 2100
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR, strict=True, description="calendar year (Japan time)")]

Activity = Literal["visit_day", "benefit", "event", "volunteer", "work", "telework", "vote", "naming"]
Category = Literal["direct", "work", "telework", "participation", "hobby", "non_visiting"]
Decision = Literal["approved", "declined"]
#: A candidate's review state in the list's filter: not decided yet, or decided either way.
ReviewState = Literal["pending", "approved", "declined"]
Tier = Literal["basic", "premium"]

assert set(Activity.__args__) == set(ACTIVITIES)  # type: ignore[attr-defined]
assert set(Category.__args__) == set(CATEGORIES)  # type: ignore[attr-defined]


class ReviewBody(BaseModel):
    """Staff's decision on a candidate for one year; the note is for the town's own record
    (the audit log keeps it too), never shown to the holder."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"year": 2026, "note": "ボランティア3回、証明書を確認"}]},
    )

    year: Year
    note: Annotated[str, Field(max_length=2_000)] = ""


class PremiumReviewOut(BaseModel):
    decision: Decision
    note: str
    decided_at: UtcDateTime
    #: The deciding staff member's e-mail (null when that member was since removed).
    decided_by: str | None


class PremiumCandidate(BaseModel):
    """One person of the town with their year's designated activities and evidence."""

    person_id: int
    email: str
    prefecture: str = Field(description='JIS X 0401 "00"–"47" of their latest paid order; "" unknown')
    year: int
    designated: int = Field(description="count of the town's designated activities in the year")
    threshold: int
    #: designated ≥ threshold now (a decided person may have fallen below since the decision).
    candidate: bool
    #: Every activity's count in the year; `counted` names those the town designated.
    activities: dict[Activity, int]
    counted: list[Activity]
    category: Category | Literal[""]
    category_ja: str
    category_en: str
    flags: list[Category]
    explanation_ja: str
    explanation_en: str
    #: The facts the category and count came from (visit days, check-ins by spot activity, …).
    evidence: dict[str, Any]
    review: PremiumReviewOut | None


class PremiumRule(BaseModel):
    """The town's rule (settings): which activities count, and how many a year."""

    activities: list[Activity]
    threshold: int


class PremiumCandidatesPage(BaseModel):
    year: int
    rule: PremiumRule
    items: list[PremiumCandidate]
    total: int
    limit: int
    offset: int
    #: Over the whole year, whatever the filter: people at or above the threshold, and reviews.
    candidates: int
    approved: int
    declined: int


class TownTier(BaseModel):
    """The holder's tier in one town for the year: basic for every person of the town,
    premium once staff approved them for the year."""

    slug: str
    name_ja: str
    name_en: str
    tier: Tier
    year: int


class Registration(BaseModel):
    towns: list[TownTier]
