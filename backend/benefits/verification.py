"""Checking a holder's pass at a shop, and which benefits the card may use there now.

The checks, in this order (each answers its own reason, in Japanese and English):
1. `forged`, `expired` — the proof's signature and expiry (`backend.holders.pass_token`:
   the deployment's keys are cached in memory, so this is one Ed25519 check);
2. `other_town` — the proof's town is not the verifier's (a shop never honours another
   town's card, even one of this deployment);
3. `unknown_card` — no series (drop) of this deployment on that chain and contract holds the
   token id, or the indexer has not seen it minted;
4. `revoked` — the card's order was refunded after minting (`order_cards.revoked_at`);
5. `not_holder` — the indexer's current owner is not the address the proof names: the card
   moved after the proof was made (a screenshot passed on, a card sold).

Fast by construction (the benchmark's p99 ≤ 150 ms at 64 clients): no chain call, and a
handful of indexed reads — the drop by (chain, contract, id range), the owner row by its
primary key, the card's order row by its unique key, the benefits of the scope, and this
card's redemptions in the current periods by the redemptions' unique key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Integer, and_, bindparam, exists, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from backend.holders.pass_token import PassClaims, PassRefused, read_pass
from backend.metadata.lookup import MAX_TOKEN_ID, padded_number
from backend.sales.models import Drop, OrderCard
from backend.towns.models import Municipality
from minting.store import TokenOwnerRow

from .deps import VerifierCaller
from .models import Benefit, BenefitSeries, Redemption, Shop
from .periods import period_end, period_key
from .schemas import CardRef, SeriesRef, ShopRef, TownRef, VerifyBenefit, VerifyResult

#: Each refusal as the clerk's red screen says it: (Japanese, English).
REASONS: Final[dict[str, tuple[str, str]]] = {
    "forged": ("偽造または改ざん", "Forged or altered: not a pass this town issued."),
    "expired": ("期限切れ", "Expired: ask the holder to open their pass again."),
    "other_town": ("別の町のカード", "A card of another town."),
    "unknown_card": ("見つからないカード", "No such card (not issued yet, or not of this deployment)."),
    "revoked": ("返金により無効", "Revoked: the purchase was refunded."),
    "not_holder": ("別の持ち主に移っています", "This card has moved to another holder."),
}


#: Where the checks read: a Core connection at the verify endpoint (no ORM session, identity
#: map or ORM compilation at every scan), or the redeeming request's session.
Reader = Session | Connection


@dataclass(frozen=True)
class Series:
    """The columns of a card's drop that the checks and the answer read (rows, not ORM
    objects: loading whole `Drop` and `Municipality` objects cost more than the query)."""

    id: int
    municipality_id: int
    contract: str
    title_ja: str
    title_en: str
    first_token_id: int | None
    supply: int


@dataclass(frozen=True)
class Card:
    """A card that passed every check."""

    claims: PassClaims
    town: TownRef
    drop: Series
    #: The owner on chain now, as the indexer saw it (checksummed).
    owner: str

    @property
    def number(self) -> str:
        return padded_number(self.drop, self.claims.token_id)

    @property
    def ref(self) -> CardRef:
        return CardRef(chain_id=self.claims.chain_id, contract=self.drop.contract, token_id=self.claims.token_id)

    @property
    def series(self) -> SeriesRef:
        return SeriesRef(drop_id=self.drop.id, title_ja=self.drop.title_ja, title_en=self.drop.title_en)


@dataclass(frozen=True)
class Refusal:
    reason: str
    claims: PassClaims | None = None

    @property
    def message_ja(self) -> str:
        return REASONS[self.reason][0]

    @property
    def message_en(self) -> str:
        return REASONS[self.reason][1]


#: The card and everything its checks read, in one statement built once (a verification runs
#: at every scan; building SQL expressions per call cost more than running them): the series
#: whose id range holds the token (ranges are reserved when a drop publishes), its town, the
#: indexer's owner row and the card's order row (at most one: unique per drop and token).
_CARD = (
    select(
        Drop.id,
        Drop.municipality_id,
        Drop.contract,
        Drop.title_ja,
        Drop.title_en,
        Drop.first_token_id,
        Drop.supply,
        Municipality.slug,
        Municipality.name_ja,
        Municipality.name_en,
        TokenOwnerRow.owner,
        OrderCard.revoked_at,
    )
    .join(Municipality, Municipality.id == Drop.municipality_id)
    .outerjoin(
        TokenOwnerRow,
        and_(
            TokenOwnerRow.chain_id == Drop.chain_id,
            TokenOwnerRow.contract == Drop.contract,
            TokenOwnerRow.token_id == bindparam("token_id"),
        ),
    )
    .outerjoin(OrderCard, and_(OrderCard.drop_id == Drop.id, OrderCard.token_id == bindparam("token_id")))
    .where(
        Drop.chain_id == bindparam("chain_id"),
        Drop.contract == bindparam("contract"),
        Drop.kind == "resident_card",
        Drop.first_token_id.is_not(None),
        Drop.first_token_id <= bindparam("token_id"),
        Drop.first_token_id + Drop.supply > bindparam("token_id"),
    )
)


def check_card(
    db: Reader, sessions: sessionmaker[Session], proof: str, verifier: VerifierCaller, now: datetime
) -> Card | Refusal:
    """The card the proof shows, if every check holds (module docstring); else the refusal."""
    try:
        claims = read_pass(sessions, proof, now)
    except PassRefused as refused:
        return Refusal(refused.reason)
    if claims.town != verifier.town_slug:
        return Refusal("other_town", claims)
    if claims.token_id > MAX_TOKEN_ID:
        return Refusal("unknown_card", claims)
    contract = Web3.to_checksum_address(claims.contract)
    row = db.execute(_CARD, {"chain_id": claims.chain_id, "contract": contract, "token_id": claims.token_id}).first()
    if row is None:
        return Refusal("unknown_card", claims)
    *series, slug, name_ja, name_en, owner, revoked_at = row
    drop = Series(*series)
    if drop.municipality_id != verifier.town_id:
        return Refusal("other_town", claims)
    if owner is None:
        return Refusal("unknown_card", claims)
    if revoked_at is not None:
        return Refusal("revoked", claims)
    if owner.lower() != claims.holder.lower():
        return Refusal("not_holder", claims)
    return Card(claims=claims, town=TownRef(slug=slug, name_ja=name_ja, name_en=name_en), drop=drop, owner=owner)


def applies_to(drop_id: object) -> object:
    """SQL: the benefit is for every series (no rows) or names this one."""
    named = exists(select(BenefitSeries.drop_id).where(BenefitSeries.benefit_id == Benefit.id))
    this = exists(
        select(BenefitSeries.drop_id).where(BenefitSeries.benefit_id == Benefit.id, BenefitSeries.drop_id == drop_id)
    )
    return or_(~named, this)


def in_term(now: object) -> object:
    return and_(
        or_(Benefit.starts_at.is_(None), Benefit.starts_at <= now),
        or_(Benefit.ends_at.is_(None), Benefit.ends_at > now),
    )


#: The benefits a verifier may give a card (built once, see `_CARD`): the town's, at open
#: shops, for the card's series, in their term; a device's only at its shop (`shop_id` null:
#: a staff verifier, every shop of the town).
_BENEFITS = (
    select(
        Benefit.id,
        Benefit.title_ja,
        Benefit.title_en,
        Benefit.description_ja,
        Benefit.description_en,
        Benefit.period,
        Benefit.active,
        Benefit.ends_at,
        Shop.id.label("shop_id"),
        Shop.name_ja.label("shop_name_ja"),
        Shop.name_en.label("shop_name_en"),
    )
    .join(Shop, Shop.id == Benefit.shop_id)
    .where(
        Benefit.municipality_id == bindparam("town_id"),
        Shop.archived_at.is_(None),
        applies_to(bindparam("drop_id")),  # type: ignore[arg-type]
        in_term(bindparam("now")),  # type: ignore[arg-type]
        or_(bindparam("shop_id", type_=Integer).is_(None), Benefit.shop_id == bindparam("shop_id", type_=Integer)),
    )
    .order_by(Benefit.id)
)
#: This card's redemptions of those benefits in any of the current periods' keys; each is
#: then matched to its own benefit's key.
_USED = (
    select(
        Redemption.benefit_id,
        Redemption.period_key,
        Redemption.redeemed_at,
        Shop.id.label("shop_id"),
        Shop.name_ja.label("shop_name_ja"),
        Shop.name_en.label("shop_name_en"),
    )
    .join(Shop, Shop.id == Redemption.shop_id)
    .where(
        Redemption.benefit_id.in_(bindparam("benefit_ids", expanding=True)),
        Redemption.period_key.in_(bindparam("keys", expanding=True)),
        Redemption.chain_id == bindparam("chain_id"),
        Redemption.contract == bindparam("contract"),
        Redemption.token_id == bindparam("token_id"),
    )
)


def _shop_of(row: Any) -> ShopRef:
    """The shop of a `_BENEFITS` or `_USED` row (its `shop_*` columns)."""
    return ShopRef(id=row.shop_id, name_ja=row.shop_name_ja, name_en=row.shop_name_en)


def card_benefits(db: Reader, card: Card, verifier: VerifierCaller, now: datetime) -> list[VerifyBenefit]:
    """The benefits of the verifier's scope (a device: its shop; staff: the town) for the
    card's series, in their term, at open shops; paused ones too (shown, not usable), each
    with whether this card used it in the current period, when and where."""
    rows = db.execute(
        _BENEFITS, {"town_id": verifier.town_id, "drop_id": card.drop.id, "now": now, "shop_id": verifier.shop_id}
    ).all()
    if not rows:
        return []
    keys = {benefit.id: period_key(benefit.period, now) for benefit in rows}
    used = {
        redemption.benefit_id: redemption
        for redemption in db.execute(
            _USED,
            {
                "benefit_ids": list(keys),
                "keys": sorted(set(keys.values())),
                "chain_id": card.claims.chain_id,
                "contract": card.drop.contract,
                "token_id": card.claims.token_id,
            },
        ).all()
        if keys[redemption.benefit_id] == redemption.period_key
    }
    answers = []
    for benefit in rows:
        redemption = used.get(benefit.id)
        reason = "already_redeemed" if redemption is not None else None if benefit.active else "paused"
        answers.append(
            VerifyBenefit(
                id=benefit.id,
                title=benefit.title_ja,
                title_ja=benefit.title_ja,
                title_en=benefit.title_en,
                description_ja=benefit.description_ja,
                description_en=benefit.description_en,
                shop=_shop_of(benefit),
                period=benefit.period,
                available=reason is None,
                unavailable_reason=reason,  # type: ignore[arg-type]
                last_redeemed_at=None if redemption is None else redemption.redeemed_at,
                last_redeemed_shop=None if redemption is None else _shop_of(redemption),
                available_again_at=None if redemption is None else period_end(benefit.period, now, benefit.ends_at),
            )
        )
    return answers


def check_pass(
    db: Reader, sessions: sessionmaker[Session], proof: str, verifier: VerifierCaller, now: datetime
) -> VerifyResult:
    """The clerk's answer for a scanned proof (module docstring)."""
    checked = check_card(db, sessions, proof, verifier, now)
    if isinstance(checked, Refusal):
        return VerifyResult(
            valid=False,
            reason=checked.reason,  # type: ignore[arg-type]
            message_ja=checked.message_ja,
            message_en=checked.message_en,
            town=None,
            series=None,
            number=None,
            card=None,
            expires_at=None if checked.claims is None else checked.claims.expires_at,
            benefits=[],
        )
    return VerifyResult(
        valid=True,
        reason=None,
        message_ja=None,
        message_en=None,
        town=checked.town,
        series=checked.series,
        number=checked.number,
        card=checked.ref,
        expires_at=checked.claims.expires_at,
        benefits=card_benefits(db, checked, verifier, now),
    )
