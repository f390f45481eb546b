"""Demo mode: the demo town has an owner, and start-up says where that owner's code will land."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select

from backend.core.config import Settings
from backend.core.models import AuditEntry
from backend.staff.members import member_by_email, towns_of
from backend.towns.demo import DEMO_OWNER_EMAIL, demo_owner_notice, seed_demo_owner, seed_demo_town
from tests.staff.conftest import runtime_of


def test_demo_owner_seeded_once_with_one_audit_row(staff_app: FastAPI) -> None:
    with runtime_of(staff_app).sessions() as session:
        member = member_by_email(session, DEMO_OWNER_EMAIL)
        assert member is not None
        assert [(town.slug, role) for town, role in towns_of(session, member.id)] == [("hoshikawa", "owner")]
        seed_demo_owner(session, seed_demo_town(session))  # a restart: nothing new
        session.commit()
        rows = session.scalars(select(AuditEntry).where(AuditEntry.actor == "seed:demo")).all()
    assert [(row.action, row.target_id) for row in rows] == [("staff.add", str(member.id))]


def test_notice_names_the_address_and_mail_folder_only(tmp_path: Path) -> None:
    notice = demo_owner_notice(Settings(chain="eth-tester://", data_dir=tmp_path))
    assert DEMO_OWNER_EMAIL in notice
    assert str(tmp_path / "mail") in notice
    assert "/console/" in notice
