"""Who holds cards: `holder: CurrentCardHolder` in a route's signature, and `cards_of`.

A card holder signs in one of two ways, and both reach the same routes:

- by email link (walletless): `Authorization: Bearer <session_token>` from
  `POST /api/v1/holders/session`; their cards are those owned by their custodial address;
- with their own wallet (Sign-In with Ethereum, `backend.holders.siwe`):
  `Authorization: Bearer <session_token>` from `POST /api/v1/holders/siwe/session`; their
  cards are those owned by that address.

Both tokens are 256-bit secrets stored only as SHA-256, so one lookup of the hash in each
table tells which kind the caller has. Neither, unknown or expired → 401 `unauthorized`
(declare `responses=error_responses(401, …)` on every route that takes it).

Cards are found by their *current* owner on chain as the indexer last saw it, so a card
moved to a wallet shows under the wallet's sign-in, not under the email sign-in any more;
the pass, check-ins, announcements and votes all follow the card, not the purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.core.bearer import hash_secret
from backend.core.deps import RuntimeDep
from backend.holders.deps import Authorization, bearer_token, unauthorised
from backend.holders.models import Holder, SignInToken, WalletSession
from backend.sales.models import Drop, Order, OrderCard
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow


@dataclass(frozen=True)
class CardHolder:
    """The caller of a holder route, however they signed in."""

    #: "holder:{id}" (email sign-in) or "wallet:{address}" (SIWE): a stable actor name.
    visitor: str
    #: Lower-case 0x addresses whose cards are this caller's (custodial address, or wallet).
    addresses: tuple[str, ...]
    holder_id: int | None
    email: str | None

    @property
    def kind(self) -> str:
        """ "holder" (email link) or "wallet" (SIWE)."""
        return "holder" if self.holder_id is not None else "wallet"


@dataclass(frozen=True)
class OwnedCard:
    """A minted card of this deployment whose current owner is one of the caller's addresses."""

    chain_id: int
    contract: str
    token_id: int
    drop_id: int
    municipality_id: int
    #: The town's slug.
    town: str
    title_ja: str
    title_en: str
    #: Lower-case 0x address of the current owner (indexer; the order's recipient until the
    #: indexer has seen the mint).
    owner: str
    #: Refunded after minting: the card stays on chain but does not count (pass, votes, …).
    revoked: bool
    revoked_at: datetime | None

    @property
    def number(self) -> int:
        """The resident number printed on the card: its token id."""
        return self.token_id


def card_holder(session: Session, authorization: str | None, now: datetime) -> CardHolder:
    """The caller of `authorization`'s bearer token, an email holder or a wallet; else 401."""
    token = bearer_token(authorization)
    if token is None:
        raise unauthorised()
    digest = hash_secret(token)
    holder = session.scalar(
        select(Holder)
        .join(SignInToken, SignInToken.holder_id == Holder.id)
        .where(SignInToken.token_hash == digest, SignInToken.kind == "session", SignInToken.expires_at > now)
    )
    if holder is not None:
        return CardHolder(
            visitor=f"holder:{holder.id}",
            addresses=(holder.address.lower(),),
            holder_id=holder.id,
            email=holder.email,
        )
    wallet = session.scalar(
        select(WalletSession.address).where(WalletSession.token_hash == digest, WalletSession.expires_at > now)
    )
    if wallet is not None:
        address = wallet.lower()
        return CardHolder(visitor=f"wallet:{address}", addresses=(address,), holder_id=None, email=None)
    raise unauthorised()


def current_card_holder(runtime: RuntimeDep, authorization: Authorization = None) -> CardHolder:
    """The dependency: looked up in a short session of its own, closed before the handler."""
    with runtime.sessions() as session:
        return card_holder(session, authorization, datetime.now(UTC))


CurrentCardHolder = Annotated[CardHolder, Depends(current_card_holder)]


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every time here is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def cards_of(session: Session, holder: CardHolder, chain_id: int) -> list[OwnedCard]:
    """The caller's cards on `chain_id`: minted cards of this deployment's drops whose current
    owner is one of `holder.addresses`, revoked ones included (flagged), by contract and number.

    The owner is the indexer's (`token_owners`). For an email holder, a card of their own
    order that is minted but not yet indexed counts too, when the order's recipient is their
    custodial address: a fresh card shows at once, as on "my cards". Read only."""
    if not holder.addresses:
        return []
    owners = [Web3.to_checksum_address(address) for address in holder.addresses]
    indexed = session.execute(
        select(TokenOwnerRow.owner, OrderCard, Drop, Municipality.slug)
        .join(Drop, and_(Drop.chain_id == TokenOwnerRow.chain_id, Drop.contract == TokenOwnerRow.contract))
        .join(OrderCard, and_(OrderCard.drop_id == Drop.id, OrderCard.token_id == TokenOwnerRow.token_id))
        .join(Municipality, Municipality.id == Drop.municipality_id)
        .where(TokenOwnerRow.chain_id == chain_id, TokenOwnerRow.owner.in_(owners))
    ).all()
    found: dict[tuple[str, int], OwnedCard] = {}
    for owner, card, drop, slug in indexed:
        found[(drop.contract, card.token_id)] = _owned(owner, card, drop, slug)
    if holder.holder_id is not None:
        fresh = session.execute(
            select(Order.recipient, OrderCard, Drop, Municipality.slug)
            .join(OrderCard, OrderCard.order_id == Order.id)
            .join(Drop, Drop.id == Order.drop_id)
            .join(Municipality, Municipality.id == Drop.municipality_id)
            .outerjoin(
                TokenOwnerRow,
                and_(
                    TokenOwnerRow.chain_id == Drop.chain_id,
                    TokenOwnerRow.contract == Drop.contract,
                    TokenOwnerRow.token_id == OrderCard.token_id,
                ),
            )
            .where(
                or_(Order.holder_id == holder.holder_id, Order.email == holder.email),
                Order.status == "minted",
                Order.recipient.in_(owners),
                Drop.chain_id == chain_id,
                TokenOwnerRow.token_id.is_(None),
            )
        ).all()
        for recipient, card, drop, slug in fresh:
            assert recipient is not None  # matched IN (owners)
            found.setdefault((drop.contract, card.token_id), _owned(recipient, card, drop, slug))
    return sorted(found.values(), key=lambda owned: (owned.contract, owned.token_id))


def _owned(owner: str, card: OrderCard, drop: Drop, slug: str) -> OwnedCard:
    return OwnedCard(
        chain_id=drop.chain_id,
        contract=drop.contract,
        token_id=int(card.token_id),
        drop_id=drop.id,
        municipality_id=drop.municipality_id,
        town=slug,
        title_ja=drop.title_ja,
        title_en=drop.title_en,
        owner=owner.lower(),
        revoked=card.revoked_at is not None,
        revoked_at=_aware(card.revoked_at),
    )
