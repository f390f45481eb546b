"""Month and year cells, and reading a period from them (issue 13, dashboard speed).

Why these tests: a figure over a period is read as its edge days, whole months and whole
years, each from its own cells (`figures.tiles`). A tile that overlaps another counts a
value twice; a gap loses it; a month cell that drifts from its days shows a number no day
series adds up to. So: the tiles of many periods cover exactly their days once; a sum over
any period from the coarse cells equals the sum of the day cells; the rollup's month and
year cells equal the sums of its day cells after incremental changes (scans included); a
series by day over more than 400 days is refused with a clear code.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics import metrics as m
from backend.analytics.figures import Period, sums, sums_by, tiles, total
from backend.analytics.models import AnalyticsCount
from backend.analytics.rollup import catch_up
from tests.analytics.conftest import World, at, counts_of

FIRST, LAST = date(2023, 1, 1), date(2026, 12, 31)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _covered(tile: tuple[str, str | None, str | None]) -> set[date]:
    """The days of the universe a tile's cells stand for."""
    grain, low, high = tile
    width = {"day": 10, "month": 7, "year": 4}[grain]
    return {
        day
        for day in _days(FIRST, LAST)
        if (low is None or day.isoformat()[:width] >= low) and (high is None or day.isoformat()[:width] <= high)
    }


def test_tiles_cover_every_day_of_the_period_exactly_once() -> None:
    rng = random.Random(13)
    periods = [
        Period(),
        Period(date(2024, 1, 1), date(2024, 12, 31)),
        Period(date(2024, 3, 15), date(2025, 6, 10)),
        Period(date(2024, 2, 1), date(2024, 2, 29)),
        Period(date(2024, 2, 3), date(2024, 2, 20)),
        Period(None, date(2025, 6, 10)),
        Period(date(2024, 12, 31), None),
    ]
    for _ in range(300):
        first = FIRST + timedelta(days=rng.randrange(1400)) if rng.random() < 0.85 else None
        last = FIRST + timedelta(days=rng.randrange(1400)) if rng.random() < 0.85 else None
        periods.append(Period(first, last))
    for period in periods:
        wanted = {d for d in _days(FIRST, LAST) if (period.first or FIRST) <= d <= (period.last or LAST)}
        for finest in ("day", "month", "year"):
            parts = [_covered(tile) for tile in tiles(period, finest)]
            assert sum(len(part) for part in parts) == len(set().union(*parts)), (period, finest)  # no overlap
            assert set().union(*parts) == wanted, (period, finest)
            allowed = {"day": {"day"}, "month": {"day", "month"}, "year": {"day", "month", "year"}}[finest]
            assert {tile[0] for tile in tiles(period, finest)} <= allowed


def test_all_time_is_read_from_the_year_cells_and_a_year_from_its_months_and_days() -> None:
    assert tiles(Period()) == [("year", None, None)]
    assert tiles(Period(date(2024, 1, 1), date(2025, 12, 31))) == [("year", "2024", "2025")]
    assert tiles(Period(date(2024, 3, 15), date(2025, 6, 10))) == [
        ("day", "2024-03-15", "2024-03-31"),
        ("day", "2025-06-01", "2025-06-10"),
        ("month", "2024-04", "2024-12"),
        ("month", "2025-01", "2025-05"),
    ]
    assert tiles(Period(date(2024, 3, 15), date(2025, 6, 10)), "month") == [
        ("day", "2024-03-15", "2024-03-31"),
        ("day", "2025-06-01", "2025-06-10"),
        ("month", "2024-04", "2025-05"),
    ]
    assert tiles(Period(date(2025, 6, 1), date(2025, 5, 1))) == []


def test_with_coarse_adds_month_and_year_cells_of_day_metrics_only() -> None:
    cells = Counter(
        {
            (m.ORDERS, "1", "POSTER", "2025-03-01"): 2,
            (m.ORDERS, "1", "POSTER", "2025-03-31"): 1,
            (m.ORDERS, "1", "POSTER", "2025-04-02"): 4,
            (m.RESIDENTS, "*", "13", ""): 5,
            (m.VISITORS, "", "", "2025"): 3,
        }
    )
    assert m.with_coarse(cells) == {
        **cells,
        ("orders@m", "1", "POSTER", "2025-03"): 3,
        ("orders@m", "1", "POSTER", "2025-04"): 4,
        ("orders@y", "1", "POSTER", "2025"): 7,
    }
    assert m.base_metric("orders@m") == m.base_metric("orders@y") == m.ORDERS


def _write(sessions: sessionmaker[Session], town_id: int, cells: Counter[tuple[str, str, str, str]]) -> None:
    rows = [
        {"municipality_id": town_id, "metric": a, "dim1": b, "dim2": c, "day": d, "value": v}
        for (a, b, c, d), v in m.with_coarse(cells).items()
    ]
    with sessions() as session:
        session.execute(insert(AnalyticsCount), rows)
        session.commit()


