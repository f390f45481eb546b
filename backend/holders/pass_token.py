"""The holder's pass: a short-lived proof that a card is held, signed by the deployment.

Why PASETO v4.public (through `pyseto`): the issue asks for a standard format from a
well-kept library, not a home-made one; v4.public is Ed25519 over a fixed pre-authentication
encoding with no algorithm choice in the token (no `alg: none`, no key confusion), and the
implicit assertion `furusato-pass/1` binds every proof to this purpose, so nothing else the
key might ever sign reads as a pass.

    v4.public.<base64url(payload JSON ‖ signature)>.<base64url(footer JSON)>
    payload {"v":1,"town","chain_id","contract","token_id","sub","iat","exp","jti"}
    footer  {"kid": "k4.pid.…"}   (the PASERK id of the signing key)

Nothing personal is in a proof: the town, the card and the holder's address (already public
on chain), two times and a random nonce.

The key is made once per deployment and shared by every process through `pass_keys` (the
private half encrypted with a vault derived from FURUSATO_SECRET_KEY for this purpose alone);
each process keeps the keys in memory after the first read, so a verification is one Ed25519
check and no database query (the benchmark's p99 target). A proof naming a kid this database
never made — another deployment's, or made up — is forged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import pyseto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyseto import Key, KeyInterface
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.holders.custody import Vault
from backend.holders.models import PassKey

#: A proof's life (the issue: at most 90 s). The pass page fetches new ones every 20 s, so a
#: proof shown offline stays good for a while, and a screenshot is stale within a minute.
PASS_TTL_SECONDS = 60
MAX_TTL_SECONDS = 90
REFRESH_SECONDS = 20
#: A verifier's clock may be this far behind the issuer's: iat may be this much in the future.
#: `exp` has no leeway.
CLOCK_SKEW_SECONDS = 5
#: Binds each proof to its purpose (PASETO v4 implicit assertion: signed, not carried).
IMPLICIT_ASSERTION = b"furusato-pass/1"
#: Purpose of the vault that encrypts the private key (not the custodial keys' vault).
VAULT_PURPOSE = b"furusato pass key v1"
#: Longer than any proof we make (~350 characters); longer input is refused before parsing.
MAX_PROOF_LENGTH = 1024
PAYLOAD_VERSION = 1

_HEADER = "v4.public."
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_CONTRACT = re.compile(r"0x[0-9a-fA-F]{40}")
_CLAIM_KEYS = frozenset({"v", "town", "chain_id", "contract", "token_id", "sub", "iat", "exp", "jti"})


@dataclass(frozen=True)
class PassClaims:
    """What a valid proof says."""

    town: str
    chain_id: int
    contract: str
    token_id: int
    #: Lower-case 0x address the proof names (the card's owner on chain when it was issued).
    holder: str
    issued_at: datetime
    expires_at: datetime
    nonce: str


class PassRefused(Exception):
    """A proof that does not count; `reason` is "expired" or "forged" (malformed, bad
    signature, a key this deployment never made, or not a pass at all)."""

    def __init__(self, reason: Literal["expired", "forged"], detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Literal["expired", "forged"] = reason
        self.detail = detail


def pass_vault(secret: str) -> Vault:
    """The vault for the pass key, derived from the deployment secret (cached: HKDF per call
    would be wasted work on every pass)."""
    return _pass_vault(secret)


@lru_cache(maxsize=8)
def _pass_vault(secret: str) -> Vault:
    return Vault.from_secret(secret, VAULT_PURPOSE)


# ── keys: made once, cached per database ────────────────────────────────────


@dataclass
class _Keys:
    """One database's pass keys as this process knows them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: (kid, signing key) of the key new proofs are signed with, per vault key id.
    signing: dict[str, tuple[str, KeyInterface]] = field(default_factory=dict)
    #: Public keys by kid (retired ones too: their proofs expire on their own).
    verifying: dict[str, KeyInterface] = field(default_factory=dict)


#: Keyed by the session factory, so two deployments in one process (tests) never share keys.
_CACHE: weakref.WeakKeyDictionary[sessionmaker[Session], _Keys] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _keys(sessions: sessionmaker[Session]) -> _Keys:
    with _CACHE_LOCK:
        keys = _CACHE.get(sessions)
        if keys is None:
            keys = _CACHE[sessions] = _Keys()
        return keys


