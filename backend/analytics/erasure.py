"""Erasing what one town holds about one person (APPI 利用停止・消去), in one transaction.

What "erased" means here, table by table. Rows are kept where they are records the town
must keep or that others rely on (a sale is in the accounts, a vote counted stays counted, a
bid stays in the public hash-chained log), but nothing in them identifies the person or links
their activity together any more:

- `orders` of the town's drops: e-mail → a pseudonym that identifies no one, unique per order
  (`erased-…@erased.invalid`; `.invalid` can never be a real domain, RFC 2606), prefecture
  "" (the column has no check; staff views show "" as no prefecture), wallet, recipient,
  holder link and provider data cleared. Amounts, statuses and dates stay (accounts).
- `lottery_applications`: the same; the public entry id and rank stay (the draw's record);
  no more mail to it.
- `check_ins`: holder link cleared, address → the zero address, the visitor name (which
  names the holder or the wallet) → a random pseudonym per row (its unique key holds).
- `redemptions`: the holder's address → the zero address (the card's once-per-period key stays).
- `poll_electors`: the address → the zero address; the vote stays counted.
- `lot_bidders`: prefecture "" and the saved card's provider ids cleared; the row (its public
  pseudonym "入札者 3" and the bids) stays, moved to a tombstone holder when the real holder
  row must stay for other towns.
- `announcement_deliveries` of the town's announcements and the town's `mail_opt_outs`: deleted.
- `buyer_counts` of the town's drops for the e-mail and wallets: deleted (they name the buyer).
- `webhook_events` of the erased orders: the provider's payload (which carries the buyer's
  e-mail) replaced by a note.
- `holders`: when the person has nothing left in any other town, e-mail → pseudonym and every
  sign-in link and session deleted: nobody can sign in as them again. The custodial key stays
  (the card stays on chain at its address). Otherwise the row is left for the other towns.
- `analytics_people`: e-mail NULL, prefecture "", `erased_at` set; its addresses deleted. Its
  stored contribution stays in `analytics_counts`: figures keep only counts. The rollup never
  recomputes an erased person (nothing finds them: no e-mail, no address), and pending changes
  naming the e-mail or the addresses for this town are deleted.
- `data_requests` of the town with that e-mail: e-mail NULL.

Nothing goes on chain, and the card stays there: an on-chain transfer to a wallet is public and
cannot be erased; after this, nothing the town holds joins it to an e-mail.

While the person has business in progress (an order being paid or minted, a lottery not
settled, an auction they are bidding in or must pay for) `erase` refuses (`Unfinished`):
staff finish or refund it first, then complete the request.

Concurrency: the erasure first takes the rollup's lock (the `analytics_cursors` "rollup" row,
which every rollup batch takes), so a batch never reads the person half-erased nor writes back
a contribution computed before the erasure.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from backend.analytics.models import (
    AnalyticsChange,
    AnalyticsCursor,
    AnalyticsPerson,
    AnalyticsPersonAddress,
    DataRequest,
)
from backend.analytics.own_data import Person, check_in_filter, find_person, lower_in, town_drop_ids
from backend.benefits.models import CheckIn, Redemption
from backend.holders.models import Holder, SignInToken
from backend.lottery.models import SETTLED, Lottery, LotteryApplication
from backend.naming.models import Lot, LotBidder
from backend.payments.models import WebhookEvent
from backend.polls.models import (
    Announcement,
    AnnouncementDelivery,
    MailOptOut,
    Poll,
    PollElector,
)
from backend.sales.models import BuyerCount, Drop, Order
from minting.store import insert_for

#: The pseudonyms' domain: reserved, never resolvable (RFC 2606), so no mail can reach anyone.
ERASED_DOMAIN = "erased.invalid"
#: What an erased address becomes wherever a row must keep one.
ZERO_ADDRESS = "0x" + "0" * 40
#: The rollup's lock row (see `AnalyticsCursor`).
ROLLUP_LOCK = "rollup"
#: Orders whose money or card is still on its way: finish or refund them first.
UNFINISHED_ORDER_STATUSES = ("pending_payment", "paid", "minting", "failed")
#: Lots whose auction or payment is still running.
UNFINISHED_LOT_PHASES = ("auction", "awaiting_payment")
#: What the provider's stored event says once its order was erased.
ERASED_PAYLOAD = '{"erased": true}'


def pseudonym() -> str:
    """An e-mail-shaped name that identifies no one: 96 random bits, unique in practice."""
    return f"erased-{secrets.token_hex(12)}@{ERASED_DOMAIN}"


def is_erased_email(email: str | None) -> bool:
    """True for a pseudonym `pseudonym()` made: the rollup and every reader skip these."""
    return email is not None and email.strip().lower().endswith("@" + ERASED_DOMAIN)


class Unfinished(Exception):
    """The person still has business in progress in the town; counts by kind."""

    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__(", ".join(f"{kind}: {count}" for kind, count in counts.items()))
        self.counts = counts


@dataclass(frozen=True)
class Erased:
    """What an erasure changed: row counts by table, no personal data (for the audit row)."""

    counts: dict[str, int]
    #: "pseudonymised" (nothing left elsewhere), "kept" (other towns), or "none".
    holder: str


def lock_rollup(session: Session) -> None:
    """Take the rollup's lock row for this transaction, as a rollup batch does
    (`rollup._lock`): made if missing, then locked (FOR UPDATE on PostgreSQL; on SQLite the
    INSERT opens the one write transaction)."""
    session.execute(insert_for(session)(AnalyticsCursor).values(name=ROLLUP_LOCK, position=0).on_conflict_do_nothing())
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(AnalyticsCursor.name).where(AnalyticsCursor.name == ROLLUP_LOCK).with_for_update())


def unfinished(session: Session, person: Person) -> dict[str, int]:
    """What of the person is still in progress in the town (empty: nothing)."""
    drops = town_drop_ids(session, person.municipality_id)
    counts: dict[str, int] = {}
    if drops:
        orders = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(
                Order.drop_id.in_(drops),
                func.lower(Order.email) == person.email,
                Order.status.in_(UNFINISHED_ORDER_STATUSES),
            )
        )
        applications = session.scalar(
            select(func.count())
            .select_from(LotteryApplication)
            .join(Lottery, Lottery.drop_id == LotteryApplication.drop_id)
            .where(
                LotteryApplication.drop_id.in_(drops),
                func.lower(LotteryApplication.email) == person.email,
                Lottery.stage != SETTLED,
            )
        )
        counts.update(orders=orders or 0, lottery_applications=applications or 0)
    if person.holder_id is not None:
        lots = session.scalar(
            select(func.count())
            .select_from(LotBidder)
            .join(Lot, Lot.id == LotBidder.lot_id)
            .where(
                Lot.municipality_id == person.municipality_id,
                LotBidder.holder_id == person.holder_id,
                Lot.phase.in_(UNFINISHED_LOT_PHASES),
            )
        )
        counts["lots"] = lots or 0
    return {kind: count for kind, count in counts.items() if count}


def _elsewhere(session: Session, person: Person, holder: Holder) -> bool:
    """Whether another town still holds something of this holder (then the row stays)."""
    other_drops = select(Drop.id).where(Drop.municipality_id != person.municipality_id)
    checks = [
        select(Order.id).where(
            Order.drop_id.in_(other_drops),
            or_(Order.holder_id == holder.id, func.lower(Order.email) == person.email),
        ),
        select(LotteryApplication.id).where(
            LotteryApplication.drop_id.in_(other_drops), func.lower(LotteryApplication.email) == person.email
        ),
        select(LotBidder.id)
        .join(Lot, Lot.id == LotBidder.lot_id)
        .where(LotBidder.holder_id == holder.id, Lot.municipality_id != person.municipality_id),
        select(CheckIn.id).where(CheckIn.holder_id == holder.id, CheckIn.municipality_id != person.municipality_id),
    ]
    return any(session.scalar(check.limit(1)) is not None for check in checks)


def _tombstone(session: Session) -> int:
    """A holder row nobody can sign in as or sign for (no e-mail, no key, a random address):
    what an erased bidder row points at when the real holder row must stay for other towns."""
    row = Holder(
        email=pseudonym(),
        address="0x" + secrets.token_hex(20),
        encrypted_key=b"",
        key_id="erased",
    )
    session.add(row)
    session.flush()
    return row.id


def _erase_orders(session: Session, person: Person, drops: list[int], counts: dict[str, int]) -> None:
    ids = list(
        session.scalars(select(Order.id).where(Order.drop_id.in_(drops), func.lower(Order.email) == person.email))
    )
    wallets = {
        wallet.lower()
        for wallet in session.scalars(select(Order.wallet_address).where(Order.id.in_(ids)))
        if wallet is not None
    }
    for order_id in ids:
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(
                email=pseudonym(),
                prefecture="",
                wallet_address=None,
                recipient=None,
                holder_id=None,
                payment_data="{}",
            )
            .execution_options(synchronize_session=False)
        )
    counts["orders"] = len(ids)
    buyers = [f"email:{person.email}", *(f"wallet:{wallet}" for wallet in sorted(wallets))]
    counts["buyer_counts"] = session.execute(
        delete(BuyerCount).where(BuyerCount.drop_id.in_(drops), BuyerCount.buyer.in_(buyers))
    ).rowcount  # type: ignore[attr-defined]
    counts["webhook_events"] = (
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.order_id.in_(ids), WebhookEvent.state != "parked")
            .values(payload=ERASED_PAYLOAD)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if ids
        else 0
    )
    applications = list(
        session.scalars(
            select(LotteryApplication.id).where(
                LotteryApplication.drop_id.in_(drops), func.lower(LotteryApplication.email) == person.email
            )
        )
    )
    for application_id in applications:
        session.execute(
            update(LotteryApplication)
            .where(LotteryApplication.id == application_id)
            .values(email=pseudonym(), prefecture="", wallet_address=None, mail_due=False)
            .execution_options(synchronize_session=False)
        )
    counts["lottery_applications"] = len(applications)


def _erase_activity(session: Session, person: Person, counts: dict[str, int]) -> None:
    where = check_in_filter(person)
    check_ins = (
        list(session.scalars(select(CheckIn.id).where(CheckIn.municipality_id == person.municipality_id, where)))
        if where is not None
        else []
    )
    for check_in_id in check_ins:
        session.execute(
            update(CheckIn)
            .where(CheckIn.id == check_in_id)
            .values(holder_id=None, address=ZERO_ADDRESS, visitor=f"erased:{secrets.token_hex(16)}")
            .execution_options(synchronize_session=False)
        )
    counts["check_ins"] = len(check_ins)
    counts["redemptions"] = counts["poll_electors"] = 0
    if person.addresses:
        counts["redemptions"] = session.execute(
            update(Redemption)
            .where(
                Redemption.municipality_id == person.municipality_id,
                lower_in(Redemption.holder_address, person.addresses),
            )
            .values(holder_address=ZERO_ADDRESS)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        town_polls = select(Poll.id).where(Poll.municipality_id == person.municipality_id)
        counts["poll_electors"] = session.execute(
            update(PollElector)
            .where(PollElector.poll_id.in_(town_polls), lower_in(PollElector.address, person.addresses))
            .values(address=ZERO_ADDRESS)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    town_announcements = select(Announcement.id).where(Announcement.municipality_id == person.municipality_id)
    counts["announcement_deliveries"] = session.execute(
        delete(AnnouncementDelivery).where(
            AnnouncementDelivery.announcement_id.in_(town_announcements),
            func.lower(AnnouncementDelivery.email) == person.email,
        )
    ).rowcount  # type: ignore[attr-defined]
    counts["mail_opt_outs"] = session.execute(
        delete(MailOptOut).where(
            MailOptOut.municipality_id == person.municipality_id, func.lower(MailOptOut.email) == person.email
        )
    ).rowcount  # type: ignore[attr-defined]


def _erase_holder(session: Session, person: Person, counts: dict[str, int]) -> str:
    """The bidder rows and the holder row; returns what became of the holder."""
    counts["lot_bidders"] = 0
    if person.holder_id is None:
        return "none"
    holder = session.get(Holder, person.holder_id)
    assert holder is not None  # found by e-mail in this transaction
    keep = _elsewhere(session, person, holder)
    bidders = list(
        session.scalars(
            select(LotBidder.id)
            .join(Lot, Lot.id == LotBidder.lot_id)
            .where(Lot.municipality_id == person.municipality_id, LotBidder.holder_id == holder.id)
        )
    )
    if bidders:
        values: dict[str, object] = {
            "prefecture": "",
            "card_customer": None,
            "card_setup_session": None,
            "card_payment_method": None,
        }
        if keep:
            values["holder_id"] = _tombstone(session)
        session.execute(
            update(LotBidder)
            .where(LotBidder.id.in_(bidders))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    counts["lot_bidders"] = len(bidders)
    if keep:
        return "kept"
    counts["sign_in_tokens"] = session.execute(delete(SignInToken).where(SignInToken.holder_id == holder.id)).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(Holder)
        .where(Holder.id == holder.id)
        .values(email=pseudonym())
        .execution_options(synchronize_session=False)
    )
    return "pseudonymised"


def _erase_analytics(session: Session, person: Person, holder: str, now: datetime, counts: dict[str, int]) -> None:
    people = list(
        session.scalars(
            select(AnalyticsPerson.id).where(
                AnalyticsPerson.municipality_id == person.municipality_id, AnalyticsPerson.email == person.email
            )
        )
    )
    counts["analytics_addresses"] = (
        session.execute(
            delete(AnalyticsPersonAddress).where(
                AnalyticsPersonAddress.municipality_id == person.municipality_id,
                AnalyticsPersonAddress.person_id.in_(people),
            )
        ).rowcount  # type: ignore[attr-defined]
        if people
        else 0
    )
    counts["analytics_people"] = (
        session.execute(
            update(AnalyticsPerson)
            .where(AnalyticsPerson.id.in_(people))
            .values(email=None, prefecture="", erased_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if people
        else 0
    )
    # Pending changes that name the person: this town's, and the deployment-wide ones when no
    # other town keeps them (those still matter there).
    towns = [AnalyticsChange.municipality_id == person.municipality_id]
    if holder != "kept":
        towns.append(AnalyticsChange.municipality_id.is_(None))
    keys = [(AnalyticsChange.kind == "email") & (AnalyticsChange.key == person.email)]
    if person.addresses:
        keys.append((AnalyticsChange.kind == "address") & AnalyticsChange.key.in_(sorted(person.addresses)))
    counts["analytics_changes"] = session.execute(delete(AnalyticsChange).where(or_(*towns), or_(*keys))).rowcount  # type: ignore[attr-defined]
    counts["data_requests"] = session.execute(
        update(DataRequest)
        .where(DataRequest.municipality_id == person.municipality_id, func.lower(DataRequest.email) == person.email)
        .values(email=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]


def erase(session: Session, municipality_id: int, email: str, now: datetime) -> Erased:
    """Erase what the town holds about `email` (module docstring), in the caller's transaction;
    raises `Unfinished` (nothing changed) while something of theirs is in progress."""
    lock_rollup(session)
    person = find_person(session, municipality_id, email)
    blocking = unfinished(session, person)
    if blocking:
        raise Unfinished(blocking)
    counts: dict[str, int] = {}
    drops = town_drop_ids(session, municipality_id)
    if drops:
        _erase_orders(session, person, drops, counts)
    _erase_activity(session, person, counts)
    holder = _erase_holder(session, person, counts)
    _erase_analytics(session, person, holder, now, counts)
    return Erased(counts=counts, holder=holder)
