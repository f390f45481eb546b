"""The demo town a fresh `furusato run` shows, so the pages have something real to sell.

A fictional town (星川町, Yamagata) with one resident-card drop: 1,000 cards at ¥1,000,
first come first served, at most 5 per person, demo payments on; and one park, 星川中央公園,
whose naming right is up for auction at once (open for five days from the first start, the
term running three years from then, so the demo's winner can propose a name straight away).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.core import audit
from backend.core.config import Settings
from backend.core.db import session_scope
from backend.sales.drops import DropTerms, create_card_drop
from backend.sales.models import Drop
from backend.staff.members import add_member, member_by_email
from backend.towns.models import Municipality
from minting.chains import Chain
from minting.deploy import Manifest

DEMO_TOWN = {
    "slug": "hoshikawa",
    "name_ja": "星川町",
    "name_en": "Hoshikawa Town",
    "prefecture": "06",
    "description_ja": (
        "月山のふもと、星のよく見える山形の小さな町（架空の町です）。デジタル住民票で、遠くからでも町の一員に。"
    ),
    "description_en": (
        "A small town in Yamagata at the foot of Mt. Gassan, known for its starry skies (a fictional town). "
        "With a digital resident card you belong to the town from wherever you live."
    ),
}

#: The demo town's owner, seeded so the console can be tried at once (its code goes to data_dir/mail).
DEMO_OWNER_EMAIL = "owner@hoshikawa.example"

#: The demo park and its lot: an auction open from the first start for this long, a term of
#: three years from then, bids from ¥10,000 (steps: the default rule).
DEMO_PARK = {
    "name_ja": "星川中央公園",
    "name_en": "Hoshikawa Central Park",
    "description_ja": "町の真ん中にある、桜の広場と小さな池の公園（架空の公園です）。命名権は3年間です。",
    "description_en": (
        "A park in the middle of town with a cherry-blossom lawn and a small pond (a fictional park). "
        "The naming right runs for three years."
    ),
    "location_ja": "星川町大字本郷 1-2",
    "latitude": 38.5512,
    "longitude": 140.0138,
}
DEMO_AUCTION_DAYS = 5
DEMO_TERM_DAYS = 3 * 365
DEMO_RESERVE_JPY = 10_000

DEMO_SUPPLY = 1_000
DEMO_PRICE_JPY = 1_000
DEMO_LIMIT = 5


def demo_drop_terms(now: datetime, supply: int = DEMO_SUPPLY) -> DropTerms:
    return DropTerms(
        title_ja="星川町 デジタル住民票 第1期",
        title_en="Hoshikawa digital resident card, first issue",
        description_ja=f"先着{supply:,}枚。ご購入いただいた番号が、あなたの住民番号になります。",
        description_en=f"{supply:,} cards, first come first served. The number on your card is your resident number.",
        supply=supply,
        price_jpy=DEMO_PRICE_JPY,
        price_wei=Web3.to_wei(1, "milliether"),
        per_buyer_limit=DEMO_LIMIT,
        starts_at=now,
    )


def seed_demo_town(session: Session) -> Municipality:
    """Create the demo town unless it exists (idempotent)."""
    town = session.scalar(select(Municipality).where(Municipality.slug == DEMO_TOWN["slug"]))
    if town is None:
        town = Municipality(**DEMO_TOWN)
        session.add(town)
        session.flush()
    return town


def seed_demo(
    session: Session, chain: Chain, card_contract: str, admin: LocalAccount, supply: int = DEMO_SUPPLY
) -> tuple[Municipality, Drop]:
    """The demo town and its card drop on this chain (each created only if missing)."""
    town = seed_demo_town(session)
    drop = session.scalar(
        select(Drop).where(Drop.municipality_id == town.id, Drop.contract == Web3.to_checksum_address(card_contract))
    )
    if drop is None:
        drop = create_card_drop(session, chain, card_contract, admin, town, demo_drop_terms(datetime.now(UTC), supply))
    return town, drop


def seed_demo_park(
    sessions: sessionmaker[Session], chain: Chain, manifest: Manifest, admin: LocalAccount, now: datetime | None = None
) -> int | None:
    """The demo park and its lot, created on chain like any other (each only if missing: a
    restart adds nothing); returns the lot's id, or None if the park already has a lot.

    Its own transactions, after the demo town is committed: the lot's `createLot` goes through
    the exactly-once sender, which writes in sessions of its own. Not in the audit log (no
    staff member made them; `lots.created_by` is null)."""
    # Imported here: backend.naming reaches backend.runtime, which imports this module.
    from backend.naming.chain import NamingChain
    from backend.naming.lots import LotChain, new_lot
    from backend.naming.models import Lot, Park
    from backend.naming.parks import new_park
    from backend.naming.staff_schemas import LotCreate, ParkCreate
    from backend.towns.contracts import contract_tree, rights_contract_of
    from minting.once import OnceSender

    start = (now or datetime.now(UTC)).replace(microsecond=0)
    with session_scope(sessions) as session:
        town = seed_demo_town(session)
        park = session.scalar(select(Park).where(Park.municipality_id == town.id, Park.name_ja == DEMO_PARK["name_ja"]))
        if park is None:
            park = new_park(session, town, ParkCreate.model_validate(DEMO_PARK))
        if session.scalar(select(Lot.id).where(Lot.park_id == park.id)) is not None:
            return None
        terms = LotCreate(
            auction_start=start,
            auction_end=start + timedelta(days=DEMO_AUCTION_DAYS),
            term_start=start,
            term_end=start + timedelta(days=DEMO_TERM_DAYS),
            reserve_jpy=DEMO_RESERVE_JPY,
        )
        contract = rights_contract_of(town, manifest)
        lot = new_lot(session, park, terms, chain_id=chain.chain_id, contract=contract, created_by=None, now=start)
        lot_id = lot.id
    naming = NamingChain(OnceSender(sessions, chain.w3, admin, timeout=20.0), contract_tree()["NamingRights"].abi)
    LotChain(sessions, naming).create(lot_id)  # a slow node: the settle loop finishes it
    return lot_id


def seed_demo_owner(session: Session, town: Municipality) -> int:
    """The demo town's owner (`DEMO_OWNER_EMAIL`), unless that address is already staff; the
    member's id."""
    existing = member_by_email(session, DEMO_OWNER_EMAIL)
    if existing is not None:
        return existing.id
    member = add_member(session, town, DEMO_OWNER_EMAIL, "owner")
    audit.record(
        session,
        town_id=town.id,
        actor="seed:demo",
        action="staff.add",
        target_type="staff",
        target_id=str(member.id),
        after={"email": DEMO_OWNER_EMAIL, "role": "owner"},
    )
    return member.id


