"""What one town holds about one person (APPI 開示): every row of theirs, section by section.

A person is a lower-case e-mail address among the town's records (`docs/analytics.md`,
"Person"). Their rows are found the way the figures find them, so what a holder downloads is
exactly what the town's figures and staff views could link to them:

- by e-mail: orders of the town's drops, lottery applications, announcement deliveries and
  the opt-out of the town's mail, the analytics profile, data requests;
- by address (`person_addresses`): check-ins, benefit redemptions, poll electors (and so the
  votes of those cards), where the address is the custodial address of the holder with that
  e-mail, a recipient or paying wallet of their orders, or a wallet their custodial cards were
  moved to (a custodial card moves only at its holder's request);
- by holder id: check-ins made signed in by e-mail, naming-right bidder registrations.

Read only; the caller's session. `erasure.py` erases the same rows, so the two lists cannot
drift apart: both start from `person_addresses` and the same town filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from backend.analytics.models import (
    AnalyticsPerson,
    AnalyticsPersonAddress,
    AnalyticsPersonYear,
    DataRequest,
    PremiumReview,
)
from backend.benefits.models import Benefit, CheckIn, Redemption, Shop, Spot
from backend.holders.models import Holder
from backend.lottery.models import LotteryApplication
from backend.naming.models import Bid, Lot, LotBidder, Park
from backend.polls.models import (
    Announcement,
    AnnouncementDelivery,
    MailOptOut,
    Poll,
    PollElector,
    PollOption,
    PollVote,
)
from backend.sales.models import Drop, Order, OrderCard
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow, TokenTransferRow

#: A cell of the download: text, a number, a yes/no, or nothing.
Value = str | int | bool | None


@dataclass(frozen=True)
class Section:
    """One kind of record, with a title in both languages and its rows (field → value)."""

    key: str
    title_ja: str
    title_en: str
    rows: list[dict[str, Value]] = field(default_factory=list)


@dataclass(frozen=True)
class OwnData:
    """Everything the town holds about the person, in a fixed order of sections."""

    town: str
    email: str
    generated_at: datetime
    sections: list[Section]

    @property
    def empty(self) -> bool:
        """True when the town holds nothing about this address (the profile aside)."""
        return not any(section.rows for section in self.sections if section.key != "person")


@dataclass(frozen=True)
class Person:
    """Who the rows belong to in one town: e-mail, holder (if any) and every address."""

    municipality_id: int
    email: str
    holder_id: int | None
    #: Lower-case 0x addresses (`person_addresses`).
    addresses: frozenset[str]


def _iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 text; SQLite hands datetimes back naive, and every one stored is UTC."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def town_drop_ids(session: Session, municipality_id: int) -> list[int]:
    """Every drop of the town (resident cards and naming rights): "the town's orders" are theirs."""
    return list(session.scalars(select(Drop.id).where(Drop.municipality_id == municipality_id)))


def person_addresses(session: Session, municipality_id: int, email: str, holder: Holder | None) -> frozenset[str]:
    """The person's lower-case addresses in the town, as the Definitions of the plan say:
    the custodial address of the holder with this e-mail, the recipients and paying wallets
    of their orders of the town, every wallet a card left their custodial address for, and
    whatever the rollup has already resolved to them (`analytics_person_addresses`)."""
    found: set[str] = set()
    if holder is not None:
        found.add(holder.address.lower())
        moved = session.scalars(
            select(TokenTransferRow.to_address).where(
                func.lower(TokenTransferRow.from_address) == holder.address.lower()
            )
        )
        found.update(address.lower() for address in moved)
    drops = town_drop_ids(session, municipality_id)
    if drops:
        for recipient, wallet in session.execute(
            select(Order.recipient, Order.wallet_address).where(
                Order.drop_id.in_(drops), func.lower(Order.email) == email
            )
        ):
            found.update(address.lower() for address in (recipient, wallet) if address)
    person_id = session.scalar(
        select(AnalyticsPerson.id).where(
            AnalyticsPerson.municipality_id == municipality_id, AnalyticsPerson.email == email
        )
    )
    if person_id is not None:
        found.update(
            session.scalars(
                select(AnalyticsPersonAddress.address).where(
                    AnalyticsPersonAddress.municipality_id == municipality_id,
                    AnalyticsPersonAddress.person_id == person_id,
                )
            )
        )
    return frozenset(found)


def find_person(session: Session, municipality_id: int, email: str) -> Person:
    """The person of `email` (any spelling: compared lower-case) in the town."""
    email = email.strip().lower()
    holder = session.scalar(select(Holder).where(func.lower(Holder.email) == email))
    addresses = person_addresses(session, municipality_id, email, holder)
    return Person(municipality_id, email, holder.id if holder is not None else None, addresses)


def lower_in(column: InstrumentedAttribute[Any], addresses: Iterable[str]) -> ColumnElement[bool]:
    """`lower(column) IN (addresses)`: addresses are stored checksummed in some tables."""
    return func.lower(column).in_(sorted(addresses))


def check_in_filter(person: Person) -> ColumnElement[bool] | None:
    """The person's check-ins: made with one of their addresses, or signed in as their holder."""
    clauses: list[ColumnElement[bool]] = []
    if person.addresses:
        clauses.append(lower_in(CheckIn.address, person.addresses))
    if person.holder_id is not None:
        clauses.append(CheckIn.holder_id == person.holder_id)
    return or_(*clauses) if clauses else None


