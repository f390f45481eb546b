"""The catalogue of `analytics_counts`: metric names and the fixed dimension values.

The rollup (`rollup.py`, `people.py`) writes these cells and every reader (dashboard,
public stats, report, tests) reads them by these names, so a metric is spelt once. What
each metric counts, and its dimensions, is the table in the module's plan and in
`docs/analytics.md`; the short form is beside each constant.

A cell is (municipality_id, metric, dim1, dim2, day) -> value. `day` is "YYYY-MM-DD",
"YYYY-MM", "YYYY" or "" (not dated, "ever" or "now").

Coarse cells: every additive day-dated metric (`DAY_METRICS`) is also written summed by
month and by year, under its own metric names (`monthly("orders")` = "orders@m" with day
"YYYY-MM", `yearly("orders")` = "orders@y" with day "YYYY"). Why: an all-time or
multi-year figure would otherwise sum every daily cell (tens of thousands per metric at a
million orders); with them a period is read as its edge days, whole months and whole years
(`figures.py`), a few hundred cells. Distinct names, so a reader summing one metric never
counts a value twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# ── Residents and cards (now): dim1 drop id or ALL, dim2 prefecture, day "" ──
RESIDENTS: Final = "residents"
CARDS: Final = "cards"
#: dim1 drop id or ALL, dim2 campaign code or "", day: first card day.
NEW_RESIDENTS: Final = "new_residents"

# ── Funnel by order: dim1 drop id, dim2 campaign code or "", day: order's created day ──
ORDERS: Final = "orders"
PAID: Final = "paid"
MINTED: Final = "minted"
REFUNDED: Final = "refunded"
REVENUE_JPY: Final = "revenue_jpy"

# ── Staying: dim1 drop id (no ALL row: sum the drops), dim2 card state, day "" ──
CARD_STATE: Final = "card_state"

# ── Visits ──
#: dim1 spot id, day: check-in day.
CHECK_INS: Final = "check_ins"
#: dim1 shop id, dim2 benefit id, day: redemption day.
REDEMPTIONS: Final = "redemptions"
#: dim1 spot id, day month "YYYY-MM": people who checked in there that month.
SPOT_VISITORS: Final = "spot_visitors"
#: dim1 shop id, day month: people who redeemed there that month.
SHOP_VISITORS: Final = "shop_visitors"
#: day year "YYYY" and "" (ever): people with at least one visit day.
VISITORS: Final = "visitors"
#: day year and "" (ever): people with at least two distinct visit days.
REPEAT_VISITORS: Final = "repeat_visitors"
#: dim1 a VISIT_DAY_BINS value, day year.
VISIT_DAYS: Final = "visit_days"
#: dim1 drop id or ALL: current residents (in scope) who ever visited.
RESIDENTS_VISITED: Final = "residents_visited"

# ── Categories (MLIT), day year ──
#: dim1 primary category code, dim2 prefecture.
CATEGORY: Final = "category"
#: dim1 category code (multi-label).
CATEGORY_FLAG: Final = "category_flag"
#: day year: people whose designated activities reached the town's premium threshold.
PREMIUM_CANDIDATES: Final = "premium_candidates"

# ── Participation, day "" ──
#: dim1 poll id: cards of the person that voted.
POLL_VOTES: Final = "poll_votes"
#: dim1 poll id: people who voted.
POLL_VOTERS: Final = "poll_voters"
#: dim1 lot id: people registered as bidders.
BIDDERS: Final = "bidders"

# ── Scans (per campaign and day, not per person): dim1 campaign code, day ──
SCANS: Final = "scans"
UNIQUE_SCANS: Final = "unique_scans"
BOT_SCANS: Final = "bot_scans"

#: Metrics a person contributes (stored per person, applied as a difference).
PERSON_METRICS: Final[tuple[str, ...]] = (
    RESIDENTS,
    CARDS,
    NEW_RESIDENTS,
    ORDERS,
    PAID,
    MINTED,
    REFUNDED,
    REVENUE_JPY,
    CARD_STATE,
    CHECK_INS,
    REDEMPTIONS,
    SPOT_VISITORS,
    SHOP_VISITORS,
    VISITORS,
    REPEAT_VISITORS,
    VISIT_DAYS,
    RESIDENTS_VISITED,
    CATEGORY,
    CATEGORY_FLAG,
    PREMIUM_CANDIDATES,
    POLL_VOTES,
    POLL_VOTERS,
    BIDDERS,
)
#: Metrics recomputed per (campaign, day) from `campaign_scans`.
SCAN_METRICS: Final[tuple[str, ...]] = (SCANS, UNIQUE_SCANS, BOT_SCANS)
ALL_METRICS: Final[tuple[str, ...]] = PERSON_METRICS + SCAN_METRICS

#: Additive metrics dated by day ("YYYY-MM-DD"): also written by month and by year. (Unique
#: scans are distinct visitors *per day*; their month and year cells are the sums of the
#: days, which is what a period's figure has always been.)
DAY_METRICS: Final[tuple[str, ...]] = (
    NEW_RESIDENTS,
    ORDERS,
    PAID,
    MINTED,
    REFUNDED,
    REVENUE_JPY,
    CHECK_INS,
    REDEMPTIONS,
    SCANS,
    UNIQUE_SCANS,
    BOT_SCANS,
)
MONTHLY: Final = "@m"
YEARLY: Final = "@y"

# ── Dimension values ──
#: dim1 of the all-drops scope (residents, cards, new residents, card states, residents_visited).
ALL: Final = "*"
#: `day` of the not-dated cells ("now" for residents, "ever" for visitors).
EVER: Final = ""
NO_CAMPAIGN: Final = ""

#: Card states (dim2 of CARD_STATE).
STATE_FIRST_HOLDER: Final = "first_holder"
STATE_OWN_WALLET: Final = "own_wallet"
STATE_TRANSFERRED: Final = "transferred"
STATE_REVOKED: Final = "revoked"
CARD_STATES: Final[tuple[str, ...]] = (STATE_FIRST_HOLDER, STATE_OWN_WALLET, STATE_TRANSFERRED, STATE_REVOKED)

#: Visit-day bins (dim1 of VISIT_DAYS), as the national survey groups them.
BIN_ONE: Final = "1"
BIN_FEW: Final = "2-7"
BIN_MANY: Final = "8+"
VISIT_DAY_BINS: Final[tuple[str, ...]] = (BIN_ONE, BIN_FEW, BIN_MANY)


def monthly(metric: str) -> str:
    """The name of a day metric's month cells (day "YYYY-MM")."""
    return metric + MONTHLY


