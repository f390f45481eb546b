"""The staff dashboard's figures, each assembled from a few rollup reads (`figures.py`) and
the small tables that name things (drops, campaigns, spots, shops, benefits, polls, lots).

Why here and not in the router: the CSV twins, the monthly report (`report.py`) and the
JSON answers show the same numbers, so they are built once, as the response models of
`schemas.py`, and the CSV tables are derived from those models (`csv_table`).

Nothing here reads orders, check-ins, redemptions or votes: a figure costs a handful of
indexed reads of `analytics_counts` whatever the size of the town's history. Dated figures
of the day metrics pass the period itself (`period=`), so `figures.py` reads its whole
years and months from the year and month cells and only the edge days from day cells; a
series by month reads month cells, by week or day the day cells of the period only, and a
series by day is refused over more than `MAX_DAILY_DAYS` days (`TooManyDays`).

Scope (see `schemas.Scope`): `from`/`to` restrict dated figures (new residents by first card
day, the funnel by the order's created day and the scan day, check-ins and redemptions by
their day, spot and shop visitors by the months the period touches; polls and lots by when
they open). Residents, cards, card states, votes and the "ever" visit figures are as of now.
`drop_id` restricts resident figures (residents, cards, new residents, card states,
residents_visited) to that drop's cards and the funnel to that drop's orders and campaigns;
visits, participation and categories belong to people, not drops, and ignore it. `year`
picks the year of the yearly figures (visitors, visit-day bins, categories).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.analytics import categories as mlit
from backend.analytics import metrics as m
from backend.analytics.figures import JST, Dimension, Period, month_period, share, sums, sums_by, total
from backend.analytics.schemas import (
    BenefitUses,
    CampaignFunnel,
    CampaignSeries,
    CardStates,
    Categories,
    CategoryCount,
    Counted,
    DropSeries,
    DropStates,
    Funnel,
    FunnelCounts,
    Interval,
    LotBidders,
    MetroCount,
    MonthTotals,
    MonthVisits,
    Participation,
    Point,
    PollTurnout,
    PrefectureCount,
    Prefectures,
    RankedPrefecture,
    Residents,
    Scope,
    ShopVisits,
    SpotVisits,
    Staying,
    Summary,
    VisitBin,
    Visits,
)
from backend.benefits.models import Benefit, Shop, Spot
from backend.metadata.prefectures import prefecture_name
from backend.naming.models import Lot, Park
from backend.polls.models import Poll
from backend.sales.models import Campaign, Drop
from backend.towns.models import Municipality

#: Prefectures listed in `top`.
TOP_PREFECTURES: Final = 10
#: Polls that have not opened to voters (no electorate, no votes): not in the figures.
_UNOPENED_POLLS: Final = ("draft", "pending_approval", "rejected")
#: The funnel's order metrics, in the order they are shown.
_ORDER_METRICS: Final = (m.ORDERS, m.PAID, m.MINTED, m.REFUNDED, m.REVENUE_JPY)
#: Longest series by day (a year and a month): all time by day at three years was 2 MB of
#: JSON and seconds to build, and no chart shows a thousand columns.
MAX_DAILY_DAYS: Final = 400


class TooManyDays(ValueError):
    """A series by day was asked over more than `MAX_DAILY_DAYS` days (`days`: how many)."""

    def __init__(self, days: int) -> None:
        super().__init__(f"interval=day covers {days} days, more than {MAX_DAILY_DAYS}")
        self.days = days


@dataclass(frozen=True)
class Query:
    """What a figure is asked for: the town, the scope, the moment it is read."""

    town: Municipality
    period: Period
    drop_id: int | None
    year: int
    now: datetime

    @property
    def scope_key(self) -> str:
        """dim1 of the resident metrics: the drop, or all drops."""
        return m.ALL if self.drop_id is None else str(self.drop_id)

    def scope(self) -> Scope:
        return Scope(from_day=self.period.first, to_day=self.period.last, drop_id=self.drop_id, year=self.year)


def prefecture_names(code: str) -> tuple[str, str]:
    """Japanese and English name of a prefecture code ("00": abroad)."""
    if code == m.ABROAD:
        return "海外", "Abroad"
    return prefecture_name(code) or code, prefecture_name(code, english=True) or code


def _town_drops(session: Session, town_id: int, *, resident_cards: bool) -> list[Drop]:
    where = [Drop.municipality_id == town_id]
    if resident_cards:
        where.append(Drop.kind == "resident_card")
    return list(session.scalars(select(Drop).where(*where).order_by(Drop.id)))


# ── summary ─────────────────────────────────────────────────────────────────


def summary(session: Session, query: Query) -> Summary:
    """The headline figures (each defined on `schemas.Summary`)."""
    town_id, scope = query.town.id, query.scope_key
    empty = query.period.empty
    by_prefecture = sums_by(session, town_id, m.RESIDENTS, "dim2", dim1=scope)
    residents = sum(by_prefecture.values())
    outside = residents - by_prefecture.get(query.town.prefecture, 0)
    order_scope = None if query.drop_id is None else str(query.drop_id)
    period = query.period
    sold = (
        {}
        if empty
        else sums_by(session, town_id, (m.ORDERS, m.PAID, m.REVENUE_JPY), "metric", dim1=order_scope, period=period)
    )
    orders = {metric: sold.get(metric, 0) for metric in (m.ORDERS, m.PAID, m.REVENUE_JPY)}
    visited = total(session, town_id, m.RESIDENTS_VISITED, dim1=scope)
    return Summary(
        scope=query.scope(),
        as_of=query.now,
        residents=residents,
        cards=total(session, town_id, m.CARDS, dim1=scope),
        new_residents=0 if empty else total(session, town_id, m.NEW_RESIDENTS, dim1=scope, period=period),
        home_prefecture=query.town.prefecture,
        outside_share=share(outside, residents),
        visitors=total(session, town_id, m.VISITORS, day=str(query.year)),
        repeat_visitors=total(session, town_id, m.REPEAT_VISITORS, day=str(query.year)),
        residents_visited=visited,
        residents_visited_share=share(visited, residents),
        orders=orders[m.ORDERS],
        paid=orders[m.PAID],
        revenue_jpy=orders[m.REVENUE_JPY],
        votes=total(session, town_id, m.POLL_VOTES),
        voters=total(session, town_id, m.POLL_VOTERS),
        bidders=total(session, town_id, m.BIDDERS),
    )


# ── prefectures ─────────────────────────────────────────────────────────────


def prefectures(session: Session, query: Query) -> Prefectures:
    """Residents and cards in each of the 48 codes, the home prefecture, abroad, the top ten
    and the three metropolitan areas."""
    town_id, scope = query.town.id, query.scope_key
    people = sums_by(session, town_id, m.RESIDENTS, "dim2", dim1=scope)
    cards = sums_by(session, town_id, m.CARDS, "dim2", dim1=scope)
    residents, held = sum(people.values()), sum(cards.values())
    rows = [
        PrefectureCount(
            code=code,
            name_ja=prefecture_names(code)[0],
            name_en=prefecture_names(code)[1],
            residents=people.get(code, 0),
            cards=cards.get(code, 0),
        )
        for code in m.PREFECTURES
    ]
    home = query.town.prefecture
    ranked = sorted((row for row in rows if row.residents > 0), key=lambda row: (-row.residents, row.code))
    metros = [
        MetroCount(
            key=metro.key,
            name_ja=metro.name_ja,
            name_en=metro.name_en,
            prefectures=list(metro.prefectures),
            residents=sum(people.get(code, 0) for code in metro.prefectures),
            cards=sum(cards.get(code, 0) for code in metro.prefectures),
            share=share(sum(people.get(code, 0) for code in metro.prefectures), residents),
        )
        for metro in m.METROS
    ]
    return Prefectures(
        scope=query.scope(),
        as_of=query.now,
        residents=residents,
        cards=held,
        prefectures=rows,
        home_prefecture=home,
        home=Counted(residents=people.get(home, 0), cards=cards.get(home, 0)),
        outside_share=share(residents - people.get(home, 0), residents),
        abroad=Counted(residents=people.get(m.ABROAD, 0), cards=cards.get(m.ABROAD, 0)),
        top=[
            RankedPrefecture(**row.model_dump(), share=share(row.residents, residents))
            for row in ranked[:TOP_PREFECTURES]
        ],
        metros=metros,
    )


# ── residents over time ─────────────────────────────────────────────────────


def period_of(day: str, interval: Interval) -> str:
    """The period a Japan day "YYYY-MM-DD" falls in: itself, its week's Monday, its month."""
    if interval == "day":
        return day
    if interval == "month":
        return day[:7]
    moment = date.fromisoformat(day)
    return (moment - timedelta(days=moment.weekday())).isoformat()


