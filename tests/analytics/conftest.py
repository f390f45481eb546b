"""Shared analytics fixtures: a migrated database (SQLite or PostgreSQL) and a builder of raw
rows (towns, drops, orders and cards, holders, owners and transfers, spots and check-ins,
shops, benefits and redemptions, polls and votes, lots and bidders, campaign scans).

The builder writes rows the way the app's writers leave them (lower-case e-mails, checksum
addresses where the app stores checksums, check-in and elector addresses lower-case) and
marks each change exactly as the writer does (`backend.analytics.changes`), so a test can
run the rollup (`catch_up`) or a `rebuild` on it without the HTTP stack or a chain.

    world = World(analytics_sqlite)
    town = world.town("hoshi")
    drop = world.drop(town)
    alice = world.holder("alice@example.jp")
    order = world.order(drop, alice.email, status="minted", recipient=alice.address)
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.analytics.changes import mark_address, mark_email, mark_scan, mark_town
from backend.analytics.models import AnalyticsCount
from backend.benefits.models import Benefit, CheckIn, Redemption, Shop, Spot
from backend.core.db import make_engine, make_session_factory, migrate, session_scope
from backend.holders.models import Holder
from backend.naming.models import Lot, LotBidder, Park
from backend.polls.models import Poll, PollElector, PollOption, PollVote
from backend.sales.models import Campaign, CampaignScan, Drop, Order, OrderCard
from backend.staff.models import StaffMember
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow, TokenTransferRow

#: (metric, dim1, dim2, day) -> value: a town's counts as a plain dict.
Counts = dict[tuple[str, str, str, str], int]

CHAIN_ID = 31337


def address_of(label: str) -> str:
    """A checksum address made from a label (stable across runs, distinct per label)."""
    return Web3.to_checksum_address("0x" + hashlib.sha256(label.encode()).hexdigest()[:40])


def at(text: str) -> datetime:
    """An aware UTC datetime from "YYYY-MM-DDTHH:MM" (UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def analytics_sqlite(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A session factory on a migrated SQLite database of its own."""
    engine = make_engine(f"sqlite:///{tmp_path / 'analytics.sqlite3'}")
    migrate(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture
def analytics_postgres(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a migrated throw-away PostgreSQL database."""
    engine = make_engine(postgres_url)
    migrate(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def analytics_db(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    name = "analytics_sqlite" if request.param == "sqlite" else "analytics_postgres"
    sessions: sessionmaker[Session] = request.getfixturevalue(name)
    return sessions


def counts_of(sessions: sessionmaker[Session], town_id: int) -> Counts:
    """The town's `analytics_counts` (cells of value 0 left out: they mean no row)."""
    with sessions() as session:
        rows = session.execute(
            select(
                AnalyticsCount.metric,
                AnalyticsCount.dim1,
                AnalyticsCount.dim2,
                AnalyticsCount.day,
                AnalyticsCount.value,
            ).where(AnalyticsCount.municipality_id == town_id)
        )
        return {(metric, d1, d2, day): int(value) for metric, d1, d2, day, value in rows if value}


@dataclass(frozen=True)
class HolderRow:
    id: int
    email: str
    address: str


@dataclass(frozen=True)
class OrderRow:
    id: str
    drop_id: int
    email: str
    token_ids: tuple[int, ...]


@dataclass(frozen=True)
class DropRow:
    id: int
    town_id: int
    contract: str


class World:
    """Raw rows for analytics tests, each write in its own committed transaction with its
    change mark (as the app's writers do). Times are aware UTC; days are Japan days."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._seq = itertools.count(1)
        self._tokens: dict[str, itertools.count[int]] = {}
        self._log = itertools.count(0)

    def _n(self) -> int:
        return next(self._seq)

    # ── towns and sales ──

    def town(self, slug: str, prefecture: str = "06", **fields: Any) -> int:
        with session_scope(self.sessions) as session:
            town = Municipality(
                slug=slug, name_ja=f"{slug}町", name_en=f"{slug.title()} Town", prefecture=prefecture, **fields
            )
            session.add(town)
            session.flush()
            return town.id

    def drop(
        self, town_id: int, *, kind: str = "resident_card", contract: str | None = None, price: int = 1000
    ) -> DropRow:
        """A live drop; the town's drops share one contract unless told (token ids never repeat
        within a contract)."""
        address = contract or address_of(f"contract-{town_id}")
        with session_scope(self.sessions) as session:
            drop = Drop(
                municipality_id=town_id,
                kind=kind,
                title_ja="住民票",
                title_en="Card",
                price_jpy=price,
                supply=1_000_000,
                reserved=0,
                starts_at=at("2025-01-01T00:00"),
                chain_id=CHAIN_ID,
                contract=address,
                status="live",
            )
            session.add(drop)
            session.flush()
            return DropRow(drop.id, town_id, address)

    def campaign(self, drop: DropRow, code: str) -> int:
        with session_scope(self.sessions) as session:
            row = Campaign(municipality_id=drop.town_id, drop_id=drop.id, code=code, name=code)
            session.add(row)
            session.flush()
            return row.id

    def scan(self, campaign_id: int, day: str, visitor: str, *, bot: bool = False) -> None:
        with session_scope(self.sessions) as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            session.add(CampaignScan(campaign_id=campaign_id, day=day, visitor=visitor, bot=bot))
            session.flush()
            mark_scan(session, campaign_id, day, campaign.municipality_id)

    def holder(self, email: str) -> HolderRow:
        """A walletless holder with a custodial (checksum) address."""
        address = address_of(f"custodial-{email}")
        with session_scope(self.sessions) as session:
            row = Holder(email=email.lower(), address=address, encrypted_key=b"x", key_id="test")
            session.add(row)
            session.flush()
            return HolderRow(row.id, row.email, address)

    def order(
        self,
        drop: DropRow,
        email: str,
        *,
        status: str = "minted",
        quantity: int = 1,
        prefecture: str = "13",
        campaign: str | None = None,
        recipient: str | None = None,
        wallet: str | None = None,
        holder_id: int | None = None,
        created: datetime | None = None,
        paid: datetime | None = None,
        minted: datetime | None = None,
        amount: int | None = None,
    ) -> OrderRow:
        """An order in `status`. Paid statuses (paid, minting, minted, refunded) get `paid_at`
        (default: created) and cards; minted ones `minted_at`. A refunded order's cards are
        revoked when it was minted, as `sales.refunds` does."""
        created = created or at("2026-03-01T01:00")
        paid_statuses = ("paid", "minting", "minted", "refunded")
        paid_at = paid or (created if status in paid_statuses else None)
        minted_at = minted or (paid_at if status in ("minted",) else None)
        order_id = f"ord_t{self._n():06d}"
        tokens: list[int] = []
        with session_scope(self.sessions) as session:
            session.add(
                Order(
                    id=order_id,
                    drop_id=drop.id,
                    quantity=quantity,
                    email=email.lower(),
                    prefecture=prefecture,
                    wallet_address=wallet,
                    campaign_code=campaign,
                    payment_method="wallet" if wallet else "demo",
                    status=status,
                    token_hash="0" * 64,
                    amount_jpy=amount if amount is not None else 1000 * quantity,
                    recipient=recipient,
                    holder_id=holder_id,
                    expires_at=created + timedelta(minutes=15),
                    paid_at=paid_at,
                    minted_at=minted_at,
                    created_at=created,
                )
            )
            session.flush()
            if paid_at is not None:
                counter = self._tokens.setdefault(drop.contract, itertools.count(1))
                for _ in range(quantity):
                    token = next(counter)
                    tokens.append(token)
                    session.add(OrderCard(order_id=order_id, token_id=token, drop_id=drop.id))
            mark_email(session, email, drop.town_id)
        return OrderRow(order_id, drop.id, email.lower(), tuple(tokens))

    def set_status(self, order: OrderRow, status: str, *, when: datetime | None = None) -> None:
        """Move an order on (paid, minted, refunded …) as the sales writers do, with its mark."""
        when = when or at("2026-09-01T00:00")
        with session_scope(self.sessions) as session:
            row = session.get(Order, order.id)
            assert row is not None
            row.status = status
            if status == "minted" and row.minted_at is None:
                row.minted_at = when
            if status == "refunded" and row.minted_at is not None:
                session.execute(
                    update(OrderCard)
                    .where(OrderCard.order_id == order.id, OrderCard.revoked_at.is_(None))
                    .values(revoked_at=when)
                )
            drop = session.get(Drop, row.drop_id)
            assert drop is not None
            mark_email(session, row.email, drop.municipality_id)

    # ── chain (as the indexer records it: no marks, the rollup reads transfers by id) ──

    def mint(self, drop: DropRow, token_id: int, owner: str, *, block: int | None = None) -> None:
        """The card seen minted to `owner` (a transfer from the zero address)."""
        self.transfer(drop, token_id, "0x" + "0" * 40, owner, block=block)

    def transfer(
        self, drop: DropRow, token_id: int, from_address: str, to_address: str, *, block: int | None = None
    ) -> None:
        """A Transfer the indexer saw: the transfer row and the token's new owner."""
        number = block if block is not None else next(self._log) + 1
        to_checksum = Web3.to_checksum_address(to_address)
        with session_scope(self.sessions) as session:
            session.execute(
                insert(TokenTransferRow).values(
                    chain_id=CHAIN_ID,
                    contract=drop.contract,
                    token_id=token_id,
                    from_address=Web3.to_checksum_address(from_address),
                    to_address=to_checksum,
                    block_number=number,
                    block_hash="0x" + f"{number:064x}",
                    tx_hash="0x" + hashlib.sha256(f"{drop.contract}{token_id}{number}".encode()).hexdigest(),
                    log_index=0,
                )
            )
            key = (CHAIN_ID, drop.contract, token_id)
            owner = session.get(TokenOwnerRow, key)
            if owner is None:
                session.add(
                    TokenOwnerRow(
                        chain_id=CHAIN_ID,
                        contract=drop.contract,
                        token_id=token_id,
                        owner=to_checksum,
                        block_number=number,
                    )
                )
            else:
                owner.owner, owner.block_number = to_checksum, number

    # ── benefits ──

    def spot(self, town_id: int, activity: str = "leisure") -> int:
        n = self._n()
        with session_scope(self.sessions) as session:
            row = Spot(
                municipality_id=town_id, code=f"spot{n}", name_ja=f"場所{n}", name_en=f"Spot {n}", activity=activity
            )
            session.add(row)
            session.flush()
            return row.id

    def check_in(self, spot_id: int, day: str, address: str, *, holder_id: int | None = None) -> None:
        """A check-in as `benefits.check_ins` stores it (address lower-case)."""
        with session_scope(self.sessions) as session:
            spot = session.get(Spot, spot_id)
            assert spot is not None
            visitor = f"holder:{holder_id}" if holder_id is not None else f"wallet:{address.lower()}"
            session.add(
                CheckIn(
                    spot_id=spot_id,
                    municipality_id=spot.municipality_id,
                    day=day,
                    visitor=visitor,
                    holder_id=holder_id,
                    address=address.lower(),
                    checked_in_at=datetime.fromisoformat(day).replace(hour=1, tzinfo=UTC),
                )
            )
            session.flush()
            mark_address(session, address, spot.municipality_id)

    def shop(self, town_id: int) -> int:
        n = self._n()
        with session_scope(self.sessions) as session:
            row = Shop(municipality_id=town_id, name_ja=f"店{n}", name_en=f"Shop {n}")
            session.add(row)
            session.flush()
            return row.id

    def benefit(self, shop_id: int, period: str = "day") -> int:
        with session_scope(self.sessions) as session:
            shop = session.get(Shop, shop_id)
            assert shop is not None
            row = Benefit(
                municipality_id=shop.municipality_id, shop_id=shop_id, title_ja="特典", title_en="Perk", period=period
            )
            session.add(row)
            session.flush()
            return row.id

    def redeem(self, benefit_id: int, drop: DropRow, token_id: int, holder_address: str, when: datetime) -> None:
        """A redemption as `benefits.redemptions` stores it (the card's indexed owner)."""
        with session_scope(self.sessions) as session:
            benefit = session.get(Benefit, benefit_id)
            assert benefit is not None
            session.add(
                Redemption(
                    benefit_id=benefit_id,
                    municipality_id=benefit.municipality_id,
                    shop_id=benefit.shop_id,
                    drop_id=drop.id,
                    chain_id=CHAIN_ID,
                    contract=drop.contract,
                    token_id=token_id,
                    period_key=f"p{self._n()}",
                    holder_address=holder_address,
                    redeemed_at=when,
                )
            )
            session.flush()
            mark_address(session, holder_address, benefit.municipality_id)

    # ── polls and naming ──

    def poll(self, town_id: int) -> tuple[int, int]:
        """An open poll with one option: (poll id, option id)."""
        n = self._n()
        with session_scope(self.sessions) as session:
            author = StaffMember(email=f"author{n}@town.example")
            session.add(author)
            session.flush()
            poll = Poll(
                municipality_id=town_id,
                question_ja="質問",
                question_en="Question",
                status="open",
                opens_at=at("2026-01-01T00:00"),
                closes_at=at("2026-12-31T00:00"),
                created_by=author.id,
            )
            session.add(poll)
            session.flush()
            option = PollOption(poll_id=poll.id, position=1, label_ja="はい", label_en="Yes")
            session.add(option)
            session.flush()
            return poll.id, option.id

    def elector(self, poll: tuple[int, int], drop: DropRow, token_id: int, address: str) -> None:
        """A card in the poll's electorate, with its owner at the opening (lower-case)."""
        with session_scope(self.sessions) as session:
            session.add(
                PollElector(
                    poll_id=poll[0],
                    chain_id=CHAIN_ID,
                    contract=drop.contract,
                    token_id=token_id,
                    drop_id=drop.id,
                    address=address.lower(),
                )
            )

    def vote(self, poll: tuple[int, int], drop: DropRow, token_id: int, when: datetime) -> None:
        """The card's vote, marked by its elector's address as `polls.votes` does."""
        with session_scope(self.sessions) as session:
            elector = session.get(PollElector, (poll[0], CHAIN_ID, drop.contract, token_id))
            assert elector is not None
            session.add(
                PollVote(
                    poll_id=poll[0],
                    chain_id=CHAIN_ID,
                    contract=drop.contract,
                    token_id=token_id,
                    option_id=poll[1],
                    receipt=hashlib.sha256(f"{poll}{token_id}".encode()).hexdigest(),
                    voted_at=when,
                )
            )
            session.flush()
            town = session.get(Poll, poll[0])
            assert town is not None
            mark_address(session, elector.address, town.municipality_id)

    def lot(self, town_id: int) -> int:
        n = self._n()
        with session_scope(self.sessions) as session:
            park = Park(municipality_id=town_id, name_ja=f"公園{n}", name_en=f"Park {n}")
            session.add(park)
            session.flush()
            lot = Lot(
                park_id=park.id,
                municipality_id=town_id,
                term_start=at("2027-01-01T00:00"),
                term_end=at("2028-01-01T00:00"),
                auction_start=at("2026-06-01T00:00"),
                auction_end=at("2026-07-01T00:00"),
                ends_at=at("2026-07-01T00:00"),
                reserve_jpy=10_000,
                chain_id=CHAIN_ID,
                contract=address_of(f"rights-{town_id}"),
            )
            session.add(lot)
            session.flush()
            return lot.id

    def bidder(self, lot_id: int, holder: HolderRow, when: datetime, prefecture: str = "13") -> None:
        """A bidder registration, marked by the holder's e-mail as `naming.bidders` does."""
        with session_scope(self.sessions) as session:
            lot = session.get(Lot, lot_id)
            assert lot is not None
            number = 1 + len(session.scalars(select(LotBidder.id).where(LotBidder.lot_id == lot_id)).all())
            session.add(
                LotBidder(
                    lot_id=lot_id,
                    holder_id=holder.id,
                    number=number,
                    prefecture=prefecture,
                    payment_method="demo",
                    created_at=when,
                )
            )
            session.flush()
            mark_email(session, holder.email, lot.municipality_id)

    def mark_town(self, town_id: int) -> None:
        with session_scope(self.sessions) as session:
            mark_town(session, town_id)

    def set_town(self, town_id: int, **fields: Any) -> None:
        """Change the town's settings (e.g. the premium rule) and mark it, as settings do."""
        with session_scope(self.sessions) as session:
            session.execute(update(Municipality).where(Municipality.id == town_id).values(**fields))
            mark_town(session, town_id)
