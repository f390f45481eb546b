"""The demo town's shop side, seeded by `furusato run` in demo mode: a hot spring with a
monthly free bath for every card, a spot to check in at, and a phone link for the hot
spring's verifier device.

Seeded once (a restart adds nothing); the phone link is new at every start — its secret is
stored hashed, so an old one cannot be shown again — and written to a file in the data
directory (like the demo mail), never printed: it signs a phone in as the shop.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.benefits.benefits import new_benefit
from backend.benefits.devices import link_url, new_device
from backend.benefits.models import Benefit, Shop, Spot, VerifierDevice
from backend.benefits.schemas import BenefitCreate, ShopCreate
from backend.benefits.shops import new_shop
from backend.benefits.spot_schemas import SpotCreate
from backend.benefits.spots import create_spot
from backend.towns.models import Municipality

DEMO_SHOP = {"name_ja": "星川温泉 ほしの湯", "name_en": "Hoshino-yu Hot Spring", "place_ja": "星川町本郷 3-1"}
DEMO_BENEFIT = {
    "title_ja": "日帰り入浴 無料",
    "title_en": "Free day bath",
    "description_ja": "デジタル住民票をお持ちの方は、月に1回、日帰り入浴が無料です。",
    "description_en": "Holders of a digital resident card bathe free once a month.",
    "period": "month",
}
DEMO_SPOT = {"name_ja": "道の駅 ほしかわ", "name_en": "Roadside Station Hoshikawa", "place_ja": "星川町本郷 1-2"}
DEMO_DEVICE_LABEL = "デモ端末（ほしの湯 受付）"
#: Where the demo shop's phone link is written, in the data directory.
LINK_FILE = "demo-verify-link.txt"


def seed_demo_shop(
    session: Session, town: Municipality, owner_id: int, data_dir: Path, public_url: str, now: datetime
) -> Path:
    """The shop, its benefit and the spot (each only if missing), and a fresh phone link for
    the shop's demo device, written to `data_dir/LINK_FILE`; returns that file's path."""
    shop = session.scalar(select(Shop).where(Shop.municipality_id == town.id, Shop.name_ja == DEMO_SHOP["name_ja"]))
    if shop is None:
        shop = new_shop(session, town.id, ShopCreate.model_validate(DEMO_SHOP), now)
    if session.scalar(select(Benefit.id).where(Benefit.shop_id == shop.id)) is None:
        new_benefit(session, town.id, BenefitCreate.model_validate({**DEMO_BENEFIT, "shop_id": shop.id}), now)
    if (
        session.scalar(select(Spot.id).where(Spot.municipality_id == town.id, Spot.name_ja == DEMO_SPOT["name_ja"]))
        is None
    ):
        create_spot(session, town.id, SpotCreate.model_validate(DEMO_SPOT))
    # Devices made at earlier starts whose link nobody opened are retired: one waiting link.
    for stale in session.scalars(
        select(VerifierDevice).where(
            VerifierDevice.shop_id == shop.id,
            VerifierDevice.label == DEMO_DEVICE_LABEL,
            VerifierDevice.paired_at.is_(None),
            VerifierDevice.revoked_at.is_(None),
        )
    ):
        stale.revoked_at = now
    made = new_device(session, shop, DEMO_DEVICE_LABEL, owner_id, now)
    path = data_dir / LINK_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(link_url(public_url, made.secret) + "\n")
    return path
