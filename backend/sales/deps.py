"""Sales' FastAPI dependencies: the ownership check lives here, not in handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy import select

from backend.core.deps import SessionDep
from backend.core.errors import ApiError
from backend.core.schemas import MAX_ROW_ID
from backend.sales.models import Drop, Order
from backend.staff.deps import TownStaff


def town_drop(drop_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], ctx: TownStaff, session: SessionDep) -> Drop:
    """The drop `{drop_id}` of the caller's town, after `TownStaff` let the caller in. Another
    town's drop answers exactly like a missing one (404), so ids of other towns tell nothing."""
    drop = session.get(Drop, drop_id)
    if drop is None or drop.municipality_id != ctx.town.id:
        raise ApiError(404, "drop_not_found", "この町にその販売はありません。 (No drop with this id in this town.)")
    return drop


TownDrop = Annotated[Drop, Depends(town_drop)]


#: What `reserve` makes; a path that does not match names no order (422, in the schema).
ORDER_ID_PATH = r"^ord_[A-Za-z0-9_-]{1,36}$"


def town_order(
    order_id: Annotated[str, Path(pattern=ORDER_ID_PATH, max_length=40)], ctx: TownStaff, session: SessionDep
) -> Order:
    """The order `{order_id}` of one of the caller's town's drops, after `TownStaff` let the
    caller in; another town's order answers 404 like a missing one."""
    order = session.scalar(
        select(Order)
        .join(Drop, Drop.id == Order.drop_id)
        .where(Order.id == order_id, Drop.municipality_id == ctx.town.id)
    )
    if order is None:
        raise ApiError(404, "order_not_found", "この町にその注文はありません。 (No order with this id in this town.)")
    return order


TownOrder = Annotated[Order, Depends(town_order)]
