"""`furusato staff add` and `furusato audit verify` against the data directory of a running app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from backend.cli import app as cli
from backend.staff.members import member_by_email, role_in
from backend.towns.models import Municipality
from tests.staff.conftest import TOWN, audit_rows, last_audit, request_code, runtime_of

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data_dir(app: FastAPI) -> str:
    return str(runtime_of(app).settings.data_dir)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"FURUSATO_DATABASE_URL": None})
    return result.exit_code, result.output


def test_staff_add_makes_an_owner_who_can_sign_in(staff_app: FastAPI, client: TestClient) -> None:
    rows = audit_rows(staff_app)
    code, output = run(
        "staff", "add", "First.Owner@Town.Example", "--town", TOWN, "--role", "owner", "--data-dir", data_dir(staff_app)
    )
    assert code == 0, output
    assert "first.owner@town.example is owner of hoshikawa" in output
    with runtime_of(staff_app).sessions() as session:
        member = member_by_email(session, "first.owner@town.example")
        town_id = session.scalar(select(Municipality.id).where(Municipality.slug == TOWN))
        assert member is not None
        assert town_id is not None
        held = role_in(session, town_id, member.id)
        assert held is not None
        assert held.role == "owner"
    assert audit_rows(staff_app) == rows + 1
    entry = last_audit(staff_app)
    assert entry.action == "staff.add"
    assert entry.actor.startswith("cli:")
    assert request_code(client, "first.owner@town.example") is not None
    code, output = run(
        "staff",
        "add",
        "first.owner@town.example",
        "--town",
        TOWN,
        "--role",
        "analyst",
        "--data-dir",
        data_dir(staff_app),
    )
    assert code == 0, output
    assert '"role":"owner"' in last_audit(staff_app).before


def test_staff_add_refuses_unknown_town_role_or_address(staff_app: FastAPI) -> None:
    where = ("--data-dir", data_dir(staff_app))
    for args, message in [
        (("a@b.example", "--town", "atlantis", "--role", "owner"), "no town 'atlantis'"),
        (("a@b.example", "--town", TOWN, "--role", "king"), "unknown role 'king'"),
        (("not-an-address", "--town", TOWN, "--role", "owner"), "is not an e-mail address"),
    ]:
        code, output = run("staff", "add", *args, *where)
        assert code == 2
        assert message in output


def test_audit_verify_finds_a_tampered_row(staff_app: FastAPI) -> None:
    code, output = run(
        "staff",
        "add",
        "tamper-target@town.example",
        "--town",
        TOWN,
        "--role",
        "editor",
        "--data-dir",
        data_dir(staff_app),
    )
    assert code == 0, output
    code, output = run("audit", "verify", "--data-dir", data_dir(staff_app))
    assert code == 0, output
    assert f"audit chain intact: {audit_rows(staff_app)} rows" in output
    target = last_audit(staff_app)
    engine = runtime_of(staff_app).engine
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET after = :after WHERE id = :id"), {"after": '{"role":"owner"}', "id": target.id}
        )
    try:
        # A real second process, as an operator would run it beside the server.
        result = subprocess.run(
            [sys.executable, "-m", "backend.cli", "audit", "verify", "--data-dir", data_dir(staff_app)],
            cwd=REPO_ROOT,
            env={key: value for key, value in os.environ.items() if not key.startswith("FURUSATO_")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"BROKEN at row {target.id}" in result.stderr
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE audit_log SET after = :after WHERE id = :id"), {"after": target.after, "id": target.id}
            )
    assert run("audit", "verify", "--data-dir", data_dir(staff_app))[0] == 0


def test_audit_verify_without_a_database_says_so(tmp_path: Path) -> None:
    code, output = run("audit", "verify", "--data-dir", str(tmp_path))
    assert code == 2
    assert "no database" in output
