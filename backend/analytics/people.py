"""A batch of people's facts from the raw rows, and what each person adds to the counts.

The rollup (`rollup.py`) never keeps running totals of raw events: it recomputes a person
from everything recorded about them and applies the difference to `analytics_counts`. This
module is that recomputation, in two steps that keep the database work per batch, not per
person:

- `load_facts(session, town_id, emails)` reads a batch of people (one town, by lower-case
  e-mail) with a fixed handful of bulk queries (IN lists, chunked): orders with their drops,
  holders, cards with their indexed owners, transfers out of custodial addresses, check-ins,
  redemptions, votes and bidder registrations.
- `compute(facts, rule, this_year)` is pure: the person's contribution
  `Counter[(metric, dim1, dim2, day)] -> int` per the Definitions of plan 13 (also in
  `docs/analytics.md`), their summary (prefecture, resident, cards, first card day, this
  year's category) and one `YearRecord` per active year.

Interpretations worth knowing (the plain recomputation in tests follows the same ones):
a person's held cards are cards of *their own* orders (a card bought second-hand by another
person counts for the original buyer as `transferred`, not as the new owner's card); a
transfer from a custodial address to the zero address (a burn) adds no address; e-mails are
compared as stored, lower-case (orders and holders store them so).

Addresses are stored checksummed by some writers (holders, the indexer, redemptions) and
lower-case by others (check-ins, electors): every address is looked up in each of its forms,
so the indexes on the raw columns serve the lookups.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, and_, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session
from web3 import Web3

from backend.analytics import metrics as m
from backend.analytics.categories import YearActivity, classify, designated, evidence, parse_activities
from backend.benefits.models import CheckIn, Redemption, Spot
from backend.benefits.periods import in_japan
from backend.holders.models import Holder
from backend.naming.models import Lot, LotBidder
from backend.polls.models import Poll, PollElector, PollVote
from backend.sales.models import Drop, Order, OrderCard
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow, TokenTransferRow

#: (metric, dim1, dim2, day): one cell of `analytics_counts` within a town.
Cell = tuple[str, str, str, str]
#: Orders whose cards count (exist or are on their way).
CARD_STATUSES: Final = ("paid", "minting", "minted")
RESIDENT_KIND: Final = "resident_card"
ZERO_ADDRESS: Final = "0x" + "0" * 40
#: Bound parameters per IN list (SQLite allows 32,766 per statement).
CHUNK: Final = 5000

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size` (IN lists stay within the database's limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def among(session: Session, column: InstrumentedAttribute[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`. On PostgreSQL `column = ANY(:array)`: one bound array instead of
    thousands of parameters, which psycopg and SQLAlchemy would otherwise convert and compile
    on every batch (the rebuild's main cost at a million orders); the index serves both."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.expression.type)))
    return column.in_(list(values))


def aware(moment: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite hands them back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def japan_day(moment: datetime) -> str:
    """The Japan-time day "YYYY-MM-DD" of a stored datetime."""
    return in_japan(moment).strftime("%Y-%m-%d")


def address_forms(raw: str) -> set[str]:
    """The spellings an address may be stored under: as given, lower-case, checksummed."""
    forms = {raw, raw.lower()}
    if raw == raw.lower() and len(raw) == 42:
        with contextlib.suppress(ValueError):  # not an address: only its own spellings
            forms.add(Web3.to_checksum_address(raw))
    return forms


@dataclass(frozen=True)
class TownRule:
    """What of the town's settings a person's contribution depends on (premium rule)."""

    id: int
    premium_activities: tuple[str, ...]
    premium_threshold: int


def town_rule(session: Session, town_id: int) -> TownRule:
    """The town's premium rule as stored (unknown activity names are ignored)."""
    row = session.execute(
        select(Municipality.premium_activities, Municipality.premium_threshold).where(Municipality.id == town_id)
    ).one()
    return TownRule(town_id, parse_activities(row.premium_activities or ""), int(row.premium_threshold))


