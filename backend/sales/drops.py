"""Drops: a resident-card drop is a series on the town's card contract plus its sale terms here.

Staff drops start as drafts (`new_draft`) and are edited with `update_drop`; publishing
(`backend.sales.publish`) adds the series on chain through the exactly-once sender and only
then makes the drop public. Every change of a drop's state or terms is one conditional
UPDATE on its current status (and, for terms of a published drop, on "nothing sold"), so a
change racing a publish, an order or another change happens once or is refused — never
half-applied.

    draft ──publish──▶ publishing ──(series confirmed)──▶ live ◀──pause/resume──▶ paused
      ▲                     │
      └──(series reverted: publish_error)

The demo drop (`create_card_drop`) still adds its series directly at first start: nothing
else runs then, and an orphan series from a crash there only reserves an id range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, delete, exists, select, update
from sqlalchemy.orm import Session
from web3 import Web3

from backend.sales.drop_schemas import SALE_FIELDS, TEXT_FIELDS, DropCreate
from backend.sales.models import Drop, DropSerial, FreeSerial, Order
from backend.sales.orders import OrderRefused, aware_or_none
from backend.towns.contracts import contract_tree
from backend.towns.models import Municipality
from minting.chains import Chain
from minting.compiler import Artifact
from minting.resident_card import ResidentCardClient

DRAFT, PUBLISHING, LIVE, PAUSED = "draft", "publishing", "live", "paused"
#: What buyers see: a paused drop is shown (with its state) but takes no orders.
PUBLIC_STATUSES = (LIVE, PAUSED)
#: What a wallet buyer pays on chain per yen of the price: the demo drop's rate (¥1,000 =
#: 0.001 ETH). A yen-priced sale on a public chain needs an oracle or a set rate; until then
#: every staff drop uses this one, and its series' on-chain price follows it.
WEI_PER_JPY = 10**12
#: A series' sale end when the drop has none (the contract's uint64 maximum).
NO_END = 2**64 - 1


@dataclass(frozen=True)
class DropTerms:
    """What staff choose when they launch a resident-card drop."""

    title_ja: str
    title_en: str
    supply: int
    price_jpy: int
    price_wei: int
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime | None = None
    description_ja: str = ""
    description_en: str = ""
    soulbound: bool = False
    payment_methods: str = "demo,card,wallet"


def card_artifact() -> Artifact:
    """The compiled ResidentCard, from the contracts `contract_tree` reads once per process."""
    return contract_tree()["ResidentCard"]


def card_client(chain: Chain, contract: str, account: LocalAccount | None = None) -> ResidentCardClient:
    return ResidentCardClient.at(chain.w3, card_artifact(), contract, account)


def next_free_token_id(card: ResidentCardClient) -> int:
    """The first id after every series on chain (ids start at 1: the number on the card)."""
    count = card.series_count()
    return 1 if count == 0 else card.series(count - 1).last_id + 1


def create_card_drop(
    session: Session, chain: Chain, contract: str, admin: LocalAccount, town: Municipality, terms: DropTerms
) -> Drop:
    """Add a series on chain for `terms` and the drop that sells it."""
    card = card_client(chain, contract, admin)
    first = next_free_token_id(card)
    series = card.add_series(
        first,
        first + terms.supply - 1,
        price_wei=terms.price_wei,
        sale_start=int(terms.starts_at.timestamp()),
        sale_end=int(terms.ends_at.timestamp()) if terms.ends_at else 2**64 - 1,
        per_buyer_cap=terms.per_buyer_limit,
        soulbound=terms.soulbound,
    )
    drop = Drop(
        municipality_id=town.id,
        kind="resident_card",
        sale_mode="first_come",
        title_ja=terms.title_ja,
        title_en=terms.title_en,
        description_ja=terms.description_ja,
        description_en=terms.description_en,
        price_jpy=terms.price_jpy,
        price_wei=terms.price_wei,
        supply=terms.supply,
        reserved=0,
        per_buyer_limit=terms.per_buyer_limit,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        payment_methods=terms.payment_methods,
        chain_id=chain.chain_id,
        contract=card.address,
        series_id=series.series_id,
        first_token_id=series.first_id,
    )
    session.add(drop)
    session.flush()
    session.add(DropSerial(drop_id=drop.id, next_serial=series.first_id, end_serial=series.first_id + terms.supply))
    session.flush()
    return drop


def drops_of(chain_id: int, municipality: str | None) -> Select[Drop, str]:
    """Public drops (live or paused: never a draft, nor one whose series is not confirmed) on
    this deployment's chain with their town's slug, newest first, optionally of one town."""
    query = (
        select(Drop, Municipality.slug)
        .join(Municipality)
        .where(Drop.chain_id == chain_id, Drop.status.in_(PUBLIC_STATUSES))
        .order_by(Drop.id.desc())
    )
    if municipality is not None:
        query = query.where(Municipality.slug == municipality)
    return query


# ── staff drops: drafts, edits, pause ─────────────────────────────────────────


class DropChangeRefused(Exception):
    """A staff change that the drop's state does not allow; `code` is the API's error code."""

    def __init__(self, code: str, message: str, status: int = 409, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        #: For a 422: pydantic's errors, one per rule broken (type `cross_field`).
        self.errors = errors or []


#: A drop's fields staff choose (DESIGN.md), in the order the console shows them.
EDITABLE_FIELDS = (
    "sale_mode",
    "title_ja",
    "title_en",
    "description_ja",
    "description_en",
    "price_jpy",
    "supply",
    "per_buyer_limit",
    "starts_at",
    "ends_at",
    "soulbound",
    "payment_methods",
    "applications_close_at",
    "draw_at",
    "pay_within_hours",
)
#: Fixed in the series on chain once published: its id range (supply may only go down,
#: leaving ids unused), its soulbound lock, and how it is sold.
LOCKED_ON_CHAIN = frozenset({"soulbound", "sale_mode"})


def price_wei_of(price_jpy: int) -> int:
    return price_jpy * WEI_PER_JPY


def drop_fields(drop: Drop) -> dict[str, Any]:
    """The staff-chosen fields of `drop`, as `DropCreate` takes them (also the audit's before/after)."""
    fields: dict[str, Any] = {name: getattr(drop, name) for name in EDITABLE_FIELDS}
    fields["payment_methods"] = [method for method in drop.payment_methods.split(",") if method]
    for name in ("starts_at", "ends_at", "applications_close_at", "draw_at"):
        fields[name] = aware_or_none(fields[name])
    return fields


def audit_view(drop: Drop) -> dict[str, Any]:
    """What the audit log keeps of a drop: its fields and its state."""
    return {**drop_fields(drop), "status": drop.status, "series_id": drop.series_id}


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    """Validated fields → column values (methods comma-separated, price in wei alongside)."""
    columns = dict(values)
    for name in TEXT_FIELDS & set(columns):
        columns[name] = columns[name].strip()
    if "payment_methods" in columns:
        columns["payment_methods"] = ",".join(columns["payment_methods"])
    if "price_jpy" in columns:
        columns["price_wei"] = price_wei_of(columns["price_jpy"])
    return columns


def new_draft(session: Session, town: Municipality, body: DropCreate, *, chain_id: int, contract: str) -> Drop:
    """A draft drop of `town`, to be sold from `contract` once published (nothing on chain yet)."""
    drop = Drop(
        municipality_id=town.id,
        kind=body.kind,
        status=DRAFT,
        reserved=0,
        chain_id=chain_id,
        contract=Web3.to_checksum_address(contract),
        **_columns(body.model_dump(include=set(EDITABLE_FIELDS))),
    )
    session.add(drop)
    session.flush()
    return drop


def staff_drops_of(town_id: int) -> Select[Drop]:
    """Every drop of a town, whatever its state, newest first."""
    return select(Drop).where(Drop.municipality_id == town_id).order_by(Drop.id.desc())


def nothing_sold() -> ColumnElement[bool]:
    """No card of the drop is held or paid for, and no order of it is still going (an expired
    order's cards went back; any other order, even refunded, counts as sold)."""
    return (Drop.reserved == 0) & ~exists().where(Order.drop_id == Drop.id, Order.status != "expired")


def _merged(drop: Drop, changes: dict[str, Any]) -> dict[str, Any]:
    """The drop's fields after `changes`, checked as a whole (a window that ends before it
    starts, a lottery without its dates, …) → `DropChangeRefused` 422 naming the rule."""
    merged = {**drop_fields(drop), **changes}
    try:
        checked = DropCreate.model_validate({"kind": drop.kind, **merged})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}".removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise DropChangeRefused("invalid_request", problems, status=422, errors=exc.errors()) from None
    return checked.model_dump(include=set(EDITABLE_FIELDS))


