"""A seeded, synthetic raw history of one town, written straight into the real tables.

Why: the analytics figures are two implementations that must agree (the rollup, and the plain
recomputation in `tests/analytics/plain.py`), and they only prove something over a history
with every case the Definitions name: orders in every status, refunds before and after
minting, custodial cards moved to the holder's own wallet, cards resold to strangers, people
who changed prefecture, visits by strangers who bought a card second hand, votes, bids. The
same generator, at a million orders, is the benchmark's data (`scripts/bench/analytics.py`).

Two ways of writing, one history:

- **phased** (tests, hundreds of people): `write_orders()` writes holders, orders (refunded
  ones still in the status they had before), cards, owners, mint transfers and campaign
  scans; `write_activity()` then refunds, moves and resells cards, and writes check-ins,
  redemptions, electors, votes and bidders. Each step inserts the change marks the real
  writers insert (`backend.analytics.changes`), so the rollup's incremental path is what the
  test exercises. Transfers are not marked: the rollup reads `token_transfers` by its cursor,
  as it must for transfers the indexer records.
- **bulk** (`write_all()`, the benchmark): each chunk of people is written in its final state
  at once (PostgreSQL: COPY through psycopg; SQLite: executemany in large transactions), with
  no marks; the caller then runs `backend.analytics.rollup.rebuild` (or `mark_everything`).

A person's whole history is planned from `Random(seed, town, index)` and the running
counters (token ids, bidder numbers), so the same seed, scale and end of the history
(`build_world(end=…)`, default now) give the same rows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, Final, cast

from Crypto.Hash import keccak
from sqlalchemy import Engine, Index, Table, delete, func, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from backend.analytics.changes import mark_address, mark_email, mark_scan, mark_town
from backend.benefits.models import Benefit, CheckIn, Redemption, Shop, Spot
from backend.core.db import session_scope
from backend.holders.models import Holder
from backend.naming.models import Lot, LotBidder, Park
from backend.polls.models import Poll, PollElector, PollOption, PollSeries, PollVote
from backend.sales.models import Campaign, CampaignScan, Drop, DropSerial, Order, OrderCard, Refund
from backend.staff.members import add_member
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow, TokenTransferRow

JST: Final = timezone(timedelta(hours=9), "JST")
ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
#: The chain of the synthetic drops. Their contracts are made up, so no indexer follows them
#: (an indexer would take fake transfer rows in its window for a reorg and delete them).
CHAIN_ID: Final = 31337

#: Population of each prefecture in ten thousands (2020 census, rounded), "00" abroad:
#: buyers come from everywhere, most from the big cities, as in the towns' own reports.
_POPULATION: Final = (
    "60 514 120 118 228 93 104 179 284 191 191 734 628 1404 923 213 102 111 75 80 202 194 356 748 174"
    " 141 255 878 539 130 90 54 65 186 276 131 70 93 131 67 510 80 128 172 111 105 156 147"
)
PREFECTURE_WEIGHTS: Final[dict[str, int]] = {
    f"{code:02d}": int(people) for code, people in enumerate(_POPULATION.split())
}

#: Final order statuses and their shares; refunded orders were first minted, paid or failed.
STATUS_WEIGHTS: Final[dict[str, float]] = {
    "minted": 0.64,
    "paid": 0.03,
    "minting": 0.02,
    "pending_payment": 0.03,
    "expired": 0.14,
    "failed": 0.02,
    "refunded": 0.12,
}
#: Orders an erasure must wait for (`backend.analytics.erasure.UNFINISHED_ORDER_STATUSES`).
UNFINISHED_STATUSES: Final = ("pending_payment", "paid", "minting", "failed")
REFUNDED_FROM: Final[dict[str, float]] = {"minted": 0.7, "paid": 0.2, "failed": 0.1}
_STATUSES: Final = tuple(STATUS_WEIGHTS)
_STATUS_CUMULATIVE: Final = tuple(accumulate(STATUS_WEIGHTS.values()))
_REFUNDED_FROM: Final = tuple(REFUNDED_FROM)
_REFUNDED_CUMULATIVE: Final = tuple(accumulate(REFUNDED_FROM.values()))
#: Spots of each activity (MLIT categories), leisure the most visited.
SPOT_ACTIVITIES: Final[tuple[tuple[str, int], ...]] = (
    ("leisure", 30),
    ("leisure", 20),
    ("leisure", 15),
    ("event", 8),
    ("event", 5),
    ("work", 3),
    ("telework", 4),
    ("volunteer", 3),
)
#: Shops and their benefits' periods.
SHOP_BENEFITS: Final[tuple[tuple[str, ...], ...]] = (("day", "month"), ("week",), ("month", "term"), ("day",))


@dataclass(frozen=True)
class Scale:
    """How much history: buyers (people), orders and visits (check-ins + redemptions)."""

    people: int
    orders: int
    visits: int
    #: Share of people who are walletless holders (custodial); the rest buy with a wallet.
    custodial_share: float = 0.9
    #: Share of people who ever come to the town.
    visitor_share: float = 0.45
    #: Campaign scans per order carrying a campaign code (people and bots).
    scans_per_order: float = 2.0
    #: Share of custodial people who register for a naming-right lot.
    bidder_share: float = 0.01


SMALL: Final = Scale(people=240, orders=640, visits=2_400, bidder_share=0.08)
BULK: Final = Scale(people=333_000, orders=1_000_000, visits=2_000_000)


@dataclass(frozen=True)
class DropInfo:
    id: int
    kind: str
    contract: str
    starts_at: datetime
    price_jpy: int
    first_token_id: int
    campaigns: tuple[tuple[int, str], ...]  # (campaign id, code)


@dataclass(frozen=True)
class PollInfo:
    id: int
    opens_at: datetime
    closes_at: datetime
    drop_ids: tuple[int, ...]
    option_ids: tuple[int, ...]


@dataclass(frozen=True)
class LotInfo:
    id: int
    auction_start: datetime
    auction_end: datetime


@dataclass(frozen=True)
class World:
    """The town and its furniture: drops (three resident-card series and a naming right),
    campaigns, spots of every activity, shops with benefits, polls and lots."""

    town_id: int
    slug: str
    prefecture: str
    start: datetime
    end: datetime
    staff_id: int
    drops: tuple[DropInfo, ...]
    spots: tuple[tuple[int, str, int], ...]  # (spot id, activity, weight)
    benefits: tuple[tuple[int, int, str], ...]  # (benefit id, shop id, period)
    polls: tuple[PollInfo, ...]
    lots: tuple[LotInfo, ...]

    @property
    def resident_drops(self) -> tuple[DropInfo, ...]:
        return tuple(drop for drop in self.drops if drop.kind == "resident_card")

    def campaign_ids(self) -> dict[str, int]:
        return {code: campaign_id for drop in self.drops for campaign_id, code in drop.campaigns}


def _jst(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=JST).astimezone(UTC)


def japan_day(at: datetime) -> str:
    return at.astimezone(JST).date().isoformat()


def build_world(
    sessions: sessionmaker[Session],
    *,
    slug: str | None = None,
    town_id: int | None = None,
    end: datetime | None = None,
    seed: int = 13,
) -> World:
    """Create the town (or furnish an existing one, e.g. the demo town) with three years of
    drops, campaigns, spots, shops, benefits, polls and lots ending at `end` (default now).

    The history's years are the Japan calendar years end-2 … end, so every yearly figure has
    data in three years and the current year is partial."""
    end = (end or datetime.now(UTC)).replace(microsecond=0)
    last_year = end.astimezone(JST).year
    years = (last_year - 2, last_year - 1, last_year)
    start = _jst(years[0], 1, 1)
    tag = f"s{seed}"
    with session_scope(sessions) as session:
        if town_id is None:
            assert slug is not None, "a slug for the new town, or the id of an existing one"
            town = Municipality(slug=slug, name_ja=f"{slug}町", name_en=f"{slug.title()} Town", prefecture="06")
            session.add(town)
            session.flush()
        else:
            found = session.get(Municipality, town_id)
            assert found is not None, f"no town {town_id}"
            town = found
        member = add_member(session, town, f"synthetic-{tag}@{town.slug}.example", "owner")
        card_contract = _fake_address(f"card-{town.slug}-{tag}")
        drops: list[DropInfo] = []
        for index, year in enumerate(years):
            drops.append(
                _add_drop(session, town, "resident_card", card_contract, _jst(year, 1, 1), 3000 + 1000 * index, index)
            )
        drops.append(
            _add_drop(session, town, "naming_right", _fake_address(f"rights-{town.slug}-{tag}"), start, 50_000, 9)
        )
        for drop in list(drops):
            codes = 3 if drop.kind == "resident_card" else 1
            campaigns = []
            for number in range(codes):
                campaign = Campaign(
                    municipality_id=town.id,
                    drop_id=drop.id,
                    code=f"{town.slug[:12]}-{tag}-{drop.id}-{number}",
                    name=f"ポスター {drop.id}-{number}",
                    created_at=drop.starts_at,
                )
                session.add(campaign)
                session.flush()
                campaigns.append((campaign.id, campaign.code))
            drops[drops.index(drop)] = DropInfo(
                drop.id, drop.kind, drop.contract, drop.starts_at, drop.price_jpy, drop.first_token_id, tuple(campaigns)
            )
        spots = []
        for number, (activity, weight) in enumerate(SPOT_ACTIVITIES):
            spot = Spot(
                municipality_id=town.id,
                code=f"{town.slug[:12]}-{tag}-spot{number}",
                name_ja=f"スポット{number}",
                name_en=f"Spot {number}",
                activity=activity,
                created_at=start,
            )
            session.add(spot)
            session.flush()
            spots.append((spot.id, activity, weight))
        benefits = []
        for number, periods in enumerate(SHOP_BENEFITS):
            shop = Shop(municipality_id=town.id, name_ja=f"お店{number}", name_en=f"Shop {number}", created_at=start)
            session.add(shop)
            session.flush()
            for period in periods:
                benefit = Benefit(
                    municipality_id=town.id,
                    shop_id=shop.id,
                    title_ja=f"特典 {number} {period}",
                    title_en=f"Benefit {number} {period}",
                    period=period,
                    created_at=start,
                )
                session.add(benefit)
                session.flush()
                benefits.append((benefit.id, shop.id, period))
        resident = [drop.id for drop in drops if drop.kind == "resident_card"]
        polls = []
        for year, poll_drops in zip(years, ([resident[0]], resident[:2], [resident[2]]), strict=True):
            opens = _jst(year, 10, 1) if year < last_year else min(_jst(year, 6, 1), end - timedelta(days=20))
            poll = Poll(
                municipality_id=town.id,
                question_ja=f"{year}年の町の行事は?",
                question_en=f"The town's event of {year}?",
                status="closed",
                opens_at=opens,
                closes_at=opens + timedelta(days=14),
                created_by=member.id,
                approved_by=member.id,
                frozen_at=opens,
                closed_at=opens + timedelta(days=14),
                created_at=opens - timedelta(days=7),
            )
            session.add(poll)
            session.flush()
            options = []
            for position in (1, 2, 3):
                option = PollOption(
                    poll_id=poll.id, position=position, label_ja=f"案{position}", label_en=f"{position}"
                )
                session.add(option)
                session.flush()
                options.append(option.id)
            for drop_id in poll_drops:
                session.add(PollSeries(poll_id=poll.id, drop_id=drop_id))
            polls.append(PollInfo(poll.id, poll.opens_at, poll.closes_at, tuple(poll_drops), tuple(options)))
        park = Park(municipality_id=town.id, name_ja=f"{town.slug}公園", name_en="Park", created_at=start)
        session.add(park)
        session.flush()
        lots = []
        for year in years:
            auction_start = min(_jst(year, 6, 1), end - timedelta(days=30))
            lot = Lot(
                park_id=park.id,
                municipality_id=town.id,
                term_start=auction_start + timedelta(days=30),
                term_end=auction_start + timedelta(days=400),
                auction_start=auction_start,
                auction_end=auction_start + timedelta(days=10),
                ends_at=auction_start + timedelta(days=10),
                reserve_jpy=10_000,
                phase="unsold",
                chain_id=CHAIN_ID,
                contract=drops[-1].contract,
                chain_state="ready",
                created_by=member.id,
                created_at=auction_start - timedelta(days=7),
            )
            session.add(lot)
            session.flush()
            lots.append(LotInfo(lot.id, lot.auction_start, lot.auction_end))
        return World(
            town_id=town.id,
            slug=town.slug,
            prefecture=town.prefecture,
            start=start,
            end=end,
            staff_id=member.id,
            drops=tuple(drops),
            spots=tuple(spots),
            benefits=tuple(benefits),
            polls=tuple(polls),
            lots=tuple(lots),
        )


def _add_drop(
    session: Session, town: Municipality, kind: str, contract: str, starts_at: datetime, price: int, index: int
) -> DropInfo:
    first = index * 10_000_000 + 1
    drop = Drop(
        municipality_id=town.id,
        kind=kind,
        title_ja=f"{town.name_ja} 第{index + 1}期",
        title_en=f"{town.name_en} series {index + 1}",
        price_jpy=price,
        supply=5_000_000,
        reserved=0,
        per_buyer_limit=10,
        starts_at=starts_at,
        chain_id=CHAIN_ID,
        contract=contract,
        series_id=index + 1,
        first_token_id=first,
        status="live",
        published_at=starts_at,
        created_at=starts_at - timedelta(days=14),
    )
    session.add(drop)
    session.flush()
    session.add(DropSerial(drop_id=drop.id, next_serial=first, end_serial=first + 5_000_000))
    return DropInfo(drop.id, kind, contract, starts_at, price, first, ())


def _fake_address(label: str) -> str:
    return checksummed(f"{random.Random(label).getrandbits(160):040x}")  # noqa: S311


# ── one person's plan ───────────────────────────────────────────────────────


@dataclass
class CardPlan:
    drop: DropInfo
    token_id: int
    #: (when, new owner checksummed): the mint to the recipient first, then moves and resales.
    owners: list[tuple[datetime, str]] = field(default_factory=list)

    def owner_at(self, at: datetime) -> str | None:
        current = None
        for moment, owner in self.owners:
            if moment <= at:
                current = owner
        return current


@dataclass
class OrderPlan:
    row: dict[str, Any]
    #: The status written first (phased mode); `row["status"]` is the final one.
    first_status: str
    refund_at: datetime | None
    cards: list[CardPlan]
    minted: bool


@dataclass
class PersonPlan:
    index: int
    email: str
    holder: dict[str, Any] | None
    #: The wallet a wallet buyer pays from, or a custodial holder's own wallet (moves).
    wallet: str | None
    orders: list[OrderPlan] = field(default_factory=list)
    check_ins: list[dict[str, Any]] = field(default_factory=list)
    redemptions: list[dict[str, Any]] = field(default_factory=list)
    bidders: list[dict[str, Any]] = field(default_factory=list)
    #: (poll, card, voted_at)
    votes: list[tuple[PollInfo, CardPlan, datetime]] = field(default_factory=list)
    #: The electors of this person's cards (poll, card, owner at the opening, lower-case):
    #: written for every card, also one resold to a stranger by then.
    electors: list[tuple[PollInfo, CardPlan, str]] = field(default_factory=list)
    #: Benefits used by strangers who bought one of this person's cards: nobody's visit.
    stranger_redemptions: list[dict[str, Any]] = field(default_factory=list)
    _addresses: set[str] | None = None

    def addresses(self) -> set[str]:
        """Their own addresses, lower-case: the custodial one and their wallet."""
        if self._addresses is None:
            found = {self.wallet.lower()} if self.wallet else set()
            if self.holder:
                found.add(str(self.holder["address"]).lower())
            self._addresses = found
        return self._addresses


@dataclass
class Totals:
    """Rows written, by table."""

    rows: dict[str, int] = field(default_factory=dict)
    #: Seconds spent planning (Python) and writing (the database), for the benchmark.
    plan_seconds: float = 0.0
    write_seconds: float = 0.0

    def add(self, table: str, count: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + count


class History:
    """The seeded history of one town (module docstring): plan, then write phased or in bulk."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        world: World,
        scale: Scale = SMALL,
        *,
        seed: int = 13,
        first_holder_id: int | None = None,
    ) -> None:
        self.sessions = sessions
        self.world = world
        self.scale = scale
        self.seed = seed
        self.next_token = {drop.id: drop.first_token_id for drop in world.drops}
        self.next_bidder = {lot.id: 1 for lot in world.lots}
        self.next_order = 0
        self.prefectures = list(PREFECTURE_WEIGHTS)
        weights = dict(PREFECTURE_WEIGHTS)
        weights[world.prefecture] = weights.get(world.prefecture, 100) * 8  # the home prefecture
        self.prefecture_weights = list(accumulate(weights[code] for code in self.prefectures))
        self.orders_per_person = scale.orders / scale.people
        visitors = max(1.0, scale.people * scale.visitor_share)
        self.visits_per_visitor = scale.visits / visitors
        self.spot_weights = list(accumulate(weight for _id, _activity, weight in world.spots))
        if first_holder_id is None:
            with sessions() as session:
                first_holder_id = int(session.scalar(select(func.coalesce(func.max(Holder.id), 0))) or 0) + 1
        self.next_holder = first_holder_id
        #: Planned people (phased mode keeps them between the steps).
        self.people: list[PersonPlan] = []
        self.erased: list[str] = []

    # ── planning ────────────────────────────────────────────────────────────

    def plan(self, index: int) -> PersonPlan:
        """The whole history of person `index` (all steps), from its own seeded Random."""
        rng = random.Random(f"{self.seed}:{self.world.town_id}:{index}")  # noqa: S311
        world = self.world
        email = f"p{index}.{self.seed}@{world.slug}.example.jp"
        span = (world.end - world.start).total_seconds()
        first_at = world.start + timedelta(seconds=rng.random() * span * 0.97)
        custodial = rng.random() < self.scale.custodial_share
        holder = None
        wallet = None
        if custodial:
            holder = {
                "id": self.next_holder,
                "email": email,
                "address": _address(rng),
                "encrypted_key": rng.randbytes(60),
                "key_id": "synthetic",
                "created_at": first_at,
            }
            self.next_holder += 1
            if rng.random() < 0.25:
                wallet = _address(rng)  # their own wallet, for moves (and the odd wallet order)
        else:
            wallet = _address(rng)
        person = PersonPlan(index, email, holder, wallet)
        prefecture = rng.choices(self.prefectures, cum_weights=self.prefecture_weights)[0]
        count = 1 + _geometric(rng, self.orders_per_person - 1)
        times = sorted([first_at] + [first_at + (world.end - first_at) * rng.random() for _ in range(count - 1)])
        for at in times:
            if rng.random() < 0.08:  # moved house since the last order
                prefecture = rng.choices(self.prefectures, cum_weights=self.prefecture_weights)[0]
            self._plan_order(rng, person, at, prefecture)
        self._plan_moves(rng, person)
        self._plan_visits(rng, person)
        self._plan_votes(rng, person)
        self._plan_bids(rng, person, prefecture)
        return person

    def _plan_order(self, rng: random.Random, person: PersonPlan, at: datetime, prefecture: str) -> None:
        world = self.world
        open_drops = [drop for drop in world.drops if drop.starts_at <= at] or [world.drops[0]]
        resident = [drop for drop in open_drops if drop.kind == "resident_card"]
        if rng.random() < 0.015 or not resident:
            drop = (
                next(d for d in open_drops if d.kind == "naming_right")
                if len(open_drops) > len(resident)
                else resident[0]
            )
        else:
            drop = resident[-1] if rng.random() < 0.6 else rng.choice(resident)
        roll = rng.random()
        if roll < 0.35:
            campaign = None
        elif roll < 0.95 or len(world.drops) == 1:
            campaign = rng.choice(drop.campaigns)[1] if drop.campaigns else None
        else:  # a poster of another of the town's drops brought them
            campaign = rng.choice([code for d in world.drops for _id, code in d.campaigns])
        quantity = rng.choices((1, 2, 3), cum_weights=(80, 95, 100))[0]
        status = rng.choices(_STATUSES, cum_weights=_STATUS_CUMULATIVE)[0]
        first_status = status
        if status == "refunded":
            first_status = rng.choices(_REFUNDED_FROM, cum_weights=_REFUNDED_CUMULATIVE)[0]
        use_wallet = person.holder is None or (person.wallet is not None and rng.random() < 0.2)
        recipient = person.wallet if use_wallet else str(person.holder["address"])  # type: ignore[index]
        paid_at = (
            at + timedelta(seconds=_between(rng, 20, 3600)) if first_status in ("paid", "minting", "minted") else None
        )
        minted = first_status == "minted"
        minted_at = paid_at + timedelta(seconds=_between(rng, 10, 900)) if minted and paid_at else None
        refund_at = None
        if status == "refunded":
            base = minted_at or paid_at or at
            refund_at = base + (world.end - base) * rng.random() * 0.5
        self.next_order += 1
        order_id = f"ord_syn{world.town_id}x{self.seed}x{self.next_order:09d}"
        row: dict[str, Any] = {
            "id": order_id,
            "drop_id": drop.id,
            "quantity": quantity,
            "email": person.email,
            "prefecture": prefecture,
            "wallet_address": person.wallet if use_wallet else None,
            "campaign_code": campaign,
            "payment_method": "wallet" if use_wallet else rng.choice(("demo", "card")),
            "status": status,
            "token_hash": "0" * 64,
            "amount_jpy": drop.price_jpy * quantity,
            "recipient": recipient,
            "holder_id": None if use_wallet else person.holder["id"],  # type: ignore[index]
            "payment_data": "{}",
            "failure": "paid_after_expiry_sold_out" if first_status == "failed" else None,
            "expires_at": at + timedelta(minutes=30),
            "paid_at": paid_at,
            "minted_at": minted_at,
            "created_at": at,
        }
        cards = []
        if paid_at is not None:
            for _ in range(quantity):
                card = CardPlan(drop, self.next_token[drop.id])
                self.next_token[drop.id] += 1
                if minted_at is not None:
                    card.owners.append((minted_at, str(recipient)))
                cards.append(card)
        person.orders.append(OrderPlan(row, first_status, refund_at, cards, minted))

    def _plan_moves(self, rng: random.Random, person: PersonPlan) -> None:
        """Custodial cards moved to the holder's own wallet; wallet cards resold to strangers."""
        end = self.world.end
        for order in person.orders:
            for card in order.cards:
                if not card.owners:
                    continue
                at, owner = card.owners[-1]
                if person.holder and person.wallet and owner == person.holder["address"] and rng.random() < 0.5:
                    at = at + (end - at) * rng.random() * 0.6
                    card.owners.append((at, person.wallet))
                    owner = person.wallet
                if owner == person.wallet and rng.random() < 0.25:
                    at = at + (end - at) * rng.random()
                    card.owners.append((at, _address(rng)))  # resold: a stranger's wallet

    def _plan_visits(self, rng: random.Random, person: PersonPlan) -> None:
        """Check-ins and redemptions with the address that held a card then; a resold card's
        new owner sometimes uses a benefit too (a stranger: nobody's visit)."""
        world = self.world
        minted = [card for order in person.orders for card in order.cards if card.owners]
        for card in minted:
            self._stranger_visit(rng, person, card)
        # About two thirds of people have a minted card; visitors are drawn among them.
        if not minted or rng.random() >= self.scale.visitor_share / 0.66:
            return
        count = 1 + _geometric(rng, self.visits_per_visitor - 1)
        used_keys: set[tuple[Any, ...]] = set()
        first = min(card.owners[0][0] for card in minted)
        # Visits come in stays: a few days in a row, a few times a year.
        stays = max(1, count // rng.choice((1, 2, 3, 4)))
        stay_starts = [first + (world.end - first) * rng.random() for _ in range(stays)]
        for number in range(count):
            at = stay_starts[number % stays] + timedelta(days=_between(rng, 0, 3), minutes=_between(rng, 0, 600))
            if at > world.end:
                continue
            card = rng.choice(minted)
            owner = card.owner_at(at)
            if owner is None or owner.lower() not in person.addresses():
                continue
            by_holder = person.holder is not None and owner == person.holder["address"]
            if rng.random() < 0.5:
                spot_id = rng.choices(world.spots, cum_weights=self.spot_weights)[0][0]
                day = japan_day(at)
                visitor = f"holder:{person.holder['id']}" if by_holder and person.holder else f"wallet:{owner.lower()}"
                if (spot_id, day, visitor) in used_keys:
                    continue
                used_keys.add((spot_id, day, visitor))
                person.check_ins.append(
                    {
                        "spot_id": spot_id,
                        "municipality_id": world.town_id,
                        "day": day,
                        "visitor": visitor,
                        "holder_id": person.holder["id"] if by_holder and person.holder else None,
                        "address": owner.lower(),
                        "method": "poster",
                        "distance_m": None,
                        "checked_in_at": at,
                    }
                )
            else:
                benefit_id, shop_id, period = rng.choice(world.benefits)
                key = _period_key(period, at)
                if (benefit_id, card.drop.id, card.token_id, key) in used_keys:
                    continue
                used_keys.add((benefit_id, card.drop.id, card.token_id, key))
                person.redemptions.append(self._redemption(benefit_id, shop_id, card, key, owner.lower(), at))

    def _stranger_visit(self, rng: random.Random, person: PersonPlan, card: CardPlan) -> None:
        at, owner = card.owners[-1]
        if owner.lower() in person.addresses() or rng.random() > 0.3:
            return
        at = at + (self.world.end - at) * rng.random()
        benefit_id, shop_id, period = self.world.benefits[-1]
        # After the owner's own last use (if any) of this benefit: a distinct period key.
        key = _period_key(period, at) + ":2"
        person.stranger_redemptions.append(self._redemption(benefit_id, shop_id, card, key, owner.lower(), at))

    def _redemption(
        self, benefit_id: int, shop_id: int, card: CardPlan, key: str, address: str, at: datetime
    ) -> dict[str, Any]:
        return {
            "benefit_id": benefit_id,
            "municipality_id": self.world.town_id,
            "shop_id": shop_id,
            "drop_id": card.drop.id,
            "chain_id": CHAIN_ID,
            "contract": card.drop.contract,
            "token_id": card.token_id,
            "period_key": key,
            "holder_address": address,
            "device_id": None,
            "staff_id": self.world.staff_id,
            "redeemed_at": at,
        }

    def _plan_votes(self, rng: random.Random, person: PersonPlan) -> None:
        """Electors are every card of the poll's series minted by its opening, with its owner
        then (written for everyone's cards, the person's and strangers'); some of the
        person's cards vote."""
        mine = person.addresses()
        for poll in self.world.polls:
            voting = rng.random() < 0.35
            for order in person.orders:
                for card in order.cards:
                    if card.drop.id not in poll.drop_ids:
                        continue
                    owner = card.owner_at(poll.opens_at)
                    if owner is None:
                        continue
                    person.electors.append((poll, card, owner.lower()))
                    if owner.lower() in mine and voting and rng.random() < 0.9:
                        person.votes.append(
                            (poll, card, poll.opens_at + (poll.closes_at - poll.opens_at) * rng.random())
                        )

    def _plan_bids(self, rng: random.Random, person: PersonPlan, prefecture: str) -> None:
        if person.holder is None:
            return
        for lot in self.world.lots:
            if rng.random() >= self.scale.bidder_share:
                continue
            number = self.next_bidder[lot.id]
            self.next_bidder[lot.id] += 1
            person.bidders.append(
                {
                    "lot_id": lot.id,
                    "holder_id": person.holder["id"],
                    "number": number,
                    "prefecture": prefecture,
                    "payment_method": "demo",
                    "payment_state": "ready",
                    "created_at": lot.auction_start + (lot.auction_end - lot.auction_start) * rng.random(),
                }
            )

    def _plan_people(self, indexes: Iterable[int]) -> list[PersonPlan]:
        return [self.plan(index) for index in indexes]

    # ── phased writing (tests) ──────────────────────────────────────────────

    def write_orders(self, count: int | None = None) -> list[PersonPlan]:
        """Step 1: the next `count` people (default: the scale's) with their holders, orders
        as they stood before any refund, cards, owners, mint transfers and scans; marked as
        `reserve` and the status moves mark them. Returns the new people."""
        count = self.scale.people if count is None else count
        first = len(self.people)
        people = self._plan_people(range(first, first + count))
        self.people.extend(people)
        totals = Totals()
        with session_scope(self.sessions) as session:
            sink = _SessionSink(session, totals)
            for person in people:
                self._person_orders(sink, person, final=False)
            sink.flush()
            scans = self._scans(people)
            sink.extend(CampaignScan, scans)
            sink.flush()
            for person in people:
                mark_email(session, person.email, self.world.town_id)  # reserve
                if any(order.first_status != "pending_payment" for order in person.orders):
                    mark_email(session, person.email)  # _move: no town
            for campaign_id, day in sorted({(row["campaign_id"], row["day"]) for row in scans}):
                mark_scan(session, campaign_id, day, self.world.town_id)
        return people

    def write_activity(self, people: Sequence[PersonPlan] | None = None) -> Totals:
        """Step 2, for people already written: refunds (status, revoked or cancelled cards, the
        refund row), moves to own wallets and resales (transfers and owners), check-ins,
        redemptions, electors and votes, bidders; each marked as its real writer marks it."""
        people = self.people if people is None else people
        totals = Totals()
        with session_scope(self.sessions) as session:
            sink = _SessionSink(session, totals)
            for person in people:
                for order in person.orders:
                    if order.refund_at is not None:
                        self._refund(session, sink, order)
                        mark_email(session, person.email, self.world.town_id)
            for person in people:
                for order in person.orders:
                    for card in order.cards:
                        for at, owner in card.owners[1:]:
                            sink.add(TokenTransferRow, self._transfer(card, card_owner_before(card, at), owner, at))
                        if len(card.owners) > 1:
                            session.execute(
                                update(TokenOwnerRow)
                                .where(
                                    TokenOwnerRow.chain_id == CHAIN_ID,
                                    TokenOwnerRow.contract == card.drop.contract,
                                    TokenOwnerRow.token_id == card.token_id,
                                )
                                .values(owner=card.owners[-1][1])
                            )
            sink.flush()
            self._activity_rows(sink, people)
            count_electorate(session, self.world)
            for person in people:
                for row in person.check_ins:
                    mark_address(session, row["address"], self.world.town_id)
                for row in person.redemptions:
                    mark_address(session, row["holder_address"], self.world.town_id)
                for poll, card, _at in person.votes:
                    elector = card.owner_at(poll.opens_at)
                    assert elector is not None
                    mark_address(session, elector.lower(), self.world.town_id)
                if person.bidders:
                    mark_email(session, person.email, self.world.town_id)
                for row in person.stranger_redemptions:
                    mark_address(session, row["holder_address"], self.world.town_id)
        return totals

    def _refund(self, session: Session, sink: _Sink, order: OrderPlan) -> None:
        assert order.refund_at is not None
        session.execute(update(Order).where(Order.id == order.row["id"]).values(status="refunded"))
        if order.minted:
            session.execute(
                update(OrderCard).where(OrderCard.order_id == order.row["id"]).values(revoked_at=order.refund_at)
            )
        else:  # not minted yet: the cards are cancelled (their numbers go back)
            session.execute(delete(OrderCard).where(OrderCard.order_id == order.row["id"]))
        sink.add(Refund, self._refund_row(order))

    def _refund_row(self, order: OrderPlan) -> dict[str, Any]:
        return {
            "order_id": order.row["id"],
            "reason": "synthetic",
            "staff_id": self.world.staff_id,
            "status": "succeeded",
            "provider_ref": None,
            "amount_jpy": order.row["amount_jpy"],
            "failure": None,
            "created_at": order.refund_at,
            "completed_at": order.refund_at,
        }

    # ── rows ────────────────────────────────────────────────────────────────

    def _person_orders(self, sink: _Sink, person: PersonPlan, *, final: bool) -> None:
        if person.holder is not None:
            sink.add(Holder, person.holder)
        for order in person.orders:
            row = dict(order.row)
            if not final:
                row["status"] = order.first_status
            sink.add(Order, row)
            refunded = final and order.refund_at is not None
            for card in order.cards:
                if refunded and not order.minted:
                    continue  # cancelled with the refund
                sink.add(
                    OrderCard,
                    {
                        "order_id": row["id"],
                        "token_id": card.token_id,
                        "drop_id": card.drop.id,
                        "revoked_at": order.refund_at if refunded else None,
                    },
                )
                if not card.owners:
                    continue
                owners = card.owners if final else card.owners[:1]
                sink.add(
                    TokenOwnerRow,
                    {
                        "chain_id": CHAIN_ID,
                        "contract": card.drop.contract,
                        "token_id": card.token_id,
                        "owner": owners[-1][1],
                        "block_number": 1,
                    },
                )
                previous = ZERO_ADDRESS
                for at, owner in owners:
                    sink.add(TokenTransferRow, self._transfer(card, previous, owner, at))
                    previous = owner
            if refunded:
                sink.add(Refund, self._refund_row(order))

    def _activity_rows(self, sink: _Sink, people: Sequence[PersonPlan]) -> None:
        """Check-ins, redemptions (the people's and strangers'), bidders, electors, then votes
        (which reference electors' polls' options only, but are written last like the app)."""
        for person in people:
            sink.extend(CheckIn, person.check_ins)
            sink.extend(Redemption, person.redemptions + person.stranger_redemptions)
            sink.extend(LotBidder, person.bidders)
            sink.extend(PollElector, [self._elector(p, c, o) for p, c, o in person.electors])
            sink.extend(PollVote, [self._vote(poll, card, at) for poll, card, at in person.votes])
        sink.flush()

    def _transfer(self, card: CardPlan, source: str, owner: str, at: datetime) -> dict[str, Any]:
        self.transfers = getattr(self, "transfers", 0) + 1
        block = int(at.timestamp()) // 2
        return {
            "chain_id": CHAIN_ID,
            "contract": card.drop.contract,
            "token_id": card.token_id,
            "from_address": source,
            "to_address": owner,
            "block_number": block,
            "block_hash": f"0x{block:064x}",
            "tx_hash": f"0x{self.world.town_id:08x}{self.seed:08x}{self.transfers:048x}",
            "log_index": 0,
        }

    def _elector(self, poll: PollInfo, card: CardPlan, owner: str) -> dict[str, Any]:
        return {
            "poll_id": poll.id,
            "chain_id": CHAIN_ID,
            "contract": card.drop.contract,
            "token_id": card.token_id,
            "drop_id": card.drop.id,
            "address": owner,
            "excluded": False,
        }

    def _vote(self, poll: PollInfo, card: CardPlan, at: datetime) -> dict[str, Any]:
        return {
            "poll_id": poll.id,
            "chain_id": CHAIN_ID,
            "contract": card.drop.contract,
            "token_id": card.token_id,
            "option_id": poll.option_ids[card.token_id % len(poll.option_ids)],
            "receipt": f"{poll.id:08x}{card.token_id:056x}",
            "changes": 0,
            "voted_at": at,
        }

    def _scans(self, people: Sequence[PersonPlan]) -> list[dict[str, Any]]:
        """Scans of the posters: the buyer's own scans before ordering (same visitor hash on
        the day), bots, and people who scanned and did not buy."""
        rng = random.Random(f"{self.seed}:{self.world.town_id}:scans:{people[0].index if people else 0}")  # noqa: S311
        ids = self.world.campaign_ids()
        rows: list[dict[str, Any]] = []
        per_order = self.scale.scans_per_order
        for person in people:
            for order in person.orders:
                code = order.row["campaign_code"]
                if code is None or code not in ids:
                    continue
                at: datetime = order.row["created_at"]
                visitor = f"{rng.getrandbits(128):032x}"
                for _ in range(1 + _geometric(rng, per_order * 0.35)):
                    rows.append(_scan(ids[code], at, visitor, bot=False))
                if rng.random() < per_order * 0.15:
                    rows.append(_scan(ids[code], at, f"{rng.getrandbits(128):032x}", bot=True))
                for _ in range(_geometric(rng, per_order * 0.4)):
                    other = at + timedelta(hours=rng.uniform(-48, 48))
                    rows.append(_scan(ids[code], other, f"{rng.getrandbits(128):032x}", bot=False))
        return rows

    # ── bulk writing (the benchmark) ────────────────────────────────────────

    def write_all(
        self, engine: Engine, *, chunk: int = 20_000, progress: Callable[[int, Totals], None] | None = None
    ) -> Totals:
        """Every person of the scale in the final state, chunk by chunk, without marks (the
        caller rebuilds the town's rollup). PostgreSQL: COPY, with the written tables'
        secondary indexes dropped for the load and built again after it (one sort per index
        instead of a million index insertions); SQLite: executemany."""
        totals = Totals()
        deferred = _drop_indexes(engine) if engine.dialect.name == "postgresql" else []
        for first in range(0, self.scale.people, chunk):
            started = time.perf_counter()
            people = self._plan_people(range(first, min(first + chunk, self.scale.people)))
            scans = self._scans(people)
            planned = time.perf_counter()
            totals.plan_seconds += planned - started
            with engine.begin() as connection:
                sink: _Sink
                if engine.dialect.name == "postgresql":
                    sink = _CopySink(connection, totals)
                else:
                    sink = _ConnectionSink(connection, totals)
                for person in people:
                    self._person_orders(sink, person, final=True)
                sink.flush()
                sink.extend(CampaignScan, scans)
                self._activity_rows(sink, people)
            totals.write_seconds += time.perf_counter() - planned
            if progress is not None:
                progress(min(first + chunk, self.scale.people), totals)
        started = time.perf_counter()
        if deferred:
            with engine.begin() as connection:
                for index in deferred:
                    index.create(connection)
                for name in _TABLE_ORDER:
                    connection.execute(text(f"ANALYZE {name}"))
        totals.write_seconds += time.perf_counter() - started
        with Session(engine) as session, session.begin():
            count_electorate(session, self.world)
            if engine.dialect.name == "postgresql":  # ids were given: the sequence moves past them
                session.execute(
                    text("SELECT setval(pg_get_serial_sequence('holders', 'id'), (SELECT max(id) FROM holders))")
                )
        return totals

    # ── deletions ───────────────────────────────────────────────────────────

    def pick_to_erase(self, count: int) -> list[PersonPlan]:
        """`count` people to erase, chosen by the seed among those written and not erased:
        people with visits and votes first, so the erasure has activity to unlink."""
        rng = random.Random(f"{self.seed}:erase:{len(self.erased)}")  # noqa: S311
        # An erasure waits for business in progress (`erasure.unfinished`): not those people.
        left = [
            person
            for person in self.people
            if person.email not in self.erased
            and not any(order.row["status"] in UNFINISHED_STATUSES for order in person.orders)
        ]
        active = [person for person in left if person.check_ins or person.votes or person.redemptions]
        rest = [person for person in left if person not in active]
        rng.shuffle(active)
        rng.shuffle(rest)
        return (active + rest)[:count]


def card_owner_before(card: CardPlan, at: datetime) -> str:
    previous = ZERO_ADDRESS
    for moment, owner in card.owners:
        if moment >= at:
            break
        previous = owner
    return previous


def _scan(campaign_id: int, at: datetime, visitor: str, *, bot: bool) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "day": japan_day(at), "visitor": visitor, "bot": bot, "at": at}


