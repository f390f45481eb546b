"""Several senders at once on one database, as several API processes run them: the start is
won once, every address gets one delivery and one `.eml` file, and on PostgreSQL (where the
claim is `FOR UPDATE SKIP LOCKED`) no delivery is even handed to the mail layer twice.

No chain and no app: the cards are rows (order, card, owner as the indexer writes them), which
is all the sender reads.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core import mail
from backend.core.config import Settings
from backend.core.db import make_engine, make_session_factory, migrate, session_scope, utcnow
from backend.holders.models import Holder
from backend.polls.models import Announcement, AnnouncementDelivery
from backend.polls.sender import Sender
from backend.sales.models import Order, OrderCard
from backend.staff.models import StaffMember
from minting.store import TokenOwnerRow
from tests.factories import add_plain_drop, add_town, staff_session

SENDERS = 4
HOLDERS = 40
CHAIN_ID = 31337


def _address(index: int) -> str:
    return Web3.to_checksum_address(f"0x{index + 1:040x}")


def seed(sessions: sessionmaker[Session]) -> int:
    """A town whose drop has HOLDERS custodial holders (every third with two cards) and a
    scheduled announcement to all of them; its id."""
    town_id = add_town(sessions, "tsukimi")
    drop_id = add_plain_drop(sessions, town_id, chain_id=CHAIN_ID)
    email, _token, _csrf = staff_session(sessions, "tsukimi", "editor")
    now = utcnow()
    with session_scope(sessions) as session:
        drop_contract = "0x" + "ab" * 20
        token_id = 0
        for index in range(HOLDERS):
            address = _address(index)
            holder = Holder(email=f"h{index}@example.jp", address=address, encrypted_key=b"-", key_id="test")
            session.add(holder)
            session.flush()
            for card in range(2 if index % 3 == 0 else 1):
                token_id += 1
                order = Order(
                    id=f"ord_{index}_{card}",
                    drop_id=drop_id,
                    quantity=1,
                    email=holder.email,
                    prefecture="13",
                    payment_method="demo",
                    status="minted",
                    token_hash="0" * 64,
                    amount_jpy=1000,
                    recipient=address,
                    holder_id=holder.id,
                    expires_at=now,
                )
                session.add(order)
                session.flush()
                session.add(OrderCard(order_id=order.id, token_id=token_id, drop_id=drop_id))
                session.add(
                    TokenOwnerRow(
                        chain_id=CHAIN_ID, contract=drop_contract, token_id=token_id, owner=address, block_number=1
                    )
                )
        author = session.scalar(select(StaffMember.id).where(StaffMember.email == email))
        assert author is not None
        announcement = Announcement(
            municipality_id=town_id,
            title_ja="お知らせ",
            title_en="News",
            body_ja="本文",
            body_en="Body",
            status="scheduled",
            created_by=author,
        )
        session.add(announcement)
        session.flush()
        return announcement.id


def race(sessions: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """SENDERS senders in threads, each running rounds until the announcement is sent; how
    many times each mail file was handed to the mail layer."""
    handed: Counter[str] = Counter()
    lock = threading.Lock()
    real_send = mail.send

    def counting_send(settings: Settings, message: Any, *, file_name: str | None = None) -> Path | None:
        with lock:
            handed[str(file_name)] += 1
        return real_send(settings, message, file_name=file_name)

    monkeypatch.setattr(mail, "send", counting_send)
    barrier = threading.Barrier(SENDERS)
    errors: list[BaseException] = []

    def run() -> None:
        sender = Sender(sessions, settings, CHAIN_ID, batch=7)
        barrier.wait()
        try:
            for _round in range(50):
                sender.run_once()
                with sessions() as session:
                    if session.scalar(select(Announcement.status)) == "sent":
                        return
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    return handed


def check(sessions: sessionmaker[Session], settings: Settings, announcement_id: int) -> None:
    with sessions() as session:
        announcement = session.get(Announcement, announcement_id)
        assert announcement is not None
        assert announcement.status == "sent"
        assert announcement.recipients == HOLDERS
        states = session.scalars(
            select(AnnouncementDelivery.status).where(AnnouncementDelivery.announcement_id == announcement_id)
        ).all()
    assert sorted(states) == ["sent"] * HOLDERS
    files = sorted((settings.data_dir / "mail").glob(f"announcement-{announcement_id}-*.eml"))
    assert len(files) == HOLDERS


def test_senders_racing_on_sqlite_mail_each_holder_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    announcement_id = seed(sessions)

    handed = race(sessions, settings, monkeypatch)

    check(sessions, settings, announcement_id)
    assert len(handed) == HOLDERS
    engine.dispose()


def test_senders_racing_on_postgres_hand_each_mail_over_once(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(chain="eth-tester://", data_dir=tmp_path / "data", database_url=postgres_url)
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    announcement_id = seed(sessions)

    handed = race(sessions, settings, monkeypatch)

    check(sessions, settings, announcement_id)
    assert len(handed) == HOLDERS
    assert set(handed.values()) == {1}  # claimed with SKIP LOCKED: never two senders on one delivery
    engine.dispose()