def _next_period(label: str, interval: Interval) -> str:
    if interval == "month":
        year, month = int(label[:4]), int(label[5:7])
        return f"{year + (month == 12):04d}-{month % 12 + 1:02d}"
    step = 7 if interval == "week" else 1
    return (date.fromisoformat(label) + timedelta(days=step)).isoformat()


def timeline(first: str, last: str, interval: Interval) -> list[str]:
    """Every period label from `first` to `last` inclusive."""
    labels = [first]
    while labels[-1] < last:
        labels.append(_next_period(labels[-1], interval))
    return labels


def _series(per_day: dict[str, int], labels: Sequence[str], interval: Interval) -> list[tuple[str, int]]:
    binned: dict[str, int] = defaultdict(int)
    for day, value in per_day.items():
        binned[period_of(day, interval)] += value
    return [(label, binned.get(label, 0)) for label in labels]


def _month_days(month: str) -> tuple[date, date]:
    """The first and last day of the month "YYYY-MM"."""
    days = month_period(month)
    assert days.first is not None
    assert days.last is not None
    return days.first, days.last


def daily_span(session: Session, query: Query) -> int:
    """How many days a series by day of new residents would run: the period, an open end
    bounded by the first (last) day with a new resident in scope. Two small reads: the
    months with any (month cells), then the days of the first and last of them."""
    town_id, scope, period = query.town.id, query.scope_key, query.period
    if period.empty:
        return 0
    first, last = period.first, period.last
    if first is None or last is None:
        months = sorted(sums_by(session, town_id, m.NEW_RESIDENTS, "month", dim1=scope, period=period))
        if not months:
            return 0
        if first is None:
            head_first, head_last = _month_days(months[0])
            within = Period(head_first, head_last if last is None else min(last, head_last))
            days = sums_by(session, town_id, m.NEW_RESIDENTS, "day", dim1=scope, period=within)
            first = date.fromisoformat(min(days)) if days else head_first
        if last is None:
            tail_first, tail_last = _month_days(months[-1])
            within = Period(max(first, tail_first), tail_last)
            days = sums_by(session, town_id, m.NEW_RESIDENTS, "day", dim1=scope, period=within)
            last = date.fromisoformat(max(days)) if days else tail_last
    assert first is not None
    assert last is not None
    return max(0, (last - first).days + 1)


