"""Town staff: the relationship-population dashboard (関係人口), its CSVs and monthly report.

All GET, under `/api/v1/staff/towns/{slug}/analytics/`; owner, editor and analyst
(`backend.staff.policy`: ANALYTICS_FIGURES). Every figure reads the rollup only
(`analytics_counts`, through `figures.py` / `dashboard.py`) and the small tables that name
things, never the raw orders or visits, so each answer is a few indexed reads.

Common query (each optional): `from`, `to` (Japan days, inclusive; `from` after `to` is a 422
`cross_field`), `drop_id` (one of the town's drops, else 404 `drop_not_found`), `year`
(yearly figures; default the current Japan year). Each figure has a `.csv` twin with the same
query plus `encoding=utf-8` (with BOM, default) or `shift_jis` (cp932); headers are Japanese
with English in brackets. What `from`/`to`/`drop_id` restrict is in `dashboard.py`.

Every figure answers `scope: {from, to, drop_id, year}` and `as_of` (UTC), and:

    summary        {residents, cards, new_residents, home_prefecture, outside_share,
                    visitors, repeat_visitors, residents_visited, residents_visited_share,
                    orders, paid, revenue_jpy, votes, voters, bidders}
    prefectures    {residents, cards, prefectures: [{code "00"…"47", name_ja, name_en,
                    residents, cards}] (all 48), home_prefecture, home: {residents, cards},
                    outside_share, abroad: {residents, cards}, top: [{code, name_ja,
                    name_en, residents, cards, share}] (≤ 10), metros: [{key, name_ja,
                    name_en, prefectures, residents, cards, share}]}
    residents      ?interval=month (default)|week|day: {interval, residents, cards, new_residents,
                    series: [{period, residents}], drops: [{drop_id, title_ja, title_en,
                    new_residents, residents, cards, series}], campaigns: [{code, name,
                    new_residents, series}]}; `period` is the day, the week's Monday or
                    "YYYY-MM"; series run from the first to the last period with zeros;
                    interval=day over more than 400 days (an open end: to the first or
                    last day with a new resident) is a 422 `too_many_days`
    funnel         {campaigns: [{code, name, drop_id, scans, unique_scans, bot_scans,
                    orders, paid, minted, refunded, revenue_jpy}], without_campaign: {…},
                    total: {…}}   (revenue_jpy net of refunds)
    visits         {check_ins, redemptions, months: [{month, check_ins, redemptions}],
                    spots: [{spot_id, name_ja, name_en, activity, check_ins, months:
                    [{month, count, visitors}]}], shops: [{shop_id, name_ja, name_en,
                    redemptions, months, benefits: [{benefit_id, title_ja, title_en,
                    redemptions}]}], visitors, repeat_visitors (year), visitors_ever,
                    repeat_visitors_ever, bins: [{bin "1"|"2-7"|"8+", people, share,
                    national_percent}], residents, residents_visited, residents_visited_share}
    participation  {polls: [{poll_id, question_ja, question_en, status, opens_at,
                    closes_at, votes, voters, electorate, turnout}], lots: [{lot_id,
                    park_id, park_name_ja, park_name_en, phase, auction_start, bidders}],
                    votes, voters, electorate, turnout, bidders}
    staying        {drops: [{drop_id, title_ja, title_en, first_holder, own_wallet,
                    transferred, revoked, total}], total: {…}, shares: {state: share}}
    categories     {people, visiting, non_visiting, categories: [{code, name_ja, name_en,
                    people, share, share_of_visiting, flags, flag_share_of_visiting,
                    outside_home, national_2023_percent, national_2019_percent}],
                    rules: [{number, category, name_ja, name_en, condition_ja,
                    condition_en}], national: {…NATIONAL.as_dict()}}

Shares are fractions 0…1 (four places); national figures are percent.

    GET …/analytics/report.pdf?month=YYYY-MM   one A4 page in Japanese (default: this month)
    GET …/analytics/people/{person_id}         {person_id, email, prefecture,
                    prefecture_name_ja, resident, cards, first_card_day, category,
                    addresses, years: [{year, category, category_name_ja, category_name_en,
                    flags, visit_days, check_ins, redemptions, votes, designated,
                    explanation_ja, explanation_en, evidence}]}; another town's or an
                    erased person: 404 `person_not_found`
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.analytics import categories as mlit
from backend.analytics import dashboard
from backend.analytics.figures import Period, japan_today
from backend.analytics.models import AnalyticsPerson, AnalyticsPersonAddress, AnalyticsPersonYear
from backend.analytics.report import REPORT_FIRST_YEAR, render_report
from backend.analytics.schemas import (
    Categories,
    Funnel,
    Interval,
    Participation,
    PersonFacts,
    PersonYear,
    Prefectures,
    Residents,
    Staying,
    Summary,
    Visits,
)
from backend.core.csv_download import CSV_OK, csv_download
from backend.core.csv_export import Encoding
from backend.core.deps import RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import CROSS_FIELD, MAX_ROW_ID, IsoDate
from backend.sales.models import Drop
from backend.sales.poster import PosterUnavailable
from backend.staff.deps import STAFF_RESPONSES, NowDep, TownStaff

log = logging.getLogger("furusato.analytics")

router = APIRouter(prefix="/api/v1/staff/towns/{slug}/analytics", tags=["staff: analytics"])

#: Years a query may name: the platform's first sales to well past any card's life.
FIRST_YEAR, LAST_YEAR = 2000, 2100
_DROP_404 = {404: "drop_not_found"}
_FIGURE = {**STAFF_RESPONSES, **error_responses(404, 422, codes=_DROP_404)}
_CSV = {**_FIGURE, **CSV_OK}


def _period_refused(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": CROSS_FIELD, "loc": ("query", "to"), "msg": message, "input": None}])


def analytics_query(
    ctx: TownStaff,
    session: SessionDep,
    now: NowDep,
    from_day: Annotated[IsoDate | None, Query(alias="from", description="first day, Japan time (YYYY-MM-DD)")] = None,
    to_day: Annotated[IsoDate | None, Query(alias="to", description="last day, inclusive, Japan time")] = None,
    drop_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="one of the town's drops")] = None,
    year: Annotated[
        int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR, description="year of yearly figures (default: this year, JST)")
    ] = None,
) -> dashboard.Query:
    """The scope every figure shares (module docstring). The drop must be the town's: another
    town's drop answers 404 like a missing one, so staff cannot probe others' drops."""
    if from_day is not None and to_day is not None and from_day > to_day:
        raise _period_refused("`from` must not be after `to`")
    if drop_id is not None:
        drop = session.get(Drop, drop_id)
        if drop is None or drop.municipality_id != ctx.town.id:
            raise ApiError(404, "drop_not_found", "この町にそのシリーズはありません。 (No such drop in this town.)")
    return dashboard.Query(
        town=ctx.town,
        period=Period(from_day, to_day),
        drop_id=drop_id,
        year=year if year is not None else japan_today(now).year,
        now=now,
    )


AnalyticsQuery = Annotated[dashboard.Query, Depends(analytics_query)]
CsvEncoding = Annotated[Literal["utf-8", "shift_jis"], Query(description="utf-8 (with BOM) or shift_jis (cp932)")]


def _csv(
    runtime: RuntimeDep,
    query: dashboard.Query,
    name: str,
    table: tuple[list[str], list[dashboard.Row]],
    encoding: Encoding,
) -> StreamingResponse:
    """A figure's CSV: the rows are already computed (a figure is small), so the stream's own
    session is not needed for them."""
    header, rows = table
    return csv_download(
        runtime.sessions,
        header,
        lambda _session: rows,
        name=f"analytics-{name}",
        slug=query.town.slug,
        now=query.now,
        encoding=encoding,
    )


# ── figures and their CSVs ──────────────────────────────────────────────────


@router.get("/summary", response_model=Summary, responses=_FIGURE)
def get_summary(query: AnalyticsQuery, session: SessionDep) -> Summary:
    """The headline: residents and cards now, new residents, orders and net revenue in the
    period, the outside-prefecture share, the year's visitors, residents who came, votes."""
    return dashboard.summary(session, query)


