"""The demo town a fresh `furusato run` shows, so the pages have something real to show."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Municipality

DEMO_TOWN = {
    "slug": "nishikawa",
    "name_ja": "西川町",
    "name_en": "Nishikawa Town",
    "prefecture": "06",
    "description_ja": "月山と朝日連峰のふもと、山形県の町。デジタル住民票で、遠くからでも町の一員に。",
    "description_en": (
        "A town in Yamagata at the foot of Mt. Gassan and the Asahi range. "
        "With a digital resident card you belong to the town from wherever you live."
    ),
}


def seed_demo_town(session: Session) -> Municipality:
    """Create the demo town unless it exists (idempotent)."""
    town = session.scalar(select(Municipality).where(Municipality.slug == DEMO_TOWN["slug"]))
    if town is None:
        town = Municipality(**DEMO_TOWN)
        session.add(town)
        session.flush()
    return town
