"""Members and invites: who may invite whom, single-use 7-day invites, the last owner, towns
kept apart, and one audit row per write."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.core.models import AuditEntry
from backend.staff.models import Invite, StaffMember
from tests.staff.conftest import (
    OTHER_TOWN,
    TOWN,
    Clock,
    audit_rows,
    last_audit,
    mail_body,
    mails,
    new_member,
    request_code,
    runtime_of,
)

LINK = re.compile(r"/console/invite\.html#token=([A-Za-z0-9_-]+)")


def town_path(rest: str, town: str = TOWN) -> str:
    return f"/api/v1/staff/towns/{town}/{rest}"


def invite(client: TestClient, headers: dict[str, str], address: str, role: str) -> tuple[int, str]:
    """Invite `address`; (invite id, token from the mailed link)."""
    app: FastAPI = client.app  # type: ignore[assignment]
    before = mails(app)
    response = client.post(town_path("invites"), json={"email": address, "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    (new,) = mails(app) - before
    to, body = mail_body(new)
    assert to == address
    found = LINK.search(body)
    assert found is not None, body
    return response.json()["id"], found.group(1)


def accept(client: TestClient, token: str) -> Any:
    return client.post("/api/v1/staff/invites/accept", json={"token": token})


def staff_id_of(app: FastAPI, address: str) -> int:
    with runtime_of(app).sessions() as session:
        found = session.scalar(select(StaffMember.id).where(StaffMember.email == address))
    assert found is not None
    return found


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_invite_accepted_once_makes_a_member_who_signs_in(client: TestClient, staff_app: FastAPI) -> None:
    _owner, headers = new_member(staff_app, "owner")
    address = "invited-editor@town.example"
    _invite_id, token = invite(client, headers, address, "editor")
    accepted = accept(client, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {
        "email": address,
        "slug": TOWN,
        "name_ja": "星川町",
        "name_en": "Hoshikawa Town",
        "role": "editor",
    }
    entry = last_audit(staff_app)
    assert (entry.action, entry.actor, entry.target_type) == ("staff.invite_accept", address, "staff")
    assert error(accept(client, token)) == (409, "invite_used")
    assert request_code(client, address) is not None  # now staff: the code is mailed
    with runtime_of(staff_app).sessions() as session:
        stored = session.scalars(select(Invite.token_hash)).all()
    assert token not in stored  # only its hash


def test_expired_invite_refused(client: TestClient, staff_app: FastAPI, clock: Clock) -> None:
    _owner, headers = new_member(staff_app, "owner")
    _invite_id, token = invite(client, headers, "late@town.example", "analyst")
    clock.advance(days=7)
    assert error(accept(client, token)) == (410, "invite_expired")


def test_revoked_invite_refused_and_newest_invite_replaces_older(client: TestClient, staff_app: FastAPI) -> None:
    _owner, headers = new_member(staff_app, "owner")
    _first_id, first = invite(client, headers, "twice@town.example", "analyst")
    second_id, second = invite(client, headers, "twice@town.example", "analyst")
    assert error(accept(client, first)) == (400, "invite_invalid")
    rows = audit_rows(staff_app)
    assert client.delete(town_path(f"invites/{second_id}"), headers=headers).status_code == 204
    assert audit_rows(staff_app) == rows + 1
    assert error(accept(client, second)) == (400, "invite_invalid")
    assert error(client.delete(town_path(f"invites/{second_id}"), headers=headers)) == (409, "invite_not_pending")
    assert error(accept(client, "made-up")) == (400, "invite_invalid")


def test_invites_list_shows_status(client: TestClient, staff_app: FastAPI) -> None:
    owner, headers = new_member(staff_app, "owner")
    invite_id, _token = invite(client, headers, "listed@town.example", "moderator")
    listing = client.get(town_path("invites"), headers=headers).json()
    mine = next(item for item in listing["items"] if item["id"] == invite_id)
    assert (mine["email"], mine["role"], mine["status"], mine["invited_by"]) == (
        "listed@town.example",
        "moderator",
        "pending",
        owner,
    )


def test_editor_cannot_invite_anyone_least_of_all_an_owner(client: TestClient, staff_app: FastAPI) -> None:
    _editor, headers = new_member(staff_app, "editor")
    rows = audit_rows(staff_app)
    for role in ("owner", "editor", "verifier"):
        response = client.post(town_path("invites"), json={"email": "x@town.example", "role": role}, headers=headers)
        assert error(response) == (403, "forbidden")
    assert audit_rows(staff_app) == rows


def test_owner_of_one_town_is_a_stranger_in_another(client: TestClient, staff_app: FastAPI) -> None:
    _owner, headers = new_member(staff_app, "owner", town=OTHER_TOWN)
    _victim, victim_headers = new_member(staff_app, "editor")
    victim_id = staff_id_of(staff_app, _victim)
    rows = audit_rows(staff_app)
    attempts = [
        client.get(town_path("members"), headers=headers),
        client.get(town_path("audit"), headers=headers),
        client.post(town_path("invites"), json={"email": "spy@town.example", "role": "owner"}, headers=headers),
        client.patch(town_path(f"members/{victim_id}"), json={"role": "verifier"}, headers=headers),
        client.delete(town_path(f"members/{victim_id}"), headers=headers),
        client.get(town_path("members", town="no-such-town"), headers=headers),
    ]
    assert [error(response) for response in attempts] == [(403, "forbidden")] * len(attempts)
    assert audit_rows(staff_app) == rows
    assert client.get(town_path("members", town=OTHER_TOWN), headers=headers).status_code == 200
    assert client.get("/api/v1/staff/me", headers=victim_headers).status_code == 200


def test_last_owner_can_be_neither_demoted_nor_removed(client: TestClient, staff_app: FastAPI) -> None:
    # A town of its own, so its owners are exactly the ones made here.
    from tests.factories import add_town

    add_town(runtime_of(staff_app).sessions, "lone")
    first, first_headers = new_member(staff_app, "owner", town="lone")
    first_id = staff_id_of(staff_app, first)
    path = town_path(f"members/{first_id}", town="lone")
    assert error(client.patch(path, json={"role": "editor"}, headers=first_headers)) == (409, "last_owner")
    assert error(client.delete(path, headers=first_headers)) == (409, "last_owner")
    second, second_headers = new_member(staff_app, "owner", town="lone")
    second_id = staff_id_of(staff_app, second)
    rows = audit_rows(staff_app)
    demoted = client.patch(path, json={"role": "editor"}, headers=first_headers)  # demotes themself
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "editor"
    assert audit_rows(staff_app) == rows + 1
    entry = last_audit(staff_app)
    assert (entry.action, entry.target_id) == ("staff.role_change", str(first_id))
    assert '"role":"owner"' in entry.before
    assert '"role":"editor"' in entry.after
    assert client.get(town_path("members", town="lone"), headers=first_headers).status_code == 403  # no longer owner
    second_path = town_path(f"members/{second_id}", town="lone")
    assert error(client.delete(second_path, headers=second_headers)) == (409, "last_owner")
    assert client.delete(path, headers=second_headers).status_code == 204
    entry = last_audit(staff_app)
    assert (entry.action, entry.target_id, entry.after) == ("staff.remove", str(first_id), "null")
    towns = client.get("/api/v1/staff/me", headers=first_headers).json()["towns"]
    assert "lone" not in [town["slug"] for town in towns]


def test_two_owners_demoting_each_other_at_once_leave_one_owner(client: TestClient, staff_app: FastAPI) -> None:
    from tests.factories import add_town

    add_town(runtime_of(staff_app).sessions, "duel")
    one, one_headers = new_member(staff_app, "owner", town="duel")
    two, two_headers = new_member(staff_app, "owner", town="duel")
    ids = {address: staff_id_of(staff_app, address) for address in (one, two)}
    barrier = Barrier(2)

    def demote(headers: dict[str, str], target: str) -> int:
        barrier.wait()
        path = town_path(f"members/{ids[target]}", town="duel")
        return client.patch(path, json={"role": "editor"}, headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(demote, [one_headers, two_headers], [two, one]))
    # One demotion wins. The other is refused either by the last-owner guard (both passed the
    # role check first: 409) or by the role check itself (the winner committed first, so its
    # caller is an editor now: 403). Either way exactly one owner is left.
    assert statuses in ([200, 403], [200, 409])
    listing = client.get(town_path("members", town="duel"), headers=one_headers)
    if listing.status_code == 403:
        listing = client.get(town_path("members", town="duel"), headers=two_headers)
    roles = sorted(item["role"] for item in listing.json()["items"])
    assert roles == ["editor", "owner"]


def test_already_member_cannot_be_invited(client: TestClient, staff_app: FastAPI) -> None:
    _owner, headers = new_member(staff_app, "owner")
    member, _ = new_member(staff_app, "analyst")
    response = client.post(town_path("invites"), json={"email": member, "role": "editor"}, headers=headers)
    assert error(response) == (409, "already_member")


def test_invite_from_someone_since_demoted_no_longer_works(client: TestClient, staff_app: FastAPI) -> None:
    inviter, inviter_headers = new_member(staff_app, "owner")
    _invite_id, token = invite(client, inviter_headers, "orphan-invite@town.example", "owner")
    _other_owner, other_headers = new_member(staff_app, "owner")
    inviter_id = staff_id_of(staff_app, inviter)
    assert (
        client.patch(town_path(f"members/{inviter_id}"), json={"role": "editor"}, headers=other_headers).status_code
        == 200
    )
    assert error(accept(client, token)) == (400, "invite_invalid")


def test_removed_member_loses_access_at_once(client: TestClient, staff_app: FastAPI) -> None:
    _owner, owner_headers = new_member(staff_app, "owner")
    analyst, analyst_headers = new_member(staff_app, "analyst")
    assert client.get(town_path("audit"), headers=analyst_headers).status_code == 200
    analyst_id = staff_id_of(staff_app, analyst)
    assert client.delete(town_path(f"members/{analyst_id}"), headers=owner_headers).status_code == 204
    assert error(client.get(town_path("audit"), headers=analyst_headers)) == (403, "forbidden")
    assert error(client.delete(town_path(f"members/{analyst_id}"), headers=owner_headers)) == (404, "member_not_found")


def test_audit_lists_the_towns_rows_newest_first_and_per_object(client: TestClient, staff_app: FastAPI) -> None:
    _owner, headers = new_member(staff_app, "owner")
    invite_id, _token = invite(client, headers, "audited@town.example", "editor")
    assert client.delete(town_path(f"invites/{invite_id}"), headers=headers).status_code == 204
    page = client.get(
        town_path("audit"), params={"target_type": "invite", "target_id": str(invite_id)}, headers=headers
    )
    assert page.status_code == 200
    body = page.json()
    assert [item["action"] for item in body["items"]] == ["staff.invite_revoke", "staff.invite"]
    assert body["total"] == 2
    assert body["items"][1]["after"]["email"] == "audited@town.example"
    assert body["items"][0]["id"] > body["items"][1]["id"]
    other = client.get(town_path("audit", town=OTHER_TOWN), headers=new_member(staff_app, "owner", OTHER_TOWN)[1])
    assert all(item["target_id"] != str(invite_id) or item["target_type"] != "invite" for item in other.json()["items"])
    with runtime_of(staff_app).sessions() as session:
        town_ids = set(session.scalars(select(AuditEntry.municipality_id).where(AuditEntry.target_type == "invite")))
    assert None not in town_ids


def test_editor_and_verifier_cannot_read_the_audit_log(client: TestClient, staff_app: FastAPI) -> None:
    for role in ("editor", "moderator", "verifier"):
        _address, headers = new_member(staff_app, role)
        assert error(client.get(town_path("audit"), headers=headers)) == (403, "forbidden")
