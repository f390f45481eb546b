"""The public statistics over HTTP and straight from the rollup cells (written here directly;
the rollup is tested elsewhere): the contract, "x" for a prefecture of three residents and
its second cell, the outside share withheld when the home prefecture is small, visits and
categories protected together, nothing about individuals, 404 and 422, the page route.

The last word on "can a suppressed count be worked out" is the auditor of
`test_suppression.py`, run here on the API's own answer: it reads the published figures
exactly as a reader of the page would and tries every table consistent with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics import metrics as m
from backend.analytics.figures import JST
from backend.analytics.models import AnalyticsCount, AnalyticsPerson, AnalyticsPersonAddress
from backend.analytics.public_stats import town_stats
from backend.analytics.suppression import Group, Suppression, X
from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.runtime import Runtime
from backend.towns.models import Municipality
from tests.analytics.test_suppression import possible_values
from tests.factories import add_town

SLUG = "kawabe"
SMALL_HOME_SLUG = "kochi-mura"
EMPTY_SLUG = "shinmachi"
YEAR = "2026"
NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)

#: Residents by prefecture of "kawabe" (home Yamagata, 06): Saitama 3 and abroad 1 are small.
RESIDENTS = {"06": 20, "13": 12, "14": 6, "11": 3, "27": 7, "40": 5, "00": 1}
CARDS = {"06": 25, "13": 15, "14": 6, "11": 3, "27": 8, "40": 5, "00": 1}
BINS = {m.BIN_ONE: 9, m.BIN_FEW: 3, m.BIN_MANY: 6}
CATEGORIES = {"hobby": 8, "participation": 4, "direct": 6, "work": 0, "telework": 0, "non_visiting": 5}
EMAIL = "hanako.secret@example.jp"
ADDRESS = "0x" + "ab" * 20


def rows_for(
    town_id: int,
    residents: dict[str, int],
    cards: dict[str, int],
    bins: dict[str, int],
    categories: dict[str, int],
    year: str = YEAR,
) -> list[dict[str, Any]]:
    """Rollup cells as the rollup would leave them (categories split over two prefectures, and
    a per-drop scope and the year before, which the public figures must not add in)."""
    rows: list[tuple[str, str, str, str, int]] = []
    rows += [(m.RESIDENTS, m.ALL, code, "", value) for code, value in residents.items()]
    rows += [(m.RESIDENTS, "1", code, "", value) for code, value in residents.items()]
    rows += [(m.CARDS, m.ALL, code, "", value) for code, value in cards.items()]
    rows += [(m.VISIT_DAYS, key, "", year, value) for key, value in bins.items()]
    rows += [(m.VISIT_DAYS, key, "", str(int(year) - 1), 50) for key in bins]
    rows += [(m.VISITORS, "", "", year, sum(bins.values()))]
    rows += [(m.REPEAT_VISITORS, "", "", year, bins.get(m.BIN_FEW, 0) + bins.get(m.BIN_MANY, 0))]
    for code, value in categories.items():
        rows += [(m.CATEGORY, code, "13", year, value // 2), (m.CATEGORY, code, "06", year, value - value // 2)]
        rows += [(m.CATEGORY, code, "06", str(int(year) - 1), 40)]
    return [
        {"municipality_id": town_id, "metric": metric, "dim1": d1, "dim2": d2, "day": day, "value": value}
        for metric, d1, d2, day, value in rows
        if value
    ]


def seed(sessions: sessionmaker[Session]) -> None:
    town_id = add_town(sessions, SLUG, prefecture="06")
    small_home = add_town(sessions, SMALL_HOME_SLUG, prefecture="39", stats_threshold=5)
    add_town(sessions, EMPTY_SLUG, prefecture="01")
    with session_scope(sessions) as session:
        session.execute(insert(AnalyticsCount), rows_for(town_id, RESIDENTS, CARDS, BINS, CATEGORIES))
        session.execute(
            insert(AnalyticsCount),
            rows_for(
                small_home,
                {"39": 3, "13": 40, "14": 12, "27": 9},
                {"39": 3, "13": 44, "14": 12, "27": 9},
                {m.BIN_ONE: 2, m.BIN_FEW: 20, m.BIN_MANY: 9},
                {"hobby": 20, "participation": 10, "direct": 1, "work": 0, "telework": 0, "non_visiting": 0},
            ),
        )
        person = AnalyticsPerson(municipality_id=town_id, email=EMAIL, prefecture="11", resident=True, cards=1)
        session.add(person)
        session.flush()
        session.add(AnalyticsPersonAddress(municipality_id=town_id, address=ADDRESS, person_id=person.id))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("public-stats") / "data")
    with TestClient(create_app(settings)) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        seed(runtime.sessions)
        yield client


def stats(client: TestClient, slug: str = SLUG, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/towns/{slug}/stats", params={"year": YEAR, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_code(body: dict[str, Any]) -> dict[str, Any]:
    return {row["code"]: row["residents"] for row in body["prefectures"]}


# ── the answer ──────────────────────────────────────────────────────────────


def test_a_prefecture_of_three_residents_is_x_and_so_is_a_second_cell(client: TestClient) -> None:
    body = stats(client)
    pref = by_code(body)
    assert [row["code"] for row in body["prefectures"]] == list(m.PREFECTURES)
    assert pref["11"] == X, "Saitama's 3"
    assert pref["00"] == X, "abroad's 1"
    assert body["abroad"] == X
    # 3 + 1 < 5: the total needs a third "x", the smallest other cell (Fukuoka 5).
    assert pref["40"] == X
    assert (pref["06"], pref["13"], pref["14"], pref["27"]) == (20, 12, 6, 7)
    assert pref["01"] == 0, "zeros are shown"
    assert body["residents"] == sum(RESIDENTS.values())
    assert body["cards"] == sum(CARDS.values())
    assert body["threshold"] == 5
    assert body["home_prefecture"] == "06"
    assert body["outside_share"] == round((54 - 20) / 54, 4)


def test_a_metro_sum_that_would_reveal_saitama_is_withheld(client: TestClient) -> None:
    metros = {row["key"]: row for row in stats(client)["metros"]}
    assert metros["shutoken"]["residents"] == X, "Tokyo 12 + Kanagawa 6 are shown: the sum would give Saitama"
    assert metros["shutoken"]["prefectures"] == ["11", "12", "13", "14"]
    assert metros["kinkiken"]["residents"] == 7
    assert metros["chukyoken"]["residents"] == 0


def test_visits_and_categories_are_this_years_and_protected_together(client: TestClient) -> None:
    body = stats(client)
    visits = body["visits"]
    assert visits["year"] == 2026
    assert visits["visitors"] == 18
    bins = {row["key"]: row for row in visits["bins"]}
    assert bins["1"]["visitors"] == 9
    assert bins["2-7"]["visitors"] == X
    assert bins["8+"]["visitors"] == X, "second cell of the visitors' total"
    assert visits["repeat_visitors"] == X, "visitors − repeat would give the one-day bin, then 2-7 from 8+"
    assert bins["1"]["share"] == 0.5
    assert bins["2-7"]["share"] == X
    assert [bins[key]["national_share"] for key in ("1", "2-7", "8+")] == [0.2, 0.49, 0.31]
    categories = {row["code"]: row for row in body["categories"]["items"]}
    assert [row["code"] for row in body["categories"]["items"]] == [
        "direct",
        "work",
        "telework",
        "participation",
        "hobby",
        "non_visiting",
    ]
    assert categories["participation"]["people"] == X
    assert categories["direct"]["people"] == X, "the second cell: 6 beside the visitors' 18 and hobby's 8"
    assert categories["hobby"]["people"] == 8
    assert categories["work"]["people"] == 0
    assert categories["non_visiting"]["people"] == 5
    assert categories["non_visiting"]["share"] is None
    assert categories["hobby"]["share"] == round(8 / 18, 4)
    assert categories["hobby"]["name_ja"] == "趣味・消費型"


def test_a_small_home_prefecture_withholds_the_outside_share(client: TestClient) -> None:
    body = stats(client, SMALL_HOME_SLUG)
    assert by_code(body)["39"] == X
    assert body["outside_share"] == X, "residents × (1 − share) would be the 3 at home"
    assert body["residents"] == 64
    visits = body["visits"]
    assert visits["visitors"] == 31
    assert visits["repeat_visitors"] == X, "31 − 29 = the 2 one-day visitors"
    categories = {row["code"]: row["people"] for row in body["categories"]["items"]}
    assert categories["direct"] == X
    assert categories["participation"] == X, "1 beside 20 and the total 31 would be exact"


def published_view(body: dict[str, Any], threshold: int) -> tuple[list[Group], Suppression]:
    """The API's answer as the auditor reads it: cells and the sums it publishes."""
    cells: dict[str, Any] = {f"pref:{row['code']}": row["residents"] for row in body["prefectures"]}
    cells |= {f"bin:{row['key']}": row["visitors"] for row in body["visits"]["bins"]}
    cells |= {f"cat:{row['code']}": row["people"] for row in body["categories"]["items"]}
    home = body["home_prefecture"]
    residents, share = body["residents"], body["outside_share"]
    home_sum: Any = X
    if residents != X and isinstance(share, float):
        home_sum = residents - round(share * residents)
    groups = [
        Group.of("residents", [name for name in cells if name.startswith("pref:")]),
        Group.of("home", [f"pref:{home}"]),
    ]
    sums: dict[str, Any] = {"residents": residents, "home": home_sum}
    for metro in body["metros"]:
        groups.append(Group.of(metro["key"], [f"pref:{code}" for code in metro["prefectures"]]))
        sums[metro["key"]] = metro["residents"]
    groups += [
        Group.of("visitors", [name for name in cells if name.startswith("bin:")]),
        Group.of("repeat", ["bin:2-7", "bin:8+"]),
        Group.of(
            "visitors_by_category", [f"cat:{code}" for code in ("direct", "work", "telework", "participation", "hobby")]
        ),
    ]
    sums |= {
        "visitors": body["visits"]["visitors"],
        "repeat": body["visits"]["repeat_visitors"],
        "visitors_by_category": body["visits"]["visitors"],
    }
    hidden = frozenset(name for name, value in cells.items() if value == X)
    view = Suppression(
        cells=cells,
        groups=sums,
        primary=hidden,
        secondary=frozenset(),
        withheld=frozenset(name for name, value in sums.items() if value == X),
        threshold=threshold,
    )
    return groups, view


