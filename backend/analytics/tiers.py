"""Registration tiers (ふるさと住民登録): every person of a town is basic; staff make a person
premium for a year after reading their evidence.

Who is a candidate: a person whose count of the town's designated activities in the year
(`analytics_person_years.designated`, kept by the rollup from the town's rule in settings)
is at least the town's `premium_threshold`. The national scheme asks for at least three
designated activities a year, proved to and reviewed by the town; here the platform's own
records are the proof, and the review is staff's decision (`premium_reviews`, one per person
and year, audited). The term is the calendar year in Japan time, so a holder is premium in
year Y when approved for Y, and a new review is due every year (yearly renewal).

Nothing of it goes on chain, and the audit row names the person by id only: the audit log is
hash-chained and never rewritten, while an erasure (APPI) must be able to remove the e-mail.
Readers here only read rollup rows; they never recompute a person in a request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CompoundSelect, Select, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.analytics.categories import (
    ACTIVITIES,
    CATEGORIES,
    CATEGORY_NAMES,
    activity_counts,
    activity_from_evidence,
    classify,
    facts,
    parse_activities,
)
from backend.analytics.models import AnalyticsPerson, AnalyticsPersonAddress, AnalyticsPersonYear, PremiumReview
from backend.analytics.tier_schemas import (
    PremiumCandidate,
    PremiumCandidatesPage,
    PremiumReviewOut,
    PremiumRule,
    ReviewState,
    Tier,
    TownTier,
)
from backend.core.db import utcnow
from backend.staff.models import StaffMember
from backend.towns.models import Municipality

JST: Final = ZoneInfo("Asia/Tokyo")

#: The CSV of candidates: one row per person, the evidence flattened to counts.
CSV_HEADER: Final[tuple[str, ...]] = (
    "person_id",
    "email",
    "prefecture",
    "year",
    "designated",
    "threshold",
    "candidate",
    *(f"activity_{name}" for name in ACTIVITIES),
    "category",
    "category_ja",
    "flags",
    "explanation_ja",
    "explanation_en",
    "decision",
    "note",
    "decided_at",
    "decided_by",
)


class TierRefused(Exception):
    """A decision the state forbids: `not_candidate` (below the threshold that year) or
    `already_decided` (a review for that year exists); answered as a 409."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def japan_year(now: datetime) -> int:
    """The calendar year in Japan at `now`: the registration's yearly term."""
    return now.astimezone(JST).year


def rule_of(town: Municipality) -> PremiumRule:
    """The town's premium rule from its settings columns."""
    return PremiumRule(activities=list(parse_activities(town.premium_activities)), threshold=town.premium_threshold)  # type: ignore[arg-type]


# ── reading candidates ──────────────────────────────────────────────────────


def _live(town_id: int) -> ColumnElement[bool]:
    """People of the town who were not erased (an erased row keeps counts, not a person)."""
    return and_(AnalyticsPerson.municipality_id == town_id, AnalyticsPerson.email.is_not(None))


def _listed_ids(town_id: int, year: int, threshold: int) -> CompoundSelect[int]:
    """Who the year's list shows: candidates now (through the candidates index) and everyone
    already decided for the year (a decided person stays listed if their count fell since)."""
    at_threshold = select(AnalyticsPersonYear.person_id).where(
        AnalyticsPersonYear.municipality_id == town_id,
        AnalyticsPersonYear.year == year,
        AnalyticsPersonYear.designated >= threshold,
    )
    decided = select(PremiumReview.person_id).where(
        PremiumReview.municipality_id == town_id, PremiumReview.year == year
    )
    return at_threshold.union(decided)


def _listed(
    town_id: int, year: int, threshold: int, state: ReviewState | None
) -> Select[AnalyticsPerson, AnalyticsPersonYear, PremiumReview, str]:
    ids = _listed_ids(town_id, year, threshold).subquery()
    query = (
        select(AnalyticsPerson, AnalyticsPersonYear, PremiumReview, StaffMember.email)
        .join(ids, ids.c.person_id == AnalyticsPerson.id)
        .outerjoin(
            AnalyticsPersonYear,
            and_(AnalyticsPersonYear.person_id == AnalyticsPerson.id, AnalyticsPersonYear.year == year),
        )
        .outerjoin(PremiumReview, and_(PremiumReview.person_id == AnalyticsPerson.id, PremiumReview.year == year))
        .outerjoin(StaffMember, StaffMember.id == PremiumReview.staff_id)
        .where(_live(town_id))
    )
    if state == "pending":
        query = query.where(PremiumReview.id.is_(None))
    elif state is not None:
        query = query.where(PremiumReview.decision == state)
    return query