@router.get("/summary.csv", response_class=StreamingResponse, responses=_CSV)
def get_summary_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """The headline as CSV rows of (figure, value)."""
    return _csv(runtime, query, "summary", dashboard.summary_table(dashboard.summary(session, query)), encoding)


@router.get("/prefectures", response_model=Prefectures, responses=_FIGURE)
def get_prefectures(query: AnalyticsQuery, session: SessionDep) -> Prefectures:
    """Where residents live: exact counts for all 48 codes ("00" abroad), the home prefecture,
    the share outside it, the top prefectures and the three metropolitan areas."""
    return dashboard.prefectures(session, query)


@router.get("/prefectures.csv", response_class=StreamingResponse, responses=_CSV)
def get_prefectures_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """One row per prefecture code, all 48."""
    figure = dashboard.prefectures(session, query)
    return _csv(runtime, query, "prefectures", dashboard.prefectures_table(figure), encoding)


IntervalQuery = Annotated[
    Interval,
    Query(
        description=f"month (default), week (Monday to Sunday, JST) or day (at most {dashboard.MAX_DAILY_DAYS} days)"
    ),
]
_TOO_MANY_DAYS = f"too_many_days (interval=day over more than {dashboard.MAX_DAILY_DAYS} days)"
_RESIDENTS = {**STAFF_RESPONSES, **error_responses(404, 422, codes={**_DROP_404, 422: _TOO_MANY_DAYS})}