@pytest.mark.parametrize(
    ("slug", "truth"),
    [
        (SLUG, ({"06": 20, "13": 12, "14": 6, "11": 3, "27": 7, "40": 5, "00": 1}, BINS, CATEGORIES)),
        (
            SMALL_HOME_SLUG,
            (
                {"39": 3, "13": 40, "14": 12, "27": 9},
                {m.BIN_ONE: 2, m.BIN_FEW: 20, m.BIN_MANY: 9},
                {"hobby": 20, "participation": 10, "direct": 1, "work": 0, "telework": 0, "non_visiting": 0},
            ),
        ),
    ],
)
def test_no_x_in_the_answer_can_be_worked_out(
    client: TestClient, slug: str, truth: tuple[dict[str, int], dict[str, int], dict[str, int]]
) -> None:
    body = stats(client, slug)
    residents, bins, categories = truth
    cells = {f"pref:{code}": residents.get(code, 0) for code in m.PREFECTURES}
    cells |= {f"bin:{key}": bins[key] for key in m.VISIT_DAY_BINS}
    cells |= {f"cat:{code}": value for code, value in categories.items()}
    groups, view = published_view(body, body["threshold"])
    assert view.hidden, "the case has small cells"
    for name, value in view.cells.items():
        assert value == X or value == cells[name]
    values = possible_values(cells, groups, view, [{"visitors", "visitors_by_category"}])
    for name, possible in values.items():
        assert len(possible) >= 2, f"{name} = {cells[name]} follows from the published figures"


