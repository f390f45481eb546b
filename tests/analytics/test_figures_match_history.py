"""Every dashboard figure equals a plain recomputation of a generated history (issue 13).

A seeded history (`backend.analytics.synthetic`) is written in steps the way the app writes
it, with the app's change marks, and the rollup (`rollup.catch_up`) applied after each step:

1. orders in every status, holders, cards, owners, campaign scans;
2. refunds (before and after minting), moves to own wallets, resales, check-ins, benefit
   uses (also by strangers holding a resold card), electors and votes, bidders;
3. deletions (`erasure.erase`) of people with visits and votes;
4. more people and their activity after the deletions.

After each step the rollup's cells (`analytics_counts`) must equal `plain.recompute` cell
for cell, and every figure of every dashboard endpoint (several scopes: all time, one drop,
a period, another year) must equal what the plain cells give. After the deletions the
figures stay what they were (the erased keep only counts), no answer or CSV carries an
erased e-mail, and an erased person's page is 404. On SQLite and PostgreSQL.

The benchmark's bulk writer (final state, chunks, COPY) is checked the same way against a
`rebuild` (`bulk_matches`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics.erasure import erase
from backend.analytics.models import AnalyticsPerson
from backend.analytics.rollup import catch_up, rebuild
from backend.analytics.synthetic import History, Scale, World, build_world
from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import make_engine, make_session_factory, migrate, session_scope, utcnow
from backend.runtime import Runtime
from tests.analytics.plain import Cell, differences, recompute, stored_counts
from tests.factories import staff_headers

pytestmark = pytest.mark.chain

SLUG = "kankei"
SEED = 1313
#: A few hundred people: every case of the Definitions occurs, many prefectures hold fewer
#: than five residents (suppression), and a run stays under a minute per database.
SCALE = Scale(people=180, orders=480, visits=1_800, bidder_share=0.08)
#: The town's public threshold (the default).
THRESHOLD = 5
FIGURES = ("summary", "prefectures", "residents", "funnel", "visits", "participation", "staying", "categories")
#: The three metropolitan areas (三大都市圏) as the plan lists them.
METROS = {
    "shutoken": ("11", "12", "13", "14"),
    "chukyoken": ("21", "23", "24"),
    "kinkiken": ("25", "26", "27", "28", "29", "30"),
}
CATEGORY_CODES = ("direct", "work", "telework", "participation", "hobby", "non_visiting")


# ── the app ─────────────────────────────────────────────────────────────────


def _client(data_dir: Path, database_url: str | None = None) -> Iterator[TestClient]:
    overrides: dict[str, Any] = {} if database_url is None else {"database_url": database_url}
    settings = Settings(chain="eth-tester://", data_dir=data_dir, **overrides)
    with TestClient(create_app(settings)) as client:
        yield client


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path / "data")


@pytest.fixture
def postgres_client(postgres_url: str, tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path / "data", postgres_url)


# ── what the plain cells say each endpoint answers ──────────────────────────


class Scope:
    """One dashboard query (`from`, `to`, `drop_id`, `year`) and how it filters cells."""

    def __init__(
        self, *, first: str | None = None, last: str | None = None, drop_id: int | None = None, year: int
    ) -> None:
        self.first, self.last, self.drop_id, self.year = first, last, drop_id, year

    @property
    def params(self) -> dict[str, str]:
        values = {"from": self.first, "to": self.last, "year": str(self.year)}
        if self.drop_id is not None:
            values["drop_id"] = str(self.drop_id)
        return {key: value for key, value in values.items() if value is not None}

    @property
    def key(self) -> str:
        return "*" if self.drop_id is None else str(self.drop_id)

    def in_days(self, day: str) -> bool:
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)

    def in_months(self, month: str) -> bool:
        return (self.first is None or month >= self.first[:7]) and (self.last is None or month <= self.last[:7])

    def __repr__(self) -> str:
        return f"Scope({self.params})"


def _by(cells: Mapping[Cell, int], metric: str) -> list[tuple[str, str, str, int]]:
    return [(dim1, dim2, day, value) for (name, dim1, dim2, day), value in cells.items() if name == metric]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def expected(cells: Mapping[Cell, int], world: World, scope: Scope, home: str) -> dict[str, Any]:
    """Each endpoint's figures from the plain cells, per the HTTP contract of plan 13."""
    key = scope.key
    residents_by_pref: dict[str, int] = defaultdict(int)
    cards_by_pref: dict[str, int] = defaultdict(int)
    for dim1, dim2, _day, value in _by(cells, "residents"):
        if dim1 == key:
            residents_by_pref[dim2] += value
    for dim1, dim2, _day, value in _by(cells, "cards"):
        if dim1 == key:
            cards_by_pref[dim2] += value
    residents = sum(residents_by_pref.values())
    cards = sum(cards_by_pref.values())
    year = str(scope.year)

    def dated(metric: str, *, dim1: str | None = None) -> int:
        return sum(v for d1, _d2, day, v in _by(cells, metric) if (dim1 is None or d1 == dim1) and scope.in_days(day))

    def undated(metric: str, *, dim1: str | None = None, day: str | None = None) -> int:
        return sum(
            v for d1, _d2, d, v in _by(cells, metric) if (dim1 is None or d1 == dim1) and (day is None or d == day)
        )

    order_scope = None if scope.drop_id is None else str(scope.drop_id)
    visited = undated("residents_visited", dim1=key)
    summary = {
        "residents": residents,
        "cards": cards,
        "new_residents": dated("new_residents", dim1=key),
        "outside_share": _share(residents - residents_by_pref.get(home, 0), residents),
        "visitors": undated("visitors", day=year),
        "repeat_visitors": undated("repeat_visitors", day=year),
        "residents_visited": visited,
        "residents_visited_share": _share(visited, residents),
        "orders": dated("orders", dim1=order_scope),
        "paid": dated("paid", dim1=order_scope),
        "revenue_jpy": dated("revenue_jpy", dim1=order_scope),
        "votes": undated("poll_votes"),
        "voters": undated("poll_voters"),
        "bidders": undated("bidders"),
    }
    ranked = sorted(
        (code for code in residents_by_pref if residents_by_pref[code] > 0),
        key=lambda code: (-residents_by_pref[code], code),
    )
    prefectures = {
        "residents": residents,
        "cards": cards,
        "prefectures": {
            f"{n:02d}": (residents_by_pref.get(f"{n:02d}", 0), cards_by_pref.get(f"{n:02d}", 0)) for n in range(48)
        },
        "home": (residents_by_pref.get(home, 0), cards_by_pref.get(home, 0)),
        "abroad": (residents_by_pref.get("00", 0), cards_by_pref.get("00", 0)),
        "outside_share": _share(residents - residents_by_pref.get(home, 0), residents),
        "top": [(code, residents_by_pref[code]) for code in ranked[:10]],
        "metros": {name: sum(residents_by_pref.get(code, 0) for code in codes) for name, codes in METROS.items()},
    }
    resident_drops = [d.id for d in world.resident_drops if scope.drop_id in (None, d.id)]
    new_by_month: dict[str, int] = defaultdict(int)
    new_by_campaign: dict[str, int] = defaultdict(int)
    new_by_drop: dict[int, int] = defaultdict(int)
    for dim1, dim2, day, value in _by(cells, "new_residents"):
        if not scope.in_days(day):
            continue
        if dim1 == key:
            new_by_month[day[:7]] += value
            new_by_campaign[dim2] += value
        if dim1 != "*" and int(dim1) in resident_drops:
            new_by_drop[int(dim1)] += value
    residents_figure = {
        "residents": residents,
        "cards": cards,
        "new_residents": sum(new_by_month.values()),
        "series": {month: value for month, value in new_by_month.items() if value},
        "drops": {
            drop_id: (
                new_by_drop.get(drop_id, 0),
                undated("residents", dim1=str(drop_id)),
                undated("cards", dim1=str(drop_id)),
            )
            for drop_id in resident_drops
        },
        "campaigns": {code: value for code, value in new_by_campaign.items() if value},
    }
    listed = {code for d in world.drops if scope.drop_id in (None, d.id) for _id, code in d.campaigns}
    funnel_metrics = ("orders", "paid", "minted", "refunded", "revenue_jpy")
    per_code: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    others: dict[str, int] = defaultdict(int)
    for metric in funnel_metrics:
        for dim1, dim2, day, value in _by(cells, metric):
            if (order_scope is None or dim1 == order_scope) and scope.in_days(day):
                (per_code[dim2] if dim2 in listed else others)[metric] += value
    for metric in ("scans", "unique_scans", "bot_scans"):
        for dim1, _dim2, day, value in _by(cells, metric):
            if dim1 in listed and scope.in_days(day):
                per_code[dim1][metric] += value
    total: dict[str, int] = defaultdict(int, others)
    for code in listed:
        for metric, value in per_code[code].items():
            total[metric] += value
    funnel = {
        "campaigns": {code: dict(per_code[code]) for code in listed},
        "without_campaign": dict(others),
        "total": dict(total),
    }
    check_ins = [(d1, day, v) for d1, _d2, day, v in _by(cells, "check_ins") if scope.in_days(day)]
    uses = [(d1, d2, day, v) for d1, d2, day, v in _by(cells, "redemptions") if scope.in_days(day)]
    spots: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for spot, day, value in check_ins:
        spots[int(spot)][day[:7]][0] += value
    for spot, _d2, month, value in _by(cells, "spot_visitors"):
        if scope.in_months(month):
            spots[int(spot)][month][1] += value
    shops: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    benefits: dict[int, int] = defaultdict(int)
    for shop, benefit, day, value in uses:
        shops[int(shop)][day[:7]][0] += value
        benefits[int(benefit)] += value
    for shop, _d2, month, value in _by(cells, "shop_visitors"):
        if scope.in_months(month):
            shops[int(shop)][month][1] += value
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _spot, day, value in check_ins:
        months[day[:7]][0] += value
    for _shop, _benefit, day, value in uses:
        months[day[:7]][1] += value
    bins = {b: undated("visit_days", dim1=b, day=year) for b in ("1", "2-7", "8+")}
    visits = {
        "check_ins": sum(v for *_x, v in check_ins),
        "redemptions": sum(v for *_x, v in uses),
        "months": {month: tuple(pair) for month, pair in months.items()},
        "spots": {spot: {month: tuple(p) for month, p in per.items()} for spot, per in spots.items()},
        "shops": {shop: {month: tuple(p) for month, p in per.items()} for shop, per in shops.items()},
        "benefits": dict(benefits),
        "visitors": undated("visitors", day=year),
        "repeat_visitors": undated("repeat_visitors", day=year),
        "visitors_ever": undated("visitors", day=""),
        "repeat_visitors_ever": undated("repeat_visitors", day=""),
        "bins": bins,
        "residents": residents,
        "residents_visited": visited,
    }
    polls = [p for p in world.polls if _opened_in(p.opens_at, scope)]
    lots = [lot for lot in world.lots if _opened_in(lot.auction_start, scope)]
    participation = {
        "polls": {p.id: (undated("poll_votes", dim1=str(p.id)), undated("poll_voters", dim1=str(p.id))) for p in polls},
        "lots": {lot.id: undated("bidders", dim1=str(lot.id)) for lot in lots},
    }
    states: dict[int, dict[str, int]] = {drop_id: defaultdict(int) for drop_id in resident_drops}
    for dim1, state, _day, value in _by(cells, "card_state"):
        if int(dim1) in states:
            states[int(dim1)][state] += value
    staying = {drop_id: dict(per) for drop_id, per in states.items()}
    people: dict[str, int] = defaultdict(int)
    outside: dict[str, int] = defaultdict(int)
    for code, prefecture, day, value in _by(cells, "category"):
        if day == year:
            people[code] += value
            if prefecture != home:
                outside[code] += value
    flags = {code: undated("category_flag", dim1=code, day=year) for code in CATEGORY_CODES}
    categories = {"people": dict(people), "outside": dict(outside), "flags": flags}
    return {
        "summary": summary,
        "prefectures": prefectures,
        "residents": residents_figure,
        "funnel": funnel,
        "visits": visits,
        "participation": participation,
        "staying": staying,
        "categories": categories,
    }