def residents(session: Session, query: Query, interval: Interval) -> Residents:
    """New residents per day, week or month, in all, per drop and per campaign. Raises
    `TooManyDays` for a series by day over more than `MAX_DAILY_DAYS` days."""
    town_id, scope = query.town.id, query.scope_key
    if interval == "day" and (span := daily_span(session, query)) > MAX_DAILY_DAYS:
        raise TooManyDays(span)
    period = query.period
    drops = _town_drops(session, town_id, resident_cards=True)
    if query.drop_id is not None:
        drops = [drop for drop in drops if drop.id == query.drop_id]
    # Grouped in the database to what the answer shows: the scope's cells by (campaign, day or
    # month) and the drops' by (drop, day or month); weeks are binned from days below. By
    # month the whole months come from the month cells, by week or day only the period's days
    # are read.
    unit: Dimension = "month" if interval == "month" else "day"
    drop_keys = [str(drop.id) for drop in drops]
    in_scope: dict[tuple[str, ...], int] = {}
    drop_cells: dict[tuple[str, ...], int] = {}
    if not query.period.empty:
        in_scope = sums(session, town_id, m.NEW_RESIDENTS, ("dim2", unit), dim1=scope, period=period)
        if drop_keys:
            drop_cells = sums(session, town_id, m.NEW_RESIDENTS, ("dim1", unit), dim1=drop_keys, period=period)
    days = sorted({day for _campaign, day in in_scope} | {day for _drop, day in drop_cells})
    labels = timeline(period_of(days[0], interval), period_of(days[-1], interval), interval) if days else []

    def points(per_day: dict[str, int]) -> list[Point]:
        return [Point(period=label, residents=value) for label, value in _series(per_day, labels, interval)]

    overall: dict[str, int] = defaultdict(int)
    by_campaign: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (campaign, day), value in in_scope.items():
        overall[day] += value
        by_campaign[campaign][day] += value
    by_drop: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (drop_key, day), value in drop_cells.items():
        by_drop[drop_key][day] += value
    people = sums_by(session, town_id, m.RESIDENTS, "dim1", dim1=[scope, *(str(drop.id) for drop in drops)])
    cards = sums_by(session, town_id, m.CARDS, "dim1", dim1=[scope, *(str(drop.id) for drop in drops)])
    named = select(Campaign.code, Campaign.name).where(
        Campaign.municipality_id == town_id, Campaign.code.in_([code for code in by_campaign if code])
    )
    names = {code: name for code, name in session.execute(named)}
    campaigns = [
        CampaignSeries(
            code=code,
            name=names.get(code, "キャンペーンなし (none)" if code == m.NO_CAMPAIGN else code),
            new_residents=sum(per_day.values()),
            series=points(per_day),
        )
        for code, per_day in sorted(by_campaign.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    ]
    return Residents(
        scope=query.scope(),
        as_of=query.now,
        interval=interval,
        residents=people.get(scope, 0),
        cards=cards.get(scope, 0),
        new_residents=sum(overall.values()),
        series=points(overall),
        drops=[
            DropSeries(
                drop_id=drop.id,
                title_ja=drop.title_ja,
                title_en=drop.title_en,
                new_residents=sum(by_drop[str(drop.id)].values()),
                residents=people.get(str(drop.id), 0),
                cards=cards.get(str(drop.id), 0),
                series=points(by_drop[str(drop.id)]),
            )
            for drop in drops
        ],
        campaigns=campaigns,
    )


# ── funnel ──────────────────────────────────────────────────────────────────


def _add(into: dict[str, int], values: dict[str, int]) -> None:
    for key, value in values.items():
        into[key] = into.get(key, 0) + value


def funnel(session: Session, query: Query) -> Funnel:
    """Per campaign of the town (of the drop, when asked; newest first): scans by scan day and
    the orders carrying its code by their created day; the orders carrying no code of those
    campaigns apart (no code, a mistyped one, or with `drop_id` a campaign of another drop);
    the total of both."""
    town_id = query.town.id
    campaign_query = select(Campaign).where(Campaign.municipality_id == town_id)
    if query.drop_id is not None:
        campaign_query = campaign_query.where(Campaign.drop_id == query.drop_id)
    campaigns = list(session.scalars(campaign_query.order_by(Campaign.created_at.desc(), Campaign.id.desc())))
    listed = {campaign.code for campaign in campaigns}
    per_code: dict[str, dict[str, int]] = defaultdict(dict)
    others: dict[str, int] = {}
    if not query.period.empty:
        period = query.period
        order_scope = None if query.drop_id is None else str(query.drop_id)
        orders = sums(session, town_id, _ORDER_METRICS, ("metric", "dim2"), dim1=order_scope, period=period)
        for (metric, code), value in orders.items():
            _add(per_code[code] if code in listed else others, {metric: value})
        if listed:
            scans = sums(session, town_id, m.SCAN_METRICS, ("metric", "dim1"), dim1=sorted(listed), period=period)
            for (metric, code), value in scans.items():
                _add(per_code[code], {metric: value})
    everything: dict[str, int] = dict(others)
    for code in listed:
        _add(everything, per_code.get(code, {}))
    return Funnel(
        scope=query.scope(),
        as_of=query.now,
        campaigns=[
            CampaignFunnel(
                code=campaign.code, name=campaign.name, drop_id=campaign.drop_id, **per_code.get(campaign.code, {})
            )
            for campaign in campaigns
        ],
        without_campaign=FunnelCounts(**others),
        total=FunnelCounts(**everything),
    )


# ── visits ──────────────────────────────────────────────────────────────────


def visits(session: Session, query: Query) -> Visits:
    """Check-ins by spot and month, redemptions by shop, benefit and month, visitors (the
    year and ever), the year's visit-day bins beside the national ones, residents who came."""
    town_id = query.town.id
    empty = query.period.empty
    period, (first_month, last_month) = query.period, query.period.months()
    check_ins = {} if empty else sums(session, town_id, m.CHECK_INS, ("dim1", "month"), period=period)
    redemptions = {} if empty else sums(session, town_id, m.REDEMPTIONS, ("dim1", "dim2", "month"), period=period)
    spot_people = (
        {}
        if empty
        else sums(session, town_id, m.SPOT_VISITORS, ("dim1", "day"), day_from=first_month, day_to=last_month)
    )
    shop_people = (
        {}
        if empty
        else sums(session, town_id, m.SHOP_VISITORS, ("dim1", "day"), day_from=first_month, day_to=last_month)
    )

    spot_months: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for (spot, month), value in check_ins.items():
        spot_months[spot][month][0] += value
    for (spot, month), value in spot_people.items():
        spot_months[spot][month][1] += value
    shop_months: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    per_benefit: dict[tuple[str, str], int] = defaultdict(int)
    for (shop, benefit, month), value in redemptions.items():
        shop_months[shop][month][0] += value
        per_benefit[(shop, benefit)] += value
    for (shop, month), value in shop_people.items():
        shop_months[shop][month][1] += value

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (_spot, month), value in check_ins.items():
        totals[month][0] += value
    for (_shop, _benefit, month), value in redemptions.items():
        totals[month][1] += value

    def months(per_month: dict[str, list[int]]) -> list[MonthVisits]:
        return [MonthVisits(month=k, count=v[0], visitors=v[1]) for k, v in sorted(per_month.items())]

    spots = list(session.scalars(select(Spot).where(Spot.municipality_id == town_id).order_by(Spot.id)))
    shops = list(session.scalars(select(Shop).where(Shop.municipality_id == town_id).order_by(Shop.id)))
    benefits = {
        str(benefit.id): benefit
        for benefit in session.scalars(select(Benefit).where(Benefit.municipality_id == town_id))
    }
    spot_rows = [
        SpotVisits(
            spot_id=spot.id,
            name_ja=spot.name_ja,
            name_en=spot.name_en,
            activity=spot.activity,
            check_ins=sum(v[0] for v in spot_months[str(spot.id)].values()),
            months=months(spot_months[str(spot.id)]),
        )
        for spot in spots
    ]
    shop_rows = [
        ShopVisits(
            shop_id=shop.id,
            name_ja=shop.name_ja,
            name_en=shop.name_en,
            redemptions=sum(v[0] for v in shop_months[str(shop.id)].values()),
            months=months(shop_months[str(shop.id)]),
            benefits=[
                BenefitUses(
                    benefit_id=int(benefit_id),
                    title_ja=benefits[benefit_id].title_ja if benefit_id in benefits else benefit_id,
                    title_en=benefits[benefit_id].title_en if benefit_id in benefits else benefit_id,
                    redemptions=value,
                )
                for (shop_key, benefit_id), value in sorted(per_benefit.items(), key=lambda item: int(item[0][1]))
                if shop_key == str(shop.id) and benefit_id.isdigit()
            ],
        )
        for shop in shops
    ]
    year = str(query.year)
    bins = sums_by(session, town_id, m.VISIT_DAYS, "dim1", day=year)
    binned = sum(bins.values())
    national = mlit.NATIONAL.visit_day_bins_2023
    people = total(session, town_id, m.RESIDENTS, dim1=query.scope_key)
    visited = total(session, town_id, m.RESIDENTS_VISITED, dim1=query.scope_key)
    return Visits(
        scope=query.scope(),
        as_of=query.now,
        check_ins=sum(check_ins.values()),
        redemptions=sum(redemptions.values()),
        months=[MonthTotals(month=k, check_ins=v[0], redemptions=v[1]) for k, v in sorted(totals.items())],
        spots=spot_rows,
        shops=shop_rows,
        visitors=total(session, town_id, m.VISITORS, day=year),
        repeat_visitors=total(session, town_id, m.REPEAT_VISITORS, day=year),
        visitors_ever=total(session, town_id, m.VISITORS, day=m.EVER),
        repeat_visitors_ever=total(session, town_id, m.REPEAT_VISITORS, day=m.EVER),
        bins=[
            VisitBin(
                bin=key,  # type: ignore[arg-type]
                people=bins.get(key, 0),
                share=share(bins.get(key, 0), binned),
                national_percent=national.get(key, 0.0),
            )
            for key in m.VISIT_DAY_BINS
        ],
        residents=people,
        residents_visited=visited,
        residents_visited_share=share(visited, people),
    )


# ── participation ───────────────────────────────────────────────────────────


def _utc_bounds(period: Period) -> tuple[datetime | None, datetime | None]:
    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=JST).astimezone(UTC)

    return (
        None if period.first is None else midnight(period.first),
        None if period.last is None else midnight(period.last + timedelta(days=1)),
    )


