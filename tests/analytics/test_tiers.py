"""Registration tiers over HTTP on eth-tester: premium candidates appear at the town's
threshold and not one below, approving and declining are audited (one row each, with before
and after, naming the person by id), a second decision or one below the threshold is a 409
that changes nothing, another town's staff are refused (403 for the town, 404 for another
town's person), analysts read but do not decide, the holder's registration turns premium
after approval, and the settings' premium rule is validated, audited and marks the town.

People and their years are inserted directly (the rows the rollup writes), so these tests
do not depend on the rollup; the app's background loops are not started.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.analytics.categories import YearActivity, classify, designated, evidence
from backend.analytics.models import AnalyticsChange, AnalyticsPerson, AnalyticsPersonYear, PremiumReview
from backend.analytics.tiers import japan_year
from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.core.models import AuditEntry
from backend.holders.custody import ensure_holder
from backend.holders.signin import exchange_link, request_link
from backend.runtime import Runtime
from backend.towns.models import Municipality
from tests.factories import add_town, staff_headers

pytestmark = pytest.mark.chain

TOWN = "hoshikawa"
OTHER = "tsukimi"
STAFF = f"/api/v1/staff/towns/{TOWN}"
CANDIDATES = f"{STAFF}/premium-candidates"
YEAR = japan_year(datetime.now(UTC))
RULE = ("event", "volunteer", "work", "telework", "vote", "naming")


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        chain="eth-tester://",
        data_dir=tmp_path_factory.mktemp("tiers") / "data",
        staff_writes_per_minute=1_000_000,
    )
    with TestClient(create_app(settings)) as client:
        add_town(runtime_of(client).sessions, OTHER)
        yield client


def town_id(client: TestClient, slug: str) -> int:
    with runtime_of(client).sessions() as session:
        found = session.scalar(select(Municipality.id).where(Municipality.slug == slug))
        assert found is not None
        return found


def staff(client: TestClient, role: str, slug: str = TOWN) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, slug, role)


def add_person(client: TestClient, slug: str, email: str, activity: YearActivity | None) -> int:
    """A person of the town with the year's row the rollup would write for `activity`."""
    municipality_id = town_id(client, slug)
    with session_scope(runtime_of(client).sessions) as session:
        person = AnalyticsPerson(municipality_id=municipality_id, email=email, prefecture="13", resident=True, cards=1)
        session.add(person)
        session.flush()
        if activity is not None:
            result = classify(activity)
            session.add(
                AnalyticsPersonYear(
                    person_id=person.id,
                    year=activity.year,
                    municipality_id=municipality_id,
                    visit_days=activity.visit_days,
                    check_ins=sum(activity.check_ins.values()),
                    redemptions=activity.redemptions,
                    votes=activity.votes,
                    designated=designated(activity, RULE),
                    category=result.category,
                    flags=",".join(result.flags),
                    evidence=json.dumps(evidence(activity, result), ensure_ascii=False),
                )
            )
        return person.id


def three(year: int = YEAR) -> YearActivity:
    """Exactly the default threshold: two volunteer check-ins and one poll."""
    return YearActivity(year=year, visit_days=2, check_ins={"volunteer": 2}, votes=1)


def two(year: int = YEAR) -> YearActivity:
    """One below: an event check-in and one poll (benefit uses do not count by default)."""
    return YearActivity(year=year, visit_days=1, check_ins={"event": 1}, redemptions=5, votes=1)


def listed(client: TestClient, headers: dict[str, str], **params: Any) -> dict[int, dict[str, Any]]:
    response = client.get(CANDIDATES, headers=headers, params={"year": YEAR, "limit": 100, **params})
    assert response.status_code == 200, response.text
    return {item["person_id"]: item for item in response.json()["items"]}


def audit_rows(client: TestClient, action: str) -> list[AuditEntry]:
    with runtime_of(client).sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def reviews(client: TestClient) -> int:
    with runtime_of(client).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(PremiumReview)) or 0)


