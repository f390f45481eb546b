"""Sales' FastAPI dependencies: the ownership check lives here, not in handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from backend.core.deps import SessionDep
from backend.core.errors import ApiError
from backend.core.schemas import MAX_ROW_ID
from backend.sales.models import Drop
from backend.staff.deps import TownStaff


def town_drop(drop_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Drop:
    """The drop `{drop_id}` of the caller's town, after `TownStaff` let the caller in. Another
    town's drop answers exactly like a missing one (404), so ids of other towns tell nothing."""
    drop = session.get(Drop, drop_id)
    if drop is None or drop.municipality_id != ctx.town.id:
        raise ApiError(404, "drop_not_found", "この町にその販売はありません。 (No drop with this id in this town.)")
    return drop


TownDrop = Annotated[Drop, Depends(town_drop)]
