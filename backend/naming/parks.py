"""Parks of a town: created and edited by its staff, read by the console and the park pages.

A park's `name_ja` is its default (条例) name; each lot copies it to the chain when it is
created (`createLot`'s `defaultName`), so renaming a park changes the lots made afterwards,
not the ones already on chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.core.schemas import cross_field
from backend.naming.models import Park
from backend.naming.staff_schemas import ParkCreate
from backend.towns.models import Municipality

#: Text fields trimmed when stored (the schema takes them as sent).
TEXT_FIELDS = frozenset({"name_ja", "name_en", "description_ja", "description_en", "location_ja"})
FIELDS = (
    "name_ja",
    "name_en",
    "description_ja",
    "description_en",
    "photo_data_url",
    "location_ja",
    "latitude",
    "longitude",
)


class ParkChangeRefused(Exception):
    """A change that breaks a rule between fields (after merging with the stored park)."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("; ".join(str(error.get("msg")) for error in errors))
        self.errors = errors


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.strip() if name in TEXT_FIELDS and isinstance(value, str) else value
        for name, value in values.items()
    }


def new_park(session: Session, town: Municipality, body: ParkCreate) -> Park:
    park = Park(municipality_id=town.id, **_columns(body.model_dump()))
    session.add(park)
    session.flush()
    return park


def update_park(session: Session, park: Park, changes: dict[str, Any]) -> None:
    """Apply the fields sent; the coordinates must still come both or neither."""
    merged = {name: changes.get(name, getattr(park, name)) for name in ("latitude", "longitude")}
    if (merged["latitude"] is None) != (merged["longitude"] is None):
        error = cross_field("latitude and longitude go together (both or neither)")
        raise ParkChangeRefused(
            [{"type": error.type, "loc": ("body", "latitude"), "msg": error.message(), "input": changes}]
        )
    for name, value in _columns(changes).items():
        setattr(park, name, value)
    session.flush()


def audit_view(park: Park) -> dict[str, Any]:
    """What the audit log keeps of a park: its fields, the photo by its length only."""
    view: dict[str, Any] = {name: getattr(park, name) for name in FIELDS}
    view["photo_data_url"] = f"{len(park.photo_data_url)} characters" if park.photo_data_url else ""
    return view


def parks_of(town_id: int) -> Select[Park]:
    return select(Park).where(Park.municipality_id == town_id).order_by(Park.id.desc())


def town_park(session: Session, town_id: int, park_id: int) -> Park | None:
    """The park `park_id` if it belongs to the town (another town's is as good as none)."""
    park = session.get(Park, park_id)
    return park if park is not None and park.municipality_id == town_id else None