def participation(session: Session, query: Query) -> Participation:
    """Each poll that opened (in the period): cards that voted, people who voted, the frozen
    electorate and turnout; each naming-right lot (auction starting in the period): bidders."""
    town_id = query.town.id
    start, end = _utc_bounds(query.period)
    poll_query = select(Poll).where(Poll.municipality_id == town_id, Poll.status.not_in(_UNOPENED_POLLS))
    lot_query = select(Lot, Park).join(Park, Park.id == Lot.park_id).where(Lot.municipality_id == town_id)
    if start is not None:
        poll_query = poll_query.where(Poll.opens_at >= start)
        lot_query = lot_query.where(Lot.auction_start >= start)
    if end is not None:
        poll_query = poll_query.where(Poll.opens_at < end)
        lot_query = lot_query.where(Lot.auction_start < end)
    polls = [] if query.period.empty else list(session.scalars(poll_query.order_by(Poll.opens_at.desc(), Poll.id)))
    lots = (
        []
        if query.period.empty
        else [(lot, park) for lot, park in session.execute(lot_query.order_by(Lot.auction_start.desc(), Lot.id))]
    )
    poll_ids = [str(poll.id) for poll in polls]
    votes = sums_by(session, town_id, m.POLL_VOTES, "dim1", dim1=poll_ids) if poll_ids else {}
    voters = sums_by(session, town_id, m.POLL_VOTERS, "dim1", dim1=poll_ids) if poll_ids else {}
    lot_ids = [str(lot.id) for lot, _park in lots]
    bidders = sums_by(session, town_id, m.BIDDERS, "dim1", dim1=lot_ids) if lot_ids else {}
    poll_rows = [
        PollTurnout(
            poll_id=poll.id,
            question_ja=poll.question_ja,
            question_en=poll.question_en,
            status=poll.status,
            opens_at=poll.opens_at,
            closes_at=poll.closes_at,
            votes=votes.get(str(poll.id), 0),
            voters=voters.get(str(poll.id), 0),
            electorate=poll.electorate,
            turnout=None if not poll.electorate else share(votes.get(str(poll.id), 0), poll.electorate),
        )
        for poll in polls
    ]
    counted = [row for row in poll_rows if row.electorate]
    electorate = sum(row.electorate or 0 for row in counted)
    return Participation(
        scope=query.scope(),
        as_of=query.now,
        polls=poll_rows,
        lots=[
            LotBidders(
                lot_id=lot.id,
                park_id=park.id,
                park_name_ja=park.name_ja,
                park_name_en=park.name_en,
                phase=lot.phase,
                auction_start=lot.auction_start,
                bidders=bidders.get(str(lot.id), 0),
            )
            for lot, park in lots
        ],
        votes=sum(row.votes for row in poll_rows),
        voters=sum(row.voters for row in poll_rows),
        electorate=electorate,
        turnout=share(sum(row.votes for row in counted), electorate) if electorate else None,
        bidders=sum(bidders.values()),
    )


