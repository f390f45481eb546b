"""Sign-In with Ethereum (EIP-4361) for holders who keep their card in their own wallet.

The wallet signs (EIP-191 `personal_sign`) a message in the EIP-4361 layout; we parse it
strictly, check every field against this deployment, recover the signer and, once, open a
wallet session (`wallet_sessions`, 12 h) whose cards are that address's.

Why not the PyPI `siwe` package: it pins `web3<8` / `eth-account<0.14` and cannot be
installed beside this project's web3 8. The format is small and fixed, so it is parsed here
line by line against the spec's ABNF (no regex over the whole message: each line has one
meaning), and the signature is recovered with eth-account, which we already trust for
custodial keys. Only externally owned accounts sign in: EIP-1271 contract wallets are not
supported (their signature needs a chain call per sign-in; none of our holders has one yet).

Checks, each refused as 401 `siwe_invalid` with its reason in the message:

- `malformed` — not the EIP-4361 layout, or a field outside its grammar;
- `bad_address` — the address line is not EIP-55 checksummed (the spec requires it);
- `wrong_domain` — the domain (and scheme, when given) is not this deployment's public URL's
  host[:port]: a message signed for another site is not a sign-in here (phishing);
- `wrong_uri` — the URI is not of this deployment's origin;
- `wrong_chain` — Chain ID is not the chain this deployment's cards are on;
- `issued_in_future`, `not_yet_valid`, `expired` — Issued At beyond the allowed clock skew,
  Not Before still ahead, Expiration Time passed;
- `bad_signature` — the signature does not recover to the message's address;
- `nonce_unknown`, `nonce_used`, `nonce_expired` — the nonce is not one we gave, was already
  used (consumed by one conditional UPDATE, so of two concurrent uses one wins), or is stale.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from backend.core.bearer import hash_secret, new_secret
from backend.holders.models import SiweNonce, WalletSession

#: A nonce is good for this long: time to open the wallet, read and sign.
NONCE_TTL = timedelta(minutes=10)
#: A wallet session lasts this long (shorter than an email session: a wallet is often a
#: phone's browser extension, and the pass is what it is used for).
SESSION_TTL = timedelta(hours=12)
#: A wallet's clock may be this far ahead of ours (Issued At in the future).
CLOCK_SKEW = timedelta(seconds=60)
#: What the nonce endpoint asks the wallet to show (the ABNF allows only RFC 3986 reserved
#: and unreserved characters and spaces, so plain ASCII).
STATEMENT = "Sign in to Furusato to show the passes of the resident cards this address holds."
VERSION = "1"
#: Longer than any message we ask for; longer input is refused before parsing.
MAX_MESSAGE_LENGTH = 4000
NONCE_LENGTH = 24
#: One in this many nonces also deletes stale nonces and sessions (no cleanup job needed).
_PRUNE_ONE_IN = 100

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
_NONCE_ALPHABET = string.ascii_letters + string.digits
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# RFC 3986 authority: [userinfo@]host[:port], host a reg-name, IPv4 or [IPv6].
_AUTHORITY = re.compile(
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:%]*@)?(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?"
)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_STATEMENT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]+")
# An absolute URI (RFC 3986): scheme ":" then URI characters, no spaces or controls.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_CHAIN_ID = re.compile(r"[1-9][0-9]{0,19}")
_NONCE = re.compile(r"[A-Za-z0-9]{8,64}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})")
_REQUEST_ID = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]*")  # *pchar


class SiweInvalid(Exception):
    """A sign-in refused; `reason` is one of the codes in the module docstring."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SiweMessage:
    """An EIP-4361 message, as parsed."""

    scheme: str | None
    domain: str
    #: As written: EIP-55 checksummed.
    address: str
    statement: str | None
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()


def _malformed(detail: str) -> SiweInvalid:
    return SiweInvalid("malformed", detail)


def _date_time(value: str, field: str) -> datetime:
    """An RFC 3339 date-time (with offset); fractions beyond microseconds are dropped."""
    if not _DATE_TIME.fullmatch(value):
        raise _malformed(f"{field} is not an RFC 3339 date-time")
    main, _, rest = value.partition(".")
    if rest:
        digits = re.match(r"\d+", rest)
        assert digits is not None  # the pattern above
        value = f"{main}.{digits.group()[:6].ljust(6, '0')}{rest[digits.end() :]}"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise _malformed(f"{field} is not a valid date-time") from exc


