"""The hash-chained audit log: appends chain in one order, and any edit, deletion or reordering
is found at the first broken row; on SQLite and, with 20 concurrent writers, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from threading import Barrier

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core import audit
from backend.core.db import make_engine, make_session_factory, migrate
from backend.core.models import AuditEntry, AuditHead

WRITERS = 20


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def append(sessions: sessionmaker[Session], count: int) -> list[int]:
    ids = []
    with sessions() as session:
        for n in range(count):
            entry = audit.record(
                session,
                town_id=None,
                actor="owner@town.example",
                action="drop.update",
                target_type="drop",
                target_id=str(n),
                before={"title_ja": "星川", "n": n},
                after={"title_ja": "星川町", "n": n, "at": datetime(2026, 4, 1, tzinfo=UTC)},
            )
            ids.append(entry.id)
        session.commit()
    return ids


def report(sessions: sessionmaker[Session]) -> audit.ChainReport:
    with sessions() as session:
        return audit.verify(session)


def test_intact_chain_verifies(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    assert report(sessions) == audit.ChainReport(0, None)
    ids = append(sessions, 5)
    assert report(sessions) == audit.ChainReport(5, None)
    with sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        head = session.get(AuditHead, audit.HEAD_ID)
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert [row.prev_hash for row in rows[1:]] == [row.hash for row in rows[:-1]]
    assert head is not None
    assert (head.last_id, head.last_hash) == (ids[-1], rows[-1].hash)
    assert rows[0].before == '{"n":0,"title_ja":"星川"}'  # sorted keys, no spaces, UTF-8


def test_edited_row_is_named(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    ids = append(sessions, 5)
    with sqlite_engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": ids[2]})
    assert report(sessions).broken_id == ids[2]


def test_edited_time_is_named(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    ids = append(sessions, 3)
    with sessions() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(at=datetime(2020, 1, 1, tzinfo=UTC)))
        session.commit()
    assert report(sessions).broken_id == ids[1]


def test_deleted_row_breaks_its_successor(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    ids = append(sessions, 5)
    with sessions() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == ids[1]))
        session.commit()
    assert report(sessions).broken_id == ids[2]


def test_deleted_newest_row_is_found_by_the_head(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    ids = append(sessions, 4)
    with sessions() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == ids[-1]))
        session.commit()
    assert report(sessions).broken_id == ids[-1]


def test_rehashed_forgery_still_breaks_the_next_link(sqlite_engine: Engine) -> None:
    """Editing a row and recomputing its own hash moves the break to the next row."""
    sessions = make_session_factory(sqlite_engine)
    ids = append(sessions, 4)
    with sessions() as session:
        row = session.get(AuditEntry, ids[1])
        assert row is not None
        row.actor = "mallory"
        row.hash = audit.row_hash(row.prev_hash, row)
        session.commit()
    assert report(sessions).broken_id == ids[2]


def test_deleted_head_is_reported(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    ids = append(sessions, 2)
    with sessions() as session:
        session.execute(delete(AuditHead))
        session.commit()
    assert report(sessions).broken_id == ids[0]


def test_rolled_back_write_leaves_no_row(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    append(sessions, 1)
    with sessions() as session:
        audit.record(session, town_id=None, actor="a@b.example", action="x.y")
        session.rollback()
    assert report(sessions) == audit.ChainReport(1, None)
    append(sessions, 1)
    assert report(sessions) == audit.ChainReport(2, None)


def concurrent_appends(sessions: sessionmaker[Session]) -> None:
    barrier = Barrier(WRITERS)

    def write(n: int) -> int:
        barrier.wait()
        with sessions() as session:
            entry = audit.record(session, town_id=None, actor=f"writer{n}@town.example", action="test.write")
            session.commit()
            return entry.id

    with ThreadPoolExecutor(WRITERS) as pool:
        ids = list(pool.map(write, range(WRITERS)))
    assert len(set(ids)) == WRITERS


def test_concurrent_writers_chain_in_one_order_on_sqlite(sqlite_engine: Engine) -> None:
    sessions = make_session_factory(sqlite_engine)
    concurrent_appends(sessions)
    assert report(sessions) == audit.ChainReport(WRITERS, None)


@pytest.mark.postgres
def test_concurrent_writers_chain_in_one_order_on_postgres(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        sessions = make_session_factory(engine)
        concurrent_appends(sessions)  # the first appends also race to create the head row
        concurrent_appends(sessions)
        assert report(sessions) == audit.ChainReport(2 * WRITERS, None)
        with sessions() as session:
            prevs = session.scalars(select(AuditEntry.prev_hash)).all()
        assert len(set(prevs)) == 2 * WRITERS  # no two rows chained to the same predecessor
    finally:
        engine.dispose()
