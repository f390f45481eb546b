"""Holders (walletless supporters): sign in by emailed link, see your cards, move one out.

    POST /api/v1/holders/sign-in                      {"email"} → 202, a link is mailed
    POST /api/v1/holders/session                      {"token"} → a session token
    GET  /api/v1/holders/me                           → email and custodial address
    GET  /api/v1/holders/me/cards                     → the holder's cards
    POST /api/v1/holders/me/cards/{token_id}/move     {"to_address"} → 202 with the tx hash

`/me…` take `Authorization: Bearer <session_token>`. Sign-in answers the same whether or not
the address belongs to a holder (no account enumeration), and sends the mail after the
response. Its rate limits (per email, per client IP) live in this process: see
`backend.ratelimit`. Behind a reverse proxy, run uvicorn with `--proxy-headers` so
the client IP is the visitor's, not the proxy's.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy.orm import Session
from web3 import Web3

from backend.core import mail, ratelimit
from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import ADDRESS_SCHEMA, MAX_TOKEN_ID, Email, card_recipient
from backend.holders.cards import HeldCard, find_card, held_cards
from backend.holders.custody import KeyUnavailable, ensure_holder, normalise_email
from backend.holders.deps import Authorization, signed_in
from backend.holders.identity import OwnedCard, card_holder, cards_of
from backend.holders.models import Holder
from backend.holders.relay import NotInCustody, NotMinted, Relayer, RelayUnavailable
from backend.holders.signin import exchange_link, request_link
from backend.runtime import Runtime
from backend.towns.models import Municipality
from minting.errors import ContractReverted

router = APIRouter(prefix="/api/v1/holders", tags=["holders"])
log = logging.getLogger("furusato.holders")

#: Sign-in links a window may send: per address, and per client (limit, window seconds).
SIGN_IN_PER_EMAIL = (5, 600)
SIGN_IN_PER_IP = (20, 600)


# ── schemas ─────────────────────────────────────────────────────────────────


#: A same-site path a sign-in link returns to (`/lots/3`, `/parks/2?x=1`): one leading slash,
#: no scheme or host, no backslash, no spaces or control characters.
NEXT_PATTERN = r"^/([A-Za-z0-9\-._~!$&'()*+,;=:@?%][A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*)?$"


class SignInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Email
    create_account: bool = Field(
        default=False,
        strict=True,
        description="make a walletless account (a custodial address) for this address if it has none, "
        "e.g. to bid on a naming right; the answer is 202 either way",
    )
    next: Annotated[str, StringConstraints(strip_whitespace=False, max_length=200, pattern=NEXT_PATTERN)] | None = (
        Field(default=None, description="a path of this site the link returns to")
    )


class SignInAccepted(BaseModel):
    status: str = "sent"


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    token: str = Field(min_length=1, max_length=200)


class SessionCreated(BaseModel):
    #: Shown once; only its hash is stored.
    session_token: str
    expires_at: datetime
    email: str


class HolderMe(BaseModel):
    email: str
    #: The custodial address the server holds the key of (the key itself is never shown).
    address: str


class HeldCardPublic(BaseModel):
    chain_id: int
    contract: str
    token_id: int
    #: The resident number printed on the card (its token id).
    number: int
    drop_id: int
    title_ja: str
    title_en: str
    town_ja: str
    town_en: str
    status: str
    owner: str | None
    custodial: bool
    metadata_url: str
    image_url: str


class HeldCardsPage(BaseModel):
    items: list[HeldCardPublic]
    total: int


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to_address: str = Field(description="0x address, checksummed or all lower case", json_schema_extra=ADDRESS_SCHEMA)

    @field_validator("to_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return card_recipient(value)


class MoveAccepted(BaseModel):
    status: str
    tx_hash: str


#: EIP-7702: an ordinary account that delegates to code carries this prefix; it is a wallet.
DELEGATED_ACCOUNT_PREFIX = bytes.fromhex("ef0100")


def _is_contract(runtime: Runtime, address: str) -> bool:
    """True if `address` holds contract code. Moves use a plain transfer (no receiver hook), so
    a card sent to a contract that cannot pass it on (the card contract itself, say) is lost."""
    code = bytes(runtime.chain.w3.eth.get_code(Web3.to_checksum_address(address)))
    return bool(code) and not code.startswith(DELEGATED_ACCOUNT_PREFIX)


# ── per-app state: the relayer ──────────────────────────────


@dataclass
class HoldersState:
    relayer: Relayer


_state_lock = threading.Lock()


def holders_state(request: Request, runtime: RuntimeDep) -> HoldersState:
    """This app's relayer, made on first use (the runtime exists only by then)."""
    with _state_lock:
        state: HoldersState | None = getattr(request.app.state, "holders", None)
        if state is None:
            state = HoldersState(Relayer(runtime.chain, runtime.card_contract, runtime.settings, runtime.sessions))
            request.app.state.holders = state
    return state


