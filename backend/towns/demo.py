"""The demo town a fresh `furusato run` shows, so the pages have something real to sell.

A fictional town (星川町, Yamagata) with one resident-card drop: 1,000 cards at ¥1,000,
first come first served, at most 5 per person, demo payments on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.core import audit
from backend.core.config import Settings
from backend.sales.drops import DropTerms, create_card_drop
from backend.sales.models import Drop
from backend.staff.members import add_member, member_by_email
from backend.towns.models import Municipality
from minting.chains import Chain

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


def seed_demo_owner(session: Session, town: Municipality) -> None:
    """The demo town's owner (`DEMO_OWNER_EMAIL`), unless that address is already staff."""
    if member_by_email(session, DEMO_OWNER_EMAIL) is not None:
        return
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


def demo_owner_notice(settings: Settings) -> str:
    """Where to sign in as the demo owner and where the code's mail lands (never the code)."""
    return (
        f"[demo] town console: {settings.public_url}/console/ - sign in as {DEMO_OWNER_EMAIL}; "
        f"the code mail is written to {settings.data_dir / 'mail'}/ (a new .eml, its path printed then)"
    )
