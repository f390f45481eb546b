"""Staff's search over a town's orders: one set of filters for the list and the CSV export.

Filters (all optional, combined with AND):

    drop_id        the drop
    status         one order status (`pending_payment` … `refunded`)
    campaign       a campaign code, exactly
    email          the start of the buyer's address, case-insensitive: "tanaka" finds
                   tanaka@… and tanaka.h@…; a whole address finds that address. Addresses are
                   stored in lower case, so a LIKE on the lower-cased input is both exact
                   and index-friendly; `%` and `_` typed by staff are matched literally.
    created_from   first day, inclusive, in Japan time (what staff mean by "12月1日")
    created_to     last day, inclusive, in Japan time

Only orders of the town's own drops are ever read: the town is part of every query, not a
check made afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import groupby
from typing import Any, Final, Literal

from sqlalchemy import Select, and_, select, text
from sqlalchemy.orm import Session

from backend.core.csv_export import Cell
from backend.metadata.prefectures import prefecture_name
from backend.sales.models import Drop, Order, OrderCard, Refund

#: Japan Standard Time: UTC+9 all year (Japan keeps no daylight saving time).
_NINE_HOURS: Final = timedelta(hours=9)
JST: Final = timezone(_NINE_HOURS, "JST")

OrderStatus = Literal["pending_payment", "paid", "minting", "minted", "failed", "expired", "refunded"]

#: Rows fetched from the database at a time while exporting (a server-side cursor on PostgreSQL).
EXPORT_BATCH: Final = 2_000


@dataclass(frozen=True)
class OrderFilters:
    """What staff filter orders by (see module docstring); None means "any"."""

    drop_id: int | None = None
    status: str | None = None
    campaign: str | None = None
    email: str | None = None
    created_from: date | None = None
    created_to: date | None = None


def jst_midnight(day: date) -> datetime | None:
    """The UTC instant at which `day` begins in Japan, or None when that instant is outside
    what a datetime can hold (0001-01-01 begins in year 0 UTC): then there is no bound."""
    try:
        return (datetime.combine(day, time()) - _NINE_HOURS).replace(tzinfo=UTC)
    except OverflowError:
        return None


def jst_day_bounds(day: date) -> tuple[datetime | None, datetime | None]:
    """[start, end) of `day` in Japan time, as UTC instants (None where unbounded)."""
    try:
        following = day + timedelta(days=1)
    except OverflowError:  # 9999-12-31: nothing comes after it
        return jst_midnight(day), None
    return jst_midnight(day), jst_midnight(following)


def jst_text(moment: datetime | None) -> str:
    """`2026-12-01 18:05:03` in Japan time (what Excel reads as a date and time), "" for none.
    SQLite hands datetimes back without their zone: every one we store is UTC. (Adding nine
    hours and `isoformat` is 13× faster than `astimezone` and `strftime`: it runs per row.)"""
    if moment is None:
        return ""
    utc = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment
    return (utc + _NINE_HOURS).isoformat(" ", "seconds")


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def where_clauses(town_id: int, filters: OrderFilters) -> list[Any]:
    """The WHERE of a town's orders under `filters` (the query must join `Drop`)."""
    clauses: list[Any] = [Drop.municipality_id == town_id]
    if filters.drop_id is not None:
        clauses.append(Order.drop_id == filters.drop_id)
    if filters.status:
        clauses.append(Order.status == filters.status)
    if filters.campaign:
        clauses.append(Order.campaign_code == filters.campaign)
    email = (filters.email or "").strip().lower()
    if email:
        clauses.append(Order.email.like(_like_prefix(email), escape="\\"))
    if filters.created_from is not None and (start := jst_midnight(filters.created_from)) is not None:
        clauses.append(Order.created_at >= start)
    if filters.created_to is not None and (end := jst_day_bounds(filters.created_to)[1]) is not None:
        clauses.append(Order.created_at < end)
    return clauses


def town_orders(town_id: int, filters: OrderFilters) -> Select[Order, Drop]:
    """The town's orders under `filters` with their drop, newest first."""
    return (
        select(Order, Drop)
        .join(Drop, Drop.id == Order.drop_id)
        .where(*where_clauses(town_id, filters))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )


def cards_of(session: Session, order_ids: list[str]) -> dict[str, list[int]]:
    """{order id: its card numbers, in order} for a page of orders (one query)."""
    cards: dict[str, list[int]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        rows = session.execute(
            select(OrderCard.order_id, OrderCard.token_id)
            .where(OrderCard.order_id.in_(order_ids))
            .order_by(OrderCard.order_id, OrderCard.token_id)
        )
        for order_id, token_id in rows:
            cards[order_id].append(int(token_id))
    return cards


#: The export's columns, Japanese first (the town's staff read it in Excel), then the name a
#: script can key on.
CSV_HEADER: Final = (
    "注文ID / order_id",
    "注文日時（日本時間） / created_jst",
    "ドロップID / drop_id",
    "ドロップ / drop",
    "枚数 / quantity",
    "金額（円） / amount_jpy",
    "状態 / status",
    "メール / email",
    "都道府県コード / prefecture_code",
    "都道府県 / prefecture",
    "キャンペーン / campaign",
    "カード番号 / token_ids",
    "支払方法 / payment_method",
    "返金日時（日本時間） / refunded_jst",
)


def _export_query(town_id: int, filters: OrderFilters) -> Select[*tuple[Any, ...]]:
    """One row per card (or one for an order without cards), oldest order first, so rows of one
    order are adjacent and `groupby` folds them without holding more than one order."""
    return (
        select(
            Order.id,
            Order.created_at,
            Order.drop_id,
            Drop.title_ja,
            Order.quantity,
            Order.amount_jpy,
            Order.status,
            Order.email,
            Order.prefecture,
            Order.campaign_code,
            Order.payment_method,
            Refund.completed_at,
            OrderCard.token_id,
        )
        .join(Drop, Drop.id == Order.drop_id)
        .outerjoin(OrderCard, OrderCard.order_id == Order.id)
        .outerjoin(Refund, and_(Refund.order_id == Order.id, Order.status == "refunded"))
        .where(*where_clauses(town_id, filters))
        .order_by(Order.created_at, Order.id, OrderCard.token_id)
    )


def prefecture_label(code: str) -> str:
    return "海外 / abroad" if code == "00" else prefecture_name(code) or ""


def export_rows(session: Session, town_id: int, filters: OrderFilters) -> Iterator[tuple[Cell, ...]]:
    """The CSV rows of the town's orders under `filters`, read `EXPORT_BATCH` rows at a time
    (a server-side cursor on PostgreSQL), so memory stays flat however many orders there are."""
    if session.get_bind().dialect.name == "postgresql":
        # A cursor's plan is tuned for its first 10 % by default; an export reads all of it
        # (measured: 100,000 rows read in 1.5 s instead of 3.8 s). For this transaction only.
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    result = session.execute(_export_query(town_id, filters).execution_options(yield_per=EXPORT_BATCH))
    for _order_id, rows in groupby(result, key=lambda row: row[0]):
        first, *rest = rows
        token_ids = [first[12], *(row[12] for row in rest)]
        yield (
            first[0],
            jst_text(first[1]),
            first[2],
            first[3],
            first[4],
            first[5],
            first[6],
            first[7],
            first[8],
            prefecture_label(first[8]),
            first[9] or "",
            " ".join(str(token_id) for token_id in token_ids if token_id is not None),
            first[10],
            jst_text(first[11]),
        )