def _orders(session: Session, person: Person, drops: Sequence[int]) -> tuple[Section, Section]:
    orders = Section("orders", "購入（注文）", "Orders")
    cards = Section("cards", "住民カード", "Cards")
    if not drops:
        return orders, cards
    rows = session.execute(
        select(Order, Drop)
        .join(Drop, Drop.id == Order.drop_id)
        .where(Order.drop_id.in_(drops), func.lower(Order.email) == person.email)
        .order_by(Order.created_at, Order.id)
    ).all()
    for order, drop in rows:
        orders.rows.append(
            {
                "order_id": order.id,
                "drop_id": drop.id,
                "drop": drop.title_ja,
                "quantity": order.quantity,
                "email": order.email,
                "prefecture": order.prefecture,
                "wallet_address": order.wallet_address,
                "recipient": order.recipient,
                "campaign_code": order.campaign_code,
                "payment_method": order.payment_method,
                "status": order.status,
                "amount_jpy": order.amount_jpy,
                "created_at": _iso(order.created_at),
                "paid_at": _iso(order.paid_at),
                "minted_at": _iso(order.minted_at),
            }
        )
        for card in session.scalars(
            select(OrderCard).where(OrderCard.order_id == order.id).order_by(OrderCard.token_id)
        ):
            owner = session.get(TokenOwnerRow, (drop.chain_id, drop.contract, card.token_id))
            cards.rows.append(
                {
                    "order_id": order.id,
                    "drop": drop.title_ja,
                    "contract": drop.contract,
                    "token_id": int(card.token_id),
                    "owner_now": owner.owner.lower() if owner is not None else None,
                    "revoked_at": _iso(card.revoked_at),
                }
            )
    return orders, cards


def _applications(session: Session, person: Person, drops: Sequence[int]) -> Section:
    section = Section("lottery_applications", "抽選への応募", "Lottery applications")
    if not drops:
        return section
    for application in session.scalars(
        select(LotteryApplication)
        .where(LotteryApplication.drop_id.in_(drops), func.lower(LotteryApplication.email) == person.email)
        .order_by(LotteryApplication.created_at)
    ):
        section.rows.append(
            {
                "drop_id": application.drop_id,
                "entry_id": application.entry_id,
                "email": application.email,
                "prefecture": application.prefecture,
                "quantity": application.quantity,
                "wallet_address": application.wallet_address,
                "campaign_code": application.campaign_code,
                "created_at": _iso(application.created_at),
                "rank": application.rank,
                "outcome": application.outcome,
                "order_id": application.order_id,
            }
        )
    return section


