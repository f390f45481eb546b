"""A person with a record in every table a town keeps about people (the APPI tests' world).

Rows are inserted the way their writers store them (no chain traffic needed: the indexer's
`token_owners`/`token_transfers` rows are written directly), on an app over an eth-tester
chain with the demo town "hoshikawa". `Person` carries the e-mail and every address the
tests grep the town's answers for after an erasure.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from eth_account import Account
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics.changes import mark_email
from backend.benefits.models import Benefit, CheckIn, Redemption, Shop, Spot
from backend.core.db import session_scope, utcnow
from backend.holders.models import Holder
from backend.lottery.models import Lottery, LotteryApplication
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
from backend.runtime import Runtime
from backend.sales.models import BuyerCount, Order, OrderCard
from backend.staff.models import StaffMember
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow, TokenTransferRow
from tests.factories import add_plain_drop, staff_session
from tests.polls.polls_world import voter

TOWN = "hoshikawa"
STAFF = f"/api/v1/staff/towns/{TOWN}"


@dataclass(frozen=True)
class Person:
    email: str
    holder_id: int
    #: Custodial address (as stored: checksummed).
    custodial: str
    #: The wallet that paid an order, and the wallet a custodial card was moved to.
    wallet: str
    moved_to: str
    headers: dict[str, str]
    order_ids: tuple[str, ...]
    drop_id: int
    contract: str

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.custodial, self.wallet, self.moved_to)


def town_id(sessions: sessionmaker[Session], slug: str = TOWN) -> int:
    with sessions() as session:
        town = session.scalar(select(Municipality).where(Municipality.slug == slug))
        assert town is not None
        return town.id


def staff_id(sessions: sessionmaker[Session], slug: str = TOWN) -> int:
    email, _token, _csrf = staff_session(sessions, slug, "owner")
    with sessions() as session:
        member = session.scalar(select(StaffMember).where(StaffMember.email == email))
        assert member is not None
        return member.id


def _order(
    session: Session, drop_id: int, email: str, *, recipient: str, holder_id: int | None, wallet: str | None
) -> str:
    order_id = f"ord_appi{uuid.uuid4().hex[:20]}"
    now = utcnow()
    session.add(
        Order(
            id=order_id,
            drop_id=drop_id,
            quantity=1,
            email=email,
            prefecture="27",
            wallet_address=wallet,
            campaign_code="poster-1",
            payment_method="wallet" if wallet else "demo",
            status="minted",
            token_hash=secrets.token_hex(32),
            amount_jpy=3000,
            recipient=recipient,
            holder_id=holder_id,
            payment_data=f'{{"vouchers": [{{"to": "{recipient}"}}]}}',
            expires_at=now,
            paid_at=now,
            minted_at=now,
        )
    )
    return order_id


def make_person(runtime: Runtime, *, email: str | None = None, slug: str = TOWN) -> Person:
    """A holder of the town with two cards (one bought with a wallet, one custodial and
    moved to a wallet), a check-in by e-mail sign-in and one by wallet, a benefit used, a
    vote, a naming-right bid, a settled lottery application, an announcement mailed to them
    and their opt-out, and a change marked for the rollup."""
    sessions = runtime.sessions
    email = email or f"appi-{uuid.uuid4().hex[:10]}@example.jp"
    signed = voter(runtime, email)
    wallet = Account.create().address
    moved_to = Account.create().address
    tid = town_id(sessions, slug)
    member = staff_id(sessions, slug)
    contract = Account.create().address
    drop_id = add_plain_drop(sessions, tid, contract=contract, chain_id=runtime.manifest.chain_id)
    chain_id = runtime.manifest.chain_id
    lottery_drop = add_plain_drop(sessions, tid, contract=contract, chain_id=chain_id, sale_mode="lottery")
    now = utcnow()
    with session_scope(sessions) as session:
        holder = session.scalar(select(Holder).where(Holder.email == email))
        assert holder is not None
        custodial_order = _order(session, drop_id, email, recipient=holder.address, holder_id=holder.id, wallet=None)
        wallet_order = _order(session, drop_id, email, recipient=wallet, holder_id=None, wallet=wallet)
        session.flush()
        session.add_all(
            [
                OrderCard(order_id=custodial_order, token_id=1, drop_id=drop_id),
                OrderCard(order_id=wallet_order, token_id=2, drop_id=drop_id),
                TokenOwnerRow(chain_id=chain_id, contract=contract, token_id=1, owner=moved_to, block_number=2),
                TokenOwnerRow(chain_id=chain_id, contract=contract, token_id=2, owner=wallet, block_number=1),
                TokenTransferRow(
                    chain_id=chain_id,
                    contract=contract,
                    token_id=1,
                    from_address=holder.address,
                    to_address=moved_to,
                    block_number=2,
                    block_hash="0x" + secrets.token_hex(32),
                    tx_hash="0x" + secrets.token_hex(32),
                    log_index=0,
                ),
                BuyerCount(drop_id=drop_id, buyer=f"email:{email}", count=2),
                BuyerCount(drop_id=drop_id, buyer=f"wallet:{wallet.lower()}", count=1),
            ]
        )
        spot = Spot(municipality_id=tid, code=f"sp{uuid.uuid4().hex[:10]}", name_ja="星川の滝", name_en="Falls")
        shop = Shop(municipality_id=tid, name_ja="星川温泉", name_en="Hoshikawa Onsen")
        session.add_all([spot, shop])
        session.flush()
        benefit = Benefit(
            municipality_id=tid, shop_id=shop.id, title_ja="入浴無料", title_en="Free bath", period="month"
        )
        session.add(benefit)
        session.flush()
        day = now.strftime("%Y-%m-%d")
        session.add_all(
            [
                CheckIn(
                    spot_id=spot.id,
                    municipality_id=tid,
                    day=day,
                    visitor=f"holder:{holder.id}",
                    holder_id=holder.id,
                    address=holder.address.lower(),
                ),
                CheckIn(
                    spot_id=spot.id,
                    municipality_id=tid,
                    day=day,
                    visitor=f"wallet:{moved_to.lower()}",
                    address=moved_to.lower(),
                ),
                Redemption(
                    benefit_id=benefit.id,
                    municipality_id=tid,
                    shop_id=shop.id,
                    drop_id=drop_id,
                    chain_id=chain_id,
                    contract=contract,
                    token_id=2,
                    period_key=now.strftime("%Y-%m"),
                    holder_address=wallet,
                ),
            ]
        )
        poll = Poll(
            municipality_id=tid,
            question_ja="新しい公園の名前は？",
            question_en="Park name?",
            status="closed",
            opens_at=now - timedelta(days=2),
            closes_at=now - timedelta(days=1),
            created_by=member,
        )
        session.add(poll)
        session.flush()
        option = PollOption(poll_id=poll.id, position=1, label_ja="星の丘", label_en="Star Hill")
        session.add(option)
        session.flush()
        session.add_all(
            [
                PollElector(
                    poll_id=poll.id,
                    chain_id=chain_id,
                    contract=contract,
                    token_id=1,
                    drop_id=drop_id,
                    address=holder.address.lower(),
                ),
                PollVote(
                    poll_id=poll.id,
                    chain_id=chain_id,
                    contract=contract,
                    token_id=1,
                    option_id=option.id,
                    receipt=secrets.token_hex(32),
                    voted_at=now - timedelta(days=1, hours=12),
                ),
            ]
        )
        park = Park(municipality_id=tid, name_ja="星川公園", name_en="Hoshikawa Park")
        session.add(park)
        session.flush()
        lot = Lot(
            park_id=park.id,
            municipality_id=tid,
            term_start=now + timedelta(days=30),
            term_end=now + timedelta(days=400),
            auction_start=now - timedelta(days=3),
            auction_end=now - timedelta(days=2),
            ends_at=now - timedelta(days=2),
            reserve_jpy=1000,
            phase="unsold",
            chain_id=chain_id,
            contract="0x" + "cd" * 20,
            chain_state="ready",
            chain_lot_id=1,
        )
        session.add(lot)
        session.flush()
        bidder = LotBidder(
            lot_id=lot.id,
            holder_id=holder.id,
            number=1,
            prefecture="27",
            payment_method="card",
            card_customer=f"cus_{uuid.uuid4().hex[:12]}",
        )
        session.add(bidder)
        session.flush()
        session.add(
            Bid(
                lot_id=lot.id,
                bidder_id=bidder.id,
                seq=1,
                amount_jpy=1000,
                placed_at=now - timedelta(days=2, hours=1),
                ends_at=now - timedelta(days=2),
                idempotency_key=uuid.uuid4().hex,
                prev_hash="0" * 64,
                entry_hash=secrets.token_hex(32),
            )
        )
        session.add(
            Lottery(
                drop_id=lottery_drop,
                algorithm="sha256-rank-v1",
                stage="settled",
                server_seed_enc=b"x",
                key_id="k",
                seed_commitment="0" * 64,
            )
        )
        session.flush()
        session.add(
            LotteryApplication(
                id=f"app_{uuid.uuid4().hex[:20]}",
                drop_id=lottery_drop,
                entry_id=uuid.uuid4().hex,
                email=email,
                prefecture="27",
                quantity=1,
                wallet_address=wallet,
                token_hash=secrets.token_hex(32),
                token_enc=b"x",
                outcome="waitlisted",
                rank=3,
            )
        )
        announcement = Announcement(
            municipality_id=tid,
            title_ja="秋祭り",
            title_en="Autumn festival",
            body_ja="本文",
            body_en="Body",
            status="sent",
            created_by=member,
        )
        session.add(announcement)
        session.flush()
        session.add_all(
            [
                AnnouncementDelivery(announcement_id=announcement.id, email=email, status="sent", sent_at=now),
                MailOptOut(municipality_id=tid, email=email),
            ]
        )
        mark_email(session, email, tid)
        orders = (custodial_order, wallet_order)
        holder_id = holder.id
        custodial = holder.address
    return Person(
        email=email,
        holder_id=holder_id,
        custodial=custodial,
        wallet=wallet,
        moved_to=moved_to,
        headers=signed.headers,
        order_ids=orders,
        drop_id=drop_id,
        contract=contract,
    )
