"""Check-ins: a holder's visit to a spot, at most once per spot per day (Japan time).

Judged in this order, so the answer names the first thing the holder can act on:

1. the holder holds a valid card of the spot's town (minted, not revoked by a refund, its
   current owner on chain one of the caller's addresses) → else 409 `no_card`;
2. not already checked in at this spot today → else 409 `already_checked_in`;
3. a kiosk spot: the code of the kiosk's QR, current or one window old → else 409
   `kiosk_code_invalid`;
4. a spot that checks the location: coordinates sent → else 422 `location_required`; the
   great-circle distance at most `radius_m` plus the phone's stated accuracy (counted up to
   100 m: a phone that says ±2 km is not "here") → else 409 `out_of_range` naming the distance.

Once per day is the unique key (spot, day, visitor) of `check_ins`: two taps at once, or two
API processes, insert one row and the other meets the key and answers 409, never a 500.
The coordinates are never stored, only the distance checked (rounded to the metre); the
visitor is a pseudonym ("holder:{id}" or "wallet:{address}").
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from backend.analytics.changes import mark_address
from backend.benefits.kiosk import code_accepted
from backend.benefits.models import CheckIn, Spot
from backend.benefits.spot_schemas import MAX_ACCURACY_CREDIT_M, CheckInCreate
from backend.holders.identity import CardHolder, cards_of
from backend.sales.order_search import JST
from backend.towns.models import Municipality

#: Mean Earth radius (IUGG), metres: the haversine distance's sphere.
EARTH_RADIUS_M = 6_371_008.8
#: The CSV's columns: nothing personal beyond the visitor's pseudonym.
CSV_HEADER = (
    "check_in_id",
    "day",
    "checked_in_at_jst",
    "spot_id",
    "spot_code",
    "spot_name_ja",
    "visitor",
    "method",
    "distance_m",
)


class CheckInRefused(Exception):
    """A check-in refused: HTTP status, stable code, a message in Japanese and English."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def japan_day(moment: datetime) -> str:
    """The day of `moment` in Japan, "YYYY-MM-DD"."""
    return moment.astimezone(JST).date().isoformat()


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in metres between two points (degrees)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _card_owner(session: Session, holder: CardHolder, town: Municipality, chain_id: int) -> str | None:
    """The address holding one of the caller's valid cards of `town`, or None."""
    for card in cards_of(session, holder, chain_id):
        if card.municipality_id == town.id and not card.revoked:
            return card.owner.lower()
    return None


def _already(session: Session, spot: Spot, day: str, visitor: str) -> CheckInRefused | None:
    done = session.scalar(
        select(CheckIn.checked_in_at).where(CheckIn.spot_id == spot.id, CheckIn.day == day, CheckIn.visitor == visitor)
    )
    if done is None:
        return None
    return already_checked_in(spot)


def already_checked_in(spot: Spot) -> CheckInRefused:
    return CheckInRefused(
        409,
        "already_checked_in",
        f"「{spot.name_ja}」には本日すでにチェックインしています。チェックインは1日1回です。"
        f" (You have already checked in at {spot.name_en} today; once a day.)",
    )


def _distance(spot: Spot, body: CheckInCreate) -> int:
    """The metres between the phone and the spot, checked against its radius (step 4)."""
    if body.latitude is None or body.longitude is None:
        raise CheckInRefused(
            422,
            "location_required",
            "このスポットでは、チェックインに現在地が必要です。位置情報の利用を許可してください。"
            " (This spot needs your location to check in.)",
        )
    # require_location needs them (the schemas' rule)
    assert spot.latitude is not None
    assert spot.longitude is not None
    distance = haversine_m(spot.latitude, spot.longitude, body.latitude, body.longitude)
    credit = min(body.accuracy_m or 0.0, MAX_ACCURACY_CREDIT_M)
    if distance > spot.radius_m + credit:
        shown = round(distance)
        raise CheckInRefused(
            409,
            "out_of_range",
            f"現在地が「{spot.name_ja}」から約{shown:,}m離れています（{spot.radius_m:,}m以内でチェックインできます）。"
            f" (You are about {shown:,} m from {spot.name_en}; check in within {spot.radius_m:,} m.)",
        )
    return round(distance)


@dataclass(frozen=True)
class Made:
    check_in: CheckIn
    town: Municipality