# ── staying ─────────────────────────────────────────────────────────────────


def _states(values: dict[str, int]) -> dict[str, int]:
    picked = {state: values.get(state, 0) for state in m.CARD_STATES}
    return {**picked, "total": sum(picked.values())}


def staying(session: Session, query: Query) -> Staying:
    """Card states per resident-card drop of the town and in all (the sum of the drops)."""
    town_id = query.town.id
    drops = _town_drops(session, town_id, resident_cards=True)
    if query.drop_id is not None:
        drops = [drop for drop in drops if drop.id == query.drop_id]
    cells = sums(session, town_id, m.CARD_STATE, ("dim1", "dim2"), dim1=[str(drop.id) for drop in drops] or [""])
    per_drop: dict[str, dict[str, int]] = defaultdict(dict)
    for (drop_key, state), value in cells.items():
        per_drop[drop_key][state] = value
    rows = [
        DropStates(drop_id=drop.id, title_ja=drop.title_ja, title_en=drop.title_en, **_states(per_drop[str(drop.id)]))
        for drop in drops
    ]
    overall = CardStates(**{state: sum(getattr(row, state) for row in rows) for state in (*m.CARD_STATES, "total")})
    return Staying(
        scope=query.scope(),
        as_of=query.now,
        drops=rows,
        total=overall,
        shares={state: share(getattr(overall, state), overall.total) for state in m.CARD_STATES},
    )


