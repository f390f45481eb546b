"""Rate limits live in the database: two app instances (own engines, nothing shared in memory)
on one database count against one limit, per address, per client and per staff member."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.staff.router import CODES_PER_ADDRESS, CODES_PER_CLIENT
from tests.staff.conftest import BASE_URL, TOWN, Clock, new_member, runtime_of

SIGN_IN = "/api/v1/staff/sign-in"


def clients(first: FastAPI, second: FastAPI, host: str) -> tuple[TestClient, TestClient]:
    """A client of each app, both from the client address `host`."""
    return (
        TestClient(first, base_url=BASE_URL, client=(host, 40000)),
        TestClient(second, base_url=BASE_URL, client=(host, 40001)),
    )


def test_codes_per_address_limited_across_processes(
    client: TestClient, staff_app: FastAPI, second_app: FastAPI, clock: Clock
) -> None:
    one, two = clients(staff_app, second_app, "198.51.100.1")
    address = "limited@town.example"
    limit, window = CODES_PER_ADDRESS
    statuses = [(one if n % 2 else two).post(SIGN_IN, json={"email": address}).status_code for n in range(limit)]
    assert statuses == [202] * limit
    for process in (one, two):
        refused = process.post(SIGN_IN, json={"email": address.upper()})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= window
    assert one.post(SIGN_IN, json={"email": "someone-else@town.example"}).status_code == 202
    clock.advance(seconds=window)
    assert two.post(SIGN_IN, json={"email": address}).status_code == 202  # a new window


def test_codes_per_client_limited_across_processes(client: TestClient, staff_app: FastAPI, second_app: FastAPI) -> None:
    one, two = clients(staff_app, second_app, "198.51.100.2")
    limit, _window = CODES_PER_CLIENT
    statuses = [
        (one if n % 2 else two).post(SIGN_IN, json={"email": f"person{n}@town.example"}).status_code
        for n in range(limit)
    ]
    assert statuses == [202] * limit
    assert one.post(SIGN_IN, json={"email": "one-more@town.example"}).status_code == 429
    assert two.post(SIGN_IN, json={"email": "one-more@town.example"}).status_code == 429
    elsewhere = TestClient(second_app, base_url=BASE_URL, client=("198.51.100.3", 40002))
    assert elsewhere.post(SIGN_IN, json={"email": "one-more@town.example"}).status_code == 202


def test_staff_writes_limited_per_member_across_processes(
    client: TestClient, staff_app: FastAPI, second_app: FastAPI, clock: Clock
) -> None:
    settings = runtime_of(staff_app).settings  # the same object in both apps
    saved = settings.staff_writes_per_minute
    settings.staff_writes_per_minute = 3
    try:
        _owner, headers = new_member(staff_app, "owner")
        _other, other_headers = new_member(staff_app, "owner")
        one, two = clients(staff_app, second_app, "198.51.100.4")
        path = f"/api/v1/staff/towns/{TOWN}/invites"

        def write(process: TestClient, n: int, as_: dict[str, str]) -> int:
            body = {"email": f"limited-writer-{n}@town.example", "role": "analyst"}
            return process.post(path, json=body, headers=as_).status_code

        assert [write(one, 1, headers), write(two, 2, headers), write(one, 3, headers)] == [201, 201, 201]
        refused = two.post(path, json={"email": "w4@town.example", "role": "analyst"}, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "Retry-After" in refused.headers
        assert one.get(path, headers=headers).status_code == 200  # reads are not limited
        assert write(one, 5, other_headers) == 201  # another member has their own limit
        clock.advance(seconds=60)
        assert write(two, 6, headers) == 201
    finally:
        settings.staff_writes_per_minute = saved