def _evidence(row: AnalyticsPersonYear | None) -> dict[str, Any]:
    if row is None:
        return {}
    try:
        data = json.loads(row.evidence or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def candidate_view(
    person: AnalyticsPerson,
    year_row: AnalyticsPersonYear | None,
    review: PremiumReview | None,
    decided_by: str | None,
    rule: PremiumRule,
    year: int,
) -> PremiumCandidate:
    """One person's line: counts, category and explanation from the rollup's row.

    The row's category and designated count are the rollup's (authoritative); the evidence
    JSON gives the facts. Older or thinner evidence falls back to the row's columns, and the
    explanation is then rebuilt from those facts with the row's category, never a guess."""
    evidence = _evidence(year_row)
    activity = activity_from_evidence(evidence, year)
    if not evidence and year_row is not None:
        activity = activity_from_evidence(
            {"visit_days": year_row.visit_days, "redemptions": year_row.redemptions, "votes": year_row.votes}, year
        )
    stored = evidence.get("activities")
    counts = activity_counts(activity)
    if isinstance(stored, dict):
        counts = {name: int(stored.get(name, 0)) for name in ACTIVITIES}
    category = year_row.category if year_row is not None and year_row.category in CATEGORIES else ""
    flags = [flag for flag in (year_row.flags.split(",") if year_row is not None else []) if flag in CATEGORIES]
    explanation_ja = str(evidence.get("explanation_ja") or "")
    explanation_en = str(evidence.get("explanation_en") or "")
    if not explanation_ja or not explanation_en:
        classified = classify(activity)
        if classified.category == category:
            explanation_ja, explanation_en = classified.explanation_ja, classified.explanation_en
        elif category:
            fja, fen = facts(activity)
            explanation_ja = f"{'、'.join(fja)} → {CATEGORY_NAMES[category][0]}"
            explanation_en = f"{', '.join(fen)} → {CATEGORY_NAMES[category][1]}"
        else:
            explanation_ja, explanation_en = classified.explanation_ja, classified.explanation_en
    designated = year_row.designated if year_row is not None else 0
    names = CATEGORY_NAMES.get(category, ("", ""))
    return PremiumCandidate(
        person_id=person.id,
        email=person.email or "",
        prefecture=person.prefecture,
        year=year,
        designated=designated,
        threshold=rule.threshold,
        candidate=designated >= rule.threshold,
        activities=counts,  # type: ignore[arg-type]
        counted=rule.activities,
        category=category,  # type: ignore[arg-type]
        category_ja=names[0],
        category_en=names[1],
        flags=flags,  # type: ignore[arg-type]
        explanation_ja=explanation_ja,
        explanation_en=explanation_en,
        evidence=evidence,
        review=None
        if review is None
        else PremiumReviewOut(
            decision=review.decision,  # type: ignore[arg-type]
            note=review.note,
            decided_at=review.decided_at,
            decided_by=decided_by,
        ),
    )


def candidates_page(
    session: Session, town: Municipality, year: int, state: ReviewState | None, *, limit: int, offset: int
) -> PremiumCandidatesPage:
    """The year's candidates and decided people, most designated activities first."""
    rule = rule_of(town)
    query = _listed(town.id, year, rule.threshold, state)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    ordered = query.order_by(AnalyticsPersonYear.designated.desc(), AnalyticsPerson.id)
    rows = session.execute(ordered.limit(limit).offset(offset)).all()
    items = [candidate_view(person, year_row, review, by, rule, year) for person, year_row, review, by in rows]
    candidates = session.scalar(
        select(func.count())
        .select_from(AnalyticsPersonYear)
        .join(AnalyticsPerson, AnalyticsPerson.id == AnalyticsPersonYear.person_id)
        .where(
            AnalyticsPersonYear.municipality_id == town.id,
            AnalyticsPersonYear.year == year,
            AnalyticsPersonYear.designated >= rule.threshold,
            _live(town.id),
        )
    )
    decisions = dict(
        session.execute(
            select(PremiumReview.decision, func.count())
            .join(AnalyticsPerson, AnalyticsPerson.id == PremiumReview.person_id)
            .where(PremiumReview.municipality_id == town.id, PremiumReview.year == year, _live(town.id))
            .group_by(PremiumReview.decision)
        ).all()
    )
    return PremiumCandidatesPage(
        year=year,
        rule=rule,
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        candidates=int(candidates or 0),
        approved=int(decisions.get("approved", 0)),
        declined=int(decisions.get("declined", 0)),
    )


def csv_rows(session: Session, town: Municipality, year: int, state: ReviewState | None) -> Any:
    """The CSV's rows (`CSV_HEADER`), streamed in the export's own session."""
    rule = rule_of(town)
    query = _listed(town.id, year, rule.threshold, state).order_by(
        AnalyticsPersonYear.designated.desc(), AnalyticsPerson.id
    )
    for person, year_row, review, by in session.execute(query.execution_options(yield_per=500)):
        view = candidate_view(person, year_row, review, by, rule, year)
        yield (
            view.person_id,
            view.email,
            view.prefecture,
            view.year,
            view.designated,
            view.threshold,
            "yes" if view.candidate else "no",
            *(view.activities.get(name, 0) for name in ACTIVITIES),  # type: ignore[call-overload]
            view.category,
            view.category_ja,
            ",".join(view.flags),
            view.explanation_ja,
            view.explanation_en,
            view.review.decision if view.review else "",
            view.review.note if view.review else "",
            view.review.decided_at.astimezone(JST).strftime("%Y-%m-%d %H:%M") if view.review else "",
            (view.review.decided_by or "") if view.review else "",
        )


# ── deciding ────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Decided:
    """A stored decision and the audit row's before/after."""

    review: PremiumReview
    before: dict[str, Any]
    after: dict[str, Any]


def decide(
    session: Session,
    town: Municipality,
    person: AnalyticsPerson,
    *,
    year: int,
    decision: str,
    note: str,
    staff_id: int,
    now: datetime | None = None,
) -> Decided:
    """Store staff's decision (flushed, not committed: the caller adds the audit row and
    commits). One decision per person and year: a second is `already_decided` (a concurrent
    one loses on the unique key the same way); below the threshold is `not_candidate`."""
    if session.scalar(select(PremiumReview.id).where(PremiumReview.person_id == person.id, PremiumReview.year == year)):
        raise TierRefused("already_decided", "この年はすでに判断済みです。 (Already decided for this year.)")
    year_row = session.get(AnalyticsPersonYear, (person.id, year))
    designated = year_row.designated if year_row is not None else 0
    if designated < town.premium_threshold:
        raise TierRefused(
            "not_candidate",
            f"指定活動が{designated}件で、基準の{town.premium_threshold}件に届いていません。 "
            f"(Designated activities {designated}, below the threshold {town.premium_threshold}.)",
        )
    review = PremiumReview(
        municipality_id=town.id,
        person_id=person.id,
        year=year,
        decision=decision,
        note=note.strip(),
        staff_id=staff_id,
        decided_at=now or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(review)
    except IntegrityError:
        raise TierRefused("already_decided", "この年はすでに判断済みです。 (Already decided for this year.)") from None
    rule = rule_of(town)
    after = {
        "person_id": person.id,
        "year": year,
        "decision": decision,
        "note": review.note,
        "designated": designated,
        "threshold": rule.threshold,
        "activities": rule.activities,
    }
    return Decided(review, {"person_id": person.id, "year": year, "decision": None}, after)


# ── the holder's own tier ───────────────────────────────────────────────────


def registration(session: Session, *, email: str | None, addresses: tuple[str, ...], year: int) -> list[TownTier]:
    """The caller's tier in each town where they are a person: by e-mail (an email-link
    holder), else by address (a wallet sign-in: the rollup's address book of people)."""
    if email:
        people = select(AnalyticsPerson.id).where(AnalyticsPerson.email == email.strip().lower())
    elif addresses:
        people = select(AnalyticsPersonAddress.person_id).where(
            AnalyticsPersonAddress.address.in_([address.lower() for address in addresses])
        )
    else:
        return []
    rows = session.execute(
        select(Municipality, PremiumReview.decision)
        .join(AnalyticsPerson, AnalyticsPerson.municipality_id == Municipality.id)
        .outerjoin(
            PremiumReview,
            and_(
                PremiumReview.person_id == AnalyticsPerson.id,
                PremiumReview.year == year,
                PremiumReview.decision == "approved",
            ),
        )
        .where(AnalyticsPerson.id.in_(people), AnalyticsPerson.email.is_not(None))
        .order_by(Municipality.id)
    ).all()
    tiers: dict[str, TownTier] = {}
    for town, decision in rows:
        tier: Tier = "premium" if decision == "approved" else "basic"
        known = tiers.get(town.slug)
        if known is None or tier == "premium":
            tiers[town.slug] = TownTier(
                slug=town.slug, name_ja=town.name_ja, name_en=town.name_en, tier=tier, year=year
            )
    return list(tiers.values())
