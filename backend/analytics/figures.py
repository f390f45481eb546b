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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from backend.analytics.models import AnalyticsCount

#: Japan time, which every `day` of the rollup is (no daylight saving there).
JST: Final = timezone(timedelta(hours=9), "JST")

Dimension = Literal["metric", "dim1", "dim2", "day", "month", "year"]
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


def _matching(column: Any, wanted: Match) -> ColumnElement[bool] | None:
    if wanted is None:
        return None
    if isinstance(wanted, str):
        return column == wanted  # type: ignore[no-any-return]
    return column.in_(list(wanted))  # type: ignore[no-any-return]


def _where(
    town_id: int,
    metric: str | Collection[str],
    dim1: Match,
    dim2: Match,
    day: Match,
    day_from: str | None,
    day_to: str | None,
) -> list[ColumnElement[bool]]:
    named = _matching(AnalyticsCount.metric, metric)
    assert named is not None
    conditions: list[ColumnElement[bool]] = [AnalyticsCount.municipality_id == town_id, named]
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
) -> list[Cell]:
    """The cells of one metric (or several) of the town, filtered (each filter optional), in
    key order."""
    query = (
        select(AnalyticsCount.dim1, AnalyticsCount.dim2, AnalyticsCount.day, AnalyticsCount.value)
        .where(*_where(town_id, metric, dim1, dim2, day, day_from, day_to))
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
) -> int:
    """The sum of the matching cells (0 when none)."""
    query = select(func.coalesce(func.sum(AnalyticsCount.value), 0)).where(
        *_where(town_id, metric, dim1, dim2, day, day_from, day_to)
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
) -> dict[tuple[str, ...], int]:
    """The matching cells summed per group: `by=("dim1", "month")` gives
    `{(spot id, "YYYY-MM"): value}`; several metrics at once with `by=("metric", …)` (one
    statement, one index range per metric). Groups whose sum is 0 are left out."""
    keys = [_grouping(dimension).label(f"k{index}") for index, dimension in enumerate(by)]
    query = (
        select(*keys, func.sum(AnalyticsCount.value))
        .where(*_where(town_id, metric, dim1, dim2, day, day_from, day_to))
        .group_by(*keys)
    )
    grouped: dict[tuple[str, ...], int] = {}
    for row in session.execute(query):
        value = int(row[-1] or 0)
        if value:
            grouped[tuple(str(part) for part in row[:-1])] = value
    return grouped


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
) -> dict[str, int]:
    """`sums` by one dimension, keyed by its value."""
    grouped = sums(session, town_id, metric, (by,), dim1=dim1, dim2=dim2, day=day, day_from=day_from, day_to=day_to)
    return {key[0]: value for key, value in grouped.items()}


def share(part: int, whole: int) -> float:
    """`part / whole` rounded to 4 places (0.0 of nothing): shares are shown as percentages
    with at most two decimals."""
    return round(part / whole, 4) if whole else 0.0
