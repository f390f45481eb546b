"""The periods a benefit is used once in, in Japan time: the key a redemption is stored under,
and when the current period ends (the "available again on …" a clerk reads out).

    period_key("day", t)    "2026-12-01"   the calendar day in Asia/Tokyo
    period_key("week", t)   "2026-W49"     the ISO week (Monday to Sunday) in Asia/Tokyo
    period_key("month", t)  "2026-12"      the calendar month in Asia/Tokyo
    period_key("term", t)   "term"         once for the benefit's whole life

Why Japan time: a shop in the town closes its day at midnight in Japan, wherever the server
runs (UTC in a container); a bath taken at 08:30 JST is on the day the clerk sees, not on the
previous UTC day. The key is text, so the database's unique key on
(benefit, card, period_key) is the whole once-per-period rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

JST: Final = ZoneInfo("Asia/Tokyo")
TERM_KEY: Final = "term"


def in_japan(moment: datetime) -> datetime:
    """`moment` in Japan time; a naive one (SQLite hands them back so) is taken as UTC."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(JST)


def period_key(period: str, moment: datetime) -> str:
    """The key of the period holding `moment` (module docstring); ValueError for an unknown period."""
    local = in_japan(moment)
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _weekday = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if period == "month":
        return local.strftime("%Y-%m")
    if period == "term":
        return TERM_KEY
    raise ValueError(f"unknown period {period!r}")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=JST).astimezone(UTC)


def period_end(period: str, moment: datetime, term_end: datetime | None = None) -> datetime | None:
    """When the period holding `moment` ends (UTC; the next period's first instant), or None
    when a used benefit never comes back ("term", unless the benefit's `term_end` is given,
    which is then returned: it is the end of the only period there is)."""
    local = in_japan(moment).date()
    if period == "day":
        return _midnight(local + timedelta(days=1))
    if period == "week":
        return _midnight(local + timedelta(days=7 - local.weekday()))
    if period == "month":
        first_next = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
        return _midnight(first_next)
    if period == "term":
        return None if term_end is None else in_japan(term_end).astimezone(UTC)
    raise ValueError(f"unknown period {period!r}")


def japan_text(moment: datetime) -> str:
    """`2026-12-01 09:30` in Japan time, as a clerk reads it (messages, CSV)."""
    return in_japan(moment).strftime("%Y-%m-%d %H:%M")