StateDep = Annotated[HoldersState, Depends(holders_state)]


# ── helpers ─────────────────────────────────────────────────────────────────


def _public(card: HeldCard, public_url: str) -> HeldCardPublic:
    token_url = f"{public_url}/api/v1/tokens/{card.contract}/{card.token_id}"
    return HeldCardPublic(
        **asdict(card), number=card.token_id, metadata_url=token_url, image_url=f"{token_url}/image.svg"
    )


# ── routes ──────────────────────────────────────────────────────────────────


@router.post(
    "/sign-in",
    status_code=202,
    response_model=SignInAccepted,
    responses=error_responses(429, codes={429: "per address and per client"}),
)
def sign_in(body: SignInRequest, request: Request, runtime: RuntimeDep, background: BackgroundTasks) -> SignInAccepted:
    """Mail a one-time sign-in link (30 minutes) if a holder has this address (or, with
    `create_account`, a new one made now); 202 either way. With `next`, the link's page returns
    there once signed in (`/signin.html#token=…&next=/lots/3`)."""
    email = normalise_email(body.email)
    client_ip = request.client.host if request.client else "unknown"
    if not ratelimit.allow(
        runtime.sessions,
        (f"holders-sign-in:ip:{client_ip}", *SIGN_IN_PER_IP),
        (f"holders-sign-in:email:{email}", *SIGN_IN_PER_EMAIL),
    ):
        raise ApiError(429, "rate_limited", "Too many sign-in requests; please try again in a few minutes.")
    with runtime.sessions() as session:
        if body.create_account:
            ensure_holder(session, runtime.vault, email)
        issued = request_link(session, email, runtime.settings.public_url, datetime.now(UTC))
        session.commit()
    if issued is not None:
        holder, link = issued
        if body.next:
            link = f"{link}&next={quote(body.next, safe='/')}"
        background.add_task(mail.send_sign_in_link, runtime.settings, holder.email, link)
    return SignInAccepted()


@router.post(
    "/session",
    response_model=SessionCreated,
    responses=error_responses(400, codes={400: "invalid_link: unknown, used or expired"}),
)
def create_session(body: SessionRequest, runtime: RuntimeDep) -> SessionCreated:
    """Exchange a sign-in link's token (once) for a 30-day session token."""
    with runtime.sessions() as session:
        opened = exchange_link(session, body.token, datetime.now(UTC))
        if opened is None:
            session.rollback()
            raise ApiError(400, "invalid_link", "This sign-in link is invalid, used or expired; ask for a new one.")
        session.commit()
    return SessionCreated(session_token=opened.token, expires_at=opened.expires_at, email=opened.holder.email)


@router.get("/me", response_model=HolderMe, responses=error_responses(401))
def me(runtime: RuntimeDep, authorization: Authorization = None) -> HolderMe:
    with runtime.sessions() as session:
        holder = signed_in(session, authorization, datetime.now(UTC))
        return HolderMe(email=holder.email, address=holder.address)