# ── categories ──────────────────────────────────────────────────────────────


def categories(session: Session, query: Query) -> Categories:
    """The year's primary categories (with how many live outside the home prefecture) and
    flags, as shares of everyone categorised and of visiting people, beside MLIT's figures."""
    town_id, year = query.town.id, str(query.year)
    primary = sums(session, town_id, m.CATEGORY, ("dim1", "dim2"), day=year)
    flags = sums_by(session, town_id, m.CATEGORY_FLAG, "dim1", day=year)
    people: dict[str, int] = defaultdict(int)
    outside: dict[str, int] = defaultdict(int)
    for (code, prefecture), value in primary.items():
        people[code] += value
        if prefecture != query.town.prefecture:
            outside[code] += value
    everyone = sum(people.values())
    non_visiting = people.get("non_visiting", 0)
    visiting = everyone - non_visiting
    national = mlit.NATIONAL
    rows = [
        CategoryCount(
            code=code,
            name_ja=mlit.CATEGORY_NAMES[code][0],
            name_en=mlit.CATEGORY_NAMES[code][1],
            people=people.get(code, 0),
            share=share(people.get(code, 0), everyone),
            share_of_visiting=None if code == "non_visiting" else share(people.get(code, 0), visiting),
            flags=flags.get(code, 0),
            flag_share_of_visiting=None if code == "non_visiting" else share(flags.get(code, 0), visiting),
            outside_home=outside.get(code, 0),
            national_2023_percent=national.categories_2023.get(code),
            national_2019_percent=national.categories_2019.get(code),
        )
        for code in mlit.CATEGORIES
    ]
    return Categories(
        scope=query.scope(),
        as_of=query.now,
        people=everyone,
        visiting=visiting,
        non_visiting=non_visiting,
        categories=rows,
        rules=[
            {
                "number": rule.number,
                "category": rule.category,
                "name_ja": rule.name_ja,
                "name_en": rule.name_en,
                "condition_ja": rule.condition_ja,
                "condition_en": rule.condition_en,
            }
            for rule in mlit.RULES
        ],
        national=national.as_dict(),
    )