def parse_message(text: str) -> SiweMessage:
    """Parse `text` exactly as EIP-4361 lays it out (LF line ends, fields in the spec's order,
    optional ones only where the spec allows them); `SiweInvalid("malformed"|"bad_address")`."""
    if len(text) > MAX_MESSAGE_LENGTH:
        raise _malformed("message too long")
    if "\r" in text:
        raise _malformed("line ends must be LF")
    lines = text.split("\n")
    at = 0

    def line() -> str:
        nonlocal at
        if at >= len(lines):
            raise _malformed("message ends early")
        at += 1
        return lines[at - 1]

    def tagged(tag: str) -> str:
        value = line()
        if not value.startswith(tag):
            raise _malformed(f"expected a line {tag.strip()!r}")
        return value[len(tag) :]

    def optional(tag: str) -> str | None:
        if at < len(lines) and lines[at].startswith(tag):
            return tagged(tag)
        return None

    header = line()
    if not header.endswith(_HEADER_SUFFIX):
        raise _malformed("the first line must be '<domain> wants you to sign in with your Ethereum account:'")
    authority = header[: -len(_HEADER_SUFFIX)]
    scheme: str | None = None
    if "://" in authority:
        scheme, authority = authority.split("://", 1)
        if not _SCHEME.fullmatch(scheme):
            raise _malformed("bad scheme")
    if not _AUTHORITY.fullmatch(authority):
        raise _malformed("bad domain")

    address = line()
    if not _ADDRESS.fullmatch(address):
        raise _malformed("the second line must be a 0x address")
    if not Web3.is_checksum_address(address):
        raise SiweInvalid("bad_address", "the address must be written with its EIP-55 checksum")

    if line() != "":
        raise _malformed("a blank line must follow the address")
    # `[ statement LF ] LF`: a statement line then a blank one, or (no statement) one blank.
    statement: str | None = line() or None
    if statement is not None:
        if not _STATEMENT.fullmatch(statement):
            raise _malformed("the statement has characters EIP-4361 does not allow")
        if line() != "":
            raise _malformed("a blank line must follow the statement")

    uri = tagged("URI: ")
    if not _URI.fullmatch(uri):
        raise _malformed("URI is not an absolute URI")
    version = tagged("Version: ")
    if version != VERSION:
        raise _malformed("Version must be 1")
    chain_id = tagged("Chain ID: ")
    if not _CHAIN_ID.fullmatch(chain_id):
        raise _malformed("Chain ID must be a positive integer")
    nonce = tagged("Nonce: ")
    if not _NONCE.fullmatch(nonce):
        raise _malformed("Nonce must be 8 or more letters and digits")
    issued_at = _date_time(tagged("Issued At: "), "Issued At")
    expiration = optional("Expiration Time: ")
    not_before = optional("Not Before: ")
    request_id = optional("Request ID: ")
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise _malformed("Request ID has characters EIP-4361 does not allow")
    resources: list[str] = []
    if at < len(lines) and lines[at] == "Resources:":
        at += 1
        while at < len(lines) and lines[at].startswith("- "):
            resource = line()[2:]
            if not _URI.fullmatch(resource):
                raise _malformed("a resource is not an absolute URI")
            resources.append(resource)
    if at != len(lines):
        raise _malformed(f"unexpected line {at + 1}")
    return SiweMessage(
        scheme=scheme,
        domain=authority,
        address=address,
        statement=statement,
        uri=uri,
        version=version,
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=None if expiration is None else _date_time(expiration, "Expiration Time"),
        not_before=None if not_before is None else _date_time(not_before, "Not Before"),
        request_id=request_id,
        resources=tuple(resources),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_message(message: SiweMessage) -> str:
    """The EIP-4361 text of `message` (what a wallet is asked to sign; tests and tools)."""
    head = f"{message.scheme}://{message.domain}" if message.scheme else message.domain
    lines = [f"{head}{_HEADER_SUFFIX}", message.address, ""]
    lines += [message.statement, ""] if message.statement else [""]
    lines += [
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {_iso(message.issued_at)}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {_iso(message.expiration_time)}")
    if message.not_before is not None:
        lines.append(f"Not Before: {_iso(message.not_before)}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in message.resources]
    return "\n".join(lines)


@dataclass(frozen=True)
class Expected:
    """What a message must name to sign in here."""

    #: The public URL's host[:port] (lower case), as a browser wallet fills in the domain.
    domain: str
    scheme: str
    chain_id: int

    @classmethod
    def of(cls, public_url: str, chain_id: int) -> Expected:
        parts = urlsplit(public_url)
        return cls(domain=parts.netloc.lower(), scheme=parts.scheme.lower(), chain_id=chain_id)

    def uri(self) -> str:
        """The URI the nonce endpoint suggests: the pass page of this deployment."""
        return f"{self.scheme}://{self.domain}/card.html"


def check_message(message: SiweMessage, expected: Expected, now: datetime) -> None:
    """Every check a message passes before its signature is worth recovering."""
    if message.domain.lower() != expected.domain or (message.scheme and message.scheme.lower() != expected.scheme):
        raise SiweInvalid("wrong_domain", f"the message is for {message.domain}, this site is {expected.domain}")
    uri = urlsplit(message.uri)
    if uri.scheme.lower() != expected.scheme or uri.netloc.lower() != expected.domain:
        raise SiweInvalid("wrong_uri", f"the URI must be on {expected.scheme}://{expected.domain}")
    if message.chain_id != expected.chain_id:
        raise SiweInvalid(
            "wrong_chain", f"the message names chain {message.chain_id}; cards here are on chain {expected.chain_id}"
        )
    if message.issued_at > now + CLOCK_SKEW:
        raise SiweInvalid("issued_in_future", "Issued At is in the future (is the wallet's clock right?)")
    if message.not_before is not None and now < message.not_before:
        raise SiweInvalid("not_yet_valid", "Not Before has not come yet")
    if message.expiration_time is not None and now >= message.expiration_time:
        raise SiweInvalid("expired", "the message's Expiration Time has passed; sign in again")


def recover_signer(text: str, signature: str) -> str:
    """The address (checksummed) whose key made the EIP-191 `signature` of `text`."""
    try:
        recovered: str = Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as exc:  # eth-keys: BadSignature, ValueError for v/r/s out of range
        raise SiweInvalid("bad_signature", "the signature is not valid") from exc
    return recovered


def new_nonce(session: Session, now: datetime) -> SiweNonce:
    """A fresh single-use nonce (random letters and digits, ~143 bits), stored; commit it."""
    nonce = SiweNonce(
        nonce="".join(secrets.choice(_NONCE_ALPHABET) for _ in range(NONCE_LENGTH)),
        expires_at=now + NONCE_TTL,
        created_at=now,
    )
    session.add(nonce)
    if secrets.randbelow(_PRUNE_ONE_IN) == 0:
        prune(session, now)
    return nonce


def prune(session: Session, now: datetime) -> None:
    """Delete nonces and wallet sessions that expired more than a day ago."""
    cutoff = now - timedelta(days=1)
    session.execute(delete(SiweNonce).where(SiweNonce.expires_at < cutoff))
    session.execute(delete(WalletSession).where(WalletSession.expires_at < cutoff))


def consume_nonce(session: Session, nonce: str, now: datetime) -> None:
    """Use `nonce` up, once: a conditional UPDATE that only one transaction can win (the
    loser's UPDATE matches no row once the winner committed; PostgreSQL makes it wait for the
    winner's row lock, SQLite for its write lock); else the reason it cannot be used."""
    used = session.execute(
        update(SiweNonce)
        .where(SiweNonce.nonce == nonce, SiweNonce.used_at.is_(None), SiweNonce.expires_at > now)
        .values(used_at=now)
    )
    if used.rowcount == 1:  # type: ignore[attr-defined]
        return
    row = session.scalar(select(SiweNonce).where(SiweNonce.nonce == nonce))
    if row is None:
        raise SiweInvalid("nonce_unknown", "this nonce was not given by this site; ask for a new one")
    if row.used_at is not None:
        raise SiweInvalid("nonce_used", "this sign-in message was already used; ask for a new nonce")
    raise SiweInvalid("nonce_expired", "this nonce has expired; ask for a new one")


@dataclass(frozen=True)
class WalletSignIn:
    """A wallet session just opened: the token is shown once, only its hash is kept."""

    token: str
    address: str
    expires_at: datetime


def sign_in(session: Session, text: str, signature: str, expected: Expected, now: datetime) -> WalletSignIn:
    """Verify a signed EIP-4361 message and open a wallet session, in `session`'s
    transaction (commit it; on `SiweInvalid` roll back). The nonce is consumed last, so a
    message refused for another reason does not burn it, and a replay is told `nonce_used`."""
    message = parse_message(text)
    check_message(message, expected, now)
    signer = recover_signer(text, signature)
    if signer != message.address:
        raise SiweInvalid("bad_signature", "the signature was not made by the message's address")
    consume_nonce(session, message.nonce, now)
    token = new_secret()
    expires = now + SESSION_TTL
    session.add(
        WalletSession(
            token_hash=hash_secret(token),
            address=signer.lower(),
            chain_id=message.chain_id,
            expires_at=expires,
            created_at=now,
        )
    )
    return WalletSignIn(token=token, address=signer, expires_at=expires)
