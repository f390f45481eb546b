"""Redeeming a benefit: the pass checked again, the benefit's rules, then one INSERT.

Once per card per period is the unique key of `redemptions` (benefit, chain, contract, token,
period_key), not a read before the write: twenty taps at once, in one process or several, on
SQLite or PostgreSQL, make one row, and the others meet the key and answer 409
`already_redeemed` saying when (Japan time) and at which shop. The key names the card, not its
holder, so a card sold in the middle of the month stays used for that month.

Order of refusals, so none depends on what the caller may not see: the benefit exists in the
caller's town (404), a device redeems only its own shop's benefits (403), the pass holds (409
`pass_invalid`, its reason in the message), the benefit is usable now (409
`benefit_unavailable`: paused, out of its term, shop closed), the card's series is one it is
for (409 `not_eligible`), and only then the INSERT. Each redemption appends one audit row
(actor `device:{id}` or the staff member's e-mail) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.analytics.changes import mark_address
from backend.core import audit
from backend.metadata.lookup import padded_number
from backend.sales.models import Drop
from backend.staff.models import StaffMember

from .deps import VerifierCaller
from .models import Benefit, BenefitSeries, Redemption, Shop, VerifierDevice
from .periods import in_japan, japan_text, period_end, period_key
from .schemas import CardRef, SeriesRef, ShopRef, StaffRedemptionItem
from .verification import Card, Refusal, check_card

PERIOD_WORDS = {
    "day": ("1日1回", "once a day"),
    "week": ("1週間に1回", "once a week"),
    "month": ("1か月に1回", "once a month"),
    "term": ("期間中1回", "once in its term"),
}


class RedeemRefused(Exception):
    """A redemption that is not made; `status` and `code` for the API."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Redeemed:
    redemption: Redemption
    benefit: Benefit
    shop: Shop
    card: Card
    available_again_at: datetime | None


def _benefit_for(session: Session, benefit_id: int, verifier: VerifierCaller) -> tuple[Benefit, Shop]:
    benefit = session.get(Benefit, benefit_id)
    if benefit is None or benefit.municipality_id != verifier.town_id:
        raise RedeemRefused(404, "benefit_not_found", "この町にその特典はありません。 (No such benefit in this town.)")
    if verifier.shop_id is not None and benefit.shop_id != verifier.shop_id:
        raise RedeemRefused(
            403, "forbidden", "この端末では使えない特典です（別の店舗）。 (Another shop's benefit: not here.)"
        )
    shop = session.get(Shop, benefit.shop_id)
    assert shop is not None  # a foreign key
    return benefit, shop


def _usable(benefit: Benefit, shop: Shop, now: datetime) -> None:
    if shop.archived_at is not None:
        raise RedeemRefused(409, "benefit_unavailable", "この店舗は閉店しています。 (This shop is closed.)")
    if not benefit.active:
        raise RedeemRefused(409, "benefit_unavailable", "この特典は停止中です。 (This benefit is paused by the town.)")
    starts, ends = benefit.starts_at, benefit.ends_at
    if starts is not None and now < _aware(starts):
        text = japan_text(starts)
        raise RedeemRefused(409, "benefit_unavailable", f"この特典は{text}からです。 (Not yet: from {text} JST.)")
    if ends is not None and now >= _aware(ends):
        text = japan_text(ends)
        raise RedeemRefused(409, "benefit_unavailable", f"この特典は{text}で終了しました。 (Ended {text} JST.)")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _eligible(session: Session, benefit: Benefit, card: Card) -> None:
    named = set(session.scalars(select(BenefitSeries.drop_id).where(BenefitSeries.benefit_id == benefit.id)))
    if named and card.drop.id not in named:
        raise RedeemRefused(
            409, "not_eligible", "このカードの期（シリーズ）は対象外です。 (Not for this card's series.)"
        )


def already_message(benefit: Benefit, earlier: Redemption | None, shop: Shop | None, now: datetime) -> str:
    """The 409's message: when (Japan time) and where, and when it comes back."""
    words_ja, words_en = PERIOD_WORDS[benefit.period]
    if earlier is None or shop is None:
        return f"この特典はこのカードで利用済みです（{words_ja}）。 (Already used with this card: {words_en}.)"
    at = japan_text(earlier.redeemed_at)
    again = period_end(benefit.period, now, benefit.ends_at)
    when_ja = f"次は{japan_text(again)}から使えます。" if again is not None else "再度は使えません。"
    when_en = f"available again from {japan_text(again)} JST" if again is not None else "not available again"
    return (
        f"{at}（日本時間）に{shop.name_ja}で利用済みです（{words_ja}）。{when_ja} "
        f"(Already used on {at} JST at {shop.name_en}, {words_en}; {when_en}.)"
    )


