"""The demo lottery `furusato run` seeds beside the demo town's first drop: 100 cards by
lottery, at most 2 a person, applications open for a week from the first start, the draw an
hour after they close, three days to pay. Created once; a restart finds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from web3 import Web3

from backend.core.db import session_scope
from backend.lottery.announce import announce
from backend.sales.drops import DropTerms, create_card_drop
from backend.sales.models import Drop
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


def demo_lottery_terms(now: datetime) -> DropTerms:
    return DropTerms(
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
        price_wei=Web3.to_wei(1, "milliether"),
        per_buyer_limit=DEMO_LOTTERY_LIMIT,
        starts_at=now,
    )


def seed_demo_lottery(runtime: Runtime, now: datetime | None = None) -> int:
    """The demo town's lottery drop with its window open (created only if missing); its id."""
    now = now or datetime.now(UTC)
    with session_scope(runtime.sessions) as session:
        town = seed_demo_town(session)
        existing = session.scalar(
            select(Drop.id).where(
                Drop.municipality_id == town.id, Drop.sale_mode == "lottery", Drop.title_ja == DEMO_LOTTERY_TITLE_JA
            )
        )
        if existing is not None:
            return int(existing)
        drop = create_card_drop(
            session, runtime.chain, runtime.card_contract, runtime.admin(), town, demo_lottery_terms(now)
        )
        closes = now + APPLICATIONS_OPEN
        drop.sale_mode = "lottery"
        drop.applications_close_at = closes
        drop.draw_at = closes + DRAW_AFTER_CLOSE
        drop.pay_within_hours = PAY_WITHIN_HOURS
        session.flush()
        announce(session, runtime.vault, drop.id)
        return drop.id
