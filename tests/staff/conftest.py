"""Fixtures of the staff tests: one app on an eth-tester chain per module, a clock the tests
move (no sleeps), the mailed code read from the `.eml` files, and a second app instance on the
same database (another API process, as far as shared state goes)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from backend.app import create_app
from backend.core.config import Settings
from backend.core.db import make_engine, make_session_factory, utcnow
from backend.core.models import AuditEntry, RateCounter
from backend.runtime import Runtime
from backend.staff.deps import request_time
from tests.factories import add_town, staff_session

#: Loopback, so the console's cookies are not Secure and the test client sends them back.
BASE_URL = "http://127.0.0.1"
CODE_PATTERN = re.compile(r"^\s+([0-9]{6})$", re.MULTILINE)
TOWN = "hoshikawa"
OTHER_TOWN = "tsukimi"


class Clock:
    """The time requests are judged by; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="module")
def staff_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """An app on a fresh chain (the demo town seeded) plus a second town, shared by a module."""
    settings = Settings(chain="eth-tester://", data_dir=tmp_path_factory.mktemp("staff") / "data")
    app = create_app(settings)
    with TestClient(app):
        add_town(runtime_of(app).sessions, OTHER_TOWN)
        yield app


@pytest.fixture
def clock(staff_app: FastAPI) -> Iterator[Clock]:
    moving = Clock()
    staff_app.dependency_overrides[request_time] = lambda: moving.now
    yield moving
    staff_app.dependency_overrides.pop(request_time, None)


@pytest.fixture
def client(staff_app: FastAPI, clock: Clock) -> TestClient:
    """A client of the shared app with fresh rate counters and no cookies."""
    with runtime_of(staff_app).sessions() as session:
        session.execute(delete(RateCounter))
        session.commit()
    return TestClient(staff_app, base_url=BASE_URL)


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture
def second_app(staff_app: FastAPI, clock: Clock) -> Iterator[FastAPI]:
    """Another app instance on the same database with its own engine and connection pool:
    nothing is shared with `staff_app` in memory, only the database (the chain object is
    reused, as two processes reach the same node). Its lifespan is never entered, so it
    cannot stop the shared chain."""
    runtime = runtime_of(staff_app)
    engine = make_engine(runtime.settings.database_url)
    other_runtime = dataclasses.replace(runtime, engine=engine, sessions=make_session_factory(engine), threads=[])
    other = create_app(runtime.settings, other_runtime)
    other.state.runtime = other_runtime
    other.dependency_overrides[request_time] = lambda: clock.now
    yield other
    engine.dispose()


def mails(app: FastAPI) -> set[Path]:
    folder = runtime_of(app).settings.data_dir / "mail"
    return set(folder.glob("*.eml")) if folder.exists() else set()


def mail_body(path: Path) -> tuple[str, str]:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(message["To"]), body.get_content()


def request_code(client: TestClient, address: str) -> str | None:
    """Ask for a code; the one new mail's code (None if no mail was sent)."""
    app: FastAPI = client.app  # type: ignore[assignment]
    before = mails(app)
    response = client.post("/api/v1/staff/sign-in", json={"email": address})
    assert response.status_code == 202, response.text
    new = mails(app) - before
    if not new:
        return None
    assert len(new) == 1
    to, body = mail_body(new.pop())
    assert to == address.lower()
    found = CODE_PATTERN.search(body)
    assert found is not None, body
    return found.group(1)


def sign_in(client: TestClient, address: str) -> dict[str, str]:
    """Sign in by code; returns the session JSON (token, expires_at, csrf_token)."""
    code = request_code(client, address)
    assert code is not None, f"no code mailed to {address}"
    response = client.post("/api/v1/staff/session", json={"email": address, "code": code})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def new_member(app: FastAPI, role: str, town: str = TOWN) -> tuple[str, dict[str, str]]:
    """A fresh member with `role` in `town`: (email, Bearer headers)."""
    address, token, _csrf = staff_session(runtime_of(app).sessions, town, role)
    return address, {"Authorization": f"Bearer {token}"}


def audit_rows(app: FastAPI) -> int:
    with runtime_of(app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def last_audit(app: FastAPI) -> AuditEntry:
    with runtime_of(app).sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
        return entry