@dataclass(frozen=True)
class OrderFact:
    id: str
    drop_id: int
    resident_drop: bool
    status: str
    paid_at: datetime | None
    minted_at: datetime | None
    created_at: datetime
    amount_jpy: int
    campaign: str
    prefecture: str
    #: Lower-case; "" when none yet.
    recipient: str

    @property
    def paid_key(self) -> tuple[datetime, datetime, str]:
        """Order of paid orders: paid_at, then created_at, then id (latest = max)."""
        assert self.paid_at is not None
        return (self.paid_at, self.created_at, self.id)


@dataclass(frozen=True)
class CardFact:
    order_id: str
    drop_id: int
    token_id: int
    revoked: bool
    #: Lower-case indexed owner; None while the indexer has not seen the card minted.
    owner: str | None


@dataclass(frozen=True)
class CheckInFact:
    spot_id: int
    activity: str
    day: str


@dataclass(frozen=True)
class RedemptionFact:
    shop_id: int
    benefit_id: int
    day: str


@dataclass
class PersonFacts:
    """Everything recorded about one person of one town, as read by `load_facts`."""

    email: str
    holder_id: int | None = None
    orders: list[OrderFact] = field(default_factory=list)
    cards: list[CardFact] = field(default_factory=list)
    #: Lower-case addresses (holders, order recipients and wallets, custodial moves).
    addresses: set[str] = field(default_factory=set)
    check_ins: dict[int, CheckInFact] = field(default_factory=dict)
    redemptions: dict[int, RedemptionFact] = field(default_factory=dict)
    #: (poll id, chain id, contract, token id) -> Japan year of the vote.
    votes: dict[tuple[int, int, str, int], int] = field(default_factory=dict)
    #: Lot id -> Japan year of the registration.
    bids: dict[int, int] = field(default_factory=dict)


@dataclass
class _Addresses:
    """Who is behind each lower-case address of the batch, and the spellings seen."""

    owners: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    raw: set[str] = field(default_factory=set)
    #: Lower-case custodial address -> its holder's e-mail.
    custodial: dict[str, str] = field(default_factory=dict)

    def link(self, raw: str | None, person: PersonFacts) -> None:
        if raw:
            address = raw.lower()
            self.owners[address].add(person.email)
            person.addresses.add(address)
            self.raw.add(raw)

    def lookup(self) -> list[str]:
        """Every spelling to look the batch's addresses up by."""
        return sorted({form for raw in self.raw for form in address_forms(raw)})


def custodial_moves(session: Session) -> dict[str, list[str]]:
    """Every transfer out of a custodial address: lower-case holder address -> destinations
    (as stored). One pass for a whole rebuild rather than a lookup per batch.

    Compared as stored, not lower-cased: custody stores a holder's address as eth_account
    spells it (EIP-55) and the indexer stores `from_address` checksummed too, so the two
    spellings agree and the join may use the index on `token_transfers(from_address)`
    (lower() on either side would hide both columns from their indexes)."""
    rows = session.execute(
        select(TokenTransferRow.from_address, TokenTransferRow.to_address).join(
            Holder, Holder.address == TokenTransferRow.from_address
        )
    )
    moves: dict[str, list[str]] = defaultdict(list)
    for from_address, to_address in rows:
        moves[from_address.lower()].append(to_address)
    return moves


