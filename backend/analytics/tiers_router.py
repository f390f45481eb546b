"""Registration tiers over HTTP: premium candidates for staff, a holder's own tier.

    GET  /api/v1/staff/towns/{slug}/premium-candidates?year=&state=       paged, with evidence
    GET  /api/v1/staff/towns/{slug}/premium-candidates.csv?year=&state=&encoding=
    POST /api/v1/staff/towns/{slug}/premium-candidates/{person_id}/approve  {year, note?}
    POST /api/v1/staff/towns/{slug}/premium-candidates/{person_id}/decline  {year, note?}
    GET  /api/v1/holders/me/registration                                  the holder's tiers

Those who read orders read candidates; editors (and owners) decide (`backend.staff.policy`).
A decision appends one audit row (`premium.approve` / `premium.decline`) in its transaction.
Rules live in `backend.analytics.tiers`; the handlers only translate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from backend.analytics import tiers
from backend.analytics.models import AnalyticsPerson, AnalyticsPersonYear
from backend.analytics.tier_schemas import (
    MAX_YEAR,
    MIN_YEAR,
    PremiumCandidate,
    PremiumCandidatesPage,
    Registration,
    ReviewBody,
    ReviewState,
)
from backend.core import audit
from backend.core.csv_download import CSV_OK, csv_download
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.holders.identity import CurrentCardHolder
from backend.staff.deps import STAFF_RESPONSES, NowDep, StaffContext, TownStaff

router = APIRouter(prefix="/api/v1", tags=["staff: analytics"])

_PERSON_404 = {404: "person_not_found"}
_READ = {**STAFF_RESPONSES, **error_responses(422)}
_DECIDE = {
    **STAFF_RESPONSES,
    **error_responses(404, 409, 422, codes={**_PERSON_404, 409: "not_candidate, already_decided"}),
}

YearQuery = Annotated[
    int | None,
    Query(ge=MIN_YEAR, le=MAX_YEAR, description="calendar year (Japan time); default the current one"),
]
StateQuery = Annotated[
    ReviewState | None, Query(description="pending: not decided yet; approved, declined: decided so; all if absent")
]


def town_person(
    person_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep
) -> AnalyticsPerson:
    """The person `{person_id}` of the caller's town; another town's person, or one whose
    data was erased, answers like a missing one."""
    person = session.get(AnalyticsPerson, person_id)
    if person is None or person.municipality_id != ctx.town.id or person.email is None:
        raise ApiError(404, "person_not_found", "この町にその人はいません。 (No person with this id in this town.)")
    return person


TownPerson = Annotated[AnalyticsPerson, Depends(town_person)]


@router.get(
    "/staff/towns/{slug}/premium-candidates",
    response_model=PremiumCandidatesPage,
    responses=_READ,
)
def list_candidates(
    ctx: TownStaff,
    session: SessionDep,
    page: PageDep,
    now: NowDep,
    year: YearQuery = None,
    state: StateQuery = None,
) -> PremiumCandidatesPage:
    """The year's premium candidates (designated activities ≥ the town's threshold) and
    everyone already decided, with evidence, explanation and review; most activities first."""
    chosen = year if year is not None else tiers.japan_year(now)
    return tiers.candidates_page(session, ctx.town, chosen, state, limit=page.limit, offset=page.offset)


@router.get(
    "/staff/towns/{slug}/premium-candidates.csv",
    response_class=StreamingResponse,
    responses={**_READ, **CSV_OK},
)
def export_candidates(
    ctx: TownStaff,
    runtime: RuntimeDep,
    now: NowDep,
    year: YearQuery = None,
    state: StateQuery = None,
    encoding: Annotated[Literal["utf-8", "shift_jis"], Query()] = "utf-8",
) -> StreamingResponse:
    """The same list as CSV, every row (not paged): counts of each activity, category,
    explanation and decision."""
    chosen = year if year is not None else tiers.japan_year(now)
    town = ctx.town
    return csv_download(
        runtime.sessions,
        tiers.CSV_HEADER,
        lambda session: tiers.csv_rows(session, town, chosen, state),
        name="premium-candidates",
        slug=town.slug,
        now=now,
        encoding=encoding,
    )


def _decide(
    ctx: StaffContext, session: SessionDep, person: AnalyticsPerson, body: ReviewBody, decision: str, now: datetime
) -> PremiumCandidate:
    try:
        done = tiers.decide(
            session,
            ctx.town,
            person,
            year=body.year,
            decision=decision,
            note=body.note,
            staff_id=ctx.member.id,
            now=now,
        )
    except tiers.TierRefused as refused:
        raise ApiError(409, refused.code, refused.message) from None
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="premium.approve" if decision == "approved" else "premium.decline",
        target_type="analytics_person",
        target_id=str(person.id),
        before=done.before,
        after=done.after,
    )
    session.commit()
    rule = tiers.rule_of(ctx.town)
    year_row = session.get(AnalyticsPersonYear, (person.id, body.year))
    return tiers.candidate_view(person, year_row, done.review, ctx.member.email, rule, body.year)


@router.post(
    "/staff/towns/{slug}/premium-candidates/{person_id}/approve",
    response_model=PremiumCandidate,
    responses=_DECIDE,
)
def approve(body: ReviewBody, ctx: TownStaff, person: TownPerson, session: SessionDep, now: NowDep) -> PremiumCandidate:
    """Make the person premium for the year (their card page shows プレミアム)."""
    return _decide(ctx, session, person, body, "approved", now)


@router.post(
    "/staff/towns/{slug}/premium-candidates/{person_id}/decline",
    response_model=PremiumCandidate,
    responses=_DECIDE,
)
def decline(body: ReviewBody, ctx: TownStaff, person: TownPerson, session: SessionDep, now: NowDep) -> PremiumCandidate:
    """Keep the person basic for the year; the note records why (staff only)."""
    return _decide(ctx, session, person, body, "declined", now)


@router.get(
    "/holders/me/registration",
    tags=["holders"],
    response_model=Registration,
    responses=error_responses(401),
)
def my_registration(holder: CurrentCardHolder, session: SessionDep) -> Registration:
    """The holder's tier (basic or premium) this year in each town where they are a person."""
    year = tiers.japan_year(datetime.now(UTC))
    return Registration(towns=tiers.registration(session, email=holder.email, addresses=holder.addresses, year=year))
