"""Reading the rollup: small grouped sums over `analytics_counts`, for the staff dashboard, its
CSVs, the monthly report and the public statistics (`public_stats.py`).

Why only here: every figure a request answers comes from the rollup cells the rollup job
keeps current (`rollup.py`), never from the raw orders, check-ins or redemptions. A town
with a million orders has a few thousand cells per metric, and each read below is one
`SELECT … GROUP BY` that walks the primary key `(municipality_id, metric, dim1, dim2, day)`
from its left: the town and the metric always, `dim1` when the caller names it (a drop, the
all-drops scope `*`), then `dim2` or `day`. So each read is an index range scan whose size
is the number of cells, not of rows they summarise.

`day` holds "YYYY-MM-DD", "YYYY-MM", "YYYY" or "" (see `metrics.py`), compared as text: the
ISO forms sort as their dates do, so a range of days is `day BETWEEN first AND last` with
bounds of the same form. A day range excludes the undated cells ("" sorts first).

Periods of the day metrics (`metrics.DAY_METRICS`: orders, new residents, check-ins, …): a
read given `period=` tiles it into its edge days, whole months and whole years (`tiles`)
and reads each tile from the cells of its granularity ("orders" days, "orders@m" months,
"orders@y" years), all in one statement. Why: summing the daily cells of three years is
tens of thousands of cells per metric at a million orders; all time is then the year
cells alone, and any period at most about 60 edge days, 22 months and its years. A read
grouped by month uses no year cells, one grouped by day only day cells (`finest_grain`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from backend.analytics import metrics as m
from backend.analytics.models import AnalyticsCount

#: Japan time, which every `day` of the rollup is (no daylight saving there).
JST: Final = timezone(timedelta(hours=9), "JST")

Dimension = Literal["metric", "dim1", "dim2", "day", "month", "year"]
#: The granularity of a tile of a period: its cells are dated "YYYY-MM-DD", "YYYY-MM", "YYYY".
Grain = Literal["day", "month", "year"]
#: A value of dim1/dim2 to match: one value, or any of several.
Match = str | Collection[str] | None

_COLUMNS: Final = {
    "metric": AnalyticsCount.metric,
    "dim1": AnalyticsCount.dim1,
    "dim2": AnalyticsCount.dim2,
    "day": AnalyticsCount.day,
}


@dataclass(frozen=True)
class Cell:
    """One rollup cell as read (or a sum of cells, grouped)."""

    dim1: str
    dim2: str
    day: str
    value: int


@dataclass(frozen=True)
class Period:
    """An inclusive range of Japan days; either end open (None: since the first, until now).

    `empty` when the first day is after the last: every dated figure of it is 0."""

    first: date | None = None
    last: date | None = None

    @property
    def empty(self) -> bool:
        return self.first is not None and self.last is not None and self.first > self.last

    def days(self) -> tuple[str | None, str | None]:
        """Bounds for cells dated by day ("YYYY-MM-DD")."""
        return (
            None if self.first is None else self.first.isoformat(),
            None if self.last is None else self.last.isoformat(),
        )

    def months(self) -> tuple[str | None, str | None]:
        """Bounds for cells dated by month ("YYYY-MM"): the months the period touches."""
        return (
            None if self.first is None else self.first.isoformat()[:7],
            None if self.last is None else self.last.isoformat()[:7],
        )

    def years(self) -> tuple[str | None, str | None]:
        """Bounds for cells dated by year ("YYYY")."""
        return (
            None if self.first is None else self.first.isoformat()[:4],
            None if self.last is None else self.last.isoformat()[:4],
        )


ALL_TIME: Final = Period()


def japan_today(now: datetime) -> date:
    """The Japan day of `now` (an aware moment)."""
    return now.astimezone(JST).date()


def month_period(month: str) -> Period:
    """The days of the month "YYYY-MM"."""
    year, number = int(month[:4]), int(month[5:7])
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return Period(first, following - timedelta(days=1))


#: A tile of a period: its granularity and its first and last labels (None: open).
Tile = tuple[Grain, str | None, str | None]


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _first_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def tiles(period: Period, finest: Grain = "year") -> list[Tile]:
    """The period as disjoint ranges of cells, coarsest possible down to `finest`: its days
    before the first whole month and after the last, its whole months outside whole years,
    and its whole years. An open end stays open at the coarsest granularity allowed
    (all time by year is `[("year", None, None)]`). Empty for an empty period."""
    if period.empty:
        return []
    first, last = period.first, period.last
    if finest == "day":
        return [("day", *period.days())]
    out: list[Tile] = []
    # Whole months: [month_from, month_to] as month indexes (None: open).
    month_from: int | None = None
    month_to: int | None = None
    if first is not None:
        month_from = _month_index(first)
        if first.day != 1:
            head_end = _first_of(month_from + 1) - timedelta(days=1)
            if last is not None and last <= head_end:
                return [("day", first.isoformat(), last.isoformat())]
            out.append(("day", first.isoformat(), head_end.isoformat()))
            month_from += 1
    if last is not None:
        month_to = _month_index(last)
        if last != _first_of(month_to + 1) - timedelta(days=1):
            out.append(("day", _first_of(month_to).isoformat(), last.isoformat()))
            month_to -= 1
    if month_from is not None and month_to is not None and month_from > month_to:
        return out
    if finest == "month":
        out.append(
            (
                "month",
                None if month_from is None else _month_label(month_from),
                None if month_to is None else _month_label(month_to),
            )
        )
        return out
    year_from: int | None = None
    year_to: int | None = None
    if month_from is not None:
        year_from = month_from // 12
        if month_from % 12:
            head_end_month = year_from * 12 + 11
            if month_to is not None and month_to <= head_end_month:
                out.append(("month", _month_label(month_from), _month_label(month_to)))
                return out
            out.append(("month", _month_label(month_from), _month_label(head_end_month)))
            year_from += 1
    if month_to is not None:
        year_to = month_to // 12
        if month_to % 12 != 11:
            out.append(("month", _month_label(year_to * 12), _month_label(month_to)))
            year_to -= 1
    if year_from is not None and year_to is not None and year_from > year_to:
        return out
    out.append(
        ("year", None if year_from is None else f"{year_from:04d}", None if year_to is None else f"{year_to:04d}")
    )
    return out


def finest_grain(by: Iterable[Dimension]) -> Grain:
    """The coarsest cells a read grouped `by` these may use: grouped by day, day cells; by
    month, day and month cells; otherwise (by year, or no date at all) any."""
    wanted = set(by)
    if "day" in wanted:
        return "day"
    if "month" in wanted:
        return "month"
    return "year"


def _matching(column: Any, wanted: Match) -> ColumnElement[bool] | None:
    if wanted is None:
        return None
    if isinstance(wanted, str):
        return column == wanted  # type: ignore[no-any-return]
    return column.in_(list(wanted))  # type: ignore[no-any-return]


def _names(metric: str | Collection[str]) -> list[str]:
    return [metric] if isinstance(metric, str) else list(metric)


def _in_period(metric: str | Collection[str], period: Period, finest: Grain) -> ColumnElement[bool]:
    """Cells of the metrics in the period, each tile from its own granularity's metric names
    (`tiles`). A metric without coarse cells is read by day alone."""
    names = _names(metric)
    grain: Grain = finest if all(name in m.DAY_METRICS for name in names) else "day"
    branches: list[ColumnElement[bool]] = []
    for tile_grain, low, high in tiles(period, grain):
        stored = {"day": names, "month": [m.monthly(n) for n in names], "year": [m.yearly(n) for n in names]}
        parts = [_matching(AnalyticsCount.metric, stored[tile_grain])]
        if low is not None:
            parts.append(AnalyticsCount.day >= low)
        if high is not None:
            parts.append(AnalyticsCount.day <= high)
        if tile_grain == "day":
            parts.append(AnalyticsCount.day != "")
        branches.append(and_(*(part for part in parts if part is not None)))
    if not branches:  # an empty period: nothing matches
        return false()
    return branches[0] if len(branches) == 1 else or_(*branches)


def _where(
    town_id: int,
    metric: str | Collection[str],
    dim1: Match,
    dim2: Match,
    day: Match,
    day_from: str | None,
    day_to: str | None,
    period: Period | None = None,
    finest: Grain = "year",
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AnalyticsCount.municipality_id == town_id]
    if period is not None:
        assert day_from is None, "period= replaces the day filters"
        assert day_to is None, "period= replaces the day filters"
        assert day is None, "period= replaces the day filters"
        conditions.append(_in_period(metric, period, finest))
    else:
        named = _matching(AnalyticsCount.metric, metric)
        assert named is not None
        conditions.append(named)
    for column, wanted in ((AnalyticsCount.dim1, dim1), (AnalyticsCount.dim2, dim2), (AnalyticsCount.day, day)):
        condition = _matching(column, wanted)
        if condition is not None:
            conditions.append(condition)
    if day_from is not None:
        conditions.append(AnalyticsCount.day >= day_from)
    if day_to is not None:
        conditions.append(AnalyticsCount.day <= day_to)
    if day_from is not None or day_to is not None:
        conditions.append(AnalyticsCount.day != "")
    return conditions


def _grouping(by: Dimension) -> ColumnElement[str]:
    """The column to group by; months and years are the leading characters of `day`."""
    if by == "month":
        return func.substr(AnalyticsCount.day, 1, 7)
    if by == "year":
        return func.substr(AnalyticsCount.day, 1, 4)
    return _COLUMNS[by].expression


def counts(
    session: Session,
    town_id: int,
    metric: str | Collection[str],
    *,
    dim1: Match = None,
    dim2: Match = None,
    day: Match = None,
    day_from: str | None = None,
    day_to: str | None = None,
    period: Period | None = None,
) -> list[Cell]:
    """The cells of one metric (or several) of the town, filtered (each filter optional), in
    key order. With `period` (day metrics), the days, months and years tiling it, as stored
    ("YYYY-MM-DD", "YYYY-MM", "YYYY")."""
    query = (
        select(AnalyticsCount.dim1, AnalyticsCount.dim2, AnalyticsCount.day, AnalyticsCount.value)
        .where(*_where(town_id, metric, dim1, dim2, day, day_from, day_to, period))
        .order_by(AnalyticsCount.dim1, AnalyticsCount.dim2, AnalyticsCount.day)
    )
    return [Cell(dim1, dim2, day_, int(value)) for dim1, dim2, day_, value in session.execute(query)]


def total(
    session: Session,
    town_id: int,
    metric: str | Collection[str],
    *,
    dim1: Match = None,
    dim2: Match = None,
    day: Match = None,
    day_from: str | None = None,
    day_to: str | None = None,
    period: Period | None = None,
) -> int:
    """The sum of the matching cells (0 when none); with `period`, over its tiles (module
    docstring)."""
    query = select(func.coalesce(func.sum(AnalyticsCount.value), 0)).where(
        *_where(town_id, metric, dim1, dim2, day, day_from, day_to, period)
    )
    return int(session.scalar(query) or 0)


def sums(
    session: Session,
    town_id: int,
    metric: str | Collection[str],
    by: Iterable[Dimension],
    *,
    dim1: Match = None,
    dim2: Match = None,
    day: Match = None,
    day_from: str | None = None,
    day_to: str | None = None,
    period: Period | None = None,
) -> dict[tuple[str, ...], int]:
    """The matching cells summed per group: `by=("dim1", "month")` gives
    `{(spot id, "YYYY-MM"): value}`; several metrics at once with `by=("metric", …)` (one
    statement, one index range per metric). Groups whose sum is 0 are left out.

    With `period` (day metrics), the period's tiles down to what `by` needs (`finest_grain`):
    a "metric" key is the metric asked for, whatever granularity its cells came from."""
    order = list(by)
    keys = [_grouping(dimension).label(f"k{index}") for index, dimension in enumerate(order)]
    finest = finest_grain(order)
    query = (
        select(*keys, func.sum(AnalyticsCount.value))
        .where(*_where(town_id, metric, dim1, dim2, day, day_from, day_to, period, finest))
        .group_by(*keys)
    )
    folds = [index for index, dimension in enumerate(order) if dimension == "metric"] if period is not None else []
    grouped: dict[tuple[str, ...], int] = {}
    for row in session.execute(query):
        key = [str(part) for part in row[:-1]]
        for index in folds:
            key[index] = m.base_metric(key[index])
        grouped[tuple(key)] = grouped.get(tuple(key), 0) + int(row[-1] or 0)
    return {key: value for key, value in grouped.items() if value}


def sums_by(
    session: Session,
    town_id: int,
    metric: str | Collection[str],
    by: Dimension,
    *,
    dim1: Match = None,
    dim2: Match = None,
    day: Match = None,
    day_from: str | None = None,
    day_to: str | None = None,
    period: Period | None = None,
) -> dict[str, int]:
    """`sums` by one dimension, keyed by its value."""
    grouped = sums(
        session, town_id, metric, (by,), dim1=dim1, dim2=dim2, day=day, day_from=day_from, day_to=day_to, period=period
    )
    return {key[0]: value for key, value in grouped.items()}


def share(part: int, whole: int) -> float:
    """`part / whole` rounded to 4 places (0.0 of nothing): shares are shown as percentages
    with at most two decimals."""
    return round(part / whole, 4) if whole else 0.0
