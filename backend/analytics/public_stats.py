"""A town's public statistics (`GET /api/v1/towns/{slug}/stats`, the page `/towns/{slug}/stats`):
the figures a town would put in a report, with small counts suppressed.

What is published, and why nothing else: residents and cards now; residents by prefecture
(the 47 and abroad, `metrics.PREFECTURES`), the three metropolitan areas, the share living
outside the town's own prefecture; this year's visitors, repeat visitors and visit-day bins
beside the national survey's; this year's people by MLIT category. Counts only: no e-mail,
no address, no per-person row, no per-drop or per-day series (a day with one new resident
would say when a neighbour bought).

Every count goes through `suppression.suppress` in one call, as one system of tables:

- prefectures: cells "pref:00"…"pref:47"; groups `residents` (all of them), `home` (the
  home prefecture alone, derived: with the total, the outside share *is* the home count,
  since outside = residents − home), one derived group per metropolitan area;
- visit-day bins: cells "bin:1", "bin:2-7", "bin:8+"; groups `visitors` (all bins) and
  `repeat_visitors` (2–7 and 8+, derived: visitors − repeat = the one-day bin);
- categories: cells "cat:<code>"; group `visitors_by_category` (the five visiting
  categories), *linked* to `visitors`: both are this year's people with a visit day, so the
  two tables are two partitions of the same people and one published total.

Visitors and repeat visitors are the bins' sums rather than the `visitors` rows: the same
number by definition (`metrics.py`), and taking it from the bins keeps the published total
exactly the sum the suppression protected. Cards are a lone count: "x" when small, and "x"
whenever residents is (cards ≥ residents; a card total beside a hidden resident total would
say how many cards a handful of people bought).

Read only from the rollup (`analytics_counts`, through `figures.py`): one indexed range read
per metric, whatever the number of orders behind it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from backend.analytics import figures, metrics
from backend.analytics.categories import CATEGORIES, CATEGORY_NAMES, NATIONAL
from backend.analytics.suppression import Group, Suppression, X, check_threshold, hide, share, suppress
from backend.core.schemas import UtcDateTime
from backend.towns.models import Municipality

log = logging.getLogger(__name__)

#: A published count: the number, or "x" when suppressed.
Count = int | Literal["x"]
#: A published share (0…1, four places): "x" when it would reveal a suppressed count, None of nobody.
Share = float | Literal["x"] | None

RESIDENTS_GROUP: Final = "residents"
HOME_GROUP: Final = "home"
VISITORS_GROUP: Final = "visitors"
REPEAT_GROUP: Final = "repeat_visitors"
CATEGORY_VISITORS_GROUP: Final = "visitors_by_category"

#: Japanese and English labels of the visit-day bins, as the national survey words them.
BIN_LABELS: Final[dict[str, tuple[str, str]]] = {
    metrics.BIN_ONE: ("年1日以下", "1 day or less a year"),
    metrics.BIN_FEW: ("年2〜7日", "2–7 days a year"),
    metrics.BIN_MANY: ("年8日以上", "8 days or more a year"),
}

_COUNT_DOC = 'a count, or "x" when it is below the threshold or would reveal one that is'


class TownRef(BaseModel):
    slug: str
    name_ja: str
    name_en: str
    prefecture: str = Field(description="the town's own prefecture, JIS X 0401")
    brand_colour: str = Field(description="the town's colour on its pages (#RRGGBB)")


class PrefectureCount(BaseModel):
    code: str = Field(description='JIS X 0401 "01"…"47"; "00" abroad or unknown', pattern=r"^\d{2}$")
    residents: Count = Field(description=_COUNT_DOC)


class MetroCount(BaseModel):
    key: str
    name_ja: str
    name_en: str
    prefectures: list[str]
    residents: Count = Field(description=_COUNT_DOC)


class VisitBin(BaseModel):
    key: Literal["1", "2-7", "8+"]
    label_ja: str
    label_en: str
    visitors: Count = Field(description=_COUNT_DOC)
    share: Share = Field(description="of this year's visitors (0…1)")
    national_share: float = Field(description="the national survey's share of visitors in this bin (0…1)")


class Visits(BaseModel):
    year: int
    national_survey_ja: str
    national_survey_en: str
    visitors: Count = Field(description="people with at least one visit day this year")
    repeat_visitors: Count = Field(description="people with at least two distinct visit days this year")
    bins: list[VisitBin]
    national_year: int
    national_source: str


class CategoryCount(BaseModel):
    code: str
    name_ja: str
    name_en: str
    people: Count = Field(description="people whose primary MLIT category this year is this one: " + _COUNT_DOC)
    share: Share = Field(description="visiting categories: of this year's visitors (0…1); null for non-visiting")
    national_share: float | None = Field(
        description="the national survey's share (0…1): visiting types among visiting 関係人口 (several answers "
        "allowed), non-visiting among all 関係人口; null where the survey gives none"
    )


class Categories(BaseModel):
    year: int
    national_survey_ja: str
    national_survey_en: str
    items: list[CategoryCount]
    national_year: int
    national_source: str


class PublicStats(BaseModel):
    """The public figures. Any count may be the string "x": fewer than `threshold` people, or
    withheld so that no combination of the other figures reveals such a count."""

    town: TownRef
    threshold: int = Field(description='counts below this are shown as "x" (never below 3)')
    as_of: UtcDateTime = Field(description="when the figures were read from the rollup")
    residents: Count = Field(description="people holding at least one of the town's cards now")
    cards: Count = Field(description="cards those residents hold")
    home_prefecture: str
    prefectures: list[PrefectureCount] = Field(description='all 48 codes, "00" (abroad) first')
    abroad: Count
    outside_share: Share = Field(description="share of residents living outside the town's prefecture (0…1)")
    metros: list[MetroCount]
    visits: Visits
    categories: Categories


def _cells(session: Session, town_id: int, year: str) -> tuple[dict[str, int], int]:
    """The raw counts of every table (before suppression), and the card total."""
    by_prefecture = figures.sums_by(session, town_id, metrics.RESIDENTS, "dim2", dim1=metrics.ALL, day=metrics.EVER)
    cells: dict[str, int] = {f"pref:{code}": 0 for code in metrics.PREFECTURES}
    for code, value in by_prefecture.items():
        # A code the catalogue does not know (an erased person's "") counts as unknown: "00".
        key = f"pref:{code}" if code in metrics.PREFECTURES else f"pref:{metrics.ABROAD}"
        cells[key] += value
    bins = figures.sums_by(session, town_id, metrics.VISIT_DAYS, "dim1", day=year)
    cells |= {f"bin:{key}": bins.get(key, 0) for key in metrics.VISIT_DAY_BINS}
    categories = figures.sums_by(session, town_id, metrics.CATEGORY, "dim1", day=year)
    cells |= {f"cat:{code}": categories.get(code, 0) for code in CATEGORIES}
    cards = figures.total(session, town_id, metrics.CARDS, dim1=metrics.ALL, day=metrics.EVER)
    return cells, cards


def _groups(home: str) -> list[Group]:
    prefectures = [f"pref:{code}" for code in metrics.PREFECTURES]
    groups = [
        Group.of(RESIDENTS_GROUP, prefectures),
        Group.of(HOME_GROUP, [f"pref:{home}"], derived=True),
    ]
    groups += [
        Group.of(f"metro:{metro.key}", [f"pref:{code}" for code in metro.prefectures], derived=True)
        for metro in metrics.METROS
    ]
    groups += [
        Group.of(VISITORS_GROUP, [f"bin:{key}" for key in metrics.VISIT_DAY_BINS]),
        Group.of(REPEAT_GROUP, [f"bin:{metrics.BIN_FEW}", f"bin:{metrics.BIN_MANY}"], derived=True),
        Group.of(CATEGORY_VISITORS_GROUP, [f"cat:{code}" for code in CATEGORIES if code != "non_visiting"]),
    ]
    return groups


def protect(cells: dict[str, int], home: str, threshold: int) -> Suppression:
    """Suppress the town's tables together (see the module docstring for the groups)."""
    groups = _groups(home)
    visitors = sum(cells[f"bin:{key}"] for key in metrics.VISIT_DAY_BINS)
    visiting = sum(cells[f"cat:{code}"] for code in CATEGORIES if code != "non_visiting")
    links: list[set[str]] = []
    if visitors == visiting:
        links.append({VISITORS_GROUP, CATEGORY_VISITORS_GROUP})
    else:
        # The rollup keeps both from the same people in one transaction, so this is a bug
        # elsewhere; each table is still protected on its own.
        log.warning("visitors by bins (%d) and by category (%d) differ", visitors, visiting)
    return suppress(cells, groups, threshold=threshold, links=links)


