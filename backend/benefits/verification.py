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

from sqlalchemy import Integer, and_, bindparam, case, exists, literal, or_, select
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
from .periods import TERM_KEY, period_end, period_key
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


#: The period key a redemption of the benefit would have now (bound per call: `periods`).
_KEY_NOW = case(
    (Benefit.period == "day", bindparam("day_key")),
    (Benefit.period == "week", bindparam("week_key")),
    (Benefit.period == "month", bindparam("month_key")),
    else_=literal(TERM_KEY),
)
#: The benefits a verifier may give a card, each with this card's redemption of it in the
#: current period if there is one (at most one: the redemptions' unique key), in one
#: statement built once (see `_CARD`): the town's, at open shops, for the card's series, in
#: their term; a device's only at its shop (`shop_id` null: a staff verifier, every shop of
#: the town). A redemption is at its benefit's shop (a benefit's shop never changes).
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
        Redemption.redeemed_at,
    )
    .join(Shop, Shop.id == Benefit.shop_id)
    .outerjoin(
        Redemption,
        and_(
            Redemption.benefit_id == Benefit.id,
            Redemption.chain_id == bindparam("chain_id"),
            Redemption.contract == bindparam("contract"),
            Redemption.token_id == bindparam("token_id"),
            Redemption.period_key == _KEY_NOW,
        ),
    )
    .where(
        Benefit.municipality_id == bindparam("town_id"),
        Shop.archived_at.is_(None),
        applies_to(bindparam("drop_id")),  # type: ignore[arg-type]
        in_term(bindparam("now")),  # type: ignore[arg-type]
        or_(bindparam("shop_id", type_=Integer).is_(None), Benefit.shop_id == bindparam("shop_id", type_=Integer)),
    )
    .order_by(Benefit.id)
)


def _shop_of(row: Any) -> ShopRef:
    """The shop of a `_BENEFITS` row (its `shop_*` columns)."""
    return ShopRef(id=row.shop_id, name_ja=row.shop_name_ja, name_en=row.shop_name_en)


def card_benefits(db: Reader, card: Card, verifier: VerifierCaller, now: datetime) -> list[VerifyBenefit]:
    """The benefits of the verifier's scope (a device: its shop; staff: the town) for the
    card's series, in their term, at open shops; paused ones too (shown, not usable), each
    with whether this card used it in the current period, when and where."""
    rows = db.execute(
        _BENEFITS,
        {
            "town_id": verifier.town_id,
            "drop_id": card.drop.id,
            "now": now,
            "shop_id": verifier.shop_id,
            "chain_id": card.claims.chain_id,
            "contract": card.drop.contract,
            "token_id": card.claims.token_id,
            "day_key": period_key("day", now),
            "week_key": period_key("week", now),
            "month_key": period_key("month", now),
        },
    ).all()
    answers = []
    for benefit in rows:
        used = benefit.redeemed_at is not None
        reason = "already_redeemed" if used else None if benefit.active else "paused"
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
                last_redeemed_at=benefit.redeemed_at,
                last_redeemed_shop=_shop_of(benefit) if used else None,
                available_again_at=period_end(benefit.period, now, benefit.ends_at) if used else None,
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