def _address(rng: random.Random) -> str:
    return checksummed(f"{rng.getrandbits(160):040x}")


def checksummed(hex40: str) -> str:
    """EIP-55 spelling of a lower-case address (40 hex digits), as the indexer and custody
    store them: the same as `Web3.to_checksum_address`, without its validation, which was
    most of the bulk generator's time."""
    digest = keccak.new(digest_bits=256, data=hex40.encode()).hexdigest()
    return "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(hex40, digest, strict=False))


def _between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint(low, high)` at a fraction of its cost (one `random()` call)."""
    return low + int(rng.random() * (high - low + 1))


def _geometric(rng: random.Random, mean: float) -> int:
    """A count ≥ 0 with the given mean (geometric), so most have few and some have many."""
    if mean <= 0:
        return 0
    p = 1 / (1 + mean)
    count = 0
    while rng.random() > p:
        count += 1
    return count


def _period_key(period: str, at: datetime) -> str:
    local = at.astimezone(JST).date()
    if period == "day":
        return local.isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return local.strftime("%Y-%m")
    return "term"


def count_electorate(session: Session, world: World) -> None:
    """Each poll's frozen electorate (`polls.electorate`), as the opening records it: the
    number of its elector rows (the turnout's denominator)."""
    for poll in world.polls:
        electors = select(func.count()).select_from(PollElector).where(PollElector.poll_id == poll.id)
        session.execute(update(Poll).where(Poll.id == poll.id).values(electorate=electors.scalar_subquery()))


def mark_everything(sessions: sessionmaker[Session], town_id: int) -> None:
    """Ask the rollup to recompute every person of the town (the bulk history has no marks)."""
    with session_scope(sessions) as session:
        mark_town(session, town_id)


# ── sinks: buffered rows per table, written in foreign-key order ────────────

#: Tables in the order their rows may be written (parents first).
_TABLE_ORDER: Final[tuple[str, ...]] = (
    "holders",
    "orders",
    "order_cards",
    "token_owners",
    "token_transfers",
    "refunds",
    "campaign_scans",
    "check_ins",
    "redemptions",
    "lot_bidders",
    "poll_electors",
    "poll_votes",
)


_MODELS: Final[tuple[type[DeclarativeBase], ...]] = (
    Holder,
    Order,
    OrderCard,
    TokenOwnerRow,
    TokenTransferRow,
    Refund,
    CampaignScan,
    CheckIn,
    Redemption,
    LotBidder,
    PollElector,
    PollVote,
)


def _drop_indexes(engine: Engine) -> list[Index]:
    """Drop the secondary indexes (not keys or unique constraints) of the tables the bulk
    history fills; returns them, to be created again once the rows are in."""
    dropped: list[Index] = []
    with engine.begin() as connection:
        for model in _MODELS:
            for index in sorted(cast(Table, model.__table__).indexes, key=lambda i: str(i.name)):
                if not index.unique:
                    index.drop(connection)
                    dropped.append(index)
    return dropped


class _Sink:
    """Rows collected per table and written together; subclasses say how."""

    def __init__(self, totals: Totals, batch: int = 50_000) -> None:
        self.totals = totals
        self.batch = batch
        self.buffers: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        self.pending = 0

    def add(self, model: type[DeclarativeBase], row: dict[str, Any]) -> None:
        table = cast(Table, model.__table__)
        self.buffers.setdefault(table.name, (table, []))[1].append(row)
        self.pending += 1
        if self.pending >= self.batch:
            self.flush()

    def extend(self, model: type[DeclarativeBase], rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(model, row)

    def flush(self) -> None:
        for name in _TABLE_ORDER:
            entry = self.buffers.get(name)
            if entry and entry[1]:
                self.write(entry[0], entry[1])
                self.totals.add(name, len(entry[1]))
        self.buffers.clear()
        self.pending = 0

    def write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class _SessionSink(_Sink):
    def __init__(self, session: Session, totals: Totals) -> None:
        super().__init__(totals)
        self.session = session

    def write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        self.session.execute(insert(table), rows)


class _ConnectionSink(_Sink):
    def __init__(self, connection: Any, totals: Totals) -> None:
        super().__init__(totals)
        self.connection = connection

    def write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        self.connection.execute(insert(table), rows)


class _CopySink(_Sink):
    """PostgreSQL COPY through the raw psycopg connection of the SQLAlchemy one (several
    times faster than executemany for millions of rows), in the same transaction.

    The rows are consistent by construction (every order's drop, every card's order), so a
    superuser's load skips the foreign-key triggers (`session_replication_role = replica`,
    for this transaction only): checking each of millions of rows one by one was most of the
    load's time. Without the privilege the checks simply run."""

    def __init__(self, connection: Any, totals: Totals) -> None:
        super().__init__(totals)
        self.raw = connection.connection.driver_connection
        superuser = connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        if superuser:
            connection.execute(text("SET LOCAL session_replication_role = replica"))

    def write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        columns = list(rows[0])
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with self.raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])