def holder_headers(client: TestClient, email: str) -> dict[str, str]:
    runtime = runtime_of(client)
    now = datetime.now(UTC)
    with session_scope(runtime.sessions) as session:
        ensure_holder(session, runtime.vault, email)
        issued = request_link(session, email, runtime.settings.public_url, now)
        assert issued is not None
        opened = exchange_link(session, issued[1].rsplit("#token=", 1)[1], now)
        assert opened is not None
        return {"Authorization": f"Bearer {opened.token}"}


def test_candidates_appear_at_the_threshold_not_one_below(client: TestClient) -> None:
    at = add_person(client, TOWN, "at@example.jp", three())
    below = add_person(client, TOWN, "below@example.jp", two())
    last_year = add_person(client, TOWN, "last-year@example.jp", three(YEAR - 1))
    analyst = staff(client, "analyst")
    items = listed(client, analyst)
    assert at in items
    assert below not in items
    assert last_year not in items
    item = items[at]
    assert item["email"] == "at@example.jp"
    assert (item["designated"], item["threshold"], item["candidate"]) == (3, 3, True)
    assert item["activities"]["volunteer"] == 2
    assert item["activities"]["vote"] == 1
    assert item["counted"] == list(RULE)
    assert item["category"] == "direct"
    assert item["explanation_ja"] == "2日訪問、ボランティア・地域づくりで2回チェックイン、1件の投票に参加 → 直接寄与型"
    assert item["review"] is None
    assert last_year in listed(client, analyst, year=YEAR - 1)
    page = client.get(CANDIDATES, headers=analyst, params={"year": YEAR}).json()
    assert page["rule"] == {"activities": list(RULE), "threshold": 3}
    assert page["candidates"] == sum(1 for one in page["items"] if one["candidate"])


def test_the_csv_lists_the_same_candidates(client: TestClient) -> None:
    person = add_person(client, TOWN, "csv@example.jp", three())
    response = client.get(f"{CANDIDATES}.csv", headers=staff(client, "analyst"), params={"year": YEAR})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    mine = [row for row in rows if row["person_id"] == str(person)]
    assert len(mine) == 1
    assert mine[0]["activity_volunteer"] == "2"
    assert mine[0]["candidate"] == "yes"
    assert mine[0]["category_ja"] == "直接寄与型"
    assert "below@example.jp" not in response.content.decode("utf-8-sig")