def test_nothing_about_individuals_is_in_the_answer(client: TestClient) -> None:
    response = client.get(f"/api/v1/towns/{SLUG}/stats")
    assert response.status_code == 200
    text = response.text.lower()
    assert EMAIL not in text
    assert "@" not in text
    assert ADDRESS not in text
    assert set(response.json()) == {
        "town",
        "threshold",
        "as_of",
        "residents",
        "cards",
        "home_prefecture",
        "prefectures",
        "abroad",
        "outside_share",
        "metros",
        "visits",
        "categories",
    }


def test_the_default_year_is_this_japan_year(client: TestClient) -> None:
    response = client.get(f"/api/v1/towns/{SLUG}/stats")
    body = response.json()
    this_year = datetime.now(UTC).astimezone(JST).year
    assert body["visits"]["year"] == this_year
    assert body["categories"]["year"] == this_year
    assert body["residents"] == 54, "residents are now, whatever the year"
    assert response.headers["cache-control"] == "public, max-age=60"


def test_the_year_before_has_its_own_figures(client: TestClient) -> None:
    body = stats(client, year="2025")
    assert body["visits"]["visitors"] == 150
    assert {row["code"]: row["people"] for row in body["categories"]["items"]}["hobby"] == 40


def test_a_higher_threshold_hides_more(client: TestClient) -> None:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        town = session.query(Municipality).filter_by(slug=SLUG).one()
        town.stats_threshold = 10
        body = town_stats(session, town, now=NOW).model_dump()
        session.rollback()
    pref = by_code(body)
    assert body["threshold"] == 10
    assert pref["14"] == X, "6 < 10"
    assert pref["06"] == 20
    assert body["visits"]["year"] == 2026