def _share_outside(result: Suppression, home: str) -> Share:
    residents = result.groups[RESIDENTS_GROUP]
    if residents == 0:
        return None
    home_count = result.groups[HOME_GROUP]
    if residents == X or home_count == X:
        return X
    assert isinstance(residents, int)
    assert isinstance(home_count, int)
    return share(residents - home_count, residents)


def _national_category(code: str) -> float | None:
    if code == "non_visiting":
        return round(NATIONAL.non_visiting_share_2023 / 100, 4)
    value = NATIONAL.categories_2023.get(code)
    return None if value is None else round(value / 100, 4)


def town_stats(session: Session, town: Municipality, *, now: datetime, year: int | None = None) -> PublicStats:
    """The town's public figures for `year` (default: the current Japan year)."""
    threshold = check_threshold(town.stats_threshold)
    year = figures.japan_today(now).year if year is None else year
    cells, cards = _cells(session, town.id, f"{year:04d}")
    home = town.prefecture if town.prefecture in metrics.PREFECTURES else metrics.ABROAD
    result = protect(cells, home, threshold)
    residents = result.groups[RESIDENTS_GROUP]
    visitors = result.groups[VISITORS_GROUP]
    national_bins = NATIONAL.visit_day_bins_2023
    return PublicStats(
        town=TownRef(
            slug=town.slug,
            name_ja=town.name_ja,
            name_en=town.name_en,
            prefecture=town.prefecture,
            brand_colour=town.brand_colour,
        ),
        threshold=threshold,
        as_of=now,
        residents=residents,
        cards=X if residents == X else hide(cards, threshold),
        home_prefecture=home,
        prefectures=[
            PrefectureCount(code=code, residents=result.cells[f"pref:{code}"]) for code in metrics.PREFECTURES
        ],
        abroad=result.cells[f"pref:{metrics.ABROAD}"],
        outside_share=_share_outside(result, home),
        metros=[
            MetroCount(
                key=metro.key,
                name_ja=metro.name_ja,
                name_en=metro.name_en,
                prefectures=list(metro.prefectures),
                residents=result.groups[f"metro:{metro.key}"],
            )
            for metro in metrics.METROS
        ],
        visits=Visits(
            year=year,
            national_survey_ja=NATIONAL.survey_ja,
            national_survey_en=NATIONAL.survey_en,
            visitors=visitors,
            repeat_visitors=result.groups[REPEAT_GROUP],
            bins=[
                VisitBin(
                    key=key,  # type: ignore[arg-type]
                    label_ja=BIN_LABELS[key][0],
                    label_en=BIN_LABELS[key][1],
                    visitors=result.cells[f"bin:{key}"],
                    share=share(result.cells[f"bin:{key}"], visitors),
                    national_share=round(national_bins[key] / 100, 4),
                )
                for key in metrics.VISIT_DAY_BINS
            ],
            national_year=2023,
            national_source=NATIONAL.sources["2023"],
        ),
        categories=Categories(
            year=year,
            national_survey_ja=NATIONAL.survey_ja,
            national_survey_en=NATIONAL.survey_en,
            items=[
                CategoryCount(
                    code=code,
                    name_ja=CATEGORY_NAMES[code][0],
                    name_en=CATEGORY_NAMES[code][1],
                    people=result.cells[f"cat:{code}"],
                    share=None if code == "non_visiting" else share(result.cells[f"cat:{code}"], visitors),
                    national_share=_national_category(code),
                )
                for code in CATEGORIES
            ],
            national_year=2023,
            national_source=NATIONAL.sources["2023"],
        ),
    )