def _check_ins(session: Session, person: Person) -> Section:
    section = Section("check_ins", "スポットでのチェックイン", "Check-ins at spots")
    where = check_in_filter(person)
    if where is None:
        return section
    for check_in, spot in session.execute(
        select(CheckIn, Spot)
        .join(Spot, Spot.id == CheckIn.spot_id)
        .where(CheckIn.municipality_id == person.municipality_id, where)
        .order_by(CheckIn.checked_in_at, CheckIn.id)
    ):
        section.rows.append(
            {
                "day": check_in.day,
                "spot": spot.name_ja,
                "activity": spot.activity,
                "visitor": check_in.visitor,
                "address": check_in.address,
                "method": check_in.method,
                "distance_m": check_in.distance_m,
                "checked_in_at": _iso(check_in.checked_in_at),
            }
        )
    return section


def _redemptions(session: Session, person: Person) -> Section:
    section = Section("redemptions", "特典の利用", "Benefits used")
    if not person.addresses:
        return section
    for redemption, benefit, shop in session.execute(
        select(Redemption, Benefit, Shop)
        .join(Benefit, Benefit.id == Redemption.benefit_id)
        .join(Shop, Shop.id == Redemption.shop_id)
        .where(
            Redemption.municipality_id == person.municipality_id,
            lower_in(Redemption.holder_address, person.addresses),
        )
        .order_by(Redemption.redeemed_at, Redemption.id)
    ):
        section.rows.append(
            {
                "redeemed_at": _iso(redemption.redeemed_at),
                "shop": shop.name_ja,
                "benefit": benefit.title_ja,
                "period_key": redemption.period_key,
                "token_id": int(redemption.token_id),
                "holder_address": redemption.holder_address,
            }
        )
    return section


def _votes(session: Session, person: Person) -> Section:
    section = Section("votes", "投票", "Votes")
    if not person.addresses:
        return section
    rows = session.execute(
        select(PollElector, Poll, PollVote, PollOption)
        .join(Poll, Poll.id == PollElector.poll_id)
        .outerjoin(
            PollVote,
            (PollVote.poll_id == PollElector.poll_id)
            & (PollVote.chain_id == PollElector.chain_id)
            & (PollVote.contract == PollElector.contract)
            & (PollVote.token_id == PollElector.token_id),
        )
        .outerjoin(PollOption, PollOption.id == PollVote.option_id)
        .where(
            Poll.municipality_id == person.municipality_id,
            lower_in(PollElector.address, person.addresses),
        )
        .order_by(Poll.id, PollElector.token_id)
    ).all()
    for elector, poll, vote, option in rows:
        section.rows.append(
            {
                "poll_id": poll.id,
                "question": poll.question_ja,
                "token_id": int(elector.token_id),
                "elector_address": elector.address,
                "voted": vote is not None,
                "option": option.label_ja if option is not None else None,
                "voted_at": _iso(vote.voted_at) if vote is not None else None,
            }
        )
    return section


def _bids(session: Session, person: Person) -> Section:
    section = Section("bids", "命名権の入札", "Naming-right bids")
    if person.holder_id is None:
        return section
    for bidder, lot, park in session.execute(
        select(LotBidder, Lot, Park)
        .join(Lot, Lot.id == LotBidder.lot_id)
        .join(Park, Park.id == Lot.park_id)
        .where(Lot.municipality_id == person.municipality_id, LotBidder.holder_id == person.holder_id)
        .order_by(LotBidder.created_at)
    ):
        amounts = list(session.scalars(select(Bid.amount_jpy).where(Bid.bidder_id == bidder.id).order_by(Bid.seq)))
        section.rows.append(
            {
                "lot_id": lot.id,
                "park": park.name_ja,
                "bidder_number": bidder.number,
                "prefecture": bidder.prefecture,
                "payment_method": bidder.payment_method,
                "registered_at": _iso(bidder.created_at),
                "bids": len(amounts),
                "highest_bid_jpy": max(amounts) if amounts else None,
            }
        )
    return section