def load_facts(
    session: Session, town_id: int, emails: Iterable[str], *, moves: Mapping[str, Sequence[str]] | None = None
) -> dict[str, PersonFacts]:
    """The facts of these people of the town (lower-case e-mails), a few bulk queries for the
    whole batch. People without any order come back with empty facts (no contribution).
    `moves` (from `custodial_moves`) saves the transfers query when many batches follow."""
    wanted = sorted(set(emails))
    facts = {email: PersonFacts(email) for email in wanted}
    if not wanted:
        return facts
    seen = _Addresses()
    order_email: dict[str, str] = {}
    for part in chunks(wanted):
        rows = session.execute(
            select(
                Order.id,
                Order.email,
                Order.drop_id,
                Drop.kind,
                Order.status,
                Order.paid_at,
                Order.minted_at,
                Order.created_at,
                Order.amount_jpy,
                Order.campaign_code,
                Order.prefecture,
                Order.recipient,
                Order.wallet_address,
            )
            .join(Drop, Drop.id == Order.drop_id)
            .where(Drop.municipality_id == town_id, among(session, Order.email, part))
        )
        for row in rows:
            order_email[row.id] = row.email
            facts[row.email].orders.append(
                OrderFact(
                    id=row.id,
                    drop_id=row.drop_id,
                    resident_drop=row.kind == RESIDENT_KIND,
                    status=row.status,
                    paid_at=None if row.paid_at is None else aware(row.paid_at),
                    minted_at=None if row.minted_at is None else aware(row.minted_at),
                    created_at=aware(row.created_at),
                    amount_jpy=int(row.amount_jpy),
                    campaign=row.campaign_code or m.NO_CAMPAIGN,
                    prefecture=row.prefecture,
                    recipient=(row.recipient or "").lower(),
                )
            )
            seen.link(row.recipient, facts[row.email])
            seen.link(row.wallet_address, facts[row.email])
        for holder_id, email, address in session.execute(
            select(Holder.id, Holder.email, Holder.address).where(among(session, Holder.email, part))
        ):
            if email in facts:
                facts[email].holder_id = holder_id
                seen.link(address, facts[email])
                seen.custodial[address.lower()] = email
        cards = session.execute(
            select(OrderCard.order_id, OrderCard.drop_id, OrderCard.token_id, OrderCard.revoked_at, TokenOwnerRow.owner)
            .join(Order, Order.id == OrderCard.order_id)
            .join(Drop, Drop.id == Order.drop_id)
            .outerjoin(
                TokenOwnerRow,
                and_(
                    TokenOwnerRow.chain_id == Drop.chain_id,
                    TokenOwnerRow.contract == Drop.contract,
                    TokenOwnerRow.token_id == OrderCard.token_id,
                ),
            )
            .where(Drop.municipality_id == town_id, among(session, Order.email, part))
        )
        for order_id, drop_id, token_id, revoked_at, owner in cards:
            facts[order_email[order_id]].cards.append(
                CardFact(
                    order_id, drop_id, int(token_id), revoked_at is not None, None if owner is None else owner.lower()
                )
            )
    _moves(session, facts, seen, moves)
    lookup = seen.lookup()
    holder_email = {person.holder_id: email for email, person in facts.items() if person.holder_id is not None}
    _visits(session, town_id, facts, seen.owners, lookup, holder_email)
    _votes(session, town_id, facts, seen.owners, lookup)
    _bids(session, town_id, facts, holder_email)
    return facts


def _moves(
    session: Session, facts: dict[str, PersonFacts], seen: _Addresses, moves: Mapping[str, Sequence[str]] | None
) -> None:
    """Add the wallets people moved cards to from their custodial address: a custodial card
    moves only at its holder's request, so the destination is their own wallet."""
    if moves is not None:
        for custodial, holder_email in list(seen.custodial.items()):
            for destination in moves.get(custodial, ()):
                if destination.lower() != ZERO_ADDRESS:
                    seen.link(destination, facts[holder_email])
        return
    forms = sorted({form for raw in seen.raw if raw.lower() in seen.custodial for form in address_forms(raw)})
    for part in chunks(forms):
        rows = session.execute(
            select(TokenTransferRow.from_address, TokenTransferRow.to_address).where(
                among(session, TokenTransferRow.from_address, part)
            )
        )
        for from_address, to_address in rows:
            email = seen.custodial.get(from_address.lower())
            if email is not None and to_address.lower() != ZERO_ADDRESS:
                seen.link(to_address, facts[email])


