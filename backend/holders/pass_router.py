"""The holder's pass: fresh signed proofs of the caller's cards, and the keys to check them.

    GET /api/v1/holders/me/pass   → {refresh_seconds, cards: [{…, proof, qr_svg, expires_at}]}
    GET /api/v1/pass/keys         → the deployment's public pass keys (PASERK), for offline checks

`/me/pass` takes either sign-in (email-link holder session or SIWE wallet session, see
`backend.holders.identity`). Each call signs a new proof per card (PASETO v4.public, 60 s,
`backend.holders.pass_token`); the pass page calls it every `refresh_seconds` and keeps the
last answer to show briefly offline. Revoked cards (refunded after minting) get no proof.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from backend.core.deps import RuntimeDep
from backend.core.errors import error_responses
from backend.holders import pass_token
from backend.holders.identity import CurrentCardHolder, cards_of
from backend.sales.qr import SCREEN, qr_svg

router = APIRouter(tags=["holders"])

#: Public keys change only on rotation; a verifier may keep them this long.
KEYS_MAX_AGE_SECONDS = 300


class PassSeries(BaseModel):
    drop_id: int
    title_ja: str
    title_en: str


class PassCard(BaseModel):
    chain_id: int
    contract: str
    token_id: int
    #: The town's slug.
    town: str
    series: PassSeries
    #: The resident number printed on the card (its token id).
    number: int
    proof: str = Field(description="PASETO v4.public token: the QR's content; valid until `expires_at`")
    qr_svg: str = Field(description="an SVG document of the QR code of `proof`")
    issued_at: datetime
    expires_at: datetime


class HolderPass(BaseModel):
    refresh_seconds: int = Field(description="fetch new proofs this often")
    cards: list[PassCard]


class PassKeyPublic(BaseModel):
    kid: str = Field(description="PASERK id (k4.pid.…), named in each proof's footer")
    paserk: str = Field(description="the Ed25519 public key as PASERK (k4.public.…)")
    created_at: datetime
    retired_at: datetime | None = Field(description="signs no new proofs since then")


class PassKeys(BaseModel):
    version: str = Field(description="the PASETO version and purpose of proofs")
    implicit_assertion: str = Field(description="the implicit assertion every proof is signed with")
    keys: list[PassKeyPublic]


@router.get("/api/v1/holders/me/pass", response_model=HolderPass, responses=error_responses(401))
def my_pass(holder: CurrentCardHolder, runtime: RuntimeDep, response: Response) -> HolderPass:
    """A fresh proof and its QR code for each card the caller holds now (current owner on
    chain), revoked cards left out."""
    response.headers["Cache-Control"] = "no-store"
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        owned = [card for card in cards_of(session, holder, runtime.manifest.chain_id) if not card.revoked]
    vault = pass_token.pass_vault(runtime.settings.secret_key.get_secret_value())
    cards: list[PassCard] = []
    for card in owned:
        proof, expires = pass_token.issue_pass(
            runtime.sessions,
            vault,
            town=card.town,
            chain_id=card.chain_id,
            contract=card.contract,
            token_id=card.token_id,
            holder=card.owner,
            now=now,
        )
        cards.append(
            PassCard(
                chain_id=card.chain_id,
                contract=card.contract,
                token_id=card.token_id,
                town=card.town,
                series=PassSeries(drop_id=card.drop_id, title_ja=card.title_ja, title_en=card.title_en),
                number=card.number,
                proof=proof,
                qr_svg=qr_svg(proof, level=SCREEN),
                issued_at=now.replace(microsecond=0),
                expires_at=expires,
            )
        )
    return HolderPass(refresh_seconds=pass_token.REFRESH_SECONDS, cards=cards)


@router.get("/api/v1/pass/keys", response_model=PassKeys)
def pass_keys(runtime: RuntimeDep, response: Response) -> PassKeys:
    """This deployment's pass keys, so a proof can be checked without asking the server (the
    signature only: whether the card is still held and not revoked needs `POST /api/v1/verify`)."""
    pass_token.ensure_signing_key(
        runtime.sessions, pass_token.pass_vault(runtime.settings.secret_key.get_secret_value())
    )
    response.headers["Cache-Control"] = f"public, max-age={KEYS_MAX_AGE_SECONDS}"
    return PassKeys(
        version="v4.public",
        implicit_assertion=pass_token.IMPLICIT_ASSERTION.decode(),
        keys=[PassKeyPublic(**key) for key in pass_token.public_keys(runtime.sessions)],
    )