def _mail(session: Session, person: Person) -> Section:
    section = Section("announcements", "お知らせメール", "Announcement mail")
    for delivery, announcement in session.execute(
        select(AnnouncementDelivery, Announcement)
        .join(Announcement, Announcement.id == AnnouncementDelivery.announcement_id)
        .where(
            Announcement.municipality_id == person.municipality_id,
            func.lower(AnnouncementDelivery.email) == person.email,
        )
        .order_by(AnnouncementDelivery.created_at)
    ):
        section.rows.append(
            {
                "announcement": announcement.title_ja,
                "email": delivery.email,
                "status": delivery.status,
                "sent_at": _iso(delivery.sent_at),
            }
        )
    opt_out = session.scalar(
        select(MailOptOut).where(
            MailOptOut.municipality_id == person.municipality_id, func.lower(MailOptOut.email) == person.email
        )
    )
    if opt_out is not None:
        section.rows.append(
            {
                "announcement": "配信停止 / unsubscribed",
                "email": opt_out.email,
                "status": "opted_out",
                "sent_at": _iso(opt_out.created_at),
            }
        )
    return section


def _profile(session: Session, person: Person) -> tuple[Section, Section]:
    """The analytics profile (the figures' view of the person) and premium reviews."""
    profile = Section("analytics", "統計のための集計（区分など）", "Figures kept for statistics")
    reviews = Section("premium_reviews", "プレミアム登録の審査", "Premium registration reviews")
    row = session.scalar(
        select(AnalyticsPerson).where(
            AnalyticsPerson.municipality_id == person.municipality_id, AnalyticsPerson.email == person.email
        )
    )
    if row is None:
        return profile, reviews
    years = session.scalars(
        select(AnalyticsPersonYear).where(AnalyticsPersonYear.person_id == row.id).order_by(AnalyticsPersonYear.year)
    ).all()
    profile.rows.append(
        {
            "year": None,
            "prefecture": row.prefecture,
            "resident": row.resident,
            "cards": row.cards,
            "first_card_day": row.first_card_day,
            "category": row.category,
        }
    )
    for year in years:
        profile.rows.append(
            {
                "year": year.year,
                "visit_days": year.visit_days,
                "check_ins": year.check_ins,
                "redemptions": year.redemptions,
                "votes": year.votes,
                "designated": year.designated,
                "category": year.category,
                "flags": year.flags,
            }
        )
    for review in session.scalars(
        select(PremiumReview).where(PremiumReview.person_id == row.id).order_by(PremiumReview.year)
    ):
        reviews.rows.append({"year": review.year, "decision": review.decision, "decided_at": _iso(review.decided_at)})
    return profile, reviews


def _requests(session: Session, person: Person) -> Section:
    section = Section("data_requests", "本人からの依頼", "Your requests")
    for request in session.scalars(
        select(DataRequest)
        .where(DataRequest.municipality_id == person.municipality_id, DataRequest.email == person.email)
        .order_by(DataRequest.requested_at)
    ):
        section.rows.append(
            {
                "request_id": request.id,
                "kind": request.kind,
                "status": request.status,
                "requested_at": _iso(request.requested_at),
                "due_at": _iso(request.due_at),
                "completed_at": _iso(request.completed_at),
            }
        )
    return section


def own_data(session: Session, town: Municipality, email: str, now: datetime) -> OwnData:
    """Every section of what `town` holds about `email` (empty sections included, so the
    holder sees what the town could hold and does not)."""
    person = find_person(session, town.id, email)
    drops = town_drop_ids(session, town.id)
    orders, cards = _orders(session, person, drops)
    profile, reviews = _profile(session, person)
    identity = Section("person", "本人", "You")
    identity.rows.append(
        {
            "email": person.email,
            "town": town.slug,
            "addresses": " ".join(sorted(person.addresses)),
        }
    )
    sections = [
        identity,
        orders,
        cards,
        _applications(session, person, drops),
        _check_ins(session, person),
        _redemptions(session, person),
        _votes(session, person),
        _bids(session, person),
        _mail(session, person),
        profile,
        reviews,
        _requests(session, person),
    ]
    return OwnData(town=town.slug, email=person.email, generated_at=now, sections=sections)


def csv_rows(data: OwnData) -> list[tuple[str, str, str | int | None]]:
    """The download as rows (section, field, value): `orders[2].status`, one cell per field,
    so any spreadsheet opens it whatever the sections hold."""
    rows: list[tuple[str, str, str | int | None]] = []
    for section in data.sections:
        for index, row in enumerate(section.rows):
            for name, value in row.items():
                cell: str | int | None = ("yes" if value else "no") if isinstance(value, bool) else value
                rows.append((section.key, f"{section.key}[{index}].{name}", cell))
    return rows
