"""The demo lottery `furusato run` seeds beside the demo town's first drop: 100 cards by
lottery, at most 2 a person, applications open for a week from the first start, the draw an
hour after they close, three days to pay. Created once; a restart finds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from backend.core.db import session_scope
from backend.sales.drop_schemas import DropCreate
from backend.sales.drops import new_draft
from backend.sales.models import Drop
from backend.sales.publish import publisher_of
from backend.towns.demo import seed_demo_town

if TYPE_CHECKING:
    from backend.runtime import Runtime

DEMO_LOTTERY_TITLE_JA = "星川町 デジタル住民票 星まつり特別版（抽選）"
DEMO_LOTTERY_TITLE_EN = "Hoshikawa digital resident card, star festival edition (lottery)"
DEMO_LOTTERY_SUPPLY = 100
DEMO_LOTTERY_LIMIT = 2
APPLICATIONS_OPEN = timedelta(days=7)
DRAW_AFTER_CLOSE = timedelta(hours=1)
PAY_WITHIN_HOURS = 72


def demo_lottery_draft(now: datetime) -> DropCreate:
    """The demo lottery as staff would type it in the console's wizard."""
    closes = now + APPLICATIONS_OPEN
    return DropCreate(
        sale_mode="lottery",
        title_ja=DEMO_LOTTERY_TITLE_JA,
        title_en=DEMO_LOTTERY_TITLE_EN,
        description_ja=(
            f"抽選で{DEMO_LOTTERY_SUPPLY}枚。お一人{DEMO_LOTTERY_LIMIT}枚まで。申し込みは無料で、当選した方だけがお支払いします。"
            "抽選は公開された材料から誰でも検証できます。"
        ),
        description_en=(
            f"{DEMO_LOTTERY_SUPPLY} cards by lottery, at most {DEMO_LOTTERY_LIMIT} a person. Applying is free; "
            "only winners pay. Anyone can re-check the draw from its published inputs."
        ),
        supply=DEMO_LOTTERY_SUPPLY,
        price_jpy=1_000,
        per_buyer_limit=DEMO_LOTTERY_LIMIT,
        starts_at=now,
        applications_close_at=closes,
        draw_at=closes + DRAW_AFTER_CLOSE,
        pay_within_hours=PAY_WITHIN_HOURS,
    )


def seed_demo_lottery(runtime: Runtime, now: datetime | None = None) -> int:
    """The demo town's lottery drop with its window open (created only if missing); its id.

    Published as staff publish a drop (draft, claim, `addSeries` through the exactly-once
    sender), never by a direct transaction: the admin key is also the minter on dev chains,
    and a nonce taken outside `signer_nonces` is one the mint sender would take again."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    publisher = publisher_of(runtime)
    with session_scope(runtime.sessions) as session:
        town = seed_demo_town(session)
        existing = session.scalar(
            select(Drop.id).where(
                Drop.municipality_id == town.id, Drop.sale_mode == "lottery", Drop.title_ja == DEMO_LOTTERY_TITLE_JA
            )
        )
        if existing is not None:
            return int(existing)
        drop = new_draft(
            session, town, demo_lottery_draft(now), chain_id=runtime.chain.chain_id, contract=runtime.card_contract
        )
        publisher.claim(session, drop, runtime.card_contract)
        drop_id = drop.id
    publisher.finish(drop_id)
    return drop_id
