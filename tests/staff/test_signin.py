"""Staff sign-in by mailed code, sessions and their expiry, cookies and CSRF, sign-out."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.core.models import AuditEntry
from backend.staff.deps import CSRF_COOKIE, SESSION_COOKIE
from backend.staff.signin import MAX_ATTEMPTS
from backend.towns.demo import DEMO_OWNER_EMAIL
from tests.staff.conftest import (
    TOWN,
    Clock,
    audit_rows,
    last_audit,
    new_member,
    request_code,
    runtime_of,
    sign_in,
)

ME = "/api/v1/staff/me"
SESSION = "/api/v1/staff/session"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def attempt(client: TestClient, address: str, code: str) -> tuple[int, str]:
    response = client.post(SESSION, json={"email": address, "code": code})
    code_name = response.json()["error"]["code"] if response.status_code != 200 else "ok"
    return response.status_code, code_name


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_sign_in_by_mailed_code_opens_a_session(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    session = sign_in(client, address.upper())  # addresses are matched case-insensitively
    assert set(session) == {"token", "expires_at", "csrf_token"}
    me = client.get(ME, headers=bearer(session["token"]))
    assert me.status_code == 200
    assert me.json()["email"] == address
    assert {"slug": TOWN, "role": "editor"}.items() <= me.json()["towns"][0].items()
    entry = last_audit(staff_app)
    assert (entry.action, entry.actor, entry.municipality_id) == ("staff.sign_in", address, None)


def test_demo_owner_is_seeded_and_gets_a_code(client: TestClient) -> None:
    assert request_code(client, DEMO_OWNER_EMAIL) is not None


def test_session_cookies_are_httponly_strict_and_secure_off_loopback(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "analyst")
    code = request_code(client, address)
    assert code is not None
    response = client.post(SESSION, json={"email": address, "code": code})
    cookies = {value.split("=", 1)[0]: value.lower() for value in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies[SESSION_COOKIE]
    assert "samesite=strict" in cookies[SESSION_COOKIE]
    assert "path=/" in cookies[SESSION_COOKIE]
    assert "secure" not in cookies[SESSION_COOKIE]  # http://127.0.0.1: a laptop demo
    assert "httponly" not in cookies[CSRF_COOKIE]  # the page reads it to send the header
    assert "samesite=strict" in cookies[CSRF_COOKIE]
    remote = TestClient(staff_app, base_url="http://town.example.jp")
    code = request_code(remote, address)
    assert code is not None
    response = remote.post(SESSION, json={"email": address, "code": code})
    assert response.status_code == 200
    assert all("secure" in value.lower() for value in response.headers.get_list("set-cookie"))


def test_wrong_code_refused_and_audited(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    code = request_code(client, address)
    assert code is not None
    rows = audit_rows(staff_app)
    assert attempt(client, address, wrong(code)) == (401, "code_invalid")
    assert audit_rows(staff_app) == rows + 1
    entry = last_audit(staff_app)
    assert (entry.action, entry.actor, entry.municipality_id) == ("staff.sign_in_failed", address, None)
    assert "code_invalid" in entry.after
    assert code not in entry.after
    assert attempt(client, address, code) == (200, "ok")  # a wrong try does not spend the code


def test_expired_code_refused(client: TestClient, staff_app: FastAPI, clock: Clock) -> None:
    address, _headers = new_member(staff_app, "editor")
    code = request_code(client, address)
    assert code is not None
    clock.advance(minutes=10)
    assert attempt(client, address, code) == (401, "code_expired")


def test_code_works_once(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    code = request_code(client, address)
    assert code is not None
    assert attempt(client, address, code) == (200, "ok")
    assert attempt(client, address, code) == (401, "code_used")


def test_code_locked_after_five_wrong_tries(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    code = request_code(client, address)
    assert code is not None
    for _ in range(MAX_ATTEMPTS):
        assert attempt(client, address, wrong(code)) == (401, "code_invalid")
    assert attempt(client, address, code) == (401, "code_locked")  # even the right code now
    fresh = request_code(client, address)
    assert fresh is not None
    assert attempt(client, address, fresh) == (200, "ok")


def test_only_the_newest_code_counts(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    first = request_code(client, address)
    second = request_code(client, address)
    assert first is not None
    assert second is not None
    if first != second:
        assert attempt(client, address, first) == (401, "code_invalid")
    assert attempt(client, address, second) == (200, "ok")


def test_unknown_address_gets_no_mail_and_the_same_answers(client: TestClient, staff_app: FastAPI) -> None:
    stranger = "nobody@elsewhere.example"
    assert request_code(client, stranger) is None  # 202 all the same, and no mail
    answers = [attempt(client, stranger, "000000") for _ in range(MAX_ATTEMPTS + 1)]
    assert answers == [(401, "code_invalid")] * MAX_ATTEMPTS + [(401, "code_locked")]
    with runtime_of(staff_app).sessions() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.actor == stranger)).all()
    assert actions == ["staff.sign_in_failed"] * (MAX_ATTEMPTS + 1)


def test_malformed_code_is_invalid_input(client: TestClient) -> None:
    response = client.post(SESSION, json={"email": "a@b.example", "code": "12345"})
    assert response.status_code == 422


def test_no_or_bad_credentials_are_unauthorized(client: TestClient) -> None:
    assert client.get(ME).status_code == 401
    assert client.get(ME, headers=bearer("not-a-token")).status_code == 401
    assert client.get(ME, headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get(ME).json()["error"]["code"] == "unauthorized"


def test_wrong_bearer_is_not_rescued_by_the_cookie(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    sign_in(client, address)  # the client now holds the cookie
    assert client.get(ME).status_code == 200
    assert client.get(ME, headers=bearer("wrong")).status_code == 401


def test_cookie_writes_need_the_csrf_header(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "owner")
    session = sign_in(client, address)
    invite = {"email": "new-editor@town.example", "role": "editor"}
    path = f"/api/v1/staff/towns/{TOWN}/invites"
    rows = audit_rows(staff_app)
    missing = client.post(path, json=invite)
    assert (missing.status_code, missing.json()["error"]["code"]) == (403, "csrf_failed")
    bad = client.post(path, json=invite, headers={"X-CSRF-Token": "guess"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (403, "csrf_failed")
    assert audit_rows(staff_app) == rows
    assert client.get(path).status_code == 200  # reads need no header
    good = client.post(path, json=invite, headers={"X-CSRF-Token": session["csrf_token"]})
    assert good.status_code == 201, good.text
    assert audit_rows(staff_app) == rows + 1


def test_bearer_writes_need_no_csrf_header(staff_app: FastAPI, client: TestClient) -> None:
    _address, headers = new_member(staff_app, "owner")
    response = client.post(
        f"/api/v1/staff/towns/{TOWN}/invites",
        json={"email": "bearer-invite@town.example", "role": "analyst"},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def test_sign_out_ends_this_session_only(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    one = sign_in(client, address)
    two = sign_in(client, address)
    assert client.delete(SESSION, headers=bearer(one["token"])).status_code == 204
    assert client.get(ME, headers=bearer(one["token"])).status_code == 401
    assert client.get(ME, headers=bearer(two["token"])).status_code == 200
    assert last_audit(staff_app).action == "staff.sign_out"


def test_cookie_sign_out_needs_csrf_and_clears_the_cookie(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    session = sign_in(client, address)
    assert client.delete(SESSION).status_code == 403
    response = client.delete(SESSION, headers={"X-CSRF-Token": session["csrf_token"]})
    assert response.status_code == 204
    assert client.get(ME, headers=bearer(session["token"])).status_code == 401
    assert client.get(ME).status_code == 401


def test_sign_out_everywhere_ends_every_session(client: TestClient, staff_app: FastAPI) -> None:
    address, _headers = new_member(staff_app, "editor")
    tokens = [sign_in(client, address)["token"] for _ in range(3)]
    other_address, other_headers = new_member(staff_app, "editor")
    assert client.delete("/api/v1/staff/sessions", headers=bearer(tokens[0])).status_code == 204
    assert [client.get(ME, headers=bearer(token)).status_code for token in tokens] == [401, 401, 401]
    assert client.get(ME, headers=other_headers).status_code == 200  # nobody else's
    entry = last_audit(staff_app)
    assert (entry.action, entry.actor) == ("staff.sign_out_everywhere", address)
    assert '"sessions_ended":4' in entry.after  # three signed in here, one made by the factory
    assert other_address != address


def test_idle_session_expires(client: TestClient, staff_app: FastAPI, clock: Clock) -> None:
    address, _headers = new_member(staff_app, "editor")
    token = sign_in(client, address)["token"]
    clock.advance(minutes=110)
    assert client.get(ME, headers=bearer(token)).status_code == 200  # activity keeps it alive
    clock.advance(minutes=110)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    clock.advance(minutes=120)
    assert client.get(ME, headers=bearer(token)).status_code == 401


def test_session_ends_at_its_absolute_expiry_however_busy(client: TestClient, staff_app: FastAPI, clock: Clock) -> None:
    address, _headers = new_member(staff_app, "editor")
    token = sign_in(client, address)["token"]
    for _hour in range(11):
        clock.advance(minutes=60)
        assert client.get(ME, headers=bearer(token)).status_code == 200
    clock.advance(minutes=59)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    clock.advance(minutes=1)
    assert client.get(ME, headers=bearer(token)).status_code == 401
