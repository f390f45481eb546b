"""Sign-In with Ethereum (EIP-4361) for holders with their own wallet.

    POST /api/v1/holders/siwe/nonce     → what to put in the message (a fresh nonce, domain, …)
    POST /api/v1/holders/siwe/session   {"message", "signature"} → a wallet session token

The session token works wherever a holder's cards are looked up by owner
(`backend.holders.identity.CurrentCardHolder`: the pass, check-ins, announcements, votes),
as `Authorization: Bearer <session_token>`. See `backend.holders.siwe` for the checks and
why the PyPI `siwe` package is not used. Both endpoints are limited per client IP through
the shared database counters (`backend.core.ratelimit`): a nonce is a row, a sign-in an
ecrecover and a row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3

from backend.core import ratelimit
from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError, error_responses
from backend.holders import siwe
from backend.runtime import Runtime

router = APIRouter(prefix="/api/v1/holders/siwe", tags=["holders"])

#: (limit, window seconds) per client IP.
NONCES_PER_IP = (60, 600)
SIGN_INS_PER_IP = (30, 600)


class NonceIssued(BaseModel):
    """The fields of the EIP-4361 message to sign, as this deployment will check them."""

    nonce: str = Field(description="single use, for one sign-in within `expires_at`")
    domain: str = Field(description="host[:port] of this site: the message's first line")
    uri: str
    chain_id: int
    version: str = siwe.VERSION
    issued_at: datetime
    expires_at: datetime = Field(description="put it in the message's Expiration Time (the nonce expires then too)")
    statement: str
    message: str | None = Field(
        default=None,
        description="with `?address=`: the whole EIP-4361 text for that address (EIP-55), ready to sign",
    )


class WalletSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=siwe.MAX_MESSAGE_LENGTH, description="the EIP-4361 message, LF lines")
    signature: str = Field(
        pattern=r"^0x[0-9a-fA-F]{130}$", description="the wallet's `personal_sign` of the message (65 bytes, hex)"
    )


class WalletSessionCreated(BaseModel):
    #: Shown once; only its hash is stored.
    session_token: str
    #: The address signed in (EIP-55).
    address: str
    expires_at: datetime


def _limit(runtime: Runtime, request: Request, name: str, limit: tuple[int, int]) -> None:
    client_ip = request.client.host if request.client else "unknown"
    if not ratelimit.allow(runtime.sessions, (f"holders-siwe-{name}:ip:{client_ip}", *limit)):
        raise ApiError(
            429,
            "rate_limited",
            "Too many sign-in attempts from here; please try again in a few minutes.",
            headers={"Retry-After": str(ratelimit.retry_after(limit[1]))},
        )


def _expected(runtime: Runtime) -> siwe.Expected:
    return siwe.Expected.of(runtime.settings.public_url, runtime.manifest.chain_id)


@router.post("/nonce", response_model=NonceIssued, responses=error_responses(422, 429))
def nonce(
    request: Request,
    runtime: RuntimeDep,
    address: Annotated[
        str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$", description="the wallet's address: answer the message too")
    ] = None,
) -> NonceIssued:
    """A single-use nonce (10 minutes) and the other fields of the message a wallet signs to
    sign in here: `{domain} wants you to sign in with your Ethereum account:` …; with
    `address`, the message itself (a browser has no Keccak-256 for the EIP-55 address)."""
    _limit(runtime, request, "nonce", NONCES_PER_IP)
    now = datetime.now(UTC)
    expected = _expected(runtime)
    with runtime.sessions() as session:
        issued = siwe.new_nonce(session, now)
        session.commit()
        fields = {
            "nonce": issued.nonce,
            "domain": expected.domain,
            "uri": expected.uri(),
            "chain_id": expected.chain_id,
            "issued_at": now.replace(microsecond=0),
            "statement": siwe.STATEMENT,
        }
        message = (
            None
            if address is None
            else siwe.format_message(
                siwe.SiweMessage(
                    scheme=None,
                    address=Web3.to_checksum_address(address),
                    version=siwe.VERSION,
                    expiration_time=issued.expires_at,
                    **fields,  # type: ignore[arg-type]
                )
            )
        )
        return NonceIssued(expires_at=issued.expires_at, message=message, **fields)  # type: ignore[arg-type]


@router.post(
    "/session",
    response_model=WalletSessionCreated,
    responses=error_responses(
        401,
        429,
        codes={
            401: "siwe_invalid (malformed, bad_address, wrong_domain, wrong_uri, wrong_chain, issued_in_future, "
            "not_yet_valid, expired, bad_signature, nonce_unknown, nonce_used, nonce_expired)"
        },
    ),
)
def create_session(body: WalletSessionRequest, request: Request, runtime: RuntimeDep) -> WalletSessionCreated:
    """Verify a signed EIP-4361 message (once per nonce) and open a 12-hour wallet session."""
    _limit(runtime, request, "session", SIGN_INS_PER_IP)
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        try:
            opened = siwe.sign_in(session, body.message, body.signature, _expected(runtime), now)
        except siwe.SiweInvalid as refused:
            session.rollback()
            raise ApiError(401, "siwe_invalid", f"{refused.reason}: {refused.detail}") from refused
        session.commit()
    return WalletSessionCreated(session_token=opened.token, address=opened.address, expires_at=opened.expires_at)