def _earlier(session: Session, benefit: Benefit, card: Card, key: str) -> tuple[Redemption | None, Shop | None]:
    row = session.execute(
        select(Redemption, Shop)
        .join(Shop, Shop.id == Redemption.shop_id)
        .where(
            Redemption.benefit_id == benefit.id,
            Redemption.chain_id == card.claims.chain_id,
            Redemption.contract == card.drop.contract,
            Redemption.token_id == card.claims.token_id,
            Redemption.period_key == key,
        )
    ).first()
    return (None, None) if row is None else (row[0], row[1])


def redeem(
    session: Session,
    sessions: sessionmaker[Session],
    benefit_id: int,
    proof: str,
    verifier: VerifierCaller,
    now: datetime,
) -> Redeemed:
    """Redeem the benefit for the card the proof shows, once per period (module docstring);
    committed. Raises `RedeemRefused`."""
    benefit, shop = _benefit_for(session, benefit_id, verifier)
    checked = check_card(session, sessions, proof, verifier, now)
    if isinstance(checked, Refusal):
        raise RedeemRefused(409, "pass_invalid", f"{checked.message_ja} ({checked.message_en})")
    card = checked
    _usable(benefit, shop, now)
    _eligible(session, benefit, card)
    key = period_key(benefit.period, now)
    redemption = Redemption(
        benefit_id=benefit.id,
        municipality_id=benefit.municipality_id,
        shop_id=benefit.shop_id,
        drop_id=card.drop.id,
        chain_id=card.claims.chain_id,
        contract=card.drop.contract,
        token_id=card.claims.token_id,
        period_key=key,
        holder_address=card.owner,
        device_id=verifier.device_id,
        staff_id=verifier.staff_id,
        redeemed_at=now,
    )
    try:
        # The INSERT first, then the audit head's lock: a tap that loses the key never holds
        # the head (which every staff write of the deployment waits for).
        session.add(redemption)
        session.flush()
        mark_address(session, card.owner, benefit.municipality_id)
        audit.record(
            session,
            town_id=benefit.municipality_id,
            actor=verifier.actor,
            action="benefit.redeem",
            target_type="redemption",
            target_id=str(redemption.id),
            after={
                "benefit_id": benefit.id,
                "shop_id": benefit.shop_id,
                "card": f"{card.claims.chain_id}:{card.drop.contract}:{card.claims.token_id}",
                "period_key": key,
            },
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        earlier, where = _earlier(session, benefit, card, key)
        raise RedeemRefused(409, "already_redeemed", already_message(benefit, earlier, where, now)) from None
    return Redeemed(redemption, benefit, shop, card, period_end(benefit.period, now, benefit.ends_at))


# ── lists and the CSV ───────────────────────────────────────────────────────

CSV_HEADER = (
    "redeemed_at_jst",
    "day_jst",
    "shop_id",
    "shop",
    "benefit_id",
    "benefit",
    "period",
    "period_key",
    "drop_id",
    "series",
    "chain_id",
    "contract",
    "token_id",
    "number",
    "holder_address",
    "by",
)


@dataclass(frozen=True)
class RedemptionFilters:
    """Which redemptions: of one shop, between two instants (UTC, end excluded)."""

    shop_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def redemptions_of(town_id: int, filters: RedemptionFilters) -> Select[Redemption, Benefit, Shop, Drop]:
    """The town's redemptions with their benefit, shop and series, newest first (the
    `(municipality_id, redeemed_at)` and `(shop_id, redeemed_at)` indexes serve it)."""
    query = (
        select(Redemption, Benefit, Shop, Drop)
        .join(Benefit, Benefit.id == Redemption.benefit_id)
        .join(Shop, Shop.id == Redemption.shop_id)
        .join(Drop, Drop.id == Redemption.drop_id)
        .where(Redemption.municipality_id == town_id)
        .order_by(Redemption.redeemed_at.desc(), Redemption.id.desc())
    )
    if filters.shop_id is not None:
        query = query.where(Redemption.shop_id == filters.shop_id)
    if filters.start is not None:
        query = query.where(Redemption.redeemed_at >= filters.start)
    if filters.end is not None:
        query = query.where(Redemption.redeemed_at < filters.end)
    return query


def tappers(session: Session, redemptions: list[Redemption]) -> dict[tuple[str, int], str]:
    """Who tapped each: `device:{id} {label}` or the staff member's e-mail."""
    device_ids = {r.device_id for r in redemptions if r.device_id is not None}
    staff_ids = {r.staff_id for r in redemptions if r.staff_id is not None}
    names: dict[tuple[str, int], str] = {}
    if device_ids:
        for device_id, label in session.execute(
            select(VerifierDevice.id, VerifierDevice.label).where(VerifierDevice.id.in_(device_ids))
        ):
            names[("device", device_id)] = f"device:{device_id} {label}"
    if staff_ids:
        for staff_id, email in session.execute(
            select(StaffMember.id, StaffMember.email).where(StaffMember.id.in_(staff_ids))
        ):
            names[("staff", staff_id)] = email
    return names


def tapper(names: dict[tuple[str, int], str], redemption: Redemption) -> str:
    if redemption.device_id is not None:
        return names.get(("device", redemption.device_id), f"device:{redemption.device_id}")
    if redemption.staff_id is not None:
        return names.get(("staff", redemption.staff_id), f"staff:{redemption.staff_id}")
    return ""


def export_rows(
    session: Session, town_id: int, filters: RedemptionFilters, batch: int = 1_000
) -> Iterator[tuple[str | int | None, ...]]:
    """The CSV's rows, oldest first, read in batches (constant memory)."""
    query = redemptions_of(town_id, filters).order_by(None).order_by(Redemption.redeemed_at, Redemption.id)
    chunk: list[tuple[Redemption, Benefit, Shop, Drop]] = []
    for row in session.execute(query.execution_options(yield_per=batch)):
        chunk.append(row)
        if len(chunk) >= batch:
            yield from _csv_rows(session, chunk)
            chunk = []
    yield from _csv_rows(session, chunk)


def _csv_rows(
    session: Session, chunk: list[tuple[Redemption, Benefit, Shop, Drop]]
) -> Iterator[tuple[str | int | None, ...]]:
    if not chunk:
        return
    names = tappers(session, [row[0] for row in chunk])
    for redemption, benefit, shop, drop in chunk:
        local = in_japan(redemption.redeemed_at)
        yield (
            local.strftime("%Y-%m-%d %H:%M:%S"),
            local.strftime("%Y-%m-%d"),
            shop.id,
            shop.name_ja,
            benefit.id,
            benefit.title_ja,
            benefit.period,
            redemption.period_key,
            drop.id,
            drop.title_ja,
            redemption.chain_id,
            redemption.contract,
            redemption.token_id,
            padded_number(drop, redemption.token_id),
            redemption.holder_address,
            tapper(names, redemption),
        )


def staff_items(session: Session, rows: list[tuple[Redemption, Benefit, Shop, Drop]]) -> list[StaffRedemptionItem]:
    """Rows of `redemptions_of` as the lists answer them (the shop's list drops the address)."""
    names = tappers(session, [row[0] for row in rows])
    return [
        StaffRedemptionItem(
            id=redemption.id,
            benefit_id=benefit.id,
            benefit_title_ja=benefit.title_ja,
            benefit_title_en=benefit.title_en,
            shop=ShopRef(id=shop.id, name_ja=shop.name_ja, name_en=shop.name_en),
            period_key=redemption.period_key,
            redeemed_at=redemption.redeemed_at,
            series=SeriesRef(drop_id=drop.id, title_ja=drop.title_ja, title_en=drop.title_en),
            card=CardRef(chain_id=redemption.chain_id, contract=redemption.contract, token_id=redemption.token_id),
            number=padded_number(drop, redemption.token_id),
            by=tapper(names, redemption),
            holder_address=redemption.holder_address,
        )
        for redemption, benefit, shop, drop in rows
    ]


def page_of(
    session: Session, town_id: int, filters: RedemptionFilters, limit: int, offset: int
) -> tuple[list[StaffRedemptionItem], int]:
    """One page of the town's redemptions, newest first, and how many match."""
    query = redemptions_of(town_id, filters)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = [(r, b, s, d) for r, b, s, d in session.execute(query.limit(limit).offset(offset))]
    return staff_items(session, rows), total