def _public_key(raw: bytes) -> KeyInterface:
    return Key.from_asymmetric_key_params(4, x=raw)


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; every time here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ensure_signing_key(sessions: sessionmaker[Session], vault: Vault) -> str:
    """The kid new proofs are signed with, making the deployment's key on first use.

    Two processes starting at once may each insert a key; both then pick the oldest key
    their vault can open, so they sign with the same one (the other stays a valid, unused
    verifying key). A key encrypted under a rotated-away secret is skipped and a new one made."""
    return _signing_key(sessions, vault)[0]


def _signing_key(sessions: sessionmaker[Session], vault: Vault) -> tuple[str, KeyInterface]:
    keys = _keys(sessions)
    cached = keys.signing.get(vault.key_id)
    if cached is not None:
        return cached
    with keys.lock:
        cached = keys.signing.get(vault.key_id)
        if cached is not None:
            return cached
        with sessions() as session:
            row = _oldest_usable(session, vault)
            if row is None:
                _insert_key(session, vault)
                session.commit()
                row = _oldest_usable(session, vault)
            assert row is not None  # just inserted
            private = Ed25519PrivateKey.from_private_bytes(vault.decrypt(row.encrypted_key, row.kid.encode()))
            chosen = (row.kid, Key.from_asymmetric_key_params(4, d=private.private_bytes_raw()))
            keys.verifying.setdefault(row.kid, _public_key(row.public_key))
        keys.signing[vault.key_id] = chosen
        return chosen


def _oldest_usable(session: Session, vault: Vault) -> PassKey | None:
    return session.scalars(
        select(PassKey)
        .where(PassKey.retired_at.is_(None), PassKey.key_id == vault.key_id)
        .order_by(PassKey.created_at, PassKey.kid)
        .limit(1)
    ).first()


def _insert_key(session: Session, vault: Vault) -> None:
    private = Ed25519PrivateKey.generate()
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = _public_key(public_raw).to_paserk_id()
    session.add(
        PassKey(
            kid=kid,
            public_key=public_raw,
            encrypted_key=vault.encrypt(private.private_bytes_raw(), kid.encode()),
            key_id=vault.key_id,
        )
    )


def _verifying_key(sessions: sessionmaker[Session], kid: str) -> KeyInterface | None:
    """The public key `kid`, from memory or (once per kid) the database; None if unknown."""
    keys = _keys(sessions)
    found = keys.verifying.get(kid)
    if found is not None:
        return found
    if not kid.startswith("k4.pid.") or len(kid) > 64:
        return None
    with sessions() as session:
        row = session.get(PassKey, kid)
        if row is None:
            return None
        public = _public_key(row.public_key)
    with keys.lock:
        keys.verifying.setdefault(kid, public)
    return public