def test_a_period_read_from_coarse_cells_equals_the_sum_of_its_days(analytics_db: sessionmaker[Session]) -> None:
    world = World(analytics_db)
    town = world.town("granular")
    rng = random.Random(7)
    cells: Counter[tuple[str, str, str, str]] = Counter()
    for day in _days(date(2023, 1, 1), date(2025, 12, 31)):
        for drop in ("1", "2"):
            if rng.random() < 0.6:
                cells[(m.ORDERS, drop, rng.choice(("", "A", "B")), day.isoformat())] += rng.randrange(1, 5)
            if rng.random() < 0.3:
                cells[(m.REVENUE_JPY, drop, "A", day.isoformat())] += 1000
    _write(analytics_db, town, cells)

    def by_days(metric: str, first: date | None, last: date | None, **match: str) -> int:
        return sum(
            value
            for (name, dim1, dim2, day), value in cells.items()
            if name == metric
            and (first is None or day >= first.isoformat())
            and (last is None or day <= last.isoformat())
            and all({"dim1": dim1, "dim2": dim2}[key] == wanted for key, wanted in match.items())
        )

    periods = [(None, None), (date(2023, 2, 17), date(2025, 11, 3)), (date(2024, 1, 1), None), (None, date(2023, 6, 9))]
    with analytics_db() as session:
        for first, last in periods:
            period = Period(first, last)
            assert total(session, town, m.ORDERS, period=period) == by_days(m.ORDERS, first, last)
            assert total(session, town, m.ORDERS, dim1="2", period=period) == by_days(m.ORDERS, first, last, dim1="2")
            grouped = sums(session, town, (m.ORDERS, m.REVENUE_JPY), ("metric", "dim2"), period=period)
            for metric in (m.ORDERS, m.REVENUE_JPY):
                for code in ("", "A", "B"):
                    assert grouped.get((metric, code), 0) == by_days(metric, first, last, dim2=code)
            monthly = sums_by(session, town, m.ORDERS, "month", dim1="1", period=period)
            expected: Counter[str] = Counter()
            for (name, dim1, _dim2, label), value in cells.items():
                if name == m.ORDERS and dim1 == "1" and (first or FIRST) <= date.fromisoformat(label) <= (last or LAST):
                    expected[label[:7]] += value
            assert monthly == dict(expected)
        # Not a day metric: no coarse cells to read, the day filter as before.
        assert total(session, town, m.VISITORS, period=Period()) == 0


def _coarse_of_days(counts: dict[tuple[str, str, str, str], int]) -> dict[tuple[str, str, str, str], int]:
    """What the month and year cells must be: the stored day cells summed (by hand)."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    for (metric, dim1, dim2, day), value in counts.items():
        if metric in m.DAY_METRICS and len(day) == 10:
            out[(metric + "@m", dim1, dim2, day[:7])] += value
            out[(metric + "@y", dim1, dim2, day[:4])] += value
    return dict(out)


def test_incremental_month_and_year_cells_follow_their_days(analytics_db: sessionmaker[Session]) -> None:
    """Orders, a refund, check-ins and scans (set per day, not added) on several days and
    months: after each catch-up the stored coarse cells are the sums of the stored days."""
    world = World(analytics_db)
    town = world.town("incremental")
    drop = world.drop(town)
    campaign = world.campaign(drop, "POSTER")
    spot = world.spot(town)
    alice = world.holder("alice@example.jp")
    first = world.order(drop, alice.email, campaign="POSTER", holder_id=alice.id, created=at("2025-03-30T01:00"))
    world.scan(campaign, "2025-03-30", "v1")
    world.scan(campaign, "2025-03-31", "v2")
    catch_up(analytics_db)
    world.order(drop, "bob@example.jp", campaign="POSTER", created=at("2025-04-01T01:00"))
    world.scan(campaign, "2025-04-01", "v1")
    world.scan(campaign, "2025-03-31", "v3", bot=True)
    world.check_in(spot, "2025-04-02", alice.address, holder_id=alice.id)
    catch_up(analytics_db)
    world.set_status(first, "refunded")
    world.scan(campaign, "2026-01-02", "v4")
    catch_up(analytics_db)
    counts = counts_of(analytics_db, town)
    coarse = {cell: value for cell, value in counts.items() if m.base_metric(cell[0]) != cell[0]}
    assert coarse == _coarse_of_days(counts)
    assert counts[("scans@m", "POSTER", "", "2025-03")] == 3
    assert counts[("scans@y", "POSTER", "", "2025")] == 4
    assert counts[("bot_scans@y", "POSTER", "", "2025")] == 1
    assert counts[("orders@y", str(drop.id), "POSTER", "2025")] == 2
    assert counts[("refunded@m", str(drop.id), "POSTER", "2025-03")] == 1