def test_approval_is_audited_and_makes_the_holder_premium(client: TestClient) -> None:
    email = "premium@example.jp"
    person = add_person(client, TOWN, email, three())
    holder = holder_headers(client, email)
    before = client.get("/api/v1/holders/me/registration", headers=holder)
    assert before.status_code == 200, before.text
    assert [(town["slug"], town["tier"], town["year"]) for town in before.json()["towns"]] == [(TOWN, "basic", YEAR)]
    audited = len(audit_rows(client, "premium.approve"))
    response = client.post(
        f"{CANDIDATES}/{person}/approve", json={"year": YEAR, "note": "証明書を確認"}, headers=staff(client, "editor")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["review"]["decision"] == "approved"
    assert body["review"]["note"] == "証明書を確認"
    rows = audit_rows(client, "premium.approve")
    assert len(rows) == audited + 1
    row = rows[-1]
    assert (row.target_type, row.target_id) == ("analytics_person", str(person))
    assert json.loads(row.before) == {"person_id": person, "year": YEAR, "decision": None}
    after = json.loads(row.after)
    assert (after["decision"], after["designated"], after["threshold"]) == ("approved", 3, 3)
    assert email not in row.before + row.after  # the audit log keeps no e-mail
    tiers = client.get("/api/v1/holders/me/registration", headers=holder).json()["towns"]
    assert [(town["slug"], town["tier"], town["year"]) for town in tiers] == [(TOWN, "premium", YEAR)]
    decided = listed(client, staff(client, "analyst"), state="approved")
    assert decided[person]["review"]["decision"] == "approved"
    assert person not in listed(client, staff(client, "analyst"), state="pending")


def test_decline_is_audited_and_keeps_basic(client: TestClient) -> None:
    email = "declined@example.jp"
    person = add_person(client, TOWN, email, three())
    response = client.post(
        f"{CANDIDATES}/{person}/decline", json={"year": YEAR, "note": "本人確認できず"}, headers=staff(client, "owner")
    )
    assert response.status_code == 200, response.text
    assert response.json()["review"]["decision"] == "declined"
    row = audit_rows(client, "premium.decline")[-1]
    assert row.target_id == str(person)
    assert json.loads(row.after)["note"] == "本人確認できず"
    tiers = client.get("/api/v1/holders/me/registration", headers=holder_headers(client, email)).json()["towns"]
    assert [town["tier"] for town in tiers] == ["basic"]


def test_second_decision_and_below_threshold_are_409s_that_change_nothing(client: TestClient) -> None:
    editor = staff(client, "editor")
    person = add_person(client, TOWN, "twice@example.jp", three())
    assert client.post(f"{CANDIDATES}/{person}/approve", json={"year": YEAR}, headers=editor).status_code == 200
    counted, audited = reviews(client), len(audit_rows(client, "premium.decline"))
    for action in ("approve", "decline"):
        again = client.post(f"{CANDIDATES}/{person}/{action}", json={"year": YEAR}, headers=editor)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_decided"
    below = add_person(client, TOWN, "not-yet@example.jp", two())
    refused = client.post(f"{CANDIDATES}/{below}/approve", json={"year": YEAR}, headers=editor)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_candidate"
    nothing = add_person(client, TOWN, "nothing@example.jp", None)
    refused = client.post(f"{CANDIDATES}/{nothing}/approve", json={"year": YEAR}, headers=editor)
    assert refused.json()["error"]["code"] == "not_candidate"
    other_year = client.post(f"{CANDIDATES}/{person}/approve", json={"year": YEAR - 1}, headers=editor)
    assert other_year.json()["error"]["code"] == "not_candidate"
    assert reviews(client) == counted
    assert len(audit_rows(client, "premium.decline")) == audited


def test_another_towns_staff_and_people(client: TestClient) -> None:
    mine = add_person(client, TOWN, "mine@example.jp", three())
    theirs = add_person(client, OTHER, "theirs@example.jp", three())
    outsider = staff(client, "owner", OTHER)
    assert client.get(CANDIDATES, headers=outsider).status_code == 403
    refused = client.post(f"{CANDIDATES}/{mine}/approve", json={"year": YEAR}, headers=outsider)
    assert refused.status_code == 403
    across = client.post(f"{CANDIDATES}/{theirs}/approve", json={"year": YEAR}, headers=staff(client, "owner"))
    assert across.status_code == 404
    assert across.json()["error"]["code"] == "person_not_found"
    assert theirs not in listed(client, staff(client, "owner"))
    assert theirs in {
        item["person_id"]
        for item in client.get(
            f"/api/v1/staff/towns/{OTHER}/premium-candidates", headers=outsider, params={"year": YEAR}
        ).json()["items"]
    }


def test_analysts_read_but_do_not_decide(client: TestClient) -> None:
    person = add_person(client, TOWN, "analysed@example.jp", three())
    analyst = staff(client, "analyst")
    assert person in listed(client, analyst)
    before = reviews(client)
    for action in ("approve", "decline"):
        response = client.post(f"{CANDIDATES}/{person}/{action}", json={"year": YEAR}, headers=analyst)
        assert response.status_code == 403
    assert reviews(client) == before
    assert client.get(CANDIDATES, headers=staff(client, "verifier")).status_code == 403
    assert client.get(CANDIDATES, headers=staff(client, "moderator")).status_code == 403


def test_bad_inputs_are_422(client: TestClient) -> None:
    editor = staff(client, "editor")
    person = add_person(client, TOWN, "bad@example.jp", three())
    assert client.get(CANDIDATES, headers=editor, params={"year": 1999}).status_code == 422
    assert client.get(CANDIDATES, headers=editor, params={"state": "maybe"}).status_code == 422
    for body in ({}, {"year": "2026"}, {"year": YEAR, "note": "x" * 2_001}, {"year": YEAR, "extra": 1}):
        assert client.post(f"{CANDIDATES}/{person}/approve", json=body, headers=editor).status_code == 422
    assert client.post(f"{CANDIDATES}/0/approve", json={"year": YEAR}, headers=editor).status_code == 422


def test_registration_needs_a_session(client: TestClient) -> None:
    assert client.get("/api/v1/holders/me/registration").status_code == 401
    stranger = holder_headers(client, "stranger@example.jp")
    assert client.get("/api/v1/holders/me/registration", headers=stranger).json() == {"towns": []}


def test_the_premium_rule_in_settings_is_checked_audited_and_marks_the_town(client: TestClient) -> None:
    owner = staff(client, "owner")
    settings = f"{STAFF}/settings"
    shown = client.get(settings, headers=owner).json()
    assert (shown["stats_threshold"], shown["data_request_days"]) == (5, 30)
    assert (shown["premium_activities"], shown["premium_threshold"]) == (list(RULE), 3)
    bads: tuple[dict[str, Any], ...] = (
        {"premium_activities": []},
        {"premium_activities": ["vote", "vote"]},
        {"premium_activities": ["shopping"]},
        {"premium_threshold": 0},
        {"premium_threshold": 51},
        {"stats_threshold": 2},
        {"stats_threshold": 101},
        {"data_request_days": 0},
        {"data_request_days": 91},
        {"premium_threshold": "3"},
    )
    for bad in bads:
        assert client.patch(settings, json=bad, headers=owner).status_code == 422, bad

    def marks() -> int:
        with runtime_of(client).sessions() as session:
            query = select(func.count()).select_from(AnalyticsChange).where(AnalyticsChange.kind == "town")
            return int(session.scalar(query) or 0)

    before, audited = marks(), len(audit_rows(client, "town.settings"))
    response = client.patch(settings, json={"stats_threshold": 10, "data_request_days": 14}, headers=owner)
    assert response.status_code == 200, response.text
    assert marks() == before  # not the premium rule: nothing to recompute
    response = client.patch(
        settings, json={"premium_activities": ["visit_day", "benefit"], "premium_threshold": 4}, headers=owner
    )
    assert response.status_code == 200, response.text
    assert (response.json()["premium_activities"], response.json()["premium_threshold"]) == (
        ["visit_day", "benefit"],
        4,
    )
    assert marks() == before + 1
    rows = audit_rows(client, "town.settings")
    assert len(rows) == audited + 2
    assert json.loads(rows[-1].before) == {"premium_activities": list(RULE), "premium_threshold": 3}
    assert json.loads(rows[-1].after) == {"premium_activities": ["visit_day", "benefit"], "premium_threshold": 4}
    with runtime_of(client).sessions() as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == TOWN))
        assert town is not None
        assert town.premium_activities == "visit_day,benefit"
    # The list follows the new threshold at once (designated counts wait for the rollup).
    page = client.get(CANDIDATES, headers=owner, params={"year": YEAR}).json()
    assert page["rule"] == {"activities": ["visit_day", "benefit"], "threshold": 4}
    assert all(item["candidate"] is False or item["designated"] >= 4 for item in page["items"])
    unchanged = client.patch(settings, json={"premium_threshold": 4}, headers=owner)
    assert unchanged.status_code == 200
    assert marks() == before + 1
    restored = client.patch(settings, json={"premium_activities": list(RULE), "premium_threshold": 3}, headers=owner)
    assert restored.status_code == 200
    assert client.patch(settings, json={"premium_threshold": 3}, headers=staff(client, "editor")).status_code == 403
