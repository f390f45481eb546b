"""Metadata of a park naming right (a NamingRights token): what its tokenURI answers.

The contract's tokenURI(id) is `{public_url}/api/v1/tokens/{contract}/{id}`, as for cards;
the router asks here first. A right is public once awarded (the token exists on chain). The
current name is read from the chain on every request (`currentName`), so when the contract
emits ERC-4906 `MetadataUpdate` on an approval, a marketplace that refetches sees the new
name at once; the answer is cacheable only briefly for the same reason. Nothing about the
winner is in it (no address, no pseudonym: the owner is on chain for anyone to read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.db import utcnow
from backend.metadata.card import image_url
from backend.metadata.image import COLOUR, DEFAULT_COLOUR, FONT, text_line
from backend.metadata.lookup import MAX_TOKEN_ID
from backend.naming.models import Lot, NameProposal, Park
from backend.naming.park_view import aware, rights
from backend.naming.sign import park_url, term_text
from backend.runtime import Runtime
from backend.towns.models import Municipality
from minting.errors import first_line

log = logging.getLogger("furusato.metadata")

#: Short: the name changes when one is approved and again when the term ends.
CACHE_CONTROL = "public, max-age=60"
SIZE = 600


@dataclass(frozen=True)
class RightFacts:
    """Everything public about one naming right."""

    contract: str
    token_id: int
    lot_id: int
    park_id: int
    park_ja: str
    park_en: str
    town_ja: str
    town_en: str
    default_name: str
    current_name: str
    term_start: datetime
    term_end: datetime
    brand_colour: str


def find_right(runtime: Runtime, session: Session, contract: str, token_id: int) -> RightFacts | None:
    """The facts of right `token_id` of `contract` (checksummed), if it was awarded."""
    if token_id > MAX_TOKEN_ID:
        return None
    chain_id = runtime.manifest.chain_id
    row = session.execute(
        select(Lot, Park, Municipality)
        .join(Park, Park.id == Lot.park_id)
        .join(Municipality, Municipality.id == Lot.municipality_id)
        .where(Lot.chain_id == chain_id, Lot.contract == contract, Lot.chain_lot_id == token_id)
    ).first()
    if row is None:
        return None
    lot, park, town = row
    try:
        handle = rights(runtime, contract)
        handle.functions.ownerOf(token_id).call()  # reverts until the right is awarded
        current = str(handle.functions.currentName(token_id).call())
    except Exception as exc:
        if lot.phase != "awarded" or not lot.award_tx_hash:
            return None
        log.warning("right %s/%s not read from the chain: %s", contract, token_id, first_line(exc))
        current = _database_name(session, lot, park)
    return RightFacts(
        contract=contract,
        token_id=token_id,
        lot_id=lot.id,
        park_id=park.id,
        park_ja=park.name_ja,
        park_en=park.name_en,
        town_ja=town.name_ja,
        town_en=town.name_en,
        default_name=park.name_ja,
        current_name=current,
        term_start=aware(lot.term_start),
        term_end=aware(lot.term_end),
        brand_colour=town.brand_colour,
    )


def _database_name(session: Session, lot: Lot, park: Park) -> str:
    """The name now as the database knows it (the node could not be reached)."""
    now = utcnow()
    approved = session.scalar(
        select(NameProposal.name).where(NameProposal.lot_id == lot.id, NameProposal.state == "approved")
    )
    running = aware(lot.term_start) <= now < aware(lot.term_end)
    return approved if approved is not None and running else park.name_ja


def right_name(facts: RightFacts) -> str:
    """e.g. 星川中央公園 命名権 2026–2029 (the park's default name: the token is the right, not the name)."""
    return f"{facts.park_ja} 命名権 {facts.term_start.year}–{facts.term_end.year}"


def right_description(facts: RightFacts) -> str:
    term = term_text(facts.term_start, facts.term_end)
    ja = (
        f"{facts.town_ja}「{facts.park_ja}」の命名権（期間 {term}）。現在の名称は「{facts.current_name}」。"
        "名前を提案できるのは最初の落札者だけで、町の承認を経て期間中その名前になります。"
    )
    en = (
        f"Naming right of {facts.park_en or facts.park_ja}, {facts.town_en or facts.town_ja} "
        f"({facts.term_start:%Y-%m-%d} to {facts.term_end:%Y-%m-%d}). Current name: {facts.current_name}. "
        "Only the primary winner may propose the name; once the town approves it, it is the park's name for the term."
    )
    return f"{ja}\n\n{en}"


def right_metadata(facts: RightFacts, public_url: str) -> dict[str, Any]:
    """The ERC-721 metadata document; dates are unix seconds (`display_type: date`)."""
    attributes: list[dict[str, Any]] = [
        {"trait_type": "Park", "value": facts.park_en or facts.park_ja},
        {"trait_type": "Town", "value": facts.town_en or facts.town_ja},
        {"trait_type": "Current name", "value": facts.current_name},
        {"trait_type": "Default name", "value": facts.default_name},
        {"trait_type": "Term start", "value": int(facts.term_start.timestamp()), "display_type": "date"},
        {"trait_type": "Term end", "value": int(facts.term_end.timestamp()), "display_type": "date"},
    ]
    return {
        "name": right_name(facts),
        "description": right_description(facts),
        "image": image_url(public_url, facts.contract, facts.token_id),
        "external_url": park_url(public_url, facts.park_id),
        "attributes": attributes,
    }


def right_svg(facts: RightFacts) -> str:
    """The right's picture: a square SVG with the town, the name now, the park's default name
    and the term (self-contained: no fonts, images or scripts fetched)."""
    colour = facts.brand_colour if COLOUR.fullmatch(facts.brand_colour) else DEFAULT_COLOUR
    label = f"{facts.park_ja} 命名権"
    named = facts.current_name != facts.default_name
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" '
        f'viewBox="0 0 {SIZE} {SIZE}" font-family={quoteattr(FONT)} role="img" aria-label={quoteattr(label)}>',
        f"<title>{escape(label)}</title>",
        f'<rect width="{SIZE}" height="{SIZE}" rx="28" fill="{colour}"/>',
        f'<rect x="24" y="24" width="{SIZE - 48}" height="{SIZE - 48}" rx="20" fill="#f7f3ea"/>',
        text_line("公園命名権 · PARK NAMING RIGHT", 84, 20, weight=700, fill="#8a6d3b"),
        text_line(facts.town_ja, 140, 30, weight=700),
        text_line(facts.current_name, 290, 64, weight=700),
        text_line(f"（{facts.default_name}）" if named else facts.park_en, 350, 24, fill="#5b6475"),
        text_line("命名権の期間 · TERM", 450, 18, fill="#8a6d3b"),
        text_line(term_text(facts.term_start, facts.term_end), 492, 26, weight=700),
        "</svg>",
    ]
    return "".join(parts)