def public_keys(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Every pass key of this deployment as PASERK, for checking a proof offline:
    `[{"kid", "paserk": "k4.public.…", "created_at", "retired_at"}]`, oldest first."""
    with sessions() as session:
        rows = session.scalars(select(PassKey).order_by(PassKey.created_at, PassKey.kid)).all()
        return [
            {
                "kid": row.kid,
                "paserk": _public_key(row.public_key).to_paserk(),
                "created_at": _aware(row.created_at),
                "retired_at": None if row.retired_at is None else _aware(row.retired_at),
            }
            for row in rows
        ]


# ── proofs ──────────────────────────────────────────────────────────────────


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def issue_pass(
    sessions: sessionmaker[Session],
    vault: Vault,
    *,
    town: str,
    chain_id: int,
    contract: str,
    token_id: int,
    holder: str,
    now: datetime,
    ttl_seconds: int = PASS_TTL_SECONDS,
) -> tuple[str, datetime]:
    """A fresh proof that `holder` holds card `token_id` of `contract`; (proof, expires_at).

    `vault` is `pass_vault(settings.secret_key)`. The caller checks that the holder holds the
    card; this only signs. Times are whole seconds (what the payload carries)."""
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a pass lives 1..{MAX_TTL_SECONDS} s, not {ttl_seconds}")
    kid, key = _signing_key(sessions, vault)
    issued = now.astimezone(UTC).replace(microsecond=0)
    expires = issued + timedelta(seconds=ttl_seconds)
    payload = {
        "v": PAYLOAD_VERSION,
        "town": town,
        "chain_id": chain_id,
        "contract": contract,
        "token_id": token_id,
        "sub": holder.lower(),
        "iat": _iso(issued),
        "exp": _iso(expires),
        "jti": secrets.token_urlsafe(12),
    }
    token = pyseto.encode(
        key,
        json.dumps(payload, separators=(",", ":")).encode(),
        footer=json.dumps({"kid": kid}, separators=(",", ":")).encode(),
        implicit_assertion=IMPLICIT_ASSERTION,
    )
    return token.decode("ascii"), expires


def _canonical_b64(segment: str) -> bytes:
    """Decode unpadded base64url, refusing any spelling but the canonical one: the last
    character of a segment carries unused bits, and a proof altered there must not pass."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise ValueError("non-canonical base64url")
    return raw


def _forged(detail: str) -> PassRefused:
    return PassRefused("forged", detail)


def read_pass(sessions: sessionmaker[Session], proof: str, now: datetime) -> PassClaims:
    """The claims of a proof this deployment signed that has not expired; else `PassRefused`
    ("forged" for anything malformed, altered, signed by another key or not a pass,
    "expired" for a genuine proof past its `exp`)."""
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH or not proof.startswith(_HEADER):
        raise _forged("not a pass")
    parts = proof.split(".")
    if len(parts) != 4:
        raise _forged("not a pass")
    try:
        _canonical_b64(parts[2])
        footer = json.loads(_canonical_b64(parts[3]))
    except ValueError as exc:  # includes JSONDecodeError, UnicodeDecodeError
        raise _forged("malformed") from exc
    if not isinstance(footer, dict) or set(footer) != {"kid"} or not isinstance(footer["kid"], str):
        raise _forged("malformed footer")
    key = _verifying_key(sessions, footer["kid"])
    if key is None:
        raise _forged("signed by a key this deployment does not know")
    try:
        token = pyseto.decode(key, proof, implicit_assertion=IMPLICIT_ASSERTION)
    except Exception as exc:  # pyseto raises VerifyError, DecryptError or ValueError
        raise _forged("bad signature") from exc
    assert isinstance(token.payload, bytes)
    claims = _claims(token.payload)
    if claims.issued_at > now + timedelta(seconds=CLOCK_SKEW_SECONDS):
        raise _forged("issued in the future")
    if now >= claims.expires_at:
        raise PassRefused("expired", f"expired at {_iso(claims.expires_at)}")
    return claims


def _claims(raw: bytes) -> PassClaims:
    """The payload as claims, if it has exactly a pass's fields (else it was signed for
    something else, or by a future version: refused as forged rather than guessed at)."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _forged("payload is not JSON") from exc
    if not isinstance(body, dict) or set(body) != _CLAIM_KEYS or body["v"] != PAYLOAD_VERSION:
        raise _forged("not a pass payload")
    town, chain_id, contract, token_id = body["town"], body["chain_id"], body["contract"], body["token_id"]
    sub, iat, exp, jti = body["sub"], body["iat"], body["exp"], body["jti"]
    ints_ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (chain_id, token_id))
    strs_ok = all(isinstance(v, str) for v in (town, contract, sub, iat, exp, jti))
    if not (ints_ok and strs_ok and _CONTRACT.fullmatch(contract) and _ADDRESS.fullmatch(sub) and town and jti):
        raise _forged("not a pass payload")
    try:
        issued = datetime.fromisoformat(iat)
        expires = datetime.fromisoformat(exp)
    except ValueError as exc:
        raise _forged("bad times") from exc
    if issued.tzinfo is None or expires.tzinfo is None:
        raise _forged("bad times")
    if not timedelta(0) < expires - issued <= timedelta(seconds=MAX_TTL_SECONDS):
        raise _forged("a pass lives at most 90 s")
    return PassClaims(
        town=town,
        chain_id=chain_id,
        contract=contract,
        token_id=token_id,
        holder=sub,
        issued_at=issued.astimezone(UTC),
        expires_at=expires.astimezone(UTC),
        nonce=jti,
    )


__all__ = [
    "CLOCK_SKEW_SECONDS",
    "IMPLICIT_ASSERTION",
    "PASS_TTL_SECONDS",
    "REFRESH_SECONDS",
    "PassClaims",
    "PassRefused",
    "ensure_signing_key",
    "issue_pass",
    "pass_vault",
    "public_keys",
    "read_pass",
]
