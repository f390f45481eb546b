"""Signing keys: from the environment, an encrypted keystore file, or a dev chain's accounts.

Order: `FURUSATO_MINTER_KEY` (hex) if set; else `FURUSATO_MINTER_KEYSTORE` (a standard
encrypted JSON keystore) with `FURUSATO_MINTER_KEYSTORE_PASSWORD`; else, on a development
chain only, its first pre-funded account. The key never appears in a log, repr or error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from minting.chains import Chain
from minting.errors import DeployerKeyMissing, SignerKeyInvalid


def load_signer(chain: Chain, *, env_prefix: str = "FURUSATO_MINTER", key: str | None = None) -> LocalAccount:
    """The minter (or, with another prefix, deployer or voucher-signer) account for `chain`;
    `key`, when given (e.g. from settings), comes before the environment."""
    raw = key or os.environ.get(f"{env_prefix}_KEY")
    if raw:
        try:
            account: LocalAccount = Account.from_key(raw)
        except Exception as exc:
            raise SignerKeyInvalid(f"{env_prefix}_KEY is not a valid private key") from exc
        return account
    keystore = os.environ.get(f"{env_prefix}_KEYSTORE")
    if keystore:
        password = os.environ.get(f"{env_prefix}_KEYSTORE_PASSWORD", "")
        try:
            secret = Account.decrypt(json.loads(Path(keystore).read_text()), password)
        except Exception as exc:
            raise SignerKeyInvalid(f"cannot decrypt keystore {keystore} with {env_prefix}_KEYSTORE_PASSWORD") from exc
        decrypted: LocalAccount = Account.from_key(secret)
        return decrypted
    accounts = chain.dev_accounts()
    if not accounts:
        raise DeployerKeyMissing(chain.chain_id)
    return accounts[0]