def _residents(session: Session, query: dashboard.Query, interval: Interval) -> Residents:
    """The figure, a too long series by day refused as a 422 that says what to ask instead."""
    try:
        return dashboard.residents(session, query, interval)
    except dashboard.TooManyDays as refused:
        raise ApiError(
            422,
            "too_many_days",
            f"日別の表示は{dashboard.MAX_DAILY_DAYS}日までです（この期間は{refused.days}日）。期間を短くするか、"
            f"週別・月別にしてください。 (interval=day covers at most {dashboard.MAX_DAILY_DAYS} days; this"
            f" period has {refused.days}. Narrow from/to, or use interval=week or month.)",
        ) from refused


@router.get("/residents", response_model=Residents, responses=_RESIDENTS)
def get_residents(query: AnalyticsQuery, session: SessionDep, interval: IntervalQuery = "month") -> Residents:
    """New residents (people, by the day of their first card) per period, by drop and by
    the campaign that brought them, with today's residents and cards.

    `interval=month` (the default) reads the month cells; `week` and `day` read the period's
    day cells. A series by day answers at most 400 days: longer (an open `from`/`to` counts
    to the first/last day with a new resident) is a 422 `too_many_days`."""
    return _residents(session, query, interval)


@router.get("/residents.csv", response_class=StreamingResponse, responses={**_RESIDENTS, **CSV_OK})
def get_residents_csv(
    query: AnalyticsQuery,
    session: SessionDep,
    runtime: RuntimeDep,
    interval: IntervalQuery = "month",
    encoding: CsvEncoding = "utf-8",
) -> StreamingResponse:
    """One row per period and series (all, each drop, each campaign); `interval` as for
    `/residents` (422 `too_many_days` by day over more than 400 days)."""
    figure = _residents(session, query, interval)
    return _csv(runtime, query, "residents", dashboard.residents_table(figure), encoding)


@router.get("/funnel", response_model=Funnel, responses=_FIGURE)
def get_funnel(query: AnalyticsQuery, session: SessionDep) -> Funnel:
    """Scans → orders → paid → minted → refunded per campaign, revenue net of refunds."""
    return dashboard.funnel(session, query)


@router.get("/funnel.csv", response_class=StreamingResponse, responses=_CSV)
def get_funnel_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """One row per campaign, then without campaign and the total."""
    return _csv(runtime, query, "funnel", dashboard.funnel_table(dashboard.funnel(session, query)), encoding)


@router.get("/visits", response_model=Visits, responses=_FIGURE)
def get_visits(query: AnalyticsQuery, session: SessionDep) -> Visits:
    """Check-ins and benefit uses by place and month, visitors and repeat visitors, the
    year's visit days per person in the national survey's bins, residents who ever came."""
    return dashboard.visits(session, query)


@router.get("/visits.csv", response_class=StreamingResponse, responses=_CSV)
def get_visits_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """One row per place and month, then the visitor figures and bins."""
    return _csv(runtime, query, "visits", dashboard.visits_table(dashboard.visits(session, query)), encoding)


@router.get("/participation", response_model=Participation, responses=_FIGURE)
def get_participation(query: AnalyticsQuery, session: SessionDep) -> Participation:
    """Poll turnout (cards that voted of the frozen electorate) and naming-right bidders."""
    return dashboard.participation(session, query)


@router.get("/participation.csv", response_class=StreamingResponse, responses=_CSV)
def get_participation_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """One row per poll and per lot."""
    figure = dashboard.participation(session, query)
    return _csv(runtime, query, "participation", dashboard.participation_table(figure), encoding)


@router.get("/staying", response_model=Staying, responses=_FIGURE)
def get_staying(query: AnalyticsQuery, session: SessionDep) -> Staying:
    """Whether cards stay: with the first holder, moved to an own wallet, transferred, revoked."""
    return dashboard.staying(session, query)


@router.get("/staying.csv", response_class=StreamingResponse, responses=_CSV)
def get_staying_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """One row per drop, then the total."""
    return _csv(runtime, query, "staying", dashboard.staying_table(dashboard.staying(session, query)), encoding)


@router.get("/categories", response_model=Categories, responses=_FIGURE)
def get_categories(query: AnalyticsQuery, session: SessionDep) -> Categories:
    """MLIT categories of the year from recorded activity, beside the national survey."""
    return dashboard.categories(session, query)


@router.get("/categories.csv", response_class=StreamingResponse, responses=_CSV)
def get_categories_csv(
    query: AnalyticsQuery, session: SessionDep, runtime: RuntimeDep, encoding: CsvEncoding = "utf-8"
) -> StreamingResponse:
    """One row per category."""
    figure = dashboard.categories(session, query)
    return _csv(runtime, query, "categories", dashboard.categories_table(figure), encoding)