def seed_demo_town_side(session: Session, town: Municipality, owner_id: int, settings: Settings) -> Path:
    """What a card does after purchase, in the demo: the hot spring, its monthly benefit, a
    spot, the shop phone's link (a new one each start, in a file), an announcement and polls.
    Returns the link file's path."""
    # Imported here: these areas reach backend.runtime, which imports this module.
    from backend.benefits.demo import seed_demo_shop
    from backend.polls.demo import seed_demo_posts

    now = datetime.now(UTC)
    link_file = seed_demo_shop(session, town, owner_id, settings.data_dir, settings.public_url, now)
    seed_demo_posts(session, town, owner_id, now)
    return link_file


def demo_shop_notice(settings: Settings, link_file: Path) -> str:
    """How to open the shop's verifier as the demo hot spring (the link's file, never the link)."""
    return (
        f"[demo] shop verifier: open the link in {link_file} on a phone (or in a browser) to check passes as "
        f"星川温泉 ほしの湯 at {settings.public_url}/verify/ - single use, valid 24 h, a new one at each start"
    )


def demo_owner_notice(settings: Settings) -> str:
    """Where to sign in as the demo owner and where the code's mail lands (never the code)."""
    return (
        f"[demo] town console: {settings.public_url}/console/ - sign in as {DEMO_OWNER_EMAIL}; "
        f"the code mail is written to {settings.data_dir / 'mail'}/ (a new .eml, its path printed then)"
    )
