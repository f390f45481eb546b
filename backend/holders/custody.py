"""Custodial keys of walletless holders, encrypted at rest with AES-GCM.

The encryption key is derived from `FURUSATO_SECRET_KEY` (HKDF-SHA256); its id, the first
bytes of a hash of the derived key, is stored with each ciphertext so that after the secret
is rotated the old keys can still be found and re-encrypted. A private key is decrypted only
to sign a move permit; it is never returned by the API and never logged.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.holders.models import Holder
from minting.store import insert_for

NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """The holder's key was encrypted under a secret this process does not have."""


@dataclass(frozen=True, repr=False)
class Vault:
    """AES-GCM over a key derived from the deployment's secret."""

    key: bytes

    @classmethod
    def from_secret(cls, secret: str, purpose: bytes = b"furusato custodial keys v1") -> Vault:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret.encode())
        return cls(derived)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"key-id" + self.key).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, associated)

    def decrypt(self, blob: bytes, associated: bytes) -> bytes:
        return AESGCM(self.key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)

    def __repr__(self) -> str:
        return f"Vault(key_id={self.key_id!r})"


def normalise_email(email: str) -> str:
    """One spelling per mailbox for limits and sign-in (domain part is case-insensitive;
    most providers treat the local part so too)."""
    return email.strip().lower()


def ensure_holder(session: Session, vault: Vault, email: str) -> Holder:
    """The holder for `email`, created with a fresh custodial key if new.

    Safe under concurrency: the insert skips an email another transaction just created.
    """
    email = normalise_email(email)
    holder = session.scalar(select(Holder).where(Holder.email == email))
    if holder is not None:
        return holder
    account: LocalAccount = Account.create()
    values = {
        "email": email,
        "address": account.address,
        "encrypted_key": vault.encrypt(bytes(account.key), account.address.encode()),
        "key_id": vault.key_id,
    }
    insert = insert_for(session)
    session.execute(insert(Holder).values(**values).on_conflict_do_nothing(index_elements=["email"]))
    holder = session.scalar(select(Holder).where(Holder.email == email))
    assert holder is not None  # inserted now or by a concurrent transaction that committed
    return holder


def holder_account(vault: Vault, holder: Holder) -> LocalAccount:
    """The holder's custodial account, for signing a move permit. Keep it short-lived."""
    if holder.key_id != vault.key_id:
        raise KeyUnavailable(f"holder {holder.id}'s key was encrypted under key id {holder.key_id}")
    account: LocalAccount = Account.from_key(vault.decrypt(holder.encrypted_key, holder.address.encode()))
    return account