def test_a_town_without_residents_shows_zeros_and_no_share(client: TestClient) -> None:
    body = stats(client, EMPTY_SLUG)
    assert (body["residents"], body["cards"], body["abroad"]) == (0, 0, 0)
    assert body["outside_share"] is None
    assert set(by_code(body).values()) == {0}
    assert body["visits"]["visitors"] == 0
    assert {row["share"] for row in body["visits"]["bins"]} == {None}
    assert {row["people"] for row in body["categories"]["items"]} == {0}


def test_an_unknown_town_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/towns/no-such-town/stats")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "town_not_found"


@pytest.mark.parametrize("params", [{"year": "1999"}, {"year": "2101"}, {"year": "next"}])
def test_a_bad_year_is_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get(f"/api/v1/towns/{SLUG}/stats", params=params).status_code == 422


def test_a_bad_slug_is_422(client: TestClient) -> None:
    assert client.get("/api/v1/towns/Not_A_Slug/stats").status_code == 422


def test_the_page_route_answers_the_page(client: TestClient) -> None:
    page = client.get(f"/towns/{SLUG}/stats")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/js/stats.js" in page.text
    assert "/js/japan-tiles.js" in page.text
    missing = client.get("/towns/no-such-town/stats")
    assert missing.status_code == 404
    assert "/js/stats.js" in missing.text, "the page itself says the town is unknown"
    assert client.head(f"/towns/{SLUG}/stats").status_code == 200


def test_the_route_is_in_the_api_document_and_the_page_is_not(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/towns/{slug}/stats" in paths
    assert "404" in paths["/api/v1/towns/{slug}/stats"]["get"]["responses"]
    assert "/towns/{slug}/stats" not in paths