def _visits(
    session: Session,
    town_id: int,
    facts: dict[str, PersonFacts],
    by_address: dict[str, set[str]],
    lookup: Sequence[str],
    holder_email: dict[int, str],
) -> None:
    """Check-ins (by address or holder id) and redemptions (by address) in the town."""
    columns = (CheckIn.id, CheckIn.spot_id, Spot.activity, CheckIn.day, CheckIn.address, CheckIn.holder_id)
    base = select(*columns).join(Spot, Spot.id == CheckIn.spot_id).where(CheckIn.municipality_id == town_id)
    # By address alone: a holder's check-in carries the address of the card it was made with,
    # their custodial address (`benefits.check_ins` checks a holder in with a card their
    # custodial address holds), so `holder_id` names no one the address does not; reading by
    # it would walk all the town's check-ins per batch (no index leads with it).
    for query in (base.where(among(session, CheckIn.address, part)) for part in chunks(lookup)):
        for check_in_id, spot_id, activity, day, address, holder_id in session.execute(query):
            fact = CheckInFact(spot_id, activity or "leisure", day)
            owners = set(by_address.get((address or "").lower(), ()))
            if holder_id in holder_email:
                owners.add(holder_email[holder_id])
            for email in owners:
                facts[email].check_ins[check_in_id] = fact
    for part in chunks(lookup):
        rows = session.execute(
            select(
                Redemption.id,
                Redemption.shop_id,
                Redemption.benefit_id,
                Redemption.redeemed_at,
                Redemption.holder_address,
            ).where(Redemption.municipality_id == town_id, among(session, Redemption.holder_address, part))
        )
        for redemption_id, shop_id, benefit_id, redeemed_at, address in rows:
            used = RedemptionFact(shop_id, benefit_id, japan_day(redeemed_at))
            for email in by_address.get(address.lower(), ()):
                facts[email].redemptions[redemption_id] = used


def _votes(
    session: Session,
    town_id: int,
    facts: dict[str, PersonFacts],
    by_address: dict[str, set[str]],
    lookup: Sequence[str],
) -> None:
    """Votes of the town's polls cast for cards whose elector address is the person's."""
    poll_ids = list(session.scalars(select(Poll.id).where(Poll.municipality_id == town_id)))
    if not poll_ids:
        return
    joined = and_(
        PollElector.poll_id == PollVote.poll_id,
        PollElector.chain_id == PollVote.chain_id,
        PollElector.contract == PollVote.contract,
        PollElector.token_id == PollVote.token_id,
    )
    for part in chunks(lookup):
        rows = session.execute(
            select(
                PollVote.poll_id,
                PollVote.chain_id,
                PollVote.contract,
                PollVote.token_id,
                PollVote.voted_at,
                PollElector.address,
            )
            .join(PollElector, joined)
            .where(PollElector.poll_id.in_(poll_ids), among(session, PollElector.address, part))
        )
        for poll_id, chain_id, contract, token_id, voted_at, address in rows:
            year = in_japan(voted_at).year
            for email in by_address.get(address.lower(), ()):
                facts[email].votes[(poll_id, int(chain_id), contract.lower(), int(token_id))] = year


def _bids(session: Session, town_id: int, facts: dict[str, PersonFacts], holder_email: dict[int, str]) -> None:
    """Registrations as a bidder on the town's lots (by holder)."""
    for part in chunks(sorted(holder_email)):
        rows = session.execute(
            select(LotBidder.lot_id, LotBidder.holder_id, LotBidder.created_at)
            .join(Lot, Lot.id == LotBidder.lot_id)
            .where(Lot.municipality_id == town_id, among(session, LotBidder.holder_id, part))
        )
        for lot_id, holder_id, created_at in rows:
            facts[holder_email[holder_id]].bids[lot_id] = in_japan(created_at).year


@dataclass(frozen=True)
class YearRecord:
    """One `analytics_person_years` row to store."""

    year: int
    visit_days: int
    check_ins: int
    redemptions: int
    votes: int
    designated: int
    category: str
    flags: tuple[str, ...]
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Computed:
    """A person recomputed: what they add to the counts, and their stored summary."""

    contribution: Counter[Cell]
    prefecture: str
    resident: bool
    cards: int
    first_card_day: str | None
    category: str
    addresses: frozenset[str]
    years: tuple[YearRecord, ...]


def _prefecture(orders: Sequence[OrderFact]) -> str:
    paid = [order for order in orders if order.paid_at is not None]
    if paid:
        return max(paid, key=lambda order: order.paid_key).prefecture
    if orders:
        return max(orders, key=lambda order: (order.created_at, order.id)).prefecture
    return ""


def _card_state(card: CardFact, order: OrderFact, addresses: set[str]) -> str:
    if card.revoked or order.status == "refunded":
        return m.STATE_REVOKED
    if card.owner is None or card.owner == order.recipient:
        return m.STATE_FIRST_HOLDER
    if card.owner in addresses:
        return m.STATE_OWN_WALLET
    return m.STATE_TRANSFERRED