def yearly(metric: str) -> str:
    """The name of a day metric's year cells (day "YYYY")."""
    return metric + YEARLY


def base_metric(name: str) -> str:
    """The metric a stored name belongs to ("orders@m" -> "orders")."""
    for suffix in (MONTHLY, YEARLY):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def with_coarse(cells: Mapping[tuple[str, str, str, str], int]) -> Counter[tuple[str, str, str, str]]:
    """`cells` (metric, dim1, dim2, day) plus the month and year cells of the day metrics
    among them (module docstring). Additive: the coarse cells of a
    difference are the difference of the coarse cells, so the rollup may apply it to a
    person's contribution, a delta or a whole town alike."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    for (metric, dim1, dim2, day), value in cells.items():
        out[(metric, dim1, dim2, day)] += value
        if metric not in DAY_METRICS or len(day) != 10:
            continue
        out[(monthly(metric), dim1, dim2, day[:7])] += value
        out[(yearly(metric), dim1, dim2, day[:4])] += value
    return out


def visit_day_bin(days: int) -> str:
    """The bin of a person's distinct visit days in a year (days ≥ 1)."""
    if days <= 1:
        return BIN_ONE
    if days <= 7:
        return BIN_FEW
    return BIN_MANY


#: Prefecture codes: "01"…"47" JIS X 0401, "00" abroad / unknown.
ABROAD: Final = "00"
PREFECTURES: Final[tuple[str, ...]] = tuple(f"{code:02d}" for code in range(48))


@dataclass(frozen=True)
class Metro:
    """One of the three great metropolitan areas (三大都市圏) as the census groups them."""

    key: str
    name_ja: str
    name_en: str
    prefectures: tuple[str, ...]


METROS: Final[tuple[Metro, ...]] = (
    Metro("shutoken", "首都圏", "Greater Tokyo", ("11", "12", "13", "14")),
    Metro("chukyoken", "中京圏", "Greater Nagoya", ("21", "23", "24")),
    Metro("kinkiken", "近畿圏", "Greater Osaka (Kinki)", ("25", "26", "27", "28", "29", "30")),
)
