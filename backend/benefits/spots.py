"""Spots: places of a town where holders check in (a hot spring, a station, the town hall).

Each spot has a short code of its own, generated (never chosen: a chosen code would let one
town's poster URL collide with another's, or be guessed from the spot's name), printed on
its poster as `{public_url}/s/{code}`. Codes use the campaign codes' alphabet, without the
characters people confuse on a poster (0/O, 1/I/L), in capitals, and are matched in any
case (upper-cased before the look-up), since a person typing the printed URL may not.

A spot is never deleted: archiving it stops its poster and kiosk from checking in and keeps
its check-ins, which are the town's visit evidence. Its `activity` (leisure, event, work,
telework, volunteer) says what a check-in there counts as for the MLIT categories and the
town's premium rule (`backend.analytics.categories`).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from backend.analytics.changes import mark_town
from backend.benefits.models import Spot
from backend.benefits.spot_schemas import SpotCreate, spot_rule_problem
from backend.core.schemas import cross_field
from backend.sales.campaigns import CODE_ALPHABET

CODE_LENGTH = 6
#: Random collisions in a row before giving up (at 887 million codes: never, in practice).
_GENERATE_TRIES = 8
#: What a spot code in a URL may look like (longer or other characters name no spot).
SPOT_CODE_PATTERN = r"^[A-Za-z0-9]{3,32}$"
#: Fields the audit log keeps and a PATCH may change (besides `archived`).
FIELDS = (
    "name_ja",
    "name_en",
    "place_ja",
    "latitude",
    "longitude",
    "radius_m",
    "require_location",
    "kiosk",
    "activity",
)
TEXT_FIELDS = frozenset({"name_ja", "name_en", "place_ja"})


class SpotChangeRefused(Exception):
    """A change that breaks a rule between fields (judged on the spot as it would become);
    `errors` in FastAPI's validation shape, so the answer is the usual 422."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(error.get("msg")) for error in errors))
        self.errors = errors


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def spot_url(public_url: str, code: str) -> str:
    """The URL on the spot's poster (and in its QR)."""
    return f"{public_url.rstrip('/')}/s/{code}"


def spot_page(code: str, kiosk_code: str | None = None) -> str:
    """Where `/s/{code}` sends a phone: the spot's page, with the kiosk code if it came with one."""
    return f"/spot.html?code={code}" + (f"&k={kiosk_code}" if kiosk_code else "")


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.strip() if name in TEXT_FIELDS and isinstance(value, str) else value
        for name, value in values.items()
    }


def create_spot(session: Session, town_id: int, body: SpotCreate) -> Spot:
    """A new spot of the town with a fresh code (flushed, not committed). A concurrent create
    that drew the same code loses in a savepoint and draws again."""
    for _ in range(_GENERATE_TRIES):
        code = new_code()
        if session.scalar(select(Spot.id).where(Spot.code == code)) is not None:
            continue
        spot = Spot(municipality_id=town_id, code=code, **_columns(body.model_dump()))
        try:
            with session.begin_nested():
                session.add(spot)
        except IntegrityError:
            continue
        return spot
    raise RuntimeError("no free spot code after several tries")


def update_spot(session: Session, spot: Spot, changes: dict[str, Any], now: datetime) -> None:
    """Apply the fields sent (flushed). The result must keep the rules between fields.

    A new `activity` changes what every past check-in there counts as (categories, premium
    counts), so it marks the town for the analytics rollup in the same transaction."""
    merged = {name: changes.get(name, getattr(spot, name)) for name in ("latitude", "longitude", "require_location")}
    problem = spot_rule_problem(merged)
    if problem is not None:
        error = cross_field(problem)
        where = "require_location" if "require_location" in problem else "latitude"
        raise SpotChangeRefused(
            [{"type": error.type, "loc": ("body", where), "msg": error.message(), "input": changes}]
        )
    archived = changes.pop("archived", None)
    if "activity" in changes and changes["activity"] != spot.activity:
        mark_town(session, spot.municipality_id)
    for name, value in _columns(changes).items():
        setattr(spot, name, value)
    if archived is not None:
        spot.archived_at = (spot.archived_at or now) if archived else None
    session.flush()


def audit_view(spot: Spot) -> dict[str, Any]:
    view: dict[str, Any] = {name: getattr(spot, name) for name in FIELDS}
    view["code"] = spot.code
    view["archived"] = spot.archived_at is not None
    return view


def town_spot(session: Session, town_id: int, spot_id: int) -> Spot | None:
    """The spot `spot_id` if it is the town's (another town's answers like a missing one)."""
    spot = session.get(Spot, spot_id)
    return spot if spot is not None and spot.municipality_id == town_id else None


def spots_of(town_id: int, *, archived: bool | None = None) -> Select[Spot]:
    """The town's spots, newest first; `archived` True/False keeps only those, None all."""
    query = select(Spot).where(Spot.municipality_id == town_id)
    if archived is not None:
        query = query.where(Spot.archived_at.is_not(None) if archived else Spot.archived_at.is_(None))
    return query.order_by(Spot.id.desc())


def spot_by_code(session: Session, code: str) -> Spot | None:
    """The live (not archived) spot a poster's code names, in any case."""
    return session.scalar(select(Spot).where(Spot.code == code.upper(), Spot.archived_at.is_(None)))