# ── CSV tables ──────────────────────────────────────────────────────────────

Row = list[str | int | None]


def _pct(value: float | None) -> str:
    """A share as a percentage with two decimals ("" for none), as a spreadsheet shows it."""
    return "" if value is None else f"{value * 100:.2f}"


def summary_table(figure: Summary) -> tuple[list[str], list[Row]]:
    header = ["指標 (figure)", "値 (value)"]
    rows: list[Row] = [
        ["住民数 (residents)", figure.residents],
        ["保有枚数 (cards)", figure.cards],
        ["期間内の新規住民 (new residents)", figure.new_residents],
        ["県外の割合 % (outside home prefecture)", _pct(figure.outside_share)],
        [f"訪問者 {figure.scope.year}年 (visitors)", figure.visitors],
        [f"リピーター {figure.scope.year}年 (repeat visitors)", figure.repeat_visitors],
        ["来訪経験のある住民 (residents who visited)", figure.residents_visited],
        ["来訪経験のある住民の割合 % (share)", _pct(figure.residents_visited_share)],
        ["注文 (orders)", figure.orders],
        ["支払済 (paid)", figure.paid],
        ["売上・返金控除後 円 (revenue net, JPY)", figure.revenue_jpy],
        ["投票 (votes)", figure.votes],
        ["投票者 (voters)", figure.voters],
        ["命名権の入札登録者 (bidders)", figure.bidders],
    ]
    return header, rows


def prefectures_table(figure: Prefectures) -> tuple[list[str], list[Row]]:
    header = ["都道府県コード (code)", "都道府県 (prefecture)", "住民数 (residents)", "保有枚数 (cards)"]
    return header, [[row.code, row.name_ja, row.residents, row.cards] for row in figure.prefectures]


def residents_table(figure: Residents) -> tuple[list[str], list[Row]]:
    header = ["期間 (period)", "区分 (by)", "ID", "名称 (name)", "新規住民 (new residents)"]
    rows: list[Row] = [[point.period, "合計 (all)", "", "", point.residents] for point in figure.series]
    for drop in figure.drops:
        rows.extend([p.period, "シリーズ (drop)", drop.drop_id, drop.title_ja, p.residents] for p in drop.series)
    for campaign in figure.campaigns:
        rows.extend(
            [p.period, "キャンペーン (campaign)", campaign.code, campaign.name, p.residents] for p in campaign.series
        )
    return header, rows


_FUNNEL_HEADER: Final = [
    "QR読み取り (scans)",
    "ユニーク読み取り (unique scans)",
    "ボット (bot scans)",
    "注文 (orders)",
    "支払済 (paid)",
    "発行済 (minted)",
    "返金 (refunded)",
    "売上・返金控除後 円 (revenue net, JPY)",
]