def update_drop(session: Session, drop: Drop, changes: dict[str, Any]) -> bool:
    """Apply staff `changes` to `drop` in the caller's transaction; True when the series on
    chain must follow (price, limit or window of a published drop changed).

    Drafts change anything. Published drops (live, paused) change texts, payment methods and
    lottery dates at any time; price, per-person limit, window and (downwards only) supply
    while nothing is sold; never the soulbound lock or the sale mode, fixed in the series.
    Raises `DropChangeRefused`."""
    merged = _merged(drop, changes)
    current = drop_fields(drop)
    changed = {name: value for name, value in merged.items() if value != current[name]}
    if not changed:
        return False
    status = drop.status
    _check_lottery_fixed(drop, changed)
    if status == PUBLISHING:
        raise DropChangeRefused(
            "drop_publishing", "公開処理中のため編集できません。公開が終わってから編集してください。 (Being published.)"
        )
    condition: ColumnElement[bool] = Drop.status == DRAFT
    terms = set(changed) - TEXT_FIELDS - {"payment_methods", "applications_close_at", "draw_at", "pay_within_hours"}
    if status in PUBLIC_STATUSES:
        condition = Drop.status.in_(PUBLIC_STATUSES)
        _check_published_change(drop, changed, terms)
        if terms:
            condition = condition & nothing_sold()
    result = session.execute(
        update(Drop)
        .where(Drop.id == drop.id, condition)
        .values(**_columns(changed))
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        session.refresh(drop)
        if drop.status != status:
            raise DropChangeRefused(
                "drop_state_changed", f"この販売の状態が変わりました（{drop.status}）。再読み込みしてください。"
            )
        raise _terms_locked("注文があるため、価格・枚数・上限・期間は変更できません。 (Cards are sold.)")
    if status in PUBLIC_STATUSES and "supply" in changed:
        _shrink_serials(session, drop, changed["supply"])
    session.refresh(drop)
    return status in PUBLIC_STATUSES and bool(terms & SALE_FIELDS)


#: What a lottery's draw depends on, fixed from its applications' close (`backend.lottery`
#: copies them into the lottery then): changing them after the list is known would let the
#: town move the draw once the anchor block, and so the result, could be computed.
LOTTERY_FIXED_AT_CLOSE = frozenset(
    {"supply", "per_buyer_limit", "price_jpy", "starts_at", "applications_close_at", "draw_at", "pay_within_hours"}
)


def _check_lottery_fixed(drop: Drop, changed: dict[str, Any]) -> None:
    closes = aware_or_none(drop.applications_close_at)
    if drop.sale_mode != "lottery" or drop.status == DRAFT or closes is None or datetime.now(UTC) < closes:
        return
    fixed = sorted(LOTTERY_FIXED_AT_CLOSE & set(changed))
    if fixed:
        raise _terms_locked(
            f"抽選の受付が締め切られたため、{', '.join(fixed)} は変更できません。 "
            "(Fixed once the lottery's applications close.)"
        )


def _terms_locked(message: str) -> DropChangeRefused:
    return DropChangeRefused("drop_terms_locked", message)


def _check_published_change(drop: Drop, changed: dict[str, Any], terms: set[str]) -> None:
    fixed = sorted(LOCKED_ON_CHAIN & set(changed))
    if fixed:
        raise _terms_locked(
            f"公開済みの販売では {', '.join(fixed)} は変更できません（チェーン上のシリーズで固定）。 "
            "(Fixed in the series on chain once published.)"
        )
    if "supply" in terms and changed["supply"] > drop.supply:
        raise _terms_locked(
            "公開済みの販売の枚数は増やせません（チェーン上の番号の範囲が固定されています）。"
            "新しい販売を作成してください。 (A series' id range is fixed on chain: make a new drop.)"
        )


def _shrink_serials(session: Session, drop: Drop, supply: int) -> None:
    """Numbering of a published drop with nothing sold starts over within the smaller supply:
    the series keeps its ids on chain, the ones past the new end are never numbered."""
    assert drop.first_token_id is not None
    first = int(drop.first_token_id)
    session.execute(delete(FreeSerial).where(FreeSerial.drop_id == drop.id))
    session.execute(
        update(DropSerial)
        .where(DropSerial.drop_id == drop.id)
        .values(next_serial=first, end_serial=first + supply)
        .execution_options(synchronize_session=False)
    )


def set_status(session: Session, drop: Drop, *, to: str) -> bool:
    """Pause (live → paused) or resume (paused → live) in the caller's transaction; False if
    it already was `to` (a double click). Raises `DropChangeRefused` from any other state."""
    before = PAUSED if to == LIVE else LIVE
    result = session.execute(
        update(Drop)
        .where(Drop.id == drop.id, Drop.status == before)
        .values(status=to)
        .execution_options(synchronize_session=False)
    )
    session.refresh(drop)
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    if drop.status == to:
        return False
    if to == PAUSED:
        raise DropChangeRefused("drop_not_live", f"公開中の販売だけを一時停止できます（いまは {drop.status}）。")
    raise DropChangeRefused("drop_not_paused", f"一時停止中の販売だけを再開できます（いまは {drop.status}）。")


def refuse_unorderable(drop: Drop) -> None:
    """Raise `OrderRefused` for a public drop that takes no orders now: paused by the town,
    or sold by lottery (applications, a later issue, are its only way in)."""
    if drop.status == PAUSED:
        raise OrderRefused(
            "drop_paused",
            "この販売は一時停止中です。再開されるまでお待ちください。 (This drop is paused; try again later.)",
        )
    if drop.sale_mode == "lottery":
        raise OrderRefused(
            "lottery_only",
            "この販売は抽選です。申し込みの受付はのちほど始まります。 (A lottery drop: applications open later.)",
        )


def sale_terms(drop: Drop) -> tuple[int, int, int, int]:
    """The series' on-chain sale terms for `drop`: (price in wei, start, end, per-buyer cap)."""
    starts = aware_or_none(drop.starts_at)
    ends = aware_or_none(drop.ends_at)
    assert starts is not None
    return (
        int(drop.price_wei),
        _chain_time(starts),
        _chain_time(ends) if ends is not None else NO_END,
        drop.per_buyer_limit,
    )


def _chain_time(moment: datetime) -> int:
    """A moment as the contract's uint64 seconds: before 1970 is "already open", so 0."""
    return min(max(int(moment.timestamp()), 0), NO_END)
