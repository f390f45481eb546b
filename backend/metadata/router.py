"""Token metadata: `GET /api/v1/tokens/{contract}/{token_id}` and `…/{token_id}/image.svg`.

The card contract's tokenURI(id) is `{public_url}/api/v1/tokens/{contract}/{id}` (set at
deployment), so this is what wallets and marketplaces fetch. Path parts are taken as plain
strings and checked here, so a malformed address or id answers with our own error codes
(`invalid_contract`, `invalid_token_id`) rather than a bare validation error; a well-formed
reference to a card that does not exist (yet) is `token_not_found`. Successful answers are
cacheable for a while: an issued card's metadata does not change.
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

router = APIRouter(prefix="/api/v1/tokens", tags=["metadata"])

CACHE_CONTROL = "public, max-age=300"
_ERRORS = error_responses(
    404,
    422,
    codes={
        404: "token_not_found: unknown contract, or the card is not issued (yet)",
        422: "invalid_contract / invalid_token_id: not an address, not a decimal id",
    },
)
#: The checks of `_issued_card`, stated in the document; only stated (not validated by FastAPI),
#: so that a malformed part keeps its own error code.
Contract = Annotated[str, Path(json_schema_extra={"pattern": ADDRESS_PATTERN}, description="0x address, any case")]
TokenId = Annotated[str, Path(json_schema_extra={"pattern": "^[0-9]{1,78}$"}, description="decimal token id")]


def _issued_card(runtime: RuntimeDep, contract: str, token_id: str) -> CardFacts:
    address = parse_contract(contract)
    if address is None:
        raise ApiError(422, "invalid_contract", "The contract must be a 0x-prefixed 20-byte hex address.")
    number = parse_token_id(token_id)
    if number is None:
        raise ApiError(422, "invalid_token_id", "The token id must be a non-negative decimal integer.")
    with runtime.sessions() as session:
        facts = find_card(session, runtime.manifest.chain_id, address, number)
    if facts is None:
        raise ApiError(404, "token_not_found", "No issued card with this id in this contract.")
    return facts


@router.get("/{contract}/{token_id}", responses=_ERRORS)
def get_token_metadata(contract: Contract, token_id: TokenId, runtime: RuntimeDep) -> JSONResponse:
    """ERC-721 metadata of an issued card: name, description, image, town page, attributes."""
    facts = _issued_card(runtime, contract, token_id)
    body = token_metadata(facts, runtime.settings.public_url)
    return JSONResponse(body, headers={"Cache-Control": CACHE_CONTROL})


@router.get("/{contract}/{token_id}/image.svg", response_class=Response, responses=_ERRORS)
def get_token_image(contract: Contract, token_id: TokenId, runtime: RuntimeDep) -> Response:
    """The card's picture, an SVG with its number and a QR code to the town's page."""
    facts = _issued_card(runtime, contract, token_id)
    svg = card_svg(facts, town_url(runtime.settings.public_url, facts.town_slug))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": CACHE_CONTROL})