def _funnel_cells(counts: FunnelCounts) -> Row:
    return [
        counts.scans,
        counts.unique_scans,
        counts.bot_scans,
        counts.orders,
        counts.paid,
        counts.minted,
        counts.refunded,
        counts.revenue_jpy,
    ]


def funnel_table(figure: Funnel) -> tuple[list[str], list[Row]]:
    header = ["キャンペーンコード (code)", "名称 (name)", *_FUNNEL_HEADER]
    rows: list[Row] = [[row.code, row.name, *_funnel_cells(row)] for row in figure.campaigns]
    rows.append(["", "キャンペーンなし (without campaign)", *_funnel_cells(figure.without_campaign)])
    rows.append(["", "合計 (total)", *_funnel_cells(figure.total)])
    return header, rows


def visits_table(figure: Visits) -> tuple[list[str], list[Row]]:
    header = ["区分 (kind)", "ID", "名称 (name)", "月 (month)", "回数 (count)", "人数 (people)"]
    rows: list[Row] = []
    for spot in figure.spots:
        rows.extend(
            ["チェックイン (check-ins)", spot.spot_id, spot.name_ja, mo.month, mo.count, mo.visitors]
            for mo in spot.months
        )
    for shop in figure.shops:
        rows.extend(
            ["特典利用 (redemptions)", shop.shop_id, shop.name_ja, mo.month, mo.count, mo.visitors]
            for mo in shop.months
        )
    year = figure.scope.year
    rows.append([f"訪問者 {year}年 (visitors)", "", "", "", "", figure.visitors])
    rows.append([f"リピーター {year}年 (repeat visitors)", "", "", "", "", figure.repeat_visitors])
    rows.append(["訪問者・累計 (visitors ever)", "", "", "", "", figure.visitors_ever])
    rows.append(["リピーター・累計 (repeat visitors ever)", "", "", "", "", figure.repeat_visitors_ever])
    for item in figure.bins:
        rows.append(
            [f"訪問日数 {item.bin}日 {year}年 (visit days)", "", f"全国 {item.national_percent}%", "", "", item.people]
        )
    rows.append(["来訪経験のある住民 (residents who visited)", "", "", "", "", figure.residents_visited])
    return header, rows


def participation_table(figure: Participation) -> tuple[list[str], list[Row]]:
    header = [
        "区分 (kind)",
        "ID",
        "名称 (name)",
        "投票・入札登録 (votes/bidders)",
        "投票者 (voters)",
        "有権者 (electorate)",
        "投票率 % (turnout)",
    ]
    rows: list[Row] = [
        ["投票 (poll)", poll.poll_id, poll.question_ja, poll.votes, poll.voters, poll.electorate, _pct(poll.turnout)]
        for poll in figure.polls
    ]
    rows.extend(["命名権 (naming lot)", lot.lot_id, lot.park_name_ja, lot.bidders, "", "", ""] for lot in figure.lots)
    return header, rows


def staying_table(figure: Staying) -> tuple[list[str], list[Row]]:
    header = [
        "シリーズID (drop)",
        "名称 (name)",
        "最初の保有者 (first holder)",
        "本人のウォレットへ移動 (own wallet)",
        "譲渡・転売 (transferred)",
        "失効 (revoked)",
        "合計 (total)",
    ]

    def cells(states: CardStates) -> Row:
        return [states.first_holder, states.own_wallet, states.transferred, states.revoked, states.total]

    rows: list[Row] = [[drop.drop_id, drop.title_ja, *cells(drop)] for drop in figure.drops]
    rows.append(["", "合計 (total)", *cells(figure.total)])
    return header, rows


def categories_table(figure: Categories) -> tuple[list[str], list[Row]]:
    header = [
        "類型コード (code)",
        "類型 (category)",
        "人数 (people)",
        "割合 % (share)",
        "訪問者中の割合 % (of visiting)",
        "該当者・複数回答 (flags)",
        "県外 (outside home)",
        "全国2023 % (national 2023)",
        "全国2019 % (national 2019)",
    ]
    rows: list[Row] = [
        [
            row.code,
            row.name_ja,
            row.people,
            _pct(row.share),
            _pct(row.share_of_visiting),
            row.flags,
            row.outside_home,
            "" if row.national_2023_percent is None else f"{row.national_2023_percent}",
            "" if row.national_2019_percent is None else f"{row.national_2019_percent}",
        ]
        for row in figure.categories
    ]
    return header, rows
