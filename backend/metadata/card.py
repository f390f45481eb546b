"""ERC-721 metadata JSON for a card (the format OpenSea and wallets read from tokenURI).

Built from `CardFacts` alone, so it cannot leak anything about the buyer. Everything in it
is stable once the card is issued: marketplaces cache metadata for a long time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from backend.metadata.lookup import CardFacts
from backend.metadata.prefectures import prefecture_name


def town_url(public_url: str, slug: str) -> str:
    """The town's page: where the card's QR code and `external_url` lead."""
    return f"{public_url.rstrip('/')}/?town={quote(slug, safe='')}"


def metadata_url(public_url: str, contract: str, token_id: int) -> str:
    """What the contract's tokenURI(token_id) points at (see `minting.deploy`)."""
    return f"{public_url.rstrip('/')}/api/v1/tokens/{contract}/{token_id}"


def image_url(public_url: str, contract: str, token_id: int) -> str:
    return f"{metadata_url(public_url, contract, token_id)}/image.svg"


def card_name(facts: CardFacts) -> str:
    """The card's title, e.g. 星川町 デジタル住民票 第1期 #0042 (the town is not repeated if the title names it)."""
    title = facts.title_ja if facts.title_ja.startswith(facts.town_ja) else f"{facts.town_ja} {facts.title_ja}"
    return f"{title} #{facts.number}"


def card_description(facts: CardFacts) -> str:
    """Japanese first (the towns' own language), then English."""
    ja = f"{facts.town_ja}のデジタル住民票（{facts.title_ja}）、住民番号 {facts.number}。{facts.description_ja}"
    en = (
        f"Digital resident card of {facts.town_en or facts.town_ja} ({facts.title_en or facts.title_ja}), "
        f"resident number {facts.number}. {facts.description_en}"
    )
    return f"{ja.strip()}\n\n{en.strip()}"


def token_metadata(facts: CardFacts, public_url: str) -> dict[str, Any]:
    """The metadata document; dates are unix seconds, as `display_type: date` expects."""
    attributes: list[dict[str, Any]] = [
        {"trait_type": "Town", "value": facts.town_en or facts.town_ja},
        {"trait_type": "Series", "value": facts.title_en or facts.title_ja},
        {"trait_type": "Number", "value": facts.token_id, "display_type": "number"},
        {"trait_type": "Issue date", "value": int(facts.issued_at.timestamp()), "display_type": "date"},
    ]
    prefecture = prefecture_name(facts.town_prefecture, english=True)
    if prefecture is not None:
        attributes.append({"trait_type": "Prefecture", "value": prefecture})
    return {
        "name": card_name(facts),
        "description": card_description(facts),
        "image": image_url(public_url, facts.contract, facts.token_id),
        "external_url": town_url(public_url, facts.town_slug),
        "attributes": attributes,
    }