def _orders_part(facts: PersonFacts, out: Counter[Cell], prefecture: str) -> tuple[bool, int, str | None]:
    """Residents, cards, new residents, the funnel by order, card states; returns the
    all-drops (resident, held cards, first card day)."""
    by_id = {order.id: order for order in facts.orders}
    for order in facts.orders:
        dim1, day = str(order.drop_id), japan_day(order.created_at)
        out[(m.ORDERS, dim1, order.campaign, day)] += 1
        if order.paid_at is not None:
            out[(m.PAID, dim1, order.campaign, day)] += 1
            if order.status != "refunded":
                out[(m.REVENUE_JPY, dim1, order.campaign, day)] += order.amount_jpy
        if order.minted_at is not None:
            out[(m.MINTED, dim1, order.campaign, day)] += 1
        if order.status == "refunded":
            out[(m.REFUNDED, dim1, order.campaign, day)] += 1
    held: dict[str, list[CardFact]] = defaultdict(list)  # scope -> held cards
    for card in facts.cards:
        order = by_id[card.order_id]
        if not order.resident_drop:
            continue
        if order.paid_at is not None:
            out[(m.CARD_STATE, str(card.drop_id), _card_state(card, order, facts.addresses), m.EVER)] += 1
        valid = order.status in CARD_STATUSES and not card.revoked
        if valid and (card.owner is None or card.owner in facts.addresses):
            held[m.ALL].append(card)
            held[str(card.drop_id)].append(card)
    first_day: str | None = None
    for scope, cards in held.items():
        out[(m.RESIDENTS, scope, prefecture, m.EVER)] += 1
        out[(m.CARDS, scope, prefecture, m.EVER)] += len(cards)
        paid = [by_id[card.order_id] for card in cards if by_id[card.order_id].paid_at is not None]
        if paid:
            first = min(paid, key=lambda order: order.paid_key)
            assert first.paid_at is not None
            day = japan_day(first.paid_at)
            out[(m.NEW_RESIDENTS, scope, first.campaign, day)] += 1
            if scope == m.ALL:
                first_day = day
    return bool(held), len(held.get(m.ALL, ())), first_day


def _visits_part(facts: PersonFacts, out: Counter[Cell], resident_scopes: Iterable[str]) -> set[str]:
    """Check-ins, redemptions, visitors by place and month, by year and ever, visit-day bins,
    residents who visited; returns the distinct visit days."""
    for check_in in facts.check_ins.values():
        out[(m.CHECK_INS, str(check_in.spot_id), "", check_in.day)] += 1
    for redemption in facts.redemptions.values():
        out[(m.REDEMPTIONS, str(redemption.shop_id), str(redemption.benefit_id), redemption.day)] += 1
    for spot, month in {(c.spot_id, c.day[:7]) for c in facts.check_ins.values()}:
        out[(m.SPOT_VISITORS, str(spot), "", month)] = 1
    for shop, month in {(r.shop_id, r.day[:7]) for r in facts.redemptions.values()}:
        out[(m.SHOP_VISITORS, str(shop), "", month)] = 1
    days = {c.day for c in facts.check_ins.values()} | {r.day for r in facts.redemptions.values()}
    per_year = Counter(day[:4] for day in days)
    for year, count in per_year.items():
        out[(m.VISITORS, "", "", year)] = 1
        if count >= 2:
            out[(m.REPEAT_VISITORS, "", "", year)] = 1
        out[(m.VISIT_DAYS, m.visit_day_bin(count), "", year)] = 1
    if days:
        out[(m.VISITORS, "", "", m.EVER)] = 1
        if len(days) >= 2:
            out[(m.REPEAT_VISITORS, "", "", m.EVER)] = 1
        for scope in resident_scopes:
            out[(m.RESIDENTS_VISITED, scope, "", m.EVER)] = 1
    return days


def _participation_part(facts: PersonFacts, out: Counter[Cell]) -> None:
    for poll_id, *_card in facts.votes:
        out[(m.POLL_VOTES, str(poll_id), "", m.EVER)] += 1
    for poll_id in {key[0] for key in facts.votes}:
        out[(m.POLL_VOTERS, str(poll_id), "", m.EVER)] = 1
    for lot_id in facts.bids:
        out[(m.BIDDERS, str(lot_id), "", m.EVER)] = 1


