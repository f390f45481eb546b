"""Token metadata: `GET /api/v1/tokens/{contract}/{token_id}` and `…/{token_id}/image.svg`.

The card contract's tokenURI(id) is `{public_url}/api/v1/tokens/{contract}/{id}` (set at
deployment), so this is what wallets and marketplaces fetch. Path parts are taken as plain
strings and checked here, so a malformed address or id answers with our own error codes
(`invalid_contract`, `invalid_token_id`) rather than a bare validation error; a well-formed
reference to a card that does not exist (yet) is `token_not_found`. Successful answers are
cacheable for a while: an issued card's metadata does not change. A park naming right's
(`backend.metadata.naming`) is answered by the same routes, with its current name read from
the chain and cacheable only briefly.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import ADDRESS_PATTERN
from backend.metadata.card import token_metadata, town_url
from backend.metadata.image import card_svg
from backend.metadata.lookup import CardFacts, find_card, parse_contract, parse_token_id
from backend.metadata.naming import CACHE_CONTROL as RIGHT_CACHE_CONTROL
from backend.metadata.naming import RightFacts, find_right, right_metadata, right_svg

router = APIRouter(prefix="/api/v1/tokens", tags=["metadata"])

CACHE_CONTROL = "public, max-age=300"
_ERRORS = error_responses(
    404,
    422,
    codes={
        404: "token_not_found: unknown contract, or the card (naming right) is not issued (awarded) yet",
        422: "invalid_contract / invalid_token_id: not an address, not a decimal id",
    },
)
#: The checks of `_issued_card`, stated in the document; only stated (not validated by FastAPI),
#: so that a malformed part keeps its own error code.
Contract = Annotated[str, Path(json_schema_extra={"pattern": ADDRESS_PATTERN}, description="0x address, any case")]
TokenId = Annotated[str, Path(json_schema_extra={"pattern": "^[0-9]{1,78}$"}, description="decimal token id")]


def _issued_token(runtime: RuntimeDep, contract: str, token_id: str) -> CardFacts | RightFacts:
    """An issued card, or an awarded park naming right (asked first: its contract is not a card's)."""
    address = parse_contract(contract)
    if address is None:
        raise ApiError(422, "invalid_contract", "The contract must be a 0x-prefixed 20-byte hex address.")
    number = parse_token_id(token_id)
    if number is None:
        raise ApiError(422, "invalid_token_id", "The token id must be a non-negative decimal integer.")
    with runtime.sessions() as session:
        facts: CardFacts | RightFacts | None = find_right(runtime, session, address, number)
        if facts is None:
            facts = find_card(session, runtime.manifest.chain_id, address, number)
    if facts is None:
        raise ApiError(404, "token_not_found", "No issued card with this id in this contract.")
    return facts


@router.get("/{contract}/{token_id}", responses=_ERRORS)
def get_token_metadata(contract: Contract, token_id: TokenId, runtime: RuntimeDep) -> JSONResponse:
    """ERC-721 metadata of an issued card (name, description, image, town page, attributes), or
    of a park naming right (park, term, current name read from the chain, default name)."""
    facts = _issued_token(runtime, contract, token_id)
    if isinstance(facts, RightFacts):
        right = right_metadata(facts, runtime.settings.public_url)
        return JSONResponse(right, headers={"Cache-Control": RIGHT_CACHE_CONTROL})
    body = token_metadata(facts, runtime.settings.public_url)
    return JSONResponse(body, headers={"Cache-Control": CACHE_CONTROL})


@router.get("/{contract}/{token_id}/image.svg", response_class=Response, responses=_ERRORS)
def get_token_image(contract: Contract, token_id: TokenId, runtime: RuntimeDep) -> Response:
    """The card's picture, an SVG with its number and a QR code to the town's page (a naming
    right's: the name now, the park and the term)."""
    facts = _issued_token(runtime, contract, token_id)
    if isinstance(facts, RightFacts):
        return Response(right_svg(facts), media_type="image/svg+xml", headers={"Cache-Control": RIGHT_CACHE_CONTROL})
    svg = card_svg(facts, town_url(runtime.settings.public_url, facts.town_slug))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": CACHE_CONTROL})
