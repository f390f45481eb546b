"""Announcements on an eth-tester chain, one app for the module: the demo town's card and a
second series, each with real demo orders (minted), some holders in both.

The app's own sender loop is stopped: the tests run the sender's rounds themselves
(`Sender.run_once`), crash one between mailing and marking, and start a new one, then count
the `.eml` files. Asserted: one mail per eligible holder across the crash (the same file and
Message-ID re-sent); nobody outside the chosen series, no revoked card, nobody who
unsubscribed (their delivery "skipped"); the one-click POST works and a GET does not
unsubscribe; approval when the town asks for it (a moderator approves, an editor cannot, the
author cannot approve their own; reject and resubmit); two clicks never move twice; cancel
before sending; the holders' list.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import utcnow
from backend.core.models import AuditEntry
from backend.polls.models import Announcement, AnnouncementDelivery, MailOptOut
from backend.polls.sender import AnnouncementSender, Sender
from backend.polls.unsubscribe import make_token
from backend.runtime import Runtime
from backend.sales.models import OrderCard
from minting.worker import stop_loops
from tests.factories import staff_headers
from tests.holders.conftest import bearer, pay, sign_in, wait_for, wait_minted
from tests.sales.test_staff_drops import draft_body

pytestmark = pytest.mark.chain

SLUG = "hoshikawa"
STAFF = f"/api/v1/staff/towns/{SLUG}"
FIRST_DROP = 1
WALLET = "0x" + "5e" * 20


@dataclass(frozen=True)
class World:
    client: TestClient
    second_drop: int
    #: e-mail → the drops of the valid cards they hold.
    holders: dict[str, set[int]]
    revoked: str


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def buy(client: TestClient, address: str, drop_id: int, **extra: Any) -> tuple[str, str]:
    body = {"drop_id": drop_id, "quantity": 1, "email": address, "prefecture": "13", "payment_method": "demo", **extra}
    response = client.post("/api/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order_id, token = response.json()["order_id"], response.json()["order_token"]
    pay(client, order_id, token)
    return order_id, token


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("announcements") / "data")
    with TestClient(create_app(settings)) as client:
        runtime = runtime_of(client)
        runtime.start_worker()  # mint worker, indexer and the other loops of `furusato run`
        loops = [loop for loop in runtime.threads if loop[0].name == "announcement-sender"]
        assert loops, "the runtime runs no announcement sender"
        stop_loops(loops)  # the tests run the rounds themselves
        editor = staff_headers(runtime.sessions, SLUG, "editor")
        drop = client.post(f"{STAFF}/drops", json=draft_body(title_ja="第2期", title_en="Second"), headers=editor)
        assert drop.status_code == 201, drop.text
        second = drop.json()["id"]
        published = client.post(f"{STAFF}/drops/{second}/publish", headers=editor)
        assert published.status_code == 200, published.text
        assert published.json()["status"] == "live"
        purchases = [
            ("alice@example.jp", FIRST_DROP, {}),
            ("bob@example.jp", second, {}),
            ("carol@example.jp", FIRST_DROP, {}),
            ("carol@example.jp", second, {}),
            ("dave@example.jp", FIRST_DROP, {}),
            ("erin@example.jp", FIRST_DROP, {}),  # revoked below: as if refunded
            ("wendy@example.jp", second, {"wallet_address": WALLET}),  # her own wallet
        ]
        orders = [(buy(client, address, drop_id, **extra), address, drop_id) for address, drop_id, extra in purchases]
        holders: dict[str, set[int]] = {}
        for (order_id, token), address, drop_id in orders:
            wait_minted(client, order_id, token)
            holders.setdefault(address, set()).add(drop_id)
        erin_order = next(order_id for (order_id, _token), address, _drop in orders if address == "erin@example.jp")
        with runtime.sessions() as session:
            session.execute(update(OrderCard).where(OrderCard.order_id == erin_order).values(revoked_at=utcnow()))
            session.commit()
        del holders["erin@example.jp"]
        yield World(client, second, holders, "erin@example.jp")


@pytest.fixture
def client(world: World) -> TestClient:
    return world.client


# ── helpers ─────────────────────────────────────────────────────────────────


def staff(client: TestClient, role: str) -> dict[str, str]:
    return staff_headers(runtime_of(client).sessions, SLUG, role)


def new_sender(client: TestClient) -> Sender:
    runtime = runtime_of(client)
    return Sender(runtime.sessions, runtime.settings, runtime.manifest.chain_id)


def body(**overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "title_ja": "湯めぐりの日",
        "title_en": "Hot-spring day",
        "body_ja": "今週末は町の温泉が無料です。\n住民票カードをお見せください。",
        "body_en": "This weekend the town's hot springs are free.\nShow your card.",
        "series": [],
    }
    value.update(overrides)
    return value


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{STAFF}/announcements", json=body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "draft"
    created: dict[str, Any] = response.json()
    return created


def act(client: TestClient, announcement_id: int, action: str, headers: dict[str, str], **json: Any) -> Any:
    return client.post(f"{STAFF}/announcements/{announcement_id}/{action}", headers=headers, json=json or None)


def scheduled(client: TestClient, **overrides: Any) -> int:
    """An announcement submitted in a town that needs no approval: scheduled."""
    editor = staff(client, "editor")
    announcement_id: int = create(client, editor, **overrides)["id"]
    submitted = act(client, announcement_id, "submit", editor)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "scheduled"
    return announcement_id


def mail_files(client: TestClient, announcement_id: int) -> list[Path]:
    folder = runtime_of(client).settings.data_dir / "mail"
    return sorted(folder.glob(f"announcement-{announcement_id}-*.eml"))


def parse(path: Path) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    return message


def recipients_of(client: TestClient, announcement_id: int) -> list[str]:
    return sorted(str(parse(path)["To"]) for path in mail_files(client, announcement_id))


def deliveries(client: TestClient, announcement_id: int) -> dict[str, str]:
    with runtime_of(client).sessions() as session:
        rows = session.execute(
            select(AnnouncementDelivery.email, AnnouncementDelivery.status).where(
                AnnouncementDelivery.announcement_id == announcement_id
            )
        )
        return dict(rows.all())


def status_of(client: TestClient, announcement_id: int) -> str:
    with runtime_of(client).sessions() as session:
        found = session.get(Announcement, announcement_id)
        assert found is not None
        return found.status


def opted_out(client: TestClient) -> set[str]:
    with runtime_of(client).sessions() as session:
        return set(session.scalars(select(MailOptOut.email)))


def eligible(world: World, series: set[int] | None = None) -> list[str]:
    """Who should get mail: holders of a chosen series (None: any), not unsubscribed."""
    out = opted_out(world.client)
    return sorted(
        address for address, drops in world.holders.items() if (series is None or drops & series) and address not in out
    )


def audit_actions(client: TestClient, announcement_id: int) -> list[str]:
    with runtime_of(client).sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_type == "announcement", AuditEntry.target_id == str(announcement_id))
                .order_by(AuditEntry.id)
            )
        )


def set_approval(client: TestClient, needed: bool) -> None:
    response = client.patch(f"{STAFF}/settings", json={"posts_need_approval": needed}, headers=staff(client, "owner"))
    assert response.status_code == 200, response.text
    assert response.json()["posts_need_approval"] is needed
    with runtime_of(client).sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "town.settings").order_by(AuditEntry.id.desc())
        ).first()
    assert entry is not None
    assert '"posts_need_approval":' + ("true" if needed else "false") in entry.after.replace(" ", "")


# ── sending exactly once ────────────────────────────────────────────────────


def test_each_eligible_holder_gets_exactly_one_mail_across_a_crash_between_mailing_and_marking(
    world: World, client: TestClient
) -> None:
    announcement_id = scheduled(client)
    expected = eligible(world)
    assert len(expected) >= 4
    crashing = new_sender(client)
    marked: list[int] = []
    real_mark = crashing.mark_sent

    def mark_then_die(session: Any, delivery_id: int, now: Any) -> None:
        if len(marked) == 2:  # the third mail is handed over, then the process "dies"
            raise RuntimeError("killed between mailing and marking")
        marked.append(delivery_id)
        real_mark(session, delivery_id, now)

    crashing.mark_sent = mark_then_die  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="killed"):
        crashing.run_once()

    assert status_of(client, announcement_id) == "sending"
    states = deliveries(client, announcement_id)
    assert sorted(states) == expected  # recipients fixed once, at the start
    assert list(states.values()).count("sent") == 2
    files = mail_files(client, announcement_id)
    assert len(files) == 3  # the third is on disk but not marked
    unmarked = next(path for path in files if int(path.stem.rsplit("-", 1)[1]) not in marked)
    first_copy = unmarked.read_bytes()

    result = new_sender(client).run_once()  # a new process after the restart

    assert announcement_id in result.finished
    assert result.mailed == len(expected) - 2
    assert status_of(client, announcement_id) == "sent"
    assert set(deliveries(client, announcement_id).values()) == {"sent"}
    assert recipients_of(client, announcement_id) == expected  # one file per holder
    assert unmarked.read_bytes() == first_copy  # the same message again, same Message-ID
    message_ids = [str(parse(path)["Message-ID"]) for path in mail_files(client, announcement_id)]
    assert len(set(message_ids)) == len(expected)
    assert not list((runtime_of(client).settings.data_dir / "mail").glob("*.tmp"))
    assert new_sender(client).run_once().mailed == 0  # nothing left, nothing again

    shown = client.get(f"{STAFF}/announcements/{announcement_id}", headers=staff(client, "analyst")).json()
    assert shown["status"] == "sent"
    assert shown["deliveries"] == {"recipients": len(expected), "pending": 0, "sent": len(expected), "skipped": 0}
    assert shown["recipients"] == len(expected)
    assert shown["sent_at"] is not None


def test_the_mail_is_bilingual_with_the_town_a_card_link_and_one_click_unsubscribe(
    world: World, client: TestClient
) -> None:
    announcement_id = scheduled(client, series=[world.second_drop])
    new_sender(client).run_once()
    message = parse(mail_files(client, announcement_id)[0])
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert content.index("湯めぐりの日") < content.index("Hot-spring day")  # Japanese first
    assert "星川町" in content
    assert "/card.html" in content
    public = runtime_of(client).settings.public_url
    assert message["List-Unsubscribe"] == f"<{public}/api/v1/mail/unsubscribe?token={token_in(message)}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"/api/v1/mail/unsubscribe?token={token_in(message)}" in content
    assert "湯めぐりの日" in str(message["Subject"])


def test_nobody_outside_the_chosen_series_gets_it_nor_a_revoked_card(world: World, client: TestClient) -> None:
    only_second = scheduled(client, series=[world.second_drop])
    only_first = scheduled(client, series=[FIRST_DROP])
    new_sender(client).run_once()

    assert recipients_of(client, only_second) == eligible(world, {world.second_drop})
    assert "alice@example.jp" not in recipients_of(client, only_second)
    assert "wendy@example.jp" in recipients_of(client, only_second)  # her wallet holds it: her order's address
    assert recipients_of(client, only_first) == eligible(world, {FIRST_DROP})
    assert "bob@example.jp" not in recipients_of(client, only_first)
    assert world.revoked not in deliveries(client, only_first)


# ── unsubscribe ─────────────────────────────────────────────────────────────


def token_in(message: EmailMessage) -> str:
    found = re.search(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert found is not None
    return parse_qs(urlsplit(found.group(1)).query)["token"][0]


def test_unsubscribe_get_only_shows_the_button_post_unsubscribes_and_is_honoured(
    world: World, client: TestClient
) -> None:
    first = scheduled(client, series=[FIRST_DROP])
    new_sender(client).run_once()
    dave_mail = next(parse(path) for path in mail_files(client, first) if parse(path)["To"] == "dave@example.jp")
    token = token_in(dave_mail)
    url = f"/api/v1/mail/unsubscribe?token={token}"

    page = client.get(url, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert 'method="post"' in page.text
    assert "星川町" in page.text
    as_json = client.get(url)
    assert as_json.json()["unsubscribed"] is False
    assert "dave@example.jp" not in opted_out(client)  # opening the link changed nothing

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    one_click = client.post(url, content=b"List-Unsubscribe=One-Click", headers=form)  # RFC 8058
    assert one_click.status_code == 200, one_click.text
    assert one_click.json()["unsubscribed"] is True
    assert one_click.json()["town"]["slug"] == SLUG
    again = client.post(url, headers={"Accept": "text/html"})
    assert again.status_code == 200
    assert "停止しました" in again.text
    assert "dave@example.jp" in opted_out(client)
    assert client.get(url).json()["unsubscribed"] is True

    later = scheduled(client, series=[FIRST_DROP])
    new_sender(client).run_once()
    assert deliveries(client, later)["dave@example.jp"] == "skipped"
    assert "dave@example.jp" not in recipients_of(client, later)
    assert recipients_of(client, later) == eligible(world, {FIRST_DROP})
    shown = client.get(f"{STAFF}/announcements/{later}", headers=staff(client, "editor")).json()
    assert shown["deliveries"]["skipped"] == 1


def test_an_unsubscribe_after_sending_started_is_honoured_for_the_mail_not_yet_sent(
    world: World, client: TestClient
) -> None:
    announcement_id = scheduled(client, series=[world.second_drop])
    sender = new_sender(client)
    assert announcement_id in sender.start_due(utcnow())
    assert deliveries(client, announcement_id)["bob@example.jp"] == "pending"
    town_id = runtime_of(client).sessions().get(Announcement, announcement_id).municipality_id  # type: ignore[union-attr]
    token = make_token(runtime_of(client).settings.secret_key.get_secret_value(), town_id, "bob@example.jp")
    assert client.post(f"/api/v1/mail/unsubscribe?token={token}").status_code == 200

    sender.run_once()
    assert deliveries(client, announcement_id)["bob@example.jp"] == "skipped"
    assert "bob@example.jp" not in recipients_of(client, announcement_id)
    assert status_of(client, announcement_id) == "sent"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # another MAC
        lambda token: token.replace("u1.1.", "u1.2.", 1),  # another town
    ],
)
def test_a_token_not_made_here_is_refused_with_a_code(client: TestClient, mangle: Any) -> None:
    secret = runtime_of(client).settings.secret_key.get_secret_value()
    token = mangle(make_token(secret, 1, "someone@example.jp"))
    for method in ("get", "post"):
        refused = client.request(method.upper(), f"/api/v1/mail/unsubscribe?token={token}")
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_token"
    other = make_token("another deployment's secret", 1, "someone@example.jp")
    assert client.post(f"/api/v1/mail/unsubscribe?token={other}").status_code == 400
    assert "someone@example.jp" not in opted_out(client)


# ── approval, clicks, cancel ────────────────────────────────────────────────


def test_when_the_town_asks_a_moderator_approves_an_editor_cannot_and_nobody_approves_their_own(
    world: World, client: TestClient
) -> None:
    set_approval(client, True)
    try:
        editor = staff(client, "editor")
        announcement_id = create(client, editor, series=[world.second_drop])["id"]
        submitted = act(client, announcement_id, "submit", editor)
        assert submitted.json()["status"] == "pending_approval"
        assert new_sender(client).run_once().started == []  # not before approval

        assert act(client, announcement_id, "approve", editor).status_code == 403
        owner = staff(client, "owner")
        own = create(client, owner)["id"]
        act(client, own, "submit", owner)
        refused = act(client, own, "approve", owner)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "own_announcement"

        moderator = staff(client, "moderator")
        approved = act(client, announcement_id, "approve", moderator)
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "scheduled"
        assert approved.json()["approved_by"] is not None
        twice = act(client, announcement_id, "approve", moderator)
        assert (twice.status_code, twice.json()["error"]["code"]) == (409, "not_pending")

        new_sender(client).run_once()
        assert status_of(client, announcement_id) == "sent"
        assert recipients_of(client, announcement_id) == eligible(world, {world.second_drop})
        assert audit_actions(client, announcement_id) == [
            "announcement.create",
            "announcement.submit",
            "announcement.approve",
        ]
    finally:
        set_approval(client, False)


def test_a_rejected_announcement_is_edited_and_submitted_again(client: TestClient) -> None:
    set_approval(client, True)
    try:
        editor = staff(client, "editor")
        announcement_id = create(client, editor)["id"]
        act(client, announcement_id, "submit", editor)
        moderator = staff(client, "moderator")
        assert act(client, announcement_id, "reject", moderator).status_code == 422  # a reason is needed
        rejected = act(client, announcement_id, "reject", moderator, reason="日付を直してください")
        assert rejected.status_code == 200, rejected.text
        assert (rejected.json()["status"], rejected.json()["reject_reason"]) == ("rejected", "日付を直してください")
        assert new_sender(client).run_once().started == []

        edited = client.patch(
            f"{STAFF}/announcements/{announcement_id}", json={"title_en": "Hot-spring day (Sat)"}, headers=editor
        )
        assert edited.status_code == 200, edited.text
        assert edited.json()["title_en"] == "Hot-spring day (Sat)"
        again = act(client, announcement_id, "submit", editor)
        assert again.json()["status"] == "pending_approval"
        assert again.json()["reject_reason"] is None
    finally:
        set_approval(client, False)


def test_two_clicks_move_once_and_a_submitted_announcement_is_not_edited(client: TestClient) -> None:
    editor = staff(client, "editor")
    announcement_id = create(client, editor, send_at="2100-01-01T09:00:00+09:00")["id"]
    assert act(client, announcement_id, "submit", editor).status_code == 200
    twice = act(client, announcement_id, "submit", editor)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "not_submittable")
    patched = client.patch(f"{STAFF}/announcements/{announcement_id}", json={"title_ja": "変更"}, headers=editor)
    assert (patched.status_code, patched.json()["error"]["code"]) == (409, "not_editable")
    assert new_sender(client).run_once().started == []  # due in 2100
    assert audit_actions(client, announcement_id) == ["announcement.create", "announcement.submit"]

    cancelled = act(client, announcement_id, "cancel", editor)
    assert cancelled.json()["status"] == "cancelled"
    assert act(client, announcement_id, "cancel", editor).status_code == 409


def test_cancel_is_refused_once_sending_started(client: TestClient) -> None:
    announcement_id = scheduled(client, series=[FIRST_DROP])
    assert announcement_id in new_sender(client).start_due(utcnow())
    refused = act(client, announcement_id, "cancel", staff(client, "editor"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_cancellable")
    new_sender(client).run_once()
    assert status_of(client, announcement_id) == "sent"


def test_a_series_of_no_drop_of_the_town_is_refused_and_lists_page_by_status(client: TestClient) -> None:
    editor = staff(client, "editor")
    refused = client.post(f"{STAFF}/announcements", json=body(series=[999_999]), headers=editor)
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "drop_not_found")
    too_long = client.post(f"{STAFF}/announcements", json=body(title_ja="長" * 201), headers=editor)
    assert too_long.status_code == 422
    drafts = client.get(f"{STAFF}/announcements", params={"status": "draft", "limit": 2}, headers=editor).json()
    assert all(item["status"] == "draft" for item in drafts["items"])
    assert len(drafts["items"]) <= 2
    assert drafts["total"] >= len(drafts["items"])
    sent = client.get(f"{STAFF}/announcements", params={"status": "sent"}, headers=editor).json()
    assert sent["total"] >= 1


# ── the holders' side ───────────────────────────────────────────────────────


def test_a_holder_reads_the_sent_announcements_of_the_series_they_hold_newest_first(
    world: World, client: TestClient
) -> None:
    for_second = scheduled(client, series=[world.second_drop], title_en="For the second series")
    for_all = scheduled(client, title_en="For everyone")
    new_sender(client).run_once()

    alice = client.get("/api/v1/holders/me/announcements", headers=bearer(sign_in(client, "alice@example.jp")))
    assert alice.status_code == 200, alice.text
    ids = [item["id"] for item in alice.json()["items"]]
    assert for_all in ids
    assert for_second not in ids  # alice holds only the first series
    first = alice.json()["items"][0]
    assert first["id"] == for_all  # newest first
    assert first["town"]["slug"] == SLUG
    assert {first["title_ja"], first["title_en"], first["body_en"]} >= {"湯めぐりの日", "For everyone"}

    bob = client.get(
        "/api/v1/holders/me/announcements", params={"limit": 1}, headers=bearer(sign_in(client, "bob@example.jp"))
    ).json()
    assert bob["items"][0]["id"] == for_all
    assert bob["total"] >= 2
    revoked = client.get("/api/v1/holders/me/announcements", headers=bearer(sign_in(client, world.revoked))).json()
    assert revoked == {"items": [], "total": 0, "limit": 20, "offset": 0}  # a refunded card reads nothing
    assert client.get("/api/v1/holders/me/announcements").status_code == 401


def test_the_runtime_loop_sends_a_due_announcement(client: TestClient) -> None:
    announcement_id = scheduled(client, series=[FIRST_DROP], send_at=(utcnow() - timedelta(seconds=1)).isoformat())
    loop = AnnouncementSender(runtime_of(client), every=0.05).start_thread()
    try:
        wait_for(lambda: status_of(client, announcement_id) == "sent", timeout=30, what="the loop to send it")
    finally:
        stop_loops([loop])
    assert len(mail_files(client, announcement_id)) == len(deliveries(client, announcement_id)) - list(
        deliveries(client, announcement_id).values()
    ).count("skipped")