# ── the monthly report ──────────────────────────────────────────────────────

MonthQuery = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description=f"YYYY-MM ({REPORT_FIRST_YEAR}–{LAST_YEAR}); default: this month, Japan time",
    ),
]


@router.get(
    "/report.pdf",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The month's one-page report in Japanese",
        },
        **STAFF_RESPONSES,
        **error_responses(404, 422, 503, codes={**_DROP_404, 503: "report_unavailable"}),
    },
)
def get_report(
    ctx: TownStaff,
    session: SessionDep,
    now: NowDep,
    month: MonthQuery = None,
    drop_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="one of the town's drops")] = None,
) -> Response:
    """One A4 page for the town's report: the month's new residents by day, where residents
    live (a tile map of Japan), the funnel, visits by place, card states and the year's
    categories beside the national survey; charts drawn as SVG, fonts embedded."""
    chosen = month if month is not None else japan_today(now).isoformat()[:7]
    if not REPORT_FIRST_YEAR <= int(chosen[:4]) <= LAST_YEAR:
        raise _period_refused(f"the month's year must be {REPORT_FIRST_YEAR}–{LAST_YEAR}")
    query = analytics_query(ctx, session, now, drop_id=drop_id)
    try:
        pdf = render_report(session, query, chosen)
    except PosterUnavailable as exc:
        log.error("analytics report of %s not rendered: %s", ctx.town.slug, exc)
        raise ApiError(503, "report_unavailable", "Reports cannot be made on this server right now.") from None
    headers = {
        "Content-Disposition": f'attachment; filename="report-{ctx.town.slug}-{chosen}.pdf"',
        "Cache-Control": "private, no-store",
    }
    return Response(pdf, media_type="application/pdf", headers=headers)


# ── one person ──────────────────────────────────────────────────────────────


def _evidence(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _person_year(row: AnalyticsPersonYear) -> PersonYear:
    evidence = _evidence(row.evidence)
    names = mlit.CATEGORY_NAMES.get(row.category, ("", ""))
    explanation_ja = str(evidence.get("explanation_ja", ""))
    explanation_en = str(evidence.get("explanation_en", ""))
    if not explanation_ja:
        # Evidence without the sentence (an older row): say it again from the facts.
        again = mlit.classify(mlit.activity_from_evidence(evidence, row.year))
        explanation_ja, explanation_en = again.explanation_ja, again.explanation_en
    return PersonYear(
        year=row.year,
        category=row.category,
        category_name_ja=names[0],
        category_name_en=names[1],
        flags=[flag for flag in row.flags.split(",") if flag],
        visit_days=row.visit_days,
        check_ins=row.check_ins,
        redemptions=row.redemptions,
        votes=row.votes,
        designated=row.designated,
        explanation_ja=explanation_ja,
        explanation_en=explanation_en,
        evidence=evidence,
    )


def person_facts(session: Session, town_id: int, person_id: int) -> PersonFacts | None:
    """What the figures hold about one person of the town; None when not the town's or erased."""
    person = session.get(AnalyticsPerson, person_id)
    if person is None or person.municipality_id != town_id or person.email is None or person.erased_at is not None:
        return None
    addresses = session.scalars(
        select(AnalyticsPersonAddress.address)
        .where(AnalyticsPersonAddress.person_id == person.id)
        .order_by(AnalyticsPersonAddress.address)
    )
    years = session.scalars(
        select(AnalyticsPersonYear).where(AnalyticsPersonYear.person_id == person.id).order_by(AnalyticsPersonYear.year)
    )
    return PersonFacts(
        person_id=person.id,
        email=person.email,
        prefecture=person.prefecture,
        prefecture_name_ja=dashboard.prefecture_names(person.prefecture)[0] if person.prefecture else "",
        resident=person.resident,
        cards=person.cards,
        first_card_day=person.first_card_day,
        category=person.category,
        addresses=list(addresses),
        years=[_person_year(row) for row in years],
    )


@router.get(
    "/people/{person_id}",
    response_model=PersonFacts,
    responses={**STAFF_RESPONSES, **error_responses(404, 422, codes={404: "person_not_found"})},
)
def get_person(
    person_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep
) -> PersonFacts:
    """One person's facts behind the figures: e-mail, prefecture, cards, addresses, and each
    year's category with its explanation and evidence (for staff deciding premium
    registration; never public)."""
    facts = person_facts(session, ctx.town.id, person_id)
    if facts is None:
        raise ApiError(404, "person_not_found", "この町にその人の記録はありません。 (No such person in this town.)")
    return facts
