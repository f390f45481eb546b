"""Moving a card out of custody: the custodial key signs a permit, a relayer sends it.

Why a separate relayer account: the minter's nonces are allocated by the mint worker from
the database, so a transaction sent from that account here would take a nonce the worker
believes is free. The relayer is its own account and pays the gas; the holder needs none.
Soulbound cards only move when the relayer holds MINTER_ROLE.

Which account relays:
  * `FURUSATO_RELAYER_KEY` (or `FURUSATO_RELAYER_KEYSTORE`), on any chain;
  * otherwise, on a development chain, its pre-funded account #2. On first use it is granted
    MINTER_ROLE by the deployer — the one transaction the deployer (on dev chains also the
    minter) sends from here. Its nonce is taken from the mint worker's own nonce row, in a
    transaction held until the grant is mined, so the worker never signs with it (and a grant
    that fails leaves no gap). On a production chain the operator grants the role instead.

Relays are serialised by a lock in this process (one relayer nonce at a time, and the custody
check and the move cannot interleave with another move of the same card). Several backend
processes would each need their own relayer key.
"""

from __future__ import annotations

import os
import threading
import time

from eth_account.signers.local import LocalAccount
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from web3.types import Nonce, TxParams

from backend.core.config import Settings
from backend.holders.custody import Vault, holder_account
from backend.holders.models import Holder
from backend.sales.drops import card_client
from minting.chains import Chain
from minting.client import role_id
from minting.errors import ContractReverted, DeployerKeyMissing
from minting.keys import load_signer
from minting.resident_card import ResidentCardClient
from minting.store import SignerNonceRow
from minting.transactions import send_transaction

RELAYER_DEV_INDEX = 2
PERMIT_SECONDS = 3_600
MINTER_ROLE = "MINTER_ROLE"


class RelayUnavailable(Exception):
    """No relayer is configured, or it may not relay this card."""


class NotInCustody(Exception):
    """The card is not held by the holder's custodial address (any more)."""


class NotMinted(Exception):
    """The card does not exist on chain yet."""


def _relayer_configured() -> bool:
    return bool(os.environ.get("FURUSATO_RELAYER_KEY") or os.environ.get("FURUSATO_RELAYER_KEYSTORE"))


def _minter_address(chain: Chain) -> str | None:
    try:
        return load_signer(chain).address
    except DeployerKeyMissing:  # no minter in this deployment's environment
        return None


class Relayer:
    """Sends `moveWithPermit` for one card contract, one relay at a time."""

    def __init__(self, chain: Chain, contract: str, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.chain = chain
        self.sessions = sessions
        self.contract = contract
        self.settings = settings
        self._lock = threading.Lock()
        self._account: LocalAccount | None = None
        self._role_checked = False

    def _relayer(self) -> LocalAccount:
        if self._account is None:
            if _relayer_configured():
                account = load_signer(self.chain, env_prefix="FURUSATO_RELAYER")
            else:
                accounts = self.chain.dev_accounts()
                if len(accounts) <= RELAYER_DEV_INDEX:
                    raise RelayUnavailable("no relayer: set FURUSATO_RELAYER_KEY (an account with MINTER_ROLE)")
                account = accounts[RELAYER_DEV_INDEX]
            if account.address == _minter_address(self.chain):
                raise RelayUnavailable("the relayer must not be the minter's account (its nonces belong to the worker)")
            self._account = account
        return self._account

    def _ensure_role(self, card: ResidentCardClient, relayer: LocalAccount) -> None:
        """Dev chains: have the deployer grant the relayer MINTER_ROLE once."""
        if self._role_checked:
            return
        if not card.has_role(MINTER_ROLE, relayer.address) and self.chain.is_dev and not _relayer_configured():
            key = self.settings.deployer_key.get_secret_value() if self.settings.deployer_key else None
            admin = load_signer(self.chain, env_prefix="FURUSATO_DEPLOYER", key=key)
            self._grant_with_worker_nonce(card, admin, relayer.address)
        self._role_checked = True

    def _grant_with_worker_nonce(self, card: ResidentCardClient, admin: LocalAccount, relayer: str) -> None:
        """Grant MINTER_ROLE with a nonce from the worker's `signer_nonces` row for `admin`.

        One UPDATE … RETURNING takes the nonce and the row's write lock (SQLite: the database's)
        until the grant is mined; the worker's next allocation waits for it, then goes on after.
        """
        key = {"chain_id": self.chain.chain_id, "signer": admin.address}
        with self.sessions.begin() as session:
            taken = session.scalar(
                update(SignerNonceRow)
                .filter_by(**key)
                .values(next_nonce=SignerNonceRow.next_nonce + 1)
                .returning(SignerNonceRow.next_nonce)
            )
            if taken is None:  # the worker never sent: start its row after our nonce
                nonce = int(self.chain.w3.eth.get_transaction_count(admin.address, "pending"))
                session.add(SignerNonceRow(**key, next_nonce=nonce + 1))
                session.flush()
            else:
                nonce = int(taken) - 1
            params: TxParams = {"from": admin.address, "nonce": Nonce(nonce)}
            tx = card.contract.functions.grantRole(role_id(MINTER_ROLE), relayer).build_transaction(params)
            send_transaction(self.chain.w3, admin, tx)

    def _deadline(self) -> int:
        """An hour from now, by the later of our clock and the chain's (a dev chain's can run ahead)."""
        latest = int(self.chain.w3.eth.get_block("latest")["timestamp"])
        return max(int(time.time()), latest) + PERMIT_SECONDS

    def move(self, vault: Vault, holder: Holder, token_id: int, to: str) -> str:
        """Move card `token_id` from `holder`'s custodial address to `to`; returns the tx hash.

        Raises `NotMinted`, `NotInCustody`, `RelayUnavailable`, `KeyUnavailable`.
        """
        with self._lock:
            relayer = self._relayer()
            card = card_client(self.chain, self.contract, relayer)
            try:
                owner = card.owner_of(token_id)
            except ContractReverted as reverted:
                if reverted.error == "ERC721NonexistentToken":
                    raise NotMinted(f"card {token_id} is not minted yet") from None
                raise
            if owner.lower() != holder.address.lower():
                raise NotInCustody(f"card {token_id} is not held in custody")
            self._ensure_role(card, relayer)
            permit, signature = card.sign_move(holder_account(vault, holder), to, token_id, self._deadline())
            try:
                receipt = card.move_with_permit(permit, signature)
            except ContractReverted as reverted:
                if reverted.error == "ResidentCardNotHolder":
                    raise NotInCustody(f"card {token_id} is not held in custody") from None
                if reverted.error == "ResidentCardRelayNotAllowed":
                    raise RelayUnavailable("the relayer lacks MINTER_ROLE for this soulbound card") from None
                raise
            return receipt["transactionHash"].to_0x_hex()
