"""Shops and facilities of a town: created, renamed and closed by staff.

A closed shop (`archived_at`) keeps its redemptions for the town's figures; its devices get
401 from then on and its benefits are no longer offered or redeemable. Reopening clears it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .models import Benefit, Shop, VerifierDevice
from .schemas import ShopCreate, ShopRef, StaffShop


def town_shop(session: Session, town_id: int, shop_id: int) -> Shop | None:
    """The shop if it is this town's (another town's answers like a missing one)."""
    shop = session.get(Shop, shop_id)
    return shop if shop is not None and shop.municipality_id == town_id else None


def shops_of(town_id: int) -> Select[Shop]:
    return select(Shop).where(Shop.municipality_id == town_id).order_by(Shop.id)


def new_shop(session: Session, town_id: int, body: ShopCreate, now: datetime) -> Shop:
    shop = Shop(
        municipality_id=town_id,
        name_ja=body.name_ja.strip(),
        name_en=body.name_en.strip(),
        place_ja=body.place_ja.strip(),
        created_at=now,
    )
    session.add(shop)
    session.flush()
    return shop


def update_shop(shop: Shop, changes: dict[str, Any], now: datetime) -> None:
    for name in ("name_ja", "name_en", "place_ja"):
        if name in changes:
            setattr(shop, name, changes[name].strip())
    if "archived" in changes:
        if changes["archived"] and shop.archived_at is None:
            shop.archived_at = now
        elif not changes["archived"]:
            shop.archived_at = None


def audit_view(shop: Shop) -> dict[str, Any]:
    return {
        "name_ja": shop.name_ja,
        "name_en": shop.name_en,
        "place_ja": shop.place_ja,
        "archived_at": shop.archived_at,
    }


def shop_ref(shop: Shop) -> ShopRef:
    return ShopRef(id=shop.id, name_ja=shop.name_ja, name_en=shop.name_en)


def staff_shops(session: Session, shops: list[Shop]) -> list[StaffShop]:
    """Each shop with its counts of live devices and benefits (two grouped queries)."""
    ids = [shop.id for shop in shops]
    devices = dict(
        session.execute(
            select(VerifierDevice.shop_id, func.count())
            .where(
                VerifierDevice.shop_id.in_(ids),
                VerifierDevice.paired_at.is_not(None),
                VerifierDevice.revoked_at.is_(None),
            )
            .group_by(VerifierDevice.shop_id)
        ).all()
    )
    benefits = dict(
        session.execute(
            select(Benefit.shop_id, func.count()).where(Benefit.shop_id.in_(ids)).group_by(Benefit.shop_id)
        ).all()
    )
    return [
        StaffShop(
            id=shop.id,
            name_ja=shop.name_ja,
            name_en=shop.name_en,
            place_ja=shop.place_ja,
            created_at=shop.created_at,
            archived_at=shop.archived_at,
            active_devices=devices.get(shop.id, 0),
            benefits=benefits.get(shop.id, 0),
        )
        for shop in shops
    ]