def check_in(
    session: Session,
    spot: Spot,
    holder: CardHolder,
    body: CheckInCreate,
    *,
    chain_id: int,
    kiosk_key: bytes,
    now: datetime,
) -> Made:
    """Record the holder's check-in at `spot` (committed), or raise `CheckInRefused` (module
    docstring: the order of the checks)."""
    town = session.get(Municipality, spot.municipality_id)
    assert town is not None
    owner = _card_owner(session, holder, town, chain_id)
    if owner is None:
        raise CheckInRefused(
            409,
            "no_card",
            f"{town.name_ja}のデジタル住民票をお持ちの方がチェックインできます。"
            f" (Only holders of a {town.name_en} digital resident card can check in.)",
        )
    day = japan_day(now)
    refused = _already(session, spot, day, holder.visitor)
    if refused is not None:
        raise refused
    if spot.kiosk and (body.kiosk_code is None or not code_accepted(kiosk_key, spot.id, body.kiosk_code, now)):
        raise CheckInRefused(
            409,
            "kiosk_code_invalid",
            "受付の画面のQRコードを、もう一度読み取ってください（コードは30秒ごとに変わります）。"
            " (Scan the QR code on the kiosk screen again: it changes every 30 seconds.)",
        )
    distance = _distance(spot, body) if spot.require_location else None
    row = CheckIn(
        spot_id=spot.id,
        municipality_id=spot.municipality_id,
        day=day,
        visitor=holder.visitor,
        holder_id=holder.holder_id,
        address=owner,
        method="kiosk" if spot.kiosk else "poster",
        distance_m=distance,
        checked_in_at=now,
    )
    session.add(row)
    try:
        mark_address(session, owner, spot.municipality_id)  # flushes the row: inside the try
        session.commit()
    except IntegrityError:  # the same visitor's concurrent check-in won the unique key
        session.rollback()
        raise already_checked_in(spot) from None
    return Made(row, town)


# ── the staff's view ────────────────────────────────────────────────────────


@dataclass(frozen=True)
class CheckInFilters:
    spot_id: int | None = None
    day: date | None = None
    day_from: date | None = None
    day_to: date | None = None

    def where(self, town_id: int) -> list[Any]:
        conditions: list[Any] = [CheckIn.municipality_id == town_id]
        if self.spot_id is not None:
            conditions.append(CheckIn.spot_id == self.spot_id)
        if self.day is not None:
            conditions.append(CheckIn.day == self.day.isoformat())
        if self.day_from is not None:
            conditions.append(CheckIn.day >= self.day_from.isoformat())
        if self.day_to is not None:
            conditions.append(CheckIn.day <= self.day_to.isoformat())
        return conditions


def town_check_ins(town_id: int, filters: CheckInFilters) -> Select[CheckIn, Spot]:
    """The town's check-ins matching `filters`, newest first, each with its spot."""
    return (
        select(CheckIn, Spot)
        .join(Spot, Spot.id == CheckIn.spot_id)
        .where(*filters.where(town_id))
        .order_by(CheckIn.checked_in_at.desc(), CheckIn.id.desc())
    )


def counts_by_spot_and_day(
    session: Session, town_id: int, filters: CheckInFilters, limit: int = 100
) -> Sequence[tuple[int, str, int]]:
    """(spot id, day, check-ins) of the filtered set, newest day first."""
    rows = session.execute(
        select(CheckIn.spot_id, CheckIn.day, func.count())
        .where(*filters.where(town_id))
        .group_by(CheckIn.spot_id, CheckIn.day)
        .order_by(CheckIn.day.desc(), CheckIn.spot_id)
        .limit(limit)
    ).all()
    return [(spot_id, day, count) for spot_id, day, count in rows]


def today_counts(session: Session, spot_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Check-ins of today (Japan time) per spot."""
    if not spot_ids:
        return {}
    rows = session.execute(
        select(CheckIn.spot_id, func.count())
        .where(CheckIn.spot_id.in_(spot_ids), CheckIn.day == japan_day(now))
        .group_by(CheckIn.spot_id)
    ).all()
    return {spot_id: count for spot_id, count in rows}


def export_rows(session: Session, town_id: int, filters: CheckInFilters) -> Iterator[tuple[Any, ...]]:
    """The CSV's rows, oldest first, streamed."""
    query = (
        select(CheckIn, Spot)
        .join(Spot, Spot.id == CheckIn.spot_id)
        .where(*filters.where(town_id))
        .order_by(CheckIn.checked_in_at, CheckIn.id)
        .execution_options(yield_per=1000)
    )
    for row, spot in session.execute(query):
        at = row.checked_in_at
        local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(JST)  # SQLite: naive UTC
        yield (
            row.id,
            row.day,
            local.strftime("%Y-%m-%d %H:%M:%S"),
            spot.id,
            spot.code,
            spot.name_ja,
            row.visitor,
            row.method,
            row.distance_m,
        )
