"""The staff dashboard's figures over HTTP, read from rollup cells written here directly (the
rollup itself is tested in test_rollup*.py; here only the reading): every endpoint's numbers,
the period, drop and year filters, the CSV twins in UTF-8 with BOM and Shift_JIS, 404 for
another town's drop or person, 422 for bad input, and who may read (verifier, moderator 403).

One app per module on eth-tester; the figures belong to a town of its own ("kawabe", in
Yamagata "06"), so nothing the demo town seeds shows up in them."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics import categories as mlit
from backend.analytics import metrics as m
from backend.analytics.figures import JST
from backend.analytics.models import AnalyticsCount, AnalyticsPerson, AnalyticsPersonAddress, AnalyticsPersonYear
from backend.app import create_app
from backend.benefits.models import Benefit, Shop, Spot
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.naming.models import Lot, Park
from backend.polls.models import Poll
from backend.runtime import Runtime
from backend.sales.models import Campaign
from backend.staff.members import add_member
from backend.towns.models import Municipality
from tests.factories import add_plain_drop, add_town, staff_headers

pytestmark = pytest.mark.chain

SLUG = "kawabe"
OTHER_SLUG = "tsukimi"
BASE = f"/api/v1/staff/towns/{SLUG}/analytics"
FIGURES = ("summary", "prefectures", "residents", "funnel", "visits", "participation", "staying", "categories")
YEAR = "2026"


@dataclass(frozen=True)
class World:
    """Ids of what `seed` made."""

    town_id: int
    other_town_id: int
    drop1: int
    drop2: int
    other_drop: int
    spot1: int
    spot2: int
    shop: int
    benefit: int
    poll: int
    draft_poll: int
    lot: int
    person: int
    other_person: int
    erased_person: int


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def _cells(town_id: int, rows: list[tuple[str, str, str, str, int]]) -> list[dict[str, Any]]:
    """The rows as `analytics_counts` rows, with the month and year cells the rollup writes
    beside each day cell (`metrics.with_coarse`)."""
    cells: Counter[tuple[str, str, str, str]] = Counter()
    for metric, dim1, dim2, day, value in rows:
        cells[(metric, dim1, dim2, day)] += value
    return [
        {"municipality_id": town_id, "metric": metric, "dim1": dim1, "dim2": dim2, "day": day, "value": value}
        for (metric, dim1, dim2, day), value in m.with_coarse(cells).items()
    ]


def seed(sessions: sessionmaker[Session]) -> World:
    """A town with two resident-card drops, two campaigns, two spots, a shop with a benefit, a
    poll (and a draft one), a naming-right lot, rollup cells for all of them and three
    people (one erased); another town with one drop, one person and cells of its own."""
    town_id = add_town(sessions, SLUG, prefecture="06")
    other_town_id = add_town(sessions, OTHER_SLUG, prefecture="13")
    drop1 = add_plain_drop(sessions, town_id, title_ja="第1期", title_en="First")
    drop2 = add_plain_drop(sessions, town_id, title_ja="第2期", title_en="Second")
    other_drop = add_plain_drop(sessions, other_town_id)
    opens = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    with session_scope(sessions) as session:
        town = session.get(Municipality, town_id)
        assert town is not None
        member = add_member(session, town, "owner-seed@kawabe.example", "owner")
        session.add_all(
            [
                Campaign(municipality_id=town_id, drop_id=drop1, code="KWPOSTER", name="駅前ポスター"),
                Campaign(municipality_id=town_id, drop_id=drop2, code="KWWEB", name="ウェブ広告"),
                Campaign(municipality_id=other_town_id, drop_id=other_drop, code="TKPOSTER", name="他町"),
            ]
        )
        spot1 = Spot(municipality_id=town_id, code="KWSPOT1", name_ja="河辺温泉", name_en="Kawabe Onsen")
        spot2 = Spot(
            municipality_id=town_id, code="KWSPOT2", name_ja="秋祭り会場", name_en="Autumn fair", activity="event"
        )
        shop = Shop(municipality_id=town_id, name_ja="河辺商店", name_en="Kawabe store")
        session.add_all([spot1, spot2, shop])
        session.flush()
        benefit = Benefit(municipality_id=town_id, shop_id=shop.id, title_ja="粗品", title_en="Gift", period="month")
        poll = Poll(
            municipality_id=town_id,
            question_ja="新しい公園の名前は？",
            question_en="Name the new park?",
            status="closed",
            opens_at=opens,
            closes_at=opens + timedelta(days=7),
            created_by=member.id,
            electorate=10,
        )
        draft = Poll(
            municipality_id=town_id,
            question_ja="下書き",
            question_en="Draft",
            status="draft",
            opens_at=opens,
            closes_at=opens + timedelta(days=7),
            created_by=member.id,
        )
        park = Park(municipality_id=town_id, name_ja="河辺公園", name_en="Kawabe Park")
        session.add_all([benefit, poll, draft, park])
        session.flush()
        lot = Lot(
            park_id=park.id,
            municipality_id=town_id,
            term_start=datetime(2026, 6, 1, tzinfo=UTC),
            term_end=datetime(2029, 6, 1, tzinfo=UTC),
            auction_start=datetime(2026, 3, 20, 3, 0, tzinfo=UTC),
            auction_end=datetime(2026, 3, 27, 3, 0, tzinfo=UTC),
            ends_at=datetime(2026, 3, 27, 3, 0, tzinfo=UTC),
            reserve_jpy=100_000,
            chain_id=31337,
            contract="0x" + "cd" * 20,
        )
        session.add(lot)
        session.flush()
        d1, d2, s1, s2, h, b = (str(x) for x in (drop1, drop2, spot1.id, spot2.id, shop.id, benefit.id))
        rows: list[tuple[str, str, str, str, int]] = [
            # residents now: * = 13:3, 06:2, 00:1, 27:1 (7 people); drops overlap (a person in both).
            (m.RESIDENTS, m.ALL, "13", "", 3),
            (m.RESIDENTS, m.ALL, "06", "", 2),
            (m.RESIDENTS, m.ALL, "00", "", 1),
            (m.RESIDENTS, m.ALL, "27", "", 1),
            (m.RESIDENTS, d1, "13", "", 2),
            (m.RESIDENTS, d1, "06", "", 2),
            (m.RESIDENTS, d2, "13", "", 2),
            (m.RESIDENTS, d2, "00", "", 1),
            (m.RESIDENTS, d2, "27", "", 1),
            (m.CARDS, m.ALL, "13", "", 5),
            (m.CARDS, m.ALL, "06", "", 2),
            (m.CARDS, m.ALL, "00", "", 1),
            (m.CARDS, m.ALL, "27", "", 1),
            (m.CARDS, d1, "13", "", 3),
            (m.CARDS, d1, "06", "", 2),
            (m.CARDS, d2, "13", "", 2),
            (m.CARDS, d2, "00", "", 1),
            (m.CARDS, d2, "27", "", 1),
            # new residents by first card day
            (m.NEW_RESIDENTS, m.ALL, "KWPOSTER", "2026-03-02", 2),
            (m.NEW_RESIDENTS, m.ALL, "", "2026-03-04", 1),
            (m.NEW_RESIDENTS, m.ALL, "KWWEB", "2026-03-10", 3),
            (m.NEW_RESIDENTS, m.ALL, "KWWEB", "2026-04-01", 1),
            (m.NEW_RESIDENTS, d1, "KWPOSTER", "2026-03-02", 2),
            (m.NEW_RESIDENTS, d1, "", "2026-03-04", 1),
            (m.NEW_RESIDENTS, d1, "KWWEB", "2026-03-10", 1),
            (m.NEW_RESIDENTS, d2, "KWWEB", "2026-03-10", 2),
            (m.NEW_RESIDENTS, d2, "KWWEB", "2026-04-01", 1),
            # funnel by order's created day ("TYPO": a code of no campaign of this town)
            (m.ORDERS, d1, "KWPOSTER", "2026-03-02", 4),
            (m.ORDERS, d1, "", "2026-03-04", 2),
            (m.ORDERS, d1, "TYPO", "2026-03-05", 1),
            (m.ORDERS, d1, "KWWEB", "2026-03-10", 1),
            (m.ORDERS, d2, "KWWEB", "2026-03-10", 3),
            (m.ORDERS, d2, "KWWEB", "2026-04-01", 2),
            (m.PAID, d1, "KWPOSTER", "2026-03-02", 3),
            (m.PAID, d1, "", "2026-03-04", 1),
            (m.PAID, d1, "KWWEB", "2026-03-10", 1),
            (m.PAID, d2, "KWWEB", "2026-03-10", 2),
            (m.PAID, d2, "KWWEB", "2026-04-01", 1),
            (m.MINTED, d1, "KWPOSTER", "2026-03-02", 3),
            (m.MINTED, d2, "KWWEB", "2026-03-10", 2),
            (m.REFUNDED, d1, "KWPOSTER", "2026-03-02", 1),
            (m.REVENUE_JPY, d1, "KWPOSTER", "2026-03-02", 2000),
            (m.REVENUE_JPY, d1, "", "2026-03-04", 1000),
            (m.REVENUE_JPY, d1, "KWWEB", "2026-03-10", 1000),
            (m.REVENUE_JPY, d2, "KWWEB", "2026-03-10", 2000),
            (m.REVENUE_JPY, d2, "KWWEB", "2026-04-01", 1000),
            (m.SCANS, "KWPOSTER", "", "2026-03-01", 20),
            (m.SCANS, "KWPOSTER", "", "2026-03-02", 10),
            (m.UNIQUE_SCANS, "KWPOSTER", "", "2026-03-01", 12),
            (m.UNIQUE_SCANS, "KWPOSTER", "", "2026-03-02", 6),
            (m.BOT_SCANS, "KWPOSTER", "", "2026-03-01", 3),
            (m.SCANS, "KWWEB", "", "2026-04-01", 7),
            (m.UNIQUE_SCANS, "KWWEB", "", "2026-04-01", 5),
            # staying
            (m.CARD_STATE, d1, m.STATE_FIRST_HOLDER, "", 3),
            (m.CARD_STATE, d1, m.STATE_OWN_WALLET, "", 1),
            (m.CARD_STATE, d1, m.STATE_REVOKED, "", 1),
            (m.CARD_STATE, d2, m.STATE_FIRST_HOLDER, "", 2),
            (m.CARD_STATE, d2, m.STATE_TRANSFERRED, "", 1),
            (m.CARD_STATE, m.ALL, m.STATE_FIRST_HOLDER, "", 5),
            (m.CARD_STATE, m.ALL, m.STATE_OWN_WALLET, "", 1),
            (m.CARD_STATE, m.ALL, m.STATE_TRANSFERRED, "", 1),
            (m.CARD_STATE, m.ALL, m.STATE_REVOKED, "", 1),
            # visits
            (m.CHECK_INS, s1, "", "2026-03-02", 3),
            (m.CHECK_INS, s1, "", "2026-03-20", 1),
            (m.CHECK_INS, s1, "", "2026-04-10", 2),
            (m.CHECK_INS, s2, "", "2026-03-20", 4),
            (m.REDEMPTIONS, h, b, "2026-03-05", 2),
            (m.REDEMPTIONS, h, b, "2026-04-05", 1),
            (m.SPOT_VISITORS, s1, "", "2026-03", 2),
            (m.SPOT_VISITORS, s1, "", "2026-04", 1),
            (m.SPOT_VISITORS, s2, "", "2026-03", 4),
            (m.SHOP_VISITORS, h, "", "2026-03", 2),
            (m.SHOP_VISITORS, h, "", "2026-04", 1),
            (m.VISITORS, "", "", YEAR, 5),
            (m.VISITORS, "", "", "2025", 1),
            (m.VISITORS, "", "", m.EVER, 6),
            (m.REPEAT_VISITORS, "", "", YEAR, 2),
            (m.REPEAT_VISITORS, "", "", m.EVER, 3),
            (m.VISIT_DAYS, m.BIN_ONE, "", YEAR, 3),
            (m.VISIT_DAYS, m.BIN_FEW, "", YEAR, 2),
            (m.VISIT_DAYS, m.BIN_ONE, "", "2025", 1),
            (m.RESIDENTS_VISITED, m.ALL, "", "", 4),
            (m.RESIDENTS_VISITED, d1, "", "", 3),
            # categories of 2026 (primary by prefecture; flags)
            (m.CATEGORY, "hobby", "13", YEAR, 2),
            (m.CATEGORY, "hobby", "06", YEAR, 1),
            (m.CATEGORY, "participation", "13", YEAR, 2),
            (m.CATEGORY, "non_visiting", "27", YEAR, 1),
            (m.CATEGORY, "non_visiting", "00", YEAR, 1),
            (m.CATEGORY, "hobby", "13", "2025", 1),
            (m.CATEGORY_FLAG, "hobby", "", YEAR, 4),
            (m.CATEGORY_FLAG, "participation", "", YEAR, 2),
            (m.CATEGORY_FLAG, "non_visiting", "", YEAR, 2),
            # participation
            (m.POLL_VOTES, str(poll.id), "", "", 4),
            (m.POLL_VOTERS, str(poll.id), "", "", 3),
            (m.POLL_VOTES, str(draft.id), "", "", 9),
            (m.BIDDERS, str(lot.id), "", "", 2),
        ]
        session.execute(insert(AnalyticsCount), _cells(town_id, rows))
        session.execute(
            insert(AnalyticsCount),
            _cells(
                other_town_id,
                [(m.RESIDENTS, m.ALL, "13", "", 100), (m.CARDS, m.ALL, "13", "", 100), (m.VISITORS, "", "", YEAR, 50)],
            ),
        )
        activity = mlit.YearActivity(year=2026, visit_days=3, check_ins={"leisure": 1}, redemptions=2, paid_orders=1)
        person = AnalyticsPerson(
            municipality_id=town_id,
            email="hanako@example.jp",
            prefecture="13",
            resident=True,
            cards=2,
            first_card_day="2026-03-02",
            category="hobby",
        )
        other_person = AnalyticsPerson(municipality_id=other_town_id, email="taro@example.jp", prefecture="13")
        erased = AnalyticsPerson(
            municipality_id=town_id, email=None, prefecture="", erased_at=datetime(2026, 4, 1, tzinfo=UTC)
        )
        session.add_all([person, other_person, erased])
        session.flush()
        classification = mlit.classify(activity)
        session.add_all(
            [
                AnalyticsPersonAddress(municipality_id=town_id, address="0x" + "ab" * 20, person_id=person.id),
                AnalyticsPersonYear(
                    person_id=person.id,
                    year=2026,
                    municipality_id=town_id,
                    visit_days=3,
                    check_ins=1,
                    redemptions=2,
                    designated=0,
                    category=classification.category,
                    flags=",".join(classification.flags),
                    evidence=json.dumps(mlit.evidence(activity, classification), ensure_ascii=False),
                ),
            ]
        )
        return World(
            town_id=town_id,
            other_town_id=other_town_id,
            drop1=drop1,
            drop2=drop2,
            other_drop=other_drop,
            spot1=spot1.id,
            spot2=spot2.id,
            shop=shop.id,
            benefit=benefit.id,
            poll=poll.id,
            draft_poll=draft.id,
            lot=lot.id,
            person=person.id,
            other_person=other_person.id,
            erased_person=erased.id,
        )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("analytics-dashboard") / "data")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def world(client: TestClient) -> World:
    return seed(runtime_of(client).sessions)


@pytest.fixture(scope="module")
def analyst(client: TestClient, world: World) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, SLUG, "analyst")


def get(client: TestClient, headers: dict[str, str], figure: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"{BASE}/{figure}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ── figures ─────────────────────────────────────────────────────────────────


def test_prefectures_answer_the_contract_with_all_48_codes(
    client: TestClient, world: World, analyst: dict[str, str]
) -> None:
    body = get(client, analyst, "prefectures")
    assert (body["residents"], body["cards"]) == (7, 9)
    codes = [row["code"] for row in body["prefectures"]]
    assert codes == [f"{n:02d}" for n in range(48)]
    by_code = {row["code"]: (row["residents"], row["cards"]) for row in body["prefectures"]}
    assert by_code["13"] == (3, 5)
    assert by_code["06"] == (2, 2)
    assert by_code["00"] == (1, 1)
    assert by_code["01"] == (0, 0)
    assert sum(r for r, _c in by_code.values()) == body["residents"]
    assert body["home_prefecture"] == "06"
    assert body["home"] == {"residents": 2, "cards": 2}
    assert body["outside_share"] == round(5 / 7, 4)
    assert body["abroad"] == {"residents": 1, "cards": 1}
    assert [row["code"] for row in body["top"]] == ["13", "06", "00", "27"]
    assert body["top"][0]["name_ja"] == "東京都"
    metros = {metro["key"]: metro["residents"] for metro in body["metros"]}
    assert metros == {"shutoken": 3, "chukyoken": 0, "kinkiken": 1}
    # The other town's 100 residents in Tokyo never show here.
    assert body["scope"]["drop_id"] is None


def test_prefectures_of_one_drop(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "prefectures", drop_id=world.drop2)
    assert (body["residents"], body["cards"]) == (4, 4)
    assert body["home"]["residents"] == 0
    assert body["outside_share"] == 1.0
    assert body["scope"]["drop_id"] == world.drop2


def test_summary_in_all_and_for_a_period(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "summary", year=2026)
    assert (body["residents"], body["cards"], body["new_residents"]) == (7, 9, 7)
    assert (body["visitors"], body["repeat_visitors"]) == (5, 2)
    assert (body["residents_visited"], body["residents_visited_share"]) == (4, round(4 / 7, 4))
    assert (body["orders"], body["paid"], body["revenue_jpy"]) == (13, 8, 7000)
    assert (body["votes"], body["voters"], body["bidders"]) == (13, 3, 2)
    march = get(client, analyst, "summary", **{"from": "2026-03-01", "to": "2026-03-31", "year": 2025})
    assert march["scope"] == {"from": "2026-03-01", "to": "2026-03-31", "drop_id": None, "year": 2025}
    assert march["new_residents"] == 6
    assert (march["orders"], march["revenue_jpy"]) == (11, 6000)
    assert march["visitors"] == 1
    # Residents and cards are as of now, whatever the period.
    assert (march["residents"], march["cards"]) == (7, 9)
    first = get(client, analyst, "summary", drop_id=world.drop1)
    assert (first["residents"], first["cards"], first["new_residents"]) == (4, 5, 4)
    assert (first["orders"], first["revenue_jpy"]) == (8, 4000)
    assert first["residents_visited"] == 3


def test_year_defaults_to_the_current_japan_year(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "summary")
    assert body["scope"]["year"] == datetime.now(UTC).astimezone(JST).year


def test_residents_by_day_week_and_month(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "residents", interval="month")
    assert body["new_residents"] == 7
    assert (body["residents"], body["cards"]) == (7, 9)
    assert body["series"] == [{"period": "2026-03", "residents": 6}, {"period": "2026-04", "residents": 1}]
    drops = {drop["drop_id"]: drop for drop in body["drops"]}
    assert drops[world.drop1]["new_residents"] == 4
    assert drops[world.drop1]["series"] == [
        {"period": "2026-03", "residents": 4},
        {"period": "2026-04", "residents": 0},
    ]
    assert (drops[world.drop2]["residents"], drops[world.drop2]["cards"]) == (4, 4)
    campaigns = {campaign["code"]: campaign for campaign in body["campaigns"]}
    assert {code: c["new_residents"] for code, c in campaigns.items()} == {"KWWEB": 4, "KWPOSTER": 2, "": 1}
    assert campaigns["KWPOSTER"]["name"] == "駅前ポスター"

    daily = get(client, analyst, "residents", interval="day", **{"from": "2026-03-01", "to": "2026-03-10"})
    assert daily["series"][0] == {"period": "2026-03-02", "residents": 2}
    assert daily["series"][-1] == {"period": "2026-03-10", "residents": 3}
    assert len(daily["series"]) == 9  # every day from the first to the last, zeros included
    assert daily["series"][1] == {"period": "2026-03-03", "residents": 0}

    weekly = get(client, analyst, "residents", interval="week")
    # 2026-03-02 is a Monday; 03-04 the same week; 03-10 the next; 04-01 the week of 03-30.
    points = {point["period"]: point["residents"] for point in weekly["series"]}
    assert points["2026-03-02"] == 3
    assert points["2026-03-09"] == 3
    assert points["2026-03-30"] == 1
    assert points["2026-03-16"] == 0

    one = get(client, analyst, "residents", interval="month", drop_id=world.drop2)
    assert [drop["drop_id"] for drop in one["drops"]] == [world.drop2]
    assert one["new_residents"] == 3
    assert {c["code"]: c["new_residents"] for c in one["campaigns"]} == {"KWWEB": 3}


def test_residents_default_to_months_and_refuse_a_series_by_day_over_400_days(
    client: TestClient, world: World, analyst: dict[str, str]
) -> None:
    """By month unless asked; by day at most 400 days, an open end counting to the first or
    last day with a new resident (here 2026-03-02 … 2026-04-01), so all time by day is fine."""
    assert get(client, analyst, "residents")["interval"] == "month"
    assert len(get(client, analyst, "residents", interval="day")["series"]) == 31
    last = date(2026, 3, 31)
    allowed = {"from": (last - timedelta(days=399)).isoformat(), "to": last.isoformat()}
    assert get(client, analyst, "residents", interval="day", **allowed)["new_residents"] == 6
    too_long = {"from": (last - timedelta(days=400)).isoformat(), "to": last.isoformat()}
    for path in ("residents", "residents.csv"):
        refused = client.get(f"{BASE}/{path}", headers=analyst, params={"interval": "day", **too_long})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "too_many_days"
        assert "401" in refused.json()["error"]["message"]
    # An open `to` runs to the last new resident (2026-04-01): from 2025-02-25 that is 401 days.
    open_end = client.get(f"{BASE}/residents", headers=analyst, params={"interval": "day", "from": "2025-02-25"})
    assert open_end.status_code == 422
    assert open_end.json()["error"]["code"] == "too_many_days"
    assert get(client, analyst, "residents", interval="day", **{"from": "2025-02-26"})["new_residents"] == 7
    assert len(get(client, analyst, "residents", interval="week", **too_long)["series"]) == 2  # weeks of 03-02, 03-09


def test_funnel_per_campaign_without_campaign_and_total(
    client: TestClient, world: World, analyst: dict[str, str]
) -> None:
    body = get(client, analyst, "funnel")
    campaigns = {row["code"]: row for row in body["campaigns"]}
    assert set(campaigns) == {"KWPOSTER", "KWWEB"}  # never the other town's
    poster = campaigns["KWPOSTER"]
    assert (poster["scans"], poster["unique_scans"], poster["bot_scans"]) == (30, 18, 3)
    assert (poster["orders"], poster["paid"], poster["minted"], poster["refunded"]) == (4, 3, 3, 1)
    assert poster["revenue_jpy"] == 2000
    assert poster["drop_id"] == world.drop1
    web = campaigns["KWWEB"]
    assert (web["scans"], web["orders"], web["paid"], web["revenue_jpy"]) == (7, 6, 4, 4000)
    # No code, and a code that is no campaign of the town.
    assert (body["without_campaign"]["orders"], body["without_campaign"]["paid"]) == (3, 1)
    assert body["without_campaign"]["scans"] == 0
    total = body["total"]
    assert (total["scans"], total["orders"], total["paid"], total["minted"], total["refunded"]) == (37, 13, 8, 5, 1)
    assert total["revenue_jpy"] == 7000

    march = get(client, analyst, "funnel", **{"from": "2026-03-02", "to": "2026-03-31"})
    web_march = next(row for row in march["campaigns"] if row["code"] == "KWWEB")
    assert (web_march["scans"], web_march["orders"]) == (0, 4)
    assert march["total"]["scans"] == 10

    first = get(client, analyst, "funnel", drop_id=world.drop1)
    assert [row["code"] for row in first["campaigns"]] == ["KWPOSTER"]
    # Drop 1's orders carrying the other drop's campaign code count as without (its) campaign.
    assert first["without_campaign"]["orders"] == 4
    assert first["total"]["orders"] == 8


def test_visits_by_place_month_and_year(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "visits", year=2026)
    assert (body["check_ins"], body["redemptions"]) == (10, 3)
    assert body["months"] == [
        {"month": "2026-03", "check_ins": 8, "redemptions": 2},
        {"month": "2026-04", "check_ins": 2, "redemptions": 1},
    ]
    spots = {spot["spot_id"]: spot for spot in body["spots"]}
    assert spots[world.spot1]["check_ins"] == 6
    assert spots[world.spot1]["months"] == [
        {"month": "2026-03", "count": 4, "visitors": 2},
        {"month": "2026-04", "count": 2, "visitors": 1},
    ]
    assert spots[world.spot2]["activity"] == "event"
    (shop,) = body["shops"]
    assert (shop["shop_id"], shop["redemptions"]) == (world.shop, 3)
    assert shop["benefits"] == [{"benefit_id": world.benefit, "title_ja": "粗品", "title_en": "Gift", "redemptions": 3}]
    assert (body["visitors"], body["repeat_visitors"]) == (5, 2)
    assert (body["visitors_ever"], body["repeat_visitors_ever"]) == (6, 3)
    bins = {item["bin"]: item for item in body["bins"]}
    assert (bins["1"]["people"], bins["2-7"]["people"], bins["8+"]["people"]) == (3, 2, 0)
    assert bins["1"]["share"] == 0.6
    assert (bins["1"]["national_percent"], bins["2-7"]["national_percent"], bins["8+"]["national_percent"]) == (
        20.0,
        49.0,
        31.0,
    )
    assert (body["residents"], body["residents_visited"], body["residents_visited_share"]) == (7, 4, round(4 / 7, 4))

    april = get(client, analyst, "visits", **{"from": "2026-04-01", "to": "2026-04-30", "year": 2025})
    assert (april["check_ins"], april["redemptions"]) == (2, 1)
    assert {item["bin"]: item["people"] for item in april["bins"]} == {"1": 1, "2-7": 0, "8+": 0}
    assert april["visitors"] == 1


def test_participation_polls_and_lots(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "participation")
    (poll,) = body["polls"]  # the draft is not a poll anyone voted in
    assert poll["poll_id"] == world.poll
    assert (poll["votes"], poll["voters"], poll["electorate"], poll["turnout"]) == (4, 3, 10, 0.4)
    (lot,) = body["lots"]
    assert (lot["lot_id"], lot["park_name_ja"], lot["bidders"]) == (world.lot, "河辺公園", 2)
    assert (body["votes"], body["voters"], body["electorate"], body["turnout"], body["bidders"]) == (4, 3, 10, 0.4, 2)
    later = get(client, analyst, "participation", **{"from": "2026-04-01"})
    assert (later["polls"], later["lots"], later["bidders"], later["turnout"]) == ([], [], 0, None)
    # Opening on 2026-03-10 10:00 JST counts for that Japan day.
    day = get(client, analyst, "participation", **{"from": "2026-03-10", "to": "2026-03-10"})
    assert [p["poll_id"] for p in day["polls"]] == [world.poll]


def test_staying_by_drop_and_total(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "staying")
    drops = {drop["drop_id"]: drop for drop in body["drops"]}
    assert (drops[world.drop1]["first_holder"], drops[world.drop1]["own_wallet"], drops[world.drop1]["revoked"]) == (
        3,
        1,
        1,
    )
    assert drops[world.drop1]["total"] == 5
    assert (drops[world.drop2]["transferred"], drops[world.drop2]["total"]) == (1, 3)
    assert body["total"] == {"first_holder": 5, "own_wallet": 1, "transferred": 1, "revoked": 1, "total": 8}
    assert body["shares"]["first_holder"] == 0.625
    one = get(client, analyst, "staying", drop_id=world.drop2)
    assert [drop["drop_id"] for drop in one["drops"]] == [world.drop2]
    assert one["total"]["total"] == 3


def test_categories_of_the_year_beside_the_national_survey(
    client: TestClient, world: World, analyst: dict[str, str]
) -> None:
    body = get(client, analyst, "categories", year=2026)
    assert (body["people"], body["visiting"], body["non_visiting"]) == (7, 5, 2)
    rows = {row["code"]: row for row in body["categories"]}
    assert [row["code"] for row in body["categories"]] == list(mlit.CATEGORIES)
    assert (rows["hobby"]["people"], rows["hobby"]["flags"], rows["hobby"]["outside_home"]) == (3, 4, 2)
    assert rows["hobby"]["share_of_visiting"] == 0.6
    assert rows["hobby"]["name_ja"] == "趣味・消費型"
    assert rows["hobby"]["national_2023_percent"] == mlit.NATIONAL.categories_2023["hobby"]
    assert rows["non_visiting"]["share_of_visiting"] is None
    assert rows["non_visiting"]["share"] == round(2 / 7, 4)
    assert rows["work"]["national_2023_percent"] is None
    assert len(body["rules"]) == len(mlit.RULES)
    assert body["national"]["visit_day_bins_2023"] == {"1": 20.0, "2-7": 49.0, "8+": 31.0}
    earlier = get(client, analyst, "categories", year=2025)
    assert earlier["people"] == 1


def test_an_empty_period_answers_zeros(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    body = get(client, analyst, "summary", **{"from": "2020-01-01", "to": "2020-12-31"})
    assert (body["new_residents"], body["orders"], body["revenue_jpy"]) == (0, 0, 0)
    residents = get(client, analyst, "residents", **{"from": "2020-01-01", "to": "2020-12-31"})
    assert (residents["series"], residents["new_residents"]) == ([], 0)


# ── one person ──────────────────────────────────────────────────────────────


def test_a_persons_facts_with_category_explanation_and_evidence(
    client: TestClient, world: World, analyst: dict[str, str]
) -> None:
    body = get(client, analyst, f"people/{world.person}")
    assert (body["email"], body["prefecture"], body["prefecture_name_ja"]) == ("hanako@example.jp", "13", "東京都")
    assert (body["resident"], body["cards"], body["first_card_day"]) == (True, 2, "2026-03-02")
    assert body["addresses"] == ["0x" + "ab" * 20]
    (year,) = body["years"]
    assert (year["year"], year["category"], year["category_name_ja"]) == (2026, "hobby", "趣味・消費型")
    assert (
        year["explanation_ja"]
        == "3日訪問、飲食・買い物・温泉などで1回チェックイン、特典を2回利用、1件購入 → 趣味・消費型"
    )
    assert year["evidence"]["redemptions"] == 2
    assert "hobby" in year["flags"]


def test_another_towns_person_and_an_erased_one_are_not_found(
    client: TestClient, world: World, analyst: dict[str, str]
) -> None:
    for person_id in (world.other_person, world.erased_person, 2_000_000):
        response = client.get(f"{BASE}/people/{person_id}", headers=analyst)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "person_not_found"


# ── CSV ─────────────────────────────────────────────────────────────────────


def read_csv(content: bytes, encoding: str) -> list[list[str]]:
    if encoding == "utf-8":
        assert content.startswith(b"\xef\xbb\xbf")
        text = content.decode("utf-8-sig")
    else:
        text = content.decode("cp932")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_every_figure_has_a_csv_with_a_japanese_header(
    client: TestClient, world: World, analyst: dict[str, str], figure: str, encoding: str
) -> None:
    response = client.get(f"{BASE}/{figure}.csv", headers=analyst, params={"encoding": encoding, "year": 2026})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert f"analytics-{figure}-{SLUG}-" in disposition
    assert disposition.endswith('-sjis.csv"') == (encoding == "shift_jis")
    rows = read_csv(response.content, encoding)
    if encoding == "shift_jis":
        assert rows[0][0].startswith("注記")  # how many characters became "?": none here
        assert "0 字" in rows[0][0]
        rows = rows[1:]
    header = rows[0]
    assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in header[0])
    assert len(rows) > 1


def test_csv_numbers_equal_the_json(client: TestClient, world: World, analyst: dict[str, str]) -> None:
    response = client.get(f"{BASE}/prefectures.csv", headers=analyst)
    rows = read_csv(response.content, "utf-8")
    assert rows[0] == ["都道府県コード (code)", "都道府県 (prefecture)", "住民数 (residents)", "保有枚数 (cards)"]
    assert len(rows) == 49
    assert rows[14] == ["13", "東京都", "3", "5"]
    assert rows[1] == ["00", "海外", "1", "1"]
    funnel = read_csv(client.get(f"{BASE}/funnel.csv", headers=analyst).content, "utf-8")
    assert funnel[-1][:2] == ["", "合計 (total)"]
    assert funnel[-1][2:] == ["37", "23", "3", "13", "8", "5", "1", "7000"]
    sjis = client.get(f"{BASE}/categories.csv", headers=analyst, params={"encoding": "shift_jis", "year": 2026})
    categories = read_csv(sjis.content, "shift_jis")[1:]
    hobby = next(row for row in categories if row[0] == "hobby")
    assert hobby[1:4] == ["趣味・消費型", "3", "42.86"]
    filtered = read_csv(
        client.get(
            f"{BASE}/residents.csv", headers=analyst, params={"interval": "month", "drop_id": world.drop2}
        ).content,
        "utf-8",
    )
    assert ["2026-03", "合計 (all)", "", "", "2"] in filtered


# ── refusals ────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("suffix", ["", ".csv"])
def test_a_drop_of_another_town_is_not_found(
    client: TestClient, world: World, analyst: dict[str, str], suffix: str
) -> None:
    for figure in FIGURES:
        response = client.get(f"{BASE}/{figure}{suffix}", headers=analyst, params={"drop_id": world.other_drop})
        assert response.status_code == 404, (figure, response.text)
        assert response.json()["error"]["code"] == "drop_not_found"
    missing = client.get(f"{BASE}/summary{suffix}", headers=analyst, params={"drop_id": 99_999})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("figure", "params"),
    [
        ("summary", {"from": "2026-04-01", "to": "2026-03-01"}),
        ("summary", {"from": "2026-13-01"}),
        ("summary", {"from": "yesterday"}),
        ("summary", {"year": 1999}),
        ("summary", {"year": 2101}),
        ("summary", {"drop_id": 0}),
        ("residents", {"interval": "hour"}),
        ("funnel.csv", {"encoding": "latin-1"}),
        ("report.pdf", {"month": "2026-13"}),
        ("report.pdf", {"month": "2026-3"}),
        ("people/0", {}),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, world: World, analyst: dict[str, str], figure: str, params: dict[str, Any]
) -> None:
    response = client.get(f"{BASE}/{figure}", headers=analyst, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["message"]


@pytest.mark.parametrize("role", ["verifier", "moderator"])
def test_verifiers_and_moderators_may_not_read_the_figures(client: TestClient, world: World, role: str) -> None:
    headers = staff_headers(runtime_of(client).sessions, SLUG, role)
    paths = [*FIGURES, *(f"{figure}.csv" for figure in FIGURES), "report.pdf", f"people/{world.person}"]
    for path in paths:
        response = client.get(f"{BASE}/{path}", headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "forbidden"


def test_owners_and_editors_read_them_and_another_towns_staff_do_not(client: TestClient, world: World) -> None:
    sessions = runtime_of(client).sessions
    for role in ("owner", "editor"):
        response = client.get(f"{BASE}/summary", headers=staff_headers(sessions, SLUG, role))
        assert response.status_code == 200, response.text
        assert response.json()["residents"] == 7
    outsider = staff_headers(sessions, OTHER_SLUG, "owner")
    assert client.get(f"{BASE}/summary", headers=outsider).status_code == 403
    # Their own town's figures are their own.
    own = client.get(f"/api/v1/staff/towns/{OTHER_SLUG}/analytics/summary", headers=outsider, params={"year": 2026})
    assert (own.json()["residents"], own.json()["visitors"]) == (100, 50)
    assert client.get(f"{BASE}/summary").status_code == 401


# ── PostgreSQL ──────────────────────────────────────────────────────────────


def test_the_figures_read_the_same_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The grouped reads (substrings of `day` for months, IN lists, the period's text bounds)
    answer the same on PostgreSQL as on SQLite."""
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=postgres_url)
    with TestClient(create_app(settings)) as pg:
        world = seed(runtime_of(pg).sessions)
        headers = staff_headers(runtime_of(pg).sessions, SLUG, "analyst")
        prefectures = get(pg, headers, "prefectures")
        assert (prefectures["residents"], prefectures["cards"], prefectures["outside_share"]) == (7, 9, round(5 / 7, 4))
        summary = get(pg, headers, "summary", **{"from": "2026-03-01", "to": "2026-03-31", "year": 2026})
        assert (summary["new_residents"], summary["orders"], summary["revenue_jpy"], summary["visitors"]) == (
            6,
            11,
            6000,
            5,
        )
        weekly = get(pg, headers, "residents", interval="week")
        assert {p["period"]: p["residents"] for p in weekly["series"]}["2026-03-09"] == 3
        visits = get(pg, headers, "visits", year=2026)
        assert visits["months"] == [
            {"month": "2026-03", "check_ins": 8, "redemptions": 2},
            {"month": "2026-04", "check_ins": 2, "redemptions": 1},
        ]
        funnel = get(pg, headers, "funnel", drop_id=world.drop1)
        assert (funnel["total"]["orders"], funnel["without_campaign"]["orders"]) == (8, 4)
        categories = get(pg, headers, "categories", year=2026)
        assert categories["people"] == 7
        staying = get(pg, headers, "staying")
        assert staying["total"]["total"] == 8
        participation = get(pg, headers, "participation", **{"from": "2026-03-10", "to": "2026-03-10"})
        assert [p["poll_id"] for p in participation["polls"]] == [world.poll]
        person = get(pg, headers, f"people/{world.person}")
        assert person["years"][0]["category"] == "hobby"
