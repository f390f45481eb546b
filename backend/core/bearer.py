"""Bearer secrets (order tokens, sign-in links, sessions): 256 random bits, given to their
holder once and stored only as their SHA-256, so a copy of the database opens nothing."""

from __future__ import annotations

import hashlib
import secrets

#: Bytes of randomness in a secret (256 bits).
SECRET_BYTES = 32


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