def _opened_in(moment: datetime, scope: Scope) -> bool:
    day = (moment + timedelta(hours=9)).date().isoformat()  # Japan day of a UTC moment
    return scope.in_days(day)


# ── what the endpoints answer, in the same shapes ───────────────────────────


def _funnel_row(row: Mapping[str, Any]) -> dict[str, int]:
    names = ("scans", "unique_scans", "bot_scans", "orders", "paid", "minted", "refunded", "revenue_jpy")
    return {name: int(row[name]) for name in names if row[name]}


def answered(bodies: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoints' JSON reduced to the figures `expected` computes."""
    s, p, r, f = bodies["summary"], bodies["prefectures"], bodies["residents"], bodies["funnel"]
    v, t, st, c = bodies["visits"], bodies["participation"], bodies["staying"], bodies["categories"]
    summary_keys = (
        "residents",
        "cards",
        "new_residents",
        "outside_share",
        "visitors",
        "repeat_visitors",
        "residents_visited",
        "residents_visited_share",
        "orders",
        "paid",
        "revenue_jpy",
        "votes",
        "voters",
        "bidders",
    )
    assert len(p["prefectures"]) == 48, "all 48 codes, zeros included"
    metros = {row["key"]: row["residents"] for row in p["metros"]}
    assert set(metros) == set(METROS)
    return {
        "summary": {key: s[key] for key in summary_keys},
        "prefectures": {
            "residents": p["residents"],
            "cards": p["cards"],
            "prefectures": {row["code"]: (row["residents"], row["cards"]) for row in p["prefectures"]},
            "home": (p["home"]["residents"], p["home"]["cards"]),
            "abroad": (p["abroad"]["residents"], p["abroad"]["cards"]),
            "outside_share": p["outside_share"],
            "top": [(row["code"], row["residents"]) for row in p["top"]],
            "metros": metros,
        },
        "residents": {
            "residents": r["residents"],
            "cards": r["cards"],
            "new_residents": r["new_residents"],
            "series": {point["period"]: point["residents"] for point in r["series"] if point["residents"]},
            "drops": {row["drop_id"]: (row["new_residents"], row["residents"], row["cards"]) for row in r["drops"]},
            "campaigns": {row["code"]: row["new_residents"] for row in r["campaigns"] if row["new_residents"]},
        },
        "funnel": {
            "campaigns": {row["code"]: _funnel_row(row) for row in f["campaigns"]},
            "without_campaign": _funnel_row(f["without_campaign"]),
            "total": _funnel_row(f["total"]),
        },
        "visits": {
            "check_ins": v["check_ins"],
            "redemptions": v["redemptions"],
            "months": {row["month"]: (row["check_ins"], row["redemptions"]) for row in v["months"]},
            "spots": {
                row["spot_id"]: {m["month"]: (m["count"], m["visitors"]) for m in row["months"]}
                for row in v["spots"]
                if row["months"]
            },
            "shops": {
                row["shop_id"]: {m["month"]: (m["count"], m["visitors"]) for m in row["months"]}
                for row in v["shops"]
                if row["months"]
            },
            "benefits": {b["benefit_id"]: b["redemptions"] for row in v["shops"] for b in row["benefits"]},
            "visitors": v["visitors"],
            "repeat_visitors": v["repeat_visitors"],
            "visitors_ever": v["visitors_ever"],
            "repeat_visitors_ever": v["repeat_visitors_ever"],
            "bins": {row["bin"]: row["people"] for row in v["bins"]},
            "residents": v["residents"],
            "residents_visited": v["residents_visited"],
        },
        "participation": {
            "polls": {row["poll_id"]: (row["votes"], row["voters"]) for row in t["polls"]},
            "lots": {row["lot_id"]: row["bidders"] for row in t["lots"]},
        },
        "staying": {
            row["drop_id"]: {
                state: row[state] for state in ("first_holder", "own_wallet", "transferred", "revoked") if row[state]
            }
            for row in st["drops"]
        },
        "categories": {
            "people": {row["code"]: row["people"] for row in c["categories"] if row["people"]},
            "outside": {row["code"]: row["outside_home"] for row in c["categories"] if row["outside_home"]},
            "flags": {row["code"]: row["flags"] for row in c["categories"]},
        },
    }


def _close(expected_value: Any, actual: Any) -> bool:
    if isinstance(expected_value, float) or isinstance(actual, float):
        return abs(float(expected_value) - float(actual)) <= 1e-4
    return bool(expected_value == actual)


def _compare(want: Any, got: Any, path: str, problems: list[str]) -> None:
    """Nested figures compared; a key missing on one side is a zero (or an empty dict)."""
    if isinstance(want, dict) or isinstance(got, dict):
        want, got = want or {}, got or {}
        if not (isinstance(want, dict) and isinstance(got, dict)):
            problems.append(f"{path}: expected {want!r}, got {got!r}")
            return
        for key in sorted(set(want) | set(got), key=str):
            _compare(want.get(key), got.get(key), f"{path}.{key}", problems)
    elif not _close(want or 0, got or 0):
        problems.append(f"{path}: expected {want!r}, got {got!r}")


# ── the public statistics ───────────────────────────────────────────────────


def _table_check(
    shown: Mapping[str, Any], plain: Mapping[str, int], total: Any, where: str, problems: list[str]
) -> None:
    """One suppressed table (name -> shown count or "x") against its plain counts."""
    primary = [name for name, value in plain.items() if 0 < value < THRESHOLD]
    for name, value in plain.items():
        figure = shown[name]
        if figure == "x":
            if value == 0:
                problems.append(f"{where} {name}: a zero is shown as x")
            elif value >= THRESHOLD and not primary:
                problems.append(f"{where} {name}: x ({value}) in a table without a small cell")
        elif figure != value:
            problems.append(f"{where} {name}: shows {figure}, plain {value}")
        elif 0 < value < THRESHOLD:
            problems.append(f"{where} {name}: small count {value} shown")
    hidden = [name for name in plain if shown[name] == "x"]
    whole = sum(plain.values())
    if total == "x":
        if whole >= THRESHOLD and not primary:
            problems.append(f"{where}: total withheld ({whole}) without a small cell")
    else:
        if total != whole:
            problems.append(f"{where}: total {total}, plain {whole}")
        if len(hidden) == 1:
            problems.append(f"{where}: one hidden cell ({hidden[0]}) beside a shown total")


def public_check(body: Mapping[str, Any], cells: Mapping[Cell, int], home: str, year: int, step: str) -> None:
    """Public statistics of `year` against the plain cells (`Run.check_public`)."""
    label = str(year)
    problems: list[str] = []
    assert body["threshold"] == THRESHOLD
    residents: dict[str, int] = {f"{n:02d}": 0 for n in range(48)}
    cards = 0
    bins = {"1": 0, "2-7": 0, "8+": 0}
    categories = dict.fromkeys(CATEGORY_CODES, 0)
    for (metric, dim1, dim2, day), value in cells.items():
        if metric == "residents" and dim1 == "*":
            residents[dim2] += value
        elif metric == "cards" and dim1 == "*":
            cards += value
        elif metric == "visit_days" and day == label:
            bins[dim1] += value
        elif metric == "category" and day == label:
            categories[dim1] += value
    shown = {row["code"]: row["residents"] for row in body["prefectures"]}
    assert next(iter(shown)) == "00", "abroad first"
    assert len(shown) == 48
    _table_check(shown, residents, body["residents"], f"{step} {year} prefectures", problems)
    if body["abroad"] != shown["00"]:
        problems.append(f"abroad {body['abroad']} is not the 00 cell {shown['00']}")
    whole = sum(residents.values())
    if body["cards"] != "x" and body["cards"] != cards:
        problems.append(f"cards {body['cards']}, plain {cards}")
    if body["cards"] == "x" and body["residents"] != "x" and cards >= THRESHOLD:
        problems.append(f"cards withheld ({cards}) while residents are shown")
    if (
        isinstance(body["outside_share"], float)
        and abs(body["outside_share"] - (whole - residents[home]) / whole) > 1e-4
    ):
        problems.append(f"outside share {body['outside_share']}, plain {(whole - residents[home]) / whole}")
    for metro in body["metros"]:
        value = sum(residents[code] for code in metro["prefectures"])
        if metro["residents"] == "x":
            if not any(shown[code] == "x" for code in metro["prefectures"]) and value >= THRESHOLD:
                problems.append(f"metro {metro['key']} withheld ({value}) with none of its cells hidden")
        elif metro["residents"] != value:
            problems.append(f"metro {metro['key']}: {metro['residents']}, plain {value}")
    visits = body["visits"]
    assert visits["year"] == year
    shown_bins = {row["key"]: row["visitors"] for row in visits["bins"]}
    _table_check(shown_bins, bins, visits["visitors"], f"{step} {year} visit days", problems)
    repeat = bins["2-7"] + bins["8+"]
    if visits["repeat_visitors"] != "x" and visits["repeat_visitors"] != repeat:
        problems.append(f"repeat visitors {visits['repeat_visitors']}, plain {repeat}")
    shown_categories = {row["code"]: row["people"] for row in body["categories"]["items"]}
    visiting = {code: value for code, value in categories.items() if code != "non_visiting"}
    _table_check(shown_categories, visiting, visits["visitors"], f"{step} {year} categories", problems)
    non_visiting = shown_categories["non_visiting"]
    if non_visiting != "x" and non_visiting != categories["non_visiting"]:
        problems.append(f"non-visiting {non_visiting}, plain {categories['non_visiting']}")
    if non_visiting == "x" and not 0 < categories["non_visiting"] < THRESHOLD:
        problems.append(f"non-visiting withheld ({categories['non_visiting']}), not small")
    assert not problems, "public statistics differ:\n" + "\n".join(problems[:30])


# ── the steps ───────────────────────────────────────────────────────────────


class Run:
    """One database's run: the app, the history, and the checks after each step."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.sessions: sessionmaker[Session] = _runtime(client).sessions
        self.world = build_world(self.sessions, slug=SLUG, seed=SEED)
        self.history = History(self.sessions, self.world, SCALE, seed=SEED)
        self.headers = staff_headers(self.sessions, SLUG, "analyst")
        self.frozen: dict[str, Any] = {}
        self.erased_ids: list[int] = []
        self.year = (self.world.end + timedelta(hours=9)).year

    def scopes(self) -> list[Scope]:
        """All time; one drop; a period across a year boundary; an earlier year."""
        first_drop = self.world.resident_drops[0].id
        middle = date(self.year - 1, 3, 15)
        return [
            Scope(year=self.year),
            Scope(drop_id=first_drop, year=self.year),
            Scope(first=middle.isoformat(), last=(middle + timedelta(days=300)).isoformat(), year=self.year - 1),
            Scope(
                first=f"{self.year - 2}-01-01", last=f"{self.year - 2}-12-31", drop_id=first_drop, year=self.year - 2
            ),
        ]

    def rollup(self) -> None:
        catch_up(self.sessions)
        with self.sessions() as session:
            assert session.scalar(select(AnalyticsPerson.id).limit(1)) is not None

    def plain(self) -> dict[Cell, int]:
        with self.sessions() as session:
            result = recompute(session, self.world.town_id)
        cells = dict(result.cells)
        for contribution in self.frozen.values():
            for cell, value in contribution.items():
                cells[cell] = cells.get(cell, 0) + value
        return {cell: value for cell, value in cells.items() if value}

    def check(self, step: str, *, scopes: int = 4) -> dict[Cell, int]:
        """Rollup cells = plain cells; every endpoint's figures (in the first `scopes` scopes)
        and the public statistics = what the plain cells give."""
        plain = self.plain()
        with self.sessions() as session:
            stored = stored_counts(session, self.world.town_id)
        diff = differences(plain, stored)
        assert not diff, f"{step}: rollup cells differ from the plain recomputation:\n" + "\n".join(diff)
        self.check_public(plain, step)
        for scope in self.scopes()[:scopes]:
            bodies = self.figures(scope)
            want = expected(plain, self.world, scope, self.world.prefecture)
            problems: list[str] = []
            _compare(want, answered(bodies), "", problems)
            assert not problems, f"{step} {scope}: endpoints differ:\n" + "\n".join(problems[:30])
        return plain

    def check_public(self, cells: Mapping[Cell, int], step: str) -> None:
        """The public statistics: every shown count is the plain one; an "x" is a small count
        (0 < n < threshold) or a second cell of a table that has one; no table with a shown
        total hides exactly one cell (it could be worked out)."""
        for year in (self.year, self.year - 1):
            response = self.client.get(f"/api/v1/towns/{SLUG}/stats", params={"year": str(year)})
            assert response.status_code == 200, response.text
            public_check(response.json(), cells, self.world.prefecture, year, step)

    def figures(self, scope: Scope) -> dict[str, Any]:
        bodies = {}
        for figure in FIGURES:
            params = {**scope.params, **({"interval": "month"} if figure == "residents" else {})}
            response = self.client.get(
                f"/api/v1/staff/towns/{SLUG}/analytics/{figure}", params=params, headers=self.headers
            )
            assert response.status_code == 200, (figure, response.text)
            bodies[figure] = response.json()
        return bodies

    def erase(self, count: int) -> list[str]:
        """Erase `count` people through the APPI erasure, freezing their plain contribution
        first (what the figures keep of them)."""
        people = self.history.pick_to_erase(count)
        emails = [person.email for person in people]
        with self.sessions() as session:
            before = recompute(session, self.world.town_id)
            ids = dict(
                session.execute(
                    select(AnalyticsPerson.email, AnalyticsPerson.id).where(
                        AnalyticsPerson.municipality_id == self.world.town_id, AnalyticsPerson.email.in_(emails)
                    )
                ).all()
            )
        assert set(ids) == set(emails), "every chosen person has a rollup row"
        for email in emails:
            assert before.by_person[email], f"{email} contributes something"
            self.frozen[email] = before.by_person[email]
            with session_scope(self.sessions) as session:
                erase(session, self.world.town_id, email, utcnow())
            self.history.erased.append(email)
        self.erased_ids.extend(int(ids[email]) for email in emails)
        return emails

    def assert_nowhere(self, emails: list[str]) -> None:
        """No figure, CSV or person page of the dashboard names an erased person."""
        texts = [self.client.get(f"/api/v1/towns/{SLUG}/stats").text]
        for scope in self.scopes()[:1]:
            for figure in FIGURES:
                for suffix in ("", ".csv"):
                    response = self.client.get(
                        f"/api/v1/staff/towns/{SLUG}/analytics/{figure}{suffix}",
                        params=scope.params,
                        headers=self.headers,
                    )
                    assert response.status_code == 200, (figure, suffix, response.text)
                    texts.append(response.content.decode("utf-8-sig"))
        rows = list(csv.reader(io.StringIO(texts[2])))
        assert len(rows) > 1, "the summary CSV has its rows"
        for email in emails:
            assert not any(email in body for body in texts), f"{email} appears in an answer"
        for person_id in self.erased_ids:
            response = self.client.get(f"/api/v1/staff/towns/{SLUG}/analytics/people/{person_id}", headers=self.headers)
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "person_not_found"


def run_history(client: TestClient) -> None:
    run = Run(client)
    first = run.history.write_orders()
    run.rollup()
    orders = run.check("orders", scopes=2)
    assert any(key[0] == "refunded" for key in orders) is False, "refunds come in step 2"

    run.history.write_activity(first)
    run.rollup()
    activity = run.check("activity")
    for metric in ("refunded", "check_ins", "redemptions", "poll_votes", "bidders", "premium_candidates"):
        assert any(key[0] == metric for key in activity), f"the history has {metric}"
    states = {key[2] for key in activity if key[0] == "card_state"}
    assert states == {"first_holder", "own_wallet", "transferred", "revoked"}, states

    emails = run.erase(12)
    run.rollup()
    after = run.check("deletions", scopes=2)
    assert after == activity, "figures keep the erased people's counts"
    run.assert_nowhere(emails)

    later = run.history.write_orders(40)
    run.history.write_activity(later)
    run.rollup()
    final = run.check("after deletions")
    assert final != after
    run.assert_nowhere(emails)


def test_figures_match_history_sqlite(sqlite_client: TestClient) -> None:
    run_history(sqlite_client)


@pytest.mark.postgres
def test_figures_match_history_postgres(postgres_client: TestClient) -> None:
    run_history(postgres_client)


def bulk_matches(database_url: str) -> None:
    """The benchmark's way in: the history written in bulk, in its final state, in chunks
    (COPY on PostgreSQL, indexes and triggers deferred), then `rebuild`: the same cells as
    the plain recomputation, and every step's rows there."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        world = build_world(sessions, slug="bulk", seed=SEED)
        history = History(sessions, world, Scale(people=600, orders=1_800, visits=3_600), seed=SEED)
        totals = history.write_all(engine, chunk=250)
        assert totals.rows["orders"] >= 1_500
        assert totals.rows["poll_votes"] > 0
        assert rebuild(sessions, world.town_id) == 600
        with sessions() as session:
            plain = recompute(session, world.town_id)
            stored = stored_counts(session, world.town_id)
        diff = differences(plain.cells, stored)
        assert not diff, "bulk history: rollup differs from the plain recomputation:\n" + "\n".join(diff)
        assert {key[2] for key in plain.cells if key[0] == "card_state"} == {
            "first_holder",
            "own_wallet",
            "transferred",
            "revoked",
        }
    finally:
        engine.dispose()


def test_bulk_history_matches_after_rebuild_sqlite(tmp_path: Path) -> None:
    bulk_matches(f"sqlite:///{tmp_path / 'bulk.db'}")


@pytest.mark.postgres
def test_bulk_history_matches_after_rebuild_postgres(postgres_url: str) -> None:
    bulk_matches(postgres_url)