def year_activities(facts: PersonFacts, days: set[str]) -> dict[int, YearActivity]:
    """The person's `YearActivity` for every year with a paid order, visit, vote or bid."""
    paid = Counter(in_japan(o.paid_at).year for o in facts.orders if o.paid_at is not None)
    visit_days = Counter(int(day[:4]) for day in days)
    check_ins: dict[int, Counter[str]] = defaultdict(Counter)
    for c in facts.check_ins.values():
        check_ins[int(c.day[:4])][c.activity] += 1
    redemptions = Counter(int(r.day[:4]) for r in facts.redemptions.values())
    polls: dict[int, set[int]] = defaultdict(set)
    for (poll_id, *_card), year in facts.votes.items():
        polls[year].add(poll_id)
    bids = Counter(facts.bids.values())
    years = set(paid) | set(visit_days) | set(polls) | set(bids)
    return {
        year: YearActivity(
            year=year,
            visit_days=visit_days[year],
            check_ins=dict(check_ins.get(year, {})),
            redemptions=redemptions[year],
            votes=len(polls.get(year, ())),
            bids=bids[year],
            paid_orders=paid[year],
        )
        for year in sorted(years)
    }


def compute(facts: PersonFacts, rule: TownRule, this_year: int) -> Computed:
    """The person's contribution and summary from their facts (no database)."""
    out: Counter[Cell] = Counter()
    prefecture = _prefecture(facts.orders)
    resident, cards, first_day = _orders_part(facts, out, prefecture)
    scopes = sorted({scope for (metric, scope, _d2, _day) in out if metric == m.RESIDENTS})
    days = _visits_part(facts, out, scopes)
    _participation_part(facts, out)
    records: list[YearRecord] = []
    category = ""
    for year, activity in year_activities(facts, days).items():
        result = classify(activity)
        if not result.category:
            continue
        label = str(year)
        out[(m.CATEGORY, result.category, prefecture, label)] = 1
        for flag in result.flags:
            out[(m.CATEGORY_FLAG, flag, "", label)] = 1
        count = designated(activity, rule.premium_activities)
        if count >= rule.premium_threshold:
            out[(m.PREMIUM_CANDIDATES, "", "", label)] = 1
        if year == this_year:
            category = result.category
        records.append(
            YearRecord(
                year=year,
                visit_days=activity.visit_days,
                check_ins=sum(activity.check_ins.values()),
                redemptions=activity.redemptions,
                votes=activity.votes,
                designated=count,
                category=result.category,
                flags=result.flags,
                evidence=evidence(activity, result),
            )
        )
    # The month and year cells ride along in the contribution, so every path that applies
    # a contribution (a delta, a rebuild, an erased person's frozen one) keeps them in step.
    contribution = Counter({cell: value for cell, value in m.with_coarse(out).items() if value})
    return Computed(
        contribution=contribution,
        prefecture=prefecture,
        resident=resident,
        cards=cards,
        first_card_day=first_day,
        category=category,
        addresses=frozenset(facts.addresses),
        years=tuple(records),
    )


def encode(contribution: Counter[Cell]) -> list[list[Any]]:
    """The stored JSON form `[[metric, dim1, dim2, day, value], …]` (sorted: stable text)."""
    return [[*cell, value] for cell, value in sorted(contribution.items()) if value]


def decode(rows: Iterable[Sequence[Any]]) -> Counter[Cell]:
    """The contribution back from its stored JSON form. One stored before the month and year
    cells existed (day cells of `m.DAY_METRICS` but no coarse cell) gets them added: an erased
    person's frozen contribution is never recomputed, and a rebuild adds it as stored."""
    out: Counter[Cell] = Counter()
    for metric, dim1, dim2, day, value in rows:
        out[(str(metric), str(dim1), str(dim2), str(day))] += int(value)
    dated = any(cell[0] in m.DAY_METRICS and len(cell[3]) == 10 for cell in out)
    if dated and not any(m.base_metric(cell[0]) != cell[0] for cell in out):
        return m.with_coarse(out)
    return out
