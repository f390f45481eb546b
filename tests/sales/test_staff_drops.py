"""Staff drops through the HTTP API on an eth-tester chain: drafts and their validation, who may
do what, edits by state, publishing (the series on chain, the drop public only then), pause
and resume, and an audit row for every write. One app per module; each test makes its drops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.core.models import AuditEntry
from backend.runtime import Runtime
from backend.sales.drops import WEI_PER_JPY, card_client
from backend.sales.models import Drop, DropSerial
from backend.sales.publish import publisher_of
from minting.compiler import CompiledTree
from minting.resident_card import ResidentCardClient
from tests.factories import add_town, staff_headers
from tests.sales.conftest import bearer, order_body

pytestmark = pytest.mark.chain

TOWN = "/api/v1/staff/towns/hoshikawa"
OTHER_SLUG = "tsukimi"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("drops") / "data")
    with TestClient(create_app(settings)) as client:
        add_town(runtime(client).sessions, OTHER_SLUG)
        yield client


def runtime(client: TestClient) -> Runtime:
    value: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return value


@pytest.fixture(scope="module")
def editor(client: TestClient) -> dict[str, str]:
    return staff_headers(runtime(client).sessions, "hoshikawa", "editor")


def draft_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "resident_card",
        "sale_mode": "first_come",
        "title_ja": "星川町 デジタル住民票 第2期",
        "title_en": "Hoshikawa digital resident card, second issue",
        "description_ja": "先着50枚。",
        "description_en": "50 cards, first come first served.",
        "price_jpy": 2_000,
        "supply": 50,
        "per_buyer_limit": 2,
        "starts_at": "2026-01-01T10:00:00+09:00",
        "ends_at": None,
        "soulbound": False,
        "payment_methods": ["demo", "card", "wallet"],
    }
    body.update(overrides)
    return body


def lottery_body(**overrides: Any) -> dict[str, Any]:
    dates: dict[str, Any] = {
        "sale_mode": "lottery",
        "applications_close_at": "2026-01-15T23:59:00+09:00",
        "draw_at": "2026-01-16T12:00:00+09:00",
        "pay_within_hours": 72,
        "ends_at": "2026-01-31T23:59:00+09:00",
    }
    return draft_body(**{**dates, **overrides})


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{TOWN}/drops", json=draft_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def publish(client: TestClient, headers: dict[str, str], drop_id: int) -> dict[str, Any]:
    response = client.post(f"{TOWN}/drops/{drop_id}/publish", headers=headers)
    assert response.status_code == 200, response.text
    published: dict[str, Any] = response.json()
    return published


def audit_count(client: TestClient, action: str | None = None, target: int | None = None) -> int:
    query = select(func.count()).select_from(AuditEntry)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target_type == "drop", AuditEntry.target_id == str(target))
    with runtime(client).sessions() as session:
        return session.scalar(query) or 0


def series_count(client: TestClient) -> int:
    return card_client(runtime(client).chain, runtime(client).card_contract).series_count()


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


# ── drafts ─────────────────────────────────────────────────────────────────


def test_a_draft_keeps_every_field_stores_utc_and_is_nothing_on_chain(
    client: TestClient, editor: dict[str, str]
) -> None:
    before = series_count(client)
    drop = create(client, editor, ends_at="2026-03-31T23:59:59+09:00", soulbound=True)

    assert drop["status"] == "draft"
    assert drop["starts_at"] == "2026-01-01T01:00:00Z"  # 10:00 Japan time
    assert drop["ends_at"] == "2026-03-31T14:59:59Z"
    assert (drop["series_id"], drop["first_token_id"], drop["published_at"], drop["publish_error"]) == (None,) * 4
    assert (drop["sold"], drop["remaining"], drop["soulbound"]) == (0, 50, True)
    assert drop["payment_methods"] == ["demo", "card", "wallet"]
    assert drop["contract"] == runtime(client).card_contract
    assert series_count(client) == before
    assert client.get(f"{TOWN}/drops/{drop['id']}", headers=editor).json() == drop
    assert audit_count(client, "drop.create", drop["id"]) == 1


def test_a_lottery_draft_stores_its_dates(client: TestClient, editor: dict[str, str]) -> None:
    response = client.post(f"{TOWN}/drops", json=lottery_body(), headers=editor)

    assert response.status_code == 201, response.text
    drop = response.json()
    assert drop["sale_mode"] == "lottery"
    assert drop["applications_close_at"] == "2026-01-15T14:59:00Z"
    assert drop["draw_at"] == "2026-01-16T03:00:00Z"
    assert drop["pay_within_hours"] == 72


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"status": "live"}, "status"),
        ({"series_id": 3}, "series_id"),
        ({"first_token_id": 1}, "first_token_id"),
        ({"price_wei": "1"}, "price_wei"),
        ({"sold": 0}, "sold"),
        ({"contract": "0x" + "11" * 20}, "contract"),
        ({"kind": "naming_right"}, "kind"),
        ({"sale_mode": "auction"}, "sale_mode"),
        ({"title_ja": ""}, "title_ja"),
        ({"title_en": "x" * 201}, "title_en"),
        ({"description_ja": "あ" * 5_001}, "description_ja"),
        ({"price_jpy": -1}, "price_jpy"),
        ({"price_jpy": 10_000_001}, "price_jpy"),
        ({"supply": 0}, "supply"),
        ({"supply": 1_000_001}, "supply"),
        ({"per_buyer_limit": 0}, "per_buyer_limit"),
        ({"per_buyer_limit": 101}, "per_buyer_limit"),
        ({"starts_at": "2026-01-01T10:00:00"}, "starts_at"),  # no offset: which time zone?
        ({"starts_at": "next monday"}, "starts_at"),
        ({"payment_methods": []}, "payment_methods"),
        ({"payment_methods": ["demo", "demo"]}, "payment_methods"),
        ({"payment_methods": ["cash"]}, "payment_methods"),
        ({"pay_within_hours": 0}, "pay_within_hours"),
    ],
)
def test_a_bad_field_is_a_422_naming_it(
    client: TestClient, editor: dict[str, str], change: dict[str, Any], named: str
) -> None:
    before = audit_count(client)
    response = client.post(f"{TOWN}/drops", json=draft_body(**change), headers=editor)

    assert response.status_code == 422
    assert error_code(response) == "invalid_request"
    assert named in response.json()["error"]["message"]
    assert audit_count(client) == before


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (draft_body(ends_at="2026-01-01T10:00:00+09:00"), "ends_at must be after starts_at"),
        (draft_body(ends_at="2026-01-01T00:59:00Z"), "ends_at must be after starts_at"),  # same instant, other zone
        (draft_body(supply=3, per_buyer_limit=5), "per_buyer_limit cannot exceed supply"),
        (draft_body(price_jpy=0), "cannot be paid by card"),
        (draft_body(draw_at="2026-01-16T12:00:00+09:00"), "lottery drops only"),
        (lottery_body(pay_within_hours=None), "needs applications_close_at"),
        (lottery_body(applications_close_at="2025-12-31T10:00:00+09:00"), "applications_close_at must be after"),
        (lottery_body(draw_at="2026-01-15T12:00:00+09:00"), "draw_at cannot be before"),
        (lottery_body(ends_at="2026-01-17T12:00:00+09:00"), "ends_at cannot be before the winners"),
    ],
)
def test_rules_between_fields_are_a_422_saying_which(
    client: TestClient, editor: dict[str, str], body: dict[str, Any], rule: str
) -> None:
    response = client.post(f"{TOWN}/drops", json=body, headers=editor)

    assert response.status_code == 422
    assert error_code(response) == "invalid_request"
    assert rule in response.json()["error"]["message"]


def test_the_list_pages_and_filters_by_state(client: TestClient, editor: dict[str, str]) -> None:
    ids = [create(client, editor, title_en=f"Page {n}")["id"] for n in range(3)]

    page = client.get(f"{TOWN}/drops", params={"limit": 2, "status": "draft"}, headers=editor).json()
    rest = client.get(f"{TOWN}/drops", params={"limit": 2, "offset": 2, "status": "draft"}, headers=editor).json()
    everything = client.get(f"{TOWN}/drops", params={"limit": 100}, headers=editor).json()

    assert [item["id"] for item in page["items"]] == ids[::-1][:2]  # newest first
    assert page["total"] == rest["total"] >= 3
    assert page["limit"] == 2
    assert rest["offset"] == 2
    assert {item["status"] for item in page["items"] + rest["items"]} == {"draft"}
    assert "live" in {item["status"] for item in everything["items"]}  # the demo drop
    assert client.get(f"{TOWN}/drops", params={"status": "gone"}, headers=editor).status_code == 422
    assert client.get(f"{TOWN}/drops", params={"limit": 101}, headers=editor).status_code == 422


@pytest.mark.parametrize(
    ("role", "reads", "writes"),
    [
        ("owner", True, True),
        ("editor", True, True),
        ("analyst", True, False),
        ("moderator", True, False),
        ("verifier", False, False),
    ],
)
def test_who_may_read_and_write_drops(client: TestClient, role: str, reads: bool, writes: bool) -> None:
    headers = staff_headers(runtime(client).sessions, "hoshikawa", role)

    listed = client.get(f"{TOWN}/drops", headers=headers)
    made = client.post(f"{TOWN}/drops", json=draft_body(), headers=headers)
    shown = client.get(f"{TOWN}/drops/1", headers=headers)
    paused = client.post(f"{TOWN}/drops/1/resume", headers=headers)  # live already: a no-op write

    assert listed.status_code == shown.status_code == (200 if reads else 403)
    assert made.status_code == (201 if writes else 403)
    assert paused.status_code == (200 if writes else 403)
    for refused in [r for r in (listed, made, shown, paused) if r.status_code == 403]:
        assert error_code(refused) == "forbidden"


def test_no_session_is_401_and_another_towns_drop_is_404(client: TestClient, editor: dict[str, str]) -> None:
    drop = create(client, editor)
    other = staff_headers(runtime(client).sessions, OTHER_SLUG, "owner")
    other_town = f"/api/v1/staff/towns/{OTHER_SLUG}"

    assert client.get(f"{TOWN}/drops").status_code == 401
    assert client.get(f"{TOWN}/drops", headers=other).status_code == 403  # not their town
    for response in (
        client.get(f"{other_town}/drops/{drop['id']}", headers=other),
        client.patch(f"{other_town}/drops/{drop['id']}", json={"title_en": "Mine"}, headers=other),
        client.post(f"{other_town}/drops/{drop['id']}/publish", headers=other),
        client.post(f"{other_town}/drops/{drop['id']}/pause", headers=other),
    ):
        assert response.status_code == 404
        assert error_code(response) == "drop_not_found"
    assert client.get(f"{other_town}/drops", headers=other).json()["total"] == 0
    assert client.get(f"{TOWN}/drops/{drop['id']}", headers=editor).json()["title_en"] == drop["title_en"]
    assert client.get(f"{TOWN}/drops/0", headers=editor).status_code == 422
    assert client.get(f"{TOWN}/drops/{2**31}", headers=editor).status_code == 422


# ── the public side ─────────────────────────────────────────────────────────


def test_drafts_are_not_public_and_cannot_be_ordered(client: TestClient, editor: dict[str, str]) -> None:
    drop = create(client, editor)

    listed = [item["id"] for item in client.get("/api/v1/drops", params={"limit": 100}).json()["items"]]
    ordered = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"]))

    assert drop["id"] not in listed
    assert client.get(f"/api/v1/drops/{drop['id']}").status_code == 404
    assert ordered.status_code == 404
    assert error_code(ordered) == "drop_not_found"


# ── publishing ──────────────────────────────────────────────────────────────


def test_publishing_adds_one_series_with_the_drops_terms_and_then_it_sells(
    client: TestClient, editor: dict[str, str]
) -> None:
    before = series_count(client)
    drop = create(client, editor, soulbound=True, ends_at="2027-06-30T18:00:00+09:00", price_jpy=1_500)

    published = publish(client, editor, drop["id"])
    again = client.post(f"{TOWN}/drops/{drop['id']}/publish", headers=editor)

    assert published["status"] == "live"
    assert published["published_at"] is not None
    assert again.status_code == 200
    assert again.json()["series_id"] == published["series_id"]
    assert series_count(client) == before + 1
    series = card_client(runtime(client).chain, drop["contract"]).series(published["series_id"])
    assert (series.first_id, series.size) == (published["first_token_id"], 50)
    assert series.soulbound
    assert series.price_wei == 1_500 * WEI_PER_JPY
    assert series.per_buyer_cap == 2
    assert series.sale_start == 1_767_229_200  # 2026-01-01T10:00+09:00
    assert series.sale_end == 1_814_346_000  # 2027-06-30T18:00+09:00
    public = client.get(f"/api/v1/drops/{drop['id']}").json()
    assert (public["status"], public["sale_mode"], public["price_jpy"]) == ("on_sale", "first_come", 1_500)

    order = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"])).json()
    paid = client.post(f"/api/v1/orders/{order['order_id']}/demo-pay", headers=bearer(order)).json()
    assert paid["token_ids"] == [published["first_token_id"]]
    assert audit_count(client, "drop.publish", drop["id"]) == 2  # each call is one write


def test_two_drops_get_ids_after_everything_on_chain(client: TestClient, editor: dict[str, str]) -> None:
    first = publish(client, editor, create(client, editor, supply=10, per_buyer_limit=1)["id"])
    second = publish(client, editor, create(client, editor, supply=7, per_buyer_limit=1)["id"])

    assert second["first_token_id"] == first["first_token_id"] + 10
    assert second["series_id"] == first["series_id"] + 1
    with runtime(client).sessions() as session:
        serial = session.get(DropSerial, second["id"])
        assert serial is not None
        assert (serial.next_serial, serial.end_serial) == (second["first_token_id"], second["first_token_id"] + 7)


def test_a_drop_whose_window_has_ended_is_not_published(client: TestClient, editor: dict[str, str]) -> None:
    drop = create(client, editor, starts_at="2025-01-01T10:00:00+09:00", ends_at="2025-02-01T10:00:00+09:00")

    response = client.post(f"{TOWN}/drops/{drop['id']}/publish", headers=editor)

    assert response.status_code == 409
    assert error_code(response) == "drop_ended"
    assert client.get(f"{TOWN}/drops/{drop['id']}", headers=editor).json()["status"] == "draft"


def test_a_lottery_drop_is_published_but_takes_no_direct_orders(client: TestClient, editor: dict[str, str]) -> None:
    drop = client.post(f"{TOWN}/drops", json=lottery_body(ends_at=None), headers=editor).json()

    published = publish(client, editor, drop["id"])
    ordered = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"]))

    assert published["status"] == "live"
    assert client.get(f"/api/v1/drops/{drop['id']}").json()["sale_mode"] == "lottery"
    assert ordered.status_code == 409
    assert error_code(ordered) == "lottery_only"


# ── edits ───────────────────────────────────────────────────────────────────


def test_a_draft_changes_anything_and_only_what_is_sent(client: TestClient, editor: dict[str, str]) -> None:
    drop = create(client, editor)
    change = {"price_jpy": 3_000, "supply": 80, "soulbound": True, "payment_methods": ["wallet"], "title_ja": "改"}

    edited = client.patch(f"{TOWN}/drops/{drop['id']}", json=change, headers=editor)

    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert {key: body[key] for key in change} == change
    assert body["title_en"] == drop["title_en"]
    with runtime(client).sessions() as session:
        stored = session.get(Drop, drop["id"])
        assert stored is not None
        assert int(stored.price_wei) == 3_000 * WEI_PER_JPY
    rows = audit_count(client, "drop.update", drop["id"])
    assert rows == 1
    with runtime(client).sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "drop.update", AuditEntry.target_id == str(drop["id"]))
        ).one()
    assert '"price_jpy":2000' in entry.before
    assert '"price_jpy":3000' in entry.after


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"status": "live"}, "invalid_request"),
        ({"first_token_id": 5}, "invalid_request"),
        ({"title_ja": None}, "invalid_request"),
        ({"ends_at": "2025-12-31T00:00:00+09:00"}, "invalid_request"),  # before starts_at: the merged rule
        ({"per_buyer_limit": 60}, "invalid_request"),  # above the supply of 50
    ],
)
def test_a_bad_edit_is_a_422_and_changes_nothing(
    client: TestClient, editor: dict[str, str], change: dict[str, Any], code: str
) -> None:
    drop = create(client, editor)

    response = client.patch(f"{TOWN}/drops/{drop['id']}", json=change, headers=editor)

    assert response.status_code == 422
    assert error_code(response) == code
    assert client.get(f"{TOWN}/drops/{drop['id']}", headers=editor).json() == drop
    assert audit_count(client, "drop.update", drop["id"]) == 0


def test_a_live_drop_changes_its_texts_and_methods_at_any_time(client: TestClient, editor: dict[str, str]) -> None:
    drop = publish(client, editor, create(client, editor)["id"])
    order = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"])).json()
    client.post(f"/api/v1/orders/{order['order_id']}/demo-pay", headers=bearer(order)).raise_for_status()

    edited = client.patch(
        f"{TOWN}/drops/{drop['id']}",
        json={"title_ja": "第2期（完売間近）", "description_en": "Few left.", "payment_methods": ["demo", "wallet"]},
        headers=editor,
    )

    assert edited.status_code == 200, edited.text
    assert edited.json()["title_ja"] == "第2期（完売間近）"
    assert client.get(f"/api/v1/drops/{drop['id']}").json()["description_en"] == "Few left."
    assert audit_count(client, "drop.update", drop["id"]) == 1


@pytest.mark.parametrize(
    "change",
    [{"price_jpy": 1_000}, {"supply": 40}, {"per_buyer_limit": 1}, {"starts_at": "2026-02-01T10:00:00+09:00"}],
)
def test_a_drop_with_a_card_sold_keeps_its_terms(
    client: TestClient, editor: dict[str, str], change: dict[str, Any]
) -> None:
    drop = publish(client, editor, create(client, editor)["id"])
    order = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"])).json()  # a reservation counts

    response = client.patch(f"{TOWN}/drops/{drop['id']}", json=change, headers=editor)

    assert order["status"] == "pending_payment"
    assert response.status_code == 409
    assert error_code(response) == "drop_terms_locked"
    assert client.get(f"{TOWN}/drops/{drop['id']}", headers=editor).json()["price_jpy"] == drop["price_jpy"]


@pytest.mark.parametrize("change", [{"supply": 51}, {"soulbound": True}, {"sale_mode": "lottery"}])
def test_what_the_series_fixes_on_chain_never_changes_once_published(
    client: TestClient, editor: dict[str, str], change: dict[str, Any]
) -> None:
    drop = publish(client, editor, create(client, editor)["id"])
    if change.get("sale_mode") == "lottery":
        change = {
            **change,
            "applications_close_at": "2026-01-10T00:00:00+09:00",
            "draw_at": "2026-01-11T00:00:00+09:00",
        }
        change["pay_within_hours"] = 24

    response = client.patch(f"{TOWN}/drops/{drop['id']}", json=change, headers=editor)

    assert response.status_code == 409
    assert error_code(response) == "drop_terms_locked"


def test_an_unsold_live_drops_price_limit_and_window_move_its_series_too(
    client: TestClient, editor: dict[str, str]
) -> None:
    drop = publish(client, editor, create(client, editor)["id"])
    change = {"price_jpy": 2_500, "per_buyer_limit": 3, "ends_at": "2026-12-31T23:59:59+09:00", "supply": 30}

    edited = client.patch(f"{TOWN}/drops/{drop['id']}", json=change, headers=editor)

    assert edited.status_code == 200, edited.text
    series = card_client(runtime(client).chain, drop["contract"]).series(drop["series_id"])
    assert (series.price_wei, series.per_buyer_cap, series.sale_end) == (2_500 * WEI_PER_JPY, 3, 1_798_729_199)
    assert series.size == 50  # the id range is the chain's: the last 20 ids are simply never numbered
    assert (edited.json()["supply"], edited.json()["remaining"]) == (30, 30)
    with runtime(client).sessions() as session:
        serial = session.get(DropSerial, drop["id"])
        assert serial is not None
        assert serial.end_serial == drop["first_token_id"] + 30
    order = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"], quantity=3)).json()
    assert order["amount_jpy"] == 7_500


def test_a_drop_being_published_cannot_be_edited(client: TestClient, editor: dict[str, str]) -> None:
    drop = create(client, editor)
    with runtime(client).sessions() as session:
        stored = session.get(Drop, drop["id"])
        assert stored is not None
        stored.status = "publishing"
        session.commit()

    response = client.patch(f"{TOWN}/drops/{drop['id']}", json={"price_jpy": 10}, headers=editor)

    assert response.status_code == 409
    assert error_code(response) == "drop_publishing"


# ── pause and resume ────────────────────────────────────────────────────────


def test_a_paused_drop_is_shown_refuses_orders_and_sells_again_when_resumed(
    client: TestClient, editor: dict[str, str]
) -> None:
    drop = publish(client, editor, create(client, editor)["id"])

    paused = client.post(f"{TOWN}/drops/{drop['id']}/pause", headers=editor)
    twice = client.post(f"{TOWN}/drops/{drop['id']}/pause", headers=editor)
    public = client.get(f"/api/v1/drops/{drop['id']}").json()
    refused = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"], payment_method="demo"))
    wallet = order_body(drop_id=drop["id"], payment_method="wallet", wallet_address="0x" + "ab" * 20)
    no_voucher = client.post("/api/v1/orders", json=wallet)
    resumed = client.post(f"{TOWN}/drops/{drop['id']}/resume", headers=editor)
    ordered = client.post("/api/v1/orders", json=order_body(drop_id=drop["id"]))

    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert (twice.status_code, twice.json()["status"]) == (200, "paused")
    assert public["status"] == "paused"
    assert drop["id"] in [item["id"] for item in client.get("/api/v1/drops", params={"limit": 100}).json()["items"]]
    assert refused.status_code == no_voucher.status_code == 409
    assert error_code(refused) == error_code(no_voucher) == "drop_paused"
    assert "一時停止" in refused.json()["error"]["message"]
    assert (resumed.status_code, resumed.json()["status"]) == (200, "live")
    assert ordered.status_code == 201
    assert client.get(f"/api/v1/drops/{drop['id']}").json()["status"] == "on_sale"
    assert [audit_count(client, action, drop["id"]) for action in ("drop.pause", "drop.resume")] == [2, 1]


def test_only_live_drops_pause_and_only_paused_ones_resume(client: TestClient, editor: dict[str, str]) -> None:
    drop = create(client, editor)

    pause = client.post(f"{TOWN}/drops/{drop['id']}/pause", headers=editor)
    resume = client.post(f"{TOWN}/drops/{drop['id']}/resume", headers=editor)

    assert (pause.status_code, error_code(pause)) == (409, "drop_not_live")
    assert (resume.status_code, error_code(resume)) == (409, "drop_not_paused")
    assert audit_count(client, target=drop["id"]) == 1  # the create


def test_every_write_appends_exactly_one_audit_row(client: TestClient, editor: dict[str, str]) -> None:
    start = audit_count(client)
    drop = create(client, editor)
    client.patch(f"{TOWN}/drops/{drop['id']}", json={"title_en": "Renamed"}, headers=editor).raise_for_status()
    publish(client, editor, drop["id"])
    client.post(f"{TOWN}/drops/{drop['id']}/pause", headers=editor).raise_for_status()
    client.post(f"{TOWN}/drops/{drop['id']}/resume", headers=editor).raise_for_status()

    assert audit_count(client) == start + 5
    with runtime(client).sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target_id == str(drop["id"])).order_by(AuditEntry.id)
        ).all()
    assert actions == ["drop.create", "drop.update", "drop.publish", "drop.pause", "drop.resume"]


def test_the_openapi_document_lists_the_staff_drop_routes_and_their_refusals(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    publish_op = paths["/api/v1/staff/towns/{slug}/drops/{drop_id}/publish"]["post"]

    assert {"200", "202", "401", "403", "404", "409", "502"} <= set(publish_op["responses"])
    create_schema = paths["/api/v1/staff/towns/{slug}/drops"]["post"]["requestBody"]["content"]["application/json"]
    assert create_schema["schema"]["$ref"].endswith("/DropCreate")
    example = client.get("/openapi.json").json()["components"]["schemas"]["DropCreate"]["examples"][0]
    headers = staff_headers(runtime(client).sessions, "hoshikawa", "editor")
    assert client.post(f"{TOWN}/drops", json=example, headers=headers).status_code == 201


def test_a_town_with_its_own_contract_publishes_there_and_one_being_deployed_waits(
    client: TestClient, compiled: CompiledTree
) -> None:
    rt = runtime(client)
    admin = publisher_of(rt).admin
    own, _receipt = ResidentCardClient.deploy(rt.chain.w3, compiled["ResidentCard"], admin, name="Kawabe", symbol="KWB")
    add_town(rt.sessions, "kawabe", card_contract=own.address)
    add_town(rt.sessions, "yamabe", contracts_state="deploying")
    kawabe = staff_headers(rt.sessions, "kawabe", "owner")
    manifest_series = series_count(client)

    drop = client.post("/api/v1/staff/towns/kawabe/drops", json=draft_body(), headers=kawabe).json()
    published = client.post(f"/api/v1/staff/towns/kawabe/drops/{drop['id']}/publish", headers=kawabe).json()
    waiting = client.post(
        "/api/v1/staff/towns/yamabe/drops", json=draft_body(), headers=staff_headers(rt.sessions, "yamabe", "owner")
    )

    assert drop["contract"] == published["contract"] == own.address
    assert (published["status"], published["series_id"], published["first_token_id"]) == ("live", 0, 1)
    assert own.series_count() == 1
    assert series_count(client) == manifest_series
    assert (waiting.status_code, error_code(waiting)) == (409, "town_not_ready")