@router.get("/me/cards", response_model=HeldCardsPage, responses=error_responses(401))
def my_cards(runtime: RuntimeDep, authorization: Authorization = None) -> HeldCardsPage:
    """Every card of the holder's paid orders, minted or on its way, with its current owner;
    for a holder signed in with their own wallet (SIWE), the cards that wallet holds now (not
    refunded), each `custodial: false`."""
    now = datetime.now(UTC)
    chain_id = runtime.manifest.chain_id
    with runtime.sessions() as session:
        caller = card_holder(session, authorization, now)
        holder = session.get(Holder, caller.holder_id) if caller.holder_id is not None else None
        if holder is not None:
            cards = held_cards(session, holder, chain_id, now)
            session.commit()  # order statuses brought up to date
        else:
            cards = [_wallet_card(session, card) for card in cards_of(session, caller, chain_id) if not card.revoked]
    items = [_public(card, runtime.settings.public_url) for card in cards]
    return HeldCardsPage(items=items, total=len(items))


def _wallet_card(session: Session, card: OwnedCard) -> HeldCard:
    town = session.get(Municipality, card.municipality_id)
    assert town is not None  # the card's drop names it
    return HeldCard(
        chain_id=card.chain_id,
        contract=card.contract,
        token_id=card.token_id,
        drop_id=card.drop_id,
        title_ja=card.title_ja,
        title_en=card.title_en,
        town_ja=town.name_ja,
        town_en=town.name_en,
        status="minted",
        owner=card.owner,
        custodial=False,
    )


@router.post(
    "/me/cards/{token_id}/move",
    status_code=202,
    response_model=MoveAccepted,
    responses=error_responses(
        401,
        404,
        409,
        422,
        502,
        503,
        codes={
            404: "card_not_found",
            409: "not_minted, not_in_custody",
            422: "invalid_address (where the card already is), contract_address",
            502: "move_failed: the chain refused it",
            503: "move_unavailable",
        },
    ),
)
def move_card(
    token_id: Annotated[int, Path(ge=0, le=MAX_TOKEN_ID)],
    body: MoveRequest,
    runtime: RuntimeDep,
    state: StateDep,
    authorization: Authorization = None,
) -> MoveAccepted:
    """Move a card from custody to the holder's own wallet; the server pays the gas."""
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        holder = signed_in(session, authorization, now)
        card = find_card(session, holder, runtime.manifest.chain_id, runtime.card_contract, token_id, now)
        session.commit()
    if card is None:
        raise ApiError(404, "card_not_found", "You hold no card with this number.")
    if card.status != "minted":
        raise ApiError(409, "not_minted", "This card is still being issued; try again shortly.")
    if body.to_address == holder.address:
        raise ApiError(422, "invalid_address", "The card is already at this address.")
    if _is_contract(runtime, body.to_address):
        raise ApiError(
            422, "contract_address", "This address is a contract, not a wallet: a card moved there could be lost."
        )
    try:
        tx_hash = state.relayer.move(runtime.vault, holder, token_id, body.to_address)
    except NotMinted:
        raise ApiError(409, "not_minted", "This card is still being issued; try again shortly.") from None
    except NotInCustody:
        raise ApiError(409, "not_in_custody", "This card is no longer held for you; it was moved out.") from None
    except (RelayUnavailable, KeyUnavailable) as exc:
        log.error("cannot move card %s for holder %s: %s", token_id, holder.id, exc)
        raise ApiError(503, "move_unavailable", "Moving cards is unavailable right now.") from None
    except ContractReverted as reverted:
        log.error("moving card %s for holder %s reverted: %s", token_id, holder.id, reverted.error)
        raise ApiError(502, "move_failed", f"The chain refused the move ({reverted.error}).") from None
    log.info("card %s of holder %s moved to %s in %s", token_id, holder.id, body.to_address, tx_hash)
    return MoveAccepted(status="moved", tx_hash=tx_hash)
